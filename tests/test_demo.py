"""``veil demo OUT_DIR``: the shipped sample masked end to end, with its redaction report."""

from __future__ import annotations

import re

import av
import numpy as np
from PIL import Image

from conftest import tree_hashes
from veil.cli import SAMPLES, main

FACE = (130, 150, 210, 230)  # x1, y1, x2, y2 inside the large face of street.jpg
SKY = (0, 0, 960, 90)  # nothing to mask there


def _mean_abs(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = box
    return float(np.abs(a[y1:y2, x1:x2].astype(int) - b[y1:y2, x1:x2].astype(int)).mean())


def test_the_sample_is_small_and_documented():
    files = {p.name: p.stat().st_size for p in SAMPLES.iterdir()}
    assert {"street.jpg", "street.mp4", "PROVENANCE.md"} <= set(files)
    assert sum(files.values()) < 1_000_000


def test_demo_masks_the_sample_and_writes_the_report(tmp_path, capsys):
    before = tree_hashes(SAMPLES)
    assert main(["demo", str(tmp_path / "out"), "-q"]) == 0
    assert tree_hashes(SAMPLES) == before  # the shipped sample is never touched
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "redaction-report.md",
        "street.jpg",
        "street.mp4",
    ]
    original = np.asarray(Image.open(SAMPLES / "street.jpg").convert("RGB"))
    masked = np.asarray(Image.open(out / "street.jpg").convert("RGB"))
    assert _mean_abs(original, masked, FACE) > 20  # the face is hidden
    assert _mean_abs(original, masked, SKY) < 3  # the sky is only re-encoded
    with av.open(str(out / "street.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 24
    report = (out / "redaction-report.md").read_text(encoding="utf-8")
    for name in ("street.jpg", "street.mp4"):
        section = report.split(f"## {name}")[1].split("\n## ")[0]
        for label in ("face", "plate"):
            row = re.search(rf"^\| {label} \| (\d+) \| (\d+) \|$", section, re.M)
            assert row and int(row[1]) >= 1, f"{name}: no {label} masked"
    assert "masked 2 of 2 file(s)" in capsys.readouterr().err
