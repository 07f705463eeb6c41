"""Fail-closed writing: temporaries, renames, stale clean-up."""

import os
import subprocess
import sys

import pytest

from veil.errors import OutputError
from veil.outputs import atomic_output, clean_stale_temporaries, remove_live_temporaries


def test_success_renames_and_leaves_no_temporary(tmp_path):
    dst = tmp_path / "out.jpg"
    with atomic_output(dst) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".jpg" and tmp.name.startswith(".")
        tmp.write_bytes(b"done")
    assert dst.read_bytes() == b"done"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


def test_error_leaves_nothing(tmp_path):
    dst = tmp_path / "out.jpg"
    with pytest.raises(RuntimeError), atomic_output(dst) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert list(tmp_path.iterdir()) == []


def test_error_keeps_previous_output_intact(tmp_path):
    dst = tmp_path / "out.jpg"
    dst.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(dst) as tmp:
        tmp.write_bytes(b"new-but-broken")
        raise RuntimeError
    assert dst.read_bytes() == b"old"


def test_failed_rename_is_an_output_error_naming_the_output(tmp_path, monkeypatch):
    """A disk full at the final rename reached the CLI as 'internal error (OSError)'."""
    import veil.outputs as outputs

    def full(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "replace", full)
    dst = tmp_path / "out.jpg"
    error = r"out\.jpg: cannot finish writing \(No space left"
    with pytest.raises(OutputError, match=error), atomic_output(dst) as tmp:
        tmp.write_bytes(b"done")
    assert list(tmp_path.iterdir()) == []


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(OutputError), atomic_output(tmp_path / "x.png"):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_folder_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"), atomic_output(ro / "x.png"):
            pass
    finally:
        ro.chmod(0o700)


def test_signal_cleanup_removes_live_temporaries(tmp_path):
    dst = tmp_path / "v.mp4"
    with pytest.raises(KeyboardInterrupt), atomic_output(dst) as tmp:
        tmp.write_bytes(b"partial")
        assert remove_live_temporaries() == 1
        assert not tmp.exists()
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    # a PID that is certainly dead: a child that has exited
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(child.stdout)
    stale = tmp_path / f".clip.veil-tmp-{dead}-0123abcd.mp4"
    stale.write_bytes(b"x")
    mine = tmp_path / f".clip.veil-tmp-{os.getpid()}-0123abcd.mp4"
    mine.write_bytes(b"x")
    unrelated = tmp_path / ".hidden.mp4"
    unrelated.write_bytes(b"x")
    assert clean_stale_temporaries(tmp_path) == 1
    assert not stale.exists() and mine.exists() and unrelated.exists()
