"""Manual regions that follow their object: coverage, review share and speed.

One ground-truth face or plate per synthetic moving-camera clip
(``veil.evaluate.synth``, seeds not used while tuning) is "drawn" on the
clip's middle frame and propagated forward and backward. Reported per method:

* coverage: share of (object, frame) pairs, over the frames where the object
  is visible (ground truth present and not ``ignore``), whose central region
  (the box shrunk by 20% per side, as ``veil eval`` scores masks) lies at
  least 90% inside the propagated box (no mask margin added);
* review: share of frames flagged "needs review";
* ms per frame of propagation (decoding excluded).

    python benchmarks/follow_regions.py --data ../shared/data --out /tmp/follow-bench \
        --clips 12 --seed 7 [--methods veil,csrt,kcf]

CSRT and KCF need ``pip install opencv-contrib-python-headless`` (measurement only).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from veil.evaluate.synth import build_benchmark
from veil.project.follow import FollowConfig, Followed, gray, propagate

sys.path.insert(0, str(Path(__file__).parent))
from make_video_bench import FACE_SETS, PLATE_SETS, default_data  # noqa: E402


def _frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _opencv(kind: str, rgb: list[np.ndarray], start: int, box, hold: int) -> Followed:
    """CSRT or KCF from the middle frame, forward then backward, with veil's hold policy."""
    import cv2

    make = cv2.TrackerCSRT_create if kind == "csrt" else cv2.TrackerKCF_create
    out = Followed({start: tuple(box)}, set())
    x1, y1, x2, y2 = box
    init = (int(round(x1)), int(round(y1)), int(round(x2 - x1)), int(round(y2 - y1)))
    for stop, step in ((len(rgb), 1), (-1, -1)):
        tracker = make()
        tracker.init(cv2.cvtColor(rgb[start], cv2.COLOR_RGB2BGR), init)
        last, weak = tuple(box), 0
        for f in range(start + step, stop, step):
            ok, (x, y, w, h) = tracker.update(cv2.cvtColor(rgb[f], cv2.COLOR_RGB2BGR))
            if ok:
                last, weak = (x, y, x + w, y + h), 0
            else:
                weak += 1
                out.review.add(f)
                if weak > hold:
                    out.review.update(range(f, stop, step))
                    break
            out.boxes[f] = last
    return out


def _covered(gt: dict, box) -> float:
    x1, y1, x2, y2 = gt["x1"], gt["y1"], gt["x2"], gt["y2"]
    w, h = x2 - x1, y2 - y1
    c = (x1 + 0.2 * w, y1 + 0.2 * h, x2 - 0.2 * w, y2 - 0.2 * h)
    if box is None:
        return 0.0
    iw = max(0.0, min(c[2], box[2]) - max(c[0], box[0]))
    ih = max(0.0, min(c[3], box[3]) - max(c[1], box[1]))
    return iw * ih / max(1e-9, (c[2] - c[0]) * (c[3] - c[1]))


def evaluate(clips_json: Path, methods: list[str], config: FollowConfig) -> dict[str, dict]:
    doc = json.loads(clips_json.read_text())
    stats = {
        m: {"pairs": 0, "covered": 0, "flagged": 0, "frames": 0, "seconds": 0.0} for m in methods
    }
    per_kind: dict[str, dict[str, list[int]]] = {}
    for video in doc["videos"]:
        rgb = _frames(clips_json.parent / video["file"])
        mid = len(rgb) // 2
        cands = [b for b in video["frames"][mid]["boxes"] if not b["ignore"]]
        if not cands:
            continue
        pick = max(cands, key=lambda b: (b["x2"] - b["x1"]) * (b["y2"] - b["y1"]))
        box = (pick["x1"], pick["y1"], pick["x2"], pick["y2"])
        g = [gray(f) for f in rgb]
        for m in methods:
            t0 = time.perf_counter()
            if m == "veil":
                res = propagate(g, {mid: box}, config)
            else:
                res = _opencv(m, rgb, mid, box, config.hold)
            stats[m]["seconds"] += time.perf_counter() - t0
            stats[m]["frames"] += len(rgb)
            stats[m]["flagged"] += len(res.review)
            for fr in video["frames"]:
                gt = next((b for b in fr["boxes"] if b["id"] == pick["id"]), None)
                if gt is None or gt["ignore"] or fr["index"] == mid:
                    continue
                ok = _covered(gt, res.boxes.get(fr["index"])) >= 0.9
                stats[m]["pairs"] += 1
                stats[m]["covered"] += int(ok)
                per_kind.setdefault(m, {}).setdefault(video["motion"]["kind"], [0, 0])
                per_kind[m][video["motion"]["kind"]][0] += int(ok)
                per_kind[m][video["motion"]["kind"]][1] += 1
    for m in methods:
        s = stats[m]
        s["coverage"] = s["covered"] / max(1, s["pairs"])
        s["review_share"] = s["flagged"] / max(1, s["frames"])
        s["ms_per_frame"] = 1000 * s["seconds"] / max(1, s["frames"])
        s["by_motion"] = {k: round(a / max(1, b), 4) for k, (a, b) in per_kind.get(m, {}).items()}
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--out", type=Path, default=Path("/tmp/veil-follow-bench"))
    ap.add_argument("--clips", type=int, default=12, help="clips per class")
    ap.add_argument("--frames", type=int, default=45)
    ap.add_argument("--seed", type=int, default=7, help="a seed not used while tuning")
    ap.add_argument("--methods", default="veil,csrt,kcf")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.data.is_dir():
        print(f"no data at {args.data}; nothing to measure")
        return 0
    methods = [m for m in args.methods.split(",") if m]
    config = FollowConfig()
    rows = []
    for label, sets in (("face", FACE_SETS), ("plate", PLATE_SETS)):
        out = args.out / f"{label}s-{args.seed}"
        clips = out / "clips.json"
        if not clips.exists():
            anns = [args.data / s / "annotations.json" for s in sets]
            build_benchmark([a for a in anns if a.exists()], out, n_clips=args.clips,
                            frames_per_clip=args.frames, seed=args.seed, labels=(label,),
                            size=(1280, 720))  # fmt: skip
        for m, s in evaluate(clips, methods, config).items():
            rows.append((label, m, s))
    print("| class | method | coverage | needs review | ms/frame (720p) | pairs | by motion |")
    print("|---|---|---|---|---|---|---|")
    for label, m, s in rows:
        print(f"| {label} | {m} | {s['coverage']:.4f} | {s['review_share']:.3f} | "
              f"{s['ms_per_frame']:.1f} | {s['pairs']} | {s['by_motion']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
