"""Command line: arguments -> Settings -> pipeline. Deliberately thin.

Only counts, timings and one-line errors reach the terminal; regions go only
to the ``--json`` file the user names. Option groups, settings and input planning
live in :mod:`veil.cliargs`, below this module and the commands it runs; each
command here is a function that adds its subparser and sets ``run`` (see COMMANDS).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

# numpy's OpenBLAS starts a thread per core when numpy loads, and each spins for 2^28
# cycles (about 0.1 s of CPU) waiting for work before it sleeps; veil's own matrix
# products are a few rows and never wake them. 2^4 cycles: they sleep at once, and a
# large product (the audit's) still runs on all of them. Set before anything imports
# numpy (``veil`` itself does not); a value the user set is kept.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .cliargs import (  # noqa: E402 - after the BLAS setting above
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_common_args,
    add_detect_args,
    add_mask_args,
    add_output_args,
    add_scale_args,
    add_track_args,
    check_destinations,
    plan_jobs,
    settings_from_args,
)
from .errors import ConfigError, ModelError, OutputError, ProjectError, VeilError  # noqa: E402
from .outputs import clean_stale_temporaries, remove_live_temporaries  # noqa: E402
from .pipeline import Engine, FileResult, media_kind  # noqa: E402
from .settings import Settings  # noqa: E402

log = logging.getLogger("veil")

# ``veil.cli.settings_from_args`` and friends stay importable from here.
__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "plan_jobs",
    "settings_from_args",
]

Subparsers = argparse._SubParsersAction  # what ``add_subparsers`` returns


class _VersionAction(argparse.Action):
    """``--version``: the models are hashed only when asked, not on every start."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from .about import version_text

        print(version_text())
        parser.exit()


# -- commands: each adds its parser and sets ``run`` ----------------------------
def _mask_command(sub: Subparsers) -> None:
    pm = sub.add_parser(
        "mask",
        help="mask faces and plates in images, videos or folders",
        description="Mask faces and plates. A folder INPUT is searched recursively and mirrored "
        "under OUTPUT; a single file INPUT writes the file OUTPUT. Inputs are never modified.",
        epilog="examples:\n"
        "  veil mask photo.jpg -o photo-masked.jpg\n"
        "  veil mask archive/ -o archive-masked/ --json regions.json\n"
        "  veil mask clip.mp4 -o clip-masked.mp4 --targets face --method fill\n"
        "exit status: 0 all masked, 1 some input failed, 2 usage error, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pm.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image, video or folder")
    pm.add_argument(
        "-o", "--output", type=Path, required=True, help="output file (one file input) or folder"
    )
    pm.add_argument("--json", type=Path, help="also write the regions found to this JSON file")
    pm.add_argument(
        "--project",
        type=Path,
        help="render exactly what this reviewed project file says, without detection "
        "(made by `veil detect --project`; refused if an input's sha256 differs)",
    )
    pm.add_argument(
        "--report",
        type=Path,
        help="write a redaction report for an auditor (.md or .json): hashes, settings, "
        "counts, manual and disabled regions with reasons; no coordinates",
    )
    add_detect_args(pm)
    add_mask_args(pm)
    add_output_args(pm)
    add_scale_args(pm, segments=True)
    add_common_args(pm)
    pm.set_defaults(run=run_mask)


def _detect_command(sub: Subparsers) -> None:
    pd = sub.add_parser(
        "detect",
        help="find faces and plates without masking (for review and evaluation)",
        description="Detection only: writes the regions found to --json in the dataset format.",
    )
    pd.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image, video or folder")
    pd.add_argument("--json", type=Path, help="where to write the per-frame regions")
    pd.add_argument(
        "--project",
        type=Path,
        help="write a reviewable project file instead: tracks with keyframes, to edit and "
        "then render with `veil mask --project`",
    )
    add_detect_args(pd)
    add_track_args(pd)
    add_common_args(pd)
    pd.set_defaults(run=run_detect)


def _eval_command(sub: Subparsers) -> None:
    pe = sub.add_parser(
        "eval",
        help="measure detection and masking quality and speed on an annotated dataset",
        description="Precision, recall, F1, IoU, AP/mAP, masked rate, over-masking, latency and "
        "throughput on DATASET.json (format: docs/formats.md).",
    )
    pe.add_argument("dataset", type=Path, metavar="DATASET.json")
    pe.add_argument(
        "--out", type=Path, default=Path("veil-eval"), help="report folder (default: %(default)s)"
    )
    add_detect_args(pe)
    add_mask_args(pe)
    add_scale_args(pe, segments=False)
    add_common_args(pe)
    pe.set_defaults(run=run_eval)


def _audit_command(sub: Subparsers) -> None:
    pa = sub.add_parser(
        "audit",
        help="show that masks cannot be undone (attacks + re-identification), or pick "
        "the riskiest samples of a run for a person to check",
        description="Reversibility: mask DATASET.json (veil eval format) with the given "
        "settings, attack the masks (deconvolution, up-scaling + sharpening) and try to "
        "re-identify faces (dlib) and read plates (OCR); or audit rendered files with "
        "--original/--masked. Sampling: --sample N with --project. Needs "
        "pip install 'veil[audit]' for the reversibility part.",
    )
    pa.add_argument("dataset", type=Path, nargs="?", metavar="DATASET.json")
    pa.add_argument(
        "--out", type=Path, default=Path("veil-audit"), help="report folder (default: %(default)s)"
    )
    pa.add_argument("--original", type=Path, help="folder (or image) of originals")
    pa.add_argument("--masked", type=Path, help="the same files, masked (same relative paths)")
    pa.add_argument(
        "--methods",
        help="methods to audit, comma-separated (default: all four; the controls "
        "unmasked, gauss-5%%, mosaic-20px run unless --no-controls)",
    )
    pa.add_argument(
        "--strengths",
        default=None,
        help="blur/pixelate strengths, comma-separated (default: --strength)",
    )
    pa.add_argument(
        "--min-height",
        type=float,
        default=40.0,
        help="smallest face audited, px (default: %(default)s)",
    )
    pa.add_argument(
        "--blank-context",
        action="store_true",
        help="faces: grey out everything outside the mask's footprint in the original "
        "and the probe alike, so only what the mask left of the face is compared (the "
        "same photo's background and hair otherwise match themselves)",
    )
    pa.add_argument(
        "--plate-min-height",
        type=float,
        default=10.0,
        help="smallest plate audited, px (default: %(default)s)",
    )
    pa.add_argument(
        "--calibrate",
        type=int,
        default=60,
        help="objects per half on which every attack variant is tried; each half is then "
        "attacked with the variant per family that did best on the other half (0: every "
        "variant on every object; default: %(default)s)",
    )
    pa.add_argument("--max-objects", type=int, help="audit at most this many objects per class")
    pa.add_argument(
        "--galleries",
        type=int,
        default=10,
        metavar="K",
        help="faces: also rank each probe within K interleaved galleries (short candidate "
        "lists; K hits expected by chance instead of one, so the verdict is decided there; "
        "1: one gallery only; default: %(default)s)",
    )
    pa.add_argument(
        "--no-controls",
        action="store_true",
        help="skip the controls (unmasked, gauss-5%%, mosaic-20px), e.g. for a strength sweep",
    )
    pa.add_argument(
        "--annotated-boxes",
        action="store_true",
        help="mask the annotated boxes instead of veil's detections (isolates the mask "
        "from the detector)",
    )
    pa.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="pick the N riskiest items of a finished run (--project) for a person to check",
    )
    pa.add_argument("--project", type=Path, help="the run's project file (with --sample)")
    pa.add_argument("--input", type=Path, help="the run's input file or folder (with --sample)")
    pa.add_argument(
        "--checklist",
        type=Path,
        help="a checklist filled in the contact sheet: add its outcome to --report",
    )
    pa.add_argument(
        "--report", type=Path, help="the redaction report of the run (with --checklist)"
    )
    pa.add_argument(
        "--include-originals",
        action="store_true",
        help="with --sample: also show the original pixels in the contact sheet",
    )
    add_detect_args(pa)
    add_mask_args(pa)
    add_common_args(pa)
    pa.set_defaults(run=run_audit)


def _serve_command(sub: Subparsers) -> None:
    ps = sub.add_parser(
        "serve",
        help="review, correct and render in a browser (local web app and REST API)",
        description="Serve a web page and a REST API to review what veil found, turn tracks "
        "off with a reason, draw regions that follow their object and render. Prints a URL "
        "with a one-time token; only files under FOLDER (or uploaded) are used.",
    )
    ps.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=Path("."),
        metavar="FOLDER",
        help="folder whose images and videos may be opened (default: current folder)",
    )
    ps.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    ps.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    ps.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than localhost (the token is then all that guards it)",
    )
    ps.add_argument(
        "--max-upload-mb", type=int, default=2048, help="largest upload (default: %(default)s)"
    )
    ps.add_argument(
        "--workers", type=int, default=1, help="jobs that run at once (default: %(default)s)"
    )
    add_detect_args(ps)
    add_mask_args(ps)
    add_output_args(ps)
    add_common_args(ps)
    ps.set_defaults(run=run_serve)


# -- JSON ---------------------------------------------------------------------
def write_results_json(path: Path, results: list[tuple[str, FileResult]]) -> None:
    """The dataset format of shared/data plus ``score``; ``file`` relative to its input root."""
    from .evaluate.dataset import (
        regions_to_dataset_entry,
        video_to_dataset_entry,
        write_detections_json,
    )

    images, videos = [], []
    for rel, r in results:
        if r.kind == "image" and r.detections:
            f = r.detections[0]
            images.append(regions_to_dataset_entry(rel, f.width, f.height, f.regions))
        elif r.kind == "video":
            first = r.detections[0] if r.detections else None
            frames = [(f.index, f.regions) for f in r.detections]
            w, h = (first.width, first.height) if first else (None, None)
            videos.append(video_to_dataset_entry(rel, frames, w, h))
    write_detections_json(path, images=images, videos=videos)


# -- running ------------------------------------------------------------------
def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("veil: %(levelname)s: %(message)s"))
    root = logging.getLogger("veil")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def _progress_bars(quiet: bool):
    if quiet:  # no bar is shown: tqdm (and the package metadata it reads) is not loaded

        def nothing(total: int | None, unit: str, desc: str) -> None:
            return None

        return nothing

    from tqdm import tqdm

    def bar(total: int | None, unit: str, desc: str):
        return tqdm(
            total=total,
            unit=unit,
            desc=desc,
            disable=quiet,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    return bar


def _frame_estimate(src: Path, settings: Settings) -> int | None:
    """The container's frame count, for the progress bar's ETA (None when unknown)."""
    from .media.video import probe

    return probe(src, settings.limits).frames


#: local Dask workers at most: each is a process with its own models (hundreds of MB)
MAX_WORKERS = 256


def _distributed(args: argparse.Namespace) -> bool:
    workers = getattr(args, "workers", None)
    if workers is not None and not 1 <= workers <= MAX_WORKERS:  # 0 ran locally, 100000 hung
        raise ConfigError(f"--workers must be from 1 to {MAX_WORKERS}, got {workers}")
    return bool(workers or getattr(args, "scheduler", None))


def run_files(args: argparse.Namespace, detect_only: bool) -> int:
    if not detect_only and _distributed(args):
        from .scale.cli import run_mask_distributed

        return run_mask_distributed(args)
    settings = settings_from_args(args)
    output = None if detect_only else args.output
    jobs = plan_jobs(args.inputs, output)
    if not jobs:
        raise ConfigError("no image or video files found in the inputs")
    extra = None
    if getattr(args, "project", None) is not None or getattr(args, "report", None) is not None:
        from .project.jobs import ProjectJobs  # a plain run loads none of veil.project

        extra = ProjectJobs.from_args(args, settings, detect_only)
    if detect_only and args.json is None and extra is None:
        raise ConfigError("veil detect: give --json or --project")
    written = [("--json", args.json)] + (extra.files_written() if extra is not None else [])
    check_destinations(jobs, written)
    roots = {dst.parent for _, dst, _ in jobs if dst is not None}
    for folder in roots:
        clean_stale_temporaries(folder)
    engine = None
    if extra is None or extra.needs_engine:
        engine = _load_models(settings, {media_kind(src) for src, _, _ in jobs})
    bar = _progress_bars(args.quiet)
    collect = args.json is not None
    results: list[tuple[str, FileResult]] = []
    failed = 0
    files_bar = bar(len(jobs), "file", "files") if len(jobs) > 1 else None
    try:
        for src, dst, rel in jobs:
            frame_bar = None
            try:
                if media_kind(src) == "video" and not args.quiet:
                    frame_bar = bar(_frame_estimate(src, settings), "frame", "frames")
                update = frame_bar.update if frame_bar is not None else None
                if extra is not None:
                    res = extra.run(engine, src, dst, rel, update)
                elif detect_only:
                    assert engine is not None
                    res = engine.detect_file(src, progress=update)
                else:
                    assert dst is not None and engine is not None
                    res = engine.mask_file(src, dst, progress=update, collect=collect)
                results.append((rel, res))
                log.info(
                    "file %d/%d done: %d frame(s), %s, %.2f s",
                    len(results) + failed,
                    len(jobs),
                    res.frames,
                    ", ".join(f"{n} {k}" for k, n in sorted(res.counts.items())) or "nothing found",
                    res.seconds,
                )
            except VeilError as exc:
                failed += 1
                if files_bar is not None:
                    files_bar.clear()
                print(f"veil: error: {exc}", file=sys.stderr)
            except MemoryError:
                failed += 1
                print(f"veil: error: {src}: out of memory", file=sys.stderr)
            except Exception as exc:  # a bug, not bad input: still one line, next file
                failed += 1
                log.debug("unexpected failure", exc_info=True)
                print(
                    f"veil: error: {src}: internal error ({type(exc).__name__}); "
                    "no output written; run with -vv for details",
                    file=sys.stderr,
                )
            finally:
                if frame_bar is not None:
                    frame_bar.close()
            if files_bar is not None:
                files_bar.update(1)
    finally:
        if files_bar is not None:
            files_bar.close()
    if args.json is not None:
        write_results_json(args.json, results)
    if extra is not None:
        extra.finish()
    done = len(results)
    verb = "scanned" if detect_only else "masked"
    summary = f"veil: {verb} {done} of {len(jobs)} file(s)"
    if failed:
        summary += f"; {failed} failed"
    print(summary, file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _load_models(settings: Settings, kinds: set[str | None]) -> Engine:
    """The engine, with the networks the files need loaded now: a model that cannot load
    (a wrong ``--face-model``, no GPU for ``--device cuda``) is a configuration error,
    found before any file is processed, not one failure per file."""
    try:
        engine = Engine(settings, photos="image" in kinds)  # it loads that profile's
        if "video" in kinds:
            _ = engine.video_detectors
    except ModelError as exc:
        raise ConfigError(str(exc)) from None
    return engine


def run_mask(args: argparse.Namespace) -> int:
    return run_files(args, detect_only=False)


def run_detect(args: argparse.Namespace) -> int:
    return run_files(args, detect_only=True)


def run_eval(args: argparse.Namespace) -> int:
    from .evaluate.runner import run_evaluation

    if not args.dataset.exists():  # as a missing input to mask: found before any work
        raise ConfigError(f"{args.dataset}: no such dataset file or folder")
    settings = settings_from_args(args)
    if _distributed(args):
        from .scale.cli import run_eval_distributed

        table = run_eval_distributed(args, settings)
    else:
        table = run_evaluation(args.dataset, args.out, settings, quiet=args.quiet)
    print(table)
    return EXIT_OK


def run_audit(args: argparse.Namespace) -> int:
    from .audit.cli import run

    print(run(args, settings_from_args(args)))
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    from .web import serve

    serve(
        args.folder,
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        max_upload=args.max_upload_mb * 1024**2,
        workers=args.workers,
        settings=settings_from_args(args),
    )
    return EXIT_OK


#: The sample ``veil demo`` masks (see samples/PROVENANCE.md): public domain or made here.
SAMPLES = Path(__file__).resolve().parent / "samples"


def _demo_command(sub: Subparsers) -> None:
    pd = sub.add_parser(
        "demo",
        help="mask the small sample that ships with veil (a photo and a clip) into OUT_DIR",
        description="Mask the sample shipped in the package (a photo with two faces and a "
        "plate, and a 2 s clip of the same scene) with the default settings, as "
        "`veil mask` would: OUT_DIR receives the masked files and redaction-report.md.",
    )
    pd.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the results")
    add_common_args(pd)
    pd.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    samples = sorted(p for p in SAMPLES.iterdir() if media_kind(p))
    report = args.out_dir / "redaction-report.md"
    try:  # the report goes into the folder too, and a --report folder must exist
        args.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or exc
        raise ConfigError(f"{args.out_dir}: cannot make the folder ({why})") from None
    argv = ["mask", *map(str, samples), "-o", str(args.out_dir), "--report", str(report)]
    argv += ["-q"] * args.quiet + ["-v"] * args.verbose
    code = run_files(build_parser().parse_args(argv), detect_only=False)
    print(f"veil: demo: masked files and {report.name} are in {args.out_dir}", file=sys.stderr)
    return code


def _policies_command(sub: Subparsers) -> None:
    pp = sub.add_parser(
        "policies",
        help="list the compliance policy presets, or print one as TOML",
        description="`veil policies` lists the presets with their purpose; "
        "`veil policies show NAME` prints one as TOML, a starting point for your own "
        "file (pass it with --policy FILE).",
    )
    pp.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    pp.add_argument("name", nargs="?", help="the preset to show")
    pp.set_defaults(run=run_policies)


def run_policies(args: argparse.Namespace) -> int:
    from .policy import load_policy, presets

    known = presets()
    if args.action == "show":
        if args.name not in known:
            raise ConfigError(
                f"veil policies show: name one of {', '.join(sorted(known))} (got {args.name!r})"
            )
        sys.stdout.write(known[args.name].read_text(encoding="utf-8"))
        return EXIT_OK
    for name in sorted(known):
        print(f"{name:<18} {load_policy(name).purpose}")
    return EXIT_OK


def _review_command(sub: Subparsers) -> None:
    from .project.review_cli import review_command

    review_command(sub)


def _live_command(sub: Subparsers) -> None:
    from .live.cli import live_command

    live_command(sub)


#: Commands whose parsers live in modules of their own, imported only when every
#: command's parser is built or the command is run: ``veil.project.review_cli`` and
#: ``veil.live.cli`` load the project model and the live pipeline, which a ``veil mask``
#: run never uses (with importlib.metadata, about 0.1 s of CPU at its start).
_LAZY_COMMANDS = (_review_command, _live_command)


#: The commands in the order ``veil --help`` lists them. A new command is one function
#: that adds its subparser and sets ``run`` (args -> exit status), named here.
COMMANDS = (
    _mask_command,
    _detect_command,
    _eval_command,
    _audit_command,
    _serve_command,
    _review_command,
    _demo_command,
    _policies_command,
    _live_command,
)


def _command_name(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, or None where the top level's options come first
    (-h, --version: the whole parser is needed) or there is none."""
    if not argv or argv[0].startswith("-"):
        return None
    return argv[0]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command. Given a ``command`` that is not lazy
    (:data:`_LAZY_COMMANDS`), the lazy commands are left out: their modules would be
    imported for nothing. An unknown ``command`` gets every command, for the error."""
    parser = argparse.ArgumentParser(
        prog="veil",
        description="Find faces and licence plates in photos and videos and mask them "
        "irreversibly. "
        "Runs fully offline; the models ship inside the package.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the version and the bundled models' sha256"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in COMMANDS:
        if command is None or add_command not in _LAZY_COMMANDS:
            add_command(sub)
    if command is not None and command not in sub.choices:
        return build_parser()  # a lazy or an unknown command
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_name(argv))
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", 0))
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.run(args)
    except (ConfigError, OutputError, ProjectError) as exc:
        print(f"veil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except VeilError as exc:
        print(f"veil: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        remove_live_temporaries()  # those the unwinding did not reach already
        left = getattr(args, "interrupted", "no unfinished output left")  # a command's own
        print(f"veil: interrupted; {left}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
