"""The benchmark scripts tell "nothing measured" from "passed": missing data is exit 3.

A wrapper running them (CI, a nightly job) must not read a skipped run as a
passing one. Only the early exits are run here; the measurements are long.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXIT_NO_DATA = 3


def _run(script: str, *args: object) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), VEIL_SHARED_DATA="/nonexistent")
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("quality.py", ["--data", "{tmp}/none"], "no data at"),
        ("quality.py", ["--data", "{tmp}"], "no annotations.json for faces_wider_val"),
        ("video_leaks.py", ["--data", "{tmp}/none", "--out", "{tmp}/bench"], "not found"),
        ("video_leaks.py", ["--no-build", "--out", "{tmp}/bench"], "no benchmark clips"),
        ("make_video_bench.py", ["--data", "{tmp}/none", "--out", "{tmp}/bench"], "not found"),
        ("speed.py", ["--video", "{tmp}/none.mp4"], "no video at"),
        ("photos.py", ["--data", "{tmp}/none"], "no data at"),
        ("live.py", ["--video", "{tmp}/none.mp4"], "no video at"),
    ],
)
def test_missing_data_is_a_non_zero_exit_with_a_message(tmp_path, script, args, message):
    res = _run(script, *(a.format(tmp=tmp_path) for a in args))
    assert res.returncode == EXIT_NO_DATA, res.stdout + res.stderr
    assert message in res.stderr and "nothing" in res.stderr
    assert "Traceback" not in res.stderr
