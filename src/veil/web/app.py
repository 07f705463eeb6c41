"""The FastAPI app of ``veil serve``: a static page and a token-guarded REST API.

Security model: the server binds to localhost and prints a URL carrying a
random token in its fragment (``#token=...``), which browsers never send to a
server, so it cannot end up in a log. The page keeps it in session storage and
sends it as the ``X-Veil-Token`` header on every API call; a call without it,
or with a wrong one, is answered 401. No CORS headers are sent, so another
site in the same browser can neither read the API nor send the custom header.
Every response is ``Cache-Control: no-store``: frames and projects are
personal data and must not stay in a browser cache.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from .. import __version__
from ..errors import ConfigError, LimitError, ProjectError, VeilError
from ..project import Project
from ..project import schema as project_schema
from ..project.document import _KEEP
from .encode import ProjectText
from .files import DiskFull, Stalled, inside, media_files, save_upload, upload_name
from .frames import THUMB_SIDE
from .guard import MAX_JSON, BodyLimit
from .jobs import Conflict, Job, JobManager
from .jobs import expected_version as _expected

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
TOKEN_HEADER = "X-Veil-Token"
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


class ErrorBody(BaseModel):
    """A refused request: ``detail`` says why, naming the bad value."""

    detail: str


#: The refusals every /api route may answer, as the OpenAPI schema documents them.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Refused: a bad value, named in the message"),
        (401, "Missing or wrong token"),
        (404, "No such job or track"),
        (408, "An upload stopped sending"),
        (409, "Wrong state: busy, not detected or rendered yet, or the output is stale"),
        (413, "Too large"),
        (507, "The disk holding the work folder is full"),
    )
}


def _body_cap(method: str, path: str) -> int | None:
    """The largest request body a route reads (see :class:`.guard.BodyLimit`)."""
    if path == "/api/jobs/upload":
        return None  # streamed to disk and counted by the route, against max_upload
    if method == "PUT" and path.endswith("/project"):
        return project_schema.MAX_BYTES
    return MAX_JSON


def _tagged(job: Job, response: Response) -> Response:
    response.headers["ETag"] = f'"{job.changes}"'
    return response


def _content(*types: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of a route that sends a file, not JSON, as OpenAPI documents it."""
    return {200: {"content": {t: {} for t in types}, "description": "The file"}}


class JobFromPath(BaseModel):
    """A file inside the served folder, by its relative path."""

    path: str


class EditRequest(BaseModel):
    """One undoable edit of the project (see :data:`EDIT_OPS`)."""

    op: str
    track: int | None = None
    frame: int | None = None
    box: list[float] | None = None
    reason: str | None = None
    label: str | None = None
    shape: str | None = None
    method: str | None = None
    margin: float | None = None
    margin_share: float | None = None
    to_frame: int | None = None


#: Edit operations and the Project method behind each.
EDIT_OPS = (
    "disable",
    "enable",
    "set_keyframe",
    "set_outside",
    "delete_keyframe",
    "move_keyframe",
    "add_track",
    "delete_track",
    "set_style",
)


def _need(v: Any, name: str) -> Any:
    if v is None:
        raise ProjectError(f"{name}: required for this edit")
    return v


def apply_edit(project: Project, file: str, e: EditRequest) -> int | None:
    """Run one edit through the project API (validated there); returns the track's id."""
    if e.op not in EDIT_OPS:
        raise ProjectError(f"op: expected one of {', '.join(EDIT_OPS)}")
    if e.op == "add_track":
        frame = _need(e.frame, "frame")
        from ..project import Overrides

        ov = Overrides(shape=e.shape, method=e.method)
        return project.add_track(file, _need(e.label, "label"), [(frame, _need(e.box, "box"))], ov)
    tid = _need(e.track, "track")
    if e.op == "disable":
        project.disable(file, tid, _need(e.reason, "reason"))
    elif e.op == "enable":
        project.enable(file, tid)
    elif e.op == "set_keyframe":
        project.set_keyframe(file, tid, _need(e.frame, "frame"), _need(e.box, "box"))
    elif e.op == "set_outside":
        project.set_outside(file, tid, _need(e.frame, "frame"))
    elif e.op == "delete_keyframe":
        project.delete_keyframe(file, tid, _need(e.frame, "frame"))
    elif e.op == "move_keyframe":
        project.move_keyframe(file, tid, _need(e.frame, "frame"), _need(e.to_frame, "to_frame"))
    elif e.op == "delete_track":
        project.delete_track(file, tid)
    elif e.op == "set_style":
        fields = e.model_fields_set
        project.set_overrides(
            file,
            tid,
            method=e.method if "method" in fields else _KEEP,
            shape=e.shape if "shape" in fields else _KEEP,
            margin=e.margin if "margin" in fields else _KEEP,
            margin_share=_need(e.margin_share, "margin_share")
            if "margin_share" in fields
            else _KEEP,
        )
    return tid


def _changed(job: Job, tid: int | None) -> str:
    """``{"id": tid, "track": ...}`` as JSON text; the track from the job's per-track cache."""
    t = None if tid is None else job.entry_project().entry(job.name).tracks.get(tid)
    track = "null" if t is None else job.text.track(t)
    return f'{{"id":{json.dumps(tid)},"track":{track}}}'


def _json(raw: dict[str, str], rest: dict[str, Any]) -> Response:
    """A JSON response from ready JSON texts (``raw``) and plain values (``rest``).

    Large projects are sent as the text the job keeps per track, never through
    FastAPI's encoder, which walks every keyframe of every track.
    """
    parts = [f"{json.dumps(k)}:{v}" for k, v in raw.items()]
    parts += [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in rest.items()]
    return Response("{" + ",".join(parts) + "}", media_type="application/json")


def create_app(manager: JobManager, token: str, hosts: Collection[str] | None = None) -> FastAPI:
    """The app for one server start; ``token`` guards every ``/api`` route.

    ``hosts`` lists the ``host:port`` names the server answers to (against DNS
    rebinding): a request whose ``Host``, or ``Origin`` when sent, names another
    is refused with 403. None accepts any (tests; a server bound to every interface).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        manager.shutdown()

    app = FastAPI(
        title="veil serve",
        version=__version__,
        description="Review, correct and render veil's masks. Every /api call needs the "
        f"`{TOKEN_HEADER}` header carrying the token printed at start.",
        docs_url=None,  # FastAPI's /docs loads its UI from a CDN; ours is local
        redoc_url=None,
        lifespan=lifespan,
    )

    # innermost of the middlewares: a request without the token is answered 401 first
    app.add_middleware(BodyLimit, limit=_body_cap)

    def token_ok(sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), token.encode())

    @app.middleware("http")
    async def token_first(request: Request, call_next: Any) -> Response:
        """The token is checked before routing and body parsing, so a request without
        it learns nothing from a 405 or a 422 (the route's dependency checks it again)."""
        path = request.scope["path"]  # decoded, as the router matches it
        if (path == "/api" or path.startswith("/api/")) and not token_ok(
            request.headers.get(TOKEN_HEADER)
        ):
            return JSONResponse({"detail": "missing or wrong token"}, status_code=401)
        return await call_next(request)

    allowed = None if hosts is None else {h.lower() for h in hosts}

    @app.middleware("http")
    async def same_host(request: Request, call_next: Any) -> Response:
        """Refuse a foreign Host (a DNS-rebinding page) or a foreign Origin (another
        site's script) before anything else, page and static files included."""
        if allowed is not None:
            host = (request.headers.get("host") or "").lower()
            origin = request.headers.get("origin")
            foreign = host not in allowed
            if origin is not None:
                o = urlsplit(origin.lower())
                foreign |= o.scheme not in ("http", "https") or o.netloc not in allowed
            if foreign:
                return JSONResponse({"detail": "foreign Host or Origin"}, status_code=403)
        return await call_next(request)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = _CSP
        return response

    def check_token(x_veil_token: str | None = Header(default=None)) -> None:
        if not token_ok(x_veil_token):
            raise HTTPException(401, "missing or wrong token")

    @app.exception_handler(VeilError)
    async def veil_error(request: Request, exc: VeilError) -> JSONResponse:
        code = 400
        if isinstance(exc, Conflict):
            code = 409
        elif isinstance(exc, LimitError):
            code = 413
        elif isinstance(exc, Stalled):
            code = 408
        elif isinstance(exc, DiskFull):
            code = 507
        return JSONResponse({"detail": str(exc)}, status_code=code)

    api = APIRouter(prefix="/api", dependencies=[Depends(check_token)], responses=ERRORS)

    def job_of(job_id: str) -> Job:
        try:
            return manager.get(job_id)
        except KeyError:
            raise HTTPException(404, "no such job") from None

    # -- files and jobs --------------------------------------------------------------
    @api.get("/files", summary="Images and videos in the served folder")
    def list_files() -> dict[str, Any]:
        return {
            "files": media_files(manager.root),
            "max_upload": manager.max_upload,
            # a track left unmasked: the reasons the run's policy offers (--policy)
            "reasons": list(manager.settings.review_reasons),
        }

    @api.get("/jobs", summary="All jobs")
    def list_jobs() -> dict[str, Any]:
        return {"jobs": [j.status() for j in manager.listed()]}

    @api.post("/jobs", status_code=201, summary="Create a job on a file in the served folder")
    def create_job(body: JobFromPath) -> dict[str, Any]:
        src = inside(manager.root, body.path)
        return manager.create(src, src.relative_to(manager.root).as_posix()).status()

    @api.post(
        "/jobs/upload",
        status_code=201,
        summary="Create a job from an uploaded file (raw body; ?name= gives its file name)",
    )
    async def upload_job(request: Request, name: str) -> dict[str, Any]:
        clean = upload_name(name)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > manager.max_upload:
            raise LimitError(f"upload: larger than the limit of {manager.max_upload} bytes")
        job, dst = manager.reserve_upload(clean)
        try:
            await save_upload(request.stream(), dst, manager.max_upload, manager.upload_idle_s)
        except BaseException:
            manager.delete(job)
            raise
        manager.finish_upload(job)
        return job.status()

    @api.get("/jobs/{job_id}", summary="A job's status and progress")
    def job_status(job_id: str) -> dict[str, Any]:
        return job_of(job_id).status()

    @api.get(
        "/jobs/{job_id}/events",
        summary="Server-sent events: the status on every change",
        response_class=StreamingResponse,
        responses=_content("text/event-stream"),
    )
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        job = job_of(job_id)

        async def stream() -> AsyncIterator[str]:
            seen = -1
            while not job.deleted and not await request.is_disconnected():
                if job.version != seen:
                    seen = job.version
                    yield f"data: {json.dumps(job.status())}\n\n"
                await asyncio.sleep(0.2)
            yield "event: end\ndata: {}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @api.post("/jobs/{job_id}/detect", status_code=202, summary="Queue detection and tracking")
    def detect(job_id: str) -> dict[str, Any]:
        job = job_of(job_id)
        manager.submit(job, "detect")
        return job.status()

    @api.post("/jobs/{job_id}/render", status_code=202, summary="Queue the render")
    def render(job_id: str) -> dict[str, Any]:
        job = job_of(job_id)
        manager.submit(job, "render")
        return job.status()

    @api.post("/jobs/{job_id}/cancel", summary="Cancel the running or queued task")
    def cancel(job_id: str) -> dict[str, Any]:
        job = job_of(job_id)
        manager.cancel(job)
        return job.status()

    @api.delete("/jobs/{job_id}", status_code=204, summary="Cancel and delete, with every file")
    def delete(job_id: str) -> Response:
        manager.delete(job_of(job_id))
        return Response(status_code=204)

    # -- project --------------------------------------------------------------------------
    def project_state(job: Job) -> Response:
        with job.lock:
            p = job.entry_project()
            return _json(
                {"project": job.project_json()},
                {
                    "can_undo": p.can_undo,
                    "can_redo": p.can_redo,
                    "history": p.history,
                    "version": job.version,
                    "revision": job.revision,
                    "project_version": job.changes,
                },
            )

    @api.get(
        "/jobs/{job_id}/project",
        summary="The project document and undo state",
        response_class=Response,
    )
    def get_project(job_id: str) -> Response:
        job = job_of(job_id)
        return _tagged(job, project_state(job))

    @api.put(
        "/jobs/{job_id}/project",
        summary="Replace the project (validated as `veil mask --project` does; clears undo)",
        response_class=Response,
    )
    async def put_project(
        job_id: str, request: Request, if_match: str | None = Header(default=None)
    ) -> Response:
        job = job_of(job_id)
        expected = _expected(if_match)
        body = await request.body()
        if len(body) > project_schema.MAX_BYTES:
            raise LimitError("project: too large")
        new = Project.loads(body, "project")
        with job.lock:
            old = job.entry_project().entry(job.name)
            if [e.file for e in new.files] != [job.name]:
                raise ProjectError("project: must hold exactly this job's file")
            e = new.entry(job.name)
            if (e.sha256, e.frames, e.width, e.height) != (
                old.sha256,
                old.frames,
                old.width,
                old.height,
            ):
                raise ProjectError("project: made from another file (sha256 or size differ)")
            if job.task is not None:
                raise Conflict(f"job: busy with {job.task}")
            job.check_fresh(expected)
            job.project = new
            job.text, job.boxes = ProjectText(), None
            job.revision += 1
            job.save()
        return _tagged(job, project_state(job))

    @api.post(
        "/jobs/{job_id}/edit",
        summary="One undoable edit; the project is saved at once",
        response_class=Response,
    )
    def edit(
        job_id: str, body: EditRequest, if_match: str | None = Header(default=None)
    ) -> Response:
        job = job_of(job_id)
        expected = _expected(if_match)
        with job.lock:
            job.check_writable(expected)
            p = job.entry_project()
            tid = apply_edit(p, job.name, body)
            job.save()
            return _tagged(
                job,
                _json(
                    {"changed": "[" + _changed(job, tid) + "]"},
                    {
                        "can_undo": p.can_undo,
                        "can_redo": p.can_redo,
                        "version": job.version,
                        "project_version": job.changes,
                    },
                ),
            )

    def history_step(job: Job, redo: bool, expected: int | None) -> Response:
        with job.lock:
            job.check_writable(expected)
            p = job.entry_project()
            step = p.redo() if redo else p.undo()
            changed = []
            if step is not None:
                changed += [_changed(job, tid) for tid in step.track_ids]  # bulk: many
                job.save()
            return _json(
                {"changed": "[" + ",".join(changed) + "]"},
                {
                    "what": None if step is None else step.what,
                    "can_undo": p.can_undo,
                    "can_redo": p.can_redo,
                    "version": job.version,
                    "project_version": job.changes,
                },
            )

    @api.post("/jobs/{job_id}/undo", summary="Undo the last edit", response_class=Response)
    def undo(job_id: str, if_match: str | None = Header(default=None)) -> Response:
        job = job_of(job_id)
        return _tagged(job, history_step(job, False, _expected(if_match)))

    @api.post("/jobs/{job_id}/redo", summary="Redo the last undone edit", response_class=Response)
    def redo(job_id: str, if_match: str | None = Header(default=None)) -> Response:
        job = job_of(job_id)
        return _tagged(job, history_step(job, True, _expected(if_match)))

    @api.post(
        "/jobs/{job_id}/tracks/{track_id}/follow",
        status_code=202,
        summary="Queue following a drawn region through the video (one undoable edit)",
    )
    def follow(
        job_id: str, track_id: int, if_match: str | None = Header(default=None)
    ) -> dict[str, Any]:
        job = job_of(job_id)
        expected = _expected(if_match)
        with job.lock:
            job.check_fresh(expected)
            job.entry_project().track(job.name, track_id)
            manager.submit(job, f"follow:{track_id}")
        return job.status()

    # -- frames and files -------------------------------------------------------------
    @api.get(
        "/jobs/{job_id}/frames/{index}",
        summary="Frame by index as JPEG (display size); masked=true previews the project",
        response_class=Response,
        responses=_content("image/jpeg"),
    )
    def frame(job_id: str, index: int, masked: bool = False) -> Response:
        data = manager.preview(job_of(job_id), index, masked)
        return Response(data, media_type="image/jpeg")

    @api.get(
        "/jobs/{job_id}/tracks/{track_id}/thumbnail",
        summary="A small JPEG of the track: its box outlined in its surroundings",
        description="On the middle of the frames where a detection or a person placed its box "
        "(`at=first` or `last`: the first or last of them), `side` px square (32 to 256); "
        "the header `X-Veil-Frame` names the frame.",
        response_class=Response,
        responses=_content("image/jpeg"),
    )
    def thumb(job_id: str, track_id: int, at: str = "middle", side: int = THUMB_SIDE) -> Response:
        data, frame = manager.thumbnail(job_of(job_id), track_id, at, side)
        return Response(data, media_type="image/jpeg", headers={"X-Veil-Frame": str(frame)})

    @api.get(
        "/jobs/{job_id}/output",
        summary="Download the rendered file (stale=true: also when edits came after its render)",
        response_class=FileResponse,
        responses=_content("video/*", "image/*"),
    )
    def output(job_id: str, stale: bool = False) -> FileResponse:
        job = job_of(job_id)
        if job.output is None or not job.output.is_file():
            raise Conflict("job: render first")
        if job.status()["stale"] and not stale:
            raise Conflict(
                "job: the output was rendered before the latest edits and does not show them; "
                "render again, or ask for the old output with stale=true"
            )
        return FileResponse(job.output, filename=job.output.name)

    @api.get(
        "/jobs/{job_id}/report",
        summary="Download the redaction report (json or md)",
        response_class=FileResponse,
        responses=_content("application/json", "text/markdown"),
    )
    def report(job_id: str, format: str = "json") -> FileResponse:
        job = job_of(job_id)
        if format not in ("json", "md"):
            raise ConfigError("format: json or md")
        if job.report is None:
            raise Conflict("job: render first")
        path = job.report.with_suffix("." + format)
        return FileResponse(path, filename=f"report.{format}")

    from .review import add_review_routes

    def edited(job: Job, ids: list[int]) -> Response:
        p = job.entry_project()
        return _json(
            {"changed": "[" + ",".join(_changed(job, i) for i in ids) + "]"},
            {
                "can_undo": p.can_undo,
                "can_redo": p.can_redo,
                "version": job.version,
                "project_version": job.changes,
            },
        )

    add_review_routes(api, manager, job_of, edited)
    from .live import add_live_routes

    add_live_routes(app, api, manager)
    app.include_router(api)

    # -- the page and its docs (no token: they hold no data) ---------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


__all__ = ["EDIT_OPS", "TOKEN_HEADER", "apply_edit", "create_app"]
