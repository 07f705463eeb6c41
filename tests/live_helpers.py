"""A generated clip with moving 'faces' and 'plates', its ground truth, a plug-in detector
that finds them, and checks that a recorded stream has every one of them masked.

The real networks do not fire on synthetic shapes, so each object wears a coloured
frame the plug-in detector looks for (magenta: face, cyan: plate) around a
high-contrast texture (a checkerboard, stripes) that any mask wipes out. Every frame
carries its index as 10 black/white blocks along the bottom edge, so a recorded frame
is matched to its ground truth even when frames were dropped or the source restarted.

Run as a script it masks SOURCE into SINK with the plug-in detector (for the signal
tests): ``python live_helpers.py SOURCE SINK``.
"""

from __future__ import annotations

import signal
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from veil.pipeline import Engine
from veil.regions import FACE, PLATE, Regions
from veil.settings import Settings

W, H, FPS = 320, 180, 25
BITS, CODE_H = 10, 16
FACE_WH, PLATE_WH = (40, 40), (64, 22)
_BORDER = 3
MAGENTA, CYAN = (230, 20, 230), (20, 230, 230)


def boxes_at(i: int) -> list[tuple[int, tuple[int, int, int, int]]]:
    """Ground truth of frame ``i``: (label, (x1, y1, x2, y2)) of every object."""
    fx = 10 + (3 * i) % (W - FACE_WH[0] - 20)
    px = W - PLATE_WH[0] - 10 - (2 * i) % (W - PLATE_WH[0] - 20)
    py = 100 + int(12 * np.sin(i / 9))
    return [
        (FACE, (fx, 30, fx + FACE_WH[0], 30 + FACE_WH[1])),
        (PLATE, (px, py, px + PLATE_WH[0], py + PLATE_WH[1])),
    ]


def _background() -> np.ndarray:
    """A still scene of broad random shapes, so the camera-motion estimate sees a still
    camera (on a flat background it would lock onto the moving objects)."""
    rng = np.random.default_rng(7)
    coarse = rng.uniform(50, 170, (H // 8 + 1, W // 8 + 1)).astype(np.float32)
    scene = np.kron(coarse, np.ones((8, 8), np.float32))[:H, :W]
    return np.repeat(scene.astype(np.uint8)[..., None], 3, axis=2)


_BACKGROUND = _background()


def picture(i: int, cut_at: int | None = None) -> np.ndarray:
    """Frame ``i``; from frame ``cut_at`` on, the background is inverted (a scene cut)."""
    img = (_BACKGROUND if cut_at is None or i < cut_at else 255 - _BACKGROUND).copy()
    yy, xx = np.mgrid[0:H, 0:W]
    for label, (x1, y1, x2, y2) in boxes_at(i):
        img[y1:y2, x1:x2] = MAGENTA if label == FACE else CYAN
        iy, ix = (
            yy[y1 + _BORDER : y2 - _BORDER, x1 + _BORDER : x2 - _BORDER],
            xx[y1 + _BORDER : y2 - _BORDER, x1 + _BORDER : x2 - _BORDER],
        )
        if label == FACE:
            texture = ((iy // 4 + ix // 4) % 2).astype(np.uint8)
        else:
            texture = ((ix // 3) % 2).astype(np.uint8)
        img[y1 + _BORDER : y2 - _BORDER, x1 + _BORDER : x2 - _BORDER] = (30 + 200 * texture)[
            ..., None
        ]
    img[H - CODE_H :] = 0
    bw = W // BITS
    for b in range(BITS):
        if (i >> b) & 1:
            img[H - CODE_H :, b * bw : (b + 1) * bw] = 255
    return img


def make_live_clip(
    path: Path, frames: int = 75, audio: bool = True, cut_at: int | None = None
) -> Path:
    """An MPEG-TS clip (H.264, a keyframe every 10 frames, AAC audio) of ``frames`` frames,
    with a scene cut at frame ``cut_at`` if given (the objects carry on across it)."""
    with av.open(str(path), "w", format="mpegts") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.codec_context.gop_size = 10
        vs.options = {"preset": "ultrafast", "crf": "12", "tune": "zerolatency"}
        a = out.add_stream("aac", rate=48_000) if audio else None
        samples = 1024
        t_audio = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(picture(i, cut_at), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(vs.encode(frame))
            while a is not None and t_audio < (i + 1) * 48_000 // FPS:
                tone = 0.2 * np.sin(2 * np.pi * 440 * (t_audio + np.arange(samples)) / 48_000)
                af = av.AudioFrame.from_ndarray(
                    tone.astype(np.float32)[None, :], format="fltp", layout="mono"
                )
                af.sample_rate, af.pts, af.time_base = 48_000, t_audio, Fraction(1, 48_000)
                out.mux(a.encode(af))
                t_audio += samples
        out.mux(vs.encode(None))
        if a is not None:
            out.mux(a.encode(None))
    return path


class ColourDetector:
    """Finds the objects' coloured frames: one box per class, the frame's bounding box."""

    def __init__(self, label: int) -> None:
        self.label = label

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        r, g, b = (rgb[..., k].astype(np.int16) for k in range(3))
        if self.label == FACE:
            hit = (r > 170) & (g < 90) & (b > 170)
        else:
            hit = (r < 90) & (g > 170) & (b > 170)
        ys, xs = np.nonzero(hit[: H - CODE_H])
        if len(xs) < 20:
            return Regions.empty()
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return Regions(np.array(box, np.float32), scores=[0.9], labels=[self.label])


def plugin_engine(settings: Settings | None = None) -> Engine:
    return Engine(settings or Settings(), detectors=[ColourDetector(FACE), ColourDetector(PLATE)])


def read_index(img: np.ndarray) -> int | None:
    """The frame index from the bottom code, or None where it is unreadable (masked whole)."""
    bw = W // BITS
    strip = img[H - CODE_H + 4 : H - 4].astype(np.float32).mean(axis=(0, 2))
    value = 0
    for b in range(BITS):
        level = strip[b * bw + 6 : (b + 1) * bw - 6].mean()
        if 40 < level < 215:
            return None
        value |= int(level >= 215) << b
    return value


def texture(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference of horizontal neighbours in the object's central region.

    The central region is the box shrunk by 20% of its size per side: what veil's own
    leak metric (veil.evaluate.metrics.central_coverage) requires masked. An elliptical
    face mask leaves a square object's corners, which are not the face.
    """
    x1, y1, x2, y2 = box
    dx, dy = round(0.2 * (x2 - x1)), round(0.2 * (y2 - y1))
    inner = img[y1 + dy : y2 - dy, x1 + dx : x2 - dx]
    grey = inner.astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean())


#: texture of an unmasked object is 45-65 after encoding, of a masked one about 1
#: (test_live asserts the first on the source clip)
UNMASKED_TEXTURE = 25.0


def check_masked(frames: list[np.ndarray]) -> dict[str, int]:
    """Count frames by what they show; raise AssertionError at the first unmasked object."""
    counts = {"indexed": 0, "whole": 0}
    for n, img in enumerate(frames):
        i = read_index(img)
        if i is None:
            # no readable index: the frame must be masked whole (no texture anywhere)
            grey = img.astype(np.float32).mean(axis=2)
            assert np.abs(np.diff(grey[:, : W // 2], axis=1)).mean() < 6, f"frame {n}"
            counts["whole"] += 1
            continue
        counts["indexed"] += 1
        for label, box in boxes_at(i):
            value = texture(img, box)
            assert value < UNMASKED_TEXTURE, (
                f"recorded frame {n} (source frame {i}): {'face' if label == FACE else 'plate'} "
                f"unmasked (texture {value:.0f})"
            )
    return counts


def decode_all(path: Path) -> list[np.ndarray]:
    """Every decodable frame of a (possibly truncated) recording."""
    out = []
    with av.open(str(path)) as c:
        try:
            for f in c.decode(video=0):
                out.append(f.to_ndarray(format="rgb24"))
        except av.FFmpegError:
            pass  # a killed writer's last packet; everything before it counts
    return out


def main(argv: list[str]) -> int:
    """Mask SOURCE into SINK at real rate with the plug-in detector; SIGTERM stops it."""
    from veil.live import LiveRun, LiveSettings

    def on_term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    source, sink = argv[:2]
    live = LiveSettings(realtime="--fast" not in argv)
    run = LiveRun(source, sink, live=live, engine=plugin_engine())
    try:
        run.run()
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
