"""Scale-out figures for the README: photo throughput, a long video split, scheduler overhead.

    python benchmarks/scale.py                      # 10-minute 720p video (slow on 2 cores)
    python benchmarks/scale.py --minutes 1 --photos 24 --segment-seconds 15   # short run

* photos: ``--photos`` images of faces_wider_val, masked by one process without
  Dask, then by ``mask_many`` on a LocalCluster of 1 and of 2 workers (cluster
  start reported apart; model loading on each worker included);
* video: a 720p clip made by looping a sample clip (shared/data/videos) to
  ``--minutes`` (or ``--video``), masked by ``veil mask`` in one process and
  by ``veil mask --workers 2`` split into segments of ``--segment-seconds``,
  at the same settings (inference threads split between the workers); each
  run is its own process tree, timed whole (start and model loading
  included), its resident memory sampled every 0.5 s;
* overhead: round trip of ``--noop-tasks`` empty tasks through the scheduler.

Exit status: 0 measured, 3 no data.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from make_video_bench import EXIT_NO_DATA, default_data

from veil.media.video import probe
from veil.pipeline import Engine
from veil.scale import worker
from veil.scale.run import connect, local_threads, mask_many
from veil.scale.segments import plan_video
from veil.settings import Settings


def make_long_video(src: Path, dst: Path, minutes: float, fps: int = 30, gop: int = 60) -> int:
    """Loop ``src``'s frames (resized to 1280x720) into ``dst``; keyframe every ``gop``."""
    with av.open(str(src)) as c:
        frames = []
        for f in c.decode(video=0):
            img = f.to_image().resize((1280, 720))
            frames.append(np.asarray(img))
            if len(frames) >= 300:
                break
    total = int(minutes * 60 * fps)
    tmp = dst.with_name(f".{dst.name}.part.mp4")  # a stopped run leaves no clip to reuse
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 1280, 720, "yuv420p"
        vs.codec_context.time_base = Fraction(1, fps)
        vs.codec_context.gop_size = gop
        vs.options = {"preset": "veryfast", "crf": "23"}
        for i in range(total):
            k = i % (2 * len(frames) - 2) if len(frames) > 1 else 0
            img = frames[k if k < len(frames) else 2 * len(frames) - 2 - k]  # ping-pong
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    tmp.replace(dst)
    return total


@dataclass
class CliRun:
    """Wall time and memory of one ``veil mask`` run in its own process tree."""

    seconds: float
    cpu_seconds: float  # user + system of the whole tree (workers are reaped by the client)
    peak_tree_mb: float  # the most the client and all its workers held at once
    peak_process_mb: float  # the largest single process
    load: float  # mean 1-minute load average while it ran (other jobs included)
    returncode: int

    def line(self, frames: int) -> str:
        return (
            f"{self.seconds:.0f} s wall, {frames / self.seconds:.1f} frames/s; "
            f"{self.cpu_seconds:.0f} CPU s ({1000 * self.cpu_seconds / frames:.0f} CPU ms/frame); "
            f"peak RSS {self.peak_tree_mb:.0f} MB all processes "
            f"({self.peak_process_mb:.0f} MB largest); load average {self.load:.1f}"
            + ("" if self.returncode == 0 else f"; EXIT {self.returncode}")
        )


def run_cli(video: Path, out: Path, extra: list[str]) -> CliRun:
    """``veil mask video -o out/video extra...`` niced like this process, RSS sampled."""
    import resource

    import psutil

    cmd = [sys.executable, "-m", "veil", "mask", str(video), "-o", str(out / video.name), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([*cmd, *extra])
    tree = peak = 0.0
    loads: list[float] = []
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        sizes = []
        for q in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes.append(q.memory_info().rss / 2**20)
        tree, peak = max(tree, sum(sizes)), max([peak, *sizes])
        loads.append(os.getloadavg()[0])
        time.sleep(0.5)
    rc = proc.wait()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return CliRun(wall, cpu, tree, peak, sum(loads) / max(1, len(loads)), rc)


def packet_times(path: Path) -> tuple[list[int], list[int]]:
    """The video's frame pts in display order and its packets' dts in decode order.

    Equal for two outputs means the same frame count and timing (the order of
    packets between two keyframes may differ: each segment starts its own GOP).
    """
    if not path.is_file():
        return [], []
    with av.open(str(path)) as c:
        packets = [(p.pts, p.dts) for p in c.demux(video=0) if p.size]
    return sorted(p for p, _ in packets), [d for _, d in packets]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def photos_single(photos: list[Path], out: Path, settings: Settings) -> float:
    t0 = time.perf_counter()
    engine = Engine(settings)
    for p in photos:
        engine.mask_file(p, out / p.name)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("/tmp/veil-scale-bench"))
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--segment-seconds", type=float, default=60.0)
    ap.add_argument("--video-source", default="tokyo_street.mp4")
    ap.add_argument(
        "--video", type=Path, default=None,
        help="long video to use (made there if missing; keep it outside --out to reuse it)",
    )  # fmt: skip
    ap.add_argument("--noop-tasks", type=int, default=200)
    ap.add_argument("--skip", nargs="*", default=[], choices=["photos", "video", "overhead"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    data = args.data or default_data()
    if not data.is_dir():
        print(f"no data at {data}", file=sys.stderr)
        return EXIT_NO_DATA
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    settings = Settings()
    rows: list[tuple[str, str]] = []

    def say(name: str, value: str) -> None:
        rows.append((name, value))
        print(f"{name}: {value}", file=sys.stderr, flush=True)

    photos = sorted((data / "faces_wider_val" / "images").rglob("*.jpg"))[: args.photos]
    (args.out / "photos").mkdir()
    for p in photos:  # one flat folder of photos
        shutil.copy(p, args.out / "photos" / p.name)
    photos = sorted((args.out / "photos").iterdir())

    if "photos" not in args.skip:
        s, _ = timed(photos_single, photos, args.out / "p0", settings)
        say(f"photos, one process, no Dask ({len(photos)} files)", f"{s:.1f} s, "
            f"{len(photos) / s:.2f} files/s")  # fmt: skip
        for n in (1, 2):
            t0 = time.perf_counter()
            with connect(workers=n) as client:
                start = time.perf_counter() - t0
                jobs = [(p, args.out / f"p{n}" / p.name) for p in photos]
                s, report = timed(
                    mask_many, jobs, local_threads(settings, n), client, args.out / f"p{n}"
                )
            say(f"photos, {n} worker(s) (cluster start {start:.1f} s apart)",
                f"{s:.1f} s, {len(photos) / s:.2f} files/s")  # fmt: skip

    if "overhead" not in args.skip:
        with connect(workers=2) as client:
            client.gather([client.submit(worker.noop_task, i, pure=False) for i in range(20)])
            t0 = time.perf_counter()
            futs = [client.submit(worker.noop_task, i, pure=False) for i in range(args.noop_tasks)]
            client.gather(futs)
            per = (time.perf_counter() - t0) / args.noop_tasks
        say(f"scheduler overhead, {args.noop_tasks} empty tasks on 2 workers",
            f"{1000 * per:.2f} ms/task")  # fmt: skip

    if "video" not in args.skip:
        src = data / "videos" / args.video_source
        video = args.video or args.out / "long.mp4"
        if args.video is None or not video.is_file():
            s, frames = timed(make_long_video, src, video, args.minutes)
            say(f"video: {args.minutes:g} min 720p30 made from {src.name}", f"{frames} frames "
                f"({s:.0f} s to make)")  # fmt: skip
        info = probe(video, settings.limits)
        frames = info.frames or 0
        fps = float(info.fps or 30)
        plan = plan_video(video, settings, max(1, round(fps * args.segment_seconds)))
        segs = len(plan.segments) if plan else 1
        say(f"video under test: {video.name}", f"{frames} frames, {info.width}x{info.height}, "
            f"{frames / fps / 60:.1f} min, {segs} segment(s) planned")  # fmt: skip
        one = run_cli(video, args.out / "v1", [])
        say("video, one process (veil mask)", one.line(frames))
        two = run_cli(video, args.out / "v2", ["--workers", "2", "--segment-seconds",
                                                f"{args.segment_seconds:g}"])  # fmt: skip
        say(f"video, 2 workers (veil mask --workers 2), {segs} segments of "
            f"~{args.segment_seconds:g} s", f"{two.line(frames)}; "
            f"{one.seconds / two.seconds:.2f}x one process")  # fmt: skip
        same = packet_times(args.out / "v1" / video.name) == packet_times(
            args.out / "v2" / video.name
        )
        say("outputs: same frame count and timestamps", "yes" if same else "NO")

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{date.today()}, {platform.node()}: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, load average at the end {load}\n"
    )
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
