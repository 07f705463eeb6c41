"""Metric code checked against hand-computed cases (tiny synthetic data, known answers)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from veil.evaluate import (
    IOU_THRESHOLDS,
    DetectionAccumulator,
    Evaluator,
    GroundTruth,
    MaskAccumulator,
    SpeedAccumulator,
    average_precision,
    central_coverage,
    changed_pixels,
    height_bucket,
    match_detections,
    over_mask_pixels,
    summary_table,
    write_report,
)
from veil.evaluate.metrics import FP, IGNORED, TP
from veil.regions import FACE, PLATE, Regions


def gt(x1, y1, x2, y2, label="face", ignore=False, oid=None) -> GroundTruth:
    return GroundTruth(label, x1, y1, x2, y2, ignore, None if oid is None else str(oid))


def dets(boxes, scores, label=FACE) -> Regions:
    return Regions(np.array(boxes, np.float32), np.array(scores, np.float32), [label] * len(boxes))


# -- matching ----------------------------------------------------------------------------


def test_tp_fp_fn_counts() -> None:
    truth = [gt(0, 0, 10, 10), gt(20, 20, 30, 30), gt(50, 50, 60, 60)]
    found = dets([[0, 0, 10, 10], [21, 20, 31, 30], [80, 80, 90, 90]], [0.9, 0.8, 0.7])
    acc = DetectionAccumulator("face")
    acc.update(truth, found)
    m = acc.compute()
    assert (m["tp"], m["fp"], m["fn"], m["n_gt"]) == (2, 1, 1, 3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    # IoU of the shifted box: 9*10 / (100 + 100 - 90)
    assert m["mean_iou"] == pytest.approx((1.0 + 90 / 110) / 2)


def test_ignore_boxes_are_neither_hits_nor_misses() -> None:
    truth = [gt(0, 0, 10, 10), gt(40, 40, 50, 50, ignore=True), gt(70, 70, 80, 80, ignore=True)]
    # one hit, two detections on the same ignore box, none on the other ignore box
    found = dets([[0, 0, 10, 10], [40, 40, 50, 50], [41, 40, 51, 50]], [0.5, 0.9, 0.8])
    m = match_detections(*_arrays(truth), found.xyxy, found.scores)
    assert m.status.tolist() == [TP, IGNORED, IGNORED]
    acc = DetectionAccumulator("face")
    acc.update(truth, found)
    r = acc.compute()
    assert (r["tp"], r["fp"], r["fn"], r["n_gt"]) == (1, 0, 0, 1)
    assert r["precision"] == 1.0 and r["recall"] == 1.0 and r["ap50"] == 1.0


def test_real_box_is_preferred_over_ignore_box() -> None:
    truth = [gt(0, 0, 10, 10, ignore=True), gt(1, 0, 11, 10)]
    m = match_detections(*_arrays(truth), np.array([[0, 0, 10, 10]]), np.array([0.9]))
    assert m.status.tolist() == [TP] and m.gt_index.tolist() == [1]


def test_duplicate_detection_is_false_positive() -> None:
    truth = [gt(0, 0, 10, 10)]
    m = match_detections(*_arrays(truth), np.array([[0, 0, 10, 10], [0, 0, 10, 9]]), [0.8, 0.9])
    # the higher score takes the box even though the other overlaps more
    assert m.status.tolist() == [FP, TP]


def test_score_ties_are_broken_by_input_order() -> None:
    truth = [gt(0, 0, 10, 10)]
    a, b = [0, 0, 10, 10], [0, 0, 10, 9]
    assert match_detections(*_arrays(truth), [a, b], [0.5, 0.5]).status.tolist() == [TP, FP]
    assert match_detections(*_arrays(truth), [b, a], [0.5, 0.5]).status.tolist() == [TP, FP]


def test_iou_ties_take_the_lowest_ground_truth_index() -> None:
    truth = [gt(0, 0, 10, 10), gt(0, 0, 10, 10)]
    m = match_detections(*_arrays(truth), [[0, 0, 10, 10], [0, 0, 10, 10]], [0.5, 0.5])
    assert m.gt_index.tolist() == [0, 1] and m.status.tolist() == [TP, TP]


def test_iou_exactly_at_threshold_matches() -> None:
    truth = [gt(0, 0, 10, 10)]
    m = match_detections(*_arrays(truth), [[0, 0, 10, 20]], [0.5])  # IoU 100/200
    assert m.status.tolist() == [TP]
    assert m.iou[0] == 0.5


# -- AP / mAP ----------------------------------------------------------------------------


def test_ap_of_known_ranking() -> None:
    # T, F, T with 2 ground truths: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    # all-point: 0.5 * 1 + 0.5 * 2/3 = 5/6
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), 2) == pytest.approx(
        5 / 6
    )
    assert average_precision(np.array([0.9, 0.8]), np.array([0, 1]), 1) == pytest.approx(0.5)
    assert average_precision(np.array([0.9]), np.array([1]), 2) == pytest.approx(0.5)
    assert average_precision(np.array([]), np.array([], bool), 2) == 0.0
    assert math.isnan(average_precision(np.array([0.9]), np.array([0]), 0))


def test_ap_ranking_through_accumulator_spans_images() -> None:
    acc = DetectionAccumulator("face")
    acc.update([gt(0, 0, 10, 10)], dets([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8]))
    acc.update([gt(0, 0, 10, 10)], dets([[0, 0, 10, 10]], [0.7]))
    m = acc.compute()
    assert m["ap50"] == pytest.approx(5 / 6)
    curve = acc.pr_curve()
    assert curve.recall.tolist() == [0.5, 0.5, 1.0]
    assert curve.precision == pytest.approx([1.0, 0.5, 2 / 3])
    assert curve.scores == pytest.approx([0.9, 0.8, 0.7])


def test_map_on_exact_boxes_is_one_and_on_iou_072_is_half() -> None:
    exact = DetectionAccumulator("face")
    exact.update([gt(0, 0, 100, 100), gt(200, 0, 230, 15)], dets([[0, 0, 100, 100]], [0.6]))
    exact.update([gt(200, 0, 230, 15)], dets([[200, 0, 230, 15]], [0.6]))
    exact_m = exact.compute()
    assert exact_m["recall"] == pytest.approx(2 / 3)  # one box missed in image 1
    exact2 = DetectionAccumulator("face")
    exact2.update([gt(0, 0, 100, 100)], dets([[0, 0, 100, 100]], [0.6]))
    assert exact2.compute()["map"] == 1.0
    # IoU 0.72 passes thresholds 0.50..0.70 (5 of 10): mAP = 0.5
    loose = DetectionAccumulator("face")
    loose.update([gt(0, 0, 100, 100)], dets([[0, 0, 100, 72]], [0.6]))
    m = loose.compute()
    assert len(IOU_THRESHOLDS) == 10 and IOU_THRESHOLDS[4] == 0.7
    assert m["ap50"] == 1.0 and m["map"] == pytest.approx(0.5)
    assert m["mean_iou"] == pytest.approx(0.72)


def test_operating_threshold_filters_pr_but_not_ap() -> None:
    acc = DetectionAccumulator("face", threshold=0.5)
    truth = [gt(0, 0, 10, 10), gt(20, 0, 30, 10)]
    acc.update(truth, dets([[0, 0, 10, 10], [20, 0, 30, 10], [60, 0, 70, 10]], [0.9, 0.3, 0.2]))
    m = acc.compute()
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 1)
    assert m["precision"] == 1.0 and m["recall"] == 0.5
    assert m["ap50"] == 1.0  # ranking T, T, F reaches recall 1 at precision 1
    assert m["threshold"] == 0.5


def test_other_classes_are_not_mixed() -> None:
    acc = DetectionAccumulator("face")
    truth = [gt(0, 0, 10, 10), gt(0, 0, 10, 10, label="plate")]
    acc.update(truth, dets([[0, 0, 10, 10]], [0.9], label=PLATE))
    m = acc.compute()
    assert (m["tp"], m["fp"], m["fn"]) == (0, 0, 1)


def test_empty_is_nan_not_zero() -> None:
    acc = DetectionAccumulator("face")
    acc.update([], Regions.empty())
    m = acc.compute()
    assert all(math.isnan(m[k]) for k in ("precision", "recall", "f1", "ap50", "map", "mean_iou"))


def test_merge_equals_one_pass() -> None:
    data = [
        ([gt(0, 0, 10, 10)], dets([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8])),
        ([gt(0, 0, 10, 10), gt(30, 30, 90, 90)], dets([[0, 0, 10, 10]], [0.7])),
    ]
    one = DetectionAccumulator("face")
    parts = [DetectionAccumulator("face"), DetectionAccumulator("face")]
    for (truth, found), part in zip(data, parts, strict=True):
        one.update(truth, found)
        part.update(truth, found)
    parts[0].merge(parts[1])
    assert json.dumps(parts[0].compute(), sort_keys=True) == json.dumps(
        one.compute(), sort_keys=True
    )
    with pytest.raises(ValueError):
        one.merge(DetectionAccumulator("plate"))


# -- height buckets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "bucket"),
    [(0, "<20"), (19.9, "<20"), (20, "20-50"), (49.99, "20-50"), (50, "50-100"),
     (99.9, "50-100"), (100, ">=100"), (5000, ">=100")],
)  # fmt: skip
def test_bucket_edges(height: float, bucket: str) -> None:
    assert height_bucket(height) == bucket


def test_by_height_buckets() -> None:
    acc = DetectionAccumulator("face")
    truth = [gt(0, 0, 10, 10), gt(100, 0, 130, 30), gt(200, 0, 320, 120), gt(400, 0, 448, 48)]
    found = dets(
        [
            [100, 0, 130, 30],  # TP, 30 px
            [200, 0, 320, 120],  # TP, 120 px
            [600, 0, 660, 60],  # FP, 60 px
            [400, 0, 452, 52],  # TP of a 48 px box, itself 52 px high
        ],
        [0.9, 0.8, 0.7, 0.6],
    )
    acc.update(truth, found)
    by = acc.compute()["by_height"]
    assert list(by) == ["<20", "20-50", "50-100", ">=100"]
    assert (by["<20"]["n_gt"], by["<20"]["tp"], by["<20"]["recall"]) == (1, 0, 0.0)
    assert (by["20-50"]["tp"], by["20-50"]["fp"], by["20-50"]["n_gt"]) == (2, 0, 2)
    assert by["20-50"]["precision"] == 1.0
    # the 52 px detection counts in its ground truth's bucket, not as an FP here
    assert (by["50-100"]["tp"], by["50-100"]["fp"], by["50-100"]["n_gt"]) == (0, 1, 0)
    assert by["50-100"]["precision"] == 0.0 and math.isnan(by["50-100"]["recall"])
    assert (by[">=100"]["tp"], by[">=100"]["fp"], by[">=100"]["recall"]) == (1, 0, 1.0)
    assert by[">=100"]["ap50"] == 1.0


# -- masking -----------------------------------------------------------------------------


def test_central_coverage_pixels() -> None:
    changed = np.zeros((20, 20), bool)
    changed[2:8, 2:8] = True  # exactly the central 6x6 of a 10x10 box
    assert central_coverage(changed, [[0, 0, 10, 10]]).tolist() == [1.0]
    changed[2, 2] = False
    assert central_coverage(changed, [[0, 0, 10, 10]])[0] == pytest.approx(35 / 36)
    assert np.isnan(central_coverage(changed, [[30, 30, 40, 40]])[0])  # outside the image


def test_masked_rate_of_known_mask() -> None:
    truth = [gt(0, 0, 100, 100), gt(200, 0, 300, 100), gt(0, 200, 100, 300, ignore=True)]
    changed = np.zeros((300, 300), bool)
    changed[0:100, 0:100] = True  # box 1 fully
    changed[20:80, 220:271] = True  # box 2: 51 of its 60 central columns = 85%
    acc = MaskAccumulator("face")
    acc.update(truth, changed)
    m = acc.compute()
    assert m["masked_rate"] == 0.5  # the ignore box is not scored
    assert m["by_height"][">=100"] == 0.5 and math.isnan(m["by_height"]["<20"])
    assert m["leak_rate"] is not None and math.isnan(m["leak_rate"])  # no video
    assert m["objects"] is None
    changed[20:80, 271:274] = True  # 54 of 60 columns = 90%: counts
    acc = MaskAccumulator("face")
    acc.update(truth, changed)
    assert acc.compute()["masked_rate"] == 1.0


def test_over_mask_with_growth() -> None:
    changed = np.zeros((100, 100), bool)
    changed[30:70, 40:60] = True  # 800 px around a 20x20 box at (40..60)
    box = [[40, 40, 60, 60]]
    # grown by 50% -> rows 35..65 allowed: 30*20 = 600 inside, 200 outside
    assert over_mask_pixels(changed, box, growth=0.5) == (200, 800)
    assert over_mask_pixels(changed, box, growth=0.0) == (400, 800)
    assert over_mask_pixels(np.zeros((5, 5), bool), box) == (0, 0)
    acc = MaskAccumulator("face", growth=0.0)
    acc.update([gt(40, 40, 60, 60)], changed)
    assert acc.compute()["over_mask"] == 0.5
    acc = MaskAccumulator("face")
    acc.update([gt(40, 40, 60, 60)], changed)
    m = acc.compute()
    assert m["over_mask"] == 0.25 and m["over_mask_growth"] == 0.5


def test_masking_ignore_box_is_not_over_mask() -> None:
    changed = np.zeros((50, 50), bool)
    changed[0:10, 0:10] = True
    acc = MaskAccumulator("face", growth=0.0)
    acc.update([gt(0, 0, 10, 10, ignore=True)], changed)
    m = acc.compute()
    assert m["over_mask"] == 0.0 and math.isnan(m["masked_rate"])


def test_changed_pixels() -> None:
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[1, 2, 0] = 1
    out = changed_pixels(a, b)
    assert out.shape == (4, 5) and out.sum() == 1 and out[1, 2]
    with pytest.raises(ValueError):
        changed_pixels(a, b[:2])


def test_video_leaks_per_object() -> None:
    acc = MaskAccumulator("face")
    h = w = 100
    masked_all = np.ones((h, w), bool)
    only_left = np.zeros((h, w), bool)
    only_left[:, :50] = True
    obj1, obj2 = gt(0, 0, 20, 20, oid=1), gt(60, 0, 80, 20, oid=2)
    acc.update([obj1, obj2], masked_all, source="a.mp4")
    acc.update([obj1, obj2], only_left, source="a.mp4")  # object 2 leaks
    acc.update([obj1, obj2, gt(60, 60, 80, 80)], only_left, source="a.mp4")  # 2 and anon leak
    other = MaskAccumulator("face")  # same id in another video is another object
    other.update([gt(0, 0, 20, 20, oid=1)], masked_all, source="b.mp4")
    acc.merge(other)
    m = acc.compute()
    assert m["leak_rate"] == pytest.approx(3 / 8)
    assert (m["leaked_objects"], m["objects"]) == (2, 4)


def test_evaluator_per_class_masks() -> None:
    ev = Evaluator(("face", "plate"), thresholds={"face": 0.3, "plate": 0.2}, growth=0.0)
    truth = [gt(0, 0, 10, 10), gt(50, 50, 70, 60, label="plate")]
    found = Regions(
        np.array([[0, 0, 10, 10], [50, 50, 70, 60]], np.float32), [0.9, 0.25], [FACE, PLATE]
    )
    face_mask = np.zeros((100, 100), bool)
    plate_mask = np.zeros((100, 100), bool)
    plate_mask[0:10, 0:10] = True  # the plate's mask happens to cover the face
    plate_mask[50:60, 50:70] = True
    face_mask[90:100, 90:100] = True  # the face mask is all outside
    ev.add(truth, found, {"face": face_mask, "plate": plate_mask}, seconds=0.01)
    m = ev.compute(device="cpu", provider="CPUExecutionProvider", threads=2)
    assert m["face"]["masked_rate"] == 1.0  # hidden, whichever mask did it
    assert m["face"]["over_mask"] == 1.0
    assert m["plate"]["over_mask"] == 0.0
    assert m["plate"]["recall"] == 1.0 and m["plate"]["threshold"] == 0.2
    assert m["face"]["by_height"]["<20"]["masked_rate"] == 1.0
    assert m["speed"]["device"] == "cpu" and m["speed"]["threads"] == 2


# -- speed -------------------------------------------------------------------------------


def test_speed_percentiles_and_throughput() -> None:
    acc = SpeedAccumulator()
    for s in (0.01, 0.02, 0.03):
        acc.add(s)
    other = SpeedAccumulator()
    other.add(0.08, items=2)  # a batch of two: 40 ms each
    acc.merge(other)
    m = acc.compute(device="cpu", threads=1)
    assert m["latency_ms_p50"] == pytest.approx(30.0)
    assert m["latency_ms_p95"] == pytest.approx(40.0)
    assert m["throughput"] == pytest.approx(5 / 0.14)
    assert acc.compute(wall_seconds=0.1)["throughput"] == pytest.approx(50.0)
    assert math.isnan(SpeedAccumulator().compute()["latency_ms_p50"])


# -- report ------------------------------------------------------------------------------


METRIC_KEYS = {
    "precision", "recall", "f1", "mean_iou", "ap50", "map", "masked_rate", "over_mask",
    "threshold", "by_height",
}  # fmt: skip


def _small_eval() -> Evaluator:
    ev = Evaluator(("face", "plate"), thresholds=0.3)
    changed = np.zeros((100, 100), bool)
    changed[0:10, 0:10] = True
    ev.add([gt(0, 0, 10, 10)], dets([[0, 0, 10, 10]], [0.9]), changed, seconds=0.02)
    return ev


def test_report_without_matplotlib(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    ev = _small_eval()
    written = write_report(tmp_path, ev.compute(device="cpu"), ev.pr_curves())
    assert {p.name for p in written} == {"metrics.json", "report.md"}
    assert "matplotlib is not installed" in (tmp_path / "report.md").read_text()
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert set(data) == {"face", "plate", "speed"}
    assert set(data["face"]) >= METRIC_KEYS
    assert set(data["face"]["by_height"]) == {"<20", "20-50", "50-100", ">=100"}
    assert data["plate"]["recall"] is None  # NaN -> null
    assert data["face"]["recall"] == 1.0
    assert {"latency_ms_p50", "latency_ms_p95", "throughput", "device", "threads"} <= set(
        data["speed"]
    )


def test_report_with_plots(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    ev = _small_eval()
    written = write_report(tmp_path, ev.compute(), ev.pr_curves())
    names = {p.name for p in written}
    assert {"pr_curve.png", "by_height.png"} <= names
    assert (tmp_path / "pr_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "![pr_curve](pr_curve.png)" in (tmp_path / "report.md").read_text()


def test_summary_table() -> None:
    table = summary_table(_small_eval().compute(device="cpu", threads=2))
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["class", "P", "R", "F1"]
    assert lines[1].startswith("face") and lines[2].startswith("plate")
    assert "speed:" in table and "cpu" in table and "2 threads" in table


def _arrays(boxes):
    from veil.evaluate import boxes_to_arrays

    return boxes_to_arrays(boxes)
