"""The one region type of veil and its geometry.

:class:`Regions` holds N boxes as arrays (supervision-style) rather than a list
of objects: detectors, trackers and maskers all work on whole arrays, and
boolean indexing returns a new immutable ``Regions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Class names, indexed by ``Regions.labels``.
CLASSES: tuple[str, ...] = ("face", "plate", "text")
FACE = 0
PLATE = 1
#: a line of text (detect/text.py), masked when it holds personal data (veil.pii)
TEXT = 2


def class_id(name: str) -> int:
    """Map a class name to its id, with an error that names the bad value."""
    try:
        return CLASSES.index(name)
    except ValueError:
        raise ValueError(f"unknown target {name!r}; expected one of {', '.join(CLASSES)}") from None


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Regions:
    """N axis-aligned boxes in pixel coordinates (x1, y1, x2, y2), x2/y2 exclusive.

    ``labels`` are class ids (see :data:`CLASSES`); ``track_ids`` is -1 where a
    region belongs to no track. ``margin_shares`` scale each region's class margin
    at the mask stage (1 by default): the tracker gives a track the decision rates
    an unlikely face a smaller one (``TrackSettings.unlikely_margin``). Arrays are
    copied and made read-only, so a ``Regions`` can be shared between pipeline
    stages and threads safely.
    """

    xyxy: np.ndarray
    scores: np.ndarray = field(default=None)  # type: ignore[assignment]
    labels: np.ndarray = field(default=None)  # type: ignore[assignment]
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]
    margin_shares: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        xyxy = np.array(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        scores = np.ones(n, np.float32) if self.scores is None else self.scores
        labels = np.zeros(n, np.int16) if self.labels is None else self.labels
        tids = np.full(n, -1, np.int64) if self.track_ids is None else self.track_ids
        shares = np.ones(n, np.float32) if self.margin_shares is None else self.margin_shares
        scores = np.array(scores, dtype=np.float32).reshape(-1)
        labels = np.array(labels, dtype=np.int16).reshape(-1)
        tids = np.array(tids, dtype=np.int64).reshape(-1)
        shares = np.array(shares, dtype=np.float32).reshape(-1)
        for name, arr in (
            ("scores", scores),
            ("labels", labels),
            ("track_ids", tids),
            ("margin_shares", shares),
        ):
            if len(arr) != n:
                raise ValueError(f"Regions.{name} has {len(arr)} entries for {n} boxes")
        if n and not np.all(np.isfinite(xyxy)):
            raise ValueError("Regions.xyxy contains non-finite coordinates")
        if n and (labels.min() < 0 or labels.max() >= len(CLASSES)):
            raise ValueError(f"Regions.labels must be in 0..{len(CLASSES) - 1}")
        if n and not (np.all(np.isfinite(shares)) and shares.min() >= 0 and shares.max() <= 1):
            raise ValueError("Regions.margin_shares must be numbers from 0 to 1")
        object.__setattr__(self, "xyxy", _readonly(xyxy))
        object.__setattr__(self, "scores", _readonly(scores))
        object.__setattr__(self, "labels", _readonly(labels))
        object.__setattr__(self, "track_ids", _readonly(tids))
        object.__setattr__(self, "margin_shares", _readonly(shares))

    # -- construction -----------------------------------------------------
    @classmethod
    def empty(cls) -> Regions:
        return cls(np.zeros((0, 4), np.float32))

    @classmethod
    def concat(cls, parts: Iterable[Regions]) -> Regions:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.track_ids for p in parts]),
            np.concatenate([p.margin_shares for p in parts]),
        )

    # -- container protocol -----------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | Sequence[int] | int) -> Regions:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Regions(
            self.xyxy[index],
            self.scores[index],
            self.labels[index],
            self.track_ids[index],
            self.margin_shares[index],
        )

    def __repr__(self) -> str:  # never print coordinates: reprs end up in logs
        return f"Regions(n={len(self)})"

    # -- derived ----------------------------------------------------------
    @property
    def widths(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    def of_class(self, label: int) -> Regions:
        return self[self.labels == label]

    def with_track_ids(self, track_ids: np.ndarray) -> Regions:
        return Regions(self.xyxy, self.scores, self.labels, track_ids, self.margin_shares)

    # -- geometry ---------------------------------------------------------
    def expand(self, margin: float | np.ndarray) -> Regions:
        """Grow each box by ``margin`` times its width/height on every side's total.

        ``margin=0.25`` makes a box 25% wider and 25% taller, around the same centre.
        ``margin`` may be per-region (one value per box).
        """
        m = np.broadcast_to(np.asarray(margin, np.float32), (len(self),))
        cx = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        cy = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        hw = self.widths * (1 + m) / 2
        hh = self.heights * (1 + m) / 2
        xyxy = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)
        return self.moved(xyxy)

    def clip(self, width: int, height: int) -> Regions:
        """Clip boxes to the image and drop those left with no area."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return self.moved(xyxy)[keep]

    def scale(
        self, sx: float, sy: float | None = None, dx: float = 0.0, dy: float = 0.0
    ) -> Regions:
        """Map boxes from one pixel grid to another: ``x * sx + dx``, ``y * sy + dy``."""
        sy = sx if sy is None else sy
        xyxy = self.xyxy * np.array([sx, sy, sx, sy], np.float32) + np.array(
            [dx, dy, dx, dy], np.float32
        )
        return self.moved(xyxy)

    def moved(self, xyxy: np.ndarray) -> Regions:
        """The same regions (scores, labels, tracks, margin shares) on new boxes."""
        return Regions(xyxy, self.scores, self.labels, self.track_ids, self.margin_shares)


def box_area(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    return (xyxy[:, 2] - xyxy[:, 0]).clip(0) * (xyxy[:, 3] - xyxy[:, 1]).clip(0)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas between two box arrays (N,4) and (M,4) -> (N,M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return (x2 - x1).clip(0) * (y2 - y1).clip(0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between two box arrays (N,4) and (M,4) -> (N,M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    inter = intersection_matrix(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


#: boxes handled per step of :func:`nms` (bounds its IoU blocks: BLOCK x boxes left)
NMS_BLOCK = 256


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first.

    Exact greedy NMS, done a block of :data:`NMS_BLOCK` boxes (by score) at a time: a
    block is settled among itself, then its kept boxes suppress every later box in one
    vectorised step. A crowd's thousands of low-floor boxes took one numpy round per
    kept box, and photos spent a tenth of their detection time here (docs/photos.md).
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores), kind="stable")
    x1, y1, x2, y2 = xyxy[order].T
    area = box_area(xyxy[order])
    alive = np.ones(len(order), bool)
    keep: list[np.ndarray] = []

    def over(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """IoU > threshold between sorted boxes ``rows`` and ``cols`` (as iou_matrix)."""
        w = np.minimum(x2[rows, None], x2[cols]) - np.maximum(x1[rows, None], x1[cols])
        h = np.minimum(y2[rows, None], y2[cols]) - np.maximum(y1[rows, None], y1[cols])
        inter = w.clip(0) * h.clip(0)
        union = area[rows, None] + area[cols] - inter
        ious = np.zeros_like(inter)
        np.divide(inter, union, out=ious, where=union > 0)
        return ious > iou_threshold

    for start in range(0, len(order), NMS_BLOCK):
        block = start + np.flatnonzero(alive[start : start + NMS_BLOCK])
        if not block.size:
            continue
        inner = over(block, block)
        live = np.ones(len(block), bool)
        for i in range(len(block)):  # greedy within the block, best first
            if live[i]:
                live[i + 1 :] &= ~inner[i, i + 1 :]
        kept = block[live]
        keep.append(kept)
        later = start + NMS_BLOCK + np.flatnonzero(alive[start + NMS_BLOCK :])
        for cols in np.array_split(later, max(1, -(-later.size // (16 * NMS_BLOCK)))):
            alive[cols[over(kept, cols).any(axis=0)]] = False
    return order[np.concatenate(keep)].astype(np.int64) if keep else np.zeros(0, np.int64)


def nms_regions(regions: Regions, iou_threshold: float) -> Regions:
    """Class-wise NMS over a ``Regions``."""
    parts = []
    for label in np.unique(regions.labels):
        sub = regions.of_class(int(label))
        parts.append(sub[nms(sub.xyxy, sub.scores, iou_threshold)])
    return Regions.concat(parts)
