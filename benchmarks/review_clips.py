"""Review on the real sample clips: how well evidence and "more like this" find the false tracks.

For each clip of ``benchmarks/real_videos/annotations.json`` with a cached
project (``veil detect --project CACHE/<clip>.project.json``; made here if
missing, which takes minutes on 2 cores), every track is labelled from the
ground truth on the annotated frames (every 10th):

* true: it lies on an annotated face/plate of its class (IoU >= 0.2, or its centre
  near the box's with areas within 6x) on at least half of the annotated frames it
  is visible on, on one of them a box that is not ``ignore``;
* ignore: it lies only on ``ignore`` boxes (tiny or unreadable), or on a face on
  fewer than half of its annotated frames (kept masked, not scored);
* false: it is visible on annotated frames and lies on no annotated box there;
* unknown: it is not visible on any annotated frame (left out of the figures).

Then it prints, per clip:

1. **ranking**: for each false track as the one example a reviewer turned off
   ("seed"), the other tracks ranked by :func:`veil.project.review.similar`;
   mean average precision (AP) of finding the false ones and precision among the
   first 10 (``rank_all``); the same with each descriptor group alone as the
   neighbour graph (``rank_place`` ...; ``rank_evidence``: no graph, the seeds'
   class by lowest evidence first); with 20 random sets of 3 false tracks as the
   seeds (``rank_all_3seeds``, ``rank_evidence_3seeds``); and the baseline
   "lowest evidence first" over every track, no seed (``rank_evidence_order``).
   The share of false tracks in the clip is what a random order scores;
2. **threshold**: the highest threshold that turns off no true track, what it
   turns off, and the masked share (union of the enabled boxes, full resolution,
   on the annotated frames) before and after a review that turns off exactly the
   false tracks, next to the annotated objects' own area;
3. **plan**: the actions a scripted reviewer needs (benchmarks/review_browser.py
   drives them in chromium): a stricter threshold on one size band after the safe one
   (``band_plan``), and boxes dragged on the page's evidence map (``map_plan``);
4. **thumbnails**: how often a true track's picture in the page shows its object
   (``thumbnail_on_object``).

    python benchmarks/review_clips.py [--cache /tmp/review25] [--clips tokyo_street,uk_plate_car]

``--ranking-only`` measures the ranking alone, pooled over many clips (the
training clips: ``--annotations A/clips.json B/clips.json --cache PA PB --label
face``); ``--grid`` adds the settings that were tried to choose the measure's.

Exit status: 0 measured, 3 nothing measured (the clips are absent).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from bench_info import commit

from veil.evaluate.dataset import load_dataset
from veil.media import video as video_io
from veil.project import FileEntry, Project
from veil.project import review as rv

EXIT_NO_DATA = 3
HERE = Path(__file__).resolve().parent
GROUPS = ("evidence", "appearance", "place", "shape")


def _on(a: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which of ``boxes`` the track box ``a`` lies on: IoU >= 0.2, or its centre inside the
    box grown by half with areas within 6x of each other (small faces, loose boxes)."""
    if not len(boxes):
        return np.zeros(0, bool)
    ix = np.clip(np.minimum(a[2], boxes[:, 2]) - np.maximum(a[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], boxes[:, 3]) - np.maximum(a[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iou = inter / np.maximum(area_a + area_b - inter, 1e-9)
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    hw, hh = (boxes[:, 2] - boxes[:, 0]) * 0.75, (boxes[:, 3] - boxes[:, 1]) * 0.75
    bx, by = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    near = (np.abs(cx - bx) <= hw) & (np.abs(cy - by) <= hh)
    ratio = np.maximum(area_a, area_b) / np.maximum(np.minimum(area_a, area_b), 1e-9)
    return (iou >= 0.2) | (near & (ratio <= 6))


@dataclass
class Truth:
    labels: dict[int, str]  # track id -> true / ignore / false / unknown
    gt: dict[int, list]  # annotated frame -> boxes


def label_tracks(entry: FileEntry, video) -> Truth:
    labels = {}
    annotated = sorted(i for i in video.frames if i < entry.frames)
    for t in entry.tracks.values():
        frames, xyxy = rv.frame_boxes(t, entry.frames)
        where = {int(f): b for f, b in zip(frames, xyxy, strict=True)}
        seen = on_any = 0
        hit = False
        for i in annotated:
            if i not in where:
                continue
            seen += 1
            gt = [b for b in video.frames[i] if b.label == t.label]
            if not gt:
                continue
            on = _on(where[i], np.array([b.xyxy for b in gt], np.float64))
            hit |= any(o and not b.ignore for o, b in zip(on, gt, strict=True))
            on_any += bool(on.any())
        if not seen:
            labels[t.id] = "unknown"
        elif not on_any:
            labels[t.id] = "false"
        elif hit and 2 * on_any >= seen:
            labels[t.id] = "true"
        else:  # only on ignore boxes, or on a face on few of its frames: kept, not scored
            labels[t.id] = "ignore"
    return Truth(labels, {i: list(video.frames[i]) for i in annotated})


def looks_of(entry: FileEntry, path: Path) -> dict[int, np.ndarray]:
    """Each track's appearance descriptor from its first box, as the server computes it."""
    want: dict[int, list] = {}
    for t in entry.tracks.values():
        want.setdefault(t.first_frame, []).append(t)
    out = {}
    with video_io.iter_frames(path) as frames:
        for i, f in enumerate(frames):
            for t in want.get(i, []):
                box = t.box_at(i, entry.frames)
                x1, y1, x2, y2 = (max(0, int(round(v))) for v in box)  # type: ignore[union-attr]
                out[t.id] = rv.appearance(f.image[y1:y2, x1:x2])
            if i >= max(want, default=-1):
                break
    return out


def average_precision(ranked: list[int], positive: set[int]) -> float:
    hits, total = 0, 0.0
    for k, i in enumerate(ranked, 1):
        if i in positive:
            hits += 1
            total += hits / k
    return total / len(positive) if positive else float("nan")


def precision_at(ranked: list[int], positive: set[int], k: int = 10) -> float:
    """Share of false tracks among the first ``k`` ranked (all of them when fewer)."""
    return sum(i in positive for i in ranked[:k]) / max(1, min(k, len(ranked)))


def seed_sets(false: list[int], per: int, draws: int, rng) -> list[list[int]]:
    """Each false track alone (``per`` 1), or ``draws`` random sets of ``per`` of them."""
    if per == 1:
        return [[i] for i in false]
    if len(false) <= per:
        return []
    return [[int(x) for x in rng.choice(false, per, replace=False)] for _ in range(draws)]


def ranking_runs(
    stats, truth: Truth, looks, weights, per: int = 1, draws: int = 20, label=None, **kw
) -> tuple[list[float], list[float]]:
    """AP and precision@10 of finding the other false tracks, per seed set (see
    :func:`ranking`); ``label`` keeps one class only; ``kw`` goes to ``similar``."""
    known = {i for i, v in truth.labels.items() if v in ("true", "false", "ignore")}
    rows = [s for s in stats if s.id in known and label in (None, s.label)]
    false = [s.id for s in rows if truth.labels[s.id] == "false"]
    aps, p10 = [], []
    for seeds in seed_sets(false, per, draws, np.random.default_rng(0)):
        r = [i for i, _ in rv.similar(rows, seeds, looks, weights, **kw)]
        # a track of another class is not offered: it counts as ranked last (a miss)
        positive = set(false) - set(seeds)
        if not positive:
            continue
        aps.append(average_precision(r, positive))
        p10.append(precision_at(r, positive))
    return aps, p10


def ranking(stats, truth: Truth, looks, weights, per: int = 1, **kw) -> tuple[float, float]:
    """Mean AP and precision@10 of finding false tracks, each false track as the seed
    (``per`` > 1: 20 random sets of that many false tracks as the seeds)."""
    aps, p10 = ranking_runs(stats, truth, looks, weights, per, **kw)
    if not aps:
        return 0.0, 0.0
    return float(np.mean(aps)), float(np.mean(p10))


def evidence_baseline(stats, truth: Truth) -> tuple[float, float]:
    known = [s for s in stats if truth.labels[s.id] in ("true", "false", "ignore")]
    r = [s.id for s in sorted(known, key=lambda s: (s.evidence or 0.0, s.id))]
    positive = {s.id for s in known if truth.labels[s.id] == "false"}
    return average_precision(r, positive), precision_at(r, positive)


def masked_share(entry: FileEntry, frames: list[int], keep: set[int]) -> float:
    """Mean over ``frames`` of the frame share inside the union of the kept tracks' boxes."""
    cover = np.zeros((len(frames), entry.height, entry.width), bool)
    pos = {f: k for k, f in enumerate(frames)}
    for t in entry.tracks.values():
        if t.id not in keep:
            continue
        fr, xyxy = rv.frame_boxes(t, entry.frames)
        for f, b in zip(fr, xyxy, strict=True):
            k = pos.get(int(f))
            if k is None:
                continue
            x1, y1 = max(0, int(round(b[0]))), max(0, int(round(b[1])))
            x2, y2 = min(entry.width, int(round(b[2]))), min(entry.height, int(round(b[3])))
            cover[k, y1:y2, x1:x2] = True
    return float(cover.mean()) if len(frames) else float("nan")


def objects_share(entry: FileEntry, truth: Truth, ignore: bool) -> float:
    """Mean frame share of the annotated faces and plates (``ignore`` ones too if asked)."""
    shares = []
    for boxes in truth.gt.values():
        m = np.zeros((entry.height, entry.width), bool)
        for b in boxes:
            if b.ignore and not ignore:
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in b.xyxy)
            m[max(0, y1) : y2, max(0, x1) : x2] = True
        shares.append(m.mean())
    return float(np.mean(shares)) if shares else float("nan")


def faces_unmasked(entry: FileEntry, truth: Truth, keep: set[int], ignore: bool = False) -> int:
    """Annotated boxes whose centre no kept track's box covers: the ones that count, or
    (``ignore=True``) the ``ignore`` ones (tiny, blurred, printed)."""
    missed = 0
    for i, boxes in truth.gt.items():
        on = [t.box_at(i, entry.frames) for t in entry.tracks.values() if t.id in keep]
        on_arr = np.array([b for b in on if b is not None], np.float64).reshape(-1, 4)
        for b in boxes:
            if b.ignore != ignore:
                continue
            cx, cy = (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2
            inside = (
                (on_arr[:, 0] <= cx)
                & (cx <= on_arr[:, 2])
                & (on_arr[:, 1] <= cy)
                & (cy <= on_arr[:, 3])
            )
            missed += not inside.any()
    return missed


class Safety:
    """Which sets of kept tracks a reviewer may leave: every annotated face (not ``ignore``)
    masked before review is still inside a kept track's box (centre) on the annotated frames,
    and every true track turned off is covered on each of its frames by a kept track's box (a
    duplicate). Tracks on ``ignore`` faces and false tracks may go, unless they are the only
    cover of a face. The covers are found once, so a check is set arithmetic."""

    def __init__(self, entry: FileEntry, truth: Truth) -> None:
        on = [t for t in entry.tracks.values() if t.enabled]
        self.on = {t.id for t in on}
        boxes = {
            t.id: dict(zip(*(a.tolist() for a in rv.frame_boxes(t, entry.frames)), strict=True))
            for t in on
        }

        def covering(f: int, b, but: int | None = None) -> set[int]:
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            return {
                j
                for j, bj in boxes.items()
                if j != but
                and (k := bj.get(f)) is not None
                and k[0] <= cx <= k[2]
                and k[1] <= cy <= k[3]
            }

        faces = [covering(i, b.xyxy) for i, bs in truth.gt.items() for b in bs if not b.ignore]
        self.faces = [c for c in faces if c]  # the unmasked ones stay so: review cannot help
        true = [i for i in self.on if truth.labels[i] == "true"]
        self.shadow = {i: [covering(f, b, i) for f, b in boxes[i].items()] for i in true}

    def ok(self, keep: set[int]) -> bool:
        if not all(c & keep for c in self.faces):
            return False
        return all(all(c & keep for c in self.shadow[i]) for i in self.shadow if i not in keep)


def last_ok(lo: int, hi: int, ok) -> int:
    """The largest ``k`` in ``[lo, hi]`` with ``ok(k)``, by bisection: ``ok`` holds at ``lo``
    and, once false, stays false for every larger ``k`` (fewer tracks kept is never safer)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def safe_threshold(entry: FileEntry, truth: Truth, safety: Safety | None = None) -> float:
    """The highest threshold that leaves a set of tracks :class:`Safety` allows, by bisection."""
    safety = safety or Safety(entry, truth)
    on = [t for t in entry.tracks.values() if t.enabled]
    values = sorted({e for t in on if (e := rv.evidence(t)) is not None})

    def ok(x: float) -> bool:
        return safety.ok({t.id for t in on if (e := rv.evidence(t)) is None or e >= x})

    if not values:
        return 0.0
    # values[0] is always safe (nothing below it goes)
    return values[last_ok(0, len(values) - 1, lambda k: ok(values[k]))]


def cover_floor(entry: FileEntry, truth: Truth, safety: Safety) -> set[int]:
    """What a perfect review keeps: the true tracks, and (greedily, most faces first, then the
    least area) the fewest other tracks that keep every annotated face covered; then, largest
    first, less each track that :class:`Safety` lets go (a duplicate of another)."""
    keep = {i for i in safety.on if truth.labels[i] == "true"}
    need = [c for c in safety.faces if not c & keep]
    stats = {s.id: s for s in rv.StatsCache().all(entry)}
    while need:
        count: dict[int, int] = {}
        for c in need:
            for i in c:
                count[i] = count.get(i, 0) + 1
        best = max(count, key=lambda i: (count[i], -stats[i].area * stats[i].frames, -i))
        keep.add(best)
        need = [c for c in need if best not in c]
    for i in sorted(keep, key=lambda i: (-stats[i].area * stats[i].frames, i)):
        if safety.ok(keep - {i}):  # a duplicate (largest first): another covers it everywhere
            keep.discard(i)
    return keep


def area_order(entry: FileEntry) -> list[int]:
    """The grid's order "masked area, largest first" (review.js: rounded area x frames, id)."""
    rows = [s.as_dict() for s in rv.StatsCache().all(entry)]
    rows.sort(key=lambda d: (-float(d["area"]) * int(d["frames"]), int(d["id"])))  # type: ignore[arg-type]
    return [int(d["id"]) for d in rows]  # type: ignore[call-overload]


def best_run(
    entry: FileEntry,
    order: list[int],
    keep: set[int],
    safety: Safety,
    avoid: set[int] | frozenset[int] = frozenset(),
    end: int | None = None,
) -> tuple[int, int]:
    """The run ``order[i:j]`` (one click, one Shift+click) whose turning off leaves a safe set
    and takes the most masked area (area x frames of the kept tracks in it); it holds no kept
    track of ``avoid`` (e.g. those rated very likely a face: one more click to confirm) and
    ends by ``end`` (e.g. the cells in sight: no scrolling)."""
    weight = {s.id: s.area * s.frames for s in rv.StatsCache().all(entry)}
    best, run, j = 0.0, (0, 0), 0
    n = len(order) if end is None else min(end, len(order))

    def fits(i: int, j: int) -> bool:
        return order[j] not in (avoid & keep) and safety.ok(keep - set(order[i : j + 1]))

    for i in range(n):
        j = max(j, i)
        while j < n and fits(i, j):
            j += 1
        got = sum(weight[t] for t in order[i:j] if t in keep)
        if got > best:
            best, run = got, (i, j)
    return run


def review_plan(entry: FileEntry, truth: Truth) -> dict:
    """What a reviewer who knows the ground truth does: the safe threshold, then the false
    tracks above it, weakest first, picked one by one in the grid; or (``run``) the grid sorted
    by masked area and the one run there that is safe to turn off and takes the most area."""
    safety = Safety(entry, truth)
    x = safe_threshold(entry, truth, safety)
    off = {t.id for t in rv.threshold_plan(entry, x)}
    order = area_order(entry)
    i, j = best_run(entry, order, safety.on - off, safety)
    above = sorted(
        (t for t in entry.tracks.values() if t.enabled and t.id not in off),
        key=lambda t: (rv.evidence(t) or 0.0, t.id),
    )
    residual = [t.id for t in above if truth.labels[t.id] == "false"]
    return {
        "threshold": x,
        "off": sorted(off),
        "off_by_label": {
            k: sum(truth.labels[i] == k for i in off)
            for k in ("true", "ignore", "false", "unknown")
        },
        "residual_false": residual,
        "area_run": order[i:j],
        "area_run_at": (i, j),
    }


def slider_floor(x: float) -> float:
    """Where the page's slider can be put (0.01 steps), at or below ``x`` (so still safe)."""
    return math.floor(x * 100 + 1e-9) / 100


def keeping(entry: FileEntry, kept: set[int]) -> FileEntry:
    """``entry`` with every track not in ``kept`` turned off (what a review would leave)."""
    return replace(
        entry,
        tracks={
            i: t if i in kept else replace(t, enabled=False, reason="bench")
            for i, t in entry.tracks.items()
        },
    )


def band_plan(entry: FileEntry, truth: Truth, budget: int = 10, top: int = 5, likely=None) -> dict:
    """The safe threshold, then a second, higher one on the tracks of one size band (the
    grid's size filter "to B" or "from B", B a whole number of px): the band and threshold
    that leave the least masked share among those that :class:`Safety` allows and that fit
    the ``budget`` of actions in the page (G, a click on the slider, Enter, Enter; then a
    click on the size field, B's digits, a click on the slider, Enter, Enter, and one more
    to confirm tracks rated very likely a face). The bands are ranked by the slider's own
    preview (:func:`veil.project.review.preview`, cells of a few px on every frame); the
    ``top`` of them are scored on the annotated frames at full resolution. ``likely`` tells
    which tracks ask for the confirmation (default :func:`veil.project.review.likely_face`)."""
    likely = likely or rv.likely_face
    safety = Safety(entry, truth)
    x1 = slider_floor(safe_threshold(entry, truth, safety))
    kept = safety.on - {t.id for t in rv.threshold_plan(entry, x1)}
    after = keeping(entry, kept)
    sizes = {s.id: s.size for s in rv.StatsCache().all(after)}
    ev = {i: rv.evidence(after.tracks[i]) for i in kept}
    cov = rv.Coverage(after)
    steps = [k / 100 for k in range(101)]
    rows = []
    for bound in range(1, 100):
        for lo, hi in ((None, float(bound)), (float(bound), None)):
            band = {i for i in kept if rv.in_band(sizes[i], lo, hi) and ev[i] is not None}

            def off(x: float, band: set[int] = band) -> set[int]:
                return {i for i in band if ev[i] < x}  # type: ignore[operator]

            # steps[0] is safe (at most the safe threshold's tracks)
            a = last_ok(0, len(steps) - 1, lambda k: safety.ok(kept - off(steps[k])))
            x2, gone = steps[a], off(steps[a])
            if x2 <= x1 or not gone:
                continue
            n_likely = sum(likely(after.tracks[i]) for i in gone)
            actions = 4 + 1 + len(str(bound)) + 1 + 2 + (1 if n_likely else 0)
            if actions > budget:
                continue
            share = rv.preview(after, x2, cov, None, lo, hi, sizes).area_share
            rows.append((share, lo, hi, x2, sorted(gone), n_likely, actions))
    rows.sort(key=lambda r: r[0])
    frames = sorted(truth.gt)
    best: dict = {"threshold": x1, "share_after_threshold": masked_share(entry, frames, kept)}
    for _, lo, hi, x2, gone, n_likely, actions in rows[:top]:
        left = kept - set(gone)
        share = masked_share(entry, frames, left)
        if "share" in best and best["share"] <= share:
            continue
        best.update(
            min_size=lo,
            max_size=hi,
            band_threshold=x2,
            off=len(gone),
            off_by_label={
                k: sum(truth.labels[i] == k for i in gone) for k in ("true", "ignore", "false")
            },
            likely_faces_off=n_likely,
            actions=actions,
            share=share,
            unmasked=faces_unmasked(entry, truth, left),
            ignore_unmasked=faces_unmasked(entry, truth, left, ignore=True),
            safe=safety.ok(left),
        )
    return best


#: the page's evidence map (review.js, MAP and mapXY): canvas size, padding, size range (px)
MAP_W, MAP_H, MAP_PAD, MAP_SIZES = 480, 150, 18, (4.0, 512.0)
#: the least distance in canvas px between a box's edge and the nearest dot either side (the
#: page reads pointer events, whose coordinates keep the fraction of a pixel)
MAP_CLEAR = 0.05


def map_xy(size: float, evidence: float | None) -> tuple[float, float]:
    """Canvas px of a track's dot on the evidence map, as review.js's mapXY places it."""
    lo, hi = (math.log(v) for v in MAP_SIZES)
    sx = (math.log(min(max(size, MAP_SIZES[0]), MAP_SIZES[1])) - lo) / (hi - lo)
    e = 1.0 if evidence is None else min(max(evidence, 0.0), 1.0)
    return MAP_PAD + sx * (MAP_W - 2 * MAP_PAD), MAP_H - MAP_PAD - e * (MAP_H - 2 * MAP_PAD)


def _edge(inside: list[float], outside: list[float]) -> float | None:
    """The canvas coordinate midway between two groups of dots' coordinates, if they are at
    least 2 * MAP_CLEAR apart (None: no edge can separate them there)."""
    if not outside:
        return None
    a, b = (
        (min(inside), max(outside)) if min(inside) > max(outside) else (max(inside), min(outside))
    )
    return (a + b) / 2 if abs(a - b) >= 2 * MAP_CLEAR else None


def map_plan(entry: FileEntry, truth: Truth, budget: int = 10, likely=None, top: int = 5) -> dict:
    """Boxes dragged on the page's evidence map, greedily: each box selects the tracks of a
    size band (from B, to B, or from B1 to B2 px) whose evidence is under a cut, and X,
    Enter turn them off. Each box takes the most masked area among those that
    :class:`Safety` allows after the boxes before it, ranked by the slider's preview and the
    ``top`` of them scored on the annotated frames. Actions: G, then per box a drag, X and
    Enter (and one more to confirm tracks rated very likely a face), within ``budget``. A
    box's edges (``x0, x1, y0``, canvas px; it reaches down to the map's bottom) lie at
    least MAP_CLEAR px from the nearest dot inside and outside, so the drag selects exactly
    the planned tracks."""
    likely = likely or rv.likely_face
    safety = Safety(entry, truth)
    kept = set(safety.on)
    sizes = {s.id: s.size for s in rv.StatsCache().all(entry)}
    ev = {i: rv.evidence(entry.tracks[i]) for i in kept}
    xs = {i: map_xy(sizes[i], ev[i])[0] for i in kept}
    frames = sorted(truth.gt)
    bounds = [None, *range(4, 33), *range(34, 65, 2), *range(68, 129, 8)]
    boxes: list[dict] = []
    actions = 1  # G
    while True:
        cur = keeping(entry, kept)
        cov = rv.Coverage(cur)
        dots = [i for i in kept if ev[i] is not None]
        rows = []
        for lo in bounds:
            for hi in bounds:
                if lo is not None and hi is not None and hi <= lo:
                    continue
                band = sorted((ev[i], i) for i in dots if rv.in_band(sizes[i], lo, hi))
                if not band:
                    continue
                inner = [xs[i] for _, i in band]
                x0 = MAP_PAD - 4.0
                x1 = MAP_W - MAP_PAD + 4.0
                if lo is not None:
                    x0 = _edge(inner, [xs[i] for i in dots if sizes[i] < lo])
                if hi is not None:
                    x1 = _edge(inner, [xs[i] for i in dots if sizes[i] > hi])
                if x0 is None or x1 is None:
                    continue
                # the most of the band (weakest first) that Safety allows, cut where the
                # dots either side lie far enough apart to draw the edge between them
                a = last_ok(
                    0, len(band), lambda k, b=band, on=kept: safety.ok(on - {i for _, i in b[:k]})
                )
                ys = [map_xy(sizes[i], e)[1] for e, i in band]
                while 0 < a < len(band) and ys[a - 1] - ys[a] < 2 * MAP_CLEAR:
                    a -= 1
                if not a:
                    continue
                y0 = (ys[a - 1] + ys[a]) / 2 if a < len(band) else ys[a - 1] - MAP_CLEAR
                gone = {i for _, i in band[:a]}
                n_likely = sum(likely(entry.tracks[i]) for i in gone)
                cost = 3 + (1 if n_likely else 0)
                if actions + cost > budget:
                    continue
                cut = band[a][0] if a < len(band) else 1.01
                share = rv.preview(cur, min(cut, 1.0), cov, None, lo, hi, sizes).area_share
                rows.append((share, lo, hi, (x0, x1, y0), gone, n_likely, cost))
        if not rows:
            break
        rows.sort(key=lambda r: r[0])
        best = min(rows[:top], key=lambda r: masked_share(entry, frames, kept - r[4]))
        _, lo, hi, (x0, x1, y0), gone, n_likely, cost = best
        # what the drag selects in the page: every dot in the box, tracks already off included
        inside = []
        for i, t in entry.tracks.items():
            x, y = map_xy(sizes[i], rv.evidence(t))
            if x0 <= x <= x1 and y0 <= y <= MAP_H - 1:
                inside.append(i)
        boxes.append(
            {
                "min_size": lo,
                "max_size": hi,
                "x0": x0,
                "x1": x1,
                "y0": y0,
                "off": sorted(gone),
                "selects": sorted(inside),
                "likely_faces_off": n_likely,
            }
        )
        kept -= gone
        actions += cost
    return {
        "boxes": boxes,
        "actions": actions,
        "share": masked_share(entry, frames, kept),
        "unmasked": faces_unmasked(entry, truth, kept),
        "ignore_unmasked": faces_unmasked(entry, truth, kept, ignore=True),
        "safe": safety.ok(kept),
    }


def project_for(cache: Path, path: Path) -> Project:
    out = cache / f"{path.stem}.project.json"
    if not out.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "veil", "detect", "-q", "--project", str(out), str(path)],
            check=True,
        )
    return Project.load(out)


def measure(video, cache: Path) -> dict:
    path = Path(video.file)
    project = project_for(cache, path)
    entry = project.files[0]
    truth = label_tracks(entry, video)
    stats = rv.StatsCache().all(entry)
    t0 = time.perf_counter()
    looks = looks_of(entry, path)
    looks_s = time.perf_counter() - t0
    counts = {
        k: sum(v == k for v in truth.labels.values())
        for k in ("true", "ignore", "false", "unknown")
    }
    res: dict = {"clip": path.name, "tracks": len(entry.tracks), **counts, "looks_s": looks_s}
    res["evidence_kind"] = sorted({s.evidence_kind for s in stats})
    known = counts["true"] + counts["ignore"] + counts["false"]
    res["random_ap"] = counts["false"] / known if known else float("nan")
    res["rank_all"] = ranking(stats, truth, looks, None)
    for g in GROUPS:
        res[f"rank_{g}"] = ranking(stats, truth, looks, {k: float(k == g) for k in GROUPS})
    res["rank_evidence_order"] = evidence_baseline(stats, truth)
    # several seeds: the measure against the evidence order over the same tracks
    res["rank_all_3seeds"] = ranking(stats, truth, looks, None, per=3)
    res["rank_evidence_3seeds"] = ranking(stats, truth, looks, {"evidence": 1.0}, per=3)
    # threshold: highest that turns off no true or ignore track
    keepers = [
        rv.evidence(entry.tracks[i]) for i, v in truth.labels.items() if v in ("true", "ignore")
    ]
    keepers = [e for e in keepers if e is not None]
    best = min(keepers) if keepers else 1.0
    res["threshold"] = best
    plan = rv.threshold_plan(entry, best)
    res["threshold_off_false"] = sum(truth.labels[t.id] == "false" for t in plan)
    res["threshold_off_unknown"] = sum(truth.labels[t.id] == "unknown" for t in plan)
    res["threshold_off"] = len(plan)
    frames = sorted(truth.gt)
    every = {t.id for t in entry.tracks.values() if t.enabled}
    reviewed = {i for i in every if truth.labels[i] != "false"}
    after_threshold = every - {t.id for t in plan}
    res["share_before"] = masked_share(entry, frames, every)
    res["share_after_false_off"] = masked_share(entry, frames, reviewed)
    res["share_after_threshold"] = masked_share(entry, frames, after_threshold)
    res["objects_share"] = objects_share(entry, truth, ignore=False)
    res["objects_share_with_ignore"] = objects_share(entry, truth, ignore=True)
    res["unmasked_before"] = faces_unmasked(entry, truth, every)
    res["unmasked_after"] = faces_unmasked(entry, truth, reviewed)
    res["unmasked_after_threshold"] = faces_unmasked(entry, truth, after_threshold)
    plan = review_plan(entry, truth)
    res["safe_threshold"] = plan["threshold"]
    res["safe_off_by_label"] = plan["off_by_label"]
    res["safe_residual_false"] = len(plan["residual_false"])
    kept = every - set(plan["off"])
    res["share_after_safe_threshold"] = masked_share(entry, frames, kept)
    res["unmasked_after_safe_threshold"] = faces_unmasked(entry, truth, kept)
    res["ignore_unmasked_before"] = faces_unmasked(entry, truth, every, ignore=True)
    res["ignore_unmasked_after_safe_threshold"] = faces_unmasked(entry, truth, kept, ignore=True)
    true_only = {i for i in every if truth.labels[i] == "true"}
    res["share_true_tracks_only"] = masked_share(entry, frames, true_only)
    res["unmasked_true_tracks_only"] = faces_unmasked(entry, truth, true_only)
    # a perfect review: the true tracks and the fewest others that still cover every face
    safety = Safety(entry, truth)
    floor = cover_floor(entry, truth, safety)
    res["floor_tracks"] = {
        k: sum(truth.labels[i] == k for i in floor) for k in ("true", "ignore", "false")
    }
    res["share_floor"] = masked_share(entry, frames, floor)
    res["unmasked_floor"] = faces_unmasked(entry, truth, floor)
    # the safe threshold, then one run of the grid sorted by masked area
    after_run = kept - set(plan["area_run"])
    res["area_run"] = [*plan["area_run_at"], len(kept - after_run)]  # from, to, tracks off
    res["share_after_area_run"] = masked_share(entry, frames, after_run)
    res["unmasked_after_area_run"] = faces_unmasked(entry, truth, after_run)
    # the safe threshold, then "more like this" from the two largest tracks on ignore faces
    # (the distant crowd) that cover no face, turned off; the 20 suggestions (the page's
    # default) accepted where that is safe
    covering = set().union(*safety.faces) if safety.faces else set()
    sizes = {s.id: s.area * s.frames for s in stats}
    crowd = [i for i in kept if truth.labels[i] == "ignore" and i not in covering]
    seeds = sorted(crowd, key=lambda i: (-sizes[i], i))[:2]
    if seeds:
        now = [replace(s, enabled=s.id in kept and s.id not in seeds) for s in stats]
        sugg = [i for i, _ in rv.similar(now, seeds)][:20]
        after_like = kept - set(seeds) - set(sugg)
        res["like_crowd"] = {
            "seeds": len(seeds),
            "suggested": {
                k: sum(truth.labels[i] == k for i in sugg) for k in ("true", "ignore", "false")
            },
            "safe": safety.ok(after_like),
            "share": masked_share(entry, frames, after_like),
        }
    # the safe threshold, then a stricter one on one size band (the slider follows the filter)
    res["band_threshold"] = band_plan(entry, truth)
    # boxes dragged on the evidence map (the selected ids left out of the printout)
    plan = map_plan(entry, truth)
    res["evidence_map"] = dict(
        plan,
        boxes=[{k: v for k, v in b.items() if k not in ("off", "selects")} for b in plan["boxes"]],
    )
    res["likely_false"] = sum(
        rv.likely_face(entry.tracks[i]) for i, v in truth.labels.items() if v == "false"
    )
    res["likely_true"] = sum(
        rv.likely_face(entry.tracks[i]) for i, v in truth.labels.items() if v == "true"
    )
    res["thumbnail_on_object"] = thumbnail_on_object(entry, truth)
    return res


def thumbnail_on_object(entry: FileEntry, truth: Truth) -> dict[str, list[int]]:
    """How often a true track's picture shows its object: the track's box, on the annotated
    frame nearest the pictured frame (within 9 frames, the track visible there), lies on an
    annotated box of its class. Its first frame (the page until 2026-12-07) against
    :func:`veil.project.review.thumbnail_frame`'s; ``[on the object, tracks checked]``."""
    annotated = sorted(truth.gt)
    out = {"first_frame": [0, 0], "thumbnail_frame": [0, 0]}
    for t in entry.tracks.values():
        if truth.labels[t.id] != "true":
            continue
        frames, xyxy = rv.frame_boxes(t, entry.frames)
        where = {int(f): b for f, b in zip(frames, xyxy, strict=True)}
        for key, f in (
            ("first_frame", t.first_frame),
            ("thumbnail_frame", rv.thumbnail_frame(t, entry.frames)),
        ):
            near = [g for g in annotated if g in where and f is not None and abs(g - f) <= 9]
            if not near:
                continue
            g = min(near, key=lambda g: (abs(g - f), g))
            gt = np.array([b.xyxy for b in truth.gt[g] if b.label == t.label], np.float64)
            out[key][0] += bool(_on(where[g], gt.reshape(-1, 4)).any())
            out[key][1] += 1
    return out


#: --grid: what was tried on the training clips to choose rv.SPREAD, NEIGHBOURS and WEIGHTS
GRID_WEIGHTS = (
    {"place": 1.0},
    {"place": 1.0, "shape": 1.0},
    {"place": 1.0, "appearance": 1.0},
    {"place": 1.0, "shape": 1.0, "appearance": 1.0},
    {"place": 1.0, "shape": 0.5, "appearance": 0.5},
    {"place": 1.0, "shape": 0.25, "appearance": 0.25},
    {"shape": 1.0},
    {"appearance": 1.0},
)


def pooled(videos, label: str | None, grid: bool) -> list[dict]:
    """The ranking alone over many (training) clips, pooled over all seed sets: each
    false track alone, and 10 random sets of 3 per clip with more than 3."""
    clips = []
    for v, cache in videos:
        path = Path(v.file)
        entry = project_for(cache, path).files[0]
        clips.append((rv.StatsCache().all(entry), label_tracks(entry, v), looks_of(entry, path)))
    configs: list[tuple[str, dict | None, dict]] = [
        ("more like this (defaults)", None, {}),
        ("lowest evidence first (seeds left out)", {"evidence": 1.0}, {}),
    ]
    if grid:
        configs += [
            (f"spread {a} neighbours {k} {w}", w, {"spread": a, "neighbours": k})
            for a in (0.3, 0.5, 0.7, 0.8, 0.9)
            for k in (4, 8, 16)
            for w in GRID_WEIGHTS
        ]
    out = []
    for name, weights, kw in configs:
        row: dict = {"config": name}
        for per in (1, 3):
            aps, p10 = [], []
            for stats, truth, looks in clips:
                a, p = ranking_runs(stats, truth, looks, weights, per, 10, label, **kw)
                aps += a
                p10 += p
            row[f"seeds{per}"] = [float(np.mean(aps)), float(np.mean(p10)), len(aps)]
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--annotations",
        type=Path,
        nargs="+",
        default=[HERE / "real_videos" / "annotations.json"],
        help="one or more datasets (veil eval video format)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        nargs="+",
        default=[Path("/tmp/review25")],
        help="where the projects are (made if missing): one, or one per --annotations",
    )
    ap.add_argument("--clips", default="", help="comma-separated clip stems (default: all)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--ranking-only",
        action="store_true",
        help="only the ranking, pooled over the clips (for the training clips' clips.json)",
    )
    ap.add_argument("--label", choices=("face", "plate"), help="rank this class only")
    ap.add_argument("--grid", action="store_true", help="with --ranking-only: the choices tried")
    args = ap.parse_args(argv)
    if len(args.cache) not in (1, len(args.annotations)):
        ap.error("--cache: give one folder, or one per --annotations")
    caches = args.cache * len(args.annotations) if len(args.cache) == 1 else args.cache
    wanted = {c for c in args.clips.split(",") if c}
    videos = []  # (video, its project cache)
    for path, cache in zip(args.annotations, caches, strict=True):
        ds = load_dataset(path, check_files=False)
        videos += [(v, cache) for v in ds.videos if not wanted or Path(v.file).stem in wanted]
    videos = [(v, c) for v, c in videos if Path(v.file).is_file()]
    if not videos:
        print("sample clips not found (../shared/data/videos); nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    rev = commit()
    print(f"veil review; {time.strftime('%Y-%m-%d')} {platform.machine()} "
          f"commit {rev}")  # fmt: skip
    if args.ranking_only:
        results = pooled(videos, args.label, args.grid)
    else:
        results = []
        for v, cache in videos:
            r = measure(v, cache)
            results.append(r)
            print(json.dumps(r, default=float), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
