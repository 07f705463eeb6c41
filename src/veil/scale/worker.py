"""What runs inside a Dask worker: tasks are plain functions of picklable arguments.

The :class:`~veil.pipeline.Engine` is not shipped with tasks (models are tens
of MB and sessions do not pickle): each worker process builds one on first
use and keeps it, keyed by the settings hash and the engine factory. Tasks
write outputs through :func:`~veil.outputs.atomic_output`, so a worker killed
mid-task leaves only a hidden temporary, never a file at an output name.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..media.video import probe
from ..pipeline import Engine
from ..settings import Settings
from .manifest import Entry, stamp_after_hash
from .segments import (
    Segment,
    VideoPlan,
    clip_face_turn,
    join_pieces,
    mask_segment,
    plan_video,
    remove_pieces,
)

log = logging.getLogger(__name__)

EngineFactory = Callable[[Settings], Engine]

_engines: dict[tuple[str, str], tuple[Engine, threading.Lock]] = {}
_lock = threading.Lock()


def factory_name(factory: EngineFactory | None) -> str:
    """A stable name for an engine factory ('' for the default :class:`Engine`)."""
    if factory is None:
        return ""
    name = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{factory.__module__}.{name}"


@contextlib.contextmanager
def engine_for(
    settings: Settings, shash: str, factory: EngineFactory | None = None
) -> Iterator[Engine]:
    """This worker process's Engine for these settings, built on first use, held
    for one task at a time.

    An Engine is not safe to share between threads; a worker started with
    ``--nthreads 1`` (as advised: onnxruntime and the codecs have their own
    threads) never waits on the lock.
    """
    key = (shash, factory_name(factory))
    with _lock:
        held = _engines.get(key)
        if held is None:
            t0 = time.perf_counter()
            engine = factory(settings) if factory is not None else Engine(settings)
            log.info("engine ready in %.2f s", time.perf_counter() - t0)
            held = _engines[key] = (engine, threading.Lock())
    with held[1]:
        yield held[0]


def cached_engines() -> int:
    """How many engines this process holds (tests check models load once)."""
    with _lock:
        return len(_engines)


@dataclass
class Done:
    """A finished output, reported back to the client for the manifest and summary."""

    dst: Path
    entry: Entry
    frames: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    segments: int = 1


def _entry(src: Path, dst: Path, shash: str) -> Entry:
    in_sha, in_stamp = stamp_after_hash(src)
    out_sha, out_stamp = stamp_after_hash(dst)
    return Entry(in_sha, shash, out_sha, in_stamp, out_stamp)


def mask_file_task(
    src: Path, dst: Path, settings: Settings, shash: str, factory: EngineFactory | None = None
) -> Done:
    """Mask one whole file (an image, or a video not worth splitting)."""
    with engine_for(settings, shash, factory) as engine:
        res = engine.mask_file(src, dst)
    return Done(dst, _entry(src, dst, shash), res.frames, dict(res.counts), res.seconds)


def plan_task(
    src: Path,
    settings: Settings,
    segment_frames: int | None,
    segment_seconds: float,
    shash: str,
    factory: EngineFactory | None = None,
) -> VideoPlan | None:
    """Plan a video's segments on a worker (it reads the whole file's packets), and
    decide the clip's face orientation once, for every segment."""
    if segment_frames is None:
        fps = probe(src, settings.limits).fps or 30
        segment_frames = max(1, round(float(fps) * segment_seconds))
    plan = plan_video(src, settings, segment_frames)
    if plan is None:
        return None
    with engine_for(settings, shash, factory) as engine:
        return replace(plan, face_turn=clip_face_turn(engine, src, plan))


def segment_task(
    src: Path,
    piece: Path,
    seg: Segment,
    last: bool,
    settings: Settings,
    shash: str,
    factory: EngineFactory | None = None,
    face_turn: int | None = None,
) -> int:
    """Mask one segment into its piece; a piece already complete (resumed run) is kept.

    ``face_turn`` is the clip's, from its plan (:func:`plan_task`).
    """
    if piece.is_file():
        return seg.end - seg.start
    with engine_for(settings, shash, factory) as engine:
        return mask_segment(engine, src, piece, seg, last, face_turn)


def join_task(
    src: Path,
    dst: Path,
    pieces: list[Path],
    plan: VideoPlan,
    shash: str,
    t0: float,
    *done_segments: int,
) -> Done:
    """Join the pieces (the segment results are passed only to order this after them)."""
    join_pieces(src, dst, pieces, plan)
    remove_pieces(pieces[0].parent)
    return Done(
        dst,
        _entry(src, dst, shash),
        plan.frames,
        seconds=time.time() - t0,
        segments=len(plan.segments),
    )


def noop_task(i: int) -> int:
    """An empty task (the benchmark's measure of scheduler overhead)."""
    return i


def eval_task(
    dataset: Path,
    settings: Settings,
    shash: str,
    images: list[int],
    videos: list[int],
    factory: EngineFactory | None = None,
) -> Any:
    """Score a share of a dataset (items by index) into a fresh Evaluator for merging."""
    from ..evaluate.dataset import load_dataset
    from ..evaluate.runner import evaluate_items, new_evaluator

    class _NoBar:
        def update(self, n: int) -> None:
            pass

    ds = load_dataset(dataset)
    with engine_for(settings, shash, factory) as engine:
        ev = new_evaluator(ds, settings, engine)
        evaluate_items(
            engine,
            ev,
            [ds.images[i] for i in images],
            [ds.videos[i] for i in videos],
            settings,
            _NoBar(),
        )
    return ev
