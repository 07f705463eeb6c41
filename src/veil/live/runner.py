"""The live loop: the batch Engine and tracker, inside a latency budget, failing closed.

Three threads: the source's reader (decode), this module's processing loop
(scene cuts, camera motion, detection, the causal tracker) and a writer
(masking, encoding, muxing). Each frame carries the moment it arrived; its
*deadline* is that moment plus ``latency_s``.

The tracker is :class:`~veil.track.OfflineTracker` with a look-ahead of ``K``
frames, ``K`` chosen so that a frame held back still leaves in time: the
look-ahead lives *inside* the budget and nothing waits on frames beyond it.

Under load the loop degrades toward more masking, never less, and counts each step:

1. **carry**: the detector skips frames beyond ``detect_every`` and tracks are
   carried forward on their motion, boxes grown by ``carry_growth`` of their
   size per frame carried (only once two detector runs in the scene made the
   motion known); the detector also skips its turn while the writer is behind,
   and a held frame that reaches its deadline leaves through a shortened
   look-ahead, tracking going on;
2. **whole frame**: a frame no detection covers (start-up, a scene cut, a
   reconnection, a window flushed while the source stalls or after the reader
   dropped frames, or more than ``max_carry_s`` since the detector last ran) is
   masked whole (``overload='blur'``) or dropped (``'drop'``). A frame between a
   scene's first two runs is covered only if the second run comes while it is
   still held back (the tracker then has detections on both sides of it); it is
   judged when it leaves.

A frame that would leave later than ``latency_s + LATE_GRACE_S`` is dropped
by the writer: the added delay is bounded even when encoding falls behind.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError, VeilError
from ..pipeline import Engine, _to_frame
from ..regions import Regions
from ..settings import Settings, confirm_wait
from ..track import STILL, CameraMotion, OfflineTracker, SceneCutDetector, SceneView, TrackConfig
from ..track.offline import FinalFrame
from .masking import mask_frame
from .sink import LiveSink
from .source import LiveAudio, LiveFrame, LiveSource, SourceEnd
from .urls import redact

log = logging.getLogger(__name__)

OVERLOAD_ACTIONS = ("blur", "drop")
#: a frame later than its deadline by more than this is dropped by the writer
LATE_GRACE_S = 0.25
_POLL_S = 0.05
_WRITER_QUEUE = 64
_ENCODE_QUEUE = 4
_DELAYS_KEPT = 200_000
#: frames waiting for the writer beyond which the detector skips its turn (the frames are
#: carried), unless carrying nears its limit: the CPU goes to the frames already late
_WRITER_BACKLOG = 4


@dataclass(frozen=True)
class LiveSettings:
    """How a live run trades delay against masking (validated; see the module doc)."""

    #: the whole added-delay budget, look-ahead included (seconds)
    latency_s: float = 1.0
    #: what a frame no detection covers becomes: 'blur' (whole frame) or 'drop'
    overload: str = "blur"
    #: longest a track is carried without a detector run before the frame is masked whole
    max_carry_s: float = 1.0
    #: a carried box grows by this fraction of its size per side, per frame carried
    carry_growth: float = 0.03
    #: keep reconnecting a lost source for this long (0: the run ends with the source)
    reconnect_s: float = 0.0
    #: read a file at its own frame rate (tests, demos)
    realtime: bool = False
    #: stop after this many seconds (None: when the source ends or on a signal)
    duration_s: float | None = None
    #: seconds between status reports
    status_every_s: float = 2.0
    codec: str = "libx264"
    crf: int = 23
    #: x264 preset: superfast encodes 720p in about half veryfast's time, for ~8% more bits
    preset: str = "superfast"
    input_format: str | None = None
    source_options: tuple[tuple[str, str], ...] = ()
    #: seconds a connection may stall before it counts as lost
    stall_timeout_s: float = 5.0
    #: test hook: every detector run takes at least this long (simulates a slow machine)
    slow_detect_s: float = 0.0
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("latency_s", 0.05, 60.0),
            ("max_carry_s", 0.0, 60.0),
            ("carry_growth", 0.0, 1.0),
            ("reconnect_s", 0.0, 86_400.0),
            ("status_every_s", 0.1, 3600.0),
            ("stall_timeout_s", 0.5, 600.0),
            ("slow_detect_s", 0.0, 60.0),
        ):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be between {lo} and {hi}, got {v!r}")
        if self.overload not in OVERLOAD_ACTIONS:
            raise ConfigError(
                f"overload must be one of {', '.join(OVERLOAD_ACTIONS)}, got {self.overload!r}"
            )
        if self.duration_s is not None and not (
            isinstance(self.duration_s, (int, float)) and self.duration_s > 0
        ):
            raise ConfigError(f"duration_s must be a positive number, got {self.duration_s!r}")
        from ..settings import EncodeSettings

        # a file's encoder checks: the codec exists in this build, x264's presets, its crf range
        EncodeSettings(codec=self.codec, crf=self.crf, preset=self.preset)


@dataclass
class LiveStats:
    """Counts and delays of a live run: no frames, boxes or addresses (safe to print)."""

    processed: int = 0  #: frames the processing loop took from the source's queue
    written: int = 0
    detected: int = 0
    carried: int = 0  #: frames masked from tracks without a detector run
    carried_under_load: int = 0  #: of those, frames the schedule wanted detected
    blurred: int = 0  #: whole frames masked: no detection covered them
    # frames never written, by who dropped them (each counter has one writer thread)
    dropped_overload: int = 0  #: no detection covered them and overload='drop'
    dropped_late: int = 0  #: the writer found them past their deadline
    dropped_queue: int = 0  #: the source's queue had no room for them
    dropped_stop: int = 0  #: in flight when the run was stopped by a signal or an error
    flushes: int = 0  #: look-ahead windows released early to keep the deadline
    #: frames no detection covered, by why: the scene (or connection, or window) had
    #: fewer than two detector runs, or the tracks were carried for max_carry_s already
    uncovered: dict[str, int] = field(default_factory=lambda: {"scene start": 0, "carry limit": 0})
    reconnects: int = 0
    gaps_s: list[float] = field(default_factory=list)
    lookahead: int = 0  #: frames held back by the tracker
    detect_s: float = 0.0  #: running estimate of one detector run
    delays: deque[float] = field(default_factory=lambda: deque(maxlen=_DELAYS_KEPT))
    max_delay: float = 0.0
    started: float = field(default_factory=time.monotonic)
    audio_packets: int = 0

    @property
    def frames_in(self) -> int:
        """Frames the source delivered (those its queue had no room for included)."""
        return self.processed + self.dropped_queue

    @property
    def dropped(self) -> int:
        """Frames never written, for any reason."""
        return self.dropped_overload + self.dropped_late + self.dropped_queue + self.dropped_stop

    def delay_quantile(self, q: float) -> float | None:
        if not self.delays:
            return None
        return float(np.quantile(np.fromiter(self.delays, float), q))

    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.written / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The status line: rates, delay and counts only."""
        p50, p95 = self.delay_quantile(0.5), self.delay_quantile(0.95)
        delay = (
            f"delay p50 {p50:.2f} s p95 {p95:.2f} s max {self.max_delay:.2f} s"
            if p50 is not None and p95 is not None
            else "delay -"
        )
        gap = f" (longest gap {max(self.gaps_s):.1f} s)" if self.gaps_s else ""
        return (
            f"live: {self.fps():.1f} fps out, {delay}, look-ahead {self.lookahead} frame(s) | "
            f"frames {self.frames_in} in, {self.written} out: detected {self.detected}, "
            f"carried {self.carried} ({self.carried_under_load} under load), "
            f"blurred {self.blurred}, dropped {self.dropped} | reconnects {self.reconnects}{gap}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "written": self.written,
            "detected": self.detected,
            "carried": self.carried,
            "carried_under_load": self.carried_under_load,
            "blurred": self.blurred,
            "dropped": self.dropped,
            "dropped_overload": self.dropped_overload,
            "dropped_late": self.dropped_late,
            "dropped_queue": self.dropped_queue,
            "dropped_stop": self.dropped_stop,
            "flushes": self.flushes,
            "uncovered": dict(self.uncovered),
            "reconnects": self.reconnects,
            "gaps_s": [round(g, 3) for g in self.gaps_s],
            "lookahead": self.lookahead,
            "delay_p50_s": self.delay_quantile(0.5),
            "delay_p95_s": self.delay_quantile(0.95),
            "delay_max_s": self.max_delay,
            "fps": self.fps(),
            "audio_packets": self.audio_packets,
        }


def whole_frame(rgb: np.ndarray) -> np.ndarray:
    """Every pixel hidden: block means over blocks a sixth of the short side, in place.

    A face or plate gets at most a cell or two across unless it fills a third of
    the picture (veil's own pixelate keeps two per region); it is cheap (a few ms
    at 720p) because it is what the loop does when it has no time.
    """
    h, w = rgb.shape[:2]
    b = max(8, min(h, w) // 6)
    ys, xs = np.arange(0, h, b), np.arange(0, w, b)
    sums = np.add.reduceat(np.add.reduceat(rgb, ys, axis=0, dtype=np.uint32), xs, axis=1)
    hy, wx = np.diff(np.append(ys, h)), np.diff(np.append(xs, w))
    means = (sums / (hy[:, None, None] * wx[None, :, None])).astype(np.uint8)
    for row, y, n in zip(means, ys, hy, strict=True):
        rgb[y : y + n] = np.repeat(row, wx, axis=0)[None]
    return rgb


def grow(regions: Regions, factor: float) -> Regions:
    """Boxes scaled about their centres by ``factor`` (>= 1)."""
    if factor <= 1.0 or not len(regions):
        return regions
    xyxy = regions.xyxy.astype(np.float64)
    c = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2 * factor
    out = np.concatenate([c - half, c + half], axis=1).astype(np.float32)
    return regions.moved(out)


@dataclass(slots=True)
class _Meta:
    arrived: float
    t: float
    since_run: int  #: frames since the detector last ran (0: it ran on this one)
    whole: bool = False  #: no detection covers it: masked whole (or dropped)
    #: let go before its window ended, or after the window was shortened for a deadline
    #: and before a full window has passed: ``recent`` is masked too
    early: bool = False
    #: the last detector run's detections at the operating threshold (frame coordinates):
    #: masked too when the window must let the frame go before its tracks are decided
    recent: Regions | None = None
    #: pushed between its scene's first two detector runs: masked from its tracks (and
    #: ``recent``) if the second run came while it was still held, else whole
    scene: _Scene | None = None


@dataclass(slots=True)
class _Scene:
    """Detector runs so far in one scene (or connection, or window after a flush)."""

    runs: int = 0


class _Stop(Exception):
    """The run was asked to stop (duration reached)."""


class LiveRun:
    """One live job: ``run()`` blocks until the source ends, the duration passes, or
    :meth:`stop` is called (from another thread or a signal handler)."""

    def __init__(
        self,
        source: str | Path,
        sink: str | Path,
        settings: Settings | None = None,
        live: LiveSettings | None = None,
        engine: Engine | None = None,
        on_status: Callable[[LiveStats], None] | None = None,
    ) -> None:
        self.settings = settings or (engine.settings if engine is not None else Settings())
        self.live = live or LiveSettings()
        self.source_url, self.sink_url = str(source), str(sink)
        if self.source_url == self.sink_url and self.sink_url != "-":
            raise ConfigError(f"{redact(self.sink_url)}: the sink is the source")
        self.engine = engine
        self.on_status = on_status
        self.stats = LiveStats()
        self._stop = threading.Event()
        self._writer_q: queue.Queue[Any] = queue.Queue(_WRITER_QUEUE)
        self._writer_error: list[BaseException] = []
        self._est_write = 0.02
        self._recent_detect: deque[float] = deque(maxlen=25)
        #: a test may look at every frame handed to the sink (masked pixels only)
        self.frame_hook: Callable[[np.ndarray, float], None] | None = None
        #: an evaluation may see what each written frame masks: its regions, or None for
        #: a frame masked whole (called on the writer thread, before masking)
        self.region_hook: Callable[[Regions | None, float], None] | None = None

    def stop(self) -> None:
        self._stop.set()

    # -- set-up -------------------------------------------------------------------
    def _tracker_config(
        self, fps: float, stride: int, most: int | None = None
    ) -> TrackConfig | None:
        """The tracker's settings with a look-ahead that fits the budget (at most ``most``)."""
        track = self.settings.track
        if not track.enabled:
            return None
        # a held frame waits for its own detector run and for the one after it; the
        # window is sized on the slowest recent run (a busy machine's times swing)
        slowest = max(self._recent_detect, default=self.stats.detect_s)
        budget = self.live.latency_s - 2 * slowest - self._est_write - 0.05
        k = int(max(0, min(track.lookahead, math.floor(budget * fps))))
        if most is not None:
            k = min(k, most)
        pre = min(track.pre_frames, k)
        hits = track.confirm_hits
        if confirm_wait(hits, stride, pre) > k:
            hits = 1  # too short a window to wait for a second sighting: mask the first
        self.stats.lookahead = k
        return TrackConfig.from_settings(
            track, lookahead=k, pre_frames=pre, confirm_hits=hits,
            smooth_radius=min(track.smooth_radius, k),
        )  # fmt: skip

    def _warm_up(self, engine: Engine, width: int, height: int) -> None:
        """Load the video models and time one detector run before frames flow."""
        blank = np.full((height, width, 3), 96, np.uint8)
        engine.detect(blank, video=True, face_turn=0)  # loads the models
        t0 = time.perf_counter()
        engine.detect(blank, video=True, face_turn=0)
        self.stats.detect_s = time.perf_counter() - t0 + self.live.slow_detect_s
        log.info("live: one detector run takes about %.0f ms", 1000 * self.stats.detect_s)

    # -- run ------------------------------------------------------------------------
    def run(self) -> LiveStats:
        """Run until the end; raise :class:`VeilError` on a failure (nothing unmasked is
        ever written, and the sink is closed playable on every path)."""
        live = self.live
        source = LiveSource(
            self.source_url,
            realtime=live.realtime,
            input_format=live.input_format,
            options=dict(live.source_options),
            stall_timeout_s=live.stall_timeout_s,
            reconnect_s=live.reconnect_s,
            limits=self.settings.limits,
        )
        info = source.open()  # a bad address fails before the models load
        try:
            engine = self.engine or Engine(self.settings)
            fps = float(info.fps) if info.fps else 25.0
            self._warm_up(engine, info.width, info.height)
            sink = LiveSink(
                self.sink_url,
                info.width,
                info.height,
                info.fps,
                codec=live.codec,
                crf=live.crf,
                preset=live.preset,
                audio=info.audio,
                overwrite=live.overwrite,
            )
        except BaseException:
            source.close()
            raise
        # a live source gets room for bursts; a file waits for veil, one frame ahead
        room = 2 if source.paced_by_reader else max(16, int(2 * live.latency_s * fps) + 8)
        frames_q: queue.Queue[Any] = queue.Queue(room)
        # masking and encoding overlap on two threads (numpy and x264 both free the GIL)
        encode_q: queue.Queue[Any] = queue.Queue(_ENCODE_QUEUE)
        writers = [
            threading.Thread(
                target=self._masker, args=(engine, encode_q), name="veil-live-mask", daemon=True
            ),
            threading.Thread(
                target=self._encoder, args=(sink, encode_q), name="veil-live-encode", daemon=True
            ),
        ]
        for w in writers:
            w.start()
        clean = False
        try:
            source.start(frames_q, audio=self._audio)
            self._loop(engine, source, frames_q, fps)
            clean = True
        except _Stop:
            clean = True
        finally:
            source.stop()
            self.stats.reconnects = source.stats.reconnects
            self.stats.gaps_s = list(source.stats.gaps_s)
            self.stats.dropped_queue = source.stats.dropped
            self._put_writer(None, force=True)
            for w in writers:
                w.join(30.0)
            # frames taken in but neither written nor dropped yet were cut off by the stop
            st = self.stats
            st.dropped_stop = max(
                0, st.processed - st.written - st.dropped_overload - st.dropped_late
            )
            try:
                sink.close()
            except VeilError:
                if clean and not self._writer_error:
                    raise
            self.stats.audio_packets = sink.audio_packets
        if self._writer_error:
            raise self._writer_error[0]
        return self.stats

    def _audio(self, a: LiveAudio) -> None:
        # audio never blocks the reader: with the writer far behind, packets are dropped
        try:
            self._writer_q.put_nowait(("audio", a))
        except queue.Full:
            log.debug("writer queue full: audio packet dropped")

    def _put_writer(self, item: Any, force: bool = False) -> None:
        while True:
            if self._writer_error and not force:
                raise self._writer_error[0]
            try:
                self._writer_q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if force and self._writer_error:
                    return

    # -- processing thread --------------------------------------------------------
    def _loop(
        self, engine: Engine, source: LiveSource, frames_q: queue.Queue[Any], fps: float
    ) -> None:
        live, track = self.live, self.settings.track
        stride = track.detect_every if track.enabled else 1
        max_carry = int(live.max_carry_s * fps) if track.enabled else 0
        config = self._tracker_config(fps, stride)
        # the batch path's face decision (the confirm rule, or --face-decision learned)
        tracker = OfflineTracker(config, decider=engine.video_decider()) if config else None
        hold_s = (config.lookahead if config is not None else 0) / fps
        detect = engine.clip_detector()
        cuts, camera, view = SceneCutDetector(), CameraMotion(), SceneView()
        # detector runs since this scene began (tracks carry after two: motion known),
        # shared with the frames held between the first two
        scene = _Scene()
        recent: Regions | None = None  # the last run's detections at the operating threshold
        seq = -1  # the last frame's number from the reader
        since_run = 0
        connection = 1
        held: deque[_Meta] = deque()  # metadata of frames inside the tracker, in order
        # frames before this index leave a window shortened for a deadline: a track still
        # undecided when it shrank would have been decided within the full window
        early_until = 0
        index = 0
        began = self.stats.started = time.monotonic()
        next_status = began + live.status_every_s

        def release(finals: list[FinalFrame], early: bool = False) -> None:
            """Frames the tracker made final; ``early``: let go before their window ended,
            so a track still waiting for its confirming sighting is masked as well."""
            for final in finals:
                meta = held.popleft()
                if meta.scene is not None:  # held between its scene's first two runs
                    if meta.scene.runs >= 2:  # the tracker saw both sides of it, as in batch
                        meta.whole = False
                        self.stats.carried += 1
                        self.stats.carried_under_load += 1  # the schedule wanted a run
                    else:
                        self.stats.uncovered["scene start"] += 1
                if meta.whole:
                    out(final.payload[0], None, meta)
                    continue
                rgb, regions = _to_frame(final, track.motion_margin)
                unsure = early or meta.early or meta.scene is not None
                if unsure and meta.recent is not None and len(meta.recent):
                    regions = Regions.concat([regions, meta.recent])
                if meta.since_run:
                    regions = grow(regions, 1.0 + live.carry_growth * meta.since_run)
                out(rgb, regions, meta)

        def out(rgb: np.ndarray, regions: Regions | None, meta: _Meta) -> None:
            if regions is not None:
                self._put_writer(("frame", rgb, regions, meta))
            elif live.overload == "drop":
                self.stats.dropped_overload += 1
            else:  # counted as blurred once written (the writer may still find it late)
                self._put_writer(("whole", rgb, None, meta))

        def shorten(now: float) -> None:
            """The oldest held frame is due: shrink the look-ahead so that the next push
            lets every due frame out. Tracking goes on (a restart would leave the frames
            after it masked whole until the detector has run twice more); the window
            grows back at the next restart. For a full window's worth of frames, the
            last run's detections are masked too (see :class:`_Meta`)."""
            nonlocal hold_s, early_until
            if tracker is None:
                return
            early_until = index + track.lookahead
            slot = 1.0 / fps
            young = sum(now - m.arrived + self._est_write + slot <= live.latency_s for m in held)
            config = self._tracker_config(fps, stride, most=young + 1)
            if config is not None and config.lookahead < tracker.config.lookahead:
                tracker.config = config  # read on every push: the next one releases
                hold_s = config.lookahead / fps
            for m in held:
                m.early = True

        def restart(early: bool = False) -> None:
            """Release the window as it stands and start tracking afresh, with a
            look-ahead sized on the detector's current speed. ``early``: for a deadline,
            not a new scene (see :func:`release`)."""
            nonlocal since_run, tracker, hold_s, recent, scene
            recent = None
            if tracker is not None:
                release(tracker.flush(), early)
                config = self._tracker_config(fps, stride)
                if config is not None and config.lookahead != tracker.config.lookahead:
                    tracker = OfflineTracker(config, decider=engine.video_decider())
                    hold_s = config.lookahead / fps
            since_run, scene = 0, _Scene()

        while True:
            if self._writer_error:
                raise self._writer_error[0]
            now = time.monotonic()
            if now >= next_status:
                next_status = now + live.status_every_s
                self.stats.reconnects = source.stats.reconnects
                self.stats.gaps_s = list(source.stats.gaps_s)
                self.stats.dropped_queue = source.stats.dropped
                if self.on_status is not None:
                    self.on_status(self.stats)
            if self._stop.is_set() or (
                live.duration_s is not None and now - began >= live.duration_s
            ):
                break
            try:
                item = frames_q.get(timeout=_POLL_S)
            except queue.Empty:
                # the source stalls: frames held back must not wait past their deadline
                if held and time.monotonic() - held[0].arrived + self._est_write + _POLL_S > (
                    live.latency_s
                ):
                    self.stats.flushes += 1
                    restart(early=True)
                continue
            if isinstance(item, SourceEnd):
                if tracker is not None:  # the frames held back are masked: they go out
                    release(tracker.flush())
                if item.error is not None:
                    if isinstance(item.error, VeilError):
                        raise item.error
                    raise InputError(
                        f"{redact(self.source_url)}: the source failed "
                        f"({type(item.error).__name__})"
                    )
                break
            frame: LiveFrame = item
            self.stats.processed += 1
            rgb = frame.rgb
            if frame.connection != connection:  # a reconnection: nothing carries over it
                connection = frame.connection
                restart()
                camera.reset()
                cuts = SceneCutDetector()
            elif frame.seq > seq + 1 and seq >= 0:
                # the reader dropped frames: the tracks' motion cannot bridge the jump
                restart(early=True)
            seq = frame.seq
            motion = camera.estimate(rgb) if track.camera_motion else STILL
            if cuts.is_cut(rgb, motion):
                restart()
                view = SceneView()
            else:
                view = view.moved(motion, rgb.shape[1], rgb.shape[0])
            # a frame held back must still leave in time: release the window early if not
            now = time.monotonic()
            if held and now - held[0].arrived + self._est_write > live.latency_s:
                self.stats.flushes += 1
                shorten(now)
            oldest = now - held[0].arrived if held else 0.0
            slack = (
                min(live.latency_s - (now - frame.arrived) - hold_s, live.latency_s - oldest)
                - self._est_write
            )
            due = since_run + 1 >= stride
            # behind schedule, the detector waits for a fresh frame (the stale ones are
            # carried, cheaply, so the loop catches up) unless carrying nears its limit
            fresh = now - frame.arrived <= (
                (live.latency_s - hold_s - self._est_write) / 2 - self.stats.detect_s
            )
            eager = (
                scene.runs < 2 or tracker is None or since_run + 1 >= max(stride, max_carry // 2)
            )
            # the writer is behind: the CPU goes to the frames already made, these are carried
            fresh = fresh and self._writer_q.qsize() <= _WRITER_BACKLOG
            if (scene.runs < 2 or due) and (eager or fresh) and slack >= self.stats.detect_s:
                found = self._detect(detect, rgb, track.continue_score)
                self.stats.detected += 1
                scene.runs, since_run = scene.runs + 1, 0
                recent = engine.above_threshold(found, video=True)
                meta = _Meta(frame.arrived, frame.t, 0, early=index < early_until, recent=recent)
                if tracker is None:
                    out(rgb, engine.above_threshold(found, video=True), meta)
                    continue
                weak = ~engine._at_threshold(found, video=True)
                strong = engine._at_threshold(found, video=True, confirm=True)
                evidence = verify = None
                if tracker.decider is not None:
                    from ..decide.tracks import base_evidence

                    evidence = base_evidence(found.scores, found.xyxy, rgb.shape[0])
                    verify = _verifier(engine, rgb, found)
                held.append(meta)
                release(
                    tracker.push(
                        index,
                        (rgb, view),
                        view.to_scene(found),
                        weak=weak,
                        strong=strong,
                        evidence=evidence,
                        verify=verify,
                    )
                )
            else:
                since_run += 1
                # carried on its tracks once two runs made their motion known, else whole;
                # the tracker still steps through a whole frame, so tracks keep their course
                carry = tracker is not None and scene.runs >= 2 and since_run <= max_carry
                # after the scene's first run, the frame is whole unless the second run
                # comes while it is still held back: the tracker then has detections on
                # both sides of it, as on any frame between runs (decided at release)
                bridge = tracker is not None and scene.runs == 1 and since_run <= max_carry
                meta = _Meta(
                    frame.arrived, frame.t, since_run, whole=not carry,
                    early=index < early_until, recent=recent, scene=scene if bridge else None,
                )  # fmt: skip
                if carry:
                    self.stats.carried += 1
                    self.stats.carried_under_load += due
                else:
                    if not bridge:  # a bridged frame is counted when it leaves
                        why = "scene start" if scene.runs < 2 else "carry limit"
                        self.stats.uncovered[why] += 1
                    # one slow run must not stop detection for good: the estimate relaxes
                    # while frames go out whole, so the detector is tried again
                    self.stats.detect_s *= 0.97
                if tracker is None:
                    out(rgb, None, meta)
                    continue
                held.append(meta)
                release(tracker.push(index, (rgb, view), None))
            index += 1
        if tracker is not None:
            release(tracker.flush())

    def _detect(self, detect: Callable[..., Regions], rgb: np.ndarray, floor: float) -> Regions:
        t0 = time.perf_counter()
        if self.live.slow_detect_s:
            time.sleep(self.live.slow_detect_s)
        found = detect(rgb, floor=floor)
        took = time.perf_counter() - t0
        self.stats.detect_s = 0.8 * self.stats.detect_s + 0.2 * took
        self._recent_detect.append(took)
        return found

    # -- writer thread ---------------------------------------------------------------
    def _masker(self, engine: Engine, encode_q: queue.Queue[Any]) -> None:
        """Writer stage 1: mask each frame (or drop it when already too late)."""
        late = self.live.latency_s + LATE_GRACE_S
        try:
            while True:
                item = self._writer_q.get()
                if item is None:
                    return
                if item[0] == "audio":
                    self._put_stage(encode_q, item)
                    continue
                kind, rgb, regions, meta = item
                t0 = time.monotonic()
                if t0 - meta.arrived + self._est_write > late:
                    self.stats.dropped_late += 1
                    continue
                if self.region_hook is not None:
                    self.region_hook(regions if kind != "whole" else None, meta.t)
                if kind == "whole":
                    masked = whole_frame(rgb)
                else:
                    masked = mask_frame(rgb, regions, engine.settings.mask)
                if self.frame_hook is not None:
                    self.frame_hook(masked, meta.t)
                self._put_stage(encode_q, (kind, masked, t0, meta))
        except BaseException as e:  # noqa: BLE001 - re-raised by the processing thread
            self._writer_error.append(e)
            while True:  # keep draining so that the processing thread never blocks
                try:
                    if self._writer_q.get(timeout=1.0) is None:
                        return
                except queue.Empty:
                    return
        finally:
            self._put_stage(encode_q, None, force=True)

    def _encoder(self, sink: LiveSink, encode_q: queue.Queue[Any]) -> None:
        """Writer stage 2: encode and mux masked frames and audio, in order; measure."""
        try:
            while True:
                item = encode_q.get()
                if item is None:
                    return
                if item[0] == "audio":
                    a: LiveAudio = item[1]
                    sink.write_audio(a.packet, a.t)
                    continue
                kind, masked, t0, meta = item
                sink.write(masked, meta.t)
                done = time.monotonic()
                self._est_write = 0.8 * self._est_write + 0.2 * (done - t0)
                delay = done - meta.arrived
                self.stats.delays.append(delay)
                self.stats.max_delay = max(self.stats.max_delay, delay)
                self.stats.written += 1
                self.stats.blurred += kind == "whole"
        except BaseException as e:  # noqa: BLE001 - re-raised by the processing thread
            self._writer_error.append(e)
            while True:  # keep draining so that the masking stage never blocks
                try:
                    if encode_q.get(timeout=1.0) is None:
                        return
                except queue.Empty:
                    return

    def _put_stage(self, q: queue.Queue[Any], item: Any, force: bool = False) -> None:
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if self._writer_error and not force:
                    raise self._writer_error[0] from None
                if force and self._writer_error:
                    return


def _verifier(engine: Engine, rgb: np.ndarray, found: Regions) -> Callable[..., np.ndarray]:
    """The frame verifier for the learned decision, on this frame's detections."""

    def verify(rows: np.ndarray) -> np.ndarray:
        return engine.verify(rgb, found[rows])

    return verify


def run_live(
    source: str | Path,
    sink: str | Path,
    settings: Settings | None = None,
    live: LiveSettings | None = None,
    engine: Engine | None = None,
    on_status: Callable[[LiveStats], None] | None = None,
) -> LiveStats:
    """Mask ``source`` into ``sink`` in real time (see :class:`LiveRun`); returns the counts."""
    return LiveRun(source, sink, settings, live, engine, on_status).run()


__all__ = [
    "LiveRun",
    "LiveSettings",
    "LiveStats",
    "OVERLOAD_ACTIONS",
    "grow",
    "run_live",
    "whole_frame",
]
