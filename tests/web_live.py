"""A live ``veil serve`` app for tests: uvicorn on a free 127.0.0.1 port, in a thread.

Tests that need real HTTP (the fuzzer, concurrent clients) use it, so requests go
through the socket, the middleware and the token check as a browser's would.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from media_factory import make_clip
from test_web_api import TOKEN, BarDetector
from veil.pipeline import Engine
from veil.settings import DetectSettings, Settings
from veil.web.app import create_app
from veil.web.jobs import JobManager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Live:
    """The app served on 127.0.0.1 with one detected job (``job``) on a 12-frame clip."""

    def __init__(self, tmp: Path, frames: int = 12, workers: int = 1) -> None:
        root = tmp / "media"
        root.mkdir()
        make_clip(root / "clip.mp4", frames=frames)
        self.manager = JobManager(
            root,
            Settings(detect=DetectSettings(targets=("face",))),
            engine_factory=lambda s: Engine(s, detectors=[BarDetector()]),
            max_upload=300_000,
            workdir=tmp,
            workers=workers,
        )
        self.port = free_port()
        config = uvicorn.Config(
            create_app(self.manager, TOKEN), port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"
        job = self.manager.create(root / "clip.mp4", "clip.mp4")
        self.manager.submit(job, "detect")
        job.idle.wait(60)
        assert job.state == "ready", job.error
        self.job = job.id

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.manager.shutdown()
