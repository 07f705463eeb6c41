"""REST routes for review at scale: per-track evidence, threshold preview, bulk edits, suggestions.

Everything the review grid and the slider do goes through these routes (and
:mod:`veil.project.review` behind them), so a script can do it too. A bulk
action that would turn off tracks rated very likely a face is answered
``409`` with ``{"confirm": N, "ids": [...]}`` unless the request says
``"confirm": true``; ``"dry_run": true`` answers the counts and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from ..errors import ProjectError
from ..project import review as rv
from .jobs import Job, JobManager, expected_version


class ThresholdRequest(BaseModel):
    """Mask the tracks at or above ``threshold``; the others are turned off with ``reason``."""

    threshold: float
    label: str | None = None  # only this class's tracks (face or plate)
    min_size: float | None = None  # only the tracks of this size band (median box height, px)
    max_size: float | None = None
    reason: str | None = None
    confirm: bool = False
    dry_run: bool = False


class BulkRequest(BaseModel):
    """Turn ``tracks`` off (with ``reason``) or on, or set their ``method``: one edit."""

    tracks: list[int]
    action: str
    reason: str | None = None
    method: str | None = None
    confirm: bool = False
    dry_run: bool = False


class SimilarRequest(BaseModel):
    """Tracks like ``seeds`` (ids), most alike first; at most ``limit``."""

    seeds: list[int]
    limit: int = 50


class _State:
    """Per job: figures per track object, the coverage for the slider, thumbnail looks."""

    def __init__(self) -> None:
        self.stats = rv.StatsCache()
        self.coverage: rv.Coverage | None = None
        self.entry: object = None
        self.looks: dict[int, tuple[object, np.ndarray]] = {}


def add_review_routes(
    api: APIRouter,
    manager: JobManager,
    job_of: Callable[[str], Job],
    respond: Callable[[Job, list[int]], Response],
) -> None:
    """Register the review routes on ``api``; ``respond`` answers an edit (changed tracks)."""
    states: dict[str, _State] = {}
    guard = threading.Lock()

    def state(job: Job) -> _State:
        with guard:
            for gone in [k for k in states if k not in manager.jobs]:
                del states[gone]
            return states.setdefault(job.id, _State())

    def coverage(job: Job, st: _State) -> rv.Coverage:
        entry = job.entry_project().entry(job.name)
        if st.coverage is None or st.entry is not entry:  # a new detection: a new entry
            st.coverage, st.entry = rv.Coverage(entry), entry
        return st.coverage

    def sizes(job: Job, entry: Any, band: tuple[float | None, float | None]) -> Any:
        """Each track's size from the job's figures, when a size band asks for them."""
        if band == (None, None):
            return None
        return {s.id: s.size for s in state(job).stats.all(entry)}

    def needs_confirm(e: rv.NeedsConfirmation) -> JSONResponse:
        return JSONResponse(
            {"detail": str(e), "confirm": e.count, "ids": list(e.ids)}, status_code=409
        )

    @api.get("/jobs/{job_id}/review/tracks", summary="Per-track evidence, size, place and state")
    def review_tracks(
        job_id: str, min_size: str | None = None, max_size: str | None = None
    ) -> dict[str, Any]:
        """Every track, or (``min_size``/``max_size``, px of median box height) those of a size."""
        lo, hi = _size_param("min_size", min_size), _size_param("max_size", max_size)
        job = job_of(job_id)
        with job.lock:
            entry = job.entry_project().entry(job.name)
            every = state(job).stats.all(entry)
        rows = [s.as_dict() for s in rv.by_size(every, lo, hi)]
        return {
            "likely_face": {"confidence": rv.LIKELY_FACE, "detector score": rv.LIKELY_FACE_SCORE},
            "evidence_kinds": sorted({s.evidence_kind for s in every}),
            "tracks": rows,
        }

    @api.get(
        "/jobs/{job_id}/review/preview",
        summary="What 'mask the tracks (of label, or all; of a size band, or any) at or above "
        "threshold' leaves masked",
    )
    def review_preview(
        job_id: str,
        threshold: float,
        label: str | None = None,
        min_size: str | None = None,
        max_size: str | None = None,
    ) -> dict[str, Any]:
        band = rv.check_band(_size_param("min_size", min_size), _size_param("max_size", max_size))
        job = job_of(job_id)
        with job.lock:
            entry = job.entry_project().entry(job.name)
            cov = coverage(job, state(job))
            p = rv.preview(entry, threshold, cov, label, *band, sizes(job, entry, band))
            return p.as_dict()

    @api.post(
        "/jobs/{job_id}/review/threshold",
        summary="Turn off the tracks below a threshold, with one reason (one undoable edit)",
        response_class=Response,
    )
    def review_threshold(
        job_id: str, body: ThresholdRequest, if_match: str | None = Header(default=None)
    ) -> Response:
        job = job_of(job_id)
        expected = expected_version(if_match)
        with job.lock:
            job.check_writable(expected)
            p = job.entry_project()
            entry = p.entry(job.name)
            band = rv.check_band(body.min_size, body.max_size)
            size = sizes(job, entry, band)
            if body.dry_run:
                plan = rv.threshold_plan(entry, body.threshold, body.label, *band, size)
                return JSONResponse(_counts(plan))
            try:
                d = rv.apply_threshold(
                    p,
                    job.name,
                    body.threshold,
                    body.reason or "",
                    body.confirm,
                    body.label,
                    *band,
                    size,
                )
            except rv.NeedsConfirmation as e:
                return needs_confirm(e)
            job.save()
            return respond(job, list(d.tracks))

    @api.post(
        "/jobs/{job_id}/review/bulk",
        summary="Turn tracks off (with a reason) or on, or set their method (one undoable edit)",
        response_class=Response,
    )
    def review_bulk(
        job_id: str, body: BulkRequest, if_match: str | None = Header(default=None)
    ) -> Response:
        job = job_of(job_id)
        expected = expected_version(if_match)
        with job.lock:
            job.check_writable(expected)
            p = job.entry_project()
            entry = p.entry(job.name)
            plan = rv.bulk_plan(entry, body.tracks, body.action, body.method)
            if body.dry_run:
                return JSONResponse(_counts(plan if body.action == "disable" else []))
            try:
                rv.bulk_edit(
                    p, job.name, body.tracks, body.action, body.reason, body.method, body.confirm
                )
            except rv.NeedsConfirmation as e:
                return needs_confirm(e)
            job.save()
            return respond(job, [t.id for t in plan])

    @api.post(
        "/jobs/{job_id}/review/similar",
        summary="'More like this': tracks ranked by likeness to the given ones",
    )
    def review_similar(job_id: str, body: SimilarRequest) -> dict[str, Any]:
        job = job_of(job_id)
        with job.lock:
            entry = job.entry_project().entry(job.name)
            st = state(job)
            stats = st.stats.all(entry)
            source = job.frames
            tracks = dict(entry.tracks)
            width = entry.width
        # pixels only when the measure weighs appearance (off by default: no decoding)
        looks = _looks(st, tracks, source, width, entry.frames) if rv.needs_looks() else {}
        ranked = rv.similar(stats, body.seeds, looks)[: max(0, body.limit)]
        return {
            "seeds": body.seeds,
            "appearance": bool(looks),
            "suggestions": [{"id": i, "similarity": round(s, 4)} for i, s in ranked],
        }


def _size_param(name: str, text: str | None) -> float | None:
    """A size bound from the query string: a number of px, or a 400 naming the bad value."""
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ProjectError(
            f"{name}: expected a box height in pixels (0 or more), got {text!r}"
        ) from None
    return value  # the range is checked with the band (rv.check_band)


def _counts(plan: list) -> dict[str, Any]:
    risky = [t.id for t in plan if rv.likely_face(t)]
    return {"turned_off": len(plan), "confirm": len(risky), "ids": [t.id for t in plan]}


def _looks(
    st: _State, tracks: dict, source: Any, width: int, n_frames: int
) -> dict[int, np.ndarray]:
    """Each track's appearance descriptor from its first box (kept per track object).

    Frames are read once each, in order; without frames (not ready) there are none.
    """
    if source is None:
        return {}
    todo: dict[int, list] = {}
    for t in tracks.values():
        hit = st.looks.get(t.id)
        if hit is None or hit[0] is not t:
            todo.setdefault(t.first_frame, []).append(t)
    for frame in sorted(todo):
        rgb = source.rgb(frame)
        s = rgb.shape[1] / width
        for t in todo[frame]:
            box = t.box_at(frame, n_frames)
            x1, y1, x2, y2 = (int(round(v * s)) for v in box) if box else (0, 0, 0, 0)
            crop = rgb[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
            st.looks[t.id] = (t, rv.appearance(crop))
    for gone in [i for i in st.looks if i not in tracks]:
        del st.looks[gone]
    return {i: v[1] for i, v in st.looks.items()}


__all__ = ["add_review_routes"]
