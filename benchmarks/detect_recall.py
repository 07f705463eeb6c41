"""How much of the annotated faces/plates would be MASKED by the detectors.

Dev benchmark on ``../shared/data`` (exits cleanly when absent). A ground-truth
box counts as masked when >= 90% of its central region (the box shrunk 20% on
each side) lies inside the union of predicted masks: each prediction expanded
by the mask margin, drawn as an ellipse (faces) or a rectangle (plates).
Also reported: faces >= 50 px tall, over-masking (share of mask pixels outside
the GT boxes grown by 50%), and detector ms per image.

    python benchmarks/detect_recall.py                      # all sets, defaults
    python benchmarks/detect_recall.py --sets faces_wider_val --no-face-tile
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from veil.detect import build_detectors
from veil.regions import CLASSES, FACE, Regions
from veil.settings import DetectSettings, MaskSettings

SETS = ("faces_wider_val", "plates_openalpr", "plates_romania", "plates_ccpd_samples")


def data_root() -> Path:
    env = os.environ.get("VEIL_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load_set(root: Path, name: str) -> list[dict]:
    return json.loads((root / name / "annotations.json").read_text())["images"]


def mask_of(regions: Regions, margin: float, shape: str, h: int, w: int) -> np.ndarray:
    """Union of expanded prediction masks as an (H, W) bool array."""
    out = np.zeros((h, w), bool)
    if not len(regions):
        return out
    for x1, y1, x2, y2 in regions.expand(margin).xyxy:
        xa, ya = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        xb, yb = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        if xb <= xa or yb <= ya:
            continue
        if shape == "rect":
            out[ya:yb, xa:xb] = True
            continue
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        yy = (np.arange(ya, yb) + 0.5 - cy)[:, None] / max(ry, 1e-3)
        xx = (np.arange(xa, xb) + 0.5 - cx)[None, :] / max(rx, 1e-3)
        out[ya:yb, xa:xb] |= yy**2 + xx**2 <= 1.0
    return out


def central_coverage(mask: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Share of the box's central region (20% shrunk on each side) inside ``mask``."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    cx1, cx2, cy1, cy2 = x1 + 0.2 * bw, x2 - 0.2 * bw, y1 + 0.2 * bh, y2 - 0.2 * bh
    h, w = mask.shape
    xs = np.arange(max(0, int(np.floor(cx1))), min(w, int(np.ceil(cx2))))
    ys = np.arange(max(0, int(np.floor(cy1))), min(h, int(np.ceil(cy2))))
    xs = xs[(xs + 0.5 >= cx1) & (xs + 0.5 <= cx2)]
    ys = ys[(ys + 0.5 >= cy1) & (ys + 0.5 <= cy2)]
    if not len(xs) or not len(ys):  # tiny box: judge by its centre pixel
        px = min(w - 1, max(0, int((x1 + x2) / 2)))
        py = min(h - 1, max(0, int((y1 + y2) / 2)))
        return float(mask[py, px])
    return float(mask[np.ix_(ys, xs)].mean())


@dataclass
class Tally:
    """Accumulates masked/total counts, over-mask pixels and timing for one set."""

    masked: int = 0
    total: int = 0
    masked50: int = 0
    total50: int = 0
    mask_px: int = 0
    outside_px: int = 0
    seconds: float = 0.0
    images: int = 0
    misses: list = field(default_factory=list)

    def update(self, img: dict, pred: Regions, margin: float, shape: str, secs: float) -> None:
        h, w = img["height"], img["width"]
        m = mask_of(pred, margin, shape, h, w)
        grown = Regions(
            np.array(
                [[b["x1"], b["y1"], b["x2"], b["y2"]] for b in img["boxes"]], np.float32
            ).reshape(-1, 4)
        )
        allowed = mask_of(grown, 0.5, "rect", h, w)
        self.mask_px += int(m.sum())
        self.outside_px += int((m & ~allowed).sum())
        for b in img["boxes"]:
            if b.get("ignore"):
                continue
            box = (b["x1"], b["y1"], b["x2"], b["y2"])
            ok = central_coverage(m, box) >= 0.9
            self.total += 1
            self.masked += ok
            if b["y2"] - b["y1"] >= 50:
                self.total50 += 1
                self.masked50 += ok
            if not ok:
                self.misses.append((img["file"], round(b["y2"] - b["y1"])))
        self.seconds += secs
        self.images += 1

    def row(self) -> dict:
        return {
            "masked": self.masked / max(1, self.total),
            "n": self.total,
            "masked_50px": self.masked50 / max(1, self.total50) if self.total50 else None,
            "n_50px": self.total50,
            "over_mask": self.outside_px / max(1, self.mask_px),
            "ms_per_image": 1000 * self.seconds / max(1, self.images),
        }


def evaluate(
    root: Path,
    name: str,
    detector,
    threshold: float,
    margin: float,
    shape: str,
    limit: int | None = None,
) -> Tally:
    tally = Tally()
    for img in load_set(root, name)[:limit]:
        rgb = np.asarray(Image.open(root / name / img["file"]).convert("RGB"))
        t0 = time.perf_counter()
        pred = detector.detect(rgb, threshold)
        tally.update(img, pred, margin, shape, time.perf_counter() - t0)
    return tally


def main() -> int:
    d, m = DetectSettings(), MaskSettings()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--face-threshold", type=float, default=d.face_threshold)
    ap.add_argument("--plate-threshold", type=float, default=d.plate_threshold)
    ap.add_argument("--face-margin", type=float, default=m.face_margin)
    ap.add_argument("--plate-margin", type=float, default=m.plate_margin)
    ap.add_argument("--face-max-side", type=int, default=d.face_max_side)
    ap.add_argument("--no-face-tile", action="store_true")
    ap.add_argument("--plate-size", type=int, default=d.plate_size)
    ap.add_argument("--no-plate-tile", action="store_true")
    ap.add_argument("--plate-model", type=Path)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--limit", type=int, help="first N images per set (quick look)")
    ap.add_argument("--misses", action="store_true", help="list missed boxes (file, height)")
    args = ap.parse_args()
    root = data_root()
    if not root.is_dir():
        print(f"no evaluation data at {root}; nothing to do")
        return 0
    settings = DetectSettings(
        face_threshold=args.face_threshold,
        plate_threshold=args.plate_threshold,
        face_max_side=args.face_max_side,
        face_tile=not args.no_face_tile,
        plate_size=args.plate_size,
        plate_tile=not args.no_plate_tile,
        plate_model=args.plate_model,
        threads=args.threads,
    )
    detectors = {CLASSES[det.label]: det for det in build_detectors(settings)}
    print(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()}}))
    for name in args.sets:
        if not (root / name).is_dir():
            print(f"skip {name}: absent")
            continue
        target = "face" if name.startswith("faces") else "plate"
        margin = args.face_margin if target == "face" else args.plate_margin
        shape = "ellipse" if CLASSES.index(target) == FACE else "rect"
        tally = evaluate(
            root, name, detectors[target], settings.threshold(target), margin, shape, args.limit
        )
        row = {
            "set": name,
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in tally.row().items()},
        }
        print(json.dumps(row))
        if args.misses:
            print("  misses:", tally.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
