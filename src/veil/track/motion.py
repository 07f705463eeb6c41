"""Camera motion between consecutive frames, by phase correlation of thumbnails.

A pan or a whip moves every box in the frame at once. Tracking in frame
coordinates then has to follow fast, non-linear motion: interpolation across
a detector miss lands beside the face, and the scene-cut test sees a changed
picture. Tracking in *scene* coordinates (frame coordinates minus the camera's
accumulated shift) leaves only the objects' own, slow motion.

The estimate is a zoom about the centre and a shift (rotation is left to the
tracker's motion margin). It comes from the peak of the normalised
cross-power spectrum of two small grayscale thumbnails: about a millisecond a
frame, no extra dependency. A weak peak (a cut, a flat or changing picture)
gives no shift rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ..regions import Regions


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


class Motion(NamedTuple):
    """The camera's motion between two frames: zoom about the centre, then a shift.

    A static point at ``p`` in the previous frame is at
    ``centre + zoom * (p - centre) + (dx, dy)`` in this one.
    """

    dx: float = 0.0
    dy: float = 0.0
    zoom: float = 1.0


STILL = Motion()


class CameraMotion:
    """Call :meth:`estimate` once per frame, in order; returns the camera's :class:`Motion`.

    The first frame, and any frame whose correlation peak is below
    ``min_peak``, gives :data:`STILL`. A zoom is looked for only when a
    plain shift correlates below ``zoom_below`` (a zoom blurs the peak): the
    quadrants' shifts propose one, kept only when the previous picture zoomed
    by it correlates clearly better. ``width`` is the thumbnail width.
    """

    def __init__(self, width: int = 160, min_peak: float = 0.12, zoom_below: float = 0.6) -> None:
        if not isinstance(width, int) or isinstance(width, bool) or not 32 <= width <= 1024:
            raise ConfigError(f"width must be a whole number from 32 to 1024, got {width!r}")
        if not isinstance(min_peak, (int, float)) or not 0.0 < min_peak < 1.0:
            raise ConfigError(f"min_peak must be in (0, 1), got {min_peak!r}")
        if not isinstance(zoom_below, (int, float)) or not 0.0 <= zoom_below <= 1.0:
            raise ConfigError(f"zoom_below must be in [0, 1], got {zoom_below!r}")
        self.width = width
        self.min_peak = float(min_peak)
        self.zoom_below = float(zoom_below)
        self._prev: np.ndarray | None = None  # previous thumbnail, mean removed
        self._prev_spec: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self._qwindow: np.ndarray | None = None
        self.last_peak = 0.0

    def reset(self) -> None:
        self._prev = self._prev_spec = None
        self.last_peak = 0.0

    def estimate(self, rgb: np.ndarray) -> Motion:
        thumb, scale = thumbnail(rgb, self.width)
        if self._window is None or self._window.shape != thumb.shape:
            self._window = _window(thumb.shape)
            self._prev = self._prev_spec = None
        thumb = thumb - thumb.mean()
        spec = np.fft.rfft2(thumb * self._window)
        prev, prev_spec = self._prev, self._prev_spec
        self._prev, self._prev_spec = thumb, spec
        if prev is None or prev_spec is None:
            self.last_peak = 0.0
            return STILL
        peak, dx, dy = self._correlate(spec, prev_spec)
        zoom = 1.0
        if peak < self.zoom_below:
            proposal = self._quadrant_zoom(thumb, prev)
            if abs(proposal - 1.0) > 0.004:
                z_peak, z_dx, z_dy = self._correlate(spec, self._zoomed(prev, proposal))
                if z_peak >= 1.1 * peak:
                    peak, dx, dy, zoom = z_peak, z_dx, z_dy, proposal
        self.last_peak = peak
        if peak < self.min_peak:
            return STILL
        return Motion(dx * scale, dy * scale, zoom)

    def _quadrant_zoom(self, thumb: np.ndarray, prev: np.ndarray) -> float:
        """A zoom proposal from the shifts of the four quadrants (their divergence).

        Under a zoom ``z`` a quadrant centred ``q`` from the picture's centre
        moves by ``(z - 1) * q`` plus the common shift; a least-squares fit over
        the quadrants that correlate gives ``z`` (1.0 when fewer than three do).
        """
        h, w = thumb.shape
        qh, qw = h // 2, w // 2
        if self._qwindow is None or self._qwindow.shape != (qh, qw):
            self._qwindow = _window((qh, qw))
        rows: list[list[float]] = []
        rhs: list[float] = []
        for y0 in (0, h - qh):
            for x0 in (0, w - qw):
                a = np.fft.rfft2(thumb[y0 : y0 + qh, x0 : x0 + qw] * self._qwindow)
                b = np.fft.rfft2(prev[y0 : y0 + qh, x0 : x0 + qw] * self._qwindow)
                peak, dx, dy = _phase_correlate(a, b, (qh, qw))
                if peak < self.min_peak:
                    continue
                qx, qy = x0 + (qw - 1) / 2 - (w - 1) / 2, y0 + (qh - 1) / 2 - (h - 1) / 2
                rows += [[qx, 1.0, 0.0], [qy, 0.0, 1.0]]
                rhs += [dx, dy]
        if len(rhs) < 6:
            return 1.0
        k = float(np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0][0])
        return float(np.clip(1.0 + k, 0.7, 1.4))

    def _zoomed(self, prev: np.ndarray, zoom: float) -> np.ndarray:
        """Spectrum of the previous thumbnail enlarged by ``zoom`` about its centre."""
        return np.fft.rfft2(zoom_about_centre(prev, zoom) * self._window)

    def _correlate(self, spec: np.ndarray, prev_spec: np.ndarray) -> tuple[float, float, float]:
        assert self._window is not None
        return _phase_correlate(spec, prev_spec, self._window.shape)


def zoom_about_centre(img: np.ndarray, zoom: float, mode: str = "constant") -> np.ndarray:
    """A 2-D picture enlarged by ``zoom`` about its centre (bilinear, same shape).

    Outside the picture, ``constant`` gives 0 and ``nearest`` the edge pixel: what
    ``scipy.ndimage.affine_transform`` gives at order 1, done here because the scale
    is the same on both axes (two 1-D interpolations), and scipy.ndimage takes 0.1-0.15 s
    to import on every clip.
    """
    if mode not in ("constant", "nearest"):
        raise ValueError(f"mode must be 'constant' or 'nearest', got {mode!r}")
    src = np.asarray(img)
    (y0, y1, fy, in_y), (x0, x1, fx, in_x) = (_zoom_axis(n, zoom) for n in src.shape)
    a = src.astype(np.float64)
    rows = a[y0] * (1 - fy)[:, None] + a[y1] * fy[:, None]
    out = rows[:, x0] * (1 - fx) + rows[:, x1] * fx
    if mode == "constant":
        out = np.where(in_y[:, None] & in_x[None, :], out, 0.0)
    return out.astype(src.dtype)


def _zoom_axis(n: int, zoom: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each output index along an axis of ``n``: the two source indices, the weight
    of the second, and whether the source point lies within the picture."""
    c = (n - 1) / 2
    src = c + (np.arange(n) - c) / zoom
    inside = (src >= 0) & (src <= n - 1)
    src = np.clip(src, 0, n - 1)
    lo = np.minimum(np.floor(src).astype(np.int64), max(n - 2, 0))
    return lo, np.minimum(lo + 1, n - 1), src - lo, inside


def _phase_correlate(
    spec: np.ndarray, prev_spec: np.ndarray, shape: tuple[int, ...]
) -> tuple[float, float, float]:
    """Peak of the normalised cross-power spectrum and its (sub-pixel) shift."""
    cross = spec * np.conj(prev_spec)
    cross /= np.abs(cross) + 1e-9
    h, w = shape
    corr = np.fft.irfft2(cross, s=(h, w))
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    peak = float(corr[iy, ix])
    fy = _subpixel(corr[iy - 1, ix], peak, corr[(iy + 1) % h, ix])
    fx = _subpixel(corr[iy, ix - 1], peak, corr[iy, (ix + 1) % w])
    dy = iy + fy if iy <= h // 2 else iy + fy - h  # wrap to signed shifts
    dx = ix + fx if ix <= w // 2 else ix + fx - w
    return peak, float(dx), float(dy)


@dataclass(frozen=True)
class SceneView:
    """Where the scene is in one frame: ``frame = zoom * scene + (tx, ty)``.

    Composed frame after frame from the camera's measured motion, so a static
    object keeps its scene coordinates through pans, whips and zooms. ``motion``
    is the last step, used to grow boxes by what the camera did on this frame.
    """

    zoom: float = 1.0
    tx: float = 0.0
    ty: float = 0.0
    motion: Motion = STILL  # the last step
    centre: tuple[float, float] = (0.0, 0.0)

    def moved(self, m: Motion, width: int, height: int) -> SceneView:
        cx, cy = (width - 1) / 2, (height - 1) / 2
        z = m.zoom
        return SceneView(
            self.zoom * z,
            z * self.tx + (1 - z) * cx + m.dx,
            z * self.ty + (1 - z) * cy + m.dy,
            m,
            (cx, cy),
        )

    def to_scene(self, regions: Regions) -> Regions:
        """Frame-pixel regions (detections) in scene coordinates."""
        k = 1.0 / self.zoom
        return regions.scale(k, k, -self.tx * k, -self.ty * k)

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Scene-coordinate boxes (N, 4) in this frame's pixels."""
        return xyxy * self.zoom + np.array([self.tx, self.ty, self.tx, self.ty], np.float32)

    def step(self, centres: np.ndarray) -> np.ndarray:
        """How far the camera moved points at ``centres`` (N, 2) on this frame, per axis."""
        dx, dy, z = self.motion
        c = np.asarray(self.centre)
        before = c + (centres - c - np.array([dx, dy])) / z
        return np.abs(centres - before)
