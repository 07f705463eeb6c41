"""The project as the server sends and saves it, in time that does not grow with every edit.

A 10-minute clip's project holds hundreds of thousands of keyframes (auto
tracks keep a box per masked frame). Written by :mod:`veil.project.schema`
(shortest float32 decimals, one keyframe per line) that is tens of seconds of
Python, and the web app would pay it on every edit (the project is saved
after each) and every page load. Here each track is encoded once, to compact
JSON text kept with the track object; tracks are immutable, an edit replaces
the one it changes, so an edit re-encodes one track and the document is the
cached pieces joined.

Boxes are written with 9 significant digits, which always reads back to the
same float32 (what the project stores and the mask draws): a project saved
here and loaded by ``veil mask --project`` renders the same pixels.

:class:`FrameBoxes` answers "what is masked on frame i" for the masked
preview without resolving every track over the whole video first
(:class:`veil.project.FramePlan` does that for the render, which needs every
frame).
"""

from __future__ import annotations

import bisect
import copy
import json
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..mask import Style
from ..project import FileEntry, Project, Track
from ..project import schema as project_schema
from ..project.render import track_style
from ..settings import MaskSettings

_KF_BOX = '{"frame":%d,"box":[%.9g,%.9g,%.9g,%.9g]}'
_KF_TRACKED = '{"frame":%d,"box":[%.9g,%.9g,%.9g,%.9g],"tracked":true}'
_KF_OUT = '{"frame":%d,"outside":true}'


def keyframes_json(track: Track) -> str:
    parts = []
    for k in track.keyframes:
        if k.outside:
            parts.append(_KF_OUT % k.frame)
        else:
            parts.append((_KF_TRACKED if k.tracked else _KF_BOX) % (k.frame, *k.box))  # type: ignore[misc]
    return "[" + ",".join(parts) + "]"


def track_json(track: Track) -> str:
    """One track as compact JSON, the fields and order of the project schema."""
    fields = {name: getattr(track, name) for name in track.__dataclass_fields__}
    fields["keyframes"] = ()
    head = project_schema.track_to_dict(SimpleNamespace(**fields))  # type: ignore[arg-type]
    del head["keyframes"]
    text = json.dumps(head, separators=(",", ":"), allow_nan=False)
    return text[:-1] + ',"keyframes":' + keyframes_json(track) + "}"


class ProjectText:
    """Per-track JSON text, cached by track object (a replaced track is encoded anew)."""

    def __init__(self) -> None:
        self._tracks: dict[int, tuple[Track, str]] = {}

    def track(self, t: Track) -> str:
        hit = self._tracks.get(t.id)
        if hit is not None and hit[0] is t:
            return hit[1]
        text = track_json(t)
        self._tracks[t.id] = (t, text)
        return text

    def entry(self, e: FileEntry) -> str:
        shell = copy.copy(e)
        shell.tracks = {}
        head = json.dumps(project_schema.entry_to_dict(shell), separators=(",", ":"))
        assert head.endswith('"tracks":[]}')
        alive = set(e.tracks)
        for gone in [i for i in self._tracks if i not in alive]:
            del self._tracks[gone]
        body = ",".join(self.track(e.tracks[i]) for i in sorted(e.tracks))
        return head[: -len("]}")] + body + "]}"

    def project(self, p: Project) -> str:
        """The whole project document (a valid project file, compact)."""
        head = project_schema.project_to_dict([], p.veil_version)
        text = json.dumps(head, separators=(",", ":"))
        assert text.endswith('"files":[]}')
        return text[: -len("]}")] + ",".join(self.entry(e) for e in p.files) + "]}"


class FrameBoxes:
    """What the render masks on one frame, found per frame (for the masked preview).

    Each enabled track's keyframe frames are indexed once per track object; a
    frame's lookup then checks only the tracks whose span covers it and
    resolves their boxes with :meth:`Track.box_at`, as :class:`FramePlan` does
    (same boxes, same order by track id, same styles and seeds).
    """

    def __init__(self, entry: FileEntry, mask: MaskSettings) -> None:
        self.entry = entry
        self.mask = mask
        self._spans: dict[int, tuple[Track, int, int]] = {}

    def _span(self, t: Track) -> tuple[int, int]:
        hit = self._spans.get(t.id)
        if hit is None or hit[0] is not t:
            seen = [k.frame for k in t.keyframes if not k.outside]
            last_kf = t.keyframes[-1]
            # visible until the next keyframe; the last one holds to the end
            end = self.entry.frames - 1 if not last_kf.outside else last_kf.frame - 1
            hit = (t, seen[0], max(seen[0], end))
            self._spans[t.id] = hit
        return hit[1], hit[2]

    def at(self, frame: int) -> tuple[np.ndarray, list[Style], np.ndarray]:
        xyxy, styles, seeds = [], [], []
        n = self.entry.frames
        for tid in sorted(self.entry.tracks):
            t = self.entry.tracks[tid]
            if not t.enabled:
                continue
            first, last = self._span(t)
            if not first <= frame <= last:
                continue
            box = _box_at(t, frame, n)
            if box is None:
                continue
            xyxy.append(box)
            styles.append(track_style(t, self.mask))
            seeds.append(t.seed)
        return (
            np.asarray(xyxy, np.float32).reshape(-1, 4),
            styles,
            np.asarray(seeds, np.int64),
        )


def _box_at(t: Track, frame: int, n: int) -> Any:
    """``t.box_at`` starting at the keyframe before ``frame`` (bisect, not a scan)."""
    kfs = t.keyframes
    i = bisect.bisect_right(kfs, frame, key=lambda k: k.frame) - 1
    if i < 0:
        return None
    # a track cut down to the keyframes from i on has the same box on ``frame``
    if i == 0:
        return t.box_at(frame, n)
    part = copy.copy(t)
    object.__setattr__(part, "keyframes", kfs[i : i + 2])
    return part.box_at(frame, n)
