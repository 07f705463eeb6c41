"""decode -> detect -> track -> mask -> encode, fail-closed.

:class:`Engine` holds the loaded detectors and settings and is reused for
every file of a run (models are loaded once). The module-level functions are
the library API; the CLI, ``veil eval`` and later the web app and Dask
workers call the same code.
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .detect import FaceDetector, FusedFaceDetector, build_detectors, int8_copy, orient
from .detect.base import Detector
from .detect.onnx import release_memory
from .errors import ConfigError, InputError, OutputError, VeilError
from .mask import apply_masks
from .media import image as image_io
from .media import video as video_io
from .outputs import atomic_output
from .regions import CLASSES, FACE, Regions, class_id
from .settings import DetectSettings, Settings

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


def media_kind(path: Path) -> str | None:
    """'image', 'video' or None, by extension."""
    ext = path.suffix.lower()
    if ext in image_io.IMAGE_EXTENSIONS:
        return "image"
    if ext in video_io.VIDEO_EXTENSIONS:
        return "video"
    return None


@dataclass
class FrameResult:
    """Regions of one image or video frame; kept only on request (they are personal data)."""

    index: int
    width: int
    height: int
    regions: Regions


@dataclass
class FileResult:
    """What happened to one file: counts and timings for logs, regions only on request."""

    src: Path
    dst: Path | None
    kind: str
    frames: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    detections: list[FrameResult] = field(default_factory=list)


class Engine:
    """Detectors + settings, loaded once and reused for every frame and file.

    The detectors of what the run will see are built here, so a missing or broken
    model fails the run before any file is touched: the photo detectors, or with
    ``photos=False`` (a run of videos only) the video ones. The others are built on
    first use, still before that file's output is opened (:meth:`mask_file`). A
    video run skipped the photo detectors' loading then (two float plate models,
    the photo veto: about 0.1 s).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        detectors: Sequence[Detector] | None = None,
        *,
        photos: bool = True,
    ):
        self.settings = Settings() if settings is None else settings
        if not isinstance(self.settings, Settings):  # e.g. a MaskSettings on its own
            raise ConfigError(
                f"settings must be a veil.Settings, got {type(settings).__name__} "
                "(veil.Settings(mask=veil.MaskSettings(...)) holds one part)"
            )
        self._video_profile = self.settings.detect.for_video()  # settings are frozen
        self._detectors: list[Detector] | None = None
        self._video_detectors: list[Detector] | None = None
        self._injected = detectors is not None
        if detectors is not None:  # injected (tests, plug-ins): used for images and video
            _check_plugins(detectors)
            self._detectors = _for_targets(detectors, self.settings.detect.targets)
            self._video_detectors = self._detectors
        elif photos:  # the properties build and keep them
            _ = self.detectors
        else:
            _ = self.video_detectors
        self._verifier: Any = None  # the decision's frame verifier, built on first use

    # -- per frame -----------------------------------------------------------
    @property
    def video_profile(self) -> DetectSettings:
        """The detection settings for video frames (:meth:`DetectSettings.for_video`)."""
        return self._video_profile

    @property
    def detectors(self) -> list[Detector]:
        """The detectors for photos (``settings.detect``), built on first use."""
        if self._detectors is None:
            self._detectors = _for_targets(
                build_detectors(self.settings.detect), self.settings.detect.targets
            )
        return self._detectors

    @property
    def video_detectors(self) -> list[Detector]:
        """The detectors for video frames (:attr:`video_profile`), built on first use;
        sessions of a model both profiles use are shared."""
        if self._video_detectors is None:
            self._video_detectors = _for_targets(
                build_detectors(self.video_profile), self.video_profile.targets
            )
        return self._video_detectors

    def detect(
        self,
        rgb: np.ndarray,
        floor: float | None = None,
        video: bool = False,
        face_turn: int | None = None,
        shared: dict | None = None,
    ) -> Regions:
        """All target regions in one upright RGB frame, raw (not expanded).

        ``floor`` lowers every class threshold to at most that score: evaluation
        needs the whole ranking. ``video`` uses the per-frame video profile.
        Faces are found at any angle (``DetectSettings.any_angle``): an image
        probes its own orientation; video passes the clip's ``face_turn``.
        ``shared``, with a clip's ``face_turn``, receives the face network's resized
        pictures of ``rgb`` for the frame verifier (:meth:`verify`).
        """
        _check_frame(rgb)
        parts = []
        profile = self.video_profile if video else self.settings.detect
        for d in self.video_detectors if video else self.detectors:
            threshold = profile.threshold(CLASSES[d.label])
            if floor is not None:
                threshold = min(threshold, floor)
            if d.label == FACE and profile.any_angle and hasattr(d, "single_pass"):
                if face_turn is None:
                    parts.append(orient.detect_any_angle(d, rgb, threshold))
                else:
                    h, w = rgb.shape[:2]
                    turned = face_turn % 4 != 0
                    found = _detect(
                        d, orient.turn(rgb, face_turn), threshold, None if turned else shared
                    )
                    parts.append(orient.unturn(found, face_turn, w, h))
                    if turned:
                        # the clip's turn was probed on one frame, and a street frame
                        # can fool the probe: a clip judged turned is still searched
                        # upright, so a wrong probe costs a second pass, never the
                        # upright faces of the whole clip
                        parts.append(_detect(d, rgb, threshold, shared))
            else:
                parts.append(d.detect(rgb, threshold))
        return Regions.concat(parts)

    def clip_detector(self, face_turn: int | None = None) -> Callable[..., Regions]:
        """``detect(rgb, floor=None, shared=None)`` for one clip's frames, in order.

        The camera's mounting is fixed, so the faces' orientation is probed on
        the first frame detected and kept for the rest of the clip; a first frame
        judged turned is confirmed on the next runs (:class:`orient.ClipTurn`).
        A caller that already decided it (a clip cut into segments decides once
        for the whole clip) passes ``face_turn`` and nothing is probed.
        """
        turns = face_turn
        clip = orient.ClipTurn()
        for d in self.video_detectors:  # per-clip state (models that take turns) starts anew
            start = getattr(d, "start_clip", None)
            if start is not None:
                start()

        def detect(
            rgb: np.ndarray, floor: float | None = None, shared: dict | None = None
        ) -> Regions:
            nonlocal turns
            if face_turn is None and not clip.settled:
                turns = clip.add(self.turn_evidence(rgb))
            return self.detect(rgb, floor=floor, video=True, face_turn=turns, shared=shared)

        return detect

    def video_decider(
        self, recorder: list | None = None, learned: bool = True, advisory: bool = False
    ) -> Any:
        """A fresh per-clip :class:`veil.decide.FaceTrackDecider`, or None.

        With ``TrackSettings.decide == "learned"`` it decides which face tracks
        are masked. Otherwise, ``advisory=True`` still gives one that only rates
        each track's P(face) for review (``Track.confidence``), the rule deciding.
        The bundled decision model was trained on the bundled CenterFace video
        network's detections; another face network or a plug-in detector gets
        none. ``learned=False`` (training) gathers evidence only.
        """
        profile = self.video_profile
        deciding = self.settings.track.decide == "learned"
        if not (deciding or advisory) or self._injected or not profile.bundled_video_faces:
            return None
        from .decide import FaceTrackDecider, load_bundled

        model = load_bundled() if learned else None
        track = self.settings.track
        return FaceTrackDecider(
            model,
            track.detect_every,
            threshold=track.face_confidence if deciding else None,
            recorder=recorder,
            advisory=not deciding,
            lapse_after=track.unlikely_lapse if deciding else 0,
            lapse_under=track.unlikely_lapse_under,
            keep_above=track.unlikely_below,
        )

    def verify(self, rgb: np.ndarray, regions: Regions, shared: dict | None = None) -> np.ndarray:
        """The frame verifier's opinions of ``regions`` (:data:`veil.decide.VERIFIED` columns).

        YuNet-n and YOLOv8n-face each make one pass over the frame; the decision
        asks for it only on the detector runs where a track still needs it.
        YOLOv8n-face runs as its int8 copy when the video profile's faces do
        (``video_face_precision``): it is most of the verifier's cost, and the
        copy takes half the time with the same decisions (docs/decide.md).
        ``shared``: the frame's resized pictures the detector made (:meth:`detect`),
        so the verifier's 640 px picture is not made again.
        """
        if self._verifier is None:
            from .decide import FrameVerifier
            from .detect.yoloface import YoloFaceDetector
            from .detect.yunet import YuNetDetector

            common = {"tile": False, "device": self.settings.detect.device,
                      "threads": self.settings.detect.threads}  # fmt: skip
            yolo = YoloFaceDetector.bundled
            if self.video_profile.face_precision == "int8":
                yolo = int8_copy(yolo)
            self._verifier = FrameVerifier(
                [YuNetDetector(**common), YoloFaceDetector(yolo, **common)]
            )
        return self._verifier(rgb, regions.xyxy, shared)

    def face_turn(self, rgb: np.ndarray) -> int:
        """Quarter turns that make a video's faces upright, from one frame (0: upright)."""
        return orient.turn_of(self.turn_evidence(rgb))

    def clip_turn(self, frames: Iterable[np.ndarray]) -> int | None:
        """A clip's face orientation from its frames in order, decided as
        :meth:`clip_detector` decides it (the detector runs' frames are probed until
        :class:`orient.ClipTurn` is settled); None when there is no frame."""
        track = self.settings.track
        every = track.detect_every if track.enabled else 1
        clip = orient.ClipTurn()
        for i, rgb in enumerate(frames):
            if i % every == 0:
                clip.add(self.turn_evidence(rgb))
                if clip.settled:
                    break
        return clip.turn

    def turn_evidence(self, rgb: np.ndarray) -> list[float]:
        """The face probe's evidence per orientation on one video frame (all 0 when
        faces are not searched at any angle: upright)."""
        if self.video_profile.any_angle:
            for d in self.video_detectors:
                if d.label == FACE and hasattr(d, "single_pass"):
                    return orient.evidence_of(orient.probe(d, rgb))
        return [0.0, 0.0, 0.0, 0.0]

    def above_threshold(self, regions: Regions, video: bool = False) -> Regions:
        """Keep regions at or above their class's operating threshold."""
        return regions[self._at_threshold(regions, video)] if len(regions) else regions

    def _at_threshold(
        self, regions: Regions, video: bool = False, confirm: bool = False
    ) -> np.ndarray:
        profile = self.video_profile if video else self.settings.detect
        level = profile.confirm if confirm else profile.threshold
        limits = np.array([level(CLASSES[int(lb)]) for lb in regions.labels])
        return regions.scores >= limits.astype(np.float32)

    def mask(
        self, rgb: np.ndarray, regions: Regions, inplace: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mask your own ``regions`` (raw boxes: each class's margin is added here) in a
        copy of ``rgb`` (or in ``rgb`` with ``inplace``); returns ``(masked, covered)``,
        ``covered`` the (H, W) bool array of the pixels replaced."""
        _check_frame(rgb)
        return apply_masks(rgb, regions, self.settings.mask, inplace=inplace)

    # -- per file -------------------------------------------------------------
    def mask_file(
        self,
        src: str | Path,
        dst: str | Path,
        progress: Progress | None = None,
        collect: bool = False,
    ) -> FileResult:
        """Mask ``src`` into ``dst`` (same format). ``dst`` appears only when complete."""
        src, dst = Path(src), Path(dst)
        kind = media_kind(src)
        if kind is None:
            raise InputError(f"{src}: unsupported file type {src.suffix or '(no extension)'!r}")
        _refuse_same_file(src, dst)
        _refuse_other_format(src, dst)
        t0 = time.perf_counter()
        # a model that cannot load fails here, before the output is opened
        _ = self.detectors if kind == "image" else self.video_detectors
        result = FileResult(src=src, dst=dst, kind=kind)
        with atomic_output(dst) as tmp:
            if kind == "image":
                self._mask_image_file(src, tmp, dst, result, collect)
                if progress:
                    progress(1)
            else:
                self._mask_video_file(src, tmp, result, progress, collect)
        result.seconds = time.perf_counter() - t0
        return result

    def detect_file(self, src: str | Path, progress: Progress | None = None) -> FileResult:
        """Detection only (``veil detect``): regions of every image or video frame."""
        src = Path(src)
        kind = media_kind(src)
        if kind is None:
            raise InputError(f"{src}: unsupported file type {src.suffix or '(no extension)'!r}")
        t0 = time.perf_counter()
        result = FileResult(src=src, dst=None, kind=kind)
        if kind == "image":
            loaded = image_io.load_image(src, self.settings.limits)
            regions = self.detect(loaded.rgb)
            self._record(result, 0, loaded.rgb, regions, True)
            release_memory()
            if progress:
                progress(1)
        else:
            detect = self.clip_detector()
            with video_io.iter_frames(src, self.settings.limits) as frames:
                for f in frames:
                    found = detect(f.image)
                    self._record(result, f.index, f.image, found, True)
                    if progress:
                        progress(1)
        result.seconds = time.perf_counter() - t0
        return result

    def _record(
        self, result: FileResult, index: int, rgb: np.ndarray, regions: Regions, collect: bool
    ) -> None:
        result.frames += 1
        for label in np.unique(regions.labels):
            name = CLASSES[int(label)]
            result.counts[name] = result.counts.get(name, 0) + int((regions.labels == label).sum())
        if collect:
            result.detections.append(FrameResult(index, rgb.shape[1], rgb.shape[0], regions))

    def _mask_image_file(
        self, src: Path, tmp: Path, dst: Path, result: FileResult, collect: bool
    ) -> None:
        loaded = image_io.load_image(src, self.settings.limits)
        regions = self.detect(loaded.rgb)
        masked, _ = self.mask(loaded.rgb, regions)
        fmt = image_io.IMAGE_FORMATS[dst.suffix.lower()]
        try:
            image_io.save_image(masked, loaded, tmp, fmt, self.settings.encode.jpeg_quality)
        except OutputError as exc:  # named by the path asked for, not the hidden temporary
            raise OutputError(str(exc).replace(str(tmp), str(dst))) from None
        self._record(result, 0, loaded.rgb, regions, collect)
        release_memory()  # a folder's photos of many sizes must not add up (issue 29)

    def _mask_video_file(
        self,
        src: Path,
        tmp: Path,
        result: FileResult,
        progress: Progress | None,
        collect: bool,
    ) -> None:
        def process(frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, Regions]]:
            for index, (rgb, regions) in enumerate(self.video_regions(frames)):
                self._record(result, index, rgb, regions, collect)
                yield rgb, regions

        def finish(item: tuple[np.ndarray, Regions]) -> np.ndarray:
            # on the encoding thread, overlapping with detection of later frames;
            # decoded frames are ours, so they are masked in place
            rgb, regions = item
            return self.mask(rgb, regions, inplace=True)[0]

        video_io.transcode(
            src,
            tmp,
            process,
            self.settings.encode,
            self.settings.limits,
            progress=progress,
            finish=finish,
        )

    def video_regions(
        self,
        frames: Iterable[np.ndarray],
        first_index: int = 0,
        detect_last: bool = True,
        face_turn: int | None = None,
        filled: list[frozenset[int]] | None = None,
        decider: Any = None,
        confidence: dict[int, float] | None = None,
    ) -> Iterator[tuple[np.ndarray, Regions]]:
        """Per video frame, in order, the regions to mask: detection plus tracking.

        With tracking on, frames come out ``lookahead`` frames late so that gaps
        between detections of one track are filled from both sides; the
        detector runs every ``detect_every`` frames, on every scene cut and on
        the last frame (nothing comes after it to fill a gap from). Tracking
        works in scene coordinates (the camera's measured motion taken out),
        so a pan or whip does not throw gap filling off the face.

        A video cut into segments (``veil.scale``) passes each window's
        ``first_index`` in the whole video, so the detector runs on the same
        frames as in one pass, and ``detect_last=False`` for every window but
        the last (its last frame is not the video's), and the clip's
        ``face_turn`` (probed on the video's first frame) so that no window
        probes its own.

        ``filled``, when given, receives one entry per frame yielded: the track ids
        whose box there the tracker filled across a detector run that missed them
        (no detection placed it), for the project and ``veil audit --sample``.

        Face tracks are confirmed by the learned decision when the settings ask for
        it (:meth:`video_decider`), else by the rule; a caller may pass its own
        ``decider`` (an advisory one for a project's ratings, a recording one for
        training). ``confidence``, when given, receives each rated track's P(face)
        once the clip is done.
        """
        track = self.settings.track
        detect = self.clip_detector(face_turn)
        if not track.enabled:
            for rgb in frames:
                if filled is not None:
                    filled.append(frozenset())
                yield rgb, detect(rgb)
            return
        from .decide.tracks import base_evidence
        from .track import (
            STILL,
            CameraMotion,
            OfflineTracker,
            SceneCutDetector,
            SceneView,
            TrackConfig,
        )

        if decider is None:
            decider = self.video_decider()
        tracker = OfflineTracker(TrackConfig.from_settings(track), decider=decider)
        cuts = SceneCutDetector()
        camera = CameraMotion()
        view = SceneView()  # scene -> frame mapping, reset at every cut
        held = None  # the newest frame waits one step: the video's last is always detected

        def push(index, rgb, where, cut, run):
            found = weak = strong = evidence = verify = None
            if run:
                pictures: dict = {}  # the frame resized, for the detector and the verifier
                found = detect(rgb, floor=track.continue_score, shared=pictures)
                weak = ~self._at_threshold(found, video=True)
                strong = self._at_threshold(found, video=True, confirm=True)
                if decider is not None:
                    evidence = base_evidence(found.scores, found.xyxy, rgb.shape[0])
                    seen = found

                    def verify(rows: np.ndarray) -> np.ndarray:
                        return self.verify(rgb, seen[rows], pictures)

                found = where.to_scene(found)
            for final in tracker.push(
                index,
                (rgb, where),
                found,
                cut=cut,
                weak=weak,
                strong=strong,
                evidence=evidence,
                verify=verify,
            ):
                if filled is not None:
                    filled.append(final.filled)
                yield _to_frame(final, track.motion_margin)

        for index, rgb in enumerate(frames):
            motion = camera.estimate(rgb) if track.camera_motion else STILL
            cut = cuts.is_cut(rgb, motion)
            view = SceneView() if cut else view.moved(motion, rgb.shape[1], rgb.shape[0])
            run = cut or (first_index + index) % track.detect_every == 0
            if held is not None:
                yield from push(*held)
            held = (index, rgb, view, cut, run)
        if held is not None:
            yield from push(*held[:4], held[4] or detect_last)
        for final in tracker.flush():
            if filled is not None:
                filled.append(final.filled)
            yield _to_frame(final, track.motion_margin)
        if confidence is not None and decider is not None:
            confidence.update(decider.confidences)


def _detect(d: Detector, rgb: np.ndarray, threshold: float, shared: dict | None) -> Regions:
    """``d.detect(rgb, threshold)``, with ``shared`` (the frame's resized pictures) for the
    bundled face networks, which keep them; a plug-in's ``detect`` takes no such argument."""
    if shared is not None and isinstance(d, FaceDetector | FusedFaceDetector):
        return d.detect(rgb, threshold, shared)
    return d.detect(rgb, threshold)


def _for_targets(detectors: Sequence[Detector], targets: Sequence[str]) -> list[Detector]:
    """The detectors of the target classes; a target left without one is a ConfigError.

    Without this check a requested class would go undetected and every file
    would still be reported as masked.
    """
    wanted = {class_id(t) for t in targets}
    kept = [d for d in detectors if d.label in wanted]
    missing = [t for t in targets if class_id(t) not in {d.label for d in kept}]
    if missing:
        raise ConfigError(f"no detector for target(s) {', '.join(missing)}; refusing to run")
    return kept


def _to_frame(final, motion_margin: float) -> tuple[np.ndarray, Regions]:
    """Scene-coordinate regions back onto their frame, grown by the camera's motion.

    Motion blur smears a face along the camera's path by up to one frame's
    step, so each box grows by ``motion_margin`` times its own step per side
    (a zoom moves the edges of the picture more than its centre).
    """
    rgb, view = final.payload
    regions = final.regions
    if not len(regions):
        return rgb, regions
    xyxy = view.to_frame(regions.xyxy)
    grow = motion_margin * view.step((xyxy[:, :2] + xyxy[:, 2:]) / 2)
    xyxy = xyxy + np.concatenate([-grow, grow], axis=1).astype(np.float32)
    moved = regions.moved(xyxy)
    return rgb, moved.clip(rgb.shape[1], rgb.shape[0])


def _check_plugins(detectors: Sequence[Detector]) -> None:
    """A plug-in detector has a class id (``veil.FACE``, ``veil.PLATE``: an int, not the
    class's name) and a ``detect(rgb, threshold)``; a mistake is named here, not met as
    an AttributeError deep in a run."""
    for d in detectors:
        label = getattr(d, "label", None)
        if isinstance(label, str) and label in CLASSES:
            raise ConfigError(
                f"detector {type(d).__name__}: label must be the class id veil.{label.upper()} "
                f"({CLASSES.index(label)}), not the name {label!r}"
            )
        if (
            isinstance(label, bool)
            or not isinstance(label, numbers.Integral)
            or not 0 <= label < len(CLASSES)
        ):
            raise ConfigError(
                f"detector {type(d).__name__}: label must be one of veil.FACE, veil.PLATE "
                f"(class ids 0 to {len(CLASSES) - 1}), got {label!r}"
            )
        if not callable(getattr(d, "detect", None)):
            raise ConfigError(f"detector {type(d).__name__}: needs a detect(rgb, threshold) method")


def _check_frame(rgb: np.ndarray) -> None:
    """A uint8 RGB array (H, W, 3) with pixels, or an InputError saying what came instead
    (a script cleaning a dataset catches veil.VeilError and goes on)."""
    if not isinstance(rgb, np.ndarray):
        raise InputError(
            f"expected a numpy array (H, W, 3) of uint8 RGB, got {type(rgb).__name__} "
            "(a PIL image: numpy.asarray(image.convert('RGB')))"
        )
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(
            f"expected an RGB frame of shape (H, W, 3), got shape {rgb.shape} "
            "(grey or RGBA: convert to RGB first)"
        )
    if rgb.dtype != np.uint8:
        raise InputError(f"expected a uint8 frame, got {rgb.dtype} (scale it to 0-255 first)")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"expected a frame with pixels, got shape {rgb.shape}")


def _refuse_other_format(src: Path, dst: Path, error: type[VeilError] = OutputError) -> None:
    """The output is of its input's kind and, for a video, container: veil writes a video in
    its input's format, so an ``.mkv`` name for an ``.mp4`` would be an MP4 mislabelled
    (an image may change format: its encoder follows the name)."""
    kind = media_kind(src)
    if media_kind(dst) != kind:
        article = "an" if kind == "image" else "a"
        raise error(f"{dst}: output must be {article} {kind} file like the input")
    if kind == "video" and video_io.muxer_of(dst) != video_io.muxer_of(src):
        raise error(
            f"{dst}: veil writes a video in its input's format ({src.suffix}); "
            f"name the output {dst.stem}{src.suffix}"
        )


def _refuse_same_file(src: Path, dst: Path) -> None:
    """Refuse an output that is the input (same path, symlink or hard link), and one
    that cannot be told apart from it: overwriting an input is never risked."""
    same = src.resolve() == dst.resolve()
    if not same:
        try:
            same = dst.exists() and src.samefile(dst)
        except FileNotFoundError:
            same = False  # one of them is gone: writing dst cannot overwrite src
        except OSError as exc:
            raise OutputError(
                f"{dst}: cannot tell whether the output is the input ({exc.strerror or exc}); "
                "not writing it"
            ) from None
    if same:
        raise OutputError(f"{dst}: output is the input file; veil never overwrites its inputs")


# -- library API --------------------------------------------------------------
def detect(rgb: np.ndarray, settings: Settings | None = None) -> Regions:
    """Faces and plates in one upright RGB (H, W, 3) uint8 frame."""
    return Engine(settings).detect(rgb)


def mask_image(rgb: np.ndarray, settings: Settings | None = None) -> np.ndarray:
    """A masked copy of one upright frame; the input is not modified.

    ``rgb``: a numpy uint8 array (H, W, 3) in RGB order (from PIL:
    ``numpy.asarray(image.convert("RGB"))``). Raises :class:`veil.InputError` for
    another shape or dtype and :class:`veil.ConfigError` for settings that are not a
    :class:`veil.Settings`. For many images, one :class:`veil.Engine` loads the models once.
    """
    engine = Engine(settings)
    masked, _ = engine.mask(rgb, engine.detect(rgb))
    return masked


def mask_file(
    src: str | Path,
    dst: str | Path,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> FileResult:
    """Mask one image or video file into ``dst``, without identifying metadata.

    An image may change format by ``dst``'s extension (``.jpg`` to ``.png``); a video is
    written in its input's container. ``dst`` appears only when complete. ``progress``,
    if given, is called with 1 for each frame done (once for an image).
    """
    photos = media_kind(Path(src)) != "video"
    return Engine(settings, photos=photos).mask_file(src, dst, progress=progress)


__all__ = [
    "Engine",
    "FileResult",
    "FrameResult",
    "VeilError",
    "detect",
    "mask_file",
    "mask_image",
    "media_kind",
]
