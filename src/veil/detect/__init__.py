"""Detectors: one per target class, built from :class:`~veil.settings.DetectSettings`.

Bundled models live in ``veil/models`` (see MODELS.md); ``face_model`` /
``plate_model`` swap in a user's ONNX file, whose format is recognised from
its output shapes (CenterFace or YOLOv8).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..regions import FACE, PLATE
from ..settings import DetectSettings
from .base import Detector
from .ensemble import EnsembleDetector
from .faces import BUNDLED as CENTERFACE_MODEL
from .faces import CenterFaceDetector
from .onnx import load_session, session_info
from .plates import BUNDLED as SAFELICENSING_MODEL
from .plates import YoloDetector

FASTANPR_MODEL = SAFELICENSING_MODEL.with_name("plate_fastanpr.onnx")

__all__ = [
    "CenterFaceDetector",
    "Detector",
    "EnsembleDetector",
    "YoloDetector",
    "build_detectors",
    "load_model",
    "load_session",
    "session_info",
]


def load_model(path: str | Path, label: int, settings: DetectSettings) -> Detector:
    """A detector for a user-given ONNX file, its format told by its outputs.

    CenterFace format (four outputs with 1/2/2/10 channels) is accepted for faces;
    YOLOv8 format (one output ``[1, 4+C, N]``) for faces or plates.
    """
    sess = load_session(path, settings.device, settings.threads)
    outs = sess.get_outputs()
    if label == FACE and len(outs) == 4:
        return _faces(settings, path)
    if len(outs) == 1 and len(outs[0].shape) == 3:
        return _yolo(settings, path, label)
    kinds = "CenterFace (4 outputs: 1/2/2/10 channels) or " if label == FACE else ""
    raise ModelError(
        f"{path}: unrecognised model format; expected {kinds}YOLOv8 (one output [1, 4+C, N]), "
        f"got {len(outs)} output(s) with shapes {[o.shape for o in outs]}"
    )


def _int8(model: Path) -> Path:
    """The bundled int8 copy of a bundled model (tools/quantize_*.py)."""
    return model.with_name(model.stem + ".int8.onnx")


def _faces(settings: DetectSettings, path: str | Path | None) -> CenterFaceDetector:
    if path is None and settings.face_precision == "int8":
        path = _int8(CENTERFACE_MODEL)
    return CenterFaceDetector(
        path,
        max_side=settings.face_max_side,
        coarse_side=settings.face_coarse_side,
        tile=settings.face_tile,
        device=settings.device,
        threads=settings.threads,
    )


def _yolo(settings: DetectSettings, path: str | Path | None, label: int) -> YoloDetector:
    return YoloDetector(
        path,
        label=label,
        size=settings.plate_size,
        tile=settings.plate_tile,
        view=settings.plate_input,
        device=settings.device,
        threads=settings.threads,
    )


def _bundled_plates(settings: DetectSettings) -> Detector:
    """Both bundled plate models, merged or taking turns: each finds plates the other misses."""
    paths = [SAFELICENSING_MODEL, FASTANPR_MODEL]
    if settings.plate_precision == "int8":
        paths = [_int8(p) for p in paths]
    return EnsembleDetector(
        [_yolo(settings, p, PLATE) for p in paths],
        alternate=settings.plate_ensemble == "alternate",
    )


def build_detectors(settings: DetectSettings) -> list[Detector]:
    """One detector per target in ``settings.targets``, bundled unless a path is given."""
    out: list[Detector] = []
    for target in settings.targets:
        if target == "face":
            path = settings.face_model
            out.append(_faces(settings, None) if path is None else load_model(path, FACE, settings))
        else:
            path = settings.plate_model
            out.append(
                _bundled_plates(settings) if path is None else load_model(path, PLATE, settings)
            )
    return out
