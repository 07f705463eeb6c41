"""Review in the real browser: a scripted reviewer on the real clips, and 2,000 tracks' speed.

Needs chromium (/usr/bin/chromium) and Playwright. Two parts:

* ``--clips tokyo_street,uk_plate_car``: each clip's cached project (see
  benchmarks/review_clips.py, same cache) is served by ``veil serve``'s app; a
  scripted reviewer who knows the ground truth uses the grid: G opens it, one
  click puts the slider at the safe threshold (the highest that keeps every
  annotated face and every true track's frames masked, floored to the slider's
  0.01 steps), Enter and Enter apply it with the prefilled reason; then, within
  a budget of ``--budget`` actions in all, the state filter is set to "masked"
  and the weakest remaining false tracks are clicked (Ctrl) and turned off (X,
  Enter). A second reviewer ("place") sorts the grid by place in the frame (top or
  bottom first), clicks the first track and Shift+clicks the last of the run of
  false tracks there, then X, Enter. A third ("area") applies the safe threshold as the
  first does, then sorts the grid by masked area and turns off the one run there that is
  safe to turn off and takes the most area (benchmarks/review_clips.py, ``Safety``: no
  annotated face loses its mask, a true track goes only where another covers it on every
  frame; tracks on ``ignore`` faces may go). A fourth ("band") applies the safe threshold,
  then types one bound of the size filter and applies a second, stricter threshold to that
  band only (``review_clips.band_plan`` picks the band and the threshold). A fifth ("map")
  drags boxes on the evidence map (size across, evidence up), each selecting the weak tracks
  of a size band, and turns each box's tracks off with X, Enter (``review_clips.map_plan``
  picks the boxes, greedily, under the same ``Safety``). Actions (clicks
  and keys) and seconds are counted (no thinking time: the machine's part only), then the
  project the server holds is scored: masked share (union of the enabled boxes on the
  annotated frames), annotated faces left unmasked, false tracks left masked.
* ``--synthetic 2000``: a 300-frame clip with N random tracks; the time from an
  action to the frame that shows its answer (the next animation frame and the task
  after it), p50/p95 over
  repeated actions: slider moves (server preview included), arrow keys, Shift
  selection, Space, a click, a filter and a sort change, scrolling, a box dragged on
  the evidence map.

    python benchmarks/review_browser.py --clips tokyo_street,uk_plate_car --synthetic 2000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import review_clips as rc  # noqa: E402
from bench_info import commit

from veil.evaluate.dataset import load_dataset  # noqa: E402
from veil.media import video as video_io  # noqa: E402
from veil.project import FileEntry, Keyframe, Project, Track  # noqa: E402
from veil.web.app import create_app  # noqa: E402
from veil.web.frames import FrameSource, ProxyWriter  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

HERE = Path(__file__).resolve().parent
TOKEN = "review-bench-token"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def serve(manager: JobManager):
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = uvicorn.Config(
        create_app(manager, TOKEN), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(cfg)
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    return srv, th, f"http://127.0.0.1:{port}/#token={TOKEN}"


def inject(manager: JobManager, video: Path, entry: FileEntry):
    """A job on ``video`` holding ``entry`` and a proxy made by decoding it (no detection)."""
    job = manager.create(video, video.name)
    proxy = job.folder / "proxy.mkv"
    writer = ProxyWriter(proxy, entry.width, entry.height)
    n = 0
    with video_io.iter_frames(video) as frames:
        for f in frames:
            writer.add(f.image)
            n += 1
    writer.close()
    with job.lock:
        job.project = Project([dataclasses.replace(entry, file=video.name)])
        job.frames = FrameSource(proxy, n)
        job.state = "ready"
        job.revision += 1
    return job


class Counter:
    def __init__(self, page) -> None:
        self.page, self.n = page, 0

    def key(self, k: str) -> None:
        self.n += 1
        self.page.keyboard.press(k)

    def click(self, sel: str, **kw) -> None:
        self.n += 1
        self.page.click(sel, **kw)


def place_run(entry: FileEntry, truth: rc.Truth) -> tuple[str, list[int]]:
    """The longest run of false tracks at the start of the grid sorted by place (top or bottom
    of the frame first): what one click and one Shift+click select."""
    from veil.project import review as rv

    stats = rv.StatsCache().all(entry)
    best: tuple[str, list[int]] = ("top", [])
    for name, key in (("top", lambda s: (s.cy, s.id)), ("bottom", lambda s: (-s.cy, s.id))):
        run = []
        for st in sorted(stats, key=key):
            if truth.labels[st.id] != "false":
                break
            run.append(st.id)
        if len(run) > len(best[1]):
            best = (name, run)
    return best


def budget_run(
    entry: FileEntry, truth: rc.Truth, off: set[int], cols: int, rows: int, spare: int
) -> list[int]:
    """The area reviewer's run, within ``spare`` actions beyond click, Shift+click, X, Enter:
    one per turn of the wheel (the first ``rows`` rows of ``cols`` cells are in sight; a turn
    of 600 px shows 5 rows more) and one to confirm tracks rated very likely a face. The run
    that leaves the least masked share among those that fit."""
    from veil.project import review as rv

    safety = rc.Safety(entry, truth)
    keep = safety.on - off
    order = rc.area_order(entry)
    likely = {t.id for t in entry.tracks.values() if rv.likely_face(t)}
    in_sight, per_turn = cols * rows, cols * 5
    frames = sorted(truth.gt)
    best: tuple[float, list[int]] = (math.inf, [])
    for turns in range(spare + 1):
        for avoid, confirm in ((likely, 0), (set(), 1)):
            if turns + confirm > spare:
                continue
            end = in_sight + turns * per_turn
            i, j = rc.best_run(entry, order, keep, safety, avoid, end)
            share = rc.masked_share(entry, frames, keep - set(order[i:j]))
            best = min(best, (share, order[i:j]), key=lambda b: b[0])
    return best[1]


def below_grid(page, track: int) -> float:
    """How far (px) the grid cell of ``track`` reaches below the grid's visible part (0: in
    sight), from its place in the grid's order (review.js draws only the rows near the view)."""
    return float(
        page.evaluate(
            """(id) => { const g = document.getElementById('gv-grid');
            const row = Math.floor(R.list.indexOf(id) / R.cols);
            return Math.max(0, (row + 1) * CELL_H - g.scrollTop - g.clientHeight); }""",
            track,
        )
    )


def review_clip(pw, video, cache: Path, budget: int, strategy: str = "threshold") -> dict:
    path = Path(video.file)
    entry = rc.project_for(cache, path).files[0]
    truth = rc.label_tracks(entry, video)
    plan = rc.review_plan(entry, truth)
    x = math.floor(plan["threshold"] * 100 + 1e-9) / 100
    tmp = Path(tempfile.mkdtemp(prefix="veil-review-bench-"))
    manager = JobManager(path.parent, workdir=tmp)
    job = inject(manager, path, entry)
    srv, th, url = serve(manager)
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page.set_default_timeout(120_000)
    try:
        page.goto(url)
        page.click("#jobs button")
        page.wait_for_selector("#tracks li")
        c = Counter(page)
        t0 = time.perf_counter()
        page.focus("body")
        c.key("g")
        page.wait_for_selector(".gcell")
        if strategy == "place":
            # sort by place, click the first track, Shift+click the last false one of the run
            side, run = place_run(entry, truth)
            c.n += 2  # open the sort select, pick the order
            page.select_option("#gv-sort", side)
            if run:
                c.click(f'.gcell[data-track="{run[0]}"]')
                last = f'.gcell[data-track="{run[-1]}"]'
                if not page.locator(last).count():
                    c.n += 1  # one turn of the wheel over the grid
                    page.hover("#gv-grid")
                    page.mouse.wheel(0, 600)
                    page.wait_for_selector(last)
                c.click(last, modifiers=["Shift"])
                c.key("x")
                page.wait_for_selector("#bulk-dialog[open]")
                c.key("Enter")
                page.wait_for_selector(f'.gcell.off[data-track="{run[-1]}"]')

        def decide(key: str, done: str) -> None:
            """``key`` (Enter on the slider, X on a selection) asks for the reason; Enter keeps
            the prefilled one; the confirmation for tracks rated very likely a face, when the
            page asks, is one click; then wait until ``done`` (a JS condition) holds."""
            c.key(key)
            page.wait_for_selector("#bulk-dialog[open]")
            c.key("Enter")
            page.wait_for_selector("#bulk-dialog", state="hidden")
            asks = "document.querySelector('#confirm-dialog[open]') !== null"
            page.wait_for_function(f"({done}) || {asks}")
            if page.locator("#confirm-dialog[open]").count():
                c.click("#confirm-ok")
                page.wait_for_function(done)

        def slide(x: float) -> None:
            """One click on the slider where X lies (the thumb's travel is the track less its
            width), then Enter and Enter to apply it with the prefilled reason."""
            box = page.locator("#gv-slider").bounding_box()
            assert box is not None
            thumb = 16
            # the slider's padding (the page's input style) narrows the thumb's travel
            pad = page.evaluate(
                "(() => { const c = getComputedStyle(document.getElementById('gv-slider'));"
                " return [parseFloat(c.paddingLeft), parseFloat(c.paddingRight)]; })()"
            )
            travel = box["width"] - pad[0] - pad[1] - thumb
            px = box["x"] + pad[0] + thumb / 2 + x * travel
            c.n += 1
            page.mouse.click(px, box["y"] + box["height"] / 2)
            for _ in range(20):
                got = float(page.input_value("#gv-slider"))
                if abs(got - x) < 1e-6:
                    break
                c.key("ArrowRight" if got < x else "ArrowLeft")
            page.wait_for_function(
                f"document.getElementById('gv-preview').dataset.threshold === '{x:g}'"
            )
            if not page.is_enabled("#gv-apply"):
                return
            off = page.evaluate("document.querySelectorAll('.gcell.off').length")
            decide("Enter", f"document.querySelectorAll('.gcell.off').length > {off}")

        if strategy in ("threshold", "area", "band"):
            slide(x)
        if strategy == "band":
            # a second, stricter threshold on one size band: the size filter, then the slider
            t1 = time.perf_counter()  # the reviewer's choice is thinking time: not counted
            band = rc.band_plan(entry, truth, budget)
            t0 += time.perf_counter() - t1
            if "band_threshold" in band:
                field, bound = (
                    ("#gv-min", band["min_size"])
                    if band["min_size"] is not None
                    else ("#gv-max", band["max_size"])
                )
                c.click(field)
                for ch in f"{bound:g}":
                    c.key(ch)
                slide(band["band_threshold"])
        if strategy == "map":
            # boxes dragged on the evidence map, each then turned off with X, Enter
            t1 = time.perf_counter()  # the reviewer's choice is thinking time: not counted
            boxes = rc.map_plan(entry, truth, budget)["boxes"]
            t0 += time.perf_counter() - t1
            page.locator("#gv-map").scroll_into_view_if_needed()
            canvas = page.locator("#gv-map").bounding_box()
            assert canvas is not None
            k = canvas["width"] / rc.MAP_W
            for b in boxes:
                c.n += 1  # one drag: press, move, release
                page.mouse.move(canvas["x"] + b["x0"] * k, canvas["y"] + (rc.MAP_H - 1) * k)
                page.mouse.down()
                page.mouse.move(canvas["x"] + b["x1"] * k, canvas["y"] + b["y0"] * k, steps=4)
                page.mouse.up()
                n = len(b["selects"])
                page.wait_for_function(
                    f"document.getElementById('gv-sel').textContent.startsWith('{n} ')"
                )
                decide("x", f"{json.dumps(b['off'])}.every((i) => !S.tracks.get(i).enabled)")
        run = []
        if strategy == "area" and plan["residual_false"]:  # false tracks left to find
            # sort by masked area; one run there: click its first track, Shift+click its last
            c.n += 2  # open the sort select, pick the order
            page.select_option("#gv-sort", "area")
            cols, rows = page.evaluate(
                "[R.cols, Math.floor(document.getElementById('gv-grid').clientHeight / CELL_H)]"
            )
            t1 = time.perf_counter()  # the reviewer's choice is thinking time: not counted
            run = budget_run(entry, truth, set(plan["off"]), cols, rows, budget - c.n - 4)
            t0 += time.perf_counter() - t1
        if run:
            c.click(f'.gcell[data-track="{run[0]}"]')
            last = f'.gcell[data-track="{run[-1]}"]'
            for _ in range(5):  # a turn of the wheel (at most 600 px) while it is out of sight
                need = below_grid(page, run[-1])
                if need <= 0:
                    break
                c.n += 1
                page.hover("#gv-grid")
                page.mouse.wheel(0, min(600, need + 8))
                page.wait_for_timeout(100)
            c.click(last, modifiers=["Shift"])
            decide("x", f"document.querySelector('.gcell.off[data-track=\"{run[-1]}\"]') !== null")
        # the weakest false tracks still masked, one by one, while the budget lasts
        left = budget - c.n - 2 - 2  # X and Enter at the end; the state filter
        residual = plan["residual_false"][: max(0, left)] if strategy == "threshold" else []
        if residual:
            c.n += 2  # open the select, pick "masked"
            page.select_option("#gv-state", "on")
            for k, tid in enumerate(residual):
                c.click(f'.gcell[data-track="{tid}"]', modifiers=["Control"] if k else [])
            c.key("x")
            page.wait_for_selector("#bulk-dialog[open]")
            c.key("Enter")
            page.wait_for_function(
                f"!document.querySelector('.gcell[data-track=\"{residual[-1]}\"]')"
            )
        seconds = time.perf_counter() - t0
    finally:
        browser.close()
        srv.should_exit = True
        th.join(timeout=30)
    with job.lock:
        after = job.project.entry(path.name)
    kept = {t.id for t in after.tracks.values() if t.enabled}
    frames = sorted(truth.gt)
    false_total = sum(v == "false" for v in truth.labels.values())
    manager.shutdown()
    return {
        "clip": path.name,
        "strategy": strategy,
        "tracks": len(entry.tracks),
        "false": false_total,
        "threshold": x if strategy in ("threshold", "area", "band") else None,
        "actions": c.n,
        "seconds": round(seconds, 2),
        "false_left_masked": sum(truth.labels[i] == "false" for i in kept),
        "true_turned_off": sum(truth.labels[i] == "true" for i in set(after.tracks) - kept),
        "masked_share_before": rc.masked_share(entry, frames, set(entry.tracks)),
        "masked_share_after": rc.masked_share(after, frames, kept),
        "objects_share": rc.objects_share(entry, truth, ignore=False),
        "faces_unmasked_before": rc.faces_unmasked(entry, truth, set(entry.tracks)),
        "faces_unmasked_after": rc.faces_unmasked(after, truth, kept),
        "ignore_boxes_unmasked_before": rc.faces_unmasked(
            entry, truth, set(entry.tracks), ignore=True
        ),
        "ignore_boxes_unmasked_after": rc.faces_unmasked(after, truth, kept, ignore=True),
        "decisions": [d.what for d in after.decisions],
    }


# -- 2,000 tracks -----------------------------------------------------------------------------
def synthetic(folder: Path, n_tracks: int, frames: int = 300, w: int = 640, h: int = 360):
    rng = np.random.default_rng(25)
    video = folder / "synthetic.mp4"
    base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(video), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "30"}
        for i in range(frames):
            img = np.roll(base, i, axis=1)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode(None))
    tracks = {}
    for tid in range(1, n_tracks + 1):
        size = float(rng.uniform(8, 40))
        x0, y0 = rng.uniform(0, w - size), rng.uniform(0, h - size)
        first = int(rng.integers(0, frames - 10))
        length = int(rng.integers(5, 60))
        vx, vy = rng.normal(0, 0.5, 2)
        kfs = []
        for f in range(first, min(frames, first + length)):
            x = float(np.clip(x0 + vx * (f - first), 0, w - size))
            y = float(np.clip(y0 + vy * (f - first), 0, h - size))
            kfs.append(Keyframe(f, (x, y, x + size, y + size * 1.2)))
        label = "face" if rng.random() < 0.9 else "plate"
        tracks[tid] = Track(tid, label, "auto", tuple(kfs), seed=tid, score=float(rng.beta(2, 5)))
    entry = FileEntry(
        file=video.name, kind="video", sha256=rc_sha(video), frames=frames, width=w, height=h,
        tracks=tracks, fps="25", time_base="1/25", times=tuple(i / 25 for i in range(frames)),
    )  # fmt: skip
    return video, entry


def rc_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


MEASURE = """
async ([what, reps]) => {
  // the frame that shows the answer: its rendering starts after rAF, ends before the task after
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const grid = document.getElementById('gv-grid');
  const key = (k, opts = {}) => grid.dispatchEvent(new KeyboardEvent('keydown',
      Object.assign({ key: k, bubbles: true, cancelable: true }, opts)));
  const out = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    if (what === 'slider') {
      const s = document.getElementById('gv-slider');
      const v = String(Math.round((0.05 + 0.9 * ((i * 37) % reps) / reps) * 100) / 100);
      if (s.value === v) continue;
      s.value = v; s.dispatchEvent(new Event('input'));
      while (document.getElementById('gv-preview').dataset.threshold !== v)
        await new Promise((r) => setTimeout(r, 1));
      await frame();
    } else if (what === 'arrow') { key(i % 2 ? 'ArrowDown' : 'ArrowRight'); await frame(); }
    else if (what === 'shift') { key('ArrowRight', { shiftKey: true }); await frame(); }
    else if (what === 'space') { key(' '); await frame(); }
    else if (what === 'click') {
      const cells = document.querySelectorAll('.gcell');
      const c = cells[(i * 7) % cells.length];
      c.dispatchEvent(new MouseEvent('mousedown', { bubbles: true, ctrlKey: true }));
      await frame();
    } else if (what === 'filter') {
      const s = document.getElementById('gv-class'); s.value = ['face', 'plate', 'all'][i % 3];
      s.dispatchEvent(new Event('change')); await frame();
    } else if (what === 'sort') {
      const s = document.getElementById('gv-sort');
      s.value = ['evidence', '-evidence', 'size', '-size', 'area', 'id'][i % 6];
      s.dispatchEvent(new Event('change')); await frame();
    } else if (what === 'map') {  // a box dragged on the evidence map, down to its answer
      const c = document.getElementById('gv-map'); const r = c.getBoundingClientRect();
      const at = (type, x, y) => c.dispatchEvent(new PointerEvent(type, { bubbles: true,
        clientX: r.left + x, clientY: r.top + y, pointerId: 1, button: 0, isPrimary: true }));
      const x0 = 20 + (i * 13) % 200, x1 = x0 + 100 + (i * 7) % 150, y1 = 30 + (i * 11) % 90;
      at('pointerdown', x0, 140); at('pointermove', x1, y1); at('pointerup', x1, y1);
      await frame();
    } else if (what === 'scroll') {
      grid.scrollTop = (i * 997) % Math.max(1, grid.scrollHeight - grid.clientHeight);
      await frame();
    }
    out.push(performance.now() - t0);
  }
  return out;
}
"""


def responsiveness(pw, n_tracks: int, reps: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="veil-review-2000-"))
    video, entry = synthetic(tmp, n_tracks)
    manager = JobManager(tmp, workdir=tmp)
    inject(manager, video, entry)
    srv, th, url = serve(manager)
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page.set_default_timeout(120_000)
    out: dict = {"tracks": n_tracks}
    try:
        page.goto(url)
        page.click("#jobs button")
        page.wait_for_selector("#tracks li")
        t0 = time.perf_counter()
        page.keyboard.press("g")
        page.wait_for_selector(".gcell")
        page.wait_for_function("document.getElementById('gv-preview').dataset.threshold === '0'")
        out["open_grid_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        page.focus("#gv-grid")
        for what in (
            "slider", "arrow", "shift", "space", "click", "filter", "sort", "scroll", "map"
        ):  # fmt: skip
            ms = np.array(page.evaluate(MEASURE, [what, reps]))
            out[what] = {
                "n": len(ms),
                "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p95_ms": round(float(np.percentile(ms, 95)), 1),
                "max_ms": round(float(ms.max()), 1),
            }
        # one bulk edit of every track (select all, turn off; confirm the likely faces among
        # them), then undo: from the last key to the grid showing the answer
        page.focus("#gv-grid")
        page.keyboard.press("Control+a")
        page.keyboard.press("x")
        page.wait_for_selector("#bulk-dialog[open]")
        page.keyboard.press("Enter")
        page.wait_for_selector("#confirm-dialog[open]")
        t1 = time.perf_counter()
        page.click("#confirm-ok")
        page.wait_for_function("document.querySelectorAll('.gcell.off').length > 0")
        out["bulk_off_all_ms"] = round(1000 * (time.perf_counter() - t1), 1)
        t1 = time.perf_counter()
        page.keyboard.press("Control+z")
        page.wait_for_function("document.querySelectorAll('.gcell.off').length === 0")
        out["undo_all_ms"] = round(1000 * (time.perf_counter() - t1), 1)
    finally:
        browser.close()
        srv.should_exit = True
        th.join(timeout=30)
        manager.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotations", type=Path, default=HERE / "real_videos" / "annotations.json")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/review25"))
    ap.add_argument("--clips", default="", help="comma-separated clip stems")
    ap.add_argument("--budget", type=int, default=10, help="actions per clip")
    ap.add_argument(
        "--strategies",
        default="threshold,place,area,band",
        help="threshold (slider, then clicks), place (a run by place), area (slider, then a run "
        "by masked area), band (slider, then a stricter one on one size band), map (boxes "
        "dragged on the evidence map)",
    )
    ap.add_argument("--synthetic", type=int, default=0, help="tracks in the speed test (0: skip)")
    ap.add_argument("--reps", type=int, default=40)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rev = commit()
    print(f"veil review in chromium; {time.strftime('%Y-%m-%d %H:%M')} {platform.machine()} "
          f"commit {rev}", flush=True)  # fmt: skip
    with sync_playwright() as pw:
        if args.clips:
            ds = load_dataset(args.annotations, check_files=False)
            wanted = set(args.clips.split(","))
            for v in ds.videos:
                if Path(v.file).stem in wanted and Path(v.file).is_file():
                    for strategy in args.strategies.split(","):
                        r = review_clip(pw, v, args.cache, args.budget, strategy)
                        print(json.dumps(r), flush=True)
        if args.synthetic:
            print(json.dumps(responsiveness(pw, args.synthetic, args.reps)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
