"""A learned decision for the photo path's LARGE fused face clusters.

The fused photo detector (``veil.detect.fused``) scores a cluster by the mean of
YuNet-n's and CenterFace's best scores. Its false masks are few but large: boxes
of 100 px and taller are 2% of its false detections and 68% of their area,
nearly all scoring 0.1-0.3 (docs/quality.md), and a flat rule for large boxes
loses the faces one network misses (their mean is halved). Here a small
gradient-boosted model, fitted at development time on WIDER FACE *training*
photos only (``tools/photo_decide_train.py``), re-decides the clusters at least
``min_height`` px tall from more evidence: each network's best score and how
many of its boxes agree, size, shape and position. YOLOv8n-face's score on a crop
around the box is a feature the tool can fit with (``fit --yolo``); the bundled
model does not use it (no better at equal recall, a network run per box), so it
runs no network. Smaller clusters keep the hand fusion's score.

The model can only veto: a large cluster whose P(face) is under the operating
point, chosen on the training photos for recall first (as many training faces
masked as the hand fusion masks), gets a score under the default face
threshold; every other score stays the hand fusion's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..regions import iou_matrix
from .model import read_model_file

BUNDLED = Path(__file__).resolve().parents[1] / "models" / "decide_photo_faces.json"

#: per-cluster features, in the model's column order
FEATURES = (
    "yunet",  # YuNet-n's best score in the cluster (0: none)
    "centerface",  # CenterFace's best score
    "fused",  # the hand fusion: the mean of the two
    "log_n_yunet",  # log(1 + YuNet boxes scoring >= COUNT_FLOOR in the cluster)
    "log_n_centerface",
    "log_height",  # log2 of the box height in frame pixels
    "log_rel_height",  # log2 of the box height over the frame height
    "log_aspect",  # log2(width / height)
    "centre_y",  # box centre over the frame height
    "edge_x",  # distance of the centre to the nearer side, over the frame width
    "yolo_crop",  # YOLOv8n-face's best overlapping score on a crop around the box
)
#: the crop around a box that YOLOv8n-face is shown: this many box sides, square
CROP_CONTEXT = 2.0
#: ... shrunk to at most this long side (a face then fills about half of it)
CROP_SIDE = 256
#: YOLOv8n-face boxes down to this score count on the crop
CROP_FLOOR = 0.01
#: a crop box overlapping the cluster's box by at least this IoU is the same face
CROP_IOU = 0.3
#: clusters whose best member score is below this are left alone: ``veil mask`` at the
#: default threshold asks its members for nothing lower (fused.MEMBER_FLOOR x 0.1)
MIN_EVIDENCE = 0.05


def trees_margin(doc: dict, x: np.ndarray) -> np.ndarray:
    """The raw log-odds of a gradient-boosted ensemble stored as arrays (see the tool)."""
    out = np.full(len(x), float(doc["init"]), np.float64)
    rate = float(doc["learning_rate"])
    for t in doc["trees"]:
        feat = np.asarray(t["feature"], np.int64)
        thr = np.asarray(t["threshold"], np.float64)
        left = np.asarray(t["left"], np.int64)
        right = np.asarray(t["right"], np.int64)
        value = np.asarray(t["value"], np.float64)
        node = np.zeros(len(x), np.int64)
        for _ in range(int(t["depth"])):
            f = feat[node]
            inner = f >= 0
            go_left = x[np.arange(len(x)), np.maximum(f, 0)] <= thr[node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        out += rate * value[node]
    return out


def cluster_features(
    boxes: np.ndarray,
    best: np.ndarray,
    count: np.ndarray,
    height: int,
    width: int,
    yolo: np.ndarray | None = None,
) -> np.ndarray:
    """(N, len(FEATURES)) float64 features of fused clusters (members: YuNet, CenterFace)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    bw = np.maximum(b[:, 2] - b[:, 0], 1.0)
    bh = np.maximum(b[:, 3] - b[:, 1], 1.0)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    best = np.asarray(best, np.float64).reshape(-1, 2)
    count = np.asarray(count, np.float64).reshape(-1, 2)
    crop = np.zeros(len(b)) if yolo is None else np.asarray(yolo, np.float64)
    return np.stack(
        [
            best[:, 0],
            best[:, 1],
            best.mean(axis=1),
            np.log1p(count[:, 0]),
            np.log1p(count[:, 1]),
            np.log2(bh),
            np.log2(bh / max(height, 1)),
            np.log2(bw / bh),
            cy / max(height, 1),
            np.minimum(cx, width - cx) / max(width, 1),
            crop,
        ],
        axis=1,
    )


def crop_scores(yolo: Any, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """YOLOv8n-face's best score overlapping each box, on a crop around it (0: none)."""
    h, w = rgb.shape[:2]
    out = np.zeros(len(boxes), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64)):
        half = max(x2 - x1, y2 - y1) * CROP_CONTEXT / 2
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        cx1, cy1 = max(0, int(cx - half)), max(0, int(cy - half))
        cx2, cy2 = min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half)))
        if cx2 - cx1 < 8 or cy2 - cy1 < 8:
            continue
        found = yolo.single_pass(rgb[cy1:cy2, cx1:cx2], CROP_SIDE, CROP_FLOOR)
        if not len(found):
            continue
        own = np.array([[x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1]], np.float32)
        same = iou_matrix(own, found.xyxy)[0] >= CROP_IOU
        if same.any():
            out[i] = float(found.scores[same].max())
    return out


class PhotoFaceDecision:
    """Vetoes fused clusters of at least ``min_height`` px that the model doubts.

    A veto only lowers a score: a cluster the hand fusion keeps is dropped when
    P(face) is under the operating point, and nothing the hand fusion drops is
    added (a model that could also add kept far more clutter at the same recall
    on the training photos, docs/decide.md). ``yolo``: a callable giving a
    YOLOv8n-face :class:`~veil.detect.faces.FaceDetector` for the crops, asked for
    only by a model that uses them.
    """

    def __init__(self, doc: dict, yolo: Callable[[], Any] | None = None) -> None:
        if tuple(doc.get("features", ())) != FEATURES:
            raise ValueError(f"photo decision model has features {doc.get('features')!r}, "
                             f"expected {FEATURES!r}")  # fmt: skip
        # the trees' lists as arrays once, not on every photo
        trees = [{k: np.asarray(v) for k, v in t.items()} for t in doc["trees"]]
        self.doc = {**doc, "trees": trees}
        self.min_height = float(doc["min_height"])
        #: P(face) at the operating point, and the fused score it is mapped to
        self.cut = float(doc["operating_point"])
        self.threshold = float(doc["fused_threshold"])
        self.uses_yolo = bool(doc.get("uses_yolo", False))
        if self.uses_yolo and yolo is None:
            raise ValueError("this photo decision model needs YOLOv8n-face for its crops")
        self.yolo = yolo() if self.uses_yolo and yolo is not None else None

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(face) for rows of :data:`FEATURES`."""
        return 1.0 / (1.0 + np.exp(-trees_margin(self.doc, np.asarray(x, np.float64))))

    def rescore(
        self,
        rgb: np.ndarray,
        boxes: np.ndarray,
        best: np.ndarray,
        count: np.ndarray,
        fused: np.ndarray,
    ) -> np.ndarray:
        """``fused``, the large clusters under the operating point lowered beneath the
        threshold (to ``threshold * P / cut``, so they still rank by P for AP)."""
        h, w = rgb.shape[:2]
        tall = (boxes[:, 3] - boxes[:, 1] >= self.min_height) & (best.max(axis=1) >= MIN_EVIDENCE)
        if not tall.any():
            return fused
        idx = np.flatnonzero(tall)
        crop = crop_scores(self.yolo, rgb, boxes[idx]) if self.yolo is not None else None
        p = self.probability(cluster_features(boxes[idx], best[idx], count[idx], h, w, crop))
        doubt = p < self.cut
        out = fused.copy()
        low = (self.threshold * p / self.cut).astype(np.float32)
        out[idx[doubt]] = np.minimum(fused[idx[doubt]], low[doubt])
        return out


def load(path: str | Path, yolo: Callable[[], Any] | None = None) -> PhotoFaceDecision:
    """A decision model file (JSON written by ``tools/photo_decide_train.py fit``);
    one that cannot be read or is malformed fails with veil's ModelError, as the
    video decision's does (:func:`veil.decide.model.read_model_file`)."""
    doc, _ = read_model_file(path)
    try:
        return PhotoFaceDecision(doc, yolo)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"photo decision model {path}: malformed ({exc})") from exc
