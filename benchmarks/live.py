"""veil live at real rate: frames per second, added delay and the overload counts.

A real clip from ``../shared/data/videos`` (default ``tokyo_street.mp4``: a walking
camera, many small faces, cars) is resized to each size, resampled to 25 fps and
looped to ``--seconds`` (the loop point is a scene cut, which the live path must
handle too), then played at its own rate into ``veil live`` (the file source with
``realtime``: the same reader thread and timing as a network stream, without the
socket), masked with the default models and settings, and encoded to an MPEG-TS
file. Sizes default to 640x360 and 1280x720, the issue's two rows.

    python benchmarks/live.py --seconds 300 --out /tmp/veil-live-bench
    python benchmarks/live.py --seconds 60 --sizes 640x360 --json live.json

Goals (issue 28): 640x360 at 25 fps with no frame blurred or dropped and a p95 added
delay of at most the budget + 200 ms; 1280x720 at 25 fps with at most 1% of frames
blurred or dropped.

With ``--leaks DIR`` (a benchmark built by ``benchmarks/make_video_bench.py``) it also
scores the live path against the batch path on the same moving-camera clips: each clip
is played at its own rate into ``veil live`` (no sink), the regions each written frame
masked are scored by the same evaluator as ``veil eval`` (a frame masked whole covers
everything, a dropped frame shows nothing), and the leak rates are printed side by side.
The issue's goal: the live leak rate within 0.5 percentage points of the batch one.

Exit status: 0 measured, 3 nothing measured (no source clip).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from veil.live import LiveRun, LiveSettings
from veil.settings import DECISIONS, Settings, TrackSettings

EXIT_NO_DATA = 3
FPS = 25


def default_video() -> Path:
    env = os.environ.get("VEIL_SHARED_DATA")
    data = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return data / "videos" / "tokyo_street.mp4"


def make_source(video: Path, dst: Path, width: int, height: int, seconds: float) -> Path:
    """``video`` resized to width x height at 25 fps, looped to ``seconds`` (H.264 in TS)."""
    if dst.exists():
        return dst
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        shots = [
            (float(f.pts * f.time_base), f.to_ndarray(format="rgb24", width=width, height=height))
            for f in c.decode(stream)
        ]
    length = shots[-1][0] + (shots[-1][0] - shots[-2][0])
    tmp = dst.with_suffix(".part.ts")
    with av.open(str(tmp), "w", format="mpegts") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.gop_size = FPS
        vs.options = {"preset": "veryfast", "crf": "20"}
        times = np.array([t for t, _ in shots])
        for i in range(int(seconds * FPS)):
            t = (i / FPS) % length
            k = min(int(np.searchsorted(times, t, side="right")) - 1, len(shots) - 1)
            frame = av.VideoFrame.from_ndarray(shots[max(k, 0)][1], format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    tmp.rename(dst)
    return dst


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU(s) visible, Python "
        f"{platform.python_version()}, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


def commit() -> str:
    """HEAD, marked '+changes' when veil.live differs from it (read before the runs)."""
    here = Path(__file__).parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=here, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "../src/veil/live", "../src/veil/track")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +changes" if dirty else "")


def measure(source: Path, out: Path, latency: float) -> dict:
    out.unlink(missing_ok=True)
    lines: list[str] = []
    run = LiveRun(
        source,
        out,
        Settings(),
        LiveSettings(latency_s=latency, realtime=True, status_every_s=10.0),
        on_status=lambda s: lines.append(s.line()),
    )
    t0 = time.monotonic()
    stats = run.run()
    row = stats.as_dict()
    row["wall_s"] = time.monotonic() - t0
    n = max(stats.frames_in, 1)
    row["blurred_or_dropped_pct"] = 100.0 * (stats.blurred + stats.dropped) / n
    for line in lines:
        print(line, file=sys.stderr)
    return row


def live_leaks(dataset: Path, latency: float, base: Settings) -> dict:
    """Score the live path on a ``veil eval`` video dataset; the mask block per class."""
    from veil.evaluate.dataset import load_dataset
    from veil.evaluate.runner import dataset_settings, new_evaluator
    from veil.live.sink import NULL_SINK
    from veil.media import video as video_io
    from veil.pipeline import Engine
    from veil.regions import Regions

    ds = load_dataset(dataset)
    settings = dataset_settings(ds, base)
    engine = Engine(settings)
    ev = new_evaluator(ds, settings, engine)
    counts = {"frames": 0, "whole": 0, "dropped": 0}
    for vid in ds.videos:
        shown: dict[int, object] = {}
        fps = float(video_io.probe(vid.file, settings.limits).fps or 30)
        run = LiveRun(
            vid.file, NULL_SINK, settings, LiveSettings(latency_s=latency, realtime=True), engine
        )

        def note(regions: object, t: float, shown: dict = shown, fps: float = fps) -> None:
            shown[round(t * fps)] = regions

        run.region_hook = note
        run.run()
        with video_io.iter_frames(vid.file, settings.limits) as frames:
            for f in frames:
                if f.index not in vid.frames:
                    continue
                counts["frames"] += 1
                regions = shown.get(f.index, "dropped")
                if regions is None or regions == "dropped":
                    counts["whole" if regions is None else "dropped"] += 1
                    covered = np.ones(f.image.shape[:2], bool)  # nothing of it was shown
                    regions = Regions.empty()  # no detection ranked on it
                else:
                    _, covered = engine.mask(f.image, regions)
                ev.add(vid.frames[f.index], regions, covered, source=str(vid.file), seconds=0.0)
    metrics = ev.compute(device="cpu", provider="CPUExecutionProvider", threads=1,
                         wall_seconds=0.0)  # fmt: skip
    return {"metrics": metrics, "counts": counts}


def leak_rows(bench: Path, latency: float, decide: str) -> list[dict]:
    """Batch and live leak rates on each class's clips of a moving-camera benchmark,
    both paths confirming face tracks the same way (``decide``): a comparison of the
    paths, not of the decisions."""
    sys.path.insert(0, str(Path(__file__).parent))
    from video_leaks import _find_mask_metrics

    from veil.evaluate.runner import evaluate

    rows = []
    for label in ("face", "plate"):
        dataset = bench / f"{label}s" / "clips.json"
        if not dataset.is_file():
            continue
        settings = Settings().evolve(track=TrackSettings(decide=decide))
        batch, _ = evaluate(dataset, settings, quiet=True)
        live = live_leaks(dataset, latency, settings)
        b, v = _find_mask_metrics(batch, label), _find_mask_metrics(live["metrics"], label)
        rows.append({"label": label, "batch": b, "live": v, **live["counts"]})
    return rows


def leak_table(rows: list[dict]) -> str:
    head = (
        "| class | leak rate, batch | leak rate, live | difference | leaked objects batch / "
        "live | false-mask share batch / live | annotated frames | masked whole / dropped "
        "(live) |\n|---|---|---|---|---|---|---|---|\n"
    )

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    body = ""
    for r in rows:
        b, v = r["batch"], r["live"]
        diff = (
            f"{100 * (v['leak_rate'] - b['leak_rate']):+.2f} pp"
            if b["leak_rate"] is not None and v["leak_rate"] is not None
            else "-"
        )
        body += (
            f"| {r['label']} | {pct(b['leak_rate'])} | {pct(v['leak_rate'])} | {diff} "
            f"| {b['leaked_objects']} / {v['leaked_objects']} of {b['objects']} "
            f"| {pct(b['false_mask_share'])} / {pct(v['false_mask_share'])} | {r['frames']} "
            f"| {r['whole']} / {r['dropped']} |\n"
        )
    return head + body


def table(rows: list[dict], latency: float) -> str:
    head = (
        "| size | fps out | delay p50 | p95 | max | frames in | detected | carried "
        "(under load) | blurred | dropped | blurred+dropped |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['size']} | {r['fps']:.1f} | {r['delay_p50_s']:.2f} s | {r['delay_p95_s']:.2f} s "
        f"| {r['delay_max_s']:.2f} s | {r['frames_in']} | {r['detected']} | {r['carried']} "
        f"({r['carried_under_load']}) | {r['blurred']} | {r['dropped']} "
        f"| {r['blurred_or_dropped_pct']:.2f}% |\n"
        for r in rows
    )
    return f"latency budget {latency:g} s\n\n" + head + body


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=default_video())
    p.add_argument("--seconds", type=float, default=300.0, help="length of each run")
    p.add_argument("--sizes", default="640x360,1280x720")
    p.add_argument("--latency", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=Path("/tmp/veil-live-bench"))
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--leaks", type=Path, help="a make_video_bench.py folder: live vs batch leaks")
    p.add_argument("--no-speed", action="store_true", help="only the leak comparison")
    p.add_argument(
        "--face-decision",
        choices=DECISIONS,
        default=TrackSettings().decide,
        help="how both paths confirm face tracks in the leak comparison (default: %(default)s)",
    )
    args = p.parse_args(argv)
    if not args.video.is_file():
        print(f"live.py: no video at {args.video}; nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    args.out.mkdir(parents=True, exist_ok=True)
    at = commit()
    rows = []
    for size in [] if args.no_speed else args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        src = make_source(
            args.video, args.out / f"source-{w}x{h}-{args.seconds:g}s.ts", w, h, args.seconds
        )
        row = measure(src, args.out / f"masked-{w}x{h}.ts", args.latency)
        row["size"] = f"{w}x{h}"
        rows.append(row)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"veil live benchmark, commit {at}, {when}")
    runs = "" if args.no_speed else f"; {args.seconds:g} s per size, source {args.video.name}"
    print(f"machine: {machine()}{runs}")
    print()
    if rows:
        print(table(rows, args.latency))
    leaks = leak_rows(args.leaks, args.latency, args.face_decision) if args.leaks else []
    if leaks:
        print(f"leaks: {args.leaks.name}, face tracks confirmed by '{args.face_decision}'")
        print(leak_table(leaks))
    if args.json is not None:
        args.json.write_text(json.dumps({"speed": rows, "leaks": leaks}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
