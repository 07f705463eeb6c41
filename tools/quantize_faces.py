"""Make the int8 copy of the bundled face model for the video profile (dev time only).

After the plate models, CenterFace is the largest cost of masking a video on a
CPU; a static int8 copy (QDQ, per-channel weights) runs its 640 px pass about
1.5x faster on x86 with VNNI. The original graph is opset 9, whose
DequantizeLinear has no per-channel axis, so it is first converted to opset 13.
Calibration uses the short shared videos, as for the plates (none of the
image benchmark sets), at the two sizes video uses (640 and 320 px):

    python tools/quantize_faces.py --videos ../shared/data/videos

Writes ``src/veil/models/centerface.int8.onnx`` and prints its sha256 for MODELS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from quantize_plates import calibration_frames, quantize

from veil.detect.faces import pad_to, resize

MODELS = Path(__file__).resolve().parents[1] / "src" / "veil" / "models"
SOURCE = MODELS / "centerface.onnx"


def prepare(rgb: np.ndarray, side: int) -> np.ndarray:
    """The detector's own preprocessing: longer side to ``side``, zero-pad to /32, 0-255."""
    h, w = rgb.shape[:2]
    img = resize(rgb, side / max(h, w), box_exact=True)
    ih, iw = img.shape[:2]
    img = pad_to(img, -(-ih // 32) * 32, -(-iw // 32) * 32)
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, required=True, help="folder of calibration videos")
    ap.add_argument("--per-video", type=int, default=8)
    args = ap.parse_args()
    images = calibration_frames(args.videos, args.per_video)
    tensors = [prepare(im, side) for im in images for side in (640, 320)]
    with tempfile.TemporaryDirectory() as tmp:
        op13 = Path(tmp) / "op13.onnx"
        onnx.save(version_converter.convert_version(onnx.load(str(SOURCE)), 13), str(op13))
        quantize(op13, SOURCE.with_name("centerface.int8.onnx"), tensors, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
