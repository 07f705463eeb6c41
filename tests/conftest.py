"""Shared fixtures: the real-data folder (optional) and input hashing."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/media_factory.py


def need_program(path: str, install: str) -> str:
    """``path`` (a program outside Python) when it is there; when it is not, skip with
    one line naming ``install``, the command that brings it, except under CI
    (``CI=true``), where every test must run and a missing program fails."""
    found = shutil.which(path)
    if found:
        return found
    message = f"{path} is missing; install it with: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message} (.ci/run installs it)", pytrace=False)
    pytest.skip(message)


def need_font(path: str, size: int):
    """A PIL font from a Debian font file; skipped without it as :func:`need_program`
    skips (failing under CI, whose .ci/run installs fonts-dejavu-core)."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(path, size)
    except OSError:
        message = f"{path} is missing; install it with: apt-get install fonts-dejavu-core"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {message} (.ci/run installs it)", pytrace=False)
        pytest.skip(message)


def shared_data_dir() -> Path | None:
    env = os.environ.get("VEIL_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent")
    return path


def tree_hashes(*paths: Path) -> dict[str, str]:
    """sha256 of every file under ``paths``: inputs must hash the same after a run."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture
def astronaut():
    """A real frontal face (NASA portrait shipped by scikit-image), 512x512 RGB."""
    from skimage import data

    return data.astronaut()
