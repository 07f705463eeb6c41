"""Schemathesis fuzzes ``veil serve``'s API from its own /openapi.json (issue 27).

A real server on a free local port (uvicorn in a thread), so every request goes
through HTTP, the middleware and the token check as a browser's would. With the
token: no 5xx, no request past 10 s, every status, content type and body as the
schema says. Without it, or with a wrong one: 401 on every /api route. The number
of examples is bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks as st_checks  # noqa: E402

from media_factory import make_clip  # noqa: E402
from test_web_api import AUTH, TOKEN, BarDetector  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402
from veil.web.app import TOKEN_HEADER, create_app  # noqa: E402
from veil.web.jobs import JobManager  # noqa: E402

#: Examples per operation (about 25 operations); VEIL_FUZZ_EXAMPLES asks for a longer run.
EXAMPLES = int(os.environ.get("VEIL_FUZZ_EXAMPLES", "12"))
#: A request that takes longer than this counts as a hang.
HANG_S = 10
#: Streams without an end by design (server-sent events): checked on their own.
ENDLESS = ("/api/jobs/{job_id}/events",)
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]


class Live:
    """The app served by uvicorn on 127.0.0.1, with one detected job in it."""

    def __init__(self, tmp: object) -> None:
        from pathlib import Path

        tmp = Path(str(tmp))
        root = tmp / "media"
        root.mkdir()
        make_clip(root / "clip.mp4", frames=12)
        self.manager = JobManager(
            root,
            Settings(detect=DetectSettings(targets=("face",))),
            engine_factory=lambda s: Engine(s, detectors=[BarDetector()]),
            max_upload=300_000,
            workdir=tmp,
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.manager, TOKEN), port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"
        job = self.manager.create(root / "clip.mp4", "clip.mp4")
        self.manager.submit(job, "detect")
        job.idle.wait(60)
        assert job.state == "ready"
        self.job = job.id

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.manager.shutdown()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    server = Live(tmp_path_factory.mktemp("fuzz"))
    yield server
    server.close()


# The schema is the app's own, built without serving (the routes touch no manager until
# called); the cases are sent to the live server by base_url.
schema = schemathesis.openapi.from_dict(create_app(None, TOKEN).openapi())  # type: ignore[arg-type]


def _aim(case, live: Live) -> None:
    """Most cases name the live job, so the fuzzer reaches past the 404 of a random id
    (except DELETE, which would end the job for every later case)."""
    if "job_id" in (case.path_parameters or {}) and case.method.upper() != "DELETE":
        case.path_parameters["job_id"] = live.job


@schema.exclude(path=list(ENDLESS)).parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_with_the_token_no_5xx_no_hang_and_responses_match_the_schema(case, live):
    _aim(case, live)
    case.call_and_validate(base_url=live.url, headers=AUTH, checks=CHECKS, timeout=HANG_S)


@schema.include(path_regex="^/api/").parametrize()
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_without_the_token_every_api_route_answers_401(case, live):
    _aim(case, live)
    for headers in ({}, {TOKEN_HEADER: TOKEN + "x"}, {TOKEN_HEADER: ""}):
        sent = dict(case.headers or {})
        sent.pop(TOKEN_HEADER, None)
        sent.pop(TOKEN_HEADER.lower(), None)
        case.headers = {**sent, **headers}
        r = case.call(base_url=live.url, timeout=HANG_S, stream=True)
        # a method the route does not have may be answered 405 before the token is read
        allowed = (401,) if case.method.lower() == case.operation.method.lower() else (401, 405)
        assert r.status_code in allowed, (case.method, case.path, r.status_code)
