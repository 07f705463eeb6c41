"""Offline gap filling: a streaming look-ahead over the online tracker.

Files are processed whole, so a frame need not be final the moment it is
detected. :class:`OfflineTracker` holds the last ``lookahead`` frames back;
while they wait, later detections can still reach them:

* a track seen before and after a gap gets interpolated boxes in the gap;
* a new track is also masked ``pre_frames`` frames before its first detection;
* a track stays masked ``post_frames`` frames after its last detection, and on
  frames where the detector did not run it follows the tracker's prediction;
* boxes are steadied over ``smooth_radius`` frames each side, yet always
  contain the frame's own box, and grow with the track's speed;
* a face followed twice (a box and a smaller one inside it, each a track) keeps
  both, but the smaller one's guessed boxes give way where the larger is seen;
* a track is masked only once it is confirmed: one *strong* detection, or
  ``confirm_hits`` detections at the operating threshold associated over
  several detector runs. A confirmed track is masked on every frame it holds,
  the frames it was unconfirmed on included while they are still held back.
  Lanterns and signs that flicker over the threshold once are left alone;
  a real face is seen again. With a ``decider`` (see :mod:`veil.decide`), the
  tracks of its class are confirmed by the learned decision instead (unless it
  is only advisory: then it rates them for review and the rule decides); where
  its decision lapses, the frames up to there stay masked and later ones are
  masked only once it is decided again.

Nothing crosses a scene cut. Memory is bounded by the window: at most
``lookahead + 1`` payloads are held, plus ``smooth_radius`` frames of boxes.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..regions import FACE, Regions, box_area, intersection_matrix
from .tracker import TrackConfig, Tracker, xyxy_to_cxcywh

log = logging.getLogger(__name__)

# Entry kinds: how a track's box on a frame was obtained. FILLED is an interpolation
# across a gap in which the detector ran and did not find the track (a frame a person
# should check); INTERPOLATED only spans frames the detector skipped.
DETECTED, INTERPOLATED, PREDICTED, BEFORE, AFTER, FILLED = range(6)
#: kinds placed from the track's own detections on either side, or just after one
_SEEN = (DETECTED, INTERPOLATED, PREDICTED)
#: kinds no detection of the track stands behind: an extension, or a bridge across a miss
_GUESSED = (BEFORE, AFTER, FILLED)

# An entry: (x1, y1, x2, y2, kind, frames to the nearest detection it extrapolates from)
_Entry = tuple[float, float, float, float, int, int]


class FinalFrame(NamedTuple):
    """A frame whose regions are final: mask ``regions`` on ``payload``.

    ``filled`` holds the track ids whose box here was interpolated across a detector
    run that missed the track: no detection placed it (``veil audit --sample``).
    """

    payload: Any
    regions: Regions
    filled: frozenset[int] = frozenset()


@dataclass(slots=True)
class _Frame:
    seq: int
    payload: Any
    epoch: int
    entries: dict[int, _Entry] = field(default_factory=dict)
    loose: Regions | None = None  # detections that belong to no track


@dataclass(slots=True)
class _Info:
    label: int
    epoch: int
    first_det: int
    last_det: int
    last_box: tuple[float, float, float, float]
    max_score: float
    velocity: tuple[float, float] = (0.0, 0.0)
    last_entry: int = 0
    hits: int = 0
    confirmed: bool = False
    #: the last frame masked before the decision lapsed (-1: none)
    masked_through: int = -1


class OfflineTracker:
    """Streaming transform: frames in, frames with final regions out, W frames later.

    ``push`` one frame at a time in display order; it returns the frames that
    have become final (oldest first). ``flush`` at the end returns the rest.
    Every pushed payload comes out exactly once, in order. Returned regions
    are expanded for motion only; the static margin is the mask stage's job.
    """

    def __init__(self, config: TrackConfig | None = None, decider: Any = None) -> None:
        self.config = config if config is not None else TrackConfig()
        #: decides the tracks of ``decider.label`` from their evidence (None: the rule)
        self.decider = decider
        self._tracker = Tracker(self.config)
        self._frames: deque[_Frame] = deque()
        self._pending = 0
        self._seq = 0
        self._last_index: int | None = None
        self._epoch = 0
        self._last_run = -1
        self._info: dict[int, _Info] = {}
        #: (smaller, larger) face tracks found as one face followed twice
        self._siblings: set[tuple[int, int]] = set()

    # -- public -------------------------------------------------------------
    def push(
        self,
        frame_index: int,
        payload: Any,
        detections: Regions | None,
        cut: bool = False,
        weak: np.ndarray | None = None,
        strong: np.ndarray | None = None,
        evidence: np.ndarray | None = None,
        verify: Any = None,
    ) -> list[FinalFrame]:
        """Add the next frame.

        ``detections=None`` means the detector did not run on this frame; the
        tracker predicts instead. ``cut=True`` marks the first frame of a new
        scene: tracking restarts and nothing is carried across. ``weak`` flags
        detections below the operating threshold: they only count (and are
        only masked) where they continue a track. ``strong`` flags detections
        sure enough to confirm a track alone (default: every one that is not
        weak); other tracks need ``confirm_hits`` detections. ``evidence`` holds
        one row per detection for the ``decider`` (:data:`veil.decide.EVIDENCE`), and
        ``verify(rows)`` fills in the frame verifier's opinions of those it asks for.
        """
        if self._last_index is not None and frame_index <= self._last_index:
            raise ValueError(
                f"frame_index must increase: got {frame_index} after {self._last_index}"
            )
        if detections is not None and not isinstance(detections, Regions):
            raise TypeError(f"detections must be Regions or None, got {type(detections)}")
        self._last_index = frame_index
        seq = self._seq
        self._seq += 1
        if cut and seq > 0:
            self._start_scene()
        frame = _Frame(seq, payload, self._epoch)
        self._frames.append(frame)
        self._pending += 1
        if detections is None:
            self._follow_predictions(frame)
        else:
            self._observe(frame, detections, weak, strong, evidence, verify)
        self._extend_after(frame)
        return self._emit(self.config.lookahead)

    def flush(self) -> list[FinalFrame]:
        """End of stream: return every frame still held back.

        Afterwards the object starts afresh (as after a scene cut); ids keep counting.
        """
        out = self._emit(0)
        self._frames.clear()
        self._info.clear()
        self._siblings.clear()
        self._tracker.reset()
        self._epoch += 1
        return out

    @property
    def held(self) -> int:
        """Payloads currently held back (at most ``lookahead`` between pushes)."""
        return self._pending

    # -- input side -----------------------------------------------------------
    def _start_scene(self) -> None:
        self._tracker.reset()
        self._epoch += 1
        log.debug("scene cut: tracking restarted (epoch %d)", self._epoch)

    def _frame_at(self, seq: int) -> _Frame | None:
        if not self._frames:
            return None
        i = seq - self._frames[0].seq
        return self._frames[i] if 0 <= i < len(self._frames) else None

    def _is_pending(self, f: _Frame) -> bool:
        return f.seq >= self._seq - self._pending

    def _put(self, f: _Frame, tid: int, entry: _Entry) -> None:
        f.entries[tid] = entry
        info = self._info[tid]
        info.last_entry = max(info.last_entry, f.seq)

    def _observe(
        self,
        frame: _Frame,
        detections: Regions,
        weak: np.ndarray | None,
        strong: np.ndarray | None,
        evidence: np.ndarray | None = None,
        verify: Any = None,
    ) -> None:
        """Detector ran: associate, then fill gaps and extend new tracks backwards."""
        n = len(detections)
        weak = np.zeros(n, bool) if weak is None else np.asarray(weak, bool)
        strong = ~weak if strong is None else np.asarray(strong, bool) & ~weak
        if strong.shape != (n,):
            raise ValueError(f"strong must hold one flag per detection, got shape {strong.shape}")
        tracked = self._tracker.update(detections, weak)
        if self.config.sibling_inside > 0:
            self._note_siblings(tracked)
        previous_run, self._last_run = self._last_run, frame.seq
        ids = tracked.track_ids
        # a detection in no track is masked on its frame only when it is sure alone
        loose = (ids < 0) & strong
        if loose.any():
            frame.loose = tracked[loose]
        boxes = tracked.xyxy.tolist()
        scores = tracked.scores.tolist()
        decider = self.decider
        judged = np.zeros(n, bool)
        if decider is not None and evidence is not None:
            judged = (ids >= 0) & (tracked.labels == decider.label)
            rows = np.flatnonzero(judged)
            if len(rows):
                decider.observe_frame(
                    frame.seq,
                    ids[rows].tolist(),
                    [boxes[i] for i in rows],
                    evidence[rows],
                    None if verify is None else (lambda want: verify(rows[want])),
                )
        for i in np.flatnonzero(ids >= 0).tolist():
            tid = int(ids[i])
            box = tuple(boxes[i])
            info = self._info.get(tid)
            if info is None:
                info = _Info(
                    int(tracked.labels[i]), frame.epoch, frame.seq, frame.seq, box, scores[i]
                )
                self._info[tid] = info
                self._extend_before(tid, box, frame.seq)
            else:
                if frame.seq - info.last_det > 1:
                    # a detector run inside the gap that did not find the track
                    missed = previous_run > info.last_det
                    self._interpolate(
                        tid, info.last_box, box, info.last_det, frame.seq,
                        FILLED if missed else INTERPOLATED,
                    )  # fmt: skip
                self._note_velocity(info, box, frame.seq)
                info.last_det, info.last_box = frame.seq, box
                info.max_score = max(info.max_score, scores[i])
            if judged[i] and not decider.advisory:
                if decider.decided(tid):
                    info.confirmed = True
                elif info.confirmed:
                    # the decision lapsed: what was masked up to here stays masked
                    info.confirmed = False
                    info.masked_through = frame.seq
            elif not weak[i]:
                info.hits += 1
                if strong[i] or info.hits >= self.config.confirm_hits:
                    info.confirmed = True
            self._put(frame, tid, (*box, DETECTED, 0))

    def _note_siblings(self, tracked: Regions) -> None:
        """Pair the face tracks found on this run whose smaller box lies mostly inside the
        larger one: the face network's second box on a face, followed as its own track."""
        rows = np.flatnonzero((tracked.track_ids >= 0) & (tracked.labels == FACE))
        if len(rows) < 2:
            return
        b = tracked.xyxy[rows]
        ids = tracked.track_ids[rows].tolist()
        area = box_area(b)
        inside = intersection_matrix(b, b) / np.maximum(area[:, None], 1e-9)
        k = np.arange(len(rows))
        smaller = (area[:, None] < area[None, :]) | (
            (area[:, None] == area[None, :]) & (k[:, None] < k[None, :])
        )
        for i, j in np.argwhere(smaller & (inside >= self.config.sibling_inside)).tolist():
            self._siblings.add((ids[i], ids[j]))

    def _note_velocity(self, info: _Info, box: tuple[float, ...], seq: int) -> None:
        """Exponential average of detection-to-detection centre speed (px/frame)."""
        dt = seq - info.last_det
        vx = ((box[0] + box[2]) - (info.last_box[0] + info.last_box[2])) / (2 * dt)
        vy = ((box[1] + box[3]) - (info.last_box[1] + info.last_box[3])) / (2 * dt)
        ox, oy = info.velocity
        a = 0.5 if seq - info.first_det > dt else 1.0
        info.velocity = (ox + a * (vx - ox), oy + a * (vy - oy))

    def _extend_before(self, tid: int, box: tuple[float, ...], seq: int) -> None:
        """Mask a new track on up to ``pre_frames`` held frames of the same scene."""
        for back in range(1, self.config.pre_frames + 1):
            f = self._frame_at(seq - back)
            if f is None or not self._is_pending(f) or f.epoch != self._epoch:
                break
            if tid not in f.entries:
                self._put(f, tid, (*box, BEFORE, back))

    def _interpolate(
        self,
        tid: int,
        b0: tuple[float, ...],
        b1: tuple[float, ...],
        s0: int,
        s1: int,
        kind: int = INTERPOLATED,
    ) -> None:
        """Linear in centre and size across a gap, on the frames still held."""
        first = max(s0 + 1, self._seq - self._pending)
        if first >= s1:
            return
        cx0, cy0 = (b0[0] + b0[2]) / 2, (b0[1] + b0[3]) / 2
        w0, h0 = b0[2] - b0[0], b0[3] - b0[1]
        dcx, dcy = (b1[0] + b1[2]) / 2 - cx0, (b1[1] + b1[3]) / 2 - cy0
        dw, dh = b1[2] - b1[0] - w0, b1[3] - b1[1] - h0
        for seq in range(first, s1):
            f = self._frame_at(seq)
            if f is None:
                continue
            t = (seq - s0) / (s1 - s0)
            cx, cy, hw, hh = cx0 + t * dcx, cy0 + t * dcy, (w0 + t * dw) / 2, (h0 + t * dh) / 2
            self._put(f, tid, (cx - hw, cy - hh, cx + hw, cy + hh, kind, 0))

    def _follow_predictions(self, frame: _Frame) -> None:
        """Detector skipped: tracks found at its last run follow the prediction."""
        live = self._tracker.predict()
        boxes = live.xyxy.tolist()
        for tid, box in zip(live.track_ids.tolist(), boxes, strict=True):
            info = self._info.get(tid)
            if info is not None and info.last_det == self._last_run:
                self._put(frame, tid, (*box, PREDICTED, frame.seq - info.last_det))

    def _extend_after(self, frame: _Frame) -> None:
        """Keep a vanished track's last box for ``post_frames`` frames."""
        post = self.config.post_frames
        for tid, info in self._info.items():
            if info.epoch != self._epoch or tid in frame.entries:
                continue
            dt = frame.seq - info.last_det
            if 0 < dt <= post:
                self._put(frame, tid, (*info.last_box, AFTER, dt))

    # -- output side ----------------------------------------------------------
    def _emit(self, keep: int) -> list[FinalFrame]:
        out: list[FinalFrame] = []
        while self._pending > keep:
            i = len(self._frames) - self._pending
            f = self._frames[i]
            regions = self._final_regions(i)
            filled = frozenset(
                t for t in regions.track_ids.tolist() if f.entries.get(t, (0,) * 6)[4] == FILLED
            )
            out.append(FinalFrame(f.payload, regions, filled))
            f.payload = None  # memory is bounded by the window, not the video
            self._pending -= 1
        if out:
            self._forget()
        return out

    def _forget(self) -> None:
        """Drop boxes no longer needed for smoothing and tracks no longer referenced."""
        while len(self._frames) - self._pending > self.config.smooth_radius:
            self._frames.popleft()
        oldest = self._frames[0].seq if self._frames else self._seq
        alive = set(self._tracker.track_ids.tolist())
        post = self.config.post_frames
        gone = [
            tid
            for tid, info in self._info.items()
            if info.last_entry < oldest
            and (
                info.epoch != self._epoch or (tid not in alive and self._seq - info.last_det > post)
            )
        ]
        if gone and self._siblings:
            g = set(gone)
            self._siblings = {p for p in self._siblings if p[0] not in g and p[1] not in g}
        for tid in gone:
            del self._info[tid]
            if self.decider is not None:
                self.decider.forget(tid)

    def _is_doubtful(self, info: _Info) -> bool:
        """Very short AND low-score: the only tracks ever dropped as false positives."""
        cfg = self.config
        span = info.last_det - info.first_det + 1
        return span < cfg.min_track_len and info.max_score < cfg.min_track_score

    def _unlikely(self, tids: list[int]) -> np.ndarray:
        """Which of ``tids`` the decision masks while rating them unlikely faces.

        A track is masked once its P(face) reaches the decision's threshold, which
        is set to keep nearly every face (recall first); most street clutter passes
        it at a low P(face). Such a track is masked, but its box grows less
        (``TrackConfig.unlikely_growth``) and its mask takes a smaller margin
        (``unlikely_margin``, carried as ``Regions.margin_shares``): the growth and
        the margin multiply its area, and it is most likely a lantern.
        """
        cut, decider = self.config.unlikely_below, self.decider
        if cut <= 0 or decider is None or decider.advisory:
            return np.zeros(len(tids), bool)
        conf = [
            decider.confidence(t) if self._info[t].label == decider.label else None for t in tids
        ]
        return np.array([c is not None and c < cut for c in conf], bool)

    def _without_spare_guesses(self, frame: _Frame, tids: list[int]) -> list[int]:
        """``tids`` less the smaller siblings whose box on ``frame`` is a guess while the
        larger sibling's is seen there (``TrackConfig.sibling_below``).

        The guess lags or drifts (an interpolation across a missed run, an extension)
        and masks beside the face its larger sibling holds. A large face keeps its
        guesses: there a partial box may be what covers the rest of it.
        """
        entries = frame.entries
        seen = [t for t in tids if entries[t][4] in _SEEN]
        if not seen:
            return tids
        below, pairs = self.config.sibling_below, self._siblings

        def spare(t: int) -> bool:
            e = entries[t]
            return e[4] in _GUESSED and e[3] - e[1] < below and any((t, s) in pairs for s in seen)

        return [t for t in tids if not spare(t)]

    def _final_regions(self, i: int) -> Regions:
        """Smoothed, motion-expanded boxes of frame ``self._frames[i]``."""
        frame = self._frames[i]
        info = self._info
        tids = [
            t
            for t in frame.entries
            if (info[t].confirmed or frame.seq <= info[t].masked_through)
            and not self._is_doubtful(info[t])
        ]
        if self._siblings and len(tids) > 1:
            tids = self._without_spare_guesses(frame, tids)
        loose = frame.loose if frame.loose is not None else Regions.empty()
        if not tids:
            return loose
        cfg = self.config
        k = cfg.smooth_radius
        n, width = len(tids), 2 * k + 1
        rows: list[int] = []
        cols: list[int] = []
        vals: list[_Entry] = []
        for j in range(width):
            f = self._frames[i + j - k] if 0 <= i + j - k < len(self._frames) else None
            if f is None or f.epoch != frame.epoch:
                continue
            get = f.entries.get
            for r, tid in enumerate(tids):
                e = get(tid)
                if e is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append(e)
        arr = np.array(vals, np.float64)
        boxes = np.zeros((n, width, 4))
        kinds = np.full((n, width), -1, np.int64)
        boxes[rows, cols] = arr[:, :4]
        kinds[rows, cols] = arr[:, 4]
        own = boxes[:, k]
        own_dt = np.array([frame.entries[t][5] for t in tids], np.float64)

        # Steady box: mean centre, largest size over the window (an unlikely face gets
        # ``unlikely_growth`` of the way from the mean size to the largest: a small
        # box's size jitters, and the largest adds area) ...
        unlikely = self._unlikely(tids)
        share = np.where(unlikely, cfg.unlikely_growth, 1.0)[:, None]
        c = xyxy_to_cxcywh(boxes)  # missing entries are all-zero boxes
        cnt = (kinds >= 0).sum(axis=1)[:, None]
        centre = c[:, :, :2].sum(axis=1) / cnt
        mean_size, max_size = c[:, :, 2:].sum(axis=1) / cnt, c[:, :, 2:].max(axis=1)
        half = (mean_size + share * (max_size - mean_size)) / 2
        # ... never smaller than the frame's own box (privacy first).
        half = np.maximum(half, np.abs(own[:, :2] - centre))
        half = np.maximum(half, np.abs(own[:, 2:] - centre))

        # Speed from detections in the window, else the track's running estimate.
        det = kinds == DETECTED
        cnt = det.sum(axis=1)
        first = np.argmax(det, axis=1)
        last = width - 1 - np.argmax(det[:, ::-1], axis=1)
        cc = c[:, :, :2]
        span = np.maximum(last - first, 1)[:, None]
        rng = np.arange(n)
        v_win = (cc[rng, last] - cc[rng, first]) / span
        v_run = np.array([self._info[t].velocity for t in tids], np.float64).reshape(n, 2)
        speed = np.abs(np.where((cnt >= 2)[:, None], v_win, v_run))
        half = half + cfg.motion_margin * share * speed * (1.0 + own_dt)[:, None]

        xyxy = np.concatenate([centre - half, centre + half], axis=1)
        infos = [self._info[t] for t in tids]
        tracked = Regions(
            xyxy,
            np.array([inf.max_score for inf in infos], np.float32),
            np.array([inf.label for inf in infos], np.int16),
            np.array(tids, np.int64),
            np.where(unlikely, cfg.unlikely_margin, 1.0),
        )
        return Regions.concat([tracked, loose])
