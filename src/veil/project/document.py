"""The project document and its edits, with undo/redo.

Every change goes through one :class:`Edit` that records a track before and
after (``None`` for a track added or deleted). Tracks are immutable, so an
edit is a cheap swap of references, undo swaps them back, and a refused edit
(a bad value raises :class:`~veil.errors.ProjectError`) changes nothing and
records nothing. The web app and scripts use the same methods.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ProjectError
from ..outputs import write_text_atomic
from . import schema
from .follow import FollowConfig, anchors_of, followed_track, propagate
from .model import Box, Decision, FileEntry, Keyframe, Overrides, Track, check_box

log = logging.getLogger(__name__)

_KEEP = object()  # "leave this override as it is"


@dataclass(frozen=True)
class Edit:
    """One undoable change: ``before`` -> ``after`` for one track of one file.

    A bulk edit (review) changes more tracks at once: their pairs are in ``more``,
    and the reviewer's ``decision`` it records is added to the file's decisions
    (undo takes both back together).
    """

    what: str
    file: str
    before: Track | None
    after: Track | None
    more: tuple[tuple[Track | None, Track | None], ...] = ()
    decision: Decision | None = None

    @property
    def pairs(self) -> tuple[tuple[Track | None, Track | None], ...]:
        return ((self.before, self.after), *self.more)

    @property
    def track_ids(self) -> list[int]:
        """The ids of every track the edit changed."""
        return [(a or b).id for b, a in self.pairs if (a or b) is not None]  # type: ignore[union-attr]


#: Undo steps kept per session; older ones are forgotten.
MAX_UNDO = 1000


class Project:
    """Files with their tracks, plus the undo and redo stacks of this session."""

    def __init__(self, files: Iterable[FileEntry] = (), veil_version: str = __version__) -> None:
        self._files: dict[str, FileEntry] = {}
        for e in files:
            if e.file in self._files:
                raise ProjectError(f"file: {e.file!r} appears twice")
            self._files[e.file] = e
        self.veil_version = veil_version
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []

    def __repr__(self) -> str:
        return f"Project(files={len(self._files)})"

    # -- files and tracks -----------------------------------------------------------
    @property
    def files(self) -> list[FileEntry]:
        return list(self._files.values())

    def entry(self, file: str) -> FileEntry:
        try:
            return self._files[file]
        except KeyError:
            raise ProjectError(f"{file}: not in the project") from None

    def add_entry(self, entry: FileEntry) -> None:
        """Add (or replace) a file's entry; not an undoable edit (a new detection run)."""
        self._files[entry.file] = entry

    def track(self, file: str, track_id: int) -> Track:
        try:
            return self.entry(file).tracks[track_id]
        except KeyError:
            raise ProjectError(f"{file}: no track {track_id}") from None

    # -- persistence ------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Project:
        files, version = schema.read(path)
        return cls(files, version)

    @classmethod
    def loads(cls, data: bytes | str, name: str = "project") -> Project:
        files, version = schema.loads(data, name)
        return cls(files, version)

    def dumps(self) -> str:
        return schema.dumps(self.files, __version__)

    def save(self, path: str | Path) -> None:
        """Write atomically: a crash never leaves half a project behind."""
        write_text_atomic(path, self.dumps(), "project")

    # -- history --------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def history(self) -> list[str]:
        """What each undoable edit did, oldest first (labels and ids, no coordinates)."""
        return [e.what for e in self._undo]

    def undo(self) -> Edit | None:
        if not self._undo:
            return None
        edit = self._undo.pop()
        for before, after in edit.pairs:
            self._swap(edit.file, after, before)
        if edit.decision is not None:
            entry = self.entry(edit.file)
            entry.decisions = tuple(d for d in entry.decisions if d is not edit.decision)
        self._redo.append(edit)
        return edit

    def redo(self) -> Edit | None:
        if not self._redo:
            return None
        edit = self._redo.pop()
        for before, after in edit.pairs:
            self._swap(edit.file, before, after)
        if edit.decision is not None:
            entry = self.entry(edit.file)
            entry.decisions = (*entry.decisions, edit.decision)
        self._push(edit)
        return edit

    def _push(self, edit: Edit) -> None:
        """Record an undoable edit, keeping the last :data:`MAX_UNDO` (a reviewer's tab
        left open for a day makes thousands; memory and the history list stay bounded)."""
        self._undo.append(edit)
        del self._undo[:-MAX_UNDO]

    def _swap(self, file: str, old: Track | None, new: Track | None) -> None:
        tracks = self.entry(file).tracks
        if old is not None:
            del tracks[old.id]
        if new is not None:
            tracks[new.id] = new

    def _commit(self, what: str, file: str, before: Track | None, after: Track | None) -> None:
        entry = self.entry(file)
        if after is not None:
            entry.check_track(after)
        self._swap(file, before, after)
        self._push(Edit(what, file, before, after))
        self._redo.clear()

    def bulk(
        self, file: str, what: str, tracks: Sequence[Track], decision: Decision | None = None
    ) -> None:
        """Swap in new versions of many existing tracks (and record ``decision``): one
        undoable edit. Nothing changes unless every track is valid for the file."""
        entry = self.entry(file)
        pairs: list[tuple[Track | None, Track | None]] = []
        seen: set[int] = set()
        for t in tracks:
            if t.id in seen:
                raise ProjectError(f"track {t.id}: given twice in one edit")
            seen.add(t.id)
            entry.check_track(t)
            pairs.append((self.track(file, t.id), t))
        if not pairs and decision is None:
            return
        for before, after in pairs:
            self._swap(file, before, after)
        if decision is not None:
            entry.decisions = (*entry.decisions, decision)
        first = pairs[0] if pairs else (None, None)
        self._push(Edit(what, file, first[0], first[1], tuple(pairs[1:]), decision))
        self._redo.clear()

    def replace_track(self, file: str, track: Track, what: str = "change track") -> None:
        """Swap in a whole new version of an existing track (e.g. after propagation)."""
        before = self.track(file, track.id)
        self._commit(f"{what} {track.id}", file, before, track)

    # -- edits ------------------------------------------------------------------------------
    def disable(self, file: str, track_id: int, reason: str) -> None:
        """Leave a track unmasked on purpose; ``reason`` goes into the redaction report."""
        t = self.track(file, track_id)
        self._commit(f"disable {track_id}", file, t, replace(t, enabled=False, reason=reason))

    def enable(self, file: str, track_id: int) -> None:
        t = self.track(file, track_id)
        self._commit(f"enable {track_id}", file, t, replace(t, enabled=True, reason=None))

    def set_keyframe(self, file: str, track_id: int, frame: int, box: Sequence[float]) -> None:
        """Add a keyframe, or move the box of an existing one (an outside one becomes a box)."""
        t = self.track(file, track_id)
        k = Keyframe(frame, check_box(box))
        self._commit(f"set keyframe {track_id}@{frame}", file, t, _with_keyframe(t, k))

    def set_outside(self, file: str, track_id: int, frame: int) -> None:
        """The object is not visible from ``frame`` until the track's next keyframe."""
        t = self.track(file, track_id)
        k = Keyframe(frame, None, outside=True)
        self._commit(f"set outside {track_id}@{frame}", file, t, _with_keyframe(t, k))

    def delete_keyframe(self, file: str, track_id: int, frame: int) -> None:
        t = self.track(file, track_id)
        if t.keyframe_at(frame) is None:
            raise ProjectError(f"track {track_id}: no keyframe at frame {frame}")
        kfs = tuple(k for k in t.keyframes if k.frame != frame)
        self._commit(f"delete keyframe {track_id}@{frame}", file, t, replace(t, keyframes=kfs))

    def move_keyframe(self, file: str, track_id: int, frame: int, to_frame: int) -> None:
        """Move a keyframe in time, keeping its box."""
        t = self.track(file, track_id)
        k = t.keyframe_at(frame)
        if k is None:
            raise ProjectError(f"track {track_id}: no keyframe at frame {frame}")
        if to_frame != frame and t.keyframe_at(to_frame) is not None:
            raise ProjectError(f"track {track_id}: frame {to_frame} already has a keyframe")
        kfs = [x for x in t.keyframes if x.frame != frame] + [replace(k, frame=to_frame)]
        after = replace(t, keyframes=tuple(sorted(kfs, key=lambda x: x.frame)))
        self._commit(f"move keyframe {track_id}@{frame}->{to_frame}", file, t, after)

    def add_track(
        self,
        file: str,
        label: str,
        keyframes: Sequence[tuple[int, Sequence[float] | None]],
        overrides: Overrides | None = None,
    ) -> int:
        """A manual region: ``keyframes`` are ``(frame, box)`` pairs, ``box=None`` for
        outside. Returns its id."""
        entry = self.entry(file)
        tid = entry.next_id
        kfs = [
            Keyframe(f, None, True) if b is None else Keyframe(f, check_box(b))
            for f, b in keyframes
        ]
        kfs.sort(key=lambda k: k.frame)
        for prev, k in zip(kfs, kfs[1:], strict=False):
            if prev.frame == k.frame:
                raise ProjectError(f"keyframes: frame {k.frame} given twice")
        ov = overrides or Overrides()
        track = Track(tid, label, "manual", tuple(kfs), overrides=ov, seed=tid)
        self._commit(f"add {label} track {tid}", file, None, track)
        return tid

    def add_whole_frame(
        self, file: str, label: str, first: int, last: int, method: str | None = None
    ) -> int:
        """Mask the whole picture on frames ``first..last`` (a screen filling the frame)."""
        entry = self.entry(file)
        if not 0 <= first <= last < entry.frames:
            raise ProjectError(
                f"whole-frame region: frames {first}..{last} are not within 0..{entry.frames - 1}"
            )
        box: Box = (0.0, 0.0, float(entry.width), float(entry.height))
        kfs: list[tuple[int, Sequence[float] | None]] = [(first, box)]
        if last + 1 < entry.frames:
            kfs.append((last + 1, None))
        return self.add_track(file, label, kfs, Overrides(method=method, shape="rect", margin=0.0))

    def follow(
        self,
        file: str,
        track_id: int,
        frames: Sequence[np.ndarray],
        config: FollowConfig | None = None,
    ) -> None:
        """Propagate a track's drawn boxes through ``frames`` (grayscale, see
        :func:`follow.video_frames`): one undoable edit. Re-run it after adding or moving
        a drawn keyframe; frames the tracker was unsure of are listed in ``review``."""
        t = self.track(file, track_id)
        entry = self.entry(file)
        if len(frames) != entry.frames:
            raise ProjectError(
                f"{file}: {len(frames)} frames given, the project has {entry.frames}"
            )
        followed = propagate(frames, anchors_of(t), config)
        self._commit(f"follow {track_id}", file, t, followed_track(t, followed, entry.frames))

    def delete_track(self, file: str, track_id: int) -> None:
        """Remove a manual region. Automatic tracks are disabled with a reason instead,
        so the report can say what was left visible and why."""
        t = self.track(file, track_id)
        if t.source != "manual":
            raise ProjectError(
                f"track {track_id}: automatic tracks cannot be deleted; disable it with a reason"
            )
        self._commit(f"delete track {track_id}", file, t, None)

    def set_overrides(
        self,
        file: str,
        track_id: int,
        method: object = _KEEP,
        shape: object = _KEEP,
        margin: object = _KEEP,
        margin_share: object = _KEEP,
    ) -> None:
        """Per-track method, shape or margin; pass ``None`` to return to the run's setting.

        ``margin_share`` replaces the share of the class margin the tracker gave the
        track (1: the whole margin, what a reviewer gives a face the decision rated
        unlikely), checked as the file reads it.
        """
        t = self.track(file, track_id)
        o = t.overrides
        new = Overrides(
            o.method if method is _KEEP else method,  # type: ignore[arg-type]
            o.shape if shape is _KEEP else shape,  # type: ignore[arg-type]
            o.margin if margin is _KEEP else margin,  # type: ignore[arg-type]
        )
        share = t.margin_share if margin_share is _KEEP else margin_share
        self._commit(
            f"set style {track_id}",
            file,
            t,
            replace(t, overrides=new, margin_share=share),  # type: ignore[arg-type]
        )


def _with_keyframe(t: Track, k: Keyframe) -> Track:
    kfs = [x for x in t.keyframes if x.frame != k.frame]
    kfs.append(k)
    kfs.sort(key=lambda x: x.frame)
    return replace(t, keyframes=tuple(kfs))
