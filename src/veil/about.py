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


def bundled_models() -> list[tuple[str, str]]:
    """(file name, sha256) of every bundled ONNX model, sorted by name."""
    return [(p.name, _sha256(p)) for p in sorted(MODELS_DIR.glob("*.onnx"))]


def version_text() -> str:
    """``veil X.Y.Z`` then one line per bundled model: name and sha256."""
    lines = [f"veil {__version__}", "bundled models (sha256):"]
    lines += [f"  {name}  {digest}" for name, digest in bundled_models()]
    return "\n".join(lines)
