"""``veil review PROJECT``: rank, threshold and bulk-edit a project file without a browser.

Registered in :data:`veil.cli.COMMANDS`. The edits are those of the page and the
REST API (:mod:`veil.project.review`): a threshold or a list of ids turned off
with one reason is one decision, recorded in the project and in the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cliargs import EXIT_OK
from ..errors import ConfigError, ProjectError
from ..settings import METHODS
from . import review as rv
from .document import Project
from .model import size_band


def _say(text: str) -> None:
    """The command's answer, on stdout (this is a CLI module: no logging here)."""
    sys.stdout.write(text + "\n")


def parse_ids(text: str) -> list[int]:
    """``"3,5,7-9"`` -> ``[3, 5, 7, 8, 9]``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        a, _, b = part.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise ConfigError(
                f"track ids: expected numbers and ranges like 3,5,7-9, got {part!r}"
            ) from None
        if hi < lo or hi - lo > 1_000_000:
            raise ConfigError(f"track ids: {part!r} is not a range first-last")
        out.extend(range(lo, hi + 1))
    if not out:
        raise ConfigError("track ids: none given")
    return out


def review_command(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser(
        "review",
        help="rank a project's tracks by evidence; apply a threshold or turn tracks off/on",
        description="Without an action, list the tracks of a project file ranked by evidence "
        "(the learned confidence where the project has one, else the detector score), what "
        "a few thresholds would mask, and the masked tracks counted by size and evidence (the "
        "web page's evidence map as a table: a box on it is --threshold X with --min-size and "
        "--max-size). With --threshold X, turn off every track below X; with "
        "--disable/--enable/--method, change the listed tracks. Each action is one decision "
        "with one reason, recorded in the project and in the redaction report. Turning off "
        f"faces rated very likely a face (confidence {rv.LIKELY_FACE} or more, detector score "
        f"{rv.LIKELY_FACE_SCORE} or more, or drawn by hand) needs --confirm.",
        epilog="examples:\n"
        "  veil review street.project.json\n"
        "  veil review street.project.json --threshold 0.3 --reason 'signs and lanterns'\n"
        "  veil review street.project.json --disable 4,9-12 --reason 'poster, not a person'\n"
        "  veil review street.project.json --max-size 12   # the tracks at most 12 px high, ids\n"
        "  veil review street.project.json --threshold 0.5 --max-size 16 --reason 'crowd'\n"
        "exit status: 0 done, 2 usage error or refused (e.g. needs --confirm)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pr.add_argument("project", type=Path, metavar="PROJECT", help="project file to review")
    pr.add_argument("--file", help="which file of the project (default: its only file)")
    act = pr.add_mutually_exclusive_group()
    act.add_argument("--threshold", type=float, help="mask tracks at or above X; turn off the rest")
    act.add_argument("--disable", metavar="IDS", help="turn off these tracks (e.g. 3,5,7-9)")
    act.add_argument("--enable", metavar="IDS", help="turn these tracks on again")
    act.add_argument(
        "--method",
        nargs=2,
        metavar=("METHOD", "IDS"),
        help=f"mask these tracks with METHOD ({', '.join(METHODS)}, or 'default')",
    )
    pr.add_argument(
        "--label",
        choices=("face", "plate"),
        help="--threshold applies to this class only (a learned face confidence and a plate's "
        "detector score are different scales)",
    )
    pr.add_argument("--reason", help="why the tracks are left unmasked (goes into the report)")
    pr.add_argument(
        "--confirm", action="store_true", help="allow turning off tracks rated very likely a face"
    )
    pr.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    pr.add_argument("-o", "--output", type=Path, help="write here (default: PROJECT, in place)")
    pr.add_argument(
        "--top",
        type=int,
        default=0,
        metavar="N",
        help="without an action, also list the N likeliest tracks, one a line (id, class, "
        "state, evidence, frames, height); none by default: the terminal gets counts unless "
        "asked for more",
    )
    pr.add_argument(
        "--min-size",
        type=float,
        metavar="PX",
        help="only tracks at least PX high (median box height): lists them and prints their "
        "ids for --disable, or with --threshold, applies it to them only",
    )
    pr.add_argument(
        "--max-size",
        type=float,
        metavar="PX",
        help="only tracks at most PX high (listing, or --threshold)",
    )
    pr.set_defaults(run=run_review)


def _pick_file(project: Project, name: str | None) -> str:
    names = [e.file for e in project.files]
    if name is not None:
        project.entry(name)
        return name
    if len(names) != 1:
        raise ConfigError(f"--file: the project holds {len(names)} files; name one")
    return names[0]


def format_ids(ids: list[int]) -> str:
    """``[3, 5, 7, 8, 9]`` -> ``"3,5,7-9"`` (what :func:`parse_ids` reads)."""
    runs: list[list[int]] = []
    for i in sorted(set(ids)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


#: the text evidence map's rows (median box height, px: up to and including each bound) and
#: columns (evidence from each lower bound up to the next), as the page's map shows them
MAP_SIZES = (12, 16, 24, 32, 48, 96)
MAP_EVIDENCE = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def evidence_table(stats: list[rv.TrackStats]) -> list[str]:
    """The masked tracks counted by size (rows) and evidence (columns): the page's evidence
    map in text, so a box on it can be turned off with ``--threshold X --min-size A
    --max-size B``. Tracks with no evidence (drawn by hand) have their own column."""
    rows = [f"<= {MAP_SIZES[0]}"]
    rows += [f"{a}-{b}" for a, b in zip(MAP_SIZES, MAP_SIZES[1:], strict=False)]
    rows.append(f"> {MAP_SIZES[-1]}")
    cols = [f"{a:.1f}-{b:.1f}" for a, b in zip(MAP_EVIDENCE, MAP_EVIDENCE[1:], strict=False)] + [
        f">= {MAP_EVIDENCE[-1]:.1f}",
        "none",
    ]
    counts = [[0] * len(cols) for _ in rows]
    for st in stats:
        if not st.enabled:
            continue
        r = sum(st.size > b for b in MAP_SIZES)
        c = (
            len(cols) - 1
            if st.evidence is None
            else sum(st.evidence >= b for b in MAP_EVIDENCE) - 1
        )
        counts[r][max(c, 0)] += 1
    lines = ["masked tracks by size (median box height, px) and evidence:"]
    lines.append(f"  {'size px':<8}" + "".join(f"{c:>9}" for c in cols))
    for name, row in zip(rows, counts, strict=True):
        lines.append(f"  {name:<8}" + "".join(f"{n or '.':>9}" for n in row))
    lines.append("  (a row: sizes over its first bound, up to its second; a box on the table is")
    lines.append("  one decision: --threshold X for evidence under X, --min-size A --max-size B)")
    return lines


def _summary(
    project: Project,
    file: str,
    top: int,
    min_size: float | None = None,
    max_size: float | None = None,
) -> None:
    entry = project.entry(file)
    every = rv.StatsCache().all(entry)
    stats = sorted(
        rv.by_size(every, min_size, max_size),
        key=lambda s: (s.evidence is None, -(s.evidence or 0.0), s.id),
    )
    kinds = sorted({s.evidence_kind for s in every})
    _say(f"{len(every)} tracks; evidence: {', '.join(kinds) or 'none'}")
    if min_size is not None or max_size is not None:
        ids = format_ids([s.id for s in stats]) or "none"
        _say(f"{len(stats)} track(s) {size_band(min_size, max_size)} (median box height): {ids}")
    cov = rv.Coverage(entry)
    for x in (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9):
        p = rv.preview(entry, x, cov)
        _say(
            f"  at or above {x:.1f}: {p.masked} masked ({100 * p.area_share:.1f}% of frame "
            f"area), {p.turned_off} turned off ({p.likely_faces_off} likely faces)"
        )
    for line in evidence_table(every):
        _say(line)
    if top <= 0:
        _say("(--top N lists the N likeliest tracks with their ids, for --disable)")
        return
    _say("id     class  state  evidence                 frames  size px")
    for s in stats[:top]:
        ev = "-" if s.evidence is None else f"{s.evidence:.3f} ({s.evidence_kind})"
        state = "on" if s.enabled else "off"
        _say(f"{s.id:<6} {s.label:<6} {state:<6} {ev:<24} {s.frames:>6}  {s.size:>7.0f}")


def run_review(args: argparse.Namespace) -> int:
    project = Project.load(args.project)
    file = _pick_file(project, args.file)
    entry = project.entry(file)
    if args.threshold is None and not (args.disable or args.enable or args.method):
        _summary(project, file, args.top, args.min_size, args.max_size)
        return EXIT_OK
    band = (args.min_size, args.max_size)
    if band != (None, None) and args.threshold is None:
        raise ConfigError(
            "--min-size/--max-size: narrow the listing or --threshold; pass the ids the listing "
            "prints to --disable"
        )
    try:
        if args.threshold is not None:
            if args.dry_run:
                p = rv.preview(entry, args.threshold, None, args.label, *band)
                only = "" if band == (None, None) else f" {size_band(*band)}"
                _say(
                    f"would turn off {p.turned_off} track(s){only} ({p.likely_faces_off} rated "
                    f"very likely a face); {p.masked} stay masked, {100 * p.area_share:.1f}% of "
                    "the frame area"
                )
                return EXIT_OK
            d = rv.apply_threshold(
                project, file, args.threshold, args.reason or "", args.confirm, args.label, *band
            )
            changed = len(d.tracks)
        else:
            if args.method:
                action, method, ids = "method", args.method[0], parse_ids(args.method[1])
                method = None if method == "default" else method
            else:
                action = "disable" if args.disable else "enable"
                ids, method = parse_ids(args.disable or args.enable), None
            plan = rv.bulk_plan(entry, ids, action, method)
            if args.dry_run:
                risky = sum(rv.likely_face(t) for t in plan) if action == "disable" else 0
                _say(f"would change {len(plan)} track(s) ({risky} rated very likely a face)")
                return EXIT_OK
            rv.bulk_edit(project, file, ids, action, args.reason, method, args.confirm)
            changed = len(plan)
    except rv.NeedsConfirmation as e:
        raise ProjectError(
            f"{e.count} of these track(s) are rated very likely a face; add --confirm to turn "
            "them off anyway"
        ) from None
    out = args.output or args.project
    project.save(out)
    sys.stderr.write(f"veil: review: {changed} track(s) changed; wrote {out}\n")
    return EXIT_OK


__all__ = ["evidence_table", "format_ids", "parse_ids", "review_command", "run_review"]
