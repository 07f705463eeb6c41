"""veil mask vs a plain transcode of the same file, alternating runs in one session.

The reference is ``ffmpeg -c:v libx264 -preset medium -crf N -c:a copy`` (Debian's
ffmpeg: ``apt-get install ffmpeg``), N being the CRF veil encodes with (its default 18,
or ``--crf``), so both runs encode alike. veil runs at default settings (faces +
plates, same encoder and preset). Prints the median wall-time ratio, frames per
second and peak memory (RSS of the process tree), and the same for a clip 10x
longer made by concatenation, to show memory does not grow with length; that
one is timed ``--long-runs`` times (default once: a single pair, not a median).
deface is timed too when it is installed.

    python benchmarks/speed.py [--video ../shared/data/videos/uk_plate_car.mp4] [--runs 3]

Exit status: 0 measured, 3 nothing measured (video or ffmpeg missing).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from veil.settings import EncodeSettings

#: nothing was measured (video or reference tool missing): a wrapper must not read it as a pass
EXIT_NO_DATA = 3


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, whole process tree) of one command."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                procs = [proc, *proc.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    _, err = proc.communicate()
    done.set()
    t.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err.decode()[-2000:]}"
        )
    return wall, peak


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def concat(src: Path, times: int, dst: Path) -> None:
    lst = dst.with_suffix(".txt")
    lst.write_text("".join(f"file '{src.resolve()}'\n" for _ in range(times)))
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(lst),
         "-c", "copy", str(dst)],
        check=True,
    )  # fmt: skip


def veil_crf(extra: list[str]) -> int:
    """The constant rate factor veil will encode with: ``--crf N`` if given, else its default."""
    for i, arg in enumerate(extra):
        if arg == "--crf" and i + 1 < len(extra):
            return int(extra[i + 1])
        if arg.startswith("--crf="):
            return int(arg.split("=", 1)[1])
    return EncodeSettings().crf


def bench(video: Path, runs: int, out: Path, extra: list[str]) -> dict:
    # the same encoder settings as veil's output, so only veil's own work differs
    ref_cmd = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-c:v", "libx264",
               "-preset", "medium", "-crf", str(veil_crf(extra)), "-c:a", "copy",
               str(out / "ref.mp4")]  # fmt: skip
    veil_cmd = [sys.executable, "-m", "veil", "mask", str(video), "-o", str(out / "veil.mp4"),
                "-q", *extra]  # fmt: skip
    deface = shutil.which("deface")
    deface_cmd = [deface, str(video), "-o", str(out / "deface.mp4")] if deface else None
    res: dict[str, list[tuple[float, int]]] = {"ffmpeg": [], "veil": [], "deface": []}
    for _ in range(runs):  # alternate so drift in machine load hits both alike
        res["ffmpeg"].append(timed(ref_cmd))
        res["veil"].append(timed(veil_cmd))
        if deface_cmd:
            res["deface"].append(timed(deface_cmd))
    frames = frame_count(video)
    summary = {"frames": frames}
    for name, vals in res.items():
        if vals:
            summary[name] = {
                "wall_s": statistics.median(v[0] for v in vals),
                "peak_mb": max(v[1] for v in vals) / 2**20,
            }
    ratios = [v / f for (v, _), (f, _) in zip(res["veil"], res["ffmpeg"], strict=True)]
    summary["ratio"] = statistics.median(ratios)
    return summary


def main(argv: list[str] | None = None) -> int:
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--video", type=Path, default=data / "uk_plate_car.mp4")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--long", type=int, default=10, help="also time a clip this many times longer (0: skip)"
    )
    ap.add_argument(
        "--long-runs", type=int, default=1, help="alternating runs of the long clip (default: 1)"
    )
    ap.add_argument("veil_args", nargs="*", help="extra veil mask options (after --)")
    args = ap.parse_args(argv)
    if not args.video.is_file():
        print(f"no video at {args.video}; nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    if not shutil.which("ffmpeg"):
        print("ffmpeg not found (apt-get install ffmpeg); it is the reference; nothing measured",
              file=sys.stderr)  # fmt: skip
        return EXIT_NO_DATA
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = [(args.video.name, bench(args.video, args.runs, out, args.veil_args))]
        if args.long > 1:
            long = out / f"long{args.long}x.mp4"
            concat(args.video, args.long, long)
            long_row = bench(long, args.long_runs, out, args.veil_args)
            rows.append((f"{args.video.name} x{args.long}, runs: {args.long_runs}", long_row))
    opts = " ".join(args.veil_args) or "defaults"
    print(f"veil speed, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, veil options: {opts}")  # fmt: skip
    print(
        "| clip | frames | ffmpeg s | veil s | veil/ffmpeg | veil fps | veil peak MB | deface s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, s in rows:
        d = s.get("deface", {}).get("wall_s")
        ff, vs = s["ffmpeg"]["wall_s"], s["veil"]["wall_s"]
        print(f"| {name} | {s['frames']} | {ff:.1f} | {vs:.1f} | "
              f"{s['ratio']:.2f}x | {s['frames'] / s['veil']['wall_s']:.1f} | "
              f"{s['veil']['peak_mb']:.0f} | {'-' if d is None else f'{d:.1f}'} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
