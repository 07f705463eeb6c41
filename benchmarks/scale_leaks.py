"""Do segment boundaries add leaks? video_leaks-style clips, whole vs cut into segments.

``veil mask --workers`` cuts long videos into segments that each read some
overlap before and after (:func:`veil.scale.segments.overlap_frames`). This
runs the same detection + tracking over each clip both ways, in-process: the
segmented way runs ``Engine.video_regions`` on every segment's window and keeps
its core, exactly as a worker does (encoding and joining do not change which
pixels are masked). Then it scores leaks with ``veil.evaluate``.

    python benchmarks/scale_leaks.py --out /tmp/veil-sbench --frames 120 --segment 20

Clips are built with benchmarks/make_video_bench.py unless OUT holds them.
Exit status: 0 measured, 3 nothing measured (no clips and no data).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from make_video_bench import EXIT_NO_DATA, FACE_SETS, PLATE_SETS, build, default_data
from video_leaks import _find_mask_metrics, table

from veil.evaluate import runner
from veil.pipeline import Engine
from veil.regions import Regions
from veil.scale.segments import overlap_frames
from veil.settings import Settings


def segmented_ranked(segment: int, overlap: int | None):
    """A stand-in for ``runner._video_ranked`` that processes each clip in segments."""

    def ranked(
        engine: Engine, frames: Iterator[np.ndarray], settings: Settings
    ) -> Iterator[tuple[np.ndarray, Regions, Regions]]:
        clip = list(frames)
        n = len(clip)
        over = overlap_frames(settings.track) if overlap is None else overlap
        starts = list(range(0, n, segment))
        turn = engine.clip_turn(clip) or 0  # once per clip, as veil.scale does
        for i, start in enumerate(starts):
            end = min(n, start + segment)
            lo, hi = max(0, start - over), min(n, end + over)
            last = i == len(starts) - 1
            window = [f.copy() for f in clip[lo:hi]]  # masking works in place
            for k, (rgb, regions) in enumerate(
                engine.video_regions(window, first_index=lo, detect_last=last, face_turn=turn)
            ):
                if start <= lo + k < end:
                    yield rgb, regions, regions

    return ranked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data folder")
    ap.add_argument("--out", type=Path, default=Path("/tmp/veil-sbench"))
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--segment", type=int, default=20, help="frames per segment core")
    ap.add_argument(
        "--overlaps", type=int, nargs="+", default=[0, 8],
        help="reduced overlaps to compare with the default one",
    )  # fmt: skip
    ap.add_argument("--labels", nargs="+", default=["face", "plate"], choices=["face", "plate"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    wanted = {lab: args.out / f"{lab}s" / "clips.json" for lab in args.labels}
    if not all(p.is_file() for p in wanted.values()):
        data = args.data or default_data()
        if not data.is_dir():
            print(f"no data at {data} and no clips in {args.out}", file=sys.stderr)
            return EXIT_NO_DATA
        faces = [data / s / "annotations.json" for s in FACE_SETS] if "face" in args.labels else []
        plates = (
            [data / s / "annotations.json" for s in PLATE_SETS] if "plate" in args.labels else []
        )
        build(args.out, faces, plates, args.clips, args.frames, args.seed)
    default = overlap_frames(Settings().track)
    configs = {"whole clip (one process)": None, f"segments of {args.segment}, overlap "
               f"{default} (default)": segmented_ranked(args.segment, None)}  # fmt: skip
    for o in args.overlaps:
        configs[f"segments of {args.segment}, overlap {o}"] = segmented_ranked(args.segment, o)
    original = runner._video_ranked
    rows = []
    try:
        for name, ranked in configs.items():
            runner._video_ranked = ranked or original
            for label, path in wanted.items():
                t0 = time.perf_counter()
                metrics, _ = runner.evaluate(path, Settings(), quiet=True)
                row = {"config": name, "label": label, "wall": time.perf_counter() - t0}
                rows.append({**row, **_find_mask_metrics(metrics, label)})
                print(f"done: {table(rows[-1:]).splitlines()[-1]}", file=sys.stderr, flush=True)
    finally:
        runner._video_ranked = original
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
