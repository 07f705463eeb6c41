"""The attacker's recognisers: a face-recognition model and an OCR, both offline.

Faces: dlib's ResNet descriptor with its 5-point aligner, whose CC0 weights ship
in the PyPI package ``face_recognition_models``. That package imports
``pkg_resources`` (gone from setuptools 81), so it is never imported: its
folder is found with ``importlib.util.find_spec``. Plates: ``rapidocr`` 3.x,
whose PP-OCR ONNX models ship inside its wheel.

Both are optional (``pip install 'veil[audit]'``); a missing one raises
:class:`~veil.errors.ConfigError` naming the package to install.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError, ModelError

log = logging.getLogger(__name__)

__all__ = ["DlibFaces", "FaceEmbedder", "PlateReader", "RapidPlateReader", "audit_available"]

_INSTALL = "pip install 'veil[audit]'"


class FaceEmbedder(Protocol):
    """Landmarks from an original face, and descriptors of windows aligned by them."""

    def landmarks(self, window: np.ndarray, box: Sequence[float]) -> Any: ...

    def embed(self, items: Sequence[tuple[np.ndarray, Any]]) -> np.ndarray: ...


class PlateReader(Protocol):
    def read(self, window: np.ndarray) -> str: ...


def _missing(name: str) -> ConfigError:
    return ConfigError(f"veil audit needs the Python package {name!r}: {_INSTALL}")


def audit_available() -> bool:
    """Whether the audit extra's face and OCR packages are importable."""
    return all(
        importlib.util.find_spec(n) is not None
        for n in ("dlib", "face_recognition_models", "rapidocr")
    )


def _model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("face_recognition_models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaces:
    """dlib ResNet-34 face descriptor (128-D, ~99.4% on LFW) aligned on 5 landmarks.

    The attacker gets the original's landmarks, so a mask cannot spoil the
    alignment; the probe is the masked window cut and aligned the same way.
    """

    CHIP = 150
    PADDING = 0.25

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise _missing("dlib-bin") from None
        models = _model_dir()
        try:
            self._dlib = dlib
            self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
            self._net = dlib.face_recognition_model_v1(
                str(models / "dlib_face_recognition_resnet_model_v1.dat")
            )
        except RuntimeError as exc:
            raise ModelError(f"{models}: cannot load the dlib face models ({exc})") from None

    def landmarks(self, window: np.ndarray, box: Sequence[float]) -> Any:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        return self._shape(np.ascontiguousarray(window), self._dlib.rectangle(x1, y1, x2, y2))

    def chip(self, window: np.ndarray, landmarks: Any) -> np.ndarray:
        """The aligned face chip (150 x 150 RGB) cut from ``window`` by ``landmarks``."""
        return np.asarray(
            self._dlib.get_face_chip(
                np.ascontiguousarray(window), landmarks, self.CHIP, self.PADDING
            )
        )

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if not len(chips):
            return np.zeros((0, 128), np.float32)
        chips = [np.ascontiguousarray(c, np.uint8) for c in chips]
        return np.asarray(self._net.compute_face_descriptor(chips), np.float32)

    def embed(self, items: Sequence[tuple[np.ndarray, Any]]) -> np.ndarray:
        return self.embed_chips([self.chip(w, lm) for w, lm in items])


class RapidPlateReader:
    """PP-OCR (rapidocr 3.x) text recognition on the plate window, as one line.

    Recognition only: the window is already the plate, and the text detector, run on
    the noise an attack leaves, finds dozens of boxes and takes seconds per plate.
    """

    def __init__(self) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError:
            raise _missing("rapidocr") from None
        # its own logger would otherwise print every reading
        self._ocr = RapidOCR(params={"Global.log_level": "critical"})

    def read(self, window: np.ndarray) -> str:
        result = self._ocr(  # it expects BGR
            np.ascontiguousarray(window[..., ::-1]), use_det=False, use_cls=False, use_rec=True
        )
        texts = getattr(result, "txts", None) or ()
        return " ".join(str(t) for t in texts)
