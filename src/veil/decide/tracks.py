"""Per-track evidence and the decision, fed by the tracker as it associates detections."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..regions import FACE
from .evidence import EVIDENCE, OBSERVATION, VERIFIED, track_features
from .model import DecisionModel

#: the verifier runs on a detector run where an undecided track is within its first
#: sightings ...
CHECK_FIRST = 4
#: ... or at every this many of its sightings, or where its box has grown by GROWN
#: since its last check; its one pass over the frame answers for every detection there
CHECK_EVERY = 3
GROWN = 1.5
#: the decision reads a track's latest sightings, not its whole past: a face seen
#: badly for a while (turned away, blurred) and then clearly is judged on the clear
#: stretch, as it was trained on (``tools/decide_train.py``)
WINDOW = 8


class FaceTrackDecider:
    """Gathers each face track's evidence and decides whether it is masked.

    ``observe`` is called once per detection the tracker associates with a
    track; the track is masked (``decided``) from the first moment its P(face)
    reaches the threshold. Evidence that arrives later never unmasks frames
    already masked (fail closed), and a track ever rated at ``keep_above`` or
    more stays decided. An *unlikely* face's decision, one never rated that
    high, may lapse: after ``lapse_after`` detections in a row rated under
    ``lapse_under`` times the threshold it is no longer decided (the tracker
    stops masking it from there on, and masks it again once it passes again).
    Otherwise a lantern that passes on one lucky window stays masked for the
    rest of the clip. Tracks that may lapse are checked by the verifier as
    undecided ones are, so that their rating stays current. ``confidence`` is
    the highest P(face) the track reached, what review ranks by. ``recorder``,
    when given, receives ``(track id, seq, features, observation row)`` per
    observation (training data).
    An ``advisory`` decider only rates tracks: the tracker confirms them by its
    rule, and ``decided`` still tells when a track's rating needs no more checks.
    """

    label = FACE

    def __init__(
        self,
        model: DecisionModel | None,
        detect_every: int,
        threshold: float | None = None,
        recorder: list | None = None,
        advisory: bool = False,
        lapse_after: int = 0,
        lapse_under: float = 0.5,
        keep_above: float = 0.0,
    ) -> None:
        if lapse_after < 0:
            raise ValueError(f"lapse_after must be 0 (never) or more, got {lapse_after!r}")
        if not 0.0 <= lapse_under <= 1.0:
            raise ValueError(f"lapse_under must be in [0, 1], got {lapse_under!r}")
        self.model = model
        self.advisory = advisory
        self.detect_every = detect_every
        if threshold is None:
            threshold = model.threshold if model is not None else math.inf
        self.threshold = threshold
        self.recorder = recorder
        self.lapse_after = lapse_after
        self.lapse_under = lapse_under
        self.keep_above = keep_above
        self._on: set[int] = set()  # decided now
        self._low: dict[int, int] = {}  # a decided track's detections in a row under the cut
        self._obs: dict[int, list[np.ndarray]] = {}  # the latest WINDOW sightings
        self._seen: dict[int, int] = {}  # sightings so far
        self._best: dict[int, float] = {}
        self._checked: dict[int, tuple[int, float]] = {}  # checks so far, height then

    def observe_frame(
        self,
        seq: int,
        tids: Sequence[int],
        scene_boxes: Sequence[tuple[float, ...]],
        evidence: np.ndarray,
        verify: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """All of one detector run's detections of this class that joined a track.

        ``evidence`` rows (:data:`EVIDENCE`, one per entry of ``tids``) come without
        the verifier's columns; ``verify(rows)`` fills them for the rows asked.
        The verifier is asked only where the decision still needs it: when an
        undecided track is in its first sightings, is due for another check, or
        has grown. Its pass over the frame costs the same for one row as for
        all, so it then answers for every row. A run where every track is
        decided costs nothing more.
        """
        evidence = np.array(evidence, np.float64).reshape(len(tids), len(EVIDENCE))
        cols = list(VERIFIED)
        evidence[:, cols] = np.nan
        if verify is not None and any(
            self._wants_check(t, evidence[i, 4]) for i, t in enumerate(tids)
        ):
            rows = np.arange(len(tids))
            evidence[np.ix_(rows, cols)] = verify(rows)
            for i, tid in enumerate(tids):
                n, _ = self._checked.get(tid, (0, 0.0))
                self._checked[tid] = (n + 1, float(evidence[i, 4]))
        for i, tid in enumerate(tids):
            self.observe(tid, seq, scene_boxes[i], evidence[i])

    def _wants_check(self, tid: int, height: float) -> bool:
        if self.decided(tid) and not self._may_lapse(tid):
            return False
        n, h0 = self._checked.get(tid, (0, 0.0))
        seen = self._seen.get(tid, 0)
        return n < CHECK_FIRST or seen % CHECK_EVERY == 0 or height >= GROWN * h0

    def observe(
        self,
        tid: int,
        seq: int,
        scene_box: tuple[float, ...],
        evidence: np.ndarray,
    ) -> float:
        """Add one detection of track ``tid``; return its P(face) now (NaN without a model)."""
        rows = self._obs.setdefault(tid, [])
        self._seen[tid] = self._seen.get(tid, 0) + 1
        cx = (scene_box[0] + scene_box[2]) / 2
        cy = (scene_box[1] + scene_box[3]) / 2
        row = np.concatenate([[seq], np.asarray(evidence, np.float64), [cx, cy]])
        rows.append(row)
        del rows[:-WINDOW]
        feats = track_features(np.stack(rows), self.detect_every)
        if self.recorder is not None:
            self.recorder.append((tid, seq, feats, row))
        if self.model is None:
            return math.nan
        p = float(self.model.predict(feats[None])[0])
        self._best[tid] = max(self._best.get(tid, 0.0), p)
        if p >= self.threshold:
            self._on.add(tid)
            self._low.pop(tid, None)
        elif tid in self._on and self._may_lapse(tid) and p < self.threshold * self.lapse_under:
            low = self._low.get(tid, 0) + 1
            if low >= self.lapse_after:
                self._on.discard(tid)
                self._low.pop(tid, None)
            else:
                self._low[tid] = low
        elif tid in self._on:
            self._low.pop(tid, None)
        return p

    def _may_lapse(self, tid: int) -> bool:
        return self.lapse_after > 0 and self._best.get(tid, 0.0) < self.keep_above

    def decided(self, tid: int) -> bool:
        """Whether track ``tid`` is masked now (see the class's note on lapses)."""
        return tid in self._on

    def confidence(self, tid: int) -> float | None:
        return self._best.get(tid)

    @property
    def confidences(self) -> dict[int, float]:
        """Highest P(face) per track id seen so far (kept after the track ends)."""
        return dict(self._best)

    def forget(self, tid: int) -> None:
        """Drop a finished track's observations (its confidence is kept)."""
        self._obs.pop(tid, None)
        self._seen.pop(tid, None)
        self._checked.pop(tid, None)
        self._on.discard(tid)
        self._low.pop(tid, None)


#: column of each :data:`EVIDENCE` name (a verifier network added shifts the box's columns)
_EV = {name: i for i, name in enumerate(EVIDENCE)}


def base_evidence(scores: np.ndarray, xyxy: np.ndarray, frame_h: int) -> np.ndarray:
    """Evidence rows with the detector's own score and the box (verifier columns NaN)."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    out = np.full((len(xyxy), len(EVIDENCE)), np.nan)
    out[:, _EV["score"]] = scores
    out[:, _EV["w"]] = xyxy[:, 2] - xyxy[:, 0]
    out[:, _EV["h"]] = xyxy[:, 3] - xyxy[:, 1]
    out[:, _EV["frame_h"]] = frame_h
    out[:, _EV["fx"]] = (xyxy[:, 0] + xyxy[:, 2]) / 2
    out[:, _EV["fy"]] = (xyxy[:, 1] + xyxy[:, 3]) / 2
    return out


__all__ = ["OBSERVATION", "FaceTrackDecider", "base_evidence"]
