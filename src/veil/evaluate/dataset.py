"""Annotated datasets (images or videos) and detection files in the same JSON format.

One format serves both directions: ``veil eval`` reads ground truth from it and
``veil detect --json`` / ``veil mask --json`` write detections in it (plus a
``score``), so a detection file can be loaded back and compared with no
converter. See ``shared/data/README.md`` for the image form; videos use
``{"videos": [{"file", "frames": [{"index", "boxes": [...]}]}]}``.

Loading validates everything before any image is decoded, and every error names
the JSON file and the entry at fault (``images[3].boxes[1].x2``). A box error
also names its media file but never echoes the box's values: a detection file
(``--json``) holds where faces were found, and errors end up in logs.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..outputs import write_text_atomic
from ..regions import CLASSES, Regions, class_id

logger = logging.getLogger(__name__)

__all__ = [
    "Dataset",
    "GroundTruth",
    "ImageItem",
    "VideoItem",
    "boxes_to_arrays",
    "boxes_to_regions",
    "load_dataset",
    "regions_to_boxes",
    "regions_to_dataset_entry",
    "video_to_dataset_entry",
    "write_detections_json",
]


@dataclass(frozen=True)
class GroundTruth:
    """One annotated box in pixels, (x1, y1, x2, y2) with x2/y2 exclusive.

    ``ignore`` marks a "don't care" box (WIDER FACE protocol). ``object_id``
    (JSON key ``id``) ties the boxes of one object across video frames, so leaks
    can be counted per object. ``score`` is only set when a detection file is
    loaded as a dataset.
    """

    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    ignore: bool = False
    object_id: str | None = None
    score: float | None = None

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(frozen=True)
class ImageItem:
    """One annotated image; ``file`` is absolute (resolved against the JSON's folder)."""

    file: Path
    width: int
    height: int
    boxes: tuple[GroundTruth, ...] = ()


@dataclass(frozen=True, eq=False)
class VideoItem:
    """One annotated video: boxes per annotated frame index (0-based, decode order).

    Frames absent from ``frames`` were not annotated and are not scored; a frame
    present with no boxes was annotated as empty (every detection there is a
    false positive).
    """

    file: Path
    frames: dict[int, tuple[GroundTruth, ...]] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: its JSON path, images and videos."""

    path: Path
    images: tuple[ImageItem, ...] = ()
    videos: tuple[VideoItem, ...] = ()

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def labels(self) -> tuple[str, ...]:
        """Classes that occur in the annotations, in :data:`CLASSES` order."""
        seen: set[str] = set()
        for boxes in self.iter_boxes():
            seen.update(b.label for b in boxes)
        return tuple(c for c in CLASSES if c in seen)

    def iter_boxes(self) -> Iterator[tuple[GroundTruth, ...]]:
        for im in self.images:
            yield im.boxes
        for v in self.videos:
            yield from v.frames.values()

    def __len__(self) -> int:
        return len(self.images) + sum(len(v.frames) for v in self.videos)

    def __repr__(self) -> str:
        return f"Dataset({self.path.name}, images={len(self.images)}, videos={len(self.videos)})"


# -- loading --------------------------------------------------------------------------


def load_dataset(path: str | os.PathLike[str], *, check_files: bool = True) -> Dataset:
    """Read and validate a dataset (or detection) JSON; paths resolve against its folder.

    ``check_files`` also verifies that every referenced media file exists, so a
    long evaluation does not fail halfway through. Zero-area boxes (present in
    WIDER FACE) cannot be matched or masked, so they are kept as ``ignore``.
    """
    jpath = Path(path).expanduser().absolute()
    try:
        text = jpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{jpath}: dataset file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{jpath}: cannot read dataset file ({exc.__class__.__name__})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{jpath}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(doc, dict) or not ("images" in doc or "videos" in doc):
        raise InputError(f"{jpath}: expected an object with an 'images' or 'videos' list")

    loader = _Loader(jpath)
    images = tuple(
        loader.image(e, f"images[{i}]") for i, e in enumerate(loader.list(doc, "images"))
    )
    videos = tuple(
        loader.video(e, f"videos[{i}]") for i, e in enumerate(loader.list(doc, "videos"))
    )
    if check_files:
        for where, item in [(f"images[{i}]", x) for i, x in enumerate(images)] + [
            (f"videos[{i}]", x) for i, x in enumerate(videos)
        ]:
            if not item.file.is_file():
                raise InputError(f"{jpath}: {where}.file: {item.file} does not exist")
    if loader.zero_area:
        logger.info("%s: %d zero-area boxes treated as ignore", jpath.name, loader.zero_area)
    logger.debug("loaded %s: %d images, %d videos", jpath.name, len(images), len(videos))
    return Dataset(jpath, images, videos)


class _Loader:
    """Validation helpers that carry the JSON path for error messages."""

    def __init__(self, jpath: Path) -> None:
        self.jpath = jpath
        self.zero_area = 0
        self.seen: set[Path] = set()

    def fail(self, where: str, msg: str) -> InputError:
        return InputError(f"{self.jpath}: {where}: {msg}")

    def list(self, obj: Mapping[str, Any], key: str, where: str = "") -> list[Any]:
        value = obj.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{where}{key}" if where else key, "must be a list")
        return value

    def obj(self, entry: Any, where: str) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise self.fail(where, "must be an object")
        return entry

    def size(self, entry: dict[str, Any], key: str, where: str, required: bool) -> int | None:
        v = entry.get(key)
        if v is None and not required:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise self.fail(f"{where}.{key}", f"must be a positive integer, got {v!r}")
        return v

    def file(self, entry: dict[str, Any], where: str) -> Path:
        f = entry.get("file")
        if not isinstance(f, str) or not f.strip():
            raise self.fail(f"{where}.file", "must be a non-empty path string")
        p = Path(os.path.normpath(self.jpath.parent / f))  # absolute, without "a/../"
        if p in self.seen:
            raise self.fail(f"{where}.file", f"{f!r} is listed twice")
        self.seen.add(p)
        return p

    def boxes(self, entry: dict[str, Any], where: str, media: Path) -> tuple[GroundTruth, ...]:
        return tuple(
            self.box(b, f"{where}.boxes[{j}]", os.path.relpath(media, self.jpath.parent))
            for j, b in enumerate(self.list(entry, "boxes", f"{where}."))
        )

    def box(self, b: Any, where: str, media: str) -> GroundTruth:
        """One box of ``media``; errors name it by index, never by its values."""

        def fail(key: str, msg: str) -> InputError:
            return self.fail(f"{where}{key} (in {media})", msg)

        if not isinstance(b, dict):
            raise fail("", "must be an object")
        label = b.get("label")
        if label not in CLASSES:
            raise fail(".label", f"must be one of {', '.join(CLASSES)}")
        xy = []
        for k in ("x1", "y1", "x2", "y2"):
            v = b.get(k)
            if not _finite(v):
                raise fail(f".{k}", f"must be a finite number, got {_kind(v)}")
            xy.append(float(v))
        x1, y1, x2, y2 = xy
        if x2 < x1 or y2 < y1:
            raise fail("", "inverted box: need x1 <= x2 and y1 <= y2")
        ignore = b.get("ignore", False)
        if ignore not in (True, False, 0, 1):  # 0/1 also accepted: some exports use ints
            raise fail(".ignore", f"must be true or false, got {_kind(ignore)}")
        ignore = bool(ignore)
        if (x2 == x1 or y2 == y1) and not ignore:
            self.zero_area += 1
            ignore = True
        oid = b.get("id")
        if oid is not None and (isinstance(oid, bool) or not isinstance(oid, (int, str))):
            raise fail(".id", f"must be an integer or a string, got {_kind(oid)}")
        score = b.get("score")
        if score is not None and not _finite(score):
            raise fail(".score", f"must be a finite number, got {_kind(score)}")
        return GroundTruth(
            label, x1, y1, x2, y2, ignore,
            None if oid is None else str(oid),
            None if score is None else float(score),
        )  # fmt: skip

    def image(self, entry: Any, where: str) -> ImageItem:
        e = self.obj(entry, where)
        file = self.file(e, where)
        width = self.size(e, "width", where, required=True)
        height = self.size(e, "height", where, required=True)
        assert width is not None and height is not None
        return ImageItem(file, width, height, self.boxes(e, where, file))

    def video(self, entry: Any, where: str) -> VideoItem:
        e = self.obj(entry, where)
        file = self.file(e, where)
        frames: dict[int, tuple[GroundTruth, ...]] = {}
        for j, fr in enumerate(self.list(e, "frames", f"{where}.")):
            fw = f"{where}.frames[{j}]"
            fr = self.obj(fr, fw)
            idx = fr.get("index")
            if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
                raise self.fail(f"{fw}.index", f"must be an integer >= 0, got {idx!r}")
            if idx in frames:
                raise self.fail(f"{fw}.index", f"frame {idx} is listed twice")
            frames[idx] = self.boxes(fr, fw, file)
        w = self.size(e, "width", where, required=False)
        h = self.size(e, "height", where, required=False)
        return VideoItem(file, dict(sorted(frames.items())), w, h)


def _finite(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _kind(v: Any) -> str:
    """What a bad value is, without the value (it may be a detection's coordinate)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "a non-finite number"
    return "null" if v is None else f"a {type(v).__name__}"


# -- conversion -----------------------------------------------------------------------


def boxes_to_arrays(
    boxes: Sequence[GroundTruth], label: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (optionally of one class) as ``xyxy (N,4) float64`` and ``ignore (N,) bool``."""
    sel = [b for b in boxes if label is None or b.label == label]
    xyxy = np.array([b.xyxy for b in sel], np.float64).reshape(-1, 4)
    return xyxy, np.array([b.ignore for b in sel], bool)


def boxes_to_regions(boxes: Sequence[GroundTruth]) -> Regions:
    """Non-ignored boxes as :class:`Regions` (score 1 where absent): a loaded detection
    file becomes detections again."""
    sel = [b for b in boxes if not b.ignore]
    if not sel:
        return Regions.empty()
    return Regions(
        np.array([b.xyxy for b in sel], np.float32),
        np.array([1.0 if b.score is None else b.score for b in sel], np.float32),
        np.array([class_id(b.label) for b in sel], np.int16),
    )


def regions_to_boxes(regions: Regions, *, with_ids: bool = False) -> list[dict[str, Any]]:
    """Detections as JSON boxes ``{label, x1, y1, x2, y2, score}`` (+ ``id`` of tracked ones)."""
    out = []
    for i in range(len(regions)):
        x1, y1, x2, y2 = (round(float(v), 2) for v in regions.xyxy[i])
        box: dict[str, Any] = {
            "label": CLASSES[int(regions.labels[i])],
            "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "score": round(float(regions.scores[i]), 4),
        }  # fmt: skip
        tid = int(regions.track_ids[i])
        if with_ids and tid >= 0:
            box["id"] = tid
        out.append(box)
    return out


def regions_to_dataset_entry(
    file: str | os.PathLike[str], width: int, height: int, regions: Regions
) -> dict[str, Any]:
    """One image entry of a detection file. ``file`` may be absolute:
    :func:`write_detections_json` makes it relative to the JSON's folder."""
    return {
        "file": os.fspath(file),
        "width": int(width),
        "height": int(height),
        "boxes": regions_to_boxes(regions),
    }


def video_to_dataset_entry(
    file: str | os.PathLike[str],
    frames: Iterable[tuple[int, Regions]],
    width: int | None = None,
    height: int | None = None,
) -> dict[str, Any]:
    """One video entry of a detection file: ``(frame index, regions)`` pairs, track ids
    written as ``id``."""
    entry: dict[str, Any] = {"file": os.fspath(file)}
    if width is not None and height is not None:
        entry["width"], entry["height"] = int(width), int(height)
    entry["frames"] = [
        {"index": int(i), "boxes": regions_to_boxes(r, with_ids=True)} for i, r in frames
    ]
    return entry


def _relative(file: str, root: Path) -> str:
    p = Path(file)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return Path(os.path.relpath(p, root)).as_posix()
    except ValueError:  # another drive on Windows: keep it absolute
        return p.as_posix()


def write_detections_json(
    path: str | os.PathLike[str],
    images: Iterable[Mapping[str, Any]] = (),
    videos: Iterable[Mapping[str, Any]] = (),
) -> Path:
    """Write entries from :func:`regions_to_dataset_entry` / :func:`video_to_dataset_entry`.

    File paths become relative to the JSON's folder (as in the dataset format),
    so :func:`load_dataset` reads the file back. Written atomically: a crash
    never leaves half a JSON behind.
    """
    out = Path(path).expanduser().absolute()
    root = out.parent
    doc: dict[str, Any] = {}
    ims = [{**e, "file": _relative(str(e["file"]), root)} for e in images]
    vids = [{**e, "file": _relative(str(e["file"]), root)} for e in videos]
    if ims or not vids:
        doc["images"] = ims
    if vids:
        doc["videos"] = vids
    write_text_atomic(out, json.dumps(doc, indent=1) + "\n", "detections")
    return out
