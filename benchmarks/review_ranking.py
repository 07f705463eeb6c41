"""What review ranks tracks by: the highest P(face) of a track, or another statistic of its P.

A track's ``confidence`` is the highest P(face) the learned decision gave it over
its life (``FaceTrackDecider.confidences``). Two parts (docs/review.md, "The
highest P, or another statistic of a track's P?"):

* ``train A.npz [B.npz ...]`` (``tools/decide_train.py extract`` outputs, from
  training clips only to choose, from the real clips only to check): per
  statistic, the AUC of face against clutter tracks, over every track and over
  the tracks the decision masks (highest P at or over its threshold);
* ``clips --clips tokyo_street --cache DIR``: each real clip detected as
  ``veil detect --project`` does (today's settings), with every P the decision
  gives each face track recorded; then, per statistic in place of the
  confidence, what ``benchmarks/review_clips.py``'s reviewer gets: the AUC of
  true against false tracks, the safe threshold and the share after it, the
  best area run, and the band plan within 10 actions (the "very likely a face"
  confirmation stays on the highest P).

    python benchmarks/review_ranking.py train /tmp/trs.npz /tmp/trt.npz
    python benchmarks/review_ranking.py clips --clips tokyo_street,hamilton_whitehouse

Exit status: 0 measured, 3 nothing measured (the clips are absent).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import review_clips as rc  # noqa: E402
from bench_info import commit

from veil.decide import load_bundled  # noqa: E402
from veil.evaluate.dataset import load_dataset  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.project import FileEntry, Project, schema  # noqa: E402
from veil.project import review as rv  # noqa: E402
from veil.project.build import detect_entry  # noqa: E402
from veil.settings import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent
EXIT_NO_DATA = 3
MODEL = load_bundled()
#: a track ever rated this high is no longer checked for a lapse (TrackSettings.unlikely_below)
LIKELY = 0.5


def best_run(p: np.ndarray, k: int, how: str) -> float:
    """The best stretch of ``k`` detector runs in a row: its lowest P, or its mean P."""
    if len(p) <= k:
        return float(p.min() if how == "min" else p.mean())
    w = np.lib.stride_tricks.sliding_window_view(p, k)
    return float((w.min(axis=1) if how == "min" else w.mean(axis=1)).max())


#: the statistics tried, of one track's P per detector run in order
STATS: dict[str, Callable[[np.ndarray], float]] = {
    "highest (today)": lambda p: float(p.max()),
    "mean": lambda p: float(p.mean()),
    "median": lambda p: float(np.median(p)),
    "share >= threshold": lambda p: float((p >= MODEL.threshold).mean()),
    "best 2 in a row (lowest)": lambda p: best_run(p, 2, "min"),
    "best 3 in a row (lowest)": lambda p: best_run(p, 3, "min"),
    "best 3 in a row (mean)": lambda p: best_run(p, 3, "mean"),
    "best 4 in a row (lowest)": lambda p: best_run(p, 4, "min"),
    "last": lambda p: float(p[-1]),
    f"highest if >= {LIKELY}, else median": lambda p: float(
        p.max() if p.max() >= LIKELY else np.median(p)
    ),
    f"highest if >= {LIKELY}, else mean": lambda p: float(
        p.max() if p.max() >= LIKELY else p.mean()
    ),
}


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (ties count half): how often a positive outranks a negative."""
    y = np.asarray(y, bool)
    if y.all() or not y.any():
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = np.asarray(s)[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# -- training clips ---------------------------------------------------------------------------
def npz_tracks(npz: Path) -> list[tuple[int, np.ndarray]]:
    """(label, P per sighting in order) per track of an ``extract`` output."""
    sys.path.insert(0, str(HERE.parent / "tools"))
    import decide_train as dt

    d = dt.load(npz)
    p = MODEL.predict(d["x"])
    return [(label, pp) for label, _, pp in dt._tracks(d, p)]


def train_table(name: str, tracks: list[tuple[int, np.ndarray]]) -> dict:
    rows = [(label, p) for label, p in tracks if label in (0, 1)]  # clutter, face
    y = np.array([label == 1 for label, _ in rows])
    masked = np.array([p.max() >= MODEL.threshold for _, p in rows])
    out: dict = {
        "set": name,
        "face": int(y.sum()),
        "clutter": int((~y).sum()),
        "masked_face": int(y[masked].sum()),
        "masked_clutter": int((~y[masked]).sum()),
    }
    for sname, f in STATS.items():
        s = np.array([f(p) for _, p in rows])
        out[sname] = {"all": round(auc(y, s), 3), "masked": round(auc(y[masked], s[masked]), 3)}
    return out


# -- real clips -------------------------------------------------------------------------------
class RecordingEngine(Engine):
    """An engine whose face decider records every observation (tid, seq, features, row)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, photos=False)
        self.record: list = []

    def video_decider(self, recorder=None, learned: bool = True, advisory: bool = False):
        return super().video_decider(self.record, learned, advisory)


def recorded_entry(path: Path) -> tuple[FileEntry, dict[int, np.ndarray]]:
    """The clip's project entry as ``veil detect --project`` makes it, and each face track's P
    per detector run, in order."""
    engine = RecordingEngine(Settings())
    entry = detect_entry(engine, path, path.name)
    feats: dict[int, list] = {}
    for tid, _seq, f, _row in engine.record:
        feats.setdefault(int(tid), []).append(f)
    return entry, {t: MODEL.predict(np.stack(f)) for t, f in feats.items()}


def with_evidence(entry: FileEntry, value: dict[int, float]) -> FileEntry:
    """``entry`` with each face track's confidence replaced by ``value``."""
    return replace(
        entry,
        tracks={
            i: replace(t, confidence=value[i]) if i in value else t for i, t in entry.tracks.items()
        },
    )


def review_with(entry: FileEntry, truth: rc.Truth, highest: FileEntry) -> dict:
    """The review flows on ``entry`` (evidence replaced); the confirmation asked where
    ``highest`` (the shipped confidence) rates a track very likely a face."""
    frames = sorted(truth.gt)
    every = {t.id for t in entry.tracks.values() if t.enabled}
    plan = rc.review_plan(entry, truth)
    kept = every - set(plan["off"])
    after_run = kept - set(plan["area_run"])
    band = rc.band_plan(entry, truth, likely=lambda t: rv.likely_face(highest.tracks[t.id]))
    faces = [t for t in entry.tracks.values() if t.confidence is not None]
    y = [(truth.labels[t.id] == "true", t.confidence) for t in faces
         if truth.labels[t.id] in ("true", "false")]  # fmt: skip
    return {
        "auc_true_false": round(auc(*map(np.array, zip(*y, strict=True))), 3) if y else None,
        "safe_threshold": round(plan["threshold"], 3),
        "off_by_label": plan["off_by_label"],
        "share_after_threshold": rc.masked_share(entry, frames, kept),
        "share_after_area_run": rc.masked_share(entry, frames, after_run),
        "band": {
            k: band.get(k)
            for k in (
                "min_size",
                "max_size",
                "band_threshold",
                "off",
                "actions",
                "share",
                "unmasked",
            )
        },  # fmt: skip
        "unmasked_after_threshold": rc.faces_unmasked(entry, truth, kept),
    }


def clips(args) -> list[dict]:
    ds = load_dataset(args.annotations, check_files=False)
    wanted = {c for c in args.clips.split(",") if c}
    out = []
    for video in ds.videos:
        path = Path(video.file)
        if (wanted and path.stem not in wanted) or not path.is_file():
            continue
        entry, ps = recorded_entry(path)
        cached = args.cache / f"{path.stem}.project.json"
        same = None
        if cached.is_file():  # as the project file holds it (rounded)
            old = Project.load(cached).files[0]
            new = schema.loads(schema.dumps([replace(entry, file=old.file)], "bench"))[0][0]
            same = {i: (t.keyframes, t.confidence) for i, t in old.tracks.items()} == {
                i: (t.keyframes, t.confidence) for i, t in new.tracks.items()
            }
        faces = [t for t in entry.tracks.values() if t.confidence is not None]
        gap = max((abs(round(float(ps[t.id].max()), 4) - t.confidence) for t in faces), default=0)
        truth = rc.label_tracks(entry, video)
        res: dict = {"clip": path.name, "face_tracks": len(faces), "same_as_cache": same,
                     "highest_vs_confidence": gap, "stats": {}}  # fmt: skip
        for name, f in STATS.items():
            value = {t.id: min(1.0, max(0.0, f(ps[t.id]))) for t in faces}
            res["stats"][name] = review_with(with_evidence(entry, value), truth, entry)
        out.append(res)
        print(json.dumps(res, default=float), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="AUC per statistic on extract outputs")
    t.add_argument("npz", type=Path, nargs="+")
    c = sub.add_parser("clips", help="the review flows per statistic on the real clips")
    c.add_argument("--annotations", type=Path, default=HERE / "real_videos" / "annotations.json")
    c.add_argument("--clips", default="tokyo_street,hamilton_whitehouse")
    c.add_argument("--cache", type=Path, default=Path("/tmp/review25"),
                   help="review_clips.py's projects, to check the tracks are the same")  # fmt: skip
    for p in (t, c):
        p.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    rev = commit()
    print(f"veil review ranking; {time.strftime('%Y-%m-%d %H:%M')} {platform.machine()} "
          f"commit {rev}", flush=True)  # fmt: skip
    if args.cmd == "train":
        every: list = []
        results = []
        for npz in args.npz:
            tracks = npz_tracks(npz)
            every += tracks
            results.append(train_table(npz.stem, tracks))
            print(json.dumps(results[-1]), flush=True)
        if len(args.npz) > 1:
            results.append(train_table("pooled", every))
            print(json.dumps(results[-1]), flush=True)
    else:
        results = clips(args)
        if not results:
            print("sample clips not found (../shared/data/videos); nothing measured",
                  file=sys.stderr)  # fmt: skip
            return EXIT_NO_DATA
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
