"""Photos: seconds per photo, photos per second, and peak and steady memory for a folder.

Every run is a fresh process that builds one :class:`veil.pipeline.Engine` with the
defaults (faces and plates) and masks each photo of a folder in turn with
``Engine.mask_file``, as ``veil mask folder/ -o out/`` does. Per run it reports:

* s/photo: the photos' own time (decode, detect, mask, encode), divided by their count;
* photos/s: photos over the run's whole wall time, model loading included;
* peak RSS: the process's high-water mark (``ru_maxrss``), loading included;
* steady RSS: the median resident memory after each photo of the run's second half.

Folders (temporary copies; nothing is written beside the data):

* ``wider-8`` and ``wider-N``: the first 8 and all ``--count`` (24) of a spread of
  ``faces_wider_val`` photos (every k-th by name: 1024 px wide, 512-1536 tall), so
  memory can be compared between 8 and 24 photos of different sizes;
* ``generated-N``: ``--generated`` photos (1000 by default; 0 skips), copies of those
  photos with the long side at 640-2048 px in turn (144 distinct shapes).

``--against REV`` also runs the code of commit ``REV`` (``git archive`` into a temporary
folder), interleaved with this tree's runs (REV, tree, REV, tree, ...), and prints the
ratio of each pair: the machine may be shared, so only runs next to each other are
compared. ``os.getloadavg()`` is printed for every run. deface is run on the same
folders when its command is installed.

    python benchmarks/photos.py [--data ../shared/data] [--count 24] [--generated 1000]
                                [--against HEAD~3] [--repeats 2] [--json out.json]

Exit status: 0 measured, 3 nothing measured (data missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: nothing was measured (data missing): a wrapper must not read this as a pass
EXIT_NO_DATA = 3
REPO = Path(__file__).resolve().parents[1]
#: long sides of the generated copies, in turn
SIDES = (640, 800, 1024, 1280, 1600, 2048)


def _rss() -> int:
    """Resident memory of this process in bytes (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def worker(folder: Path, out: Path, detect: dict) -> None:
    """Mask every photo of ``folder`` into ``out``; print one JSON line of figures."""
    t0 = time.perf_counter()
    from veil.pipeline import Engine
    from veil.settings import DetectSettings, Settings

    engine = Engine(Settings(detect=DetectSettings(**detect)))
    load = time.perf_counter() - t0
    seconds, rss = [], []
    for src in sorted(folder.iterdir()):
        t = time.perf_counter()
        engine.mask_file(src, out / src.name)
        seconds.append(time.perf_counter() - t)
        rss.append(_rss())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    wall = time.perf_counter() - t0
    print(json.dumps({"load": load, "seconds": seconds, "rss": rss, "peak": peak, "wall": wall}))


def run_veil(src_dir: Path, folder: Path, detect: dict | None = None) -> dict:
    """One worker process on ``folder`` with the ``veil`` package found in ``src_dir``."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(src_dir), os.environ.get("PYTHONPATH", "")])
    )
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="veil-photos-out-") as out:
        cmd = [sys.executable, __file__, "--worker", str(folder), "--out", out,
               "--detect-json", json.dumps(detect or {})]  # fmt: skip
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"worker failed ({res.returncode}):\n{res.stderr[-3000:]}")
    fig = json.loads(res.stdout.strip().splitlines()[-1])
    n = len(fig["seconds"])
    half = fig["rss"][n // 2 :] or fig["rss"]
    return {
        "photos": n,
        "s_per_photo": sum(fig["seconds"]) / n,
        "photos_per_s": n / fig["wall"],
        "load_s": fig["load"],
        "peak_mb": fig["peak"] / 2**20,
        "steady_mb": statistics.median(half) / 2**20,
        "loadavg": (before + os.getloadavg()[0]) / 2,
    }


def run_deface(folder: Path, command: str = "deface") -> dict | None:
    """deface on copies of ``folder`` (it writes beside its inputs); None when not installed."""
    exe = shutil.which(command)
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="veil-photos-deface-") as tmp:
        files = []
        for src in sorted(folder.iterdir()):
            shutil.copy(src, Path(tmp) / src.name)
            files.append(str(Path(tmp) / src.name))
        before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.Popen([exe, *files], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if status:
        return None
    n = len(files)
    return {
        "photos": n,
        "s_per_photo": wall / n,
        "photos_per_s": n / wall,
        "load_s": None,
        "peak_mb": usage.ru_maxrss / 1024,
        "steady_mb": None,
        "loadavg": (before + os.getloadavg()[0]) / 2,
    }


def wider_spread(data: Path, count: int) -> list[Path]:
    """``count`` faces_wider_val photos spread over the set (every k-th by file name)."""
    doc = json.loads((data / "faces_wider_val" / "annotations.json").read_text())
    files = sorted(item["file"] for item in doc["images"])
    step = max(1, len(files) // count)
    return [data / "faces_wider_val" / f for f in files[::step][:count]]


def make_folders(photos: list[Path], generated: int, root: Path) -> dict[str, Path]:
    """The benchmark folders (see the module docstring), written under ``root``."""
    from PIL import Image

    folders = {}
    wider = {f"wider-{len(photos[:8])}": photos[:8], f"wider-{len(photos)}": photos}
    for name, chosen in wider.items():
        folder = root / name
        folder.mkdir()
        for i, src in enumerate(chosen):
            shutil.copy(src, folder / f"{i:05d}{src.suffix.lower()}")  # no source names
        folders[name] = folder
    if generated:
        folder = root / f"generated-{generated}"
        folder.mkdir()
        images = [Image.open(p).convert("RGB") for p in photos]
        for i in range(generated):
            img = images[i % len(images)]
            side = SIDES[(i + i // len(images)) % len(SIDES)]  # every size early on
            scale = side / max(img.size)
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            img.resize(size, Image.BILINEAR).save(folder / f"{i:05d}.jpg", quality=90)
        folders[folder.name] = folder
    return folders


def baseline_src(rev: str, root: Path) -> Path:
    """The ``src`` folder of commit ``rev``, exported under ``root``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root / "src"


def _setting(kv: str) -> tuple[str, object]:
    """``key=value`` -> (key, value), the value read as JSON when it parses (numbers, true)."""
    key, _, value = kv.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _commit(rev: str = "HEAD") -> str:
    res = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev], capture_output=True, text=True
    )
    return res.stdout.strip() or "?"


def _row(folder: str, who: str, r: dict) -> str:
    steady = "-" if r["steady_mb"] is None else f"{r['steady_mb']:.0f}"
    load = "-" if r["load_s"] is None else f"{r['load_s']:.1f}"
    return (
        f"| {folder} | {who} | {r['photos']} | {r['s_per_photo']:.2f} | {r['photos_per_s']:.2f} "
        f"| {r['peak_mb']:.0f} | {steady} | {load} | {r['loadavg']:.1f} |"
    )


def _ratio(folder: str, base: dict, new: dict) -> str:
    def r(key: str) -> str:
        return f"{new[key] / base[key]:.2f}"

    ratios = f"{r('s_per_photo')} | | {r('peak_mb')} | {r('steady_mb')}"
    return f"| {folder} | tree / base | | {ratios} | | |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--count", type=int, default=24, help="faces_wider_val photos")
    ap.add_argument("--generated", type=int, default=1000, help="generated photos (0: none)")
    ap.add_argument("--against", metavar="REV", help="also run commit REV, interleaved")
    ap.add_argument("--tree", metavar="REV", help="run commit REV instead of the working tree")
    ap.add_argument("--repeats", type=int, default=1, help="runs per folder and code")
    ap.add_argument("--folders", help="only these folders (comma-separated names)")
    ap.add_argument("--deface", default="deface", help="the deface command (default: on PATH)")
    ap.add_argument("--no-veil", action="store_true", help="run deface alone")
    ap.add_argument("--json", type=Path, help="also write every run's figures here")
    ap.add_argument("--detect", action="append", default=[], metavar="KEY=VALUE",
                    help="a DetectSettings field, e.g. face_precision=int8")  # fmt: skip
    ap.add_argument("--detect-json", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.out, json.loads(args.detect_json))
        return 0
    if not (args.data / "faces_wider_val" / "annotations.json").is_file():
        print(f"no data at {args.data}/faces_wider_val; nothing measured", file=sys.stderr)
        return EXIT_NO_DATA
    detect = dict(_setting(kv) for kv in args.detect)
    with tempfile.TemporaryDirectory(prefix="veil-photos-") as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        folders = make_folders(wider_spread(args.data, args.count), args.generated, root / "photos")
        if args.folders:
            folders = {k: v for k, v in folders.items() if k in args.folders.split(",")}
        codes = {f"tree {_commit()}": REPO / "src"}
        if args.tree:
            (root / "tree").mkdir()
            codes = {f"tree {_commit(args.tree)}": baseline_src(args.tree, root / "tree")}
        if args.against:
            (root / "base").mkdir()
            codes = {f"base {_commit(args.against)}": baseline_src(args.against, root / "base"),
                     **codes}  # fmt: skip
        print(f"veil photos, {time.strftime('%Y-%m-%d %H:%M')}, commit {_commit()}, "
              f"settings {detect or 'defaults'}, "
              f"{platform.machine()} {os.cpu_count()} CPUs, "
              f"python {platform.python_version()}")  # fmt: skip
        print("| folder | code | photos | s/photo | photos/s | peak MB | steady MB | load s "
              "| loadavg |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        runs: list[dict] = []
        for name, folder in folders.items():
            for rep in range(0 if args.no_veil else args.repeats):
                pair = {}
                for who, src in codes.items():
                    r = run_veil(src, folder, detect)
                    pair[who] = r
                    runs.append({"folder": name, "code": who, "repeat": rep, **r})
                    print(_row(name, who, r), flush=True)
                if len(pair) == 2:
                    print(_ratio(name, *pair.values()), flush=True)
            d = run_deface(folder, args.deface)
            if d is not None:
                runs.append({"folder": name, "code": "deface", **d})
                print(_row(name, "deface", d), flush=True)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
