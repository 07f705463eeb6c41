"""The library API: the same capabilities as the CLI, without it."""

import numpy as np
import pytest
from PIL import Image

import veil
from veil.regions import iou_matrix


def test_detect_and_mask_image(astronaut):
    regions = veil.detect_regions(astronaut, veil.Settings())
    faces = regions.of_class(veil.FACE)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces.xyxy[0]
    assert 150 < (x1 + x2) / 2 < 280 and 60 < (y1 + y2) / 2 < 180
    before = astronaut.copy()
    masked = veil.mask_image(astronaut, veil.Settings(mask=veil.MaskSettings(method="fill")))
    np.testing.assert_array_equal(astronaut, before)  # input untouched
    cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
    assert (masked[cy - 5 : cy + 5, cx - 5 : cx + 5] == 0).all()


def _assert_face_masked(path, original):
    """The face centre is filled black; the top-left corner (no face) is as it was."""
    out = np.asarray(Image.open(path).convert("RGB"))
    assert out.shape == original.shape
    assert (out[110:130, 215:235] == 0).all(), f"{path.name}: face not masked"
    np.testing.assert_array_equal(out[:40, :40], original[:40, :40])


def test_mask_file_and_engine_reuse(tmp_path, astronaut):
    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    fill = veil.MaskSettings(method="fill")
    result = veil.mask_file(src, tmp_path / "b.png", veil.Settings(mask=fill))
    assert result.counts.get("face") == 1 and result.frames == 1
    faces = veil.DetectSettings(targets=("face",))
    engine = veil.Engine(veil.Settings(detect=faces, mask=fill))
    for name in ("c.png", "d.png"):
        engine.mask_file(src, tmp_path / name)
    assert {p.name for p in tmp_path.iterdir()} == {"a.png", "b.png", "c.png", "d.png"}
    for name in ("b.png", "c.png", "d.png"):
        _assert_face_masked(tmp_path / name, astronaut)


def test_mask_file_default_blur_hides_the_face(tmp_path, astronaut):
    """At the defaults (blur) the face's detail is gone and the face is not found again."""
    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    veil.mask_file(src, tmp_path / "b.png")
    out = np.asarray(Image.open(tmp_path / "b.png").convert("RGB"))

    def detail(a: np.ndarray) -> float:  # mean step between neighbouring pixels
        a = a[100:150, 200:250].astype(float)
        return float(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())

    assert detail(out) < 0.2 * detail(astronaut)  # about 1.5 against 21
    face = veil.detect_regions(astronaut).of_class(veil.FACE)
    assert face.scores.max() > 0.8
    # the recall-first threshold still sees a head-shaped blob there (about 0.25),
    # but nothing the detector would call a face with confidence
    again = veil.detect_regions(out).of_class(veil.FACE)
    near = iou_matrix(again.xyxy, face.xyxy).max(axis=1) > 0.3 if len(again) else []
    assert not len(again) or again.scores[near].max(initial=0.0) < 0.4


class _FaceOnly:
    """A plug-in detector that finds nothing, for the face class only."""

    label = veil.FACE

    def detect(self, rgb, threshold):
        return veil.Regions.empty()


@pytest.mark.parametrize("targets", [("plate",), ("face", "plate")])
def test_engine_refuses_a_target_left_without_a_detector(targets):
    """A face-only plug-in with plates requested used to run with no plate detector
    and report every file as masked."""
    settings = veil.Settings(detect=veil.DetectSettings(targets=targets))
    with pytest.raises(veil.ConfigError, match="plate") as exc:
        veil.Engine(settings, detectors=[_FaceOnly()])
    assert "face" not in str(exc.value)


def test_engine_keeps_injected_detectors_of_its_targets_only():
    settings = veil.Settings(detect=veil.DetectSettings(targets=("face",)))
    engine = veil.Engine(settings, detectors=[_FaceOnly()])
    assert [d.label for d in engine.detectors] == [veil.FACE]
    assert engine.video_detectors == engine.detectors


def test_a_script_catching_veil_errors_meets_only_veil_errors():
    """Mistakes a dataset-cleaning script makes are VeilErrors naming what came instead,
    never a ValueError, AttributeError or MemoryError from deep inside (API audit)."""
    rgb = np.zeros((32, 48, 3), np.uint8)
    bad_frames = {
        "shape (32, 48)": rgb[..., 0],
        "shape (32, 48, 4)": np.dstack([rgb, rgb[..., :1]]),
        "uint16": rgb.astype(np.uint16),
        "got Image": Image.fromarray(rgb),
        "shape (0, 0, 3)": np.zeros((0, 0, 3), np.uint8),
    }
    for says, frame in bad_frames.items():
        with pytest.raises(veil.InputError, match=says.replace("(", r"\(").replace(")", r"\)")):
            veil.mask_image(frame)
    for settings in ({}, veil.MaskSettings(method="fill")):
        with pytest.raises(veil.ConfigError, match="must be a veil.Settings"):
            veil.mask_image(rgb, settings)
    with pytest.raises(veil.ConfigError, match="mask must be a veil.MaskSettings"):
        veil.Settings(mask="fill")
    with pytest.raises(veil.ConfigError, match="encode must be"):
        veil.Settings().evolve(encode=None)


def test_settings_read_what_a_script_passes():
    d = veil.DetectSettings(targets="face", text_regions="PL,DE")  # not letter by letter
    assert d.targets == ("face",) and d.text_regions == ("PL", "DE")
    assert veil.DetectSettings(face_threshold=np.float32(0.3)).face_threshold == pytest.approx(0.3)
    assert veil.DetectSettings(threads=np.int64(2)).threads == 2
    m = veil.MaskSettings(color=[0, 0, 0])
    assert m.color == (0, 0, 0) and hash(veil.Settings(mask=m))  # frozen means hashable
    refused = [
        (veil.EncodeSettings, {"jpeg_quality": True}, "jpeg quality"),
        (veil.Limits, {"max_pixels": True}, "max_pixels"),
        (veil.Limits, {"max_duration_s": float("nan")}, "max_duration_s"),
        (veil.TrackSettings, {"enabled": "false"}, "enabled must be true or false"),
        (veil.DetectSettings, {"face_tile": "no"}, "face_tile"),
        (veil.DetectSettings, {"face_max_side": 1000.5}, "face_max_side"),
        (veil.MaskSettings, {"color": 5}, "color"),
        (veil.MaskSettings, {"color": (True, 0, 0)}, "color"),
    ]
    for kind, kw, says in refused:
        with pytest.raises(veil.ConfigError, match=says):
            kind(**kw)


def test_plug_in_detectors_are_checked_and_huge_boxes_cost_the_frame_only():
    class Named:
        label = "face"

        def detect(self, rgb, threshold):
            return veil.Regions.empty()

    with pytest.raises(veil.ConfigError, match="veil.FACE"):
        veil.Engine(veil.Settings(detect=veil.DetectSettings(targets=("face",))), [Named()])

    class Huge:
        label = veil.FACE

        def detect(self, rgb, threshold):
            return veil.Regions([[-5000, -5000, 1e9, 1e9]], [0.9], [veil.FACE])

    settings = veil.Settings(
        detect=veil.DetectSettings(targets=("face",)),
        mask=veil.MaskSettings(method="fill", face_shape="rect"),
    )
    engine = veil.Engine(settings, [Huge()])
    masked, covered = engine.mask(np.full((40, 60, 3), 200, np.uint8), engine.detect(
        np.full((40, 60, 3), 200, np.uint8)))  # fmt: skip
    assert covered.all() and (masked == 0).all()  # the whole frame, without a 1e9 px array


def test_dir_lists_the_lazy_names():
    assert {"Engine", "mask_image", "mask_file", "Settings", "Regions"} <= set(dir(veil))


def test_a_video_is_written_in_its_inputs_container(tmp_path):
    """The library refuses what the CLI refuses: a .mkv name for an .mp4 would be an MP4
    mislabelled (an image may change format by its name)."""
    from media_factory import make_clip

    clip = make_clip(tmp_path / "c.mp4", frames=3)
    with pytest.raises(veil.OutputError, match=r"input's format \(\.mp4\)"):
        veil.mask_file(clip, tmp_path / "c.mkv")
    assert not (tmp_path / "c.mkv").exists()
