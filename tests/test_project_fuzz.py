"""Byte-level fuzzing of project files: every mutant loads or is refused with ProjectError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.errors import ProjectError
from veil.project import FileEntry, Keyframe, Overrides, Project, Track


def _seed() -> bytes:
    entry = FileEntry(
        "v.mp4", "video", "a" * 64, 30, 320, 240, times=tuple(i / 25 for i in range(30))
    )
    entry.tracks[1] = Track(
        1, "face", "auto", (Keyframe(0, (1.5, 2.25, 30.0, 40.0)), Keyframe(4, None, True)),
        seed=1, score=0.5,
    )  # fmt: skip
    p = Project([entry])
    p.add_track("v.mp4", "logo", [(2, (10, 10, 20, 20)), (9, (40, 10, 50, 20))], Overrides("fill"))
    p.disable("v.mp4", 1, "false positive")
    return p.dumps().encode()


SEED = _seed()
mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(SEED) - 1), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, len(SEED) - 1), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, len(SEED)), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, len(SEED) - 1), st.just(0)),
)


def _mutate(data: bytes, ops) -> bytes:
    for kind, at, arg in ops:
        at = min(at, len(data))
        if kind == "flip":
            data = data[:at] + bytes([arg]) + data[at + 1 :]
        elif kind == "cut":
            data = data[:at] + data[at + arg :]
        elif kind == "insert":
            data = data[:at] + arg + data[at:]
        else:
            data = data[:at]
    return data


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_projects_load_or_are_refused_cleanly(ops):
    data = _mutate(SEED, ops)
    try:
        project = Project.loads(data, "p.json")
    except ProjectError as e:
        assert str(e).startswith("p.json: ") and "\n" not in str(e)
        return
    again = Project.loads(project.dumps())  # whatever loads, saves and loads the same
    assert again.dumps() == project.dumps()


def test_the_seed_itself_loads():
    assert Project.loads(SEED).entry("v.mp4").tracks[1].reason == "false positive"


@pytest.mark.parametrize("cut", range(0, len(SEED), max(1, len(SEED) // 60)))
def test_every_truncation_is_refused(cut):
    with pytest.raises(ProjectError):
        Project.loads(SEED[:cut])
