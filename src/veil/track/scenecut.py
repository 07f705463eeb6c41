"""A cheap scene-cut detector on tiny grayscale thumbnails.

Tracking must restart at a cut, or gap filling would draw a face of the last
shot into the next one and, worse, join two people into one track. The test
is the mean absolute difference of consecutive 64x36 thumbnails (block
averages, so sensor noise cancels) that must also stand out from the recent
frames: a fast pan changes many pixels on every frame, a cut only on one.

A missed cut costs little (a few masks over nothing); a false cut costs the
gap filling across it, so the defaults lean towards missing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .motion import zoom_about_centre

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class SceneCutDetector:
    """Call :meth:`is_cut` once per frame, in order; ``True`` on a new scene's first frame."""

    def __init__(
        self,
        threshold: float = 0.12,
        ratio: float = 3.0,
        history: int = 8,
        min_scene_len: int = 8,
        size: tuple[int, int] = (64, 36),
    ) -> None:
        if not isinstance(threshold, (int, float)) or not 0.0 < threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {threshold!r}")
        if not isinstance(ratio, (int, float)) or not ratio >= 1.0:
            raise ConfigError(f"ratio must be >= 1, got {ratio!r}")
        for name, v in (("history", history), ("min_scene_len", min_scene_len)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {v!r}")
        if len(size) != 2 or not all(isinstance(s, int) and 4 <= s <= 512 for s in size):
            raise ConfigError(f"size must be (width, height) from 4 to 512, got {size!r}")
        self.threshold = float(threshold)
        self.ratio = float(ratio)
        self.min_scene_len = min_scene_len
        self.size = size
        self._recent: deque[float] = deque(maxlen=history)
        self._prev: np.ndarray | None = None
        self._since_cut = min_scene_len  # a cut may come on any frame after the first
        self.last_score = 0.0

    def reset(self) -> None:
        self._recent.clear()
        self._prev = None
        self._since_cut = self.min_scene_len
        self.last_score = 0.0

    def thumbnail(self, rgb: np.ndarray) -> np.ndarray:
        """Grayscale (h, w) float32 in 0..1: 2x2 block means of a sampled grid."""
        a = np.asarray(rgb)
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
            raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {a.shape}")
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError("image is empty")
        w, h = self.size
        ys = np.linspace(0, a.shape[0] - 1, 2 * h).round().astype(np.intp)
        xs = np.linspace(0, a.shape[1] - 1, 2 * w).round().astype(np.intp)
        s = a[ys[:, None], xs[None, :]].astype(np.float32)
        if s.ndim == 3:
            s = s[..., :3] @ _LUMA
        scale = 255.0 if a.dtype == np.uint8 else 1.0
        return s.reshape(h, 2, w, 2).mean(axis=(1, 3)) / scale

    def is_cut(self, rgb: np.ndarray, shift: Sequence[float] | None = None) -> bool:
        """Whether ``rgb`` starts a new scene (never the first frame).

        ``shift``: the camera's motion since the previous frame, ``(dx, dy)`` in
        frame pixels or a :class:`~veil.track.motion.Motion` ``(dx, dy, zoom)``;
        the thumbnails are then compared where they overlap once aligned, so a
        fast pan, whip or zoom is not mistaken for a cut.
        """
        thumb = self.thumbnail(rgb)
        prev, self._prev = self._prev, thumb
        self._since_cut += 1
        if prev is None:
            return False
        score = _aligned_difference(thumb, prev, shift, rgb.shape[1], rgb.shape[0])
        self.last_score = score
        baseline = float(np.mean(self._recent)) if self._recent else 0.0
        self._recent.append(score)
        cut = (
            score >= self.threshold
            and score >= self.ratio * baseline
            and self._since_cut >= self.min_scene_len
        )
        if cut:
            self._since_cut = 0
            self._recent.clear()
            self._recent.append(0.0)
        return cut


def _aligned_difference(
    thumb: np.ndarray, prev: np.ndarray, shift: Sequence[float] | None, width: int, height: int
) -> float:
    """Mean absolute difference of two thumbnails, ``prev`` moved by ``shift`` first.

    Falls back to the plain difference when the overlap would be under half
    the picture (a shift that large is more likely a cut than a pan).
    """
    th, tw = thumb.shape
    if shift is not None and len(shift) > 2 and shift[2] != 1.0:
        prev = zoom_about_centre(prev, float(shift[2]), mode="nearest")
    if shift is not None:
        dx = round(shift[0] * tw / max(width, 1))
        dy = round(shift[1] * th / max(height, 1))
        if (dx or dy) and (tw - abs(dx)) * (th - abs(dy)) >= tw * th / 2:
            cur = thumb[max(dy, 0) : th + min(dy, 0), max(dx, 0) : tw + min(dx, 0)]
            old = prev[max(-dy, 0) : th + min(-dy, 0), max(-dx, 0) : tw + min(-dx, 0)]
            return float(np.abs(cur - old).mean())
    return float(np.abs(thumb - prev).mean())
