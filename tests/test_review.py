"""Project-level review: evidence, threshold preview and apply, bulk edits, more like this."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import review_factory as rf
from veil.errors import ProjectError
from veil.project import Keyframe, Project, Track
from veil.project import review as rv
from veil.project.report import FileRecord, build_report, to_markdown
from veil.settings import Settings

FILE = "clip.mp4"


def test_evidence_is_the_confidence_else_the_detector_score():
    learned = rf.track(1, (0, 0, 10, 10), score=0.9, confidence=0.2)
    raw = rf.track(2, (0, 0, 10, 10), score=0.3)
    drawn = rf.track(3, (0, 0, 10, 10), None, source="manual")
    assert (rv.evidence(learned), rv.evidence_kind(learned)) == (0.2, "confidence")
    assert (rv.evidence(raw), rv.evidence_kind(raw)) == (0.3, "detector score")
    assert (rv.evidence(drawn), rv.evidence_kind(drawn)) == (None, "none")
    # a face drawn by hand is "very likely a face"; a plate never is
    assert rv.likely_face(drawn) and not rv.likely_face(raw)
    assert not rv.likely_face(rf.track(4, (0, 0, 5, 5), 0.99, label="plate"))


def test_preview_counts_tracks_and_the_union_of_their_area():
    e = rf.project().entry(FILE)
    p0 = rv.preview(e, 0.0)
    assert (p0.masked, p0.turned_off) == (4, 0)
    assert p0.area_share == pytest.approx(0.12)
    p = rv.preview(e, 0.18)
    assert (p.masked, p.turned_off, p.likely_faces_off) == (3, 1, 0)
    assert p.area_share == pytest.approx(0.11)
    assert p.evidence == {"detector score": 3}
    # overlapping boxes count once
    e.tracks[5] = rf.track(5, (10, 10, 50, 50), 0.4)
    assert rv.preview(e, 0.0).area_share == pytest.approx(0.12)
    with pytest.raises(ProjectError, match="threshold"):
        rv.preview(e, 1.5)


def test_coverage_follows_edits():
    p = rf.project()
    e = p.entry(FILE)
    cov = rv.Coverage(e)
    p.disable(FILE, 1, "consent")
    assert rv.preview(e, 0.0, cov).area_share == pytest.approx(0.04)
    assert rv.preview(e, 0.0, cov).already_off == 1


def test_threshold_is_one_undoable_edit_recorded_as_a_decision(tmp_path):
    p = rf.project()
    d = rv.apply_threshold(p, FILE, 0.3, "lanterns, not faces")
    e = p.entry(FILE)
    assert d.tracks == (2, 3) and d.threshold == 0.3 and d.evidence == "detector score"
    assert [e.tracks[i].enabled for i in (1, 2, 3, 4)] == [True, False, False, True]
    assert e.tracks[2].reason == "lanterns, not faces"
    assert e.decisions == (d,)
    assert len(p.history) == 1
    path = tmp_path / "p.json"
    p.save(path)
    back = Project.load(path).entry(FILE)
    assert back.decisions == (d,)
    assert json.loads(path.read_text())["files"][0]["decisions"][0]["tracks"] == [2, 3]
    report = build_report([FileRecord(back, "0" * 64)], Settings())
    assert report["files"][0]["review_decisions"][0]["threshold"] == 0.3
    assert "threshold 0.3 on detector score: 2 track(s) off" in to_markdown(report)
    edit = p.undo()
    assert edit is not None and sorted(edit.track_ids) == [2, 3]
    assert all(t.enabled for t in e.tracks.values()) and e.decisions == ()
    p.redo()
    assert e.decisions == (d,) and not e.tracks[3].enabled


def test_turning_off_a_likely_face_needs_confirmation():
    p = rf.project()
    with pytest.raises(rv.NeedsConfirmation) as err:
        rv.apply_threshold(p, FILE, 0.99, "everything")
    assert err.value.count == 1 and err.value.ids == (1,)
    assert all(t.enabled for t in p.entry(FILE).tracks.values()) and not p.can_undo
    with pytest.raises(rv.NeedsConfirmation):
        rv.bulk_edit(p, FILE, [1, 2], "disable", reason="x")
    d = rv.bulk_edit(p, FILE, [1, 2], "disable", reason="consent", confirm=True)
    assert d is not None and d.confirmed == 1 and d.what == "disable"


def test_bulk_enable_disable_and_method_are_one_edit_each():
    p = rf.project()
    e = p.entry(FILE)
    with pytest.raises(ProjectError, match="reason"):
        rv.bulk_edit(p, FILE, [2, 3], "disable")
    rv.bulk_edit(p, FILE, [2, 3, 2], "disable", reason="signs")
    rv.bulk_edit(p, FILE, [2, 3, 4], "method", method="fill")
    assert [e.tracks[i].overrides.method for i in (1, 2, 3, 4)] == [None, "fill", "fill", "fill"]
    rv.bulk_edit(p, FILE, [2], "enable")
    assert len(p.history) == 3
    p.undo()
    p.undo()
    assert all(t.overrides.method is None for t in e.tracks.values())
    with pytest.raises(ProjectError, match="no track 9"):
        rv.bulk_edit(p, FILE, [9], "enable")
    with pytest.raises(ProjectError, match="method"):
        rv.bulk_edit(p, FILE, [2], "method", method="smudge")
    with pytest.raises(ProjectError, match="action"):
        rv.bulk_edit(p, FILE, [2], "delete")


def test_frame_boxes_match_the_model():
    t = Track(
        1,
        "face",
        "manual",
        (
            Keyframe(1, (0, 0, 10, 10)),
            Keyframe(5, (8, 4, 20, 30)),
            Keyframe(7, None, outside=True),
            Keyframe(8, (1, 1, 3, 3)),
        ),
    )
    f1, b1 = t.boxes(10)
    f2, b2 = rv.frame_boxes(t, 10)
    assert np.array_equal(f1, f2)
    np.testing.assert_allclose(b1, b2, atol=1e-4)


def test_the_thumbnail_shows_a_placed_box_mid_track_not_the_first():
    # visible on frames 2-4 and 6-19 of 20 (outside on 5); the tracker drew 12-19 across misses
    kfs = (
        Keyframe(2, (0, 0, 10, 10)),
        Keyframe(5, None, outside=True),
        Keyframe(6, (20, 0, 30, 10)),
    )
    t = Track(1, "face", "auto", kfs, filled=((12, 19),))
    # placed: 2, 3, 4, 6, ..., 11 (9 frames); the middle one is the 5th
    assert rv.thumbnail_frame(t, 20) == 7
    # no misses: the 9th of the 17 visible frames (2-4, 6-19)
    assert rv.thumbnail_frame(replace(t, filled=()), 20) == 11
    # every visible box drawn across misses: the middle of them all
    assert rv.thumbnail_frame(replace(t, filled=((0, 19),)), 20) == 11
    # not on the clip's frames at all
    assert rv.thumbnail_frame(t, 2) is None


def test_more_like_this_ranks_the_look_alike_first():
    e = rf.project().entry(FILE)
    e.tracks[5] = rf.track(5, (140, 2, 150, 22), 0.18)  # a third lantern
    e.tracks[6] = rf.track(6, (60, 40, 100, 90), 0.8)  # another real face
    stats = rv.StatsCache().all(e)
    ranked = rv.similar(stats, [2])
    ids = [i for i, _ in ranked]
    assert set(ids[:2]) == {3, 5} and 4 not in ids and 2 not in ids  # a plate: another class
    assert ids[-1] == 1  # the sure face last
    assert all(0.0 <= v <= 1.0 for _, v in ranked)
    assert [v for _, v in ranked] == sorted((v for _, v in ranked), reverse=True)
    with pytest.raises(ProjectError, match="no track 42"):
        rv.similar(stats, [42])


def _street(extra: list | None = None):
    """Two rows of weak tracks, one up top (lanterns) and one low down; sure faces between."""
    tracks = [rf.track(10 + i, (10 + 12 * i, 0, 20 + 12 * i, 10), 0.3) for i in range(6)]
    tracks += [rf.track(20 + i, (10 + 12 * i, 88, 20 + 12 * i, 98), 0.3) for i in range(6)]
    tracks += [rf.track(30 + i, (10 + 40 * i, 40, 30 + 40 * i, 60), 0.97) for i in range(5)]
    return rf.entry(tracks + (extra or []))


def test_more_like_this_follows_the_seeds_among_equally_weak_tracks():
    """Same evidence everywhere in a row: the seeds' row comes first, whichever it is, and
    more seeds there lift it further; evidence alone could not tell the rows apart."""
    stats = rv.StatsCache().all(_street())
    top = [i for i, _ in rv.similar(stats, [10])]
    low = [i for i, _ in rv.similar(stats, [20])]
    assert set(top[:5]) == set(range(11, 16)) and set(low[:5]) == set(range(21, 26))
    assert set(top[-5:]) == set(range(30, 35))  # the sure faces last
    one = dict(rv.similar(stats, [10]))
    three = dict(rv.similar(stats, [10, 11, 12]))
    assert three[13] > one[13] and three[21] == pytest.approx(one[21], abs=0.02)


def test_more_like_this_weighs_evidence_and_leaves_out_what_it_must():
    hand = rf.track(40, (100, 0, 110, 10), None, source="manual")
    stats = rv.StatsCache().all(_street([hand]))
    off = [replace(s, enabled=False) if s.id == 11 else s for s in stats]
    ranked = dict(rv.similar(off, [10]))
    assert 11 not in ranked and 40 not in ranked and 10 not in ranked
    assert 11 in dict(rv.similar(off, [10], only_enabled=False))
    # no neighbours (spread 0): the plain "lowest evidence first" order, doubts as they are
    plain = rv.similar(stats, [10], spread=0.0)
    assert plain[0][1] == pytest.approx(0.7) and plain[-1][1] == pytest.approx(0.03)
    # appearance counts once it is weighed and every track has one
    looks = {s.id: np.zeros(rv.APPEARANCE_DIM) for s in stats}
    for i in (10, 24):
        looks[i] = np.ones(rv.APPEARANCE_DIM) * 5
    w = {"place": 0.0, "shape": 0.0, "appearance": 1.0}
    assert rv.needs_looks(w) and not rv.needs_looks()
    assert rv.similar(stats, [10], looks, w)[0][0] == 24
    assert rv.similar(stats, [10], None, w)[0][1] == pytest.approx(0.7)  # no pixels: no graph


def test_appearance_tells_skin_from_a_lantern():
    skin = np.zeros((20, 20, 3), np.uint8)
    skin[:] = (200, 150, 120)
    red = np.zeros((20, 20, 3), np.uint8)
    red[:] = (230, 20, 20)
    a, b = rv.appearance(skin), rv.appearance(red)
    assert a.shape == (rv.APPEARANCE_DIM,) and a[6] == 1.0 and b[6] == 0.0
    assert rv.appearance(np.zeros((1, 1, 3), np.uint8)).sum() == 0


def test_a_bad_decision_in_a_file_is_refused():
    p = rf.project()
    rv.apply_threshold(p, FILE, 0.3, "signs")
    doc = json.loads(p.dumps())
    doc["files"][0]["decisions"][0]["thresold"] = 1
    with pytest.raises(ProjectError, match=r"decisions\[0\]\.thresold: unknown field"):
        Project.loads(json.dumps(doc))
    del doc["files"][0]["decisions"][0]["thresold"]
    doc["files"][0]["decisions"][0]["what"] = "vote"
    with pytest.raises(ProjectError, match="what"):
        Project.loads(json.dumps(doc))


def test_veil_review_cli(tmp_path, capsys):
    from veil import cli

    path = tmp_path / "p.json"
    rf.project().save(path)
    assert cli.main(["review", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4 tracks; evidence: detector score" in out
    assert "at or above 0.3: 2 masked" in out
    assert "id     class" not in out  # no track's evidence on the terminal unless asked
    assert cli.main(["review", str(path), "--top", "2"]) == 0
    rows = capsys.readouterr().out.split("id     class")[1].splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["1", "4"]  # the likeliest two: 0.95, 0.5
    assert cli.main(["review", str(path), "--threshold", "0.3", "--dry-run"]) == 0
    assert "would turn off 2 track(s)" in capsys.readouterr().out
    assert Project.load(path).entry(FILE).decisions == ()
    assert (
        cli.main(["review", str(path), "--threshold", "0.6", "--label", "plate", "--dry-run"]) == 0
    )
    assert "would turn off 1 track(s)" in capsys.readouterr().out
    assert cli.main(["review", str(path), "--threshold", "0.3", "--reason", "signs"]) == 0
    e = Project.load(path).entry(FILE)
    assert [e.tracks[i].enabled for i in (1, 2, 3, 4)] == [True, False, False, True]
    assert e.decisions[0].threshold == 0.3
    # a likely face needs --confirm; refused means nothing written
    assert cli.main(["review", str(path), "--disable", "1,4", "--reason", "x"]) == 2
    assert "--confirm" in capsys.readouterr().err
    assert Project.load(path).entry(FILE).tracks[1].enabled
    out2 = tmp_path / "q.json"
    args = ["review", str(path), "--disable", "1,4", "--reason", "x", "--confirm", "-o", str(out2)]
    assert cli.main(args) == 0
    assert not Project.load(out2).entry(FILE).tracks[1].enabled
    assert cli.main(["review", str(path), "--method", "fill", "2-4"]) == 0
    assert Project.load(path).entry(FILE).tracks[3].overrides.method == "fill"
    assert cli.main(["review", str(path), "--enable", "2-x"]) == 2


def test_the_listing_counts_masked_tracks_by_size_and_evidence():
    from veil.project.review_cli import evidence_table

    e = rf.project().entry(FILE)  # (height, evidence): #1 (40, 0.95), #2 (20, 0.15),
    lines = evidence_table(rv.StatsCache().all(e))  # #3 (20, 0.2), #4 (10, 0.5)
    table = {ln.split()[0]: ln.split()[1:] for ln in lines[2:9]}
    assert lines[1].split()[2:] == [
        "0.0-0.1", "0.1-0.2", "0.2-0.3", "0.3-0.5", "0.5-0.7", "0.7-0.9", ">=", "0.9", "none"
    ]  # fmt: skip
    assert table["<="] == ["12", ".", ".", ".", ".", "1", ".", ".", "."]  # #4
    assert table["16-24"] == [".", "1", "1", ".", ".", ".", ".", "."]  # #2 and #3
    assert table["32-48"] == [".", ".", ".", ".", ".", ".", "1", "."]  # #1
    assert all(set(table[r]) == {"."} for r in ("12-16", "24-32", "48-96"))
    off = replace(e, tracks={**e.tracks, 1: replace(e.tracks[1], enabled=False, reason="x")})
    table = {ln.split()[0]: ln.split()[1:] for ln in evidence_table(rv.StatsCache().all(off))[2:9]}
    assert set(table["32-48"]) == {"."}  # a track turned off is not counted


def test_a_threshold_on_one_class_leaves_the_other_alone():
    p = rf.project()
    e = p.entry(FILE)
    assert rv.preview(e, 0.6, label="face").turned_off == 2  # the 0.5 plate stays
    assert rv.preview(e, 0.6, label="face").area_share == pytest.approx(0.10)
    assert rv.preview(e, 0.6, label="plate").turned_off == 1
    assert rv.preview(e, 0.6, label="plate").area_share == pytest.approx(0.10)
    d = rv.apply_threshold(p, FILE, 0.6, "signs", label="face")
    assert d.tracks == (2, 3) and d.label == "face" and e.tracks[4].enabled
    back = Project.loads(p.dumps()).entry(FILE)
    assert back.decisions[0].label == "face"
    report = to_markdown(build_report([FileRecord(back, "0" * 64)], Settings()))
    assert "threshold 0.6 on face tracks' detector score: 2 track(s) off" in report
    with pytest.raises(ProjectError, match="label"):
        rv.preview(e, 0.5, label="logo")


def test_size_filter_takes_a_band_of_box_heights(tmp_path, capsys):
    from veil import cli
    from veil.project.review_cli import format_ids, parse_ids

    stats = rv.StatsCache().all(rf.project().entry(FILE))  # heights 40, 20, 20, 10
    assert [s.id for s in rv.by_size(stats, max_size=20)] == [2, 3, 4]
    assert [s.id for s in rv.by_size(stats, 15, 30)] == [2, 3]
    assert [s.id for s in rv.by_size(stats, min_size=20.5)] == [1]
    assert len(rv.by_size(stats)) == 4
    with pytest.raises(ProjectError, match="min_size"):
        rv.by_size(stats, 30, 20)
    with pytest.raises(ProjectError, match="max_size"):
        rv.by_size(stats, max_size=float("nan"))
    assert format_ids([9, 3, 7, 8, 5]) == "3,5,7-9" and parse_ids("3,5,7-9") == [3, 5, 7, 8, 9]
    path = tmp_path / "p.json"
    rf.project().save(path)
    assert cli.main(["review", str(path), "--max-size", "20"]) == 0
    assert "3 track(s) at most 20 px high (median box height): 2-4" in capsys.readouterr().out
    assert cli.main(["review", str(path), "--min-size", "15", "--max-size", "30"]) == 0
    assert "2 track(s) 15 to 30 px high (median box height): 2-3" in capsys.readouterr().out
    # the band narrows the listing or a threshold: with a list of ids it is refused
    args = ["review", str(path), "--max-size", "20", "--disable", "2", "--reason", "x"]
    assert cli.main(args) == 2
    assert Project.load(path).entry(FILE).tracks[2].enabled


def test_a_threshold_within_a_size_band_leaves_the_other_sizes_alone(tmp_path, capsys):
    """The slider, the API and `veil review --threshold --max-size` agree: a stricter
    threshold on one band of box heights only, one undoable edit, the band recorded."""
    from veil import cli

    p = rf.project()  # heights: face 40, lanterns 20 and 20, plate 10
    e = p.entry(FILE)
    whole = rv.preview(e, 0.6)
    assert whole.turned_off == 3  # the lanterns and the 0.5 plate
    band = rv.preview(e, 0.6, min_size=15, max_size=25)
    assert (band.masked, band.turned_off) == (2, 2)  # the 10-px plate stays masked
    assert band.area_share == pytest.approx(0.10)  # face 0.08 + plate 0.02
    sizes = {s.id: s.size for s in rv.StatsCache().all(e)}
    assert rv.preview(e, 0.6, min_size=15, max_size=25, sizes=sizes) == band
    assert [t.id for t in rv.threshold_plan(e, 0.6, max_size=12)] == [4]
    assert rv.preview(e, 0.6, label="face", max_size=12).turned_off == 0  # a face band: none
    # the band of a likely face still needs the confirmation
    with pytest.raises(rv.NeedsConfirmation) as no:
        rv.apply_threshold(p, FILE, 0.99, "all", min_size=30)
    assert no.value.count == 1 and all(t.enabled for t in e.tracks.values())
    with pytest.raises(ProjectError, match="min_size"):
        rv.preview(e, 0.6, min_size=-1)
    with pytest.raises(ProjectError, match="min_size: 30 is above max_size 20"):
        rv.threshold_plan(e, 0.6, min_size=30, max_size=20)
    d = rv.apply_threshold(p, FILE, 0.6, "lanterns", min_size=15, max_size=25)
    assert d.tracks == (2, 3) and (d.min_size, d.max_size) == (15.0, 25.0)
    assert e.tracks[4].enabled and p.history[-1] == "threshold (15 to 25 px high) 0.6: 2 off"
    back = Project.loads(p.dumps()).entry(FILE)
    assert (back.decisions[0].min_size, back.decisions[0].max_size) == (15.0, 25.0)
    report = to_markdown(build_report([FileRecord(back, "0" * 64)], Settings()))
    assert "threshold 0.6 on detector score, tracks 15 to 25 px high only: 2 track(s)" in report
    p.undo()
    assert p.entry(FILE).decisions == () and p.entry(FILE).tracks[2].enabled
    # an old file (no band in its decision) still loads; a bad band in a file is refused
    doc = json.loads(rf.project().dumps())
    doc["files"][0]["decisions"] = [{"what": "threshold", "reason": "x", "threshold": 0.3}]
    assert Project.loads(json.dumps(doc)).entry(FILE).decisions[0].min_size is None
    doc["files"][0]["decisions"][0]["max_size"] = -2
    with pytest.raises(ProjectError, match="max_size"):
        Project.loads(json.dumps(doc))

    # the CLI: the band with --threshold applies it there only (dry run, then for real)
    path = tmp_path / "p.json"
    rf.project().save(path)
    args = ["review", str(path), "--threshold", "0.6", "--max-size", "12"]
    assert cli.main([*args, "--dry-run"]) == 0
    assert "would turn off 1 track(s) at most 12 px high" in capsys.readouterr().out
    assert cli.main([*args, "--reason", "plate-like"]) == 0
    e2 = Project.load(path).entry(FILE)
    assert [e2.tracks[i].enabled for i in (1, 2, 3, 4)] == [True, True, True, False]
    assert e2.decisions[0].max_size == 12.0
    refused = ["review", str(path), "--threshold", "0.99", "--min-size", "30", "--reason", "x"]
    assert cli.main(refused) == 2 and "--confirm" in capsys.readouterr().err
    assert Project.load(path).entry(FILE).tracks[1].enabled
    assert cli.main([*refused, "--confirm"]) == 0
    assert not Project.load(path).entry(FILE).tracks[1].enabled
    assert cli.main(["review", str(path), "--threshold", "0.5", "--min-size", "-3"]) == 2
