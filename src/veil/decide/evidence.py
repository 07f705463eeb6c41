"""Per-detection evidence and per-track features for the learned decision.

One place defines both, so that the training tool (``tools/decide_train.py``)
and the run-time decision compute exactly the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..detect.faces import FaceDetector
from ..regions import iou_matrix

#: columns of one detection's evidence row: the detector's score, the frame
#: verifier's networks' scores (NaN where that detection was not checked), and the
#: box's size and centre in frame pixels
EVIDENCE: tuple[str, ...] = ("score", "yunet", "yolo", "w", "h", "frame_h", "fx", "fy")
#: the columns the frame verifier fills
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


class FrameVerifier:
    """Second opinions on candidate boxes: other face networks run on the whole frame.

    Each network makes one pass over the frame at a low floor (longer side at
    most ``max_side``, never enlarged: 640 px is the video face network's own
    input, and a pass costs about what that network's does). A candidate's
    opinion from it is the best score among the boxes it finds that overlap the
    candidate (IoU >= ``min_iou``; 0 when none does). The pass costs the same whatever the
    number of candidates, so the decider asks for it on the detector runs where
    some track still needs evidence, and it answers for every candidate at once.

    A whole frame and not crops of the candidates, because the networks judge
    a small face by its surroundings (a head on shoulders, a body below) at its
    own scale: on the annotated frames of the synthetic ``faces_wider_val``
    clips, YuNet-n's whole-frame score separated CenterFace's true boxes from
    its false ones with AUC 0.988, against 0.950 on 64 px context crops, where
    6% of the faces went unseen (docs/decide.md).
    """

    def __init__(
        self,
        networks: Sequence[FaceDetector | None],
        max_side: int = 640,
        floor: float = 0.01,
        min_iou: float = 0.25,
    ) -> None:
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64, got {max_side!r}")
        if not 0.0 < min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1], got {min_iou!r}")
        self.networks = list(networks)
        self.max_side = max_side
        self.floor = floor
        self.min_iou = min_iou

    def __call__(self, rgb: np.ndarray, xyxy: np.ndarray, shared: dict | None = None) -> np.ndarray:
        """``(N, networks)``: each network's opinion of each box ``xyxy`` of frame ``rgb``.

        A network given as None is not run (NaN). ``shared`` may hold pictures of
        ``rgb`` a face detector already resized (``FaceDetector.passes``): the
        detector's 640 px picture is the verifier's.
        """
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        out = np.full((len(xyxy), len(self.networks)), np.nan)
        if not len(xyxy):
            return out
        shared = {} if shared is None else shared  # resized once for both networks
        for k, net in enumerate(self.networks):
            if net is None:
                continue
            found = net.single_pass(rgb, self.max_side, self.floor, shared)
            out[:, k] = 0.0
            if len(found):
                ov = iou_matrix(xyxy, found.xyxy)
                out[:, k] = np.where(ov >= self.min_iou, found.scores[None, :], 0.0).max(axis=1)
        return out
