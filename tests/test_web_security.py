"""``veil serve``'s answers to other sites (issue 27): no CORS header on any response,
a foreign Host (DNS rebinding) or Origin refused, and the page's CSP never violated
in a real browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import need_program  # noqa: E402
from test_web_api import AUTH, TOKEN  # noqa: E402
from veil.web import allowed_hosts  # noqa: E402
from veil.web.app import create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def guarded(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    manager = JobManager(root, workdir=tmp_path)
    app = create_app(manager, TOKEN, allowed_hosts("127.0.0.1", 8765))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        yield client


PATHS = ["/", "/docs", "/static/app.js", "/openapi.json", "/api/files", "/api/jobs"]


def test_no_response_carries_cors_headers(guarded):
    for path in PATHS:
        for origin in (None, "https://evil.example", "http://127.0.0.1:8765", "null"):
            headers = {**AUTH, **({"Origin": origin} if origin else {})}
            for r in (
                guarded.get(path, headers=headers),
                guarded.options(path, headers={**headers, "Access-Control-Request-Method": "GET"}),
            ):
                assert not any(h.startswith("access-control-") for h in r.headers), (path, origin)


def test_a_foreign_host_or_origin_is_refused(guarded):
    for path in PATHS:
        assert guarded.get(path, headers=AUTH).status_code == 200, path
        ok = guarded.get(path, headers={**AUTH, "Origin": "http://localhost:8765"})
        assert ok.status_code == 200, path
        for bad in (
            {"Host": "evil.example:8765"},  # a DNS-rebinding page: evil.example -> 127.0.0.1
            {"Host": "127.0.0.1:9999"},
            {"Host": ""},
            {"Origin": "https://evil.example"},
            {"Origin": "http://127.0.0.1:8765.evil.example"},
            {"Origin": "null"},
            {"Origin": "file://"},
        ):
            r = guarded.get(path, headers={**AUTH, **bad})
            assert r.status_code == 403, (path, bad, r.status_code)
            assert "cache-control" in r.headers  # still no-store
    edit = guarded.post(
        "/api/jobs", json={"path": "x.mp4"}, headers={**AUTH, "Origin": "https://evil.example"}
    )
    assert edit.status_code == 403


def test_allowed_hosts_follow_the_bind_address():
    assert set(allowed_hosts("127.0.0.1", 8765)) == {
        "127.0.0.1:8765",
        "localhost:8765",
        "[::1]:8765",
    }
    assert "[fe80::1]:9000" in allowed_hosts("fe80::1", 9000)
    assert "127.0.0.1" in allowed_hosts("127.0.0.1", 80)
    assert allowed_hosts("0.0.0.0", 8765) is None  # names unknown: the token guards


_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.mark.browser
def test_the_pages_csp_reports_no_violation_in_chromium(tmp_path):
    """The full review flow without bypassing the CSP: every violation event and every
    'Refused to' console line is collected, on the page and the docs. On the way, a
    write made stale by another client is refused and the page reloads."""
    need_program(str(CHROMIUM), "sudo apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    requests = pytest.importorskip("requests")
    from web_live import Live

    live = Live(tmp_path, frames=12)
    messages: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_context().new_page()
            page.set_default_timeout(int(os.environ.get("VEIL_BROWSER_TIMEOUT_MS", "60000")))
            page.add_init_script(_WATCH)
            page.on("console", lambda m: messages.append(m.text))
            page.goto(f"{live.url}/#token={TOKEN}")
            page.click('button[data-path="clip.mp4"]')
            page.click("#detect")
            page.wait_for_selector("#tracks li")
            page.focus("#view")
            for key in ("f", "f", "Shift+F"):
                page.keyboard.press(key)
            page.click("#render")
            page.wait_for_selector("#download", state="visible")
            seen = page.evaluate("window.__csp")

            # another client edits the same job: the page's next write is stale, is
            # refused (409), and the page reloads the project and says so
            jobs = requests.get(f"{live.url}/api/jobs", headers=AUTH).json()["jobs"]
            jid = next(j["id"] for j in jobs if j["state"] == "rendered")
            add = {"op": "add_track", "label": "logo", "frame": 2, "box": [90, 10, 140, 40]}
            r = requests.post(f"{live.url}/api/jobs/{jid}/edit", json=add, headers=AUTH)
            assert r.status_code == 200
            page.click("#undo:not([disabled])")
            page.wait_for_selector("#message:has-text('another window changed this project')")
            page.wait_for_selector("#tracks li:has-text('logo')")  # theirs, now shown
            doc = requests.get(f"{live.url}/api/jobs/{jid}/project", headers=AUTH).json()
            assert "logo" in [t["label"] for t in doc["project"]["files"][0]["tracks"]]

            page.goto(f"{live.url}/docs")
            page.wait_for_load_state("networkidle")
            seen += page.evaluate("window.__csp")
            browser.close()
    finally:
        live.close()
    refused = [m for m in messages if "Content Security Policy" in m or "Refused to" in m]
    assert seen == [] and refused == [], (seen, refused)
