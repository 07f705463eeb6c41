"""What is audited: veil's methods at given strengths, and the controls.

The controls are there to show the attacks work (an attack that never succeeds
proves nothing): ``unmasked`` must be re-identified almost always, and two weak
masks known to be reversible must be re-identified well above chance: a light
Gaussian blur (sigma 5% of the face height) and a fixed 20 px mosaic (which is
weak on large faces only). They are drawn on exactly the regions and footprints
veil's own methods use, so only the filter differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ..errors import ConfigError, InputError
from ..mask import Style, draw, expand_for_mask
from ..mask.shapes import box_slices, footprint
from ..regions import CLASSES, Regions
from ..settings import METHODS, Limits, MaskSettings

__all__ = ["CONTROLS", "MaskedFiles", "Setup", "build_setups", "gaussian_light", "mosaic_fixed"]

#: Names of the control setups, in table order.
CONTROLS: tuple[str, ...] = ("unmasked", "gauss-5%", "mosaic-20px")


def gaussian_light(crop: np.ndarray, box_height: float) -> np.ndarray:
    """A Gaussian blur with sigma 5% of the (unexpanded) box height: known reversible."""
    sigma = max(0.5, 0.05 * box_height)
    return np.asarray(Image.fromarray(crop).filter(ImageFilter.GaussianBlur(sigma)))


def mosaic_fixed(crop: np.ndarray, box_height: float, block: int = 20) -> np.ndarray:
    """A mosaic of fixed 20 px blocks whatever the region's size (deface's kind)."""
    h, w = crop.shape[:2]
    small = Image.fromarray(crop).resize(
        (max(1, round(w / block)), max(1, round(h / block))), Image.Resampling.BOX
    )
    return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))


_CONTROL_FILTERS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "gauss-5%": gaussian_light,
    "mosaic-20px": mosaic_fixed,
}


@dataclass(frozen=True)
class Setup:
    """One row group of the table: a veil method at a strength, or a control."""

    name: str
    method: str
    strength: float | None
    control: bool

    def masked(
        self, item: int, rgb: np.ndarray, regions: Regions, mask: MaskSettings
    ) -> np.ndarray:
        """The masked version of dataset image ``item`` (``rgb``, its original)."""
        return self.apply(rgb, regions, mask)

    def apply(self, rgb: np.ndarray, regions: Regions, mask: MaskSettings) -> np.ndarray:
        """The masked copy of ``rgb`` that this setup makes of ``regions`` (raw boxes)."""
        if self.method == "unmasked" or not len(regions):
            return rgb
        if not self.control:
            m = replace(mask, method=self.method, strength=self.strength or mask.strength)
            styles = [Style.of_class(m, CLASSES[int(lb)]) for lb in regions.labels]
            return draw(rgb, regions.xyxy, styles, np.maximum(regions.track_ids, 0))[0]
        return _draw_control(rgb, regions, mask, _CONTROL_FILTERS[self.method])


@dataclass(frozen=True)
class MaskedFiles(Setup):
    """Masks already rendered, read from files: ``veil audit --original --masked``."""

    files: tuple[Path, ...] = ()
    limits: Limits = Limits()

    def masked(
        self, item: int, rgb: np.ndarray, regions: Regions, mask: MaskSettings
    ) -> np.ndarray:
        from ..media import image as image_io

        out = image_io.load_image(self.files[item], self.limits).rgb
        if out.shape != rgb.shape:
            raise InputError(
                f"{self.files[item]}: {out.shape[1]}x{out.shape[0]} but its original is "
                f"{rgb.shape[1]}x{rgb.shape[0]}"
            )
        return out


def _draw_control(
    rgb: np.ndarray,
    regions: Regions,
    mask: MaskSettings,
    fn: Callable[[np.ndarray, float], np.ndarray],
) -> np.ndarray:
    """Like :func:`veil.mask.draw`, with a filter that sees the raw box height."""
    out = rgb.copy()
    height, width = rgb.shape[:2]
    grown = expand_for_mask(regions, mask).xyxy
    for i in range(len(regions)):
        bounds = box_slices(grown[i], width, height)
        if bounds is None:
            continue
        x1, y1, x2, y2 = bounds
        fx1, fy1 = int(np.floor(grown[i, 0])), int(np.floor(grown[i, 1]))
        fx2, fy2 = int(np.ceil(grown[i, 2])), int(np.ceil(grown[i, 3]))
        shape = mask.shape(CLASSES[int(regions.labels[i])])
        foot = footprint(shape, fy2 - fy1, fx2 - fx1)[y1 - fy1 : y2 - fy1, x1 - fx1 : x2 - fx1]
        crop = out[y1:y2, x1:x2]
        box_h = float(regions.xyxy[i, 3] - regions.xyxy[i, 1])
        np.copyto(crop, fn(crop.copy(), box_h), where=foot[..., None])
    return out


def build_setups(
    methods: Sequence[str], strengths: Sequence[float], controls: bool = True
) -> list[Setup]:
    """Controls first, then every method x strength (fill and texture have no strength)."""
    out: list[Setup] = []
    if controls:
        out += [Setup(name, name, None, True) for name in CONTROLS]
    for method in methods:
        if method not in METHODS:
            raise ConfigError(f"--methods: {method!r} is not one of {', '.join(METHODS)}")
        if method in ("fill", "texture"):
            out.append(Setup(method, method, None, False))
            continue
        for s in strengths:
            MaskSettings(strength=s)  # validates the range, naming it
            out.append(Setup(f"{method} x{s:g}", method, float(s), False))
    return out
