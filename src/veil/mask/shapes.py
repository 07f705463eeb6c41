"""Region footprints: which pixels of a box a mask covers."""

from __future__ import annotations

import numpy as np


def footprint(
    shape: str, height: int, width: int, window: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Boolean (height, width) array: the ellipse inscribed in the box, or the full box.

    The ellipse test uses pixel centres, and the middle row/column is always
    covered so that tiny boxes never vanish. ``window`` (row0, row1, col0, col1)
    gives only that part, the same pixels as slicing the whole: a box far larger
    than the frame (a plug-in detector's) costs the frame's size, not its own.
    """
    r0, r1, c0, c1 = (0, height, 0, width) if window is None else window
    if shape == "rect" or height <= 2 or width <= 2:
        return np.ones((r1 - r0, c1 - c0), dtype=bool)
    ys = (np.arange(r0, r1, dtype=np.float32) + 0.5 - height / 2) / (height / 2)
    xs = (np.arange(c0, c1, dtype=np.float32) + 0.5 - width / 2) / (width / 2)
    inside = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
    if r0 <= height // 2 < r1:
        inside[height // 2 - r0, :] = True
    if c0 <= width // 2 < c1:
        inside[:, width // 2 - c0] = True
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
