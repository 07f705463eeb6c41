"""Build the moving-camera video benchmark from annotated stills (see veil.evaluate.synth).

    python benchmarks/make_video_bench.py --data ../shared/data --out /tmp/veil-vbench
    python benchmarks/make_video_bench.py --faces path/annotations.json --plates a.json b.json \
        --out /tmp/other-vbench
    # clips from stills the first benchmark did not use (held out from tuning):
    python benchmarks/make_video_bench.py --seed 1 --clips 24 --exclude-from /tmp/veil-vbench \
        --out /tmp/heldout-vbench

Writes OUT/faces/clips.json (from faces_wider_val) and OUT/plates/clips.json (from
plates_openalpr + plates_romania, drawn round-robin), each in the ``veil eval``
video format: ``veil eval OUT/faces/clips.json``. Exits with status 3 (nothing built)
when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from veil.evaluate.synth import DEFAULT_SIZE, build_benchmark

#: nothing was built or measured (data missing): a wrapper must not read this as a pass
EXIT_NO_DATA = 3

FACE_SETS = ("faces_wider_val",)
PLATE_SETS = ("plates_openalpr", "plates_romania")


def default_data() -> Path:
    env = os.environ.get("VEIL_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def build(
    out: Path,
    faces: list[Path],
    plates: list[Path],
    clips: int,
    frames: int,
    seed: int,
    size: tuple[int, int] = DEFAULT_SIZE,
    crf: int = 23,
    exclude: frozenset[str] = frozenset(),
) -> dict[str, Path]:
    """Build whichever of the two benchmarks have sources; returns {label: clips.json}."""
    built = {}
    for label, sources in (("face", faces), ("plate", plates)):
        if not sources:
            continue
        t0 = time.perf_counter()
        built[label] = build_benchmark(
            sources,
            out / f"{label}s",
            clips,
            frames,
            seed,
            (label,),
            size=size,
            crf=crf,
            exclude=exclude,
        )
        print(f"{label}s: {built[label]} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return built


def used_stills(bench: Path) -> frozenset[str]:
    """The stills (``source`` fields) behind every clip of a built benchmark folder."""
    used = set()
    for clips in bench.glob("*/clips.json"):
        used |= {v["source"] for v in json.loads(clips.read_text())["videos"]}
    return frozenset(used)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data folder")
    ap.add_argument("--faces", type=Path, nargs="*", help="face annotations.json files")
    ap.add_argument("--plates", type=Path, nargs="*", help="plate annotations.json files")
    ap.add_argument("--out", type=Path, default=Path("/tmp/veil-vbench"))
    ap.add_argument("--clips", type=int, default=12, help="clips per benchmark")
    ap.add_argument("--frames", type=int, default=45, help="frames per clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="WxH, even")
    ap.add_argument("--crf", type=int, default=23)
    ap.add_argument(
        "--exclude-from",
        type=Path,
        nargs="*",
        default=[],
        help="benchmark folders whose stills must not be used (held-out clips)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    faces, plates = args.faces, args.plates
    if faces is None and plates is None:
        data = args.data or default_data()
        if not data.is_dir():
            print(f"data folder {data} not found: nothing built", file=sys.stderr)
            return EXIT_NO_DATA
        faces = [data / s / "annotations.json" for s in FACE_SETS]
        plates = [data / s / "annotations.json" for s in PLATE_SETS]
    faces = [p for p in faces or [] if p.is_file()]
    plates = [p for p in plates or [] if p.is_file()]
    if not faces and not plates:
        print("no annotations.json found: nothing built", file=sys.stderr)
        return EXIT_NO_DATA
    exclude = frozenset().union(*(used_stills(b) for b in args.exclude_from))
    if args.exclude_from:
        print(f"excluding {len(exclude)} stills used by {args.exclude_from}", file=sys.stderr)
    build(args.out, faces, plates, args.clips, args.frames, args.seed, args.size, args.crf, exclude)
    return 0


if __name__ == "__main__":
    sys.exit(main())
