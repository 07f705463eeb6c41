"""Cheap engines for the Dask tests; a module of its own so worker processes can import it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from veil.pipeline import Engine
from veil.regions import FACE, Regions
from veil.settings import Settings


class FlickerFace:
    """A still 'face' present while the green bar of media_factory clips is left of x=80.

    Tracks start and end every ~20 frames, so segment boundaries cut through
    tracks and gap filling; the box never moves, so one pass and a window that
    saw enough frames before and after agree to the pixel.
    """

    label = FACE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        green = (rgb[..., 1] > 150) & (rgb[..., 0] < 80)
        xs = np.flatnonzero(green.any(axis=0))
        if not len(xs) or xs[0] >= 80:
            return Regions.empty()
        return Regions([[20.5, 30.2, 60.1, 70.6]], scores=[0.9], labels=[FACE])


def flicker_engine(settings: Settings) -> Engine:
    return Engine(settings, detectors=[FlickerFace()])


class _Stall(FlickerFace):
    """Writes its PID to ``marker`` at the ``at``-th call and waits to be killed, once."""

    def __init__(self, marker: Path, at: int) -> None:
        self.marker, self.at, self.calls = marker, at, 0

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        self.calls += 1
        if self.calls == self.at:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass  # a later attempt: run normally
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                deadline = time.monotonic() + 120  # the test kills us long before
                while time.monotonic() < deadline:
                    time.sleep(0.05)
        return super().detect(rgb, threshold)


class StallOnce:
    """Engine factory whose detector stalls once mid-video so a test can kill the worker."""

    def __init__(self, marker: Path, at: int = 5) -> None:
        self.marker, self.at = Path(marker), at

    def __call__(self, settings: Settings) -> Engine:
        return Engine(settings, detectors=[_Stall(self.marker, self.at)])


def _red_corner(rgb: np.ndarray) -> bool:
    corner = rgb[:4, :4].reshape(-1, 3).mean(axis=0)
    return bool(corner[0] > 150 and corner[1] < 80 and corner[2] < 80)


class CornerProbeFace:
    """A face network stand-in for the orientation probe: a picture is 'upright'
    when its top-left corner is red, and the face it finds is always in the
    top-left corner of the picture it is given.

    So the probe picks the turn that brings the red marker top-left, and the
    mask lands in a different corner of the frame for each turn.
    """

    label = FACE

    def single_pass(self, rgb: np.ndarray, side: int, score: float) -> Regions:
        if not _red_corner(rgb):
            return Regions.empty()
        return Regions([[0.0, 0.0, 30.0, 24.0]], scores=[0.95], labels=[FACE])

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        return Regions([[2.0, 2.0, 34.0, 26.0]], scores=[0.9], labels=[FACE])


def corner_engine(settings: Settings) -> Engine:
    return Engine(settings, detectors=[CornerProbeFace()])


def make_turning_clip(
    path: Path, frames: int, switch_at: int, width: int = 160, height: int = 120
) -> Path:
    """A lossless clip whose red marker moves from the top-left to the top-right
    corner at ``switch_at``: a probe on a later frame sees a camera turned by 90°."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv444p"
        vs.codec_context.gop_size = 10
        vs.options = {"preset": "ultrafast", "crf": "0"}
        for i in range(frames):
            img = np.empty((height, width, 3), np.uint8)
            img[...] = np.linspace(60, 180, width, dtype=np.uint8)[None, :, None]
            x = (i * 7) % (width - 8)
            img[:, x : x + 8] = (0, 200, 0)
            corner = np.s_[: height // 4, : width // 4]
            if i >= switch_at:
                corner = np.s_[: height // 4, width - width // 4 :]
            img[corner] = (255, 0, 0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return path


def decoded(path: Path) -> tuple[list[tuple[int, np.ndarray]], list[tuple[int, bytes]]]:
    """A video's frames (pts, RGB) and its audio packets (pts, bytes)."""
    import av

    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return frames, audio


def assert_same_media(a: Path, b: Path) -> None:
    """Images byte-identical; videos with the same frames, timestamps and audio packets."""
    if a.suffix.lower() not in (".mp4", ".mov", ".mkv", ".m4v"):
        assert a.read_bytes() == b.read_bytes(), b
        return
    (fa, aa), (fb, ab) = decoded(a), decoded(b)
    assert [p for p, _ in fa] == [p for p, _ in fb], b  # frame count and timestamps
    for (_, x), (_, y) in zip(fa, fb, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=str(b))
    assert aa == ab, b  # audio copied packet for packet
