"""``veil serve`` fixes from the review of issue 30: each test fails on the code before."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import httpx
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from media_factory import make_clip  # noqa: E402
from test_web_api import AUTH, TOKEN, BarDetector, _detected, _wait  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.project import Project  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web import jobs as web_jobs  # noqa: E402
from veil.web.app import TOKEN_HEADER, create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402


def _manager(root, tmp_path, **kw) -> JobManager:
    return JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[BarDetector()]),
        max_upload=300_000,
        workdir=tmp_path,
        **kw,
    )


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    make_clip(root / "clip.mp4", frames=30)
    manager = _manager(root, tmp_path)
    with TestClient(create_app(manager, TOKEN)) as client:
        yield client, manager


def test_follow_past_the_servers_window_keeps_the_region_masked(served, monkeypatch):
    """Issue 30.1: the server follows FOLLOW_SPAN frames around the drawn boxes; the
    frames after that stayed unmasked and unflagged."""
    client, _ = served
    monkeypatch.setattr(web_jobs, "FOLLOW_SPAN", 5)
    jid = _detected(client)
    add = client.post(
        f"/api/jobs/{jid}/edit",
        json={"op": "add_track", "label": "logo", "frame": 3, "box": [100, 10, 150, 30]},
        headers=AUTH,
    )
    logo = add.json()["changed"][0]["id"]
    assert client.post(f"/api/jobs/{jid}/tracks/{logo}/follow", headers=AUTH).status_code == 202
    assert _wait(client, jid)["error"] is None
    doc = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()["project"]
    track = Project.loads(json.dumps(doc)).track("clip.mp4", logo)
    assert track.visible_ranges(30) == [(0, 29)]
    assert any(lo <= 9 and hi >= 29 for lo, hi in track.review)
    box = track.box_at(25, 30)
    assert box is not None and box[2] - box[0] > 50  # the last box, grown


def _render(client: TestClient, jid: str) -> dict:
    assert client.post(f"/api/jobs/{jid}/render", headers=AUTH).status_code == 202
    s = _wait(client, jid)
    assert s["state"] == "rendered" and s["error"] is None, s
    return s


def test_an_output_older_than_the_edits_is_marked_stale_and_not_served_silently(
    served, monkeypatch
):
    """Issue 30.2: an edit after (or during) a render left the old output downloadable
    as if it were current."""
    client, _ = served
    jid = _detected(client)
    assert _render(client, jid)["stale"] is False
    assert client.get(f"/api/jobs/{jid}/output", headers=AUTH).status_code == 200
    add = {"op": "add_track", "label": "logo", "frame": 3, "box": [100, 10, 150, 30]}
    assert client.post(f"/api/jobs/{jid}/edit", json=add, headers=AUTH).status_code == 200
    assert client.get(f"/api/jobs/{jid}", headers=AUTH).json()["stale"] is True
    refused = client.get(f"/api/jobs/{jid}/output", headers=AUTH)
    assert refused.status_code == 409 and "render again" in refused.json()["detail"]
    assert client.get(f"/api/jobs/{jid}/output?stale=true", headers=AUTH).status_code == 200
    assert _render(client, jid)["stale"] is False

    # an edit accepted while the render runs is not in that output either
    real = web_jobs.render_file

    def edit_meanwhile(*a, **kw):
        r = client.post(f"/api/jobs/{jid}/edit", json=add, headers=AUTH)
        assert r.status_code == 200, r.text
        return real(*a, **kw)

    monkeypatch.setattr(web_jobs, "render_file", edit_meanwhile)
    assert _render(client, jid)["stale"] is True
    assert client.get(f"/api/jobs/{jid}/output", headers=AUTH).status_code == 409


_SERVER = """
import logging, sys
from pathlib import Path
import veil.web.app as app
root = Path(sys.argv[1])
def unreadable(folder, limit=5000):  # an unhandled error quoting a person's file name
    raise RuntimeError(f"cannot read {folder / 'Jane Doe.mp4'}")
app.media_files = unreadable
logging.basicConfig(level=logging.INFO)  # a root handler too, as a host app may set
from veil.web import serve
serve(root, port=int(sys.argv[2]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_running_servers_log_hides_file_names_in_tracebacks_too(tmp_path):
    """Issue 30.3: the filter was put on the handlers before uvicorn replaced them, and
    it redacted the message only, so a traceback logged the full path."""
    root = tmp_path / "media"
    root.mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(root), str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while "#token=" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "server did not start"
        token = line.split("#token=")[1].strip()
        for _ in range(100):
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(
                        f"http://127.0.0.1:{port}/api/files", headers={TOKEN_HEADER: token}
                    ),
                    timeout=10,
                ):
                    pass
            except urllib.error.HTTPError as e:
                assert e.code == 500
                break
            except OSError:
                time.sleep(0.1)  # not listening yet
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "RuntimeError" in err  # the traceback is logged ...
    assert "Jane" not in err and str(root) not in err  # ... without the name or the path
    assert "<file>" in err


def test_a_symlink_loop_is_skipped_in_the_list_and_refused_on_open(served):
    """Issue 30.4: one loop (x.mp4 -> x.mp4) made every file listing answer 500."""
    client, manager = served
    (manager.root / "x.mp4").symlink_to("x.mp4")
    (manager.root / "a.mp4").symlink_to("b.mp4")
    (manager.root / "b.mp4").symlink_to("a.mp4")
    r = client.get("/api/files", headers=AUTH)
    assert r.status_code == 200, r.text
    assert [f["path"] for f in r.json()["files"]] == ["clip.mp4"]
    for name in ("x.mp4", "a.mp4", "sub/../x.mp4"):
        r = client.post("/api/jobs", json={"path": name}, headers=AUTH)
        assert r.status_code == 400, r.text
    assert manager.jobs == {}


def test_an_upload_is_not_listed_or_usable_until_it_is_complete(tmp_path):
    """Issue 30.7: the job was listed, and detection could start, while its upload was
    still streaming in."""
    root = tmp_path / "media"
    root.mkdir()
    manager = _manager(root, tmp_path)
    app = create_app(manager, TOKEN)
    clip = make_clip(tmp_path / "up.mp4", frames=10).read_bytes()
    seen: dict[str, object] = {}

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:

            async def body():
                yield clip[: len(clip) // 2]
                (job_id,) = manager.jobs  # reserved, half written
                seen["listed"] = (await c.get("/api/jobs", headers=AUTH)).json()["jobs"]
                seen["status"] = (await c.get(f"/api/jobs/{job_id}", headers=AUTH)).status_code
                detect = await c.post(f"/api/jobs/{job_id}/detect", headers=AUTH)
                seen["detect"] = detect.status_code
                yield clip[len(clip) // 2 :]

            return await c.post("/api/jobs/upload?name=up.mp4", content=body(), headers=AUTH)

    try:
        done = asyncio.run(main())
        assert seen == {"listed": [], "status": 404, "detect": 404}
        assert done.status_code == 201, done.text
        assert manager.get(done.json()["id"]).src.stat().st_size == len(clip)
        assert [j.id for j in manager.listed()] == [done.json()["id"]]
    finally:
        manager.shutdown()


def test_work_folders_of_a_killed_server_are_removed_at_the_next_start(tmp_path):
    """Issue 30.7: a killed server left its unmasked proxy, thumbnails and uploads in its
    work folder for good."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = tmp_path / "veil-serve-killed"
    (killed / "job" / "input").mkdir(parents=True)
    (killed / "job" / "proxy.mkv").write_bytes(b"unmasked")
    (killed / "owner.pid").write_text(str(dead.pid))
    running = tmp_path / "veil-serve-running"  # another server, still up
    running.mkdir()
    (running / "owner.pid").write_text(str(os.getpid()))
    other = tmp_path / "keep-me"
    other.mkdir()
    root = tmp_path / "media"
    root.mkdir()
    manager = _manager(root, tmp_path)
    try:
        assert not killed.exists()
        assert running.is_dir() and other.is_dir()
        assert (manager.workdir / "owner.pid").read_text() == str(os.getpid())
    finally:
        manager.shutdown()
    assert not manager.workdir.exists()


def test_a_restart_recovers_jobs_unless_their_input_changed_meanwhile(tmp_path):
    """Issue 27 (crashes): a killed server's detected job comes back on the same FOLDER
    with its project; not when the input file was changed while the server was down."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / "media"
    root.mkdir()
    make_clip(root / "clip.mp4", frames=10)
    managers = [_manager(root, tmp_path)]
    try:
        a = managers[0]
        job = a.create(root / "clip.mp4", "clip.mp4")
        a.submit(job, "detect")
        job.idle.wait(60)
        assert job.state == "ready" and a.flush(job)
        (a.workdir / "owner.pid").write_text(str(dead.pid))  # as if killed
        b = _manager(root, tmp_path)
        managers.append(b)
        assert [j.id for j in b.listed()] == [job.id] and b.get(job.id).state == "ready"
        assert b.get(job.id).frames is not None and not a.workdir.exists()
        (b.workdir / "owner.pid").write_text(str(dead.pid))
        os.utime(root / "clip.mp4", ns=(1, 1))  # the input is edited while the server is down
        c = _manager(root, tmp_path)
        managers.append(c)
        assert c.listed() == [] and not b.workdir.exists()
    finally:
        for m in managers:
            m.shutdown()
