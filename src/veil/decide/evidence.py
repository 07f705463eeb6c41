"""Per-detection evidence and per-track features for the learned decision.

One place defines both, so that the training tool (``tools/decide_train.py``)
and the run-time decision compute exactly the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ..detect.faces import FaceDetector
from ..regions import iou_matrix

#: columns of one detection's evidence row: the detector's score, the crop
#: verifier's networks' scores (NaN where that detection was not checked), and the
#: box's size and centre in frame pixels
EVIDENCE: tuple[str, ...] = ("score", "yunet", "yolo", "w", "h", "frame_h", "fx", "fy")
#: the columns the crop verifier fills
VERIFIED: tuple[int, ...] = (1, 2)

#: columns of one observation as a track stores it: the frame sequence number,
#: the evidence row and the box centre in scene coordinates (camera motion out; no
#: feature reads it yet: movement in the scene needs training clips where people
#: move, see track_features, and the extracted training data keeps it for them)
OBSERVATION: tuple[str, ...] = ("seq", *EVIDENCE, "cx", "cy")

#: the features a decision model reads, in order
FEATURES: tuple[str, ...] = (
    "max_score",
    "mean_score",
    "max_yunet",
    "mean_yunet",
    "max_yolo",
    "mean_yolo",
    "log_sightings",
    "share_seen",
    "log_height",
    "rel_height",
    "aspect",
    "score_spread",
    "max_either",
    "share_either",
    "max_both",
    "mean_both",
)

_EPS = 1e-3
_O = {name: i for i, name in enumerate(OBSERVATION)}


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _nan_stats(v: np.ndarray) -> tuple[float, float]:
    """(max, mean) over the checked values; 0 for both when none was checked."""
    v = v[~np.isnan(v)]
    return (float(v.max()), float(v.mean())) if len(v) else (0.0, 0.0)


def track_features(obs: np.ndarray, detect_every: int) -> np.ndarray:
    """One track's features from its observations so far, ``(n, len(OBSERVATION))``.

    Scores enter as log-odds (a network's 0.01 and 0.05 differ as much as 0.5
    and 0.84); sizes as logs; ``share_seen`` is how many of the detector runs
    since the track began found it (a face is seen on most, a flicker on few).
    The verifier's scores are summarised over the detections it checked.

    Movement in the scene and changes of size are left out on purpose: the
    training clips pan and zoom over still photos, where nothing moves by
    itself, so a model could only learn an accident of the data from them.
    """
    obs = np.asarray(obs, np.float64).reshape(-1, len(OBSERVATION))
    n = len(obs)
    if n == 0:
        raise ValueError("a track needs at least one observation")
    col = {k: obs[:, i] for k, i in _O.items()}
    h = np.maximum(col["h"], 1.0)
    w = np.maximum(col["w"], 1.0)
    span = col["seq"][-1] - col["seq"][0]
    runs = 1.0 + span / max(detect_every, 1)
    yunet_max, yunet_mean = _nan_stats(col["yunet"])
    yolo_max, yolo_mean = _nan_stats(col["yolo"])
    # the two verifiers miss different faces: what the more convinced one says
    either = np.fmax(col["yunet"], col["yolo"])
    either_max, _ = _nan_stats(either)
    checked = either[~np.isnan(either)]
    share_either = float((checked >= 0.1).mean()) if len(checked) else 0.0
    # ... and what both say: clutter rarely convinces two networks at once
    both_max, both_mean = _nan_stats(np.fmin(col["yunet"], col["yolo"]))
    return np.array(
        [
            _logit(col["score"].max()),
            _logit(col["score"].mean()),
            _logit(yunet_max),
            _logit(yunet_mean),
            _logit(yolo_max),
            _logit(yolo_mean),
            np.log(n),
            min(1.0, n / runs),
            np.log(np.median(h)),
            float(np.median(h / np.maximum(col["frame_h"], 1.0))),
            float(np.median(h / w)),
            float(col["score"].std()),
            _logit(either_max),
            share_either,
            _logit(both_max),
            _logit(both_mean),
        ]
    )


class CropVerifier:
    """Second opinions on candidate boxes: other face networks run on crops.

    Each box is cut out with ``context`` times its size around it (so the
    network sees a head and shoulders, not a texture), scaled to ``size`` px
    square (64 px at 2.5x the box: per box, 96 px at 2x separated better on the
    training clips, AUC 0.964/0.967 for YuNet/YOLO against 0.922/0.953, yet the
    tracks' decision fitted on it ranked worse, cross-validated 0.914 against
    0.922), and all crops of a frame go through each network in one batch. A
    network's opinion is its best score among the boxes it finds that overlap
    where the candidate sits in the crop (0 when it finds none). Crops cost a
    small fraction of a full-frame pass, and only the detections the decision
    still needs are checked (:class:`~veil.decide.FaceTrackDecider`).
    """

    def __init__(
        self,
        networks: Sequence[FaceDetector | None],
        size: int = 64,
        context: float = 2.5,
        floor: float = 0.01,
        min_iou: float = 0.25,
        max_crops: int = 96,
    ) -> None:
        if size % 32:
            raise ValueError(f"size must be a multiple of 32, got {size!r}")
        self.networks = list(networks)
        self.size = size
        self.context = context
        self.floor = floor
        self.min_iou = min_iou
        self.max_crops = max_crops

    def __call__(self, rgb: np.ndarray, xyxy: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``(N, networks)``: each network's opinion of each box ``xyxy`` of frame ``rgb``.

        Past ``max_crops`` boxes in one call, the lowest-scoring ones are not
        checked (NaN): the cost per frame is bounded. A network given as None
        is not run (NaN).
        """
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        out = np.full((len(xyxy), len(self.networks)), np.nan)
        if not len(xyxy):
            return out
        order = np.argsort(-np.asarray(scores), kind="stable")[: self.max_crops]
        crops, expected = self._crops(rgb, xyxy[order])
        for k, net in enumerate(self.networks):
            if net is None:
                continue
            out[order, k] = 0.0
            for j, (boxes, sc, _) in enumerate(net._run(crops, self.floor)):
                if len(sc):
                    ov = iou_matrix(expected[j : j + 1], boxes.astype(np.float32))[0]
                    ok = ov >= self.min_iou
                    if ok.any():
                        out[order[j], k] = float(sc[ok].max())
        return out

    def _crops(self, rgb: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Square context crops scaled to ``size``, and where each box lies in its crop."""
        s = self.size
        fh, fw = rgb.shape[:2]
        cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
        bw, bh = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
        side = np.maximum(self.context * np.maximum(bw, bh), 8.0)
        batch = np.zeros((len(xyxy), s, s, 3), np.uint8)
        expected = np.zeros((len(xyxy), 4), np.float32)
        for i in range(len(xyxy)):
            x0, y0 = int(round(cx[i] - side[i] / 2)), int(round(cy[i] - side[i] / 2))
            n = int(round(side[i]))
            ax0, ay0 = max(x0, 0), max(y0, 0)
            ax1, ay1 = min(x0 + n, fw), min(y0 + n, fh)
            patch = np.zeros((n, n, 3), np.uint8)
            if ax1 > ax0 and ay1 > ay0:
                patch[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = rgb[ay0:ay1, ax0:ax1]
            im = Image.fromarray(patch).resize((s, s), Image.Resampling.BILINEAR)
            batch[i] = np.asarray(im)
            k = s / n
            expected[i] = (
                (xyxy[i, 0] - x0) * k,
                (xyxy[i, 1] - y0) * k,
                (xyxy[i, 2] - x0) * k,
                (xyxy[i, 3] - y0) * k,
            )
        return batch, expected
