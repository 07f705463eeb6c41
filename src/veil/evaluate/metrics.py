"""Detection, masking, leak and speed metrics as accumulators (update / merge / compute).

Accumulators keep only small per-image arrays, so one can run per worker and be
merged; ``compute`` always works on the whole set (AP is not an average of
per-image APs). :class:`Evaluator` bundles them per class and produces the
``metrics.json`` dictionary.

Conventions, chosen so results are comparable with WIDER FACE / VOC / COCO:

* Matching is per image and class, greedy by descending score (stable: equal
  scores keep their input order), a detection taking the unmatched non-ignored
  ground truth with the highest IoU >= the threshold (ties: lowest index). A
  detection that matches only an ``ignore`` box is dropped (neither TP nor FP);
  an ignore box may absorb several detections, and missing it is no miss.
* AP is VOC2010+ all-point interpolation; ``map`` is COCO-style, the mean AP
  over IoU 0.50:0.05:0.95. Detections are ranked over the whole dataset.
* Height buckets follow COCO's area ranges: for a bucket, ground truth of other
  heights becomes "ignore" (matchable once), a detection matched to it is
  dropped, and an unmatched detection counts as FP only if its own height falls
  in the bucket. A true positive is thus counted in its ground truth's bucket
  for both precision and recall, which keeps per-bucket P, R and F1 coherent;
  a false positive, having no ground truth, is put in the bucket of its own height.
* Masking is measured on pixels: a ground-truth box is masked when at least
  ``coverage`` (90%) of its central region, the box shrunk by ``shrink`` (20%)
  of its size on each side, changed. A pixel belongs to a box when its centre
  lies inside.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..regions import CLASSES, Regions, class_id, iou_matrix
from .dataset import GroundTruth, boxes_to_arrays

logger = logging.getLogger(__name__)

__all__ = [
    "HEIGHT_BUCKETS",
    "IOU_THRESHOLDS",
    "DetectionAccumulator",
    "Evaluator",
    "MaskAccumulator",
    "Match",
    "PRCurve",
    "SpeedAccumulator",
    "average_precision",
    "central_coverage",
    "changed_pixels",
    "height_bucket",
    "match_detections",
    "over_mask_pixels",
]

#: Box-height buckets in pixels: name, lower bound (inclusive), upper bound (exclusive).
HEIGHT_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<20", 0.0, 20.0),
    ("20-50", 20.0, 50.0),
    ("50-100", 50.0, 100.0),
    (">=100", 100.0, math.inf),
)
_BUCKET_EDGES = np.array([b[1] for b in HEIGHT_BUCKETS[1:]])
#: IoU thresholds of the COCO-style mAP (0.50:0.05:0.95), rounded so 0.7 is 0.7.
IOU_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.round(np.arange(10) * 0.05 + 0.5, 2))

TP, FP, IGNORED = 1, 0, -1
_NORMAL, _IGNORE, _OUTSIDE = 0, 1, 2
NAN = float("nan")


def height_bucket(height: float) -> str:
    """Name of the bucket a box height falls in (edges belong to the upper bucket)."""
    return HEIGHT_BUCKETS[int(_bucket_index(np.array([height]))[0])][0]


def _bucket_index(heights: np.ndarray) -> np.ndarray:
    return np.searchsorted(_BUCKET_EDGES, np.asarray(heights, np.float64), side="right")


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else NAN


# -- matching -------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Result of matching one image's detections of one class.

    ``status`` per detection is ``TP`` (1), ``FP`` (0) or ``IGNORED`` (-1);
    ``gt_index`` is the matched ground truth (-1 if none); ``iou`` its IoU.
    """

    status: np.ndarray
    gt_index: np.ndarray
    iou: np.ndarray

    @property
    def gt_matched(self) -> np.ndarray:
        """Indices of ground truth matched by a true positive."""
        return self.gt_index[self.status == TP]


_Candidates = dict[int, list[tuple[int, float]]]


def _candidates(ious: np.ndarray, min_threshold: float) -> _Candidates:
    """Per detection, the (ground truth, IoU) pairs that can match at any threshold used.

    Few pairs overlap in practice, so the greedy pass below runs over these short
    lists in plain Python, far faster than per-row numpy calls.
    """
    rows, cols = np.nonzero(ious >= min_threshold)
    out: _Candidates = {}
    for d, g, v in zip(rows.tolist(), cols.tolist(), ious[rows, cols].tolist(), strict=True):
        out.setdefault(d, []).append((g, v))  # columns ascending: IoU ties -> lowest index
    return out


def _greedy(
    cands: _Candidates, order: list[int], kind: list[int], thr: float
) -> list[tuple[int, int, int, float]]:
    """Greedy matching; returns (detection, ground truth, TP or IGNORED, IoU) per match."""
    taken: set[int] = set()
    out = []
    for d in order:
        pairs = cands.get(d)
        if not pairs:
            continue
        best, best_v = -1, -1.0
        for g, v in pairs:
            if v >= thr and v > best_v and kind[g] == _NORMAL and g not in taken:
                best, best_v = g, v
        result = TP
        if best < 0:
            for g, v in pairs:
                if (
                    v >= thr
                    and v > best_v
                    and (kind[g] == _IGNORE or (kind[g] == _OUTSIDE and g not in taken))
                ):
                    best, best_v = g, v
            if best < 0:
                continue
            result = IGNORED
        if kind[best] != _IGNORE:
            taken.add(best)
        out.append((d, best, result, best_v))
    return out


def match_detections(
    gt_xyxy: np.ndarray,
    gt_ignore: np.ndarray,
    det_xyxy: np.ndarray,
    det_scores: np.ndarray,
    iou_threshold: float = 0.5,
) -> Match:
    """Greedy WIDER/COCO matching of one image's detections to its ground truth (one class).

    A match needs IoU >= ``iou_threshold``. See the module docstring for ties
    and ignore boxes.
    """
    gt_xyxy = np.asarray(gt_xyxy, np.float64).reshape(-1, 4)
    det_xyxy = np.asarray(det_xyxy, np.float64).reshape(-1, 4)
    n_det = len(det_xyxy)
    kind = np.where(np.asarray(gt_ignore, bool).reshape(-1), _IGNORE, _NORMAL).tolist()
    order = np.argsort(-np.asarray(det_scores, np.float64).reshape(-1), kind="stable").tolist()
    cands = _candidates(iou_matrix(det_xyxy, gt_xyxy), iou_threshold)
    status = np.full(n_det, FP, np.int8)
    gt_index = np.full(n_det, -1, np.int64)
    iou = np.zeros(n_det, np.float64)
    for d, g, result, v in _greedy(cands, order, kind, iou_threshold):
        status[d], gt_index[d], iou[d] = result, g, v
    return Match(status, gt_index, iou)


def average_precision(scores: np.ndarray, is_tp: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP (VOC2010+) of ranked detections; ignored ones already removed.

    Ranking is by descending score, stable for ties. NaN when there is no
    ground truth; 0 when there is ground truth but no detection.
    """
    recall, precision = _pr(np.asarray(scores), np.asarray(is_tp, bool), n_gt)[:2]
    if n_gt <= 0:
        return NAN
    if not len(recall):
        return 0.0
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    step = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def _pr(
    scores: np.ndarray, is_tp: np.ndarray, n_gt: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(is_tp[order])
    fp = np.cumsum(~is_tp[order])
    recall = tp / n_gt if n_gt > 0 else np.full(len(tp), np.nan)
    precision = tp / np.maximum(tp + fp, 1)
    return recall, precision, scores[order]


@dataclass(frozen=True)
class PRCurve:
    """Precision-recall curve at IoU 0.5 over the dataset, best score first, for plots."""

    label: str
    recall: np.ndarray
    precision: np.ndarray
    scores: np.ndarray
    threshold: float
    ap50: float


# -- detection ------------------------------------------------------------------------


class DetectionAccumulator:
    """Precision/recall/F1 at the operating point, mean IoU, AP50 and mAP for one class.

    Pass detections with scores down to a low floor: AP uses the whole ranking,
    while P/R/F1 and mean IoU count only detections with ``score >= threshold``
    (greedy matching in score order makes that exactly the prefix of the ranking).
    """

    def __init__(self, label: str, *, threshold: float = 0.0, iou_threshold: float = 0.5) -> None:
        self.label = label
        self.class_id = class_id(label)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
        self.threshold = float(threshold)
        self.iou_threshold = float(iou_threshold)
        ts = list(IOU_THRESHOLDS)
        if self.iou_threshold not in ts:
            ts.append(self.iou_threshold)
        self._ious = tuple(ts)
        self._op = ts.index(self.iou_threshold)
        self._t50 = ts.index(0.5)
        # one entry per update; groups: 0 = all heights, 1.. = HEIGHT_BUCKETS
        self._scores: list[np.ndarray] = []
        self._status: list[np.ndarray] = []  # (groups, thresholds, D) int8
        self._iou: list[np.ndarray] = []  # (groups, D) IoU at the operating threshold
        self._n_gt = np.zeros(1 + len(HEIGHT_BUCKETS), np.int64)

    def update(self, boxes: Sequence[GroundTruth], detections: Regions) -> None:
        """Add one image (or video frame): all its ground truth and detections, any class."""
        gt_xyxy, gt_ignore = boxes_to_arrays(boxes, self.label)
        dets = detections.of_class(self.class_id)
        det_xyxy = dets.xyxy.astype(np.float64)
        scores = dets.scores.astype(np.float64)
        n_det, n_groups = len(dets), 1 + len(HEIGHT_BUCKETS)
        gt_bucket = 1 + _bucket_index(gt_xyxy[:, 3] - gt_xyxy[:, 1])
        det_bucket = 1 + _bucket_index(det_xyxy[:, 3] - det_xyxy[:, 1])
        self._n_gt[0] += int((~gt_ignore).sum())
        for g in range(1, n_groups):
            self._n_gt[g] += int(((gt_bucket == g) & ~gt_ignore).sum())

        cands = _candidates(iou_matrix(det_xyxy, gt_xyxy), min(self._ious))
        order = [d for d in np.argsort(-scores, kind="stable").tolist() if d in cands]
        status = np.full((n_groups, len(self._ious), n_det), FP, np.int8)
        iou_op = np.zeros((n_groups, n_det), np.float32)
        base_kind = np.where(gt_ignore, _IGNORE, _NORMAL)
        for g in range(n_groups):
            kind = base_kind
            if g:
                kind = np.where((gt_bucket != g) & ~gt_ignore, _OUTSIDE, base_kind)
            kind_list = kind.tolist()
            for t, thr in enumerate(self._ious):
                for d, _, result, v in _greedy(cands, order, kind_list, thr):
                    status[g, t, d] = result
                    if t == self._op:
                        iou_op[g, d] = v
            if g:  # an unmatched detection of another height is not this bucket's FP
                status[g][(status[g] == FP) & (det_bucket != g)] = IGNORED
        self._scores.append(scores)
        self._status.append(status)
        self._iou.append(iou_op)

    def merge(self, other: DetectionAccumulator) -> None:
        """Add another accumulator's data (same class and settings), e.g. from a worker."""
        if (other.label, other.threshold, other._ious) != (self.label, self.threshold, self._ious):
            raise ValueError("cannot merge detection accumulators with different settings")
        self._scores += other._scores
        self._status += other._status
        self._iou += other._iou
        self._n_gt += other._n_gt

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_groups = 1 + len(HEIGHT_BUCKETS)
        if not self._scores:
            return (
                np.zeros(0),
                np.zeros((n_groups, len(self._ious), 0), np.int8),
                np.zeros((n_groups, 0), np.float32),
            )
        return (
            np.concatenate(self._scores),
            np.concatenate(self._status, axis=-1),
            np.concatenate(self._iou, axis=-1),
        )

    def compute(self) -> dict[str, Any]:
        """Metrics for all heights, with ``by_height`` per bucket; NaN where undefined."""
        scores, status, iou = self._arrays()
        out = self._group(scores, status[0], iou[0], int(self._n_gt[0]))
        out["threshold"] = self.threshold
        out["iou_threshold"] = self.iou_threshold
        out["by_height"] = {
            name: self._group(scores, status[g], iou[g], int(self._n_gt[g]))
            for g, (name, _, _) in enumerate(HEIGHT_BUCKETS, start=1)
        }
        return out

    def _group(
        self, scores: np.ndarray, status: np.ndarray, iou: np.ndarray, n_gt: int
    ) -> dict[str, Any]:
        on = scores >= self.threshold
        st = status[self._op]
        tp_mask = (st == TP) & on
        tp, fp = int(tp_mask.sum()), int(((st == FP) & on).sum())
        fn = n_gt - tp
        aps = []
        for t in range(len(IOU_THRESHOLDS)):
            keep = status[t] != IGNORED
            aps.append(average_precision(scores[keep], status[t][keep] == TP, n_gt))
        return {
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, n_gt),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "mean_iou": float(iou[tp_mask].mean()) if tp else NAN,
            "ap50": aps[self._t50],
            "map": float(np.mean(aps)) if n_gt else NAN,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "n_gt": n_gt,
        }

    def pr_curve(self) -> PRCurve:
        """The dataset's precision-recall curve at IoU 0.5 (all heights)."""
        scores, status, _ = self._arrays()
        st = status[0, self._t50]
        keep = st != IGNORED
        n_gt = int(self._n_gt[0])
        recall, precision, ranked = _pr(scores[keep], st[keep] == TP, n_gt)
        ap50 = average_precision(scores[keep], st[keep] == TP, n_gt)
        return PRCurve(self.label, recall, precision, ranked, self.threshold, ap50)


# -- masking --------------------------------------------------------------------------


def changed_pixels(original: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """Boolean (H, W): pixels where any channel differs between two same-sized frames.

    Compare the masked frame before lossy encoding: after JPEG/H.264 almost every
    pixel differs.
    """
    a, b = np.asarray(original), np.asarray(masked)
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")
    diff = a != b
    return diff.any(axis=-1) if diff.ndim == 3 else diff


def _spans(xyxy: np.ndarray, width: int, height: int, at_least_one: bool) -> np.ndarray:
    """Pixel index ranges (c1, r1, c2, r2), end exclusive, of pixels whose centre is inside."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    lo = np.ceil(xyxy[:, :2] - 0.5)
    hi = np.ceil(xyxy[:, 2:] - 0.5)
    if at_least_one:  # a box thinner than a pixel still covers the pixel at its centre
        centre = np.floor((xyxy[:, :2] + xyxy[:, 2:]) / 2)
        thin = hi <= lo
        lo = np.where(thin, centre, lo)
        hi = np.where(thin, centre + 1, hi)
    limit = np.array([width, height], np.float64)
    lo = np.clip(lo, 0, limit)
    hi = np.clip(hi, 0, limit)
    return np.concatenate([lo, hi], axis=1).astype(np.int64)


def central_coverage(changed: np.ndarray, xyxy: np.ndarray, shrink: float = 0.2) -> np.ndarray:
    """Share of each box's central region (shrunk by ``shrink`` of its size per side) changed.

    NaN for a box whose central region lies outside the image.
    """
    changed = np.asarray(changed, bool)
    h, w = changed.shape
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    bw = xyxy[:, 2] - xyxy[:, 0]
    bh = xyxy[:, 3] - xyxy[:, 1]
    central = xyxy + np.stack([bw, bh, -bw, -bh], axis=1) * shrink
    spans = _spans(central, w, h, at_least_one=True)
    out = np.full(len(spans), np.nan)
    for i, (c1, r1, c2, r2) in enumerate(spans.tolist()):
        area = (c2 - c1) * (r2 - r1)
        if area > 0:  # per-box slices: boxes are few and small next to the image
            out[i] = np.count_nonzero(changed[r1:r2, c1:c2]) / area
    return out


def over_mask_pixels(changed: np.ndarray, xyxy: np.ndarray, growth: float = 0.5) -> tuple[int, int]:
    """(changed pixels outside every box grown by ``growth``, all changed pixels).

    ``growth`` follows :meth:`Regions.expand`: 0.5 makes a box 50% wider and
    50% taller around its centre (25% on each side); 0 means the boxes as drawn.
    """
    changed = np.asarray(changed, bool)
    h, w = changed.shape
    total = int(changed.sum())
    if not total:
        return 0, 0
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    half = np.stack([xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], axis=1) * (growth / 2)
    grown = np.concatenate([xyxy[:, :2] - half, xyxy[:, 2:] + half], axis=1)
    allowed = np.zeros((h, w), bool)
    for c1, r1, c2, r2 in _spans(grown, w, h, at_least_one=False):
        allowed[r1:r2, c1:c2] = True
    return int((changed & ~allowed).sum()), total


class MaskAccumulator:
    """Masked rate (overall and per height bucket), over-mask and video leaks for one class.

    ``update`` takes the pixels the masking step actually changed. Ignore boxes
    are not scored but their (grown) area is allowed to be masked. Over-mask is
    pooled over the dataset (outside pixels / changed pixels), so large images
    weigh more, like the pixels a viewer sees.

    Frame shares (what a viewer loses): ``masked_share`` is this class's changed
    pixels over all frame pixels; ``false_mask_share`` those outside every box
    grown by ``frame_growth`` (25% by default), over all frame pixels.

    Video leaks: pass ``source`` (the video's path) for each annotated frame. A
    leak is a non-ignored (object, frame) pair whose central region is not
    masked; an object leaks if it leaks in any frame. Boxes without an ``id``
    count as one-frame objects.
    """

    def __init__(
        self,
        label: str,
        *,
        coverage: float = 0.9,
        shrink: float = 0.2,
        growth: float = 0.5,
        frame_growth: float = 0.25,
    ) -> None:
        class_id(label)
        if not 0.0 < coverage <= 1.0:
            raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
        if not 0.0 <= shrink < 0.5:
            raise ValueError(f"shrink must be in [0, 0.5), got {shrink!r}")
        if growth < 0.0:
            raise ValueError(f"growth must be >= 0, got {growth!r}")
        if frame_growth < 0.0:
            raise ValueError(f"frame_growth must be >= 0, got {frame_growth!r}")
        self.label, self.coverage, self.shrink, self.growth = label, coverage, shrink, growth
        self.frame_growth = frame_growth
        self._pixels = 0
        self._false_pixels = 0
        n_groups = 1 + len(HEIGHT_BUCKETS)
        self._n = np.zeros(n_groups, np.int64)
        self._masked = np.zeros(n_groups, np.int64)
        self._outside = 0
        self._changed = 0
        self._pairs = 0
        self._leaked_pairs = 0
        self._objects: set[tuple[str, str]] = set()
        self._leaked: set[tuple[str, str]] = set()
        self._anon_objects = 0
        self._anon_leaked = 0

    def update(
        self,
        boxes: Sequence[GroundTruth],
        changed: np.ndarray,
        *,
        own: np.ndarray | None = None,
        source: str | None = None,
    ) -> None:
        """Add one image or annotated video frame.

        ``changed``: bool (H, W), every pixel the masking changed (any class): a
        face covered by a plate's mask is still hidden. ``own``: the pixels
        changed by this class's masks, for over-mask (defaults to ``changed``).
        ``source``: the video this frame belongs to, to count leaks per object.
        """
        changed = np.asarray(changed, bool)
        if changed.ndim != 2:
            raise ValueError(f"changed mask must be (H, W), got shape {changed.shape}")
        all_xyxy, _ = boxes_to_arrays(boxes)
        mine_changed = changed if own is None else own
        outside, total = over_mask_pixels(mine_changed, all_xyxy, self.growth)
        self._outside += outside
        self._changed += total
        self._pixels += changed.size
        self._false_pixels += over_mask_pixels(mine_changed, all_xyxy, self.frame_growth)[0]

        mine = [b for b in boxes if b.label == self.label and not b.ignore]
        if not mine:
            return
        xyxy = np.array([b.xyxy for b in mine], np.float64)
        cover = central_coverage(changed, xyxy, self.shrink)
        valid = ~np.isnan(cover)
        if not valid.all():
            logger.debug("%d %s boxes lie outside the image", int((~valid).sum()), self.label)
        masked = valid & (np.nan_to_num(cover) >= self.coverage)
        bucket = 1 + _bucket_index(xyxy[:, 3] - xyxy[:, 1])
        self._n[0] += int(valid.sum())
        self._masked[0] += int(masked.sum())
        for g in range(1, len(self._n)):
            self._n[g] += int((valid & (bucket == g)).sum())
            self._masked[g] += int((masked & (bucket == g)).sum())
        if source is not None:
            for b, ok, leak in zip(mine, valid, ~masked, strict=True):
                if not ok:
                    continue
                self._pairs += 1
                self._leaked_pairs += int(leak)
                if b.object_id is None:
                    self._anon_objects += 1
                    self._anon_leaked += int(leak)
                else:
                    key = (source, b.object_id)
                    self._objects.add(key)
                    if leak:
                        self._leaked.add(key)

    def merge(self, other: MaskAccumulator) -> None:
        if (other.label, other.coverage, other.shrink, other.growth, other.frame_growth) != (
            self.label, self.coverage, self.shrink, self.growth, self.frame_growth
        ):  # fmt: skip
            raise ValueError("cannot merge mask accumulators with different settings")
        self._n += other._n
        self._masked += other._masked
        self._outside += other._outside
        self._changed += other._changed
        self._pixels += other._pixels
        self._false_pixels += other._false_pixels
        self._pairs += other._pairs
        self._leaked_pairs += other._leaked_pairs
        self._objects |= other._objects
        self._leaked |= other._leaked
        self._anon_objects += other._anon_objects
        self._anon_leaked += other._anon_leaked

    @property
    def updated(self) -> bool:
        """Whether any masked pixel or scored box has been seen."""
        return bool(self._n[0] or self._changed)

    def compute(self) -> dict[str, Any]:
        """``masked_rate``, ``over_mask``, leak counts (None without video) and per bucket."""
        has_video = bool(self._pairs)
        return {
            "masked_rate": _ratio(self._masked[0], self._n[0]),
            "over_mask": _ratio(self._outside, self._changed),
            "over_mask_growth": self.growth,
            "masked_share": _ratio(self._changed, self._pixels),
            "false_mask_share": _ratio(self._false_pixels, self._pixels),
            "false_mask_growth": self.frame_growth,
            "leak_rate": _ratio(self._leaked_pairs, self._pairs),
            "leaked_objects": len(self._leaked) + self._anon_leaked if has_video else None,
            "objects": len(self._objects) + self._anon_objects if has_video else None,
            "by_height": {
                name: _ratio(self._masked[g], self._n[g])
                for g, (name, _, _) in enumerate(HEIGHT_BUCKETS, start=1)
            },
        }


# -- speed ----------------------------------------------------------------------------


class SpeedAccumulator:
    """Latency per image or frame and throughput; device facts are passed in as plain values."""

    def __init__(self) -> None:
        self._latencies: list[float] = []
        self._items = 0
        self._seconds = 0.0

    def add(self, seconds: float, items: int = 1) -> None:
        """Record one timed unit of work (``seconds`` for ``items`` images or frames).

        Latency percentiles are per item, so a batch adds ``seconds / items``.
        """
        if seconds < 0 or items < 1:
            raise ValueError("seconds must be >= 0 and items >= 1")
        self._latencies.extend([seconds / items] * items)
        self._items += items
        self._seconds += seconds

    def merge(self, other: SpeedAccumulator) -> None:
        self._latencies += other._latencies
        self._items += other._items
        self._seconds += other._seconds

    def compute(
        self,
        *,
        device: str | None = None,
        provider: str | None = None,
        threads: int | None = None,
        wall_seconds: float | None = None,
    ) -> dict[str, Any]:
        """p50/p95 latency in ms and items per second.

        Throughput divides by ``wall_seconds`` when given (a pipelined or parallel
        run overlaps items), else by the sum of recorded times.
        """
        lat = np.array(self._latencies) * 1000.0
        seconds = self._seconds if wall_seconds is None else wall_seconds
        return {
            "latency_ms_p50": float(np.percentile(lat, 50)) if len(lat) else NAN,
            "latency_ms_p95": float(np.percentile(lat, 95)) if len(lat) else NAN,
            "throughput": _ratio(self._items, seconds),
            "items": self._items,
            "device": device,
            "provider": provider,
            "threads": threads,
        }


# -- everything, per class ------------------------------------------------------------


class Evaluator:
    """What ``veil eval`` measures, per target class; feed it one image or frame at a time.

    ``thresholds`` are the operating score thresholds (per class or one for
    all), normally the detector's. ``growth`` is the box growth allowed for
    over-mask (0.5 = boxes 50% larger, as in the product's over-mask target).
    """

    def __init__(
        self,
        targets: Sequence[str] = CLASSES,
        *,
        thresholds: Mapping[str, float] | float = 0.0,
        iou_threshold: float = 0.5,
        coverage: float = 0.9,
        shrink: float = 0.2,
        growth: float = 0.5,
    ) -> None:
        self.targets = tuple(targets)
        for t in self.targets:
            class_id(t)
        th = thresholds if isinstance(thresholds, Mapping) else dict.fromkeys(CLASSES, thresholds)
        self.detection = {
            t: DetectionAccumulator(t, threshold=float(th.get(t, 0.0)), iou_threshold=iou_threshold)
            for t in self.targets
        }
        self.masking = {
            t: MaskAccumulator(t, coverage=coverage, shrink=shrink, growth=growth)
            for t in self.targets
        }
        self.speed = SpeedAccumulator()
        self.items = 0

    def add(
        self,
        boxes: Sequence[GroundTruth],
        detections: Regions,
        changed: np.ndarray | Mapping[str, np.ndarray] | None = None,
        *,
        source: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Add one image, or one annotated frame of the video ``source``.

        ``detections``: every detection with its score (all classes; use a low
        score floor so AP sees the ranking). ``changed``: the pixels the masking
        step changed, one bool (H, W) array for all classes or one per class
        name; None skips the mask metrics. ``seconds``: time spent on this item.
        """
        union: np.ndarray | None = None
        per_class: Mapping[str, np.ndarray] = {}
        if isinstance(changed, Mapping):
            per_class = {k: np.asarray(v, bool) for k, v in changed.items()}
            if per_class:
                union = np.logical_or.reduce(list(per_class.values()))
        elif changed is not None:
            union = np.asarray(changed, bool)
        for t in self.targets:
            self.detection[t].update(boxes, detections)
            if union is not None:
                own = per_class.get(t, np.zeros_like(union)) if per_class else None
                self.masking[t].update(boxes, union, own=own, source=source)
        if seconds is not None:
            self.speed.add(seconds)
        self.items += 1

    def merge(self, other: Evaluator) -> None:
        if other.targets != self.targets:
            raise ValueError("cannot merge evaluators of different targets")
        for t in self.targets:
            self.detection[t].merge(other.detection[t])
            self.masking[t].merge(other.masking[t])
        self.speed.merge(other.speed)
        self.items += other.items

    def compute(
        self,
        *,
        device: str | None = None,
        provider: str | None = None,
        threads: int | None = None,
        wall_seconds: float | None = None,
    ) -> dict[str, Any]:
        """The ``metrics.json`` dictionary (floats unrounded, NaN where undefined)."""
        out: dict[str, Any] = {}
        for t in self.targets:
            det = self.detection[t].compute()
            mask = self.masking[t].compute()
            by_height = det.pop("by_height")
            for name, stats in by_height.items():
                stats["masked_rate"] = mask["by_height"][name]
            mask.pop("by_height")
            out[t] = {**det, **mask, "by_height": by_height}
        out["speed"] = self.speed.compute(
            device=device, provider=provider, threads=threads, wall_seconds=wall_seconds
        )
        logger.info("evaluated %s on %d images/frames", ",".join(self.targets), self.items)
        return out

    def pr_curves(self) -> dict[str, PRCurve]:
        return {t: self.detection[t].pr_curve() for t in self.targets}
