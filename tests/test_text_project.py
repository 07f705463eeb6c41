"""Text tracks and policies in the project file and the redaction report (no OCR run)."""

from __future__ import annotations

import json

import pytest

from veil.detect.text import TextLine
from veil.errors import ConfigError, ProjectError
from veil.policy import load_policy
from veil.project.document import Project
from veil.project.jobs import _check_policy
from veil.project.model import FileEntry, Keyframe, Track
from veil.project.report import FileRecord, build_report, to_markdown
from veil.project.textcats import label_text_tracks, stamp_entry
from veil.settings import Settings

SHA = "0" * 64


def _track(tid: int, label: str, box, **kw) -> Track:
    return Track(tid, label, "auto", (Keyframe(0, box),), seed=tid, **kw)


def _entry() -> FileEntry:
    return FileEntry(
        "a.jpg",
        "image",
        SHA,
        1,
        640,
        480,
        tracks={
            1: _track(1, "text", (10, 10, 200, 40)),
            2: _track(2, "text", (10, 100, 200, 130)),
            3: _track(3, "face", (300, 100, 400, 220)),
        },
    )


def test_text_tracks_take_the_categories_of_the_lines_they_overlap() -> None:
    lines = [
        TextLine((12, 11, 198, 41), 0.9, frozenset({"phone", "email"})),
        TextLine((500, 400, 600, 420), 0.9, frozenset({"iban"})),
    ]
    entry = label_text_tracks(_entry(), lines)
    assert entry.tracks[1].categories == ("email", "phone")
    assert entry.tracks[2].categories == ()
    assert entry.tracks[3].categories == ()


def test_categories_round_trip_and_never_hold_text() -> None:
    entry = label_text_tracks(
        _entry(), [TextLine((10, 10, 200, 40), 0.9, frozenset({"national-id"}))]
    )
    project = Project([entry])
    again = Project.loads(project.dumps())
    assert again.entry("a.jpg").tracks[1].categories == ("national-id",)
    with pytest.raises(ProjectError, match="categories"):
        _track(9, "text", (0, 0, 5, 5), categories=("44051401458",))
    with pytest.raises(ProjectError, match="only a text track"):
        _track(9, "face", (0, 0, 5, 5), categories=("phone",))


def test_the_report_counts_text_by_category_and_unmasked_tracks_by_reason() -> None:
    entry = label_text_tracks(_entry(), [TextLine((10, 10, 200, 40), 0.9, frozenset({"phone"}))])
    entry.tracks[2] = Track(
        2, "text", "auto", entry.tracks[2].keyframes, enabled=False, reason="consent given"
    )
    entry.tracks[3] = Track(
        3, "face", "auto", entry.tracks[3].keyframes, enabled=False, reason="consent given"
    )
    settings = load_policy("poland-roads").apply(Settings())
    report = build_report([FileRecord(entry, SHA)], settings)
    f = report["files"][0]
    assert f["text_categories"] == {"phone": 1}
    assert f["disabled_by_reason"] == {"consent given": 2}
    assert report["policy"]["name"] == "poland-roads" and len(report["policy"]["sha256"]) == 64
    md = to_markdown(report)
    assert "policy: poland-roads" in md and "phone 1" in md and "- consent given: 2" in md
    assert "44051401458" not in json.dumps(report)


def test_a_project_made_under_a_policy_needs_policy_again_to_render() -> None:
    entry = _entry()
    policy = load_policy("dataset-release")
    entry.settings["policy"] = policy.record()
    project = Project([entry])
    with pytest.raises(ConfigError, match="dataset-release"):
        _check_policy(project, Settings())
    _check_policy(project, policy.apply(Settings()))  # given again: accepted
    _check_policy(project, load_policy("publish-eu").apply(Settings()))  # explicit other
    _check_policy(Project([_entry()]), Settings())  # a project made under none


def test_a_fresh_entry_is_stamped_with_categories_and_policy() -> None:
    class Kept:  # a text detector's leftovers, as the engine holds them
        label = 2
        kept = [TextLine((10, 10, 200, 40), 0.9, frozenset({"email"}))]

    class FakeEngine:
        detectors = [Kept()]

    settings = load_policy("publish-eu").apply(Settings())
    entry = stamp_entry(_entry(), FakeEngine(), settings)
    assert entry.tracks[1].categories == ("email",)
    assert entry.settings["policy"]["name"] == "publish-eu"
    assert Kept.kept == []  # taken: the next file starts clean
    assert "policy" not in stamp_entry(_entry(), FakeEngine(), Settings()).settings
