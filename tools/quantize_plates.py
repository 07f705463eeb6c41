"""Make int8 copies of the bundled plate models for the video profile (dev time only).

On the CPU a YOLOv8n plate pass at 960 px is the largest cost of masking a
video; static int8 quantisation (QDQ, per-channel weights) runs it about 1.6x
faster on x86 with VNNI. Images keep the float models (quality first, few
frames); videos use the int8 ones unless ``--video-plate-precision float``.

Calibration needs representative frames. It uses the short videos of the
shared data (street scenes, none of them part of the image benchmarks, so the
image quality gates stay a held-out check of the quantised models):

    python tools/quantize_plates.py --videos ../shared/data/videos

``--view`` shows the calibration frames as ``rgb``, ``gray`` or ``gray-stretch``.
The bundled copies were calibrated on ``rgb`` frames (the default here). Run time
shows them the gray-stretch view, and a calibration on that view measured lower
per-frame recall on the tuning clips (plate_yolov8n 0.80 against 0.84, fastanpr
0.94 for both; see MODELS.md).

Writes ``src/veil/models/plate_yolov8n.int8.onnx`` and
``plate_fastanpr.int8.onnx`` and prints their sha256 for MODELS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import softmax_last_axis
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from veil.detect import int8_copy
from veil.settings import PLATE_INPUTS

MODELS = Path(__file__).resolve().parents[1] / "src" / "veil" / "models"
SOURCES = ("plate_yolov8n.onnx", "plate_fastanpr.onnx")
HEAD = "/model.22/"  # the Detect module of YOLOv8n


def letterbox(rgb: np.ndarray, size: int, view: str) -> np.ndarray:
    """The detector's own preprocessing: longer side to ``size``, its view, pad to /32 with 114."""
    from veil.detect.faces import resize
    from veil.detect.plates import plate_view

    h, w = rgb.shape[:2]
    img = plate_view(resize(rgb, size / max(h, w)), view)
    ih, iw = img.shape[:2]
    out = np.full((-(-ih // 32) * 32, -(-iw // 32) * 32, 3), 114, np.uint8)
    out[:ih, :iw] = img
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def frames(videos: list[Path], per_video: int) -> list[np.ndarray]:
    out = []
    for path in videos:
        with av.open(str(path)) as c:
            decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        picks = np.linspace(0, len(decoded) - 1, min(per_video, len(decoded))).round()
        out += [decoded[int(i)] for i in picks]
    return out


def decode_nodes(path: Path) -> list[str]:
    """The detection head's decoding (DFL, box arithmetic, sigmoid, concat) stays float.

    Its output packs pixel coordinates (0-960) and scores (0-1) in one tensor:
    one 8-bit scale for both would zero every score. Only the convolutions of
    the head branches are quantised.
    """
    import onnx

    graph = onnx.load(str(path)).graph
    head = [n for n in graph.node if n.name.startswith(HEAD)]
    return [n.name for n in head if n.op_type != "Conv" or "/dfl/" in n.name]


class Reader(CalibrationDataReader):
    """Hands onnxruntime's calibrator one prepared input at a time."""

    def __init__(self, name: str, tensors: list[np.ndarray]) -> None:
        self._items = iter([{name: t} for t in tensors])

    def get_next(self):
        return next(self._items, None)


def calibration_frames(folder: Path, per_video: int) -> list[np.ndarray]:
    """Evenly spaced RGB frames of every video in ``folder``; exits when there is none."""
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".mov"))
    if not videos:
        raise SystemExit(f"no videos in {folder}")
    images = frames(videos, per_video)
    print(f"calibrating on {len(images)} frames from {len(videos)} videos", file=sys.stderr)
    return images


def quantize(
    src: Path, dst: Path, tensors: list[np.ndarray], exclude: Callable[[Path], list[str]] | None
) -> None:
    """Static QDQ int8 copy of ``src`` (per-channel int8 weights, uint8 activations),
    its Softmax over a middle axis then taken over the last (``softmax_last_axis.py``).

    ``exclude`` names the nodes of the pre-processed graph that stay float.
    """
    import onnx

    name = onnx.load(str(src)).graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(dst),
            Reader(name, tensors),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude(pre) if exclude else [],
        )
    softmax_last_axis.rewrite_file(dst)  # same outputs, faster (YOLO's DFL head)
    digest = hashlib.sha256(dst.read_bytes()).hexdigest()
    print(f"{dst.name}: {dst.stat().st_size} bytes, sha256 {digest}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, required=True, help="folder of calibration videos")
    ap.add_argument("--per-video", type=int, default=8)
    ap.add_argument(
        "--view",
        default="rgb",
        choices=PLATE_INPUTS,
        help="how the calibration frames are shown (default: %(default)s)",
    )
    args = ap.parse_args()
    images = calibration_frames(args.videos, args.per_video)
    for src in SOURCES:
        path = MODELS / src
        tensors = [letterbox(im, n, args.view) for im in images for n in (640, 960)]
        quantize(path, int8_copy(path), tensors, decode_nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
