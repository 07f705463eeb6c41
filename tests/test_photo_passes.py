"""A photo's face passes: the orientation probe's upright pass is not run twice (issue 29).

The probe's upright pass shows YuNet-n the frame at 640 px, the picture YuNet's
coarse pass (or, for a frame of at most 640 px, its full pass) sees again when
the photo is detected upright. The probe now runs that pass down to the
detector's pass floor and leaves it for the detection: one network run fewer a
photo, with the same orientation decision and the same faces as before.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from veil.detect import FusedFaceDetector, build_detectors
from veil.detect.orient import detect_any_angle, evidence_turn, probe, turn, unturn
from veil.regions import Regions
from veil.settings import DetectSettings

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def faces() -> FusedFaceDetector:
    # the tiles are left out: they are not shared, and would make the test slow
    (detector,) = build_detectors(DetectSettings(targets=("face",), face_tile=False))
    assert isinstance(detector, FusedFaceDetector)
    return detector


def _crowd(width: int, height: int, face_h: int) -> np.ndarray:
    """Six faces (the astronaut's) on a grey canvas."""
    astronaut = skimage_data.astronaut()
    face_w = round(face_h * 0.78)
    face = np.asarray(Image.fromarray(astronaut[30:200, 160:290]).resize((face_w, face_h)))
    canvas = np.full((height, width, 3), 90, np.uint8)
    for i in range(3):
        for j in range(2):
            y, x = height // 8 + j * height // 2, width // 10 + i * width // 3
            canvas[y : y + face_h, x : x + face_w] = face
    return canvas


def _before(detector, rgb: np.ndarray, threshold: float) -> tuple[int, Regions]:
    """The orientation and faces as found before the reuse (no pass shared)."""
    h, w = rgb.shape[:2]
    k = evidence_turn(probe(detector, rgb))
    return k, unturn(detector.detect(turn(rgb, k), threshold), k, w, h)


def _count_runs(detector) -> Counter:
    runs: Counter = Counter()
    for m in detector.members:
        original = m.session.run

        def run(*args, _original=original, _name=m.path.name, **kwargs):
            runs[_name] += 1
            return _original(*args, **kwargs)

        m.session.run = run
    return runs


@pytest.mark.parametrize(
    ("size", "face_h"),
    [((640, 480), 40), ((1024, 768), 60)],  # the full pass's picture, the coarse pass's
    ids=["full-pass", "coarse-pass"],
)
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_the_probe_pass_is_reused_with_the_same_decision_and_faces(faces, size, face_h, k):
    rgb = np.ascontiguousarray(np.rot90(_crowd(*size, face_h), k))
    threshold = 0.1  # the fused default
    shared: dict = {}
    turn_now = evidence_turn(probe(faces, rgb, shared, faces.pass_floor(threshold)))
    turn_before, found_before = _before(faces, rgb, threshold)
    assert turn_now == turn_before == (4 - k) % 4
    runs = _count_runs(faces)
    try:
        found = detect_any_angle(faces, rgb, threshold)
        reused = runs["yunet_n.onnx"]
        runs.clear()
        _before(faces, rgb, threshold)
        again = runs["yunet_n.onnx"]
    finally:
        for m in faces.members:
            del m.session.run  # the instance attribute set by _count_runs
    assert len(found_before) >= 6
    # upright, the probe's pass is the detection's; turned, nothing is shared
    assert reused == again - (1 if k == 0 else 0)
    # the faces: the same boxes and scores (turned: plus the probe's confident extras,
    # none here, since every face is turned alike)
    np.testing.assert_array_equal(found.scores[: len(found_before)], found_before.scores)
    np.testing.assert_array_equal(
        found.xyxy[: len(found_before)], found_before.clip(rgb.shape[1], rgb.shape[0]).xyxy
    )
