"""Long videos cut into segments at keyframes, masked in parallel, joined by stream copy.

* **Plan.** The video packets are demuxed (not decoded) once: their pts,
  sorted, give every frame's index in display order, and the keyframes give
  where decoding may start. Segment cores begin at keyframes.
* **Overlap.** Each segment decodes ``overlap`` frames before and after its
  core and runs detection and tracking over that whole window, with the
  detector on the same frames as a single pass (``first_index``), so tracks
  and gap filling reaching across a boundary are there. Only the core is
  masked and encoded.
* **Pieces.** Each core is encoded on its own (a fresh encoder: it starts
  with an IDR frame and no frame refers outside it) into a NUT file, which
  keeps timestamps exactly in the input's time base, and is renamed into
  place only when complete.
* **Join.** Pieces are concatenated packet for packet into the output, the
  input's audio is copied once packet for packet and interleaved by time.
  Frame count and every timestamp are checked against the plan; any
  surprise (a decoder that drops a frame, pieces whose encoder headers
  differ) raises :class:`SegmentError` and the caller masks the file in
  one piece instead.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import InputError, OutputError
from ..media import video as video_io
from ..outputs import atomic_output
from ..pipeline import Engine
from ..settings import Settings, TrackSettings

log = logging.getLogger(__name__)

#: Output containers a split video may be joined into (all keep global codec headers).
JOINABLE = frozenset({".mp4", ".m4v", ".mov", ".mkv"})
#: Encoders whose pieces join cleanly (closed GOPs, headers equal across pieces).
SPLIT_CODECS = frozenset({"libx264", "libx265"})
PIECE_SUFFIX = ".nut"


class SegmentError(InputError):
    """This video cannot be split safely; it is masked in one piece instead."""


@dataclass(frozen=True)
class Segment:
    """One unit of work: core frames ``[start, end)``, read from ``read_from`` to ``read_to``."""

    index: int
    start: int
    end: int
    read_from: int
    read_to: int
    seek_pts: int
    pts: tuple[int, ...]  # pts of frames read_from .. read_to-1, display order

    def core_pts(self) -> tuple[int, ...]:
        return self.pts[self.start - self.read_from : self.end - self.read_from]


@dataclass(frozen=True)
class VideoPlan:
    """How one video is cut; ``segments`` cover every frame exactly once."""

    frames: int
    time_base: Fraction
    segments: tuple[Segment, ...]
    #: quarter turns that make the clip's faces upright, decided once for every
    #: segment (:func:`clip_face_turn`); None: not decided, each window probes
    face_turn: int | None = None


def overlap_frames(track: TrackSettings) -> int:
    """Frames read beyond each side of a core.

    Gap filling reaches ``lookahead + post_frames`` frames and a track may
    coast ``max_gap`` frames, so a window this wide sees every detection that
    can change a core frame; ``2 * detect_every`` lets a track started in the
    overlap be confirmed before the core begins.
    """
    if not track.enabled:
        return 0
    return (
        track.lookahead + track.max_gap + track.pre_frames + track.post_frames
        + 2 * track.detect_every
    )  # fmt: skip


def can_split(src: Path, settings: Settings) -> bool:
    """Whether the output format and codec allow joining pieces by stream copy."""
    ext = src.suffix.lower()
    return ext in JOINABLE and video_io._encoder_name(settings.encode, ext) in SPLIT_CODECS


def plan_video(
    src: str | Path, settings: Settings, segment_frames: int, overlap: int | None = None
) -> VideoPlan | None:
    """Cut ``src`` into segments of about ``segment_frames`` frames, or None when it is
    too short to gain from it or its timestamps do not allow a safe cut."""
    src = Path(src)
    if segment_frames < 1:
        raise ValueError(f"segment_frames must be positive, got {segment_frames!r}")
    if not can_split(src, settings):
        return None
    overlap = overlap_frames(settings.track) if overlap is None else overlap
    video_io.probe(src, settings.limits)  # refuses bad or oversized files early
    container = video_io._open_input(src)
    try:
        stream = video_io._video_stream(container, src)
        tb = Fraction(stream.time_base)
        packets: list[tuple[int, bool]] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return None  # frame order unknown without pts: do not cut
                packets.append((int(packet.pts), bool(packet.is_keyframe)))
        except av.FFmpegError as e:
            raise InputError(f"{src.name}: corrupt video ({video_io._why(e)})") from None
    finally:
        container.close()
    pts = sorted(p for p, _ in packets)
    n = len(pts)
    if n < 2 * segment_frames or len(set(pts)) != n:
        return None
    index_of = {p: i for i, p in enumerate(pts)}
    keys = sorted(index_of[p] for p, key in packets if key)
    if not keys or keys[0] != 0:
        return None
    cuts = [0]
    for k in keys:
        if k - cuts[-1] >= segment_frames and n - k >= segment_frames // 2:
            cuts.append(k)
    if len(cuts) < 2:
        return None
    bounds = [*cuts, n]
    segments = []
    for i, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        read_from = max(0, start - overlap)
        read_to = min(n, end + overlap)
        seek = max(k for k in keys if k <= read_from)
        segments.append(
            Segment(i, start, end, read_from, read_to, pts[seek], tuple(pts[read_from:read_to]))
        )
    return VideoPlan(n, tb, tuple(segments))


# --------------------------------------------------------------------------- one segment


def _window(src: Path, seg: Segment, settings: Settings) -> Iterator[np.ndarray]:
    """Upright frames ``read_from .. read_to-1``; their pts must be the plan's, in order."""
    container = video_io._open_input(src)
    try:
        stream = video_io._video_stream(container, src)
        stream.thread_type = "AUTO"
        tb = stream.time_base
        if seg.read_from > 0:
            container.seek(seg.seek_pts, stream=stream, backward=True, any_frame=False)
        want = seg.pts
        got = 0
        first = want[0]
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if frame.pts is None:
                        raise SegmentError(f"{src.name}: a decoded frame has no timestamp")
                    if frame.pts < first:
                        continue  # before the window, decoded only to reach it
                    if frame.pts != want[got]:
                        raise SegmentError(
                            f"{src.name}: segment {seg.index} decoded frame pts {frame.pts} "
                            f"where {want[got]} was planned"
                        )
                    video_io._check_pixels(src, frame.width, frame.height, settings.limits)
                    video_io._check_duration(src, float(frame.pts * tb), settings.limits)
                    yield video_io._upright(frame)
                    got += 1
                    if got == len(want):
                        return
        except av.FFmpegError as e:
            raise InputError(f"{src.name}: corrupt video ({video_io._why(e)})") from None
        raise SegmentError(
            f"{src.name}: segment {seg.index} ended after {got} of {len(want)} frames"
        )
    finally:
        container.close()


class _PieceWriter:
    """Encodes one core exactly as a single-pass transcode would encode those frames."""

    def __init__(self, src: Path, dst: Path, settings: Settings, info: video_io.VideoInfo):
        ext = src.suffix.lower()
        codec = video_io._encoder_name(settings.encode, ext)
        inp = video_io._open_input(src)
        try:
            in_video = video_io._video_stream(inp, src)
            self.time_base = in_video.time_base
            self.tags = video_io._safe_tags(dict(in_video.metadata))
        finally:
            inp.close()
        self.info = info
        self.pad_w, self.pad_h = info.width % 2, info.height % 2
        try:
            self.out = av.open("file:" + os.path.abspath(dst), "w", format="nut")
        except (av.FFmpegError, OSError) as e:
            raise OutputError(f"{dst.name}: cannot create ({video_io._why(e)})") from None
        vs = self.out.add_stream(codec, rate=info.fps or Fraction(30))
        vs.width = info.width + self.pad_w
        vs.height = info.height + self.pad_h
        vs.pix_fmt = "yuv420p"
        vs.codec_context.time_base = self.time_base
        vs.time_base = self.time_base
        vs.options = video_io._encoder_options(codec, settings.encode)
        vs.codec_context.thread_type = "AUTO"
        self.vs = vs
        self.colour: dict[str, int] = {}
        self._reformat = av.video.reformatter.VideoReformatter()

    def write(self, img: np.ndarray, pts: int, colour: dict[str, int]) -> None:
        if not self.colour:
            self.colour = colour
            cc = self.vs.codec_context
            for name, value in colour.items():
                if value and value != 2:  # 2 = unspecified
                    with contextlib.suppress(AttributeError, ValueError, TypeError):
                        setattr(cc, name, value)
        if self.pad_w or self.pad_h:
            img = np.pad(img, ((0, self.pad_h), (0, self.pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        cs = self.colour.get("colorspace")
        kwargs = {"dst_colorspace": cs} if cs and cs != 2 else {}
        frame = self._reformat.reformat(frame, format="yuv420p", **kwargs)
        frame.pts = pts
        frame.time_base = self.time_base
        self.out.mux(self.vs.encode(frame))

    def close(self, ok: bool) -> None:
        try:
            if ok:
                self.out.mux(self.vs.encode(None))
        finally:
            self.out.close()


def _colour_of(src: Path) -> dict[str, int]:
    """Colour tags of the first frame, as a single pass copies them to its encoder."""
    container = video_io._open_input(src)
    try:
        stream = video_io._video_stream(container, src)
        for frame in video_io._decode(container, stream, src):
            return {
                "colorspace": frame.colorspace,
                "color_range": frame.color_range,
                "color_primaries": frame.color_primaries,
                "color_trc": frame.color_trc,
            }
    finally:
        container.close()
    raise InputError(f"{src.name}: no decodable video frame")


def clip_face_turn(engine: Engine, src: Path, plan: VideoPlan) -> int:
    """The clip's face orientation, probed as a single pass does (``Engine.clip_turn``):
    on its first frame, and where that one is judged turned, on the frames of the
    next detector runs.

    Decided once here and given to every segment: a window probing its own
    first frame could pick another orientation than the whole clip's, and its
    masks would then differ from a single-process run. (A single pass also
    searches the frames before the turn is confirmed upright in both orientations;
    the segments do not, a difference of one or two detector runs' extra boxes.)
    """
    if not engine.video_profile.any_angle:
        return 0
    frames = _window(src, plan.segments[0], engine.settings)
    try:
        turn = engine.clip_turn(frames)
    finally:
        frames.close()  # the decoder is closed now, not when the generator is collected
    if turn is None:
        raise InputError(f"{src.name}: no decodable video frame")
    return turn


def mask_segment(
    engine: Engine,
    src: Path,
    piece: Path,
    seg: Segment,
    last: bool,
    face_turn: int | None = None,
) -> int:
    """Mask one segment's core into ``piece`` (appears only when complete); returns frames.

    ``face_turn`` is the clip's (:func:`clip_face_turn`); None lets the window probe.
    """
    settings = engine.settings
    info = video_io.probe(src, settings.limits)
    colour = _colour_of(src)
    core_pts = seg.core_pts()
    written = 0
    with atomic_output(piece) as tmp:
        writer = _PieceWriter(src, tmp, settings, info)
        ok = False
        try:
            regions_iter = engine.video_regions(
                _window(src, seg, settings),
                first_index=seg.read_from,
                detect_last=last,
                face_turn=face_turn,
            )
            for offset, (rgb, regions) in enumerate(regions_iter):
                index = seg.read_from + offset
                if seg.start <= index < seg.end:
                    masked = engine.mask(rgb, regions, inplace=True)[0]
                    writer.write(masked, core_pts[written], colour)
                    written += 1
            ok = True
        finally:
            writer.close(ok)
        # checked before atomic_output renames the piece: a short piece under its
        # final name would count as done in a resumed run
        if written != len(core_pts):
            raise SegmentError(
                f"{src.name}: segment {seg.index} wrote {written} of {len(core_pts)}"
            )
    return written


# --------------------------------------------------------------------------- join


def _open_piece(path: Path) -> Any:
    try:
        return av.open("file:" + os.path.abspath(path), "r")
    except (av.FFmpegError, OSError) as e:
        raise SegmentError(f"{path.name}: cannot read piece ({video_io._why(e)})") from None


@dataclass(frozen=True)
class _Layout:
    """What the check of every piece learnt before anything is written."""

    shifts: tuple[int, ...]  # per piece: how far its muxer moved its pts (encoder delay)
    pts: tuple[int, ...]  # every frame's pts in decode order, all pieces
    delay: int  # frames of reordering: packet j gets the dts of the j - delay'th frame


def _check_pieces(pieces: list[Path], plan: VideoPlan, name: str) -> _Layout:
    """Check each piece holds exactly its core's frames, with equal encoder headers.

    NUT stores no dts and shifts a piece's timestamps by its encoder delay
    (timestamps there cannot be negative), so the shift is measured here and
    dts are rebuilt from the display order, as the encoder made them in a
    single pass.
    """
    extradata: bytes | None = None
    shifts: list[int] = []
    order: list[int] = []
    for path, seg in zip(pieces, plan.segments, strict=True):
        c = _open_piece(path)
        try:
            vs = c.streams.video[0]
            data = bytes(vs.codec_context.extradata or b"")
            if extradata is None:
                extradata = data
            elif data != extradata:
                raise SegmentError(f"{name}: encoder headers differ between pieces")
            scale = Fraction(vs.time_base) / plan.time_base
            mine = []
            for packet in c.demux(vs):
                if packet.size == 0:
                    continue
                if packet.pts is None or (packet.pts * scale).denominator != 1:
                    raise SegmentError(f"{name}: piece {seg.index} has an inexact timestamp")
                mine.append(int(packet.pts * scale))
        except av.FFmpegError as e:
            raise SegmentError(
                f"{name}: piece {seg.index} unreadable ({video_io._why(e)})"
            ) from None
        finally:
            c.close()
        want = seg.core_pts()
        shift = (min(mine) - want[0]) if mine else 0
        mine = [p - shift for p in mine]
        if tuple(sorted(mine)) != want:
            raise SegmentError(f"{name}: piece {seg.index} frames differ from the plan")
        shifts.append(shift)
        order.extend(mine)
    rank = {p: i for i, p in enumerate(sorted(order))}
    delay = max([0] + [j - rank[p] for j, p in enumerate(order)])
    return _Layout(tuple(shifts), tuple(order), delay)


def _video_packets(
    pieces: list[Path], plan: VideoPlan, layout: _Layout, out_stream: Any, name: str
) -> Iterator[Any]:
    """Every piece's packets in order, in the input time base, with rebuilt dts.

    Packet ``j`` (decode order, whole video) gets the pts of display frame
    ``j - delay`` as its dts, the first ``delay`` packets that minus the span
    of the first ``delay`` frames: increasing, never after its pts, and what
    the encoder gives in one pass.
    """
    shown = sorted(layout.pts)
    d = layout.delay
    lead = shown[d] - shown[0] if d < len(shown) else 0
    j = 0
    for path, seg, shift in zip(pieces, plan.segments, layout.shifts, strict=True):
        c = _open_piece(path)
        try:
            vs = c.streams.video[0]
            scale = Fraction(vs.time_base) / plan.time_base
            for packet in c.demux(vs):
                if packet.size == 0:
                    continue
                pts = int(packet.pts * scale) - shift
                if pts != layout.pts[j]:
                    raise SegmentError(f"{name}: piece {seg.index} changed while joining")
                dts = shown[j - d] if j >= d else shown[j] - lead
                packet.pts, packet.dts = pts, dts
                packet.time_base = plan.time_base
                packet.stream = out_stream
                j += 1
                yield packet
        finally:
            c.close()


def join_pieces(src: Path, dst: Path, pieces: list[Path], plan: VideoPlan) -> None:
    """Write ``dst`` from the masked pieces and the input's audio; appears only when complete."""
    ext = src.suffix.lower()
    layout = _check_pieces(pieces, plan, src.name)
    if len(layout.pts) != plan.frames:
        raise SegmentError(f"{src.name}: pieces hold {len(layout.pts)} of {plan.frames} frames")
    first = _open_piece(pieces[0])
    inp = video_io._open_input(src)
    try:
        in_video = video_io._video_stream(inp, src)
        with atomic_output(dst) as tmp:
            out = av.open("file:" + os.path.abspath(tmp), "w", format=video_io._MUXERS[ext])
            ok = False
            try:
                ovs = out.add_stream_from_template(first.streams.video[0])
                ovs.time_base = plan.time_base
                ovs.metadata.clear()
                ovs.metadata.update(video_io._safe_tags(dict(in_video.metadata)))
                copy_map = {}
                for s in inp.streams:
                    if s.type == "audio":
                        o = out.add_stream_from_template(s)
                        o.time_base = s.time_base
                        o.metadata.clear()
                        o.metadata.update(video_io._safe_tags(dict(s.metadata)))
                        copy_map[s.index] = o
                out.metadata.clear()

                def audio() -> Iterator[Any]:
                    if not copy_map:
                        return
                    for packet in inp.demux([inp.streams[i] for i in copy_map]):
                        if packet.size and packet.dts is not None:
                            packet.stream = copy_map[packet.stream.index]
                            yield packet

                def when(packet: Any) -> Fraction:
                    return packet.dts * Fraction(packet.time_base)

                video = _video_packets(pieces, plan, layout, ovs, src.name)
                for packet in heapq.merge(video, audio(), key=when):
                    out.mux(packet)
                ok = True
            finally:
                try:
                    out.close()
                except Exception as e:  # noqa: BLE001 - closing after a failure must not mask it
                    if ok:
                        raise OutputError(f"{dst.name}: cannot finish ({e})") from None
    except av.FFmpegError as e:
        raise OutputError(f"{dst.name}: joining pieces failed ({video_io._why(e)})") from None
    finally:
        inp.close()
        first.close()


def remove_pieces(folder: Path) -> None:
    """Delete a video's piece folder once its output is complete (or abandoned)."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # the shared parts folder, once empty


__all__ = [
    "JOINABLE",
    "Segment",
    "SegmentError",
    "VideoPlan",
    "can_split",
    "clip_face_turn",
    "join_pieces",
    "mask_segment",
    "overlap_frames",
    "plan_video",
    "remove_pieces",
]
