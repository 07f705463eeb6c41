"""benchmarks/review_ranking.py: its AUC and track statistics, and its exit without data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
rr = pytest.importorskip("review_ranking")


def test_auc_counts_how_often_a_positive_outranks_a_negative_ties_half():
    y = np.array([1, 1, 0, 0, 0])
    assert rr.auc(y, np.array([0.9, 0.5, 0.5, 0.2, 0.1])) == pytest.approx(5.5 / 6)
    assert rr.auc(y, np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == 0.0
    assert rr.auc(y, np.full(5, 0.3)) == 0.5
    assert np.isnan(rr.auc(np.ones(3), np.arange(3.0)))


def test_a_sustained_stretch_is_what_the_track_held_for_k_runs():
    # one lucky run (0.9) does not make a stretch; two runs of 0.6 and 0.7 do
    p = np.array([0.1, 0.9, 0.1, 0.6, 0.7, 0.2])
    assert rr.best_run(p, 2, "min") == pytest.approx(0.6)
    assert rr.best_run(p, 3, "mean") == pytest.approx(1.6 / 3)  # 0.9, 0.1, 0.6
    assert rr.best_run(np.array([0.4, 0.8]), 3, "min") == pytest.approx(0.4)  # shorter: all
    assert rr.STATS["highest (today)"](p) == pytest.approx(0.9)
    assert rr.STATS["highest if >= 0.5, else median"](np.array([0.1, 0.2, 0.4])) == 0.2


def test_no_clips_is_exit_3_with_a_message():
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "review_ranking.py"), "clips",
         "--clips", "no_such_clip"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert res.returncode == 3, res.stdout + res.stderr
    assert "nothing measured" in res.stderr and "Traceback" not in res.stderr
