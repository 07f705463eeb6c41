"""Evaluation outputs: ``metrics.json``, ``report.md`` with optional plots, a summary table.

``metrics.json`` is for machines (stable keys, NaN written as ``null`` since
JSON has no NaN), ``report.md`` for people. Plots need matplotlib (the
``report`` extra); without it the report says so instead of failing, because
the numbers matter more than the pictures.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from ..outputs import write_text_atomic
from .metrics import HEIGHT_BUCKETS, PRCurve

logger = logging.getLogger(__name__)

__all__ = ["clean_metrics", "summary_table", "write_metrics_json", "write_report"]

_DIGITS = 4
_COLUMNS = (
    ("P", "precision"),
    ("R", "recall"),
    ("F1", "f1"),
    ("IoU", "mean_iou"),
    ("AP50", "ap50"),
    ("mAP", "map"),
    ("masked", "masked_rate"),
)


def clean_metrics(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, floats rounded to 4 places, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): clean_metrics(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_metrics(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean_metrics(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return round(f, _DIGITS) if math.isfinite(f) else None
    return value


def _out_dir(out_dir: str | os.PathLike[str]) -> Path:
    d = Path(out_dir).expanduser()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{d}: cannot create output folder ({exc.strerror or exc})") from None
    return d


def write_metrics_json(out_dir: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write ``DIR/metrics.json`` (cleaned, keys in the order given) and return its path."""
    path = _out_dir(out_dir) / "metrics.json"
    write_text_atomic(path, json.dumps(clean_metrics(metrics), indent=2, allow_nan=False) + "\n")
    return path


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def _classes(metrics: Mapping[str, Any]) -> list[str]:
    return [k for k, v in metrics.items() if k != "speed" and isinstance(v, Mapping)]


def _speed_line(speed: Mapping[str, Any]) -> str:
    parts = [
        f"latency p50 {_fmt(speed.get('latency_ms_p50'), 1)} ms",
        f"p95 {_fmt(speed.get('latency_ms_p95'), 1)} ms",
        f"{_fmt(speed.get('throughput'), 2)} items/s",
    ]
    for key, suffix in (("device", ""), ("provider", ""), ("threads", " threads")):
        if speed.get(key) is not None:
            parts.append(f"{speed[key]}{suffix}")
    return ", ".join(parts)


def summary_table(metrics: Mapping[str, Any]) -> str:
    """A short fixed-width table of the headline numbers, for the CLI to print."""
    head = ["class", *[c for c, _ in _COLUMNS], "over", "GT"]
    rows = [head]
    for name in _classes(metrics):
        m = metrics[name]
        rows.append(
            [name, *[_fmt(m.get(k)) for _, k in _COLUMNS], _fmt(m.get("over_mask")),
             _fmt(m.get("n_gt"))]
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for name in _classes(metrics):
        m = metrics[name]
        if m.get("objects") is not None:
            lines.append(
                f"{name} video leaks: {_fmt(m.get('leak_rate'))} of object-frames, "
                f"{_fmt(m.get('leaked_objects'))} of {_fmt(m.get('objects'))} objects"
            )
    if "speed" in metrics:
        lines.append("speed: " + _speed_line(metrics["speed"]))
    return "\n".join(lines)


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _markdown(metrics: Mapping[str, Any], images: list[str], note: str | None, title: str) -> str:
    lines = [f"# {title}", ""]
    classes = _classes(metrics)
    head = ["class", *[c for c, _ in _COLUMNS], "over-mask", "TP", "FP", "FN", "GT"]
    rows = []
    for name in classes:
        m = metrics[name]
        rows.append(
            [name, *[_fmt(m.get(k)) for _, k in _COLUMNS], _fmt(m.get("over_mask")),
             *[_fmt(m.get(k)) for k in ("tp", "fp", "fn", "n_gt")]]
        )  # fmt: skip
    lines += _md_table(head, rows) + [""]
    lines += [
        "P, R, F1 and IoU (mean IoU of matched boxes) at each class's operating score threshold "
        "and IoU 0.5; AP50 all-point interpolated; mAP over IoU 0.50:0.05:0.95. "
        "masked: share of boxes whose central region (shrunk 20% per side) is at least 90% "
        "changed in the output pixels. over-mask: share of changed pixels outside the "
        "ground-truth boxes grown as stated. Ignore boxes are neither hits nor misses.",
        "",
    ]
    for name in classes:
        m = metrics[name]
        lines += [
            f"## {name}",
            "",
            f"Operating threshold {_fmt(m.get('threshold'), 2)}, "
            f"over-mask growth {_fmt(m.get('over_mask_growth'), 2)}.",
            "",
        ]
        if m.get("objects") is not None:
            lines += [
                f"Video leaks: {_fmt(m.get('leak_rate'))} of (object, frame) pairs; "
                f"{_fmt(m.get('leaked_objects'))} of {_fmt(m.get('objects'))} objects leak "
                "in at least one frame.",
                "",
            ]
        by = m.get("by_height") or {}
        brow = []
        for bucket, _, _ in HEIGHT_BUCKETS:
            b = by.get(bucket, {})
            brow.append([bucket, _fmt(b.get("n_gt")), *[_fmt(b.get(k)) for _, k in _COLUMNS]])
        lines += _md_table(["height px", "GT", *[c for c, _ in _COLUMNS]], brow) + [""]
    if "speed" in metrics:
        lines += ["## Speed", "", _speed_line(metrics["speed"]), ""]
    if images:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in images] + [""]
    if note:
        lines += [f"_{note}_", ""]
    return "\n".join(lines)


def _plot(out: Path, metrics: Mapping[str, Any], curves: Mapping[str, PRCurve] | None) -> list[str]:
    """Write the PNGs with matplotlib's object API (no pyplot: no global backend state)."""
    from matplotlib.figure import Figure

    written: list[str] = []
    classes = _classes(metrics)
    if curves:
        fig = Figure(figsize=(5, 4), dpi=100)
        ax = fig.add_subplot()
        for name, c in curves.items():
            ax.plot(c.recall, c.precision, label=f"{name} (AP50 {_fmt(c.ap50)})")
            m = metrics.get(name, {})
            if m.get("recall") is not None and m.get("precision") is not None:
                ax.plot([m["recall"]], [m["precision"]], "o", color=ax.lines[-1].get_color())
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
               title="Precision-recall at IoU 0.5 (dot: operating point)")  # fmt: skip
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
        fig.tight_layout()
        fig.savefig(out / "pr_curve.png")
        written.append("pr_curve.png")
    if classes:
        fig = Figure(figsize=(5 * len(classes), 3.6), dpi=100)
        names = [b for b, _, _ in HEIGHT_BUCKETS]
        x = np.arange(len(names))
        for i, name in enumerate(classes, start=1):
            ax = fig.add_subplot(1, len(classes), i)
            by = metrics[name].get("by_height") or {}
            for j, key in enumerate(("recall", "precision", "masked_rate")):
                vals = [by.get(b, {}).get(key) for b in names]
                vals = [np.nan if v is None else float(v) for v in vals]
                ax.bar(x + (j - 1) * 0.27, vals, width=0.27, label=key.replace("_", " "))
            ax.set_xticks(x, names)
            ax.set(ylim=(0, 1.05), xlabel="box height (px)", title=name)
            ax.grid(axis="y", alpha=0.3)
            ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        fig.savefig(out / "by_height.png")
        written.append("by_height.png")
    return written


def write_report(
    out_dir: str | os.PathLike[str],
    metrics: Mapping[str, Any],
    curves: Mapping[str, PRCurve] | None = None,
    *,
    title: str = "veil evaluation",
    plots: bool = True,
) -> list[Path]:
    """Write ``metrics.json``, ``report.md`` and, with matplotlib, ``pr_curve.png`` and
    ``by_height.png`` into ``out_dir``; return the paths written.

    ``metrics`` is :meth:`Evaluator.compute`'s dictionary, ``curves`` its
    :meth:`Evaluator.pr_curves`.
    """
    out = _out_dir(out_dir)
    written = [write_metrics_json(out, metrics)]
    cleaned = clean_metrics(metrics)
    images: list[str] = []
    note = None
    if plots:
        try:
            images = _plot(out, cleaned, curves)
        except ImportError:
            note = "Plots omitted: matplotlib is not installed (pip install 'veil[report]')."
            logger.info("matplotlib not installed: report without plots")
        except OSError as exc:
            raise OutputError(f"{out}: cannot write plots ({exc.strerror or exc})") from None
    report = out / "report.md"
    write_text_atomic(report, _markdown(cleaned, images, note, title))
    written += [out / p for p in images] + [report]
    return written
