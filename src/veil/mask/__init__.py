"""Mask stage: expand regions, choose a footprint, replace the pixels.

:func:`apply_masks` never mutates its input; it returns the masked frame and
the boolean coverage of the pixels it replaced (what ``veil eval`` scores).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..regions import CLASSES, Regions
from ..settings import MaskSettings
from . import methods
from .shapes import box_slices, footprint

__all__ = ["apply_masks", "expand_for_mask", "methods"]


def expand_for_mask(regions: Regions, settings: MaskSettings) -> Regions:
    """Grow each region by its class margin (faces need hair, ears and chin covered)."""
    if not len(regions):
        return regions
    margins = np.array([settings.margin(CLASSES[int(lb)]) for lb in regions.labels], np.float32)
    return regions.expand(margins)


def _method(settings: MaskSettings):
    if settings.method == "blur":
        return partial(methods.blur, strength=settings.strength)
    if settings.method == "pixelate":
        return partial(methods.pixelate, strength=settings.strength)
    if settings.method == "fill":
        return partial(methods.fill, color=settings.color)
    return partial(methods.texture, color=settings.color)


def apply_masks(
    rgb: np.ndarray, regions: Regions, settings: MaskSettings, inplace: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mask ``regions`` (raw detector boxes) in a copy of ``rgb`` (or in ``rgb`` itself
    when ``inplace``: the video path owns its decoded frames and skips a copy).

    Returns ``(masked, covered)`` where ``covered`` is an (H, W) bool array of
    the pixels replaced. Regions are expanded by their class margin here, so
    every caller (image, video, eval) hides the same area.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    out = rgb if inplace else rgb.copy()
    covered = np.zeros((height, width), dtype=bool)
    grown = expand_for_mask(regions, settings)
    method = _method(settings)
    for i in range(len(grown)):
        bounds = box_slices(grown.xyxy[i], width, height)
        if bounds is None:
            continue
        x1, y1, x2, y2 = bounds
        name = CLASSES[int(grown.labels[i])]
        # The footprint is laid on the whole (unclipped) box, then cut to the image,
        # so an ellipse at the border keeps its shape.
        fx1, fy1 = int(np.floor(grown.xyxy[i, 0])), int(np.floor(grown.xyxy[i, 1]))
        fx2, fy2 = int(np.ceil(grown.xyxy[i, 2])), int(np.ceil(grown.xyxy[i, 3]))
        full = footprint(settings.shape(name), fy2 - fy1, fx2 - fx1)
        foot = full[y1 - fy1 : y2 - fy1, x1 - fx1 : x2 - fx1]
        crop = out[y1:y2, x1:x2]
        tid = int(grown.track_ids[i])
        replaced = method(crop, seed=tid if tid >= 0 else 0)
        np.copyto(crop, replaced, where=foot[..., None])  # ~4x faster than crop[foot] = ...
        covered[y1:y2, x1:x2] |= foot
    return out, covered
