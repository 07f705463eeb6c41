"""Synthetic moving-camera clips with per-frame ground truth, made from annotated stills.

A virtual camera is a crop window (position + zoom) moving over a still image.
Each output frame is an affine resample of that window; on fast segments the
frame is the average of several sub-frame renders over the shutter interval
(motion blur proportional to the camera's displacement). Frames are encoded
with libx264 (yuv420p, ``crf``) so the clip carries real compression artefacts.
Each annotated box is mapped through the same camera to frame coordinates
(at the middle of the exposure), clipped to the frame, and written in the
video form of the dataset format (see :mod:`veil.evaluate.dataset`) with a
stable ``id`` per object.

Three motions (:class:`MotionSpec`): ``pan`` (a slow sweep across the image at a
fixed zoom with light hand-held jitter), ``zoom`` (in towards the objects and
back out) and ``whip`` (hand-held shake, then a fast out-and-back whip pan with
heavy motion blur). Default output is 960x540 at 30 fps: large enough for the
detectors' real operating range, small enough that a benchmark of a few dozen
45-frame clips builds in about a minute and evaluates in minutes on 2 cores.

Ground-truth rules per frame: a box less than half visible (area inside the
frame / full area) is kept clipped but marked ``ignore``; a box entirely outside
is dropped; a box under ``min_height`` pixels tall after the transform is marked
``ignore``; source ``ignore`` flags are kept.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from PIL import Image

__all__ = [
    "Camera",
    "MotionSpec",
    "build_benchmark",
    "default_motions",
    "make_clip",
    "transform_boxes",
]

log = logging.getLogger(__name__)

#: Default output size (even dims for yuv420p).
DEFAULT_SIZE = (960, 540)
MotionKind = Literal["pan", "zoom", "whip"]


@dataclass(frozen=True)
class MotionSpec:
    """How the virtual camera moves over a clip.

    ``zoom``: (start/base, peak) zoom, 1.0 = the largest window of the output's
    aspect that fits in the image. ``travel``: share of the free room a pan
    crosses. ``shake_px``: hand-held jitter amplitude in output pixels.
    ``whip_px``: how far a whip pan goes, in output pixels; ``whip_share``:
    the share of the clip the whip (out and back) takes. ``shutter``: exposure
    as a share of the frame interval (0 = no motion blur). ``direction``: +1/-1.
    """

    kind: MotionKind = "pan"
    zoom: tuple[float, float] = (1.3, 1.3)
    travel: float = 0.8
    shake_px: float = 1.5
    whip_px: float = 240.0
    whip_share: float = 0.4
    shutter: float = 0.5
    direction: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("pan", "zoom", "whip"):
            raise ValueError(f"kind must be pan, zoom or whip, got {self.kind!r}")
        if min(self.zoom) < 1.0 or max(self.zoom) > 8.0:
            raise ValueError(f"zoom must be within [1, 8], got {self.zoom!r}")
        if not 0.0 <= self.travel <= 1.0:
            raise ValueError(f"travel must be in [0, 1], got {self.travel!r}")
        if not 0.0 <= self.shutter <= 1.0:
            raise ValueError(f"shutter must be in [0, 1], got {self.shutter!r}")
        if not 0.05 <= self.whip_share <= 1.0:
            raise ValueError(f"whip_share must be in [0.05, 1], got {self.whip_share!r}")
        if self.direction not in (1, -1):
            raise ValueError(f"direction must be 1 or -1, got {self.direction!r}")


def default_motions(rng: random.Random) -> list[MotionSpec]:
    """One spec of each kind with randomised (seeded) parameters, in pan/zoom/whip order."""
    d = rng.choice((1, -1))
    return [
        MotionSpec("pan", zoom=(z := rng.uniform(1.25, 1.6), z), travel=rng.uniform(0.6, 1.0),
                   shake_px=1.5, direction=d),
        MotionSpec("zoom", zoom=(1.0, rng.uniform(1.6, 2.2)), shake_px=1.0, direction=d),
        MotionSpec("whip", zoom=(z := rng.uniform(1.1, 1.4), z), shake_px=3.0,
                   whip_px=rng.uniform(180.0, 300.0), direction=d),
    ]  # fmt: skip


class Camera:
    """Camera path over an image: :meth:`at` gives the crop window at (fractional) frame t."""

    def __init__(
        self,
        image_size: tuple[int, int],
        out_size: tuple[int, int],
        motion: MotionSpec,
        frames: int,
        focus: tuple[float, float],
        seed: int = 0,
    ) -> None:
        self.iw, self.ih = image_size
        self.ow, self.oh = out_size
        self.motion, self.frames = motion, max(1, frames)
        self.focus = focus
        # base window (zoom 1): the largest window of the output aspect inside the image
        self.base_w = min(self.iw, self.ih * self.ow / self.oh)
        if motion.kind == "whip":  # whip towards the side with more room
            half = self.base_w / motion.zoom[0] / 2
            room_right, room_left = self.iw - half - focus[0], focus[0] - half
            if (room_right if motion.direction > 0 else room_left) < max(room_left, room_right):
                self.motion = replace(motion, direction=-motion.direction)
        rs = np.random.default_rng(seed)
        # smooth jitter: a few sines per axis with random phases/frequencies (per frame)
        self._freq = rs.uniform(0.05, 0.35, size=(2, 3))
        self._phase = rs.uniform(0, 2 * math.pi, size=(2, 3))

    def _u(self, t: float) -> float:
        return min(1.0, max(0.0, t / max(1, self.frames - 1)))

    def _jitter(self, t: float) -> tuple[float, float]:
        a = self.motion.shake_px / 1.8  # three unit sines: peak ~ 1.8 units
        j = np.sin(2 * math.pi * self._freq * t + self._phase).sum(axis=1) * a
        return float(j[0]), float(j[1])

    def at(self, t: float) -> tuple[float, float, float]:
        """(left, top, scale) at frame time t: image point p maps to (p - left/top) * scale."""
        m, u = self.motion, self._u(t)
        z0, z1 = m.zoom
        fx, fy = self.focus
        dx_out = dy_out = 0.0
        if m.kind == "pan":
            z = z0
            ww = self.base_w / z
            room = self.iw - ww
            ease = 0.5 - 0.5 * math.cos(math.pi * u)
            start = fx - m.direction * m.travel * room / 2
            cx = start + m.direction * m.travel * room * ease
            cy = fy
        elif m.kind == "zoom":
            z = z0 + (z1 - z0) * math.sin(math.pi * u)
            cx, cy = fx, fy
        else:  # whip: out and back (sin^2 bump) centred in the clip, slight diagonal
            z = z0
            cx, cy = fx, fy
            w0 = 0.5 - m.whip_share / 2
            v = (u - w0) / m.whip_share
            if 0.0 < v < 1.0:
                bump = math.sin(math.pi * v) ** 2
                dx_out = m.direction * m.whip_px * bump
                dy_out = 0.25 * m.whip_px * bump
        ww = self.base_w / z
        wh = ww * self.oh / self.ow
        scale = self.ow / ww
        jx, jy = self._jitter(t)
        cx += (dx_out + jx) / scale
        cy += (dy_out + jy) / scale
        left = min(max(cx - ww / 2, 0.0), self.iw - ww)
        top = min(max(cy - wh / 2, 0.0), self.ih - wh)
        return left, top, scale


def transform_boxes(
    boxes: Sequence[dict[str, Any]],
    view: tuple[float, float, float],
    out_size: tuple[int, int],
    *,
    min_height: float = 10.0,
    min_visible: float = 0.5,
) -> list[dict[str, Any]]:
    """Map source boxes (with ``id``) into one frame; clip, drop or mark ``ignore``."""
    left, top, s = view
    ow, oh = out_size
    out = []
    for b in boxes:
        x1, y1 = (b["x1"] - left) * s, (b["y1"] - top) * s
        x2, y2 = (b["x2"] - left) * s, (b["y2"] - top) * s
        cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, ow), min(y2, oh)
        if cx2 <= cx1 or cy2 <= cy1:
            continue  # entirely outside the frame
        area = (x2 - x1) * (y2 - y1)
        visible = (cx2 - cx1) * (cy2 - cy1) / area if area > 0 else 0.0
        ignore = bool(b.get("ignore", False)) or visible < min_visible or (y2 - y1) < min_height
        out.append({
            "label": b["label"],
            "x1": round(cx1, 2), "y1": round(cy1, 2), "x2": round(cx2, 2), "y2": round(cy2, 2),
            "ignore": ignore,
            "id": b["id"],
            **({"text": b["text"]} if b.get("text") else {}),  # a plate's annotated reading
        })  # fmt: skip
    return out


def _focus(boxes: Sequence[dict[str, Any]], size: tuple[int, int]) -> tuple[float, float]:
    """Area-weighted centre of the scored boxes (image centre when there are none)."""
    sel = [b for b in boxes if not b.get("ignore")] or list(boxes)
    if not sel:
        return size[0] / 2, size[1] / 2
    xyxy = np.array([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in sel], np.float64)
    w = np.maximum((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), 1.0)
    return (
        float(np.average((xyxy[:, 0] + xyxy[:, 2]) / 2, weights=w)),
        float(np.average((xyxy[:, 1] + xyxy[:, 3]) / 2, weights=w)),
    )


def _render(
    src: Image.Image, r: float, view: tuple[float, float, float], size: tuple[int, int]
) -> np.ndarray:
    """Resample the camera window from ``src`` (the image pre-scaled by ``r``)."""
    left, top, s = view
    a = r / s
    im = src.transform(size, Image.Transform.AFFINE, (a, 0.0, r * left, 0.0, a, r * top),
                       resample=Image.Resampling.BILINEAR)  # fmt: skip
    return np.asarray(im, np.float32)


def make_clip(
    image_rgb: np.ndarray,
    boxes: Sequence[dict[str, Any]],
    motion: MotionSpec,
    out_path: str | os.PathLike[str],
    *,
    fps: int = 30,
    frames: int = 45,
    size: tuple[int, int] = DEFAULT_SIZE,
    crf: int = 23,
    seed: int = 0,
    min_height: float = 10.0,
    preset: str = "veryfast",
) -> list[dict[str, Any]]:
    """Render and encode one clip; return its frames' ground truth (``[{index, boxes}]``).

    ``boxes``: dataset-format boxes in image pixels; each gets ``id`` = its index
    unless it already has one. ``size`` must be even (yuv420p).
    """
    ow, oh = size
    if ow % 2 or oh % 2 or ow < 16 or oh < 16:
        raise ValueError(f"size must be even and at least 16x16, got {size!r}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames!r}")
    img = np.ascontiguousarray(image_rgb[..., :3], dtype=np.uint8)
    ih, iw = img.shape[:2]
    boxes = [{**b, "id": b.get("id", i)} for i, b in enumerate(boxes)]
    cam = Camera((iw, ih), size, motion, frames, _focus(boxes, (iw, ih)), seed)

    # Pre-shrink (antialiased) when the camera always downsamples, so bilinear does not alias.
    ts = [float(t) for t in np.linspace(-0.5, frames - 0.5, 4 * frames + 1)]
    r = min(1.0, 1.25 * min(cam.at(t)[2] for t in ts))
    src = Image.fromarray(img)
    if r < 0.8:
        src = src.resize((max(1, round(iw * r)), max(1, round(ih * r))), Image.Resampling.LANCZOS)
        r = src.width / iw
    else:
        r = 1.0

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    gt: list[dict[str, Any]] = []
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = ow, oh, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for i in range(frames):
            view = cam.at(i)
            rgb = _exposure(src, r, cam, i, size)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            gt.append({"index": i, "boxes": transform_boxes(boxes, view, size,
                                                            min_height=min_height)})  # fmt: skip
        for packet in stream.encode():
            container.mux(packet)
    return gt


def _exposure(src: Image.Image, r: float, cam: Camera, i: int, size: tuple[int, int]) -> np.ndarray:
    """Frame i: one render, or the mean of sub-frame renders over the shutter if moving fast."""
    shutter = cam.motion.shutter
    a, b = cam.at(i - shutter / 2), cam.at(i + shutter / 2)
    # largest displacement of a frame corner over the exposure, in output pixels
    ow, oh = size
    streak = max(
        math.hypot((x / a[2] + a[0] - b[0]) * b[2] - x, (y / a[2] + a[1] - b[1]) * b[2] - y)
        for x in (0, ow) for y in (0, oh)
    )  # fmt: skip
    k = min(16, math.ceil(streak / 2.0)) if shutter > 0 and streak > 2.0 else 1
    if k <= 1:
        acc = _render(src, r, cam.at(i), size)
    else:
        ts = np.linspace(i - shutter / 2, i + shutter / 2, k)
        acc = sum(_render(src, r, cam.at(float(t)), size) for t in ts) / k
    return np.clip(acc + 0.5, 0, 255).astype(np.uint8)


# -- benchmark ------------------------------------------------------------------------


def _load_images(path: Path, labels: Sequence[str]) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for e in doc.get("images", []):
        boxes = [b for b in e.get("boxes", []) if b.get("label") in labels]
        if any(not b.get("ignore") for b in boxes):
            out.append({**e, "boxes": boxes, "_root": path.parent})
    return out


def _face_quality(entry: dict[str, Any]) -> bool:
    """Faces not all tiny: the median scored face is at least 24 px tall (not a far crowd)."""
    hs = [b["y2"] - b["y1"] for b in entry["boxes"] if not b.get("ignore")]
    return bool(hs) and float(np.median(hs)) >= 24


def _pick(sources: list[list[dict[str, Any]]], n: int, rng: random.Random) -> list[dict]:
    """n entries, round-robin over sources (each shuffled by rng, preferred ones first)."""
    queues = []
    for entries in sources:
        good = [e for e in entries if e.get("_preferred", True)]
        rest = [e for e in entries if not e.get("_preferred", True)]
        rng.shuffle(good)
        rng.shuffle(rest)
        queues.append(good + rest)
    picked: list[dict] = []
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return picked


def _scaled(b: dict[str, Any], sx: float, sy: float) -> dict[str, Any]:
    return {**b, "x1": b["x1"] * sx, "x2": b["x2"] * sx, "y1": b["y1"] * sy, "y2": b["y2"] * sy}


def build_benchmark(
    annotations_json: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    n_clips: int = 12,
    frames_per_clip: int = 45,
    seed: int = 0,
    labels: Sequence[str] = ("face",),
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    fps: int = 30,
    crf: int = 23,
    min_height: float = 10.0,
    motions: Sequence[MotionSpec] | None = None,
    exclude: Collection[str] = (),
) -> Path:
    """Make ``n_clips`` clips from annotated stills; write and return ``out_dir/clips.json``.

    Works on any dataset in the shared ``annotations.json`` format; several
    files are drawn from round-robin. Only images with a non-ignored box of
    ``labels`` are used (for faces, images whose median face is >= 24 px tall
    come first); only boxes of ``labels`` become ground truth. Motions cycle
    pan / zoom / whip with seeded parameters (or cycle ``motions`` if given).
    Deterministic for a given seed. ``exclude`` names stills not to use, as
    the ``source`` field of another benchmark's clips ("set/images/x.jpg"):
    clips from held-out stills.
    """
    paths = (
        [annotations_json]
        if isinstance(annotations_json, (str, os.PathLike))
        else list(annotations_json)
    )
    rng = random.Random(seed)
    sources = []
    for p in paths:
        entries = _load_images(Path(p).expanduser().absolute(), labels)
        entries = [e for e in entries if f"{Path(e['_root']).name}/{e['file']}" not in exclude]
        if "face" in labels:
            entries = [{**e, "_preferred": _face_quality(e)} for e in entries]
        sources.append(entries)
    picked = _pick(sources, n_clips, rng)
    if not picked:
        raise ValueError(f"no image with a non-ignored {'/'.join(labels)} box in {paths}")
    out = Path(out_dir).expanduser().absolute()
    out.mkdir(parents=True, exist_ok=True)
    videos = []
    for i, e in enumerate(picked):
        clip_rng = random.Random(f"{seed}-{i}")
        motion = motions[i % len(motions)] if motions else default_motions(clip_rng)[i % 3]
        src_file = e["_root"] / e["file"]
        with Image.open(src_file) as im:
            rgb = np.asarray(im.convert("RGB"))
        if rgb.shape[1] != e["width"] or rgb.shape[0] != e["height"]:
            sx, sy = rgb.shape[1] / e["width"], rgb.shape[0] / e["height"]
            e = {**e, "boxes": [_scaled(b, sx, sy) for b in e["boxes"]]}
        name = f"clip_{i:03d}_{motion.kind}.mp4"
        frames = make_clip(rgb, e["boxes"], motion, out / name, fps=fps, frames=frames_per_clip,
                           size=size, crf=crf, seed=clip_rng.randrange(2**31),
                           min_height=min_height)  # fmt: skip
        videos.append({
            "file": name, "width": size[0], "height": size[1], "fps": fps,
            "source": f"{Path(e['_root']).name}/{e['file']}",
            "motion": asdict(motion),
            "frames": frames,
        })  # fmt: skip
        log.info("clip %d/%d: %s from %s", i + 1, len(picked), name, e["file"])
    jpath = out / "clips.json"
    tmp = jpath.with_name(f".{jpath.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"videos": videos}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, jpath)
    return jpath
