"""The text target: is personal data in text masked, ordinary text left alone, at what cost?

Three measurements (docs/text.md holds the figures):

* ``synthetic``: documents, screens and badges drawn with the Debian DejaVu fonts,
  each line either personal data (random but valid: Polish phone numbers, e-mail
  addresses, IBANs, Visa numbers, PESEL and NIP numbers, plate-like strings, and
  names given as ``--text-terms``) or ordinary text (shop and office phrases, prices,
  dates, opening hours), pasted into 1280x720 photos (the ``plates_romania`` dash-cam
  frames; flat grey without ../shared/data) with a perspective warp, a blur and
  noise. One ``Engine`` with ``--targets text`` (``--text pii``) masks each photo as
  ``veil mask`` would. A line counts as masked when its box (after the warp) is
  covered to 80 % or more; ordinary text counts against veil when covered to 50 %
  or more. Lines are binned by their height in the photo, in pixels.
* ``cost``: seconds for the text detector on a 720p frame (image profile, every
  frame), next to the face and plate detectors' seconds on the same frames (video
  profile), and what ``--video-text-every`` (default 4, with ``--detect-every`` 4)
  makes of it per video frame.
* ``clips``: on the sample clips in ../shared/data/videos, one frame a second is
  detected with faces and plates (video profile) and with text under ``--text
  pii``; the share of the frame that text masks beyond the faces' and plates'
  masks is reported (per-frame detection, no tracking: the tracker carries boxes
  between detections, so this is the share on the frames text is read on).

    python benchmarks/text.py [--data ../shared/data] [--photos 40] [--seed 1]
                              [--clip-frames 6] [--clip-every-s 1] [--no-synthetic]
                              [--json out.json] [--eval-set DIR]

``--eval-set DIR`` only writes the synthetic photos with their personal-data lines
annotated as ``text`` (DIR/annotations.json, the format of ``veil eval``) and the
names as a terms file (DIR/terms.txt), for
``veil eval DIR/annotations.json --targets text --text-terms DIR/terms.txt``.

Exit status: 0 measured, 3 nothing measured (fonts missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import string
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from veil.media import video as video_io
from veil.pipeline import Engine
from veil.settings import DetectSettings, Settings

EXIT_NO_DATA = 3
FONTS = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
NAMES = ("Kowalski", "Nowakowska", "Wisniewski", "Zielinska", "Lewandowski", "Kaminska")
ORDINARY = (
    "Fresh bread every day",
    "Open Monday to Friday",
    "Opening hours 9-17",
    "Meeting room B",
    "Please wait here",
    "Price 12.99 PLN",
    "SALE -30% on all shoes",
    "Coffee and cake",
    "Wi-Fi available",
    "Parking for customers only",
    "Emergency exit",
    "Annual report 2024",
    "Quarterly results",
    "Department of Finance",
    "Visitor",
    "Welcome to our store",
    "Updated 2024-05-14",
    "Room 214",
    "Page 3 of 12",
    "Total 245.00",
)


def _valid(make, check) -> str:
    while True:
        s = make()
        if check(s):
            return s


def _digits(n: int) -> str:
    return "".join(random.choice(string.digits) for _ in range(n))


def pii_line() -> tuple[str, str]:
    """One random, valid personal-data line and its category."""
    import phonenumbers
    from stdnum import iban, luhn
    from stdnum.pl import nip, pesel

    kind = random.choice(("phone", "email", "iban", "card", "pesel", "nip", "plate", "name"))
    if kind == "phone":

        def ok(s):
            return phonenumbers.is_valid_number(phonenumbers.parse(s, "PL"))

        n = _valid(lambda: random.choice("5678") + _digits(8), ok)
        body = f"{n[:3]} {n[3:6]} {n[6:]}"
        return random.choice((f"Tel. +48 {body}", f"tel. {body}", f"+48 {body}")), kind
    if kind == "email":
        first = "".join(random.choice(string.ascii_lowercase) for _ in range(random.randint(3, 7)))
        last = random.choice(NAMES).lower()
        dom = random.choice(("example.com", "firma.pl", "mail.eu", "biuro.com.pl"))
        return f"{first}.{last}@{dom}", kind
    if kind == "iban":
        s = _valid(lambda: "PL00" + _digits(24), lambda _: True)
        s = s[:2] + iban.calc_check_digits(s) + s[4:]
        return "IBAN " + " ".join(s[i : i + 4] for i in range(0, len(s), 4)), kind
    if kind == "card":
        s = "4" + _digits(14)
        s += luhn.calc_check_digit(s)
        return " ".join(s[i : i + 4] for i in range(0, 16, 4)), kind
    if kind == "pesel":
        return "PESEL " + _valid(lambda: _digits(11), pesel.is_valid), kind
    if kind == "nip":
        s = _valid(lambda: _digits(10), nip.is_valid)
        return f"NIP {s[:3]}-{s[3:6]}-{s[6:8]}-{s[8:]}", kind
    if kind == "plate":
        letters = "".join(random.choice("ABCDEFGHKLMNPRSTWZ") for _ in range(2))
        return f"{letters} {_digits(5)}", kind
    first = random.choice(("Anna", "Jan", "Piotr", "Maria", "Tomasz", "Ewa"))
    return f"{first} {random.choice(NAMES)}", kind


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]):
    """PIL's 8 coefficients mapping output (dst) points back to input (src) points."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, np.float64)
    b = np.array([c for p in src for c in p], np.float64)
    return np.linalg.solve(a, b)


def make_card(rng: random.Random) -> tuple[Image.Image, list[tuple[tuple, bool, str]]]:
    """A document, screen or badge: the card and its lines' (box, is_pii, category)."""
    style = rng.choice(("document", "screen", "badge"))
    w, h = {"document": (520, 380), "screen": (560, 340), "badge": (300, 200)}[style]
    bg, ink = {
        "document": ((245, 245, 238), (20, 20, 20)),
        "screen": ((25, 35, 60), (230, 235, 240)),
        "badge": ((250, 250, 250), (10, 30, 90)),
    }[style]
    card = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(card)
    lines = []
    y = 14
    while True:
        size = rng.choice((14, 16, 18, 20, 24, 28, 32))
        font = ImageFont.truetype(str(FONTS / rng.choice(FONT_FILES)), size)
        is_pii = rng.random() < 0.5
        text, cat = pii_line() if is_pii else (rng.choice(ORDINARY), "ordinary")
        box = draw.textbbox((16, y), text, font=font)
        if box[3] > h - 10:
            break
        if box[2] <= w - 8:
            draw.text((16, y), text, fill=ink, font=font)
            lines.append((box, is_pii, cat))
        y = box[3] + rng.randint(8, 20)
    return card, lines


def paste(photo: Image.Image, rng: random.Random) -> tuple[Image.Image, list[dict]]:
    """A card warped into the photo; each line's axis-aligned box there."""
    card, lines = make_card(rng)
    cw, ch = card.size
    scale = rng.uniform(0.55, 1.25)
    pw, ph = photo.size
    tw, th = cw * scale, ch * scale
    x0 = rng.uniform(10, max(11, pw - tw - 10))
    y0 = rng.uniform(10, max(11, ph - th - 10))
    j = 0.08 * min(tw, th)
    dst = [
        (x0 + rng.uniform(-j, j), y0 + rng.uniform(-j, j)),
        (x0 + tw + rng.uniform(-j, j), y0 + rng.uniform(-j, j)),
        (x0 + tw + rng.uniform(-j, j), y0 + th + rng.uniform(-j, j)),
        (x0 + rng.uniform(-j, j), y0 + th + rng.uniform(-j, j)),
    ]
    src = [(0, 0), (cw, 0), (cw, ch), (0, ch)]
    coeffs = _perspective_coeffs(src, dst)
    warped = card.transform((pw, ph), Image.PERSPECTIVE, tuple(coeffs), Image.BICUBIC)
    mask = Image.new("L", card.size, 255).transform(
        (pw, ph), Image.PERSPECTIVE, tuple(coeffs), Image.BILINEAR
    )
    out = photo.copy()
    out.paste(warped, (0, 0), mask)
    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.0)))
    arr = np.asarray(out).astype(np.float32)
    arr += np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 7), arr.shape)
    out = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    fwd = _perspective_coeffs(dst, src)  # card -> photo

    def to_photo(x, y):
        a, b, c, d, e, f, g, hh = fwd
        den = g * x + hh * y + 1
        return (a * x + b * y + c) / den, (d * x + e * y + f) / den

    placed = []
    for (x1, y1, x2, y2), is_pii, cat in lines:
        pts = [to_photo(x, y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        placed.append(
            {
                "box": (min(xs), min(ys), max(xs), max(ys)),
                "pii": is_pii,
                "category": cat,
                # the glyphs' height: the line box's height, less the warp's slant
                "height": (y2 - y1) * scale,
            }
        )
    return out, placed


def _photos(data: Path, n: int) -> list[Image.Image]:
    folder = data / "plates_romania" / "images"
    files = sorted(folder.rglob("*.jpg"))[:n] if folder.is_dir() else []
    if not files:
        return [Image.new("RGB", (1280, 720), (120, 125, 118)) for _ in range(n)]
    out = []
    for f in files:
        im = Image.open(f).convert("RGB")
        out.append(im.resize((1280, 720)) if im.size != (1280, 720) else im)
    return [out[i % len(out)] for i in range(n)]


def synthetic(data: Path, count: int, seed: int, terms: Path) -> dict:
    rng = random.Random(seed)
    random.seed(seed)
    engine = Engine(
        Settings(detect=DetectSettings(targets=("text",), text_mode="pii", text_terms=terms))
    )
    rows = []
    seconds = []
    for photo in _photos(data, count):
        img, lines = paste(photo, rng)
        rgb = np.asarray(img)
        t0 = time.perf_counter()
        regions = engine.detect(rgb)
        seconds.append(time.perf_counter() - t0)
        _, covered = engine.mask(rgb, regions)
        for line in lines:
            x1, y1, x2, y2 = (int(round(v)) for v in line["box"])
            x1, y1 = max(0, x1), max(0, y1)
            part = covered[y1:y2, x1:x2]
            line["covered"] = float(part.mean()) if part.size else 0.0
            rows.append(line)
    bins = ((0, 12), (12, 16), (16, 24), (24, 1000))
    table = []
    for lo, hi in bins:
        pii = [r for r in rows if r["pii"] and lo <= r["height"] < hi]
        other = [r for r in rows if not r["pii"] and lo <= r["height"] < hi]
        table.append(
            {
                "height_px": f"{lo}-{hi}" if hi < 1000 else f">={lo}",
                "pii_lines": len(pii),
                "pii_masked": _share(pii, 0.8),
                "ordinary_lines": len(other),
                "ordinary_masked": _share(other, 0.5),
            }
        )
    big_pii = [r for r in rows if r["pii"] and r["height"] >= 12]
    other = [r for r in rows if not r["pii"]]
    by_cat = {}
    for cat in sorted({r["category"] for r in big_pii}):
        sel = [r for r in big_pii if r["category"] == cat]
        by_cat[cat] = {"lines": len(sel), "masked": _share(sel, 0.8)}
    return {
        "photos": count,
        "pii_lines_12px_and_over": len(big_pii),
        "pii_masked_12px_and_over": _share(big_pii, 0.8),
        "ordinary_lines": len(other),
        "ordinary_masked": _share(other, 0.5),
        "by_height": table,
        "by_category_12px_and_over": by_cat,
        "text_seconds_per_photo_median": float(np.median(seconds)),
    }


def _share(rows: list[dict], at: float) -> float | None:
    return round(sum(r["covered"] >= at for r in rows) / len(rows), 4) if rows else None


def _clip_frames(path: Path, every_s: float, limit: int) -> list[np.ndarray]:
    out = []
    next_t = 0.0
    with video_io.iter_frames(path) as frames:
        for f in frames:
            t = f.pts_s if f.pts_s is not None else 0.0
            if t + 1e-6 >= next_t:
                out.append(f.image)
                next_t += every_s
                if len(out) >= limit:
                    break
    return out


def cost_and_clips(data: Path, clip_frames: int, every_s: float = 1.0) -> dict:
    folder = data / "videos"
    clips = sorted(folder.glob("*.mp4")) if folder.is_dir() else []
    text_engine = Engine(Settings(detect=DetectSettings(targets=("text",), text_mode="pii")))
    fp_engine = Engine(Settings())
    per_clip = {}
    text_s, fp_s, text_s_720 = [], [], []
    for clip in clips:
        frames = _clip_frames(clip, every_s, clip_frames)
        extra = []
        for rgb in frames:
            t0 = time.perf_counter()
            found_fp = fp_engine.detect(rgb, video=True)
            fp_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            found_text = text_engine.detect(rgb)  # image profile: every call reads
            dt = time.perf_counter() - t0
            text_s.append(dt)
            if rgb.shape[0] == 720:
                text_s_720.append(dt)
            _, cov_fp = fp_engine.mask(rgb, found_fp)
            _, cov_text = text_engine.mask(rgb, found_text)
            extra.append(float((cov_text & ~cov_fp).mean()))
        h, w = frames[0].shape[:2] if frames else (0, 0)
        per_clip[clip.name] = {
            "size": f"{w}x{h}",
            "frames_read": len(frames),
            "extra_masked_share_mean": round(float(np.mean(extra)), 4) if extra else None,
            "extra_masked_share_max": round(float(np.max(extra)), 4) if extra else None,
        }
    every = DetectSettings().video_text_every
    detect_every = 4
    return {
        "clips": per_clip,
        "text_seconds_per_frame_median": float(np.median(text_s)) if text_s else None,
        "text_seconds_per_720p_frame_median": (
            float(np.median(text_s_720)) if text_s_720 else None
        ),
        "face_plate_video_seconds_per_frame_median": float(np.median(fp_s)) if fp_s else None,
        "text_seconds_per_video_frame_at_defaults": (
            float(np.median(text_s)) / (every * detect_every) if text_s else None
        ),
    }


def write_eval_set(folder: Path, data: Path, count: int, seed: int) -> None:
    """Synthetic photos with their personal-data lines as ``text`` boxes (veil eval)."""
    rng = random.Random(seed)
    random.seed(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i, photo in enumerate(_photos(data, count)):
        img, lines = paste(photo, rng)
        name = f"images/{i:03d}.png"
        img.save(folder / name)
        boxes = [
            {"label": "text", "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3], "ignore": False}
            for b in (tuple(round(v, 1) for v in line["box"]) for line in lines if line["pii"])
        ]
        images.append({"file": name, "width": img.width, "height": img.height, "boxes": boxes})
    (folder / "annotations.json").write_text(json.dumps({"images": images}, indent=1) + "\n")
    (folder / "terms.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    print(f"wrote {len(images)} photos to {folder}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(os.environ.get("VEIL_SHARED_DATA", Path(__file__).parents[2] / "shared/data"))
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clip-frames", type=int, default=6)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--eval-set", type=Path, help="only write a veil eval set here")
    ap.add_argument("--clip-every-s", type=float, default=1.0, help="seconds between clip frames")
    ap.add_argument("--no-synthetic", action="store_true", help="only the cost and the clips")
    args = ap.parse_args()
    if not (FONTS / FONT_FILES[0]).is_file():
        print(
            f"benchmarks/text.py: no DejaVu fonts at {FONTS} (apt-get install fonts-dejavu-core); "
            "nothing measured",
            file=sys.stderr,
        )
        return EXIT_NO_DATA
    if args.eval_set is not None:
        write_eval_set(args.eval_set, args.data, args.photos, args.seed)
        return 0
    terms = Path(os.environ.get("TMPDIR", "/tmp")) / "veil-bench-terms.txt"
    terms.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_before": os.getloadavg(),
    }
    if not args.no_synthetic:
        result["synthetic"] = synthetic(args.data, args.photos, args.seed, terms)
    result.update(cost_and_clips(args.data, args.clip_frames, args.clip_every_s))
    result["load_after"] = os.getloadavg()
    terms.unlink(missing_ok=True)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
