"""The run manifest: what is already done in an output folder, so a rerun resumes.

One JSON file per output folder records, per output (its path relative to the
folder): the input's sha256, the settings hash and the output's sha256, with
the sizes and modification times seen when they were hashed. A rerun trusts
an entry only when the settings hash is the same and both files still have
the recorded size and modification time (the quick check rsync and make use,
so a resume reads no media); anything else is redone. The file is replaced
atomically, so a client killed while writing it leaves the previous version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import OutputError
from ..outputs import write_text_atomic
from ..settings import Settings

log = logging.getLogger(__name__)

MANIFEST_NAME = "veil-manifest.json"
SCHEMA = 1
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (videos do not fit in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def settings_hash(settings: Settings, extra: str = "") -> str:
    """A stable hash of everything that changes an output's pixels.

    ``detect.threads`` is left out: it changes speed, not results, and a
    cluster may size it per machine. The veil version is in, since a new
    release may mask differently. ``extra`` names a non-default engine factory.
    """
    data = dataclasses.asdict(settings)
    data["detect"].pop("threads", None)
    blob = json.dumps(
        {"veil": __version__, "settings": data, "extra": extra}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class FileStamp:
    """Size and modification time of a file when it was hashed."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Entry:
    """One finished output."""

    input_sha256: str
    settings_hash: str
    output_sha256: str
    input_stamp: FileStamp
    output_stamp: FileStamp

    def to_json(self) -> dict[str, Any]:
        return {
            "input_sha256": self.input_sha256,
            "settings_hash": self.settings_hash,
            "output_sha256": self.output_sha256,
            "input_size": self.input_stamp.size,
            "input_mtime_ns": self.input_stamp.mtime_ns,
            "output_size": self.output_stamp.size,
            "output_mtime_ns": self.output_stamp.mtime_ns,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Entry:
        return cls(
            str(d["input_sha256"]),
            str(d["settings_hash"]),
            str(d["output_sha256"]),
            FileStamp(int(d["input_size"]), int(d["input_mtime_ns"])),
            FileStamp(int(d["output_size"]), int(d["output_mtime_ns"])),
        )


class Manifest:
    """The manifest of one output folder; ``save`` writes it atomically."""

    def __init__(self, folder: Path, entries: dict[str, Entry] | None = None) -> None:
        self.folder = Path(folder)
        self.entries: dict[str, Entry] = dict(entries or {})

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_NAME

    @classmethod
    def load(cls, folder: str | Path) -> Manifest:
        """The folder's manifest; a missing one is empty, an unreadable one is ignored
        with a warning (everything is then redone, which is safe)."""
        folder = Path(folder)
        path = folder / MANIFEST_NAME
        if not path.is_file():
            return cls(folder)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("schema") != SCHEMA:
                raise ValueError(f"schema {raw.get('schema')!r}")
            entries = {k: Entry.from_json(v) for k, v in raw["outputs"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s: unreadable manifest (%s); redoing every output", path, exc)
            return cls(folder)
        return cls(folder, entries)

    def key(self, dst: Path) -> str:
        """The entry name of an output: its path relative to the folder."""
        try:
            return dst.resolve().relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            raise OutputError(
                f"{dst}: output is outside the manifest folder {self.folder}"
            ) from None

    def is_done(self, src: Path, dst: Path, shash: str) -> bool:
        """True when ``dst`` holds the finished output of ``src`` at these settings."""
        entry = self.entries.get(self.key(dst))
        if entry is None or entry.settings_hash != shash:
            return False
        return FileStamp.of(src) == entry.input_stamp and FileStamp.of(dst) == entry.output_stamp

    def record(self, dst: Path, entry: Entry) -> None:
        self.entries[self.key(dst)] = entry

    def forget(self, dst: Path) -> None:
        self.entries.pop(self.key(dst), None)

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        body = {
            "schema": SCHEMA,
            "veil": __version__,
            "outputs": {k: self.entries[k].to_json() for k in sorted(self.entries)},
        }
        write_text_atomic(self.path, json.dumps(body, indent=1) + "\n", "manifest")


def stamp_after_hash(path: Path) -> tuple[str, FileStamp]:
    """(sha256, stamp) of a file, the stamp taken before and checked after hashing so
    a file that changes while it is read is not recorded as done."""
    before = FileStamp.of(path)
    digest = sha256_file(path)
    after = FileStamp.of(path)
    if before is None or before != after:
        raise OutputError(f"{path}: changed while it was being hashed")
    return digest, before


__all__ = [
    "MANIFEST_NAME",
    "Entry",
    "FileStamp",
    "Manifest",
    "settings_hash",
    "sha256_file",
    "stamp_after_hash",
]
