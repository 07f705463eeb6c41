"""Online multi-object tracker (ByteTrack-like) on numpy + scipy.

Why our own: the packaged trackers either drop lost tracks (no gain in
coverage), need a GUI OpenCV, an old numpy or torch (see DESIGN.md). This one
keeps every track's state in a few arrays (struct of arrays), so predicting
and updating 20 tracks is a handful of batched numpy calls, and associates
with one Hungarian solve per round.

Privacy shapes the choices: every detection handed in is returned (masking is
never decided here), low-score detections still extend tracks (ByteTrack's
second round) and, above ``low_score``, start them too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from ..regions import Regions

if TYPE_CHECKING:
    from ..settings import TrackSettings

log = logging.getLogger(__name__)

# Kalman noise, relative to the box size (ByteTrack's weights).
_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160
_INVALID = 1e6  # cost of a forbidden pairing


@dataclass(frozen=True)
class TrackConfig:
    """Validated parameters of the tracker and of the offline look-ahead.

    Counts are in frames. Defaults are privacy-first: nothing is dropped as a
    false positive unless ``min_track_score`` is raised above 0.
    """

    #: frames held back to fill gaps and extend tracks backwards (memory: W frames)
    lookahead: int = 8
    #: frames masked before a track's first detection (must be <= lookahead)
    pre_frames: int = 3
    #: frames masked after a track's last detection
    post_frames: int = 5
    #: frames a lost track is kept for re-association (its gap is interpolated)
    max_gap: int = 15
    #: detections at or above this score associate first (ByteTrack round 1)
    high_score: float = 0.5
    #: detections below this never start a track (masked on their own frame only)
    low_score: float = 0.0
    #: least IoU between a predicted track box and a detection to pair them
    iou_threshold: float = 0.2
    #: alternative gate for small fast boxes: centre distance in track-box sizes
    max_center_dist: float = 1.0
    #: a track spanning fewer frames than this (first to last detection) is short
    min_track_len: int = 2
    #: a short track whose best score is below this is dropped (0 keeps all)
    min_track_score: float = 0.0
    #: each box side grows by this many frames' worth of motion (speed in px/frame)
    motion_margin: float = 1.0
    #: a track the ``decider`` masks with P(face) (its best so far) under this is an
    #: unlikely face (0: none is)
    unlikely_below: float = 0.0
    #: how much an unlikely face's box grows, from 0 (its window's mean size, no growth
    #: with its own speed) to 1 (the largest size and all of it, as any track)
    unlikely_growth: float = 1.0
    #: an unlikely face's mask margin, as a share of its class's margin (1: the same)
    unlikely_margin: float = 1.0
    #: frames on each side averaged to steady a box (0 = no smoothing)
    smooth_radius: int = 2
    #: detections at the operating threshold that confirm a track without a strong one
    #: (1: every track is masked from its first detection)
    confirm_hits: int = 1
    #: two face tracks are siblings (one face followed twice) once, on a detector run
    #: that found both, at least this share of the smaller box lay inside the larger
    #: (0: no track has siblings)
    sibling_inside: float = 0.0
    #: the smaller sibling's guessed box (bridged or extended, no detection behind it)
    #: is left out where the larger sibling is seen, while the guess is under this
    #: height in pixels
    sibling_below: float = 0.0

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("lookahead", 0, 300),
            ("pre_frames", 0, 300),
            ("post_frames", 0, 300),
            ("max_gap", 0, 3000),
            ("min_track_len", 1, 300),
            ("smooth_radius", 0, 30),
            ("confirm_hits", 1, 30),
        ):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be a whole number from {lo} to {hi}, got {v!r}")
        for name, lo, hi in (
            ("high_score", 0.0, 1.0),
            ("low_score", 0.0, 1.0),
            ("iou_threshold", 0.01, 1.0),
            ("max_center_dist", 0.0, 10.0),
            ("min_track_score", 0.0, 1.0),
            ("motion_margin", 0.0, 10.0),
            ("unlikely_below", 0.0, 1.0),
            ("unlikely_growth", 0.0, 1.0),
            ("unlikely_margin", 0.0, 1.0),
            ("sibling_inside", 0.0, 1.0),
            ("sibling_below", 0.0, 10000.0),
        ):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be between {lo} and {hi}, got {v!r}")
        if self.low_score > self.high_score:
            raise ConfigError(
                f"low_score ({self.low_score}) must not exceed high_score ({self.high_score})"
            )
        if self.pre_frames > self.lookahead:
            raise ConfigError(
                f"pre_frames ({self.pre_frames}) must not exceed lookahead ({self.lookahead}): "
                "frames before a first detection can only be masked while still held back"
            )
        if self.min_track_score > 0 and self.pre_frames + self.min_track_len - 1 > self.lookahead:
            raise ConfigError(
                f"with min_track_score > 0, pre_frames + min_track_len - 1 "
                f"({self.pre_frames + self.min_track_len - 1}) must not exceed lookahead "
                f"({self.lookahead}), or real tracks would be judged before they can prove "
                "themselves"
            )

    @classmethod
    def from_settings(cls, settings: TrackSettings, **overrides: object) -> TrackConfig:
        """Build from ``TrackSettings``: every field of the same name is taken over."""
        names = {f.name for f in fields(cls)}
        values = {n: getattr(settings, n) for n in names if hasattr(settings, n)}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64)
    out = np.empty_like(b)
    out[..., 0] = (b[..., 0] + b[..., 2]) / 2
    out[..., 1] = (b[..., 1] + b[..., 3]) / 2
    out[..., 2] = b[..., 2] - b[..., 0]
    out[..., 3] = b[..., 3] - b[..., 1]
    return out


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64)
    out = np.empty_like(b)
    out[..., 0] = b[..., 0] - b[..., 2] / 2
    out[..., 1] = b[..., 1] - b[..., 3] / 2
    out[..., 2] = b[..., 0] + b[..., 2] / 2
    out[..., 3] = b[..., 1] + b[..., 3] / 2
    return out


def _size4(cxcywh: np.ndarray) -> np.ndarray:
    """(T,4) scale per state coordinate: width for x and w, height for y and h."""
    w = np.maximum(cxcywh[:, 2], 1.0)
    h = np.maximum(cxcywh[:, 3], 1.0)
    return np.stack([w, h, w, h], axis=1)


# Constant-velocity transition: position += velocity.
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)


class Tracker:
    """Per-frame online tracker: ``update(detections)`` once per detected frame.

    Tracks are per class (a face never continues a plate's track); ids come
    from this instance's own counter, so two trackers never share ids. The
    state of each track is a Kalman filter on (cx, cy, w, h) and its velocities.
    """

    def __init__(self, config: TrackConfig | None = None) -> None:
        if config is None:
            config = TrackConfig()
        if not isinstance(config, TrackConfig):
            raise TypeError(f"config must be a TrackConfig, got {type(config).__name__}")
        self.config = config
        self._next_id = 1
        self._clear()

    # -- public -------------------------------------------------------------
    def reset(self, restart_ids: bool = False) -> None:
        """Forget all tracks (a scene cut). Ids keep counting unless ``restart_ids``."""
        self._clear()
        if restart_ids:
            self._next_id = 1

    def update(self, detections: Regions, weak: np.ndarray | None = None) -> Regions:
        """Advance one frame with this frame's detections.

        ``weak`` marks detections that may only continue a track (scores below
        the operating threshold): they join the second association round and
        never start a track. Returns the detections in their input order with
        ``track_ids`` set (-1 for one that continues no track and starts none).
        """
        if not isinstance(detections, Regions):
            raise TypeError(f"detections must be Regions, got {type(detections).__name__}")
        weak = np.zeros(len(detections), bool) if weak is None else np.asarray(weak, bool)
        if weak.shape != (len(detections),):
            raise ValueError(f"weak must hold one flag per detection, got shape {weak.shape}")
        det_ids = np.full(len(detections), -1, np.int64)
        # 1. predict: every track moves one frame along its velocity
        self._predict()
        cost = self._pair_costs(detections)
        high = (detections.scores >= self.config.high_score) & ~weak
        # 2. associate high-score detections with all tracks
        free = np.ones(len(self._ids), bool)
        t_high, d_high = self._associate(cost, free, high)
        # 3. associate low-score detections with the tracks left (ByteTrack)
        free[t_high] = False
        t_low, d_low = self._associate(cost, free, ~high)
        matched_t = np.concatenate([t_high, t_low])
        matched_d = np.concatenate([d_high, d_low])
        # 4. update matched tracks with their detections
        self._update_matched(matched_t, matched_d, detections)
        det_ids[matched_d] = self._ids[matched_t]
        # 5. age unmatched tracks; forget those lost beyond max_gap
        self._age_unmatched(matched_t)
        missed = np.ones(len(self._ids), bool)
        missed[matched_t] = False
        self._missed[missed] += 1
        self._remove_expired()
        # 6. birth: unmatched detections start tracks (weak ones never do)
        unmatched = ~weak
        unmatched[matched_d] = False
        unmatched = np.flatnonzero(unmatched)
        det_ids[unmatched] = self._birth(unmatched, detections)
        return detections.with_track_ids(det_ids)

    def predict(self) -> Regions:
        """Advance one frame with no detector run (``--detect-every N``).

        Returns the predicted boxes of all live tracks.
        """
        self._predict()
        self._age_unmatched(np.zeros(0, np.int64))
        self._remove_expired()
        return self.live()

    def live(self) -> Regions:
        """Current boxes of all live tracks (estimated, or predicted while lost)."""
        xyxy = cxcywh_to_xyxy(self._mean[:, :4])
        return Regions(xyxy, self._score, self._labels, self._ids)

    @property
    def track_ids(self) -> np.ndarray:
        return self._ids.copy()

    @property
    def lost(self) -> np.ndarray:
        """Frames since each live track (order of :meth:`live`) was last detected."""
        return self._lost.copy()

    def __len__(self) -> int:
        return len(self._ids)

    # -- phases ---------------------------------------------------------------
    def _clear(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._labels = np.zeros(0, np.int16)
        self._mean = np.zeros((0, 8))
        self._cov = np.zeros((0, 8, 8))
        self._lost = np.zeros(0, np.int64)  # frames since the last match (expiry)
        self._missed = np.zeros(0, np.int64)  # detector runs missed since then (gate)
        self._score = np.zeros(0, np.float32)

    def _predict(self) -> None:
        """Move every track one frame along its velocity; grow its uncertainty."""
        if not len(self._ids):
            return
        size = _size4(self._mean[:, :4])
        q = np.concatenate([(_STD_POS * size) ** 2, (_STD_VEL * size) ** 2], axis=1)
        self._mean = self._mean @ _F.T
        self._mean[:, 2:4] = np.maximum(self._mean[:, 2:4], 1.0)
        cov = _F @ self._cov @ _F.T
        cov[:, np.arange(8), np.arange(8)] += q
        self._cov = cov

    def _pair_costs(self, detections: Regions) -> np.ndarray:
        """(tracks, detections) matching cost; ``_INVALID`` where pairing is forbidden.

        A pair is allowed within a class when IoU >= ``iou_threshold``, or, for
        small fast boxes whose prediction overshoots, when the centres are
        within ``max_center_dist`` box sizes (wider while the track is lost,
        up to 4x) and the areas within a factor of 4.
        """
        n_t, n_d = len(self._ids), len(detections)
        if not n_t or not n_d:
            return np.zeros((n_t, n_d))
        cfg = self.config
        t = self._mean[:, :4]
        d = xyxy_to_cxcywh(detections.xyxy)
        dx = np.abs(t[:, None, 0] - d[None, :, 0])
        dy = np.abs(t[:, None, 1] - d[None, :, 1])
        iw = np.clip((t[:, None, 2] + d[None, :, 2]) / 2 - dx, 0.0, None)
        ih = np.clip((t[:, None, 3] + d[None, :, 3]) / 2 - dy, 0.0, None)
        iw = np.minimum(iw, np.minimum(t[:, None, 2], d[None, :, 2]))
        ih = np.minimum(ih, np.minimum(t[:, None, 3], d[None, :, 3]))
        inter = iw * ih
        t_area = t[:, 2] * t[:, 3]
        d_area = np.maximum(d[:, 2] * d[:, 3], 1e-9)
        iou = inter / (t_area[:, None] + d_area[None, :] - inter)
        ndist = np.hypot(dx, dy) / np.sqrt(t_area)[:, None]
        ratio = d_area[None, :] / t_area[:, None]
        gate = cfg.max_center_dist * (1.0 + np.minimum(self._missed, 3))[:, None]
        near = (ndist <= gate) & (ratio >= 0.25) & (ratio <= 4.0)
        same = self._labels[:, None] == detections.labels[None, :]
        valid = same & ((iou >= cfg.iou_threshold) | near)
        # distance keeps counting inside the gate: with a capped term, two far
        # pairings cost the same and the matching may swap neighbours' ids
        return np.where(valid, 1.0 - iou + 0.5 * ndist, _INVALID)

    @staticmethod
    def _associate(
        cost: np.ndarray, tracks: np.ndarray, dets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Hungarian matching between the masked tracks and detections."""
        ti, di = np.flatnonzero(tracks), np.flatnonzero(dets)
        if not len(ti) or not len(di):
            empty = np.zeros(0, np.int64)
            return empty, empty
        rows, cols = min_cost_matching(cost[ti[:, None], di[None, :]])
        return ti[rows], di[cols]

    def _update_matched(self, tracks: np.ndarray, dets: np.ndarray, detections: Regions) -> None:
        """Kalman correction of matched tracks with their detections (batched)."""
        if not len(tracks):
            return
        z = xyxy_to_cxcywh(detections.xyxy[dets])
        mean, cov = self._mean[tracks], self._cov[tracks]
        r = (_STD_POS * _size4(mean[:, :4])) ** 2
        s = cov[:, :4, :4].copy()
        s[:, np.arange(4), np.arange(4)] += r
        gain = cov[:, :, :4] @ np.linalg.inv(s)  # (m, 8, 4)
        innovation = z - mean[:, :4]
        self._mean[tracks] = mean + (gain @ innovation[:, :, None])[:, :, 0]
        self._cov[tracks] = cov - gain @ s @ gain.transpose(0, 2, 1)
        self._mean[tracks, 2:4] = np.maximum(self._mean[tracks, 2:4], 1.0)
        self._lost[tracks] = 0
        self._missed[tracks] = 0
        self._score[tracks] = np.maximum(self._score[tracks], detections.scores[dets])

    def _age_unmatched(self, matched: np.ndarray) -> None:
        """Count one more frame without a detection for every unmatched track."""
        mask = np.ones(len(self._ids), bool)
        mask[matched] = False
        self._lost[mask] += 1

    def _birth(self, dets: np.ndarray, detections: Regions) -> np.ndarray:
        """Start a track per unmatched detection at or above ``low_score``; return ids."""
        ids = np.full(len(dets), -1, np.int64)
        born = detections.scores[dets] >= self.config.low_score
        dets = dets[born]
        n = len(dets)
        if not n:
            return ids
        new_ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        z = xyxy_to_cxcywh(detections.xyxy[dets])
        z[:, 2:4] = np.maximum(z[:, 2:4], 1.0)
        size = _size4(z)
        std = np.concatenate([2 * _STD_POS * size, 10 * _STD_VEL * size], axis=1)
        cov = np.zeros((n, 8, 8))
        cov[:, np.arange(8), np.arange(8)] = std**2
        mean = np.concatenate([z, np.zeros((n, 4))], axis=1)
        self._ids = np.concatenate([self._ids, new_ids])
        self._labels = np.concatenate([self._labels, detections.labels[dets]])
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._lost = np.concatenate([self._lost, np.zeros(n, np.int64)])
        self._missed = np.concatenate([self._missed, np.zeros(n, np.int64)])
        self._score = np.concatenate([self._score, detections.scores[dets]])
        ids[born] = new_ids
        return ids

    def _remove_expired(self) -> None:
        """Drop tracks lost for more than ``max_gap`` frames."""
        keep = self._lost <= self.config.max_gap
        if keep.all():
            return
        self._ids, self._labels = self._ids[keep], self._labels[keep]
        self._mean, self._cov = self._mean[keep], self._cov[keep]
        self._lost, self._score = self._lost[keep], self._score[keep]
        self._missed = self._missed[keep]


#: matchings up to this many pairs are solved here; larger ones (crowds) by scipy
_SMALL_MATCHING = 48


def min_cost_matching(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns paired by a minimum-cost matching over the allowed pairs.

    A pair is allowed when its cost is below ``_INVALID``; the matching pairs as
    many as it can, then at the least cost (the Hungarian method on the whole
    matrix). A detector run's matrix is small (tens of tracks and detections),
    where a short shortest-augmenting-path solver over numpy rows takes about a
    millisecond; scipy's solver, whose import takes 0.3-0.5 s (a tenth of a
    short clip's run), is loaded only for larger ones.
    """
    flip = cost.shape[0] > cost.shape[1]
    a = cost.T if flip else cost
    if a.shape[0] <= _SMALL_MATCHING:
        rows, cols = _hungarian(np.asarray(a, np.float64))
    else:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(a)
    if flip:
        rows, cols = cols, rows
    ok = cost[rows, cols] < _INVALID
    rows, cols = rows[ok], cols[ok]
    order = np.argsort(rows, kind="stable")
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def _hungarian(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment of every row of ``a`` (rows <= columns) to a column.

    Shortest augmenting paths with row and column potentials (Kuhn-Munkres in
    its O(n^2 m) form), one row added at a time; the inner scan over the
    columns is a numpy operation.
    """
    n, m = a.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    owner = np.zeros(m + 1, np.int64)  # owner[j]: the row (1-based) column j is given to
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = ~used
            free[0] = False
            cur = a[i0 - 1] - u[i0] - v[1:]
            better = free[1:] & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            j1 = int(np.argmin(np.where(free, minv, np.inf)))
            delta = minv[j1]
            u[owner[used]] += delta
            v[used] -= delta
            minv[free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.flatnonzero(owner[1:])
    return owner[1:][cols] - 1, cols
