"""Evaluation: datasets, matching, metrics (update/merge/compute accumulators), report.

Typical use (what ``veil eval`` does)::

    ds = load_dataset("annotations.json")
    ev = Evaluator(("face",), thresholds={"face": 0.3})
    for item in ds.images:
        ev.add(item.boxes, detections, changed, seconds=elapsed)
    metrics = ev.compute(device="cpu", provider="CPUExecutionProvider", threads=2)
    write_report(out_dir, metrics, ev.pr_curves())
"""

from .dataset import (
    Dataset,
    GroundTruth,
    ImageItem,
    VideoItem,
    boxes_to_arrays,
    boxes_to_regions,
    load_dataset,
    regions_to_boxes,
    regions_to_dataset_entry,
    video_to_dataset_entry,
    write_detections_json,
)
from .metrics import (
    HEIGHT_BUCKETS,
    IOU_THRESHOLDS,
    DetectionAccumulator,
    Evaluator,
    MaskAccumulator,
    Match,
    PRCurve,
    SpeedAccumulator,
    average_precision,
    central_coverage,
    changed_pixels,
    height_bucket,
    match_detections,
    over_mask_pixels,
)
from .report import clean_metrics, summary_table, write_metrics_json, write_report

__all__ = [
    "HEIGHT_BUCKETS",
    "IOU_THRESHOLDS",
    "Dataset",
    "DetectionAccumulator",
    "Evaluator",
    "GroundTruth",
    "ImageItem",
    "MaskAccumulator",
    "Match",
    "PRCurve",
    "SpeedAccumulator",
    "VideoItem",
    "average_precision",
    "boxes_to_arrays",
    "boxes_to_regions",
    "central_coverage",
    "changed_pixels",
    "clean_metrics",
    "height_bucket",
    "load_dataset",
    "match_detections",
    "over_mask_pixels",
    "regions_to_boxes",
    "regions_to_dataset_entry",
    "summary_table",
    "video_to_dataset_entry",
    "write_detections_json",
    "write_metrics_json",
    "write_report",
]
