"""`veil eval` end to end on a tiny annotated set (real face, generated clip)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import veil.pipeline as pipeline
from media_factory import make_clip
from veil.cli import build_parser, main, settings_from_args
from veil.evaluate.runner import evaluate
from veil.regions import FACE, Regions
from veil.settings import DetectSettings, Settings, TrackSettings


def _dataset(tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "astro.png")
    Image.fromarray(np.full((96, 128, 3), 90, np.uint8)).save(tmp_path / "empty.png")
    face = {"label": "face", "x1": 178, "y1": 55, "x2": 268, "y2": 176, "ignore": False}
    ds = {
        "images": [
            {"file": "astro.png", "width": 512, "height": 512, "boxes": [face]},
            {"file": "empty.png", "width": 128, "height": 96, "boxes": []},
        ]
    }
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(ds))
    return path


def test_eval_writes_metrics_report_and_summary(tmp_path, astronaut, capsys):
    ds = _dataset(tmp_path, astronaut)
    out = tmp_path / "report"
    assert main(["eval", str(ds), "--out", str(out), "--targets", "face", "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    face = metrics["face"]
    for key in ("precision", "recall", "f1", "mean_iou", "ap50", "map", "masked_rate",
                "over_mask", "threshold", "by_height"):  # fmt: skip
        assert key in face
    assert face["recall"] == 1.0 and face["precision"] == 1.0
    assert face["masked_rate"] == 1.0
    assert face["ap50"] == 1.0
    assert face["mean_iou"] > 0.5
    assert face["by_height"][">=100"]["n_gt"] == 1
    speed = metrics["speed"]
    assert speed["latency_ms_p50"] > 0 and speed["throughput"] > 0 and speed["device"] == "cpu"
    assert (out / "report.md").exists()
    printed = capsys.readouterr().out
    assert "face" in printed


def test_eval_options_change_what_is_measured(tmp_path, astronaut):
    """Mask and detection options apply in eval as in mask: a larger margin masks more
    pixels outside the face, an impossible threshold finds nothing."""
    ds = _dataset(tmp_path, astronaut)
    out = tmp_path / "r2"
    args = ["eval", str(ds), "--out", str(out), "--targets", "face", "-q"]

    def run(*extra):
        assert main([*args, *extra]) == 0
        return json.loads((out / "metrics.json").read_text())["face"]

    tight, wide = run("--margin", "face=0"), run("--margin", "face=1.0")
    assert tight["recall"] == wide["recall"] == 1.0
    assert wide["over_mask"] > tight["over_mask"]
    strict = run("--threshold", "face=0.99")
    assert strict["recall"] == 0.0 and strict["masked_rate"] == 0.0
    assert strict["ap50"] == 1.0  # AP ranks every detection above the 0.05 floor


def test_eval_bad_dataset_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"file": "missing.png", "boxes": []}]}')
    assert main(["eval", str(bad), "--out", str(tmp_path / "o"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "bad.json" in err or "missing.png" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--quality", "--codec", "--crf", "--preset"])
def test_eval_offers_no_encoding_options(option, capsys):
    """eval writes no media, so encoding options would be silently ignored there."""
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["eval", "ds.json", option, "20"])
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "--help"])
    assert option not in capsys.readouterr().out
    assert parser.parse_args(["mask", "a.mp4", "-o", "b.mp4", option, "20"])  # mask keeps it


def test_eval_keeps_masking_and_tracking_options():
    args = build_parser().parse_args(
        ["eval", "ds.json", "--method", "fill", "--no-track", "--detect-every", "2"]
    )
    settings = settings_from_args(args)
    assert settings.mask.method == "fill"
    assert not settings.track.enabled and settings.track.detect_every == 2


class _FaintFace:
    """A stand-in face detector that is unsure: one box on the truth at score 0.06,
    between the 0.05 AP floor and the 0.08 video face threshold."""

    label = FACE

    def detect(self, rgb, threshold):
        if threshold > 0.06:
            return Regions.empty()
        return Regions([[40, 30, 80, 70]], scores=[0.06], labels=[self.label])


@pytest.mark.parametrize("track", [False, True])
def test_video_ap_ranks_what_the_readme_says(tmp_path, monkeypatch, track):
    """--no-track: the detector's ranking down to 0.05, as for images (it had stopped at the
    operating threshold). Tracking: the tracker's output, which starts no track below it."""
    make_clip(tmp_path / "v.mp4", width=128, height=96, frames=6)
    face = {"label": "face", "x1": 40, "y1": 30, "x2": 80, "y2": 70}
    frames = [{"index": i, "boxes": [{**face, "id": 1}]} for i in range(6)]
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"videos": [{"file": "v.mp4", "frames": frames}]}))
    monkeypatch.setattr(pipeline, "build_detectors", lambda s: [_FaintFace()])
    settings = Settings(
        detect=DetectSettings(targets=("face",)), track=TrackSettings(enabled=track)
    )
    metrics, _ = evaluate(ds, settings)
    m = metrics["face"]
    assert m["recall"] == 0.0 and m["masked_rate"] == 0.0  # nothing at the operating threshold
    assert m["ap50"] == (0.0 if track else 1.0)
