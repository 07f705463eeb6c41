"""Command line: arguments -> Settings -> pipeline. Deliberately thin.

Only counts, timings and one-line errors reach the terminal; regions go only
to the ``--json`` file the user names.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import ConfigError, OutputError, ProjectError, VeilError
from .outputs import clean_stale_temporaries, remove_live_temporaries
from .pipeline import Engine, FileResult, media_kind
from .project.jobs import ProjectJobs
from .settings import (
    ENSEMBLE_MODES,
    FACE_MODELS,
    PLATE_INPUTS,
    PRECISIONS,
    SHAPES,
    DetectSettings,
    EncodeSettings,
    Limits,
    MaskSettings,
    Settings,
    TrackSettings,
    confirm_wait,
    parse_per_class,
    split_per_class,
)

log = logging.getLogger("veil")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# -- argument parsing ---------------------------------------------------------
def _add_detect_args(p: argparse.ArgumentParser) -> None:
    d = DetectSettings()
    g = p.add_argument_group("detection")
    g.add_argument(
        "--targets", default="face,plate", help="what to find: face, plate or face,plate (default)"
    )
    g.add_argument(
        "--threshold",
        default=None,
        help="score threshold per class, e.g. 'face=0.3,plate=0.25' or one value for all, "
        "for images and video; low defaults favour recall (default: "
        f"face={d.face_threshold},plate={d.plate_threshold}; video faces "
        f"{d.video_face_threshold}; each face network has its own defaults)",
    )
    g.add_argument(
        "--face-model", type=Path, help="another ONNX face model (CenterFace or YOLO format)"
    )
    g.add_argument("--plate-model", type=Path, help="another ONNX plate model (YOLOv8 format)")
    g.add_argument(
        "--face-max-side",
        type=int,
        default=d.face_max_side,
        help="longest side the face detector sees; larger finds smaller faces "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--no-tiling",
        action="store_true",
        help="skip the tiled pass for tiny faces and plates in images (faster, lower recall)",
    )
    g.add_argument(
        "--video-tiling",
        action="store_true",
        help="also run the tiled pass on video frames (several times slower, finds smaller "
        "faces and plates)",
    )
    g.add_argument(
        "--video-face-max-side",
        type=int,
        default=d.video_face_max_side,
        help="longest side the face detector sees in video frames (default: %(default)s)",
    )
    g.add_argument(
        "--video-plate-size",
        type=int,
        default=d.video_plate_size,
        help="plate detector input size for video frames, a multiple of 32 (default: %(default)s)",
    )
    g.add_argument(
        "--video-plate-models",
        choices=ENSEMBLE_MODES,
        default=d.video_plate_ensemble,
        help="video: the two bundled plate models take turns on detected frames (alternate) "
        "or both run on each (all); images always use both (default: %(default)s)",
    )
    g.add_argument(
        "--video-plate-precision",
        choices=PRECISIONS,
        default=d.video_plate_precision,
        help="video: the bundled plate models' int8 copies (faster) or the float originals "
        "that images use (default: %(default)s)",
    )
    g.add_argument(
        "--video-face-precision",
        choices=PRECISIONS,
        default=d.video_face_precision,
        help="video: CenterFace's int8 copy (faster) or the float original that images "
        "use (default: %(default)s)",
    )
    g.add_argument(
        "--face-models",
        choices=FACE_MODELS,
        default=d.face_models,
        help="images: the bundled face networks, YuNet-n and CenterFace fused (a face "
        "must score with both), one alone, or YOLOv8-n alone or fused ('+': every "
        "network named must see the face) (default: %(default)s)",
    )
    g.add_argument(
        "--video-face-models",
        choices=FACE_MODELS,
        default=d.video_face_models,
        help="video: the bundled face networks; 'yolo' or 'yunet' mask far less that is "
        "not a face (street footage) but miss small and blurred faces (see README, Video) "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--plate-input",
        choices=PLATE_INPUTS,
        default=d.plate_input,
        help="what the plate models see: the frame's luma (gray: a colour cast, as at night, "
        "cannot hide a plate), the luma contrast-stretched, or the colour frame "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="inference device (cuda needs veil[gpu])",
    )
    g.add_argument("--threads", type=int, default=0, help="inference threads (0: automatic)")
    lim = p.add_argument_group("limits")
    lim.add_argument(
        "--max-pixels",
        type=int,
        default=Limits().max_pixels,
        help="refuse images/frames above this many pixels (default: %(default)s)",
    )
    lim.add_argument(
        "--max-duration",
        type=float,
        default=Limits().max_duration_s,
        help="refuse videos longer than this many seconds (default: %(default)s)",
    )
    lim.add_argument(
        "--max-file-size",
        type=int,
        default=Limits().max_file_bytes,
        help="refuse files above this many bytes (default: %(default)s)",
    )


def _add_mask_args(p: argparse.ArgumentParser) -> None:
    m = MaskSettings()
    g = p.add_argument_group("masking")
    g.add_argument(
        "--method",
        choices=("blur", "pixelate", "fill", "texture"),
        default=m.method,
        help="how regions are hidden (default: %(default)s; at default strength none "
        "is re-identified measurably above chance by veil audit's attacks; fill and "
        "texture keep nothing of the face)",
    )
    g.add_argument(
        "--color", default="#000000", help="fill/texture colour as hex (default: %(default)s)"
    )
    g.add_argument(
        "--shape",
        default=f"face={m.face_shape},plate={m.plate_shape}",
        help="ellipse or rect, per class or for all (default: %(default)s)",
    )
    g.add_argument(
        "--margin",
        default=f"face={m.face_margin},plate={m.plate_margin}",
        help="region growth as a fraction of its size, per class or for all (default: %(default)s)",
    )
    g.add_argument(
        "--strength",
        type=float,
        default=m.strength,
        help="blur/pixelate strength, 1 = default (0.5-4)",
    )
    _add_track_args(p)


def _add_output_args(p: argparse.ArgumentParser) -> None:
    """Encoding options: only for commands that write media (``veil eval`` writes none)."""
    e = EncodeSettings()
    o = p.add_argument_group("output")
    o.add_argument(
        "--quality",
        type=int,
        default=e.jpeg_quality,
        help="JPEG/WebP/HEIC quality (default: %(default)s)",
    )
    o.add_argument("--codec", default=e.codec, help="video codec (default: %(default)s)")
    o.add_argument(
        "--crf", type=int, default=e.crf, help="video constant rate factor (default: %(default)s)"
    )
    o.add_argument("--preset", default=e.preset, help="video encoder preset (default: %(default)s)")


def _add_track_args(p: argparse.ArgumentParser) -> None:
    t = TrackSettings()
    v = p.add_argument_group("video")
    v.add_argument(
        "--detect-every",
        type=int,
        default=t.detect_every,
        help="run the detector every N-th frame and track in between (default: %(default)s)",
    )
    v.add_argument(
        "--no-track",
        action="store_true",
        help="per-frame detection only, no temporal tracking (leaks more)",
    )


def _add_scale_args(p: argparse.ArgumentParser, segments: bool) -> None:
    """Dask options; dask is imported only when one of them is given."""
    g = p.add_argument_group("scale out (needs veil[dask])")
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        help="run on a local Dask cluster with this many worker processes",
    )
    g.add_argument(
        "--scheduler",
        default=os.environ.get("VEIL_SCHEDULER"),
        help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
        "(default: $VEIL_SCHEDULER); workers must see the same paths",
    )
    if segments:
        g.add_argument(
            "--segment-seconds",
            type=float,
            default=60.0,
            help="with workers: long videos are cut at keyframes into segments of about "
            "this length, masked in parallel and joined without re-encoding "
            "(default: %(default)s)",
        )


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log detail (-vv for debug); logs never hold detections",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="veil",
        description="Find faces and licence plates in photos and videos and mask them "
        "irreversibly. "
        "Runs fully offline; the models ship inside the package.",
    )
    parser.add_argument("--version", action="version", version=f"veil {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    _add_detect_args(pm)
    _add_mask_args(pm)
    _add_output_args(pm)
    _add_scale_args(pm, segments=True)
    _add_common(pm)

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
    _add_detect_args(pd)
    _add_track_args(pd)
    _add_common(pd)

    pe = sub.add_parser(
        "eval",
        help="measure detection and masking quality and speed on an annotated dataset",
        description="Precision, recall, F1, IoU, AP/mAP, masked rate, over-masking, latency and "
        "throughput on DATASET.json (see README for the format).",
    )
    pe.add_argument("dataset", type=Path, metavar="DATASET.json")
    pe.add_argument(
        "--out", type=Path, default=Path("veil-eval"), help="report folder (default: %(default)s)"
    )
    _add_detect_args(pe)
    _add_mask_args(pe)
    _add_scale_args(pe, segments=False)
    _add_common(pe)

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
    _add_detect_args(pa)
    _add_mask_args(pa)
    _add_common(pa)

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
    _add_detect_args(ps)
    _add_mask_args(ps)
    _add_output_args(ps)
    _add_common(ps)
    return parser


def _per_class_choice(text: str, name: str, allowed: Sequence[str]) -> dict[str, str]:
    values = split_per_class(text, name)
    for value in values.values():
        if value not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return values


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Build validated settings; any bad value raises ConfigError naming it."""
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    thr = parse_per_class(args.threshold, "--threshold") if args.threshold else {}
    base = DetectSettings()
    detect = DetectSettings(
        targets=targets,
        face_threshold=thr.get("face"),
        plate_threshold=thr.get("plate", base.plate_threshold),
        # a threshold the user gives is theirs for video too
        video_face_threshold=thr.get("face"),
        face_model=args.face_model,
        plate_model=args.plate_model,
        face_max_side=args.face_max_side,
        face_tile=not args.no_tiling,
        plate_tile=not args.no_tiling,
        video_tile=args.video_tiling,
        video_face_max_side=args.video_face_max_side,
        video_plate_size=args.video_plate_size,
        video_plate_ensemble=args.video_plate_models,
        video_plate_precision=args.video_plate_precision,
        face_models=args.face_models,
        video_face_models=args.video_face_models,
        video_face_precision=args.video_face_precision,
        plate_input=args.plate_input,
        device=args.device,
        threads=args.threads,
    )
    limits = Limits(
        max_pixels=args.max_pixels,
        max_file_bytes=args.max_file_size,
        max_duration_s=args.max_duration,
    )
    settings = Settings(detect=detect, limits=limits)
    if hasattr(args, "detect_every"):
        t = TrackSettings()
        # a sparser detector needs a longer look-ahead to confirm a track before its
        # first frames leave the window (TrackSettings checks the rule)
        wait = confirm_wait(t.confirm_hits, max(args.detect_every, 1), t.pre_frames)
        track = TrackSettings(
            enabled=not args.no_track,
            detect_every=args.detect_every,
            lookahead=max(t.lookahead, min(wait, 120)),
        )
        settings = settings.evolve(track=track)
    if hasattr(args, "method"):
        shapes = _per_class_choice(args.shape, "--shape", SHAPES)
        margins = parse_per_class(args.margin, "--margin")
        m = MaskSettings()
        mask = MaskSettings(
            method=args.method,
            color=args.color,
            face_shape=shapes.get("face", m.face_shape),
            plate_shape=shapes.get("plate", m.plate_shape),
            face_margin=margins.get("face", m.face_margin),
            plate_margin=margins.get("plate", m.plate_margin),
            strength=args.strength,
        )
        settings = settings.evolve(mask=mask)
    if hasattr(args, "quality"):
        encode = EncodeSettings(
            jpeg_quality=args.quality, codec=args.codec, crf=args.crf, preset=args.preset
        )
        settings = settings.evolve(encode=encode)
    return settings


# -- input planning -----------------------------------------------------------
def _files_under(root: Path) -> list[Path]:
    """Every file below ``root``, sorted; an unreadable folder is an error, never skipped
    silently (``Path.rglob`` drops it, and its files would vanish from the output)."""

    def fail(exc: OSError) -> None:
        raise ConfigError(f"{exc.filename}: cannot read folder ({exc.strerror})")

    found = [Path(d) / f for d, _, files in os.walk(root, onerror=fail) for f in files]
    return sorted(found)


def _file_id(path: Path, missing_ok: bool = False) -> tuple[int, int] | None:
    """(device, inode): equal for two names of one file, hard links included."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        if missing_ok:
            return None
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot tell whether it is an input ({exc.strerror or exc})"
        ) from None
    return st.st_dev, st.st_ino


def plan_jobs(inputs: Sequence[Path], output: Path | None) -> list[tuple[Path, Path | None, str]]:
    """(source, destination, name relative to its input root) for every media file.

    One file input writes ``output`` itself; otherwise ``output`` is a folder that
    mirrors each folder input (one folder: directly; several: under each folder's name).
    """
    for p in inputs:
        if not p.exists():
            raise ConfigError(f"{p}: no such file or folder")
        if not (p.is_file() or p.is_dir()):  # a FIFO or device would block or never end
            raise ConfigError(f"{p}: not a regular file or folder")
    single_file = len(inputs) == 1 and inputs[0].is_file()
    if single_file and output is not None and (output.is_dir() or str(output).endswith(os.sep)):
        output = output / inputs[0].name  # `veil mask a.jpg -o folder/` writes folder/a.jpg
    jobs: list[tuple[Path, Path | None, str]] = []
    many = len(inputs) > 1
    for root in inputs:
        if root.is_file():
            if media_kind(root) is None:
                raise ConfigError(
                    f"{root}: unsupported file type {root.suffix or '(no extension)'!r}"
                )
            rel = root.name
            dst = None if output is None else (output if single_file else output / rel)
            jobs.append((root, dst, rel))
            continue
        if output is not None:
            out_res, root_res = output.resolve(), root.resolve()
            if out_res == root_res or root_res in out_res.parents:
                raise ConfigError(
                    f"{output}: output folder is inside the input folder {root}; choose another"
                )
        for path in _files_under(root):
            if path.is_file() and not path.name.startswith(".") and media_kind(path):
                rel = path.relative_to(root).as_posix()
                sub = f"{root.name}/{rel}" if many else rel
                dst = None if output is None else output / sub
                jobs.append((path, dst, sub if many else rel))
    if output is not None:
        if not single_file and output.exists() and not output.is_dir():
            raise ConfigError(f"{output}: several inputs need an output folder, not a file")
        srcs = {p.resolve() for p, _, _ in jobs}
        src_ids = {_file_id(p) for p, _, _ in jobs}
        seen: set[Path] = set()
        for _, dst, _ in jobs:
            assert dst is not None
            r = dst.resolve()
            if r in srcs or _file_id(dst, missing_ok=True) in src_ids:  # hard links too
                raise ConfigError(f"{dst}: output would overwrite an input")
            if r in seen:
                raise ConfigError(f"{dst}: two inputs map to the same output")
            seen.add(r)
    return jobs


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


def _distributed(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "workers", None) or getattr(args, "scheduler", None))


def run_files(args: argparse.Namespace, detect_only: bool) -> int:
    if not detect_only and _distributed(args):
        from .scale.cli import run_mask_distributed

        return run_mask_distributed(args)
    settings = settings_from_args(args)
    output = None if detect_only else args.output
    jobs = plan_jobs(args.inputs, output)
    if not jobs:
        raise ConfigError("no image or video files found in the inputs")
    extra = ProjectJobs.from_args(args, settings, detect_only)
    if detect_only and args.json is None and extra is None:
        raise ConfigError("veil detect: give --json or --project")
    written = [("--json", args.json)] + (extra.files_written() if extra is not None else [])
    for option, path in written:  # what veil writes besides outputs: never an input or output
        if path is None:
            continue
        js = path.resolve()
        if any(js in (src.resolve(), dst and dst.resolve()) for src, dst, _ in jobs):
            raise ConfigError(f"{path}: {option} would overwrite an input or output file")
    roots = {dst.parent for _, dst, _ in jobs if dst is not None}
    for folder in roots:
        clean_stale_temporaries(folder)
    engine = Engine(settings) if extra is None or extra.needs_engine else None
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


def run_eval(args: argparse.Namespace) -> int:
    from .evaluate.runner import run_evaluation

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.command == "eval":
            return run_eval(args)
        if args.command == "serve":
            return run_serve(args)
        if args.command == "audit":
            return run_audit(args)
        return run_files(args, detect_only=args.command == "detect")
    except (ConfigError, OutputError, ProjectError) as exc:
        print(f"veil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except VeilError as exc:
        print(f"veil: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        removed = remove_live_temporaries()
        print(f"veil: interrupted; removed {removed} unfinished output(s)", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
