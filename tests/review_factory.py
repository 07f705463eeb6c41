"""Small synthetic projects for the review tests (tracks with known evidence and places)."""

from __future__ import annotations

import hashlib

from veil.project import FileEntry, Keyframe, Project, Track

W, H, N = 200, 100, 10


def track(
    tid: int,
    box: tuple[float, float, float, float],
    score: float | None,
    label: str = "face",
    confidence: float | None = None,
    frames: range = range(N),
    source: str = "auto",
) -> Track:
    kfs = tuple(Keyframe(f, box) for f in frames)
    return Track(tid, label, source, kfs, seed=tid, score=score, confidence=confidence)


def entry(tracks: list[Track], name: str = "clip.mp4") -> FileEntry:
    return FileEntry(
        file=name,
        kind="video",
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        frames=N,
        width=W,
        height=H,
        tracks={t.id: t for t in tracks},
        times=tuple(i / 10 for i in range(N)),
        fps="10",
        time_base="1/10",
    )


def project() -> Project:
    """Four tracks: a sure face, two weak 'lanterns' side by side, a plate; no overlaps.

    Box areas as shares of the 200x100 frame: face 0.08, lanterns 0.01 each, plate 0.02.
    """
    return Project(
        [
            entry(
                [
                    track(1, (10, 10, 50, 50), 0.95),  # 40x40
                    track(2, (100, 0, 110, 20), 0.15),  # 10x20
                    track(3, (120, 0, 130, 20), 0.2),  # 10x20
                    track(4, (150, 60, 190, 70), 0.5, label="plate"),  # 40x10
                ]
            )
        ]
    )
