"""Detection and tracking into a project entry (``veil detect --project``).

Runs the same stages as the streaming ``veil mask`` up to the mask step
(:meth:`Engine.video_regions` for video, :meth:`Engine.detect` for images)
and stores what would have been masked: per track, its box on every frame
the tracker masked it (after gap filling and motion growth), with
``outside`` keyframes where it was not masked. A detection that joined no
track becomes a track of its own frames, drawn with seed 0 as the streaming
pass draws it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..media import image as image_io
from ..media import video as video_io
from ..regions import CLASSES, Regions
from ..settings import Settings
from .model import FileEntry, Keyframe, Track
from .render import sha256_file

if TYPE_CHECKING:
    from ..pipeline import Engine

Progress = Callable[[int], None]


def settings_record(settings: Settings, sections: Iterable[str] = ("detect", "track")) -> dict:
    """The settings used, as plain JSON values (for the project and the report)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return {
        name: {k: plain(v) for k, v in dataclasses.asdict(getattr(settings, name)).items()}
        for name in sections
    }


class _Collector:
    """Boxes per track over the frames of one file, turned into keyframes at the end."""

    def __init__(self) -> None:
        self.by_tid: dict[int, list[tuple[int, tuple[float, ...]]]] = {}
        self.label: dict[int, int] = {}
        self.score: dict[int, float] = {}
        self.loose: list[tuple[int, int, tuple[float, ...], float]] = []
        self.filled: dict[int, list[int]] = {}
        self.share: dict[int, float] = {}

    def add(self, frame: int, regions: Regions, filled: frozenset[int] = frozenset()) -> None:
        boxes = regions.xyxy.tolist()
        scores = regions.scores.tolist()
        shares = regions.margin_shares.tolist()
        for i, tid in enumerate(regions.track_ids.tolist()):
            label = int(regions.labels[i])
            if tid < 0:
                self.loose.append((frame, label, tuple(boxes[i]), scores[i]))
                continue
            self.by_tid.setdefault(tid, []).append((frame, tuple(boxes[i])))
            if tid in filled:
                self.filled.setdefault(tid, []).append(frame)
            self.label[tid] = label
            self.score[tid] = max(self.score.get(tid, 0.0), scores[i])
            # a track is one style in a project: the largest margin any frame had
            self.share[tid] = max(self.share.get(tid, 0.0), shares[i])

    def tracks(self, n_frames: int, confidence: dict[int, float] | None = None) -> dict[int, Track]:
        out: dict[int, Track] = {}
        conf = confidence or {}
        for tid, seen in self.by_tid.items():
            p = conf.get(tid)
            out[tid] = Track(
                tid,
                CLASSES[self.label[tid]],
                "auto",
                _keyframes(seen, n_frames),
                seed=tid,
                score=_score(self.score[tid]),
                confidence=None if p is None else _score(p),
                margin_share=_score(self.share[tid]),
                filled=_spans(self.filled.get(tid, [])),
            )
        next_id = max(out, default=0) + 1
        for frame, label, box, score in self.loose:
            out[next_id] = Track(
                next_id,
                CLASSES[label],
                "auto",
                _keyframes([(frame, box)], n_frames),
                seed=0,
                score=_score(score),
            )
            next_id += 1
        return out


def _score(v: float) -> float:
    return float(min(1.0, max(0.0, v)))


def _spans(frames: list[int]) -> tuple[tuple[int, int], ...]:
    """Inclusive (first, last) runs of consecutive frames."""
    out: list[tuple[int, int]] = []
    for f in sorted(set(frames)):
        if out and out[-1][1] == f - 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return tuple(out)


def _keyframes(seen: list[tuple[int, tuple[float, ...]]], n_frames: int) -> tuple[Keyframe, ...]:
    """A keyframe per masked frame; ``outside`` after each run of frames that ends early."""
    kfs: list[Keyframe] = []
    for j, (frame, box) in enumerate(seen):
        kfs.append(Keyframe(frame, box))  # type: ignore[arg-type]
        nxt = seen[j + 1][0] if j + 1 < len(seen) else n_frames
        if nxt > frame + 1:
            kfs.append(Keyframe(frame + 1, None, outside=True))
    return tuple(kfs)


def entry_from_frames(
    file: str,
    kind: str,
    sha256: str,
    frames: Iterable[tuple[int, Regions]],
    n_frames: int,
    width: int,
    height: int,
    settings: Settings,
    *,
    time_base: Fraction | None = None,
    fps: Fraction | None = None,
    times: tuple[float, ...] | None = None,
    filled: Sequence[frozenset[int]] | None = None,
    confidence: dict[int, float] | None = None,
) -> FileEntry:
    """A file entry from the regions the pipeline would mask on each frame.

    ``filled`` (one entry per frame, in order) names the tracks whose box on that
    frame the tracker filled across a missed detector run (see ``Track.filled``);
    ``confidence`` the learned decision's P(face) per track id (``Track.confidence``).
    """
    c = _Collector()
    for k, (index, regions) in enumerate(frames):
        c.add(index, regions, filled[k] if filled is not None and k < len(filled) else frozenset())
    return FileEntry(
        file=file,
        kind=kind,
        sha256=sha256,
        frames=n_frames,
        width=width,
        height=height,
        tracks=c.tracks(n_frames, confidence),
        time_base=None if time_base is None else str(time_base),
        fps=None if fps is None else str(fps),
        times=times,
        settings=settings_record(settings),
    )


def detect_entry(
    engine: Engine,
    src: str | Path,
    file: str,
    progress: Progress | None = None,
    tap: Callable[[np.ndarray], None] | None = None,
) -> FileEntry:
    """Detect (and, for video, track) one file into a project entry named ``file``.

    ``tap`` sees every decoded video frame once (``veil serve`` writes its
    display proxy from it, so the video is decoded once, not twice).
    """
    from ..pipeline import media_kind

    src = Path(src)
    kind = media_kind(src)
    if kind is None:
        raise InputError(f"{src}: unsupported file type {src.suffix or '(no extension)'!r}")
    settings = engine.settings
    digest = sha256_file(src)
    if kind == "image":
        loaded = image_io.load_image(src, settings.limits)
        regions = engine.detect(loaded.rgb)
        h, w = loaded.rgb.shape[:2]
        if progress:
            progress(1)
        return entry_from_frames(file, kind, digest, [(0, regions)], 1, w, h, settings)
    times: list[float] = []
    filled: list[frozenset[int]] = []
    confidence: dict[int, float] = {}
    with video_io.iter_frames(src, settings.limits) as reader:
        info = reader.info

        def images() -> Iterator[np.ndarray]:
            for f in reader:
                times.append(f.pts_s if f.pts_s is not None else float("nan"))
                if tap is not None:
                    tap(f.image)
                yield f.image

        def regions() -> Iterator[tuple[int, Regions]]:
            for index, (_, found) in enumerate(
                engine.video_regions(
                    images(),
                    filled=filled,
                    decider=engine.video_decider(advisory=True),
                    confidence=confidence,
                )
            ):
                if progress:
                    progress(1)
                yield index, found

        found = list(regions())
    n = len(found)
    if n == 0:
        raise InputError(f"{src}: no decodable video frame")
    clean = tuple(times) if all(np.isfinite(times)) else None
    return entry_from_frames(
        file,
        kind,
        digest,
        found,
        n,
        info.width,
        info.height,
        settings,
        time_base=info.time_base,
        fps=info.fps,
        times=clean,
        filled=filled,
        confidence=confidence,
    )
