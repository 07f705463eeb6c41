"""Is a 10-minute 1080p video reviewable in ``veil serve``? Memory, frame latency, page speed.

Generates (once, kept in --workdir, never in the repository) a 1920x1080 H.264
clip at 25 fps with a keyframe every 250 frames: ffmpeg's ``testsrc2`` pattern
with three copies of a real portrait (scikit-image's astronaut) and a plate-like
sign moving over it, the portraits coming and going so that tracks begin and
end all through the clip. Then, against ``veil serve`` started as its own
process (``python -m veil serve``, default settings unless --serve-args says
otherwise):

1. create a job on the clip and run detection through the API to the end;
2. review: GET the project; fetch random distinct frames across the whole
   clip, original and masked preview; fetch every track's thumbnail;
3. open the review screen in Chromium (Playwright, Debian's /usr/bin/chromium):
   time to a drawn first frame with the track list and timeline, keyboard
   frame steps (F, Shift+F) until the new frame is on screen, the time the
   page takes to rebuild the track list and timeline, and its JS heap.

The server's resident memory is sampled from /proc/PID/status all along
(VmRSS every 0.2 s; VmHWM, the kernel's own peak, at the end of each phase).

    nice -n 19 python benchmarks/web_long.py [--minutes 10] [--serve-args "--detect-every 8"]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

W, H, FPS, GOP = 1920, 1080, 25, 250
CHROMIUM = Path("/usr/bin/chromium")


# -- the clip -------------------------------------------------------------------------
def _stills(folder: Path) -> tuple[Path, Path]:
    from skimage import data

    face = folder / "face.png"
    Image.fromarray(data.astronaut()).resize((300, 300)).save(face)
    plate = folder / "plate.png"
    im = Image.new("RGB", (220, 50), (235, 235, 235))
    ImageDraw.Draw(im).rectangle((0, 0, 219, 49), outline=(0, 0, 0), width=3)
    ImageDraw.Draw(im).text((22, 12), "VE11 LNG", fill=(0, 0, 0), font_size=28)
    im.save(plate)
    return face, plate


def make_clip(path: Path, minutes: float) -> None:
    """The synthetic clip, encoded by ffmpeg (13 minutes for 10 minutes on the loaded 2-core VM)."""
    seconds = minutes * 60
    face, plate = _stills(path.parent)
    graph = (
        "[1]split=3[a][b][c];[b]scale=200:200[b2];[c]scale=140:140[c2];"
        "[0][a]overlay=x='100+mod(t*60,1400)':y='150+80*sin(t/3)':"
        "enable='lt(mod(t,20),12)':shortest=1[v1];"
        "[v1][b2]overlay=x='1500-mod(t*45,1300)':y=600:enable='lt(mod(t+7,20),12)'[v2];"
        "[v2][c2]overlay=x=900:y='300+mod(t*30,500)':enable='lt(mod(t+13,17),10)'[v3];"
        "[v3][2]overlay=x='mod(t*90,1600)':y=960[v]"
    )
    cmd = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate={FPS}:duration={seconds}",
        "-loop", "1", "-framerate", str(FPS), "-i", str(face),
        "-loop", "1", "-framerate", str(FPS), "-i", str(plate),
        "-filter_complex", graph, "-map", "[v]", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
        str(path),
    ]  # fmt: skip
    tmp = path.with_suffix(".part.mp4")
    cmd[-1] = str(tmp)
    subprocess.run(cmd, check=True)
    tmp.rename(path)


# -- the server and its memory ----------------------------------------------------------
class Memory:
    """Samples a process's VmRSS; the peak is kept per phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.phase = "start"
        self.peak_rss: dict[str, int] = {}
        self.hwm: dict[str, int] = {}
        self.series: list[tuple[float, str, int]] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def read(self) -> dict[str, int]:
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) // 1024  # MiB
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                rss = self.read()["VmRSS"]
            except (OSError, KeyError):
                return
            self.peak_rss[self.phase] = max(self.peak_rss.get(self.phase, 0), rss)
            if not self.series or time.monotonic() - self._t0 - self.series[-1][0] >= 5:
                self.series.append((time.monotonic() - self._t0, self.phase, rss))

    def end_phase(self, next_phase: str) -> None:
        self.hwm[self.phase] = self.read()["VmHWM"]
        self.phase = next_phase

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def start_server(folder: Path, extra: list[str]) -> tuple[subprocess.Popen, str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "veil", "serve", str(folder), "--port", str(port), *extra],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    end = time.monotonic() + 120
    url = None
    while url is None and time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("veil serve exited before printing its URL")
        m = re.search(r"(http://\S+#token=(\S+))", line)
        if m:
            url, token = m.group(1), m.group(2)
    if url is None:
        raise SystemExit("veil serve printed no URL")
    # keep draining its log so that the pipe never fills
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()  # type: ignore[union-attr]
    base = url.split("#")[0].rstrip("/")
    for _ in range(100):  # the URL is printed just before uvicorn binds
        try:
            urllib.request.urlopen(base + "/", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    return proc, url, token


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.base = url.split("#")[0].rstrip("/") + "/api"
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("X-Veil-Token", self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        return json.loads(self.call(method, path, body))


def pct(v: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(v) * 1000, q))


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


# -- the page ------------------------------------------------------------------------------
def page_figures(url: str, job_id: str, frames: int, tracks: int, steps: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    label = "document.getElementById('frame-label').dataset.frame"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
        pg = ctx.new_page()
        pg.set_default_timeout(180_000)
        thumbs: list[float] = []
        pg.on(
            "requestfinished",
            lambda r: thumbs.append(time.perf_counter()) if "/thumbnail" in r.url else None,
        )
        pg.goto(url)
        pg.wait_for_selector("#jobs button")
        t0 = time.perf_counter()
        pg.click("#jobs button")
        pg.wait_for_function(f"{label} === '0'")
        out["open_s"] = time.perf_counter() - t0
        # the lists are virtual: the page knows every track, but builds rows near the view only
        known = pg.evaluate("S.order.length")
        assert known == tracks, (known, tracks)
        out["track_rows"] = pg.locator("#tracks li").count()
        out["timeline_rows"] = pg.locator("#timeline .trow").count()
        # thumbnails load for the rows in view only: wait until they stop arriving
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            seen = len(thumbs)
            pg.wait_for_timeout(1500)
            if len(thumbs) == seen:
                break
        out["thumbs_done_s"] = (max(thumbs) - t0) if thumbs else None
        out["thumbs"] = len(thumbs)
        # keyboard stepping: each step timed until the new frame is drawn
        pg.focus("#view")
        start = frames // 2
        pg.evaluate(f"seek({start})")
        pg.wait_for_function(f"{label} === '{start}'")
        for key, step, name in (("f", 1, "step1"), ("Shift+F", 10, "step10")):
            times = []
            for _ in range(steps):
                cur = int(pg.evaluate(label))
                t = time.perf_counter()
                pg.keyboard.press(key)
                pg.wait_for_function(f"{label} === '{cur + step}'", polling="raf")
                times.append(time.perf_counter() - t)
            out[name] = times
        # a jump across the clip by clicking the first track's timeline row far right
        row = pg.locator("#timeline .trow").first.bounding_box()
        t = time.perf_counter()
        pg.mouse.click(row["x"] + row["width"] * 0.9, row["y"] + row["height"] / 2)
        pg.wait_for_function(f"Number({label}) > {int(frames * 0.85)}", polling="raf")
        out["timeline_jump_s"] = time.perf_counter() - t
        # the page rebuilding its track list and timeline (what every edit does)
        rebuild = pg.evaluate(
            "() => { const r = []; for (let i = 0; i < 5; i++) { S.ranges = new Map();"
            " const t = performance.now(); renderTracks(); renderTimeline();"
            " r.push(performance.now() - t); } return r; }"
        )
        out["rebuild_ms"] = rebuild
        draw_ms = pg.evaluate(
            "() => { const t = performance.now(); for (let i = 0; i < 20; i++) draw();"
            " return (performance.now() - t) / 20; }"
        )
        out["draw_ms"] = draw_ms
        # an edit from the page, round trip: the server's edit and save, the page's update
        out["edit_ms"] = pg.evaluate(
            "async () => { const id = sortedTracks()[0].id; const r = [];"
            " for (const m of ['fill', 'pixelate', 'fill', 'pixelate', null]) {"
            " const t = performance.now(); await edit({ op: 'set_style', track: id, method: m });"
            " r.push(performance.now() - t); } return r; }"
        )
        out["js_heap_mb"] = pg.evaluate("performance.memory.usedJSHeapSize") / 2**20
        out["dom_nodes"] = pg.evaluate("document.getElementsByTagName('*').length")
        ctx.close()
        browser.close()
    return out


# -- the run ----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/veil-web-long"))
    ap.add_argument("--serve-args", default="", help="extra `veil serve` options")
    ap.add_argument("--requests", type=int, default=200, help="random frames of each kind")
    ap.add_argument("--steps", type=int, default=30, help="keyboard steps of each size")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()

    media = args.workdir / f"{args.minutes:g}min"
    media.mkdir(parents=True, exist_ok=True)
    clip = media / "long1080.mp4"
    if not clip.is_file():
        t0 = time.perf_counter()
        make_clip(clip, args.minutes)
        print(f"clip generated in {time.perf_counter() - t0:.0f} s", flush=True)
    for extra in media.glob("*.png"):
        extra.unlink()
    print(f"clip: {clip} ({clip.stat().st_size / 1e6:.0f} MB)", flush=True)

    proc, url, token = start_server(media, shlex.split(args.serve_args))
    mem = Memory(proc.pid)
    api = Api(url, token)
    fig: dict[str, Any] = {
        "minutes": args.minutes,
        "serve_args": args.serve_args,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}",
    }
    try:
        mem.end_phase("idle")
        fig["rss_start_mb"] = mem.read()["VmRSS"]
        job = api.json("POST", "/jobs", {"path": clip.name})
        jid = job["id"]
        mem.end_phase("detect")
        t0 = time.perf_counter()
        api.json("POST", f"/jobs/{jid}/detect")
        last = 0.0
        while True:
            st = api.json("GET", f"/jobs/{jid}")
            if st["task"] is None:
                break
            if time.perf_counter() - last > 60:
                last = time.perf_counter()
                print(
                    f"  detect {st['done']}/{st['total']} after {last - t0:.0f} s, "
                    f"server RSS {mem.read()['VmRSS']} MiB",
                    flush=True,
                )
            time.sleep(1)
        if st["state"] != "ready":
            raise SystemExit(f"detection failed: {st['error']}")
        fig["detect_s"] = time.perf_counter() - t0
        fig["frames"] = st["total"]
        mem.end_phase("review")

        took, raw = timed(api.call, "GET", f"/jobs/{jid}/project")
        project = json.loads(raw)
        entry = project["project"]["files"][0]
        fig["project_get_ms"] = took * 1000
        fig["project_bytes"] = len(raw)
        fig["tracks"] = len(entry["tracks"])
        fig["keyframes"] = sum(len(t["keyframes"]) for t in entry["tracks"])
        frames = entry["frames"]
        rng = random.Random(1)
        for kind, q in (("original", "false"), ("masked", "true")):
            order = rng.sample(range(frames), min(args.requests, frames))
            times = [timed(api.call, "GET", f"/jobs/{jid}/frames/{i}?masked={q}")[0] for i in order]
            fig[f"frame_{kind}"] = times
        thumbs = []
        for t in rng.sample(entry["tracks"], min(50, len(entry["tracks"]))):
            thumbs.append(timed(api.call, "GET", f"/jobs/{jid}/tracks/{t['id']}/thumbnail")[0])
        fig["thumbs_api"] = thumbs
        # edits through the API: each saves the project; then a masked frame must follow it
        longest = max(entry["tracks"], key=lambda t: len(t["keyframes"]))
        edits, after = [], []
        for i in range(10):
            body = {"op": "set_style", "track": longest["id"], "method": ["fill", "blur"][i % 2]}
            edits.append(timed(api.call, "POST", f"/jobs/{jid}/edit", body)[0])
            f = rng.randrange(frames)
            after.append(timed(api.call, "GET", f"/jobs/{jid}/frames/{f}?masked=true")[0])
        fig["edit_api"], fig["masked_after_edit"] = edits, after
        fig["longest_track_keyframes"] = len(longest["keyframes"])
        mem.end_phase("page")
        try:
            fig["page"] = page_figures(url, jid, frames, fig["tracks"], args.steps)
        except Exception as e:  # keep the server figures
            print(f"page measurement failed: {e!r}", flush=True)
            fig["page"] = None
        mem.end_phase("end")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        mem.stop()
    fig["peak_rss_mb"] = mem.peak_rss
    fig["hwm_mb"] = mem.hwm
    fig["rss_series"] = mem.series
    report(fig)
    if args.json:
        args.json.write_text(json.dumps(fig, indent=1))


def report(f: dict[str, Any]) -> None:
    pg = f["page"]
    what = f["serve_args"] or "defaults"
    print(f"\n{f['minutes']:g} min 1080p, {f['frames']} frames; serve {what}")
    print(f"machine: {f['machine']}")
    print(f"detection: {f['detect_s']:.0f} s ({f['frames'] / f['detect_s']:.1f} fps)")
    print(
        "server RSS MiB, peak sampled per phase: "
        + ", ".join(f"{k} {v}" for k, v in f["peak_rss_mb"].items())
        + f"; VmHWM after each: {f['hwm_mb']}"
    )
    print(
        f"project GET: {f['project_bytes'] / 1e6:.2f} MB in {f['project_get_ms']:.0f} ms, "
        f"{f['tracks']} tracks, {f['keyframes']} keyframes"
    )
    for kind in ("original", "masked"):
        v = f[f"frame_{kind}"]
        print(
            f"frame fetch {kind} ({len(v)} random): p50 {pct(v, 50):.0f} ms, "
            f"p95 {pct(v, 95):.0f} ms, max {pct(v, 100):.0f} ms"
        )
    v = f["thumbs_api"]
    print(f"thumbnails ({len(v)} random tracks): p50 {pct(v, 50):.0f} ms, p95 {pct(v, 95):.0f} ms")
    v, w = f["edit_api"], f["masked_after_edit"]
    print(
        f"edit via API (longest track, {f['longest_track_keyframes']} keyframes; saved each time): "
        f"p50 {pct(v, 50):.0f} ms, max {pct(v, 100):.0f} ms; masked frame after each edit "
        f"p50 {pct(w, 50):.0f} ms, max {pct(w, 100):.0f} ms"
    )
    if pg is None:
        return
    print(
        f"page: review screen drawn {pg['open_s'] * 1000:.0f} ms after the click; "
        f"{pg['thumbs']} thumbnails (rows in view) in {pg['thumbs_done_s'] or 0:.1f} s"
    )
    for name in ("step1", "step10"):
        v = pg[name]
        print(
            f"page {name}: p50 {pct(v, 50):.0f} ms, p95 {pct(v, 95):.0f} ms, "
            f"max {pct(v, 100):.0f} ms"
        )
    print(
        f"page: timeline jump {pg['timeline_jump_s'] * 1000:.0f} ms; track list + timeline "
        f"rebuild median {statistics.median(pg['rebuild_ms']):.0f} ms; canvas draw "
        f"{pg['draw_ms']:.1f} ms; JS heap {pg['js_heap_mb']:.0f} MB; {pg['dom_nodes']} nodes "
        f"({pg['track_rows']} track rows, {pg['timeline_rows']} timeline rows built)"
    )
    print(f"page edit round trips (ms): {', '.join(f'{v:.0f}' for v in pg['edit_ms'])}")


if __name__ == "__main__":
    main()
