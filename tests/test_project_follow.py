"""Manual regions that follow their object (single-object propagation)."""

from __future__ import annotations

import numpy as np
import pytest

from veil.errors import ProjectError
from veil.project import FileEntry, Project
from veil.project.follow import FollowConfig, Followed, followed_track, propagate


def _scene(seed: int = 0) -> np.ndarray:
    """A textured 'scene' larger than the frame, with a distinct object on it."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    scene = np.kron(coarse, np.ones((6, 6), np.uint8)).astype(np.uint8)  # 360x480
    yy, xx = np.mgrid[0:40, 0:40]
    scene[150:190, 200:240] = ((xx // 5 + yy // 5) % 2 * 200 + 30).astype(np.uint8)
    return scene


def _pan(n: int = 24, cut_at: int | None = None) -> tuple[list[np.ndarray], list[tuple]]:
    """Grayscale frames of a camera panning right and down over the scene, and the
    object's true box on each; after ``cut_at`` the object is painted over."""
    scene = _scene()
    frames, truth = [], []
    for i in range(n):
        ox, oy = 40 + 3 * i, 30 + i
        frame = scene[oy : oy + 240, ox : ox + 320].copy()
        if cut_at is not None and i >= cut_at:
            frame[:] = 128
        frames.append(frame)
        truth.append((200 - ox, 150 - oy, 240 - ox, 190 - oy))
    return frames, truth


def test_a_drawn_box_follows_its_object_through_a_pan():
    frames, truth = _pan()
    mid = 12
    res = propagate(frames, {mid: truth[mid]})
    assert sorted(res.boxes) == list(range(24)) and not res.review
    for f, want in enumerate(truth):
        np.testing.assert_allclose(res.boxes[f], want, atol=2.0)


def test_a_lost_object_stops_the_region_and_flags_the_rest():
    frames, truth = _pan(cut_at=16)
    hold = 3
    res = propagate(frames, {8: truth[8]}, FollowConfig(hold=hold))
    assert set(range(16, 24)) <= res.review  # never silently masked elsewhere
    held = [f for f in range(16, 24) if f in res.boxes]
    assert held == list(range(16, 16 + hold))  # a short safety margin, then nothing
    for f in range(0, 16):
        np.testing.assert_allclose(res.boxes[f], truth[f], atol=2.0)


def test_follow_is_one_undoable_edit_and_keeps_the_drawn_keyframes():
    frames, truth = _pan()
    p = Project([FileEntry("v.mp4", "video", "0" * 64, 24, 320, 240)])
    tid = p.add_track("v.mp4", "logo", [(5, truth[5]), (20, truth[20])])
    p.follow("v.mp4", tid, frames)
    t = p.track("v.mp4", tid)
    assert len(t.keyframes) == 24 and not t.review
    assert [k.frame for k in t.keyframes if not k.tracked] == [5, 20]
    np.testing.assert_allclose(t.box_at(12, 24), truth[12], atol=2.0)
    again = Project.loads(p.dumps())  # tracked keyframes survive a save
    assert [k.frame for k in again.track("v.mp4", tid).keyframes if not k.tracked] == [5, 20]
    p.undo()
    assert len(p.track("v.mp4", tid).keyframes) == 2
    with pytest.raises(ProjectError, match="frames given"):
        p.follow("v.mp4", tid, frames[:10])


def test_frames_the_follow_did_not_reach_keep_a_grown_box_and_are_flagged():
    """A region followed over only part of a long video (the server's window) stays
    masked after it, with the last box grown, and those frames go to review."""
    p = Project([FileEntry("v.mp4", "video", "0" * 64, 900, 320, 240)])
    tid = p.add_track("v.mp4", "logo", [(10, (100, 100, 140, 140))])
    before = p.track("v.mp4", tid)
    assert before.box_at(810, 900) is not None
    window = Followed({f: (100.0, 100.0, 140.0, 140.0) for f in range(0, 761)}, set())
    after = followed_track(before, window, 900)
    assert after.visible_ranges(900) == [(0, 899)]
    assert after.box_at(810, 900) == (80.0, 80.0, 160.0, 160.0)  # grown by half a side
    assert (761, 899) in after.review
    assert len(after.keyframes) == 763  # a held run is two keyframes, not one a frame


def test_a_lost_object_keeps_its_region_masked_and_flagged_in_the_project():
    frames, truth = _pan(cut_at=16)
    p = Project([FileEntry("v.mp4", "video", "0" * 64, 24, 320, 240)])
    tid = p.add_track("v.mp4", "logo", [(8, truth[8])])
    p.follow("v.mp4", tid, frames, FollowConfig(hold=3))
    t = p.track("v.mp4", tid)
    assert t.visible_ranges(24) == [(0, 23)]  # never turned off by the follow
    assert any(lo <= 23 <= hi for lo, hi in t.review)
    last = t.box_at(18, 24)
    held = t.box_at(23, 24)
    assert held is not None and last is not None
    assert held[2] - held[0] > last[2] - last[0]  # grown where the follow gave up
