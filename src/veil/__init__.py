"""veil: find faces and licence plates in photos and videos and mask them irreversibly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    ConfigError,
    InputError,
    LimitError,
    ModelError,
    OutputError,
    ProjectError,
    VeilError,
)

if TYPE_CHECKING:
    from .pipeline import Engine, FileResult, mask_file, mask_image
    from .pipeline import detect as detect_regions
    from .regions import CLASSES, FACE, PLATE, Regions
    from .settings import (
        DetectSettings,
        EncodeSettings,
        Limits,
        MaskSettings,
        Settings,
        TrackSettings,
    )

    __version__: str

# Everything but the errors is loaded on first use, so that ``import veil`` stays
# light for workers and tools and imports no numpy: the command line limits numpy's
# BLAS threads before numpy loads (veil.cli), and a run of ``veil mask`` never reads
# the version (importlib.metadata took about 0.05 s of every start).
# ``veil.detect`` is the detectors' subpackage, so the function is ``detect_regions``.
_LAZY = {
    "Engine": ("pipeline", "Engine"),
    "FileResult": ("pipeline", "FileResult"),
    "detect_regions": ("pipeline", "detect"),
    "mask_file": ("pipeline", "mask_file"),
    "mask_image": ("pipeline", "mask_image"),
    "CLASSES": ("regions", "CLASSES"),
    "FACE": ("regions", "FACE"),
    "PLATE": ("regions", "PLATE"),
    "Regions": ("regions", "Regions"),
    "DetectSettings": ("settings", "DetectSettings"),
    "EncodeSettings": ("settings", "EncodeSettings"),
    "Limits": ("settings", "Limits"),
    "MaskSettings": ("settings", "MaskSettings"),
    "Settings": ("settings", "Settings"),
    "TrackSettings": ("settings", "TrackSettings"),
}


def _version() -> str:
    """pyproject.toml holds the one version; an installed veil (editable too) carries it."""
    from importlib import metadata

    try:
        return metadata.version("veil")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree never installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        version = globals()["__version__"] = _version()
        return version
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'veil' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The lazy names too, so tab completion and ``dir(veil)`` offer them."""
    return sorted({*globals(), *_LAZY, "__version__"})


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
