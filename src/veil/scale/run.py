"""The client side of a distributed run: plan, submit, follow, record.

The client only stats files and keeps the manifest; workers read, hash and
write media. Images and short videos are one task each. A long video is
first planned on a worker, then its segments run as tasks and a join task
waits on them; if the video turns out not to split safely, it is masked in
one task instead. Results are recorded in the manifest as they arrive (at
most every :data:`SAVE_EVERY_S` seconds, and at the end), so a client killed
mid-run loses at most those seconds of records, and the next run redoes only
what is not recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, VeilError
from ..outputs import clean_stale_temporaries
from ..pipeline import media_kind
from ..settings import Settings
from . import worker
from .manifest import Manifest, settings_hash
from .segments import SegmentError, VideoPlan, can_split, remove_pieces
from .worker import Done, EngineFactory

log = logging.getLogger(__name__)

#: Default length of a video segment; long enough that overlap costs little.
SEGMENT_SECONDS = 60.0
#: Longest wait between two manifest writes while results arrive.
SAVE_EVERY_S = 2.0
#: Where pieces of split videos wait for their join, inside the output folder.
PARTS_DIR = ".veil-parts"
#: Environment variable naming a scheduler when ``--scheduler`` is not given.
SCHEDULER_ENV = "VEIL_SCHEDULER"
#: Environment variable naming where a local cluster's dashboard listens (host:port).
DASHBOARD_ENV = "VEIL_DASHBOARD"
#: The dashboard's default: this machine only, any free port. Dask's own default,
#: ":0", listens on every interface, and the dashboard has no login.
DASHBOARD = "127.0.0.1:0"


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: on the cluster at ``scheduler``, else on a new local cluster.

    Local workers are processes with one task thread each (an Engine is not
    shared between threads; onnxruntime and the codecs have their own).
    """
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a malformed address
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    if not workers or workers < 1:
        raise ConfigError(f"--workers must be a positive number, got {workers!r}")
    dashboard = None
    if importlib.util.find_spec("bokeh"):
        dashboard = os.environ.get(DASHBOARD_ENV) or DASHBOARD
    import dask

    with (
        # Dask's workers set MALLOC_TRIM_THRESHOLD_ by default, which turns off
        # glibc's adaptive mmap threshold: every frame-sized array is then mapped
        # and unmapped afresh (about 8% more CPU per photo here). None unsets it.
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=dashboard,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@dataclass
class RunReport:
    """What a run did; paths only, never detections."""

    done: list[Done] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    fallbacks: int = 0
    seconds: float = 0.0


@dataclass
class _Task:
    kind: str  # "file", "plan" or "join"
    src: Path
    dst: Path
    pieces: Path | None = None


class _Run:
    def __init__(
        self,
        client: Any,
        settings: Settings,
        manifest: Manifest,
        segment_seconds: float,
        segment_frames: int | None,
        factory: EngineFactory | None,
    ) -> None:
        from distributed import as_completed

        self.client = client
        self.settings = settings
        self.manifest = manifest
        self.segment_seconds = segment_seconds
        self.segment_frames = segment_frames
        self.factory = factory
        self.shash = settings_hash(settings, worker.factory_name(factory))
        self.tasks: dict[Any, _Task] = {}
        self.pending = as_completed()
        self.report = RunReport()
        self._saved = float("-inf")  # the first finished output is saved at once

    def submit(self, kind: str, fn: Any, *args: Any, task: _Task) -> None:
        fut = self.client.submit(fn, *args, pure=False)
        self.tasks[fut] = _Task(kind, task.src, task.dst, task.pieces)
        self.pending.add(fut)

    def start(self, src: Path, dst: Path) -> None:
        task = _Task("file", src, dst)
        if media_kind(src) == "video" and can_split(src, self.settings):
            self.submit(
                "plan",
                worker.plan_task,
                src,
                self.settings,
                self.segment_frames,
                self.segment_seconds,
                self.shash,
                self.factory,
                task=task,
            )
        else:
            self.whole(task)

    def whole(self, task: _Task) -> None:
        self.submit(
            "file",
            worker.mask_file_task,
            task.src,
            task.dst,
            self.settings,
            self.shash,
            self.factory,
            task=task,
        )

    def split(self, task: _Task, plan: VideoPlan) -> None:
        """Submit a video's segments and the join that waits for them."""
        st = task.src.stat()
        bounds = ",".join(f"{s.start}-{s.end}" for s in plan.segments)
        key = hashlib.sha256(
            f"{self.shash}|{st.st_size}|{st.st_mtime_ns}|{bounds}|{plan.face_turn}".encode()
        ).hexdigest()[:16]
        folder = task.dst.parent / PARTS_DIR / f"{task.dst.name}-{key}"
        pieces = [folder / f"{s.index:05d}.nut" for s in plan.segments]
        last = len(plan.segments) - 1
        segs = [
            self.client.submit(
                worker.segment_task,
                task.src,
                piece,
                seg,
                seg.index == last,
                self.settings,
                self.shash,
                self.factory,
                plan.face_turn,
                pure=False,
            )
            for piece, seg in zip(pieces, plan.segments, strict=True)
        ]
        join = _Task("join", task.src, task.dst, folder)
        fut = self.client.submit(
            worker.join_task,
            task.src,
            task.dst,
            pieces,
            plan,
            self.shash,
            time.time(),
            *segs,
            pure=False,
        )
        self.tasks[fut] = join
        self.pending.add(fut)

    def finish(self, task: _Task, result: Done) -> None:
        self.manifest.record(task.dst, result.entry)
        self.report.done.append(result)
        if time.monotonic() - self._saved >= SAVE_EVERY_S:
            self.manifest.save()
            self._saved = time.monotonic()

    def follow(self, bar: Any) -> None:
        from distributed import KilledWorker

        for fut in self.pending:
            task = self.tasks.pop(fut)
            try:
                result = fut.result()
            except SegmentError as exc:
                log.warning("%s: not split (%s); masking it in one piece", task.src.name, exc)
                if task.pieces is not None:
                    remove_pieces(task.pieces)
                self.report.fallbacks += 1
                self.whole(task)
                continue
            except VeilError as exc:
                self.fail(task, str(exc), bar)
                continue
            except KilledWorker:
                self.fail(task, f"{task.src}: workers died on it repeatedly; no output", bar)
                continue
            except Exception as exc:  # noqa: BLE001 - a bug on a worker: one line, next file
                log.debug("task failed", exc_info=(type(exc), exc, exc.__traceback__))
                self.fail(task, f"{task.src}: internal error ({type(exc).__name__})", bar)
                continue
            if task.kind == "plan":
                if result is None:
                    self.whole(task)
                else:
                    self.split(task, result)
                continue
            self.finish(task, result)
            bar.update(1)

    def fail(self, task: _Task, message: str, bar: Any) -> None:
        self.manifest.forget(task.dst)
        self.report.failed.append((task.src, message))
        bar.update(1)


def mask_many(
    jobs: Sequence[tuple[Path, Path]],
    settings: Settings,
    client: Any,
    manifest_dir: Path,
    *,
    segment_seconds: float = SEGMENT_SECONDS,
    segment_frames: int | None = None,
    quiet: bool = True,
    engine_factory: EngineFactory | None = None,
) -> RunReport:
    """Mask every (source, destination) on the cluster behind ``client``, resuming.

    Outputs the manifest in ``manifest_dir`` records as done at these settings
    (and whose files are unchanged) are skipped. ``segment_frames`` overrides
    ``segment_seconds`` (tests). ``engine_factory`` builds each worker's
    Engine (a picklable, importable function; default :class:`Engine`).
    """
    from tqdm import tqdm

    if segment_seconds <= 0:
        raise ConfigError(f"segment length must be positive, got {segment_seconds!r} s")
    t0 = time.perf_counter()
    manifest = Manifest.load(manifest_dir)
    run = _Run(client, settings, manifest, segment_seconds, segment_frames, engine_factory)
    folders = {dst.parent for _, dst in jobs}
    for folder in folders:
        clean_stale_temporaries(folder, recursive=True)
    todo = []
    for src, dst in jobs:
        if manifest.is_done(src, dst, run.shash):
            run.report.skipped.append(dst)
        else:
            todo.append((src, dst))
    if run.report.skipped:
        log.info("%d output(s) already done; skipped", len(run.report.skipped))
    link = getattr(client, "dashboard_link", None)
    if link and not quiet:
        log.info("Dask dashboard: %s", link)
    bar = tqdm(
        total=len(todo), unit="file", desc="files", disable=quiet, leave=False, file=sys.stderr
    )
    try:
        for src, dst in todo:
            run.start(src, dst)
        run.follow(bar)
    finally:
        bar.close()
        manifest.save()
    for folder in folders:  # what killed workers left (their PIDs are gone)
        clean_stale_temporaries(folder, recursive=True)
        with contextlib.suppress(OSError):
            (folder / PARTS_DIR).rmdir()
    run.report.seconds = time.perf_counter() - t0
    return run.report


def local_threads(settings: Settings, workers: int) -> Settings:
    """Split the cores between local workers when inference threads are automatic."""
    if settings.detect.threads or not workers:
        return settings
    from dataclasses import replace

    per = max(1, (os.cpu_count() or 1) // workers)
    return settings.evolve(detect=replace(settings.detect, threads=per))


__all__ = ["SCHEDULER_ENV", "RunReport", "connect", "local_threads", "mask_many"]
