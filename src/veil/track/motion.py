"""Camera motion between consecutive frames, by phase correlation of thumbnails.

A pan or a whip moves every box in the frame at once. Tracking in frame
coordinates then has to follow fast, non-linear motion: interpolation across
a detector miss lands beside the face, and the scene-cut test sees a changed
picture. Tracking in *scene* coordinates (frame coordinates minus the camera's
accumulated shift) leaves only the objects' own, slow motion.

The estimate is a global translation (zoom and rotation are left to the
tracker's motion margin). It comes from the peak of the normalised
cross-power spectrum of two small grayscale thumbnails: about a millisecond a
frame, no extra dependency. A weak peak (a cut, a flat or changing picture)
gives no shift rather than a wrong one.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def thumbnail(rgb: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """Float32 thumbnail about ``width`` wide (at least), and the frame/thumbnail scale.

    The green channel (most of luma) sampled on a strided grid, then 2x2 block
    means: a view and one small copy, cheap enough for every frame.
    """
    h, w = rgb.shape[:2]
    step = max(1, w // (2 * width))
    g = rgb[::step, ::step, 1] if rgb.ndim == 3 else rgb[::step, ::step]
    th, tw = g.shape[0] // 2, g.shape[1] // 2
    g = g[: 2 * th, : 2 * tw].astype(np.float32)
    blocks = g[0::2, 0::2] + g[1::2, 0::2] + g[0::2, 1::2] + g[1::2, 1::2]
    return blocks * np.float32(0.25), float(2 * step)


def _window(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


def _subpixel(left: float, mid: float, right: float) -> float:
    """Peak offset of a parabola through three samples (in -0.5..0.5)."""
    den = left - 2 * mid + right
    return 0.0 if den >= 0 else float(np.clip(0.5 * (left - right) / den, -0.5, 0.5))


class CameraMotion:
    """Call :meth:`estimate` once per frame, in order; returns the content's shift (dx, dy).

    A point of a static scene at (x, y) in the previous frame is at
    (x + dx, y + dy) in this one. The first frame, and any frame whose peak is
    below ``min_peak``, gives (0, 0). ``width`` is the thumbnail width.
    """

    def __init__(self, width: int = 160, min_peak: float = 0.12) -> None:
        if not isinstance(width, int) or isinstance(width, bool) or not 32 <= width <= 1024:
            raise ConfigError(f"width must be a whole number from 32 to 1024, got {width!r}")
        if not isinstance(min_peak, (int, float)) or not 0.0 < min_peak < 1.0:
            raise ConfigError(f"min_peak must be in (0, 1), got {min_peak!r}")
        self.width = width
        self.min_peak = float(min_peak)
        self._prev: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self.last_peak = 0.0

    def reset(self) -> None:
        self._prev = None
        self.last_peak = 0.0

    def estimate(self, rgb: np.ndarray) -> tuple[float, float]:
        thumb, scale = thumbnail(rgb, self.width)
        if self._window is None or self._window.shape != thumb.shape:
            self._window = _window(thumb.shape)
            self._prev = None
        spec = np.fft.rfft2((thumb - thumb.mean()) * self._window)
        prev, self._prev = self._prev, spec
        if prev is None:
            self.last_peak = 0.0
            return 0.0, 0.0
        cross = spec * np.conj(prev)
        cross /= np.abs(cross) + 1e-9
        corr = np.fft.irfft2(cross, s=thumb.shape)
        iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
        peak = float(corr[iy, ix])
        self.last_peak = peak
        if peak < self.min_peak:
            return 0.0, 0.0
        h, w = corr.shape
        fy = _subpixel(corr[iy - 1, ix], peak, corr[(iy + 1) % h, ix])
        fx = _subpixel(corr[iy, ix - 1], peak, corr[iy, (ix + 1) % w])
        dy = iy + fy if iy <= h // 2 else iy + fy - h  # wrap to signed shifts
        dx = ix + fx if ix <= w // 2 else ix + fx - w
        return float(dx * scale), float(dy * scale)
