"""veil: find faces and licence plates in photos and videos and mask them irreversibly."""

from .errors import (
    ConfigError,
    InputError,
    LimitError,
    ModelError,
    OutputError,
    ProjectError,
    VeilError,
)
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

# The pipeline pulls in onnxruntime and PyAV; load it on first use so that
# ``import veil`` (settings, regions) stays light for workers and tools.
# ``veil.detect`` is the detectors' subpackage, so the function is ``detect_regions``.
_LAZY = {
    "Engine": "Engine",
    "FileResult": "FileResult",
    "detect_regions": "detect",
    "mask_file": "mask_file",
    "mask_image": "mask_image",
}


def __getattr__(name: str):
    if name in _LAZY:
        from . import pipeline

        return getattr(pipeline, _LAZY[name])
    raise AttributeError(f"module 'veil' has no attribute {name!r}")


__all__ = [
    "CLASSES",
    "FACE",
    "PLATE",
    "ConfigError",
    "DetectSettings",
    "Engine",
    "FileResult",
    "EncodeSettings",
    "InputError",
    "LimitError",
    "Limits",
    "MaskSettings",
    "ModelError",
    "OutputError",
    "ProjectError",
    "Regions",
    "Settings",
    "TrackSettings",
    "VeilError",
    "detect_regions",
    "mask_file",
    "mask_image",
]
