"""Jobs of ``veil serve``: one input, its project, its proxy and outputs, in its own folder.

Work that takes longer than a request (detection, following a region,
rendering) runs on a small pool of worker threads fed by one FIFO queue, so
several jobs wait their turn instead of oversubscribing the machine. Each job
owns a folder under the server's private work folder; everything veil writes
for it (upload, proxy, thumbnails, project, output, report) lives there and is
removed with the job, and the whole work folder on shutdown.

Logs name jobs by their random id and task, never a file name or a coordinate.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ConfigError, InputError, Interrupted, ProjectError, VeilError
from ..media import image as image_io
from ..outputs import write_text_atomic
from ..pipeline import Engine, media_kind
from ..project import Project, detect_entry, render_file, sha256_file
from ..project.follow import Followed, anchors_of, followed_track, gray, propagate
from ..project.report import FileRecord, write_report
from ..project.review import LIFE, life_frames
from ..project.textcats import stamp_entry, take_text_lines
from ..settings import Settings
from .encode import FrameBoxes, ProjectText
from .files import DISK_FULL, UPLOAD_IDLE_S, disk_full, inside
from .frames import THUMB_SIDE, THUMB_SIDES, FrameSource, ProxyWriter, proxy_size, thumbnail

log = logging.getLogger(__name__)

#: States a job moves through; ``busy`` while a task of it runs or waits.
STATES = ("new", "ready", "rendered", "failed")
#: Longest stretch one "follow" decodes (grayscale, longest side FOLLOW_SIDE).
MAX_FOLLOW_FRAMES = 3000
#: Frames followed before the first and after the last drawn box.
FOLLOW_SPAN = 750
FOLLOW_SIDE = 640
#: Prefix of a server's private work folder (under TMPDIR, or ``workdir``).
WORK_PREFIX = "veil-serve-"
#: File in the work folder naming the server process that owns it.
OWNER_FILE = "owner.pid"
#: File in the work folder naming the served folder (a restart on it recovers the jobs).
ROOT_FILE = "root"
#: File in a job's folder describing it, so a restarted server can recover it.
META_FILE = "job.json"
#: A work folder without an owner file is taken as abandoned after this long.
UNOWNED_AFTER_S = 600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def clean_stale_workdirs(parent: Path, adopt: Callable[[Path], None] | None = None) -> int:
    """Remove the work folders of servers that were killed (SIGKILL, power cut) and so
    never cleaned up: they hold unmasked proxies, thumbnails and uploads.

    A folder is stale when its owner process is gone, or when it has no owner file
    and is older than :data:`UNOWNED_AFTER_S`. Only this user's folders are looked at.
    ``adopt`` first moves out of a stale folder what a new server takes over (the jobs
    of its own served folder). Returns how many were removed.
    """
    removed = 0
    for folder in parent.glob(WORK_PREFIX + "*"):
        try:
            st = folder.lstat()
            if not folder.is_dir() or folder.is_symlink() or st.st_uid != os.getuid():
                continue
            owner = folder / OWNER_FILE
            if owner.is_file():
                stale = not _alive(int(owner.read_text().strip() or "0"))
            else:
                stale = time.time() - st.st_mtime > UNOWNED_AFTER_S
        except (OSError, ValueError):
            continue
        if stale:
            if adopt is not None:
                try:
                    adopt(folder)
                except Exception as e:  # noqa: BLE001 - a broken leftover is just removed
                    log.warning("a killed server's jobs not recovered (%s)", type(e).__name__)
            shutil.rmtree(folder, ignore_errors=True)
            removed += not folder.exists()
    if removed:
        log.warning("removed %d work folder(s) left by a server that was killed", removed)
    return removed


class RedactNames(logging.Filter):
    """Replaces the names of the server's inputs in log lines by ``<file>``.

    The library logs file names at INFO (useful on a command line); a server's
    log is often kept and shared, so ``veil serve`` puts this filter on every
    handler once uvicorn has configured logging. Any path under the served
    folder or the work folder is replaced whole, and so is a traceback's text
    (an exception's message often quotes the path it failed on).
    """

    def __init__(self, manager: JobManager) -> None:
        super().__init__()
        self.manager = manager

    def redact(self, text: str) -> str:
        for top in (self.manager.workdir, self.manager.root):
            # the path to the end of the quote, line or text: a name may hold spaces
            text = re.sub(re.escape(str(top)) + r"[^'\"\n]*", "<file>", text)
        names = set()
        for job in list(self.manager.jobs.values()):
            names.update((job.src.name, job.name, Path(job.name).stem))
        for name in sorted((n for n in names if n), key=len, reverse=True):
            text = text.replace(name, "<file>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None  # a formatter would render it again, unredacted
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def expected_version(if_match: str | None) -> int | None:
    """The project_version an ``If-Match`` header names (``"12"``, ``W/"12"`` or ``12``)."""
    if if_match is None:
        return None
    v = if_match.strip()
    v = (v[2:] if v.startswith("W/") else v).strip('"')
    if not v.isdigit() or len(v) > 18:
        raise ProjectError(f'If-Match: expected the project_version, e.g. "12", got {if_match!r}')
    return int(v)


class Conflict(VeilError):
    """The job is not in a state for this request (answered with 409)."""


@dataclass
class Job:
    """One input under review. Mutable state is guarded by ``lock``."""

    id: str
    name: str  # relative name shown to the user and used in the project
    src: Path
    kind: str
    folder: Path
    state: str = "new"
    task: str | None = None  # running or queued task
    queued: bool = False
    done: int = 0
    total: int | None = None
    error: str | None = None
    project: Project | None = None
    frames: FrameSource | None = None
    output: Path | None = None
    report: Path | None = None
    version: int = 0
    revision: int = 0  # bumped when a task or a PUT replaces tracks wholesale (page reloads)
    saved_changes: int = 0  # the ``changes`` last written to project.json
    changes: int = 0  # bumped by every change of the project (edit, undo, task, PUT)
    output_changes: int = -1  # ``changes`` when the render took its snapshot
    on_change: Callable[[Job], None] | None = None  # the manager's saver; None: write now
    created: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock)
    idle: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False
    uploading: bool = False  # input still streaming in: the job is not listed or usable yet
    identity: tuple[int, int] | None = None  # (device, inode) of a FOLDER input when checked
    text: ProjectText = field(default_factory=ProjectText)  # per-track JSON, kept
    boxes: FrameBoxes | None = None  # the masked preview's per-frame lookup

    def __post_init__(self) -> None:
        self.idle.set()

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, state={self.state!r})"

    @property
    def project_path(self) -> Path:
        return self.folder / "project.json"

    def touch(self) -> None:
        self.version += 1

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "name": self.name,
                "kind": self.kind,
                "created": round(self.created, 3),  # seconds since the epoch
                "state": self.state,
                "task": self.task,
                "queued": self.queued,
                "done": self.done,
                "total": self.total,
                "error": self.error,
                "version": self.version,
                "revision": self.revision,
                "has_output": self.output is not None,
                # the output misses edits made after its render's snapshot
                "stale": self.output is not None and self.output_changes != self.changes,
                "can_undo": bool(self.project and self.project.can_undo),
                "can_redo": bool(self.project and self.project.can_redo),
            }

    def check_writable(self, expected: int | None) -> None:
        """Refuse an edit while a task rewrites the tracks (follow, detect), or one made
        against an older project (:meth:`check_fresh`). Call it under ``self.lock``."""
        if self.task in ("follow", "detect"):
            raise Conflict(f"job: busy with {self.task}")
        self.check_fresh(expected)

    def check_fresh(self, expected: int | None) -> None:
        """Refuse a write made against an older project (optimistic concurrency: the
        client sends the ``project_version`` it last saw as ``If-Match``; None skips)."""
        if expected is not None and expected != self.changes:
            raise Conflict(
                f"project: changed by another client since version {expected} "
                f"(now {self.changes}); reload it"
            )

    def entry_project(self) -> Project:
        if self.project is None:
            raise Conflict("job: run detection first")
        return self.project

    def project_json(self) -> str:
        """The project document as JSON text (a valid project file; cached per track)."""
        return self.text.project(self.entry_project())

    def save(self) -> None:
        """Record an edit: the project in memory is what every request sees at once, and
        the manager's saver thread writes it to ``project.json`` right after.

        A reload asks the server, so it loses nothing; the file is what a crash keeps.
        Writing in the background keeps an edit of a long video's project (tens of MB
        of JSON) as quick as one of a short one.
        """
        self.touch()
        self.changes += 1
        if self.on_change is not None:
            self.on_change(self)
        else:
            self.write()

    def write(self) -> None:
        """Write the project now (compact JSON from the per-track cache, see :mod:`.encode`)."""
        with self.lock:
            text, changes = self.project_json(), self.changes
        write_text_atomic(self.project_path, text, "project")
        with self.lock:
            self.saved_changes = max(self.saved_changes, changes)


class JobManager:
    """Creates, queues, runs and removes jobs; owns the private work folder."""

    def __init__(
        self,
        root: Path,
        settings: Settings | None = None,
        engine_factory: Callable[[Settings], Engine] = Engine,
        workers: int = 1,
        max_upload: int = 2 * 1024**3,
        workdir: Path | None = None,
    ) -> None:
        if workers < 1:
            raise ConfigError("workers: expected at least 1")
        self.root = root.resolve()
        self.settings = settings or Settings()
        self.max_upload = max_upload
        self.upload_idle_s = UPLOAD_IDLE_S
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        parent = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
        self.workdir = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent))
        (self.workdir / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        (self.workdir / ROOT_FILE).write_text(str(self.root), encoding="utf-8")
        self.jobs: dict[str, Job] = {}
        self.log_filter = RedactNames(self)
        self._queue: queue.Queue[tuple[Job, str, Callable[[Job], None]] | None] = queue.Queue()
        self._unsaved: dict[str, Job] = {}
        self._saves = threading.Condition()
        self._stopping = False
        clean_stale_workdirs(parent, self._recover)
        self._saver = threading.Thread(target=self._save_loop, name="veil-save", daemon=True)
        self._saver.start()
        self._threads = [
            threading.Thread(target=self._work, name=f"veil-job-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # -- life cycle -------------------------------------------------------------------
    def engine(self) -> Engine:
        """Models load once, on the first detection, and serve every job after."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._engine_factory(self.settings)
            return self._engine

    def shutdown(self) -> None:
        """Stop the workers and delete every job's files."""
        with self._saves:
            self._stopping = True
            self._saves.notify_all()
        self._saver.join(timeout=30)
        for job in list(self.jobs.values()):
            job.cancel.set()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=30)
        for job in list(self.jobs.values()):
            self._close(job)
        self.jobs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.deleted or job.uploading:
            raise KeyError(job_id)
        return job

    def listed(self) -> list[Job]:
        """The jobs a client may see: not deleted, input complete."""
        return [j for j in list(self.jobs.values()) if not j.deleted and not j.uploading]

    def _new_job(self, name: str, src: Path | None, folder: Path) -> Job:
        kind = media_kind(Path(name))
        if kind is None:
            raise ConfigError("path: not an image or video veil reads")
        job = Job(secrets.token_hex(8), name, src or folder, kind, folder)
        job.on_change = self._changed
        self.jobs[job.id] = job
        log.info("job %s created (%s)", job.id, kind)
        return job

    def _write_meta(self, job: Job) -> None:
        """What a restarted server needs to recover the job (its input, not its edits)."""
        src = None if job.identity is None else job.src.relative_to(self.root).as_posix()
        st = job.src.stat()
        meta = {
            "id": job.id,
            "name": job.name,
            "kind": job.kind,
            "src": src,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }
        write_text_atomic(job.folder / META_FILE, json.dumps(meta), "job")

    def _recover(self, stale: Path) -> None:
        """Take over the jobs a killed server on this same FOLDER left, with their last
        complete project save; anything half-made (an upload, a first detection, a
        render) is dropped with the rest of the stale folder."""
        if (stale / ROOT_FILE).read_text(encoding="utf-8") != str(self.root):
            return
        for meta in sorted(stale.glob(f"*/{META_FILE}")):
            try:
                job = self._recovered(meta.parent, json.loads(meta.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError, VeilError) as e:
                log.warning("a job of a killed server not recovered (%s)", type(e).__name__)
                continue
            if job is not None:
                log.warning("job %s recovered from a server that was killed", job.id)

    def _recovered(self, old: Path, meta: dict[str, Any]) -> Job | None:
        if not (old / "project.json").is_file():
            return None  # never detected: nothing of the user's to keep
        project = Project.loads((old / "project.json").read_bytes(), "project")
        name, kind, job_id = str(meta["name"]), str(meta["kind"]), str(meta["id"])
        if job_id in self.jobs or kind != media_kind(Path(name)):
            return None
        src = inside(self.root, meta["src"]) if meta["src"] else old / "input" / name
        st = src.stat()
        if (st.st_size, st.st_mtime_ns) != (meta["size"], meta["mtime_ns"]):
            return None  # the input changed while the server was down: not this project's
        folder = self.workdir / old.name
        os.rename(old, folder)  # same parent folder: a rename, no copy
        try:
            for part in ("out", "thumbs"):
                shutil.rmtree(folder / part, ignore_errors=True)  # rebuilt on demand
            for tmp in folder.glob("*.tmp*"):
                tmp.unlink(missing_ok=True)
            if not meta["src"]:
                src = folder / "input" / name
            entry = project.entry(name)
            if kind == "image":
                rgb = image_io.load_image(src, self.settings.limits).rgb
                frames = FrameSource.for_image(rgb)
            else:
                frames = FrameSource(folder / "proxy.mkv", entry.frames)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = Job(job_id, name, src, kind, folder, state="ready", project=project)
        job.frames = frames
        if meta["src"]:
            job.identity = (st.st_dev, st.st_ino)
        job.on_change = self._changed
        self.jobs[job.id] = job
        return job

    def create(self, src: Path, name: str) -> Job:
        """A job on a file inside the served folder (read in place, never written)."""
        if not src.is_file():
            raise ConfigError("path: not a file in the served folder")
        src = src.resolve()
        st = src.stat()
        folder = self.workdir / secrets.token_hex(8)
        folder.mkdir()
        job = self._new_job(name, src, folder)
        job.identity = (st.st_dev, st.st_ino)
        self._write_meta(job)
        return job

    def _check_input(self, job: Job) -> None:
        """Refuse to read a FOLDER input that is no longer the file checked when the job
        was made: a path part swapped for a symlink out of the folder since, or the file
        replaced. Narrows the window between check and open to the task's start."""
        if job.identity is None:
            return  # an upload, in the job's own folder
        try:
            real = job.src.resolve(strict=True)
            st = real.stat()
        except (OSError, RuntimeError):
            raise InputError("input: gone since the job was made") from None
        if real != job.src or (st.st_dev, st.st_ino) != job.identity:
            raise InputError("input: changed since the job was made; make a new job")

    def reserve_upload(self, name: str) -> tuple[Job, Path]:
        """A job whose input will be uploaded into its own folder; hidden (404, not
        listed) until :meth:`finish_upload`, so no task starts on a partial file."""
        folder = self.workdir / secrets.token_hex(8)
        (folder / "input").mkdir(parents=True)
        dst = folder / "input" / name
        job = self._new_job(name, dst, folder)
        job.uploading = True
        return job, dst

    def finish_upload(self, job: Job) -> None:
        """The upload is complete: the job appears (and a restart can recover it)."""
        self._write_meta(job)
        with job.lock:
            job.uploading = False
            job.touch()

    def delete(self, job: Job, wait_s: float = 60.0) -> None:
        """Cancel the job's work, wait for it to stop, then remove its folder."""
        job.cancel.set()
        job.deleted = True
        job.idle.wait(wait_s)
        self._close(job)
        self.jobs.pop(job.id, None)
        log.info("job %s deleted", job.id)

    def _close(self, job: Job) -> None:
        with job.lock:
            if job.frames is not None:
                job.frames.close()
                job.frames = None
        shutil.rmtree(job.folder, ignore_errors=True)

    # -- saving ----------------------------------------------------------------------------
    def _changed(self, job: Job) -> None:
        with self._saves:
            self._unsaved[job.id] = job
            self._saves.notify_all()

    def _save_loop(self) -> None:
        """Write edited projects, the latest state of each; edits that come meanwhile merge."""
        while True:
            with self._saves:
                while not self._unsaved and not self._stopping:
                    self._saves.wait()
                if self._stopping:
                    return
                batch = list(self._unsaved.values())
                self._unsaved.clear()
            for job in batch:
                if job.deleted:
                    continue
                try:
                    job.write()
                    if job.error and job.error.startswith("project not saved"):
                        job.error = None
                        job.touch()
                except VeilError as e:  # the folder went with a delete; otherwise say so
                    if not job.deleted:
                        # the edit holds in memory; the user must know it is not on disk
                        why = DISK_FULL if disk_full(e) else "cannot write it"
                        job.error = f"project not saved: {why}"
                        job.touch()
                        log.warning("job %s: project not saved (%s)", job.id, type(e).__name__)
            with self._saves:
                self._saves.notify_all()

    def flush(self, job: Job, timeout: float = 30.0) -> bool:
        """Wait until ``project.json`` holds the job's latest edit; False on timeout."""
        end = time.monotonic() + timeout
        with self._saves:
            # changes, not version: a task's end bumps the version without an edit to save
            while job.saved_changes < job.changes and job.project is not None:
                left = end - time.monotonic()
                if left <= 0 or self._stopping:
                    return False
                self._saves.wait(left)
        return True

    # -- the queue ---------------------------------------------------------------------
    def submit(self, job: Job, task: str) -> None:
        """Queue ``detect``, ``render`` or ``follow:<track>`` for the job."""
        run = {"detect": self._detect, "render": self._render}.get(task)
        if task.startswith("follow:"):
            tid = int(task.split(":", 1)[1])
            run = lambda j: self._follow(j, tid)  # noqa: E731
        if run is None:
            raise ConfigError(f"task: unknown {task!r}")
        with job.lock:
            if job.task is not None:
                raise Conflict(f"job: busy with {job.task}")
            if task != "detect":
                job.entry_project()
            job.task, job.queued, job.error = task.split(":")[0], True, None
            job.done, job.total = 0, None
            job.cancel.clear()
            job.idle.clear()
            job.touch()
        self._queue.put((job, task, run))

    def cancel(self, job: Job) -> None:
        job.cancel.set()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, task, run = item
            name = task.split(":")[0]
            try:
                with job.lock:
                    job.queued = False
                    job.touch()
                if job.cancel.is_set():
                    raise Interrupted("cancelled")
                t0 = time.perf_counter()
                run(job)
                log.info("job %s: %s done in %.2f s", job.id, name, time.perf_counter() - t0)
            except Interrupted:
                job.error = "cancelled"
                log.info("job %s: %s cancelled", job.id, name)
            except VeilError as e:
                # shown to the user who owns the job; not logged
                job.error = DISK_FULL if disk_full(e) else self._shown(job, str(e))
                if name == "detect":
                    job.state = "failed"
                log.warning("job %s: %s failed (%s)", job.id, name, type(e).__name__)
            except Exception as e:  # a bug: keep serving the other jobs
                full = disk_full(e)
                job.error = DISK_FULL if full else f"internal error ({type(e).__name__})"
                if name == "detect":
                    job.state = "failed"
                (log.warning if full else log.error)(
                    "job %s: %s failed (%s)", job.id, name, type(e).__name__
                )
            finally:
                with job.lock:
                    job.task = None
                    job.queued = False
                    job.touch()
                job.idle.set()

    def _progress(self, job: Job) -> Callable[[int], None]:
        def step(n: int) -> None:
            if job.cancel.is_set():
                raise Interrupted("cancelled")
            job.done += n
            job.touch()

        return step

    # -- tasks ---------------------------------------------------------------------------
    def _detect(self, job: Job) -> None:
        self._check_input(job)
        engine = self.engine()
        take_text_lines(engine)  # what an earlier job's detection left
        if job.kind == "image":
            job.total = 1
            entry = detect_entry(engine, job.src, job.name, self._progress(job))
            loaded = image_io.load_image(job.src, self.settings.limits)
            frames = FrameSource.for_image(loaded.rgb)
        else:
            from ..media.video import probe

            info = probe(job.src, self.settings.limits)
            job.total = info.frames
            proxy_path = job.folder / "proxy.mkv"
            # written under a temporary name: the proxy being shown stays whole meanwhile,
            # and a kill never leaves a torn proxy beside a saved project
            partial = job.folder / "proxy.tmp.mkv"
            writer = ProxyWriter(partial, info.width, info.height)
            try:
                entry = detect_entry(engine, job.src, job.name, self._progress(job), writer.add)
                writer.close()
            except BaseException:
                writer.abort()
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, proxy_path)
            frames = FrameSource(proxy_path, entry.frames)
        entry = stamp_entry(entry, engine, self.settings)  # text categories, the policy
        project = Project([entry])
        with job.lock:
            if job.frames is not None:
                job.frames.close()
            job.project, job.frames = project, frames
            job.text, job.boxes = ProjectText(), None
            job.output = job.report = None
            job.state = "ready"
            shutil.rmtree(job.folder / "thumbs", ignore_errors=True)
            job.revision += 1
            job.save()

    def _render(self, job: Job) -> None:
        with job.lock:
            entry = job.entry_project().entry(job.name)
            text = job.project_json()
            # a snapshot: edits during the render replace tracks (immutable) in the live
            # entry's dict, never in this copy's
            snap = copy.copy(entry)
            snap.tracks = dict(entry.tracks)
            at = job.changes
        self._check_input(job)
        out = job.folder / "out"
        out.mkdir(exist_ok=True)
        dst = out / f"{Path(job.name).stem}-masked{job.src.suffix.lower()}"
        job.total = entry.frames
        render_file(snap, job.src, dst, self.settings, self._progress(job))
        used = out / "project.json"
        used.write_text(text, encoding="utf-8")
        report = out / "report.json"
        write_report(
            report, [FileRecord(snap, sha256_file(dst))], self.settings, used, sha256_file(used)
        )
        write_report(
            out / "report.md",
            [FileRecord(snap, sha256_file(dst))],
            self.settings,
            used,
            sha256_file(used),
        )
        with job.lock:
            job.output, job.report = dst, report
            job.output_changes = at
            job.state = "rendered"
            job.touch()

    def _follow(self, job: Job, track_id: int) -> None:
        with job.lock:
            project = job.entry_project()
            entry = project.entry(job.name)
            track = project.track(job.name, track_id)
            source = job.frames
        anchors = anchors_of(track)
        if not anchors:
            raise ProjectError(f"track {track_id}: draw a box first")
        if source is None:
            raise Conflict("job: frames are not ready")
        lo = max(0, min(anchors) - FOLLOW_SPAN)
        hi = min(entry.frames, max(anchors) + FOLLOW_SPAN + 1)
        if hi - lo > MAX_FOLLOW_FRAMES:
            raise ProjectError(
                f"track {track_id}: drawn boxes span more than {MAX_FOLLOW_FRAMES} frames; "
                "use a separate region for each part"
            )
        # follow on small grayscale frames (bounded memory), boxes scaled back after
        fw, fh = proxy_size(entry.width, entry.height, FOLLOW_SIDE)
        to_small = fw / entry.width
        job.total = hi - lo
        step = self._progress(job)
        grays: list[np.ndarray] = []
        for f in range(lo, hi):
            rgb = source.rgb(f)
            if rgb.shape[1] != fw:
                rgb = np.asarray(Image.fromarray(rgb).resize((fw, fh), Image.Resampling.BILINEAR))
            grays.append(gray(rgb))
            step(1)
        small = {f - lo: tuple(v * to_small for v in b) for f, b in anchors.items()}
        found = propagate(grays, small)  # type: ignore[arg-type]
        boxes = {f + lo: tuple(float(v) / to_small for v in b) for f, b in found.boxes.items()}
        for f, b in anchors.items():
            boxes[f] = b  # drawn boxes exactly as drawn
        followed = Followed(boxes, {f + lo for f in found.review})  # type: ignore[arg-type]
        with job.lock:
            current = project.track(job.name, track_id)
            if current != track:
                raise Conflict(f"track {track_id}: changed while following; follow again")
            project.replace_track(job.name, followed_track(track, followed, entry.frames), "follow")
            job.revision += 1
            job.save()

    def _shown(self, job: Job, message: str) -> str:
        """An error for the page: the input named as the page names it, never by a path
        on the server (the served folder's, or the private work folder of an upload)."""
        for path in sorted({str(job.src), str(job.src.resolve())}, key=len, reverse=True):
            message = message.replace(path, job.name)
        for top in (self.workdir, self.root):
            message = re.sub(re.escape(str(top)) + r"[^'\"\s]*", "<file>", message)
        return message

    # -- thumbnails ------------------------------------------------------------------------
    def thumbnail(
        self, job: Job, track_id: int, at: str = "middle", side: int = THUMB_SIDE
    ) -> tuple[bytes, int]:
        """The track's picture (:func:`veil.web.frames.thumbnail`, ``side`` px) on its
        first, middle or last placed frame (:func:`veil.project.review.life_frames`; the
        middle one is the grid's), and that frame; cached in the job folder."""
        if at not in LIFE:
            raise InputError(f"at: expected one of {', '.join(LIFE)}, got {at!r}")
        if not THUMB_SIDES[0] <= side <= THUMB_SIDES[1]:
            raise InputError(f"side: expected {THUMB_SIDES[0]} to {THUMB_SIDES[1]} px, got {side}")
        with job.lock:
            project = job.entry_project()
            entry = project.entry(job.name)
            track = project.track(job.name, track_id)
            source = job.frames
        if source is None:
            raise Conflict("job: frames are not ready")
        life = life_frames(track, entry.frames)
        frame = track.first_frame if life is None else life[at]
        name = f"{track_id}-{hash(track) & 0xFFFFFFFF:08x}-{frame}-{side}.jpg"
        path = job.folder / "thumbs" / name
        if path.is_file():
            return path.read_bytes(), frame
        box = track.box_at(frame, entry.frames)
        rgb = source.rgb(frame)
        s = rgb.shape[1] / entry.width
        shown = None if box is None else (box[0] * s, box[1] * s, box[2] * s, box[3] * s)
        data = thumbnail(rgb, shown, side)
        path.parent.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            path.write_bytes(data)
        return data, frame

    def preview(self, job: Job, index: int, masked: bool) -> bytes:
        """JPEG of a frame for display; ``masked`` draws the project as it is now."""
        with job.lock:
            source = job.frames
            plan = None
            scale = 1.0
            if masked:
                entry = job.entry_project().entry(job.name)
                if job.boxes is None or job.boxes.entry is not entry:
                    job.boxes = FrameBoxes(entry, self.settings.mask)
                if source is not None and 0 <= index < source.frames:
                    plan = job.boxes.at(index)  # under the lock: edits replace tracks
                else:
                    plan = (np.zeros((0, 4), np.float32), [], np.zeros(0, np.int64))
                scale = proxy_size(entry.width, entry.height)[0] / entry.width
        if source is None:
            raise Conflict("job: run detection first")
        return source.jpeg(index, plan, scale)
