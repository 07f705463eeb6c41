"""Video: one person or car is seen on many frames, so the attacker averages them.

Faces: for each annotated face track (boxes tied by their ``id`` across frames),
every frame's masked window is attacked and aligned with the *original's* landmarks
on that frame; the aligned chips of the track are averaged (per-frame noise cancels,
what the mask keeps constant does not) and the average is embedded and ranked
against a gallery of one original per track (its middle frame). The same frame's
single probe is reported beside it, so the gain of averaging is visible.

Plates: a plate is rigid, so each frame's attacked plate window is aligned by
resampling it onto one canvas per track (the annotated box fixes the plate's
place); the OCR reads the track's average and its middle frame, against the
annotated ``text`` or else the reading of the original middle frame.

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
from PIL import Image

from ..errors import ConfigError
from ..mask import expand_for_mask
from ..regions import Regions, class_id
from ..settings import MaskSettings
from .attacks import Attack, attacks_for, per_family
from .metrics import (
    MIN_EXPECTED_HITS,
    at_most,
    binomial_tail,
    certify_twice_chance,
    char_accuracy,
    hub_corrected_ranks,
    identification_ranks,
    normalise_plate,
    photo_ranks,
    plate_read_whole,
)
from .setups import Setup
from .windows import WINDOW, blank_outside, grown_rect, window_around

log = logging.getLogger(__name__)

__all__ = [
    "FrameObjects",
    "NoiseControl",
    "plate_track_table",
    "track_average_table",
    "track_verdicts",
]


@dataclass(frozen=True)
class FrameObjects:
    """One decoded frame: the image, the regions masked on it, and the audited objects
    (faces or plates) on it by track key (annotated boxes, x1 y1 x2 y2)."""

    rgb: np.ndarray
    regions: Regions
    objects: dict[Any, tuple[float, float, float, float]]


@dataclass(frozen=True)
class NoiseControl(Setup):
    """A control that averaging must undo: Gaussian noise, new on every frame, added to
    each masked region (``sigma`` in grey levels). A mask of this kind is reversible."""

    sigma: float = 60.0

    def masked(
        self, item: int, rgb: np.ndarray, regions: Regions, mask: MaskSettings
    ) -> np.ndarray:
        rng = np.random.default_rng(item)  # item: the frame number, so each frame differs
        out = rgb.astype(np.float32)
        h, w = rgb.shape[:2]
        for x1, y1, x2, y2 in expand_for_mask(regions, mask).xyxy.tolist():
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
    frames: Iterable[tuple[int, FrameObjects]],
    setups: Sequence[Setup],
    attacks: Sequence[Attack],
    mask: MaskSettings,
    embedder: Any,
    middle: dict[Any, int],
    blank_context: bool = False,
) -> dict[str, Any]:
    """Rank-1 of single-frame and track-averaged probes, per setup and attack family.

    ``frames`` yields (frame number, :class:`FrameObjects`) in order; ``middle`` gives
    each track's gallery frame. Each track's aligned chips are summed per (setup,
    variant), so memory is one chip per track, setup and variant, not per frame.
    ``blank_context`` greys everything outside the mask's footprint in gallery and
    probes (see :func:`veil.audit.windows.blank_outside`). The variant of a family is
    chosen on the other half of the tracks (:func:`cross_fitted`).
    """
    _needs_chips(embedder)
    margin = mask.margin("face")
    shape = mask.shape("face")
    sums: dict[tuple[str, str], dict[Any, np.ndarray]] = {}
    counts: dict[Any, int] = {}
    single: dict[tuple[str, str], dict[Any, np.ndarray]] = {}
    gallery_chips: dict[Any, np.ndarray] = {}

    def blanked(window: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
        return blank_outside(window, rect, shape) if blank_context else window

    for number, ff in frames:
        h, w = ff.rgb.shape[:2]
        keyed = {}
        for key, box in ff.objects.items():
            win = window_around(box, w, h, WINDOW["face"])
            x1, y1 = win[0], win[1]
            local = (box[0] - x1, box[1] - y1, box[2] - x1, box[3] - y1)
            original = ff.rgb[y1 : win[3], x1 : win[2]]
            lm = embedder.landmarks(original, local)  # from the original: the best alignment
            rect = grown_rect(box, margin, win)
            keyed[key] = (win, lm, rect)
            counts[key] = counts.get(key, 0) + 1
            if middle.get(key) == number:
                gallery_chips[key] = embedder.chip(blanked(original, rect), lm)
        for s in setups:
            masked = s.masked(number, ff.rgb, ff.regions, mask)
            plan = attacks_for(s, attacks)
            for key, (win, lm, rect) in keyed.items():
                x1, y1, x2, y2 = win
                window = masked[y1:y2, x1:x2]
                for atk in plan:  # float32: exact sums of uint8 chips up to 65,000 frames
                    chip = embedder.chip(blanked(atk(window, rect), rect), lm).astype(np.float32)
                    acc = sums.setdefault((s.name, atk.name), {})
                    acc[key] = acc[key] + chip if key in acc else chip
                    if middle.get(key) == number:
                        single.setdefault((s.name, atk.name), {})[key] = chip
    keys = [k for k in sorted(gallery_chips, key=str) if counts.get(k, 0)]
    if not keys:
        return {"tracks": 0, "rows": []}
    gallery = embedder.embed_chips([gallery_chips[k] for k in keys])
    truth = np.arange(len(keys))
    n = len(keys)
    clips = [k[0] if isinstance(k, tuple) else 0 for k in keys]  # track keys: (video, id)
    sizes = np.array([clips.count(c) for c in clips])

    def hits_of(s: Setup, atk: Attack) -> dict[str, np.ndarray]:
        """Per track, whether its probe is ranked first (plain and hub-corrected), whether
        its nearest original is from its own clip, and whether it is first among them."""
        acc = sums[(s.name, atk.name)]
        avg = embedder.embed_chips([_u8(acc[k] / counts[k]) for k in keys])
        one = embedder.embed_chips([_u8(single[(s.name, atk.name)][k]) for k in keys])
        first, within, _ = photo_ranks(gallery, one, truth, clips)
        _, within_avg, _ = photo_ranks(gallery, avg, truth, clips)
        return {
            "single": identification_ranks(gallery, one, truth) <= 1,
            "single_clip": first,  # found the clip, whose other faces share its look
            "single_within_clip": (within <= 1) & (sizes >= 2),  # found the person in it
            "average_within_clip": (within_avg <= 1) & (sizes >= 2),
            "average": identification_ranks(gallery, avg, truth) <= 1,
            "single_hub": hub_corrected_ranks(gallery, one, truth) <= 1,
            "average_hub": hub_corrected_ranks(gallery, avg, truth) <= 1,
        }

    rows = []
    for s, fam, tried in per_family(setups, attacks, sums, hits_of):
        row: dict[str, Any] = {
            "setup": s.name, "method": s.method, "control": s.control, "attack": fam,
            "n": n, "variants": len(tried),
        }  # fmt: skip
        for metric in ("single", "average", "single_hub", "average_hub", "single_clip",
                       "single_within_clip", "average_within_clip"):  # fmt: skip
            per_variant = {v: h[metric] for v, h in tried.items()}
            hits, best, hindsight = cross_fitted(per_variant)
            row[f"hits_{metric}"] = hits
            if "clip" not in metric:  # the clip counts have their own denominators
                row[f"rank1_{metric}"] = hits / n
            row[f"variant_{metric}"] = best
            row[f"hindsight_{metric}"] = hindsight
        row["p_chance_single"] = binomial_tail(row["hits_single"], n, 1.0 / n)
        rows.append(row)
    frames_per_track = [counts[k] for k in keys]
    table = {
        "tracks": n, "chance": 1.0 / n, "blank_context": blank_context,
        "clip_chance": float(np.mean(sizes / n)), "within_clip_n": int((sizes >= 2).sum()),
        "within_clip_chance": float(np.mean(1 / sizes[sizes >= 2])) if (sizes >= 2).any()
        else float("nan"),
        "frames_per_track_median": float(np.median(frames_per_track)), "rows": rows,
    }  # fmt: skip
    table["verdicts"] = track_verdicts(table)  # on exact figures, before any rounding
    return table


#: The two probes of a face track, as the verdicts name them.
_PROBES = {"single": "one frame", "average": "track average"}


def track_verdicts(tracks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per masking setup (controls aside), its most re-identified cell over attacks and
    the two probes (one frame, track average), and the line of 2x chance that decides.

    The line is decided among each probe's own clip's faces (``line_on`` "its clip's
    faces") when chance gives that count ``MIN_EXPECTED_HITS`` or more, else on the one
    gallery. The gallery holds one original frame per track, from the very clip of the
    probe, so the clip's light, colour and softness, which a blur keeps, point to the
    clip: the one-gallery count finds the clip, not the person, and about one hit is
    expected there by chance, which makes 2x chance a coin toss. Among the clip's own
    faces the look is shared by every candidate, so what is left is the person, and
    about ``n / clip size`` hits are expected: a test with power, as short lists are for
    photos. The one-gallery count stays beside the verdict (``one_gallery_pass``).
    """
    out: dict[str, dict[str, Any]] = {}
    for r in tracks.get("rows", []):
        if r.get("control"):
            continue
        for probe in _PROBES:
            hits = r[f"hits_{probe}"]
            v = out.get(r["setup"])
            if v is None or hits > v["hits"]:
                out[r["setup"]] = {
                    "hits": hits, "attack": r["attack"],
                    "probe": _PROBES[probe],
                    "one_gallery_pass": at_most(hits, 2 * tracks["tracks"] * tracks["chance"]),
                }  # fmt: skip
    n, chance = tracks.get("within_clip_n", 0), tracks.get("within_clip_chance")
    for r in tracks.get("rows", []):
        v = out.get(r["setup"])
        if v is None or not n:
            continue
        for probe in _PROBES:
            hits = r.get(f"hits_{probe}_within_clip")
            if hits is None or hits <= v.get("within_clip_hits", -1):
                continue  # the person, once the clip is known: the most over both probes
            upper, certified = certify_twice_chance(hits, n, chance)
            v.update({
                "within_clip_hits": hits, "within_clip_attack": r["attack"],
                "within_clip_probe": _PROBES[probe],
                "within_clip_expected": n * chance,
                "within_clip_pass": at_most(hits, 2 * n * chance),
                "within_clip_upper_x": upper / chance, "within_clip_certified": certified,
            })  # fmt: skip
    for v in out.values():
        decides = v.get("within_clip_expected", 0.0) >= MIN_EXPECTED_HITS
        v["line_on"] = "its clip's faces" if decides else "one gallery"
        v["pass"] = v["within_clip_pass"] if decides else v["one_gallery_pass"]
    return out


def half_picks(scores: np.ndarray) -> tuple[int, int]:
    """For each alternate half of the tracks, the variant (row of ``scores``, variants x
    tracks) with the highest sum on the *other* half; the first of equals."""
    half = np.arange(scores.shape[1]) % 2
    picks = [int(np.argmax(scores[:, half != h].sum(axis=1))) for h in (0, 1)]
    return picks[0], picks[1]


def cross_fitted(per_variant: dict[str, np.ndarray]) -> tuple[int, str, int]:
    """Hits of an attacker who picks the variant on the *other* half of the tracks.

    ``per_variant`` maps each variant to a boolean hit per track (all in one order).
    Tracks are split into alternate halves; each half is scored with the variant that
    did best on the other half (:func:`half_picks`), so no track's own result picks
    its attack: the best of several variants in hindsight favours luck (with up to
    nine variants, a fill that carries nothing reaches 2 hits in 81). Returns the
    cross-fitted hits, the variant best on all tracks, and its hits (the hindsight
    figure, an upper bound).
    """
    names = list(per_variant)
    stack = np.array([per_variant[v] for v in names], dtype=bool)
    half = np.arange(stack.shape[1]) % 2
    picks = half_picks(stack)
    hits = sum(int(stack[picks[h], half == h].sum()) for h in (0, 1))
    totals = stack.sum(axis=1)
    best = int(np.argmax(totals))
    return hits, names[best], int(totals[best])


def _u8(chip: np.ndarray) -> np.ndarray:
    return np.clip(np.round(chip), 0, 255).astype(np.uint8)


def track_regions(
    boxes: dict[Any, tuple[float, float, float, float]], seeds: dict[Any, int], label: str
) -> Regions:
    """Annotated boxes of one class as regions, each with its track's constant id (mask
    seed)."""
    if not boxes:
        return Regions.empty()
    keys = list(boxes)
    return Regions(
        np.array([boxes[k] for k in keys], np.float32),
        np.ones(len(keys), np.float32),
        np.full(len(keys), class_id(label), np.int16),
        np.array([seeds[k] for k in keys], np.int64),
    )


#: Plates are resampled onto a canvas this tall (their window: the box and 25% per side),
#: as wide as the track's first window keeps the aspect; the OCR reads 48 px text lines.
PLATE_CANVAS_H = 96


def _fit(window: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if window.shape[1] == size[0] and window.shape[0] == size[1]:
        return window
    return np.asarray(Image.fromarray(window).resize(size, Image.Resampling.BILINEAR))


def plate_track_table(
    frames: Iterable[tuple[int, FrameObjects]],
    setups: Sequence[Setup],
    attacks: Sequence[Attack],
    mask: MaskSettings,
    reader: Any,
    middle: dict[Any, int],
    texts: dict[Any, str] | None = None,
) -> dict[str, Any]:
    """Whole plates read from one frame and from a track's average, per setup and family.

    Each frame's attacked window is resampled onto the track's canvas and summed, so
    memory is one canvas per track, setup and variant. ``texts`` gives annotated plate
    text per track key; the others are compared with the OCR of the original middle
    frame, and a track whose original the OCR cannot read at all is left out. The
    variant of a family is chosen on the other half of the tracks, as for faces; the
    best in hindsight is kept as ``hindsight_exact_*``, an upper bound.
    """
    margin = mask.margin("plate")
    canvas: dict[Any, tuple[int, int]] = {}
    counts: dict[Any, int] = {}
    originals: dict[Any, np.ndarray] = {}
    sums: dict[tuple[str, str], dict[Any, np.ndarray]] = {}
    single: dict[tuple[str, str], dict[Any, np.ndarray]] = {}
    for number, fo in frames:
        h, w = fo.rgb.shape[:2]
        keyed = {}
        for key, box in fo.objects.items():
            win = window_around(box, w, h, WINDOW["plate"])
            if win[2] <= win[0] or win[3] <= win[1]:
                continue
            ww, wh = win[2] - win[0], win[3] - win[1]
            size = canvas.setdefault(key, (max(1, round(ww * PLATE_CANVAS_H / wh)), PLATE_CANVAS_H))
            counts[key] = counts.get(key, 0) + 1
            keyed[key] = (win, grown_rect(box, margin, win), size)
            if middle.get(key) == number:
                originals[key] = _fit(fo.rgb[win[1] : win[3], win[0] : win[2]], size)
        for s in setups:
            masked = s.masked(number, fo.rgb, fo.regions, mask)
            plan = attacks_for(s, attacks)
            for key, (win, rect, size) in keyed.items():
                window = masked[win[1] : win[3], win[0] : win[2]]
                for atk in plan:
                    fitted = _fit(atk(window, rect), size).astype(np.float32)
                    acc = sums.setdefault((s.name, atk.name), {})
                    acc[key] = acc[key] + fitted if key in acc else fitted
                    if middle.get(key) == number:
                        single.setdefault((s.name, atk.name), {})[key] = fitted
    texts = texts or {}
    refs: dict[Any, str] = {}
    ceiling = []
    for key in sorted(originals, key=str):
        read = reader.read(originals[key])
        ref = normalise_plate(texts.get(key) or read)
        if ref:
            refs[key] = ref
            if key in texts:
                ceiling.append(plate_read_whole(ref, read))
    keys = list(refs)
    if not keys:
        return {"tracks": 0, "rows": []}

    def reads_of(s: Setup, atk: Attack) -> dict[str, np.ndarray]:
        """Per track: read whole, and character accuracy, for each probe."""
        acc, one = sums[(s.name, atk.name)], single[(s.name, atk.name)]
        out = {}
        for probe, images in (("single", [_u8(one[k]) for k in keys]),
                              ("average", [_u8(acc[k] / counts[k]) for k in keys])):  # fmt: skip
            reads = [reader.read(im) for im in images]
            out[f"whole_{probe}"] = np.array(
                [plate_read_whole(refs[k], r) for k, r in zip(keys, reads, strict=True)]
            )
            out[f"char_{probe}"] = np.array(
                [char_accuracy(refs[k], r) for k, r in zip(keys, reads, strict=True)]
            )
        return out

    rows = []
    half = np.arange(len(keys)) % 2
    cols = np.arange(len(keys))
    for s, fam, tried in per_family(setups, attacks, sums, reads_of):
        names = list(tried)
        row: dict[str, Any] = {
            "setup": s.name, "method": s.method, "control": s.control, "attack": fam,
            "n": len(keys),
        }  # fmt: skip
        for probe in ("single", "average"):
            whole = np.array([tried[v][f"whole_{probe}"] for v in names], float)
            chars = np.array([tried[v][f"char_{probe}"] for v in names], float)
            # cross-fitted, as for faces: each half is read with the variant that read
            # most plates (then most characters) on the other half
            pick = np.array(half_picks(whole + 1e-3 * chars))[half]
            row[f"exact_{probe}"] = int(whole[pick, cols].sum())
            row[f"char_{probe}"] = float(chars[pick, cols].mean())
            row[f"variant_{probe}"] = " / ".join(dict.fromkeys(names[p] for p in pick))
            row[f"hindsight_exact_{probe}"] = int(whole.sum(axis=1).max())
        row["variant"] = row["variant_average"]
        rows.append(row)
    frames_per_track = [counts[k] for k in keys]
    return {
        "tracks": len(keys), "annotated_text": len(ceiling),
        "ceiling_exact": float(np.mean(ceiling)) if ceiling else float("nan"),
        "frames_per_track_median": float(np.median(frames_per_track)), "rows": rows,
    }  # fmt: skip


def video_frames(
    ds: Any, settings: Any, min_height: float, detect: Any | None, label: str = "face"
) -> tuple[list[Iterable[tuple[int, FrameObjects]]], dict[Any, int]]:
    """Per annotated video, its annotated frames as :class:`FrameObjects` (lazily decoded),
    and each track's gallery frame. Track keys are
    (video, object id); boxes without an ``id`` cannot be tied across frames and are
    left out. ``detect`` (frame -> regions) masks veil's detections; None masks the
    annotated boxes."""
    from ..media import video as video_io

    streams: list[Iterable[tuple[int, FrameObjects]]] = []
    seen: dict[Any, list[int]] = {}
    for v, item in enumerate(ds.videos):
        per_frame: dict[int, dict[Any, tuple[float, float, float, float]]] = {}
        for f, boxes in item.frames.items():
            for b in boxes:
                usable = b.label == label and not b.ignore and b.object_id is not None
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
                        objs = per_frame[fr.index]
                        regions = (
                            track_regions(objs, seeds, label) if detect is None
                            else detect(fr.image)
                        )  # fmt: skip
                        # frame numbers are unique per video: offset so noise differs per video
                        yield v * 10_000_000 + fr.index, FrameObjects(fr.image, regions, objs)
                    if fr.index >= last:
                        break

        streams.append(stream())
    middle = {
        k: v * 10_000_000 + sorted(fs)[len(fs) // 2] for k, fs in seen.items() for v in [k[0]]
    }
    return streams, middle
