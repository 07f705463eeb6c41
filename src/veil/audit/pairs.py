"""``veil audit --original DIR --masked DIR``: audit masks a user already rendered.

There are no annotations, so veil's detections on the originals stand in for
them: each detected face or plate is a gallery entry, and the same region of
the masked file (same relative path under ``--masked``) is the probe. What the
detector missed is outside this audit; ``veil eval`` measures that.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from ..errors import InputError
from ..evaluate.dataset import regions_to_dataset_entry, write_detections_json
from ..media import image as image_io
from ..pipeline import media_kind
from ..settings import Settings

log = logging.getLogger(__name__)

__all__ = ["pairs_dataset"]


def _images_under(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and media_kind(p) == "image")


def pairs_dataset(
    original: Path, masked: Path, engine, settings: Settings, workdir: Path
) -> tuple[Path, list[Path]]:
    """Detect on every original image, write a dataset JSON of the detections into
    ``workdir`` (a private temporary folder) and return it with the masked files, in order."""
    originals = _images_under(original)
    if not originals:
        raise InputError(f"{original}: no image to audit (videos are not audited yet)")
    entries, masked_files = [], []
    for src in originals:
        rel = src.relative_to(original) if original.is_dir() else Path(src.name)
        dst = masked / rel if masked.is_dir() else masked
        if not dst.is_file():
            raise InputError(f"{dst}: masked counterpart of {src} not found")
        rgb = image_io.load_image(src, settings.limits).rgb
        found = engine.above_threshold(engine.detect(rgb))
        # absolute: the dataset file lives in ``workdir``, and a relative name would be
        # read against that folder, not the one it was given in
        entries.append(regions_to_dataset_entry(src.resolve(), rgb.shape[1], rgb.shape[0], found))
        masked_files.append(dst)
    path = write_detections_json(workdir / "detections.json", entries)
    log.debug("audit pairs: %d images", len(entries))
    return path, masked_files


def private_workdir() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder only this user can read (it holds where faces are)."""
    return tempfile.TemporaryDirectory(prefix="veil-audit-")
