"""Identification and reading metrics: rank-k against chance, character accuracy.

Ranks are computed against the whole gallery (every original face of the set),
so chance is ``1 / gallery size``. A probe ranks ``1 + the number of gallery
entries strictly closer than its own original``: identical probes (a solid
fill) then hit rank 1 for exactly one identity, i.e. at chance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Hits chance must give a subset's short-list line before it decides a verdict: at 5,
#: a mask at chance crosses "2x" (11 hits) about 1% of the time per attack family; at
#: 1.4 (29 small faces in lists of 20) it crosses it (3 hits) 17% of the time.
MIN_EXPECTED_HITS = 5.0

__all__ = [
    "MIN_EXPECTED_HITS",
    "plate_read_whole",
    "at_most",
    "binomial_tail",
    "binomial_upper",
    "certify_twice_chance",
    "char_accuracy",
    "hub_corrected_ranks",
    "identification_ranks",
    "levenshtein",
    "normalise_plate",
    "photo_ranks",
    "rank_rate",
    "split_ranks",
]


def identification_ranks(gallery: np.ndarray, probes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of each probe's true identity among the gallery, by Euclidean distance.

    ``gallery`` (G, D), ``probes`` (P, D), ``truth`` (P,) gallery indices.
    """
    d, truth = _distances(gallery, probes, truth)
    if not len(truth):
        return np.zeros(0, np.int64)
    own = d[np.arange(len(truth)), truth]
    return 1 + (d < own[:, None]).sum(axis=1)


def _distances(
    gallery: np.ndarray, probes: np.ndarray, truth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances (P, G) of probes to gallery entries, and ``truth`` as int64."""
    truth = np.asarray(truth, np.int64).reshape(-1)
    if len(probes) != len(truth):
        raise ValueError(f"{len(probes)} probes but {len(truth)} truth indices")
    if not len(truth):
        return np.zeros((0, len(gallery))), truth
    gallery = np.asarray(gallery, np.float64).reshape(len(gallery), -1)
    probes = np.asarray(probes, np.float64).reshape(len(probes), -1)
    d = np.sqrt(((probes[:, None, :] - gallery[None, :, :]) ** 2).sum(-1))
    return d.reshape(len(probes), len(gallery)), truth


def hub_corrected_ranks(gallery: np.ndarray, probes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Ranks after removing each gallery face's pull on the probes (hubness).

    Masked probes look alike, so one gallery face (say, a small blurry original) is
    nearest to most of them and scores a "hit" with its own probe whatever the mask
    kept; a solid fill gets one that way. Subtracting from each distance the gallery
    face's mean distance to all probes (as in CSLS) levels such hubs, and an attacker
    holding the masked set can do the same. Ties count half (mid-rank), so probes that
    are all alike rank at chance instead of first.
    """
    d, truth = _distances(gallery, probes, truth)
    if not len(truth):
        return np.zeros(0, np.float64)
    d = d - d.mean(axis=0, keepdims=True)
    own = d[np.arange(len(truth)), truth]
    closer = (d < own[:, None] - 1e-9).sum(axis=1)
    tied = (np.abs(d - own[:, None]) <= 1e-9).sum(axis=1) - 1
    return 1 + closer + 0.5 * tied


def photo_ranks(
    gallery: np.ndarray, probes: np.ndarray, truth: np.ndarray, groups: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a rank-1 hit into "found the photo" and "found the person in it".

    The gallery holds the probe's own photo (or clip), so whatever a face mask leaves
    of that photo (its colour cast, its light, the surroundings) points to the faces
    of that photo, and from there luck among a few faces makes rank-1 hits that a
    gallery of *other* photos of the person would not give. ``groups[g]`` names the
    photo of gallery entry ``g``. Returns, per probe: whether its nearest gallery face
    is from its own photo; its rank among its own photo's faces only (identity given
    the photo); and that photo's number of faces.
    """
    d, truth = _distances(gallery, probes, truth)
    labels = np.asarray([str(g) for g in groups])
    if not len(truth):
        empty = np.zeros(0, np.int64)
        return np.zeros(0, bool), empty, empty
    same = labels[None, :] == labels[truth][:, None]
    rows = np.arange(len(truth))
    own = d[rows, truth]
    within = 1 + ((d < own[:, None]) & same).sum(axis=1)
    return same[rows, d.argmin(axis=1)], within, same.sum(axis=1)


def split_ranks(
    gallery: np.ndarray, probes: np.ndarray, truth: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks within ``k`` interleaved galleries (entry ``i`` belongs to gallery ``i % k``).

    An attacker often has a short list of candidates (the staff of one site), and with
    ``k`` galleries of ``n / k`` the rank-1 count against chance ``k / n`` has ``k``
    expected hits instead of one, so "at most 2x chance" becomes a test with power
    rather than a coin toss. Returns each probe's rank and its gallery's size.
    """
    gallery = np.asarray(gallery, np.float64).reshape(len(gallery), -1)
    truth = np.asarray(truth, np.int64).reshape(-1)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ranks = np.zeros(len(truth), np.int64)
    sizes = np.zeros(len(truth), np.int64)
    probes = np.asarray(probes, np.float64).reshape(len(truth), -1)
    for g in range(k):
        members = np.arange(g, len(gallery), k)
        mine = np.flatnonzero(truth % k == g)
        if not len(mine):
            continue
        local = truth[mine] // k  # position of the true identity within its gallery
        ranks[mine] = identification_ranks(gallery[members], probes[mine], local)
        sizes[mine] = len(members)
    return ranks, sizes


def rank_rate(ranks: np.ndarray, k: int) -> float:
    """Share of probes whose true identity is within the first ``k``; NaN for no probes."""
    ranks = np.asarray(ranks)
    return float(np.mean(ranks <= k)) if len(ranks) else float("nan")


def binomial_upper(hits: int, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound of a rate (Clopper-Pearson), by bisection.

    With a few hundred probes and chance well under 1%, one hit more or less
    moves rank-1 by a multiple of chance: the bound says how far it can go.
    """
    if n <= 0:
        return float("nan")
    if hits >= n:
        return 1.0
    alpha = 1.0 - confidence

    def cdf(p: float) -> float:  # P(X <= hits) for X ~ Bin(n, p)
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(hits + 1))

    lo, hi = hits / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def at_most(rate: float, line: float) -> bool:
    """``rate <= line``, where a count exactly on the line (2 hits of n at chance 1/n)
    passes whatever the rounding of the two sides."""
    return rate <= line * (1 + 1e-9)


def certify_twice_chance(hits: int, n: int, chance: float) -> tuple[float, bool]:
    """The 95% upper bound of ``hits / n``, and whether it shows the rate is at most 2x
    ``chance`` (the issue's line). Only a count with several expected hits can: with one,
    even 0 hits leave the bound above the line."""
    upper = binomial_upper(hits, n)
    return upper, upper <= 2 * chance


def binomial_tail(hits: int, n: int, p: float) -> float:
    """P(X >= hits) for X ~ Bin(n, p): how often a mask that carries nothing (every probe
    ranked at random, rank-1 rate ``p``) scores at least ``hits`` rank-1 hits of ``n``.

    With about one hit expected, a line at "2x chance" is crossed by 2 or 3 hits; this
    says whether such a count is evidence of a leak or the luck of the draw.
    """
    if hits <= 0:
        return 1.0
    if n <= 0 or hits > n:
        return 0.0
    return max(0.0, 1.0 - sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(hits)))


_PLATE_CHARS = re.compile(r"[^0-9A-Z]")


def normalise_plate(text: str) -> str:
    """Upper-case letters and digits only: separators and dots are not part of a plate."""
    return _PLATE_CHARS.sub("", text.upper())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(truth: str, read: str) -> float:
    """1 - edit distance / length of the truth, floored at 0 (both normalised)."""
    t, r = normalise_plate(truth), normalise_plate(read)
    if not t:
        return float("nan")
    return max(0.0, 1.0 - levenshtein(t, r) / len(t))


def plate_read_whole(ref: str, read: str) -> bool:
    """Whole plate read: the reference appears, in order and complete, in the reading."""
    return bool(ref) and ref in normalise_plate(read.replace(" ", ""))
