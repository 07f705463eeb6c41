"""`veil eval --workers` and `veil mask --workers` end to end, as a user runs them.

* eval on 2 workers writes the metrics one process writes (speed aside);
* a client killed with SIGKILL mid-run takes its local workers with it, leaves
  no partial file at any output name, and the next run finishes the rest
  without redoing what the manifest recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import veil
from media_factory import make_clip
from scale_helpers import assert_same_media
from veil.cli import main

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from veil.scale import cli as scale_cli  # noqa: E402
from veil.scale.manifest import MANIFEST_NAME, Manifest  # noqa: E402
from veil.scale.run import PARTS_DIR  # noqa: E402

#: one inference thread everywhere, so one process and each worker compute alike
THREADS = ["--threads", "1"]
FACE = (178, 55, 268, 176)  # the astronaut's face in the 512 px picture


def _face_clip(path: Path, astronaut: np.ndarray, frames: int) -> list[tuple[int, ...]]:
    """A 256x256 clip of the astronaut drifting right by 2 px a frame; its face boxes."""
    small = np.asarray(Image.fromarray(astronaut).resize((256, 256)))
    boxes = []
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 256, 256, "yuv420p"
        vs.codec_context.time_base = Fraction(1, 25)
        vs.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            dx = 2 * i
            img = np.roll(small, dx, axis=1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
            x1, y1, x2, y2 = (v // 2 for v in FACE)
            boxes.append((x1 + dx, y1, x2 + dx, y2))
        out.mux(vs.encode(None))
    return boxes


def _eval_dataset(root: Path, astronaut: np.ndarray) -> Path:
    """Five photos (faces at three sizes, a mirrored one, none) and an annotated clip."""
    root.mkdir()
    images = []

    def photo(name: str, rgb: np.ndarray, boxes: list[tuple[float, ...]]) -> None:
        Image.fromarray(rgb).save(root / name)
        images.append({
            "file": name, "width": rgb.shape[1], "height": rgb.shape[0],
            "boxes": [{"label": "face", "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]}
                      for b in boxes],
        })  # fmt: skip

    photo("full.png", astronaut, [FACE])
    half = np.asarray(Image.fromarray(astronaut).resize((256, 256)))
    photo("half.png", half, [tuple(v / 2 for v in FACE)])
    photo("mirror.png", np.ascontiguousarray(astronaut[:, ::-1]),
          [(512 - FACE[2], FACE[1], 512 - FACE[0], FACE[3])])  # fmt: skip
    quarter = np.asarray(Image.fromarray(astronaut).resize((128, 128)))
    photo("quarter.png", quarter, [tuple(v / 4 for v in FACE)])
    photo("empty.png", np.full((96, 128, 3), 90, np.uint8), [])
    boxes = _face_clip(root / "clip.mp4", astronaut, 12)
    frames = [
        {"index": i, "boxes": [{"label": "face", "id": 1, "x1": b[0], "y1": b[1],
                                "x2": b[2], "y2": b[3]}]}
        for i, b in enumerate(boxes)
    ]  # fmt: skip
    path = root / "ds.json"
    path.write_text(json.dumps({"images": images, "videos": [{"file": "clip.mp4",
                                                               "frames": frames}]}))  # fmt: skip
    return path


def test_eval_on_two_workers_gives_the_single_process_metrics(tmp_path, astronaut, monkeypatch):
    ds = _eval_dataset(tmp_path / "ds", astronaut)
    args = ["eval", str(ds), "--targets", "face", "-q", *THREADS]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    monkeypatch.setattr(scale_cli, "EVAL_CHUNK", 2)  # photos in 3 shares, the clip in a 4th
    assert main([*args, "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    speed_one, speed_two = one.pop("speed"), two.pop("speed")
    assert one["face"]["objects"] == 1 and one["face"]["recall"] > 0  # something was measured
    # every detection, mask and leak figure equal; NaN (undefined) compares as text
    assert json.dumps(two, sort_keys=True) == json.dumps(one, sort_keys=True)
    for key in ("device", "provider", "threads"):
        assert speed_two[key] == speed_one[key]


# --------------------------------------------------------------------------- client killed

MASK_FLAGS = ["-q", *THREADS, "--targets", "face", "--crf", "0", "--preset", "ultrafast",
              "--method", "fill"]  # fmt: skip
SEGMENT_SECONDS = "3"  # the 8 s clip: segments of 75, 75 and 50 frames


def _archive(root: Path, astronaut: np.ndarray) -> list[Path]:
    """Four photos with a face and an 8-second clip with audio (split into segments)."""
    root.mkdir()
    for i in range(4):
        side = 160 + 32 * i
        rgb = np.asarray(Image.fromarray(np.roll(astronaut, 16 * i, axis=1)).resize((side, side)))
        Image.fromarray(rgb).save(root / f"photo{i}.png")
    make_clip(root / "clip.mp4", frames=200, fps=25, gop=25, audio=True)
    return sorted(p.relative_to(root) for p in root.iterdir())


def _env() -> dict[str, str]:
    src = str(Path(veil.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def _veil(*args: str | Path, stderr: Path) -> subprocess.Popen:
    with open(stderr, "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "veil", *map(str, args)],
            env=_env(), stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


@pytest.mark.slow
def test_client_killed_mid_run_resumes_without_redoing_recorded_outputs(tmp_path, astronaut):
    src = tmp_path / "in"
    names = _archive(src, astronaut)
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert _veil("mask", src, "-o", ref, *MASK_FLAGS, stderr=tmp_path / "ref.log").wait() == 0

    args = ["mask", src, "-o", out, *MASK_FLAGS, "--workers", "2"]
    client = _veil(*args, "--segment-seconds", SEGMENT_SECONDS, stderr=tmp_path / "run1.log")
    tree: dict[int, psutil.Process] = {}
    recorded: dict = {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and client.poll() is None:
            try:
                for p in psutil.Process(client.pid).children(recursive=True):
                    tree.setdefault(p.pid, p)  # the local cluster's worker processes
            except psutil.NoSuchProcess:
                break
            if (out / MANIFEST_NAME).is_file():
                recorded = Manifest.load(out).entries
                if recorded:
                    break
            time.sleep(0.05)
        assert client.poll() is None, (tmp_path / "run1.log").read_text()
        assert recorded, "no output was recorded before the time limit"
        os.kill(client.pid, signal.SIGKILL)
        client.wait(30)
        # the workers notice their parent is gone and exit on their own
        _, alive = psutil.wait_procs(list(tree.values()), timeout=60)
        assert alive == [], [p.pid for p in alive]
    finally:
        if client.poll() is None:
            client.kill()
        for p in tree.values():  # only the processes this test started
            if p.is_running():
                p.kill()

    recorded = Manifest.load(out).entries  # what the dead client had saved
    assert 0 < len(recorded) < len(names)
    assert "clip.mp4" not in recorded  # killed while the video was being masked
    for rel in names:  # nothing at an output name is partial: absent, or the finished output
        if (out / rel).exists():
            assert_same_media(ref / rel, out / rel)
    stamps = {k: (out / k).stat().st_mtime_ns for k in recorded}

    rerun = _veil(*args, "--segment-seconds", SEGMENT_SECONDS, stderr=tmp_path / "run2.log")
    assert rerun.wait(600) == 0, (tmp_path / "run2.log").read_text()
    assert f"{len(recorded)} already done" in (tmp_path / "run2.log").read_text()
    assert {k: (out / k).stat().st_mtime_ns for k in recorded} == stamps  # not redone
    for rel in names:
        assert_same_media(ref / rel, out / rel)
    assert set(Manifest.load(out).entries) == {rel.as_posix() for rel in names}
    hidden = [p for p in out.rglob(".*") if p.name != MANIFEST_NAME]
    assert hidden == [], hidden  # the dead run's temporaries and pieces are gone
    assert not (out / PARTS_DIR).exists()
