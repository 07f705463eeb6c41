"""``veil audit --sample N``: the riskiest moments of a finished run, for a person to check.

A masked output can only be trusted as far as someone has looked at the places
where masking is most likely to have failed. Those are predictable from the
run's project file (and, for scene cuts, the video itself):

- ``low-score``: tracks whose best detection score was low (the detector was unsure);
- ``interpolated``: long stretches where a track's box moves on a straight line
  (or holds still) to a twentieth of a pixel: no detection drove it, the tracker
  filled a gap between detections;
- ``gap-filled``: frames where veil's tracker drew a track's box across a detector
  run that missed the object (recorded in the project as the track's ``filled``
  ranges): no detection placed those boxes, so the mask may be off the face;
- ``track-start`` / ``track-end``: the first and last frames of a track, where the
  object may be visible a moment before the mask starts or after it ends;
- ``track-break``: a gap inside a track, where its object may be unmasked;
- ``review``: ranges the region tracker flagged for review;
- ``disabled``: tracks a reviewer chose to leave visible;
- ``scene-cut``: the first frame of a new scene (tracking restarts there);
- ``edge-clipped``: regions cut by the frame edge (half faces are detected worse);
- ``no-detection``: long stretches without any mask in footage that has some.

The picks are spread over the kinds (round robin, riskiest first). The contact
sheet shows masked crops with some context (originals only with
``--include-originals``) and pass/fail boxes that save a checklist JSON. Nothing
of it is logged: sample positions say where people are.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..errors import ConfigError, InputError
from ..outputs import write_text_atomic
from ..project import Project
from ..project.model import FileEntry, Track
from ..settings import Limits

log = logging.getLogger(__name__)

__all__ = ["Candidate", "candidates", "contact_sheet", "pick", "run_sample"]

#: Largest box change per frame (px) that still counts as moving on a straight line.
LINEAR_TOLERANCE = 0.05
#: Frames without any mask, in footage that has masks, before it is worth a look.
QUIET_FRAMES = 48
#: Context around a sampled region, as a multiple of its size per side.
CONTEXT = 1.0
#: Smallest side of a crop in the contact sheet, px.
MIN_CROP = 160


@dataclass(frozen=True)
class Candidate:
    """One moment to check: a frame of a file, why it is risky, and the region to show."""

    file: str
    frame: int
    kind: str
    risk: float
    track: int | None = None
    box: tuple[float, float, float, float] | None = None  # None: the whole frame
    why: str = ""

    def __repr__(self) -> str:  # no box: reprs end up in logs
        return f"Candidate(file={self.file!r}, kind={self.kind!r})"


def _linear_runs(frames: np.ndarray, boxes: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """Inclusive index ranges of at least ``min_len`` consecutive frames moving linearly."""
    if len(frames) < min_len or min_len < 3:
        return []
    consecutive = np.diff(frames) == 1
    second = np.abs(np.diff(boxes.astype(np.float64), n=2, axis=0)).max(axis=1)
    linear = (second <= LINEAR_TOLERANCE) & consecutive[1:] & consecutive[:-1]
    runs, start = [], None
    for i, ok in enumerate(np.append(linear, False).tolist()):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - start + 2 >= min_len:  # k linear triples span k + 2 frames
                runs.append((start, i + 1))
            start = None
    return runs


def _box(track: Track, frame: int, n: int) -> tuple[float, float, float, float] | None:
    b = track.box_at(frame, n)
    return None if b is None else tuple(float(v) for v in b)  # type: ignore[return-value]


def _track_candidates(e: FileEntry, t: Track, detect_every: int) -> Iterable[Candidate]:
    n = e.frames
    ranges = t.visible_ranges(n)
    if not ranges:
        return
    mid = (ranges[0][0] + ranges[0][1]) // 2
    if not t.enabled:
        yield Candidate(e.file, mid, "disabled", 0.6, t.id, _box(t, mid, n), "left visible")
        return
    if t.score is not None:
        yield Candidate(e.file, mid, "low-score", 1.0 - t.score, t.id, _box(t, mid, n),
                        f"best score {t.score:.2f}")  # fmt: skip
    for a, b in t.review:
        f = (a + b) // 2
        yield Candidate(e.file, f, "review", 0.9, t.id, _box(t, min(f, n - 1), n),
                        "flagged by the region tracker")  # fmt: skip
    if e.kind != "video":
        box = _box(t, 0, n)
        if box is not None:
            yield from _clipped(e, t, np.array([0]), np.array([box]))
        return
    for a, b in ranges:
        yield Candidate(e.file, a, "track-start", 0.5, t.id, _box(t, a, n), "mask starts")
        yield Candidate(e.file, b, "track-end", 0.5, t.id, _box(t, b, n), "mask ends")
    for a, b in t.filled:
        f = (a + b) // 2
        length = b - a + 1
        yield Candidate(e.file, f, "gap-filled", min(1.0, 0.35 + length / 30), t.id,
                        _box(t, f, n), f"{length} frames boxed by the tracker alone")  # fmt: skip
    for (_, b0), (a1, _) in zip(ranges, ranges[1:], strict=False):
        gap = a1 - b0 - 1
        f = b0 + 1 + gap // 2
        yield Candidate(e.file, f, "track-break", min(1.0, 0.3 + gap / 30), t.id,
                        _box(t, b0, n), f"no mask for {gap} frames inside the track")  # fmt: skip
    frames, boxes = t.boxes(n)
    for i, j in _linear_runs(frames, boxes, 2 * detect_every + 1):
        f = int(frames[(i + j) // 2])
        length = j - i + 1
        yield Candidate(e.file, f, "interpolated", min(1.0, length / 60), t.id,
                        _box(t, f, n), f"{length} frames moved by the tracker alone")  # fmt: skip
    yield from _clipped(e, t, frames, boxes)


def _clipped(e: FileEntry, t: Track, frames: np.ndarray, boxes: np.ndarray) -> Iterable[Candidate]:
    b = boxes.astype(np.float64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inner_w = np.clip(b[:, 2], 0, e.width) - np.clip(b[:, 0], 0, e.width)
    inner_h = np.clip(b[:, 3], 0, e.height) - np.clip(b[:, 1], 0, e.height)
    outside = 1.0 - np.clip(inner_w, 0, None) * np.clip(inner_h, 0, None) / np.maximum(area, 1e-9)
    if not len(outside) or outside.max() <= 0.02:
        return
    k = int(np.argmax(outside))
    f = int(frames[k])
    yield Candidate(e.file, f, "edge-clipped", float(outside[k]), t.id,
                    tuple(float(v) for v in b[k]),  # type: ignore[arg-type]
                    f"{100 * outside[k]:.0f}% of the region outside the frame")  # fmt: skip


def candidates(e: FileEntry, cuts: Sequence[int] = (), detect_every: int = 4) -> list[Candidate]:
    """Every risky moment of one file of the run."""
    out: list[Candidate] = []
    for tid in sorted(e.tracks):
        out += list(_track_candidates(e, e.tracks[tid], detect_every))
    out += [Candidate(e.file, int(c), "scene-cut", 0.7, None, None, "new scene") for c in cuts]
    enabled = [t for t in e.tracks.values() if t.enabled]
    if e.kind == "image" and not enabled:
        out.append(Candidate(e.file, 0, "no-detection", 0.3, None, None, "nothing masked"))
    if e.kind == "video" and enabled:
        masked = np.zeros(e.frames, bool)
        for t in enabled:
            for a, b in t.visible_ranges(e.frames):
                masked[a : b + 1] = True
        idx = np.flatnonzero(np.diff(np.concatenate([[1], masked.astype(int), [1]])))
        for a, b in zip(idx[::2], idx[1::2], strict=True):  # runs of unmasked frames [a, b)
            if b - a >= QUIET_FRAMES:
                out.append(Candidate(e.file, int((a + b) // 2), "no-detection",
                                     min(1.0, (b - a) / 300), None, None,
                                     f"{b - a} frames without any mask"))  # fmt: skip
    return out


def pick(cands: Sequence[Candidate], n: int) -> list[Candidate]:
    """``n`` candidates, round robin over kinds (riskiest kind first), riskiest first in each,
    at most one per (file, frame)."""
    if n < 1:
        raise ConfigError(f"--sample: must be >= 1, got {n}")
    by_kind: dict[str, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: (-c.risk, c.file, c.frame, c.track or -1)):
        by_kind.setdefault(c.kind, []).append(c)
    order = sorted(by_kind, key=lambda k: (-by_kind[k][0].risk, k))
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    while len(out) < n and any(by_kind.values()):
        for k in order:
            while by_kind[k]:
                c = by_kind[k].pop(0)
                if (c.file, c.frame) not in seen:
                    seen.add((c.file, c.frame))
                    out.append(c)
                    break
            if len(out) >= n:
                break
    return out


# -- media ------------------------------------------------------------------------------


def _resolve(root: Path, name: str, single: bool) -> Path:
    return root if single else root / name


def _frames(path: Path, wanted: set[int], limits: Limits, kind: str) -> dict[int, np.ndarray]:
    if kind == "image":
        from ..media import image as image_io

        return {0: image_io.load_image(path, limits).rgb}
    from ..media import video as video_io

    got: dict[int, np.ndarray] = {}
    last = max(wanted)
    with video_io.iter_frames(path, limits) as reader:
        for f in reader:
            if f.index in wanted:
                got[f.index] = f.image
            if f.index >= last:
                break
    return got


def _cuts(path: Path, limits: Limits) -> list[int]:
    from ..media import video as video_io
    from ..track.scenecut import SceneCutDetector

    det = SceneCutDetector()
    with video_io.iter_frames(path, limits) as reader:
        return [f.index for f in reader if det.is_cut(f.image)]


def _crop(rgb: np.ndarray, box: tuple[float, float, float, float] | None) -> Image.Image:
    h, w = rgb.shape[:2]
    if box is None:
        im = Image.fromarray(rgb)
        im.thumbnail((480, 480))
        return im
    bw, bh = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w = max(MIN_CROP / 2, bw * (0.5 + CONTEXT))
    half_h = max(MIN_CROP / 2, bh * (0.5 + CONTEXT))
    x1, y1 = int(max(0, cx - half_w)), int(max(0, cy - half_h))
    x2, y2 = int(min(w, cx + half_w)), int(min(h, cy + half_h))
    im = Image.fromarray(rgb[y1:y2, x1:x2])
    ImageDraw.Draw(im).rectangle(
        [box[0] - x1, box[1] - y1, box[2] - x1 - 1, box[3] - y1 - 1], outline=(255, 0, 160), width=2
    )
    if max(im.size) > 480:
        im.thumbnail((480, 480))
    return im


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>veil manual audit</title>
<style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}img{{max-width:480px}}</style>
</head><body>
<h1>veil manual audit: {n} samples</h1>
<p>Project {project} (sha256 {sha}). For each sample, look at the masked pixels: is every
face and plate hidden? Mark pass or fail, then save the checklist and keep it with the
redaction report.</p>
<p><button id="save">Save checklist</button></p>
<table><tr><th>#</th><th>file</th><th>frame</th><th>why</th><th>masked</th>{orig_head}
<th>outcome</th></tr>
{rows}
</table>
<script>
const samples = {samples};
document.getElementById("save").onclick = () => {{
  for (const s of samples) {{
    const v = document.querySelector(`input[name="s${{s.id}}"]:checked`);
    s.outcome = v ? v.value : null;
    s.note = document.getElementById(`n${{s.id}}`).value;
  }}
  const doc = {{project_sha256: "{sha}", samples}};
  const a = document.createElement("a");
  const blob = new Blob([JSON.stringify(doc, null, 1)], {{type: "application/json"}});
  a.href = URL.createObjectURL(blob);
  a.download = "checklist.json";
  a.click();
}};
</script></body></html>
"""


def contact_sheet(
    out: Path,
    picks: Sequence[Candidate],
    entries: dict[str, FileEntry],
    sources: dict[str, tuple[Path, Path]],
    limits: Limits,
    include_originals: bool,
    project: Path,
    project_sha: str,
) -> list[Path]:
    """Write ``samples/*.jpg``, ``contact_sheet.html`` and a blank ``checklist.json``."""
    shots = out / "samples"
    shots.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    by_file: dict[str, list[int]] = {}
    for i, c in enumerate(picks):
        by_file.setdefault(c.file, []).append(i)
    for name, idxs in by_file.items():
        src, dst = sources[name]
        kind = entries[name].kind
        wanted = {picks[i].frame for i in idxs}
        masked = _frames(dst, wanted, limits, kind)
        original = _frames(src, wanted, limits, kind) if include_originals else {}
        for i in idxs:
            c = picks[i]
            if c.frame not in masked:
                raise InputError(f"{dst}: frame {c.frame} of the project is not in the output")
            p = shots / f"{i + 1:03d}-masked.jpg"
            _crop(masked[c.frame], c.box).save(p, quality=90)
            written.append(p)
            if include_originals:
                p = shots / f"{i + 1:03d}-original.jpg"
                _crop(original[c.frame], c.box).save(p, quality=90)
                written.append(p)
    rows, samples = [], []
    for i, c in enumerate(picks):
        e = entries[c.file]
        t = e.time_of(c.frame)
        when = f"{c.frame}" + ("" if t is None else f" ({t:.2f} s)")
        orig = (f'<td><img src="samples/{i + 1:03d}-original.jpg" alt="original"></td>'
                if include_originals else "")  # fmt: skip
        rows.append(
            f"<tr><td>{i + 1}</td><td>{html.escape(c.file)}</td><td>{when}</td>"
            f"<td>{html.escape(c.kind)}: {html.escape(c.why)}</td>"
            f'<td><img src="samples/{i + 1:03d}-masked.jpg" alt="masked"></td>{orig}'
            f'<td><label><input type="radio" name="s{i + 1}" value="pass"> pass</label><br>'
            f'<label><input type="radio" name="s{i + 1}" value="fail"> fail</label><br>'
            f'<input id="n{i + 1}" placeholder="note"></td></tr>'
        )
        samples.append({"id": i + 1, "file": c.file, "frame": c.frame, "kind": c.kind,
                        "track": c.track, "why": c.why, "outcome": None, "note": ""})  # fmt: skip
    page = _PAGE.format(
        n=len(picks), project=html.escape(project.name), sha=project_sha, rows="\n".join(rows),
        orig_head="<th>original</th>" if include_originals else "",
        samples=json.dumps(samples).replace("</", "<\\/"),
    )  # fmt: skip
    sheet = out / "contact_sheet.html"
    write_text_atomic(sheet, page)
    checklist = out / "checklist.json"
    doc = {"project_sha256": project_sha, "samples": samples}
    write_text_atomic(checklist, json.dumps(doc, indent=1) + "\n")
    return [*written, sheet, checklist]


def checklist_outcome(path: Path) -> dict[str, Any]:
    """Counts of a filled checklist (for the redaction report): passed, failed, unchecked."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        samples = doc["samples"]
        outcomes = [s.get("outcome") for s in samples]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"{path}: not a checklist written by veil audit --sample") from None
    bad = [o for o in outcomes if o not in ("pass", "fail", None)]
    if bad:
        raise InputError(f"{path}: outcome must be pass, fail or null, got {bad[0]!r}")
    return {
        "project_sha256": doc.get("project_sha256"),
        "samples": len(outcomes),
        "passed": outcomes.count("pass"),
        "failed": outcomes.count("fail"),
        "unchecked": outcomes.count(None),
        "failed_kinds": sorted({s["kind"] for s in samples if s.get("outcome") == "fail"}),
    }


def run_sample(args, settings) -> str:
    """The ``--sample`` mode of ``veil audit``."""
    from ..project.render import sha256_file

    project = Project.load(args.project)
    entries = {e.file: e for e in project.files}
    single = len(entries) == 1 and args.input.is_file()
    sources: dict[str, tuple[Path, Path]] = {}
    for name in entries:
        src = _resolve(args.input, name, single)
        dst = _resolve(args.masked, name, single)
        for p, what in ((src, "--input"), (dst, "--masked")):
            if not p.is_file():
                raise InputError(f"{what}: {p} (file {name!r} of the project) not found")
        sources[name] = (src, dst)
    cands: list[Candidate] = []
    for name, e in entries.items():
        cuts = _cuts(sources[name][0], settings.limits) if e.kind == "video" else []
        cands += candidates(e, cuts, settings.track.detect_every)
    picks = pick(cands, args.sample)
    contact_sheet(args.out, picks, entries, sources, settings.limits, args.include_originals,
                  args.project, sha256_file(args.project))  # fmt: skip
    kinds: dict[str, int] = {}
    for c in picks:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    return (f"{len(picks)} samples of {len(cands)} candidates ({summary}); "
            f"open {args.out / 'contact_sheet.html'}")  # fmt: skip


def attach_outcome(report: Path, checklist: Path) -> dict[str, Any]:
    """Add a filled checklist's outcome (counts only) to a redaction report written by
    ``veil mask --report``: a ``manual_audit`` key (.json) or a section (.md).

    The checklist must be for the project the report was rendered from.
    """
    outcome = checklist_outcome(checklist)
    try:
        text = report.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{report}: cannot read the report ({exc.strerror or exc})") from None
    if report.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
            expected = (doc.get("project") or {}).get("sha256")
        except (ValueError, AttributeError):
            raise InputError(f"{report}: not a redaction report") from None
        _same_project(report, expected, outcome)
        doc["manual_audit"] = outcome
        write_text_atomic(report, json.dumps(doc, indent=1, ensure_ascii=False) + "\n", "report")
        return outcome
    marker = "(sha256 `"
    expected = text.split(marker, 1)[1].split("`", 1)[0] if marker in text else None
    _same_project(report, expected, outcome)
    section = [
        "", "## Manual audit", "",
        f"- samples drawn for a person to check: {outcome['samples']} (veil audit --sample)",
        f"- checked: {outcome['samples'] - outcome['unchecked']} (passed: {outcome['passed']}, "
        f"failed: {outcome['failed']}); not checked: {outcome['unchecked']}",
        f"- kinds that failed: {', '.join(outcome['failed_kinds']) or 'none'}", "",
    ]  # fmt: skip
    body = text.split("\n## Manual audit\n", 1)[0].rstrip("\n") + "\n"
    write_text_atomic(report, body + "\n".join(section), "report")
    return outcome


def _same_project(report: Path, expected: str | None, outcome: dict[str, Any]) -> None:
    if expected is None:
        raise InputError(
            f"{report}: not rendered from a project; the checklist cannot be tied to it"
        )
    if outcome["project_sha256"] != expected:
        raise InputError(f"{report}: the checklist is for another project (sha256 differs)")
