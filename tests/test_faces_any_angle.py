"""Face detection: YuNet, the fused image detector, faces at any angle."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from veil.detect import YuNetDetector, load_model
from veil.detect.fused import fuse
from veil.detect.orient import dominant_turn, unturn
from veil.detect.yunet import BUNDLED as YUNET
from veil.evaluate.dataset import GroundTruth
from veil.evaluate.metrics import MaskAccumulator
from veil.pipeline import Engine
from veil.regions import FACE, Regions, iou_matrix
from veil.settings import DetectSettings, Settings

skimage_data = pytest.importorskip("skimage.data")
ASTRONAUT_FACE = np.array([[175, 50, 275, 185]], np.float32)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Settings(detect=DetectSettings(targets=("face",))))


@pytest.fixture(scope="module")
def crowd(astronaut) -> np.ndarray:
    """Six small faces (40 px): unlike a close-up, small faces are lost when turned."""
    face = np.asarray(Image.fromarray(astronaut[30:200, 160:290]).resize((31, 40)))
    canvas = np.full((480, 640, 3), 90, np.uint8)
    for i in range(3):
        for j in range(2):
            y, x = 60 + j * 200, 60 + i * 200
            canvas[y : y + 40, x : x + 31] = face
    return canvas


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_unturn_maps_boxes_back(k):
    mask = np.zeros((100, 200), bool)
    mask[20:60, 10:40] = True
    ys, xs = np.nonzero(np.rot90(mask, k))
    found = Regions(
        np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32),
        np.ones(1, np.float32),
        np.full(1, FACE, np.int16),
    )
    np.testing.assert_allclose(unturn(found, k, 200, 100).xyxy, [[10, 20, 40, 60]])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_turned_crowd_is_found_where_it_is(engine, crowd, k):
    turned = np.ascontiguousarray(np.rot90(crowd, k))
    upright = engine.detect(crowd).of_class(FACE)
    assert len(upright) == 6
    found = engine.detect(turned).of_class(FACE)
    assert len(found) == 6
    expected = unturn(upright, (4 - k) % 4, turned.shape[1], turned.shape[0])
    assert (iou_matrix(found.xyxy, expected.xyxy).max(axis=1) > 0.6).all()


def test_turned_faces_score_higher_with_any_angle(engine, crowd):
    """Turned, the enlarged tiles still see the faces but barely; turned back, surely."""
    turned = np.ascontiguousarray(np.rot90(crowd, 1))
    e = Engine(Settings(detect=DetectSettings(targets=("face",), any_angle=False)))
    off = e.detect(turned).of_class(FACE).scores
    on = engine.detect(turned).of_class(FACE).scores
    assert len(on) == 6 and on.min() > off.max(initial=0.0) + 0.1


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_dominant_turn_of_a_clip_frame(crowd, k):
    assert dominant_turn(YuNetDetector(), np.ascontiguousarray(np.rot90(crowd, k))) == (4 - k) % 4


def test_a_clip_judged_turned_is_still_searched_upright(engine, crowd):
    """The probe sees one frame of a clip: if it wrongly says "turned", the clip's
    upright faces must still be found on every frame."""
    for k in (1, 2, 3):
        found = engine.detect(crowd, video=True, face_turn=k).of_class(FACE)
        upright = found[found.scores >= 0.3]
        assert len(upright) >= 6


def test_a_noise_frame_stays_upright():
    noise = np.random.default_rng(1).integers(0, 255, (360, 640, 3), np.uint8)
    assert dominant_turn(YuNetDetector(), noise) == 0


def test_yunet_plugin_format_is_recognised(astronaut):
    d = load_model(YUNET, FACE, DetectSettings())
    assert isinstance(d, YuNetDetector)
    found = d.detect(astronaut, 0.5)
    assert len(found) == 1 and iou_matrix(found.xyxy, ASTRONAUT_FACE)[0, 0] > 0.5


def test_fused_score_is_the_mean_of_the_members_best():
    # a face both members saw, and a blob only member 0 saw
    xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.8, 0.6, 0.4], np.float32)
    member = np.array([0, 1, 0])
    boxes, fused = fuse(xyxy, scores, member, 2, 0.4)
    np.testing.assert_allclose(sorted(fused.tolist()), [0.2, 0.7], rtol=1e-6)
    both = boxes[np.argmax(fused)]
    np.testing.assert_allclose(both, (0.8 * xyxy[0] + 0.6 * xyxy[1]) / 1.4, rtol=1e-5)


def test_frame_shares_of_the_mask_accumulator():
    acc = MaskAccumulator("face")
    changed = np.zeros((100, 100), bool)
    changed[0:10, 0:10] = True  # on the face (box 0-10)
    changed[50:60, 50:60] = True  # on nothing
    acc.update([GroundTruth("face", 0, 0, 10, 10)], changed)
    m = acc.compute()
    assert m["masked_share"] == pytest.approx(0.02)
    assert m["false_mask_share"] == pytest.approx(0.01)


def test_a_lone_weak_turned_detection_does_not_turn_the_frame():
    from veil.detect.orient import evidence_turn

    def found(*sums):
        return [
            Regions(
                np.zeros((1, 4), np.float32) if s else np.zeros((0, 4), np.float32),
                np.array([s], np.float32) if s else np.zeros(0, np.float32),
                np.full(1 if s else 0, FACE, np.int16),
            )
            for s in sums
        ]

    assert evidence_turn(found(0.0, 0.63, 0.0, 0.0)) == 0  # seen on a real street clip
    assert evidence_turn(found(0.0, 0.9, 0.0, 0.0)) == 1  # one sure face, turned
    assert evidence_turn(found(0.6, 0.8, 0.0, 0.0)) == 0  # not clearly better than upright


def test_clip_turn_is_confirmed_on_the_next_runs():
    from veil.detect.orient import CLIP_PROBES, ClipTurn

    fooled = ClipTurn()  # a street frame that looks turned, then upright frames
    assert fooled.add([0.0, 0.9, 0.0, 0.0]) == 1 and not fooled.settled
    assert fooled.add([0.7, 0.0, 0.0, 0.0]) == 0 and fooled.settled
    turned = ClipTurn()  # a camera mounted sideways stays sideways
    for _ in range(CLIP_PROBES):
        assert turned.add([0.1, 1.2, 0.0, 0.0]) == 1
    assert turned.settled
    upright = ClipTurn()
    assert upright.add([0.0, 0.0, 0.0, 0.0]) == 0 and upright.settled


def test_a_clip_detector_fooled_by_its_first_frame_goes_back_upright(engine, crowd, monkeypatch):
    """One frame judged turned must not cost the whole clip a second pass: the
    next runs see upright faces, and the clip is then detected upright only."""
    square = np.full((640, 640, 3), 90, np.uint8)
    square[80:560] = crowd
    first = np.ascontiguousarray(np.rot90(square, 1))
    seen: list[int | None] = []
    detect = engine.detect

    def spy(rgb, floor=None, video=False, face_turn=None, shared=None):
        seen.append(face_turn)
        return detect(rgb, floor=floor, video=video, face_turn=face_turn, shared=shared)

    monkeypatch.setattr(engine, "detect", spy)
    run = engine.clip_detector()
    for frame in [first] + [square] * 4:
        run(frame)
    assert seen[0] == 3  # the first frame alone says "turned" ...
    assert seen[-3:] == [0, 0, 0]  # ... the upright runs after it overrule it
