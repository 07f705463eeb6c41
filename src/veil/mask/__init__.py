"""Mask stage: expand regions, choose a footprint, replace the pixels.

:func:`apply_masks` never mutates its input; it returns the masked frame and
the boolean coverage of the pixels it replaced (what ``veil eval`` scores).
:func:`draw` is the one place pixels are replaced: the streaming pass (via
:func:`apply_masks`) and the project pass (``veil mask --project``) both call
it, so what a reviewer approved is what gets rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from ..regions import CLASSES, Regions
from ..settings import METHODS, SHAPES, MaskSettings
from . import methods
from .shapes import box_slices, footprint

__all__ = ["Style", "apply_masks", "draw", "expand_for_mask", "methods", "styles_for"]


@dataclass(frozen=True)
class Style:
    """How one region is hidden: method, footprint shape, margin, colour and strength."""

    method: str
    shape: str
    margin: float
    color: tuple[int, int, int] = (0, 0, 0)
    strength: float = 1.0

    @classmethod
    def of_class(cls, settings: MaskSettings, target: str) -> Style:
        return cls(
            settings.method,
            settings.shape(target),
            settings.margin(target),
            settings.color,
            settings.strength,
        )


def styles_for(regions: Regions, settings: MaskSettings) -> list[Style]:
    """Each region's style from its class, its margin scaled by the region's margin share
    (the streaming pass has no per-track overrides; the tracker sizes an unlikely face's
    margin down, ``Regions.margin_shares``)."""
    by_class = [Style.of_class(settings, name) for name in CLASSES]
    out = []
    for lb, share in zip(regions.labels.tolist(), regions.margin_shares.tolist(), strict=True):
        style = by_class[lb]
        out.append(style if share == 1.0 else replace(style, margin=style.margin * share))
    return out


def expand_for_mask(regions: Regions, settings: MaskSettings) -> Regions:
    """Grow each region by its margin (faces need hair, ears and chin covered): the
    margin of the style :func:`styles_for` draws it in."""
    if not len(regions):
        return regions
    return regions.expand(np.array([s.margin for s in styles_for(regions, settings)], np.float32))


def _method(style: Style):
    if style.method == "blur":
        return partial(methods.blur, strength=style.strength)
    if style.method == "pixelate":
        return partial(methods.pixelate, strength=style.strength)
    if style.method == "fill":
        return partial(methods.fill, color=style.color)
    return partial(methods.texture, color=style.color)


def _draw_order(xyxy: np.ndarray, styles: Sequence[Style], seeds: np.ndarray) -> np.ndarray:
    """A canonical order: where masks overlap, the pixels do not depend on how a pass
    happened to list its regions (tracker order, project order)."""
    method = np.array([METHODS.index(s.method) for s in styles])
    shape = np.array([SHAPES.index(s.shape) for s in styles])
    margin = np.array([s.margin for s in styles])
    keys = (margin, shape, method, xyxy[:, 3], xyxy[:, 2], xyxy[:, 1], xyxy[:, 0], seeds)
    return np.lexsort(keys)  # the last key sorts first


def draw(
    rgb: np.ndarray,
    xyxy: np.ndarray,
    styles: Sequence[Style],
    seeds: Sequence[int] | np.ndarray,
    inplace: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask raw boxes ``xyxy`` (N, 4), each grown by and drawn in its own style.

    ``seeds`` (one per box, constant over a track) fix the pattern of ``texture``.
    Returns ``(masked, covered)``; ``rgb`` is changed only when ``inplace``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got {rgb.shape} {rgb.dtype}")
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    seeds = np.asarray(seeds, np.int64).reshape(-1)
    if len(styles) != len(boxes) or len(seeds) != len(boxes):
        raise ValueError(
            f"draw needs one style and one seed per box: {len(boxes)} boxes, "
            f"{len(styles)} styles, {len(seeds)} seeds"
        )
    height, width = rgb.shape[:2]
    out = rgb if inplace else rgb.copy()
    covered = np.zeros((height, width), dtype=bool)
    if not len(boxes):
        return out, covered
    margins = np.array([s.margin for s in styles], np.float32)
    grown = Regions(boxes).expand(margins).xyxy
    for i in _draw_order(boxes, styles, seeds).tolist():
        bounds = box_slices(grown[i], width, height)
        if bounds is None:
            continue
        x1, y1, x2, y2 = bounds
        style = styles[i]
        # The footprint is laid on the whole (unclipped) box, then cut to the image,
        # so an ellipse at the border keeps its shape.
        fx1, fy1 = int(np.floor(grown[i, 0])), int(np.floor(grown[i, 1]))
        fx2, fy2 = int(np.ceil(grown[i, 2])), int(np.ceil(grown[i, 3]))
        window = (y1 - fy1, y2 - fy1, x1 - fx1, x2 - fx1)
        foot = footprint(style.shape, fy2 - fy1, fx2 - fx1, window)
        crop = out[y1:y2, x1:x2]
        replaced = _method(style)(crop, seed=int(seeds[i]))
        np.copyto(crop, replaced, where=foot[..., None])  # ~4x faster than crop[foot] = ...
        covered[y1:y2, x1:x2] |= foot
    return out, covered


def apply_masks(
    rgb: np.ndarray, regions: Regions, settings: MaskSettings, inplace: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mask ``regions`` (raw detector boxes) in a copy of ``rgb`` (or in ``rgb`` itself
    when ``inplace``: the video path owns its decoded frames and skips a copy).

    Returns ``(masked, covered)`` where ``covered`` is an (H, W) bool array of
    the pixels replaced. Regions are expanded by their class margin here, so
    every caller (image, video, eval) hides the same area. A region outside any
    track (id -1) draws with seed 0.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got {rgb.shape} {rgb.dtype}")
    seeds = np.maximum(regions.track_ids, 0)
    return draw(rgb, regions.xyxy, styles_for(regions, settings), seeds, inplace=inplace)
