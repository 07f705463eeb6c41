"""``veil audit DATASET.json``: mask annotated data, attack the masks, try to identify.

Faces: every annotated face at least ``min_height`` px tall is a gallery entry
(its original, aligned on its own landmarks). veil's detector runs as in
``veil mask``; a face whose central region the mask covers is probed: for each
setup and attack, the masked window, attacked and aligned with the *original's*
landmarks, is embedded and ranked against the whole gallery. A face the
detector missed stays unmasked, so end to end it counts as identified.

Plates: the OCR reads every covered plate after each setup and attack; a
whole-plate match against the annotated text (or the OCR of the original where
there is none) is a plate read back. The OCR on the unmasked plates is the ceiling.

Attack variants are cross-fitted: covered objects alternate between two halves,
every variant runs on a calibration subset of each (the first ``calibrate``),
and each half is attacked with the variant per family that did best on the other
half: an attacker tunes on a few samples, and every object is reported, none under
a variant its own result chose. ``calibrate=0`` runs every variant on every object.

Only aggregate numbers leave this module; crops exist in memory only.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ..evaluate.dataset import Dataset, GroundTruth, load_dataset
from ..evaluate.metrics import central_coverage
from ..media import image as image_io
from ..regions import Regions, class_id, iou_matrix
from ..settings import Settings
from .attacks import Attack, attacks_for, default_attacks, families, per_family
from .backends import FaceEmbedder, PlateReader
from .metrics import (
    MIN_EXPECTED_HITS,
    at_most,
    binomial_tail,
    binomial_upper,
    certify_twice_chance,
    char_accuracy,
    hub_corrected_ranks,
    identification_ranks,
    normalise_plate,
    photo_ranks,
    plate_read_whole,
    rank_rate,
    split_ranks,
)
from .setups import Setup
from .tracks import NoiseControl, plate_track_table, track_average_table, video_frames
from .windows import WINDOW, blank_outside, rect_in_window, window_around

log = logging.getLogger(__name__)

__all__ = ["FACE_BUCKETS", "AuditConfig", "audit_faces", "audit_plates"]

#: Face-height buckets (px) of the per-size breakdown: small faces are where masks fail.
FACE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("40-60", 0.0, 60.0),
    ("60-100", 60.0, 100.0),
    ("100-200", 100.0, 200.0),
    (">=200", 200.0, float("inf")),
)
#: Hits chance gives each face size in its own short lists (see ``_bucket_lists``).
BUCKET_EXPECTED_HITS = 10.0
#: Central coverage above which a face counts as masked (as in ``veil eval``).
COVERED = 0.9


@dataclass(frozen=True)
class AuditConfig:
    """What to measure; ``detected=False`` masks the annotated boxes themselves.

    ``min_height`` is for faces (smaller ones are not recognisable even unmasked);
    plates are smaller, and one the OCR cannot read unmasked is left out anyway.
    """

    setups: tuple[Setup, ...]
    attacks: tuple[Attack, ...] = field(default_factory=lambda: tuple(default_attacks()))
    min_height: float = 40.0
    plate_min_height: float = 10.0
    calibrate: int = 60
    max_objects: int | None = None
    detected: bool = True
    galleries: int = 10
    blank_context: bool = False

    def min_height_of(self, label: str) -> float:
        return self.plate_min_height if label == "plate" else self.min_height


@dataclass
class _Object:
    item: int
    box: np.ndarray  # (4,) annotated box
    rect: tuple[int, int, int, int] | None = None  # mask rectangle in window coordinates
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # x1, y1, x2, y2 in the image
    covered: bool = False
    key: Any = None  # landmarks (faces) or reference text (plates)


def _mean_or_nan(values: list) -> float:
    """The mean, or NaN for none (without numpy's "mean of empty slice" warning)."""
    return float(np.mean(values)) if values else float("nan")


def _mask_rect(
    box: np.ndarray, regions: Regions, margin: float, win: tuple[int, int, int, int]
) -> tuple[int, int, int, int] | None:
    """The visible mask over ``box``: the masked region overlapping it most, grown by its
    margin, in window coordinates (what an attacker would select)."""
    if not len(regions):
        return None
    ious = iou_matrix(box[None].astype(np.float64), regions.xyxy.astype(np.float64))[0]
    j = int(np.argmax(ious))
    if ious[j] <= 0:
        return None
    return rect_in_window(regions[np.array([j])].expand(margin).xyxy[0], win)


def class_detections(engine, rgb: np.ndarray, label: str) -> Regions:
    """veil's detections of one class at its operating threshold: what it would mask."""
    found = engine.above_threshold(engine.detect(rgb))
    return found[found.labels == class_id(label)] if len(found) else found


class _Collector:
    """Objects of one class across the dataset, with the regions masked per image."""

    def __init__(self, ds: Dataset, settings: Settings, label: str, cfg: AuditConfig, engine):
        self.ds, self.settings, self.label, self.cfg, self.engine = ds, settings, label, cfg, engine
        self.objects: list[_Object] = []
        self.regions: dict[int, Regions] = {}

    def eligible(self, boxes: Sequence[GroundTruth]) -> list[GroundTruth]:
        least = self.cfg.min_height_of(self.label)
        return [
            b for b in boxes if b.label == self.label and not b.ignore and b.height >= least
        ]  # fmt: skip

    def images(self, only: set[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Decoded images that were scanned (``only``: of those, these items)."""
        for i, item in enumerate(self.ds.images):
            if i in self.regions and (only is None or i in only):
                yield i, image_io.load_image(item.file, self.settings.limits).rgb

    def scan(self, keyer: Callable[[np.ndarray, np.ndarray, _Object], Any], bar) -> None:
        """Detect (or take the annotations), decide coverage, and key every object."""
        mask = self.settings.mask
        margin = mask.margin(self.label)
        chosen = self._chosen()
        for i, item in enumerate(self.ds.images):
            every = self.eligible(item.boxes)
            boxes = [b for k, b in enumerate(every) if (i, k) in chosen]
            if not boxes:
                bar.update(1)
                continue
            rgb = image_io.load_image(item.file, self.settings.limits).rgb
            if self.cfg.detected:
                found = class_detections(self.engine, rgb, self.label)
            else:
                found = Regions(
                    np.array([b.xyxy for b in every], np.float32),
                    labels=np.full(len(every), class_id(self.label), np.int16),
                )
            self.regions[i] = found
            h, w = rgb.shape[:2]
            _, covered_px = self.engine.mask(rgb, found) if len(found) else (None, None)
            xyxy = np.array([b.xyxy for b in boxes], np.float64)
            cov = (
                central_coverage(covered_px, xyxy) if covered_px is not None
                else np.zeros(len(boxes))
            )  # fmt: skip
            for b, c in zip(xyxy, cov, strict=True):
                win = window_around(b, w, h, WINDOW[self.label])
                obj = _Object(i, b, window=win, covered=bool(np.nan_to_num(c) >= COVERED))
                obj.rect = _mask_rect(b, found, margin, win) if obj.covered else None
                obj.covered = obj.covered and obj.rect is not None
                obj.key = keyer(rgb, b, obj)
                if obj.key is not None:
                    self.objects.append(obj)
            bar.update(1)

    def _chosen(self) -> set[tuple[int, int]]:
        """(image, box) of the objects audited: all, or an evenly spread ``max_objects``
        (chosen from the annotations, so nothing else is decoded or read)."""
        every = [
            (i, k)
            for i, item in enumerate(self.ds.images)
            for k in range(len(self.eligible(item.boxes)))
        ]
        limit = self.cfg.max_objects
        if limit is None or len(every) <= limit:
            return set(every)
        idx = np.linspace(0, len(every) - 1, limit).round().astype(int)
        return {every[j] for j in idx.tolist()}

    def probes(
        self,
        plan: dict[str, list[Attack]],
        setups: Sequence[Setup],
        wanted: set[int],
        score: Callable[[list[tuple[int, np.ndarray]]], list[Any]],
        bar,
    ) -> dict[tuple[str, str], dict[int, Any]]:
        """For each (setup, attack) in ``plan`` and each wanted covered object: a score."""
        out: dict[tuple[str, str], dict[int, Any]] = {}
        by_item: dict[int, list[int]] = {}
        for j in sorted(wanted):
            by_item.setdefault(self.objects[j].item, []).append(j)
        mask = self.settings.mask
        bar.update(len(self.regions) - len(by_item))  # nothing to decode there
        for i, rgb in self.images(set(by_item)):
            for setup in setups:
                masked = setup.masked(i, rgb, self.regions[i], mask)
                batch: list[tuple[str, int, np.ndarray]] = []
                for j in by_item[i]:
                    o = self.objects[j]
                    x1, y1, x2, y2 = o.window
                    win = masked[y1:y2, x1:x2]
                    for atk in plan[setup.name]:
                        assert o.rect is not None
                        batch.append((atk.name, j, atk(win, o.rect)))
                values = score([(j, w) for _, j, w in batch])
                for (name, j, _), v in zip(batch, values, strict=True):
                    out.setdefault((setup.name, name), {})[j] = v
            bar.update(1)
        return out


def _bar(total: int, quiet: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc=desc, disable=quiet, leave=False, file=sys.stderr)


def _plans(
    cfg: AuditConfig, setups: Sequence[Setup], best: dict[tuple[str, str], str] | None
) -> dict[str, list[Attack]]:
    """Attacks per setup: all variants (calibration) or the best one per family."""
    plans: dict[str, list[Attack]] = {}
    for s in setups:
        attacks = attacks_for(s, cfg.attacks)
        if best is not None:
            attacks = [a for a in attacks if best.get((s.name, a.family)) == a.name]
        plans[s.name] = attacks
    return plans


def choose_per_half(
    tried: dict[str, dict[int, Any]],
    half: dict[int, int],
    rank_of: Callable[[dict[int, Any]], float],
) -> tuple[str, str]:
    """The variant for each half, chosen on the objects of the *other* half.

    ``tried`` maps each variant to its scores on the calibration objects. No object's own
    result picks the attack it is reported under: the best of several variants in
    hindsight favours luck (a mask that carries nothing gains hits by selection alone).
    A half whose other half was not tried (a single object) falls back to all of them.
    """
    names = list(tried)
    picks = []
    for h in (0, 1):

        def other(name: str, h: int = h) -> dict[int, Any]:
            return {j: v for j, v in tried[name].items() if half[j] != h}

        basis = other if any(other(n) for n in names) else (lambda name: tried[name])
        picks.append(max(names, key=lambda n: rank_of(basis(n))))  # first of equals
    return picks[0], picks[1]


def _two_phase(
    col: _Collector,
    cfg: AuditConfig,
    score: Callable[[list[tuple[int, np.ndarray]]], list[Any]],
    rank_of: Callable[[dict[int, Any]], float],
    quiet: bool,
) -> tuple[dict[tuple[str, str], dict[int, Any]], dict[tuple[str, str], str], set[int]]:
    """Cross-fitted attack choice: every covered object is reported, none under a variant
    its own result chose.

    Covered objects alternate between two halves. Every variant runs on the calibration
    objects (the first ``calibrate`` of each half; all with ``calibrate=0``); each half
    is then attacked with the variant per family that did best on the *other* half's
    calibration objects. Returns, per (setup, family), the scores of every covered
    object; the variant names (``"a / b"`` where the halves chose differently); and the
    calibration objects."""
    covered = [j for j, o in enumerate(col.objects) if o.covered]
    half = {j: k % 2 for k, j in enumerate(covered)}  # alternate halves, in order
    sides = [[j for j in covered if half[j] == h] for h in (0, 1)]
    k = cfg.calibrate
    calib = set(covered) if k <= 0 else set(sides[0][:k] + sides[1][:k])
    setups = list(cfg.setups)
    with _bar(len(col.regions), quiet, "attack (calibration)") as bar:
        results = col.probes(_plans(cfg, setups, None), setups, calib, score, bar)
    picks = {
        (s.name, fam): choose_per_half(tried, half, rank_of)
        for s, fam, tried in per_family(
            setups, cfg.attacks, results, lambda s, a: results[(s.name, a.name)]
        )
    }
    for h in (0, 1):
        rest = set(sides[h]) - calib
        if rest:
            best = {key: pair[h] for key, pair in picks.items()}
            with _bar(len(col.regions), quiet, f"attack (half {h + 1})") as bar:
                more = col.probes(_plans(cfg, setups, best), setups, rest, score, bar)
            for key, v in more.items():
                results.setdefault(key, {}).update(v)
    chosen: dict[tuple[str, str], dict[int, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    for (setup, fam), pair in picks.items():
        chosen[(setup, fam)] = {
            j: results[(setup, pair[half[j]])][j]
            for j in covered if j in results.get((setup, pair[half[j]]), {})
        }  # fmt: skip
        names[(setup, fam)] = pair[0] if pair[0] == pair[1] else f"{pair[0]} / {pair[1]}"
    return chosen, names, calib


def _bucket(height: float) -> str:
    return next(name for name, lo, hi in FACE_BUCKETS if lo <= height < hi)


def audit_faces(
    ds: Dataset, settings: Settings, cfg: AuditConfig, engine, embedder: FaceEmbedder, quiet: bool
) -> dict[str, Any]:
    """Re-identification table for faces; see the module docstring."""
    col = _Collector(ds, settings, "face", cfg, engine)
    windows: dict[int, np.ndarray] = {}
    shape = settings.mask.shape("face")

    def keyer(rgb: np.ndarray, box: np.ndarray, obj: _Object) -> Any:
        x1, y1, x2, y2 = obj.window
        win = np.ascontiguousarray(rgb[y1:y2, x1:x2])
        windows[id(obj)] = blank_outside(win, obj.rect, shape) if cfg.blank_context else win
        # landmarks from the whole original: the attacker aligns as well as possible
        return embedder.landmarks(win, (box[0] - x1, box[1] - y1, box[2] - x1, box[3] - y1))

    with _bar(len(ds.images), quiet, "detect + gallery") as bar:
        col.scan(keyer, bar)
    if not col.objects:
        raise InputError(f"{ds.path}: no face at least {cfg.min_height:g} px tall to audit")
    items = [(windows[id(o)], o.key) for o in col.objects]
    windows.clear()
    gallery = np.concatenate([embedder.embed(items[k : k + 64]) for k in range(0, len(items), 64)])
    del items
    n = len(col.objects)
    k_lists = min(cfg.galleries, max(1, n // 2))  # no list of one face

    def score(batch: list[tuple[int, np.ndarray]]) -> list[Any]:
        if cfg.blank_context:
            batch = [(j, blank_outside(w, col.objects[j].rect, shape)) for j, w in batch]
        descs = embedder.embed([(w, col.objects[j].key) for j, w in batch])
        return list(descs)

    def signal(values: dict[int, Any]) -> float:
        """How close probes come to their identity: 1 - mean normalised rank (0.5 at chance).
        Every probe counts, so a calibration sample of a few dozen faces, where rank-1
        hits are too rare to compare variants, still tells them apart."""
        js = sorted(values)
        r = identification_ranks(gallery, np.stack([values[j] for j in js]), np.array(js))
        return 1.0 - _mean_rank(r, n) + 1e-3 * rank_rate(r, 1)

    results, names, calib = _two_phase(col, cfg, score, signal, quiet)
    chance = 1.0 / n
    covered = [j for j, o in enumerate(col.objects) if o.covered]
    missed = n - len(covered)
    heights = np.array([o.box[3] - o.box[1] for o in col.objects])
    items_of = [o.item for o in col.objects]
    rows = []
    for s in cfg.setups:
        for fam in families(cfg.attacks):
            name = names.get((s.name, fam))
            if name is None:
                continue
            vals = results[(s.name, fam)]
            js = [j for j in covered if j in vals]
            probes = np.stack([vals[j] for j in js]) if js else np.zeros((0, gallery.shape[1]))
            truth = np.array(js, np.int64)
            ranks = identification_ranks(gallery, probes, truth)
            hits = int((ranks <= 1).sum())
            hub = hub_corrected_ranks(gallery, probes, truth)
            photo = _photo_stats(gallery, probes, truth, items_of)
            split = {}
            if k_lists > 1 and js:
                sr, sizes = split_ranks(gallery, probes, truth, k_lists)
                split = {
                    "split_rank1": rank_rate(sr, 1), "split_rank1_hits": int((sr <= 1).sum()),
                    "split_chance": float(np.mean(1 / sizes)),
                }  # fmt: skip
            by = {}
            for b, _, _ in FACE_BUCKETS:
                sel = np.array([_bucket(heights[j]) == b for j in js], bool)
                if sel.any():
                    by[b] = {"n": int(sel.sum()), "rank1": rank_rate(ranks[sel], 1)}
                    if split:  # each size gets a line with power of its own
                        by[b].update(_bucket_lists(gallery, probes, truth, sel, k_lists))
            # end to end: covered faces at this rate, missed ones identified
            e2e = rank_rate(ranks, 1) * (1 - missed / n) + missed / n
            rows.append({
                "setup": s.name, "method": s.method, "strength": s.strength, "control": s.control,
                "attack": fam, "variant": name, "n": len(js),
                "rank1": rank_rate(ranks, 1), "rank5": rank_rate(ranks, 5),
                "rank1_upper95": binomial_upper(hits, len(js)), "rank1_hits": hits,
                "rank1_p_chance": binomial_tail(hits, len(js), chance),
                "hub_rank1": rank_rate(hub, 1), "hub_rank1_hits": int((hub <= 1).sum()),
                "mean_rank": _mean_rank(ranks, n),
                "end_to_end_rank1": e2e if s.name != "unmasked" else rank_rate(ranks, 1),
                "by_height": by, **photo, **split,
            })  # fmt: skip
    return {
        "gallery": n, "chance": chance, "covered": len(covered), "missed": missed,
        "miss_rate": missed / n, "min_height": cfg.min_height,
        "calibration": len(calib), "cross_fitted": True, "reported": len(covered), "rows": rows,
        "galleries": k_lists, "blank_context": cfg.blank_context,
        "verdicts": _face_verdicts(rows, chance, missed / n),
    }  # fmt: skip


def _bucket_lists(
    gallery: np.ndarray, probes: np.ndarray, truth: np.ndarray, sel: np.ndarray, k: int
) -> dict[str, Any]:
    """Short-list hits of the probes ``sel`` (one face size), in lists short enough that
    chance gives them about ``BUCKET_EXPECTED_HITS`` hits, but of 10 faces at least
    (and never fewer lists than the whole set's ``k``): the whole set's lists would give
    the 328 small WIDER faces 4.4 expected hits, lists of 32 give them 10."""
    n, m = len(gallery), int(sel.sum())
    k = max(k, min(int(np.ceil(BUCKET_EXPECTED_HITS * n / m)), n // 10))
    sr, sizes = split_ranks(gallery, probes[sel], truth[sel], k)
    return {
        "split_rank1_hits": int((sr <= 1).sum()),
        "split_expected": float(np.sum(1 / sizes)), "split_lists": k,
    }  # fmt: skip


def _photo_stats(
    gallery: np.ndarray, probes: np.ndarray, truth: np.ndarray, groups: Sequence[Any]
) -> dict[str, Any]:
    """Rank-1 split into finding the photo and finding the person in it (see
    :func:`veil.audit.metrics.photo_ranks`), each with its chance level; the second
    over probes whose photo holds at least two gallery faces."""
    if not len(truth):
        return {}
    first, within, sizes = photo_ranks(gallery, probes, truth, groups)
    multi = sizes >= 2
    return {
        "photo_rank1": float(np.mean(first)), "photo_chance": float(np.mean(sizes / len(gallery))),
        "within_photo_n": int(multi.sum()),
        "within_photo_rank1": rank_rate(within[multi], 1),
        "within_photo_hits": int((within[multi] <= 1).sum()),
        "within_photo_chance": float(np.mean(1 / sizes[multi])) if multi.any() else float("nan"),
    }  # fmt: skip


def _mean_rank(ranks: np.ndarray, n: int) -> float:
    """Mean of (rank - 1) / (gallery - 1): 0 always first, 0.5 at chance, NaN for none."""
    return float(np.mean((ranks - 1) / max(1, n - 1))) if len(ranks) else float("nan")


def _face_verdicts(rows: list[dict[str, Any]], chance: float, miss_rate: float) -> list[dict]:
    """Per veil setup, the strongest attack and the two pass lines of the issue.

    ``pass`` decides both lines (covered, end to end) on the short candidate lists when
    there are any (``line_on``), else on the one gallery. In one gallery of n faces about
    one rank-1 hit is expected by chance whatever n is, so "at most 2x chance" is 2 hits,
    and a mask that carries nothing crosses it up to one time in five under the strongest
    of three attack families: a coin toss, not a test. K lists expect K hits, so the same
    line is measured to a fraction of itself. Lists of n/K faces can understate a faint
    trace that one long gallery would amplify, which is why the one-gallery count and its
    odds under chance stay in every row and table.
    """
    out = []
    for name in dict.fromkeys(r["setup"] for r in rows if not r["control"]):
        mine = [r for r in rows if r["setup"] == name]
        worst = max(mine, key=lambda r: (r["rank1"], r["rank5"]))
        worst_e2e = max(r["end_to_end_rank1"] for r in mine)
        out.append({
            "setup": name, "strongest_attack": worst["attack"], "rank1": worst["rank1"],
            "rank1_hits": worst["rank1_hits"], "n": worst["n"],
            "rank1_p_chance": worst["rank1_p_chance"],
            "covered_pass": at_most(worst["rank1"], 2 * chance),
            "end_to_end_rank1": worst_e2e,
            "end_to_end_pass": at_most(worst_e2e, 2 * chance + miss_rate),
        })  # fmt: skip
        split = [r for r in mine if "split_rank1" in r]
        if split:  # short candidate lists: the same line, with k expected hits by chance
            w = max(split, key=lambda r: r["split_rank1"] / r["split_chance"])
            # about K hits are expected by chance here, so the count has power: the 95%
            # upper bound can certify "at most 2x chance", which one gallery cannot
            upper, certified = certify_twice_chance(
                w["split_rank1_hits"], w["n"], w["split_chance"]
            )
            out[-1].update({
                "split_strongest_attack": w["attack"], "split_rank1": w["split_rank1"],
                "split_chance": w["split_chance"], "split_upper95": upper,
                "split_pass": at_most(w["split_rank1"], 2 * w["split_chance"]),
                "split_certified": certified,
                "split_end_to_end_pass": at_most(
                    w["split_rank1"] * (1 - miss_rate) + miss_rate,
                    2 * w["split_chance"] + miss_rate,
                ),
            })  # fmt: skip
        within = [r for r in mine if r.get("within_photo_n")]
        if within:  # who, among the people of the probe's own photo: ~n/size expected hits
            w = max(within, key=lambda r: r["within_photo_rank1"] / r["within_photo_chance"])
            upper, certified = certify_twice_chance(
                w["within_photo_hits"], w["within_photo_n"], w["within_photo_chance"]
            )
            out[-1].update({
                "within_photo_strongest_attack": w["attack"],
                "within_photo_rank1": w["within_photo_rank1"],
                "within_photo_chance": w["within_photo_chance"],
                "within_photo_n": w["within_photo_n"], "within_photo_upper95": upper,
                "within_photo_certified": certified,
            })  # fmt: skip
        small = [r.get("by_height", {}).get(FACE_BUCKETS[0][0]) for r in mine]
        small = [b for b in small if b and b.get("split_expected")]
        if small:  # the smallest faces, where masks fail first, in short lists of their own
            w = max(small, key=lambda b: b["split_rank1_hits"] / b["split_expected"])
            out[-1].update({
                "small_faces": FACE_BUCKETS[0][0], "small_split_hits": w["split_rank1_hits"],
                "small_split_expected": w["split_expected"],
                "small_split_pass": at_most(w["split_rank1_hits"], 2 * w["split_expected"]),
                # with fewer expected hits the line is the coin toss of one gallery again
                "small_split_decides": w["split_expected"] >= MIN_EXPECTED_HITS,
            })  # fmt: skip
        v = out[-1]
        v["line_on"] = "short lists" if "split_pass" in v else "one gallery"
        small_ok = v.get("small_split_pass", True) or not v.get("small_split_decides", False)
        v["pass"] = (
            v["split_pass"] and v["split_end_to_end_pass"] and small_ok
            if "split_pass" in v else v["covered_pass"] and v["end_to_end_pass"]
        )  # fmt: skip
    return out


def audit_plates(
    ds: Dataset,
    settings: Settings,
    cfg: AuditConfig,
    engine,
    reader: PlateReader,
    quiet: bool,
    texts: dict[tuple[str, tuple[float, ...]], str] | None = None,
) -> dict[str, Any]:
    """Whole-plate reading after masks and attacks; the unmasked reading is the ceiling."""
    col = _Collector(ds, settings, "plate", cfg, engine)
    texts = texts or {}
    ceiling: dict[int, tuple[bool, float, bool]] = {}  # id(obj): match, char acc, annotated

    def keyer(rgb: np.ndarray, box: np.ndarray, obj: _Object) -> Any:
        x1, y1, x2, y2 = obj.window
        read = reader.read(rgb[y1:y2, x1:x2])
        annotated = texts.get((str(ds.images[obj.item].file), tuple(float(v) for v in box)))
        ref = normalise_plate(annotated or read)
        if not ref:
            return None  # nothing to compare with
        matched = plate_read_whole(ref, read)
        ceiling[id(obj)] = (matched, char_accuracy(ref, read), annotated is not None)
        return ref

    with _bar(len(ds.images), quiet, "detect + read originals") as bar:
        col.scan(keyer, bar)
    if not col.objects:
        raise InputError(f"{ds.path}: no plate at least {cfg.plate_min_height:g} px tall to audit")

    def score(batch: list[tuple[int, np.ndarray]]) -> list[Any]:
        out = []
        for j, w in batch:
            read = reader.read(w)
            ref = col.objects[j].key
            out.append((plate_read_whole(ref, read), char_accuracy(ref, read)))
        return out

    def exact(values: dict[int, Any]) -> float:
        v = list(values.values())
        return float(np.mean([m for m, _ in v])) + 1e-3 * float(np.mean([c for _, c in v]))

    results, names, calib = _two_phase(col, cfg, score, exact, quiet)
    n = len(col.objects)
    covered = [j for j, o in enumerate(col.objects) if o.covered]
    ceil = [ceiling[id(o)] for o in col.objects]
    annotated = sum(a for _, _, a in ceil)
    rows = []
    for s in cfg.setups:
        for fam in families(cfg.attacks):
            name = names.get((s.name, fam))
            if name is None:
                continue
            vals = [results[(s.name, fam)][j] for j in covered if j in results[(s.name, fam)]]
            rows.append({
                "setup": s.name, "method": s.method, "strength": s.strength, "control": s.control,
                "attack": fam, "variant": name, "n": len(vals),
                "exact": float(np.mean([m for m, _ in vals])) if vals else float("nan"),
                "exact_count": int(sum(m for m, _ in vals)),
                "char_accuracy": float(np.mean([c for _, c in vals])) if vals else float("nan"),
            })  # fmt: skip
    return {
        "plates": n, "annotated_text": annotated, "covered": len(covered),
        "missed": n - len(covered), "calibration": len(calib), "cross_fitted": True,
        "ceiling_exact": float(np.mean([m for m, _, a in ceil if a] or [np.nan])),
        "ceiling_char_accuracy": _mean_or_nan([c for _, c, a in ceil if a]),
        "rows": rows,
    }  # fmt: skip


def audit_face_tracks(
    ds: Dataset, settings: Settings, cfg: AuditConfig, engine, embedder: FaceEmbedder
) -> dict[str, Any]:
    """Videos: rank-1 of each face track's averaged probe (see :mod:`veil.audit.tracks`).

    The noise control (a mask redrawn on every frame) shows that averaging works.
    """
    frames, middle, setups = _video_tracks(ds, settings, cfg, engine, "face")
    return track_average_table(
        frames, setups, cfg.attacks, settings.mask, embedder, middle, cfg.blank_context
    )


def audit_plate_tracks(
    ds: Dataset,
    settings: Settings,
    cfg: AuditConfig,
    engine,
    reader: PlateReader,
    texts: dict[Any, str] | None = None,
) -> dict[str, Any]:
    """Videos: whole plates read from each plate track's average (see
    :mod:`veil.audit.tracks`); ``texts`` by (video index, object id)."""
    frames, middle, setups = _video_tracks(ds, settings, cfg, engine, "plate")
    return plate_track_table(frames, setups, cfg.attacks, settings.mask, reader, middle, texts)


def _video_tracks(ds: Dataset, settings: Settings, cfg: AuditConfig, engine, label: str):
    """The annotated frames of every video in order, each track's gallery frame, and the
    setups with the per-frame noise control (the proof that averaging works) added."""

    def detect(rgb: np.ndarray) -> Regions:
        return class_detections(engine, rgb, label)

    streams, middle = video_frames(
        ds, settings, cfg.min_height_of(label), detect if cfg.detected else None, label
    )
    setups = list(cfg.setups)
    if any(s.control for s in setups):
        setups.insert(1, NoiseControl("noise-per-frame", "noise", None, True))
    return itertools.chain.from_iterable(streams), middle, setups


def plate_texts(path: Path) -> dict[tuple[str, tuple[float, ...]], str]:
    """Plate texts by (image file, box): ``text`` is informational, the loader drops it."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out: dict[tuple[str, tuple[float, ...]], str] = {}
    for e in doc.get("images", []):
        f = str(Path(os.path.normpath(path.parent / e["file"])))
        for b in e.get("boxes", []):
            if isinstance(b.get("text"), str) and b["text"].strip():
                out[(f, tuple(float(b[k]) for k in ("x1", "y1", "x2", "y2")))] = b["text"]
    return out


def video_plate_texts(path: Path) -> dict[tuple[int, str], str]:
    """Plate texts of video tracks by (video index, object id), from any of its boxes."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out: dict[tuple[int, str], str] = {}
    for v, e in enumerate(doc.get("videos", [])):
        for fr in e.get("frames", []):
            for b in fr.get("boxes", []):
                text, oid = b.get("text"), b.get("id")
                if isinstance(text, str) and text.strip() and oid is not None:
                    out.setdefault((v, str(oid)), text)
    return out


def run(
    dataset: str | Path,
    settings: Settings,
    cfg: AuditConfig,
    engine,
    quiet: bool,
    embedder: FaceEmbedder | None = None,
    reader: PlateReader | None = None,
) -> dict[str, Any]:
    """Audit faces and/or plates of a dataset (the classes it annotates and targets)."""
    ds = load_dataset(dataset)
    out: dict[str, Any] = {"dataset": str(ds.path), "images": len(ds.images)}
    labels = [c for c in ds.labels if c in settings.detect.targets]
    if not labels:
        raise ConfigError(
            f"{ds.path}: annotates none of --targets {','.join(settings.detect.targets)}"
        )
    if "face" in labels:
        if embedder is None:
            from .backends import DlibFaces

            embedder = DlibFaces()
        if ds.images:
            out["faces"] = audit_faces(ds, settings, cfg, engine, embedder, quiet)
        if ds.videos:
            out["face_tracks"] = audit_face_tracks(ds, settings, cfg, engine, embedder)
    if "plate" in labels and (ds.images or ds.videos):
        if reader is None:
            from .backends import RapidPlateReader

            reader = RapidPlateReader()
        if ds.images:
            out["plates"] = audit_plates(
                ds, settings, cfg, engine, reader, quiet, texts=plate_texts(ds.path)
            )
        if ds.videos:
            out["plate_tracks"] = audit_plate_tracks(
                ds, settings, cfg, engine, reader, texts=video_plate_texts(ds.path)
            )
    return out
