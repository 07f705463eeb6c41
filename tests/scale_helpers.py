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
