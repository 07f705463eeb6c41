"""Video leaks on the moving-camera benchmark: per-frame detection vs tracking.

Builds the benchmark (benchmarks/make_video_bench.py) unless OUT already holds it,
then runs ``veil.evaluate.runner.evaluate`` in-process for each configuration
and prints a markdown table: leak rate (share of (object, frame) pairs whose
central region is not masked), objects leaking in >= 1 frame, masked rate, the
false-mask share (frame pixels masked outside every annotated box grown by 25%,
over all frame pixels of the annotated frames) and wall time.

    python benchmarks/video_leaks.py --data ../shared/data --out /tmp/veil-vbench
    python benchmarks/video_leaks.py --out /tmp/heldout-vbench --no-build   # reuse clips

Exit status: 0 measured, 3 nothing measured (no clips and no data to build them from).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from make_video_bench import EXIT_NO_DATA, FACE_SETS, PLATE_SETS, build, default_data

from veil.evaluate.runner import evaluate
from veil.settings import FACE_MODELS, DetectSettings, Settings, TrackSettings

CONFIGS: dict[str, TrackSettings] = {
    "per-frame, no tracking": TrackSettings(enabled=False),
    f"default (tracking, detect_every={TrackSettings().detect_every})": TrackSettings(),
    "the confirm rule instead of the learned decision": TrackSettings(decide="rule"),
    # what each way of growing a track's mask buys (and costs) in leaks
    "extension 4 frames before/after (8)": TrackSettings(pre_frames=4, post_frames=4),
    "no extension before/after": TrackSettings(pre_frames=0, post_frames=0),
    "motion growth 0.5 (1.0)": TrackSettings(motion_margin=0.5),
    "no motion growth": TrackSettings(motion_margin=0.0),
    "tracking, detect_every=3": TrackSettings(detect_every=3),
    "tracking, detect_every=1": TrackSettings(detect_every=1),
}


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}%" if pct else f"{v:.3f}"


def run(
    benchmarks: dict[str, Path],
    configs: dict[str, TrackSettings],
    detect: DetectSettings | None = None,
) -> list[dict]:
    """Evaluate each configuration on each benchmark; one row per (config, label)."""
    rows = []
    for name, track in configs.items():
        settings = Settings().evolve(track=track)
        if detect is not None:
            settings = settings.evolve(detect=detect)
        for label, path in benchmarks.items():
            t0 = time.perf_counter()
            metrics, _ = evaluate(path, settings, quiet=True)
            wall = time.perf_counter() - t0
            m = _find_mask_metrics(metrics, label)
            rows.append({"config": name, "label": label, "wall": wall, **m})
            print(f"done: {table(rows[-1:]).splitlines()[-1]}", file=sys.stderr, flush=True)
    return rows


def _find_mask_metrics(metrics: dict, label: str) -> dict:
    """The mask block for ``label`` (``metrics[label]['mask']`` or ``metrics[label]``)."""
    block = metrics.get(label) or metrics.get("classes", {}).get(label) or {}
    mask = block.get("mask", block) if isinstance(block, dict) else {}
    keys = ("leak_rate", "leaked_objects", "objects", "masked_rate", "false_mask_share")
    return {k: mask.get(k) for k in keys}


def table(rows: list[dict]) -> str:
    lines = [
        "| config | class | leak rate | leaked objects | masked rate | false-mask share | wall s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        objs = "-" if r["objects"] is None else f"{r['leaked_objects']}/{r['objects']}"
        lines.append(
            f"| {r['config']} | {r['label']} | {_fmt(r['leak_rate'])} | {objs} "
            f"| {_fmt(r['masked_rate'])} | {_fmt(r.get('false_mask_share'))} | {r['wall']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data folder")
    ap.add_argument("--out", type=Path, default=Path("/tmp/veil-vbench"))
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--frames", type=int, default=45)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if clips exist")
    ap.add_argument("--no-build", action="store_true", help="only use existing clips")
    ap.add_argument("--labels", nargs="+", default=["face", "plate"], choices=["face", "plate"])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--video-face-models", choices=FACE_MODELS, default=None,
                    help="bundled face networks for video (default: veil's default)")  # fmt: skip
    ap.add_argument("--face-confidence", type=float, default=None,
                    help="the learned decision's operating point for every configuration "
                    "(default: the bundled model's)")  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    wanted = {lab: args.out / f"{lab}s" / "clips.json" for lab in args.labels}
    missing = [lab for lab, p in wanted.items() if args.rebuild or not p.is_file()]
    if missing and not args.no_build:
        data = args.data or default_data()
        if not data.is_dir():
            print(f"data folder {data} not found and no clips in {args.out}; nothing measured",
                  file=sys.stderr)  # fmt: skip
            return EXIT_NO_DATA
        src = {"face": FACE_SETS, "plate": PLATE_SETS}
        paths = {
            lab: [data / s / "annotations.json" for s in src[lab] if lab in missing]
            for lab in ("face", "plate")
        }
        build(args.out, paths["face"], paths["plate"], args.clips, args.frames, args.seed)
    benchmarks = {lab: p for lab, p in wanted.items() if p.is_file()}
    if not benchmarks:
        print(f"no benchmark clips in {args.out}; nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    detect = (
        DetectSettings(video_face_models=args.video_face_models) if args.video_face_models else None
    )
    configs = {k: replace(CONFIGS[k], face_confidence=args.face_confidence) for k in args.configs}
    rows = run(benchmarks, configs, detect)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
