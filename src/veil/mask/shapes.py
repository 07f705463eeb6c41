"""Region footprints: which pixels of a box a mask covers."""

from __future__ import annotations

import numpy as np


def footprint(shape: str, height: int, width: int) -> np.ndarray:
    """Boolean (height, width) array: the ellipse inscribed in the box, or the full box.

    The ellipse test uses pixel centres, and the middle row/column is always
    covered so that tiny boxes never vanish.
    """
    if shape == "rect" or height <= 2 or width <= 2:
        return np.ones((height, width), dtype=bool)
    ys = (np.arange(height, dtype=np.float32) + 0.5 - height / 2) / (height / 2)
    xs = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) / (width / 2)
    inside = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
    inside[height // 2, :] |= True
    inside[:, width // 2] |= True
    return inside


def box_slices(xyxy: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer pixel bounds (x1, y1, x2, y2) covering a float box, clipped; None if empty.

    Rounds outwards: a mask covers every pixel the box touches.
    """
    x1 = max(0, int(np.floor(xyxy[0])))
    y1 = max(0, int(np.floor(xyxy[1])))
    x2 = min(width, int(np.ceil(xyxy[2])))
    y2 = min(height, int(np.ceil(xyxy[3])))
    if x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2
