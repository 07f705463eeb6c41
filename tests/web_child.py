"""``veil serve`` as a child process for the crash tests (a stand-in detector, the
real app and uvicorn): ``python tests/web_child.py ROOT WORKDIR PORT``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import uvicorn  # noqa: E402

from veil.pipeline import Engine  # noqa: E402
from veil.regions import FACE, Regions  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.app import create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

TOKEN = "test-token-0123456789"  # test_web_api's (not imported: it pulls in the test client)


class BarDetector:
    """test_web_api's stand-in: the moving green bar of media_factory clips, as a 'face'."""

    label = FACE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        green = (rgb[..., 1] > 150) & (rgb[..., 0] < 80)
        xs = np.flatnonzero(green.any(axis=0))
        if not len(xs):
            return Regions.empty()
        return Regions([[xs[0] - 3.0, 40.0, xs[-1] + 4.0, 80.0]], scores=[0.9], labels=[FACE])


if __name__ == "__main__":
    root, workdir, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    manager = JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[BarDetector()]),
        max_upload=10_000_000,
        workdir=workdir,
    )
    try:
        uvicorn.run(create_app(manager, TOKEN), port=port, log_level="warning")
    finally:
        manager.shutdown()
