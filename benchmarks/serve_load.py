"""``veil serve`` under load and over a long session (issue 27).

Against ``python -m veil serve`` started as its own process (real detectors,
default settings) on a generated clip (kept in --workdir, never in the repository):

1. **load**: ``--clients`` clients at once for ``--seconds``: each fetches random
   frames (original or masked preview), edits its own drawn region (add, move a
   keyframe, style), and undoes or redoes, as a reviewer's tab would, sending
   If-Match and reloading on 409. A render and a second detection run meanwhile.
   Reports p50/p95/max latency of frame fetch and of an edit as the user waits for
   it (reloads and retries after a 409 included), of each write request on its own,
   and every status seen.
2. **long session**: one client sends steady random requests for ``--minutes``;
   the server's resident memory (VmRSS) and open file descriptors are read from
   /proc at the start, every ``--sample-s`` seconds, and at the end.

    nice python benchmarks/serve_load.py --clients 20 --seconds 30 --minutes 60

Prints one JSON document (also written to --out when given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import av
import numpy as np
import requests
from web_long import start_server

W, H, FPS = 640, 360, 25


def make_clip(path: Path, frames: int) -> Path:
    """A portrait (scikit-image's astronaut) drifting over a gradient, with a moving bar."""
    from PIL import Image
    from skimage import data

    face = np.asarray(Image.fromarray(data.astronaut()).resize((160, 160)))
    base = np.empty((H, W, 3), np.uint8)
    base[...] = np.linspace(40, 200, W, dtype=np.uint8)[None, :, None]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            img = base.copy()
            x = 40 + (i * 3) % (W - 240)
            img[100:260, x : x + 160] = face
            img[:, (i * 7) % (W - 10) :][:, :10] = (0, 200, 0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def proc_stats(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS", "VmHWM"))
    }
    return {
        "rss_mb": kb["VmRSS"] // 1024,
        "hwm_mb": kb["VmHWM"] // 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


class Client:
    def __init__(self, base: str, token: str, job: str, frames: int, seed: int) -> None:
        self.s = requests.Session()
        self.s.headers["X-Veil-Token"] = token
        self.base, self.job, self.frames = base, job, frames
        self.rng = random.Random(seed)
        self.mine: int | None = None
        self.requests: list[float] = []  # each write request on its own, retries included
        self.seen = self.get(f"/jobs/{job}/project").json()["project_version"]

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.s.get(self.base + path, timeout=60, **kw)

    def post(self, path: str, body: Any = None) -> requests.Response:
        for _ in range(20):
            t0 = time.perf_counter()
            r = self.s.post(
                self.base + path, json=body, headers={"If-Match": f'"{self.seen}"'}, timeout=60
            )
            self.requests.append(time.perf_counter() - t0)  # one POST, answered 200 or 409
            if r.status_code == 409 and "changed by another" in r.text:
                self.seen = self.get(f"/jobs/{self.job}/project").json()["project_version"]
                continue
            if r.ok and "project_version" in r.json():
                self.seen = r.json()["project_version"]
            return r
        return r

    def step(self, times: dict[str, list[float]], codes: Counter) -> None:
        roll = self.rng.random()
        t0 = time.perf_counter()
        if roll < 0.6:
            kind = "frame"
            f = self.rng.randrange(self.frames)
            r = self.get(f"/jobs/{self.job}/frames/{f}", params={"masked": roll < 0.3})
        elif roll < 0.9:
            kind = "edit"
            x, y = self.rng.uniform(0, W - 60), self.rng.uniform(0, H - 40)
            box = [x, y, x + 60, y + 40]
            if self.mine is None:
                body = {"op": "add_track", "label": "logo", "frame": 0, "box": box}
            elif self.rng.random() < 0.7:
                f = self.rng.randrange(self.frames)
                body = {"op": "set_keyframe", "track": self.mine, "frame": f, "box": box}
            else:
                method = self.rng.choice(["fill", "blur", "pixelate"])
                body = {"op": "set_style", "track": self.mine, "method": method}
            r = self.post(f"/jobs/{self.job}/edit", body)
            if r.ok and body["op"] == "add_track":
                self.mine = r.json()["changed"][0]["id"]
            elif r.status_code == 400:
                self.mine = None  # its region was undone by another client
        else:
            kind = "undo/redo"
            r = self.post(f"/jobs/{self.job}/{self.rng.choice(['undo', 'redo'])}")
        times.setdefault(kind, []).append(time.perf_counter() - t0)
        codes[f"{kind} {r.status_code}"] += 1


def wait(c: Client, job: str) -> dict[str, Any]:
    while True:
        s = c.get(f"/jobs/{job}").json()
        if s["task"] is None:
            return s
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/veil-serve-load"))
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=20.0, help="long session: requests per second")
    ap.add_argument("--sample-s", type=float, default=60.0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()

    folder = a.workdir / "media"
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / f"clip{a.frames}.mp4"
    if not clip.exists():
        make_clip(clip, a.frames)
    proc, url, token = start_server(folder, [])
    base = url.split("#")[0].rstrip("/") + "/api"
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "clip": f"{W}x{H}, {a.frames} frames",
    }
    try:
        s = requests.Session()
        s.headers["X-Veil-Token"] = token
        job = s.post(base + "/jobs", json={"path": clip.name}).json()["id"]
        s.post(base + f"/jobs/{job}/detect")
        while s.get(base + f"/jobs/{job}").json()["task"] is not None:
            time.sleep(0.2)
        result["start"] = proc_stats(proc.pid)

        # 1. load
        times: dict[str, list[float]] = {}
        codes: Counter = Counter()
        clients = [Client(base, token, job, a.frames, i) for i in range(a.clients)]
        end = time.monotonic() + a.seconds
        lock = threading.Lock()

        def run(c: Client) -> None:
            mine: dict[str, list[float]] = {}
            seen: Counter = Counter()
            while time.monotonic() < end:
                c.step(mine, seen)
            with lock:
                for k, v in mine.items():
                    times.setdefault(k, []).extend(v)
                codes.update(seen)

        threads = [threading.Thread(target=run, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        other = s.post(base + "/jobs", json={"path": clip.name}).json()["id"]
        busy = {
            "render": s.post(base + f"/jobs/{job}/render").status_code,
            "detect": s.post(base + f"/jobs/{other}/detect").status_code,
        }
        for t in threads:
            t.join()
        actions = sum(len(v) for v in times.values())  # as the users saw them
        times["write request (one POST)"] = [x for c in clients for x in c.requests]
        result["load"] = {
            "clients": a.clients,
            "seconds": a.seconds,
            "actions": actions,
            "latency_ms": {
                k: {
                    "n": len(v),
                    "p50": round(1000 * statistics.median(v), 1),
                    "p95": round(1000 * pct(v, 0.95), 1),
                    "max": round(1000 * max(v), 1),
                }
                for k, v in sorted(times.items())
            },
            "statuses": dict(sorted(codes.items())),
            "render_and_detect_queued": busy,
            "after": proc_stats(proc.pid),
        }
        wait(clients[0], job)
        wait(clients[0], other)

        # 2. long session
        one = Client(base, token, job, a.frames, 999)
        samples = [{"t_s": 0, **proc_stats(proc.pid)}]
        t_start = time.monotonic()
        n = 0
        lat: list[float] = []
        seen2: Counter = Counter()
        next_sample = a.sample_s
        while (elapsed := time.monotonic() - t_start) < 60 * a.minutes:
            mine: dict[str, list[float]] = {}
            one.step(mine, seen2)
            lat += [x for v in mine.values() for x in v]
            n += 1
            if elapsed >= next_sample:
                samples.append({"t_s": round(elapsed), **proc_stats(proc.pid)})
                next_sample += a.sample_s
            time.sleep(max(0.0, n / a.rate - (time.monotonic() - t_start)))
        samples.append({"t_s": round(time.monotonic() - t_start), **proc_stats(proc.pid)})
        result["long_session"] = {
            "minutes": a.minutes,
            "requests": n,
            "p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
            "p95_ms": round(1000 * pct(lat, 0.95), 1) if lat else None,
            "statuses": dict(sorted(seen2.items())),
            "samples": samples,
        }
    finally:
        proc.terminate()
        proc.wait(60)
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
