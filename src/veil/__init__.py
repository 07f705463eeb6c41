"""veil: find faces and licence plates in photos and videos and mask them irreversibly."""

from .errors import ConfigError, InputError, LimitError, ModelError, OutputError, VeilError
from .regions import CLASSES, FACE, PLATE, Regions
from .settings import (
    DetectSettings,
    EncodeSettings,
    Limits,
    MaskSettings,
    Settings,
    TrackSettings,
)

__version__ = "0.1.0"

__all__ = [
    "CLASSES",
    "FACE",
    "PLATE",
    "ConfigError",
    "DetectSettings",
    "EncodeSettings",
    "InputError",
    "LimitError",
    "Limits",
    "MaskSettings",
    "ModelError",
    "OutputError",
    "Regions",
    "Settings",
    "TrackSettings",
    "VeilError",
]
