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
