import numpy as np
import pytest

from veil.mask import apply_masks, methods
from veil.mask.shapes import footprint
from veil.regions import FACE, PLATE, Regions
from veil.settings import MaskSettings


def _noise(h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_input_is_not_modified():
    im = _noise()
    before = im.copy()
    apply_masks(im, Regions([[10, 10, 60, 60]]), MaskSettings(method="blur"))
    np.testing.assert_array_equal(im, before)


@pytest.mark.parametrize("method", ["blur", "pixelate", "fill", "texture"])
def test_only_covered_pixels_change(method):
    im = _noise()
    out, covered = apply_masks(
        im, Regions([[20, 30, 70, 90]], labels=[FACE]), MaskSettings(method=method)
    )
    assert covered.any()
    np.testing.assert_array_equal(out[~covered], im[~covered])
    changed = (out != im).any(axis=2)
    # almost every covered pixel changes on a noise image
    assert changed[covered].mean() > 0.9


def test_rect_shape_covers_expanded_box_exactly():
    im = _noise()
    s = MaskSettings(method="fill", plate_margin=0.0)
    out, covered = apply_masks(im, Regions([[10, 20, 50, 40]], labels=[PLATE]), s)
    expected = np.zeros(im.shape[:2], bool)
    expected[20:40, 10:50] = True
    np.testing.assert_array_equal(covered, expected)
    assert (out[20:40, 10:50] == 0).all()


def test_margin_grows_the_masked_area():
    im = _noise()
    box = Regions([[60, 40, 100, 80]], labels=[FACE])
    _, small = apply_masks(im, box, MaskSettings(face_margin=0.0))
    _, big = apply_masks(im, box, MaskSettings(face_margin=0.5))
    assert big.sum() > small.sum() * 2.0
    assert (big | small).sum() == big.sum()  # the grown mask contains the small one


def test_a_regions_margin_share_scales_its_class_margin():
    """The tracker gives an unlikely face a smaller margin through ``margin_shares``;
    the mask and :func:`expand_for_mask` (the audit's controls) agree on it."""
    from veil.mask import expand_for_mask

    im = _noise()
    s = MaskSettings(method="fill", face_shape="rect", face_margin=0.5)
    box = [[60, 40, 100, 80]]
    _, full = apply_masks(im, Regions(box, labels=[FACE]), s)
    _, half = apply_masks(im, Regions(box, labels=[FACE], margin_shares=[0.5]), s)
    _, none = apply_masks(im, Regions(box, labels=[FACE], margin_shares=[0.0]), s)
    assert (full.sum(), half.sum(), none.sum()) == (60 * 60, 50 * 50, 40 * 40)
    grown = expand_for_mask(Regions(box * 2, labels=[FACE, FACE], margin_shares=[0.5, 1]), s)
    np.testing.assert_allclose(grown.widths, [50, 60])


def test_ellipse_footprint_is_inscribed():
    f = footprint("ellipse", 40, 20)
    assert f[20, 10] and not f[0, 0] and not f[39, 19]
    assert f.mean() == pytest.approx(np.pi / 4, abs=0.05)


def test_box_at_image_border_is_clipped_and_keeps_its_ellipse():
    """A face box centred on the corner: the quarter of its ellipse inside the image is
    masked, exactly, and nothing else (the ellipse is not re-fitted to the clipped box)."""
    im = _noise(50, 50)
    box = Regions([[-20, -20, 20, 20]], labels=[FACE])
    out, covered = apply_masks(im, box, MaskSettings(method="fill", face_margin=0.5))
    # grown by half: 60 px wide around (0, 0), so an ellipse of radius 30 on pixel centres
    c = np.arange(50) + 0.5
    expected = (c[:, None] / 30) ** 2 + (c[None, :] / 30) ** 2 <= 1.0
    np.testing.assert_array_equal(covered, expected)
    assert covered[0, 0] and covered[20, 20] and not covered[22, 22] and not covered[0, 30]
    assert (out[covered] == 0).all()
    np.testing.assert_array_equal(out[~covered], im[~covered])


def test_fill_uses_colour():
    out, covered = apply_masks(
        _noise(),
        Regions([[0, 0, 30, 30]], labels=[PLATE]),
        MaskSettings(method="fill", color="#ff0000"),
    )
    assert (out[covered] == [255, 0, 0]).all()


@pytest.mark.parametrize("size", [40, 400, 2000])
def test_blur_and_pixelate_strength_scales_with_region(size):
    """A region keeps only a handful of independent cells, whatever its size."""
    crop = _noise(size, size, seed=size)
    for fn, limit in ((methods.pixelate, 6), (methods.blur, 4)):
        out = fn(crop)
        # Distinct colours along a row measure how many cells survive.
        row = out[size // 2].astype(np.int32)
        if fn is methods.pixelate:
            distinct = len(np.unique(row, axis=0))
            assert distinct <= limit
        else:
            # a smooth blur: neighbouring pixels differ by little
            assert np.abs(np.diff(row, axis=0)).max() <= max(8, 255 * 4 // size)


@pytest.mark.parametrize("size", [40, 56, 400])
def test_default_pixelate_keeps_no_more_blocks_than_blur_has_cells(size):
    """At 5 blocks across, `veil audit` re-identified pixelated faces (README, "veil
    audit"); the default keeps at most 3 blocks across the short side, as blur keeps 3
    cells, and faces (taller than wide) no more than 4 down."""
    out = methods.pixelate(_noise(round(size * 1.4), size, seed=size))
    assert len(np.unique(out[size // 2], axis=0)) <= 3  # across
    assert len(np.unique(out[:, size // 2], axis=0)) <= 4  # down


def test_texture_carries_nothing_of_the_original_and_is_stable():
    a = methods.texture(_noise(64, 64, seed=1), seed=7)
    b = methods.texture(_noise(64, 64, seed=2), seed=7)
    np.testing.assert_array_equal(a, b)  # independent of the pixels, fixed per track
    c = methods.texture(_noise(64, 64, seed=1), seed=8)
    assert (a != c).any()


def test_rejects_non_rgb_frames():
    with pytest.raises(ValueError):
        apply_masks(np.zeros((4, 4), np.uint8), Regions.empty(), MaskSettings())


def test_default_blur_keeps_only_as_many_cells_as_pixelate():
    """`veil audit` still found a trace of identity in blur at 3 cells across (after a
    Wiener box deconvolution), none at pixelate's 2.5: a 50 px region now keeps 2 x 2
    cell means, so shuffling pixels inside each 25 px quarter changes nothing."""
    rng = np.random.default_rng(9)
    a = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    b = a.copy()
    for y in (0, 25):
        for x in (0, 25):
            block = b[y : y + 25, x : x + 25].reshape(-1, 3)
            b[y : y + 25, x : x + 25] = rng.permutation(block).reshape(25, 25, 3)
    np.testing.assert_array_equal(methods.blur(a), methods.blur(b))
    np.testing.assert_array_equal(methods.pixelate(a), methods.pixelate(b))
