import numpy as np
import pytest

from veil.errors import ConfigError
from veil.regions import FACE, PLATE, Regions, iou_matrix, nms, nms_regions
from veil.settings import (
    DetectSettings,
    EncodeSettings,
    Limits,
    MaskSettings,
    Settings,
    TrackSettings,
    parse_color,
    parse_per_class,
)


def test_regions_are_immutable_copies():
    src = np.array([[0, 0, 10, 10]], np.float32)
    r = Regions(src)
    src[0, 0] = 5
    assert r.xyxy[0, 0] == 0
    with pytest.raises(ValueError):
        r.xyxy[0, 0] = 1


def test_regions_shape_checks():
    with pytest.raises(ValueError, match="scores"):
        Regions([[0, 0, 1, 1]], scores=[0.5, 0.6])
    with pytest.raises(ValueError, match="labels"):
        Regions([[0, 0, 1, 1]], labels=[7])
    with pytest.raises(ValueError, match="non-finite"):
        Regions([[0, 0, np.nan, 1]])


def test_repr_hides_coordinates():
    r = Regions([[12.5, 34.5, 56.5, 78.5]])
    assert "12.5" not in repr(r) and repr(r) == "Regions(n=1)"


def test_expand_keeps_centre_and_grows_size():
    r = Regions([[10, 20, 30, 60]]).expand(0.5)
    np.testing.assert_allclose(r.xyxy[0], [5, 10, 35, 70])


def test_expand_per_region():
    r = Regions([[0, 0, 10, 10], [0, 0, 10, 10]]).expand(np.array([0.0, 1.0]))
    np.testing.assert_allclose(r.widths, [10, 20])


def test_clip_drops_outside_boxes():
    r = Regions([[-5, -5, 5, 5], [50, 50, 60, 60]], scores=[0.9, 0.8]).clip(20, 20)
    assert len(r) == 1
    np.testing.assert_allclose(r.xyxy[0], [0, 0, 5, 5])


def test_boolean_indexing_and_concat():
    r = Regions([[0, 0, 1, 1], [1, 1, 2, 2]], scores=[0.1, 0.9], labels=[FACE, PLATE])
    assert len(r.of_class(PLATE)) == 1 and r.of_class(PLATE).scores[0] == pytest.approx(0.9)
    both = Regions.concat([r, Regions.empty(), r[0]])
    assert len(both) == 3


def test_margin_shares_default_to_one_are_checked_and_travel_with_the_boxes():
    r = Regions([[0, 0, 10, 10], [20, 20, 30, 30]], labels=[FACE, FACE])
    assert r.margin_shares.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="margin_shares"):
        Regions([[0, 0, 1, 1]], margin_shares=[1.5])
    with pytest.raises(ValueError, match="margin_shares"):
        Regions([[0, 0, 1, 1]], margin_shares=[0.5, 0.5])
    r = Regions([[-5, -5, 5, 5], [20, 20, 30, 30], [90, 90, 95, 95]], margin_shares=[0.5, 1, 0])
    assert r.clip(50, 50).margin_shares.tolist() == [0.5, 1.0]
    assert r[[2, 0]].margin_shares.tolist() == [0.0, 0.5]
    assert Regions.concat([r[1], r[0]]).margin_shares.tolist() == [1.0, 0.5]
    for moved in (r.expand(0.2), r.scale(2.0), r.with_track_ids(np.arange(3))):
        assert moved.margin_shares.tolist() == [0.5, 1.0, 0.0]


def test_iou_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou_matrix(a, b)[0], [1.0, 50 / 150, 0.0])


def test_nms_keeps_best_and_distinct():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
    keep = nms(boxes, np.array([0.5, 0.9, 0.3]), 0.5)
    assert keep.tolist() == [1, 2]


def test_nms_is_per_class():
    r = Regions([[0, 0, 10, 10], [0, 0, 10, 10]], scores=[0.9, 0.8], labels=[FACE, PLATE])
    assert len(nms_regions(r, 0.5)) == 2


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: DetectSettings(face_threshold=1.5), "face threshold"),
        (lambda: DetectSettings(targets=("face", "cat")), "'cat'"),
        (lambda: DetectSettings(targets=()), "targets"),
        (lambda: DetectSettings(device="tpu"), "'tpu'"),
        (lambda: DetectSettings(plate_size=650), "650"),
        (lambda: DetectSettings(video_plate_ensemble="some"), "video_plate_ensemble"),
        (lambda: DetectSettings(plate_ensemble="best"), "'best'"),
        (lambda: DetectSettings(video_face_threshold=2), "video face threshold"),
        (lambda: DetectSettings(plate_input="hsv"), "plate_input.*'hsv'"),
        (lambda: DetectSettings(video_face_models="fp16"), "video_face_models.*'fp16'"),
        (lambda: DetectSettings(video_face_precision="fp16"), "video_face_precision.*'fp16'"),
        (lambda: TrackSettings(continue_score=-1), "continue_score"),
        (lambda: MaskSettings(method="smudge"), "'smudge'"),
        (lambda: MaskSettings(color="#12345"), "'#12345'"),
        (lambda: MaskSettings(face_shape="star"), "'star'"),
        (lambda: MaskSettings(face_margin=-0.1), "-0.1"),
        (lambda: TrackSettings(detect_every=0), "detect_every"),
        (lambda: EncodeSettings(crf=99), "99"),
        (lambda: EncodeSettings(codec="x; rm -rf"), "codec"),
        (lambda: Limits(max_pixels=0), "max_pixels"),
    ],
)
def test_settings_reject_bad_values_naming_them(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()


def test_settings_are_frozen_and_evolve():
    s = Settings()
    with pytest.raises(AttributeError):
        s.mask = MaskSettings()  # type: ignore[misc]
    s2 = s.evolve(mask=MaskSettings(method="pixelate"))
    assert s2.mask.method == "pixelate"
    assert s.mask.method == "blur"  # the original is untouched
    assert s2.detect is s.detect


def test_parsers():
    assert parse_color("#ff8000") == (255, 128, 0)
    assert parse_color("000000") == (0, 0, 0)
    assert parse_per_class("face=0.3,plate=0.25", "t") == {"face": 0.3, "plate": 0.25}
    assert parse_per_class("0.4", "t") == {"face": 0.4, "plate": 0.4, "text": 0.4}
    with pytest.raises(ConfigError, match="'abc'"):
        parse_per_class("face=abc", "--threshold")
    with pytest.raises(ConfigError, match="'dog'"):
        parse_per_class("dog=0.1", "--threshold")
    # a bare value for every class, then one class apart: fine; one class twice: a slip
    assert parse_per_class("0.3,face=0.5", "t") == {"face": 0.5, "plate": 0.3, "text": 0.3}
    with pytest.raises(ConfigError, match="face is given twice"):
        parse_per_class("face=0.3,face=0.5", "--threshold")


def test_face_margin_default_is_at_least_a_quarter():
    assert MaskSettings().face_margin >= 0.25


def test_video_profile_drops_tiles_and_uses_video_sizes():
    d = DetectSettings(face_max_side=1920, video_face_max_side=1280, video_plate_size=960)
    v = d.for_video()
    assert (v.face_tile, v.plate_tile) == (False, False)
    assert v.face_max_side == 1280 and v.plate_size == 960
    assert d.face_tile and d.plate_size == 640  # the image profile is untouched
    tiled = DetectSettings(video_tile=True).for_video()
    assert tiled.face_tile and tiled.plate_tile
    assert not DetectSettings(face_tile=False, video_tile=True).for_video().face_tile
    with pytest.raises(ConfigError, match="video_plate_size"):
        DetectSettings(video_plate_size=1000)
    # close-ups: the video profile's coarse pass is half its full pass
    assert DetectSettings(video_face_max_side=640).for_video().face_coarse_side == 320
    assert DetectSettings().face_coarse_side == 640
    # plate models take turns on video frames by default, never on images
    assert d.plate_ensemble == "all" and v.plate_ensemble == "alternate"
    assert DetectSettings(video_plate_ensemble="all").for_video().plate_ensemble == "all"


def test_pre_frames_cannot_exceed_lookahead():
    with pytest.raises(ConfigError, match="pre_frames"):
        TrackSettings(lookahead=2, pre_frames=3)
