"""The REST API of ``veil serve``: auth, file safety, jobs, project, frames, render."""

from __future__ import annotations

import io
import json
import logging
import time

import av
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from media_factory import make_clip  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.project import FileEntry, FramePlan, Keyframe, Overrides, Project, Track  # noqa: E402
from veil.regions import FACE, Regions  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.app import TOKEN_HEADER, create_app  # noqa: E402
from veil.web.encode import FrameBoxes, ProjectText  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

TOKEN = "test-token-0123456789"
AUTH = {TOKEN_HEADER: TOKEN}


class BarDetector:
    """Finds the moving green bar of media_factory clips, as a 'face'."""

    label = FACE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        green = (rgb[..., 1] > 150) & (rgb[..., 0] < 80)
        xs = np.flatnonzero(green.any(axis=0))
        if not len(xs):
            return Regions.empty()
        return Regions([[xs[0] - 3.0, 40.0, xs[-1] + 4.0, 80.0]], scores=[0.9], labels=[FACE])


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    make_clip(root / "clip.mp4", frames=30)
    outside = tmp_path / "secret.mp4"
    make_clip(outside, frames=5)
    (root / "link.mp4").symlink_to(outside)
    manager = JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[BarDetector()]),
        max_upload=300_000,
        workdir=tmp_path,
    )
    with TestClient(create_app(manager, TOKEN)) as client:
        yield client, manager
    assert not manager.workdir.exists()  # shutdown removes every job's files


def _wait(client: TestClient, job_id: str, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = client.get(f"/api/jobs/{job_id}", headers=AUTH).json()
        if s["task"] is None:
            return s
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def _detected(client: TestClient) -> str:
    job = client.post("/api/jobs", json={"path": "clip.mp4"}, headers=AUTH)
    assert job.status_code == 201, job.text
    jid = job.json()["id"]
    assert client.post(f"/api/jobs/{jid}/detect", headers=AUTH).status_code == 202
    s = _wait(client, jid)
    assert s["state"] == "ready", s
    return jid


ROUTES = [
    ("get", "/api/files"),
    ("get", "/api/jobs"),
    ("post", "/api/jobs"),
    ("post", "/api/jobs/upload?name=a.mp4"),
    ("get", "/api/jobs/x"),
    ("get", "/api/jobs/x/events"),
    ("post", "/api/jobs/x/detect"),
    ("post", "/api/jobs/x/render"),
    ("post", "/api/jobs/x/cancel"),
    ("delete", "/api/jobs/x"),
    ("get", "/api/jobs/x/project"),
    ("put", "/api/jobs/x/project"),
    ("post", "/api/jobs/x/edit"),
    ("post", "/api/jobs/x/undo"),
    ("post", "/api/jobs/x/redo"),
    ("post", "/api/jobs/x/tracks/1/follow"),
    ("get", "/api/jobs/x/frames/0"),
    ("get", "/api/jobs/x/tracks/1/thumbnail"),
    ("get", "/api/jobs/x/output"),
    ("get", "/api/jobs/x/report"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_api_route_needs_the_token(served, method, path):
    client, _ = served
    assert getattr(client, method)(path).status_code == 401
    wrong = {TOKEN_HEADER: TOKEN + "x"}
    assert getattr(client, method)(path, headers=wrong).status_code == 401


def test_every_route_is_listed_in_the_openapi_schema(served):
    client, _ = served
    paths = client.get("/openapi.json").json()["paths"]
    for _, path in ROUTES:
        template = path.split("?")[0].replace("/x", "/{job_id}").replace("/1/", "/{track_id}/")
        template = template.replace("/0", "/{index}")
        assert template in paths, template
    assert "cdn" not in client.get("/docs").text.lower()


def test_page_is_served_without_token_and_nothing_is_cached_or_shared(served):
    client, _ = served
    page = client.get("/", headers={"Origin": "https://evil.example"})
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert page.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in page.headers
    api = client.get("/api/files", headers={**AUTH, "Origin": "https://evil.example"})
    assert api.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in api.headers
    pre = client.options(
        "/api/files",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in pre.headers
    for text in (page.text,):
        assert "http://" not in text.replace("http://www.w3.org", "")
        assert "https://" not in text


def test_files_lists_media_inside_the_folder_only(served):
    client, _ = served
    names = [f["path"] for f in client.get("/api/files", headers=AUTH).json()["files"]]
    assert names == ["clip.mp4"]  # the symlink out of the folder is not offered


@pytest.mark.parametrize(
    "path", ["../secret.mp4", "/etc/passwd", "link.mp4", "a/../../secret.mp4", "..\\secret.mp4"]
)
def test_paths_outside_the_folder_are_refused(served, path):
    client, manager = served
    r = client.post("/api/jobs", json={"path": path}, headers=AUTH)
    assert r.status_code == 400, r.text
    assert manager.jobs == {}


def test_uploads_are_size_limited_and_leave_nothing_when_refused(served, tmp_path):
    client, manager = served
    big = b"\0" * 400_000
    r = client.post("/api/jobs/upload?name=big.mp4", content=big, headers=AUTH)
    assert r.status_code == 413
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))  # no length header
    r = client.post("/api/jobs/upload?name=big.mp4", content=chunks, headers=AUTH)
    assert r.status_code == 413
    assert not any(p.is_file() and p.parent != manager.workdir for p in manager.workdir.rglob("*"))
    bad = client.post("/api/jobs/upload?name=x.exe", content=b"abc", headers=AUTH)
    assert bad.status_code == 400
    clip = make_clip(tmp_path / "up.mp4", frames=10).read_bytes()
    ok = client.post("/api/jobs/upload?name=../../up.mp4", content=clip, headers=AUTH)
    assert ok.status_code == 201, ok.text
    job = manager.get(ok.json()["id"])
    assert job.src.parent.parent == job.folder and job.src.name == "up.mp4"


def test_detect_review_edit_undo_render_download(served, caplog):
    client, manager = served
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(manager.log_filter)  # as `veil serve` does on its handlers
    jid = _detected(client)
    p = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()
    entry = p["project"]["files"][0]
    assert entry["file"] == "clip.mp4" and entry["frames"] == 30
    face = entry["tracks"][0]["id"]

    # frames: original and masked preview, JPEG, every index; refused past the end
    jpg = client.get(f"/api/jobs/{jid}/frames/5", headers=AUTH)
    assert jpg.headers["content-type"] == "image/jpeg"
    plain = np.asarray(Image.open(io.BytesIO(jpg.content)))
    masked = np.asarray(
        Image.open(
            io.BytesIO(client.get(f"/api/jobs/{jid}/frames/5?masked=true", headers=AUTH).content)
        )
    )
    assert plain.shape == (120, 160, 3) and np.abs(plain.astype(int) - masked).max() > 40
    assert client.get(f"/api/jobs/{jid}/frames/30", headers=AUTH).status_code == 400
    thumb = client.get(f"/api/jobs/{jid}/tracks/{face}/thumbnail", headers=AUTH)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(thumb.content)).size == (96, 96)
    # its life: the first, middle and last placed boxes, the frame named; other sizes
    life = {
        at: client.get(f"/api/jobs/{jid}/tracks/{face}/thumbnail?at={at}&side=160", headers=AUTH)
        for at in ("first", "middle", "last")
    }
    frames = [int(r.headers["X-Veil-Frame"]) for r in life.values()]
    assert frames[0] < frames[1] < frames[2] and frames[1] == int(thumb.headers["X-Veil-Frame"])
    assert {Image.open(io.BytesIO(r.content)).size for r in life.values()} == {(160, 160)}
    for bad in ("at=end", "side=1000", "side=8"):
        r = client.get(f"/api/jobs/{jid}/tracks/{face}/thumbnail?{bad}", headers=AUTH)
        assert r.status_code == 400 and bad.split("=")[0] in r.json()["detail"]

    # edits: validated, undoable, saved at once
    edit = f"/api/jobs/{jid}/edit"
    assert client.post(edit, json={"op": "disable", "track": face}, headers=AUTH).status_code == 400
    r = client.post(edit, json={"op": "disable", "track": face, "reason": "consent"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["changed"][0]["track"]["enabled"] is False
    u = client.post(f"/api/jobs/{jid}/undo", headers=AUTH).json()
    assert u["changed"][0]["track"]["enabled"] is True and u["can_redo"]
    client.post(f"/api/jobs/{jid}/redo", headers=AUTH)
    assert manager.flush(manager.get(jid))
    saved = json.loads(manager.get(jid).project_path.read_text())
    assert saved["files"][0]["tracks"][0]["reason"] == "consent"
    bad = client.post(
        edit,
        json={"op": "add_track", "label": "name", "frame": 0, "box": [1, 2, 3, 4]},
        headers=AUTH,
    )
    assert bad.status_code == 400
    add = client.post(
        edit,
        json={"op": "add_track", "label": "logo", "frame": 3, "box": [100, 10, 150, 30]},
        headers=AUTH,
    )
    assert add.status_code == 200, add.text
    logo = add.json()["changed"][0]["id"]
    assert client.post(f"/api/jobs/{jid}/tracks/{logo}/follow", headers=AUTH).status_code == 202
    _wait(client, jid)
    p = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()
    followed = next(t for t in p["project"]["files"][0]["tracks"] if t["id"] == logo)
    assert len([k for k in followed["keyframes"] if "box" in k]) > 20
    assert p["history"][-1].startswith("follow")
    style = client.post(
        edit, json={"op": "set_style", "track": logo, "method": "fill"}, headers=AUTH
    )
    assert style.json()["changed"][0]["track"]["overrides"] == {"method": "fill"}
    share = client.post(
        edit, json={"op": "set_style", "track": logo, "margin_share": 0.5}, headers=AUTH
    )
    assert share.json()["changed"][0]["track"]["margin_share"] == 0.5
    bad = client.post(
        edit, json={"op": "set_style", "track": logo, "margin_share": 1.5}, headers=AUTH
    )
    assert bad.status_code == 400 and "margin_share" in bad.text

    assert client.get(f"/api/jobs/{jid}/output", headers=AUTH).status_code == 409
    assert client.post(f"/api/jobs/{jid}/render", headers=AUTH).status_code == 202
    s = _wait(client, jid)
    assert s["state"] == "rendered" and s["error"] is None, s
    out = client.get(f"/api/jobs/{jid}/output", headers=AUTH)
    assert out.status_code == 200
    with av.open(io.BytesIO(out.content)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 30
    assert frames[10][12:28, 102:148].mean() < 30  # the followed logo region is filled
    report = client.get(f"/api/jobs/{jid}/report", headers=AUTH).json()
    f0 = report["files"][0]
    assert [m["label"] for m in f0["manual_regions"]] == ["logo"]
    assert f0["disabled_tracks"][0]["reason"] == "consent"
    md = client.get(f"/api/jobs/{jid}/report?format=md", headers=AUTH)
    assert "consent" in md.text

    # privacy: logs carry neither the file name, the token, nor coordinates
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "clip" not in text and TOKEN not in text and "100" not in text


def test_project_put_is_validated(served):
    client, manager = served
    jid = _detected(client)
    url = f"/api/jobs/{jid}/project"
    doc = client.get(url, headers=AUTH).json()["project"]
    assert client.put(url, content=b"{not json", headers=AUTH).status_code == 400
    typo = json.loads(json.dumps(doc))
    typo["files"][0]["tracks"][0]["enabeld"] = True
    r = client.put(url, content=json.dumps(typo), headers=AUTH)
    assert r.status_code == 400 and "enabeld" in r.json()["detail"]
    other = json.loads(json.dumps(doc))
    other["files"][0]["sha256"] = "0" * 64
    assert client.put(url, content=json.dumps(other), headers=AUTH).status_code == 400
    good = json.loads(json.dumps(doc))
    good["files"][0]["tracks"][0]["enabled"] = False
    good["files"][0]["tracks"][0]["reason"] = "blurred at source"
    r = client.put(url, content=json.dumps(good), headers=AUTH)
    assert r.status_code == 200, r.text
    assert manager.get(jid).project.entry("clip.mp4").tracks[1].reason == "blurred at source"


def test_deleted_job_leaves_no_files(served):
    client, manager = served
    jid = _detected(client)
    folder = manager.get(jid).folder
    assert any(folder.iterdir())
    assert client.delete(f"/api/jobs/{jid}", headers=AUTH).status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/jobs/{jid}", headers=AUTH).status_code == 404


def test_cancel_stops_a_queued_task(served):
    client, manager = served
    a = client.post("/api/jobs", json={"path": "clip.mp4"}, headers=AUTH).json()["id"]
    b = client.post("/api/jobs", json={"path": "clip.mp4"}, headers=AUTH).json()["id"]
    client.post(f"/api/jobs/{a}/detect", headers=AUTH)
    client.post(f"/api/jobs/{b}/detect", headers=AUTH)
    assert client.post(f"/api/jobs/{b}/detect", headers=AUTH).status_code == 409  # busy
    client.post(f"/api/jobs/{b}/cancel", headers=AUTH)
    sb = _wait(client, b)
    _wait(client, a)
    assert sb["state"] == "new" and sb["error"] == "cancelled"
    with pytest.raises(KeyError):
        manager.get("nope")


def test_serve_refuses_other_hosts_without_allow_remote(tmp_path, capsys):
    from veil.cli import main

    assert main(["serve", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing")]) == 2


def test_page_url_keeps_the_token_out_of_requests():
    from veil.web import page_url

    assert page_url("127.0.0.1", 8765, "abc") == "http://127.0.0.1:8765/#token=abc"


def _varied_project() -> Project:
    """Auto tracks with gaps, a disabled one, a tracked manual ellipse, odd floats."""
    rng = np.random.default_rng(5)
    tracks = {}
    for tid in range(1, 7):
        kfs, f = [], int(rng.integers(0, 20))
        while f < 90:
            x, y = rng.uniform(0, 500, 2)
            w, h = rng.uniform(3, 90, 2)
            kfs.append(Keyframe(f, (x, y, x + w, y + h), tracked=bool(tid == 6 and f % 2)))
            f += int(rng.integers(1, 4))
            if rng.random() < 0.1:
                kfs.append(Keyframe(f, None, outside=True))
                f += int(rng.integers(1, 9))
        label, source = ("logo", "manual") if tid == 6 else ("face" if tid % 2 else "plate", "auto")
        tracks[tid] = Track(
            tid,
            label,
            source,
            tuple(kfs),
            enabled=tid != 3,
            reason="consent" if tid == 3 else None,
            overrides=Overrides(shape="ellipse", method="pixelate") if tid == 6 else Overrides(),
            seed=tid * 7,
            score=0.8 if source == "auto" else None,
            review=((10, 20),) if tid == 6 else (),
        )
    entry = FileEntry("a.mp4", "video", "0" * 64, 100, 640, 480, tracks, fps="25")
    return Project([entry])


def test_the_servers_project_text_reads_back_as_the_same_project():
    p = _varied_project()
    cache = ProjectText()
    text = cache.project(p)
    back = Project.loads(text)
    assert back.files[0].tracks == p.files[0].tracks  # float32 boxes exactly
    assert back.dumps() == p.dumps()
    # an edit replaces one track; the cache re-encodes that one and drops deleted ones
    p.disable("a.mp4", 1, "consent")
    p.delete_track("a.mp4", 6)
    assert Project.loads(cache.project(p)).dumps() == p.dumps()


def test_masked_preview_boxes_are_the_renders():
    p = _varied_project()
    entry = p.files[0]
    mask = Settings().mask
    plan, boxes = FramePlan(entry, mask), FrameBoxes(entry, mask)
    for f in range(entry.frames):
        xyxy, styles, seeds, _ = plan.at(f)
        got = boxes.at(f)
        assert np.array_equal(got[0], xyxy), f
        assert got[1] == styles and np.array_equal(got[2], seeds), f
    p.set_keyframe("a.mp4", 4, 50, (1.5, 2.5, 30.25, 40.125))  # edits are seen at once
    plan = FramePlan(entry, mask)
    assert np.array_equal(boxes.at(50)[0], plan.at(50)[0])


def test_revision_moves_with_tasks_and_puts_not_with_edits(served):
    """The page reloads the whole project when the revision moves; its own edits must not."""
    client, manager = served
    jid = _detected(client)
    p = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()
    rev, face = p["revision"], p["project"]["files"][0]["tracks"][0]["id"]
    assert client.get(f"/api/jobs/{jid}", headers=AUTH).json()["revision"] == rev
    r = client.post(
        f"/api/jobs/{jid}/edit",
        json={"op": "disable", "track": face, "reason": "consent"},
        headers=AUTH,
    ).json()
    st = client.get(f"/api/jobs/{jid}", headers=AUTH).json()
    assert st["revision"] == rev and st["version"] == r["version"] > p["version"]
    put = client.put(
        f"/api/jobs/{jid}/project", content=json.dumps(p["project"]), headers=AUTH
    ).json()
    assert put["revision"] == rev + 1
    assert put["project"]["files"][0]["tracks"][0]["enabled"] is True  # the PUT's tracks
    assert manager.flush(manager.get(jid))
    saved = json.loads(manager.get(jid).project_path.read_text())
    assert saved["files"][0]["tracks"][0]["enabled"] is True


def test_a_thumbnail_shows_the_box_in_its_surroundings_outlined():
    from veil.web.frames import THUMB_OUTLINE, thumbnail

    rgb = np.full((100, 200, 3), 128, np.uint8)
    rgb[40:60, 90:110] = (0, 200, 0)  # a green ring around ...
    rgb[45:55, 95:105] = (200, 0, 0)  # ... the red 10 px box
    im = np.asarray(Image.open(io.BytesIO(thumbnail(rgb, (95, 45, 105, 55))))).astype(int)
    assert im.shape == (96, 96, 3)  # 32 px of the frame across (the least), scaled 3x

    def near(colour, at) -> bool:
        return bool(np.abs(im[at] - colour).max() < 40)

    assert near((200, 0, 0), (48, 48))  # the box in the middle
    assert near((0, 200, 0), (48, 20)) and near((128, 128, 128), (48, 4))  # and around it
    assert near(THUMB_OUTLINE, (48, 33))  # its edge outlined (x = 15 px x 3)
    # at the frame's corner the picture stays square, the box where it is in the frame
    corner = np.asarray(Image.open(io.BytesIO(thumbnail(rgb, (0, 0, 8, 8))))).astype(int)
    assert corner.shape == (96, 96, 3) and np.abs(corner[12, 12] - (128, 128, 128)).max() < 40
    # a box larger than the frame allows around it: the whole frame, centred on black
    wide = np.asarray(Image.open(io.BytesIO(thumbnail(rgb, (20, 10, 180, 90))))).astype(int)
    assert wide.shape == (96, 96, 3) and wide[:20].max() < 10
    assert np.abs(wide[48, 2] - (128, 128, 128)).max() < 40  # the frame's grey, at its edge
    # no box on this frame: black
    assert np.asarray(Image.open(io.BytesIO(thumbnail(rgb, None)))).max() < 10


def test_a_failed_task_names_the_file_as_the_page_does_never_a_server_path(served):
    client, manager = served
    (manager.root / "sub").mkdir()
    (manager.root / "sub" / "empty.mp4").write_bytes(b"")
    up = client.post("/api/jobs/upload?name=fake.jpg", content=b"not a picture", headers=AUTH)
    made = client.post("/api/jobs", json={"path": "sub/empty.mp4"}, headers=AUTH)
    for jid, name in ((made.json()["id"], "sub/empty.mp4"), (up.json()["id"], "fake.jpg")):
        assert client.post(f"/api/jobs/{jid}/detect", headers=AUTH).status_code == 202
        s = _wait(client, jid)
        assert s["state"] == "failed" and s["error"].startswith(f"{name}: "), s
        assert str(manager.root) not in s["error"] and str(manager.workdir) not in s["error"]
