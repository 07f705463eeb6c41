"""The undo history of a session is bounded (issue 27: a tab left open for a day)."""

from __future__ import annotations

from veil.project import FileEntry, Project, document


def test_undo_history_keeps_the_last_steps_only(monkeypatch):
    monkeypatch.setattr(document, "MAX_UNDO", 5)
    p = Project([FileEntry("v.mp4", "video", "0" * 64, 30, 320, 240)])
    tid = p.add_track("v.mp4", "logo", [(0, (1, 1, 20, 20))])
    for f in range(1, 12):
        p.set_keyframe("v.mp4", tid, f, (f, 1, 20 + f, 20))
    assert len(p.history) == 5
    for _ in range(5):
        assert p.undo() is not None
    assert p.undo() is None  # the older steps are forgotten
    assert p.track("v.mp4", tid).keyframe_at(6) is not None  # what they did stays
    assert p.track("v.mp4", tid).keyframe_at(7) is None
