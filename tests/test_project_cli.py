"""`veil detect --project`, `veil mask --project` and `--report` through the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from conftest import tree_hashes
from media_factory import make_clip
from veil import cli, pipeline
from veil.media import video as video_io
from veil.project import Project, sha256_file
from veil.regions import FACE, PLATE, Regions


class MovingFace:
    """A box that follows the clip's green bar, far from small numbers (frames, seconds)."""

    label = FACE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        green = (rgb[..., 1] > 150) & (rgb[..., 0] < 80)
        xs = np.flatnonzero(green.any(axis=0))
        x = float(xs[0]) if len(xs) else 0.0
        box = [[203.37 + 0.5 * x, 141.37, 251.63 + 0.5 * x, 187.63]]
        return Regions(box, scores=[0.8731], labels=[FACE])


class StillPlate:
    label = PLATE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        return Regions([[311.29, 161.17, 377.83, 196.41]], scores=[0.7719], labels=[PLATE])


@pytest.fixture
def models(monkeypatch):
    """Fake detectors for every Engine the CLI builds; counts how many were built."""
    built = []

    def build(settings):
        built.append(1)
        return [MovingFace(), StillPlate()]

    monkeypatch.setattr(pipeline, "build_detectors", build)
    return built


@pytest.fixture
def inputs(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    make_clip(root / "clip.mp4", width=480, height=240, frames=24)
    rgb = np.random.default_rng(3).integers(0, 256, (240, 480, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(root / "photo.png")
    return root


def run(capsys, *args) -> tuple[int, str]:
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def encoded(monkeypatch):
    """Per video written, the frames handed to the encoder (x264 with several threads is
    not byte-reproducible run to run, so equality is checked before encoding)."""
    runs: dict[object, list[np.ndarray]] = {}
    original = video_io._Transcoder._to_frame

    def record(self, img, pts):
        # keyed by the transcoder itself, not id(): a freed one's id can be reused
        runs.setdefault(self, []).append(img.copy())
        return original(self, img, pts)

    monkeypatch.setattr(video_io._Transcoder, "_to_frame", record)
    return runs


def test_detect_project_then_mask_project_equals_a_direct_run(
    tmp_path, inputs, models, capsys, encoded
):
    before = tree_hashes(inputs)
    p = tmp_path / "p.json"
    code, text = run(capsys, "detect", inputs, "--project", p, "-q")
    assert code == 0, text
    project = Project.load(p)
    assert sorted(e.file for e in project.files) == ["clip.mp4", "photo.png"]
    assert project.entry("clip.mp4").sha256 == sha256_file(inputs / "clip.mp4")

    n_models = len(models)
    code, text = run(capsys, "mask", inputs, "-o", tmp_path / "reviewed", "--project", p,
                     "--method", "texture", "-q")  # fmt: skip
    assert code == 0, text
    assert len(models) == n_models, "rendering a project must not load a detector"
    code, text = run(capsys, "mask", inputs, "-o", tmp_path / "direct", "--method", "texture", "-q")
    assert code == 0, text
    assert sha256_file(tmp_path / "reviewed/photo.png") == sha256_file(
        tmp_path / "direct/photo.png"
    )
    reviewed, direct = encoded.values()
    assert len(reviewed) == len(direct) == 24
    for a, b in zip(reviewed, direct, strict=True):
        np.testing.assert_array_equal(a, b)
    assert tree_hashes(inputs) == before


def test_mask_project_refuses_another_input(tmp_path, inputs, models, capsys):
    p = tmp_path / "p.json"
    assert run(capsys, "detect", inputs / "clip.mp4", "--project", p, "-q")[0] == 0
    other = make_clip(tmp_path / "clip.mp4", width=480, height=240, frames=23)
    code, text = run(capsys, "mask", other, "-o", tmp_path / "out.mp4", "--project", p)
    assert code == 1
    assert "sha256 differs" in text and not (tmp_path / "out.mp4").exists()


def test_malformed_project_is_a_usage_error_naming_the_field(tmp_path, inputs, models, capsys):
    p = tmp_path / "p.json"
    assert run(capsys, "detect", inputs / "photo.png", "--project", p, "-q")[0] == 0
    doc = json.loads(p.read_text())
    doc["files"][0]["tracks"][0]["keyframes"][0]["box"] = [1, 2]
    p.write_text(json.dumps(doc))
    code, text = run(capsys, "mask", inputs / "photo.png", "-o", tmp_path / "o.png", "--project", p)
    assert code == 2
    assert "files[0].tracks[0].keyframes[0].box" in text
    assert not (tmp_path / "o.png").exists()


def _numbers(text: str) -> set[str]:
    text = re.sub(r"\b[0-9a-f]{64}\b", "", text)  # hashes are not coordinates
    return set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text))  # not the 264 of libx264


def _forms(value: float, is_score: bool) -> set[str]:
    forms = {f"{value:.{k}f}" for k in (1, 2, 3, 4)} | {repr(value)}
    if is_score:
        forms |= {f"{value * 100:.1f}", f"{value * 100:.2f}", f"{value:.2f}"}
    else:
        forms |= {str(int(np.floor(value))), str(int(np.ceil(value))), str(round(value))}
    return {f for f in forms if len(f.replace(".", "").lstrip("0")) >= 2}


@pytest.mark.parametrize("ext", [".md", ".json"])
def test_report_explains_without_coordinates_or_scores(tmp_path, inputs, models, capsys, ext):
    p = tmp_path / "p.json"
    assert run(capsys, "detect", inputs, "--project", p, "-q")[0] == 0
    project = Project.load(p)
    face = next(t.id for t in project.entry("clip.mp4").tracks.values() if t.label == "face")
    project.disable("clip.mp4", face, "consent (signed release)")
    logo = project.add_track("clip.mp4", "logo", [(3, (401.13, 112.57, 457.91, 161.33)), (9, None)])
    project.save(p)
    report = tmp_path / f"r{ext}"
    code, text = run(capsys, "mask", inputs, "-o", tmp_path / "out", "--project", p,
                     "--report", report, "-q")  # fmt: skip
    assert code == 0, text
    body = report.read_text()
    assert "consent (signed release)" in body and "logo" in body
    assert sha256_file(tmp_path / "out" / "clip.mp4") in body
    assert sha256_file(inputs / "clip.mp4") in body

    leaked = set()
    numbers = _numbers(body)
    for e in Project.load(p).files:
        for t in e.tracks.values():
            if t.score is not None:
                leaked |= _forms(t.score, True) & numbers
            for k in t.keyframes:
                for v in k.box or ():
                    leaked |= _forms(v, False) & numbers
    assert not leaked, f"coordinates or scores in the report: {sorted(leaked)}"
    assert '"score"' not in body and "box" not in body and "x1" not in body

    if ext == ".json":
        doc = json.loads(body)
        clip = next(f for f in doc["files"] if f["file"] == "clip.mp4")
        assert clip["manual_regions"] == [
            {"track": logo, "label": "logo",
             "ranges": [{"first_frame": 3, "last_frame": 8, "start_s": 0.12, "end_s": 0.32}]}
        ]  # fmt: skip
        assert clip["disabled_tracks"][0]["reason"] == "consent (signed release)"
        assert clip["classes"]["plate"]["tracks"] == 1
        assert clip["classes"]["logo"] == {"tracks": 1, "masked_frames": 6}
        assert "face" not in clip["classes"]  # its only track was disabled


def test_direct_mask_with_report(tmp_path, inputs, models, capsys):
    report = tmp_path / "r.json"
    code, text = run(capsys, "mask", inputs, "-o", tmp_path / "out", "--report", report, "-q")
    assert code == 0, text
    doc = json.loads(report.read_text())
    assert doc["project"] is None
    photo = next(f for f in doc["files"] if f["file"] == "photo.png")
    assert photo["classes"] == {
        "face": {"tracks": 1, "masked_frames": 1},
        "plate": {"tracks": 1, "masked_frames": 1},
    }


def test_report_needs_a_known_extension(tmp_path, inputs, models, capsys):
    code, text = run(capsys, "mask", inputs, "-o", tmp_path / "o", "--report", tmp_path / "r.txt")
    assert code == 2 and ".md or .json" in text
