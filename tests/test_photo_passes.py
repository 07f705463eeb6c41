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
from veil.detect import faces as faces_module
from veil.detect.orient import detect_any_angle, evidence_turn, probe, turn, unturn
from veil.regions import Regions, iou_matrix
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


@pytest.fixture(scope="module")
def tiled() -> FusedFaceDetector:
    (detector,) = build_detectors(DetectSettings(targets=("face",)))  # photos: tiles on
    assert isinstance(detector, FusedFaceDetector) and detector.members[0].tile
    return detector


def _tile_runs(
    detector, rgb: np.ndarray, threshold: float, shared: dict | None = None
) -> tuple[Regions, int]:
    """Faces, and the network runs on 640x640 tiles (the full and coarse passes are not)."""
    runs: Counter = Counter()
    for m in detector.members:
        original = m.session.run

        def run(outputs, feeds, *args, _original=original, **kwargs):
            runs[next(iter(feeds.values())).shape[2:] == (640, 640)] += 1
            return _original(outputs, feeds, *args, **kwargs)

        m.session.run = run
    try:
        return detector.detect(rgb, threshold, shared), runs[True]
    finally:
        for m in detector.members:
            del m.session.run


def test_enlarged_tiles_run_only_where_a_full_pass_saw_a_small_face(tiled, monkeypatch):
    """One small face in a corner of a 1024x768 photo: one tile of twelve per network.

    The 2x enlargement is cut into 4 x 3 tiles; where neither network's full pass
    saw a face-like box (of at most ``SMALL_FACE`` px, scoring ``TILE_EVIDENCE``), no
    tile runs: on faces_wider_val the same faces were masked (docs/photos.md).
    """
    astronaut = skimage_data.astronaut()
    face = np.asarray(Image.fromarray(astronaut[30:200, 160:290]).resize((19, 24)))
    rgb = np.full((768, 1024, 3), 90, np.uint8)
    rgb[100:124, 100:119] = face
    truth = np.array([[100, 100, 119, 124]], np.float32)
    found, runs = _tile_runs(tiled, rgb, 0.1)
    assert len(found) == 1 and iou_matrix(found.xyxy, truth)[0, 0] > 0.3  # the head, not the crop
    assert runs == 2  # the top-left tile, once per network
    blank, none = _tile_runs(tiled, np.full((768, 1024, 3), 90, np.uint8), 0.1)
    assert none == 0 and not len(blank)
    monkeypatch.setattr(faces_module, "TILE_EVIDENCE", 0.0)  # every tile, as before
    every, all_runs = _tile_runs(tiled, rgb, 0.1)
    assert all_runs == 24
    np.testing.assert_allclose(every.xyxy, found.xyxy, atol=1.0)


def test_every_tile_runs_when_the_orientation_is_unsure(tiled):
    """Through the orientation probe: a photo it is sure of gates its tiles, others not.

    Where no orientation has a sure face, the photo may be sideways, and sideways
    faces barely score in the full passes that choose the tiles: every tile runs
    (on faces_wider_val turned by 90 degrees, a face was lost without this).
    """
    rgb = np.full((768, 1024, 3), 90, np.uint8)
    _, blank_runs = _tile_runs_any_angle(tiled, rgb)
    assert blank_runs == 24
    astronaut = skimage_data.astronaut()
    rgb[400:670, 700:960] = np.asarray(Image.fromarray(astronaut[0:270, 130:390]))
    found, sure_runs = _tile_runs_any_angle(tiled, rgb)
    assert len(found) >= 1 and found.scores.max() > 0.5
    assert sure_runs < 24


def _tile_runs_any_angle(detector, rgb: np.ndarray) -> tuple[Regions, int]:
    class Probed:  # detect_any_angle's view of the detector, its detect counted
        def __getattr__(self, name):
            return getattr(detector, name)

        def detect(self, frame, threshold, shared=None):
            out[:] = _tile_runs(detector, frame, threshold, shared)
            return out[0]

    out: list = [None, 0]
    detect_any_angle(Probed(), rgb, 0.1)
    return out[0], out[1]
