"""``veil live SOURCE -o SINK``: the subcommand (registered in :data:`veil.cli.COMMANDS`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cliargs import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_common_args,
    add_detect_args,
    add_mask_args,
    settings_from_args,
)
from ..errors import ConfigError, OutputError, VeilError
from ..outputs import write_text_atomic
from .runner import OVERLOAD_ACTIONS, LiveSettings, LiveStats
from .urls import redact_text


def live_command(sub: argparse._SubParsersAction) -> None:
    pl = sub.add_parser(
        "live",
        help="mask a camera or network stream in real time, with a bounded delay",
        description="Read SOURCE (rtsp/rtmp/udp/tcp/http(s)/HLS URL, a capture device "
        "such as /dev/video0, or a file with --realtime), mask faces and plates, and write "
        "SINK: a .ts/.mp4/.mkv file that stays playable if veil is killed, a stream to "
        "publish (rtmp://, rtsp://, udp://, tcp://), an .m3u8 playlist or a folder/ "
        "for HLS segments, or - for MPEG-TS on stdout (srt://: through ffmpeg, docs/live.md). "
        "Audio passes through. No frame leaves unmasked: frames the detector has no time "
        "for are carried on their tracks or masked whole.",
        epilog="examples:\n"
        "  veil live rtsp://user:pass@cam.local/stream1 -o rtmp://media.local/live/key\n"
        "  veil live udp://0.0.0.0:5000 -o recording.ts --latency 0.5\n"
        "  veil live clip.mp4 --realtime -o - | ffplay -\n"
        "exit status: 0 source ended or duration reached, 1 source or sink failed, "
        "2 usage error, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pl.add_argument("source", metavar="SOURCE", help="stream URL, capture device or file")
    pl.add_argument("-o", "--output", required=True, metavar="SINK", help="where to write")
    d = LiveSettings()
    g = pl.add_argument_group("live")
    g.add_argument(
        "--latency",
        type=float,
        default=d.latency_s,
        help="the whole added delay budget in seconds, look-ahead included (default: %(default)s)",
    )
    g.add_argument(
        "--overload",
        choices=OVERLOAD_ACTIONS,
        default=d.overload,
        help="a frame no detection covers is masked whole (blur) or not sent (drop) "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--max-carry",
        type=float,
        default=d.max_carry_s,
        help="seconds tracks are carried without a detector run before frames are masked "
        "whole (default: %(default)s)",
    )
    g.add_argument(
        "--reconnect",
        type=float,
        default=d.reconnect_s,
        metavar="SECONDS",
        help="reconnect a lost source with back-off for up to this long "
        "(default: %(default)s: the run ends with the source)",
    )
    g.add_argument("--realtime", action="store_true", help="read a file at its own frame rate")
    g.add_argument("--duration", type=float, help="stop after this many seconds")
    g.add_argument(
        "--input-format", help="FFmpeg input format, e.g. v4l2 or avfoundation (devices)"
    )
    g.add_argument(
        "--source-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="FFmpeg option for the source (repeatable), e.g. rtsp_transport=udp",
    )
    g.add_argument(
        "--status-every",
        type=float,
        default=d.status_every_s,
        help="seconds between status lines on stderr (default: %(default)s)",
    )
    g.add_argument("--stats-json", type=Path, help="write the final counts and delays here")
    g.add_argument("--overwrite", action="store_true", help="replace an existing file sink")
    o = pl.add_argument_group("output")
    o.add_argument("--codec", default=d.codec, help="video codec (default: %(default)s)")
    o.add_argument("--crf", type=int, default=d.crf, help="quality (default: %(default)s)")
    o.add_argument("--preset", default=d.preset, help="encoder preset (default: %(default)s)")
    # test hook: every detector run takes at least this long (a slow machine, on purpose)
    pl.add_argument("--test-slow-detect", type=float, default=0.0, help=argparse.SUPPRESS)
    add_detect_args(pl)
    add_mask_args(pl)
    add_common_args(pl)
    # an interrupted live run keeps its recording on purpose (veil.cli's interrupt line)
    pl.set_defaults(run=run_live_cli, interrupted="what was recorded is kept (masked frames only)")


def _options(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--source-option: expected KEY=VALUE, got {redact_text(pair)!r}")
        out.append((key, value))
    return tuple(out)


def _say(line: str) -> None:
    """One line on stderr (stdout may be the stream itself)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run_live_cli(args: argparse.Namespace) -> int:
    from .runner import LiveRun

    settings = settings_from_args(args)
    live = LiveSettings(
        latency_s=args.latency,
        overload=args.overload,
        max_carry_s=args.max_carry,
        reconnect_s=args.reconnect,
        realtime=args.realtime,
        duration_s=args.duration,
        status_every_s=args.status_every,
        codec=args.codec,
        crf=args.crf,
        preset=args.preset,
        input_format=args.input_format,
        source_options=_options(args.source_option),
        slow_detect_s=args.test_slow_detect,
        overwrite=args.overwrite,
    )

    def status(stats: LiveStats) -> None:
        if not args.quiet:
            _say(stats.line())

    stats_json = args.stats_json
    if stats_json is not None and not stats_json.parent.is_dir():  # found now, not at the end
        raise ConfigError(f"--stats-json {stats_json}: no such folder {stats_json.parent}")
    run = LiveRun(args.source, args.output, settings, live, on_status=status)
    code = EXIT_OK
    try:
        run.run()
    except (ConfigError, OutputError) as exc:
        _say(f"veil: error: {redact_text(str(exc))}")
        code = EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED
    except VeilError as exc:
        _say(f"veil: error: {redact_text(str(exc))}")
        code = EXIT_FAILED
    finally:
        if run.stats.frames_in or code == EXIT_OK:  # after a start-up error, the one line only
            _say(run.stats.line().replace("live:", "live: done:", 1))
        if stats_json is not None:
            write_text_atomic(stats_json, json.dumps(run.stats.as_dict(), indent=1) + "\n", "stats")
    return code
