"""Request-body limits for ``veil serve``, applied before any route reads the body.

A route that parses JSON reads the whole body first, so a client could make the
server hold 100 MB for an edit of a few hundred bytes. This ASGI middleware
refuses a body larger than its route's limit with 413: at once when the
``Content-Length`` header says so, otherwise as soon as the bytes counted pass
the limit (the body is then held, up to the limit, and handed on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: Largest body of a JSON request other than a project PUT (an edit, a job, a review).
MAX_JSON = 1024**2

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class BodyLimit:
    """ASGI middleware: ``limit(method, path)`` gives the cap in bytes, or None (the
    route streams and counts the body itself, as an upload does)."""

    def __init__(self, app: Any, limit: Callable[[str, str], int | None]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limit(scope["method"], scope["path"])
        if cap is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > cap:
                await _refuse(send, cap)
                return
            await self.app(scope, receive, send)  # the server stops at the declared length
            return
        # no length given (chunked): hold the body up to the cap, then hand it on
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > cap:
                await _refuse(send, cap)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        done = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([done], None, receive), send)


def _replay(held: list[dict[str, Any]], last: dict[str, Any] | None, receive: Receive) -> Receive:
    queue = [*held, *([last] if last is not None else [])]

    async def next_message() -> Any:
        if queue:
            return queue.pop(0)
        return await receive()

    return next_message


async def _refuse(send: Send, cap: int) -> None:
    body = json.dumps({"detail": f"request body: larger than the limit of {cap} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
