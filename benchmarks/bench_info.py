"""What a benchmark's header names: the checkout's commit (figures in the docs cite it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commit() -> str:
    """The checkout's short commit, or "?" outside a git checkout."""
    try:
        res = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        )
    except OSError:  # no git
        return "?"
    return res.stdout.strip() or "?"
