"""veil audit --sample: the sampler's picks on a constructed run, and the contact sheet."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest

from media_factory import make_clip
from veil.audit.sample import Candidate, candidates, checklist_outcome, pick
from veil.cli import main
from veil.errors import ConfigError, InputError
from veil.project import FileEntry, Keyframe, Project, Track


def _track(tid, spans, score=0.9, move=(0.0, 0.0), start=(40.0, 30.0), size=20.0, jitter=0.7,
           frames=200, **kw):  # fmt: skip
    """Auto track with a box on every frame of each (first, last) span: linear motion plus
    a detector's jitter (``jitter=0``: a box no detection drove, as the tracker fills it)."""
    kfs = []
    for a, b in spans:
        for f in range(a, b + 1):
            wiggle = jitter * ((f * 7919) % 5 - 2) / 2
            x, y = start[0] + move[0] * f + wiggle, start[1] + move[1] * f
            kfs.append(Keyframe(f, (x, y, x + size, y + size)))
        kfs.append(Keyframe(b + 1, None, outside=True))
    if kfs[-1].frame >= frames:
        kfs.pop()
    return Track(tid, "face", "auto", tuple(kfs), score=score, seed=tid, **kw)


def _entry(frames=200):
    wobble = _track(1, [(10, 40), (60, 90)], score=0.2)
    # frames 100..130 move on a straight line: the tracker filled them
    glide = _track(2, [(100, 130)], move=(1.2, 0.0), start=(5.0, 30.0), jitter=0.0)
    edge = _track(3, [(20, 30)], start=(-8.0, 50.0), jitter=0.0)
    return FileEntry(
        "clip.mp4", "video", "0" * 64, frames, 160, 120,
        tracks={1: wobble, 2: glide, 3: edge},
    )  # fmt: skip


def _kinds(cands):
    return {c.kind for c in cands}


def test_candidates_of_a_constructed_run():
    cands = candidates(_entry(), cuts=[150], detect_every=4)
    kinds = _kinds(cands)
    assert kinds >= {"low-score", "track-start", "track-end", "track-break", "interpolated",
                     "edge-clipped", "scene-cut", "no-detection"}  # fmt: skip
    low = [c for c in cands if c.kind == "low-score"]
    assert max(low, key=lambda c: c.risk).track == 1
    brk = next(c for c in cands if c.kind == "track-break")
    assert brk.track == 1 and 41 <= brk.frame <= 59
    interp = [c for c in cands if c.kind == "interpolated"]
    assert {c.track for c in interp} == {2, 3}  # 3 holds still: no detection moved it either
    assert all(100 <= c.frame <= 130 for c in interp if c.track == 2)
    edge = next(c for c in cands if c.kind == "edge-clipped" and c.track == 3)
    assert edge.track == 3 and edge.risk == pytest.approx(0.4)  # 8 of 20 px outside
    quiet = [c for c in cands if c.kind == "no-detection"]
    assert [c.frame for c in quiet] == [165]  # frames 131..199 have no mask
    assert next(c for c in cands if c.kind == "scene-cut").frame == 150


def test_disabled_tracks_and_images():
    kf = (Keyframe(0, (10.0, 10.0, 40.0, 40.0)),)
    off = Track(1, "face", "auto", kf, enabled=False, reason="consent")
    img = FileEntry("a.jpg", "image", "0" * 64, 1, 160, 120, tracks={1: off})
    cands = candidates(img)
    assert _kinds(cands) == {"disabled", "no-detection"}


def test_pick_spreads_over_kinds_riskiest_first_and_once_per_frame():
    cands = [
        Candidate("a", 1, "low-score", 0.9),
        Candidate("a", 2, "low-score", 0.8),
        Candidate("a", 3, "low-score", 0.7),
        Candidate("a", 1, "track-start", 0.5),  # same frame as the first: skipped
        Candidate("a", 4, "track-start", 0.5),
        Candidate("a", 5, "scene-cut", 0.7),
    ]
    got = [(c.kind, c.frame) for c in pick(cands, 4)]
    assert got == [("low-score", 1), ("scene-cut", 5), ("track-start", 4), ("low-score", 2)]
    assert len(pick(cands, 100)) == 5
    with pytest.raises(ConfigError, match="--sample"):
        pick(cands, 0)


def test_sample_cli_writes_a_contact_sheet_and_logs_nothing(tmp_path, capsys, caplog):
    clip = make_clip(tmp_path / "clip.mp4", frames=25, width=160, height=120)
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    tracks = {
        1: _track(1, [(3, 8), (14, 20)], score=0.3, frames=25),
        2: _track(2, [(2, 12)], start=(150, 5), frames=25),
    }
    entry = FileEntry("clip.mp4", "video", digest, 25, 160, 120, tracks=tracks)
    project = tmp_path / "run.json"
    Project([entry]).save(project)
    masked, report = tmp_path / "masked.mp4", tmp_path / "report.md"
    assert main(["mask", str(clip), "-o", str(masked), "--project", str(project),
                 "--report", str(report), "-q"]) == 0  # fmt: skip
    out = tmp_path / "audit"
    caplog.set_level(logging.DEBUG)
    args = ["audit", "--sample", "6", "--project", str(project), "--input", str(clip),
            "--masked", str(masked), "--out", str(out), "-q"]  # fmt: skip
    assert main(args) == 0
    assert "6 samples" in capsys.readouterr().out
    assert not [r for r in caplog.records if r.name.startswith("veil.audit")]
    sheet = (out / "contact_sheet.html").read_text()
    assert sheet.count('value="pass"') == 6 and "original" not in sheet.split("<table>")[1]
    masked = sorted(p.name for p in (out / "samples").iterdir())
    assert len(masked) == 6 and all(n.endswith("-masked.jpg") for n in masked)
    doc = json.loads((out / "checklist.json").read_text())
    assert len(doc["samples"]) == 6 and all(s["outcome"] is None for s in doc["samples"])
    # a reviewer fills it in; the outcome is what the redaction report carries
    doc["samples"][0]["outcome"] = "fail"
    for s in doc["samples"][1:]:
        s["outcome"] = "pass"
    (out / "checklist.json").write_text(json.dumps(doc))
    res = checklist_outcome(out / "checklist.json")
    assert (res["passed"], res["failed"], res["unchecked"]) == (5, 1, 0)
    check = ["audit", "--checklist", str(out / "checklist.json"), "--report", str(report)]
    assert main(check) == 0 and main(check) == 0  # a second time replaces, never duplicates
    text = report.read_text()
    assert text.count("## Manual audit") == 1 and "checked: 6 (passed: 5, failed: 1)" in text
    assert "not checked: 0" in text
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**doc, "project_sha256": "f" * 64}))
    assert main(["audit", "--checklist", str(other), "--report", str(report)]) == 1
    assert "another project" in capsys.readouterr().err
    # originals only on request
    assert main([*args, "--out", str(tmp_path / "with"), "--include-originals"]) == 0
    assert len(list((tmp_path / "with" / "samples").glob("*-original.jpg"))) == 6


def test_sample_cli_errors_name_what_is_missing(tmp_path, capsys):
    assert main(["audit", "--sample", "3", "--out", str(tmp_path)]) == 2
    assert "--project" in capsys.readouterr().err
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"samples": [{"outcome": "maybe", "kind": "x"}]}))
    with pytest.raises(InputError, match="maybe"):
        checklist_outcome(bad)


def _stream(frames: int, missed: set[int], every: int = 4):
    """One face moving right; the detector runs every ``every`` frames and misses it on
    the runs in ``missed``."""
    from veil.regions import FACE, Regions

    for f in range(frames):
        if f % every:
            yield f, None
            continue
        found = [] if f in missed else [[10.0 + 2 * f, 20.0, 50.0 + 2 * f, 60.0]]
        yield (
            f,
            Regions(
                np.array(found, np.float32).reshape(-1, 4),
                np.full(len(found), 0.95, np.float32),
                np.full(len(found), FACE, np.int16),
            ),
        )


def _tracked_entry(missed: set[int], frames: int = 40) -> FileEntry:
    from veil.project.build import entry_from_frames
    from veil.settings import Settings
    from veil.track import OfflineTracker, TrackConfig

    tracker = OfflineTracker(TrackConfig(lookahead=12, pre_frames=0, post_frames=0))
    finals = []
    for f, dets in _stream(frames, missed):
        finals += tracker.push(f, f, dets)
    finals += tracker.flush()
    assert [ff.payload for ff in finals] == list(range(frames))
    return entry_from_frames(
        "clip.mp4", "video", "0" * 64, [(ff.payload, ff.regions) for ff in finals], frames,
        320, 120, Settings(), filled=[ff.filled for ff in finals],
    )  # fmt: skip


def test_gap_filled_frames_travel_from_the_tracker_to_the_sampler(tmp_path):
    # runs at 12 and 16 miss the face: frames 9..19 are boxed by the tracker alone
    entry = _tracked_entry({12, 16})
    (track,) = entry.tracks.values()
    assert track.filled == ((9, 19),)
    # the project file keeps them
    path = tmp_path / "run.json"
    Project([entry]).save(path)
    (again,) = Project.load(path).files[0].tracks.values()
    assert again.filled == ((9, 19),)
    gap = [c for c in candidates(entry) if c.kind == "gap-filled"]
    assert [(c.frame, c.track) for c in gap] == [(14, track.id)]
    assert "gap-filled" in {c.kind for c in pick(candidates(entry), 3)}
    # frames the detector merely skipped are not gaps: nothing to pick
    plain = _tracked_entry(set())
    assert all(not t.filled for t in plain.tracks.values())
    assert not [c for c in candidates(plain) if c.kind == "gap-filled"]
