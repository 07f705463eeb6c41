"""Generate small, deterministic test clips with PyAV (no binaries, no shared data).

Tests import it as ``from media_factory import make_clip``. Every clip shows a
red marker in the top-left corner *of the displayed picture*: for a rotated clip
the stored pixels are turned the other way and a display matrix is written
(``VideoStream.set_display_rotation``, PyAV >= 17), so a reader that applies the
rotation sees the marker top-left, one that ignores it does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MARKER = (255, 0, 0)
VIDEO_TIME_BASE = Fraction(1, 90_000)
AUDIO_RATE = 48_000


def displayed_frame(index: int, width: int, height: int) -> np.ndarray:
    """The upright RGB picture of frame ``index``: grey ramp, moving bar, red marker."""
    img = np.empty((height, width, 3), np.uint8)
    img[...] = np.linspace(60, 180, width, dtype=np.uint8)[None, :, None]
    x = (index * 7) % max(1, width - 8)
    img[:, x : x + 8] = (0, 200, 0)
    img[: max(2, height // 4), : max(2, width // 4)] = MARKER
    return img


def vfr_durations(frames: int) -> list[int]:
    """Irregular frame durations in 1/90000 s (20, 70, 33, 45 ms cycling)."""
    cycle = (1800, 6300, 2970, 4050)
    return [cycle[i % len(cycle)] for i in range(frames)]


def make_clip(
    path: str | Path,
    *,
    width: int = 160,
    height: int = 120,
    frames: int = 25,
    fps: int = 25,
    vfr: bool = False,
    audio: bool = False,
    rotation: int = 0,
    tags: Mapping[str, str] | None = None,
    stream_tags: Mapping[str, str] | None = None,
    codec: str | None = None,
    durations: Sequence[int] | None = None,
    gop: int | None = None,
) -> Path:
    """Write a clip and return its path.

    ``width``/``height`` are the *displayed* size; with ``rotation`` of +-90 the
    stored frames are ``height`` x ``width``. ``rotation`` is counter-clockwise
    degrees as PyAV reports them in ``VideoFrame.rotation``. ``vfr`` (or explicit
    ``durations`` in 1/90000 s) gives irregular pts. ``tags`` become container
    metadata (the mov/mp4 muxer is asked to write arbitrary keys, e.g.
    ``com.apple.quicktime.location.ISO6709``), ``stream_tags`` video stream metadata.
    Odd sizes are stored as yuv444p because x264 refuses odd 4:2:0.
    ``gop`` sets the keyframe interval (x264's default puts one keyframe in a short clip).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if codec is None:
        codec = "libvpx-vp9" if ext == ".webm" else "libx264"
    options = {"movflags": "use_metadata_tags"} if ext in (".mp4", ".mov", ".m4v") else {}
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    k = (rotation // 90) % 4
    stored_w, stored_h = (height, width) if k % 2 else (width, height)
    odd = stored_w % 2 or stored_h % 2
    if durations is None:
        durations = vfr_durations(frames) if vfr else [90_000 // fps] * frames
    durations = list(durations)
    if len(durations) != frames:
        raise ValueError("durations must have one entry per frame")

    with av.open(str(path), "w", options=options) as out:
        if tags:
            out.metadata.update(tags)
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = stored_w, stored_h
        vs.pix_fmt = "yuv444p" if odd else "yuv420p"
        vs.codec_context.time_base = VIDEO_TIME_BASE
        vs.time_base = VIDEO_TIME_BASE
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "crf": "20"}
        if gop is not None:
            vs.codec_context.gop_size = gop
        if stream_tags:
            vs.metadata.update(stream_tags)
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio:
            acodec = "libopus" if ext == ".webm" else "aac"
            aus = out.add_stream(acodec, rate=AUDIO_RATE)
            aus.layout = "mono"

        pts = 0
        for i in range(frames):
            stored = np.ascontiguousarray(np.rot90(displayed_frame(i, width, height), -k))
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = pts
            frame.time_base = VIDEO_TIME_BASE
            pts += durations[i]
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))

        if aus is not None:
            total = int(round(pts / 90_000 * AUDIO_RATE))
            t = np.arange(total, dtype=np.float32) / AUDIO_RATE
            samples = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
            step = 1024
            for start in range(0, total, step):
                chunk = samples[start : start + step][None, :]
                af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                af.sample_rate = AUDIO_RATE
                af.pts = start
                af.time_base = Fraction(1, AUDIO_RATE)
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return path
