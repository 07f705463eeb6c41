"""``veil audit``: show that masks cannot be undone, and pick what a person must check.

Imported only by ``veil audit``. The reversibility part needs the ``audit``
extra (dlib and its CC0 face models, rapidocr); the attacks, metrics and the
sampler are numpy only.
"""

from .attacks import Attack, default_attacks
from .metrics import char_accuracy, identification_ranks, rank_rate
from .setups import CONTROLS, Setup, build_setups

__all__ = [
    "CONTROLS",
    "Attack",
    "Setup",
    "build_setups",
    "char_accuracy",
    "default_attacks",
    "identification_ranks",
    "rank_rate",
]
