"""What runs inside a Dask worker: tasks are plain functions of picklable arguments.

The :class:`~veil.pipeline.Engine` is not shipped with tasks (models are tens
of MB and sessions do not pickle): each worker process builds one on first
use and keeps it, keyed by the settings hash and the engine factory. Tasks
write outputs through :func:`~veil.outputs.atomic_output`, so a worker killed
mid-task leaves only a hidden temporary, never a file at an output name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..pipeline import Engine
from ..settings import Settings
from .manifest import Entry, stamp_after_hash
from .segments import Segment, VideoPlan, join_pieces, mask_segment, plan_video, remove_pieces

log = logging.getLogger(__name__)

EngineFactory = Callable[[Settings], Engine]

_engines: dict[tuple[str, str, int], Engine] = {}
_lock = threading.Lock()


def factory_name(factory: EngineFactory | None) -> str:
    """A stable name for an engine factory ('' for the default :class:`Engine`)."""
    if factory is None:
        return ""
    return f"{factory.__module__}.{getattr(factory, '__qualname__', repr(factory))}"


def engine_for(settings: Settings, shash: str, factory: EngineFactory | None = None) -> Engine:
    """This worker's Engine for these settings, built on first use.

    Keyed per thread too: an Engine is not safe to share between threads, and
    a worker started with ``--nthreads 1`` (as advised) has only one.
    """
    key = (shash, factory_name(factory), threading.get_ident())
    with _lock:
        engine = _engines.get(key)
    if engine is None:
        t0 = time.perf_counter()
        engine = factory(settings) if factory is not None else Engine(settings)
        log.info("engine ready in %.2f s", time.perf_counter() - t0)
        with _lock:
            _engines[key] = engine
    return engine


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
    engine = engine_for(settings, shash, factory)
    res = engine.mask_file(src, dst)
    return Done(dst, _entry(src, dst, shash), res.frames, dict(res.counts), res.seconds)


def plan_task(src: Path, settings: Settings, segment_frames: int) -> VideoPlan | None:
    """Plan a video's segments on a worker (it reads the whole file's packets)."""
    return plan_video(src, settings, segment_frames)


def segment_task(
    src: Path,
    piece: Path,
    seg: Segment,
    last: bool,
    settings: Settings,
    shash: str,
    factory: EngineFactory | None = None,
) -> int:
    """Mask one segment into its piece; a piece already complete (resumed run) is kept."""
    if piece.is_file():
        return seg.end - seg.start
    engine = engine_for(settings, shash, factory)
    return mask_segment(engine, src, piece, seg, last)


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
