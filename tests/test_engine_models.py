"""Which models an Engine loads when, and that a model that cannot load still fails closed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import veil.detect as detect
import veil.detect.onnx as vo
from media_factory import make_clip
from veil.cli import main
from veil.errors import ModelError
from veil.pipeline import Engine
from veil.settings import DetectSettings, EncodeSettings, Settings

PHOTO_PLATES = {detect.SAFELICENSING_MODEL.name, detect.FASTANPR_MODEL.name}
FAST = Settings(encode=EncodeSettings(preset="ultrafast"))


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model files whose sessions are created from here on (a fresh session cache)."""
    names: list[str] = []
    real = vo._create

    def create(path: Path, device: str, threads: int):
        names.append(path.name)
        return real(path, device, threads)

    monkeypatch.setattr(vo, "_cache", {})
    monkeypatch.setattr(vo, "_create", create)
    return names


@pytest.fixture
def broken_photo_plates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled float plate model (photos only) corrupt; its int8 copy (video) intact."""
    models = tmp_path / "models"
    models.mkdir()
    for bundled in (detect.SAFELICENSING_MODEL, detect.FASTANPR_MODEL):
        int8 = detect.int8_copy(bundled)
        (models / int8.name).symlink_to(int8)
        (models / bundled.name).symlink_to(bundled)
    broken = models / detect.SAFELICENSING_MODEL.name
    broken.unlink()
    broken.write_bytes(b"not an onnx model")
    monkeypatch.setattr(detect, "SAFELICENSING_MODEL", broken)
    monkeypatch.setattr(detect, "FASTANPR_MODEL", models / detect.FASTANPR_MODEL.name)
    monkeypatch.setattr(vo, "_cache", {})
    return broken


def test_a_video_run_loads_no_photo_model(tmp_path: Path, loaded: list[str]) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=8)
    engine = Engine(FAST, photos=False)
    assert set(loaded) == {"centerface.int8.onnx"} | {
        detect.int8_copy(detect.SAFELICENSING_MODEL).name,
        detect.int8_copy(detect.FASTANPR_MODEL).name,
    }
    engine.mask_file(src, tmp_path / "out.mp4")
    assert (tmp_path / "out.mp4").is_file()
    assert not PHOTO_PLATES & set(loaded)
    # a photo after all: its detectors are built then
    engine.detect(np.zeros((64, 64, 3), np.uint8))
    assert set(loaded) >= PHOTO_PLATES


def test_the_default_engine_loads_the_photo_models_at_once(loaded: list[str]) -> None:
    Engine(Settings(detect=DetectSettings(targets=("plate",))))
    assert set(loaded) >= PHOTO_PLATES


def test_a_broken_photo_model_fails_before_the_photo_is_written(
    tmp_path: Path, broken_photo_plates: Path
) -> None:
    photo = tmp_path / "in.png"
    Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(photo)
    out = tmp_path / "out"
    out.mkdir()
    engine = Engine(FAST, photos=False)  # the video models are fine
    with pytest.raises(ModelError, match=broken_photo_plates.name):
        engine.mask_file(photo, out / "in.png")
    assert list(out.iterdir()) == []  # no output, no temporary
    with pytest.raises(ModelError, match=broken_photo_plates.name):
        Engine(FAST)  # photos expected: refused at start, as before


def test_the_cli_refuses_a_photo_run_with_a_broken_photo_model_at_start(
    tmp_path: Path, broken_photo_plates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(src / "a.png")
    make_clip(src / "b.mp4", frames=4)
    out = tmp_path / "out"
    assert main(["mask", str(src), "-o", str(out), "-q", "--preset", "ultrafast"]) != 0
    assert "cannot load ONNX model" in capsys.readouterr().err
    assert not out.exists()  # refused before any file was opened


def test_a_video_only_run_needs_no_photo_model(
    tmp_path: Path, broken_photo_plates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=4)
    dst = tmp_path / "out.mp4"
    assert main(["mask", str(src), "-o", str(dst), "-q", "--preset", "ultrafast"]) == 0
    assert dst.is_file()


def test_a_broken_video_model_fails_a_video_run_at_start(tmp_path: Path) -> None:
    broken = tmp_path / "face.onnx"
    broken.write_bytes(b"not an onnx model")
    settings = Settings(detect=DetectSettings(face_model=broken))
    with pytest.raises(ModelError, match="face.onnx"):
        Engine(settings, photos=False)
