"""What every command shares: exit codes, option groups, settings and input planning.

Below both :mod:`veil.cli` and the commands it dispatches to (:mod:`veil.scale.cli`,
``veil live``, ``veil review``...), so none of them imports the CLI module itself.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .errors import ConfigError
from .pipeline import _refuse_other_format, media_kind
from .settings import (
    DECISIONS,
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

#: Exit statuses of every ``veil`` command.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# -- argument parsing ---------------------------------------------------------
def add_text_args(p: argparse.ArgumentParser) -> None:
    """The text target's options and ``--policy`` (docs/text.md)."""
    d = DetectSettings()
    g = p.add_argument_group("text and policy")
    g.add_argument(
        "--text",
        choices=("pii", "all"),
        default=d.text_mode,
        help="with --targets ...,text: mask only text holding personal data (pii: phone, "
        "e-mail, IBAN, card, ID numbers, your terms, plate-like strings) or all text "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--text-terms",
        type=Path,
        default=None,
        help="a UTF-8 file of terms to mask where they are read (names...), one a line",
    )
    g.add_argument(
        "--text-regions",
        default=",".join(d.text_regions),
        help="countries whose national phone formats are recognised, e.g. PL,DE "
        "(international +NN numbers always are; default: %(default)s)",
    )
    g.add_argument(
        "--video-text-every",
        type=int,
        default=d.video_text_every,
        help="video: read text on every N-th detector run and track it between "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--policy",
        default=None,
        help="a compliance policy, a preset name (veil policies) or a TOML file: it sets "
        "targets, method, strength, margins and text categories over the options above",
    )


def add_detect_args(p: argparse.ArgumentParser) -> None:
    add_text_args(p)
    d = DetectSettings()
    g = p.add_argument_group("detection")
    g.add_argument(
        "--targets",
        default="face,plate",
        help="what to find, comma-separated: face, plate, text (default: face,plate)",
    )
    g.add_argument(
        "--threshold",
        default=None,
        help="score threshold per class, e.g. 'face=0.3,plate=0.25' or one value for all, "
        "for images and video; low defaults favour recall (default: "
        f"face={d.face_threshold},plate={d.plate_threshold},text={d.text_threshold}; video faces "
        f"{d.video_face_threshold}; each face network has its own defaults)",
    )
    g.add_argument(
        "--face-model",
        type=Path,
        help="another ONNX face model (YuNet, CenterFace or YOLOv8 format)",
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
        help="video: the int8 copies of CenterFace and of the face decision's YOLO "
        "verifier (faster) or the float originals (default: %(default)s)",
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
        "not a face (street footage) but miss small and blurred faces (docs/quality.md, Video) "
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


def add_mask_args(p: argparse.ArgumentParser) -> None:
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
    add_track_args(p)


def add_output_args(p: argparse.ArgumentParser) -> None:
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


def add_track_args(p: argparse.ArgumentParser) -> None:
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
    v.add_argument(
        "--face-decision",
        choices=DECISIONS,
        default=t.decide,
        help="how a video face track is confirmed: 'learned' asks the bundled model for "
        "P(face) from the track's evidence (fewer false masks); 'rule' masks every track "
        "seen twice or once strongly (default: %(default)s)",
    )
    v.add_argument(
        "--face-confidence",
        type=float,
        default=t.face_confidence,
        metavar="P",
        help="learned decision: mask a face track once its P(face) reaches P, from 0 to 1; "
        "lower masks more (fewer faces missed, more clutter), higher masks less "
        f"(default: the bundled model's operating point, {_operating_point():.3g}, "
        "chosen on training clips for recall first; docs: Choosing the operating point)",
    )
    v.add_argument(
        "--unlikely-growth",
        type=float,
        default=t.unlikely_growth,
        metavar="SHARE",
        help="learned decision: how much a face track it masks but rates an unlikely "
        f"face (P(face) under {t.unlikely_below}) grows, from 0 (its mean size, not grown "
        "with its own speed) to 1 (grown like every other track, the most cautious) "
        "(default: %(default)s)",
    )
    v.add_argument(
        "--unlikely-margin",
        type=float,
        default=t.unlikely_margin,
        metavar="SHARE",
        help="learned decision: the mask margin of such an unlikely face, as a share of "
        "the face margin, from 0 (its box alone) to 1 (the full margin, the most "
        "cautious) (default: %(default)s)",
    )
    v.add_argument(
        "--unlikely-lapse",
        type=int,
        default=t.unlikely_lapse,
        metavar="RUNS",
        help="learned decision: such an unlikely face is no longer masked after this many "
        f"detector runs in a row rate it under {t.unlikely_lapse_under:g} times the "
        "decision's threshold (the frames before stay masked), until it passes again; "
        "0 keeps it masked to its end, the most cautious (default: %(default)s)",
    )


def _operating_point() -> float:
    """The bundled video face decision's threshold, for the help text."""
    from .decide import load_bundled

    return load_bundled().threshold


def add_scale_args(p: argparse.ArgumentParser, segments: bool) -> None:
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


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log detail (-vv for debug); logs never hold detections",
    )


def per_class_choice(text: str, name: str, allowed: Sequence[str]) -> dict[str, str]:
    values = split_per_class(text, name)
    for value in values.values():
        if value not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return values


#: Settings fields whose command-line option has another name (the rest: ``detect_every``
#: is ``--detect-every``).
_OPTION_OF = {
    "max_file_bytes": "--max-file-size",
    "max_duration_s": "--max-duration",
    "jpeg quality": "--quality",
    "face threshold": "--threshold face",
    "plate threshold": "--threshold plate",
    "text threshold": "--threshold text",
    "face margin": "--margin face",
    "plate margin": "--margin plate",
    "text margin": "--margin text",
}


def _name_the_option(exc: ConfigError, args: argparse.Namespace) -> ConfigError:
    """The settings name their fields (``detect_every must be ...``); a command-line user
    typed an option (``--detect-every``), so the message names that instead."""
    msg = str(exc)
    for field, option in _OPTION_OF.items():
        if msg.startswith(field + " "):
            return ConfigError(option + msg[len(field) :])
    head, sep, rest = msg.partition(" ")
    if sep and head.isidentifier() and hasattr(args, head):
        return ConfigError(f"--{head.replace('_', '-')} {rest}")
    return exc


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Build validated settings; any bad value raises ConfigError naming its option."""
    try:
        settings = _settings_from_args(args)
    except ConfigError as exc:
        raise _name_the_option(exc, args) from None
    if args.policy is not None:  # its own errors name the policy's values, not options
        from .policy import load_policy

        policy = load_policy(args.policy)
        _refuse_overlap(args, policy.name)
        settings = policy.apply(settings)
    settings = pad_for_text(settings)
    terms = settings.detect.text_terms
    if "text" in settings.detect.targets and terms is not None and not terms.is_file():
        raise ConfigError(f"--text-terms {terms}: no such file")
    return settings


def _settings_from_args(args: argparse.Namespace) -> Settings:
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
        text_threshold=thr.get("text", base.text_threshold),
        text_mode=args.text,
        text_terms=args.text_terms,
        text_regions=tuple(r.strip().upper() for r in args.text_regions.split(",") if r.strip()),
        video_text_every=args.video_text_every,
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
            decide=getattr(args, "face_decision", t.decide),
            unlikely_growth=getattr(args, "unlikely_growth", t.unlikely_growth),
            unlikely_margin=getattr(args, "unlikely_margin", t.unlikely_margin),
            unlikely_lapse=getattr(args, "unlikely_lapse", t.unlikely_lapse),
            face_confidence=getattr(args, "face_confidence", t.face_confidence),
        )
        settings = settings.evolve(track=track)
    if hasattr(args, "method"):
        shapes = per_class_choice(args.shape, "--shape", SHAPES)
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
            text_shape=shapes.get("text", m.text_shape),
            text_margin=margins.get("text", m.text_margin),
        )
        settings = settings.evolve(mask=mask)
    if hasattr(args, "quality"):
        encode = EncodeSettings(
            jpeg_quality=args.quality, codec=args.codec, crf=args.crf, preset=args.preset
        )
        settings = settings.evolve(encode=encode)
    return settings


def pad_for_text(settings: Settings) -> Settings:
    """Video text is read on one detector run in ``video_text_every``: a text track is
    held that many frames (at most 60) before its first reading and after its last,
    or text that came into view, or left it, between two readings would show."""
    t = settings.track
    if "text" not in settings.detect.targets or not t.enabled:
        return settings
    span = min(60, settings.detect.video_text_every * t.detect_every - 1)
    if t.pre_frames >= span and t.post_frames >= span:
        return settings
    pre, post = max(t.pre_frames, span), max(t.post_frames, span)
    lookahead = max(t.lookahead, pre, min(120, confirm_wait(t.confirm_hits, t.detect_every, pre)))
    track = replace(t, pre_frames=pre, post_frames=post, lookahead=lookahead)
    return settings.evolve(track=track)


def _refuse_overlap(args: argparse.Namespace, policy: str) -> None:
    """An option the policy also sets, given beside it, is refused: which would win is
    a guess, and a run must follow the rules it names in its report."""
    m = MaskSettings()
    defaults = {
        "targets": "face,plate",
        "text": DetectSettings().text_mode,
        "method": m.method,
        "strength": m.strength,
        "margin": f"face={m.face_margin},plate={m.plate_margin}",
        "threshold": None,
    }
    for name, default in defaults.items():
        if hasattr(args, name) and getattr(args, name) != default:
            raise ConfigError(
                f"--{name} and --policy {policy} both set it; give one of them "
                "(or copy the policy with `veil policies show` and edit it)"
            )


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
        if not single_file and not output.exists() and media_kind(output) is not None:
            raise ConfigError(  # a folder named like a file is a slip, not what was meant
                f"{output}: several inputs need an output folder; this names a file"
            )
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


def _writable_folder(folder: Path) -> bool:
    """Whether files can be made in ``folder``, or in the folders ``-o`` would make there
    (its nearest existing ancestor writable)."""
    for f in (folder, *folder.parents):
        if f.exists():
            return f.is_dir() and os.access(f, os.W_OK | os.X_OK)
    return False


def check_destinations(
    jobs: Sequence[tuple[Path, Path | None, str]], written: Sequence[tuple[str, Path | None]]
) -> None:
    """Refuse, before any file is processed, what would only fail after it was:
    an output of another kind or container than its input (veil writes the input's
    format), an output folder that cannot be written, and a ``--json`` / ``--report`` /
    ``--project`` file that is an input or output, or whose folder is read-only, or missing
    and not one ``-o`` makes (those are not created: a typo there should fail, not make a
    tree)."""
    for src, dst, _ in jobs:
        if dst is not None:
            _refuse_other_format(src, dst, ConfigError)
    for folder in sorted({dst.parent for _, dst, _ in jobs if dst is not None}):
        if not _writable_folder(folder):
            raise ConfigError(f"{folder}: output folder cannot be written")
    made = {f for _, dst, _ in jobs if dst is not None for f in (dst.parent, *dst.parents)}
    for option, path in written:
        if path is None:
            continue
        js = path.resolve()  # what veil writes besides outputs: never an input or output
        if any(js in (src.resolve(), dst and dst.resolve()) for src, dst, _ in jobs):
            raise ConfigError(f"{path}: {option} would overwrite an input or output file")
        folder = path.parent
        if not folder.is_dir() and folder not in made:  # -o makes its own folders
            raise ConfigError(f"{option} {path}: no such folder {folder}")
        if not _writable_folder(folder):
            raise ConfigError(f"{option} {path}: the folder cannot be written")
