"""The review grid and slider in a real browser (chromium via Playwright), on six tracks.

A 200x100 clip whose project is replaced by known tracks (evidence, in the grid's
default order: #2 0.15, #3 0.2, #5 0.25, #4 plate 0.5, #6 0.7, #1 0.95; the last two
"very likely a face"), so every step can be checked against the project the server holds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("playwright.sync_api")

import review_factory as rf  # noqa: E402
from media_factory import make_clip  # noqa: E402
from test_web_browser import CHROMIUM, FLAGS, _need_chromium, _serve  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.project import Project  # noqa: E402
from veil.regions import FACE, Regions  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Nothing:
    label = FACE

    def detect(self, rgb, threshold):  # noqa: ARG002
        return Regions.empty()


@pytest.fixture
def page():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
        pg = ctx.new_page()
        pg.set_default_timeout(int(os.environ.get("VEIL_BROWSER_TIMEOUT_MS", "60000")))
        yield pg
        ctx.close()
        browser.close()


@pytest.fixture
def reviewed(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    make_clip(root / "clip.mp4", width=rf.W, height=rf.H, frames=rf.N)
    manager = JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[Nothing()]),
        workdir=tmp_path,
    )
    job = manager.create(root / "clip.mp4", "clip.mp4")
    manager.submit(job, "detect")
    end = time.monotonic() + 60
    while job.state != "ready":
        assert time.monotonic() < end and job.error is None
        time.sleep(0.05)
    entry = job.project.entry("clip.mp4")
    tracks = dict(rf.project().entry("clip.mp4").tracks)
    tracks[5] = rf.track(5, (140, 2, 150, 22), 0.25)
    tracks[6] = rf.track(6, (60, 40, 100, 90), 0.7)
    with job.lock:
        job.project = Project([dataclasses.replace(entry, tracks=tracks)])
        job.revision += 1
    for url in _serve(manager):
        yield url, job


def _enabled(job) -> dict[int, bool]:
    with job.lock:
        return {i: t.enabled for i, t in job.project.entry("clip.mp4").tracks.items()}


def _previewed(page, threshold: str) -> None:
    """Wait until the slider's preview shows ``threshold``."""
    page.wait_for_function(
        f"document.getElementById('gv-preview').dataset.threshold === '{threshold}'"
    )


def _slide(page, threshold: str) -> None:
    """Put the slider at ``threshold`` and wait for its preview."""
    page.fill("#gv-slider", threshold)
    _previewed(page, threshold)


def _open_grid(page, url) -> None:
    """Open the job and its grid with the mouse."""
    page.goto(url)
    page.click("#jobs button")
    page.click("#gv-toggle")
    page.wait_for_selector(".gcell")


def _open_job_by_keyboard(page, url) -> None:
    page.goto(url)
    page.wait_for_selector("#jobs button")
    for _ in range(30):  # Tab to the job's button, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('#jobs') !== null"):
            break
    page.keyboard.press("Enter")
    page.wait_for_selector("#tracks li")


def test_keyboard_only_review(reviewed, page):
    url, job = reviewed
    _open_job_by_keyboard(page, url)
    # the file's button is gone: the focus goes to the frame, not back to the page
    page.wait_for_function("document.activeElement.id === 'view'")
    page.keyboard.press("g")  # the grid opens with the slider focused
    page.wait_for_selector(".gcell")
    assert page.evaluate("document.activeElement.id") == "gv-slider"
    assert "detector score" in page.inner_text("#gv-evidence")
    page.keyboard.press("PageUp")
    page.keyboard.press("PageUp")
    _previewed(page, "0.2")
    assert "masks 5 of 6 tracks" in page.inner_text("#gv-preview")
    assert "turns off 1" in page.inner_text("#gv-preview")
    page.keyboard.press("Enter")  # apply: the reason is prefilled
    page.wait_for_selector("#bulk-dialog[open]")
    page.keyboard.press("Enter")
    page.wait_for_selector('.gcell.off[data-track="2"]')
    assert _enabled(job) == {1: True, 2: False, 3: True, 4: True, 5: True, 6: True}
    decisions = job.project.entry("clip.mp4").decisions
    assert len(decisions) == 1 and decisions[0].threshold == 0.2

    # the grid has the focus: move with arrows, Space selects, X turns off with a reason
    assert page.evaluate("document.activeElement.id") == "gv-grid"
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")  # #3
    page.keyboard.press("Space")
    page.keyboard.press("Shift+ArrowRight")  # #3..#5
    assert page.inner_text("#gv-sel").startswith("2 selected")
    # beside the map, the cursor's track over its life: three pictures, each naming its frame
    page.wait_for_function(
        "document.getElementById('gv-peek').dataset.track === "
        "document.querySelector('.gcell.cur').dataset.track && "
        "[...document.querySelectorAll('#gv-peek img')].every(i => i.complete && i.naturalWidth)"
    )
    assert page.inner_text("#gv-peek small").startswith("first: frame ")
    page.keyboard.press("x")
    page.wait_for_selector("#bulk-dialog[open]")
    page.keyboard.press("Control+a")
    page.keyboard.type("lanterns")
    page.keyboard.press("Enter")
    page.wait_for_selector('.gcell.off[data-track="5"]')
    assert _enabled(job) == {1: True, 2: False, 3: False, 4: True, 5: False, 6: True}
    assert job.project.history[-1] == "disable 2 tracks"  # one edit

    # more like this: suggestions come first; accepting them would turn off #1 and #6 (likely
    # face), so the page asks, naming how many; the default answer keeps them masked
    page.keyboard.press("l")
    page.wait_for_selector(".gcell.sugg")
    assert page.evaluate("document.querySelector('.gcell.sugg').dataset.track") in ("1", "6")
    page.keyboard.press("y")
    page.wait_for_selector("#confirm-dialog[open]")
    assert "turns off 2 tracks rated very likely a face" in page.inner_text("#confirm-text")
    # and shows them: each one's thumbnail, loaded
    faces = "#confirm-faces .cface"
    assert sorted(page.eval_on_selector_all(faces, "e => e.map(x => x.dataset.track)")) == [
        "1",
        "6",
    ]
    page.wait_for_function(
        f"[...document.querySelectorAll('{faces} img')].every(i => i.complete && i.naturalWidth)"
    )
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('message').textContent === 'Nothing changed.'")
    assert _enabled(job)[1] and _enabled(job)[6]
    page.keyboard.press("n")

    # undo takes the whole bulk edit back
    page.keyboard.press("Control+z")
    page.wait_for_function("!document.querySelector('.gcell.off[data-track=\"5\"]')")
    assert _enabled(job) == {1: True, 2: False, 3: True, 4: True, 5: True, 6: True}


def test_mouse_selection_and_filters(reviewed, page):
    url, job = reviewed
    _open_grid(page, url)
    page.click('.gcell[data-track="2"]')
    page.click('.gcell[data-track="4"]', modifiers=["Shift"])  # 2, 3, 5, 4 in evidence order
    page.click('.gcell[data-track="3"]', modifiers=["Control"])  # ... less 3
    assert page.inner_text("#gv-sel").startswith("3 selected")
    page.select_option("#gv-method", "fill")
    page.wait_for_function(
        "document.querySelectorAll('#tracks li').length > 0 && "
        "JSON.stringify([...S.tracks.values()].filter(t => t.overrides && "
        "t.overrides.method === 'fill').map(t => t.id).sort()) === '[2,4,5]'"
    )
    with job.lock:
        methods = {i: t.overrides.method for i, t in job.project.entry("clip.mp4").tracks.items()}
    assert methods == {1: None, 2: "fill", 3: None, 4: "fill", 5: "fill", 6: None}
    page.select_option("#gv-class", "plate")
    page.wait_for_function("document.querySelectorAll('.gcell').length === 1")
    page.wait_for_function("document.querySelectorAll('#tracks li').length === 1")  # list too
    page.select_option("#gv-class", "all")
    # the size band: boxes at most 20 px high (2, 3, 4, 5), then at least 30 (1, 6)
    page.fill("#gv-max", "20")
    page.wait_for_function("document.querySelectorAll('.gcell').length === 4")
    page.fill("#gv-max", "")
    page.fill("#gv-min", "30")
    cells = "[...document.querySelectorAll('.gcell')].map(c => c.dataset.track).sort().join()"
    page.wait_for_function(f"{cells} === '1,6'")
    page.fill("#gv-min", "")
    # the slider follows the size filter: at 0.6 only the band's 10-px plate goes, not 2, 3, 5
    page.fill("#gv-max", "15")
    _slide(page, "0.6")
    assert "turns off 1 · only tracks at most 15 px high" in page.inner_text("#gv-preview")
    page.click("#gv-apply")
    page.click("#bulk-ok")
    page.wait_for_selector('.gcell.off[data-track="4"]')
    assert _enabled(job) == {1: True, 2: True, 3: True, 4: False, 5: True, 6: True}
    assert job.project.entry("clip.mp4").decisions[-1].max_size == 15
    page.fill("#gv-max", "")
    page.wait_for_function("document.querySelectorAll('.gcell').length === 6")
    page.select_option("#gv-sort", "-evidence")
    first = "document.querySelector('.gcell[data-index=\"0\"]').dataset.track"
    page.wait_for_function(f"{first} === '1'")
    # the track list and the timeline follow the grid's order
    page.wait_for_function("document.querySelector('#tracks li').dataset.track === '1'")
    page.wait_for_function("document.querySelector('#timeline .trow').dataset.track === '1'")
    # a threshold above a likely face asks first, and the API refuses without the flag
    _slide(page, "0.99")
    assert "2 rated very likely a face" in page.inner_text("#gv-preview")
    page.click("#gv-apply")
    page.click("#bulk-ok")
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-ok")
    page.wait_for_selector('.gcell.off[data-track="1"]')
    assert not any(_enabled(job).values())
    assert json.loads(job.project_json())["files"][0]["decisions"][-1]["confirmed"] == 2


def _drag_on_map(page, corner_a, corner_b, modifiers=()) -> None:
    """Drag a box on the evidence map between two (size px, evidence) corners."""
    box = page.locator("#gv-map").bounding_box()
    width = page.evaluate("MAP.w")
    (xa, ya), (xb, yb) = (
        page.evaluate(f"(() => {{ const p = mapXY({s}, {e}); return [p.x, p.y]; }})()")
        for s, e in (corner_a, corner_b)
    )
    k = box["width"] / width
    for m in modifiers:
        page.keyboard.down(m)
    page.mouse.move(box["x"] + xa * k, box["y"] + ya * k)
    page.mouse.down()
    page.mouse.move(box["x"] + (xa + xb) / 2 * k, box["y"] + (ya + yb) / 2 * k)
    page.mouse.move(box["x"] + xb * k, box["y"] + yb * k)
    page.mouse.up()
    for m in modifiers:
        page.keyboard.up(m)


def test_a_box_on_the_evidence_map_selects_the_tracks_in_it(reviewed, page):
    url, job = reviewed
    _open_grid(page, url)
    # the cursor's track appears beside the map a moment later; the map does not move for it
    before = page.locator("#gv-map").bounding_box()
    page.wait_for_selector("#gv-peek.on")
    page.wait_for_function("[...document.querySelectorAll('#gv-peek img')].every(i => i.complete)")
    assert page.locator("#gv-map").bounding_box() == before
    # small and weak: #2 (0.15), #3 (0.2) and #5 (0.25) are at most 20 px high; the plate #4
    # is as small but rated 0.5, the faces #1 and #6 are larger
    _drag_on_map(page, (5, 0.0), (25, 0.3))
    page.wait_for_function("document.getElementById('gv-sel').textContent.startsWith('3 selected')")
    assert page.evaluate("[...R.sel].sort().join()") == "2,3,5"
    assert "3 track(s) in the box on the map" in page.inner_text("#message")
    # Shift adds the larger, likelier tracks to the selection
    _drag_on_map(page, (28, 0.6), (200, 1.0), modifiers=("Shift",))
    page.wait_for_function("document.getElementById('gv-sel').textContent.startsWith('5 selected')")
    _drag_on_map(page, (5, 0.0), (25, 0.3))  # a plain box starts a new selection
    page.wait_for_function("document.getElementById('gv-sel').textContent.startsWith('3 selected')")
    page.keyboard.press("x")  # the grid has the focus: X turns them off, with a reason
    page.wait_for_selector("#bulk-dialog[open]")
    page.keyboard.press("Enter")
    page.wait_for_selector('.gcell.off[data-track="5"]')
    assert _enabled(job) == {1: True, 2: False, 3: False, 4: True, 5: False, 6: True}
    assert job.project.history[-1] == "disable 3 tracks"


def test_enter_in_the_grid_shows_the_track_on_a_frame_in_sight(reviewed, page):
    url, _ = reviewed
    page.set_viewport_size({"width": 1280, "height": 720})
    _open_grid(page, url)
    page.focus("#gv-grid")
    page.evaluate("window.scrollTo(0, 0)")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(() => { const r = document.getElementById('view').getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; })()"
    )
    assert page.evaluate("document.activeElement.id") == "gv-grid"  # the grid keeps the keys


def test_a_refused_size_band_leaves_no_stale_figures(reviewed, page):
    url, _ = reviewed
    _open_grid(page, url)
    page.fill("#gv-min", "80")
    page.fill("#gv-max", "70")
    page.wait_for_function("!document.getElementById('gv-preview').textContent.startsWith('masks')")
    assert page.is_disabled("#gv-apply")
    assert "masks" not in page.inner_text("#gv-preview")
