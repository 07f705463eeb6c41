"""Quality gates of the core issue, measured through the real pipeline.

Runs ``veil eval`` (in-process, the same Engine as ``veil mask``) with
``--method fill`` on each annotated image set in ../shared/data and prints the
masked rates, over-masking and speed next to the targets. Masked rate is read
from the pixels the mask step replaced, before any lossy encoding, which is the
same as masking a lossless PNG copy.

    python benchmarks/quality.py [--data ../shared/data] [--sets faces_wider_val,...]
    python benchmarks/quality.py --sets faces_wider_val --turn 90   # every image turned

``--turn 90|180|270`` measures a copy of each set with every image turned by
that many degrees clockwise (lossless PNG, boxes turned with it, written to a
temporary folder): faces at any angle should be masked as well as upright ones.

Exit status: 0 all targets met, 1 a target missed, 3 nothing measured (data missing).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from veil.evaluate.runner import evaluate
from veil.settings import DetectSettings, MaskSettings, Settings

#: nothing was measured (data missing): a wrapper must not read this as a pass
EXIT_NO_DATA = 3

SETS = {
    # set: (class, target masked rate)
    "faces_wider_val": ("face", 0.93),
    "plates_openalpr": ("plate", 0.99),
    "plates_romania": ("plate", 0.93),
    "plates_ccpd_samples": ("plate", None),
}


def _rate_at_least(by_height: dict, buckets: tuple[str, ...]) -> float | None:
    """Masked rate over several height buckets, weighted by their box counts."""
    hit = n = 0.0
    for b in buckets:
        entry = by_height.get(b) or {}
        count, rate = entry.get("n_gt") or 0, entry.get("masked_rate")
        if count and rate == rate and rate is not None:  # skip NaN/None
            hit += rate * count
            n += count
    return hit / n if n else None


def main() -> int:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=here.parent / "shared" / "data")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--json", type=Path, help="also write all metrics here")
    ap.add_argument("--face-models", default=DetectSettings().face_models,
                    help="bundled face networks: fused, yunet or centerface")  # fmt: skip
    ap.add_argument("--face-threshold", type=float, default=None,
                    help="face threshold (default: the face network's own)")  # fmt: skip
    ap.add_argument("--turn", type=int, choices=(0, 90, 180, 270), default=0,
                    help="turn every image clockwise by this many degrees first")  # fmt: skip
    ap.add_argument(
        "--plate-input", default=DetectSettings().plate_input, help="what the plate models see"
    )
    ap.add_argument("--face-precision", default=DetectSettings().face_precision,
                    help="bundled CenterFace: float or its int8 copy")  # fmt: skip
    ap.add_argument("--plate-precision", default=DetectSettings().plate_precision,
                    help="bundled plate models: float or their int8 copies")  # fmt: skip
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"no data at {args.data}; nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    names = args.sets.split(",")
    missing = [n for n in names if not (args.data / n / "annotations.json").is_file()]
    if missing:
        print(f"no annotations.json for {', '.join(missing)} in {args.data}; nothing measured",
              file=sys.stderr)  # fmt: skip
        return EXIT_NO_DATA
    settings = Settings(
        detect=DetectSettings(
            plate_input=args.plate_input,
            face_models=args.face_models,
            face_threshold=args.face_threshold,
            face_precision=args.face_precision,
            plate_precision=args.plate_precision,
        ),
        mask=MaskSettings(method="fill"),
    )
    rows, everything = [], {}
    scratch = tempfile.TemporaryDirectory(prefix="veil-turned-")
    for name in names:
        label, target = SETS[name]
        ann = args.data / name / "annotations.json"
        if args.turn:
            ann = turned_copy(ann, Path(scratch.name) / name, args.turn)
        t0 = time.perf_counter()
        s = settings.evolve(detect=_only(settings, label))
        metrics, _ = evaluate(ann, s, quiet=True)
        wall = time.perf_counter() - t0
        m = metrics[label]
        big = _rate_at_least(m["by_height"], ("50-100", ">=100"))
        everything[name] = metrics
        rows.append(
            (name, label, m["masked_rate"], target, big, m["over_mask"], m["recall"],
             m["precision"], m["ap50"], metrics["speed"]["latency_ms_p50"], wall)
        )  # fmt: skip
    print(f"veil quality, {time.strftime('%Y-%m-%d')}, {platform.machine()} "
          f"{platform.processor() or ''} python {platform.python_version()}")  # fmt: skip
    print("| set | class | masked | target | masked >=50px | over-mask | recall | precision "
          "| AP50 | ms/img p50 | wall s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for name, label, rate, target, big, over, rec, prec, ap, ms, wall in rows:
        passed = target is None or (rate is not None and rate >= target)
        ok &= passed
        print(f"| {name} | {label} | {_f(rate)} | {target or '-'}{'' if passed else ' FAIL'} | "
              f"{_f(big)} | {_f(over)} | {_f(rec)} | {_f(prec)} | {_f(ap)} | {_f(ms, 0)} | "
              f"{wall:.0f} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return 0 if ok else 1


def turned_copy(ann: Path, out: Path, degrees: int) -> Path:
    """A copy of an image set with every image and box turned ``degrees`` clockwise."""
    from PIL import Image

    from veil.media.image import load_image
    from veil.settings import Limits

    doc = json.loads(ann.read_text())
    out.mkdir(parents=True, exist_ok=True)
    k = degrees // 90
    for i, item in enumerate(doc["images"]):
        rgb = load_image(ann.parent / item["file"], Limits()).rgb
        turned = np.rot90(rgb, -k)  # clockwise
        name = f"{i:05d}.png"
        Image.fromarray(np.ascontiguousarray(turned)).save(out / name)
        w, h = item.get("width") or rgb.shape[1], item.get("height") or rgb.shape[0]
        for b in item["boxes"]:
            x1, y1, x2, y2 = b["x1"], b["y1"], b["x2"], b["y2"]
            for _ in range(k):  # one clockwise quarter turn: (x, y) -> (H - y, x)
                x1, y1, x2, y2 = h - y2, x1, h - y1, x2
                w, h = h, w
            b.update(x1=x1, y1=y1, x2=x2, y2=y2)
            w, h = item.get("width") or rgb.shape[1], item.get("height") or rgb.shape[0]
        item.update(file=name, width=turned.shape[1], height=turned.shape[0])
    path = out / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def _only(settings: Settings, label: str):
    from dataclasses import replace

    return replace(settings.detect, targets=(label,))


def _f(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
