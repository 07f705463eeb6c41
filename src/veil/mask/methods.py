"""Masking methods: each turns a crop into its masked replacement.

A method sees the crop of one (already expanded) region and returns pixels of
the same shape that carry too little of the original to undo. Strength scales
with the region: blur and pixelate keep a fixed number of cells *per region*,
so a 4K face is as hidden as a 40 px one (a fixed 20 px mosaic on a large face
is re-identifiable, see DESIGN.md). Parameters depend only on the region's size
and the track id, never on per-frame randomness that averaging could cancel.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image

#: Cells across the shorter side of a region at strength 1.0. Pixelate had 5: `veil audit`
#: re-identified those faces after a rescale+sharpen attack (rank-5 6% vs 1.25% chance,
#: 400 WIDER faces). Blur had 3: after a Wiener box deconvolution its probes stayed
#: measurably closer to their identity than chance (mean rank 0.45-0.47). At 2.5 cells,
#: cross-fitted on 746 WIDER and 205 held-out faces, both still kept a faint trace: up
#: to 4 rank-1 hits where 1 is expected, and pixelate 2.0x chance in short candidate
#: lists of the held-out faces. The trace shrank with the cell count (blur at 2.5, 2,
#: 1.5, 1 cells: mean rank 0.476, 0.480, 0.482, 0.486; chance 0.5), so both now keep 2
#: cells, a 2 x 3 grid on a face: 1.1-1.5x chance in short lists (README, "veil audit").
BLUR_CELLS = 2.0
PIXELATE_CELLS = 2.0


class MaskMethod(Protocol):
    def __call__(self, crop: np.ndarray, seed: int) -> np.ndarray: ...


def _cells(crop: np.ndarray, per_side: float) -> tuple[int, int]:
    h, w = crop.shape[:2]
    short = max(1, min(h, w))
    cell = max(1.0, short / max(1.0, per_side))
    return max(1, round(w / cell)), max(1, round(h / cell))


def pixelate(crop: np.ndarray, seed: int = 0, strength: float = 1.0) -> np.ndarray:
    """Mosaic with about ``2 / strength`` blocks across the region's shorter side."""
    h, w = crop.shape[:2]
    cw, ch = _cells(crop, PIXELATE_CELLS / strength)
    small = Image.fromarray(crop).resize((cw, ch), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))


def blur(crop: np.ndarray, seed: int = 0, strength: float = 1.0) -> np.ndarray:
    """A blur as wide as ~1/2 of the region: area-average to a few cells, then smooth back up.

    Equivalent in information to a box blur of about 0.8x the region height
    (which a face-recognition model re-identified at chance level), at a cost
    independent of the kernel size.
    """
    h, w = crop.shape[:2]
    cw, ch = _cells(crop, BLUR_CELLS / strength)
    small = Image.fromarray(crop).resize((cw, ch), Image.Resampling.BOX)
    # Bicubic from a few cells gives a smooth gradient with no block edges.
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))


def fill(crop: np.ndarray, seed: int = 0, color: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """A solid colour: nothing of the original survives."""
    out = np.empty_like(crop)
    out[...] = np.asarray(color, dtype=crop.dtype)
    return out


def texture(crop: np.ndarray, seed: int = 0, color: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """A smooth noise pattern around ``color`` drawn from ``seed`` only.

    It carries nothing of the original pixels, and the same seed (one per
    track) gives the same pattern in every frame.
    """
    h, w = crop.shape[:2]
    rng = np.random.default_rng(seed & 0xFFFFFFFF)
    coarse = rng.integers(0, 256, size=(max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    noise = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
    base = np.asarray(color, dtype=np.float32)
    grey = np.float32(96) if base.max() < 32 else base  # keep the pattern visible on black
    out = grey * 0.5 + noise.astype(np.float32) * 0.5
    return out.clip(0, 255).astype(np.uint8)
