"""The ``veil audit`` command: check its arguments, run one mode, write the report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import ConfigError
from ..settings import METHODS, Settings

log = logging.getLogger(__name__)

__all__ = ["run"]


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected numbers separated by commas, got {text!r}") from None


def _config(args: argparse.Namespace, settings: Settings, detected: bool, setups=None):
    from .runner import AuditConfig
    from .setups import build_setups

    for flag, value in (
        ("--min-height", args.min_height),
        ("--plate-min-height", args.plate_min_height),
    ):
        if value <= 0:
            raise ConfigError(f"{flag}: must be > 0, got {value:g}")
    if args.max_objects is not None and args.max_objects < 1:
        raise ConfigError(f"--max-objects: must be >= 1, got {args.max_objects}")
    if args.galleries < 1:
        raise ConfigError(f"--galleries: must be >= 1, got {args.galleries}")
    if setups is None:
        methods = METHODS if args.methods is None else tuple(
            m.strip() for m in args.methods.split(",") if m.strip()
        )  # fmt: skip
        strengths = (
            [settings.mask.strength] if args.strengths is None
            else _floats(args.strengths, "--strengths")
        )  # fmt: skip
        setups = build_setups(methods, strengths, controls=not args.no_controls)
    return AuditConfig(
        setups=tuple(setups),
        min_height=args.min_height,
        plate_min_height=args.plate_min_height,
        calibrate=args.calibrate,
        max_objects=args.max_objects,
        detected=detected,
        galleries=args.galleries,
        blank_context=args.blank_context,
    )


def run(args: argparse.Namespace, settings: Settings) -> str:
    """Run the mode the arguments ask for; return the summary to print."""
    if args.checklist is not None:
        from .sample import attach_outcome

        if args.report is None:
            raise ConfigError("--checklist: needs --report (the run's redaction report)")
        o = attach_outcome(args.report, args.checklist)
        return (f"{args.report}: manual audit added ({o['passed']} passed, {o['failed']} failed,"
                f" {o['unchecked']} unchecked)")  # fmt: skip
    if args.sample is not None:
        from .sample import run_sample

        if args.project is None or args.input is None:
            raise ConfigError(
                "--sample: needs --project PROJECT.json and --input (the run's input)"
            )
        if args.masked is None:
            raise ConfigError("--sample: needs --masked (the run's masked output)")
        return run_sample(args, settings)
    from ..pipeline import Engine
    from .report import summary, write_audit
    from .runner import run as run_audit

    if args.original is not None or args.masked is not None:
        if args.original is None or args.masked is None or args.dataset is not None:
            raise ConfigError("--original and --masked go together, without DATASET.json")
        from .pairs import pairs_dataset, private_workdir
        from .setups import CONTROLS, MaskedFiles, Setup

        engine = Engine(settings)
        with private_workdir() as tmp:
            dataset, files = pairs_dataset(args.original, args.masked, engine, settings, Path(tmp))
            setups = [Setup(n, n, None, True) for n in CONTROLS]
            setups.append(
                MaskedFiles("masked files", "files", None, False, tuple(files), settings.limits)
            )
            cfg = _config(args, settings, detected=False, setups=setups)
            result = run_audit(dataset, settings, cfg, engine, args.quiet)
        result["dataset"] = f"{args.original} -> {args.masked}"
    else:
        if args.dataset is None:
            raise ConfigError("give DATASET.json, or --original and --masked, or --sample")
        cfg = _config(args, settings, detected=not args.annotated_boxes)
        result = run_audit(args.dataset, settings, cfg, Engine(settings), args.quiet)
    result["settings"] = {
        "mask": {k: getattr(settings.mask, k) for k in ("method", "face_margin", "plate_margin",
                                                        "face_shape", "plate_shape", "strength")},
        "boxes": "annotated" if args.annotated_boxes else "detected",
        "calibrate": args.calibrate,
    }  # fmt: skip
    write_audit(args.out, result)
    return summary(result)
