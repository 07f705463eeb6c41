"""A live source through PyAV: network streams, capture devices, or a file at its own rate.

One reader thread demuxes and decodes; decoded RGB frames go to a bounded
queue with the moment they arrived, copied audio packets go straight to the
caller. Frames the queue cannot take are dropped *here* (never written) and
counted: a source is never slowed down by veil, and nothing waits unboundedly.

Time: every frame and packet gets a time on the output's timeline in seconds.
Within one connection it follows the source's own timestamps; a reconnection
starts where the wall clock says, so a gap in the source is a gap in the output
and timestamps never go backwards.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import InputError, LimitError
from ..settings import Limits
from .urls import is_network, redact, redact_text, scheme

log = logging.getLogger(__name__)

#: first wait before a reconnection, doubled up to :data:`BACKOFF_MAX_S`
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 4.0
_POLL_S = 0.1


@dataclass(slots=True)
class LiveFrame:
    """One decoded frame. ``arrived`` is ``time.monotonic()`` when veil had it."""

    rgb: np.ndarray
    arrived: float
    t: float  #: seconds on the output timeline
    connection: int  #: 1 for the first connection, +1 after each reconnection
    seq: int = 0  #: frames decoded before this one (a gap: the queue dropped frames)


@dataclass(slots=True)
class LiveAudio:
    packet: Any
    t: float
    connection: int


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    fps: Fraction | None
    codec: str
    audio: Any  #: the first connection's audio stream (a template for the sink), or None


class SourceEnd:
    """Queue item: the source ended (``error`` is None) or failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


@dataclass
class SourceStats:
    reconnects: int = 0
    gaps_s: list[float] = field(default_factory=list)
    dropped: int = 0  #: frames the processing queue had no room for
    frames: int = 0


def _why(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return redact_text(str(msg).splitlines()[0])


def default_options(url: str) -> dict[str, str]:
    """Protocol options that make a live read robust (user options override them)."""
    s = scheme(url)
    if s in ("rtsp", "rtsps"):
        return {"rtsp_transport": "tcp"}
    if s == "udp":
        return {"overrun_nonfatal": "1", "fifo_size": "500000"}
    return {}


class LiveSource:
    """Frames of ``url`` with reconnection; :meth:`open` once, then :meth:`start`."""

    def __init__(
        self,
        url: str | Path,
        *,
        realtime: bool = False,
        input_format: str | None = None,
        options: Mapping[str, str] | None = None,
        open_timeout_s: float = 10.0,
        stall_timeout_s: float = 5.0,
        reconnect_s: float = 0.0,
        limits: Limits | None = None,
    ) -> None:
        self.url = str(url)
        self.shown = redact(self.url)
        self.realtime = realtime
        self.input_format = input_format
        self.options = {**default_options(self.url), **dict(options or {})}
        self.open_timeout_s = open_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_s = reconnect_s
        self.limits = limits or Limits()
        self.stats = SourceStats()
        self.info: SourceInfo | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._container: Any = None
        self._connection = 0
        self._clock0: float | None = None  # monotonic time of the output timeline's 0
        self._last_t = -1.0
        self._last_arrival: float | None = None
        self._audio_ok = True

    # -- opening ----------------------------------------------------------------
    def _target(self) -> str:
        if self.url == "-":  # MPEG-TS on stdin, e.g. from `ffmpeg -i srt://... -f mpegts -`
            self.input_format = self.input_format or "mpegts"
            return "pipe:0"
        if "://" in self.url or self.input_format or self.url.startswith("pipe:"):
            return self.url
        if self.url.startswith("/dev/video"):
            self.input_format = "v4l2"
            return self.url
        path = Path(self.url)
        if not path.is_file():
            raise InputError(f"{self.shown}: no such file or stream")
        return "file:" + str(path.resolve())

    def _connect(self) -> tuple[Any, Any]:
        target = self._target()
        try:
            container = av.open(
                target,
                "r",
                format=self.input_format,
                options=self.options,
                timeout=(self.open_timeout_s, self.stall_timeout_s),
                metadata_errors="ignore",
            )
        except av.ProtocolNotFoundError:
            raise InputError(
                f"{self.shown}: this FFmpeg build cannot read {scheme(self.url)}:// "
                "(PyAV's wheels have no SRT); pipe it in: "
                "ffmpeg -i URL -c copy -f mpegts - | veil live - -o SINK"
            ) from None
        except (av.FFmpegError, OSError) as e:
            raise InputError(f"{self.shown}: cannot open the source ({_why(e)})") from None
        try:
            streams = [s for s in container.streams.video]
            if not streams:
                raise InputError(f"{self.shown}: the source has no video stream")
            stream = streams[0]
            cc = stream.codec_context
            if cc is None:
                raise InputError(f"{self.shown}: unsupported video codec")
            try:
                av.codec.Codec(cc.name, "r")
            except (av.FFmpegError, ValueError):
                raise InputError(f"{self.shown}: unsupported video codec {cc.name!r}") from None
            if not cc.width or not cc.height:
                raise InputError(f"{self.shown}: the video stream has no frame size")
            if cc.width * cc.height > self.limits.max_pixels:
                raise LimitError(
                    f"{self.shown}: {cc.width}x{cc.height} exceeds the limit of "
                    f"{self.limits.max_pixels} pixels"
                )
            stream.thread_type = "AUTO"
        except BaseException:
            container.close()
            raise
        return container, stream

    def open(self) -> SourceInfo:
        """Connect for the first time; a bad address or codec raises :class:`InputError`."""
        container, stream = self._connect()
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        fps = Fraction(rate) if rate and 0 < Fraction(rate) <= 1000 else None
        audio = container.streams.audio[0] if container.streams.audio else None
        self.info = SourceInfo(cc.width, cc.height, fps, cc.name, audio)
        self._container, self._stream = container, stream
        self._connection = 1
        log.info(
            "source %s: %dx%d %s at %s fps%s",
            self.shown,
            cc.width,
            cc.height,
            cc.name,
            f"{float(fps):.3g}" if fps else "unknown",
            ", with audio" if audio is not None else "",
        )
        return self.info

    # -- reading ------------------------------------------------------------------
    def start(
        self,
        frames: queue.Queue[Any],
        audio: Callable[[LiveAudio], None] | None = None,
        clock0: float | None = None,
    ) -> None:
        """Start the reader thread: frames into ``frames``, audio packets to ``audio``."""
        if self.info is None:
            raise RuntimeError("open() the source first")
        self._clock0 = clock0
        self._thread = threading.Thread(
            target=self._run, args=(frames, audio), name="veil-live-source", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.stall_timeout_s + 2.0)

    def close(self) -> None:
        """Release a connection that was opened but never started."""
        if self._thread is None and self._container is not None:
            self._container.close()
            self._container = None

    def _run(self, frames: queue.Queue[Any], audio: Callable[[LiveAudio], None] | None) -> None:
        end: SourceEnd
        try:
            while True:
                error = self._read_connection(frames, audio)
                if self._stop.is_set():
                    end = SourceEnd()
                    break
                if self.reconnect_s <= 0 or (error is None and not is_network(self.url)):
                    end = SourceEnd(error)
                    break
                lost = self._reconnect(error)
                if lost is not None:
                    end = SourceEnd(lost)
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the processing thread
            end = SourceEnd(e)
        finally:
            if self._container is not None:
                self._container.close()
                self._container = None
        while True:  # the end must arrive, even behind a full queue
            try:
                frames.put(end, timeout=_POLL_S)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    def _read_connection(
        self, frames: queue.Queue[Any], audio: Callable[[LiveAudio], None] | None
    ) -> BaseException | None:
        """Read until the connection ends; return the error that ended it (None: EOF)."""
        container, stream = self._container, self._stream
        info = self.info
        assert info is not None
        offset: float | None = None
        want = [stream]
        a_stream = container.streams.audio[0] if container.streams.audio else None
        if a_stream is not None and audio is not None and self._audio_ok:
            if info.audio is None or a_stream.codec_context.name != info.audio.codec_context.name:
                log.warning("source audio changed codec after reconnecting; audio dropped")
                self._audio_ok = False
            else:
                want.append(a_stream)
        try:
            for packet in container.demux(want):
                if self._stop.is_set():
                    return None
                if packet.stream.type != "video" and (
                    packet.pts is None or packet.time_base is None
                ):
                    continue
                pts_s = (
                    float(packet.pts * packet.time_base)
                    if packet.pts is not None and packet.time_base
                    else None
                )
                if offset is None and pts_s is not None:
                    offset = self._offset_for(pts_s)
                if packet.stream.type == "audio":
                    if packet.size and audio is not None and offset is not None:
                        audio(LiveAudio(packet, pts_s + offset, self._connection))
                    continue
                for frame in packet.decode():
                    self._deliver(frame, offset, frames)
            return None
        except av.ExitError:  # PyAV's read timeout interrupts the read
            if self._stop.is_set():
                return None
            return InputError(
                f"{self.shown}: the source stalled (no data for {self.stall_timeout_s:g} s)"
            )
        except av.FFmpegError as e:
            if self._stop.is_set():
                return None
            return InputError(f"{self.shown}: the source failed ({_why(e)})")

    def _offset_for(self, pts_s: float) -> float:
        """Seconds to add to this connection's timestamps to place them on the output."""
        now = time.monotonic()
        if self._clock0 is None:
            self._clock0 = now
        if self._connection == 1 and self._last_t < 0:
            return -pts_s
        # after a reconnection: where the wall clock is, never before the last frame
        return max((now - self._clock0), self._last_t + 0.001) - pts_s

    def _deliver(self, frame: Any, offset: float | None, frames: queue.Queue[Any]) -> None:
        info = self.info
        assert info is not None
        now = time.monotonic()
        if self._clock0 is None:
            self._clock0 = now
        if frame.pts is not None and frame.time_base is not None and offset is not None:
            t = float(frame.pts * frame.time_base) + offset
        else:
            t = now - self._clock0
        if t <= self._last_t:
            t = self._last_t + 0.001
        if self.realtime:
            wait = self._clock0 + t - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            now = time.monotonic()
        self._last_t = t
        self._last_arrival = now
        rgb = frame.to_ndarray(format="rgb24", width=info.width, height=info.height)
        self.stats.frames += 1
        if self.paced_by_reader:
            # a file read as fast as it is processed: wait for room, then it arrives
            while frames.full() and not self._stop.is_set():
                self._stop.wait(0.005)
            self._last_arrival = now = time.monotonic()
        try:
            frames.put_nowait(LiveFrame(rgb, now, t, self._connection, self.stats.frames))
        except queue.Full:
            self.stats.dropped += 1

    @property
    def paced_by_reader(self) -> bool:
        """A local file without ``realtime`` waits for veil; live sources never do."""
        return not self.realtime and not is_network(self.url) and self.input_format is None

    def _reconnect(self, error: BaseException | None) -> BaseException | None:
        """Retry with back-off for ``reconnect_s``; None when connected again."""
        if self._container is not None:
            self._container.close()
            self._container = None
        why = f" ({error})" if error is not None else " (the stream ended)"
        log.warning("source %s lost%s; reconnecting", self.shown, why)
        started = self._last_arrival or time.monotonic()
        deadline = time.monotonic() + self.reconnect_s
        wait = BACKOFF_FIRST_S
        last: BaseException | None = error
        while not self._stop.is_set():
            if time.monotonic() >= deadline:
                return InputError(
                    f"{self.shown}: the source was lost and did not come back within "
                    f"{self.reconnect_s:g} s"
                    + (f" (last error: {last})" if last is not None else "")
                )
            self._stop.wait(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(wait * 2, BACKOFF_MAX_S)
            try:
                self._container, self._stream = self._connect()
            except InputError as e:
                last = e
                continue
            self._connection += 1
            self.stats.reconnects += 1
            gap = time.monotonic() - started
            self.stats.gaps_s.append(gap)
            log.warning("source %s: reconnected after a gap of %.1f s", self.shown, gap)
            return None
        return None
