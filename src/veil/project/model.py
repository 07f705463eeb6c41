"""The reviewable project: tracks as keyframes, validated on construction.

A track is a list of keyframes (CVAT's model): each gives a box on one frame,
or marks the object ``outside`` (not visible) from that frame on. Between two
boxes the box moves linearly; after a box that is followed by an ``outside``
keyframe, or by nothing, the box holds. Automatic tracks store the tracker's
box on every frame it masked, so nothing is interpolated for them; manual
tracks store a few keyframes and are interpolated on read, never stored.

Every value is checked where it is made, with :class:`~veil.errors.ProjectError`
naming the field, so a malformed file, a bad edit from the web app and a bad
call from a script are refused the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ProjectError
from ..settings import METHODS, SHAPES

#: The schema version this veil writes; files with a higher one are refused.
SCHEMA_VERSION = 1
#: Labels of tracks veil finds itself.
AUTO_LABELS: tuple[str, ...] = ("face", "plate", "text")
#: Labels a reviewer may give a region drawn by hand. A fixed list, not free text:
#: labels reach the redaction report, and a name typed as a label would be personal data.
MANUAL_LABELS: tuple[str, ...] = (
    "face",
    "plate",
    "text",
    "logo",
    "tattoo",
    "document",
    "screen",
    "badge",
    "other",
)
SOURCES: tuple[str, ...] = ("auto", "manual")
KINDS: tuple[str, ...] = ("image", "video")
#: Largest absolute coordinate accepted (a box may reach past the frame, not to infinity).
MAX_COORD = 1_000_000.0
MAX_REASON = 500

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


Box = tuple[float, float, float, float]


def check_box(box: object, name: str = "box") -> Box:
    """Four finite numbers x1 < x2, y1 < y2 (pixels, x2/y2 exclusive)."""
    if not isinstance(box, (tuple, list, np.ndarray)) or len(box) != 4:
        raise ProjectError(f"{name}: expected [x1, y1, x2, y2]")
    if not all(_is_num(v) and math.isfinite(float(v)) for v in box):
        raise ProjectError(f"{name}: expected four finite numbers")
    x1, y1, x2, y2 = (float(v) for v in box)
    if max(abs(x1), abs(y1), abs(x2), abs(y2)) > MAX_COORD:
        raise ProjectError(f"{name}: coordinates beyond {MAX_COORD:.0f} px")
    # float32, what the mask stage draws: a saved and reloaded box is the same box
    x1, y1, x2, y2 = (float(np.float32(v)) for v in (x1, y1, x2, y2))
    if not (x2 > x1 and y2 > y1):
        raise ProjectError(f"{name}: needs x2 > x1 and y2 > y1")
    return (x1, y1, x2, y2)


@dataclass(frozen=True)
class Keyframe:
    """A box on ``frame``, or ``outside=True``: not visible from ``frame`` to the next keyframe.

    ``tracked`` marks a box a region tracker placed; the others were drawn by a
    person (or by veil's own tracker for auto tracks) and are the anchors a
    re-run of the region tracker starts from.
    """

    frame: int
    box: Box | None = None
    outside: bool = False
    tracked: bool = False

    def __post_init__(self) -> None:
        if not _is_int(self.frame) or self.frame < 0:
            raise ProjectError(f"frame: expected a whole number >= 0, got {self.frame!r}")
        object.__setattr__(self, "frame", int(self.frame))
        if not isinstance(self.outside, bool):
            raise ProjectError(f"outside: expected true or false, got {self.outside!r}")
        if not isinstance(self.tracked, bool):
            raise ProjectError(f"tracked: expected true or false, got {self.tracked!r}")
        if self.outside:
            if self.box is not None:
                raise ProjectError("box: an outside keyframe has no box")
        else:
            object.__setattr__(self, "box", check_box(self.box))

    def __repr__(self) -> str:  # never coordinates: reprs end up in logs
        return f"Keyframe(frame={self.frame}, outside={self.outside})"


@dataclass(frozen=True)
class Overrides:
    """Per-track mask style; ``None`` keeps the run's setting for the track's class."""

    method: str | None = None
    shape: str | None = None
    margin: float | None = None

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in METHODS:
            raise ProjectError(f"method: expected one of {', '.join(METHODS)}, got {self.method!r}")
        if self.shape is not None and self.shape not in SHAPES:
            raise ProjectError(f"shape: expected one of {', '.join(SHAPES)}, got {self.shape!r}")
        if self.margin is not None:
            if not _is_num(self.margin) or not 0.0 <= float(self.margin) <= 3.0:
                raise ProjectError(f"margin: expected a number from 0 to 3, got {self.margin!r}")
            object.__setattr__(self, "margin", float(self.margin))

    def is_empty(self) -> bool:
        return self.method is None and self.shape is None and self.margin is None


@dataclass(frozen=True)
class Track:
    """One object over time. Disabled tracks are kept (and reported) but not masked.

    ``seed`` fixes the ``texture`` pattern of the track so both passes draw the
    same one; ``score`` is the detector's best score (auto tracks); ``confidence``
    is the decision's belief that the track is a real face or plate (the learned
    P(face) for video faces; the detector evidence where no model decides), which
    review ranks and filters by; ``review``
    lists inclusive frame ranges a person should check (a propagated region
    whose tracker lost confidence there); ``filled`` lists inclusive frame ranges where
    veil's tracker drew the box across a detector run that missed the object (auto
    tracks: no detection placed those boxes, so ``veil audit --sample`` picks them).
    ``margin_share`` scales the class's margin: below 1 for a face track the learned
    decision masked while rating it an unlikely face on all of its frames
    (``TrackSettings.unlikely_margin``); a margin in ``overrides`` replaces both.
    """

    id: int
    label: str
    source: str
    keyframes: tuple[Keyframe, ...]
    enabled: bool = True
    reason: str | None = None
    overrides: Overrides = field(default_factory=Overrides)
    seed: int = 0
    score: float | None = None
    confidence: float | None = None
    margin_share: float = 1.0
    review: tuple[tuple[int, int], ...] = ()
    filled: tuple[tuple[int, int], ...] = ()
    #: text tracks: the kinds of personal data read in them (veil.pii.CATEGORIES), never
    #: the text itself; empty for a line kept by ``--text all`` without any
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _is_int(self.id) or not 0 <= self.id < 2**31:
            raise ProjectError(f"id: expected a whole number from 0 to 2^31-1, got {self.id!r}")
        object.__setattr__(self, "id", int(self.id))
        if self.source not in SOURCES:
            raise ProjectError(f"source: expected one of {', '.join(SOURCES)}, got {self.source!r}")
        allowed = AUTO_LABELS if self.source == "auto" else MANUAL_LABELS
        if self.label not in allowed:
            raise ProjectError(
                f"label: expected one of {', '.join(allowed)} for a {self.source} track, "
                f"got {self.label!r}"
            )
        if not isinstance(self.enabled, bool):
            raise ProjectError(f"enabled: expected true or false, got {self.enabled!r}")
        if self.enabled and self.reason is not None:
            raise ProjectError("reason: only a disabled track has a reason")
        if not self.enabled:
            if not isinstance(self.reason, str) or not self.reason.strip():
                raise ProjectError("reason: a disabled track needs a reason (e.g. 'consent')")
            if len(self.reason) > MAX_REASON or any(
                ord(c) < 32 and c not in "\t" for c in self.reason
            ):
                raise ProjectError(
                    f"reason: at most {MAX_REASON} characters on one line, no control characters"
                )
        if not isinstance(self.overrides, Overrides):
            raise ProjectError("overrides: expected an Overrides")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**31:
            raise ProjectError(f"seed: expected a whole number from 0 to 2^31-1, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        if self.score is not None:
            if not _is_num(self.score) or not 0.0 <= float(self.score) <= 1.0:
                raise ProjectError("score: expected a number from 0 to 1")
            object.__setattr__(self, "score", float(self.score))
        if self.confidence is not None:
            if not _is_num(self.confidence) or not 0.0 <= float(self.confidence) <= 1.0:
                raise ProjectError("confidence: expected a number from 0 to 1")
            object.__setattr__(self, "confidence", float(self.confidence))
        if not _is_num(self.margin_share) or not 0.0 <= float(self.margin_share) <= 1.0:
            raise ProjectError(
                f"margin_share: expected a number from 0 to 1, got {self.margin_share!r}"
            )
        object.__setattr__(self, "margin_share", float(self.margin_share))
        kfs = tuple(self.keyframes)
        if not kfs:
            raise ProjectError("keyframes: a track needs at least one keyframe")
        for i, k in enumerate(kfs):
            if not isinstance(k, Keyframe):
                raise ProjectError(f"keyframes[{i}]: expected a Keyframe")
            if i and k.frame <= kfs[i - 1].frame:
                raise ProjectError(f"keyframes[{i}].frame: frames must increase")
        if all(k.outside for k in kfs):
            raise ProjectError("keyframes: a track needs at least one box")
        object.__setattr__(self, "keyframes", kfs)
        from ..pii import CATEGORIES

        cats = tuple(self.categories)
        if cats and self.label != "text":
            raise ProjectError("categories: only a text track has categories")
        for c in cats:
            if c not in CATEGORIES:
                raise ProjectError(
                    f"categories: expected some of {', '.join(CATEGORIES)}, got {c!r}"
                )
        object.__setattr__(self, "categories", cats)
        for name in ("review", "filled"):
            spans = tuple(tuple(r) for r in getattr(self, name))
            for i, r in enumerate(spans):
                if len(r) != 2 or not all(_is_int(v) and v >= 0 for v in r) or r[1] < r[0]:
                    raise ProjectError(f"{name}[{i}]: expected [first, last] frames, first <= last")
            object.__setattr__(self, name, tuple((int(a), int(b)) for a, b in spans))

    def __repr__(self) -> str:  # never coordinates or scores
        return (
            f"Track(id={self.id}, label={self.label!r}, source={self.source!r}, "
            f"enabled={self.enabled}, keyframes={len(self.keyframes)})"
        )

    @property
    def first_frame(self) -> int:
        return next(k.frame for k in self.keyframes if not k.outside)

    def keyframe_at(self, frame: int) -> Keyframe | None:
        for k in self.keyframes:
            if k.frame == frame:
                return k
        return None

    def segments(self, n_frames: int) -> Iterator[tuple[int, int, Box, Box | None]]:
        """``(first, stop, box0, box1)`` per visible stretch: frames ``first..stop-1``
        move linearly from ``box0`` (at ``first``) towards ``box1`` (at ``stop``), or
        hold ``box0`` when ``box1`` is None."""
        kfs = self.keyframes
        for i, k in enumerate(kfs):
            if k.outside or k.frame >= n_frames:
                continue
            nxt = kfs[i + 1] if i + 1 < len(kfs) else None
            stop = min(nxt.frame, n_frames) if nxt is not None else n_frames
            assert k.box is not None
            yield k.frame, stop, k.box, (None if nxt is None or nxt.outside else nxt.box)

    def boxes(self, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Every visible frame of the track and its box: ``(frames (N,), xyxy (N, 4) float32)``.

        Interpolated in float64 and rounded once to float32; a keyframe's own
        frame gets its stored box exactly.
        """
        frames: list[np.ndarray] = []
        boxes: list[np.ndarray] = []
        for first, stop, b0, b1 in self.segments(n_frames):
            idx = np.arange(first, stop)
            a = np.asarray(b0, np.float64)
            if b1 is None:
                seg = np.broadcast_to(a, (len(idx), 4))
            else:
                t = (idx - first) / float(self._next_frame(first) - first)
                seg = a + t[:, None] * (np.asarray(b1, np.float64) - a)
                seg[0] = a
            frames.append(idx)
            boxes.append(seg.astype(np.float32))
        if not frames:
            return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
        return np.concatenate(frames), np.concatenate(boxes)

    def _next_frame(self, frame: int) -> int:
        return next(k.frame for k in self.keyframes if k.frame > frame)

    def box_at(self, frame: int, n_frames: int) -> Box | None:
        """The track's box on one frame, or None where it is not visible."""
        for first, stop, b0, b1 in self.segments(n_frames):
            if first <= frame < stop:
                if b1 is None or frame == first:
                    return b0
                t = (frame - first) / float(self._next_frame(first) - first)
                box = np.asarray(b0) + t * (np.asarray(b1) - np.asarray(b0))
                return tuple(float(v) for v in box.astype(np.float32))  # type: ignore[return-value]
        return None

    def visible_ranges(self, n_frames: int) -> list[tuple[int, int]]:
        """Inclusive ``(first, last)`` frame ranges where the track is visible."""
        out: list[tuple[int, int]] = []
        for first, stop, _, _ in self.segments(n_frames):
            if stop <= first:
                continue
            if out and out[-1][1] == first - 1:
                out[-1] = (out[-1][0], stop - 1)
            else:
                out.append((first, stop - 1))
        return out


#: What a reviewer's bulk decision did.
DECISIONS: tuple[str, ...] = ("threshold", "disable")


@dataclass(frozen=True)
class Decision:
    """A reviewer's bulk decision (a threshold, or many tracks off at once), for the report.

    ``tracks`` are the ids it turned off, ``threshold`` and ``evidence`` (what the
    threshold was compared with: the learned confidence or the detector score) for a
    threshold, ``confirmed`` how many of the tracks were rated very likely a face and
    turned off after an explicit confirmation. ``label`` and ``min_size``/``max_size``
    (median box height, px) say which tracks a threshold acted on, so the report can
    say it was, e.g., stricter with the tiny boxes only.
    """

    what: str
    reason: str
    tracks: tuple[int, ...] = ()
    threshold: float | None = None
    evidence: str | None = None
    confirmed: int = 0
    label: str | None = None  # a threshold on one class's tracks only
    min_size: float | None = None  # ... on the tracks of a size band only (px, both included)
    max_size: float | None = None

    def __post_init__(self) -> None:
        if self.what not in DECISIONS:
            raise ProjectError(f"what: expected one of {', '.join(DECISIONS)}, got {self.what!r}")
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ProjectError("reason: a decision needs a reason")
        if len(self.reason) > MAX_REASON or any(ord(c) < 32 and c != "\t" for c in self.reason):
            raise ProjectError(
                f"reason: at most {MAX_REASON} characters on one line, no control characters"
            )
        ids = tuple(self.tracks)
        if not all(_is_int(i) and 0 <= i < 2**31 for i in ids):
            raise ProjectError("tracks: expected track ids")
        object.__setattr__(self, "tracks", tuple(int(i) for i in ids))
        if self.threshold is not None:
            if not _is_num(self.threshold) or not 0.0 <= float(self.threshold) <= 1.0:
                raise ProjectError("threshold: expected a number from 0 to 1")
            object.__setattr__(self, "threshold", float(self.threshold))
        if self.evidence is not None and (
            not isinstance(self.evidence, str) or len(self.evidence) > 100
        ):
            raise ProjectError("evidence: expected a short text")
        if not _is_int(self.confirmed) or self.confirmed < 0:
            raise ProjectError("confirmed: expected a whole number >= 0")
        if self.label is not None and self.label not in AUTO_LABELS:
            raise ProjectError(f"label: expected one of {', '.join(AUTO_LABELS)}")
        lo, hi = check_band(self.min_size, self.max_size)
        object.__setattr__(self, "min_size", lo)
        object.__setattr__(self, "max_size", hi)


def check_band(min_size: float | None, max_size: float | None) -> tuple[float | None, float | None]:
    """A size band's bounds (median box height, px; None: no bound), validated, as floats."""
    out = []
    for name, v in (("min_size", min_size), ("max_size", max_size)):
        if v is not None and (not _is_num(v) or not math.isfinite(float(v)) or float(v) < 0):
            raise ProjectError(f"{name}: expected a box height in pixels (0 or more), got {v!r}")
        out.append(None if v is None else float(v))
    lo, hi = out
    if lo is not None and hi is not None and lo > hi:
        raise ProjectError(f"min_size: {lo:g} is above max_size {hi:g}")
    return lo, hi


def size_band(min_size: float | None, max_size: float | None) -> str:
    """A size band in words, as the CLI, the page and the report say it."""
    if min_size is None and max_size is None:
        return "any size"
    if min_size is None:
        return f"at most {max_size:g} px high"
    if max_size is None:
        return f"at least {min_size:g} px high"
    return f"{min_size:g} to {max_size:g} px high"


@dataclass
class FileEntry:
    """One input: its identity (sha256), geometry, timing, the settings used, its tracks.

    ``times`` holds each frame's presentation time in seconds (videos), so
    frame numbers and times in reviews and reports line up exactly, variable
    frame rate included. An image is a project of one frame.
    """

    file: str
    kind: str
    sha256: str
    frames: int
    width: int
    height: int
    tracks: dict[int, Track] = field(default_factory=dict)
    time_base: str | None = None
    fps: str | None = None
    times: tuple[float, ...] | None = None
    settings: dict = field(default_factory=dict)
    decisions: tuple[Decision, ...] = ()  # reviewers' bulk decisions, oldest first

    def __post_init__(self) -> None:
        if not isinstance(self.file, str) or not self.file or "\x00" in self.file:
            raise ProjectError("file: expected a non-empty relative path")
        if self.kind not in KINDS:
            raise ProjectError(f"kind: expected image or video, got {self.kind!r}")
        if not isinstance(self.sha256, str) or not _SHA256.match(self.sha256):
            raise ProjectError("sha256: expected 64 lowercase hex digits")
        for name in ("frames", "width", "height"):
            v = getattr(self, name)
            if not _is_int(v) or not 1 <= v <= 2**31:
                raise ProjectError(f"{name}: expected a whole number >= 1, got {v!r}")
        if self.kind == "image" and self.frames != 1:
            raise ProjectError(f"frames: an image has 1 frame, got {self.frames}")
        if self.times is not None:
            times = tuple(self.times)
            if len(times) != self.frames or not all(
                _is_num(t) and math.isfinite(float(t)) for t in times
            ):
                raise ProjectError(f"times: expected {self.frames} finite numbers (one per frame)")
            self.times = tuple(float(t) for t in times)
        for name in ("time_base", "fps"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, str) and re.fullmatch(r"\d+(/\d+)?", v)):
                raise ProjectError(f"{name}: expected a fraction like '1/90000', got {v!r}")
        if not isinstance(self.settings, dict):
            raise ProjectError("settings: expected an object")
        self.decisions = tuple(self.decisions)
        if not all(isinstance(d, Decision) for d in self.decisions):
            raise ProjectError("decisions: expected Decision records")
        for tid, track in self.tracks.items():
            self.check_track(track, f"tracks[id={tid}]")

    def check_track(self, track: Track, where: str = "track") -> None:
        """A track must fit this file: frames within the file, id unique."""
        last = self.frames - 1
        for j, k in enumerate(track.keyframes):
            if k.frame > last:
                raise ProjectError(
                    f"{where}.keyframes[{j}].frame: {k.frame} is past the last frame ({last})"
                )
        for name in ("review", "filled"):
            for j, (_, b) in enumerate(getattr(track, name)):
                if b > last:
                    raise ProjectError(f"{where}.{name}[{j}]: past the last frame ({last})")

    def __repr__(self) -> str:
        return f"FileEntry(file={self.file!r}, kind={self.kind!r}, tracks={len(self.tracks)})"

    @property
    def next_id(self) -> int:
        return max(self.tracks, default=0) + 1

    def time_of(self, frame: int) -> float | None:
        """Seconds from the start of the video to ``frame`` (None for images / unknown)."""
        if self.times is None or not 0 <= frame < len(self.times):
            return None
        return self.times[frame] - self.times[0]
