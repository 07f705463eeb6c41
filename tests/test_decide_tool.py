"""tools/decide_train.py: the validation curve drawn for the docs (sklearn stubbed out)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import decide_train as tool  # noqa: E402

from veil.decide.evidence import OBSERVATION  # noqa: E402

MODEL = REPO / "src" / "veil" / "models" / "decide_video_faces.json"


def _extract(path: Path, clips: int = 6) -> Path:
    """An extract as ``decide_train.py extract`` writes it: per clip a face track the
    verifiers call a face and a clutter track they do not, six sightings each."""
    rows: dict[str, list] = {k: [] for k in ("x", "obs", "clip", "tid", "k", "label", "n", "span")}
    for c in range(clips):
        for tid, label, yunet in ((1, tool.FACE, 0.8), (2, tool.CLUTTER, 0.0)):
            for k in range(6):
                o = dict.fromkeys(OBSERVATION, 0.0)
                o.update(seq=4 * k, score=0.3, yunet=yunet, yolo=yunet, w=30, h=36,
                         frame_h=360, fx=100, fy=100, cx=100, cy=100)  # fmt: skip
                rows["obs"].append([o[name] for name in OBSERVATION])
                rows["x"].append(np.zeros(len(tool.FEATURES)))
                for key, v in (("clip", c), ("tid", tid), ("k", k), ("label", label),
                               ("n", 6), ("span", 21)):  # fmt: skip
                    rows[key].append(v)
    np.savez(path, **{k: np.asarray(v) for k, v in rows.items()})
    return path


def test_curve_draws_both_sets_and_marks_the_operating_point(tmp_path, monkeypatch, capsys):
    train = _extract(tmp_path / "train.npz")
    real = _extract(tmp_path / "real.npz", clips=2)

    # out of fold: the face tracks rated 0.9, the clutter 0.01 (no sklearn needed here)
    def rated(d, hidden=0):
        return np.where(d["label"] == tool.FACE, 0.9, 0.01)

    monkeypatch.setattr(tool, "_out_of_fold", rated)
    out = tmp_path / "curve.svg"
    tool.main(["curve", str(train), "--real", str(real), "--model", str(MODEL), "--out", str(out)])
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    printed = capsys.readouterr().out
    # the stub separates perfectly: every face frame masked, no clutter frame
    assert "training clips, out of fold: at the operating point" in printed
    assert "masks 1.000 of the face tracks' frames and 0.0% of the clutter" in printed
    assert "real clips, the shipped model (evaluation)" in printed


def test_masked_counts_the_frames_a_late_decision_leaks():
    # a face track of 41 frames decided at frame 36 with a look-ahead of 24: frames 0-11
    # leak; a clutter track of 21 frames passing at its first sighting is masked whole
    tracks = [
        (tool.FACE, np.array([0.0, 12, 24, 36, 40]), np.array([0.0, 0, 0, 0.9, 0.9])),
        (tool.CLUTTER, np.array([0.0, 20]), np.array([0.6, 0.1])),
    ]
    faces, clutter, taken = tool._masked(tracks, 0.5, 24)
    assert (faces, clutter, taken) == (pytest.approx(1 - 12 / 41), 1.0, 1.0)
    assert tool._masked(tracks, 0.95, 24)[:2] == (0.0, 0.0)
