"""``veil eval``: run the masking pipeline over an annotated dataset and score it.

It uses the same :class:`~veil.pipeline.Engine` as ``veil mask``, so every
option that changes detection or masking changes what is measured. Detections
are taken down to a low score floor so AP sees the whole ranking; masks use
only those at the operating threshold, exactly as ``veil mask`` would. Video
with tracking is the exception: what is ranked is the tracker's output, the
regions ``veil mask`` hides (see README, ``veil eval``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..media import image as image_io
from ..media import video as video_io
from ..pipeline import Engine
from ..regions import Regions
from ..settings import Settings
from .dataset import load_dataset
from .metrics import Evaluator
from .report import summary_table, write_report

log = logging.getLogger(__name__)

#: Lowest score kept for the AP ranking.
SCORE_FLOOR = 0.05


def evaluate(
    dataset_path: str | Path, settings: Settings, quiet: bool = True
) -> tuple[dict, object]:
    """Score ``settings`` on a dataset; returns (metrics dict, evaluator)."""
    from tqdm import tqdm

    ds = load_dataset(dataset_path)
    settings = dataset_settings(ds, settings)
    engine = Engine(settings)
    ev = new_evaluator(ds, settings, engine)
    total = len(ds.images) + sum(len(v.frames) for v in ds.videos)
    t_start = time.perf_counter()
    with tqdm(total=total, unit="img", disable=quiet, leave=False, file=sys.stderr) as bar:
        evaluate_items(engine, ev, ds.images, ds.videos, settings, bar)
    wall = time.perf_counter() - t_start
    cuda = settings.detect.device == "cuda"
    metrics = ev.compute(
        device=settings.detect.device,
        provider="CUDAExecutionProvider" if cuda else "CPUExecutionProvider",
        # 0 lets onnxruntime use one thread per core
        threads=settings.detect.threads or os.cpu_count() or 1,
        wall_seconds=wall,
    )
    return metrics, ev


def dataset_settings(ds, settings: Settings) -> Settings:
    """``settings`` with the targets narrowed to the classes the dataset annotates."""
    targets = tuple(t for t in settings.detect.targets if t in ds.labels) or settings.detect.targets
    return settings.evolve(detect=replace(settings.detect, targets=targets))


def new_evaluator(ds, settings: Settings, engine: Engine) -> Evaluator:
    """An empty Evaluator at the dataset's operating thresholds (one per worker merges)."""
    # video-only datasets are scored at the video profile's operating thresholds
    profile = engine.video_profile if ds.videos and not ds.images else settings.detect
    targets = settings.detect.targets
    return Evaluator(targets, thresholds={t: profile.threshold(t) for t in targets})


def evaluate_items(engine: Engine, ev: Evaluator, images, videos, settings: Settings, bar) -> None:
    """Score these images and videos into ``ev`` (all of a dataset, or one worker's share)."""
    for item in images:
        loaded = image_io.load_image(item.file, settings.limits)
        _check_size(item.file, loaded.rgb, item.width, item.height)
        t0 = time.perf_counter()
        found = engine.detect(loaded.rgb, floor=SCORE_FLOOR)
        _, covered = engine.mask(loaded.rgb, engine.above_threshold(found))
        ev.add(item.boxes, found, covered, seconds=time.perf_counter() - t0)
        bar.update(1)
    for vid in videos:
        _evaluate_video(engine, ev, vid, settings, bar)


def _video_ranked(
    engine: Engine, frames: Iterator[np.ndarray], settings: Settings
) -> Iterator[tuple[np.ndarray, Regions, Regions]]:
    """Per frame: (frame, regions ranked for AP, regions masked).

    With tracking the ranking is the tracker's output, which is what is masked
    (tracks start only at the operating threshold). Without it, the detector's
    whole ranking down to :data:`SCORE_FLOOR` is kept, as for images, and only
    the regions at the operating threshold are masked, as ``veil mask`` does.
    """
    if settings.track.enabled:
        for rgb, regions in engine.video_regions(frames):
            yield rgb, regions, regions
        return
    detect = engine.clip_detector()
    for rgb in frames:
        found = detect(rgb, floor=SCORE_FLOOR)
        yield rgb, found, engine.above_threshold(found, video=True)


def _evaluate_video(engine: Engine, ev: Evaluator, vid, settings: Settings, bar) -> None:
    """Run the video path (detection, tracking unless off) and score the annotated frames."""
    times: dict[int, float] = {}

    def frames():
        with video_io.iter_frames(vid.file, settings.limits) as decoded:
            for f in decoded:
                times[f.index] = time.perf_counter()
                yield f.image

    for index, (rgb, ranked, masked) in enumerate(_video_ranked(engine, frames(), settings)):
        _, covered = engine.mask(rgb, masked)
        if index in vid.frames:
            ev.add(
                vid.frames[index],
                ranked,
                covered,
                source=str(vid.file),
                seconds=time.perf_counter() - times.pop(index, time.perf_counter()),
            )
            bar.update(1)
        times.pop(index, None)


def _check_size(path: Path, rgb: np.ndarray, width: int | None, height: int | None) -> None:
    h, w = rgb.shape[:2]
    if width is not None and height is not None and (w, h) != (width, height):
        raise InputError(f"{path}: annotated as {width}x{height} but decodes upright as {w}x{h}")


def run_evaluation(
    dataset: str | Path, out_dir: str | Path, settings: Settings, quiet: bool = False
) -> str:
    """Evaluate; write ``metrics.json`` and ``report.md`` to ``out_dir``; return the summary."""
    metrics, ev = evaluate(dataset, settings, quiet=quiet)
    write_report(Path(out_dir), metrics, ev.pr_curves())
    return summary_table(metrics)
