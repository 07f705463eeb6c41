"""The learned face/not-face decision: model file, features, decider, tracker and pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from veil.decide import EVIDENCE, FEATURES, DecisionModel, FaceTrackDecider, FrameVerifier
from veil.decide.evidence import OBSERVATION, track_features
from veil.decide.model import VIDEO_FACE_TRACKS, load_bundled
from veil.errors import ConfigError, ModelError
from veil.regions import FACE, PLATE, Regions
from veil.settings import DetectSettings, Settings, TrackSettings
from veil.track import OfflineTracker, TrackConfig


def _model(weight_on: str = "max_yunet", threshold: float = 0.5) -> DecisionModel:
    """A hand-made model: P(face) rises with one feature only."""
    n = len(FEATURES)
    w = np.zeros((n, 1))
    w[FEATURES.index(weight_on), 0] = 4.0
    return DecisionModel(FEATURES, np.zeros(n), np.ones(n), ((w, np.zeros(1)),), threshold, {})


def _evidence(score: float, yunet: float, h: float = 40.0) -> np.ndarray:
    row = dict.fromkeys(EVIDENCE, 0.0)
    row.update(score=score, yunet=yunet, yolo=yunet, w=h * 0.8, h=h, frame_h=540, fx=100, fy=100)
    return np.array([row[k] for k in EVIDENCE])


# -- the bundled model -----------------------------------------------------------


def test_bundled_model_loads_and_matches_the_features():
    model = load_bundled()
    assert model.features == FEATURES
    assert 0.0 < model.threshold < 1.0
    assert model.info["trained_on"] and "faces_wider_train" in json.dumps(model.info)
    p = model.predict(np.zeros((3, len(FEATURES))))
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))


def test_bundled_model_prefers_what_the_second_networks_call_a_face():
    """Same detector score; the crop verifiers agreeing must raise P(face)."""
    obs_face = np.array([[4 * k, *_evidence(0.1, 0.8), 100, 100] for k in range(4)])
    obs_sign = np.array([[4 * k, *_evidence(0.1, 0.0), 100, 100] for k in range(4)])
    model = load_bundled()
    p_face, p_sign = model.predict(
        np.stack([track_features(obs_face, 4), track_features(obs_sign, 4)])
    )
    assert p_face > model.threshold > p_sign


def test_model_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        DecisionModel.load(bad)
    doc = _model().to_dict()
    doc["features"] = ["max_score"]
    bad.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="features"):
        DecisionModel.load(bad)
    doc = _model().to_dict()
    doc["threshold"] = 2
    bad.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="threshold"):
        DecisionModel.load(bad)


def test_model_round_trips_through_json(tmp_path):
    m = _model()
    path = tmp_path / "m.json"
    path.write_text(json.dumps(m.to_dict()))
    again = DecisionModel.load(path)
    x = np.random.default_rng(0).normal(size=(5, len(FEATURES)))
    np.testing.assert_allclose(again.predict(x), m.predict(x))
    assert len(again.sha256) == 64
    assert VIDEO_FACE_TRACKS.is_file()


# -- features ----------------------------------------------------------------------


def test_track_features_follow_their_definitions():
    obs = np.array(
        [[0, *_evidence(0.2, 0.5, h=40), 100, 100], [8, *_evidence(0.6, 0.9, h=40), 140, 100]]
    )
    f = dict(zip(FEATURES, track_features(obs, 4), strict=True))
    assert f["max_score"] == pytest.approx(np.log(0.6 / 0.4))
    assert f["log_sightings"] == pytest.approx(np.log(2))
    assert f["share_seen"] == pytest.approx(2 / 3)  # runs at 0, 4, 8: seen on 2 of 3
    assert f["log_height"] == pytest.approx(np.log(40))
    assert len(OBSERVATION) == len(EVIDENCE) + 3


def test_track_features_need_an_observation():
    with pytest.raises(ValueError):
        track_features(np.zeros((0, len(OBSERVATION))), 4)


# -- the decider -------------------------------------------------------------------


def test_decider_confirms_once_and_never_takes_it_back():
    d = FaceTrackDecider(_model(), detect_every=4)
    d.observe(1, 0, (0, 0, 40, 40), _evidence(0.1, 0.0))
    assert not d.decided(1)
    d.observe(1, 4, (0, 0, 40, 40), _evidence(0.1, 0.95))
    assert d.decided(1)
    for k in range(2, 20):  # later weak evidence lowers the mean, not the decision
        d.observe(1, 4 * k, (0, 0, 40, 40), _evidence(0.1, 0.0))
    assert d.decided(1)
    assert d.confidence(1) == pytest.approx(max(d.confidences.values()))
    d.forget(1)
    assert d.confidence(1) is not None  # kept for the project file


def test_decider_without_model_records_but_never_decides():
    rec: list = []
    d = FaceTrackDecider(None, detect_every=4, recorder=rec)
    d.observe(3, 0, (0, 0, 40, 40), _evidence(0.9, 0.9))
    assert not d.decided(3) and d.confidence(3) is None
    assert rec[0][0] == 3 and rec[0][2].shape == (len(FEATURES),)


def _face_run(tracker, n, yunet, label=FACE, start=0):
    """A still 40 px box detected every 4th frame, with a given verifier score."""
    out = []
    box = np.array([[100, 100, 140, 140]], np.float32)
    asked: list[int] = []

    def verify(rows):
        asked.append(len(rows))
        return np.full((len(rows), 2), yunet)

    for i in range(start, start + n):
        if i % 4 == 0:
            dets = Regions(box, np.array([0.3], np.float32), np.array([label], np.int16))
            ev = _evidence(0.3, np.nan)[None]
            out += tracker.push(i, i, dets, evidence=ev, verify=verify)
        else:
            out += tracker.push(i, i, None)
    return out + tracker.flush()


def test_tracker_masks_only_the_tracks_the_decider_accepts():
    cfg = TrackConfig(lookahead=24, pre_frames=8, post_frames=8, confirm_hits=2)
    rejected = _face_run(OfflineTracker(cfg, FaceTrackDecider(_model(), 4)), 40, yunet=0.0)
    assert all(len(f.regions) == 0 for f in rejected)
    accepted = _face_run(OfflineTracker(cfg, FaceTrackDecider(_model(), 4)), 40, yunet=0.9)
    assert all(len(f.regions) == 1 for f in accepted)  # from frame 0: held back when decided


def test_decider_checks_only_what_it_still_needs():
    """An undecided track is checked on its first sightings, then every few; a decided
    one is not checked again."""
    d = FaceTrackDecider(_model(), detect_every=4)
    asked = []

    def verify(yunet):
        def run(rows):
            asked.append(len(rows))
            return np.full((len(rows), 2), yunet)

        return run

    for k in range(12):  # clutter: never decided
        d.observe_frame(4 * k, [1], [(0, 0, 40, 40)], _evidence(0.2, np.nan)[None], verify(0.0))
    assert 4 <= len(asked) < 12
    asked.clear()
    for k in range(12):  # a face: decided on its first check, then left alone
        d.observe_frame(4 * k, [2], [(0, 0, 40, 40)], _evidence(0.2, np.nan)[None], verify(0.9))
    assert len(asked) == 1 and d.decided(2)


def test_an_advisory_decider_rates_tracks_while_the_rule_decides():
    cfg = TrackConfig(lookahead=24, pre_frames=8, post_frames=8, confirm_hits=2)
    d = FaceTrackDecider(_model(), 4, advisory=True)
    out = _face_run(OfflineTracker(cfg, d), 40, yunet=0.0)
    assert all(len(f.regions) == 1 for f in out)  # the rule masks what the model doubts
    (conf,) = d.confidences.values()
    assert conf < 0.5


def test_the_rule_still_decides_without_a_decider_and_for_other_classes():
    cfg = TrackConfig(lookahead=24, pre_frames=8, post_frames=8, confirm_hits=2)
    plain = _face_run(OfflineTracker(cfg), 40, yunet=0.0)
    assert all(len(f.regions) == 1 for f in plain)
    plates = _face_run(OfflineTracker(cfg, FaceTrackDecider(_model(), 4)), 40, 0.0, PLATE)
    assert all(len(f.regions) == 1 for f in plates)


# -- the frame verifier ----------------------------------------------------------


class _SeesOne:
    """A stand-in network: one face at a fixed place in any frame, scored 0.7."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], int, float]] = []

    def single_pass(self, rgb, max_side, threshold, shared=None):
        self.calls.append((rgb.shape, max_side, threshold))
        return Regions(np.array([[10, 10, 30, 30]], np.float32), np.array([0.7], np.float32))


def test_frame_verifier_runs_each_network_once_and_scores_the_overlapping_boxes():
    net = _SeesOne()
    v = FrameVerifier([net, None], max_side=640)
    rgb = np.zeros((120, 200, 3), np.uint8)
    boxes = np.array([[12, 12, 32, 32], [150, 90, 190, 110], [10, 10, 60, 60]], np.float32)
    ev = v(rgb, boxes)
    assert net.calls == [((120, 200, 3), 640, 0.01)]  # one pass for all candidates
    # on the face; elsewhere; around it but too loose (IoU 0.16)
    np.testing.assert_allclose(ev[:, 0], [0.7, 0.0, 0.0])
    assert np.isnan(ev[:, 1]).all()  # a network given as None is not run
    assert v(rgb, np.zeros((0, 4))).shape == (0, 2) and len(net.calls) == 1


def test_frame_verifier_settings_are_validated():
    with pytest.raises(ValueError, match="max_side"):
        FrameVerifier([], max_side=10)
    with pytest.raises(ValueError, match="min_iou"):
        FrameVerifier([], min_iou=0.0)


def test_one_check_answers_for_every_detection_of_the_run():
    """The pass over the frame is paid once: every row gets its verdict, even those
    of tracks that did not need one; a run where none needs it is not checked."""
    d = FaceTrackDecider(_model(), detect_every=4)
    asked: list[int] = []

    def verify(rows):
        asked.append(len(rows))
        return np.full((len(rows), 2), 0.9)

    ev = np.stack([_evidence(0.2, np.nan)] * 2)
    d.observe_frame(0, [1, 2], [(0, 0, 40, 40), (50, 0, 90, 40)], ev, verify)
    assert asked == [2] and d.decided(1) and d.decided(2)
    d.observe_frame(4, [1, 2], [(0, 0, 40, 40), (50, 0, 90, 40)], ev, verify)
    assert asked == [2]  # both decided: nothing more to check


def test_base_evidence_holds_score_size_and_place():
    from veil.decide.tracks import base_evidence

    boxes = np.array([[10, 10, 30, 50], [0, 0, 5, 5]], np.float32)
    ev = base_evidence(np.array([0.5, 0.1]), boxes, 540)
    col = {k: i for i, k in enumerate(EVIDENCE)}
    np.testing.assert_allclose(ev[:, col["h"]], [40, 5])
    np.testing.assert_allclose(ev[:, col["fx"]], [20, 2.5])
    assert np.isnan(ev[:, col["yunet"]]).all() and (ev[:, col["frame_h"]] == 540).all()


# -- settings and engine ---------------------------------------------------------


def test_decide_setting_is_validated():
    assert TrackSettings().decide == "learned"
    with pytest.raises(ConfigError, match="decide must be one of"):
        TrackSettings(decide="maybe")


def test_engine_uses_the_learned_decision_only_where_it_was_trained():
    from veil.pipeline import Engine

    class Stub:
        label = FACE

        def detect(self, rgb, threshold):
            return Regions.empty()

    faces = Settings(
        detect=DetectSettings(targets=("face",)), track=TrackSettings(decide="learned")
    )
    assert Engine(faces, detectors=[Stub()]).video_decider() is None  # a plug-in keeps the rule
    learned = Engine(faces).video_decider()
    assert learned is not None and not learned.advisory  # the bundled CenterFace: learned
    assert (learned.lapse_after, learned.lapse_under, learned.keep_above) == (3, 0.5, 0.5)
    rule = faces.evolve(track=TrackSettings(decide="rule"))
    assert Engine(rule).video_decider() is None  # plain masking pays nothing for ratings
    rating = Engine(rule).video_decider(advisory=True)
    assert rating is not None and rating.advisory  # a project still gets P(face) per track
    assert rating.lapse_after == 0  # the rule's tracks never lapse
    yolo = faces.evolve(detect=DetectSettings(targets=("face",), video_face_models="yolo"))
    assert Engine(yolo).video_decider(advisory=True) is None  # trained on CenterFace only


def test_a_project_carries_each_face_track_s_confidence(tmp_path):
    """The sample clip shipped in the package: its face tracks get a P(face) for review
    while the rule decides what is masked."""
    from importlib.resources import files

    from veil.pipeline import Engine
    from veil.project.build import detect_entry

    clip = files("veil") / "samples" / "street.mp4"
    engine = Engine(Settings(detect=DetectSettings(targets=("face",))))
    entry = detect_entry(engine, str(clip), "street.mp4")
    faces = [t for t in entry.tracks.values() if t.label == "face"]
    assert faces and all(t.confidence is not None for t in faces)
    assert max(t.confidence for t in faces) > 0.5  # NASA's portrait is a face


def test_a_face_seen_badly_then_clearly_is_judged_on_the_clear_stretch():
    """The decision reads the latest WINDOW sightings: sixteen bad checks do not outvote
    WINDOW clear ones (on the whole history the mean would stay low)."""
    from veil.decide.tracks import WINDOW

    d = FaceTrackDecider(_model("mean_yunet"), detect_every=4)
    box = (0, 0, 40, 40)
    for k in range(16):
        d.observe(5, 4 * k, box, _evidence(0.1, 0.0))
    assert not d.decided(5)
    for k in range(16, 16 + WINDOW):
        d.observe(5, 4 * k, box, _evidence(0.1, 0.9))
    assert d.decided(5)


@pytest.mark.parametrize("precision", ["int8", "float"])
def test_the_frame_verifier_runs_yolo_at_the_video_faces_precision(precision):
    """The verifier's YOLOv8n-face is the int8 copy when video faces are (the default),
    the float original with ``--video-face-precision float``."""
    from veil.pipeline import Engine

    engine = Engine(Settings(detect=DetectSettings(video_face_precision=precision)))
    rgb = np.zeros((360, 640, 3), np.uint8)
    opinions = engine.verify(rgb, Regions(np.array([[100, 100, 140, 150]], np.float32)))
    yunet, yolo = engine._verifier.networks
    suffix = ".int8.onnx" if precision == "int8" else "yolov8n.onnx"
    assert yolo.path.name.endswith(suffix) and yolo.path.is_file()
    assert opinions.shape == (1, 2) and (opinions == 0).all()  # nothing to see in black


# -- masks sized by evidence -----------------------------------------------------------
def _moving_run(tracker, yunet, n=40, vx=4.0):
    """A 40 px face box moving ``vx`` px a frame, detected every 4th frame."""
    out = []
    for i in range(n):
        if i % 4:
            out += tracker.push(i, i, None)
            continue
        box = np.array([[100 + vx * i, 100, 140 + vx * i, 140]], np.float32)
        dets = Regions(box, np.array([0.3], np.float32), np.array([FACE], np.int16))
        ev = _evidence(0.3, np.nan)[None]
        out += tracker.push(i, i, dets, evidence=ev, verify=lambda r: np.full((len(r), 2), yunet))
    return out + tracker.flush()


@pytest.mark.parametrize("unlikely_below, grown", [(0.5, False), (0.2, True), (0.0, True)])
def test_an_unlikely_face_is_masked_on_every_frame_but_not_grown_for_motion(unlikely_below, grown):
    """P(face) about 0.31 (yunet 0.45 through the hand model) passes the threshold of
    0.2; under ``unlikely_below`` its box keeps the face's own size while it moves."""
    cfg = TrackConfig(
        lookahead=24, pre_frames=8, post_frames=8, confirm_hits=2,
        unlikely_below=unlikely_below, unlikely_growth=0.0,
    )  # fmt: skip
    out = _moving_run(OfflineTracker(cfg, FaceTrackDecider(_model(threshold=0.2), 4)), 0.45)
    assert all(len(f.regions) == 1 for f in out)  # masked from the first frame to the last
    width = float(out[22].regions.widths[0])  # two frames from a detector run
    if grown:
        assert width > 40 + 6  # 4 px a side per frame of speed
    else:
        assert width == pytest.approx(40, abs=1.0)


def test_a_sure_face_and_the_rule_keep_the_whole_motion_growth():
    cfg = TrackConfig(
        lookahead=24, pre_frames=8, post_frames=8, confirm_hits=2,
        unlikely_below=0.5, unlikely_growth=0.0,
    )  # fmt: skip
    sure = _moving_run(OfflineTracker(cfg, FaceTrackDecider(_model(threshold=0.2), 4)), 0.9)
    advisory = FaceTrackDecider(_model(threshold=0.2), 4, advisory=True)
    rule = _moving_run(OfflineTracker(cfg, advisory), 0.45)
    for out in (sure, rule):
        assert float(out[22].regions.widths[0]) > 40 + 6


def test_unlikely_growth_settings_are_checked_and_reach_the_tracker():
    with pytest.raises(ConfigError, match="unlikely_growth"):
        TrackSettings(unlikely_growth=1.5)
    with pytest.raises(ConfigError, match="unlikely_margin"):
        TrackSettings(unlikely_margin=-0.5)
    with pytest.raises(ConfigError, match="unlikely_below"):
        TrackConfig(unlikely_below=-0.1)
    cfg = TrackConfig.from_settings(TrackSettings(unlikely_growth=0.25))
    assert (cfg.unlikely_below, cfg.unlikely_growth, cfg.unlikely_margin) == (0.5, 0.25, 0.5)


@pytest.mark.parametrize(
    "yunet, margin, share", [(0.45, 0.5, 0.5), (0.45, 1.0, 1.0), (0.9, 0.5, 1.0)]
)
def test_an_unlikely_face_gets_its_share_of_the_margin_a_sure_face_all(yunet, margin, share):
    cfg = TrackConfig(
        lookahead=24, pre_frames=8, post_frames=8, confirm_hits=2,
        unlikely_below=0.5, unlikely_growth=0.0, unlikely_margin=margin,
    )  # fmt: skip
    out = _moving_run(OfflineTracker(cfg, FaceTrackDecider(_model(threshold=0.2), 4)), yunet)
    assert all(f.regions.margin_shares.tolist() == [share] for f in out)


def _jittery_run(tracker, yunet, n=30):
    """A still face detected on every frame, its box 40 and 52 px wide in turn."""
    out = []
    for i in range(n):
        w = 40 if i % 2 == 0 else 52
        box = np.array([[100 - w / 2, 100 - 20, 100 + w / 2, 100 + 20]], np.float32)
        dets = Regions(box, np.array([0.3], np.float32), np.array([FACE], np.int16))
        ev = _evidence(0.3, np.nan)[None]
        out += tracker.push(i, i, dets, evidence=ev, verify=lambda r: np.full((len(r), 2), yunet))
    return out + tracker.flush()


def test_an_unlikely_face_takes_the_mean_size_of_its_window_never_less_than_its_box():
    def width(yunet: float, growth: float, frame: int) -> float:
        cfg = TrackConfig(
            lookahead=24, pre_frames=8, post_frames=8, unlikely_below=0.5, unlikely_growth=growth
        )
        out = _jittery_run(OfflineTracker(cfg, FaceTrackDecider(_model(threshold=0.2), 1)), yunet)
        return float(out[frame].regions.widths[0])

    assert width(0.9, 0.0, 14) == pytest.approx(52, abs=0.5)  # a sure face: the largest
    assert width(0.45, 0.0, 14) == pytest.approx((3 * 40 + 2 * 52) / 5, abs=0.5)  # the mean
    assert width(0.45, 0.0, 15) == pytest.approx(52, abs=0.5)  # never less than its own box
    assert width(0.45, 1.0, 14) == pytest.approx(52, abs=0.5)  # growth 1: as any track


# -- an unlikely face's decision lapses --------------------------------------------


def _lapsing(**kw) -> FaceTrackDecider:
    """Threshold 0.2: yunet 0.45 rates about 0.31 (an unlikely face), 0.9 about 1, 0 about 0."""
    return FaceTrackDecider(
        _model(threshold=0.2), 4, lapse_after=3, lapse_under=0.5, keep_above=0.5, **kw
    )


def test_an_unlikely_face_s_decision_lapses_after_runs_rated_under_half_the_threshold():
    d = _lapsing()
    d.observe(1, 0, (0, 0, 40, 40), _evidence(0.3, 0.45))
    assert d.decided(1)
    for k in range(1, 8):  # the window of eight still holds the passing sighting
        d.observe(1, 4 * k, (0, 0, 40, 40), _evidence(0.3, 0.0))
        assert d.decided(1)
    for k in range(8, 10):
        d.observe(1, 4 * k, (0, 0, 40, 40), _evidence(0.3, 0.0))
        assert d.decided(1)  # one and two runs under half the threshold
    d.observe(1, 40, (0, 0, 40, 40), _evidence(0.3, 0.0))
    assert not d.decided(1)  # the third lapses it
    d.observe(1, 44, (0, 0, 40, 40), _evidence(0.3, 0.45))
    assert d.decided(1)  # passing again decides it again
    assert d.confidence(1) == pytest.approx(d.confidences[1])


def test_a_rating_between_half_the_threshold_and_it_does_not_count_towards_a_lapse():
    d = _lapsing()
    d.observe(1, 0, (0, 0, 40, 40), _evidence(0.3, 0.45))
    # max_yunet 0.39 rates about 0.14: under the threshold, over half of it
    for k in range(1, 20):
        d.observe(1, 4 * k, (0, 0, 40, 40), _evidence(0.3, 0.39 if k >= 8 else 0.0))
    assert d.decided(1)


def test_a_track_ever_rated_likely_and_a_decider_without_lapses_never_lapse():
    sure = _lapsing()
    sure.observe(1, 0, (0, 0, 40, 40), _evidence(0.3, 0.9))
    never = FaceTrackDecider(_model(threshold=0.2), 4)
    never.observe(1, 0, (0, 0, 40, 40), _evidence(0.3, 0.45))
    for k in range(1, 20):
        for d in (sure, never):
            d.observe(1, 4 * k, (0, 0, 40, 40), _evidence(0.3, 0.0))
    assert sure.decided(1) and never.decided(1)
    with pytest.raises(ValueError, match="lapse_after"):
        FaceTrackDecider(_model(), 4, lapse_after=-1)
    with pytest.raises(ValueError, match="lapse_under"):
        FaceTrackDecider(_model(), 4, lapse_under=1.5)


def test_a_track_that_may_lapse_is_still_checked_one_that_cannot_is_not():
    asked = {"lapsing": 0, "sure": 0}

    def verify(name, yunet):
        def run(rows):
            asked[name] += 1
            return np.full((len(rows), 2), yunet)

        return run

    lapsing, sure = _lapsing(), _lapsing()
    for k in range(12):
        ev = _evidence(0.3, np.nan)[None]
        lapsing.observe_frame(4 * k, [1], [(0, 0, 40, 40)], ev, verify("lapsing", 0.45))
        sure.observe_frame(4 * k, [1], [(0, 0, 40, 40)], ev, verify("sure", 0.9))
    assert asked["sure"] == 1  # decided on its first check, likely: never checked again
    assert asked["lapsing"] >= 4  # its first four sightings, then every third


def test_the_tracker_stops_masking_a_lapsed_track_and_keeps_what_it_masked():
    """Frames 0-99, a detection every 4th; the verifier sees yunet 0.45 up to frame 20, then 0
    (it checks the first four sightings, frames 0-12, then every third: 24, 36, 48...)."""
    cfg = TrackConfig(lookahead=24, pre_frames=8, post_frames=8, confirm_hits=2)
    tracker = OfflineTracker(cfg, _lapsing())
    box = np.array([[100, 100, 140, 140]], np.float32)
    out = []
    for i in range(100):
        if i % 4:
            out += tracker.push(i, i, None)
            continue
        yunet = 0.45 if i <= 20 else 0.0
        dets = Regions(box, np.array([0.3], np.float32), np.array([FACE], np.int16))
        ev = _evidence(0.3, np.nan)[None]
        out += tracker.push(
            i, i, dets, evidence=ev, verify=lambda r, y=yunet: np.full((len(r), 2), y)
        )
    out += tracker.flush()
    masked = [len(f.regions) == 1 for f in out]
    # decided at frame 0; from frame 44 the window of eight sightings holds no passing
    # check (the last was at 12), and the third run rated under half the threshold,
    # frame 52, lapses it: masked up to there, not after
    assert all(masked[: 52 + 1]) and not any(masked[53:])


def test_the_lapse_setting_is_checked_and_reaches_the_command_line(capsys):
    from veil.cli import build_parser, main, settings_from_args

    with pytest.raises(ConfigError, match="unlikely_lapse"):
        TrackSettings(unlikely_lapse=-1)
    with pytest.raises(ConfigError, match="unlikely_lapse_under"):
        TrackSettings(unlikely_lapse_under=2.0)
    args = build_parser().parse_args(["mask", "in.mp4", "-o", "o.mp4", "--unlikely-lapse", "0"])
    assert settings_from_args(args).track.unlikely_lapse == 0
    assert main(["mask", "in.mp4", "-o", "o.mp4", "--unlikely-lapse", "-2"]) != 0
    assert "--unlikely-lapse" in capsys.readouterr().err


def test_the_operating_point_can_be_moved_and_reaches_the_decider(capsys):
    from veil.cli import build_parser, main, settings_from_args
    from veil.pipeline import Engine

    with pytest.raises(ConfigError, match="face_confidence"):
        TrackSettings(face_confidence=1.5)
    faces = Settings(detect=DetectSettings(targets=("face",)))
    assert Engine(faces).video_decider().threshold == load_bundled().threshold
    strict = faces.evolve(track=TrackSettings(face_confidence=0.3))
    assert Engine(strict).video_decider().threshold == 0.3
    rating = Engine(strict.evolve(track=TrackSettings(decide="rule", face_confidence=0.3)))
    assert rating.video_decider(advisory=True).threshold == load_bundled().threshold
    args = build_parser().parse_args(["mask", "in.mp4", "-o", "o.mp4", "--face-confidence", "0.2"])
    assert settings_from_args(args).track.face_confidence == 0.2
    assert main(["mask", "in.mp4", "-o", "o.mp4", "--face-confidence", "-1"]) != 0
    assert "--face-confidence" in capsys.readouterr().err


def test_the_report_names_the_operating_point_in_effect():
    from veil.pipeline import Engine
    from veil.project.report import build_report, to_markdown

    faces = Settings(detect=DetectSettings(targets=("face", "plate")))
    own = build_report([], faces)
    # null in the settings ("the model's own"), the number itself in the decision record
    assert own["settings"]["track"]["face_confidence"] is None
    assert own["face_decision"]["threshold"] == load_bundled().threshold
    assert own["face_decision"]["threshold_from"] == "model"
    assert own["face_decision"]["sha256"] == load_bundled().sha256
    assert f"P(face) {load_bundled().threshold:.3g} (the model's own" in to_markdown(own)
    moved = build_report([], faces.evolve(track=TrackSettings(face_confidence=0.2)))
    assert moved["face_decision"]["threshold"] == 0.2
    assert "P(face) 0.2 (set with --face-confidence" in to_markdown(moved)
    # nothing to name: no faces, the confirm rule, or a project that recorded its own
    plates = Settings(detect=DetectSettings(targets=("plate",)))
    assert build_report([], plates)["face_decision"] is None
    rule = faces.evolve(track=TrackSettings(decide="rule"))
    assert build_report([], rule)["face_decision"] is None
    yunet = faces.evolve(detect=DetectSettings(targets=("face",), video_face_models="yunet"))
    assert Engine(yunet).video_decider() is None  # another network keeps the rule ...
    assert build_report([], yunet)["face_decision"] is None  # ... and the report says none
    assert build_report([], faces, project=Path("p.json"))["face_decision"] is None
    assert "P(face)" not in to_markdown(build_report([], plates))


def test_a_track_passes_at_the_moved_operating_point_and_not_under_it():
    model = _model(threshold=0.5)
    strict = FaceTrackDecider(model, 4, threshold=0.9)
    loose = FaceTrackDecider(model, 4, threshold=0.1)
    for d in (strict, loose):
        for k in range(3):
            d.observe(1, 4 * k, (0, 0, 40, 40), _evidence(0.3, 0.6))
    p = strict.confidence(1)
    assert 0.1 <= p < 0.9
    assert loose.decided(1) and not strict.decided(1)
