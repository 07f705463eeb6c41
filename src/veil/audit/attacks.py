"""Attacks an adversary can run on a masked region, to try to undo the mask.

Each attack takes the masked window around one face or plate and the mask's
rectangle inside it (the attacker sees where the mask is), and returns a new
window. Parameters scale with the mask's short side, as veil's own strength
does, so one grid fits a 40 px face and a 4K one. Everything here is numpy
and Pillow: the attacks are tested without the audit extra.

A variant grid per family (several PSFs, several cell counts) is tried and
the best variant is kept by the runner: an attack that fails with one guess
of the blur may succeed with another.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageFilter

if TYPE_CHECKING:
    from .setups import Setup

__all__ = [
    "attacks_for",
    "Attack",
    "average_aligned",
    "box_psf",
    "default_attacks",
    "gaussian_psf",
    "per_family",
    "smooth_mosaic",
    "smooth_then_deconvolve",
    "upscale_sharpen",
    "wiener_deconvolve",
]

Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class Attack:
    """One attack variant: ``family`` groups variants whose best is kept (``none`` is alone)."""

    family: str
    name: str
    run: Callable[[np.ndarray, Rect], np.ndarray]

    def __call__(self, window: np.ndarray, rect: Rect) -> np.ndarray:
        """Attack ``rect`` (x1, y1, x2, y2 in window pixels) of an (H, W, 3) uint8 window."""
        x1, y1, x2, y2 = rect
        if x2 <= x1 or y2 <= y1:
            return window
        out = window.copy()
        out[y1:y2, x1:x2] = self.run(window[y1:y2, x1:x2], rect)
        return out


def gaussian_psf(sigma: float) -> np.ndarray:
    """A normalised 2-D Gaussian kernel, 6 sigma wide (odd size)."""
    sigma = max(float(sigma), 0.3)
    r = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def box_psf(width: float) -> np.ndarray:
    """A normalised square box kernel: what area averaging over cells of ``width`` px does."""
    n = max(1, int(round(width)))
    return np.full((n, n), 1.0 / (n * n))


def wiener_deconvolve(crop: np.ndarray, psf: np.ndarray, nsr: float = 1e-2) -> np.ndarray:
    """Wiener deconvolution of an (H, W, 3) uint8 crop by ``psf``, per channel.

    The crop is padded by reflection so the circular FFT does not wrap one
    edge into the other. ``nsr`` (noise-to-signal) keeps 8-bit rounding from
    exploding at the PSF's spectral zeros.
    """
    ph, pw = psf.shape
    pad = ((ph, ph), (pw, pw), (0, 0))
    img = np.pad(
        crop.astype(np.float64),
        pad,
        mode="reflect" if min(crop.shape[:2]) > max(ph, pw) else "edge",
    )
    h, w = img.shape[:2]
    kernel = np.zeros((h, w))
    kernel[:ph, :pw] = psf
    kernel = np.roll(kernel, (-(ph // 2), -(pw // 2)), axis=(0, 1))
    spectrum = np.fft.rfft2(kernel)
    gain = np.conj(spectrum) / (np.abs(spectrum) ** 2 + nsr)
    out = np.fft.irfft2(np.fft.rfft2(img, axes=(0, 1)) * gain[..., None], s=(h, w), axes=(0, 1))
    out = out[ph : ph + crop.shape[0], pw : pw + crop.shape[1]]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def upscale_sharpen(crop: np.ndarray, cells: float, amount: float = 1.5) -> np.ndarray:
    """Pixelation inversion: average to ``cells`` across the short side, bicubic back up,
    then an unsharp mask as wide as half a cell.

    On a mosaic whose grid matches, the first step recovers the block means
    exactly; bicubic then draws the smooth face a super-resolution model would
    start from.
    """
    h, w = crop.shape[:2]
    cell = max(1.0, min(h, w) / max(1.0, cells))
    small = Image.fromarray(crop).resize(
        (max(1, round(w / cell)), max(1, round(h / cell))), Image.Resampling.BOX
    )
    up = small.resize((w, h), Image.Resampling.BICUBIC)
    sharp = up.filter(
        ImageFilter.UnsharpMask(radius=max(1.0, cell / 2), percent=int(amount * 100), threshold=0)
    )
    return np.asarray(sharp)


def mosaic_cell(crop: np.ndarray) -> float | None:
    """The block width of a mosaic, read off the mask itself (the attacker sees it):
    the median width of the runs of identical columns in the middle rows. None if the
    crop is not blocky (a blur changes on almost every column, a fill on none).

    Runs, not the spacing of changes: veil's own pixelate has two or three blocks
    across a face, i.e. one or two changes, and an elliptical mask leaves a few
    columns of the original at the band's ends, which change on every column.
    """
    h, w = crop.shape[:2]
    band = crop[h // 3 : max(h // 3 + 1, 2 * h // 3)].astype(np.int16)
    same = np.abs(np.diff(band, axis=1)).sum(axis=(0, 2)) == 0  # column j == column j + 1
    runs, length = [], 0
    for flag in same.tolist() + [False]:
        if flag:
            length += 1
        elif length:
            runs.append(length + 1)  # a block of b columns has b - 1 equal neighbours
            length = 0
    if len(runs) < 2 or sum(runs) < 0.8 * w:  # one run is a flat crop, not blocks
        return None
    cell = float(np.median(runs))
    return cell if cell >= 2 else None


def smooth_mosaic(crop: np.ndarray) -> tuple[np.ndarray, float] | None:
    """A mosaic redrawn as the smooth image its blocks encode, and its block width; None
    if the crop is not blocky.

    The grid is read off the mask along both axes (:func:`mosaic_cell` on the crop and
    on its transpose); averaging to it recovers the block means, and bicubic up-scaling
    draws from them what veil's blur draws from the same cells.
    """
    across, down = mosaic_cell(crop), mosaic_cell(crop.transpose(1, 0, 2))
    if across is None or down is None:
        return None
    h, w = crop.shape[:2]
    small = Image.fromarray(crop).resize(
        (max(1, round(w / across)), max(1, round(h / down))), Image.Resampling.BOX
    )
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC)), min(across, down)


def smooth_then_deconvolve(crop: np.ndarray, rect: Rect) -> np.ndarray:
    """A chained attack: :func:`smooth_mosaic`, then a Wiener deconvolution as wide as a
    block, so whatever a deconvolution gets out of veil's blur it also gets out of a
    mosaic of the same cells. A crop that is not blocky is deconvolved as it is, with a
    box of 1/5 of the mask."""
    smooth = smooth_mosaic(crop)
    if smooth is None:
        return wiener_deconvolve(crop, box_psf(_short(rect) / 5))
    return wiener_deconvolve(smooth[0], box_psf(smooth[1]))


def _grid_cells(crop: np.ndarray, rect: Rect, fallback: float) -> float:
    cell = mosaic_cell(crop)
    return fallback if cell is None else _short(rect) / cell


def _short(rect: Rect) -> float:
    x1, y1, x2, y2 = rect
    return float(max(1, min(x2 - x1, y2 - y1)))


def default_attacks() -> list[Attack]:
    """``none``, a Wiener deconvolution grid and an up/down-scaling + sharpening grid.

    The PSFs cover a Gaussian blur (sigma 3.5% and 7% of the mask's short side,
    the weak blurs known to be reversible) and a box as wide as veil's blur and
    pixelate cells (1/3 and 1/5 of the short side); the scaling grid matches a
    mosaic of 5 cells and one of 8. The ``grid`` variants read the block size off
    a mosaic (:func:`mosaic_cell`), so a stronger pixelate cannot pass merely by
    leaving the fixed grid; ``smooth-grid-wiener`` chains pixelation inversion and
    deconvolution (:func:`smooth_then_deconvolve`).
    """
    attacks = [Attack("none", "none", lambda c, r: c)]
    for frac in (0.035, 0.07):
        attacks.append(
            Attack(
                "deconvolution",
                f"wiener-gauss-{frac:g}",
                lambda c, r, f=frac: wiener_deconvolve(c, gaussian_psf(f * _short(r))),
            )
        )
    for cells in (3, 5):
        attacks.append(
            Attack(
                "deconvolution",
                f"wiener-box-1/{cells}",
                lambda c, r, n=cells: wiener_deconvolve(c, box_psf(_short(r) / n)),
            )
        )
    attacks.append(
        Attack(
            "deconvolution",
            "wiener-box-grid",
            lambda c, r: wiener_deconvolve(c, box_psf(_short(r) / _grid_cells(c, r, 5))),
        )
    )
    attacks.append(Attack("deconvolution", "smooth-grid-wiener", smooth_then_deconvolve))
    for cells in (5, 8):
        attacks.append(
            Attack(
                "upscale-sharpen",
                f"rescale-{cells}-sharpen",
                lambda c, r, n=cells: upscale_sharpen(c, n),
            )
        )
    attacks.append(
        Attack(
            "upscale-sharpen",
            "rescale-grid-sharpen",
            lambda c, r: upscale_sharpen(c, _grid_cells(c, r, 5)),
        )
    )
    return attacks


def families(attacks: Sequence[Attack]) -> list[str]:
    """Attack families in first-seen order."""
    return list(dict.fromkeys(a.family for a in attacks))


def per_family(
    setups: Sequence[Any],
    attacks: Sequence[Attack],
    done: Container[tuple[str, str]],
    measure: Callable[[Any, Attack], Any],
) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    """Per setup and attack family, ``measure(setup, attack)`` of every variant that was
    run (``(setup.name, attack.name)`` in ``done``), keyed by variant name."""
    for s in setups:
        for fam in families(attacks):
            tried = {a.name: measure(s, a) for a in attacks
                     if a.family == fam and (s.name, a.name) in done}  # fmt: skip
            if tried:
                yield s, fam, tried


def average_aligned(chips: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of aligned probes of one track (video): per-frame noise cancels, the face stays.

    veil keeps a track's mask parameters constant, so averaging cannot cancel
    the mask itself; this attack checks that.
    """
    if not len(chips):
        raise ValueError("average_aligned needs at least one chip")
    stack = np.stack([np.asarray(c, np.float64) for c in chips])
    return np.clip(np.round(stack.mean(axis=0)), 0, 255).astype(np.uint8)


def attacks_for(setup: Setup, attacks: Sequence[Attack]) -> list[Attack]:
    """The attack variants run on a setup: the unmasked control needs no attack."""
    if setup.name == "unmasked":
        return [a for a in attacks if a.family == "none"]
    return list(attacks)
