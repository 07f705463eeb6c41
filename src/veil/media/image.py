"""Still images: decode upright, save in the same format without identifying metadata.

Pillow pitfalls handled here (measured, see DESIGN.md): saving without
``exif=`` drops EXIF/GPS/XMP for JPEG/PNG/WebP, so ``im.info`` is never passed
through; pillow-heif writes EXIF/XMP back unless told ``exif=None, xmp=None``.
Only an ICC colour profile is carried over.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError, LimitError, OutputError
from ..settings import Limits

log = logging.getLogger(__name__)


@functools.cache
def heif_support() -> bool:
    """Register pillow-heif's HEIC/HEIF opener with Pillow, once; False without it.

    Done on the first image read or written, not on import: a run of videos needs
    no HEIF, and loading it took 0.02-0.04 s of every start.
    """
    try:  # HEIC/HEIF support is a dependency, but stay importable without it
        import pillow_heif
    except ImportError:  # pragma: no cover - exercised only on broken installs
        return False
    pillow_heif.register_heif_opener()
    return True


#: extension -> Pillow format name used to save it
IMAGE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".heic": "HEIF",
    ".heif": "HEIF",
}
IMAGE_EXTENSIONS = frozenset(IMAGE_FORMATS)


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An upright RGB frame plus what is needed to save it back in kind."""

    rgb: np.ndarray
    format: str
    mode: str  # output mode: "RGB", "RGBA", "L" or "LA"
    alpha: np.ndarray | None
    icc_profile: bytes | None


def _open_checked(path: Path, limits: Limits) -> Image.Image:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(f"{path}: empty file")
    if size > limits.max_file_bytes:
        raise LimitError(
            f"{path}: file is {size} bytes, above the limit of {limits.max_file_bytes}"
        )
    heif_support()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LimitError(f"{path}: image declares an absurd size (decompression bomb)") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a supported image (unrecognised or corrupt)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # e.g. "Truncated IHDR chunk"
        raise InputError(f"{path}: cannot open image ({exc})") from None
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise InputError(f"{path}: image has no pixels")
    if w * h > limits.max_pixels:
        im.close()
        raise LimitError(
            f"{path}: image is {w}x{h} = {w * h} pixels, above the limit of {limits.max_pixels}"
        )
    if getattr(im, "n_frames", 1) > 1:
        im.close()
        raise InputError(
            f"{path}: animated or multi-page images are not supported; convert the frames first"
        )
    return im


def load_image(path: str | Path, limits: Limits | None = None) -> LoadedImage:
    """Decode ``path`` fully, apply EXIF orientation and convert to 8-bit RGB.

    Raises :class:`InputError` for anything unreadable, :class:`LimitError` for
    images above ``limits`` (checked from the header, before decoding).
    """
    path = Path(path)
    limits = limits or Limits()
    im = _open_checked(path, limits)
    fmt = im.format or IMAGE_FORMATS.get(path.suffix.lower(), "PNG")
    try:
        with im:
            im.load()
            icc = im.info.get("icc_profile")
            upright = ImageOps.exif_transpose(im)
            mode, alpha, rgb = _to_rgb(upright)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: corrupt or truncated image ({exc})") from None
    return LoadedImage(rgb=rgb, format=fmt, mode=mode, alpha=alpha, icc_profile=icc)


def _to_rgb(im: Image.Image) -> tuple[str, np.ndarray | None, np.ndarray]:
    """Normalise any Pillow mode to 8-bit RGB, remembering grey and alpha for saving."""
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit/float grey: scale to 8 bits (output is 8-bit grey).
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        grey = (arr / top * 255.0).clip(0, 255).astype(np.uint8)
        return "L", None, np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode in ("L", "1"):
        grey = np.asarray(im.convert("L"))
        return "L", None, np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode == "LA":
        la = np.asarray(im)
        return "LA", la[:, :, 1].copy(), np.repeat(la[:, :, :1], 3, axis=2)
    if im.mode in ("RGBA", "RGBa", "PA"):
        rgba = np.asarray(im.convert("RGBA"))
        return "RGBA", rgba[:, :, 3].copy(), np.ascontiguousarray(rgba[:, :, :3])
    return "RGB", None, np.asarray(im.convert("RGB")).copy()


def save_image(
    rgb: np.ndarray, loaded: LoadedImage, dst: str | Path, fmt: str, jpeg_quality: int = 95
) -> None:
    """Write ``rgb`` to ``dst`` in ``fmt`` with no EXIF/GPS/XMP/IPTC, keeping mode and ICC."""
    dst = Path(dst)
    if fmt == "HEIF":
        heif_support()
    im = Image.fromarray(rgb, "RGB")
    if loaded.mode == "L":
        im = im.convert("L")
    elif loaded.mode in ("LA", "RGBA") and loaded.alpha is not None:
        base = im.convert("L") if loaded.mode == "LA" else im
        im = Image.merge(loaded.mode, (*base.split(), Image.fromarray(loaded.alpha, "L")))
    if fmt == "JPEG" and im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    if fmt == "BMP" and im.mode == "LA":
        im = im.convert("L")
    kwargs: dict[str, object] = {}
    if loaded.icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF", "HEIF"):
        kwargs["icc_profile"] = loaded.icc_profile
    if fmt == "JPEG":
        kwargs.update(quality=jpeg_quality, optimize=True)
    elif fmt == "WEBP":
        kwargs.update(quality=jpeg_quality, method=4)
    elif fmt == "TIFF":
        kwargs.update(compression="tiff_lzw")
    elif fmt == "HEIF":
        kwargs.update(quality=jpeg_quality, exif=None, xmp=None)
    try:
        with open(dst, "wb") as fh:
            im.save(fh, format=fmt, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise OutputError(f"{dst}: cannot write image ({exc})") from None
    log.debug("wrote %s image", fmt)
