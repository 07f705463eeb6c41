"""Video reading and writing with PyAV: probe, stream frame by frame, re-encode.

Design choices (see DESIGN.md for the measured facts behind them):

* **Streaming.** ``transcode`` never holds more than a bounded number of frames:
  a decode thread feeds a queue of :data:`QUEUE_FRAMES` upright frames, the
  caller's ``process`` pulls from it (so a tracker may look ahead), and a
  mux thread encodes from a second bounded queue. Any stage's exception stops
  the others and is re-raised in the caller; no wait is unbounded.
* **Time.** The output video stream uses the input time base and each frame
  keeps its pts, so variable frame rate survives exactly.
* **Rotation is baked in.** Frames are turned upright before ``process`` sees
  them and written upright with no display matrix: what a player shows is
  unchanged, and no player can ignore a flag and show a sideways picture.
* **Odd sizes** are padded by one replicated row/column to an even size so
  the output stays yuv420p, which every player decodes (4:4:4 H.264 does not
  play in browsers or QuickTime). The padding is a copy of edge pixels that
  ``process`` has already masked.
* **Other streams.** Audio is copied packet for packet (bit-identical).
  Data streams (GPS telemetry: GoPro ``gpmd``, Apple ``mebx``), attachments and
  extra video streams (cover art, second angles, which would pass unmasked) are
  dropped. Subtitles are dropped unless ``keep_subtitles=True`` because some
  cameras (DJI drones) write GPS positions as subtitle text.
* **Metadata.** Container and stream tags are not copied, except ``language``
  on streams; place, device and time tags therefore vanish.
* **Corrupt input fails closed.** A decoder error anywhere fails the whole file
  with :class:`InputError`: a frame that could not be decoded can neither be
  checked nor masked. Frames the decoder conceals and flags corrupt are written
  (``process`` saw and masked exactly those pixels) and counted in a warning.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import InputError, LimitError, OutputError
from ..settings import EncodeSettings, Limits

log = logging.getLogger(__name__)

#: Container formats by extension; the output uses the input's.
_MUXERS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".3gp": "3gp",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".ts": "mpegts",
    ".mts": "mpegts",
    ".m2ts": "mpegts",
}
VIDEO_EXTENSIONS: frozenset[str] = frozenset(_MUXERS)


def muxer_of(path: Path) -> str | None:
    """The container a video named ``path`` is written in (by its extension)."""
    return _MUXERS.get(path.suffix.lower())


#: Upright frames decoded ahead of ``process``; bounds memory together with
#: :data:`ENCODE_QUEUE` and whatever look-ahead ``process`` keeps itself.
QUEUE_FRAMES = 4
#: Items (frames or copied packets) waiting for the mux thread.
ENCODE_QUEUE = 8

_KEEP_STREAM_TAGS = frozenset({"language"})
_IMAGE_DEMUXERS = ("image2", "_pipe", "gif", "webp", "apng")
_POLL_S = 0.1
_MAX_FPS = 1000
_JOIN_S = 30.0
#: per thread: the reformatter that turns decoded frames into RGB (:func:`_upright`)
_local = threading.local()
_VP9_SPEED = {
    "ultrafast": "8",
    "superfast": "7",
    "veryfast": "6",
    "faster": "5",
    "fast": "4",
    "medium": "3",
    "slow": "2",
    "slower": "1",
    "veryslow": "0",
    "placebo": "0",
}


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learnt. ``width``/``height`` are as displayed (after rotation)."""

    path: Path
    width: int
    height: int
    frames: int | None
    duration_s: float | None
    fps: Fraction | None
    rotation: int
    has_audio: bool
    codec: str
    time_base: Fraction


class DecodedFrame(NamedTuple):
    """One upright RGB frame from :func:`iter_frames`."""

    index: int
    pts_s: float | None
    image: np.ndarray


ProcessFn = Callable[[Iterator[np.ndarray]], Iterable[Any]]
FinishFn = Callable[[Any], np.ndarray]


# --------------------------------------------------------------------------- helpers


def _open_input(path: Path) -> Any:
    """Open a local file for reading; ``file:`` stops ffmpeg parsing names as protocols."""
    try:
        return av.open("file:" + os.path.abspath(path), "r", metadata_errors="ignore")
    except av.FFmpegError as e:
        raise InputError(f"{path}: not a readable video ({_why(e)})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot open ({e.strerror or e})") from None


def _why(e: BaseException) -> str:
    """A one-line reason from an av error, without the file path it may repeat."""
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return str(msg).splitlines()[0]


def _check_file(path: Path, limits: Limits) -> None:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file")
    if size > limits.max_file_bytes:
        raise LimitError(f"{path}: {size} bytes exceeds the limit of {limits.max_file_bytes} bytes")


def _video_stream(container: Any, path: Path) -> Any:
    fmt = container.format.name
    if any(tag in fmt for tag in _IMAGE_DEMUXERS):
        raise InputError(f"{path}: is an image ({fmt}), not a video")
    streams = [s for s in container.streams.video if not _is_attached_pic(s)]
    if not streams:
        raise InputError(f"{path}: has no video stream")
    stream = streams[0]
    cc = stream.codec_context  # None when the decoder cannot be set up (damaged header)
    if cc is None or not cc.width or not cc.height:
        raise InputError(f"{path}: video stream has no frame size")
    return stream


def _is_attached_pic(stream: Any) -> bool:
    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False


def _upright(frame: Any) -> np.ndarray:
    """RGB pixels of ``frame`` as displayed (its display matrix applied).

    The conversion reuses its thread's reformatter and with it the scaler context,
    set up again only when the frames change; ``frame.to_ndarray(format=...)`` set up
    a new context (and its threads) for every frame.
    """
    to_rgb = getattr(_local, "to_rgb", None)
    if to_rgb is None:
        to_rgb = _local.to_rgb = VideoReformatter()
    img = to_rgb.reformat(frame, format="rgb24").to_ndarray()
    k = _quarter_turns(frame.rotation)
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def _rgb_frame(img: np.ndarray) -> Any:
    """An rgb24 frame over ``img``'s own pixels, for the scaler to read.

    ``VideoFrame.from_ndarray`` copied each frame twice (through a bytes object into
    a fresh buffer): 2.5-4 ms a 720p frame, most of the time the conversion to
    yuv420p took. The scaler's output is the same bytes either way (test). An array
    whose pixels are not packed along each row is still copied.
    """
    if img.strides[1:] == (3, 1):
        return av.VideoFrame.from_numpy_buffer(img, format="rgb24")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")


def _quarter_turns(rotation: int | float | None) -> int:
    """Counter-clockwise quarter turns for a display rotation (nearest multiple of 90)."""
    return int(round((rotation or 0) / 90.0)) % 4


def _plausible_rate(rate: Any) -> Fraction | None:
    """A frame rate, or None where ffmpeg reports the time base instead (VFR in TS/AVI)."""
    if not rate:
        return None
    rate = Fraction(rate)
    return rate if 0 < rate <= _MAX_FPS else None


def _check_pixels(path: Path, width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise LimitError(
            f"{path}: {width}x{height} exceeds the limit of {limits.max_pixels} pixels"
        )


def _check_duration(path: Path, seconds: float | None, limits: Limits) -> None:
    if seconds is not None and seconds > limits.max_duration_s:
        raise LimitError(
            f"{path}: {seconds:.1f} s exceeds the limit of {limits.max_duration_s:.0f} s"
        )


# --------------------------------------------------------------------------- probe


def probe(path: str | Path, limits: Limits | None = None) -> VideoInfo:
    """Read a video's geometry, timing and streams, and refuse bad or oversized files.

    The first frame is decoded: it carries the rotation and proves the stream
    decodes, so a corrupt file fails here before any output is created.
    """
    path = Path(path)
    limits = limits or Limits()
    _check_file(path, limits)
    container = _open_input(path)
    try:
        stream = _video_stream(container, path)
        cc = stream.codec_context
        _check_pixels(path, cc.width, cc.height, limits)
        tb = stream.time_base or Fraction(1, 90_000)
        duration: float | None = None
        if stream.duration:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        _check_duration(path, duration, limits)
        fps = _plausible_rate(stream.average_rate) or _plausible_rate(stream.guessed_rate)
        frames: int | None = stream.frames or None
        if frames is None and duration and fps:
            frames = max(1, round(duration * fps))
        first = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    first = frame
                    break
                if first is not None:
                    break
        except av.FFmpegError as e:
            raise InputError(f"{path}: corrupt video ({_why(e)})") from None
        if first is None:
            raise InputError(f"{path}: no decodable video frame")
        rotation = int(round(first.rotation or 0))
        w, h = first.width, first.height
        _check_pixels(path, w, h, limits)
        if _quarter_turns(rotation) % 2:
            w, h = h, w
        return VideoInfo(
            path=path,
            width=w,
            height=h,
            frames=frames,
            duration_s=duration,
            fps=fps,
            rotation=rotation,
            has_audio=bool(container.streams.audio),
            codec=cc.name,
            time_base=Fraction(tb),
        )
    finally:
        container.close()


# --------------------------------------------------------------------------- iter_frames


class FrameReader:
    """Upright RGB frames of a video, one at a time, for ``veil detect`` / ``veil eval``.

    Use as a context manager (or call :meth:`close`) so the file is released
    even when the caller stops early.
    """

    def __init__(self, path: str | Path, limits: Limits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or Limits()
        self.info = probe(self.path, self.limits)
        self._container = _open_input(self.path)
        self._stream = _video_stream(self._container, self.path)
        self._stream.thread_type = "AUTO"

    def __iter__(self) -> Iterator[DecodedFrame]:
        tb = self._stream.time_base
        for index, frame in enumerate(_decode(self._container, self._stream, self.path)):
            _check_pixels(self.path, frame.width, frame.height, self.limits)
            pts_s = float(frame.pts * tb) if frame.pts is not None and tb else None
            _check_duration(self.path, pts_s, self.limits)
            yield DecodedFrame(index, pts_s, _upright(frame))

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_frames(path: str | Path, limits: Limits | None = None) -> FrameReader:
    """``with iter_frames(p) as frames: for f in frames: ...`` (index, pts_s, image)."""
    return FrameReader(path, limits)


def _decode(container: Any, stream: Any, path: Path) -> Iterator[Any]:
    """Decoded frames of one stream; av errors become InputError naming the file."""
    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.FFmpegError as e:
        raise InputError(f"{path}: corrupt video ({_why(e)})") from None


# --------------------------------------------------------------------------- transcode


class _Stopped(Exception):
    """Raised inside a stage when another stage failed; never leaves this module."""


class _End:
    """Queue sentinel."""

    def __init__(self, name: str) -> None:
        self.name = name


_FRAMES_END = _End("frames")
_PACKETS_END = _End("packets")
_VIDEO_END = _End("video")


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            q.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue


def _encoder_name(encode: EncodeSettings, ext: str) -> str:
    """encode.codec, except H.264/H.265 into WebM (which cannot hold them) -> VP9."""
    if ext == ".webm" and encode.codec in ("libx264", "libx265", "h264", "hevc"):
        return "libvpx-vp9"
    return encode.codec


def _encoder_options(codec: str, encode: EncodeSettings) -> dict[str, str]:
    if codec in ("libx264", "libx265"):
        return {"crf": str(encode.crf), "preset": encode.preset}
    if codec == "libvpx-vp9":
        speed = _VP9_SPEED.get(encode.preset, "4")
        return {
            "crf": str(encode.crf),
            "b": "0",
            "deadline": "good",
            "cpu-used": speed,
            "row-mt": "1",
        }
    if codec == "libsvtav1":
        return {"crf": str(encode.crf)}
    return {}


def _safe_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.lower() in _KEEP_STREAM_TAGS}


class _Transcoder:
    """One transcode: owns the containers, the queues and the two worker threads."""

    def __init__(
        self,
        src: Path,
        dst: Path,
        info: VideoInfo,
        encode: EncodeSettings,
        limits: Limits,
        keep_subtitles: bool,
        finish: FinishFn | None = None,
    ) -> None:
        self.src, self.dst, self.info, self.limits = src, dst, info, limits
        self.finish = finish
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.frames_q: queue.Queue[Any] = queue.Queue(QUEUE_FRAMES)
        self.mux_q: queue.Queue[Any] = queue.Queue(ENCODE_QUEUE)
        self.packets = 0
        self.decoded = 0
        self.corrupt = 0
        self.colour: dict[str, int] = {}
        self._rgb_to_yuv = VideoReformatter()
        self.inp = _open_input(src)
        self.out: Any = None
        try:
            self._setup_output(encode, keep_subtitles)
        except BaseException:
            self._close(ok=False)
            raise

    # ---- setup

    def _setup_output(self, encode: EncodeSettings, keep_subtitles: bool) -> None:
        ext = self.src.suffix.lower()
        self.in_video = _video_stream(self.inp, self.src)
        self.in_video.thread_type = "AUTO"
        try:
            self.out = av.open("file:" + os.path.abspath(self.dst), "w", format=_MUXERS[ext])
        except (av.FFmpegError, OSError) as e:
            raise OutputError(f"{self.src}: cannot create ({_why(e)})") from None
        try:
            codec = _encoder_name(encode, ext)
            tb = self.in_video.time_base
            rate = self.info.fps or Fraction(30)
            vs = self.out.add_stream(codec, rate=rate)
            self.pad_w = self.info.width % 2
            self.pad_h = self.info.height % 2
            vs.width = self.info.width + self.pad_w
            vs.height = self.info.height + self.pad_h
            vs.pix_fmt = "yuv420p"
            vs.codec_context.time_base = tb
            vs.time_base = tb
            vs.options = _encoder_options(codec, encode)
            # PyAV defaults encoders to slice threads; x264 then runs far slower than
            # the frame threading ffmpeg uses. AUTO (frame|slice) selects frame threads.
            vs.codec_context.thread_type = "AUTO"
            if codec == "libvpx-vp9":
                vs.codec_context.bit_rate = 0
            vs.metadata.update(_safe_tags(dict(self.in_video.metadata)))
            self.out_video = vs
            if self.pad_w or self.pad_h:
                log.info(
                    "%s: odd frame size, padding one edge pixel to stay yuv420p", self.src.name
                )
            self.copy_map: dict[int, Any] = {}
            for s in self.inp.streams:
                if s.index == self.in_video.index:
                    continue
                if s.type == "audio" or (s.type == "subtitle" and keep_subtitles):
                    o = self.out.add_stream_from_template(s)
                    o.time_base = s.time_base
                    o.metadata.clear()
                    o.metadata.update(_safe_tags(dict(s.metadata)))
                    self.copy_map[s.index] = o
                else:
                    log.info("%s: dropping %s stream #%d", self.src.name, s.type, s.index)
            self.out.metadata.clear()
        except av.FFmpegError as e:
            raise OutputError(f"{self.src}: cannot set up encoder ({_why(e)})") from None

    # ---- stages

    def _decode_worker(self) -> None:
        """Demux everything: video -> upright frames queue, copied streams -> mux queue."""
        try:
            want = [self.in_video, *(self.inp.streams[i] for i in self.copy_map)]
            tb = self.in_video.time_base
            shape = (self.info.height, self.info.width, 3)
            try:
                for packet in self.inp.demux(want):
                    if packet.stream.index != self.in_video.index:
                        if packet.size and packet.dts is not None:
                            _put(self.mux_q, packet, self.stop)
                        continue
                    if packet.size:
                        self.packets += 1
                    for frame in packet.decode():
                        self._check_frame(frame, tb)
                        img = _upright(frame)
                        if img.shape != shape:
                            raise InputError(
                                f"{self.src}: frame size changes mid-stream "
                                f"({img.shape[1]}x{img.shape[0]}), not supported"
                            )
                        _put(self.frames_q, (img, frame.pts), self.stop)
            except av.FFmpegError as e:
                raise InputError(f"{self.src}: corrupt video ({_why(e)})") from None
            _put(self.frames_q, _FRAMES_END, self.stop)
            _put(self.mux_q, _PACKETS_END, self.stop)
        except _Stopped:
            pass
        except BaseException as e:
            self._fail(e)

    def _check_frame(self, frame: Any, tb: Fraction) -> None:
        if self.decoded == 0:
            self.colour = {
                "colorspace": frame.colorspace,
                "color_range": frame.color_range,
                "color_primaries": frame.color_primaries,
                "color_trc": frame.color_trc,
            }
        self.decoded += 1
        if frame.is_corrupt:
            self.corrupt += 1
        _check_pixels(self.src, frame.width, frame.height, self.limits)
        if frame.pts is not None and tb:
            _check_duration(self.src, float(frame.pts * tb), self.limits)

    def _mux_worker(self) -> None:
        """Encode processed frames and mux them with the copied packets."""
        try:
            vs = self.out_video
            done = set()
            first = True
            while len(done) < 2:
                item = _get(self.mux_q, self.stop)
                if isinstance(item, _End):
                    done.add(item.name)
                    if item is _VIDEO_END:
                        self.out.mux(vs.encode(None))
                    continue
                if isinstance(item, av.Packet):
                    item.stream = self.copy_map[item.stream.index]
                    self.out.mux(item)
                    continue
                img, pts = item
                if self.finish is not None:
                    img = self.finish(img)
                    self._check_out(img)
                if first:
                    self._tag_colour()
                    first = False
                self.out.mux(vs.encode(self._to_frame(img, pts)))
        except _Stopped:
            pass
        except av.FFmpegError as e:
            self._fail(OutputError(f"{self.src}: encoding failed ({_why(e)})"))
        except BaseException as e:
            self._fail(e)

    def _check_out(self, out: Any) -> None:
        shape = (self.info.height, self.info.width, 3)
        if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.uint8:
            raise ValueError(
                f"each output frame must be a uint8 array of shape {shape}, got "
                f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
            )

    def _tag_colour(self) -> None:
        cc = self.out_video.codec_context
        for name, value in self.colour.items():
            if value and value != 2:  # 2 = unspecified in every one of these enums
                try:
                    setattr(cc, name, value)
                except (AttributeError, ValueError, TypeError):
                    log.debug("cannot tag output %s", name)

    def _to_frame(self, img: np.ndarray, pts: int) -> Any:
        if self.pad_w or self.pad_h:
            img = np.pad(img, ((0, self.pad_h), (0, self.pad_w), (0, 0)), mode="edge")
        frame = _rgb_frame(img)
        cs = self.colour.get("colorspace")
        kwargs = {"dst_colorspace": cs} if cs and cs != 2 else {}
        # one reformatter for the whole video: it keeps its scaler context, which
        # a fresh frame.reformat() would set up again for every frame (~1.5 ms)
        frame = self._rgb_to_yuv.reformat(frame, format="yuv420p", **kwargs)
        frame.pts = pts
        frame.time_base = self.in_video.time_base
        return frame

    def _fail(self, e: BaseException) -> None:
        self.errors.append(e)
        self.stop.set()

    # ---- main thread

    def run(self, process: ProcessFn, progress: Callable[[int], Any] | None) -> None:
        threads = [
            threading.Thread(target=self._decode_worker, name="veil-decode", daemon=True),
            threading.Thread(target=self._mux_worker, name="veil-mux", daemon=True),
        ]
        for t in threads:
            t.start()
        ok = False
        try:
            self._drive(process, progress)
            for t in threads:
                self._join(t)
            if self.errors:
                raise self.errors[0]
            ok = True
        except BaseException as e:
            self.stop.set()
            for t in threads:
                t.join(_JOIN_S)
            if self.errors and (isinstance(e, _Stopped) or e is not self.errors[0]):
                raise self.errors[0] from None
            raise
        finally:
            self._close(ok)
        if self.decoded < self.packets:
            log.warning(
                "%s: %d video packet(s) produced no frame (damaged input); "
                "the output has %d frames, each one processed",
                self.src.name,
                self.packets - self.decoded,
                self.decoded,
            )
        if self.corrupt:
            log.warning(
                "%s: %d frame(s) had decoding errors and were concealed by the decoder",
                self.src.name,
                self.corrupt,
            )

    def _join(self, t: threading.Thread) -> None:
        """Wait for a worker, but return early if any stage failed."""
        while t.is_alive():
            t.join(_POLL_S)
            if self.stop.is_set():
                raise _Stopped

    def _drive(self, process: ProcessFn, progress: Callable[[int], Any] | None) -> None:
        pending: deque[int | None] = deque()
        state = {"ended": False}
        last_pts: int | None = None

        def source() -> Iterator[np.ndarray]:
            while True:
                item = _get(self.frames_q, self.stop)
                if item is _FRAMES_END:
                    state["ended"] = True
                    return
                img, pts = item
                pending.append(pts)
                yield img

        n = 0
        for out in process(source()):
            if self.stop.is_set():
                raise _Stopped
            if not pending:
                raise RuntimeError("process yielded more frames than it was given")
            pts = pending.popleft()
            if self.finish is None:
                self._check_out(out)
            if pts is None or (last_pts is not None and pts <= last_pts):
                pts = 0 if last_pts is None else last_pts + 1
            last_pts = pts
            _put(self.mux_q, (out, pts), self.stop)
            n += 1
            if progress is not None:
                progress(1)
        if self.stop.is_set():
            raise _Stopped
        if not state["ended"] or pending:
            raise RuntimeError(
                f"process yielded {n} frames but the video has more; "
                "it must yield exactly one frame per input frame"
            )
        _put(self.mux_q, _VIDEO_END, self.stop)

    def _close(self, ok: bool) -> None:
        """Close both containers on every path so the caller can delete ``dst``."""
        try:
            self.inp.close()
        except Exception:  # noqa: BLE001 - closing must not mask the real error
            log.debug("closing input failed", exc_info=True)
        if self.out is not None:
            try:
                self.out.close()
            except Exception as e:  # noqa: BLE001
                if ok:
                    raise OutputError(f"{self.src}: cannot finish ({_why(e)})") from None
                log.debug("closing output after failure failed", exc_info=True)


def transcode(
    src: str | Path,
    dst: str | Path,
    process: ProcessFn,
    encode: EncodeSettings | None = None,
    limits: Limits | None = None,
    progress: Callable[[int], Any] | None = None,
    *,
    keep_subtitles: bool = False,
    finish: FinishFn | None = None,
) -> VideoInfo:
    """Decode ``src``, pass upright RGB frames through ``process``, encode to ``dst``.

    ``process`` receives an iterator of (H, W, 3) uint8 frames and must yield
    exactly one frame of the same shape per input frame, in order; it may run
    a bounded number of frames behind. With ``finish``, ``process`` yields one
    item per frame and ``finish(item)`` makes the frame on the encoding thread,
    so that last step (masking) overlaps with the detection of later frames.
    ``progress(1)`` is called per frame handed to the encoder (the signature of
    ``tqdm.update``). ``dst`` is written in the
    container of ``src``'s extension; the caller owns renaming or deleting it.
    Returns the probed input info.
    """
    src, dst = Path(src), Path(dst)
    encode = encode or EncodeSettings()
    limits = limits or Limits()
    ext = src.suffix.lower()
    if ext not in _MUXERS:
        raise InputError(f"{src}: unsupported video type {ext or '(none)'}")
    info = probe(src, limits)
    _Transcoder(src, dst, info, encode, limits, keep_subtitles, finish).run(process, progress)
    return info
