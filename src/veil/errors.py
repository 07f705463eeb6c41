"""The small exception hierarchy of veil.

Every error a user can cause (bad input, bad option, unsupported file) is a
:class:`VeilError`, so the CLI can print one line and never a traceback.
Messages name the file or value at fault but never carry detections.
"""

from __future__ import annotations


class VeilError(Exception):
    """Base class of every error veil raises on purpose."""


class ConfigError(VeilError, ValueError):
    """A setting is out of range or malformed; the message names the value."""


class InputError(VeilError):
    """An input file cannot be read: missing, empty, corrupt, truncated or unsupported."""


class LimitError(InputError):
    """An input exceeds a configured resource limit (pixels, duration, file size)."""


class OutputError(VeilError):
    """An output cannot be written: refused path, read-only folder, encoder failure."""


class ModelError(VeilError):
    """A detection model cannot be loaded or does not have the expected inputs/outputs."""


class Interrupted(VeilError):
    """The run was stopped by a signal; temporary files have been removed."""


class ProjectError(VeilError, ValueError):
    """A project file is malformed, from a newer veil, or not for this input; the
    message names the field (``files[0].tracks[2].keyframes[1].box``) or the file."""
