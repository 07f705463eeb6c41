"""veil.scale on a LocalCluster of 2 worker processes: same outputs as one process,
a killed worker costs nothing, a resumed run redoes nothing done."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from media_factory import displayed_frame, make_clip
from scale_helpers import (
    StallOnce,
    assert_same_media,
    corner_engine,
    flicker_engine,
    make_turning_clip,
)

pytest.importorskip("distributed")

from veil.scale import worker  # noqa: E402
from veil.scale.manifest import MANIFEST_NAME, Manifest  # noqa: E402
from veil.scale.run import PARTS_DIR, connect, mask_many  # noqa: E402
from veil.scale.segments import plan_video  # noqa: E402
from veil.settings import DetectSettings, EncodeSettings, MaskSettings, Settings  # noqa: E402

#: lossless x264, so decoded frames compare exactly whatever the GOP layout
SETTINGS = Settings(
    detect=DetectSettings(targets=("face",)),
    mask=MaskSettings(method="fill"),
    encode=EncodeSettings(crf=0, preset="ultrafast"),
)
SEGMENT = 30  # frames: the 120-frame clip becomes 4 segments


@pytest.fixture(scope="module")
def client():
    # veil's own local cluster; workers are spawned processes: they find veil
    # and these helpers through sys.path
    with connect(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Two photos, a short clip (one task) and a long one with keyframes (split), with audio."""
    root = tmp_path_factory.mktemp("archive")
    (root / "sub").mkdir()
    Image.fromarray(displayed_frame(2, 160, 120)).save(root / "a.png")
    Image.fromarray(displayed_frame(5, 160, 120)).save(root / "sub" / "b.jpg", quality=90)
    make_clip(root / "short.mp4", frames=25, audio=True)
    make_clip(root / "sub" / "long.mp4", frames=120, gop=10, audio=True, vfr=True)
    return root


@pytest.fixture(scope="module")
def reference(archive, tmp_path_factory) -> Path:
    """The same archive masked by one process, without Dask."""
    out = tmp_path_factory.mktemp("single")
    engine = flicker_engine(SETTINGS)
    for src in _media(archive):
        engine.mask_file(src, out / src.relative_to(archive))
    return out


def _media(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix in (".png", ".jpg", ".mp4")
    )


def _jobs(archive: Path, out: Path) -> list[tuple[Path, Path]]:
    return [(src, out / src.relative_to(archive)) for src in _media(archive)]


def _assert_same_outputs(reference: Path, out: Path) -> None:
    names = sorted(p.relative_to(reference) for p in _media(reference))
    assert sorted(p.relative_to(out) for p in _media(out)) == names
    for rel in names:
        assert_same_media(reference / rel, out / rel)


def _no_leftovers(out: Path) -> None:
    hidden = [p for p in out.rglob(".*") if p.name != MANIFEST_NAME]
    assert hidden == [], hidden


def test_local_workers_keep_glibcs_adaptive_allocator(client):
    # Dask's default MALLOC_TRIM_THRESHOLD_ makes every frame-sized array a fresh mmap
    values = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(values) == 2
    assert set(values.values()) == {None}


def test_folder_run_matches_single_process(client, archive, reference, tmp_path):
    out = tmp_path / "out"
    report = mask_many(
        _jobs(archive, out), SETTINGS, client, out,
        segment_frames=SEGMENT, engine_factory=flicker_engine,
    )  # fmt: skip
    assert report.failed == [] and report.fallbacks == 0
    split = [d for d in report.done if d.segments > 1]
    assert [d.dst.name for d in split] == ["long.mp4"] and split[0].segments == 4
    _assert_same_outputs(reference, out)
    _no_leftovers(out)
    assert not (out / "sub" / PARTS_DIR).exists()
    # one engine per worker process, reused by every task it ran
    assert all(n <= 1 for n in client.run(worker.cached_engines).values())


def test_killed_worker_mid_video_still_ends_correct(client, archive, reference, tmp_path):
    out = tmp_path / "out"
    marker = tmp_path / "stalled.pid"
    src = archive / "sub" / "long.mp4"
    factory = StallOnce(marker)
    result = {}

    def run():
        result["report"] = mask_many(
            [(src, out / "long.mp4")], SETTINGS, client, out,
            segment_frames=SEGMENT, engine_factory=factory,
        )  # fmt: skip

    t = threading.Thread(target=run)
    t.start()
    for _ in range(1200):  # a worker reaches the stall within seconds; give it minutes
        if marker.exists() and marker.read_text():
            break
        time.sleep(0.1)
    pid = int(marker.read_text())
    assert pid in client.run(os.getpid).values()
    assert not (out / "long.mp4").exists()
    os.kill(pid, signal.SIGKILL)
    t.join(300)
    report = result["report"]
    assert report.failed == [] and len(report.done) == 1
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(reference / "sub" / "long.mp4", ref / "long.mp4")
    _assert_same_outputs(ref, out)
    _no_leftovers(out)


def test_resumed_run_redoes_only_what_is_missing_or_stale(client, archive, tmp_path):
    out = tmp_path / "out"
    jobs = _jobs(archive, out)
    first = mask_many(jobs, SETTINGS, client, out, segment_frames=SEGMENT,
                      engine_factory=flicker_engine)  # fmt: skip
    assert len(first.done) == len(jobs)
    stamps = {dst: dst.stat().st_mtime_ns for _, dst in jobs}
    again = mask_many(jobs, SETTINGS, client, out, segment_frames=SEGMENT,
                      engine_factory=flicker_engine)  # fmt: skip
    assert again.done == [] and sorted(again.skipped) == sorted(stamps)
    assert {dst: dst.stat().st_mtime_ns for _, dst in jobs} == stamps
    # one output damaged, one deleted: only those two are redone
    (out / "a.png").write_bytes(b"damaged")
    (out / "sub" / "long.mp4").unlink()
    third = mask_many(jobs, SETTINGS, client, out, segment_frames=SEGMENT,
                      engine_factory=flicker_engine)  # fmt: skip
    assert sorted(d.dst.name for d in third.done) == ["a.png", "long.mp4"]
    entries = Manifest.load(out).entries
    assert set(entries) == {dst.relative_to(out).as_posix() for _, dst in jobs}


def test_segments_keep_the_clips_face_orientation(client, tmp_path):
    """The orientation probe runs once per clip, on its first frame, as in one process.

    The clip's marker moves to the other corner after frame 60, so a probe on a
    later frame decides the camera is turned; a segment whose window starts there
    must still use the clip's orientation, or its masks land in another corner.
    """
    src = make_turning_clip(tmp_path / "turning.mp4", frames=200, switch_at=60)
    engine = corner_engine(SETTINGS)
    with av.open(str(src)) as c:
        pictures = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert engine.face_turn(pictures[0]) == 0 and engine.face_turn(pictures[-1]) == 1
    plan = plan_video(src, SETTINGS, 40)
    assert plan is not None and plan.segments[-1].read_from > 60  # a window after the switch
    assert worker.plan_task(src, SETTINGS, 40, 60.0, "turning", corner_engine).face_turn == 0

    ref = tmp_path / "ref"
    engine.mask_file(src, ref / "turning.mp4")
    out = tmp_path / "out"
    report = mask_many(
        [(src, out / "turning.mp4")], SETTINGS, client, out,
        segment_frames=40, engine_factory=corner_engine,
    )  # fmt: skip
    assert report.failed == [] and report.fallbacks == 0
    assert report.done[0].segments == len(plan.segments) == 5
    _assert_same_outputs(ref, out)
