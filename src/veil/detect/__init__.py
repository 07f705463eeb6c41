"""Detectors: one per target class, built from :class:`~veil.settings.DetectSettings`.

Bundled models live in ``veil/models`` (see MODELS.md); ``face_model`` /
``plate_model`` swap in a user's ONNX file, whose format is recognised from
its outputs (YuNet, CenterFace or YOLOv8). The bundled face detector fuses
YuNet-n and CenterFace for images and runs CenterFace alone for video
(``settings.FACE_MODELS`` names the other choices). Whatever the
format, a detector is built from its own class's settings (:class:`ClassSettings`): a face model is
shown the colour frame at ``face_max_side``, a plate model the plate view at
``plate_size``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ModelError
from ..regions import CLASSES, FACE, PLATE, TEXT, class_id
from ..settings import DetectSettings, face_networks
from .base import Detector
from .ensemble import EnsembleDetector
from .faces import CenterFaceDetector, FaceDetector
from .fused import FusedFaceDetector
from .onnx import load_session, session_info
from .plates import ALIGN as YOLO_ALIGN
from .plates import BUNDLED as SAFELICENSING_MODEL
from .plates import YoloDetector
from .yoloface import YoloFaceDetector
from .yunet import YuNetDetector, is_yunet

FASTANPR_MODEL = SAFELICENSING_MODEL.with_name("plate_fastanpr.onnx")

__all__ = [
    "CenterFaceDetector",
    "ClassSettings",
    "Detector",
    "EnsembleDetector",
    "FaceDetector",
    "FusedFaceDetector",
    "YoloDetector",
    "YoloFaceDetector",
    "YuNetDetector",
    "build_detectors",
    "class_settings",
    "int8_copy",
    "load_model",
    "load_session",
    "session_info",
]


@dataclass(frozen=True)
class ClassSettings:
    """The detection settings of one class, as any model format for that class reads them.

    Formats are built from this view, never from :class:`DetectSettings`, so one
    class's options cannot reach another class's model (a YOLO-format face model
    was once given the plate size, tiles and contrast-stretched grey input).
    """

    label: int
    #: a user's ONNX file, or None for the bundled model(s)
    model: Path | None
    #: longest side of the frame the model is shown in its full-frame pass
    max_side: int
    #: an extra pass at this long side for close-ups (0: none; formats without one ignore it)
    coarse_side: int
    tile: bool
    #: what the model is shown: ``rgb`` or one of ``settings.PLATE_INPUTS``
    view: str
    #: the bundled model's ``float`` original or ``int8`` copy
    precision: str
    #: bundled faces: a ``settings.FACE_MODELS`` entry; bundled plate pair: both on
    #: every frame (``all``) or taking turns (``alternate``)
    ensemble: str
    device: str
    threads: int


def class_settings(settings: DetectSettings, label: int) -> ClassSettings:
    """``settings`` as seen by the detector of class ``label``."""
    common = {"device": settings.device, "threads": settings.threads}
    if label == FACE:
        return ClassSettings(
            FACE, settings.face_model, settings.face_max_side, settings.face_coarse_side,
            settings.face_tile, "rgb", settings.face_precision, settings.face_models, **common,
        )  # fmt: skip
    if label == PLATE:
        return ClassSettings(
            PLATE, settings.plate_model, settings.plate_size, 0, settings.plate_tile,
            settings.plate_input, settings.plate_precision, settings.plate_ensemble, **common,
        )  # fmt: skip
    raise ValueError(f"no settings for class {label!r}; expected one of {CLASSES}")


def load_model(path: str | Path, label: int, settings: DetectSettings) -> Detector:
    """A detector for a user-given ONNX file, its format told by its outputs.

    YuNet format (heads ``cls_8`` ... ``kps_32``) and CenterFace format (four
    outputs with 1/2/2/10 channels) are accepted for faces; YOLOv8 format (one
    output ``[1, 4+C, N]``) for faces or plates.
    """
    return _load(replace(class_settings(settings, label), model=Path(path)))


def _load(cls: ClassSettings) -> Detector:
    path = cls.model
    assert path is not None
    session = load_session(path, cls.device, cls.threads)
    outs = session.get_outputs()
    yolo = len(outs) == 1 and len(outs[0].shape) == 3
    if cls.label == FACE and is_yunet(session):
        return _face(cls, YuNetDetector)
    if cls.label == FACE and len(outs) == 4:
        return _face(cls, CenterFaceDetector)
    if cls.label == FACE and yolo:
        return _face(cls, YoloFaceDetector)  # the face passes (coarse, tiles), not the plates'
    if yolo:
        return _yolo(cls)
    kinds = (
        "YuNet (cls/obj/bbox/kps heads at strides 8, 16, 32), CenterFace (4 outputs: 1/2/2/10 "
        "channels) or "
        if cls.label == FACE
        else ""
    )
    raise ModelError(
        f"{path}: unrecognised model format; expected {kinds}YOLOv8 (one output [1, 4+C, N]), "
        f"got {len(outs)} output(s) with shapes {[o.shape for o in outs]}"
    )


def int8_copy(model: Path) -> Path:
    """The bundled int8 copy of a bundled model (tools/quantize_*.py)."""
    return model.with_name(model.stem + ".int8.onnx")


def _face(cls: ClassSettings, kind: type[FaceDetector]) -> FaceDetector:
    path = cls.model
    if path is None and cls.precision == "int8" and kind is CenterFaceDetector:
        path = int8_copy(kind.bundled)  # YuNet-n has no int8 copy: it is cheaper than this one
    return kind(
        path,
        max_side=cls.max_side,
        coarse_side=cls.coarse_side,
        tile=cls.tile,
        device=cls.device,
        threads=cls.threads,
    )


def _yolo(cls: ClassSettings) -> YoloDetector:
    # YOLOv8 letterboxes to a square of a multiple of 32; the class's long side is rounded up
    return YoloDetector(
        cls.model,
        label=cls.label,
        size=-(-cls.max_side // YOLO_ALIGN) * YOLO_ALIGN,
        tile=cls.tile,
        view=cls.view,
        device=cls.device,
        threads=cls.threads,
    )


#: the bundled face networks by name (settings.FACE_MODELS joins them with "+")
FACE_NETWORKS: dict[str, type[FaceDetector]] = {
    "yunet": YuNetDetector,
    "yolo": YoloFaceDetector,
    "centerface": CenterFaceDetector,
}


def _bundled_faces(cls: ClassSettings) -> Detector:
    """One bundled face network, or several fused (a face must score with each)."""
    names = face_networks(cls.ensemble)
    if len(names) == 1:
        return _face(cls, FACE_NETWORKS[names[0]])
    # with tiles (photos), a frame's passes need far more memory than the networks:
    # each member's is given back before the next member and the plates run
    return FusedFaceDetector(
        [_face(cls, FACE_NETWORKS[n]) for n in names],
        release=cls.tile,
        decision=_photo_decision(cls, names),
    )


def _photo_decision(cls: ClassSettings, names: list[str] | tuple[str, ...]):
    """The learned decision for large photo clusters (``veil.decide.photo``), or None.

    It was trained on the bundled YuNet-n + CenterFace pair's photo passes (with
    tiles), so any other pair, or video's passes, gets the hand fusion alone.
    """
    from ..decide import photo

    if tuple(names) != ("yunet", "centerface") or not cls.tile or not photo.BUNDLED.is_file():
        return None

    def yolo() -> YoloFaceDetector:  # built only for a model that uses the crops
        return YoloFaceDetector(
            tile=False,
            coarse_side=0,
            max_side=photo.CROP_SIDE,
            device=cls.device,
            threads=cls.threads,
        )

    return photo.load(photo.BUNDLED, yolo)


def _bundled_plates(cls: ClassSettings) -> Detector:
    """Both bundled plate models, merged or taking turns: each finds plates the other misses."""
    paths = [SAFELICENSING_MODEL, FASTANPR_MODEL]
    if cls.precision == "int8":
        paths = [int8_copy(p) for p in paths]
    return EnsembleDetector(
        [_yolo(replace(cls, model=p)) for p in paths],
        alternate=cls.ensemble == "alternate",
    )


def _text(settings: DetectSettings) -> Detector:
    """PP-OCR lines judged by veil.pii (imported here: the text extra is optional)."""
    from .text import TextDetector, rules_for

    rules = rules_for(settings.text_categories, settings.text_regions, settings.text_terms)
    return TextDetector(
        settings.text_mode,
        rules,
        max_side=settings.text_max_side,
        every=settings.text_every,
        device=settings.device,
        threads=settings.threads,
    )


def build_detectors(settings: DetectSettings) -> list[Detector]:
    """One detector per target in ``settings.targets``, bundled unless a path is given."""
    out: list[Detector] = []
    for target in settings.targets:
        if class_id(target) == TEXT:
            out.append(_text(settings))
            continue
        cls = class_settings(settings, class_id(target))
        if cls.model is not None:
            out.append(_load(cls))
        elif cls.label == FACE:
            out.append(_bundled_faces(cls))
        else:
            out.append(_bundled_plates(cls))
    return out
