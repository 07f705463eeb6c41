"""tools/photo_decide_train.py: the whole-photo YOLOv8n-face experiment's helpers and the
precision it reports, counted as ``veil eval`` counts it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import photo_decide_train as tool  # noqa: E402

from veil.regions import Regions  # noqa: E402


def test_whole_scores_take_the_best_box_overlapping_enough():
    found = Regions(
        np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32),
        np.array([0.2, 0.7, 0.9], np.float32),
    )
    boxes = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [55, 55, 65, 65]], np.float32)
    # the first overlaps both of the first two (best 0.7); the last overlaps the 0.9 box
    # by IoU 25/175 < WHOLE_IOU, so it is not the same face
    assert tool.whole_scores(found, boxes).tolist() == [pytest.approx(0.7), 0.0, 0.0]
    assert tool.whole_scores(Regions.empty(), boxes).tolist() == [0.0, 0.0, 0.0]


class _Pass:
    def __init__(self, tile: bool) -> None:
        self.tile, self.max_side, self.calls = tile, 1280, []

    def detect(self, rgb, threshold, shared=None):
        self.calls.append(("detect", threshold))
        return Regions.empty()

    def single_pass(self, rgb, max_side, threshold, shared=None):
        self.calls.append(("single", max_side, threshold))
        return Regions.empty()


def test_whole_pass_tiles_only_when_the_detector_does():
    rgb = np.zeros((8, 8, 3), np.uint8)
    one, tiled = _Pass(False), _Pass(True)
    tool.whole_pass(one, rgb)
    tool.whole_pass(tiled, rgb)
    assert one.calls == [("single", 1280, tool.WHOLE_FLOOR)]
    assert tiled.calls == [("detect", tool.WHOLE_FLOOR)]


def _replay() -> dict:
    """One photo: a face and an ignore box; a true box, a loose second box on the face,
    a box on the ignore box (counted neither way) and one on nothing."""
    return {
        "photo": np.zeros(4, np.int64),
        "fused": np.array([0.9, 0.3, 0.5, 0.2], np.float32),
        "boxes": np.array(
            [[10, 10, 30, 30], [10, 10, 20, 30], [100, 100, 120, 120], [200, 0, 220, 20]],
            np.float32,
        ),
        "gt": np.array([[0, 20, 1, 1e4], [0, 20, 0, 1e4]], np.float64),  # photo, h, scored
        "gt_boxes": np.array([[10, 10, 30, 30], [100, 100, 120, 120]], np.float64),
        "yolo_photo": np.array([0, 0]),
        "yolo_pass": np.array([1, 0]),
        "yolo_boxes": np.array([[11, 10, 30, 31], [200, 0, 220, 20]], np.float32),
        "yolo_scores": np.array([0.8, 0.6], np.float32),
        "x": np.zeros((4, 2)),
    }


def test_precision_counts_as_veil_eval_and_add_whole_reads_one_pass():
    d = _replay()
    kept = np.ones(4, bool)
    assert tool.precision(d, kept) == (pytest.approx(1 / 3), 1, 2)
    kept[1] = False  # the loose second box on the matched face
    assert tool.precision(d, kept) == (pytest.approx(0.5), 1, 1)
    tool.add_whole(d, 1)
    # pass 1 saw the face only; pass 0's box on the clutter is not read
    assert d["x"].shape == (4, 3)
    assert d["x"][:, 2].tolist() == [pytest.approx(0.8), pytest.approx(0.8), 0.0, 0.0]
