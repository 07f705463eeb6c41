"""``veil serve`` with its work folder on a full disk (issue 27): a 2 MB tmpfs, filled
to the last byte. Uploads, renders, detections and project saves fail with a clear
message, the server stays up, and the earlier output and project stay intact."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from media_factory import make_clip  # noqa: E402
from test_web_api import AUTH, TOKEN, BarDetector, _wait  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.app import create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
    )
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk) -> None:
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass  # full to the last block


def test_a_full_disk_fails_cleanly_and_keeps_what_was_saved(tmp_path, small_disk):
    root = tmp_path / "media"
    root.mkdir()
    make_clip(root / "clip.mp4", frames=30)
    make_clip(root / "other.mp4", frames=30)
    manager = JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[BarDetector()]),
        max_upload=3_000_000,
        workdir=small_disk,
    )
    with TestClient(create_app(manager, TOKEN)) as client:
        jid = client.post("/api/jobs", json={"path": "clip.mp4"}, headers=AUTH).json()["id"]
        client.post(f"/api/jobs/{jid}/detect", headers=AUTH)
        assert _wait(client, jid)["state"] == "ready"
        add = {"op": "add_track", "label": "logo", "frame": 3, "box": [100, 10, 150, 30]}
        assert client.post(f"/api/jobs/{jid}/edit", json=add, headers=AUTH).status_code == 200
        client.post(f"/api/jobs/{jid}/render", headers=AUTH)
        assert _wait(client, jid)["state"] == "rendered"
        job = manager.get(jid)
        assert manager.flush(job)
        output, saved = job.output.read_bytes(), job.project_path.read_bytes()
        other = client.post("/api/jobs", json={"path": "other.mp4"}, headers=AUTH).json()["id"]

        _fill(small_disk)

        # an upload: 507 with a clear message, nothing left of it
        up = client.post("/api/jobs/upload?name=up.mp4", content=b"\1" * 200_000, headers=AUTH)
        assert up.status_code == 507 and "disk" in up.json()["detail"], up.text
        # a render: the task fails saying why; the earlier output is untouched
        client.post(f"/api/jobs/{jid}/render", headers=AUTH)
        s = _wait(client, jid)
        assert s["error"] is not None and "disk" in s["error"], s
        assert job.output.read_bytes() == output
        # an edit holds in memory; the page is told it is not on disk; the file stays whole
        edit = {"op": "set_style", "track": 1, "method": "fill"}
        assert client.post(f"/api/jobs/{jid}/edit", json=edit, headers=AUTH).status_code == 200
        for _ in range(500):
            s = client.get(f"/api/jobs/{jid}", headers=AUTH).json()
            if (s["error"] or "").startswith("project not saved"):
                break
            time.sleep(0.01)
        assert s["error"].startswith("project not saved") and "disk" in s["error"], s
        assert job.project_path.read_bytes() == saved
        # a detection: fails saying why, the server keeps answering
        client.post(f"/api/jobs/{other}/detect", headers=AUTH)
        s = _wait(client, other)
        assert s["state"] == "failed" and "disk" in s["error"], s
        assert client.get("/api/jobs", headers=AUTH).status_code == 200
        assert client.get(f"/api/jobs/{jid}/frames/5", headers=AUTH).status_code == 200
        leftovers = [p for p in small_disk.rglob("*") if ".tmp" in p.name or p.name == "up.mp4"]
        assert leftovers == [], leftovers

        # space again: the next edit saves everything held in memory
        (small_disk / "filler").unlink()
        again = {"op": "set_style", "track": 1, "method": "pixelate"}
        assert client.post(f"/api/jobs/{jid}/edit", json=again, headers=AUTH).status_code == 200
        assert manager.flush(job)
        tracks = json.loads(job.project_path.read_text())["files"][0]["tracks"]
        assert tracks[0]["overrides"] == {"method": "pixelate"}
        assert [t["label"] for t in tracks].count("logo") == 1
        assert client.get(f"/api/jobs/{jid}", headers=AUTH).json()["error"] is None
