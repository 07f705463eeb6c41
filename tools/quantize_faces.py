"""Make the int8 copies of the bundled face models for the video profile (dev time only).

After the plate models, CenterFace is the largest cost of masking a video on a
CPU; a static int8 copy (QDQ, per-channel weights) runs its 640 px pass about
1.5x faster on x86 with VNNI. The original graph is opset 9, whose
DequantizeLinear has no per-channel axis, so it is first converted to opset 13.
Calibration uses the short shared videos, as for the plates (none of the
image benchmark sets), at the two sizes video uses (640 and 320 px):

    python tools/quantize_faces.py --videos ../shared/data/videos

Writes ``src/veil/models/centerface.int8.onnx`` and prints its sha256 for MODELS.md.

``--verifier`` makes the int8 copy of YOLOv8n-face that the learned video decision's
frame verifier runs (``face_yolov8n.int8.onnx``), 2x faster than the float model on
x86 with VNNI. Its calibration frames come from the decision's own training clips
(``tools/decide_train.py build``, from WIDER FACE training photos), not from the
clips the decision is evaluated on, at the size the verifier shows them (longer
side at most 640 px, padded grey to /32):

    python tools/quantize_faces.py --verifier --videos /tmp/train/a /tmp/train/b /tmp/train/c \
        --per-video 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from quantize_plates import calibration_frames, decode_nodes, quantize

from veil.detect import int8_copy
from veil.detect.faces import pad_to, resize
from veil.detect.yoloface import YoloFaceDetector

MODELS = Path(__file__).resolve().parents[1] / "src" / "veil" / "models"
SOURCE = MODELS / "centerface.onnx"


def prepare(rgb: np.ndarray, side: int) -> np.ndarray:
    """The detector's own preprocessing: longer side to ``side``, zero-pad to /32, 0-255."""
    h, w = rgb.shape[:2]
    img = resize(rgb, side / max(h, w), box_exact=True)
    ih, iw = img.shape[:2]
    img = pad_to(img, -(-ih // 32) * 32, -(-iw // 32) * 32)
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)


def prepare_verifier(rgb: np.ndarray, max_side: int = 640) -> np.ndarray:
    """The frame verifier's YOLO input: longer side at most ``max_side`` (never
    enlarged), grey 114 padding to /32, RGB / 255."""
    h, w = rgb.shape[:2]
    img = resize(rgb, min(1.0, max_side / max(h, w)), box_exact=True)
    ih, iw = img.shape[:2]
    img = pad_to(img, -(-ih // 32) * 32, -(-iw // 32) * 32, YoloFaceDetector.pad_value)
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--videos", type=Path, nargs="+", required=True, help="folder(s) of calibration videos"
    )
    ap.add_argument("--per-video", type=int, default=8)
    ap.add_argument(
        "--verifier", action="store_true", help="the frame verifier's YOLOv8n-face, not CenterFace"
    )
    args = ap.parse_args()
    images = [im for folder in args.videos for im in calibration_frames(folder, args.per_video)]
    if args.verifier:
        src = MODELS / "face_yolov8n.onnx"
        tensors = [prepare_verifier(im) for im in images]
        quantize(src, int8_copy(src), tensors, decode_nodes)
        return 0
    tensors = [prepare(im, side) for im in images for side in (640, 320)]
    with tempfile.TemporaryDirectory() as tmp:
        op13 = Path(tmp) / "op13.onnx"
        onnx.save(version_converter.convert_version(onnx.load(str(SOURCE)), 13), str(op13))
        quantize(op13, int8_copy(SOURCE), tensors, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
