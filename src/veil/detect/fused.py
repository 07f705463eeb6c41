"""Two face networks that must agree: the bundled detector for images.

YuNet-n and CenterFace were trained apart and err on different things (a
lantern that one scores at 0.3 the other often scores near 0), while a real
face scores with both. Their boxes from every pass are pooled and clustered
(IoU > ``nms_iou`` with the cluster's best box); a cluster's score is the
*mean* of the members' best scores in it, a member that saw nothing counting
0, and its box the score-weighted mean of the boxes in it. Measured on
``faces_wider_val`` (README, Quality): at the same masked rate, fewer false
masks than either network alone, and a higher AP50 than either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..regions import FACE, Regions, iou_matrix, nms
from .faces import FaceDetector
from .onnx import release_memory

#: members are asked for boxes down to this share of the fused threshold: a face
#: one member is sure of and the other barely sees still gets the other's score
MEMBER_FLOOR = 0.5
#: ... but never below this: lower, CenterFace's tiles return thousands of boxes
LOWEST_FLOOR = 0.03
#: boxes counted per member and cluster score at least this: the members' pass floor at
#: the default threshold, so the count is the same for ``veil mask`` and ``veil eval``
COUNT_FLOOR = 0.05
#: cluster heads matched against the pooled boxes per step (bounds the IoU block)
CLUSTER_BLOCK = 64


class FusedFaceDetector:
    """Faces scored by the agreement of several :class:`FaceDetector` members."""

    label = FACE

    def __init__(
        self,
        members: Sequence[FaceDetector],
        nms_iou: float = 0.4,
        release: bool = False,
        decision: Any = None,
    ) -> None:
        if len(members) < 2:
            raise ValueError("FusedFaceDetector needs at least two members")
        self.members = list(members)
        self.nms_iou = nms_iou
        #: give each member's memory back before the next runs (:func:`release_memory`)
        self.release = release
        #: photos: re-scores clusters from their evidence (``veil.decide.photo``); None:
        #: the mean of the members' best scores alone
        self.decision = decision

    def detect(self, rgb: np.ndarray, threshold: float, shared: dict | None = None) -> Regions:
        """Fused faces; ``shared`` may hold passes already run on ``rgb`` (the probe's)."""
        h, w = rgb.shape[:2]
        floor = self.pass_floor(threshold)
        found = []
        shared = {} if shared is None else shared  # the members share their resized frames
        for m in self.members:
            xyxy, scores = m.passes(rgb, floor, shared)
            if self.release:
                # The arena's regions are cut to one network's tensors and fit the
                # next network's badly: their memory added up (a 1024x1365 photo
                # peaked 44 MB higher for each full pass); given back in between,
                # a photo needs the most of one network, not of all (docs/photos.md)
                release_memory()
            keep = nms(xyxy, scores, self.nms_iou)  # one box per face and member
            found.append((xyxy[keep], scores[keep]))
        xyxy = np.concatenate([f[0] for f in found]).astype(np.float32)
        scores = np.concatenate([f[1] for f in found]).astype(np.float32)
        member = np.concatenate([np.full(len(f[1]), i) for i, f in enumerate(found)])
        if not len(scores):
            return Regions.empty()
        boxes, best, count = clusters(xyxy, scores, member, len(self.members), self.nms_iou)
        fused = mean_of_best(best)
        if self.decision is not None:
            fused = self.decision.rescore(rgb, boxes, best, count, fused)
        keep = fused >= threshold
        return Regions(boxes[keep], fused[keep], np.full(int(keep.sum()), FACE, np.int16)).clip(
            w, h
        )

    def pass_floor(self, threshold: float) -> float:
        """The score down to which the members' passes are run for ``threshold``."""
        return max(threshold * MEMBER_FLOOR, LOWEST_FLOOR)

    def single_pass(
        self, rgb: np.ndarray, max_side: int, threshold: float, shared: dict | None = None
    ) -> Regions:
        """The first member's single pass (cheap probes, e.g. of the orientation)."""
        return self.members[0].single_pass(rgb, max_side, threshold, shared)


def fuse(
    xyxy: np.ndarray, scores: np.ndarray, member: np.ndarray, n_members: int, iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster pooled boxes; each cluster -> (weighted mean box, mean of members' best)."""
    boxes, best, _ = clusters(xyxy, scores, member, n_members, iou)
    return boxes, mean_of_best(best)


def mean_of_best(best: np.ndarray) -> np.ndarray:
    """The hand fusion's score of each cluster: the mean of its members' best scores,
    a member that saw nothing counting 0 (``best``: (clusters, members))."""
    return best.sum(axis=1, dtype=np.float32) / np.float32(best.shape[1])


def clusters(
    xyxy: np.ndarray, scores: np.ndarray, member: np.ndarray, n_members: int, iou: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster pooled boxes -> (weighted mean boxes (N, 4), each member's best score
    (N, M), each member's count of boxes scoring at least :data:`COUNT_FLOOR` (N, M)).

    A box joins the best cluster whose head (an NMS-kept box) it overlaps by more
    than ``iou``. Vectorised over blocks of heads: one head at a time, a crowd's
    thousand clusters cost a tenth of a photo's time (docs/photos.md).
    """
    keep = nms(xyxy, scores, iou)
    cluster = np.full(len(scores), -1, np.int64)
    cluster[keep] = np.arange(len(keep))  # a head heads its own cluster
    for start in range(0, len(keep), CLUSTER_BLOCK):
        free = np.flatnonzero(cluster < 0)
        if not free.size:
            break
        heads = keep[start : start + CLUSTER_BLOCK]
        over = iou_matrix(xyxy[heads], xyxy[free]) > iou
        hit = over.any(axis=0)
        cluster[free[hit]] = start + over[:, hit].argmax(axis=0)  # the best head first
    inside = np.flatnonzero(cluster >= 0)
    inside = inside[np.argsort(cluster[inside], kind="stable")]
    starts = np.searchsorted(cluster[inside], np.arange(len(keep)))
    w = scores[inside].astype(np.float64)
    sums = np.add.reduceat(w[:, None] * xyxy[inside].astype(np.float64), starts, axis=0)
    boxes = sums / np.add.reduceat(w, starts)[:, None]
    best = np.zeros((len(keep), n_members), np.float32)
    np.maximum.at(best, (cluster[inside], member[inside]), scores[inside].astype(np.float32))
    count = np.zeros((len(keep), n_members), np.float32)
    sure = inside[scores[inside] >= COUNT_FLOOR]  # the same at any pass floor up to it
    np.add.at(count, (cluster[sure], member[sure]), 1.0)
    return boxes.astype(np.float32), best, count
