"""The reviewable project: what veil will mask, which a person can check and edit.

``veil detect --project`` writes one (:func:`detect_entry` per file);
:class:`Project` loads, edits with undo/redo and saves it; ``veil mask
--project`` renders it (:func:`render_file`) through the same mask stage as the
streaming pass; :mod:`.report` explains the result to an auditor without
personal data. The schema is documented in the README ("Project files").
"""

from .build import detect_entry, entry_from_frames, settings_record
from .document import Edit, Project
from .model import (
    AUTO_LABELS,
    MANUAL_LABELS,
    SCHEMA_VERSION,
    FileEntry,
    Keyframe,
    Overrides,
    Track,
)
from .render import FramePlan, render_file, sha256_file, track_style

__all__ = [
    "AUTO_LABELS",
    "MANUAL_LABELS",
    "SCHEMA_VERSION",
    "Edit",
    "FileEntry",
    "FramePlan",
    "Keyframe",
    "Overrides",
    "Project",
    "Track",
    "detect_entry",
    "entry_from_frames",
    "render_file",
    "settings_record",
    "sha256_file",
    "track_style",
]
