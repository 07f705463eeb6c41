"""The live writer's masking gives the pixels veil.mask gives (it only takes less time)."""

from __future__ import annotations

import numpy as np
import pytest

from veil.live.masking import mask_frame
from veil.mask import apply_masks
from veil.regions import CLASSES, Regions
from veil.settings import MaskSettings


def crowd(rng: np.random.Generator, n: int, width: int, height: int) -> Regions:
    """Overlapping boxes of many sizes, some across the picture's edges, some tiny, some
    with a smaller margin (an unlikely face's)."""
    cx, cy = rng.uniform(-20, width + 20, n), rng.uniform(-20, height + 20, n)
    w, h = rng.uniform(1, 90, n), rng.uniform(1, 90, n)
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)
    labels = rng.integers(0, len(CLASSES), n)
    tracks = rng.integers(-1, 40, n)
    shares = rng.choice([0.5, 1.0], n)
    return Regions(xyxy, rng.uniform(0.1, 1, n).astype(np.float32), labels, tracks, shares)


@pytest.mark.parametrize(
    "settings",
    [
        MaskSettings(),
        MaskSettings(method="pixelate", strength=0.7),
        MaskSettings(method="blur", face_shape="rect", plate_shape="ellipse", strength=1.6),
        MaskSettings(method="fill", color=(200, 30, 10)),
        MaskSettings(method="texture"),
    ],
    ids=["blur", "pixelate", "blur-shapes", "fill", "texture"],
)
def test_live_masking_is_pixel_for_pixel_the_batch_masking(settings):
    rng = np.random.default_rng(7)
    for width, height, n in ((160, 90, 60), (97, 61, 25), (64, 48, 0)):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        regions = crowd(rng, n, width, height)
        want, covered = apply_masks(rgb, regions, settings)
        got = mask_frame(rgb.copy(), regions, settings)
        assert got.shape == rgb.shape and got.dtype == np.uint8
        assert np.array_equal(got, want)
        if n:  # the frames were really masked, not passed through on both sides
            assert covered.any() and not np.array_equal(got, rgb)
