"""Fail-closed output files.

Every output is written under a temporary name beside its final path and
renamed only when complete, so an error, a signal or a crash never leaves a
half-masked file at the output name. Temporary names carry the writer's PID,
so a later run can remove those left by a process that was killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

log = logging.getLogger(__name__)

_TMP_MARK = ".veil-tmp-"
_TMP_RE = re.compile(r"^\..*\.veil-tmp-(\d+)-[0-9a-f]{8}(\.[^.]*)?$")
_live: set[Path] = set()
_live_lock = threading.Lock()


def temp_path_for(dst: Path) -> Path:
    """A hidden sibling of ``dst`` with the same extension (encoders pick formats by it)."""
    token = secrets.token_hex(4)
    return dst.with_name(f".{dst.stem}{_TMP_MARK}{os.getpid()}-{token}{dst.suffix}")


@contextlib.contextmanager
def atomic_output(dst: str | Path) -> Iterator[Path]:
    """Yield a temporary path; rename it to ``dst`` on success, delete it on any error."""
    dst = Path(dst)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{dst.parent}: cannot create output folder ({exc.strerror})") from None
    if not os.access(dst.parent, os.W_OK):
        raise OutputError(f"{dst.parent}: output folder is not writable")
    tmp = temp_path_for(dst)
    with _live_lock:
        _live.add(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{dst}: nothing was written")
        try:
            os.replace(tmp, dst)
        except OSError as exc:  # disk full, folder gone or made read-only meanwhile
            raise OutputError(f"{dst}: cannot finish writing ({exc.strerror or exc})") from None
    finally:
        with _live_lock:
            _live.discard(tmp)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str, what: str = "") -> None:
    """Write a small text file (JSON, report) the same fail-closed way as media outputs.

    Unlike media outputs, the folder must already exist: a report path with a
    typo should fail, not create a tree.
    """
    path = Path(path)
    label = f"cannot write {what}".rstrip()
    if not path.parent.is_dir():
        raise OutputError(f"{path}: {label} (no such folder {path.parent})")
    try:
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: {label} ({exc.strerror or exc})") from None


def remove_live_temporaries() -> int:
    """Delete the temporaries this process is writing (used by signal handlers)."""
    with _live_lock:
        paths = list(_live)
    n = 0
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(folder: str | Path, recursive: bool = False) -> int:
    """Remove temporaries left in ``folder`` by veil processes that no longer run."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    pattern = f"**/.*{_TMP_MARK}*" if recursive else f".*{_TMP_MARK}*"
    removed = 0
    for p in folder.glob(pattern):
        m = _TMP_RE.match(p.name)
        if m and p.is_file() and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
    if removed:
        log.info("removed %d stale temporary file(s) from an interrupted run", removed)
    return removed
