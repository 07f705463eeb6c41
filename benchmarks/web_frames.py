"""Frame fetch latency of ``veil serve``: arbitrary frames of a 1080p H.264 clip, 250-frame GOP.

Generates the clip (synthetic, moving content), writes the display proxy the
way a detection run does (every decoded frame through :class:`ProxyWriter`),
then asks for frames in random order as the page does when a reviewer jumps
around, each one JPEG-encoded as served. For contrast, the same kind of
request answered by seeking in the original file.

    python benchmarks/web_frames.py [--frames 750] [--requests 200]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from veil.media import video as video_io
from veil.web.frames import FrameSource, ProxyWriter, encode_jpeg

W, H, GOP = 1920, 1080, 250


def make_source(path: Path, frames: int) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {
            "preset": "ultrafast",
            "crf": "23",
            "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0",
        }
        for i in range(frames):
            img = np.roll(base, 6 * i, axis=1)
            img[100:160, 100 + (i % 1500) : 160 + (i % 1500)] = 255
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode(None))


def seek_original(path: Path, index: int) -> np.ndarray:
    """What serving from the original costs: seek to the keyframe, decode up to ``index``."""
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        st.thread_type = "AUTO"
        c.seek(0, stream=st)
        step = 1 / float(st.average_rate)
        target = index * step
        c.seek(int(target / st.time_base), stream=st, backward=True)
        for f in c.decode(st):
            if f.time >= target - step / 2:
                return f.to_ndarray(format="rgb24")
    raise RuntimeError("frame not found")


def pct(v: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(v) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=750)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--original-requests", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, proxy = Path(tmp) / "src.mp4", Path(tmp) / "proxy.mkv"
        t0 = time.perf_counter()
        make_source(src, args.frames)
        print(
            f"source: {W}x{H}, {args.frames} frames, GOP {GOP} ({time.perf_counter() - t0:.1f} s)"
        )
        t0 = time.perf_counter()
        writer = ProxyWriter(proxy, W, H)
        with video_io.iter_frames(src) as reader:
            for f in reader:
                writer.add(f.image)
        writer.close()
        took = time.perf_counter() - t0
        print(
            f"decode + proxy: {took:.1f} s ({args.frames / took:.0f} fps), "
            f"proxy {proxy.stat().st_size / 1e6:.1f} MB"
        )
        rng = np.random.default_rng(1)
        order = rng.permutation(args.frames)[: args.requests]
        source = FrameSource(proxy, args.frames)
        times = []
        for i in order.tolist():  # distinct frames: every request misses the cache
            t = time.perf_counter()
            source.jpeg(i)
            times.append(time.perf_counter() - t)
        source.close()
        print(
            f"proxy, random frames ({len(times)}): p50 {pct(times, 50):.0f} ms, "
            f"p95 {pct(times, 95):.0f} ms, max {pct(times, 100):.0f} ms"
        )
        orig = []
        for i in order[: args.original_requests].tolist():
            t = time.perf_counter()
            encode_jpeg(seek_original(src, i))
            orig.append(time.perf_counter() - t)
        print(
            f"original, random frames ({len(orig)}): p50 {pct(orig, 50):.0f} ms, "
            f"p95 {pct(orig, 95):.0f} ms"
        )
        print(
            f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python "
            f"{platform.python_version()}"
        )


if __name__ == "__main__":
    main()
