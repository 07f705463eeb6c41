"""Train the learned face/not-face decision for video tracks (development time only).

Recipe (see src/veil/models/MODELS.md, "decide_video_faces.json"):

1. Training clips from WIDER FACE *training* stills (never the evaluation sets), at
   three sizes so that small faces are in the data, each set from stills the others
   did not use (:data:`SETS`; about 25 minutes on 2 cores)::

       python tools/decide_train.py build ../shared/data/faces_wider_train/annotations.json \\
           /tmp/train

2. Evidence per track, labelled against the clips' ground truth::

       for s in a b c; do
           python tools/decide_train.py extract /tmp/train/$s/clips.json /tmp/$s.npz
       done

3. Fit and export (needs scikit-learn, dev time only)::

       python tools/decide_train.py fit /tmp/a.npz /tmp/b.npz /tmp/c.npz --recall 0.985 \\
           --out src/veil/models/decide_video_faces.json

``extract`` runs veil's own video path (CenterFace every 4th frame, the
tracker, the frame verifier) with a recorder on the decision, so the features
are exactly those computed at run time. A track is labelled a face when most
of its detections overlap a non-ignored ground-truth face (IoU >= 0.3), clutter
when most overlap nothing (IoU < 0.05), and is left out otherwise (``ignore``
boxes, or boxes that hold part of a face).
``extract`` also runs on evaluation clips to *check* the model (``report``),
never to fit it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from veil.decide import FEATURES, DecisionModel
from veil.decide.evidence import OBSERVATION, track_features
from veil.decide.tracks import WINDOW
from veil.media import video as video_io
from veil.pipeline import Engine
from veil.regions import iou_matrix
from veil.settings import DetectSettings, Settings, TrackSettings

FACE, CLUTTER, IGNORE = 1, 0, -1
#: the training clip sets: (folder, clips, seed, frame size)
SETS = (("a", 130, 11, (960, 540)), ("b", 110, 12, (640, 360)), ("c", 80, 13, (480, 270)))


def build(annotations: Path, out: Path) -> None:
    """The training clips of :data:`SETS`, each from stills no earlier set used."""
    from veil.evaluate.synth import build_benchmark

    used: set[str] = set()
    for name, n, seed, size in SETS:
        clips = build_benchmark(
            [annotations], out / name, n_clips=n, frames_per_clip=45, seed=seed,
            labels=("face",), size=size, exclude=frozenset(used),
        )  # fmt: skip
        used |= {v["source"] for v in json.loads(clips.read_text())["videos"]}
        print(f"{clips}", file=sys.stderr, flush=True)


_O = {k: i for i, k in enumerate(OBSERVATION)}


def _label_observation(row: np.ndarray, boxes: list[dict]) -> int:
    cx, cy, w, h = row[_O["fx"]], row[_O["fy"]], row[_O["w"]], row[_O["h"]]
    box = np.array([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]], np.float32)
    if not boxes:
        return CLUTTER
    gt = np.array([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in boxes], np.float32)
    ov = iou_matrix(box, gt)[0]
    j = int(np.argmax(ov))
    if ov[j] < 0.05:
        return CLUTTER
    if ov[j] < 0.3:  # part of a face, or a box around one: neither clearly
        return IGNORE
    return IGNORE if boxes[j].get("ignore") else FACE


def extract(clips_json: Path, limit: int | None, start: int = 0) -> dict[str, np.ndarray]:
    doc = json.loads(clips_json.read_text())
    engine = Engine(
        Settings(detect=DetectSettings(targets=("face",)), track=TrackSettings(decide="learned"))
    )
    out: dict[str, list] = {k: [] for k in ("x", "obs", "clip", "tid", "k", "label", "n", "span")}
    videos = doc["videos"][start:limit]
    t0 = time.perf_counter()
    for ci, v in enumerate(videos):
        gt = {f["index"]: f["boxes"] for f in v["frames"]}
        rec: list = []
        decider = engine.video_decider(recorder=rec, learned=False)
        assert decider is not None, "the bundled CenterFace video path has a decider"
        with video_io.iter_frames(clips_json.parent / v["file"], engine.settings.limits) as fr:
            for _ in engine.video_regions((f.image for f in fr), decider=decider):
                pass
        by_tid: dict[int, list] = {}
        for tid, seq, feats, row in rec:
            by_tid.setdefault(tid, []).append((seq, feats, row))
        for tid, obs in by_tid.items():
            # only annotated frames vote (real clips are annotated every 10th frame)
            votes = [_label_observation(r, gt[int(s)]) for s, _, r in obs if int(s) in gt]
            counts = {c: votes.count(c) for c in (FACE, CLUTTER, IGNORE)}
            label = max(counts, key=lambda c: (counts[c], c == FACE)) if votes else IGNORE
            span = obs[-1][0] - obs[0][0] + 1
            for k, (_, feats, row) in enumerate(obs):
                out["x"].append(feats)
                out["obs"].append(row)
                out["clip"].append(start + ci)
                out["tid"].append(tid)
                out["k"].append(k)
                out["label"].append(label)
                out["n"].append(len(obs))
                out["span"].append(span)
        print(f"clip {ci + 1}/{len(videos)}: {len(by_tid)} tracks "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
    return {k: np.asarray(v) for k, v in out.items()}


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else float("nan")


def _tracks(d: dict[str, np.ndarray], p: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per track: its label, each observation's frame offset from its first, and P(face)."""
    keys = np.stack([d["clip"], d["tid"]], axis=1)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.lexsort((d["obs"][:, 0], inv))
    out = []
    for grp in np.split(order, np.flatnonzero(np.diff(inv[order])) + 1):
        seq = d["obs"][grp, 0]
        out.append((int(d["label"][grp[0]]), seq - seq[0], p[grp]))
    return out


def _masked(tracks: list, threshold: float, lookahead: int) -> tuple[float, float, float]:
    """What a threshold does, as veil runs it: (face frames masked, clutter frames
    masked, clutter tracks masked).

    A track is masked from its first observation whose P(face) reaches the
    threshold, on every frame still held back then (``lookahead`` frames) and
    after: a face decided late leaks the frames already written.
    """
    face_left = face_all = clut_masked = clut_all = clut_taken = clut_n = 0.0
    for label, rel, p in tracks:
        span = rel[-1] + 1
        hit = np.flatnonzero(p >= threshold)
        late = span if not len(hit) else min(span, max(0.0, rel[hit[0]] - lookahead))
        if label == FACE:
            face_left += late
            face_all += span
        elif label == CLUTTER:
            clut_n += 1
            clut_all += span
            clut_masked += span - late
            clut_taken += bool(len(hit))
    return 1 - face_left / face_all, clut_masked / clut_all, clut_taken / max(clut_n, 1)


def _threshold(tracks: list, recall: float, lookahead: int) -> float:
    """The highest threshold that masks at least ``recall`` of the face tracks' frames."""
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _masked(tracks, mid, lookahead)[0] >= recall else (lo, mid)
    return lo


def load(
    npz: Path | list[Path],
    detect_every: int = 4,
    window: int = WINDOW,
    drop: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Extracted samples, features recomputed from the stored observations (so that
    a change to the features needs no new extraction); several files are joined,
    their clips numbered apart. ``drop`` names verifier networks to leave out, as
    if never run (what a model without them would see)."""
    parts = [dict(np.load(p)) for p in (npz if isinstance(npz, list) else [npz])]
    offset = 0
    for part in parts:
        part["clip"] = part["clip"] + offset
        offset = int(part["clip"].max()) + 1 if len(part["clip"]) else offset
    d = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    order = np.lexsort((d["k"], d["tid"], d["clip"]))
    d = {k: v[order] for k, v in d.items()}
    for name in drop:
        d["obs"][:, _O[name]] = np.nan
    x = np.zeros((len(order), len(FEATURES)))
    start = 0
    for i in range(1, len(order) + 1):
        if i == len(order) or (d["clip"][i], d["tid"][i]) != (d["clip"][start], d["tid"][start]):
            for j in range(start, i):
                x[j] = track_features(d["obs"][max(start, j + 1 - window) : j + 1], detect_every)
            start = i
    d["x"] = x
    return d


def scored(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The samples of face and clutter tracks: ``IGNORE`` ones are neither fitted nor scored."""
    keep = d["label"] != IGNORE
    return {k: v[keep] for k, v in d.items()}


def _design(d: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Sample weights (each track weighs the same, whatever its length), the feature
    means and scales, and the standardised features."""
    x = d["x"]
    w = 1.0 / np.maximum(d["n"], 1)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    return w, mean, scale, (x - mean) / scale


def _make(hidden: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if hidden:
        return MLPClassifier((hidden,), alpha=1e-3, max_iter=2000, random_state=0)
    return LogisticRegression(C=1.0, max_iter=2000)


def _out_of_fold(d: dict[str, np.ndarray], hidden: int = 0) -> np.ndarray:
    """P(face) of every sample from a model fitted without its clip (five folds by clip)."""
    from sklearn.model_selection import GroupKFold

    w, _, _, z = _design(d)
    y, cv = d["label"], np.zeros(len(d["label"]))
    for tr, te in GroupKFold(5).split(z, y, d["clip"]):
        m = _make(hidden)
        if hidden:
            m.fit(z[tr], y[tr])
        else:
            m.fit(z[tr], y[tr], sample_weight=w[tr])
        cv[te] = m.predict_proba(z[te])[:, 1]
    return cv


def fit(
    npz: list[Path],
    out: Path,
    hidden: int,
    recall: float,
    lookahead: int,
    note: str = "",
    drop: tuple[str, ...] = (),
) -> None:
    d = scored(load(npz, drop=drop))
    y, groups = d["label"], d["clip"]
    w, mean, scale, z = _design(d)
    cv = _out_of_fold(d, hidden)
    tracks = _tracks(d, cv)
    threshold = _threshold(tracks, recall, lookahead)
    faces, clutter, taken = _masked(tracks, threshold, lookahead)
    is_face = np.array([t[0] == FACE for t in tracks])
    best = np.array([t[2].max() for t in tracks])
    print(f"cross-validated: AUC per observation {_auc(y, cv):.3f}, per track (best) "
          f"{_auc(is_face.astype(int), best):.3f}; at threshold {threshold:.3f} it masks "
          f"{faces:.3f} of the face tracks' frames, {clutter:.1%} of the clutter tracks' "
          f"frames ({taken:.1%} of the tracks); {is_face.sum()} face / "
          f"{(~is_face).sum()} clutter tracks", file=sys.stderr)  # fmt: skip
    m = _make(hidden)
    if hidden:
        m.fit(z, y)
        layers = [(m.coefs_[i], m.intercepts_[i]) for i in range(len(m.coefs_))]
    else:
        m.fit(z, y, sample_weight=w)
        layers = [(m.coef_.T, m.intercept_)]
    model = DecisionModel(
        FEATURES,
        mean,
        scale,
        tuple((np.asarray(a, np.float64), np.asarray(b, np.float64)) for a, b in layers),
        threshold,
        {
            "what": "P(face) for a video face track from its evidence so far (veil.decide)",
            "trained_on": f"{len(np.unique(groups))} synthetic moving-camera clips (45 frames) "
            "from faces_wider_train stills (WIDER FACE train): "
            + (note or ", ".join(p.name for p in npz))
            + "; never the evaluation sets",
            "samples": int(len(y)),
            "face_tracks": int(is_face.sum()),
            "clutter_tracks": int((~is_face).sum()),
            "kind": f"mlp({hidden})" if hidden else "logistic",
            "cv_auc_track": round(_auc(is_face.astype(int), best), 4),
            "cv_face_frames_masked": round(float(faces), 4),
            "cv_clutter_frames_masked": round(float(clutter), 4),
            "recall_target": recall,
            "lookahead": lookahead,
            "window": WINDOW,
        },
    )
    out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)


def report(npz: Path, model_path: Path, lookahead: int, drop: tuple[str, ...] = ()) -> None:
    """What a model does on (evaluation) clips' tracks: AUC and what its cut masks."""
    from sklearn.metrics import roc_auc_score

    d = scored(load(npz, drop=drop))
    model = DecisionModel.load(model_path)
    p = model.predict(d["x"])
    t = model.threshold
    for clip in np.unique(d["clip"]):
        sel = d["clip"] == clip
        tracks = _tracks({k: v[sel] for k, v in d.items()}, p[sel])
        if not any(label == FACE for label, _, _ in tracks):
            continue
        faces, clutter, taken = _masked(tracks, t, lookahead)
        print(f"{npz.name} clip {clip}: at {t:.3f} masks {faces:.3f} of the face tracks' "
              f"frames, {clutter:.1%} of the clutter tracks' frames ({taken:.1%} of "
              "them)")  # fmt: skip
    for i, name in enumerate(FEATURES):
        print(f"  {name:14s} AUC {roc_auc_score(d['label'], d['x'][:, i]):.3f}")


def curve(
    npz: list[Path],
    real: Path | None,
    model_path: Path,
    lookahead: int,
    out: Path,
    drop: tuple[str, ...] = (),
) -> None:
    """The trade-off every threshold makes, as veil runs it (decided with the look-ahead):
    face tracks' frames masked against clutter tracks' frames masked, out of fold on the
    training clips and, with ``real``, the bundled model on evaluation clips' tracks
    (never fitted on). Written as an SVG for the docs, the operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "veil"  # the same file for the same numbers
    import matplotlib.pyplot as plt

    model = DecisionModel.load(model_path)
    cuts = np.geomspace(0.003, 0.95, 80)
    curves = []
    d = scored(load(npz, drop=drop))
    curves.append(("training clips, out of fold", _tracks(d, _out_of_fold(d))))
    if real is not None:
        e = scored(load(real, drop=drop))
        name = "real clips, the shipped model (evaluation)"
        curves.append((name, _tracks(e, model.predict(e["x"]))))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, tracks in curves:
        pts = np.array([_masked(tracks, t, lookahead)[:2] for t in cuts])
        (line,) = ax.plot(pts[:, 1], pts[:, 0], label=name)
        face, clutter, _ = _masked(tracks, model.threshold, lookahead)
        ax.plot([clutter], [face], "o", color=line.get_color())
        print(f"{name}: at the operating point {model.threshold:.3f} it masks {face:.3f} "
              f"of the face tracks' frames and {clutter:.1%} of the clutter tracks' "
              "frames")  # fmt: skip
        for t in (0.02, 0.05, 0.1, 0.2, 0.5):
            f_, c_, _ = _masked(tracks, t, lookahead)
            print(f"  threshold {t:.2f}: faces {f_:.3f}, clutter {c_:.1%}")
    ax.axhline(model.info.get("recall_target", 0.985), color="grey", lw=0.6, ls=":")
    ax.set(
        xlabel="clutter tracks' frames masked",
        ylabel="face tracks' frames masked",
        xlim=(0, 1),
        ylim=(0.9, 1.001),
        title=f"P(face) thresholds, look-ahead {lookahead} frames (dot: {model.threshold:.3f})",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata={"Date": None})
    print(f"wrote {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("annotations", type=Path)
    b.add_argument("out", type=Path)
    e = sub.add_parser("extract")
    e.add_argument("clips", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--limit", type=int)
    e.add_argument("--start", type=int, default=0)
    f = sub.add_parser("fit")
    f.add_argument("npz", type=Path, nargs="+")
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--hidden", type=int, default=0, help="hidden units (0: logistic)")
    f.add_argument("--note", default="", help="how the clips were made (kept in the model)")
    f.add_argument("--recall", type=float, default=0.985,
                   help="share of the face tracks' frames to mask")  # fmt: skip
    r = sub.add_parser("report")
    r.add_argument("npz", type=Path)
    r.add_argument("--model", type=Path, required=True)
    c = sub.add_parser("curve")
    c.add_argument("npz", type=Path, nargs="+", help="training extracts (fitted out of fold)")
    c.add_argument("--real", type=Path, help="an evaluation extract (the model only applied)")
    c.add_argument("--model", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True, help="an SVG file")
    for p in (f, r, c):
        p.add_argument("--lookahead", type=int, default=TrackSettings().lookahead,
                       help="frames held back while a track is decided")  # fmt: skip
        p.add_argument("--drop", nargs="*", default=[], choices=["yunet", "yolo"],
                       help="verifier networks to leave out, as if never run")  # fmt: skip
    a = ap.parse_args(argv)
    if a.cmd == "build":
        build(a.annotations, a.out)
    elif a.cmd == "extract":
        np.savez(a.out, **extract(a.clips, a.limit, a.start))
    elif a.cmd == "curve":
        curve(a.npz, a.real, a.model, a.lookahead, a.out, tuple(a.drop))
    elif a.cmd == "fit":
        fit(a.npz, a.out, a.hidden, a.recall, a.lookahead, a.note, tuple(a.drop))
    else:
        report(a.npz, a.model, a.lookahead, tuple(a.drop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
