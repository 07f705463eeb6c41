"""Tracker, offline gap filling and scene cuts on synthetic constant-velocity tracks."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import ConfigError
from veil.regions import FACE, PLATE, Regions, iou_matrix
from veil.settings import TrackSettings
from veil.track import FinalFrame, OfflineTracker, SceneCutDetector, TrackConfig, Tracker

# -- helpers -----------------------------------------------------------------


def box_at(x0: float, y0: float, vx: float, vy: float, t: int, w: float = 40, h: float = 40):
    x, y = x0 + vx * t, y0 + vy * t
    return [x, y, x + w, y + h]


def regions(boxes, scores=None, labels=None) -> Regions:
    if not boxes:
        return Regions.empty()
    return Regions(np.array(boxes, np.float32), scores, labels)


def run(tracker: OfflineTracker, frames) -> list[Regions]:
    """Push (detections, cut) pairs; return the final regions per frame, in order."""
    out: list[FinalFrame] = []
    for i, item in enumerate(frames):
        dets, cut = item if isinstance(item, tuple) else (item, False)
        out += tracker.push(i, i, dets, cut=cut)
    out += tracker.flush()
    assert [f.payload for f in out] == list(range(len(frames)))
    return [f.regions for f in out]


def best_iou(r: Regions, truth) -> float:
    if not len(r):
        return 0.0
    return float(iou_matrix(np.array([truth]), r.xyxy).max())


def covered(r: Regions, truth, label: int = FACE, frac: float = 0.8) -> bool:
    """Some output box of the label covers at least ``frac`` of the true box."""
    r = r.of_class(label)
    if not len(r):
        return False
    t = np.array(truth, np.float64)
    x1 = np.maximum(r.xyxy[:, 0], t[0])
    y1 = np.maximum(r.xyxy[:, 1], t[1])
    x2 = np.minimum(r.xyxy[:, 2], t[2])
    y2 = np.minimum(r.xyxy[:, 3], t[3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    return bool((inter / ((t[2] - t[0]) * (t[3] - t[1]))).max() >= frac)


def contains(outer: np.ndarray, inner) -> bool:
    eps = 1e-3
    return bool(
        outer[0] <= inner[0] + eps
        and outer[1] <= inner[1] + eps
        and outer[2] >= inner[2] - eps
        and outer[3] >= inner[3] - eps
    )


# -- config ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lookahead": -1}, "lookahead"),
        ({"max_gap": 1.5}, "max_gap"),
        ({"high_score": 1.5}, "high_score"),
        ({"iou_threshold": 0}, "iou_threshold"),
        ({"smooth_radius": True}, "smooth_radius"),
        ({"low_score": 0.6, "high_score": 0.5}, "low_score"),
        ({"lookahead": 2, "pre_frames": 3}, "pre_frames"),
        (
            {"lookahead": 4, "pre_frames": 3, "min_track_len": 3, "min_track_score": 0.5},
            "lookahead",
        ),
    ],
)
def test_config_rejects_bad_values_naming_them(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        TrackConfig(**kwargs)


def test_config_from_settings_takes_matching_fields():
    cfg = TrackConfig.from_settings(TrackSettings(lookahead=12, post_frames=2, max_gap=4))
    expected = (12, TrackSettings().pre_frames, 2, 4)
    assert (cfg.lookahead, cfg.pre_frames, cfg.post_frames, cfg.max_gap) == expected
    assert TrackConfig.from_settings(TrackSettings(), smooth_radius=0).smooth_radius == 0


def test_tracker_rejects_bad_arguments():
    with pytest.raises(TypeError, match="config"):
        Tracker({"lookahead": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="detections"):
        Tracker().update([[0, 0, 1, 1]])  # type: ignore[arg-type]


# -- online tracker ------------------------------------------------------------


def test_ids_belong_to_the_instance():
    a, b = Tracker(), Tracker()
    ra = a.update(regions([[0, 0, 10, 10]]))
    rb = b.update(regions([[0, 0, 10, 10]]))
    assert ra.track_ids.tolist() == rb.track_ids.tolist() == [1]


def test_constant_velocity_keeps_id_and_row_order():
    t = Tracker()
    for f in range(30):
        r = t.update(regions([box_at(300, 0, -4, 2, f), box_at(0, 0, 4, 2, f)]))
        assert r.track_ids.tolist() == [1, 2]
        assert np.allclose(r.xyxy[1], box_at(0, 0, 4, 2, f))  # raw boxes returned


def test_fast_small_box_matches_by_distance():
    # 8 px box moving 6 px/frame: IoU of consecutive boxes 0.14, below the threshold.
    t = Tracker()
    ids = {int(t.update(regions([box_at(0, 0, 6, 0, f, 8, 8)])).track_ids[0]) for f in range(20)}
    assert ids == {1}


def test_low_score_detection_continues_track_in_second_round():
    t = Tracker(TrackConfig(high_score=0.6))
    for f in range(10):
        s = 0.9 if f < 5 else 0.2
        r = t.update(regions([box_at(0, 0, 3, 0, f)], scores=[s]))
        assert r.track_ids.tolist() == [1]


def test_low_score_below_birth_threshold_starts_no_track():
    t = Tracker(TrackConfig(low_score=0.3))
    r = t.update(regions([[0, 0, 10, 10], [50, 50, 60, 60]], scores=[0.1, 0.9]))
    assert r.track_ids.tolist() == [-1, 1]


def test_crossing_tracks_keep_ids():
    t = Tracker()
    a_ids, b_ids = [], []
    for f in range(60):
        # two faces walking through each other, 6 px apart vertically
        r = t.update(regions([box_at(0, 100, 5, 0, f), box_at(295, 106, -5, 0, f)]))
        a_ids.append(int(r.track_ids[0]))
        b_ids.append(int(r.track_ids[1]))
    a_main = max(set(a_ids), key=a_ids.count)
    b_main = max(set(b_ids), key=b_ids.count)
    assert a_main != b_main
    assert a_ids.count(a_main) >= 0.9 * 60 and b_ids.count(b_main) >= 0.9 * 60


def test_classes_never_share_a_track():
    t = Tracker()
    box = [10, 10, 50, 50]
    for _ in range(5):
        r = t.update(regions([box, box], labels=[FACE, PLATE]))
        assert len(set(r.track_ids.tolist())) == 2
    live = t.live()
    assert sorted(live.labels.tolist()) == [FACE, PLATE]


def test_max_gap_bounds_reassociation():
    t = Tracker(TrackConfig(max_gap=3))
    t.update(regions([[0, 0, 40, 40]]))
    for _ in range(3):
        t.update(Regions.empty())
    assert t.update(regions([[0, 0, 40, 40]])).track_ids.tolist() == [1]
    for _ in range(4):
        t.update(Regions.empty())
    assert len(t) == 0
    assert t.update(regions([[0, 0, 40, 40]])).track_ids.tolist() == [2]


def test_predict_moves_boxes_and_reset_clears():
    t = Tracker()
    for f in range(10):
        t.update(regions([box_at(0, 0, 4, 0, f)]))
    pred = t.predict()
    assert pred.track_ids.tolist() == [1]
    assert best_iou(pred, box_at(0, 0, 4, 0, 10)) > 0.8
    t.reset()
    assert len(t) == 0 and len(t.live()) == 0
    assert t.update(regions([[0, 0, 9, 9]])).track_ids.tolist() == [2]  # ids never reused
    t.reset(restart_ids=True)
    assert t.update(regions([[0, 0, 9, 9]])).track_ids.tolist() == [1]


# -- offline look-ahead ----------------------------------------------------------


def test_gap_of_three_frames_is_filled():
    truth = [box_at(10, 20, 3, 1, f) for f in range(30)]
    frames = [regions([] if 10 <= f <= 12 else [truth[f]]) for f in range(30)]
    out = run(OfflineTracker(), frames)
    for f in range(30):
        assert len(out[f]) == 1, f
        assert best_iou(out[f], truth[f]) > 0.5, f
    assert {int(r.track_ids[0]) for r in out} == {1}


def test_births_and_deaths_extend_exactly_pre_and_post():
    cfg = TrackConfig(pre_frames=3, post_frames=5)
    frames = [regions([[100, 100, 140, 140]] if 10 <= f <= 20 else []) for f in range(40)]
    out = run(OfflineTracker(cfg), frames)
    masked = [f for f, r in enumerate(out) if len(r)]
    assert masked == list(range(7, 26))
    # the extension covers the box itself
    assert all(contains(out[f].xyxy[0], [100, 100, 140, 140]) for f in masked)


def test_scene_cut_stops_interpolation_and_extension_and_resets_ids():
    box = [[100, 100, 140, 140]]
    frames: list = []
    for f in range(30):
        dets = regions(box if (f < 10 or f >= 15) else [])
        frames.append((dets, f == 10))
    out = run(OfflineTracker(TrackConfig(pre_frames=3, post_frames=5)), frames)
    masked = [f for f, r in enumerate(out) if len(r)]
    # before: 0..9; after the cut the new track starts 3 frames early (12..) but
    # neither the old track's after-frames nor an interpolation reach 10, 11
    assert masked == list(range(10)) + list(range(12, 30))
    before = {int(out[f].track_ids[0]) for f in range(10)}
    after = {int(out[f].track_ids[0]) for f in range(12, 30)}
    assert len(before) == len(after) == 1 and before != after

    # without the cut the same stream is filled through
    plain = run(OfflineTracker(), [d for d, _ in frames])
    assert all(len(r) == 1 for r in plain)


def test_pre_extension_never_crosses_a_cut():
    frames = [(regions([[0, 0, 30, 30]] if f >= 11 else []), f == 10) for f in range(20)]
    out = run(OfflineTracker(TrackConfig(pre_frames=3)), frames)
    assert [f for f, r in enumerate(out) if len(r)] == list(range(10, 20))


@pytest.mark.parametrize("lookahead, pre", [(8, 3), (1, 1), (0, 0)])
def test_detect_every_third_frame_covers_every_frame(lookahead, pre):
    truth = [box_at(50, 60, 1.5, 0.5, f) for f in range(60)]
    frames = [regions([truth[f]]) if f % 3 == 0 else None for f in range(60)]
    cfg = TrackConfig(lookahead=lookahead, pre_frames=pre)
    out = run(OfflineTracker(cfg), frames)
    for f in range(60):
        assert best_iou(out[f], truth[f]) > 0.5, f
        # with no look-ahead the speed is unknown until the second detection
        if lookahead or f > 3:
            assert covered(out[f], truth[f], frac=0.95), f


def test_false_positive_filter_needs_short_and_low_score():
    cfg = TrackConfig(min_track_len=3, min_track_score=0.5)
    far = [500, 500, 540, 540]

    def stream(score: float, n_frames: int) -> list[Regions]:
        return [
            regions([far], scores=[score]) if 10 <= f < 10 + n_frames else Regions.empty()
            for f in range(30)
        ]

    def n_masked(out: list[Regions]) -> int:
        return sum(len(r) for r in out)

    assert n_masked(run(OfflineTracker(cfg), stream(0.2, 1))) == 0  # short and low: dropped
    assert n_masked(run(OfflineTracker(cfg), stream(0.9, 1))) > 0  # short, high: kept
    assert n_masked(run(OfflineTracker(cfg), stream(0.2, 6))) > 0  # long, low: kept
    assert n_masked(run(OfflineTracker(), stream(0.2, 1))) > 0  # default keeps everything


class _Payload:
    """Stands in for a frame array; weak-referenceable and hashable."""


def test_memory_is_bounded_by_the_window():
    cfg = TrackConfig(lookahead=8)
    tracker = OfflineTracker(cfg)
    alive = weakref.WeakSet()
    n_out = 0
    for f in range(1000):
        payload = _Payload()
        alive.add(payload)
        n_out += len(tracker.push(f, payload, regions([box_at(0, 0, 1, 0, f % 300)])))
        del payload
        gc.collect(0)
        assert len(alive) <= cfg.lookahead + 1
        assert tracker.held <= cfg.lookahead
    n_out += len(tracker.flush())
    assert n_out == 1000
    assert len(tracker._frames) == 0 and len(tracker._info) == 0


def test_output_order_and_count_equal_input():
    rng = np.random.default_rng(1)
    t = OfflineTracker()
    got = []
    for f in range(0, 200, 2):  # frame indices need only increase
        dets = None if rng.random() < 0.3 else regions([box_at(0, 0, 1, 1, f)])
        got += [ff.payload for ff in t.push(f, ("frame", f), dets, cut=f == 100)]
    got += [ff.payload for ff in t.flush()]
    assert got == [("frame", f) for f in range(0, 200, 2)]
    t.push(500, None, None)
    with pytest.raises(ValueError, match="frame_index"):
        t.push(500, None, None)


def test_smoothed_box_contains_raw_detection_and_jitters_less():
    rng = np.random.default_rng(7)
    truth = np.array([box_at(100, 100, 2, 0, f, 60, 60) for f in range(80)])
    raw = truth + rng.normal(0, 3, truth.shape)
    out = run(OfflineTracker(), [regions([b]) for b in raw])
    for f in range(80):
        assert len(out[f]) == 1
        assert contains(out[f].xyxy[0], raw[f]), f
    centre_out = np.array([(r.xyxy[0, :2] + r.xyxy[0, 2:]) / 2 for r in out])
    centre_raw = (raw[:, :2] + raw[:, 2:]) / 2
    jitter = lambda c: np.abs(np.diff(c, n=2, axis=0)).mean()  # noqa: E731
    assert jitter(centre_out) < 0.6 * jitter(centre_raw)


def test_margin_grows_with_speed():
    def width_at(vx: float) -> float:
        frames = [regions([box_at(0, 0, vx, 0, f)]) for f in range(30)]
        return float(run(OfflineTracker(), frames)[15].widths[0])

    assert width_at(0) == pytest.approx(40, abs=0.5)
    assert width_at(2) > width_at(0) + 3
    assert width_at(6) > width_at(2) + 6


def test_face_and_plate_in_the_same_place_get_separate_tracks():
    box = [10, 10, 50, 50]
    frames = [regions([box, box], labels=[FACE, PLATE]) for _ in range(10)]
    for r in run(OfflineTracker(), frames):
        assert sorted(r.labels.tolist()) == [FACE, PLATE]
        assert len(set(r.track_ids.tolist())) == 2


def test_untracked_low_score_detection_still_masked_on_its_frame():
    cfg = TrackConfig(low_score=0.3)
    frames = [
        regions([[0, 0, 10, 10]], scores=[0.1]) if f == 5 else Regions.empty() for f in range(10)
    ]
    out = run(OfflineTracker(cfg), frames)
    assert [f for f, r in enumerate(out) if len(r)] == [5]
    assert out[5].track_ids.tolist() == [-1]


def test_coverage_regression_gate():
    """MOTA-like gate: tracking must close the gaps per-frame detection leaves."""
    rng = np.random.default_rng(2024)
    n_obj, n_frames, hit_rate = 6, 300, 0.85
    starts = rng.uniform(50, 600, (n_obj, 2))
    vel = rng.uniform(-2, 2, (n_obj, 2))
    sizes = rng.uniform(24, 80, n_obj)
    labels = rng.integers(0, 2, n_obj)
    truth = np.array(
        [
            [box_at(*starts[o], *vel[o], f, sizes[o], sizes[o] * 0.8) for o in range(n_obj)]
            for f in range(n_frames)
        ]
    )
    hits = rng.random((n_frames, n_obj)) < hit_rate
    frames = []
    for f in range(n_frames):
        keep = hits[f]
        noisy = truth[f][keep] + rng.normal(0, 1.0, (keep.sum(), 4))
        frames.append(regions(noisy.tolist(), rng.uniform(0.3, 1, keep.sum()), labels[keep]))
    out = run(OfflineTracker(), frames)

    def coverage(per_frame: list[Regions]) -> float:
        ok = [
            covered(per_frame[f], truth[f, o], int(labels[o]))
            for f in range(n_frames)
            for o in range(n_obj)
        ]
        return float(np.mean(ok))

    raw_cov, tracked_cov = coverage(frames), coverage(out)
    assert raw_cov <= hit_rate + 0.02
    assert tracked_cov >= 0.99


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.lists(
                st.tuples(
                    st.floats(0, 500),
                    st.floats(0, 500),
                    st.floats(2, 80),
                    st.floats(2, 80),
                    st.floats(0.05, 1),
                    st.integers(0, 1),
                ),
                max_size=5,
            ),
        ),
        max_size=40,
    ),
    st.lists(st.integers(0, 39), max_size=3),
)
def test_every_detection_is_covered_on_its_frame(stream, cuts):
    """Privacy invariant (default config): nothing detected is ever left unmasked."""
    frames = []
    for f, dets in enumerate(stream):
        r = None
        if dets is not None:
            r = regions(
                [[x, y, x + w, y + h] for x, y, w, h, _, _ in dets],
                [d[4] for d in dets],
                [d[5] for d in dets],
            )
        frames.append((r, f in cuts))
    out = run(OfflineTracker(), frames)
    assert len(out) == len(stream)
    for f, (dets, _) in enumerate(frames):
        if dets is None:
            continue
        for box, label in zip(dets.xyxy, dets.labels, strict=True):
            same = out[f].of_class(int(label))
            assert any(contains(b, box) for b in same.xyxy), f


# -- scene cuts ------------------------------------------------------------------


def _scene(seed: int, shape=(180, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (9, 16, 3)).astype(np.uint8)
    return np.kron(base, np.ones((shape[0] // 9, shape[1] // 16, 1), np.uint8))


def test_scene_cut_detector_finds_cuts_not_motion_or_noise():
    det = SceneCutDetector()
    a, b = _scene(1), _scene(2)
    rng = np.random.default_rng(0)
    results = []
    for f in range(40):
        img = a if f < 20 else b
        img = np.roll(img, f, axis=1)  # slow pan
        noise = rng.integers(-4, 5, img.shape)
        results.append(det.is_cut((img.astype(int) + noise).clip(0, 255).astype(np.uint8)))
    assert [f for f, c in enumerate(results) if c] == [20]


def test_scene_cut_detector_min_scene_len_and_inputs():
    det = SceneCutDetector(min_scene_len=5)
    flips = [det.is_cut(_scene(f % 2)) for f in range(6)]
    assert flips == [False, True, False, False, False, False]
    assert det.is_cut(np.zeros((50, 60), np.uint8)) in (True, False)  # grayscale accepted
    with pytest.raises(ValueError):
        det.is_cut(np.zeros((5, 5, 2), np.uint8))
    with pytest.raises(ConfigError, match="threshold"):
        SceneCutDetector(threshold=0)


def test_weak_detections_only_continue_tracks():
    t = Tracker()
    first = t.update(regions([[0, 0, 40, 40]], scores=[0.9]))
    assert first.track_ids.tolist() == [1]
    # the same face, now unsure (weak), plus an unsure blob elsewhere
    r = t.update(regions([[1, 0, 41, 40], [200, 200, 240, 240]], scores=[0.1, 0.1]), [True, True])
    assert r.track_ids.tolist() == [1, -1]
    with pytest.raises(ValueError, match="weak"):
        t.update(regions([[0, 0, 4, 4]]), [True, False])


def test_weak_detection_alone_is_not_masked_but_keeps_its_track():
    off = OfflineTracker(TrackConfig(lookahead=2, pre_frames=0, post_frames=0))
    out = []
    sure, unsure = regions([[0, 0, 40, 40]], scores=[0.9]), regions([[2, 0, 42, 40]], scores=[0.1])
    blob = regions([[200, 200, 240, 240]], scores=[0.1])
    out += off.push(0, 0, sure)
    out += off.push(1, 1, Regions.concat([unsure, blob]), weak=np.array([True, True]))
    out += off.push(2, 2, Regions.empty())
    out += off.flush()
    assert len(out[1].regions) == 1  # the face's track, not the blob
    assert out[1].regions.xyxy[0, 0] < 10
    assert len(out[2].regions) == 0


# -- evidence before a mask -------------------------------------------------------------


def _confirm_run(dets_per_frame, strong_per_frame, hits: int) -> list[Regions]:
    off = OfflineTracker(TrackConfig(lookahead=8, pre_frames=2, post_frames=0, confirm_hits=hits))
    out: list[FinalFrame] = []
    for i, (dets, strong) in enumerate(zip(dets_per_frame, strong_per_frame, strict=True)):
        flags = None if dets is None else np.array(strong, bool)
        out += off.push(i, i, dets, strong=flags)
    out += off.flush()
    return [f.regions for f in out]


def test_an_unconfirmed_track_is_never_masked():
    """One sighting below the confirm score, never seen again: a lantern, not a face."""
    blob = regions([[100, 100, 140, 140]], scores=[0.3])
    frames = [blob, None, None, None, Regions.empty(), None, None, None]
    out = _confirm_run(frames, [[False], [], [], [], [], [], [], []], hits=2)
    assert all(len(r) == 0 for r in out)


def test_a_second_sighting_confirms_and_masks_the_frames_before_it():
    frames, strong = [], []
    for i in range(12):
        if i % 4 == 0:
            frames.append(regions([box_at(100, 100, 1, 0, i)], scores=[0.3]))
            strong.append([False])
        else:
            frames.append(None)
            strong.append([])
    out = _confirm_run(frames, strong, hits=2)
    # confirmed at frame 4; frames 0-3 were still held back, so they are masked too
    for i in range(9):
        assert covered(out[i], box_at(100, 100, 1, 0, i)), i


def test_a_strong_detection_confirms_alone():
    frames = [regions([[100, 100, 140, 140]], scores=[0.9]), Regions.empty(), Regions.empty()]
    out = _confirm_run(frames, [[True], [], []], hits=3)
    assert covered(out[0], [100, 100, 140, 140])


def test_by_default_every_detection_confirms_its_track():
    frames = [regions([[100, 100, 140, 140]], scores=[0.3]), Regions.empty()]
    out = _confirm_run(frames, [[True], []], hits=1)
    assert covered(out[0], [100, 100, 140, 140])
    off = OfflineTracker(TrackConfig(lookahead=2, pre_frames=0, post_frames=0))
    got = off.push(0, 0, frames[0]) + off.flush()  # no strong flags: old behaviour
    assert covered(got[0].regions, [100, 100, 140, 140])


def test_confirm_hits_needs_a_lookahead_that_holds_the_first_frames():
    with pytest.raises(ConfigError, match="confirm_hits"):
        TrackSettings(confirm_hits=4, detect_every=10, lookahead=24)
    TrackSettings(confirm_hits=2, detect_every=4, lookahead=24)


# -- matching ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 12),
    st.integers(0, 12),
    st.floats(0.0, 1.0),
    st.integers(0, 2**31 - 1),
    st.sampled_from([2.0, 0.5]),
)
def test_matching_pairs_as_many_at_as_little_cost_as_scipy(n, m, p, seed, spread):
    """veil's own solver gives the pair count and total cost of scipy's Hungarian
    method on the same matrix (forbidden pairs dropped), ties included."""
    from scipy.optimize import linear_sum_assignment

    from veil.track.tracker import _INVALID, min_cost_matching

    rng = np.random.default_rng(seed)
    cost = np.round(rng.uniform(0.0, spread, (n, m)), 1)  # rounding makes ties
    cost[rng.uniform(size=(n, m)) > p] = _INVALID
    rows, cols = min_cost_matching(cost)
    assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
    assert (cost[rows, cols] < _INVALID).all() and (np.diff(rows) > 0).all()
    a, b = linear_sum_assignment(cost)
    ok = cost[a, b] < _INVALID
    assert len(rows) == ok.sum()
    assert cost[rows, cols].sum() == pytest.approx(cost[a[ok], b[ok]].sum(), abs=1e-9)


def test_a_clip_matching_does_not_load_scipy_optimize_and_a_crowd_does():
    """scipy.optimize costs 0.3-0.5 s to import: a detector run's few tracks are
    matched without it, a crowd larger than veil's own solver's size with it."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from veil.regions import Regions\n"
        "from veil.track import Tracker, TrackConfig\n"
        "from veil.track.tracker import _SMALL_MATCHING, min_cost_matching\n"
        "t = Tracker(TrackConfig())\n"
        "for k in range(12):\n"
        "    b = np.array([[10+2*k, 10, 50+2*k, 50], [30, 20-k, 70, 60-k]], np.float32)\n"
        "    t.update(Regions(b, np.array([0.9, 0.8], np.float32)))\n"
        "print('scipy.optimize' in sys.modules)\n"
        "n = _SMALL_MATCHING + 1\n"
        "r, c = min_cost_matching(np.random.default_rng(0).uniform(size=(n, n + 3)))\n"
        "print('scipy.optimize' in sys.modules, len(r) == n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


# -- siblings: one face followed twice ----------------------------------------------


def _nested(outer, inner, missing: str, frames: int = 40, gap=range(10, 20), labels=FACE):
    """A still box and a smaller one inside it, each its own track; ``missing`` says
    which of the two the detector misses on the frames of ``gap``."""
    out = []
    for f in range(frames):
        boxes = [outer, inner]
        if f in gap:
            boxes = [inner] if missing == "outer" else [outer]
        out.append(regions(boxes, labels=np.full(len(boxes), labels, np.int16)))
    return out


SIBLINGS = TrackConfig(sibling_inside=0.7, sibling_below=64)


def _counts(cfg: TrackConfig, frames) -> list[int]:
    return [len(r) for r in run(OfflineTracker(cfg), frames)]


def test_a_smaller_siblings_guess_gives_way_where_the_larger_is_seen():
    frames = _nested([100, 100, 160, 160], [110, 115, 150, 155], missing="inner")
    plain, merged = _counts(TrackConfig(), frames), _counts(SIBLINGS, frames)
    # without the rule the inner track is bridged across its miss: two masks all along
    assert plain == [2] * 40
    # with it, the bridge (and the extension before it) gives way to the seen outer box
    assert merged[:10] == [2] * 10 and merged[20:] == [2] * 20
    assert merged[10:20] == [1] * 10
    out = run(OfflineTracker(SIBLINGS), frames)
    assert all(contains(out[f].xyxy[0], [110, 115, 150, 155]) for f in range(10, 20))


def test_the_larger_siblings_guess_and_large_faces_and_plates_are_kept():
    # the larger box missed: its bridge stays, the smaller box may be partial
    outer_missed = _nested([100, 100, 160, 160], [110, 115, 150, 155], missing="outer")
    assert _counts(SIBLINGS, outer_missed) == [2] * 40
    # a large face keeps every guess: there a partial box may hold the rest of it
    large = _nested([100, 100, 220, 220], [110, 120, 200, 210], missing="inner")
    assert _counts(SIBLINGS, large) == [2] * 40
    # plates have no siblings
    plates = _nested([100, 100, 160, 160], [110, 115, 150, 155], "inner", labels=PLATE)
    assert _counts(SIBLINGS, plates) == [2] * 40
    # boxes that only touch are not siblings
    apart = _nested([100, 100, 160, 160], [150, 110, 190, 150], missing="inner")
    assert _counts(SIBLINGS, apart) == [2] * 40


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"sibling_inside": 1.5}, "sibling_inside"), ({"sibling_below": -1}, "sibling_below")],
)
def test_sibling_settings_are_validated(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        TrackConfig(**kwargs)
    with pytest.raises(ConfigError, match=name):
        TrackSettings(**kwargs)
