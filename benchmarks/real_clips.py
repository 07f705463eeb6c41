"""Faces on the real sample clips: how much of each frame is masked, and how well.

For each clip of ``benchmarks/real_videos/annotations.json`` (every 10th frame
annotated by hand; the clips are read from ../shared/data/videos), runs the
video path of ``veil mask`` (detection + tracking, faces only, solid fill) and
prints per clip:

* masked share: the share of each frame's pixels that the masks cover, the mean
  over all frames (what a viewer loses);
* recall: the masked rate of the annotated faces (central region >= 90% covered);
* precision: the share of masks, on the annotated frames, that lie on an
  annotated face or ``ignore`` box (a box's centre inside the mask's box, or the
  mask's centre inside the box);
* faces' own area: the share of each annotated frame that its annotated faces
  (``ignore`` ones included) cover, each box grown 40% per side (veil's face
  margin): the least a mask that hides every face must take.

The last line pools recall over every annotated face of all clips.
``--decide learned`` measures the learned decision instead of the confirm rule.

``--sheets DIR`` also writes a contact sheet per clip (a few masked frames,
small) to DIR. Nothing is written to the repository.

    python benchmarks/real_clips.py [--annotations PATH] [--sheets /tmp/sheets]

Exit status: 0 measured, 3 nothing measured (the clips are absent).
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
from bench_info import commit
from PIL import Image

from veil.evaluate.dataset import load_dataset
from veil.evaluate.metrics import MaskAccumulator
from veil.media import video as video_io
from veil.pipeline import Engine
from veil.regions import FACE
from veil.settings import DECISIONS, DetectSettings, MaskSettings, Settings, TrackSettings

EXIT_NO_DATA = 3
HERE = Path(__file__).resolve().parent


def _on_face(region: np.ndarray, boxes: np.ndarray) -> bool:
    """A mask box lies on an annotated box: one's centre inside the other."""
    if not len(boxes):
        return False
    cx, cy = (region[0] + region[2]) / 2, (region[1] + region[3]) / 2
    bx, by = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    inside_box = (
        (boxes[:, 0] <= cx) & (cx <= boxes[:, 2]) & (boxes[:, 1] <= cy) & (cy <= boxes[:, 3])
    )
    inside_region = (region[0] <= bx) & (bx <= region[2]) & (region[1] <= by) & (by <= region[3])
    return bool((inside_box | inside_region).any())


def _face_area(gt, width: int, height: int) -> float:
    """Share of the frame the annotated faces (``ignore`` ones too) cover, grown 40% per side."""
    cover = np.zeros((height, width), bool)
    for b in gt:
        if b.label != "face":
            continue
        x1, y1, x2, y2 = b.xyxy
        dx, dy = 0.4 * (x2 - x1), 0.4 * (y2 - y1)
        cover[
            max(0, int(y1 - dy)) : max(0, int(np.ceil(y2 + dy))),
            max(0, int(x1 - dx)) : max(0, int(np.ceil(x2 + dx))),
        ] = True
    return float(cover.mean())


def measure(engine: Engine, video, sheet_frames: int, sheet_dir: Path | None) -> dict:
    acc = MaskAccumulator("face")
    shares: list[float] = []
    own: list[float] = []
    on = total = 0
    pick = set(list(video.frames)[:: max(1, len(video.frames) // sheet_frames)][:sheet_frames])
    thumbs: list[np.ndarray] = []
    t0 = time.perf_counter()

    def frames():
        with video_io.iter_frames(video.file, engine.settings.limits) as decoded:
            for f in decoded:
                yield f.image

    n = 0
    for index, (rgb, regions) in enumerate(engine.video_regions(frames())):
        n += 1
        masked, covered = engine.mask(rgb, regions)
        shares.append(float(covered.mean()))
        if index in video.frames:
            gt = video.frames[index]
            acc.update(gt, covered, source=str(video.file))
            own.append(_face_area(gt, rgb.shape[1], rgb.shape[0]))
            boxes = np.array([b.xyxy for b in gt if b.label == "face"], np.float64).reshape(-1, 4)
            faces = regions.xyxy[regions.labels == FACE]
            total += len(faces)
            on += sum(_on_face(r, boxes) for r in faces)
            if index in pick:
                h, w = masked.shape[:2]
                scale = 320 / w
                thumbs.append(
                    np.asarray(Image.fromarray(masked).resize((320, max(1, round(h * scale)))))
                )
    wall = time.perf_counter() - t0
    if sheet_dir is not None and thumbs:
        sheet_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(thumbs, axis=1)).save(
            sheet_dir / f"{Path(video.file).stem}.jpg", quality=80
        )
    m = acc.compute()
    return {
        "clip": Path(video.file).name,
        "frames": n,
        "masked_share": float(np.mean(shares)) if shares else float("nan"),
        "recall": m["masked_rate"],
        "masked": acc._masked[0],
        "boxes": acc._n[0],
        "own": float(np.mean(own)) if own else float("nan"),
        "faces": m["objects"],
        "precision": on / total if total else float("nan"),
        "masks": total,
        "seconds": wall,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotations", type=Path, default=HERE / "real_videos" / "annotations.json")
    ap.add_argument("--sheets", type=Path, help="write a contact sheet per clip here")
    ap.add_argument("--sheet-frames", type=int, default=3)
    ap.add_argument("--video-face-models", default=None,
                    help="bundled face networks for video (default: veil's default)")  # fmt: skip
    ap.add_argument(
        "--decide",
        choices=DECISIONS,
        default=TrackSettings().decide,
        help="how face tracks are confirmed (default: %(default)s)",
    )
    ap.add_argument(
        "--motion-margin",
        type=float,
        default=TrackSettings().motion_margin,
        help="box growth per frame of motion (default: %(default)s)",
    )
    ap.add_argument("--face-confidence", type=float, default=None,
                    help="the decision's operating point (default: the model's)")  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    ds = load_dataset(args.annotations)
    if not all(Path(v.file).is_file() for v in ds.videos):
        print("sample clips not found (../shared/data/videos); nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    models = {"video_face_models": args.video_face_models} if args.video_face_models else {}
    detect = DetectSettings(targets=("face",), **models)
    settings = Settings(
        detect=detect,
        mask=MaskSettings(method="fill"),
        track=TrackSettings(
            decide=args.decide,
            motion_margin=args.motion_margin,
            face_confidence=args.face_confidence,
        ),
    )
    engine = Engine(settings)
    rev = commit()
    point = "" if args.face_confidence is None else f", P(face) >= {args.face_confidence:g}"
    print(f"veil real clips, faces only ({detect.video_face_models}, {args.decide}{point}, motion "
          f"{args.motion_margin}), fill; "
          f"{time.strftime('%Y-%m-%d')} {platform.machine()} commit {rev}")  # fmt: skip
    print("| clip | frames | masked share of frame (mean) | faces' own area | recall "
          "(masked rate) | faces | precision (masks on a face) | masks | s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    masked = boxes = 0
    for video in ds.videos:
        r = measure(engine, video, args.sheet_frames, args.sheets)
        masked += int(r["masked"])
        boxes += int(r["boxes"])
        print(f"| `{r['clip']}` | {r['frames']} | {100 * r['masked_share']:.1f}% | "
              f"{100 * r['own']:.1f}% | {r['recall']:.3f} | {r['faces']} | "
              f"{r['precision']:.3f} | {r['masks']} | {r['seconds']:.0f} |",
              flush=True)  # fmt: skip
    print(f"\nrecall over all clips: {masked}/{boxes} annotated faces masked"
          f" ({masked / max(boxes, 1):.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
