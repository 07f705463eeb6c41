"""Several detectors of one class, their boxes merged.

The two bundled plate models miss different plates (dash-cam night frames,
looser vs tighter boxes); privacy-first recall takes the union of both. The
merge keeps the best score and grows each kept box over the boxes it absorbs,
so a mask never shrinks because one model drew a tighter box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..regions import Regions
from .base import Detector
from .faces import merge_union
from .onnx import release_memory
from .plates import YoloDetector


class EnsembleDetector:
    """Runs each member on the frame and merges their regions of the shared class.

    ``alternate=True`` runs one member per call, in turn: for video, where the
    tracker carries an object between detections, each model still sees every
    object within a few frames at a fraction of the cost.

    ``release`` gives each member's memory back once it has run (:func:`release_memory`);
    None: when every member runs on every call with its enlarged pass (photos). The
    two plate models' runs on a photo's enlarged frame otherwise added up: 28 MB more
    at a 1024x1365 photo's peak than one model's (docs/photos.md).
    """

    def __init__(
        self,
        members: Sequence[Detector],
        nms_iou: float = 0.5,
        alternate: bool = False,
        release: bool | None = None,
    ) -> None:
        if not members:
            raise ValueError("EnsembleDetector needs at least one member")
        labels = {m.label for m in members}
        if len(labels) != 1:
            raise ValueError(f"EnsembleDetector members must share one class, got {labels}")
        self.members = list(members)
        self.label = members[0].label
        self.nms_iou = nms_iou
        self.alternate = alternate
        if release is None:
            release = not alternate and all(getattr(m, "tile", False) for m in self.members)
        self.release = release
        self._turn = 0

    def start_clip(self) -> None:
        """Begin a clip with the first member: the turn must not carry over from the
        last clip, or the same file would be detected differently after another one."""
        self._turn = 0

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        if self.alternate:
            member = self.members[self._turn % len(self.members)]
            self._turn += 1
            return member.detect(rgb, threshold)
        shared: dict = {}  # the bundled plate models see the same prepared views
        found = []
        for m in self.members:
            if isinstance(m, YoloDetector):
                found.append(m.detect(rgb, threshold, shared))
            else:
                found.append(m.detect(rgb, threshold))
            if self.release:
                release_memory()
        if len(found) == 1:
            return found[0]
        xyxy = np.concatenate([r.xyxy for r in found])
        scores = np.concatenate([r.scores for r in found])
        xyxy, scores = merge_union(xyxy, scores, self.nms_iou)
        return Regions(xyxy, scores, np.full(len(scores), self.label, np.int16))
