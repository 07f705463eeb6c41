"""Scale-out figures for the README: photo throughput, a long video split, scheduler overhead.

    python benchmarks/scale.py                      # 10-minute 720p video (slow on 2 cores)
    python benchmarks/scale.py --minutes 1 --photos 24 --segment-seconds 15   # short run

* photos: ``--photos`` images of faces_wider_val, masked by one process without
  Dask, then by ``mask_many`` on a LocalCluster of 1 and of 2 workers (cluster
  start reported apart; model loading on each worker included);
* video: a 720p clip made by looping a sample clip (shared/data/videos) to
  ``--minutes``, masked by one process and on 2 workers split into segments
  of ``--segment-seconds``, at the same settings (inference threads split
  between the workers);
* overhead: round trip of ``--noop-tasks`` empty tasks through the scheduler.

Exit status: 0 measured, 3 no data.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import time
from datetime import date
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from make_video_bench import EXIT_NO_DATA, default_data

from veil.pipeline import Engine
from veil.scale import worker
from veil.scale.run import connect, local_threads, mask_many
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
    with av.open(str(dst), "w") as out:
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
    return total


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
        video = args.out / "long.mp4"
        s, frames = timed(make_long_video, src, video, args.minutes)
        say(f"video: {args.minutes:g} min 720p30 made from {src.name}", f"{frames} frames "
            f"({s:.0f} s to make)")  # fmt: skip
        s1, _ = timed(Engine(settings).mask_file, video, args.out / "v1" / "long.mp4")
        say("video, one process", f"{s1:.0f} s, {frames / s1:.1f} frames/s")
        with connect(workers=2) as client:
            s2, report = timed(
                mask_many, [(video, args.out / "v2" / "long.mp4")], local_threads(settings, 2),
                client, args.out / "v2", segment_seconds=args.segment_seconds,
            )  # fmt: skip
        segs = report.done[0].segments if report.done else 0
        say(f"video, 2 workers, {segs} segments of ~{args.segment_seconds:g} s",
            f"{s2:.0f} s, {frames / s2:.1f} frames/s ({s1 / s2:.2f}x one process)")  # fmt: skip

    print(f"\n{date.today()}, {platform.node()}: {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}\n")  # fmt: skip
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
