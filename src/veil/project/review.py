"""Review at the scale of a project: tracks ranked by evidence, bulk decisions, "more like this".

Pure functions over the project model, shared by ``veil review``, the REST API
and the page, so the three agree on every count.

* **Evidence** of a track is the decision's ``confidence`` (the learned P(face))
  where there is one, else the detector's best ``score``; which of the two it
  is travels with it (:func:`evidence_kind`), so a reviewer never mistakes a raw
  detector score for a calibrated probability. Manual regions have none: a
  person drew them and no threshold turns them off.
* **Threshold**: "mask the tracks at or above X". :func:`preview` counts what
  that masks (tracks, and the share of the frame area inside their boxes) and
  :func:`apply_threshold` turns the rest off as one undoable edit with one
  reason, recorded as a :class:`~veil.project.model.Decision`. It may act on one
  class (``label``) and one size band (``min_size``/``max_size``, the median box
  height in px, as :func:`by_size`) only, so a reviewer can be stricter with, say,
  the distant crowd's tiny boxes than with the rest.
* **Never unmask by accident**: a bulk action that would turn off a track rated
  very likely a face (evidence >= :data:`LIKELY_FACE`, or a face drawn by hand)
  raises :class:`NeedsConfirmation` naming how many, unless ``confirm=True``.
* **More like this**: :func:`similar` ranks tracks by how likely they are to be
  turned off too: each track's doubt (1 - evidence) spread over its neighbours in
  the frame, with the tracks a reviewer turned off held at 1 (:func:`suspicion`,
  docs/review.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ProjectError
from ..settings import METHODS
from .document import Project
from .model import AUTO_LABELS, Decision, FileEntry, Track, check_band, size_band

#: Learned confidence at or above which turning a face track off needs a confirmation.
LIKELY_FACE = 0.9
#: The same line for a raw detector score, which is not a probability: on tokyo_street no
#: face track scores above ~0.85, and 17 of the 19 at 0.6 or more lie on annotated faces.
LIKELY_FACE_SCORE = 0.6
EVIDENCE_CONFIDENCE = "confidence"
EVIDENCE_SCORE = "detector score"
EVIDENCE_NONE = "none"
#: Bulk actions (one undoable edit each).
ACTIONS = ("disable", "enable", "method")


class NeedsConfirmation(ProjectError):
    """A bulk action would turn off tracks rated very likely a face; ``count`` says how many."""

    def __init__(self, count: int, ids: Sequence[int]) -> None:
        super().__init__(
            f"this would turn off {count} track(s) rated very likely a face (confidence >= "
            f"{LIKELY_FACE}, detector score >= {LIKELY_FACE_SCORE}, or drawn by hand); "
            "confirm to go on"
        )
        self.count = count
        self.ids = tuple(ids)


# -- evidence ---------------------------------------------------------------------------
def evidence(t: Track) -> float | None:
    """The learned confidence where there is one, else the detector score (None: manual)."""
    if t.confidence is not None:
        return t.confidence
    return t.score


def evidence_kind(t: Track) -> str:
    if t.confidence is not None:
        return EVIDENCE_CONFIDENCE
    return EVIDENCE_SCORE if t.score is not None else EVIDENCE_NONE


def likely_line(t: Track) -> float:
    """The evidence from which a track counts as very likely a face (per evidence kind)."""
    return LIKELY_FACE if t.confidence is not None else LIKELY_FACE_SCORE


def likely_face(t: Track) -> bool:
    """Very likely a face: a face track rated at or above its :func:`likely_line`, or a
    face a person drew."""
    if t.label != "face":
        return False
    ev = evidence(t)
    return ev is None or ev >= likely_line(t)


def below(t: Track, threshold: float, label: str | None = None) -> bool:
    """Would a threshold (on ``label``'s tracks, or on all) turn this track off? Only
    enabled tracks with evidence below it."""
    ev = evidence(t)
    return t.enabled and ev is not None and ev < threshold and label in (None, t.label)


def _check_label(label: str | None) -> str | None:
    if label is not None and label not in AUTO_LABELS:
        raise ProjectError(f"label: expected one of {', '.join(AUTO_LABELS)}, got {label!r}")
    return label


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ProjectError(f"threshold: expected a number from 0 to 1, got {threshold!r}")
    if not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise ProjectError(f"threshold: expected a number from 0 to 1, got {threshold!r}")
    return float(threshold)


# -- per-track figures -------------------------------------------------------------------
@dataclass(frozen=True)
class TrackStats:
    """What the grid sorts and filters by; no coordinates leave as such (shares of the frame)."""

    id: int
    label: str
    source: str
    enabled: bool
    evidence: float | None
    evidence_kind: str
    likely_face: bool
    frames: int  # visible frames
    first: int
    last: int
    area: float  # mean share of the frame inside the box while visible
    size: float  # median box height in pixels
    cx: float  # mean centre, share of width
    cy: float  # mean centre, share of height
    aspect: float  # median width / height

    def as_dict(self) -> dict[str, object]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("area", "size", "cx", "cy", "aspect"):
            d[k] = round(float(d[k]), 5)  # type: ignore[arg-type]
        return d


def _clipped(xyxy: np.ndarray, w: int, h: int) -> np.ndarray:
    out = xyxy.astype(np.float64).copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out


def _height(xyxy: np.ndarray) -> float:
    """A track's size: the median height of its boxes (px, unclipped); 0 without boxes."""
    return float(np.median(xyxy[:, 3] - xyxy[:, 1])) if len(xyxy) else 0.0


def track_size(t: Track, n_frames: int) -> float:
    """:attr:`TrackStats.size` alone (what a size band compares)."""
    return _height(frame_boxes(t, n_frames)[1])


def track_stats(entry: FileEntry, t: Track) -> TrackStats:
    frames, xyxy = frame_boxes(t, entry.frames)
    ev = evidence(t)
    if len(frames):
        b = _clipped(xyxy, entry.width, entry.height)
        bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        area = float((bw * bh).mean()) / (entry.width * entry.height)
        raw_w, raw_h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
        size, aspect = _height(xyxy), float(np.median(raw_w / raw_h))
        cx = float(((xyxy[:, 0] + xyxy[:, 2]) / 2).mean()) / entry.width
        cy = float(((xyxy[:, 1] + xyxy[:, 3]) / 2).mean()) / entry.height
        first, last = int(frames[0]), int(frames[-1])
    else:
        area = size = cx = cy = 0.0
        aspect = 1.0
        first = last = t.first_frame
    return TrackStats(
        t.id,
        t.label,
        t.source,
        t.enabled,
        None if ev is None else round(ev, 4),
        evidence_kind(t),
        likely_face(t),
        int(len(frames)),
        first,
        last,
        area,
        size,
        cx,
        cy,
        aspect,
    )


def in_band(size: float, lo: float | None, hi: float | None) -> bool:
    """Whether a size lies in the band (both bounds included)."""
    return (lo is None or size >= lo) and (hi is None or size <= hi)


def by_size(
    stats: Iterable[TrackStats], min_size: float | None = None, max_size: float | None = None
) -> list[TrackStats]:
    """The tracks whose size (median box height, px) lies from ``min_size`` to ``max_size``
    (both included; None: no bound), so a reviewer can take the distant crowd's tiny boxes, or
    the big signs, as one group."""
    lo, hi = check_band(min_size, max_size)
    return [s for s in stats if in_band(s.size, lo, hi)]


class StatsCache:
    """:func:`track_stats` per track object: an edit replaces one track, one is recomputed."""

    def __init__(self) -> None:
        self._hit: dict[int, tuple[Track, TrackStats]] = {}

    def get(self, entry: FileEntry, t: Track) -> TrackStats:
        hit = self._hit.get(t.id)
        if hit is None or hit[0] is not t:
            hit = (t, track_stats(entry, t))
            self._hit[t.id] = hit
        return hit[1]

    def all(self, entry: FileEntry) -> list[TrackStats]:
        for gone in [i for i in self._hit if i not in entry.tracks]:
            del self._hit[gone]
        return [self.get(entry, entry.tracks[i]) for i in sorted(entry.tracks)]


# -- threshold preview ---------------------------------------------------------------------
@dataclass(frozen=True)
class Preview:
    """What "mask the tracks at or above ``threshold``" would leave masked."""

    threshold: float
    masked: int  # tracks masked afterwards
    turned_off: int  # enabled tracks the threshold turns off
    already_off: int  # tracks a reviewer turned off before (left as they are)
    likely_faces_off: int  # of turned_off, rated very likely a face (needs confirmation)
    area_share: float  # mean over frames of the frame share inside masked boxes (union)
    evidence: dict[str, int]  # masked tracks per evidence kind

    def as_dict(self) -> dict[str, object]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["area_share"] = round(self.area_share, 6)
        return d


def frame_boxes(t: Track, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Track.boxes` without a Python step per frame (review reads every track at once).

    Same frames and boxes, in float64: between two box keyframes the box moves
    linearly, after a box followed by ``outside`` or by nothing it holds.
    """
    kfs = t.keyframes
    m = len(kfs)
    f = np.fromiter((k.frame for k in kfs), np.int64, m)
    out = np.fromiter((k.outside for k in kfs), bool, m)
    b = np.array([(0.0, 0.0, 0.0, 0.0) if k.outside else k.box for k in kfs], np.float64)
    stop = np.minimum(np.append(f[1:], n_frames), n_frames)
    length = np.where(out | (f >= n_frames), 0, stop - f).clip(min=0)
    total = int(length.sum())
    if not total:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float64)
    i = np.repeat(np.arange(m), length)
    start = np.cumsum(length) - length
    frames = np.arange(total) - start[i] + f[i]
    j = np.minimum(i + 1, m - 1)
    moves = (i + 1 < m) & ~out[j]
    span = np.where(moves, f[j] - f[i], 1)
    w = np.where(moves, (frames - f[i]) / span, 0.0)
    boxes = b[i] + w[:, None] * (b[j] - b[i])
    return frames, boxes


#: The pictures of a track's life a reviewer can ask for (:func:`life_frames`).
LIFE = ("first", "middle", "last")


def life_frames(t: Track, n_frames: int) -> dict[str, int] | None:
    """The first, middle and last of the frames a track is visible on outside its
    ``filled`` ranges (boxes a detection or a person placed, not ones the tracker drew
    across a miss; all visible frames if every one is filled); None when it is never
    visible. Three pictures show a reviewer whether a track stays on its object."""
    frames, _ = frame_boxes(t, n_frames)
    if not len(frames):
        return None
    placed = np.ones(len(frames), bool)
    for a, b in t.filled:
        placed &= (frames < a) | (frames > b)
    pick = frames[placed] if placed.any() else frames
    return {"first": int(pick[0]), "middle": int(pick[(len(pick) - 1) // 2]), "last": int(pick[-1])}


def thumbnail_frame(t: Track, n_frames: int) -> int | None:
    """The frame a track's thumbnail shows: the middle of :func:`life_frames`.

    Not its first frame: a track often starts on a face entering the frame half hidden, or
    on the clutter it then left. On ``tokyo_street`` the first box of 14 of 29 true face
    tracks lies on the face (on the nearest annotated frame), the middle one's of 25 of 31
    (docs/review.md), and a reviewer judges a track by this picture.
    """
    life = life_frames(t, n_frames)
    return None if life is None else life["middle"]


class Coverage:
    """The frame area a threshold leaves masked, answered by a binary search.

    The frames are cut into cells (a few pixels, sized so that the boxes of all
    tracks cover at most about ``budget`` cells, on every ``step``-th frame); a
    cell is inside a box when its centre is (unbiased for small boxes). Each cell
    keeps the highest evidence of the enabled tracks covering it (manual tracks:
    infinite), so the share masked at X is the share of cells whose highest
    evidence is >= X: a sort when the tracks change, then O(log cells) a query.
    Each track's cells are kept per track object, so after an edit only the new
    versions of changed tracks are rasterised again.
    """

    def __init__(self, entry: FileEntry, budget: int = 3_000_000) -> None:
        w, h, n = entry.width, entry.height, entry.frames
        px = 0.0
        for t in entry.tracks.values():
            frames, xyxy = frame_boxes(t, n)
            if len(frames):
                px += float(((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])).sum())
        # ~4 px cells at 640 px wide, coarser when the boxes would cover too many
        self.cell = max(w / 160.0, math.sqrt(px / budget), 1.0)
        self.gw, self.gh = max(1, math.ceil(w / self.cell)), max(1, math.ceil(h / self.cell))
        self.step = max(1, math.ceil(n * self.gw * self.gh / (4 * budget)))
        self.n = n
        self.cells = len(range(0, n, self.step)) * self.gw * self.gh
        self._tracks: dict[int, tuple[Track, np.ndarray, float]] = {}
        self._key: tuple[int, ...] | None = None
        self._sorted: dict[tuple[str | None, float | None, float | None], np.ndarray] = {}
        self.update(entry)

    def _cells(self, t: Track) -> tuple[np.ndarray, float]:
        """The track's cells and its size (:func:`track_size`, for a size band)."""
        hit = self._tracks.get(t.id)
        if hit is not None and hit[0] is t:
            return hit[1], hit[2]
        frames, xyxy = frame_boxes(t, self.n)
        size = _height(xyxy)
        keep = frames % self.step == 0
        frames, xyxy = frames[keep] // self.step, xyxy[keep]
        c = self.cell
        x1 = np.ceil(xyxy[:, 0] / c - 0.5).clip(0, self.gw).astype(np.int64)
        x2 = np.ceil(xyxy[:, 2] / c - 0.5).clip(0, self.gw).astype(np.int64)
        y1 = np.ceil(xyxy[:, 1] / c - 0.5).clip(0, self.gh).astype(np.int64)
        y2 = np.ceil(xyxy[:, 3] / c - 0.5).clip(0, self.gh).astype(np.int64)
        nx, ny = (x2 - x1).clip(min=0), (y2 - y1).clip(min=0)
        count = nx * ny
        r = np.repeat(np.arange(len(frames)), count)
        local = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        nxr = np.maximum(nx[r], 1)
        y = y1[r] + local // nxr
        x = x1[r] + local % nxr
        cells = (frames[r] * self.gh + y) * self.gw + x
        self._tracks[t.id] = (t, cells, size)
        return cells, size

    def update(
        self,
        entry: FileEntry,
        label: str | None = None,
        min_size: float | None = None,
        max_size: float | None = None,
    ) -> None:
        """Follow the entry's tracks as they are now (cheap when nothing changed); with
        ``label`` and a size band, the threshold applies to those tracks only (the others
        stay masked)."""
        on = [t for t in entry.tracks.values() if t.enabled]
        key = tuple(id(t) for t in on)
        if key != self._key:
            for gone in [i for i in self._tracks if i not in entry.tracks]:
                del self._tracks[gone]
            self._sorted, self._key, self._on = {}, key, on
        lo, hi = check_band(min_size, max_size)
        scope = (label, lo, hi)
        if scope in self._sorted:
            return
        if len(self._sorted) >= 16:  # a reviewer trying bands: keep the memory bounded
            self._sorted.clear()
        cells = {t.id: self._cells(t) for t in on}

        def value(t: Track) -> float:
            ev = evidence(t)
            acts = label in (None, t.label) and in_band(cells[t.id][1], lo, hi)
            return np.inf if ev is None or not acts else ev

        grid = np.full(self.cells, -np.inf, np.float32)
        # ascending evidence: a cell ends with the highest evidence of the tracks covering it
        for t in sorted(on, key=value):
            grid[cells[t.id][0]] = value(t)
        self._sorted[scope] = np.sort(grid[grid > -np.inf])

    def share(
        self,
        threshold: float,
        label: str | None = None,
        min_size: float | None = None,
        max_size: float | None = None,
    ) -> float:
        """Share of the frame area (mean over frames) masked at ``threshold`` (after
        :meth:`update` for the same ``label`` and band)."""
        scope = (label, *check_band(min_size, max_size))
        values = self._sorted.get(scope, np.zeros(0, np.float32))
        i = int(np.searchsorted(values, np.float32(threshold), side="left"))
        return float(len(values) - i) / self.cells if self.cells else 0.0


def _acts_on(
    entry: FileEntry,
    label: str | None,
    min_size: float | None,
    max_size: float | None,
    sizes: Mapping[int, float] | None,
) -> Callable[[Track], bool]:
    """Whether a threshold with this class and size band acts on a track (sizes from
    ``sizes`` where given, e.g. a :class:`StatsCache`'s, else computed when asked)."""
    label = _check_label(label)
    lo, hi = check_band(min_size, max_size)

    def acts(t: Track) -> bool:
        if label not in (None, t.label):
            return False
        if lo is None and hi is None:
            return True
        size = sizes[t.id] if sizes is not None and t.id in sizes else None
        return in_band(track_size(t, entry.frames) if size is None else size, lo, hi)

    return acts


def preview(
    entry: FileEntry,
    threshold: float,
    coverage: Coverage | None = None,
    label: str | None = None,
    min_size: float | None = None,
    max_size: float | None = None,
    sizes: Mapping[int, float] | None = None,
) -> Preview:
    """Counts for "mask the tracks (of ``label``, or all; of a size band, or any) at or above
    ``threshold``"; pass a cached ``coverage`` (and the tracks' ``sizes``) for speed."""
    threshold = _check_threshold(threshold)
    acts = _acts_on(entry, label, min_size, max_size, sizes)
    masked = off = already = likely = 0
    kinds: dict[str, int] = {}
    for t in entry.tracks.values():
        if not t.enabled:
            already += 1
        elif below(t, threshold) and acts(t):
            off += 1
            likely += likely_face(t)
        else:
            masked += 1
            k = evidence_kind(t)
            kinds[k] = kinds.get(k, 0) + 1
    cov = coverage if coverage is not None else Coverage(entry)
    cov.update(entry, label, min_size, max_size)
    share = cov.share(threshold, label, min_size, max_size)
    return Preview(threshold, masked, off, already, likely, share, kinds)


# -- bulk edits ------------------------------------------------------------------------------
def _guard(tracks: Iterable[Track], confirm: bool) -> None:
    risky = [t.id for t in tracks if likely_face(t)]
    if risky and not confirm:
        raise NeedsConfirmation(len(risky), risky)


def threshold_plan(
    entry: FileEntry,
    threshold: float,
    label: str | None = None,
    min_size: float | None = None,
    max_size: float | None = None,
    sizes: Mapping[int, float] | None = None,
) -> list[Track]:
    """The enabled tracks (of ``label``, or all; of the size band, or any) a threshold turns
    off, by id."""
    threshold = _check_threshold(threshold)
    acts = _acts_on(entry, label, min_size, max_size, sizes)
    tracks = [entry.tracks[i] for i in sorted(entry.tracks)]
    return [t for t in tracks if below(t, threshold) and acts(t)]


def apply_threshold(
    project: Project,
    file: str,
    threshold: float,
    reason: str,
    confirm: bool = False,
    label: str | None = None,
    min_size: float | None = None,
    max_size: float | None = None,
    sizes: Mapping[int, float] | None = None,
) -> Decision:
    """Turn off every enabled track (of ``label``, or any; of the size band, or any) below
    ``threshold``: one undoable edit, one reason. A class's own threshold keeps a learned
    confidence (faces) and a raw detector score (plates) from being cut by one number; a
    band's own lets a reviewer be stricter with tiny (or big) boxes than with the rest."""
    entry = project.entry(file)
    plan = threshold_plan(entry, threshold, label, min_size, max_size, sizes)
    lo, hi = check_band(min_size, max_size)
    _guard(plan, confirm)
    kinds = sorted({evidence_kind(t) for t in plan}) or [EVIDENCE_NONE]
    decision = Decision(
        what="threshold",
        reason=reason,
        tracks=tuple(t.id for t in plan),
        threshold=float(threshold),
        evidence=" + ".join(kinds),
        confirmed=sum(likely_face(t) for t in plan),
        label=label,
        min_size=lo,
        max_size=hi,
    )
    after = [replace(t, enabled=False, reason=reason) for t in plan]
    on = f" {label}" if label else ""
    on += f" ({size_band(lo, hi)})" if lo is not None or hi is not None else ""
    project.bulk(file, f"threshold{on} {threshold:g}: {len(plan)} off", after, decision)
    return decision


def bulk_plan(
    entry: FileEntry, ids: Sequence[int], action: str, method: str | None = None
) -> list[Track]:
    """The tracks a bulk action changes (tracks already in that state are left out)."""
    if action not in ACTIONS:
        raise ProjectError(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    if action == "method" and method is not None and method not in METHODS:
        raise ProjectError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    seen: set[int] = set()
    out = []
    for i in ids:
        if i not in entry.tracks:
            raise ProjectError(f"tracks: no track {i}")
        if i in seen:
            continue
        seen.add(i)
        t = entry.tracks[i]
        if (
            (action == "disable" and t.enabled)
            or (action == "enable" and not t.enabled)
            or (action == "method" and t.overrides.method != method)
        ):
            out.append(t)
    return out


def bulk_edit(
    project: Project,
    file: str,
    ids: Sequence[int],
    action: str,
    reason: str | None = None,
    method: str | None = None,
    confirm: bool = False,
) -> Decision | None:
    """Turn tracks off (with one reason) or on, or set their method: one undoable edit.

    Turning off is recorded as a reviewer's :class:`Decision`; returns it (None otherwise).
    """
    entry = project.entry(file)
    plan = bulk_plan(entry, ids, action, method)
    decision = None
    if action == "disable":
        if reason is None or not reason.strip():
            raise ProjectError("reason: turning tracks off needs a reason (e.g. 'not a face')")
        _guard(plan, confirm)
        after = [replace(t, enabled=False, reason=reason) for t in plan]
        decision = Decision(
            what="disable",
            reason=reason,
            tracks=tuple(t.id for t in plan),
            confirmed=sum(likely_face(t) for t in plan),
        )
    elif action == "enable":
        after = [replace(t, enabled=True, reason=None) for t in plan]
    else:
        after = [replace(t, overrides=replace(t.overrides, method=method)) for t in plan]
    project.bulk(file, f"{action} {len(plan)} tracks", after, decision)
    return decision


# -- more like this ---------------------------------------------------------------------------
#: Weight of each descriptor group in the neighbour graph of "more like this". Chosen on the
#: training clips (synthetic, from WIDER FACE training photos; docs/review.md): the place
#: alone ranked best; shape and appearance added nothing there, so they are off.
WEIGHTS: dict[str, float] = {"place": 1.0, "shape": 0.0, "appearance": 0.0}
#: How much of a track's suspicion it takes from its neighbours (the rest is its own
#: evidence) and how many neighbours it has; chosen with :data:`WEIGHTS`.
SPREAD = 0.7
NEIGHBOURS = 8
APPEARANCE_DIM = 12
_GROUPS = ("place", "shape", "appearance")


def appearance(rgb: np.ndarray) -> np.ndarray:
    """A small descriptor of a crop: colour, brightness, skin share and edge directions.

    12 numbers: mean and spread of brightness and of two colour-opponent axes
    (red-green, yellow-blue), the share of skin-coloured pixels, the mean edge
    strength and a 4-bin histogram of edge directions. Not enough to recognise
    anyone; off by default in :data:`WEIGHTS` (it did not help on the training clips).
    """
    a = np.asarray(rgb, np.float32)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 2 or a.shape[1] < 2:
        return np.zeros(APPEARANCE_DIM, np.float32)
    a = a / 255.0
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    rg, yb = r - g, (r + g) / 2 - b
    skin = (r > 0.35) & (r > g) & (g > b) & (r - b > 0.06) & (r - b < 0.5)
    gx, gy = np.diff(y, axis=1)[:-1, :], np.diff(y, axis=0)[:, :-1]
    mag = np.hypot(gx, gy)
    ang = (np.arctan2(gy, gx) % np.pi) / (np.pi / 4)
    bins = np.bincount(np.floor(ang).astype(np.int64).clip(0, 3).ravel(), mag.ravel(), 4)
    bins = bins / max(float(bins.sum()), 1e-6)
    colour = [y.mean(), y.std(), rg.mean(), rg.std(), yb.mean(), yb.std(), skin.mean()]
    return np.array([*colour, mag.mean(), *bins], np.float32)


def features(stats: TrackStats, look: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The descriptor groups of one track: appearance, place in the frame, shape (the
    evidence enters :func:`suspicion` as each track's prior, not as a distance)."""
    return {
        "appearance": np.zeros(APPEARANCE_DIM) if look is None else np.asarray(look, np.float64),
        "place": np.array([stats.cx, stats.cy], np.float64),
        "shape": np.array(
            [
                math.log(max(stats.size, 1.0)),
                math.log(max(stats.aspect, 1e-3)),
                math.log1p(stats.frames),
            ]
        ),
    }


def needs_looks(weights: Mapping[str, float] | None = None) -> bool:
    """Whether :func:`similar` reads pixels with these weights (the server skips decoding
    frames when it does not)."""
    return (WEIGHTS if weights is None else weights).get("appearance", 0.0) > 0


def _neighbours(x: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows and their squared distances (rows in blocks, so
    memory stays O(block x n))."""
    n = len(x)
    sq = (x**2).sum(axis=1)
    idx = np.empty((n, k), np.int64)
    d2 = np.empty((n, k), np.float64)
    for a in range(0, n, block):
        b = min(n, a + block)
        d = np.maximum(sq[a:b, None] + sq[None, :] - 2.0 * x[a:b] @ x.T, 0.0)
        d[np.arange(b - a), np.arange(a, b)] = np.inf  # not its own neighbour
        nb = np.argpartition(d, k - 1, axis=1)[:, :k]
        idx[a:b], d2[a:b] = nb, np.take_along_axis(d, nb, axis=1)
    return idx, d2


_GRAPH: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}


def _graph(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour graph of descriptor rows ``x``: each row's ``k`` neighbours and their
    Gaussian weights (summing to 1; exp(-d2 / median d2)). The last graph
    is kept: a reviewer asks again and again about the same tracks, only the seeds change."""
    key = np.ascontiguousarray(x, np.float64).tobytes() + k.to_bytes(4, "little")
    hit = _GRAPH.get(key)
    if hit is None:
        nb, d2 = _neighbours(x, k)
        a = np.exp(-d2 / (float(np.median(d2)) + 1e-9))
        a /= np.maximum(a.sum(axis=1, keepdims=True), 1e-12)
        _GRAPH.clear()
        hit = _GRAPH[key] = (nb, a)
    return hit


def suspicion(
    stats: Sequence[TrackStats],
    seeds: Iterable[int],
    looks: Mapping[int, np.ndarray] | None = None,
    weights: Mapping[str, float] | None = None,
    spread: float = SPREAD,
    neighbours: int = NEIGHBOURS,
) -> np.ndarray:
    """How likely each track (of one class) is to be turned off too, given the ``seeds``.

    Label propagation on a neighbour graph: a track starts from its own doubt,
    1 - evidence (manual tracks: 0), and takes ``spread`` of its suspicion from its
    ``neighbours`` nearest tracks (by the weighted descriptor groups, each feature
    scaled by its spread over these tracks; weights exp(-d^2 / median d^2)); the
    seeds are held at 1. So a weak track among
    tracks the reviewer turned off, or among other weak tracks, rises; a weak
    track among sure faces sinks. The fixed point of q = (1-s) p + s W q, by
    iteration.
    """
    w = dict(WEIGHTS if weights is None else weights)
    looks = looks or {}
    if not all(s.id in looks for s in stats):
        w["appearance"] = 0.0  # no pixels for some track: compare what there is
    n = len(stats)
    prior = np.array([0.0 if s.evidence is None else 1.0 - s.evidence for s in stats])
    seed_set = set(seeds)
    held = np.array([s.id in seed_set for s in stats], bool)
    q = np.where(held, 1.0, prior)
    k = min(int(neighbours), n - 1)
    if k < 1 or spread <= 0 or not any(w.get(g, 0.0) > 0 for g in _GROUPS):
        return q
    feats = [features(s, looks.get(s.id)) for s in stats]
    cols = []
    for g in _GROUPS:
        if w.get(g, 0.0) <= 0:
            continue
        m = np.stack([f[g] for f in feats]).astype(np.float64)
        sd = m.std(axis=0)
        cols.append(m / np.where(sd > 1e-9, sd, 1.0) * math.sqrt(w[g] / m.shape[1]))
    nb, a = _graph(np.concatenate(cols, axis=1), k)
    for _ in range(40):  # converges as spread^i: 0.7^40 < 1e-6
        q = (1.0 - spread) * prior + spread * (a * q[nb]).sum(axis=1)
        q[held] = 1.0
    return q


def similar(
    stats: Sequence[TrackStats],
    seeds: Sequence[int],
    looks: Mapping[int, np.ndarray] | None = None,
    weights: Mapping[str, float] | None = None,
    only_enabled: bool = True,
    spread: float = SPREAD,
    neighbours: int = NEIGHBOURS,
) -> list[tuple[int, float]]:
    """Tracks ranked by :func:`suspicion` given the ``seeds``, most suspect first:
    ``(id, similarity)`` with similarity the suspicion, from 0 to 1.

    Each class of the seeds is ranked on its own graph; tracks of another class
    are left out, as are the seeds, tracks drawn by hand (no evidence: a person
    drew them) and (``only_enabled``) tracks already off. Ties go to the weaker
    evidence, then the lower id.
    """
    by_id = {s.id: s for s in stats}
    missing = [i for i in seeds if i not in by_id]
    if missing:
        raise ProjectError(f"seeds: no track {missing[0]}")
    if not seeds or len(stats) < 2:
        return []
    seed_set = set(seeds)
    out: list[tuple[int, float, float]] = []
    for label in sorted({by_id[i].label for i in seed_set}):
        rows = [s for s in stats if s.label == label]
        q = suspicion(rows, seed_set, looks, weights, spread, neighbours)
        out += [
            (s.id, float(v), s.evidence or 0.0)
            for s, v in zip(rows, q, strict=True)
            if s.id not in seed_set and s.evidence is not None and (s.enabled or not only_enabled)
        ]
    out.sort(key=lambda x: (-x[1], x[2], x[0]))
    return [(i, v) for i, v, _ in out]


__all__ = [
    "ACTIONS",
    "EVIDENCE_CONFIDENCE",
    "EVIDENCE_NONE",
    "EVIDENCE_SCORE",
    "LIFE",
    "LIKELY_FACE",
    "LIKELY_FACE_SCORE",
    "Coverage",
    "NeedsConfirmation",
    "Preview",
    "StatsCache",
    "TrackStats",
    "appearance",
    "apply_threshold",
    "bulk_edit",
    "bulk_plan",
    "by_size",
    "check_band",
    "evidence",
    "evidence_kind",
    "features",
    "frame_boxes",
    "in_band",
    "life_frames",
    "likely_face",
    "likely_line",
    "needs_looks",
    "preview",
    "similar",
    "suspicion",
    "thumbnail_frame",
    "threshold_plan",
    "track_size",
    "track_stats",
]
