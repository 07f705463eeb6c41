"""Manual regions that follow their object: one box drawn, propagated through the video.

Why not a generic single-object tracker: in veil's footage most motion is the
camera's, which :class:`~veil.track.CameraMotion` already measures on every
frame. The box is carried in *scene* coordinates (moved by the camera's shift
and zoom, so a pan or a zoom does not pull it off its object) and then
refined by normalised cross-correlation with the patch drawn on the keyframe,
searched in a small window around that prediction. Matching against the drawn
patch, never the last found one, means small errors cannot accumulate into a
drift. Measured against OpenCV's CSRT and KCF in ``benchmarks/follow_regions.py``
(README, "Manual regions that follow their object").

When the match is weak (the correlation peak below ``min_score``), the region
is not trusted: the box keeps following the camera alone, for at most
``hold`` frames, those frames are flagged "needs review", and if the object
is not found again the follow stops there. The track never goes dark where it
was masked before the follow: frames the follow did not reach (lost, or past
the stretch a server decodes) keep the last known box, grown by
:data:`HOLD_GROW`, and are flagged for review (fail closed: only a reviewer
turns a region off).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ProjectError
from ..settings import Limits
from ..track.motion import CameraMotion, Motion
from .model import Box, Keyframe, Track

log = logging.getLogger(__name__)

#: Where a follow did not reach, the last known box grows by this share of its
#: width and height on each side (the object may have moved since).
HOLD_GROW = 0.5


@dataclass(frozen=True)
class FollowConfig:
    """How a drawn region is propagated; validated on construction."""

    #: correlation peak (-1..1) below which the match is not trusted
    min_score: float = 0.5
    #: frames the box keeps following the camera alone after a weak match
    hold: int = 10
    #: search radius around the predicted box, as a share of its longer side
    search: float = 0.35
    #: template short side, pixels, after downscaling (speed vs precision)
    template_px: int = 32

    def __post_init__(self) -> None:
        if not isinstance(self.min_score, (int, float)) or not -1.0 <= self.min_score <= 1.0:
            raise ProjectError(f"min_score must be between -1 and 1, got {self.min_score!r}")
        if not isinstance(self.hold, int) or not 0 <= self.hold <= 300:
            raise ProjectError(f"hold must be a whole number from 0 to 300, got {self.hold!r}")
        if not isinstance(self.search, (int, float)) or not 0.05 <= self.search <= 2.0:
            raise ProjectError(f"search must be between 0.05 and 2, got {self.search!r}")
        if not isinstance(self.template_px, int) or not 8 <= self.template_px <= 256:
            raise ProjectError(
                f"template_px must be a whole number from 8 to 256, got {self.template_px!r}"
            )


@dataclass
class Followed:
    """Boxes per frame from one propagation, and the frames a person should check."""

    boxes: dict[int, Box]
    review: set[int]


def gray(rgb: np.ndarray) -> np.ndarray:
    """Luma as uint8 (the tracker's input; a third of the memory of RGB)."""
    if rgb.ndim == 2:
        return rgb
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return (y + 0.5).astype(np.uint8)


def _moved(box: Box, m: Motion, width: int, height: int) -> Box:
    """A box carried along with the camera's step (zoom about the centre, then shift)."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    z = m.zoom
    x1, y1, x2, y2 = box
    return (
        cx + z * (x1 - cx) + m.dx,
        cy + z * (y1 - cy) + m.dy,
        cx + z * (x2 - cx) + m.dx,
        cy + z * (y2 - cy) + m.dy,
    )


def _window_sums(a: np.ndarray, h: int, w: int) -> np.ndarray:
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c[1:, 1:] = a.cumsum(0).cumsum(1)
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


def ncc(search: np.ndarray, template: np.ndarray) -> np.ndarray | None:
    """Normalised cross-correlation of ``template`` at every position inside ``search``.

    None when the template is flat (no texture: no evidence either way).
    """
    th, tw = template.shape
    t = template.astype(np.float64)
    t -= t.mean()
    tnorm = math.sqrt(float((t * t).sum()))
    if tnorm < 1e-3 * th * tw:
        return None
    # imported here: scipy.signal takes ~0.7 s to import, and every `veil` command
    # imports this module, while only manual regions that follow their object need it
    from scipy.signal import fftconvolve

    s = search.astype(np.float64)
    corr = fftconvolve(s, t[::-1, ::-1], mode="valid")
    n = th * tw
    sums = _window_sums(s, th, tw)
    var = _window_sums(s * s, th, tw) - sums * sums / n
    den = np.sqrt(np.clip(var, 0.0, None)) * tnorm
    return np.where(den > 1e-6, corr / np.maximum(den, 1e-6), 0.0)


def _resized(a: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(a).resize((max(1, w), max(1, h)), Image.Resampling.BILINEAR))


class _Matcher:
    """The drawn patch, matched at the predicted box's size in a window around it."""

    def __init__(self, frame: np.ndarray, box: Box, config: FollowConfig) -> None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        h, w = frame.shape
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        self.patch = frame[y1:y2, x1:x2].copy() if x2 > x1 + 2 and y2 > y1 + 2 else None
        self.config = config

    def match(self, frame: np.ndarray, box: Box) -> tuple[float | None, Box]:
        """(score, refined box); score None when the box is mostly off the frame or flat."""
        if self.patch is None:
            return None, box
        h, w = frame.shape
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        inside = (min(x2, w) - max(x1, 0)) * (min(y2, h) - max(y1, 0))
        if bw < 3 or bh < 3 or min(x2, w) <= max(x1, 0) or inside < 0.6 * bw * bh:
            return None, box
        r = max(4.0, self.config.search * max(bw, bh))
        sx1, sy1 = max(0, int(math.floor(x1 - r))), max(0, int(math.floor(y1 - r)))
        sx2, sy2 = min(w, int(math.ceil(x2 + r))), min(h, int(math.ceil(y2 + r)))
        scale = min(1.0, self.config.template_px / max(1.0, min(bw, bh)))
        tw, th = max(3, round(bw * scale)), max(3, round(bh * scale))
        region = frame[sy1:sy2, sx1:sx2]
        rw, rh = round((sx2 - sx1) * scale), round((sy2 - sy1) * scale)
        if rw < tw or rh < th:
            return None, box
        score_map = ncc(_resized(region, rw, rh), _resized(self.patch, tw, th))
        if score_map is None:
            return None, box
        iy, ix = np.unravel_index(int(np.argmax(score_map)), score_map.shape)
        nx1 = sx1 + ix / scale
        ny1 = sy1 + iy / scale
        return float(score_map[iy, ix]), (nx1, ny1, nx1 + bw, ny1 + bh)


def follow(
    frames: Sequence[np.ndarray],
    start: int,
    box: Box,
    stop: int,
    config: FollowConfig | None = None,
) -> Followed:
    """Propagate ``box`` drawn on ``frames[start]`` towards ``stop`` (exclusive; before
    ``start`` to go backwards). ``frames`` are grayscale (see :func:`gray`)."""
    config = config or FollowConfig()
    step = 1 if stop >= start else -1
    h, w = frames[start].shape[:2]
    matcher = _Matcher(frames[start], box, config)
    camera = CameraMotion()
    camera.estimate(frames[start])
    out = Followed({}, set())
    weak = 0
    for f in range(start + step, stop, step):
        box = _moved(box, camera.estimate(frames[f]), w, h)
        score, found = matcher.match(frames[f], box)
        if score is None or score >= config.min_score:
            box = found
            weak = 0
        else:
            weak += 1
            out.review.add(f)
            if weak > config.hold:
                # never found again: stop; the rest of this stretch is for a person to check
                out.review.update(range(f, stop, step))
                break
        out.boxes[f] = box
    return out


def propagate(
    frames: Sequence[np.ndarray],
    anchors: dict[int, Box],
    config: FollowConfig | None = None,
) -> Followed:
    """Fill the video from the drawn keyframes ``anchors``.

    Between two drawn keyframes the region is followed forward from the first
    and backward from the second: where both are sure the boxes are blended by
    nearness, where one is sure it wins, where neither is the frame is flagged.
    Before the first and after the last, one direction only. So a keyframe
    added later corrects the path on both sides of it.
    """
    if not anchors:
        raise ProjectError("a region to follow needs at least one drawn box")
    keys = sorted(anchors)
    n = len(frames)
    out = Followed(dict(anchors), set())
    stretches = [(None, keys[0])] + list(zip(keys, keys[1:], strict=False)) + [(keys[-1], None)]
    for a, b in stretches:
        fwd = (
            follow(frames, a, anchors[a], n if b is None else b, config) if a is not None else None
        )
        bwd = (
            follow(frames, b, anchors[b], -1 if a is None else a, config) if b is not None else None
        )
        lo = 0 if a is None else a + 1
        hi = n if b is None else b
        for f in range(lo, hi):
            sides = []
            for side, ref in ((fwd, a), (bwd, b)):
                if side is not None and f in side.boxes:
                    sure = f not in side.review
                    sides.append((sure, abs(f - ref), side.boxes[f]))  # type: ignore[operator]
            sure = [s for s in sides if s[0]]
            use = sure or sides
            if not sure:
                out.review.add(f)
            if not use:
                continue  # neither side reached it: not masked, and flagged
            if len(use) == 1:
                out.boxes[f] = use[0][2]
                continue
            (_, d0, b0), (_, d1, b1) = use
            t = d0 / (d0 + d1)  # weight of the far side's box
            mixed = (1 - t) * np.asarray(b0) + t * np.asarray(b1)
            out.boxes[f] = tuple(float(v) for v in mixed)  # type: ignore[assignment]
    return out


def _grown(box: Box) -> Box:
    x1, y1, x2, y2 = box
    gw, gh = HOLD_GROW * (x2 - x1), HOLD_GROW * (y2 - y1)
    return (x1 - gw, y1 - gh, x2 + gw, y2 + gh)


def _held(track: Track, boxes: dict[int, Box], n_frames: int) -> dict[int, Box]:
    """Frames the track was visible on before the follow but the follow did not reach:
    each keeps the nearest earlier followed box (else the nearest later one), grown."""
    known = sorted(boxes)
    if not known:
        return {}
    out: dict[int, Box] = {}
    for first, last in track.visible_ranges(n_frames):
        for f in range(first, last + 1):
            if f in boxes:
                continue
            i = bisect.bisect_left(known, f)
            out[f] = _grown(boxes[known[i - 1] if i > 0 else known[i]])
    return out


def followed_track(track: Track, followed: Followed, n_frames: int) -> Track:
    """The track with a keyframe on every followed frame (drawn ones kept) and its
    needs-review ranges.

    Frames the track was visible on before but the follow did not reach keep the
    last known box, grown, and are flagged for review: following never turns a
    region off. Frames it was not visible on and no side reached are ``outside``.
    """
    held = _held(track, followed.boxes, n_frames)
    boxes = {**held, **followed.boxes}
    kfs: list[Keyframe] = []
    frames = sorted(boxes)
    drawn = {k.frame for k in track.keyframes if not k.outside and not k.tracked}
    for j, f in enumerate(frames):
        nxt = frames[j + 1] if j + 1 < len(frames) else n_frames
        prev = frames[j - 1] if j > 0 else -2
        # a held run needs only its first and last frame (same box: it holds between)
        inner = f in held and prev == f - 1 and nxt == f + 1 and prev in held and nxt in held
        if not inner:
            kfs.append(Keyframe(f, boxes[f], tracked=f not in drawn))
        if nxt > f + 1:
            kfs.append(Keyframe(f + 1, None, outside=True))
    review = set(followed.review) | set(held)
    return replace(track, keyframes=tuple(kfs), review=tuple(_ranges(review)))


def _ranges(frames: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for f in sorted(frames):
        if out and out[-1][1] == f - 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def anchors_of(track: Track) -> dict[int, Box]:
    """The drawn boxes of a track: where a (re-)run of the region tracker starts."""
    return {k.frame: k.box for k in track.keyframes if not k.outside and not k.tracked}  # type: ignore[misc]


def video_frames(
    path: str | Path, limits: Limits | None = None, max_frames: int = 9000
) -> list[np.ndarray]:
    """The grayscale frames of a video for :func:`propagate` (about 1 MB a frame at 720p)."""
    from ..media import video as video_io

    out: list[np.ndarray] = []
    with video_io.iter_frames(path, limits) as reader:
        for f in reader:
            if len(out) >= max_frames:
                raise ProjectError(
                    f"{Path(path).name}: longer than {max_frames} frames; "
                    "follow regions in a shorter clip"
                )
            out.append(gray(f.image))
    return out
