"""Frames for display: a seek-friendly proxy, written while detection decodes the video.

Why a proxy: a camera file may have a keyframe only every 250 frames, so
showing an arbitrary frame of the original means decoding up to 249 frames
first (seconds at 1080p; CVAT #8302). Detection decodes every frame anyway,
so each one is also downscaled (longest side :data:`PROXY_SIDE`) and encoded
into an H.264 proxy with a keyframe every :data:`PROXY_GOP` frames: any frame
is then at most ``PROXY_GOP - 1`` small decodes away. Frame ``i`` of the proxy
is frame ``i`` of the original (pts = index), so the number the page shows is
the frame it shows. The render always reads the original.

The masked preview draws the project's boxes on the frame (found per frame by
:class:`veil.web.encode.FrameBoxes`), scaled to the proxy, with
:func:`veil.mask.draw`, the function the render uses.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from ..errors import InputError
from ..mask import Style, draw

log = logging.getLogger(__name__)

PROXY_SIDE = 1280
PROXY_GOP = 12
PROXY_RATE = 25  # the proxy's own clock: pts = frame index at 1/25 s
JPEG_QUALITY = 85
CACHE_FRAMES = 48
THUMB_SIDE = 96
THUMB_SIDES = (32, 256)  # the sizes the API serves
#: a thumbnail shows its box and as much again of the frame around it ...
THUMB_CONTEXT = 1.0
#: ... and at least this many px of the frame across (tiny boxes)
THUMB_LEAST = 32.0
THUMB_OUTLINE = (79, 163, 255)  # the page's accent colour

#: What is masked on one frame: boxes (N, 4) in source pixels, styles, seeds.
Masks = tuple[np.ndarray, list[Style], np.ndarray]


def proxy_size(width: int, height: int, side: int = PROXY_SIDE) -> tuple[int, int]:
    """Display size: longest side at most ``side``, both even (yuv420p)."""
    s = min(1.0, side / max(width, height))
    w = max(2, int(round(width * s / 2)) * 2)
    h = max(2, int(round(height * s / 2)) * 2)
    return w, h


class ProxyWriter:
    """Encodes the frames detection decodes into the proxy, one call per frame."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        self.path = path
        self.size = proxy_size(width, height)
        self._out = av.open(str(path), "w", format="matroska")
        s = self._out.add_stream("libx264", rate=PROXY_RATE)
        s.width, s.height = self.size
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, PROXY_RATE)
        s.options = {
            "preset": "ultrafast",
            "crf": "23",
            "x264-params": f"keyint={PROXY_GOP}:min-keyint={PROXY_GOP}:scenecut=0:bframes=0",
        }
        self._stream = s
        self.frames = 0

    def add(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        w, h = self.size
        # one swscale pass scales and converts (several times faster than Pillow then rgb->yuv)
        small = frame.reformat(width=w, height=h, format="yuv420p", interpolation="BILINEAR")
        small.pts = self.frames
        small.time_base = Fraction(1, PROXY_RATE)
        self._out.mux(self._stream.encode(small))
        self.frames += 1

    def close(self) -> None:
        try:
            self._out.mux(self._stream.encode(None))
        finally:
            self._out.close()

    def abort(self) -> None:
        try:
            self._out.close()
        finally:
            self.path.unlink(missing_ok=True)


class FrameSource:
    """Decoded proxy frames by index, with a small LRU cache of encoded JPEGs.

    Thread-safe (one lock: a PyAV container is not); memory is bounded by the
    cache size whatever the video's length. Sequential requests (playback)
    continue decoding without seeking.
    """

    def __init__(self, proxy: Path | None, frames: int, still: np.ndarray | None = None) -> None:
        self.frames = frames
        self._still = still
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._container: Any = None
        self._next = -1  # index the decoder will produce next without a seek
        self._iter: Any = None
        if proxy is not None:
            self._container = av.open(str(proxy))
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "SLICE"  # frame threading delays output after a seek
        elif still is None:
            raise InputError("frames: neither a proxy nor a picture to show")

    @classmethod
    def for_image(cls, rgb: np.ndarray) -> FrameSource:
        w, h = proxy_size(rgb.shape[1], rgb.shape[0])
        small = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR))
        return cls(None, 1, small)

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
                self._container = None
            self._cache.clear()

    def rgb(self, index: int) -> np.ndarray:
        """The display frame ``index`` (RGB, proxy size)."""
        if not 0 <= index < self.frames:
            raise InputError(f"frame: {index} is not within 0..{self.frames - 1}")
        with self._lock:
            if self._still is not None:
                return self._still.copy()
            return self._decode(index)

    def _decode(self, index: int) -> np.ndarray:
        if self._container is None:
            raise InputError("frames: this job's frames are closed")
        if index != self._next:
            key = index - index % PROXY_GOP
            target = int(Fraction(key, PROXY_RATE) / self._stream.time_base)
            self._container.seek(target, stream=self._stream, backward=True)
            self._iter = self._container.decode(self._stream)
        for frame in self._iter:
            i = int(round(float(frame.time) * PROXY_RATE))
            if i < index:
                continue
            self._next = i + 1
            if i == index:
                return frame.to_ndarray(format="rgb24")
            break
        self._next = -1
        raise InputError(f"frame: {index} could not be decoded from the proxy")

    def jpeg(self, index: int, plan: Masks | None = None, scale: float = 1.0) -> bytes:
        """JPEG bytes of frame ``index``; masked with ``plan`` (that frame's masks) if given.

        Only original frames are cached: a masked preview changes with every edit.
        """
        key = (index, 0)
        if plan is None:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        rgb = self.rgb(index)
        if plan is not None:
            rgb = masked(rgb, plan, scale)
        data = encode_jpeg(rgb)
        if plan is None:
            with self._lock:
                self._cache[key] = data
                while len(self._cache) > CACHE_FRAMES:
                    self._cache.popitem(last=False)
        return data


def masked(rgb: np.ndarray, plan: Masks, scale: float) -> np.ndarray:
    """The frame with its masks, drawn by the render's own code at display scale."""
    xyxy, styles, seeds = plan
    if not len(xyxy):
        return rgb
    # margins and strengths are relative to each box, so a scaled box is masked alike
    return draw(rgb, np.asarray(xyxy, np.float32) * np.float32(scale), styles, seeds)[0]


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def thumbnail(
    rgb: np.ndarray,
    box: tuple[float, float, float, float] | None,
    side: int = THUMB_SIDE,
    context: float = THUMB_CONTEXT,
) -> bytes:
    """A square picture of a box in its surroundings, the box outlined, JPEG.

    The crop is the box grown by ``context`` times its longer side (at least
    :data:`THUMB_LEAST` px of the frame across), moved inside the frame where it
    would cross an edge, and scaled to ``side`` (centred on black where the frame is
    narrower than the crop): a 12 px head alone is a smudge, with its shoulders or
    the shop front around it a reviewer tells a face from a lantern at a glance. No
    box (not on this frame): a black square.
    """
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (0.0, 0.0, 0.0, 0.0) if box is None else (float(v) for v in box)
    across = max((1.0 + context) * max(x2 - x1, y2 - y1), THUMB_LEAST)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    xa = int(round(min(max(cx - across / 2, 0.0), max(w - across, 0.0))))
    ya = int(round(min(max(cy - across / 2, 0.0), max(h - across, 0.0))))
    xb, yb = min(w, int(round(xa + across))), min(h, int(round(ya + across)))
    im = Image.new("RGB", (side, side))
    if not (xb <= xa or yb <= ya or x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h):
        k = side / max(xb - xa, yb - ya)
        size = (max(1, round((xb - xa) * k)), max(1, round((yb - ya) * k)))
        crop = Image.fromarray(np.ascontiguousarray(rgb[ya:yb, xa:xb]))
        ox, oy = (side - size[0]) // 2, (side - size[1]) // 2
        im.paste(crop.resize(size, Image.Resampling.BILINEAR), (ox, oy))
        x0, y0 = ox - xa * k, oy - ya * k  # frame px -> picture px: x * k + x0
        outline = [x1 * k + x0 - 1, y1 * k + y0 - 1, x2 * k + x0, y2 * k + y0]
        ImageDraw.Draw(im).rectangle(outline, outline=THUMB_OUTLINE, width=2)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0)  # a crisp outline
    return buf.getvalue()
