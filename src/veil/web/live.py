"""Live jobs in ``veil serve``: start and stop ``veil live`` runs, watch their masked output.

The routes sit on the token-guarded ``/api`` router, so the token rules of the
rest of the API apply. What a client may name is narrow on purpose: a source is a
network stream or a media file inside the served folder (never a device or a
path elsewhere), a sink is a stream to publish or nothing (the view only); no
file is written. Only masked frames reach the view: the JPEG is made from the
frame handed to the encoder. Status answers carry counts and addresses with
their credentials replaced, never frames or boxes.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, Response, StreamingResponse
from PIL import Image
from pydantic import BaseModel, Field

from ..errors import ConfigError, VeilError
from ..live import LiveRun, LiveSettings, redact
from ..live.sink import NULL_SINK
from ..live.urls import NETWORK_SCHEMES, scheme
from .files import inside

if TYPE_CHECKING:
    from .jobs import JobManager

log = logging.getLogger(__name__)

#: live jobs that may run at once (each decodes, detects and encodes in real time)
MAX_LIVE = 2
#: the view is refreshed at most this often (seconds): it is a preview, not the stream
VIEW_EVERY_S = 0.2
_PUBLISH = ("rtmp", "rtmps", "rtsp", "udp", "tcp")
_BOUNDARY = "veilframe"


class LiveRequest(BaseModel):
    """Start a live job: ``source`` is a stream URL or a file in the served folder."""

    source: str = Field(max_length=4096)
    sink: str | None = Field(default=None, max_length=4096)
    latency: float = 1.0
    realtime: bool | None = None  # default: true for a file source
    overload: str = "blur"


class LiveJob:
    """One run on its own thread, and the latest masked frame as a JPEG."""

    def __init__(self, job_id: str, run: LiveRun, source: str, sink: str | None) -> None:
        self.id = job_id
        self.run = run
        self.source, self.sink = redact(source), redact(sink) if sink else None
        self.state = "starting"
        self.error: str | None = None
        self.jpeg: bytes | None = None
        self.jpeg_seq = 0
        self._last_view = 0.0
        run.frame_hook = self._view
        self.thread = threading.Thread(target=self._run, name=f"veil-live-{job_id}", daemon=True)

    def _view(self, masked: np.ndarray, t: float) -> None:
        now = time.monotonic()
        if now - self._last_view < VIEW_EVERY_S:
            return
        self._last_view = now
        buf = io.BytesIO()
        Image.fromarray(masked).save(buf, "JPEG", quality=80)
        self.jpeg, self.jpeg_seq = buf.getvalue(), self.jpeg_seq + 1
        self.state = "running"

    def _run(self) -> None:
        try:
            self.run.run()
            self.state = "stopped" if self.run._stop.is_set() else "ended"
        except VeilError as e:
            self.error, self.state = str(e), "failed"
        except Exception as e:  # noqa: BLE001 - a bug: one line, no traceback to the client
            log.debug("live job failed", exc_info=True)
            self.error, self.state = f"internal error ({type(e).__name__})", "failed"

    @property
    def active(self) -> bool:
        return self.thread.is_alive()

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "source": self.source,
            "sink": self.sink,
            "error": self.error,
            "line": self.run.stats.line(),
            "stats": self.run.stats.as_dict(),
        }


class LiveJobs:
    """The server's live jobs."""

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self.jobs: dict[str, LiveJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _source(self, text: str) -> tuple[str, bool]:
        """(what to open, whether it is a file) for a client's source; refused otherwise."""
        if scheme(text) in NETWORK_SCHEMES:
            return text, False
        if "://" in text or text.startswith(("/dev/", "pipe:", "-")):
            raise ConfigError("source: a stream URL or a media file inside the served folder")
        path = inside(self.manager.root, text)
        try:
            found = path.is_file()
        except OSError:  # a name too long for the file system, say
            found = False
        if not found:
            raise ConfigError("source: no such file in the served folder")
        return str(path), True

    def start(self, req: LiveRequest) -> LiveJob:
        source, is_file = self._source(req.source)
        sink = req.sink or None
        if sink is not None and scheme(sink) not in _PUBLISH:
            raise ConfigError(
                f"sink: a stream to publish ({', '.join(_PUBLISH)}) or none; "
                "veil serve writes no live file"
            )
        live = LiveSettings(
            latency_s=req.latency,
            overload=req.overload,
            realtime=is_file if req.realtime is None else req.realtime,
        )
        with self._lock:
            if sum(j.active for j in self.jobs.values()) >= MAX_LIVE:
                raise ConfigError(f"live: at most {MAX_LIVE} live jobs run at once; stop one")
            job_id = f"live{next(self._ids)}"
            run = LiveRun(
                source, sink or NULL_SINK, self.manager.settings, live, self.manager.engine()
            )
            job = LiveJob(job_id, run, req.source if not is_file else Path(source).name, sink)
            self.jobs[job_id] = job
        job.thread.start()
        return job

    def get(self, job_id: str) -> LiveJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such live job")
        return job

    def stop(self, job_id: str) -> LiveJob:
        job = self.get(job_id)
        job.run.stop()
        job.thread.join(10.0)
        return job

    def stop_all(self) -> None:
        for job in list(self.jobs.values()):
            job.run.stop()
        for job in list(self.jobs.values()):
            job.thread.join(10.0)


def add_live_routes(app: FastAPI, api: APIRouter, manager: JobManager) -> LiveJobs:
    """Register the live routes on ``api`` (call before ``include_router``) and the page."""
    jobs = LiveJobs(manager)
    atexit.register(jobs.stop_all)  # a stream publishing through the server ends cleanly
    static = Path(__file__).parent / "static"

    @api.post("/live", status_code=201, summary="Start a live job (veil live)")
    def start(req: LiveRequest) -> dict[str, Any]:
        return jobs.start(req).status()

    @api.get("/live", summary="Live jobs and their status lines")
    def listing() -> list[dict[str, Any]]:
        return [j.status() for j in jobs.jobs.values()]

    @api.get("/live/{job_id}", summary="A live job's state, counts and delay")
    def status(job_id: str) -> dict[str, Any]:
        return jobs.get(job_id).status()

    @api.delete("/live/{job_id}", summary="Stop a live job")
    def stop(job_id: str) -> dict[str, Any]:
        return jobs.stop(job_id).status()

    @api.get(
        "/live/{job_id}/frame.jpg",
        summary="The latest masked frame (refreshed up to 5 times a second)",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def frame(job_id: str) -> Response:
        job = jobs.get(job_id)
        if job.jpeg is None:
            raise HTTPException(409, "live job: no frame yet")
        return Response(job.jpeg, media_type="image/jpeg")

    @api.get(
        "/live/{job_id}/mjpeg",
        summary="The masked frames as MJPEG (multipart/x-mixed-replace), read with fetch",
        response_class=StreamingResponse,
    )
    async def mjpeg(job_id: str) -> StreamingResponse:
        job = jobs.get(job_id)

        async def parts() -> AsyncIterator[bytes]:
            seen = -1
            while job.active or seen != job.jpeg_seq:
                if job.jpeg is not None and job.jpeg_seq != seen:
                    seen, data = job.jpeg_seq, job.jpeg
                    yield (
                        (
                            f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(data)}\r\n\r\n"
                        ).encode()
                        + data
                        + b"\r\n"
                    )
                await asyncio.sleep(VIEW_EVERY_S / 2)

        return StreamingResponse(
            parts(), media_type=f"multipart/x-mixed-replace; boundary={_BOUNDARY}"
        )

    @app.get("/live", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(static / "live.html")

    return jobs
