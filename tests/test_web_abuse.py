"""``veil serve`` under abusive requests (issue 27): odd paths, swapped links, stalled
and oversized uploads and bodies, edits naming what does not exist. Each is refused
with the right status and touches no file outside FOLDER."""

from __future__ import annotations

import asyncio
import json
import shutil

import httpx
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from media_factory import make_clip  # noqa: E402
from test_web_api import AUTH, TOKEN, BarDetector, _detected, _wait  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.app import create_app  # noqa: E402
from veil.web.guard import MAX_JSON  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402


def _manager(root, tmp_path) -> JobManager:
    return JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[BarDetector()]),
        max_upload=300_000,
        workdir=tmp_path,
    )


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    make_clip(root / "clip.mp4", frames=30)
    make_clip(root / "sub" / "in.mp4", frames=30)
    outside = tmp_path / "outside"
    outside.mkdir()
    make_clip(outside / "secret.mp4", frames=5)
    make_clip(outside / "in.mp4", frames=5)
    manager = _manager(root, tmp_path)
    with TestClient(create_app(manager, TOKEN)) as client:
        yield client, manager


BAD_PATHS = [
    "%2e%2e/outside/secret.mp4",  # URL-encoded '..' (the JSON path is never decoded)
    "%252e%252e/outside/secret.mp4",  # double-encoded
    "..%2foutside%2fsecret.mp4",
    "\uff0e\uff0e/outside/secret.mp4",  # fullwidth dots: '..' after NFKC
    "\u2025/outside/secret.mp4",  # two-dot leader
    "..\u2215outside\u2215secret.mp4",  # division slash
    "../outside/secret.mp4",
    "sub/../../outside/secret.mp4",
    "./../outside/secret.mp4",
    "..\\outside\\secret.mp4",
    "/etc/passwd",
    "//etc/passwd",
    "~/secret.mp4",
    "clip.mp4\x00.png",
    "clip.mp4\x00",
    "cl\nip.mp4",
    "cl\rip.mp4",
    "\x1b[2Jclip.mp4",
    "clip.mp4/..",
    "",
]


def test_odd_paths_are_refused_and_make_no_job(served):
    client, manager = served
    for path in BAD_PATHS:
        r = client.post("/api/jobs", json={"path": path}, headers=AUTH)
        assert r.status_code == 400, (path, r.status_code, r.text)
    assert manager.jobs == {}


def test_encoded_dot_dot_urls_serve_nothing_outside_static(served):
    client, _ = served
    for url in (
        "/static/..%2f..%2fapp.py",
        "/static/%2e%2e/%2e%2e/app.py",
        "/static/%252e%252e/app.py",
        "/static/..%5capp.py",
        "/static/%c0%ae%c0%ae/app.py",  # overlong UTF-8 '..'
        "/static/app.js%00.html",
    ):
        r = client.get(url, headers=AUTH)
        assert r.status_code in (400, 404), (url, r.status_code)
        assert "def create_app" not in r.text


def test_api_urls_with_encoded_dot_dot_reach_no_job(served):
    client, _ = served
    for url in (
        "/api/jobs/..%2f..%2fetc/frames/0",
        "/api/jobs/%2e%2e/project",
        "/api/%2e%2e/files",
    ):
        assert client.get(url, headers=AUTH).status_code == 404, url
        assert client.get(url).status_code in (401, 404), url  # never data without the token


def test_a_symlink_swapped_in_after_the_check_is_not_read(served):
    """The job checks sub/in.mp4; then sub becomes a link out of FOLDER to a folder
    holding another in.mp4. Detection must refuse, not read the outside file."""
    client, manager = served
    r = client.post("/api/jobs", json={"path": "sub/in.mp4"}, headers=AUTH)
    assert r.status_code == 201
    jid = r.json()["id"]
    shutil.rmtree(manager.root / "sub")
    (manager.root / "sub").symlink_to(manager.root.parent / "outside")
    assert client.post(f"/api/jobs/{jid}/detect", headers=AUTH).status_code == 202
    s = _wait(client, jid)
    assert s["state"] == "failed" and "changed since the job was made" in s["error"]
    assert manager.get(jid).project is None


def test_upload_names_with_control_characters_stay_in_the_jobs_folder(served, tmp_path):
    client, manager = served
    clip = make_clip(tmp_path / "up.mp4", frames=5).read_bytes()
    for name in ("a%00b.mp4", "..%2f..%2fx.mp4", "%0a%0d.mp4", "\u202eevil.mp4"):
        r = client.post(f"/api/jobs/upload?name={name}", content=clip, headers=AUTH)
        assert r.status_code == 201, (name, r.text)
        job = manager.get(r.json()["id"])
        assert job.src.parent == job.folder / "input"
        assert all(32 <= ord(c) < 127 for c in job.src.name), job.src.name
    bad = client.post("/api/jobs/upload?name=%00", content=clip, headers=AUTH)
    assert bad.status_code == 400


def _asgi(manager: JobManager, send) -> httpx.Response:
    """Run ``send(client)`` against the app through httpx's ASGI transport, which hands
    the body to the app as it is produced (TestClient reads it all first)."""
    app = create_app(manager, TOKEN)

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await send(c)

    return asyncio.run(main())


def test_a_stalled_upload_is_refused_and_leaves_nothing(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    manager = _manager(root, tmp_path)
    manager.upload_idle_s = 0.3
    clip = make_clip(tmp_path / "up.mp4", frames=10).read_bytes()

    async def body():
        yield clip[:1000]
        await asyncio.sleep(1.0)  # the client stops sending
        yield clip[1000:]

    try:
        r = _asgi(
            manager, lambda c: c.post("/api/jobs/upload?name=up.mp4", content=body(), headers=AUTH)
        )
        assert r.status_code == 408, r.text
        assert manager.jobs == {}
        assert not [
            p for p in manager.workdir.rglob("*") if p.is_file() and p.parent != manager.workdir
        ]
    finally:
        manager.shutdown()


def test_a_100_mb_json_body_is_refused_before_it_is_read(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    manager = _manager(root, tmp_path)
    sent = []

    async def body():
        for _ in range(100):
            sent.append(1)
            yield b" " * 1024**2  # 100 MB in all, if the server kept reading

    async def send(c: httpx.AsyncClient) -> list[httpx.Response]:
        declared = {
            **AUTH,
            "content-length": str(100 * 1024**2),
            "content-type": "application/json",
        }
        big = await c.post("/api/jobs", content=body(), headers=declared)
        chunked = await c.post(
            "/api/jobs/x/edit",
            content=(b" " * (MAX_JSON + 1)),
            headers={**AUTH, "content-type": "application/json"},
        )
        return [big, chunked]

    try:
        big, chunked = _asgi(manager, send)
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        assert len(sent) <= 1  # refused on the header, not after reading 100 MB
        assert chunked.status_code == 413
        assert manager.jobs == {}
    finally:
        manager.shutdown()


def test_edits_naming_a_missing_frame_or_track_are_refused_and_change_nothing(served):
    client, manager = served
    jid = _detected(client)
    job = manager.get(jid)
    assert manager.flush(job)
    before = job.project_path.read_bytes()
    version = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()["version"]
    edit = f"/api/jobs/{jid}/edit"
    bad = [
        {"op": "disable", "track": 999, "reason": "x"},
        {"op": "set_keyframe", "track": 1, "frame": 30, "box": [1, 2, 3, 4]},
        {"op": "set_keyframe", "track": 1, "frame": -1, "box": [1, 2, 3, 4]},
        {"op": "set_keyframe", "track": 1, "frame": 10**30, "box": [1, 2, 3, 4]},
        {"op": "add_track", "label": "logo", "frame": 500, "box": [1, 2, 3, 4]},
        {"op": "move_keyframe", "track": 1, "frame": 0, "to_frame": 10**6},
        {"op": "delete_keyframe", "track": 1, "frame": 29999},
        {"op": "set_outside", "track": 1, "frame": 10**8},
        {"op": "delete_track", "track": -1},
        {"op": "no_such_op", "track": 1},
    ]
    for body in bad:
        r = client.post(edit, json=body, headers=AUTH)
        assert r.status_code in (400, 422), (body, r.status_code, r.text)
    for url in (f"/api/jobs/{jid}/tracks/999/follow", f"/api/jobs/{jid}/tracks/-5/follow"):
        assert client.post(url, headers=AUTH).status_code in (400, 404, 422), url
    for url in ("tracks/999/thumbnail", "frames/30", "frames/-1", "frames/99999999999999999999"):
        assert client.get(f"/api/jobs/{jid}/{url}", headers=AUTH).status_code in (400, 422), url
    after = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()
    assert after["version"] == version and not after["can_redo"]
    assert manager.flush(job) and job.project_path.read_bytes() == before
    assert json.loads(before)["files"][0]["file"] == "clip.mp4"


def test_a_trickling_upload_does_not_hold_up_other_requests(tmp_path):
    """A client that sends its upload a few bytes at a time (under the idle limit) keeps
    one request open; the others are answered meanwhile, and the upload, once whole,
    is an ordinary job in its own folder."""
    root = tmp_path / "media"
    root.mkdir()
    manager = _manager(root, tmp_path)
    clip = make_clip(tmp_path / "up.mp4", frames=5).read_bytes()
    answered: list[tuple[int, bool]] = []
    sent_all = [False]

    async def trickle():
        step = len(clip) // 20 + 1
        for i in range(0, len(clip), step):
            await asyncio.sleep(0.05)
            yield clip[i : i + step]
        sent_all[0] = True

    async def send(c: httpx.AsyncClient) -> httpx.Response:
        async def others() -> None:
            for _ in range(5):
                r = await c.get("/api/files", headers=AUTH)
                answered.append((r.status_code, sent_all[0]))
                await asyncio.sleep(0.05)

        up, _ = await asyncio.gather(
            c.post("/api/jobs/upload?name=up.mp4", content=trickle(), headers=AUTH), others()
        )
        return up

    try:
        up = _asgi(manager, send)
        assert answered == [(200, False)] * 5  # answered while the upload still trickled
        assert up.status_code == 201, up.text
        job = manager.get(up.json()["id"])
        assert job.src.read_bytes() == clip and job.src.parent == job.folder / "input"
    finally:
        manager.shutdown()
