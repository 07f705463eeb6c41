"""The detector interface.

A detector takes one upright RGB frame (H, W, 3, uint8) and returns the
:class:`~veil.regions.Regions` of one class above its threshold, in that
frame's pixel coordinates. Anything with this shape plugs into the pipeline:
the bundled ONNX models, a user's ``--face-model``/``--plate-model``, or a
test double.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..regions import Regions


@runtime_checkable
class Detector(Protocol):
    #: class id this detector reports (``veil.regions.FACE`` or ``PLATE``)
    label: int

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        """Return regions scoring at least ``threshold`` in ``rgb`` (H, W, 3, uint8)."""
        ...
