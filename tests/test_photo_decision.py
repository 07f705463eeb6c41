"""The photo path's learned decision for large fused face clusters (veil.decide.photo)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from veil.decide import photo
from veil.detect.fused import clusters, fuse

MODELS_MD = photo.BUNDLED.with_name("MODELS.md")
needs_model = pytest.mark.skipif(not photo.BUNDLED.is_file(), reason="no bundled photo model")


class _Yolo:
    """A stand-in crop verifier: sees a face of ``score`` filling the crop's middle."""

    def __init__(self, score: float) -> None:
        self.score, self.calls = score, 0

    def single_pass(self, crop, max_side, threshold):
        from veil.regions import Regions

        self.calls += 1
        h, w = crop.shape[:2]
        box = np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32)
        return Regions(box, np.array([self.score], np.float32))


def _tiny_model(min_height: float = 64.0) -> dict:
    """One stump on YOLO's crop score: > 0.5 -> log-odds +2, else -2; cut at P = 0.5."""
    return {
        "features": list(photo.FEATURES),
        "min_height": min_height,
        "operating_point": 0.5,
        "fused_threshold": 0.1,
        "uses_yolo": True,
        "init": 0.0,
        "learning_rate": 1.0,
        "trees": [
            {
                "feature": [photo.FEATURES.index("yolo_crop"), -1, -1],
                "threshold": [0.5, 0.0, 0.0],
                "left": [1, 1, 2],
                "right": [2, 1, 2],
                "value": [0.0, -2.0, 2.0],
                "depth": 1,
            }
        ],
    }


def test_clusters_agree_with_fuse_and_count_sure_boxes():
    xyxy = np.array([[10, 10, 50, 50], [12, 11, 51, 50], [11, 10, 50, 52], [200, 200, 220, 220]],
                    np.float32)  # fmt: skip
    scores = np.array([0.9, 0.04, 0.6, 0.3], np.float32)
    member = np.array([0, 0, 1, 1])
    boxes, best, count = clusters(xyxy, scores, member, 2, 0.4)
    b2, fused = fuse(xyxy, scores, member, 2, 0.4)
    np.testing.assert_allclose(boxes, b2)
    np.testing.assert_allclose(best.mean(axis=1), fused, rtol=1e-6)
    assert best.tolist() == [[pytest.approx(0.9), pytest.approx(0.6)], [0.0, pytest.approx(0.3)]]
    # the 0.04 box joins the first cluster but is under COUNT_FLOOR: not counted
    assert count.tolist() == [[1.0, 1.0], [0.0, 1.0]]


def test_decision_rescored_only_large_clusters_with_evidence():
    yolo = _Yolo(0.9)
    d = photo.PhotoFaceDecision(_tiny_model(), lambda: yolo)
    rgb = np.zeros((400, 400, 3), np.uint8)
    boxes = np.array([[10, 10, 40, 40], [100, 100, 200, 220], [250, 250, 350, 370]], np.float32)
    best = np.array([[0.5, 0.4], [0.05, 0.2], [0.01, 0.02]], np.float32)
    count = np.ones((3, 2), np.float32)
    fused = best.mean(axis=1)
    out = d.rescore(rgb, boxes, best, count, fused)
    assert out[0] == fused[0]  # small: the hand fusion's score
    assert out[2] == fused[2]  # large but no member reached MIN_EVIDENCE
    assert out[1] == fused[1] > 0.1  # the crop saw a face: the hand fusion's score stands
    assert yolo.calls == 1
    d.yolo = _Yolo(0.2)
    low = d.rescore(rgb, boxes, best, count, fused)
    assert low[1] < 0.1  # the crop saw nothing sure: vetoed under the threshold
    assert low[[0, 2]].tolist() == fused[[0, 2]].tolist()
    # a veto never raises a score: a cluster under the threshold stays under it
    weak = np.array([0.01, 0.09, 0.01], np.float32)
    assert np.all(d.rescore(rgb, boxes, best, count, weak) <= weak)


def test_model_needs_its_features_and_verifier():
    doc = _tiny_model()
    with pytest.raises(ValueError, match="YOLOv8n-face"):
        photo.PhotoFaceDecision(doc, None)
    with pytest.raises(ValueError, match="features"):
        photo.PhotoFaceDecision({**doc, "features": ["yunet"]}, lambda: _Yolo(0.5))


def test_a_model_file_that_cannot_be_read_fails_with_veils_model_error(tmp_path):
    import json

    from veil.errors import ModelError

    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        photo.load(bad)
    with pytest.raises(ModelError, match="cannot read"):
        photo.load(tmp_path / "missing.json")
    bad.write_text(json.dumps({**_tiny_model(), "features": ["yunet"]}))
    with pytest.raises(ModelError, match="malformed"):
        photo.load(bad)


@needs_model
def test_bundled_model_loads_and_its_sha256_is_in_models_md():
    digest = hashlib.sha256(photo.BUNDLED.read_bytes()).hexdigest()
    text = MODELS_MD.read_text()
    section = text.split("## decide_photo_faces.json", 1)
    assert len(section) == 2, "MODELS.md has no decide_photo_faces.json section"
    assert re.search(rf"bundled sha256 \| `{digest}`", section[1])
    d = photo.load(photo.BUNDLED, lambda: _Yolo(0.9))
    assert d.min_height > 0 and 0 < d.cut < 1 and d.threshold == pytest.approx(0.1)

    def row(**values: float) -> np.ndarray:
        """A 200 px cluster in a 1000 px photo with these member features."""
        x = np.zeros((1, len(photo.FEATURES)))
        base = {"log_height": np.log2(200), "log_rel_height": np.log2(0.2), "centre_y": 0.4,
                "edge_x": 0.4, **values}  # fmt: skip
        for name, v in base.items():
            x[0, photo.FEATURES.index(name)] = v
        return x

    both = row(yunet=0.9, centerface=0.9, fused=0.9, log_n_yunet=np.log(3),
               log_n_centerface=np.log(3))  # fmt: skip
    one_sure = row(yunet=0.8, fused=0.4, log_n_yunet=np.log(3))
    one_weak = row(centerface=0.25, fused=0.125, log_n_centerface=np.log(2))
    assert d.probability(both)[0] > 0.9
    assert d.probability(one_sure)[0] >= d.cut  # a face one network misses is kept
    assert d.probability(one_weak)[0] < d.cut  # a weak one-network large box is not


@needs_model
def test_bundled_detector_gets_it_for_photos_only():
    from veil.detect import build_detectors
    from veil.settings import DetectSettings

    (faces,) = build_detectors(DetectSettings(targets=("face",)))
    assert isinstance(faces.decision, photo.PhotoFaceDecision)
    (video,) = build_detectors(
        DetectSettings(targets=("face",), face_models="fused", face_tile=False)
    )
    assert video.decision is None
