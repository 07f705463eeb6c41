"""Video: one person is seen on many frames, so the attacker averages them.

For each annotated face track (boxes tied by their ``id`` across frames), every
frame's masked window is attacked and aligned with the *original's* landmarks on
that frame; the aligned chips of the track are averaged (per-frame noise cancels,
what the mask keeps constant does not) and the average is embedded and ranked
against a gallery of one original per track (its middle frame). The same frame's
single probe is reported beside it, so the gain of averaging is visible.

veil draws each track's mask from the track alone (cells per region, one seed per
track), so averaging should gain nothing on veil's methods; a mask that varies
from frame to frame (the ``noise`` control) is what it undoes.

Only aggregate numbers leave this module; chips live in memory as running sums.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..regions import Regions, class_id
from ..settings import MaskSettings
from .attacks import Attack, families
from .metrics import identification_ranks, rank_rate
from .runner import WINDOW, rect_in_window, window_around
from .setups import Setup

log = logging.getLogger(__name__)

__all__ = ["FrameFaces", "NoiseControl", "track_average_table"]


@dataclass(frozen=True)
class FrameFaces:
    """One decoded frame: the image, the regions masked on it, and the audited faces
    on it by track key (annotated boxes, x1 y1 x2 y2)."""

    rgb: np.ndarray
    regions: Regions
    faces: dict[Any, tuple[float, float, float, float]]


@dataclass(frozen=True)
class NoiseControl(Setup):
    """A control that averaging must undo: Gaussian noise, new on every frame, added to
    the face region (``sigma`` in grey levels). A mask of this kind is reversible."""

    sigma: float = 60.0

    def masked(
        self, item: int, rgb: np.ndarray, regions: Regions, mask: MaskSettings
    ) -> np.ndarray:
        rng = np.random.default_rng(item)  # item: the frame number, so each frame differs
        out = rgb.astype(np.float32)
        h, w = rgb.shape[:2]
        for x1, y1, x2, y2 in regions.expand(mask.face_margin).xyxy.tolist():
            a, b = max(0, int(x1)), max(0, int(y1))
            c, d = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
            if c > a and d > b:
                out[b:d, a:c] += rng.normal(0.0, self.sigma, (d - b, c - a, 1))
        return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _needs_chips(embedder: Any) -> None:
    if not (hasattr(embedder, "chip") and hasattr(embedder, "embed_chips")):
        raise ConfigError(
            "the track-average attack needs an embedder with chip() and embed_chips()"
        )


def track_average_table(
    frames: Iterable[tuple[int, FrameFaces]],
    setups: Sequence[Setup],
    attacks: Sequence[Attack],
    mask: MaskSettings,
    embedder: Any,
    middle: dict[Any, int],
) -> dict[str, Any]:
    """Rank-1 of single-frame and track-averaged probes, per setup and attack variant.

    ``frames`` yields (frame number, :class:`FrameFaces`) in order; ``middle`` gives
    each track's gallery frame. Each track's aligned chips are summed per (setup,
    variant), so memory is one chip per track, setup and variant, not per frame.
    """
    _needs_chips(embedder)
    margin = mask.margin("face")
    sums: dict[tuple[str, str], dict[Any, np.ndarray]] = {}
    counts: dict[Any, int] = {}
    single: dict[tuple[str, str], dict[Any, np.ndarray]] = {}
    gallery_chips: dict[Any, np.ndarray] = {}
    for number, ff in frames:
        h, w = ff.rgb.shape[:2]
        keyed = {}
        for key, box in ff.faces.items():
            win = window_around(box, w, h, WINDOW["face"])
            x1, y1 = win[0], win[1]
            local = (box[0] - x1, box[1] - y1, box[2] - x1, box[3] - y1)
            keyed[key] = (win, embedder.landmarks(ff.rgb[y1 : win[3], x1 : win[2]], local), box)
            counts[key] = counts.get(key, 0) + 1
            if middle.get(key) == number:
                gallery_chips[key] = embedder.chip(ff.rgb[y1 : win[3], x1 : win[2]], keyed[key][1])
        for s in setups:
            masked = s.masked(number, ff.rgb, ff.regions, mask)
            plan = [a for a in attacks if a.family == "none"] if s.name == "unmasked" else attacks
            for key, (win, lm, box) in keyed.items():
                x1, y1, x2, y2 = win
                window = masked[y1:y2, x1:x2]
                grown = Regions(np.array([box], np.float32)).expand(margin).xyxy[0]
                rect = rect_in_window(grown, win)  # the face's mask rectangle
                for atk in plan:
                    chip = embedder.chip(atk(window, rect), lm).astype(np.float64)
                    acc = sums.setdefault((s.name, atk.name), {})
                    acc[key] = acc[key] + chip if key in acc else chip
                    if middle.get(key) == number:
                        single.setdefault((s.name, atk.name), {})[key] = chip
    keys = [k for k in sorted(gallery_chips, key=str) if counts.get(k, 0)]
    if not keys:
        return {"tracks": 0, "rows": []}
    gallery = embedder.embed_chips([gallery_chips[k] for k in keys])
    rows = []
    for s in setups:
        for fam in families(attacks):
            best = None
            for atk in (a for a in attacks if a.family == fam):
                if (s.name, atk.name) not in sums:
                    continue
                acc = sums[(s.name, atk.name)]
                avg = [_u8(acc[k] / counts[k]) for k in keys]
                one = [_u8(single[(s.name, atk.name)][k]) for k in keys]
                truth = np.arange(len(keys))
                r_avg = identification_ranks(gallery, embedder.embed_chips(avg), truth)
                r_one = identification_ranks(gallery, embedder.embed_chips(one), truth)
                row = {
                    "setup": s.name, "method": s.method, "control": s.control, "attack": fam,
                    "variant": atk.name, "n": len(keys),
                    "rank1_single": rank_rate(r_one, 1), "rank1_average": rank_rate(r_avg, 1),
                }  # fmt: skip
                if best is None or (row["rank1_average"], row["rank1_single"]) > (
                    best["rank1_average"], best["rank1_single"],
                ):  # fmt: skip
                    best = row
            if best is not None:
                rows.append(best)
    frames_per_track = [counts[k] for k in keys]
    return {
        "tracks": len(keys), "chance": 1.0 / len(keys),
        "frames_per_track_median": float(np.median(frames_per_track)), "rows": rows,
    }  # fmt: skip


def _u8(chip: np.ndarray) -> np.ndarray:
    return np.clip(np.round(chip), 0, 255).astype(np.uint8)


def face_regions(
    faces: dict[Any, tuple[float, float, float, float]], seeds: dict[Any, int]
) -> Regions:
    """Annotated face boxes as regions, each with its track's constant id (mask seed)."""
    if not faces:
        return Regions.empty()
    keys = list(faces)
    return Regions(
        np.array([faces[k] for k in keys], np.float32),
        np.ones(len(keys), np.float32),
        np.full(len(keys), class_id("face"), np.int16),
        np.array([seeds[k] for k in keys], np.int64),
    )


def video_frames(
    ds: Any, settings: Any, min_height: float, detect: Any | None
) -> tuple[list[Iterable[tuple[int, FrameFaces]]], dict[Any, int]]:
    """Per annotated video, its annotated frames as :class:`FrameFaces` (lazily decoded),
    and each track's gallery frame. Track keys are (video, object id); faces without
    an ``id`` cannot be tied across frames and are left out. ``detect`` (frame ->
    regions) masks veil's detections; None masks the annotated boxes."""
    from ..media import video as video_io

    streams: list[Iterable[tuple[int, FrameFaces]]] = []
    seen: dict[Any, list[int]] = {}
    for v, item in enumerate(ds.videos):
        per_frame: dict[int, dict[Any, tuple[float, float, float, float]]] = {}
        for f, boxes in item.frames.items():
            for b in boxes:
                usable = b.label == "face" and not b.ignore and b.object_id is not None
                if usable and b.height >= min_height:
                    per_frame.setdefault(f, {})[(v, b.object_id)] = b.xyxy
                    seen.setdefault((v, b.object_id), []).append(f)
        if not per_frame:
            continue
        seeds = {k: i + 1 for i, k in enumerate(sorted({k for d in per_frame.values() for k in d}))}

        def stream(path=item.file, per_frame=per_frame, seeds=seeds, v=v):
            last = max(per_frame)
            with video_io.iter_frames(path, settings.limits) as reader:
                for fr in reader:
                    if fr.index in per_frame:
                        faces = per_frame[fr.index]
                        regions = face_regions(faces, seeds) if detect is None else detect(fr.image)
                        # frame numbers are unique per video: offset so noise differs per video
                        yield v * 10_000_000 + fr.index, FrameFaces(fr.image, regions, faces)
                    if fr.index >= last:
                        break

        streams.append(stream())
    middle = {
        k: v * 10_000_000 + sorted(fs)[len(fs) // 2] for k, fs in seen.items() for v in [k[0]]
    }
    return streams, middle
