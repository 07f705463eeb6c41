"""The redaction report: what was masked and why, for an auditor, without personal data.

It names the input and output by sha256, the veil version, the date and the
settings; per class, how many tracks were masked on how many frames; every
region drawn by hand (label and frame/time range) and every track left
visible on purpose (label, range and the reviewer's reason), and the reviewer's bulk
decisions (a threshold on the evidence, or many tracks off at once: the ids and one
reason). No coordinates, detection scores, pixels or thumbnails: they would
re-identify what was hidden.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..outputs import write_text_atomic
from ..settings import Settings
from .build import settings_record
from .model import FileEntry, Track, size_band
from .schema import decision_to_dict


@dataclass(frozen=True)
class FileRecord:
    """One rendered file: the entry it was rendered from and the output's sha256."""

    entry: FileEntry
    output_sha256: str


def _ranges(entry: FileEntry, track: Track) -> list[dict[str, Any]]:
    out = []
    for first, last in track.visible_ranges(entry.frames):
        r: dict[str, Any] = {"first_frame": first, "last_frame": last}
        t0, t1 = entry.time_of(first), entry.time_of(last)
        if t0 is not None and t1 is not None:
            r["start_s"], r["end_s"] = round(t0, 3), round(t1, 3)
        out.append(r)
    return out


def file_summary(record: FileRecord) -> dict[str, Any]:
    e = record.entry
    classes: dict[str, dict[str, int]] = {}
    masked: dict[str, np.ndarray] = {}
    manual, disabled = [], []
    for tid in sorted(e.tracks):
        t = e.tracks[tid]
        if not t.enabled:
            disabled.append(
                {
                    "track": t.id,
                    "label": t.label,
                    "source": t.source,
                    "ranges": _ranges(e, t),
                    "reason": t.reason,
                }
            )
            continue
        c = classes.setdefault(t.label, {"tracks": 0, "masked_frames": 0})
        c["tracks"] += 1
        on = masked.setdefault(t.label, np.zeros(e.frames, bool))
        for first, last in t.visible_ranges(e.frames):
            on[first : last + 1] = True
        if t.source == "manual":
            manual.append({"track": t.id, "label": t.label, "ranges": _ranges(e, t)})
    for label, on in masked.items():
        classes[label]["masked_frames"] = int(on.sum())
    out: dict[str, Any] = {
        "file": e.file,
        "kind": e.kind,
        "input_sha256": e.sha256,
        "output_sha256": record.output_sha256,
        "frames": e.frames,
    }
    if e.times is not None and e.frames > 1:
        out["duration_s"] = round(e.times[-1] - e.times[0], 3)
    out["classes"] = dict(sorted(classes.items()))
    out["text_categories"] = _text_categories(e)
    out["disabled_by_reason"] = dict(sorted(Counter(d["reason"] for d in disabled).items()))
    out["manual_regions"] = manual
    out["disabled_tracks"] = disabled
    out["review_decisions"] = [decision_to_dict(d) for d in e.decisions]
    return out


def _text_categories(entry: FileEntry) -> dict[str, int]:
    """Masked text tracks per kind of personal data (a track may hold several)."""
    from ..pii import CATEGORIES

    counts = Counter(
        c for t in entry.tracks.values() if t.enabled and t.label == "text" for c in t.categories
    )
    return {c: counts[c] for c in CATEGORIES if counts[c]}


def build_report(
    records: list[FileRecord],
    settings: Settings,
    project: Path | None = None,
    project_sha256: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    return {
        "report": "veil redaction report",
        "veil_version": __version__,
        "date": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "project": None
        if project is None
        else {"file": Path(project).name, "sha256": project_sha256},
        "policy": dict(settings.policy) or None,
        "settings": settings_record(settings, ("mask", "detect", "track", "encode")),
        "face_decision": face_decision_record(settings) if project is None else None,
        "files": [file_summary(r) for r in records],
    }


def face_decision_record(settings: Settings) -> dict[str, Any] | None:
    """The learned video face decision these settings run: its model file, sha256
    and the P(face) from which a track is masked.

    ``face_confidence`` is null in the settings when the model's own operating
    point is used; an auditor should still read the number in effect. None when
    video faces are not decided by the model (no faces, the confirm rule, another face
    network). A report rendered from a project omits it: the project file records how
    it was detected.
    """
    track = settings.track
    if track.decide != "learned" or not settings.detect.for_video().bundled_video_faces:
        return None
    from ..decide import load_bundled
    from ..decide.model import VIDEO_FACE_TRACKS

    model = load_bundled()
    own = track.face_confidence is None
    return {
        "model": VIDEO_FACE_TRACKS.name,
        "sha256": model.sha256,
        "threshold": model.threshold if own else track.face_confidence,
        "threshold_from": "model" if own else "face_confidence",
    }


def _span(r: dict[str, Any]) -> str:
    frames = f"frames {r['first_frame']}–{r['last_frame']}"
    if "start_s" in r:
        frames += f" ({r['start_s']:.3f}–{r['end_s']:.3f} s)"
    return frames


def _decision_line(d: dict[str, Any]) -> str:
    n = len(d["tracks"])
    if d["what"] == "threshold":
        on = f"{d['label']} tracks' " if d.get("label") else ""
        ev = d.get("evidence", "evidence")
        if d.get("min_size") is not None or d.get("max_size") is not None:
            ev += f", tracks {size_band(d.get('min_size'), d.get('max_size'))} only"
        head = f"threshold {d['threshold']:g} on {on}{ev}: {n} track(s) off"
    else:
        head = f"{n} track(s) off at once"
    if d.get("confirmed"):
        head += f" ({d['confirmed']} rated very likely a face, confirmed)"
    return f"{head}; reason: {_cell(d['reason'])}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Redaction report",
        "",
        f"- veil version: {report['veil_version']}",
        f"- date: {report['date']}",
    ]
    if report["project"] is not None:
        p = report["project"]
        lines.append(f"- rendered from project `{p['file']}` (sha256 `{p['sha256']}`)")
    else:
        lines.append("- rendered directly from detection (no reviewed project)")
    if report.get("policy"):
        p = report["policy"]
        lines.append(
            f"- policy: {_cell(p['name'])}, version {_cell(p['version'])} (sha256 `{p['sha256']}`)"
        )
    d = report.get("face_decision")
    if d:
        source = (
            "the model's own operating point"
            if d["threshold_from"] == "model"
            else "set with --face-confidence"
        )
        lines.append(
            f"- video face tracks masked from P(face) {d['threshold']:.3g} ({source}; "
            f"model `{d['model']}`, sha256 `{d['sha256']}`)"
        )
    lines += ["", "## Settings", ""]
    for section, values in report["settings"].items():
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())
        lines.append(f"- **{section}**: {shown}")
    for f in report["files"]:
        lines += [
            "",
            f"## {_cell(f['file'])}",
            "",
            f"- kind: {f['kind']}, frames: {f['frames']}"
            + (f", duration: {f['duration_s']:.3f} s" if "duration_s" in f else ""),
            f"- input sha256: `{f['input_sha256']}`",
            f"- output sha256: `{f['output_sha256']}`",
            "",
            "| class | tracks masked | frames masked |",
            "|---|---|---|",
        ]
        for label, c in f["classes"].items() or {}:
            lines.append(f"| {label} | {c['tracks']} | {c['masked_frames']} |")
        if not f["classes"]:
            lines.append("| (nothing masked) | 0 | 0 |")
        if f.get("text_categories"):
            shown = ", ".join(f"{c} {n}" for c, n in f["text_categories"].items())
            lines += ["", f"Text tracks masked by kind of personal data: {shown}"]
        lines += ["", "Manual regions:", ""]
        if not f["manual_regions"]:
            lines.append("- none")
        for m in f["manual_regions"]:
            spans = "; ".join(_span(r) for r in m["ranges"])
            lines.append(f"- track {m['track']}, {m['label']}: {spans}")
        lines += ["", "Tracks left unmasked on purpose:", ""]
        if not f["disabled_tracks"]:
            lines.append("- none")
        for d in f["disabled_tracks"]:
            spans = "; ".join(_span(r) for r in d["ranges"])
            lines.append(
                f"- track {d['track']}, {d['label']} ({d['source']}): {spans}; "
                f"reason: {_cell(d['reason'])}"
            )
        if f.get("disabled_by_reason"):
            lines += ["", "Tracks left unmasked, by reason:", ""]
            for reason, n in f["disabled_by_reason"].items():
                lines.append(f"- {_cell(reason)}: {n}")
        if f.get("review_decisions"):
            lines += ["", "Reviewer's bulk decisions:", ""]
        for d in f.get("review_decisions", []):
            lines.append(f"- {_decision_line(d)}")
    return "\n".join(lines) + "\n"


def write_report(
    path: Path,
    records: list[FileRecord],
    settings: Settings,
    project: Path | None = None,
    project_sha256: str | None = None,
) -> None:
    """``.json`` or ``.md`` by extension, written atomically."""
    report = build_report(records, settings, project, project_sha256)
    if path.suffix.lower() == ".json":
        text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    else:
        text = to_markdown(report)
    write_text_atomic(path, text, "report")
