"""The project file on disk: JSON with a schema version, read strictly.

Reading never trusts the file: unknown keys, duplicate keys, wrong types,
frames past the end, a newer schema version and invalid JSON are all refused
with :class:`~veil.errors.ProjectError` naming the field
(``files[0].tracks[2].keyframes[1].box: ...``). A typo like ``"enabeld"``
is an error, not a silently ignored key that leaves a face unmasked.

Boxes are float32 (what the mask stage draws) and written in their shortest
decimal form, which reads back to the same float32: a project saved and
loaded renders the same pixels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProjectError
from .model import (
    SCHEMA_VERSION,
    Decision,
    FileEntry,
    Keyframe,
    Overrides,
    Track,
)

FORMAT = "veil-project"
#: Refuse absurd project files before parsing them (a 6 h video with dozens of
#: tracks is a few tens of MB).
MAX_BYTES = 512 * 1024**2


def _f32(v: float) -> float:
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


# -- writing ---------------------------------------------------------------------
def track_to_dict(t: Track) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": t.id,
        "label": t.label,
        "source": t.source,
        "enabled": t.enabled,
    }
    if t.reason is not None:
        d["reason"] = t.reason
    if not t.overrides.is_empty():
        d["overrides"] = {
            k: v
            for k, v in (
                ("method", t.overrides.method),
                ("shape", t.overrides.shape),
                ("margin", t.overrides.margin),
            )
            if v is not None
        }
    d["seed"] = t.seed
    if t.score is not None:
        d["score"] = round(t.score, 4)
    if t.confidence is not None:
        d["confidence"] = round(t.confidence, 4)
    if t.margin_share != 1.0:
        d["margin_share"] = round(t.margin_share, 4)
    if t.review:
        d["review"] = [list(r) for r in t.review]
    if t.filled:
        d["filled"] = [list(r) for r in t.filled]
    if t.categories:
        d["categories"] = list(t.categories)
    d["keyframes"] = [_keyframe(k) for k in t.keyframes]
    return d


def _keyframe(k: Keyframe) -> dict[str, Any]:
    if k.outside:
        return {"frame": k.frame, "outside": True}
    d: dict[str, Any] = {"frame": k.frame, "box": [_f32(v) for v in k.box]}  # type: ignore[union-attr]
    if k.tracked:
        d["tracked"] = True
    return d


def entry_to_dict(e: FileEntry) -> dict[str, Any]:
    d: dict[str, Any] = {
        "file": e.file,
        "kind": e.kind,
        "sha256": e.sha256,
        "frames": e.frames,
        "width": e.width,
        "height": e.height,
    }
    if e.time_base is not None:
        d["time_base"] = e.time_base
    if e.fps is not None:
        d["fps"] = e.fps
    if e.times is not None:
        d["times"] = list(e.times)
    d["settings"] = e.settings
    if e.decisions:
        d["decisions"] = [decision_to_dict(x) for x in e.decisions]
    d["tracks"] = [track_to_dict(e.tracks[k]) for k in sorted(e.tracks)]
    return d


def decision_to_dict(x: Decision) -> dict[str, Any]:
    d: dict[str, Any] = {"what": x.what, "reason": x.reason}
    if x.threshold is not None:
        d["threshold"] = x.threshold
    if x.label is not None:
        d["label"] = x.label
    if x.min_size is not None:
        d["min_size"] = x.min_size
    if x.max_size is not None:
        d["max_size"] = x.max_size
    if x.evidence is not None:
        d["evidence"] = x.evidence
    if x.confirmed:
        d["confirmed"] = x.confirmed
    d["tracks"] = list(x.tracks)
    return d


def parse_decision(v: Any, where: str) -> Decision:
    d = _obj(
        v,
        where,
        {"what", "reason"},
        {"tracks", "threshold", "label", "min_size", "max_size", "evidence", "confirmed"},
    )
    tracks = _list(d.get("tracks", []), f"{where}.tracks")
    return _at(
        where,
        lambda: Decision(
            d["what"],
            d["reason"],
            tuple(tracks),
            d.get("threshold"),
            d.get("evidence"),
            d.get("confirmed", 0),
            d.get("label"),
            d.get("min_size"),
            d.get("max_size"),
        ),
    )


def project_to_dict(files: list[FileEntry], veil_version: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "veil_version": veil_version,
        "files": [entry_to_dict(e) for e in files],
    }


def _pretty(v: Any, indent: str = "") -> str:
    """JSON with one keyframe per line: short containers and lists of numbers stay on one
    line, so a reviewed project diffs line by line without a line per coordinate."""
    flat = json.dumps(v, allow_nan=False, ensure_ascii=False)
    if not isinstance(v, (dict, list)) or len(flat) + len(indent) <= 100:
        return flat
    if isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v):
        return flat
    inner = indent + " "
    if isinstance(v, dict):
        items = [f"{inner}{json.dumps(k)}: {_pretty(x, inner)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    items = [inner + _pretty(x, inner) for x in v]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


def dumps(files: list[FileEntry], veil_version: str) -> str:
    return _pretty(project_to_dict(files, veil_version)) + "\n"


# -- reading ---------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ProjectError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _obj(v: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ProjectError(f"{where}: expected an object")
    missing = sorted(required - v.keys())
    if missing:
        raise ProjectError(f"{where}.{missing[0]}: missing")
    extra = sorted(v.keys() - required - optional)
    if extra:
        raise ProjectError(f"{where}.{extra[0]}: unknown field")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise ProjectError(f"{where}: expected a list")
    return v


def _at(where: str, make: Callable[[], Any]) -> Any:
    """Build a value; a ProjectError from its checks gets the field's path in front."""
    try:
        return make()
    except ProjectError as e:
        raise ProjectError(f"{where}.{e}") from None


def _str_or_none(v: Any, where: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise ProjectError(f"{where}: expected text")
    return v


def parse_keyframe(v: Any, where: str) -> Keyframe:
    d = _obj(v, where, {"frame"}, {"box", "outside", "tracked"})
    return _at(
        where,
        lambda: Keyframe(
            d["frame"], d.get("box"), d.get("outside", False), d.get("tracked", False)
        ),
    )


def parse_track(v: Any, where: str) -> Track:
    d = _obj(
        v,
        where,
        {"id", "label", "source", "enabled", "keyframes"},
        {
            "reason",
            "overrides",
            "seed",
            "score",
            "confidence",
            "margin_share",
            "review",
            "filled",
            "categories",
        },  # fmt: skip
    )
    kfs = tuple(
        parse_keyframe(k, f"{where}.keyframes[{i}]")
        for i, k in enumerate(_list(d["keyframes"], f"{where}.keyframes"))
    )
    ov = Overrides()
    if "overrides" in d:
        o = _obj(d["overrides"], f"{where}.overrides", set(), {"method", "shape", "margin"})
        ov = _at(
            f"{where}.overrides",
            lambda: Overrides(o.get("method"), o.get("shape"), o.get("margin")),
        )
    spans = {}
    for name in ("review", "filled"):
        spans[name] = _list(d.get(name, []), f"{where}.{name}")
        for i, r in enumerate(spans[name]):
            if not isinstance(r, list):
                raise ProjectError(f"{where}.{name}[{i}]: expected [first, last]")
    return _at(
        where,
        lambda: Track(
            id=d["id"],
            label=d["label"],
            source=d["source"],
            keyframes=kfs,
            enabled=d["enabled"],
            reason=d.get("reason"),
            overrides=ov,
            seed=d.get("seed", 0),
            score=d.get("score"),
            confidence=d.get("confidence"),
            margin_share=d.get("margin_share", 1.0),
            review=tuple(tuple(r) for r in spans["review"]),
            filled=tuple(tuple(r) for r in spans["filled"]),
            categories=tuple(_list(d.get("categories", []), f"{where}.categories")),
        ),
    )


def parse_entry(v: Any, where: str) -> FileEntry:
    d = _obj(
        v,
        where,
        {"file", "kind", "sha256", "frames", "width", "height", "tracks"},
        {"time_base", "fps", "times", "settings", "decisions"},
    )
    tracks: dict[int, Track] = {}
    for i, t in enumerate(_list(d["tracks"], f"{where}.tracks")):
        track = parse_track(t, f"{where}.tracks[{i}]")
        if track.id in tracks:
            raise ProjectError(f"{where}.tracks[{i}].id: {track.id} is used twice")
        tracks[track.id] = track
    times = d.get("times")
    if times is not None:
        times = tuple(_list(times, f"{where}.times"))
    entry = _at(
        where,
        lambda: FileEntry(
            file=d["file"],
            kind=d["kind"],
            sha256=d["sha256"],
            frames=d["frames"],
            width=d["width"],
            height=d["height"],
            time_base=_str_or_none(d.get("time_base"), "time_base"),
            fps=_str_or_none(d.get("fps"), "fps"),
            times=times,
            settings=d.get("settings", {}),
            decisions=tuple(
                parse_decision(x, f"decisions[{i}]")
                for i, x in enumerate(_list(d.get("decisions", []), "decisions"))
            ),
        ),
    )
    for i, track in enumerate(tracks.values()):
        _at(where, lambda t=track, i=i: entry.check_track(t, f"tracks[{i}]"))
    entry.tracks = tracks
    return entry


def parse(doc: Any) -> tuple[list[FileEntry], str]:
    """A decoded JSON document -> (file entries, veil version that wrote it)."""
    d = _obj(doc, "project", {"format", "schema_version", "files"}, {"veil_version"})
    if d["format"] != FORMAT:
        raise ProjectError(f"format: expected {FORMAT!r}, got {d['format']!r}")
    version = d["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectError(f"schema_version: expected a whole number >= 1, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"schema_version: {version} is newer than this veil reads ({SCHEMA_VERSION}); "
            "upgrade veil"
        )
    files: list[FileEntry] = []
    seen: set[str] = set()
    for i, e in enumerate(_list(d["files"], "files")):
        entry = parse_entry(e, f"files[{i}]")
        if entry.file in seen:
            raise ProjectError(f"files[{i}].file: {entry.file!r} appears twice")
        seen.add(entry.file)
        files.append(entry)
    written_by = d.get("veil_version", "unknown")
    if not isinstance(written_by, str):
        raise ProjectError("veil_version: expected text")
    return files, written_by


def loads(data: bytes | str, name: str = "project") -> tuple[list[FileEntry], str]:
    """Parse project bytes; every failure is a ProjectError starting with ``name``."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
        return parse(doc)
    except ProjectError as e:
        raise ProjectError(f"{name}: {e}") from None
    except UnicodeDecodeError as e:
        raise ProjectError(f"{name}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ProjectError(
            f"{name}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except RecursionError:
        raise ProjectError(f"{name}: nested too deeply") from None


def read(path: str | Path) -> tuple[list[FileEntry], str]:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ProjectError(f"{path}: project file is {size} bytes, above {MAX_BYTES}")
        data = path.read_bytes()
    except OSError as e:
        raise ProjectError(f"{path}: cannot read project ({e.strerror or e})") from None
    return loads(data, str(path))
