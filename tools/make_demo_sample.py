"""Make the sample that ``veil demo`` masks (development time only; the files are committed).

One street-like scene, drawn here, with two real faces and one licence plate:

- the faces are NASA's portrait of astronaut Eileen Collins as scikit-image ships it
  (``skimage.data.astronaut()``, "no known copyright restrictions, released into the
  public domain"), once large and once smaller and mirrored;
- the car and its plate ``VEL 482`` are drawn by this script; the plate's letters are
  Aileron Regular (public domain, CC0), the font Pillow embeds for ``load_default``.

Synthetic faces are not found by the face networks, which is why a real photograph
is pasted in. Writes ``street.jpg`` (the still) and ``street.mp4`` (a 2 s camera pan
over it), together well under 1 MB, into ``src/veil/samples/``, and the README's
before/after picture (the still above, veil's default mask below) into ``docs/images/``::

    python tools/make_demo_sample.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "veil" / "samples"
PICTURE = ROOT / "docs" / "images" / "before-after.jpg"
SIZE = (960, 540)
CLIP = (640, 360)
FPS, SECONDS = 12, 2


def scene() -> Image.Image:
    """The still: sky, road, two faces on the left, a red car with its plate on the right."""
    w, h = SIZE
    img = Image.new("RGB", SIZE, (150, 170, 190))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 380, w, h], fill=(70, 70, 72))
    face = Image.fromarray(data.astronaut())
    img.paste(face.resize((330, 330)), (20, 110))
    # the second person: head and shoulders only, feathered into the scene (a framed
    # picture's straight edges would read as a plate)
    bust = face.crop((100, 20, 340, 300)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    bust = bust.resize((150, 175))
    alpha = Image.new("L", bust.size, 0)
    ImageDraw.Draw(alpha).ellipse([8, 4, bust.width - 8, bust.height + 60], fill=255)
    img.paste(bust, (385, 215), alpha.filter(ImageFilter.GaussianBlur(6)))
    cx = 720
    d.rounded_rectangle([cx - 170, 230, cx + 170, 470], radius=30, fill=(150, 20, 25))
    d.rectangle([cx - 130, 250, cx + 130, 320], fill=(40, 50, 60))  # rear window
    d.rectangle([cx - 165, 340, cx - 115, 370], fill=(230, 60, 40))  # lights
    d.rectangle([cx + 115, 340, cx + 165, 370], fill=(230, 60, 40))
    pw, ph = 150, 34
    px, py = cx - pw // 2, 395
    d.rectangle([px, py, px + pw, py + ph], fill=(245, 245, 240), outline=(10, 10, 10), width=2)
    font = ImageFont.load_default(size=26)
    d.text((cx, py + ph // 2), "VEL 482", fill=(15, 15, 15), font=font, anchor="mm")
    for wx in (cx - 150, cx + 110):
        d.rectangle([wx, 465, wx + 40, 500], fill=(20, 20, 20))
    return img.filter(ImageFilter.GaussianBlur(0.6))


def write_clip(still: Image.Image, path: Path) -> None:
    """A slow pan from the faces to the car: every frame holds a face or the plate."""
    cw, ch = CLIP
    n = FPS * SECONDS
    span = SIZE[0] - cw
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = cw, ch, "yuv420p"
        s.options = {"preset": "slow", "crf": "26"}
        for i in range(n):
            x = round(span * i / (n - 1))
            frame = np.asarray(still.crop((x, 100, x + cw, 100 + ch)))
            out.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(s.encode(None))


def before_after(still: Path, picture: Path) -> None:
    """The still over veil's default mask of it, half size: the README's picture."""
    import tempfile

    from veil.pipeline import Engine
    from veil.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        masked = Path(tmp) / "masked.jpg"
        Engine(Settings()).mask_file(still, masked)
        pair = [Image.open(p).convert("RGB") for p in (still, masked)]
    w, h = SIZE[0] // 2, SIZE[1] // 2
    out = Image.new("RGB", (w, 2 * h + 4), (255, 255, 255))
    for i, im in enumerate(pair):
        out.paste(im.resize((w, h), Image.Resampling.LANCZOS), (0, i * (h + 4)))
    picture.parent.mkdir(parents=True, exist_ok=True)
    out.save(picture, quality=85, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--picture", type=Path, default=PICTURE)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    still = scene()
    still.save(args.out / "street.jpg", quality=85, optimize=True)
    write_clip(still, args.out / "street.mp4")
    before_after(args.out / "street.jpg", args.picture)
    for f in (args.out / "street.jpg", args.out / "street.mp4", args.picture):
        print(f"{f.name}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
