"""Schemathesis fuzzes ``veil serve``'s API from its own /openapi.json (issue 27).

A real server on a free local port (uvicorn in a thread), so every request goes
through HTTP, the middleware and the token check as a browser's would. With the
token: no 5xx, no request past 10 s, every status, content type and body as the
schema says. Without it, or with a wrong one: 401 on every /api route. The number
of examples is bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks as st_checks  # noqa: E402

from test_web_api import AUTH, TOKEN  # noqa: E402
from veil.web.app import TOKEN_HEADER, create_app  # noqa: E402
from web_live import Live  # noqa: E402

#: Examples per operation (about 25 operations); VEIL_FUZZ_EXAMPLES asks for a longer run.
EXAMPLES = int(os.environ.get("VEIL_FUZZ_EXAMPLES", "8"))
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


#: Cases sent, by test and status (VEIL_FUZZ_REPORT=FILE writes them, for docs/server.md).
SENT: Counter[str] = Counter()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    server = Live(tmp_path_factory.mktemp("fuzz"))
    yield server
    server.close()
    if os.environ.get("VEIL_FUZZ_REPORT"):
        report = {"examples_per_operation": EXAMPLES, "sent": dict(sorted(SENT.items()))}
        Path(os.environ["VEIL_FUZZ_REPORT"]).write_text(json.dumps(report, indent=1) + "\n")


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
    r = case.call_and_validate(base_url=live.url, headers=AUTH, checks=CHECKS, timeout=HANG_S)
    SENT[f"token {r.status_code}"] += 1


@schema.include(path_regex="^/api/").parametrize()
@settings(
    max_examples=2,
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
        SENT[f"no or wrong token {r.status_code}"] += 1


def test_the_event_stream_starts_at_once_and_needs_the_token(live):
    """The one route left out of the fuzzing: it streams until the client goes."""
    import requests

    url = f"{live.url}/api/jobs/{live.job}/events"
    assert requests.get(url, timeout=HANG_S).status_code == 401
    assert requests.get(f"{live.url}/api/jobs/nope/events", headers=AUTH).status_code == 404
    with requests.get(url, headers=AUTH, stream=True, timeout=HANG_S) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        first = next(r.iter_lines())
        assert first.startswith(b"data: {")
