"""Frozen, validated settings.

Each stage has its own small dataclass, checked at construction so a bad value
fails before any file is touched, with a message that names it. ``Settings``
groups them; the CLI, the library API, ``veil eval`` and later the web app and
Dask workers all build the same object (it pickles).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from .errors import ConfigError
from .regions import CLASSES

Method = Literal["blur", "pixelate", "fill", "texture"]
Shape = Literal["ellipse", "rect"]
METHODS: tuple[str, ...] = ("blur", "pixelate", "fill", "texture")
SHAPES: tuple[str, ...] = ("ellipse", "rect")
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: how the bundled plate models share a frame: both run, or they take turns
ENSEMBLE_MODES: tuple[str, ...] = ("all", "alternate")
#: the bundled models in float32, or their int8 copies (faster on CPUs, see MODELS.md)
PRECISIONS: tuple[str, ...] = ("float", "int8")
#: the image default's fused set of face networks
FUSED = "yunet+centerface"
#: default face thresholds per bundled face network (scores differ between networks):
#: images, video, and the video score at which one detection confirms a track alone;
#: chosen by measurement (README, Quality and Video; the three-network fusion's
#: video values were not measured on video, they follow the two-network ones)
FACE_DEFAULTS: dict[str, tuple[float, float, float]] = {
    "fused": (0.1, 0.05, 0.3),
    "yunet": (0.05, 0.3, 0.5),
    "centerface": (0.15, 0.08, 0.2),
    "yolo": (0.1, 0.1, 0.3),
    "yolo+yunet": (0.1, 0.1, 0.3),
    "yolo+centerface": (0.1, 0.1, 0.3),
    "yolo+yunet+centerface": (0.1, 0.1, 0.3),
}
#: the bundled face networks, alone or fused ("+": a face must score with each);
#: "fused" is FUSED
FACE_MODELS: tuple[str, ...] = tuple(FACE_DEFAULTS)


def face_networks(name: str) -> list[str]:
    """The network names a ``FACE_MODELS`` entry stands for, in fusion order."""
    return (FUSED if name == "fused" else name).split("+")


#: what the plate models are shown: the frame as it is, its luma, or its luma
#: with the 1st-99th percentiles stretched to full range (see detect.plates.plate_view)
PLATE_INPUTS: tuple[str, ...] = ("rgb", "gray", "gray-stretch")

#: ``--text``: mask text regions only when they hold personal data, or every one
TEXT_MODES: tuple[str, ...] = ("pii", "all")
#: the targets when none are named (text is opt-in: OCR costs a second or so per frame)
DEFAULT_TARGETS: tuple[str, ...] = ("face", "plate")

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    """A finite number in [lo, hi]: Python's or numpy's (a sweep's values), never a bool."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value!r}")


def _is_whole(value: object, lo: float, hi: float) -> bool:
    """A whole number in [lo, hi]: Python's or numpy's, never a bool or 1000.5."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and lo <= value <= hi


def _whole(name: str, value: object, lo: int, hi: int | float) -> int:
    """:func:`_is_whole` or a ConfigError naming ``name``; as an int."""
    if not _is_whole(value, lo, hi):
        span = f">= {lo}" if hi == math.inf else f"from {lo} to {hi:g}"
        raise ConfigError(f"{name} must be a whole number {span}, got {value!r}")
    return int(value)


def _flag(obj: object, *names: str) -> None:
    """Fields that must be true or false (a string "false" is truthy: refused)."""
    for name in names:
        v = getattr(obj, name)
        if not isinstance(v, bool):
            raise ConfigError(f"{name} must be true or false, got {v!r}")


def _names(value: object) -> tuple:
    """A tuple of names from a tuple, a list or a comma-separated string ("face,plate"):
    a bare string would otherwise be read letter by letter."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if value is None or not hasattr(value, "__iter__"):
        raise ConfigError(f"expected names like ('face', 'plate'), got {value!r}")
    return tuple(value)


def _check_targets(targets: tuple[str, ...]) -> None:
    if not targets:
        raise ConfigError("targets must name at least one of: " + ", ".join(CLASSES))
    for t in targets:
        if t not in CLASSES:
            raise ConfigError(f"unknown target {t!r}; expected one of {', '.join(CLASSES)}")
    if len(set(targets)) != len(targets):
        raise ConfigError(f"targets repeat a class: {','.join(targets)}")


def parse_color(text: str) -> tuple[int, int, int]:
    """``'#rrggbb'`` (or without ``#``) -> (r, g, b)."""
    m = _HEX.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ConfigError(f"colour must be hex like '#000000', got {text!r}")
    v = m.group(1)
    return (int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16))


def split_per_class(text: str, name: str) -> dict[str, str]:
    """Split ``'face=a,plate=b'`` (or a bare ``'a'`` for every class) into raw values."""
    out: dict[str, str] = {}
    named: set[str] = set()  # a bare value sets every class; a class named twice is a slip
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, val = part.partition("=")
        keys = [key.strip()] if sep else list(CLASSES)
        for k in keys:
            if k not in CLASSES:
                raise ConfigError(f"{name}: unknown class {k!r}; expected one of {CLASSES}")
            if sep and k in named:
                raise ConfigError(f"{name}: {k} is given twice")
            named.update([k] if sep else [])
            out[k] = (val if sep else key).strip()
    if not out:
        raise ConfigError(f"{name}: empty value")
    return out


def parse_per_class(text: str, name: str) -> dict[str, float]:
    """Parse ``'face=0.3,plate=0.25'`` or a bare ``'0.3'`` (all classes) into numbers."""
    out: dict[str, float] = {}
    for k, raw in split_per_class(text, name).items():
        try:
            out[k] = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a number") from None
    return out


@dataclass(frozen=True)
class DetectSettings:
    """What to look for and how hard.

    Thresholds are recall-first: an extra blur is cheap, a missed face is a leak.
    ``face_scales`` are the detector input scales relative to the image; more
    and larger scales find smaller faces at a cost in time.
    """

    targets: tuple[str, ...] = DEFAULT_TARGETS
    #: None: the default of the face network in use (``FACE_DEFAULTS``)
    face_threshold: float | None = None
    plate_threshold: float = 0.2
    video_face_threshold: float | None = None
    video_face_confirm: float | None = None
    face_model: Path | None = None
    plate_model: Path | None = None
    face_max_side: int = 1920
    face_coarse_side: int = 640
    face_tile: bool = True
    plate_size: int = 640
    plate_tile: bool = True
    video_face_max_side: int = 640
    video_plate_size: int = 960
    video_tile: bool = False
    plate_ensemble: str = "all"
    video_plate_ensemble: str = "alternate"
    plate_precision: str = "float"
    video_plate_precision: str = "int8"
    face_models: str = "fused"
    #: CenterFace (alone or fused) as the float original or its int8 copy: photos use the
    #: int8 copy too (about twice as fast; faces_wider_val masked 0.975 against 0.976;
    #: docs/photos.md)
    face_precision: str = "int8"
    video_face_precision: str = "int8"
    #: find faces turned by 90/180/270 degrees (detect.orient): per image, per video clip
    any_angle: bool = True
    video_face_models: str = "centerface"
    plate_input: str = "gray-stretch"
    device: str = "cpu"
    threads: int = 0
    #: text (detect/text.py): the lowest recognition score a text line is kept at
    text_threshold: float = 0.5
    #: ``pii``: only lines holding personal data (veil.pii); ``all``: every line
    text_mode: str = "pii"
    #: the veil.pii categories masked under ``pii``
    text_categories: tuple[str, ...] = ()
    #: the phone regions whose national formats are tried (ISO 3166)
    text_regions: tuple[str, ...] = ("PL",)
    #: the user's terms file (``--text-terms``); its terms are read by the detector and
    #: never stored here, as the settings go into the project file and the report
    text_terms: Path | None = None
    #: the text detector's input: a frame whose long side is over this is shrunk to it
    text_max_side: int = 1920
    #: video: the text detector runs on every N-th detector run (text is static or moves
    #: with the camera, the tracker carries it between)
    video_text_every: int = 4
    #: the text detector runs on one call in this many (``for_video`` sets it)
    text_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _names(self.targets))
        _check_targets(self.targets)
        for name, allowed in (("face_models", FACE_MODELS), ("video_face_models", FACE_MODELS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        image_default = FACE_DEFAULTS[self.face_models][0]
        _, video_default, confirm_default = FACE_DEFAULTS[self.video_face_models]
        for name, default in (
            ("face_threshold", image_default),
            ("video_face_threshold", video_default),
            ("video_face_confirm", confirm_default),
        ):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        _check_range("face threshold", self.face_threshold, 0.0, 1.0)
        _check_range("plate threshold", self.plate_threshold, 0.0, 1.0)
        _check_range("video face threshold", self.video_face_threshold, 0.0, 1.0)
        _check_range("video face confirm score", self.video_face_confirm, 0.0, 1.0)
        for name in ("face_model", "plate_model"):
            p = getattr(self, name)
            if p is not None:
                object.__setattr__(self, name, Path(p))
        for name, lo, hi in (
            ("face_max_side", 64, 16384),
            ("face_coarse_side", 0, 16384),
            ("plate_size", 160, 4096),
            ("video_face_max_side", 64, 16384),
            ("video_plate_size", 160, 4096),
        ):
            object.__setattr__(self, name, _whole(name, getattr(self, name), lo, hi))
        _flag(self, "any_angle", "face_tile", "plate_tile", "video_tile")
        if self.video_plate_size % 32:
            raise ConfigError(
                f"video_plate_size must be a multiple of 32, got {self.video_plate_size}"
            )
        if self.plate_size % 32:
            raise ConfigError(f"plate_size must be a multiple of 32, got {self.plate_size}")
        for name, allowed in (
            ("plate_ensemble", ENSEMBLE_MODES),
            ("video_plate_ensemble", ENSEMBLE_MODES),
            ("plate_precision", PRECISIONS),
            ("video_plate_precision", PRECISIONS),
            ("plate_input", PLATE_INPUTS),
            ("face_precision", PRECISIONS),
            ("video_face_precision", PRECISIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        object.__setattr__(self, "threads", _whole("threads", self.threads, 0, math.inf))
        self._check_text()

    def _check_text(self) -> None:
        from .pii import CATEGORIES

        _check_range("text threshold", self.text_threshold, 0.0, 1.0)
        if self.text_mode not in TEXT_MODES:
            raise ConfigError(
                f"text mode must be one of {', '.join(TEXT_MODES)}, got {self.text_mode!r}"
            )
        cats = _names(self.text_categories) if self.text_categories else CATEGORIES
        object.__setattr__(self, "text_categories", tuple(cats))
        for c in self.text_categories:
            if c not in CATEGORIES:
                raise ConfigError(
                    f"unknown text category {c!r}; expected one of {', '.join(CATEGORIES)}"
                )
        object.__setattr__(self, "text_regions", _names(self.text_regions))
        for r in self.text_regions:
            if not (isinstance(r, str) and re.fullmatch(r"[A-Z]{2}", r)):
                raise ConfigError(f"text phone region must be like 'PL', got {r!r}")
        if self.text_terms is not None:
            object.__setattr__(self, "text_terms", Path(self.text_terms))
        for name, lo, hi in (
            ("text_max_side", 96, 8192),
            ("video_text_every", 1, 30),
            ("text_every", 1, 30),
        ):
            object.__setattr__(self, name, _whole(name, getattr(self, name), lo, hi))

    def threshold(self, target: str) -> float:
        if target == "text":
            return self.text_threshold
        return self.face_threshold if target == "face" else self.plate_threshold

    def confirm(self, target: str) -> float:
        """The video score at which one detection confirms a track by itself.

        Plates confirm at their threshold (their false masks are few); faces
        need ``video_face_confirm`` or several sightings (TrackSettings.confirm_hits).
        """
        if target == "face":
            return max(self.video_face_confirm, self.face_threshold)
        return self.threshold(target)

    def for_video(self) -> DetectSettings:
        """The per-frame profile for video: no tiles and a smaller face input by default.

        Video frames come by the thousand and tracking carries a face between
        detections, so the per-frame cost is traded for speed (see README):
        the two bundled plate models take turns ("alternate") instead of both
        running on every detected frame ("all"), in their int8 copies, as is the
        face model. The face
        threshold is lower: a track must see a face only once to mask it on every
        frame, so the small, blurred faces that score 0.08-0.15 are worth their
        extra false masks (see README, Video leaks).
        """
        return replace(
            self,
            face_max_side=min(self.face_max_side, self.video_face_max_side),
            # close-ups: a face filling the frame is too big for the network at
            # the full pass; a pass at half its size sees it whole
            face_coarse_side=min(self.face_coarse_side, self.video_face_max_side // 2),
            plate_size=self.video_plate_size,
            face_tile=self.face_tile and self.video_tile,
            plate_tile=self.plate_tile and self.video_tile,
            plate_ensemble=self.video_plate_ensemble,
            plate_precision=self.video_plate_precision,
            face_models=self.video_face_models,
            face_precision=self.video_face_precision,
            face_threshold=self.video_face_threshold,
            text_every=self.video_text_every,
        )

    @property
    def bundled_video_faces(self) -> bool:
        """Whether video faces come from the bundled CenterFace network (this being a
        :meth:`for_video` profile): the learned decision was trained on its detections,
        so another face network or a plug-in model keeps the confirm rule."""
        return (
            "face" in self.targets and self.face_models == "centerface" and self.face_model is None
        )


@dataclass(frozen=True)
class MaskSettings:
    """How regions are hidden. Defaults are irreversible (docs: How masks are audited)."""

    method: str = "blur"
    color: tuple[int, int, int] = (0, 0, 0)
    face_shape: str = "ellipse"
    plate_shape: str = "rect"
    face_margin: float = 0.4
    plate_margin: float = 0.15
    strength: float = 1.0
    text_shape: str = "rect"
    #: a recognised line's box is tight around its glyphs
    text_margin: float = 0.1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if isinstance(self.color, str):
            object.__setattr__(self, "color", parse_color(self.color))
        c = self.color
        if (
            not isinstance(c, (tuple, list))
            or len(c) != 3
            or not all(_is_whole(v, 0, 255) for v in c)
        ):
            raise ConfigError(f"color must be three integers 0-255, got {c!r}")
        object.__setattr__(self, "color", tuple(int(v) for v in c))  # hashable, frozen
        for name in ("face_shape", "plate_shape", "text_shape"):
            if getattr(self, name) not in SHAPES:
                raise ConfigError(
                    f"{name} must be one of {', '.join(SHAPES)}, got {getattr(self, name)!r}"
                )
        _check_range("face margin", self.face_margin, 0.0, 3.0)
        _check_range("plate margin", self.plate_margin, 0.0, 3.0)
        _check_range("text margin", self.text_margin, 0.0, 3.0)
        _check_range("strength", self.strength, 0.5, 4.0)

    def shape(self, target: str) -> str:
        if target == "text":
            return self.text_shape
        return self.face_shape if target == "face" else self.plate_shape

    def margin(self, target: str) -> float:
        if target == "text":
            return self.text_margin
        return self.face_margin if target == "face" else self.plate_margin


#: how video face tracks are confirmed (TrackSettings.decide)
DECISIONS: tuple[str, ...] = ("learned", "rule")


def confirm_wait(confirm_hits: int, detect_every: int, pre_frames: int) -> int:
    """Frames a track's first frame must stay held back until it can be confirmed."""
    return (confirm_hits - 1) * detect_every + pre_frames


@dataclass(frozen=True)
class TrackSettings:
    """Temporal tracking for videos (see :mod:`veil.track`).

    Frames are released ``lookahead`` frames late so gaps can be filled from
    both sides; a gap of up to ``lookahead + post_frames`` frames is covered.
    Detections scoring from ``continue_score`` up to the class threshold may
    continue a track (never start one): a face the detector is unsure of in a
    blurred frame stays masked because it was sure of it a moment before.
    A track is masked once it holds one detection at its class's confirm score
    (``DetectSettings.video_face_confirm`` for faces), or ``confirm_hits``
    detections at the operating threshold: a face is seen again, a lantern
    that scores once is not (see README, Video).

    ``decide`` chooses how face tracks are confirmed: ``learned`` (default) asks
    the bundled decision model (:mod:`veil.decide`) for P(face) from the track's
    evidence, two more networks' opinions on crops of it included; ``rule`` is
    the confirm rule above. On the real sample clips the learned decision masks
    every annotated face the rule masks (82 of 82) with less of every frame
    (docs/decide.md). A project file carries each track's P(face) either way,
    for review. It applies to the bundled ``centerface`` video face network, the
    one it was trained on; other face networks and plug-in detectors keep the rule.

    Masks are sized by the decision's evidence: a face track the learned decision
    masks while rating it an unlikely face (P(face) under ``unlikely_below``; most
    street clutter that passes the recall-first threshold) grows less. With
    ``unlikely_growth`` 0 its box keeps the mean size of the frames around it, not
    the largest, and does not grow with its own speed; 1 grows it as any track. Its
    mask's margin is ``unlikely_margin`` times the face margin (1: the same). It
    keeps every frame, its extensions and the growth with the camera's step (blur).
    See docs/decide.md, "Masks sized by evidence". Its decision may also lapse:
    after ``unlikely_lapse`` detector runs in a row that rate it under
    ``unlikely_lapse_under`` times the decision's threshold, it is no longer masked
    from there on (the frames before stay masked), until it passes again; 0 never
    lapses. A lantern that passes on one lucky stretch is otherwise masked to the
    end of the clip. A track ever rated likely never lapses. See docs/decide.md,
    "An unlikely face's decision lapses".

    ``face_confidence`` moves the learned decision's operating point: a face track
    is masked once its P(face) reaches it. None keeps the bundled model's own,
    chosen on training clips for recall first; lower masks more (fewer faces
    missed, more clutter), higher masks less. The trade at each point, measured
    on the real and synthetic clips, is in docs/decide.md ("Choosing the
    operating point").

    The face network often finds one face twice, a box and a smaller one inside it,
    and each becomes a track. Such *siblings* (``sibling_inside`` of the smaller box
    inside the larger on some detector run) are both masked, but where the smaller
    one's box is only a guess (bridged across a run that missed it, or an extension)
    and the larger is seen there, the guess is left out while it is under
    ``sibling_below`` pixels high: it lags beside the face it follows. Larger faces
    keep every guess. See docs/decide.md, "The second tracks at the tracker".
    """

    enabled: bool = True
    detect_every: int = 4
    lookahead: int = 24
    pre_frames: int = 8
    post_frames: int = 8
    max_gap: int = 30
    min_track_len: int = 2
    min_track_score: float = 0.0
    smooth_radius: int = 2
    motion_margin: float = 1.0
    camera_motion: bool = True
    continue_score: float = 0.05
    confirm_hits: int = 2
    decide: str = "learned"
    unlikely_below: float = 0.5
    unlikely_growth: float = 0.0
    unlikely_margin: float = 0.5
    sibling_inside: float = 0.7
    sibling_below: float = 64.0
    unlikely_lapse: int = 3
    unlikely_lapse_under: float = 0.5
    face_confidence: float | None = None

    def __post_init__(self) -> None:
        if self.decide not in DECISIONS:
            raise ConfigError(f"decide must be one of {', '.join(DECISIONS)}, got {self.decide!r}")
        _flag(self, "enabled", "camera_motion")
        for name, lo, hi in (
            ("detect_every", 1, 30),
            ("lookahead", 0, 120),
            ("pre_frames", 0, 60),
            ("post_frames", 0, 60),
            ("max_gap", 0, 300),
            ("min_track_len", 1, 300),
            ("smooth_radius", 0, 30),
            ("confirm_hits", 1, 30),
            ("unlikely_lapse", 0, 100),
        ):
            object.__setattr__(self, name, _whole(name, getattr(self, name), lo, hi))
        _check_range("min_track_score", self.min_track_score, 0.0, 1.0)
        _check_range("motion_margin", self.motion_margin, 0.0, 10.0)
        _check_range("continue_score", self.continue_score, 0.0, 1.0)
        _check_range("unlikely_below", self.unlikely_below, 0.0, 1.0)
        _check_range("unlikely_growth", self.unlikely_growth, 0.0, 1.0)
        _check_range("unlikely_margin", self.unlikely_margin, 0.0, 1.0)
        _check_range("sibling_inside", self.sibling_inside, 0.0, 1.0)
        _check_range("sibling_below", self.sibling_below, 0.0, 10000.0)
        _check_range("unlikely_lapse_under", self.unlikely_lapse_under, 0.0, 1.0)
        if self.face_confidence is not None:
            _check_range("face_confidence", self.face_confidence, 0.0, 1.0)
        if self.pre_frames > self.lookahead:
            raise ConfigError(
                f"pre_frames ({self.pre_frames}) cannot exceed lookahead ({self.lookahead})"
            )
        wait = confirm_wait(self.confirm_hits, self.detect_every, self.pre_frames)
        if wait > self.lookahead:
            raise ConfigError(
                f"confirm_hits ({self.confirm_hits}) with detect_every ({self.detect_every}) "
                f"and pre_frames ({self.pre_frames}) needs a lookahead of at least {wait} frames "
                f"(got {self.lookahead}): a face must still be held back when its track is "
                "confirmed, or its first frames would leak"
            )


@dataclass(frozen=True)
class EncodeSettings:
    """How outputs are written."""

    jpeg_quality: int = 95
    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"

    def __post_init__(self) -> None:
        if not _is_whole(self.jpeg_quality, 1, 100):
            raise ConfigError(f"jpeg quality must be 1-100, got {self.jpeg_quality!r}")
        object.__setattr__(self, "jpeg_quality", int(self.jpeg_quality))
        top = 51 if self.codec in X26X else 63  # x264/x265 clamp anything above 51
        if not _is_whole(self.crf, 0, top):
            raise ConfigError(f"crf must be 0-{top} for {self.codec}, got {self.crf!r}")
        object.__setattr__(self, "crf", int(self.crf))
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", self.codec or ""):
            raise ConfigError(f"codec name is malformed: {self.codec!r}")
        if self.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.codec != "libx264":  # the default is in every PyAV build; others are checked
            _check_video_encoder(self.codec)


#: x264's and x265's speed presets (VP9 maps them to its own speeds)
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow", "placebo")  # fmt: skip
X26X = ("libx264", "libx265")


def _check_video_encoder(name: str) -> None:
    """A video encoder of that name in this PyAV/FFmpeg build, or a ConfigError naming it."""
    import av

    try:
        kind = av.codec.Codec(name, "w").type
    except Exception:  # PyAV's UnknownCodecError and friends
        kind = None
    if kind != "video":
        raise ConfigError(
            f"codec {name!r} is not a video encoder of this build (libx264, libx265, "
            "libvpx-vp9 are usual)"
        )


@dataclass(frozen=True)
class Limits:
    """Resource limits that refuse hostile or absurd inputs before decoding them."""

    max_pixels: int = 100_000_000
    max_file_bytes: int = 20 * 1024**3
    max_duration_s: float = 6 * 3600.0

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_file_bytes"):
            v = getattr(self, name)
            if not _is_whole(v, 1, math.inf):
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        d = self.max_duration_s
        if isinstance(d, bool) or not isinstance(d, numbers.Real) or not 0 < d < math.inf:
            raise ConfigError(f"max_duration_s must be a positive number of seconds, got {d!r}")


@dataclass(frozen=True)
class Settings:
    """Everything one run needs; immutable and picklable."""

    detect: DetectSettings = field(default_factory=DetectSettings)
    mask: MaskSettings = field(default_factory=MaskSettings)
    track: TrackSettings = field(default_factory=TrackSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    limits: Limits = field(default_factory=Limits)
    #: the compliance policy the run follows (veil.policy): name, version and sha256
    #: pairs, written into the project file and the report; empty for none
    policy: tuple[tuple[str, str], ...] = ()
    #: the reasons the policy lets a reviewer give for leaving a track unmasked (web app)
    review_reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, kind in (
            ("detect", DetectSettings),
            ("mask", MaskSettings),
            ("track", TrackSettings),
            ("encode", EncodeSettings),
            ("limits", Limits),
        ):
            v = getattr(self, name)
            if not isinstance(v, kind):
                raise ConfigError(f"{name} must be a veil.{kind.__name__}, got {v!r}")

    def evolve(self, **changes: object) -> Settings:
        """Return a copy with whole sections replaced (``evolve(mask=MaskSettings(...))``)."""
        return replace(self, **changes)  # type: ignore[arg-type]
