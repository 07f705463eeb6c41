"""Still-image decode/save: orientation, metadata removal, modes, bad files."""

import io

import numpy as np
import pytest
from PIL import Image

from veil.errors import InputError, LimitError
from veil.media.image import IMAGE_FORMATS, heif_support, load_image, save_image
from veil.settings import Limits


def _exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "VeilTestCam"  # Make
    exif[0x0110] = "Model-XYZ"  # Model
    gps = {1: "N", 2: (52.0, 30.0, 12.0), 3: "E", 4: (13.0, 24.0, 5.0)}
    exif[0x8825] = gps
    return exif


def _gradient(w=64, h=32):
    x = np.linspace(0, 255, w, dtype=np.uint8)
    im = np.zeros((h, w, 3), np.uint8)
    im[:, :, 0] = x[None, :]
    im[:, : w // 4, 1] = 255  # a green band on the left marks orientation
    return im


def test_exif_orientation_applied(tmp_path):
    src = tmp_path / "rot.jpg"
    Image.fromarray(_gradient()).save(src, exif=_exif_with_gps(orientation=6), quality=95)
    loaded = load_image(src)
    # orientation 6 = rotate 90 clockwise for display: 64x32 stored -> 32x64 shown
    assert loaded.rgb.shape == (64, 32, 3)
    # the green band (stored on the left) is now at the top
    assert loaded.rgb[:8, :, 1].mean() > 200 and loaded.rgb[-8:, :, 1].mean() < 50


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tiff", ".heic"])
def test_metadata_removed_when_read_back(tmp_path, ext):
    fmt = IMAGE_FORMATS[ext]
    src = tmp_path / f"in{ext}"
    exif = _exif_with_gps(orientation=6)
    if fmt == "TIFF":
        del exif[0x8825]  # Pillow cannot write a GPS IFD into TIFF; keep make/model
    kwargs = {"exif": exif}
    if fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "GPS 52.5N 13.4E")
        kwargs["pnginfo"] = info
    if fmt in ("JPEG", "WEBP", "HEIF"):
        kwargs["xmp"] = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret-place</x:xmpmeta>"
    assert heif_support()  # veil registers the HEIF plugin on its first image, not on import
    Image.fromarray(_gradient()).save(src, format=fmt, **kwargs)
    loaded = load_image(src)
    dst = tmp_path / f"out{ext}"
    save_image(loaded.rgb, loaded, dst, fmt)
    raw = dst.read_bytes()
    for needle in (b"VeilTestCam", b"Model-XYZ", b"secret-place", b"GPS 52.5N"):
        assert needle not in raw
    with Image.open(dst) as back:
        exif = back.getexif()  # TIFF reports its own structural tags here; none identify
        for tag in (0x010F, 0x0110, 0x8825, 0x927C, 0x83BB):  # make, model, GPS, maker note, IPTC
            assert tag not in exif, f"tag {tag:#x} left in {ext}"
        assert exif.get(0x0112, 1) == 1  # no orientation left to re-apply
        assert "xmp" not in back.info and "XML:com.adobe.xmp" not in back.info
    assert load_image(dst).rgb.shape == loaded.rgb.shape  # stored upright, as displayed


def test_icc_profile_is_kept(tmp_path):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "icc.jpg"
    Image.fromarray(_gradient()).save(src, icc_profile=icc)
    loaded = load_image(src)
    dst = tmp_path / "out.jpg"
    save_image(loaded.rgb, loaded, dst, "JPEG")
    with Image.open(dst) as back:
        assert back.info.get("icc_profile") == icc


@pytest.mark.parametrize(
    "mode, expect",
    [("L", "L"), ("LA", "LA"), ("RGBA", "RGBA"), ("I;16", "L"), ("P", "RGB"), ("CMYK", "RGB")],
)
def test_modes_are_handled(tmp_path, mode, expect):
    base = Image.fromarray(_gradient())
    if mode == "I;16":
        im = Image.fromarray((np.arange(64 * 32).reshape(32, 64) * 30).astype(np.uint16))
    else:
        im = base.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG" if mode != "CMYK" else "TIFF"
    src = tmp_path / ("in.jpg" if fmt == "JPEG" else "in.png")
    im.save(src, format=fmt)
    loaded = load_image(src)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (32, 64, 3)
    dst = tmp_path / ("out" + src.suffix)
    save_image(loaded.rgb, loaded, dst, fmt)
    with Image.open(dst) as back:
        assert back.mode == expect
        if expect in ("LA", "RGBA"):
            assert np.array_equal(np.asarray(back)[:, :, -1], np.asarray(im)[:, :, -1])


def test_empty_truncated_and_fake_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(empty)
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a picture\n" * 20)
    with pytest.raises(InputError, match="notes.jpg"):
        load_image(fake)
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(
        buf, "PNG"
    )
    trunc = tmp_path / "cut.png"
    trunc.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError, match="cut.png"):
        load_image(trunc)
    with pytest.raises(InputError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")


def test_decompression_bomb_refused_from_header(tmp_path):
    # A valid PNG header declaring 100000 x 100000 pixels with almost no data.
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + chunk(b"IEND", b"")
    )
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png)
    with pytest.raises(LimitError, match="bomb.png"):
        load_image(bomb)
    small = tmp_path / "small.png"
    Image.fromarray(_gradient()).save(small)
    with pytest.raises(LimitError, match="limit"):
        load_image(small, Limits(max_pixels=100))


def test_animated_gif_refused_clearly(tmp_path):
    frames = [Image.fromarray(_gradient()), Image.fromarray(255 - _gradient())]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="animated"):
        load_image(gif)


def test_a_heic_is_read_where_nothing_registered_its_plugin(tmp_path):
    """HEIF support is registered on the first image read, not on import (a run of
    videos does not load it): a fresh process still reads a HEIC."""
    import subprocess
    import sys

    src = tmp_path / "in.heic"
    assert heif_support()
    Image.fromarray(_gradient()).save(src, format="HEIF")
    code = (
        "import sys\nfrom veil.media.image import load_image\n"
        "assert 'pillow_heif' not in sys.modules\n"
        f"print(load_image({str(src)!r}).rgb.shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(_gradient().shape)
