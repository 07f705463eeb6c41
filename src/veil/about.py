"""What ``veil --version`` reports: the version and the bundled models with their sha256.

The hashes are computed from the files themselves, so they name exactly the networks
this installation runs (MODELS.md lists the expected ones, with origin and licence).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import __version__

MODELS_DIR = Path(__file__).resolve().parent / "models"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


#: What a bundled model is: the ONNX networks and the learned decisions' weights (plain
#: arrays in JSON), which decide what is masked as much as the networks do.
MODEL_GLOBS = ("*.onnx", "*.json")


def bundled_models() -> list[tuple[str, str]]:
    """(file name, sha256) of every bundled model, sorted by name."""
    files = {p for g in MODEL_GLOBS for p in MODELS_DIR.glob(g)}
    return [(p.name, _sha256(p)) for p in sorted(files, key=lambda p: p.name)]


def version_text() -> str:
    """``veil X.Y.Z`` then one line per bundled model: name and sha256."""
    lines = [f"veil {__version__}", "bundled models (sha256):"]
    lines += [f"  {name}  {digest}" for name, digest in bundled_models()]
    return "\n".join(lines)
