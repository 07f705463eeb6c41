"""Twenty clients at once on one ``veil serve`` job (issue 27): frame fetches, edits,
undo/redo, a render and a detection. No edit is lost: the saved project equals the
successful edits replayed in the server's order (the project_version each answer
carries). Two tabs that edit the same project do not silently overwrite each other:
a write naming an older project_version (If-Match) is answered 409.

Latency figures come from ``benchmarks/serve_load.py``; nothing here is timed.
"""

from __future__ import annotations

import json
import random
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
requests = pytest.importorskip("requests")

from test_web_api import AUTH  # noqa: E402
from veil.project import Project  # noqa: E402
from veil.web.app import EditRequest, apply_edit  # noqa: E402
from web_live import Live  # noqa: E402

CLIENTS = 20
STEPS = 12


@pytest.fixture
def live(tmp_path):
    server = Live(tmp_path, frames=12, workers=2)
    yield server
    server.close()


def _client(live: Live, seed: int, log: list, errors: list, tab: bool) -> None:
    """One client: its own region, edited at random, frames fetched between edits.
    ``tab`` clients send If-Match as the page does and reload on 409."""
    rng = random.Random(seed)
    s = requests.Session()
    s.headers.update(AUTH)
    base = f"{live.url}/api/jobs/{live.job}"
    seen = s.get(f"{base}/project").json()["project_version"]
    mine: int | None = None

    def post(path: str, body: dict | None = None) -> requests.Response:
        nonlocal seen
        for _ in range(50):
            headers = {"If-Match": f'"{seen}"'} if tab else {}
            r = s.post(f"{base}/{path}", json=body, headers=headers, timeout=30)
            if r.status_code == 409 and "changed by another" in r.text:
                seen = s.get(f"{base}/project").json()["project_version"]  # reload, retry
                continue
            if r.ok:
                seen = r.json()["project_version"]
            return r
        raise AssertionError("never got a fresh version")

    try:
        for _ in range(STEPS):
            roll = rng.random()
            if roll < 0.35:
                f = rng.randrange(12)
                r = s.get(f"{base}/frames/{f}", params={"masked": rng.random() < 0.5}, timeout=30)
                assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", r.status_code
                continue
            if roll < 0.45:
                what = "undo" if rng.random() < 0.6 else "redo"
                r = post(what)
                assert r.status_code in (200, 409), r.text  # 409: busy with a task
                if r.ok and r.json()["what"] is not None:
                    log.append((r.json()["project_version"], what, None))
                continue
            if mine is None or rng.random() < 0.15:
                x, y = rng.uniform(0, 120), rng.uniform(0, 90)
                body = {
                    "op": "add_track",
                    "label": "logo",
                    "frame": rng.randrange(12),
                    "box": [x, y, x + 20, y + 15],
                }
            else:
                op = rng.choice(["set_keyframe", "set_style", "disable", "enable"])
                body = {"op": op, "track": mine}
                if op == "set_keyframe":
                    x, y = rng.uniform(0, 120), rng.uniform(0, 90)
                    body |= {"frame": rng.randrange(12), "box": [x, y, x + 20, y + 15]}
                elif op == "set_style":
                    body |= {"method": rng.choice(["fill", "pixelate", "blur"])}
                elif op == "disable":
                    body |= {"reason": "consent"}
            r = post("edit", body)
            if r.ok:
                res = r.json()
                log.append((res["project_version"], "edit", body))
                if body["op"] == "add_track":
                    mine = res["changed"][0]["id"]
            else:  # a region undone by another client, or an edit that changes nothing
                assert r.status_code in (400, 409), (r.status_code, r.text)
    except BaseException as e:  # noqa: BLE001 - reported by the test
        errors.append(repr(e))


def test_twenty_clients_at_once_lose_no_edit(live):
    base = f"{live.url}/api/jobs/{live.job}"
    start = requests.get(f"{base}/project", headers=AUTH).json()
    log: list = []
    errors: list = []
    threads = [
        threading.Thread(target=_client, args=(live, i, log, errors, i % 2 == 0))
        for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    # meanwhile a render of this job and a detection of another
    other = requests.post(f"{live.url}/api/jobs", json={"path": "clip.mp4"}, headers=AUTH).json()
    assert requests.post(f"{live.url}/api/jobs/{other['id']}/detect", headers=AUTH).ok
    render = requests.post(f"{base}/render", headers=AUTH)
    assert render.status_code in (202, 409), render.text
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    job = live.manager.get(live.job)
    live.manager.get(other["id"]).idle.wait(60)
    job.idle.wait(60)
    assert live.manager.get(other["id"]).state == "ready"

    # every successful change has its own version, one after another: the server's order
    versions = sorted(v for v, _, _ in log)
    v0 = start["project_version"]
    assert versions == list(range(v0 + 1, v0 + 1 + len(log))), "an edit was lost or merged"
    replay = Project.loads(json.dumps(start["project"]))
    for _, what, body in sorted(log, key=lambda e: e[0]):
        if what == "edit":
            apply_edit(replay, "clip.mp4", EditRequest(**body))
        else:
            assert (replay.undo() if what == "undo" else replay.redo()) is not None
    assert live.manager.flush(job)
    saved = Project.loads(job.project_path.read_text(encoding="utf-8"))
    assert saved.dumps() == replay.dumps()
    assert len(log) > CLIENTS  # the load did edit


def test_two_tabs_on_one_project_get_409_on_a_stale_write(live):
    base = f"{live.url}/api/jobs/{live.job}"
    a = requests.get(f"{base}/project", headers=AUTH)
    b = requests.get(f"{base}/project", headers=AUTH)
    assert a.headers["etag"] == b.headers["etag"] == f'"{a.json()["project_version"]}"'
    edit = {"op": "add_track", "label": "logo", "frame": 0, "box": [1, 2, 30, 40]}
    first = requests.post(
        f"{base}/edit", json=edit, headers={**AUTH, "If-Match": a.headers["etag"]}
    )
    assert first.status_code == 200
    before = requests.get(f"{base}/project", headers=AUTH).json()
    for path, body in (("edit", edit), ("undo", None), ("redo", None)):
        stale = requests.post(
            f"{base}/{path}", json=body, headers={**AUTH, "If-Match": b.headers["etag"]}
        )
        assert stale.status_code == 409 and "reload" in stale.json()["detail"], path
    put = requests.put(
        f"{base}/project",
        data=json.dumps(b.json()["project"]),
        headers={**AUTH, "If-Match": b.headers["etag"]},
    )
    assert put.status_code == 409
    after = requests.get(f"{base}/project", headers=AUTH).json()
    assert after["project"] == before["project"]  # the stale writes changed nothing
    fresh = requests.post(f"{base}/undo", headers={**AUTH, "If-Match": first.headers["etag"]})
    assert fresh.status_code == 200 and fresh.json()["what"] is not None
    bad = requests.post(f"{base}/undo", headers={**AUTH, "If-Match": "soon"})
    assert bad.status_code == 400
