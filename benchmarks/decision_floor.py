"""How far a perfect per-track decision could go: the least area any subset of veil's tracks masks.

The learned decision chooses which of the tracker's face tracks are masked; it
cannot change their boxes. This script asks what the best possible choice would
give. It runs the video path of ``veil mask`` with the defaults (faces only,
solid fill), keeps every track's mask on the annotated frames, and picks, by a
greedy set cover, a small-area subset of the tracks that still hides every
annotated face the tracks hide together (central region >= 90% covered, as the
leak count asks; ``ignore`` faces need not be hidden). It prints, per clip and
pooled:

* masked share: the share of each annotated frame's pixels the masks cover;
* false-mask share: the pixels masked outside every annotated face (``ignore``
  ones included) grown 25% per side, as ``video_leaks.py`` counts it;

for every track (what veil masks today, the decision included) and for the
subset, and what the tracks left out touch: a counted face, only ``ignore`` faces,
or nothing. The greedy cover is not the optimum, so the subset's figures are an
upper bound on the floor, not the floor itself.

    python benchmarks/decision_floor.py benchmarks/real_videos/annotations.json
    python benchmarks/decision_floor.py /tmp/veil-vbench/faces/clips.json

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

from veil.evaluate.dataset import load_dataset
from veil.evaluate.metrics import central_coverage
from veil.media import video as video_io
from veil.pipeline import Engine
from veil.regions import Regions
from veil.settings import DetectSettings, MaskSettings, Settings

EXIT_NO_DATA = 3
HERE = Path(__file__).resolve().parent


class Clip:
    """One clip's tracks, as cropped masks per annotated frame, and its faces."""

    def __init__(self, engine: Engine, video) -> None:
        self.frames: list[int] = []
        self.masks: dict[int, dict[int, tuple[int, int, np.ndarray]]] = {}
        self.allowed: list[np.ndarray] = []  # faces grown 25%: not false
        self.faces: list[tuple[int, np.ndarray]] = []  # (frame position, xyxy) counted
        self.touch: dict[int, str] = {}
        with video_io.iter_frames(video.file, engine.settings.limits) as decoded:
            regions_of = engine.video_regions(f.image for f in decoded)
            for i, (rgb, regions) in enumerate(regions_of):
                if i in video.frames:
                    self._add(engine, rgb, regions, video.frames[i])

    def _add(self, engine: Engine, rgb: np.ndarray, regions: Regions, boxes) -> None:
        k = len(self.frames)
        self.frames.append(k)
        self.shape = rgb.shape[:2]
        h, w = self.shape
        faces = [b for b in boxes if b.label == "face"]
        allowed = np.zeros((h, w), bool)
        if faces:
            grown = Regions(np.array([b.xyxy for b in faces], np.float32)).expand(0.25).xyxy
            for x1, y1, x2, y2 in grown:
                allowed[max(0, int(y1)) : int(np.ceil(y2)), max(0, int(x1)) : int(np.ceil(x2))] = 1
        self.allowed.append(allowed)
        self.faces += [(k, np.array(b.xyxy, np.float32)) for b in faces if not b.ignore]
        blank = np.zeros_like(rgb)
        for j, tid in enumerate(regions.track_ids.tolist()):
            m = engine.mask(blank, regions[np.array([j])])[1]
            ys, xs = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
            if not len(ys):
                continue
            crop = m[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
            self.masks.setdefault(tid, {})[k] = (int(ys[0]), int(xs[0]), crop)
            x1, y1, x2, y2 = xs[0], ys[0], xs[-1] + 1, ys[-1] + 1
            for b in faces:  # what this track's mask touches, the strongest kind kept
                if x1 < b.x2 and x2 > b.x1 and y1 < b.y2 and y2 > b.y1:
                    kind = "ignore face" if b.ignore else "face"
                    if self.touch.get(tid) != "face":
                        self.touch[tid] = kind
            self.touch.setdefault(tid, "nothing")

    def union(self, tids, k: int) -> np.ndarray:
        out = np.zeros(self.shape, bool)
        for t in tids:
            e = self.masks[t].get(k)
            if e is not None:
                y0, x0, crop = e
                out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] |= crop
        return out

    def hidden(self, tids, which) -> set[int]:
        """Which of the faces (indices into ``self.faces``) ``tids`` hide."""
        out = set()
        unions: dict[int, np.ndarray] = {}  # one union per frame, for all its faces
        for u in which:
            k, box = self.faces[u]
            if k not in unions:
                unions[k] = self.union(tids, k)
            if central_coverage(unions[k], box[None])[0] >= 0.9:
                out.add(u)
        return out

    def cover(self) -> set[int]:
        """A small-area subset of tracks hiding every face all tracks hide (greedy)."""
        every = set(self.masks)
        need = self.hidden(every, range(len(self.faces)))
        cost = {
            t: sum(
                (c & ~self.allowed[k][y0 : y0 + c.shape[0], x0 : x0 + c.shape[1]]).sum()
                for k, (y0, x0, c) in self.masks[t].items()
            )
            for t in every
        }
        chosen: set[int] = set()
        left = set(need)
        while left:
            best, value = None, 0.0
            for t in every - chosen:
                here = {u for u in left if self.faces[u][0] in self.masks[t]}
                gain = len(self.hidden(chosen | {t}, here)) if here else 0
                if gain and gain / (cost[t] + 1.0) > value:
                    best, value = t, gain / (cost[t] + 1.0)
            if best is None:
                break
            chosen.add(best)
            left -= self.hidden(chosen, left)
        self.coverable = len(need)
        return chosen

    def shares(self, tids) -> tuple[float, float]:
        """(masked pixels, false-mask pixels) summed over the annotated frames."""
        masked = false = 0
        for k in self.frames:
            m = self.union(tids, k)
            masked += int(m.sum())
            false += int((m & ~self.allowed[k]).sum())
        return masked, false


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("annotations", type=Path, nargs="?",
                    default=HERE / "real_videos" / "annotations.json")  # fmt: skip
    ap.add_argument("--clips", default="", help="comma-separated clip stems (default: all)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    ds = load_dataset(args.annotations, check_files=False)
    want = {c for c in args.clips.split(",") if c}
    videos = [v for v in ds.videos if not want or Path(v.file).stem in want]
    if not videos or not all(Path(v.file).is_file() for v in videos):
        print("clips not found; nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    settings = Settings(detect=DetectSettings(targets=("face",)), mask=MaskSettings(method="fill"))
    engine = Engine(settings)
    rev = commit()
    print(f"veil decision floor, faces only, defaults; {time.strftime('%Y-%m-%d %H:%M')} "
          f"{platform.machine()} commit {rev}")  # fmt: skip
    print(
        "| clip | tracks: all / subset | faces hidden | masked share: all / subset "
        "| false-mask: all / subset | left out touching a face / ignore face / nothing |"
    )
    print("|---|---|---|---|---|---|")
    pix = masked_all = masked_sub = false_all = false_sub = 0
    extra = {"face": 0, "ignore face": 0, "nothing": 0}
    for v in videos:
        clip = Clip(engine, v)
        sub = clip.cover()
        every = set(clip.masks)
        n = len(clip.frames) * clip.shape[0] * clip.shape[1]
        ma, fa = clip.shares(every)
        ms, fs = clip.shares(sub)
        here = {}
        for kind in extra:
            group = {t for t in every - sub if clip.touch[t] == kind}
            added = clip.shares(sub | group)[1] - fs
            here[kind] = f"{100 * added / n:.2f}% ({len(group)})"
            extra[kind] += added
        pix, masked_all, masked_sub = pix + n, masked_all + ma, masked_sub + ms
        false_all, false_sub = false_all + fa, false_sub + fs
        print(f"| {Path(v.file).name} | {len(every)} / {len(sub)} | {clip.coverable} of "
              f"{len(clip.faces)} | {100 * ma / n:.2f}% / {100 * ms / n:.2f}% | "
              f"{100 * fa / n:.2f}% / {100 * fs / n:.2f}% | "
              f"{' / '.join(here.values())} |", flush=True)  # fmt: skip
    print(f"| **all** | | | {100 * masked_all / pix:.2f}% / {100 * masked_sub / pix:.2f}% | "
          f"{100 * false_all / pix:.2f}% / {100 * false_sub / pix:.2f}% | "
          f"{' / '.join(f'{100 * x / pix:.2f}%' for x in extra.values())} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
