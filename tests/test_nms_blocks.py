"""Blocked NMS and vectorised fusion give what the one-box-at-a-time loops gave (issue 29).

Photos spent a tenth of their detection time in these two loops on crowds; they
now work a block of boxes at a time. The references below are the former loops,
kept here verbatim in substance, and the crowds are large enough to cross many
blocks (several thousand boxes, clustered as a detector's are).
"""

from __future__ import annotations

import numpy as np
import pytest

from veil.detect.fused import CLUSTER_BLOCK, fuse
from veil.regions import NMS_BLOCK, iou_matrix, nms


def _crowd(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` boxes scattered around n/8 faces of 8-120 px, as a detector's passes give."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2000, (n // 8, 2))
    sizes = rng.uniform(8, 120, n // 8)
    pick = rng.integers(0, len(centres), n)
    c = centres[pick] + rng.normal(0, 0.15, (n, 2)) * sizes[pick, None]
    s = sizes[pick, None] * rng.uniform(0.7, 1.3, (n, 2))
    xyxy = np.concatenate([c - s / 2, c + s / 2], axis=1).astype(np.float32)
    xyxy[:5, 2:] = xyxy[:5, :2]  # a few empty boxes
    scores = rng.uniform(0.03, 1.0, n).astype(np.float32)
    scores[10:20] = scores[9]  # ties keep their order
    return xyxy, scores


def _nms_reference(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou_matrix(xyxy[i], xyxy[rest])[0] <= iou]
    return np.asarray(keep, np.int64)


def _fuse_reference(xyxy, scores, member, n_members, iou):
    keep = nms(xyxy, scores, iou)
    taken = np.zeros(len(scores), bool)
    boxes = np.zeros((len(keep), 4), np.float64)
    fused = np.zeros(len(keep), np.float32)
    for j in range(len(keep)):
        group = (iou_matrix(xyxy[keep[j] : keep[j] + 1], xyxy)[0] > iou) & ~taken
        group[keep[j]] = True
        taken |= group
        w = scores[group].astype(np.float64)
        boxes[j] = (w @ xyxy[group]) / w.sum()
        best = [scores[group & (member == m)].max(initial=0.0) for m in range(n_members)]
        fused[j] = sum(best) / n_members
    return boxes.astype(np.float32), fused


@pytest.mark.parametrize(("n", "iou"), [(0, 0.4), (1, 0.4), (300, 0.5), (4000, 0.4)])
def test_blocked_nms_is_greedy_nms(n, iou):
    xyxy, scores = _crowd(max(n, 64), seed=n)
    xyxy, scores = xyxy[:n], scores[:n]
    got = nms(xyxy, scores, iou)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _nms_reference(xyxy, scores, iou))
    if n > 4 * NMS_BLOCK:
        assert len(got) > NMS_BLOCK  # kept boxes span several blocks


def test_vectorised_fuse_is_the_cluster_loop():
    xyxy, scores = _crowd(3000, seed=7)
    member = np.random.default_rng(7).integers(0, 2, len(scores))
    boxes, fused = fuse(xyxy, scores, member, 2, 0.4)
    ref_boxes, ref_fused = _fuse_reference(xyxy, scores, member, 2, 0.4)
    assert len(fused) > 2 * CLUSTER_BLOCK
    np.testing.assert_array_equal(fused, ref_fused)
    np.testing.assert_allclose(boxes, ref_boxes, rtol=0, atol=1e-3)
