"""The review routes of ``veil serve``: evidence, threshold preview and apply, bulk, suggestions."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import review_factory as rf  # noqa: E402
from media_factory import make_clip  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.project import Project  # noqa: E402
from veil.regions import FACE, Regions  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.app import TOKEN_HEADER, create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

TOKEN = "review-token-0123456789"
AUTH = {TOKEN_HEADER: TOKEN}


class Nothing:
    label = FACE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        return Regions.empty()


@pytest.fixture
def job(tmp_path):
    """A detected 200x100 clip whose project is then replaced by review_factory's four tracks."""
    root = tmp_path / "media"
    root.mkdir()
    make_clip(root / "clip.mp4", width=rf.W, height=rf.H, frames=rf.N)
    manager = JobManager(
        root,
        Settings(detect=DetectSettings(targets=("face",))),
        engine_factory=lambda s: Engine(s, detectors=[Nothing()]),
        workdir=tmp_path,
    )
    with TestClient(create_app(manager, TOKEN)) as client:
        jid = client.post("/api/jobs", json={"path": "clip.mp4"}, headers=AUTH).json()["id"]
        client.post(f"/api/jobs/{jid}/detect", headers=AUTH)
        end = time.monotonic() + 60
        while client.get(f"/api/jobs/{jid}", headers=AUTH).json()["state"] != "ready":
            assert time.monotonic() < end
            time.sleep(0.05)
        got = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()["project"]
        entry = Project.loads(json.dumps(got)).files[0]
        tracks = rf.project().entry("clip.mp4").tracks
        new = Project([dataclasses.replace(entry, tracks=dict(tracks))])
        r = client.put(f"/api/jobs/{jid}/project", content=new.dumps(), headers=AUTH)
        assert r.status_code == 200, r.text
        yield client, jid


def test_tracks_and_preview(job):
    client, jid = job
    r = client.get(f"/api/jobs/{jid}/review/tracks", headers=AUTH).json()
    assert r["evidence_kinds"] == ["detector score"] and r["likely_face"]["confidence"] == 0.9
    by_id = {t["id"]: t for t in r["tracks"]}
    assert by_id[1]["likely_face"] and by_id[2]["evidence"] == 0.15
    assert by_id[1]["area"] == pytest.approx(0.08)
    p = client.get(f"/api/jobs/{jid}/review/preview?threshold=0.18", headers=AUTH).json()
    assert (p["masked"], p["turned_off"]) == (3, 1)
    assert p["area_share"] == pytest.approx(0.11)
    q = f"/api/jobs/{jid}/review/preview?threshold=0.6&label=plate"
    p = client.get(q, headers=AUTH).json()
    assert (p["masked"], p["turned_off"]) == (3, 1)
    bad = client.get(f"/api/jobs/{jid}/review/preview?threshold=2", headers=AUTH)
    assert bad.status_code == 400 and "threshold" in bad.json()["detail"]
    assert client.get(f"/api/jobs/{jid}/review/tracks").status_code == 401
    # a size band (median box height, px): the lanterns and the plate, not the face
    small = client.get(f"/api/jobs/{jid}/review/tracks?max_size=20", headers=AUTH).json()
    assert [t["id"] for t in small["tracks"]] == [2, 3, 4]
    assert small["evidence_kinds"] == ["detector score"]
    bad = client.get(f"/api/jobs/{jid}/review/tracks?min_size=30&max_size=20", headers=AUTH)
    assert bad.status_code == 400 and "min_size" in bad.json()["detail"]


def test_threshold_apply_undo_and_confirmation(job):
    client, jid = job
    url = f"/api/jobs/{jid}/review/threshold"
    dry = client.post(url, json={"threshold": 0.99, "dry_run": True}, headers=AUTH).json()
    assert dry["turned_off"] == 4 and dry["confirm"] == 1
    refused = client.post(url, json={"threshold": 0.99, "reason": "all"}, headers=AUTH)
    assert refused.status_code == 409 and refused.json()["confirm"] == 1
    r = client.post(url, json={"threshold": 0.3, "reason": "signs"}, headers=AUTH)
    assert r.status_code == 200, r.text
    changed = r.json()["changed"]
    assert sorted(c["id"] for c in changed) == [2, 3]
    assert all(c["track"]["enabled"] is False for c in changed)
    project = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()
    decisions = project["project"]["files"][0]["decisions"]
    assert decisions == [
        {"what": "threshold", "reason": "signs", "threshold": 0.3, "evidence": "detector score",
         "tracks": [2, 3]}
    ]  # fmt: skip
    undo = client.post(f"/api/jobs/{jid}/undo", headers=AUTH).json()
    assert sorted(c["id"] for c in undo["changed"]) == [2, 3]
    assert all(c["track"]["enabled"] for c in undo["changed"])
    project = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()
    assert "decisions" not in project["project"]["files"][0]


def test_bulk_and_suggestions(job):
    client, jid = job
    url = f"/api/jobs/{jid}/review/bulk"
    r = client.post(
        url, json={"tracks": [2, 4], "action": "method", "method": "fill"}, headers=AUTH
    )
    assert r.status_code == 200 and len(r.json()["changed"]) == 2
    assert (
        client.post(url, json={"tracks": [2], "action": "disable"}, headers=AUTH).status_code == 400
    )
    r = client.post(url, json={"tracks": [1, 2], "action": "disable", "reason": "x"}, headers=AUTH)
    assert r.status_code == 409 and r.json()["ids"] == [1]
    r = client.post(url, json={"tracks": [2], "action": "disable", "reason": "sign"}, headers=AUTH)
    assert r.status_code == 200
    s = client.post(f"/api/jobs/{jid}/review/similar", json={"seeds": [2]}, headers=AUTH).json()
    assert s["appearance"] is False  # the default measure reads no pixels
    assert [x["id"] for x in s["suggestions"]][0] == 3  # the other weak box up top
    assert 4 not in [x["id"] for x in s["suggestions"]]  # a plate is not like a face


def test_bulk_and_threshold_refuse_a_stale_tab(job):
    """Two tabs: a bulk edit or a threshold made against an older project_version is
    answered 409, as every other write is, and changes nothing."""
    client, jid = job
    seen = client.get(f"/api/jobs/{jid}/project", headers=AUTH).headers["etag"]
    body = {"tracks": [2], "action": "method", "method": "fill"}
    url = f"/api/jobs/{jid}/review/bulk"
    assert client.post(url, json=body, headers={**AUTH, "If-Match": seen}).status_code == 200
    stale = {**AUTH, "If-Match": seen}  # the other tab still holds the old version
    before = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()["project"]
    assert client.post(url, json=body, headers=stale).status_code == 409
    t = {"threshold": 0.5, "reason": "sign", "label": "face"}
    r = client.post(f"/api/jobs/{jid}/review/threshold", json=t, headers=stale)
    assert r.status_code == 409
    after = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()["project"]
    assert after == before


def test_threshold_preview_and_apply_within_a_size_band(job):
    """The slider's preview and apply follow the grid's size filter: only the tracks of the
    band are turned off, one edit, with the band in the recorded decision."""
    client, jid = job  # heights: face 40, lanterns 20 and 20, plate 10
    pv = f"/api/jobs/{jid}/review/preview?threshold=0.6"
    assert client.get(pv, headers=AUTH).json()["turned_off"] == 3
    p = client.get(pv + "&min_size=15&max_size=25", headers=AUTH).json()
    assert (p["masked"], p["turned_off"]) == (2, 2)
    assert p["area_share"] == pytest.approx(0.10)
    for q, word in (
        ("&max_size=abc", "'abc'"),
        ("&min_size=-1", "-1"),
        ("&min_size=30&max_size=20", "30"),
    ):
        bad = client.get(pv + q, headers=AUTH)
        assert bad.status_code == 400 and word in bad.json()["detail"], q
    bad = client.get(f"/api/jobs/{jid}/review/tracks?min_size=x", headers=AUTH)
    assert bad.status_code == 400 and "min_size" in bad.json()["detail"]
    url = f"/api/jobs/{jid}/review/threshold"
    body = {"threshold": 0.99, "min_size": 30, "reason": "all"}
    dry = client.post(url, json={**body, "dry_run": True}, headers=AUTH).json()
    assert (dry["turned_off"], dry["confirm"], dry["ids"]) == (1, 1, [1])
    refused = client.post(url, json=body, headers=AUTH)
    assert refused.status_code == 409 and refused.json()["confirm"] == 1
    bad = client.post(url, json={**body, "min_size": -4}, headers=AUTH)
    assert bad.status_code == 400 and "min_size" in bad.json()["detail"]
    band = {"threshold": 0.6, "min_size": 15, "max_size": 25, "reason": "lanterns"}
    r = client.post(url, json=band, headers=AUTH)
    assert r.status_code == 200, r.text
    assert sorted(c["id"] for c in r.json()["changed"]) == [2, 3]
    project = client.get(f"/api/jobs/{jid}/project", headers=AUTH).json()["project"]
    assert project["files"][0]["decisions"] == [
        {"what": "threshold", "reason": "lanterns", "threshold": 0.6, "min_size": 15.0,
         "max_size": 25.0, "evidence": "detector score", "tracks": [2, 3]}
    ]  # fmt: skip
    assert [t["enabled"] for t in project["files"][0]["tracks"]] == [True, False, False, True]
    undo = client.post(f"/api/jobs/{jid}/undo", headers=AUTH).json()
    assert sorted(c["id"] for c in undo["changed"]) == [2, 3]
