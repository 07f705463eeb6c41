"""Render a file exactly as its project entry says, without running detection.

The pixels are replaced by :func:`veil.mask.draw`, the function the streaming
``veil mask`` pass uses too, with the same boxes, styles and seeds; so a
project made by ``veil detect --project`` and rendered unchanged gives the same
pixels as a direct run, and what a reviewer approved is what is published.

Fail-closed as the streaming pass: the input must hash to the project's
sha256, have its size and frame count; output is written under a temporary
name and renamed only when every frame was masked.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError, ProjectError
from ..mask import Style, draw
from ..media import image as image_io
from ..media import video as video_io
from ..outputs import atomic_output
from ..regions import CLASSES
from ..settings import MaskSettings, Settings
from .model import FileEntry, Track

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise InputError(f"{Path(path).name}: cannot read ({e.strerror or e})") from None


def track_style(track: Track, mask: MaskSettings) -> Style:
    """The run's style for the track's class, then the track's own overrides.

    Faces and plates take their class's shape and margin (times the track's
    ``margin_share``: an unlikely face's is smaller); a region drawn by hand (logo,
    document, ...) is a rectangle with no margin: the reviewer drew what to hide.
    """
    if track.label in CLASSES:
        base = Style.of_class(mask, track.label)
    else:
        base = Style(mask.method, "rect", 0.0, mask.color, mask.strength)
    o = track.overrides
    return Style(
        o.method or base.method,
        o.shape or base.shape,
        base.margin * track.margin_share if o.margin is None else o.margin,
        base.color,
        base.strength,
    )


class FramePlan:
    """Per frame, the boxes, styles and seeds of the enabled tracks, built once.

    Boxes of all tracks are resolved (keyframes interpolated) into flat arrays
    sorted by frame, so a frame's lookup is one slice, however many tracks.
    """

    def __init__(self, entry: FileEntry, mask: MaskSettings) -> None:
        self.frames = entry.frames
        frames: list[np.ndarray] = []
        boxes: list[np.ndarray] = []
        owner: list[np.ndarray] = []
        self.tracks = [t for _, t in sorted(entry.tracks.items()) if t.enabled]
        self.styles = [track_style(t, mask) for t in self.tracks]
        for i, t in enumerate(self.tracks):
            f, b = t.boxes(entry.frames)
            frames.append(f)
            boxes.append(b)
            owner.append(np.full(len(f), i, np.int64))
        if frames:
            f_all = np.concatenate(frames)
            order = np.argsort(f_all, kind="stable")
            self._frame = f_all[order]
            self._boxes = np.concatenate(boxes)[order]
            self._owner = np.concatenate(owner)[order]
        else:
            self._frame = np.zeros(0, np.int64)
            self._boxes = np.zeros((0, 4), np.float32)
            self._owner = np.zeros(0, np.int64)
        self._seeds = np.array([t.seed for t in self.tracks], np.int64)

    def at(self, frame: int) -> tuple[np.ndarray, list[Style], np.ndarray, list[Track]]:
        """``(xyxy, styles, seeds, tracks)`` to draw on ``frame``."""
        lo, hi = np.searchsorted(self._frame, [frame, frame + 1])
        owner = self._owner[lo:hi]
        return (
            self._boxes[lo:hi],
            [self.styles[i] for i in owner.tolist()],
            self._seeds[owner],
            [self.tracks[i] for i in owner.tolist()],
        )

    def render(self, rgb: np.ndarray, frame: int, inplace: bool = False) -> np.ndarray:
        xyxy, styles, seeds, _ = self.at(frame)
        return draw(rgb, xyxy, styles, seeds, inplace=inplace)[0]


def check_input(entry: FileEntry, src: Path) -> None:
    """Refuse an input that is not the one the project was made from."""
    digest = sha256_file(src)
    if digest != entry.sha256:
        raise ProjectError(
            f"{src}: sha256 differs from the project's entry {entry.file!r}; "
            "the project was made from another file"
        )


def render_file(
    entry: FileEntry,
    src: str | Path,
    dst: str | Path,
    settings: Settings,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Mask ``src`` into ``dst`` as ``entry`` says; returns masked regions per label."""
    from ..pipeline import _refuse_other_format, _refuse_same_file, media_kind

    src, dst = Path(src), Path(dst)
    kind = media_kind(src)
    if kind != entry.kind:
        raise ProjectError(f"{src}: is a {kind or 'unsupported'} file, the project a {entry.kind}")
    _refuse_same_file(src, dst)
    _refuse_other_format(src, dst)
    check_input(entry, src)
    t0 = time.perf_counter()
    plan = FramePlan(entry, settings.mask)
    counts: dict[str, int] = {}

    def count(frame: int) -> None:
        for t in plan.at(frame)[3]:
            counts[t.label] = counts.get(t.label, 0) + 1

    with atomic_output(dst) as tmp:
        if kind == "image":
            loaded = image_io.load_image(src, settings.limits)
            _check_size(entry, loaded.rgb, src)
            masked = plan.render(loaded.rgb, 0)
            fmt = image_io.IMAGE_FORMATS[dst.suffix.lower()]
            image_io.save_image(masked, loaded, tmp, fmt, settings.encode.jpeg_quality)
            count(0)
            if progress:
                progress(1)
        else:

            def process(frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, int]]:
                n = 0
                for rgb in frames:
                    if n >= entry.frames:
                        raise ProjectError(
                            f"{src}: has more frames than the project's {entry.frames}"
                        )
                    _check_size(entry, rgb, src)
                    count(n)
                    yield rgb, n
                    n += 1
                if n != entry.frames:
                    raise ProjectError(f"{src}: has {n} frames, the project {entry.frames}")

            def finish(item: tuple[np.ndarray, int]) -> np.ndarray:
                rgb, index = item  # decoded frames are ours: masked in place
                return plan.render(rgb, index, inplace=True)

            video_io.transcode(
                src,
                tmp,
                process,
                settings.encode,
                settings.limits,
                progress=progress,
                finish=finish,
            )
    log.info("%s rendered from the project in %.2f s", src.name, time.perf_counter() - t0)
    return counts


def _check_size(entry: FileEntry, rgb: np.ndarray, src: Path) -> None:
    h, w = rgb.shape[:2]
    if (w, h) != (entry.width, entry.height):
        raise ProjectError(f"{src}: is {w}x{h}, the project's entry {entry.width}x{entry.height}")
