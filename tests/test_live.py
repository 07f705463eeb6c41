"""veil live on real streams: FFmpeg publishes a generated clip at real rate over
loopback TCP, veil reads, masks and publishes it, and FFmpeg records the result.

Every recorded frame is checked against the clip's ground truth (live_helpers):
each face and plate masked, or the whole frame masked. The plug-in detector
stands in for the networks, which do not fire on synthetic shapes.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import need_program
from live_helpers import (
    UNMASKED_TEXTURE,
    ColourDetector,
    boxes_at,
    check_masked,
    decode_all,
    make_live_clip,
    picture,
    plugin_engine,
    read_index,
    texture,
)
from veil.cli import main
from veil.errors import ConfigError, InputError, OutputError
from veil.live import LiveRun, LiveSettings, redact, redact_text, whole_frame
from veil.pipeline import Engine
from veil.regions import FACE, PLATE
from veil.settings import Settings

HELPERS = Path(__file__).parent / "live_helpers.py"


@pytest.fixture
def ffmpeg() -> str:
    """FFmpeg's command-line program: the stream source and recorder of these tests."""
    return need_program("ffmpeg", "sudo apt-get install ffmpeg")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_live_clip(tmp_path_factory.mktemp("live") / "clip.ts")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int, timeout: float = 10.0) -> None:
    """Wait until something listens on 127.0.0.1:port (without connecting to it:
    FFmpeg's listen mode serves one connection)."""
    want = f":{port:04X} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/tcp") as f:
            if any(want in line and line.split()[3] == "0A" for line in f):
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on port {port}")


def publish(ffmpeg: str, clip: Path, port: int) -> subprocess.Popen:
    """FFmpeg serving ``clip`` at its real rate to the first client on loopback TCP."""
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy"]
    cmd += ["-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    listening(port)
    return proc


def record(ffmpeg: str, port: int, dst: Path) -> subprocess.Popen:
    """FFmpeg recording what veil publishes to loopback TCP."""
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", f"tcp://127.0.0.1:{port}?listen=1"]
    proc = subprocess.Popen([*cmd, "-c", "copy", "-y", str(dst)], stdin=subprocess.DEVNULL)
    listening(port)
    return proc


def finish(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


# -- the ground truth is meaningful ----------------------------------------------------
def test_generated_clip_shows_detectable_textured_objects(clip):
    frames = decode_all(clip)
    assert [read_index(f) for f in frames] == list(range(75))
    for i in (0, 30, 74):
        for label, box in boxes_at(i):
            assert texture(frames[i], box) > 1.5 * UNMASKED_TEXTURE  # the check can fail
            found = ColourDetector(label).detect(frames[i], 0.1)
            assert len(found) == 1 and np.abs(found.xyxy[0] - box).max() <= 3
    with pytest.raises(AssertionError, match="unmasked"):
        check_masked(frames[:1])
    covered = whole_frame(picture(3))
    assert read_index(covered) is None
    assert check_masked([covered]) == {"indexed": 0, "whole": 1}


# -- the network path ---------------------------------------------------------------------
def test_stream_is_masked_on_every_frame_with_audio(ffmpeg, clip, tmp_path):
    rec = tmp_path / "recorded.ts"
    src_port, dst_port = free_port(), free_port()
    recorder = record(ffmpeg, dst_port, rec)
    source = publish(ffmpeg, clip, src_port)
    run = LiveRun(
        f"tcp://127.0.0.1:{src_port}",
        f"tcp://127.0.0.1:{dst_port}",
        live=LiveSettings(latency_s=1.0),
        engine=plugin_engine(),
    )
    stats = run.run()
    finish(source)
    finish(recorder)
    counts = check_masked(decode_all(rec))
    assert counts["indexed"] >= 30, counts  # the frames made it, masked
    assert stats.written == counts["indexed"] + counts["whole"]
    assert stats.written + stats.dropped == stats.frames_in
    assert stats.detected > 0 and stats.carried > 0  # detect_every 4: tracks carry frames
    with av.open(str(rec)) as c:
        assert len(c.streams.audio) == 1
        assert sum(1 for p in c.demux(c.streams.audio[0]) if p.size) > 50  # ~3 s of AAC


@pytest.mark.parametrize("overload", ["blur", "drop"])
def test_slow_detector_never_leaks_and_counts(clip, tmp_path, overload):
    out = tmp_path / "out.ts"
    lines: list[str] = []
    live = LiveSettings(
        latency_s=0.5, realtime=True, slow_detect_s=0.3, overload=overload, status_every_s=0.5
    )
    run = LiveRun(
        clip, out, live=live, engine=plugin_engine(), on_status=lambda s: lines.append(s.line())
    )
    stats = run.run()
    counts = check_masked(decode_all(out))
    assert stats.frames_in == 75
    assert stats.carried_under_load > 0  # step 1: fewer frames detected, tracks carried
    if overload == "blur":
        assert stats.blurred > 0 and counts["whole"] == stats.blurred
    else:
        assert stats.blurred == 0 and counts["whole"] == 0
        assert stats.dropped > 0 and counts["indexed"] == stats.written < 75
    assert any(f"blurred {stats.blurred}" in line or "blurred" in line for line in lines)
    assert f"carried {stats.carried}" in stats.line()


class StallingDetector(ColourDetector):
    """The plug-in detector, but one of its runs (the ``at``-th call) takes ``stall_s``."""

    def __init__(self, label: int, at: int, stall_s: float) -> None:
        super().__init__(label)
        self.calls, self.at, self.stall_s = 0, at, stall_s

    def detect(self, rgb: np.ndarray, threshold: float):
        self.calls += 1
        if self.calls == self.at:
            time.sleep(self.stall_s)
        return super().detect(rgb, threshold)


def test_a_stalled_detector_run_shortens_the_window_without_leaking(clip, tmp_path):
    """One run far slower than the look-ahead allows: the frames held back leave by their
    deadline through a shortened window (tracking goes on), every one of them masked."""
    out = tmp_path / "out.ts"
    # the 8th call is the 6th run on the clip (two at warm-up), with ~20 frames held
    engine = Engine(Settings(), detectors=[StallingDetector(FACE, 8, 0.6), ColourDetector(PLATE)])
    run = LiveRun(clip, out, live=LiveSettings(latency_s=1.0, realtime=True), engine=engine)
    stats = run.run()
    counts = check_masked(decode_all(out))
    assert stats.flushes >= 1
    assert counts["indexed"] + counts["whole"] == stats.written
    assert stats.written + stats.dropped == stats.frames_in == 75


class SceneStartDetector(ColourDetector):
    """The plug-in detector, slow (``stall_s``) on its first run at or after frame
    ``cut``; notes the index of every frame it runs on."""

    def __init__(self, label: int, cut: int, stall_s: float) -> None:
        super().__init__(label)
        self.cut, self.stall_s, self.seen = cut, stall_s, []

    def detect(self, rgb: np.ndarray, threshold: float):
        i = read_index(rgb)
        if i is not None:
            if i >= self.cut and not any(s >= self.cut for s in self.seen):
                time.sleep(self.stall_s)
            self.seen.append(i)
        return super().detect(rgb, threshold)


def test_frames_between_a_new_scenes_first_two_runs_are_masked_from_tracks(tmp_path):
    """After a cut the scene's first detector run is slow, so the second waits for a
    fresh frame: the frames between them are masked from the tracks (the second run
    reaches them inside the look-ahead), not whole, and none is left bare."""
    cut = 30
    src = make_live_clip(tmp_path / "cut.ts", frames=60, audio=False, cut_at=cut)
    out = tmp_path / "out.ts"
    # the default look-ahead (24 frames) fits a 2 s budget whole; after the 1 s run the
    # stale frames cannot afford another run and its 0.96 s hold until they are fresher
    face = SceneStartDetector(FACE, cut, 1.0)
    engine = Engine(Settings(), detectors=[face, ColourDetector(PLATE)])
    run = LiveRun(src, out, live=LiveSettings(latency_s=2.0, realtime=True), engine=engine)
    stats = run.run()
    counts = check_masked(decode_all(out))
    after = [i for i in face.seen if i >= cut]
    assert after[0] == cut  # the cut was seen and the new scene detected at once
    assert after[1] > cut + 1  # stale frames waited for the scene's second run
    assert stats.uncovered == {"scene start": 0, "carry limit": 0}
    assert stats.blurred == counts["whole"] == 0
    assert counts["indexed"] == stats.written == stats.frames_in == 60


def test_source_killed_and_restarted_is_reconnected(ffmpeg, clip, tmp_path):
    out = tmp_path / "out.ts"
    port = free_port()
    first = publish(ffmpeg, clip, port)
    run = LiveRun(
        f"tcp://127.0.0.1:{port}",
        out,
        live=LiveSettings(reconnect_s=20.0, stall_timeout_s=2.0),
        engine=plugin_engine(),
    )
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(stats=run.run()), daemon=True)
    worker.start()
    time.sleep(1.5)
    first.kill()
    first.wait()
    time.sleep(0.5)
    second = publish(ffmpeg, clip, port)
    finish(second)
    deadline = time.monotonic() + 5
    while run.stats.reconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    settled, last = 0, -1
    while settled < 3 and time.monotonic() < deadline + 20:  # the last frames leave
        time.sleep(0.5)
        settled = settled + 1 if run.stats.written == last else 0
        last = run.stats.written
    run.stop()
    worker.join(20)
    stats = result["stats"]
    assert stats.reconnects >= 1 and stats.gaps_s and stats.gaps_s[0] > 0.3
    frames = decode_all(out)
    check_masked(frames)
    index = [read_index(f) for f in frames]
    index = [i for i in index if i is not None]
    restarts = sum(1 for a, b in zip(index, index[1:], strict=False) if b < a)
    assert restarts == 1 and index[-1] > 60  # the second run went through, to its end
    assert "reconnects 1" in stats.line()


def test_udp_source_that_stalls_ends_with_a_clear_error(ffmpeg, clip, tmp_path):
    """UDP has no end of stream: a sender that stops is a stall, reported as one."""
    out = tmp_path / "out.ts"
    port = free_port()
    live = LiveSettings(stall_timeout_s=1.0)
    run = LiveRun(f"udp://127.0.0.1:{port}", out, live=live, engine=plugin_engine())
    result: dict[str, BaseException] = {}

    def target() -> None:
        try:
            run.run()
        except BaseException as e:  # noqa: BLE001 - checked below
            result["error"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()  # veil listens first: UDP packets sent before are lost
    time.sleep(0.5)
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy"]
    subprocess.run([*cmd, "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"], timeout=30)
    worker.join(30)
    assert isinstance(result.get("error"), InputError)
    assert "stalled (no data for 1 s)" in str(result["error"])
    counts = check_masked(decode_all(out))
    assert counts["indexed"] >= 50 and run.stats.written >= 50


# -- sinks -------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["rtmp", "rtsp"])
def test_publishing_to_a_media_server(ffmpeg, tmp_path, protocol):
    """FFmpeg stands in for the media server: it takes the published stream and records it."""
    clip = make_live_clip(tmp_path / "short.ts", frames=30)
    port = free_port()
    if protocol == "rtmp":
        url, rec = f"rtmp://127.0.0.1:{port}/live/stream-key", tmp_path / "rec.flv"
        server = ["-listen", "1", "-i", url]
    else:
        url, rec = f"rtsp://127.0.0.1:{port}/live", tmp_path / "rec.ts"
        server = ["-rtsp_flags", "listen", "-i", url]
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", *server, "-c", "copy", str(rec)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    listening(port)
    stats = LiveRun(clip, url, live=LiveSettings(realtime=True), engine=plugin_engine()).run()
    finish(proc)
    counts = check_masked(decode_all(rec))
    assert counts["indexed"] + counts["whole"] == stats.written
    assert stats.written + stats.dropped == 30 and counts["indexed"] >= 10
    with av.open(str(rec)) as c:
        assert len(c.streams.audio) == 1  # AAC re-packed for FLV / RTP


@pytest.mark.parametrize(
    ("sig", "ext"), [(signal.SIGTERM, ".ts"), (signal.SIGKILL, ".mp4"), (signal.SIGKILL, ".mkv")]
)
def test_killed_run_leaves_a_playable_masked_file(clip, tmp_path, sig, ext):
    out = tmp_path / f"out{ext}"
    proc = subprocess.Popen(
        [sys.executable, str(HELPERS), str(clip), str(out)],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    deadline = time.monotonic() + 20
    while (not out.exists() or out.stat().st_size < 30_000) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(20)
    frames = decode_all(out)
    assert len(frames) >= 10
    counts = check_masked(frames)
    assert counts["indexed"] >= 10
    if sig == signal.SIGTERM:
        assert proc.returncode == 130


def test_hls_folder_and_stdout(clip, tmp_path):
    folder = tmp_path / "hls"
    LiveRun(clip, f"{folder}/", engine=plugin_engine()).run()  # a folder: "/" at the end
    assert (folder / "index.m3u8").is_file() and list(folder.glob("segment*.ts"))
    check_masked(decode_all(folder / "index.m3u8"))
    done = subprocess.run(
        [sys.executable, str(HELPERS), str(clip), "-", "--fast"],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    with av.open(io.BytesIO(done.stdout), format="mpegts") as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    counts = check_masked(frames)
    assert counts["indexed"] + counts["whole"] == 75 and counts["indexed"] >= 30


def test_rtmp_source_and_its_stream_key(ffmpeg, clip, tmp_path):
    """FFmpeg serves the clip over RTMP (-listen 1); its end of stream is an I/O error,
    reported with the stream key hidden, after every frame received was written."""
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/sk-0123secret"
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy"]
    proc = subprocess.Popen([*cmd, "-f", "flv", "-listen", "1", url], stdin=subprocess.DEVNULL)
    listening(port)
    out = tmp_path / "out.ts"
    run = LiveRun(url, out, engine=plugin_engine())
    try:
        run.run()
    except InputError as e:
        assert "live/***" in str(e) and "sk-0123secret" not in str(e)
    finish(proc)
    counts = check_masked(decode_all(out))
    assert run.stats.written + run.stats.dropped == run.stats.frames_in >= 60
    assert counts["indexed"] >= 30


def test_hls_over_http_source(clip, tmp_path):
    """An HLS playlist served over HTTP (Python's http.server on loopback) as the source."""
    import functools
    import http.server

    folder = tmp_path / "served"
    LiveRun(clip, f"{folder}/", engine=plugin_engine()).run()  # the clip as HLS segments
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.m3u8"
        out = tmp_path / "out.ts"
        live = LiveSettings(realtime=True)
        stats = LiveRun(url, out, live=live, engine=plugin_engine()).run()
    finally:
        server.shutdown()
    counts = check_masked(decode_all(out))
    assert stats.written + stats.dropped == stats.frames_in == 75
    assert counts["indexed"] >= 30


def test_file_sink_refuses_to_overwrite_and_odd_extensions(clip, tmp_path):
    existing = tmp_path / "x.ts"
    existing.write_bytes(b"keep")
    with pytest.raises(OutputError, match="give --overwrite"):
        LiveRun(clip, existing, engine=plugin_engine()).run()
    assert existing.read_bytes() == b"keep"
    with pytest.raises(ConfigError, match="stay playable"):
        LiveRun(clip, tmp_path / "x.avi", engine=plugin_engine()).run()
    # a name without an extension is a typo, not a folder of HLS segments (nor a tree)
    with pytest.raises(ConfigError, match="folder ending in /"):
        LiveRun(clip, tmp_path / "recording", engine=plugin_engine()).run()
    with pytest.raises(OutputError, match="no such folder"):
        LiveRun(clip, f"{tmp_path}/a/b/", engine=plugin_engine()).run()
    assert not (tmp_path / "recording").exists() and not (tmp_path / "a").exists()


# -- failures and credentials ----------------------------------------------------------------
def test_bad_source_exits_non_zero_without_credentials(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"rtsp://admin:s3cretpw@127.0.0.1:{free_port()}/stream1"
    code = main(["live", url, "-o", str(tmp_path / "o.ts"), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "rtsp://***@127.0.0.1" in err and "cannot open the source" in err
    assert "s3cretpw" not in err and "s3cretpw" not in caplog.text
    assert not (tmp_path / "o.ts").exists()


def test_refusing_sink_and_no_video_are_clear_errors(clip, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    sink = f"tcp://user:hunter22@127.0.0.1:{free_port()}"
    with pytest.raises(OutputError, match=r"tcp://\*\*\*@.*refused") as err:
        LiveRun(clip, sink, engine=plugin_engine()).run()
    assert "hunter22" not in str(err.value) and "hunter22" not in caplog.text
    audio_only = tmp_path / "audio.ts"
    with av.open(str(audio_only), "w", format="mpegts") as out:
        a = out.add_stream("mp2", rate=48_000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1152 * 2), np.int16), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        out.mux(a.encode(frame))
        out.mux(a.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        LiveRun(audio_only, tmp_path / "o.ts", engine=plugin_engine()).run()


def test_redaction_covers_userinfo_query_secrets_and_stream_keys():
    assert redact("rtsp://admin:pw@cam:554/s") == "rtsp://***@cam:554/s"
    assert redact("srt://h:9000?mode=caller&passphrase=abcdefghij") == (
        "srt://h:9000?mode=caller&passphrase=***"
    )
    assert redact("rtmp://live.example/app/sk-123") == "rtmp://live.example/app/***"
    assert redact_text("failed: 'udp://u@h:1'") == "failed: 'udp://***@h:1'"


def test_live_settings_are_validated():
    with pytest.raises(ConfigError, match="latency_s"):
        LiveSettings(latency_s=0)
    with pytest.raises(ConfigError, match="overload"):
        LiveSettings(overload="pass")
    assert FACE != PLATE
