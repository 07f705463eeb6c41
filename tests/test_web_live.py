"""Live jobs in ``veil serve``: start, watch, stop; what a client may name; no secrets."""

from __future__ import annotations

import io
import socket
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from live_helpers import UNMASKED_TEXTURE, boxes_at, make_live_clip, plugin_engine, read_index  # noqa: E402
from live_helpers import texture as texture_of  # noqa: E402
from veil.web.app import TOKEN_HEADER, create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

TOKEN = "test-token-live-0123456789"
AUTH = {TOKEN_HEADER: TOKEN}


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    make_live_clip(root / "clip.ts", frames=40, audio=False)
    manager = JobManager(root, engine_factory=lambda s: plugin_engine(s), workdir=tmp_path)
    with TestClient(create_app(manager, TOKEN)) as client:
        yield client


def _until(client: TestClient, job_id: str, states: set[str], timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = client.get(f"/api/live/{job_id}", headers=AUTH).json()
        if s["state"] in states:
            return s
        time.sleep(0.05)
    raise AssertionError(f"live job stayed {s['state']}")


def test_live_job_shows_only_masked_frames_and_counts(served):
    client = served
    r = client.post("/api/live", json={"source": "clip.ts"}, headers=AUTH)
    assert r.status_code == 201, r.text
    job = r.json()["id"]
    seen = []
    end = time.monotonic() + 20
    while time.monotonic() < end:
        s = client.get(f"/api/live/{job}", headers=AUTH).json()
        f = client.get(f"/api/live/{job}/frame.jpg", headers=AUTH)
        if f.status_code == 200:
            seen.append(np.asarray(Image.open(io.BytesIO(f.content)).convert("RGB")))
        if s["state"] == "ended":
            break
        time.sleep(0.1)
    assert s["state"] == "ended" and s["error"] is None
    assert s["stats"]["written"] + s["stats"]["dropped"] == 40 and "frames 40 in" in s["line"]
    assert any(read_index(img) is not None for img in seen)  # the view showed frames
    for img in seen:
        i = read_index(img)
        if i is not None:
            assert all(texture_of(img, b) < UNMASKED_TEXTURE for _, b in boxes_at(i))
    with client.stream("GET", f"/api/live/{job}/mjpeg", headers=AUTH) as mj:
        assert mj.headers["content-type"].startswith("multipart/x-mixed-replace")
        head = next(mj.iter_bytes())
        assert b"Content-Type: image/jpeg" in head
    assert client.get("/live").status_code == 200  # the page (no data, no token)


def test_stop_and_refusals(served):
    client = served
    r = client.post("/api/live", json={"source": "clip.ts"})
    assert r.status_code == 401
    refused = [
        {"source": "../clip.ts"},
        {"source": "/dev/video0"},
        {"source": "-"},
        {"source": "clip.ts", "sink": "out.ts"},
        {"source": "clip.ts", "latency": 0},
    ]
    for bad in refused:
        r = client.post("/api/live", json=bad, headers=AUTH)
        assert r.status_code == 400, (bad, r.text)
    job = client.post("/api/live", json={"source": "clip.ts"}, headers=AUTH).json()["id"]
    s = client.delete(f"/api/live/{job}", headers=AUTH).json()
    assert s["state"] in ("stopped", "ended")
    assert client.get("/api/live/nope", headers=AUTH).status_code == 404


def test_a_failing_source_reports_without_credentials(served):
    client = served
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtsp://viewer:pa55word@127.0.0.1:{port}/stream"
    job = client.post("/api/live", json={"source": url}, headers=AUTH).json()["id"]
    s = _until(client, job, {"failed"})
    assert "rtsp://***@127.0.0.1" in s["error"] and s["source"].startswith("rtsp://***@")
    assert "pa55word" not in client.get("/api/live", headers=AUTH).text
