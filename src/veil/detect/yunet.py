"""YuNet face detector (libfacedetection.train, Apache-2.0), in veil's face passes.

YuNet-n is an anchor-free detector with heads at strides 8, 16 and 32. It was
chosen over CenterFace by measurement (README, Quality; ``shared/models``): a
higher AP at every input size, most at the 640 px size video uses, for about a
third of the cost. Input: BGR 0-255 float32, NCHW, sides multiples of 32.
Per stride ``s`` it gives ``cls``, ``obj`` ([N, cells, 1]), ``bbox`` ([N, cells,
4]: centre offset in cells, log size in strides) and ``kps`` ([N, cells, 10]:
five landmarks in cells), cells in row-major grid order.

The score is ``cls * obj`` (OpenCV's ``FaceDetectorYN`` shows its square root;
the ranking is the same, and the product is what veil's thresholds were
chosen on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..regions import nms
from .faces import Decoded, FaceDetector

BUNDLED = Path(__file__).resolve().parents[1] / "models" / "yunet_n.onnx"
STRIDES = (8, 16, 32)
_HEADS = ("cls", "obj", "bbox", "kps")


class YuNetDetector(FaceDetector):
    """Faces with a YuNet-format model (see the module docstring)."""

    bundled = BUNDLED

    def __init__(self, model: str | Path | None = None, **kwargs) -> None:
        super().__init__(model, **kwargs)
        names = [o.name for o in self.session.get_outputs()]
        self._order = [names.index(f"{h}_{s}") for s in STRIDES for h in _HEADS]

    def _run(self, batch: np.ndarray, threshold: float) -> list[Decoded]:
        x = np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
        outs = self.session.run(None, {self.input_name: x})
        heads = [outs[i] for i in self._order]
        height, width = batch.shape[1:3]
        return [
            decode_yunet([h[i] for h in heads], height, width, threshold, self.nms_iou)
            for i in range(len(batch))
        ]

    @staticmethod
    def _check(session, path: Path) -> None:
        check_yunet(session, path)


def decode_yunet(
    heads: list[np.ndarray], height: int, width: int, threshold: float, nms_iou: float
) -> Decoded:
    """One image's YuNet heads (cls, obj, bbox, kps per stride) -> NMS'd faces.

    Coordinates are in network input pixels.
    """
    boxes, scores, marks = [], [], []
    for k, stride in enumerate(STRIDES):
        cls, obj, reg, kps = heads[4 * k : 4 * k + 4]
        score = np.clip(cls[:, 0], 0, 1) * np.clip(obj[:, 0], 0, 1)
        idx = np.flatnonzero(score >= threshold)
        if not len(idx):
            continue
        cols = width // stride
        gx = (idx % cols).astype(np.float32)
        gy = (idx // cols).astype(np.float32)
        r = reg[idx]
        cx, cy = (r[:, 0] + gx) * stride, (r[:, 1] + gy) * stride
        w, h = np.exp(r[:, 2]) * stride, np.exp(r[:, 3]) * stride
        boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
        scores.append(score[idx])
        pts = kps[idx].reshape(-1, 5, 2)
        marks.append((pts + np.stack([gx, gy], axis=1)[:, None]) * stride)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2))
    xyxy = np.concatenate(boxes).astype(np.float32)
    sc = np.concatenate(scores).astype(np.float32)
    lm = np.concatenate(marks).astype(np.float32)
    keep = nms(xyxy, sc, nms_iou)
    return xyxy[keep], sc[keep], lm[keep]


def check_yunet(session, path: Path) -> None:
    """Raise :class:`ModelError` unless the graph has YuNet's input and 12 named heads."""
    ins = session.get_inputs()
    names = {o.name for o in session.get_outputs()}
    wanted = {f"{h}_{s}" for s in STRIDES for h in _HEADS}
    if len(ins) != 1 or len(ins[0].shape) != 4 or not wanted <= names:
        raise ModelError(
            f"{path} is not a YuNet-format face model: expected one NCHW input and the "
            f"outputs {', '.join(sorted(wanted))}, got {sorted(names)}"
        )


def is_yunet(session) -> bool:
    """Whether a session's outputs are YuNet's heads (format sniffing for plug-ins)."""
    names = {o.name for o in session.get_outputs()}
    return {f"{h}_{s}" for s in STRIDES for h in _HEADS} <= names
