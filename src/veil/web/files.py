"""Which files the web app may read and write: only inside FOLDER or a job's own folder.

A path from the page is a relative name, checked twice: as text (no absolute
paths, no ``..``, no NUL) and after resolving symlinks (still inside the root).
The second check is what stops a symlink planted in FOLDER from leading out of
it; the first gives a clear refusal before the file system is touched.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from ..errors import ConfigError, InputError, LimitError, VeilError
from ..pipeline import media_kind

#: Longest wait for the next piece of an upload before it is given up (slow-loris).
UPLOAD_IDLE_S = 60.0
#: Longest file name accepted for an upload (what is left after cleaning).
MAX_NAME = 120
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class Stalled(VeilError):
    """An upload stopped sending (answered with 408); its partial file is removed."""


class DiskFull(VeilError):
    """The disk holding the work folder is full (answered with 507)."""


#: What the user is told when the work folder's disk is full.
DISK_FULL = (
    "the disk holding the server's work folder is full: free some space "
    "(or start veil serve with TMPDIR on a larger disk) and try again"
)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full (ENOSPC, or a quota), however it was wrapped."""
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
        "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)
    )


def inside(root: Path, rel: str) -> Path:
    """``root/rel`` resolved, refused unless it stays inside ``root``.

    Raises :class:`ConfigError` (which the API answers with 400) for absolute
    paths, ``..`` parts, backslashes and symlinks that point out of ``root``.
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise ConfigError("path: expected a relative path inside the served folder")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~") or any(p == ".." for p in pure.parts):
        raise ConfigError("path: must be relative to the served folder, without '..'")
    base = root.resolve()
    target = _resolved(base / pure)
    if target is None:
        raise ConfigError("path: a symlink loop or an unreadable link")
    if target != base and base not in target.parents:
        raise ConfigError("path: leads outside the served folder")
    return target


def _resolved(path: Path) -> Path | None:
    """``path`` with symlinks resolved; None for a loop (``x -> x``), which Python 3.11
    answers with RuntimeError, or a link the file system refuses to follow."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return None


def media_files(root: Path, limit: int = 5000) -> list[dict[str, object]]:
    """Images and videos under ``root`` (relative names, sizes), symlinks out skipped."""
    base = root.resolve()
    out: list[dict[str, object]] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or media_kind(Path(name)) is None:
                continue
            path = Path(dirpath) / name
            real = _resolved(path)
            if real is None or base not in real.parents or not real.is_file():
                continue  # a link out of the folder, or a loop, is not offered
            out.append(
                {
                    "path": path.relative_to(base).as_posix(),
                    "kind": media_kind(path),
                    "bytes": real.stat().st_size,
                }
            )
            if len(out) >= limit:
                return out
    return out


def upload_name(name: str) -> str:
    """A safe file name for an upload: base name only, odd characters replaced.

    The extension must be one veil reads, so a job's input is always a media file.
    """
    base = PurePosixPath(name.replace("\\", "/")).name
    clean = _SAFE_NAME.sub("_", base).strip(" .")
    if not clean or len(clean) > MAX_NAME:
        raise ConfigError("name: expected a file name of 1 to 120 characters")
    if media_kind(Path(clean)) is None:
        raise ConfigError("name: not an image or video extension veil reads")
    return clean


async def save_upload(
    chunks: AsyncIterator[bytes], dst: Path, max_bytes: int, idle_s: float = UPLOAD_IDLE_S
) -> int:
    """Stream an upload into ``dst``, stopping as soon as it passes ``max_bytes``, or
    when no data came for ``idle_s`` seconds (a client that trickles or stalls).

    The size is counted as bytes arrive, not taken from a header a client could
    lie in; a refused upload leaves nothing behind.
    """
    n = 0
    it = aiter(chunks)
    try:
        with open(dst, "xb") as f:
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(it), idle_s)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise Stalled(f"upload: no data for {idle_s:g} s") from None
                n += len(chunk)
                if n > max_bytes:
                    raise LimitError(f"upload: larger than the limit of {max_bytes} bytes")
                f.write(chunk)
    except OSError as e:
        dst.unlink(missing_ok=True)
        if disk_full(e):
            raise DiskFull(f"upload: {DISK_FULL}") from None
        raise
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    if n == 0:
        dst.unlink(missing_ok=True)
        raise InputError("upload: empty file")
    return n
