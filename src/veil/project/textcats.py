"""Which kinds of personal data each text track holds, for the project and the report.

The tracker carries boxes, not what was read in them, so the categories the text
detector found (:attr:`veil.detect.text.TextDetector.kept`: boxes and
categories, never the text) are matched back to the tracks afterwards: a text
track takes the categories of every line whose box overlaps one of its boxes
by ``min_iou`` or more. A line is matched on any of the track's frames, not only
its own (the detector does not know frame numbers), which can only lend a track
the categories of another personal-data line that once stood where it stands.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..regions import iou_matrix
from .model import FileEntry

if TYPE_CHECKING:
    from ..detect.text import TextLine
    from ..pipeline import Engine
    from ..settings import Settings


def take_text_lines(engine: Engine | None) -> list[TextLine]:
    """The lines the engine's text detectors kept since the last call; they are cleared."""
    if engine is None:
        return []
    out: list[TextLine] = []
    for detectors in (engine.detectors, getattr(engine, "_video_detectors", None) or []):
        for d in detectors:
            kept = getattr(d, "kept", None)
            if kept:
                out.extend(kept)
                kept.clear()
    return out


def label_text_tracks(entry: FileEntry, lines: list[TextLine], min_iou: float = 0.3) -> FileEntry:
    """``entry`` with its automatic text tracks' ``categories`` set from ``lines``."""
    from ..pii import CATEGORIES

    if not lines:
        return entry
    line_boxes = np.array([line.xyxy for line in lines], np.float64)
    for tid, track in list(entry.tracks.items()):
        if track.label != "text" or track.source != "auto" or track.categories:
            continue
        _, boxes = track.boxes(entry.frames)
        if not len(boxes):
            continue
        hit = (iou_matrix(boxes, line_boxes) >= min_iou).any(axis=0)
        found = set().union(*(lines[i].categories for i in np.flatnonzero(hit)))
        if found:
            cats = tuple(c for c in CATEGORIES if c in found)
            entry.tracks[tid] = replace(track, categories=cats)
    return entry


def stamp_entry(entry: FileEntry, engine: Engine | None, settings: Settings) -> FileEntry:
    """A freshly detected entry with its text tracks' categories and the run's policy."""
    entry = label_text_tracks(entry, take_text_lines(engine))
    if settings.policy:
        entry.settings["policy"] = dict(settings.policy)
    return entry


__all__ = ["label_text_tracks", "stamp_entry", "take_text_lines"]
