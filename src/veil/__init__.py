"""veil: find faces and licence plates in photos and videos and mask them irreversibly."""

from importlib import metadata as _metadata

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

try:  # pyproject.toml holds the one version; an installed veil (editable too) carries it
    __version__ = _metadata.version("veil")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree never installed
    __version__ = "0+unknown"

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
