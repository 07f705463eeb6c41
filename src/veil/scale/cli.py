"""``veil mask``/``veil eval`` with ``--workers`` or ``--scheduler``: arguments -> a Dask run.

Imported by :mod:`veil.cli` only when one of those options is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..cliargs import EXIT_FAILED, EXIT_OK, check_destinations, plan_jobs, settings_from_args
from ..errors import ConfigError
from ..settings import Settings

log = logging.getLogger(__name__)

#: Images per ``veil eval`` task: large enough that scheduling costs little.
EVAL_CHUNK = 16


def _client(args: argparse.Namespace) -> Any:
    try:
        from .run import connect
    except ImportError:
        raise ConfigError("--workers/--scheduler need Dask: pip install 'veil[dask]'") from None
    if args.scheduler and args.workers:
        raise ConfigError("give --workers or --scheduler, not both")
    return connect(args.workers, args.scheduler)


def run_mask_distributed(args: argparse.Namespace) -> int:
    """``veil mask ... --workers N``: every file on the cluster, resumable; exit status as usual."""
    from .run import local_threads, mask_many

    for option in ("json", "project", "report"):
        if getattr(args, option, None) is not None:
            raise ConfigError(f"--{option} is not supported with --workers/--scheduler")
    settings = settings_from_args(args)
    if args.workers and not args.scheduler:
        settings = local_threads(settings, args.workers)
    planned = plan_jobs(args.inputs, args.output)
    if not planned:
        raise ConfigError("no image or video files found in the inputs")
    check_destinations(planned, [])  # as a local run: before any file is sent
    jobs = [(src, dst) for src, dst, _ in planned]
    single = len(args.inputs) == 1 and args.inputs[0].is_file()
    manifest_dir = jobs[0][1].parent if single else args.output
    with _client(args) as client:
        report = mask_many(
            jobs,
            settings,
            client,
            manifest_dir,
            segment_seconds=args.segment_seconds,
            quiet=args.quiet,
        )
    for _, message in report.failed:
        print(f"veil: error: {message}", file=sys.stderr)
    summary = f"veil: masked {len(report.done)} of {len(jobs)} file(s)"
    if report.skipped:
        summary += f"; {len(report.skipped)} already done"
    if report.failed:
        summary += f"; {len(report.failed)} failed"
    print(summary, file=sys.stderr)
    return EXIT_FAILED if report.failed else EXIT_OK


def evaluate_distributed(
    dataset: Path, settings: Settings, client: Any, factory: Any = None
) -> tuple[dict, Any]:
    """``veil eval`` on a cluster: shares of the dataset scored on workers, then merged.

    Shares are merged in dataset order, so the ranking (and AP with tied
    scores) is the one a single process computes; only speed figures differ.
    """
    from ..evaluate.dataset import load_dataset
    from ..evaluate.runner import dataset_settings
    from . import worker
    from .manifest import settings_hash

    ds = load_dataset(dataset)
    settings = dataset_settings(ds, settings)
    shash = settings_hash(settings, worker.factory_name(factory))
    shares = [
        (list(range(i, min(i + EVAL_CHUNK, len(ds.images)))), [])
        for i in range(0, len(ds.images), EVAL_CHUNK)
    ] + [([], [j]) for j in range(len(ds.videos))]
    t0 = time.perf_counter()
    futures = [
        client.submit(
            worker.eval_task, Path(dataset), settings, shash, imgs, vids, factory, pure=False
        )
        for imgs, vids in shares
    ]
    parts = client.gather(futures)
    wall = time.perf_counter() - t0
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    cuda = settings.detect.device == "cuda"
    metrics = total.compute(
        device=settings.detect.device,
        provider="CUDAExecutionProvider" if cuda else "CPUExecutionProvider",
        threads=settings.detect.threads or os.cpu_count() or 1,
        wall_seconds=wall,
    )
    return metrics, total


def run_eval_distributed(args: argparse.Namespace, settings: Settings) -> str:
    """``veil eval DATASET --workers N``: the same report, computed on the cluster."""
    from ..evaluate.report import summary_table, write_report
    from .run import local_threads

    if args.workers and not args.scheduler:
        settings = local_threads(settings, args.workers)
    with _client(args) as client:
        metrics, ev = evaluate_distributed(args.dataset, settings, client)
    write_report(Path(args.out), metrics, ev.pr_curves())
    return summary_table(metrics)
