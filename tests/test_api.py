"""The library API: the same capabilities as the CLI, without it."""

import numpy as np
import pytest
from PIL import Image

import veil


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


def test_mask_file_and_engine_reuse(tmp_path, astronaut):
    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    result = veil.mask_file(src, tmp_path / "b.png")
    assert result.counts.get("face") == 1 and result.frames == 1
    engine = veil.Engine(veil.Settings(detect=veil.DetectSettings(targets=("face",))))
    for name in ("c.png", "d.png"):
        engine.mask_file(src, tmp_path / name)
    assert {p.name for p in tmp_path.iterdir()} == {"a.png", "b.png", "c.png", "d.png"}


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
