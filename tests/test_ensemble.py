"""Several detectors of one class merged: union of what each finds, boxes never shrink."""

import numpy as np
import pytest

from veil.detect import EnsembleDetector
from veil.regions import FACE, PLATE, Regions


class Fixed:
    def __init__(self, boxes, scores, label=PLATE):
        self.label = label
        self.regions = Regions(boxes, scores, np.full(len(scores), label))
        self.calls = []

    def detect(self, rgb, threshold):
        self.calls.append(threshold)
        return self.regions[self.regions.scores >= threshold]


def test_union_of_members_and_grown_boxes():
    a = Fixed([[10, 10, 50, 30]], [0.9])
    b = Fixed([[8, 9, 52, 33], [100, 100, 140, 120]], [0.4, 0.3])
    out = EnsembleDetector([a, b]).detect(np.zeros((200, 200, 3), np.uint8), 0.2)
    assert a.calls == b.calls == [0.2]
    assert len(out) == 2 and set(out.labels.tolist()) == {PLATE}
    first = out[np.argmax(out.scores)]
    np.testing.assert_allclose(first.xyxy[0], [8, 9, 52, 33])  # grown to cover both
    assert first.scores[0] == pytest.approx(0.9)  # best score kept


def test_members_must_share_a_class():
    with pytest.raises(ValueError, match="one class"):
        EnsembleDetector([Fixed([[0, 0, 1, 1]], [1.0]), Fixed([[0, 0, 1, 1]], [1.0], FACE)])
    with pytest.raises(ValueError):
        EnsembleDetector([])


def test_alternate_runs_one_member_per_call_in_turn():
    a = Fixed([[10, 10, 50, 30]], [0.9])
    b = Fixed([[100, 100, 140, 120]], [0.8])
    ens = EnsembleDetector([a, b], alternate=True)
    frame = np.zeros((200, 200, 3), np.uint8)
    found = [ens.detect(frame, 0.2) for _ in range(4)]
    assert len(a.calls) == len(b.calls) == 2
    np.testing.assert_allclose(found[0].xyxy, a.regions.xyxy)
    np.testing.assert_allclose(found[1].xyxy, b.regions.xyxy)
    np.testing.assert_allclose(found[2].xyxy, a.regions.xyxy)


def test_bundled_plate_ensemble_alternates_only_in_the_video_profile():
    from veil.detect import build_detectors
    from veil.settings import DetectSettings

    d = DetectSettings(targets=("plate",))
    (image,) = build_detectors(d)
    (video,) = build_detectors(d.for_video())
    assert isinstance(image, EnsembleDetector) and not image.alternate
    assert isinstance(video, EnsembleDetector) and video.alternate
    assert len(video.members) == 2


def test_every_clip_starts_with_the_first_member():
    """The turn must not carry over from one clip to the next: the same file, detected
    after another one (a folder, the web server's second job), must give the same tracks."""
    from veil.pipeline import Engine
    from veil.settings import DetectSettings, Settings

    a = Fixed([[10, 10, 50, 30]], [0.9])
    b = Fixed([[100, 100, 140, 120]], [0.8])
    ens = EnsembleDetector([a, b], alternate=True)
    frame = np.zeros((200, 200, 3), np.uint8)
    ens.detect(frame, 0.2)  # a clip of one detector run: b would be next
    ens.start_clip()
    np.testing.assert_allclose(ens.detect(frame, 0.2).xyxy, a.regions.xyxy)

    engine = Engine(Settings(detect=DetectSettings(targets=("plate",))))
    (video,) = engine.video_detectors
    video._turn = 3  # as a clip with an odd number of runs leaves it
    engine.clip_detector(face_turn=0)
    assert video._turn == 0
