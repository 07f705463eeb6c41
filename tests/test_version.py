"""``veil --version``: the package metadata's version and every bundled model's sha256."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

import veil
from veil.cli import main

MODELS_MD = Path(veil.__file__).parent / "models" / "MODELS.md"


def test_version_names_every_model_with_the_hash_models_md_records(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"veil {metadata.version('veil')}" == f"veil {veil.__version__}"
    listed = dict(line.split() for line in lines[2:])
    on_disk = {p.name for g in ("*.onnx", "*.json") for p in MODELS_MD.parent.glob(g)}
    assert set(listed) == on_disk and "decide_video_faces.json" in on_disk
    recorded = set(re.findall(r"`([0-9a-f]{64})`", MODELS_MD.read_text(encoding="utf-8")))
    for name, digest in listed.items():
        assert digest in recorded, f"{name}: sha256 {digest} is not the one MODELS.md records"
