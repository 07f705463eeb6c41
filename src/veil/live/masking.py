"""The live writer's masking: the pixels of :func:`veil.mask.draw`, in less time.

A live stream is masked frame after frame, often with a hundred small regions a frame
(a crowd at 1280x720). :func:`veil.mask.draw` handles each region in numpy (a crop, a
PIL round trip, a where-copy through its footprint) and fills a coverage map the live
path never reads. Here the frame is one PIL image and each region is resized and
pasted back through its footprint in C: the same pixels, in about 0.6 of the time
(docs/live.md). Blur and pixelate take this path; fill and texture go through ``draw``.
tests/test_live_mask.py checks that both give the same frame.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from ..mask import _draw_order, apply_masks, methods, styles_for
from ..mask.shapes import footprint
from ..regions import Regions
from ..settings import MaskSettings

_UP = {"blur": Image.Resampling.BICUBIC, "pixelate": Image.Resampling.NEAREST}
_CELLS = {"blur": methods.BLUR_CELLS, "pixelate": methods.PIXELATE_CELLS}


@lru_cache(maxsize=1024)
def _footprint_image(shape: str, height: int, width: int) -> Image.Image:
    """The footprint as a paste mask (255 inside); boxes repeat their sizes, so cached."""
    return Image.fromarray(footprint(shape, height, width).astype(np.uint8) * 255, "L")


def _cells(width: int, height: int, per_side: float) -> tuple[int, int]:
    """:func:`veil.mask.methods._cells` for a crop of this size."""
    cell = max(1.0, max(1, min(height, width)) / max(1.0, per_side))
    return max(1, round(width / cell)), max(1, round(height / cell))


def mask_frame(rgb: np.ndarray, regions: Regions, settings: MaskSettings) -> np.ndarray:
    """``rgb`` with ``regions`` masked as :func:`veil.mask.apply_masks` masks them.

    ``rgb`` may be changed (it is the writer's own frame); use the returned array.
    """
    if not len(regions):
        return rgb
    if settings.method not in _UP:
        return apply_masks(rgb, regions, settings, inplace=True)[0]
    styles = styles_for(regions, settings)
    boxes = np.asarray(regions.xyxy, np.float32).reshape(-1, 4)
    seeds = np.maximum(regions.track_ids, 0).astype(np.int64)
    margins = np.array([s.margin for s in styles], np.float32)
    grown = Regions(boxes).expand(margins).xyxy
    lo, hi = np.floor(grown).astype(np.int64), np.ceil(grown).astype(np.int64)
    height, width = rgb.shape[:2]
    up = _UP[settings.method]
    image = Image.fromarray(rgb)
    for i in _draw_order(boxes, styles, seeds).tolist():
        fx1, fy1, fx2, fy2 = (int(v) for v in (lo[i, 0], lo[i, 1], hi[i, 2], hi[i, 3]))
        x1, y1, x2, y2 = max(0, fx1), max(0, fy1), min(width, fx2), min(height, fy2)
        if x2 <= x1 or y2 <= y1:
            continue
        style = styles[i]
        w, h = x2 - x1, y2 - y1
        cells = _cells(w, h, _CELLS[settings.method] / style.strength)
        crop = image.crop((x1, y1, x2, y2))
        hidden = crop.resize(cells, Image.Resampling.BOX).resize((w, h), up)
        if style.shape == "rect" or fy2 - fy1 <= 2 or fx2 - fx1 <= 2:
            image.paste(hidden, (x1, y1))
        else:
            # laid on the whole box, then cut to the picture (as draw does)
            foot = _footprint_image(style.shape, fy2 - fy1, fx2 - fx1)
            if (w, h) != foot.size:
                foot = foot.crop((x1 - fx1, y1 - fy1, x2 - fx1, y2 - fy1))
            image.paste(hidden, (x1, y1), foot)
    return np.asarray(image)
