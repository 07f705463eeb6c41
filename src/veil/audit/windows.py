"""Where an object's window and its mask rectangle lie, and what the attacker sees there.

Shared by the photo audit (:mod:`veil.audit.runner`) and the track audit
(:mod:`veil.audit.tracks`), below both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..mask.shapes import footprint
from ..regions import Regions

#: Window around an object, as a multiple of its box per side: room for the face
#: aligner's padding; a plate needs only a little context for the OCR to find it.
WINDOW = {"face": 1.0, "plate": 0.25}


def window_around(
    box: Sequence[float], width: int, height: int, grow: float = 1.0
) -> tuple[int, int, int, int]:
    """The image window around ``box``, grown by ``grow`` times its size per side."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    x1 = max(0, int(np.floor(box[0] - grow * bw)))
    y1 = max(0, int(np.floor(box[1] - grow * bh)))
    x2 = min(width, int(np.ceil(box[2] + grow * bw)))
    y2 = min(height, int(np.ceil(box[3] + grow * bh)))
    return x1, y1, x2, y2


def rect_in_window(
    xyxy: Sequence[float], win: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    """An image rectangle clipped to ``win``, in window coordinates (whole pixels, outward)."""
    x1, y1 = max(win[0], int(np.floor(xyxy[0]))), max(win[1], int(np.floor(xyxy[1])))
    x2, y2 = min(win[2], int(np.ceil(xyxy[2]))), min(win[3], int(np.ceil(xyxy[3])))
    return (x1 - win[0], y1 - win[1], x2 - win[0], y2 - win[1])


def grown_rect(
    box: Sequence[float], margin: float, win: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    """An annotated box's mask rectangle (grown by its margin) in window coordinates."""
    return rect_in_window(Regions(np.array([box], np.float32)).expand(margin).xyxy[0], win)


#: Grey that replaces a face's surroundings with ``blank_context``.
CONTEXT_GREY = 128


def blank_outside(
    window: np.ndarray, rect: Sequence[int] | None, shape: str = "rect"
) -> np.ndarray:
    """``window`` with everything outside the mask's footprint on ``rect`` (window
    coordinates; ``shape`` as the mask's: ``ellipse`` or ``rect``) set to grey.

    The gallery holds the *same photo* as the probe, so its background, hair and
    clothes, which no face mask covers, match themselves exactly, and a masked face
    could be found by its surroundings alone (even a solid fill). An attacker's
    gallery is another photo of the person, where none of that carries over;
    blanking both sides compares what the mask left of the face region only.
    """
    if rect is None:
        return window
    x1, y1, x2, y2 = rect
    out = np.full_like(window, CONTEXT_GREY)
    foot = footprint(shape, y2 - y1, x2 - x1)
    np.copyto(out[y1:y2, x1:x2], window[y1:y2, x1:x2], where=foot[..., None])
    return out
