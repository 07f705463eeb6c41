"""Where masked live frames go: a file that stays playable, a stream, HLS, or stdout.

Only masked frames ever reach :meth:`LiveSink.write`; this module encodes and
muxes them. A file sink is written in place (a live recording has no end to
wait for before a rename), in a container a reader can play when veil is
killed mid-write: MPEG-TS (packets flushed as written), fragmented MP4 (one
fragment per keyframe, about one a second) or Matroska (clusters). Every
frame in such a file has passed masking; a kill costs at most the last
fragment.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import ConfigError, OutputError
from .urls import redact, redact_text, scheme

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90_000)
#: a sink that encodes and discards (a live view in ``veil serve`` with nowhere to publish)
NULL_SINK = "null:"
_ASC_MUXERS = frozenset({"mp4", "flv", "matroska", "rtsp"})

#: file extensions -> (muxer, muxer options)
_FILE_FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    ".ts": ("mpegts", {"flush_packets": "1"}),
    ".m2ts": ("mpegts", {"flush_packets": "1"}),
    ".mts": ("mpegts", {"flush_packets": "1"}),
    ".mp4": ("mp4", {"movflags": "frag_keyframe+empty_moov+default_base_moof"}),
    ".m4v": ("mp4", {"movflags": "frag_keyframe+empty_moov+default_base_moof"}),
    ".mkv": ("matroska", {"flush_packets": "1", "cluster_time_limit": "1000"}),
}
#: URL schemes -> (muxer, muxer options) for publishing
_URL_FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    "rtmp": ("flv", {}),
    "rtmps": ("flv", {}),
    "rtsp": ("rtsp", {"rtsp_transport": "tcp"}),
    "srt": ("mpegts", {}),
    "udp": ("mpegts", {"pkt_size": "1316"}),
    "tcp": ("mpegts", {}),
}


def sink_kind(target: str | Path) -> tuple[str, str, dict[str, str]]:
    """(kind, muxer, options) for a sink; a target veil cannot write is a ConfigError.

    kind is 'file', 'url', 'hls', 'stdout' or 'null' (:data:`NULL_SINK`).
    """
    text = str(target)
    if text == "-":
        return "stdout", "mpegts", {}
    if text == NULL_SINK:
        return "null", "null", {}
    s = scheme(text)
    if s:
        if s not in _URL_FORMATS:
            raise ConfigError(
                f"{redact(text)}: cannot publish to {s}:// (use one of "
                f"{', '.join(sorted(_URL_FORMATS))}, a .ts/.mp4/.mkv file, an .m3u8 "
                "playlist or - for stdout)"
            )
        fmt, opts = _URL_FORMATS[s]
        return "url", fmt, dict(opts)
    path = Path(text)
    if path.suffix.lower() == ".m3u8" or path.is_dir() or text.endswith(("/", os.sep)):
        return "hls", "hls", {}
    if not path.suffix:  # a typo for recording.ts must not turn into a folder of segments
        raise ConfigError(
            f"{text}: name a .ts, .mp4 or .mkv file, an .m3u8 playlist, or a folder ending in "
            "/ for HLS segments"
        )
    ext = path.suffix.lower()
    if ext not in _FILE_FORMATS:
        raise ConfigError(
            f"{path.name}: a live file sink must be .ts, .m2ts, .mp4 or .mkv (containers that "
            f"stay playable if veil is killed), got {ext or '(no extension)'!r}"
        )
    fmt, opts = _FILE_FORMATS[ext]
    return "file", fmt, dict(opts)


class LiveSink:
    """Encode masked RGB frames (and copy audio packets) to the sink."""

    def __init__(
        self,
        target: str | Path,
        width: int,
        height: int,
        fps: Fraction | None,
        *,
        codec: str = "libx264",
        crf: int = 23,
        preset: str = "superfast",
        audio: Any = None,
        overwrite: bool = False,
    ) -> None:
        self.target = str(target)
        self.shown = redact(self.target)
        self.kind, fmt, options = sink_kind(self.target)
        self.width, self.height = width, height
        self.pad_w, self.pad_h = width % 2, height % 2
        self._rgb_to_yuv = VideoReformatter()
        self._last_pts = -1
        self._audio_last: int | None = None
        self.frames = 0
        self.audio_packets = 0
        where = self._where(overwrite)
        if self.kind == "hls":
            folder = Path(where).parent
            options.update(
                hls_time="1",
                hls_list_size="10",
                hls_flags="delete_segments+independent_segments+temp_file",
                hls_segment_filename=str(folder / "segment%06d.ts"),
            )
        try:
            self.out = av.open(where, "w", format=fmt, options=options, timeout=10.0)
        except av.ProtocolNotFoundError:
            raise OutputError(
                f"{self.shown}: this FFmpeg build cannot write {scheme(self.target)}:// "
                "(PyAV's wheels have no SRT); pipe it out: "
                "veil live SOURCE -o - | ffmpeg -i - -c copy -f mpegts URL"
            ) from None
        except (av.FFmpegError, OSError) as e:
            raise OutputError(f"{self.shown}: the sink refused the stream ({_why(e)})") from None
        try:
            rate = fps or Fraction(25)
            vs = self.out.add_stream(codec, rate=rate)
            vs.width, vs.height = width + self.pad_w, height + self.pad_h
            vs.pix_fmt = "yuv420p"
            vs.time_base = TIME_BASE
            vs.codec_context.time_base = TIME_BASE
            # a keyframe about every second: a player joins, and a killed file loses, at most that
            vs.codec_context.gop_size = max(1, round(float(rate)))
            if codec in ("libx264", "libx265"):
                vs.options = {"crf": str(crf), "preset": preset, "tune": "zerolatency"}
            vs.codec_context.thread_type = "SLICE"  # frame threads would add frames of delay
            self.video = vs
            self.audio = None
            self._adts: Any = None
            if audio is not None:
                try:
                    self.audio = self.out.add_stream_from_template(audio)
                    self.audio.metadata.clear()
                    cc = audio.codec_context
                    if fmt in _ASC_MUXERS and cc.name == "aac" and not cc.extradata:
                        # MPEG-TS carries AAC with ADTS headers; MP4, FLV and Matroska
                        # want the configuration once, up front, and bare frames
                        self.audio.codec_context.extradata = _aac_config(cc)
                        self._adts = True
                except (av.FFmpegError, ValueError) as e:
                    log.warning("audio cannot go into this sink (%s); audio dropped", _why(e))
                    self.audio = None
            self.out.metadata.clear()
            self.out.start_encoding()
        except (av.FFmpegError, OSError) as e:
            self._close_quietly()
            raise OutputError(f"{self.shown}: cannot start the sink ({_why(e)})") from None
        except BaseException:
            self._close_quietly()
            raise

    def _where(self, overwrite: bool) -> str:
        if self.kind == "stdout":
            return "pipe:1"
        if self.kind == "null":
            return NULL_SINK
        if self.kind == "url":
            return self.target
        path = Path(self.target)
        if self.kind == "hls":
            if path.suffix.lower() != ".m3u8":
                if not path.parent.is_dir():  # the folder itself is made, never a tree
                    raise OutputError(f"{path.parent}: no such folder for the HLS segments")
                path.mkdir(exist_ok=True)
                path = path / "index.m3u8"
            elif not path.parent.is_dir():
                raise OutputError(f"{path.parent}: no such folder for the HLS playlist")
        elif not path.parent.is_dir():
            raise OutputError(f"{path.parent}: no such folder")
        if path.exists() and not overwrite:
            raise OutputError(f"{path.name}: exists; give --overwrite to replace it")
        return "file:" + str(path.resolve())

    def write(self, rgb: np.ndarray, t: float) -> None:
        """Encode one masked frame at ``t`` seconds on the output timeline."""
        if self.pad_w or self.pad_h:
            rgb = np.pad(rgb, ((0, self.pad_h), (0, self.pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = self._rgb_to_yuv.reformat(frame, format="yuv420p")
        pts = max(round(t / TIME_BASE), self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = TIME_BASE
        self._mux(self.video.encode(frame))
        self.frames += 1

    def write_audio(self, packet: Any, t: float) -> None:
        """Copy one audio packet (its time moved to ``t`` seconds on the output timeline)."""
        if self.audio is None:
            return
        tb = packet.time_base
        pts = round(t / tb)
        if self._audio_last is not None and pts <= self._audio_last:
            return  # overlap after a reconnection: never out of order
        if packet.dts is not None and packet.pts is not None:
            packet.dts = pts - (packet.pts - packet.dts)
        else:
            packet.dts = pts
        packet.pts = pts
        self._audio_last = pts
        packet.stream = self.audio
        packet.time_base = tb
        if self._adts:
            packet = _strip_adts(packet)
            packet.stream = self.audio
        self._mux([packet])
        self.audio_packets += 1

    def _mux(self, packets: Any) -> None:
        try:
            self.out.mux(packets)
        except (av.FFmpegError, OSError) as e:
            raise OutputError(
                f"{self.shown}: the sink stopped taking the stream ({_why(e)})"
            ) from None

    def close(self) -> None:
        """Drain the encoder and write the trailer (the file is complete)."""
        try:
            self._mux(self.video.encode(None))
        finally:
            try:
                self.out.close()
            except (av.FFmpegError, OSError) as e:
                raise OutputError(f"{self.shown}: cannot finish ({_why(e)})") from None

    def _close_quietly(self) -> None:
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - the first error is the one reported
            log.debug("closing the sink after a failure failed", exc_info=True)


_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


def _aac_config(cc: Any) -> bytes:
    """AudioSpecificConfig of AAC-LC at the stream's rate and channels (2 bytes)."""
    if cc.sample_rate not in _AAC_RATES or (cc.profile or "LC") != "LC":
        raise ValueError(f"AAC {cc.profile} at {cc.sample_rate} Hz is not copied into this sink")
    channels = cc.layout.nb_channels if cc.layout is not None else 2
    value = (2 << 11) | (_AAC_RATES.index(cc.sample_rate) << 7) | (channels << 3)
    return value.to_bytes(2, "big")


def _strip_adts(packet: Any) -> Any:
    """The AAC frame of an ADTS packet, without its 7- or 9-byte header."""
    data = bytes(packet)
    if len(data) < 9 or data[0] != 0xFF or data[1] & 0xF0 != 0xF0:
        return packet
    bare = av.Packet(data[7 if data[1] & 1 else 9 :])
    bare.pts, bare.dts, bare.time_base = packet.pts, packet.dts, packet.time_base
    return bare


def _why(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return redact_text(str(msg).splitlines()[0])
