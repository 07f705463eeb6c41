"""Train the photo path's learned decision for large fused face clusters.

Development time only (scikit-learn); the run time reads the JSON it writes
(``veil.decide.photo``). Training data: WIDER FACE *training* photos
(``../shared/data/faces_wider_train``), never the evaluation sets.

    # 1. every photo through the bundled fused detector at veil eval's score floor:
    #    per cluster the features, and which training faces its mask would hide
    python tools/photo_decide_train.py build ../shared/data/faces_wider_train/annotations.json \\
        /tmp/pd.npz [--shard 0/2]
    # 2. fit, cross-validated by photo: prints what it does on the training photos
    #    (out of fold) against the hand fusion, chooses the operating point, writes
    python tools/photo_decide_train.py fit /tmp/pd*.npz \
        --out src/veil/models/decide_photo_faces.json

The build also keeps each cluster's box, the faces' boxes and three whole-photo
YOLOv8n-face passes (``YOLO_PASSES``) for an experiment the run time does not ship
(docs/decide.md, Photos): ``fit --min-height 0 --kept --whole 1`` adds that score as a
feature over every kept cluster; ``--replay VAL.npz`` applies the model at its cut to a
build of an evaluation set (nothing is chosen on it); ``breakdown VAL.npz`` says what
the hand fusion's false detections are. ``build --crop`` adds the crop score ``--yolo``
fits with.

A cluster "hides" a face when its mask alone (the box grown by veil's face
margin, ellipse) covers at least 90% of the face's central region, the box
shrunk by 20% per side: what ``veil eval``'s masked rate counts. The operating
point is chosen so the training faces hidden equal the hand fusion's at its
default threshold (recall first), and among those points the one with the least
false mask area.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from veil.decide.photo import FEATURES, MIN_EVIDENCE, cluster_features, crop_scores
from veil.mask.shapes import box_slices, footprint
from veil.regions import Regions, iou_matrix

#: the default face threshold of the fused photo detector, and veil eval's score floor
THRESHOLD = 0.1
EVAL_FLOOR = 0.05
MARGIN = 0.4  # MaskSettings.face_margin
COVERAGE, SHRINK, GROWTH = 0.9, 0.2, 0.5  # the masked rate's and over-mask's definitions
#: clusters at least this tall get YOLOv8n-face's crop score in the build
CROP_MIN_HEIGHT = 32.0


def _engine_parts():
    from veil.detect.yoloface import YoloFaceDetector
    from veil.pipeline import Engine
    from veil.regions import FACE
    from veil.settings import DetectSettings, Settings

    engine = Engine(Settings(detect=DetectSettings(targets=("face",))))
    (det,) = [d for d in engine.detectors if d.label == FACE]
    det.decision = None  # features of the hand fusion's clusters, never the model's
    yolo = YoloFaceDetector(tile=False, coarse_side=0, max_side=256)
    return det, yolo


#: the whole-photo YOLOv8n-face passes the build keeps (:func:`whole_pass`), by tag:
#: (long side at most, tiles): 0 one pass at 640 px, 1 one pass at the photo's size up
#: to 1280, 2 that pass and the 2x tiles where it saw small faces. Evaluation only: the
#: run time has no whole-photo pass (it did not raise precision at equal recall,
#: docs/decide.md, Photos)
YOLO_PASSES = {0: (640, False), 1: (1280, False), 2: (1280, True)}
#: ... boxes down to this score, matched to a cluster at this IoU
WHOLE_FLOOR, WHOLE_IOU = 0.01, 0.3


def whole_pass(yolo, rgb: np.ndarray, memo: dict | None = None) -> Regions:
    """YOLOv8n-face's boxes in the whole photo down to WHOLE_FLOOR: one pass at the
    detector's ``max_side``, with its 2x tiles where that saw small faces if it tiles."""
    if yolo.tile:
        return yolo.detect(rgb, WHOLE_FLOOR, memo)
    return yolo.single_pass(rgb, yolo.max_side, WHOLE_FLOOR, memo)


def whole_scores(found: Regions, boxes: np.ndarray, iou: float = WHOLE_IOU) -> np.ndarray:
    """Each box's best score among ``found`` overlapping it by at least ``iou`` (0: none)."""
    out = np.zeros(len(boxes), np.float32)
    if not len(found) or not len(boxes):
        return out
    same = iou_matrix(np.asarray(boxes, np.float32).reshape(-1, 4), found.xyxy) >= iou
    return np.where(same, found.scores[None, :], 0.0).max(axis=1).astype(np.float32)


def _whole_photo_yolo() -> dict:
    """YOLOv8n-face (the bundled int8 copy, as the run time's) for each of YOLO_PASSES."""
    from veil.detect import int8_copy
    from veil.detect.yoloface import YoloFaceDetector

    path = int8_copy(YoloFaceDetector.bundled)
    return {
        tag: YoloFaceDetector(path, tile=tile, coarse_side=0, max_side=side)
        for tag, (side, tile) in YOLO_PASSES.items()
    }


def _whole_photo_passes(whole: dict, rgb: np.ndarray) -> list:
    """[(tag, (boxes, scores))] of :data:`YOLO_PASSES` on one photo (passes shared)."""
    memo: dict = {}
    out = []
    for tag, det in whole.items():
        r = whole_pass(det, rgb, memo)
        out.append((tag, (r.xyxy.astype(np.float32), r.scores.astype(np.float32))))
    return out


class _Recorder:
    """Stands in for the decision: keeps a detect call's clusters, scores unchanged."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def rescore(self, rgb, boxes, best, count, fused):
        self.calls.append((rgb.shape, boxes.copy(), best.copy(), count.copy(), fused.copy()))
        return fused


def mask_of(box: np.ndarray, width: int, height: int):
    """(x1, y1, x2, y2, footprint) of one box's face mask, cut to the image; None: empty."""
    grown = Regions(box[None].astype(np.float32)).expand(MARGIN).xyxy[0]
    bounds = box_slices(grown, width, height)
    if bounds is None:
        return None
    x1, y1, x2, y2 = bounds
    fx1, fy1 = int(np.floor(grown[0])), int(np.floor(grown[1]))
    fx2, fy2 = int(np.ceil(grown[2])), int(np.ceil(grown[3]))
    full = footprint("ellipse", fy2 - fy1, fx2 - fx1)
    return x1, y1, x2, y2, full[y1 - fy1 : y2 - fy1, x1 - fx1 : x2 - fx1]


def cover_and_area(boxes, gt, width, height):
    """Per cluster: which faces its mask alone hides (pairs), its area, its area outside
    every face box grown by 50% (over-mask's 'outside')."""
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    bw, bh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    central = gt + np.stack([bw, bh, -bw, -bh], axis=1) * SHRINK
    grown = gt + np.stack([-bw, -bh, bw, bh], axis=1) * (GROWTH / 2)
    pairs, area, outside = [], np.zeros(len(boxes)), np.zeros(len(boxes))
    for c, box in enumerate(boxes):
        m = mask_of(box, width, height)
        if m is None:
            continue
        x1, y1, x2, y2, foot = m
        area[c] = foot.sum()
        allowed = np.zeros_like(foot)
        for g in range(len(gt)):
            gx1, gy1 = int(max(grown[g, 0], x1)), int(max(grown[g, 1], y1))
            gx2 = int(min(np.ceil(grown[g, 2]), x2))
            gy2 = int(min(np.ceil(grown[g, 3]), y2))
            if gx2 > gx1 and gy2 > gy1:
                allowed[gy1 - y1 : gy2 - y1, gx1 - x1 : gx2 - x1] = True
            cx1, cy1 = int(np.floor(central[g, 0])), int(np.floor(central[g, 1]))
            cx2, cy2 = int(np.ceil(central[g, 2])), int(np.ceil(central[g, 3]))
            cx1, cy1 = max(cx1, 0), max(cy1, 0)
            cx2, cy2 = min(max(cx2, cx1 + 1), width), min(max(cy2, cy1 + 1), height)
            n = (cx2 - cx1) * (cy2 - cy1)
            if n <= 0:
                continue
            ix1, iy1, ix2, iy2 = max(cx1, x1), max(cy1, y1), min(cx2, x2), min(cy2, y2)
            if ix2 <= ix1 or iy2 <= iy1:
                continue
            hit = foot[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1].sum()
            if hit >= COVERAGE * n:
                pairs.append((c, g))
        outside[c] = (foot & ~allowed).sum()
    return pairs, area, outside


def build(args) -> int:
    from veil.media.image import load_image
    from veil.settings import Limits

    doc = json.loads(args.annotations.read_text())
    root = args.annotations.parent
    images = doc["images"]
    k, n = (int(v) for v in args.shard.split("/"))
    det, yolo = _engine_parts()
    rec = _Recorder()
    det.decision = rec
    keys = ("x", "photo", "fused", "height", "area", "outside", "boxes", "best", "count")
    rows: dict[str, list] = {k_: [] for k_ in keys}
    pair_rows, gt_rows, gt_boxes, yolo_rows = [], [], [], []
    whole = _whole_photo_yolo()
    t0 = time.perf_counter()
    todo = [i for i in range(len(images)) if i % n == k]
    for done, i in enumerate(todo):
        item = images[i]
        rgb = load_image(root / item["file"], Limits()).rgb
        h, w = rgb.shape[:2]
        rec.calls.clear()
        det.detect(rgb, EVAL_FLOOR)
        _, boxes, best, count, fused = rec.calls[-1]
        faces = [b for b in item["boxes"] if b.get("label", "face") == "face"]
        gt = np.array([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in faces], np.float64)
        ignore = np.array([bool(b.get("ignore")) for b in faces], bool)
        heights = boxes[:, 3] - boxes[:, 1]
        crop = np.zeros(len(boxes), np.float32)
        big = np.flatnonzero((heights >= CROP_MIN_HEIGHT) & (best.max(axis=1) >= MIN_EVIDENCE))
        if len(big) and args.crop:
            crop[big] = crop_scores(yolo, rgb, boxes[big])
        for tag, found in _whole_photo_passes(whole, rgb):
            yolo_rows.append((np.full(len(found[1]), i), np.full(len(found[1]), tag), *found))
        rows["boxes"].append(boxes)
        rows["best"].append(best)
        rows["count"].append(count)
        gt_boxes.append(gt.reshape(-1, 4))
        x = cluster_features(boxes, best, count, h, w, crop)
        pairs, area, outside = cover_and_area(boxes, gt.reshape(-1, 4), w, h)
        base = sum(len(r) for r in rows["x"])
        gbase = len(gt_rows)
        rows["x"].append(x)
        rows["photo"].append(np.full(len(x), i))
        rows["fused"].append(fused)
        rows["height"].append(heights)
        rows["area"].append(area)
        rows["outside"].append(outside)
        pair_rows.extend((base + c, gbase + g) for c, g in pairs)
        for g in range(len(gt)):
            gt_rows.append((i, gt[g, 3] - gt[g, 1], 0.0 if ignore[g] else 1.0, w * h))
        if done % 50 == 0:
            print(f"{done + 1}/{len(todo)} photos, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    cat = {k_: np.concatenate(v) if v else np.zeros(0) for k_, v in rows.items()}
    yolo_cat = [np.concatenate([r[j] for r in yolo_rows]) for j in range(4)]
    np.savez_compressed(
        args.out,
        pairs=np.array(pair_rows, np.int64).reshape(-1, 2),
        gt=np.array(gt_rows, np.float64).reshape(-1, 4),
        gt_boxes=np.concatenate(gt_boxes) if gt_boxes else np.zeros((0, 4)),
        yolo_photo=yolo_cat[0],
        yolo_pass=yolo_cat[1],
        yolo_boxes=yolo_cat[2].reshape(-1, 4),
        yolo_scores=yolo_cat[3],
        features=np.array(FEATURES),
        **cat,
    )
    print(f"{len(cat['x'])} clusters, {len(gt_rows)} faces -> {args.out}", file=sys.stderr)
    return 0


WHOLE_KEYS = ("boxes", "gt_boxes", "yolo_photo", "yolo_pass", "yolo_boxes", "yolo_scores")


def load_sets(paths: list[Path]) -> dict:
    """Shards joined: cluster and face indices offset, photo ids kept (they are global)."""
    out: dict[str, list] = {}
    nc = ng = 0
    for p in paths:
        d = np.load(p)
        for k_ in ("x", "photo", "fused", "height", "area", "outside", "gt"):
            out.setdefault(k_, []).append(d[k_])
        for k_ in WHOLE_KEYS if all(k_ in d for k_ in WHOLE_KEYS) else ():
            out.setdefault(k_, []).append(d[k_])
        out.setdefault("pairs", []).append(d["pairs"] + np.array([nc, ng]))
        nc += len(d["x"])
        ng += len(d["gt"])
    return {k_: np.concatenate(v) for k_, v in out.items()}


def add_whole(d: dict, tag: int) -> None:
    """Append a column to the features: each cluster's best overlapping score in the
    build's whole-photo YOLOv8n-face pass ``tag`` (:data:`YOLO_PASSES`)."""
    col = np.zeros(len(d["x"]))
    sel = d["yolo_pass"] == tag
    for ph in np.unique(d["photo"]):
        c = np.flatnonzero(d["photo"] == ph)
        y = np.flatnonzero(sel & (d["yolo_photo"] == ph))
        found = Regions(d["yolo_boxes"][y], d["yolo_scores"][y])
        col[c] = whole_scores(found, d["boxes"][c])
    d["x"] = np.c_[d["x"], col]


def precision(d: dict, kept: np.ndarray) -> tuple[float, int, int]:
    """(precision, true, false) of the kept clusters as ``veil eval`` counts them: per photo,
    greedy by score, IoU >= 0.5; a box matching only an ignore box counts neither way."""
    from veil.evaluate.metrics import FP, TP, match_detections

    tp = fp = 0
    face_photo = d["gt"][:, 0]
    for ph in np.unique(d["photo"][kept]):
        c = np.flatnonzero((d["photo"] == ph) & kept)
        g = np.flatnonzero(face_photo == ph)
        m = match_detections(d["gt_boxes"][g], d["gt"][g, 2] == 0, d["boxes"][c], d["fused"][c])
        tp += int((m.status == TP).sum())
        fp += int((m.status == FP).sum())
    return tp / max(tp + fp, 1), tp, fp


def labels(d: dict) -> np.ndarray:
    """1 where a cluster's mask alone hides a (scored) training face."""
    y = np.zeros(len(d["x"]), np.int64)
    valid = d["gt"][:, 2] > 0
    p = d["pairs"]
    y[p[valid[p[:, 1]], 0]] = 1
    return y


def candidates(d: dict, min_height: float) -> np.ndarray:
    """The clusters the model decides: tall enough, and with evidence ``veil mask`` sees."""
    best = d["x"][:, [0, 1]].max(axis=1)
    return (d["height"] >= min_height) & (best >= MIN_EVIDENCE)


def simulate(d: dict, kept: np.ndarray) -> dict:
    """Faces hidden (all, >= 50 px), false clusters and their area for a kept set."""
    gt = d["gt"]
    valid = gt[:, 2] > 0
    p = d["pairs"][kept[d["pairs"][:, 0]]]
    hidden = np.zeros(len(gt), bool)
    hidden[p[:, 1]] = True
    hidden &= valid
    big = valid & (gt[:, 1] >= 50)
    pos = labels(d).astype(bool)
    return {
        "masked": hidden.sum() / valid.sum(),
        "masked_n": int(hidden.sum()),
        "masked50": (hidden & big).sum() / big.sum(),
        "masked50_n": int((hidden & big).sum()),
        "false": int((kept & ~pos).sum()),
        "false_area": float(d["outside"][kept].sum()),
        "area": float(d["area"][kept].sum()),
    }


def oof(x: np.ndarray, y: np.ndarray, groups: np.ndarray, params: dict) -> np.ndarray:
    """Out-of-fold P(face), folds by photo."""
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(y))
    for tr, te in GroupKFold(n_splits=5).split(x, y, groups):
        out[te] = model(params).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
    return out


def model(params: dict):
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(random_state=0, **params)


PARAMS = {"n_estimators": 150, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8,
          "min_samples_leaf": 20}  # fmt: skip


def vetoed(d: dict, cand: np.ndarray, p: np.ndarray, cut: float) -> np.ndarray:
    """The hand fusion's kept clusters, less the candidates the model puts under ``cut``."""
    kept = d["fused"] >= THRESHOLD
    kept[cand] &= p[cand] >= cut
    return kept


def operating_point(d: dict, cand: np.ndarray, p: np.ndarray, slack: int = 0) -> tuple[float, dict]:
    """The highest P(face) cut that still hides as many training faces as the hand fusion,
    all and >= 50 px (less ``slack``), and the kept set's figures there."""
    ref = simulate(d, d["fused"] >= THRESHOLD)
    best_t, best = 0.0, ref
    for t in np.unique(np.round(p[cand], 4)):
        s = simulate(d, vetoed(d, cand, p, float(t)))
        need = ref["masked_n"] - slack, ref["masked50_n"] - slack
        if s["masked_n"] >= need[0] and s["masked50_n"] >= need[1]:
            best_t, best = float(t), s
        else:
            break
    return best_t, best


def fit(args) -> int:
    d = load_sets(args.npz)
    y = labels(d)
    hand = simulate(d, d["fused"] >= THRESHOLD)
    print(f"{len(y)} clusters from {len(np.unique(d['photo']))} photos; hand fusion at "
          f"{THRESHOLD}: {_fmt(hand)}")  # fmt: skip
    if args.whole is not None:
        if args.out or "yolo_boxes" not in d:
            sys.exit("--whole: a build with the whole-photo passes, and no --out (the run "
                     "time has no whole-photo pass)")  # fmt: skip
        add_whole(d, args.whole)
    if "gt_boxes" in d:
        print("hand fusion: precision {:.4f} ({} true, {} false)".format(
            *precision(d, d["fused"] >= THRESHOLD)))  # fmt: skip
    for h in args.min_height:
        cand = candidates(d, h)
        if args.kept:  # only what the hand fusion keeps: what a veto can change
            cand &= d["fused"] >= THRESHOLD
        x, yy = d["x"][cand], y[cand]
        if not args.yolo:
            x = x.copy()
            x[:, FEATURES.index("yolo_crop")] = 0.0
        p = np.zeros(len(y))
        p[cand] = oof(x, yy, d["photo"][cand], PARAMS)
        from sklearn.metrics import roc_auc_score

        auc = roc_auc_score(yy, p[cand])
        auc_hand = roc_auc_score(yy, d["fused"][cand])
        t, s = operating_point(d, cand, p, args.slack)
        print(f">= {h:g} px: {cand.sum()} clusters ({yy.sum()} hide a face), AUC {auc:.3f} "
              f"(hand {auc_hand:.3f}); cut {t:.4f}: {_fmt(s)}")  # fmt: skip
        if "gt_boxes" in d:
            print("  precision there {:.4f} ({} true, {} false)".format(
                *precision(d, vetoed(d, cand, p, t))))  # fmt: skip
        if args.replay:
            replay(args, h, t, model(PARAMS).fit(x, yy))
        if args.out and h == args.min_height[-1]:
            clf = model(PARAMS).fit(x, yy)
            doc = export(clf, h, t, args.yolo)
            check = 1 / (1 + np.exp(-_margin(doc, x)))
            assert np.allclose(check, clf.predict_proba(x)[:, 1], atol=1e-6)
            doc["training"] = {
                "data": "faces_wider_train (WIDER FACE training photos), all "
                f"{len(np.unique(d['photo']))} photos",
                "clusters": int(cand.sum()), "positives": int(yy.sum()),
                "oof_auc": round(auc, 4), "hand_auc": round(auc_hand, 4),
                "oof_at_cut": {k_: (round(v, 4) if isinstance(v, float) else v)
                               for k_, v in s.items()},
                "hand_at_threshold": {k_: (round(v, 4) if isinstance(v, float) else v)
                                      for k_, v in hand.items()},
                "params": PARAMS, "slack": args.slack, "kept_only": args.kept,
            }  # fmt: skip
            args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
            sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
            print(f"wrote {args.out} sha256 {sha}")
    return 0


def replay(args, min_height: float, cut: float, clf) -> None:
    """The model fitted on all training clusters, at the cut chosen on them, applied to
    another set's build (evaluation only: nothing is chosen on it). Faces hidden count a
    cluster's mask alone, so they read lower than ``veil eval``'s masked rate."""
    r = load_sets(args.replay)
    if args.whole is not None:
        add_whole(r, args.whole)
    cand = candidates(r, min_height)
    if args.kept:
        cand &= r["fused"] >= THRESHOLD
    x = r["x"][cand].copy()
    if not args.yolo:
        x[:, FEATURES.index("yolo_crop")] = 0.0
    p = np.zeros(len(r["x"]))
    if cand.any():
        p[cand] = clf.predict_proba(x)[:, 1]
    for name, kept in (("hand fusion", r["fused"] >= THRESHOLD), ("veto", vetoed(r, cand, p, cut))):
        print(f"  replay, {name}: {_fmt(simulate(r, kept))}; precision "
              "{:.4f} ({} true, {} false)".format(*precision(r, kept)))  # fmt: skip


def breakdown(args) -> int:
    """What the hand fusion's false detections at its threshold are, in a build with boxes."""
    from veil.evaluate.metrics import FP, TP, match_detections

    d = load_sets(args.npz)
    kept = d["fused"] >= THRESHOLD
    status = np.full(len(kept), -1)
    kind = np.full(len(kept), "", dtype=object)
    face_photo, valid = d["gt"][:, 0], d["gt"][:, 2] > 0
    for ph in np.unique(d["photo"][kept]):
        c = np.flatnonzero((d["photo"] == ph) & kept)
        g = np.flatnonzero(face_photo == ph)
        m = match_detections(d["gt_boxes"][g], ~valid[g], d["boxes"][c], d["fused"][c])
        status[c] = m.status
        taken = set(g[m.gt_index[m.status == TP]].tolist())
        iou = iou_matrix(d["boxes"][c], d["gt_boxes"][g]) if len(g) else np.zeros((len(c), 0))
        for i in np.flatnonzero(m.status == FP):
            on_face = np.where(valid[g], iou[i], 0.0)
            on_ignore = np.where(valid[g], 0.0, iou[i])
            best = int(np.argmax(on_face)) if len(g) else -1
            if len(g) and on_face[best] >= 0.5:
                kind[c[i]] = "second box, IoU >= 0.5, on a face another box matched"
            elif len(g) and on_face[best] >= 0.05:
                kind[c[i]] = "loose (IoU 0.05-0.5) on a face " + (
                    "another box matched" if g[best] in taken else "no box matched"
                )
            elif len(g) and on_ignore.max() >= 0.05:
                kind[c[i]] = "near an ignore box only"
            else:
                kind[c[i]] = "on no face or ignore box (IoU < 0.05)"
    h = d["height"]
    edges = (0, 20, 50, 100, np.inf)
    tp, fp = status == TP, status == FP
    share = tp.sum() / max(tp.sum() + fp.sum(), 1)
    print(f"kept {kept.sum()}: {tp.sum()} true, {fp.sum()} false; precision {share:.4f}; "
          f"heights from {edges[:-1]} px")  # fmt: skip

    def by_height(sel: np.ndarray) -> list[int]:
        pairs = zip(edges[:-1], edges[1:], strict=True)
        return [int((sel & (h >= a) & (h < b)).sum()) for a, b in pairs]

    print(f"  true by height {by_height(tp)}; false by height {by_height(fp)}")
    for k_ in sorted(set(kind[fp])):
        sel = fp & (kind == k_)
        print(f"  false, {k_}: {sel.sum()} {by_height(sel)}")
    hides = labels(d).astype(bool)
    print(f"  false detections whose mask alone hides a face: {(fp & hides).sum()}")
    return 0


def _margin(doc: dict, x: np.ndarray) -> np.ndarray:
    from veil.decide.photo import trees_margin

    return trees_margin(doc, x)


def export(clf, min_height: float, cut: float, yolo: bool) -> dict:
    """A fitted GradientBoostingClassifier as plain arrays (``veil.decide.photo``)."""
    trees = []
    for est in clf.estimators_[:, 0]:
        t = est.tree_
        leaf = t.children_left < 0
        idx = np.arange(t.node_count)
        trees.append({
            "feature": np.where(leaf, -1, t.feature).tolist(),
            "threshold": np.where(leaf, 0.0, t.threshold).tolist(),
            "left": np.where(leaf, idx, t.children_left).tolist(),
            "right": np.where(leaf, idx, t.children_right).tolist(),
            "value": [float(v) for v in t.value[:, 0, 0]],
            "depth": int(t.max_depth),
        })  # fmt: skip
    init = float(clf._raw_predict_init(np.zeros((1, len(FEATURES))))[0, 0])
    return {
        "kind": "gradient-boosted trees (scikit-learn), log-odds = init + rate * sum(leaves)",
        "features": list(FEATURES), "min_height": min_height, "operating_point": cut,
        "fused_threshold": THRESHOLD, "uses_yolo": yolo, "members": ["yunet", "centerface"],
        "init": init, "learning_rate": float(clf.learning_rate), "trees": trees,
    }  # fmt: skip


def _fmt(s: dict) -> str:
    return (f"masked {s['masked']:.4f} ({s['masked_n']}), >=50 px {s['masked50']:.4f} "
            f"({s['masked50_n']}), false clusters {s['false']}, false area "
            f"{s['false_area'] / 1e6:.1f} Mpx of {s['area'] / 1e6:.1f}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("annotations", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("--shard", default="0/1", help="k/n: every n-th photo from the k-th")
    b.add_argument("--crop", action="store_true", help="also YOLOv8n-face on crops (slow)")
    f = sub.add_parser("fit")
    f.add_argument("npz", type=Path, nargs="+")
    f.add_argument(
        "--min-height",
        type=float,
        nargs="+",
        default=[128.0],
        help="clusters this tall are decided by the model (the last is written)",
    )
    f.add_argument("--yolo", action="store_true", help="with YOLOv8n-face's crop score")
    f.add_argument(
        "--whole",
        type=int,
        choices=sorted(YOLO_PASSES),
        help="with YOLOv8n-face's whole-photo pass of this tag (YOLO_PASSES)",
    )
    f.add_argument(
        "--kept",
        action="store_true",
        help="decide only the clusters the hand fusion keeps at its threshold",
    )
    f.add_argument("--slack", type=int, default=0, help="training faces the cut may lose")
    f.add_argument(
        "--replay",
        type=Path,
        nargs="+",
        help="evaluation only: apply the model at its cut to this build (faces_wider_val)",
    )
    f.add_argument("--out", type=Path)
    k = sub.add_parser("breakdown")
    k.add_argument("npz", type=Path, nargs="+")
    args = ap.parse_args()
    if args.cmd == "build":
        return build(args)
    if args.cmd == "breakdown":
        return breakdown(args)
    return fit(args)


if __name__ == "__main__":
    sys.exit(main())
