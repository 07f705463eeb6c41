"""Stack the contact sheets of several ``real_clips.py --sheets`` runs, one row per run.

    python benchmarks/contact_sheets.py --out /tmp/real-clips \\
        "before (commit 9f1d065)=/tmp/sheets_old" "default=/tmp/sheets_new"

Each input folder holds one JPEG per clip (a few masked frames side by side); the
output holds one JPEG per clip with a labelled row per run. The frames are
masked outputs, small, for the README.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("runs", nargs="+", help="LABEL=FOLDER")
    args = ap.parse_args(argv)
    runs = [r.split("=", 1) for r in args.runs]
    args.out.mkdir(parents=True, exist_ok=True)
    for sheet in sorted(Path(runs[0][1]).glob("*.jpg")):
        rows = []
        for label, folder in runs:
            img = Image.open(Path(folder) / sheet.name).convert("RGB")
            bar = Image.new("RGB", (img.width, 18), (255, 255, 255))
            ImageDraw.Draw(bar).text((4, 3), label, fill=(0, 0, 0))
            rows += [np.asarray(bar), np.asarray(img)]
        Image.fromarray(np.concatenate(rows)).save(args.out / sheet.name, quality=70)
    return 0


if __name__ == "__main__":
    sys.exit(main())
