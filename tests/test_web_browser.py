"""The review page in a real browser (Debian's chromium driven by Playwright).

One clip with a real face (scikit-image's astronaut) goes through the five
steps a reviewer takes: open, detect, turn the face off with a reason, draw a
region and let it follow, export. The output is then decoded and checked.

The editing tests after it (corner drag, ellipse, upload, undo/redo) use a
stand-in detector that finds one fixed box, so they spend their time in the
page, not in the face model; each checks the project the server saved.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import need_program

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from veil.pipeline import Engine  # noqa: E402
from veil.project import Project  # noqa: E402
from veil.regions import FACE, Regions  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.app import create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
W, H, N = 480, 320, 16
PATCH = (330, 200, 420, 270)  # x1, y1, x2, y2 of a textured patch: the "logo" to draw


def _need_chromium() -> None:
    need_program(str(CHROMIUM), "sudo apt-get install chromium")


def face_clip(path: Path, astronaut: np.ndarray) -> Path:
    """A static scene: the astronaut's portrait left, a noise patch right, a moving bar."""
    rng = np.random.default_rng(7)
    base = np.full((H, W, 3), 90, np.uint8)
    face = np.asarray(Image.fromarray(astronaut).resize((280, 280)))
    base[20:300, 10:290] = face
    x1, y1, x2, y2 = PATCH
    base[y1:y2, x1:x2] = rng.integers(0, 256, (y2 - y1, x2 - x1, 1), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "12"}
        for i in range(N):
            img = base.copy()
            img[5:15, 300 + 8 * i : 310 + 8 * i] = (0, 220, 0)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode(None))
    return path


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TOKEN = "browser-test-token"
FACE_BOX = (40.0, 30.0, 200.0, 230.0)  # what the stand-in detector finds on every frame


class FixedFace:
    """A stand-in face detector: the same box on every frame, found at once."""

    label = FACE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        return Regions([list(FACE_BOX)], scores=[0.95], labels=[FACE])


def _serve(manager: JobManager, token: str = TOKEN):
    """Run the app in a thread; a generator for fixtures to yield from."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(manager, token),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert srv.started
    try:
        yield f"http://127.0.0.1:{port}/#token={token}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def server(tmp_path, astronaut):
    root = tmp_path / "media"
    root.mkdir()
    face_clip(root / "face.mp4", astronaut)
    manager = JobManager(root, Settings(detect=DetectSettings(targets=("face",))), workdir=tmp_path)
    for url in _serve(manager):
        yield url, manager, root


@pytest.fixture
def quick(tmp_path, astronaut):
    """The same clip, a stand-in detector, uploads up to 60 kB."""
    root = tmp_path / "media"
    root.mkdir()
    face_clip(root / "face.mp4", astronaut)
    manager = JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[FixedFace()]),
        max_upload=60_000,
        workdir=tmp_path,
    )
    for url in _serve(manager):
        yield url, manager, root


@pytest.fixture
def page():
    _need_chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        ctx = browser.new_context(
            viewport={"width": 1280, "height": 860}, accept_downloads=True, bypass_csp=True
        )  # the page's CSP forbids eval, which wait_for_function uses
        pg = ctx.new_page()
        pg.set_default_timeout(int(os.environ.get("VEIL_BROWSER_TIMEOUT_MS", "120000")))
        yield pg
        ctx.close()
        browser.close()


def _canvas_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of an original-image pixel on the canvas."""
    box = page.locator("#view").bounding_box()
    return box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H


def test_review_flow_in_the_browser(server, page, tmp_path):
    url, manager, root = server
    origin = url.split("#")[0].rstrip("/")
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((origin, "blob:" + origin)) else outside.append(r.url),
    )

    # 1. open the page with the token and pick the clip
    page.goto(url)
    assert "token" not in page.url  # taken out of the address bar
    page.click('button[data-path="face.mp4"]')

    # 2. run detection
    page.click("#detect")
    page.wait_for_selector("#tracks li")
    faces = page.locator("#tracks li", has_text="face")
    assert faces.count() >= 1
    face_id = int(faces.first.get_attribute("data-track"))

    # frame stepping with the keyboard alone; the label names the frame on screen
    page.focus("#view")
    label = page.locator("#frame-label")
    page.keyboard.press("f")
    page.wait_for_function("document.getElementById('frame-label').dataset.frame === '1'")
    page.keyboard.press("Shift+F")
    page.wait_for_function("document.getElementById('frame-label').dataset.frame === '11'")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.getElementById('frame-label').dataset.frame === '10'")
    assert label.inner_text().startswith("frame 10 / 15")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('frame-label').dataset.frame === '3'")

    # 3. turn the face track off with a reason, by keyboard: J selects, T toggles
    for _ in range(10):
        page.keyboard.press("j")
        if page.locator(f'#tracks li.sel[data-track="{face_id}"]').count():
            break
    page.keyboard.press("t")
    page.wait_for_selector("#reason-dialog[open]")
    page.keyboard.type("consent to be shown")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'#tracks li.off[data-track="{face_id}"]')

    # 4. draw a rectangle on a frame and let it follow its object
    page.click("#tool-rect")
    x1, y1 = _canvas_point(page, PATCH[0] + 8, PATCH[1] + 8)
    x2, y2 = _canvas_point(page, PATCH[2] - 8, PATCH[3] - 8)
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2)
    page.mouse.move(x2, y2)
    page.mouse.up()
    page.wait_for_selector("#region-dialog[open]")
    page.select_option("#region-label", "logo")
    assert page.is_checked("#region-follow")
    page.click("#region-ok")
    logo = page.locator("#tracks li", has_text="logo")
    logo.wait_for()
    page.wait_for_function(
        "[...document.querySelectorAll('#tracks li')].some("
        f"li => li.textContent.includes('logo') && li.textContent.includes('frames 0–{N - 1}'))"
    )

    # undo and redo keep the page and the server in step
    page.focus("#view")
    page.keyboard.press("Control+z")
    page.wait_for_function(
        "![...document.querySelectorAll('#tracks li')].some("
        f"li => li.textContent.includes('frames 0–{N - 1}') && li.textContent.includes('logo'))"
    )
    page.keyboard.press("Control+y")
    page.wait_for_function(
        "[...document.querySelectorAll('#tracks li')].some("
        f"li => li.textContent.includes('logo') && li.textContent.includes('frames 0–{N - 1}'))"
    )

    # 5. export
    page.click("#render")
    page.wait_for_selector("#download", state="visible")
    with page.expect_download() as dl:
        page.click("#download")
    out = tmp_path / "out.mp4"
    dl.value.save_as(out)
    with page.expect_download() as dl:
        page.click("#report-json")
    report = json.loads(Path(dl.value.path()).read_text())
    assert not outside, outside  # the page loaded nothing from outside the server

    # the output, decoded
    before, after = _decoded(root / "face.mp4"), _decoded(out)
    assert len(before) == len(after) == N
    job = next(iter(manager.jobs.values()))
    entry = job.project.entry("face.mp4")
    face = entry.tracks[face_id]
    logo_track = next(t for t in entry.tracks.values() if t.label == "logo")
    for f in range(N):
        a, b = before[f].astype(int), after[f].astype(int)
        lb = logo_track.box_at(f, N)
        assert lb is not None, f
        lx1, ly1, lx2, ly2 = (int(round(v)) for v in lb)
        changed = np.abs(
            a[ly1 + 4 : ly2 - 4, lx1 + 4 : lx2 - 4] - b[ly1 + 4 : ly2 - 4, lx1 + 4 : lx2 - 4]
        )
        assert changed.mean() > 25, (f, changed.mean())  # the drawn region is masked
        fb = face.box_at(f, N)
        if fb is not None:
            fx1, fy1, fx2, fy2 = (int(round(v)) for v in fb)
            kept = np.abs(a[fy1:fy2, fx1:fx2] - b[fy1:fy2, fx1:fx2])
            assert kept.mean() < 4, (f, kept.mean())  # the disabled face is untouched
    summary = report["files"][0]
    assert [m["label"] for m in summary["manual_regions"]] == ["logo"]
    assert summary["manual_regions"][0]["ranges"][0]["first_frame"] == 0
    disabled = [d for d in summary["disabled_tracks"] if d["track"] == face_id]
    assert disabled and disabled[0]["reason"] == "consent to be shown"


# -- editing in the page, checked against what the server saved ---------------------------
def _api(page, url: str, path: str):
    origin = url.split("#")[0].rstrip("/")
    r = page.request.get(origin + "/api" + path, headers={"X-Veil-Token": TOKEN})
    assert r.ok, r.text()
    return r


def _put_project(page, url: str, job: str, doc: dict) -> None:
    """Replace the job's project (``PUT``, validated as ``veil mask --project`` reads it)."""
    origin = url.split("#")[0].rstrip("/")
    r = page.request.put(
        origin + f"/api/jobs/{job}/project",
        data=json.dumps(doc),
        headers={"X-Veil-Token": TOKEN, "Content-Type": "application/json"},
    )
    assert r.ok, r.text()


def _project_track(page, url: str, job: str, tid: int) -> dict:
    entry = _api(page, url, f"/jobs/{job}/project").json()["project"]["files"][0]
    return next(t for t in entry["tracks"] if t["id"] == tid)


def _box_on(track: dict, frame: int) -> list[float] | None:
    k = next((k for k in track["keyframes"] if k["frame"] == frame), None)
    return None if k is None or k.get("outside") else k["box"]


def _detected(page, url: str) -> tuple[str, int]:
    """Open the page, pick the clip, run detection; the job id and the face track's id."""
    page.goto(url)
    page.click('button[data-path="face.mp4"]')
    page.click("#detect")
    page.wait_for_selector("#tracks li")
    tid = int(page.locator("#tracks li").first.get_attribute("data-track"))
    return page.evaluate("sessionStorage.getItem('veil-job')"), tid


def _to_frame(page, f: int) -> None:
    page.focus("#view")
    for _ in range(f):
        page.keyboard.press("f")
    page.wait_for_function(f"document.getElementById('frame-label').dataset.frame === '{f}'")


def _drag(page, a: tuple[float, float], b: tuple[float, float]) -> None:
    page.mouse.move(*_canvas_point(page, *a))
    page.mouse.down()
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    page.mouse.move(*_canvas_point(page, *mid))
    page.mouse.move(*_canvas_point(page, *b))
    page.mouse.up()


def _saved(manager: JobManager, job: str) -> Project:
    """The project file the server wrote in the job's folder (what a crash would keep)."""
    assert manager.flush(manager.get(job))
    return Project.load(manager.get(job).project_path)


def test_drag_a_corner_to_correct_a_box_on_one_frame(quick, page):
    url, manager, _ = quick
    job, tid = _detected(page, url)
    before = _project_track(page, url, job, tid)
    x1, y1, x2, y2 = _box_on(before, 5)
    assert [x1, y1, x2, y2] == pytest.approx(FACE_BOX, abs=0.5)
    _to_frame(page, 5)
    page.mouse.click(*_canvas_point(page, (x1 + x2) / 2, (y1 + y2) / 2))  # select it
    page.wait_for_selector(f'#tracks li.sel[data-track="{tid}"]')
    _drag(page, (x2, y2), (x2 + 40, y2 + 30))  # the bottom-right corner, out and down
    page.wait_for_selector("#undo:not([disabled])")

    after = _project_track(page, url, job, tid)
    moved = _box_on(after, 5)
    assert moved is not None
    assert moved[:2] == pytest.approx([x1, y1], abs=0.01)  # the other corner stays put
    assert moved[2:] == pytest.approx([x2 + 40, y2 + 30], abs=1.5)  # within a screen pixel
    for f in (4, 6):  # only that frame is corrected
        assert _box_on(after, f) == _box_on(before, f)
    saved = _saved(manager, job).entry("face.mp4").tracks[tid]
    assert saved.box_at(5, N) == pytest.approx(tuple(moved))
    # the page draws the corrected box on that frame: the label still names frame 5
    assert page.locator("#frame-label").get_attribute("data-frame") == "5"


def test_draw_an_ellipse_with_a_label(quick, page):
    url, manager, _ = quick
    job, _ = _detected(page, url)
    _to_frame(page, 2)
    page.keyboard.press("e")  # the ellipse tool
    box = (325.0, 195.0, 425.0, 275.0)  # around the noise patch: its corners keep noise
    _drag(page, box[:2], box[2:])
    page.wait_for_selector("#region-dialog[open]")
    page.select_option("#region-label", "tattoo")
    page.uncheck("#region-follow")
    page.click("#region-ok")
    item = page.locator("#tracks li", has_text="tattoo")
    item.wait_for()
    tid = int(item.get_attribute("data-track"))

    track = _project_track(page, url, job, tid)
    assert (track["label"], track["source"]) == ("tattoo", "manual")
    assert track["overrides"]["shape"] == "ellipse"
    assert track["keyframes"][0]["frame"] == 2
    assert track["keyframes"][0]["box"] == pytest.approx(list(box), abs=1.5)
    saved = _saved(manager, job).entry("face.mp4").tracks[tid]
    assert (saved.label, saved.overrides.shape) == ("tattoo", "ellipse")

    # the server's masked preview hides the inside of the ellipse, not the box's corners
    def frame(masked: bool) -> np.ndarray:
        r = _api(page, url, f"/jobs/{job}/frames/2?masked={'true' if masked else 'false'}")
        return np.asarray(Image.open(io.BytesIO(r.body())).convert("RGB"), np.int16)

    plain, hidden = frame(False), frame(True)
    diff = np.abs(plain - hidden).mean(axis=2)
    centre = diff[225:245, 360:390].mean()
    corners = [diff[196:202, 326:332].mean(), diff[268:274, 418:424].mean()]
    assert centre > 25, centre
    assert max(corners) < centre / 4, (centre, corners)


def test_upload_through_the_page_and_an_oversized_one_is_refused(quick, page, tmp_path):
    url, manager, _ = quick
    big = tmp_path / "big.mp4"
    rng = np.random.default_rng(3)
    with av.open(str(big), "w") as out:  # noise does not compress: well over the limit
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for _ in range(6):
            img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode(None))
    small = tmp_path / "small clip.mp4"
    with av.open(str(small), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for i in range(6):
            img = np.full((120, 160, 3), 80 + 10 * i, np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode(None))
    assert small.stat().st_size < manager.max_upload < big.stat().st_size

    page.goto(url)
    page.wait_for_selector('button[data-path="face.mp4"]')
    page.set_input_files("#upload", str(big))
    msg = page.locator("#message")
    page.wait_for_function("document.getElementById('message').textContent.includes('big.mp4')")
    assert "Not uploaded" in msg.inner_text() and "60 kB" in msg.inner_text()
    assert not manager.jobs  # refused before a byte left the page

    # the server refuses it too, and the page says why (a client that skips the check)
    page.evaluate("S.maxUpload = null")
    page.set_input_files("#upload", str(big))
    page.wait_for_function(
        "document.getElementById('message').textContent.includes('larger than the limit')"
    )
    assert "Not uploaded" in msg.inner_text()
    assert not manager.jobs and not list(manager.workdir.glob("*/input/*"))

    page.set_input_files("#upload", str(small))
    page.wait_for_selector("#job:not([hidden])")
    assert page.locator("#job-name").inner_text() == "small clip.mp4"
    (job,) = manager.jobs.values()
    assert job.src.read_bytes() == small.read_bytes()  # the bytes arrived whole
    page.click("#detect")
    page.wait_for_selector("#tracks li")  # and it can be reviewed like any other


def test_undo_and_redo_an_edit_and_reload(quick, page):
    url, manager, _ = quick
    job, tid = _detected(page, url)
    assert page.is_disabled("#undo") and page.is_disabled("#redo")
    page.click(f"#toggle-{tid}")  # leave the face visible, with a reason
    page.wait_for_selector("#reason-dialog[open]")
    page.fill("#reason-input", "public official")
    page.click("#reason-ok")
    off = f'#tracks li.off[data-track="{tid}"]'
    page.wait_for_selector(off)
    assert _project_track(page, url, job, tid)["reason"] == "public official"

    page.click("#undo")
    page.wait_for_selector(off, state="detached")
    assert _project_track(page, url, job, tid)["enabled"] is True
    assert _saved(manager, job).entry("face.mp4").tracks[tid].enabled
    assert page.is_enabled("#redo")

    page.click("#redo")
    page.wait_for_selector(off)
    t = _project_track(page, url, job, tid)
    assert (t["enabled"], t["reason"]) == (False, "public official")
    assert not _saved(manager, job).entry("face.mp4").tracks[tid].enabled

    page.reload()  # nothing is lost, the undo history neither
    page.wait_for_selector(off)
    assert page.is_enabled("#undo")
    page.focus("#view")
    page.keyboard.press("Control+z")
    page.wait_for_selector(off, state="detached")
    assert _project_track(page, url, job, tid)["enabled"] is True


def test_a_face_rated_unlikely_gets_the_whole_margin_with_one_click(quick, page):
    """A track the decision masked with half the face margin says so in its row; one
    click gives it the whole margin, saved, and undoable."""
    url, manager, _ = quick
    job, tid = _detected(page, url)
    doc = _api(page, url, f"/jobs/{job}/project").json()["project"]
    doc["files"][0]["tracks"][0]["margin_share"] = 0.5
    _put_project(page, url, job, doc)
    page.reload()
    button = page.locator(f'#tracks li[data-track="{tid}"] button', has_text="Full margin")
    assert "50% of the face margin" in button.get_attribute("title")
    button.click()
    button.wait_for(state="detached")
    assert "margin_share" not in _project_track(page, url, job, tid)  # 1: not written
    assert _saved(manager, job).entry("face.mp4").tracks[tid].margin_share == 1.0
    page.focus("#view")
    page.keyboard.press("Control+z")
    button.wait_for()
    assert _project_track(page, url, job, tid)["margin_share"] == 0.5


# -- a long video's track list: only the rows near the scroll window are in the page -------
MANY = 2000


def _many_tracks(page, url: str, job: str) -> list[int]:
    """Replace the detected project with MANY short face tracks spread over the clip."""
    doc = _api(page, url, f"/jobs/{job}/project").json()["project"]
    (template,) = doc["files"][0]["tracks"]
    tracks = []
    for i in range(MANY):
        t = json.loads(json.dumps(template))
        first = i % (N - 2)
        x = float(i % 200)
        t["id"] = i + 1
        t["keyframes"] = [
            {"frame": first, "box": [x, 30.0, x + 60.0, 100.0], "outside": False},
            {"frame": first + 2, "outside": True},
        ]
        t.pop("review", None)
        tracks.append(t)
    doc["files"][0]["tracks"] = tracks
    _put_project(page, url, job, doc)
    return [t["id"] for t in tracks]


def _open_review(page) -> float:
    """Reload the page; seconds until the review screen shows its track list and a frame."""
    start = time.perf_counter()
    page.reload()
    page.wait_for_selector("#tracks li[data-track]")
    page.wait_for_function("document.getElementById('frame-label').dataset.frame !== undefined")
    return time.perf_counter() - start


def test_a_long_track_list_keeps_few_rows_in_the_page(quick, page):
    url, manager, _ = quick
    job, _ = _detected(page, url)
    ids = _many_tracks(page, url, job)
    seconds = _open_review(page)
    rows = page.locator("#tracks li").count()
    bars = page.locator("#timeline .trow").count()
    logging.getLogger(__name__).info(
        "%d tracks: review open in %.2f s, %d list rows, %d timeline rows, %d elements",
        len(ids),
        seconds,
        rows,
        bars,
        page.evaluate("document.querySelectorAll('*').length"),
    )
    assert 0 < rows < 200 and 0 < bars < 200

    # scroll the list to its end: the last track is there, and still few rows
    page.locator("aside").evaluate("a => { a.scrollTop = a.scrollHeight; }")
    last = f'#tracks li[data-track="{ids[-1]}"]'
    page.wait_for_selector(last)
    assert page.locator(last).is_visible()
    assert page.locator("#tracks li").count() < 200

    # turn a track far down the list off with a reason
    far = ids[-3]
    page.click(f"#toggle-{far}")
    page.wait_for_selector("#reason-dialog[open]")
    page.fill("#reason-input", "a poster, not a person")
    page.click("#reason-ok")
    page.wait_for_selector(f'#tracks li.off[data-track="{far}"]')
    assert _project_track(page, url, job, far)["reason"] == "a poster, not a person"
    assert page.locator("#tracks li").count() < 200

    # J/K walk the list from the top, and wrap to the end
    page.locator("aside").evaluate("a => { a.scrollTop = 0; }")
    page.focus("#view")
    page.keyboard.press("j")
    page.wait_for_selector(f'#tracks li.sel[data-track="{ids[0]}"]')
    page.keyboard.press("k")
    page.wait_for_selector(f'#tracks li.sel[data-track="{ids[-1]}"]')
    assert page.locator(f'#tracks li[data-track="{ids[-1]}"]').is_visible()
    assert page.locator("#tracks li").count() < 200


def test_detect_again_asks_before_it_drops_the_review(quick, page):
    """Detecting again replaces every track; with edits made, the page asks first, and
    answering no changes nothing."""
    url, manager, _ = quick
    job, tid = _detected(page, url)
    page.evaluate(f"edit({{op: 'disable', track: {tid}, reason: 'public official'}})")
    page.wait_for_selector(f'#tracks li.off[data-track="{tid}"]')
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.click("#detect")
    page.wait_for_function("document.getElementById('detect').disabled === false")
    assert asked and "cannot be undone" in asked[0]
    assert manager.get(job).task is None  # no detection queued
    assert _project_track(page, url, job, tid)["reason"] == "public official"


def test_another_job_never_shows_the_last_ones_review(quick, page):
    """The review area belongs to the job on screen: a failed or new job shows none, not
    the previous job's frame and tracks (whose edits would go to the wrong job)."""
    url, _, root = quick
    (root / "empty.mp4").write_bytes(b"")
    _detected(page, url)
    assert page.is_visible("#review")
    page.click("#back")
    page.click('button[data-path="empty.mp4"]')
    page.wait_for_function("document.getElementById('job-name').textContent === 'empty.mp4'")
    assert not page.is_visible("#review")
    page.click("#detect")
    page.wait_for_function("document.getElementById('task').textContent.includes('empty file')")
    assert not page.is_visible("#review")
    assert "empty.mp4: empty file" in page.inner_text("#task")  # its name, no server path


def test_a_drawn_region_left_visible_can_still_be_followed_or_deleted(quick, page):
    url, _, _ = quick
    _detected(page, url)
    made = page.evaluate("edit({op: 'add_track', label: 'logo', frame: 0, box: [4, 4, 40, 20]})")
    tid = made["changed"][0]["track"]["id"]
    page.evaluate(f"edit({{op: 'disable', track: {tid}, reason: 'our own logo'}})")
    row = page.locator(f'#tracks li.off[data-track="{tid}"]')
    row.wait_for()
    assert "left visible: our own logo" in row.inner_text()
    assert row.locator("button", has_text="Follow").count() == 1
    assert row.locator("button", has_text="Delete").count() == 1
