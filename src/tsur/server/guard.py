"""ASGI middleware every request passes first: body limits, security headers, access log.

:class:`Guard` wraps the whole application:

- a request body is read in full before the application sees it, within
  ``max_body`` bytes and ``body_timeout`` seconds: a declared
  ``Content-Length`` that is not a plain number (``-1``, ``+5``, two
  values) is answered 400, one over the limit 413 before anything is read,
  a chunked body that grows over it 413 as soon as it does, a client too
  slow to send it 408 — no route can be reached around the limit;
- every answer carries security headers (``nosniff``, no framing, no
  referrer, a strict Content-Security-Policy) and ``Cache-Control:
  no-store``;
- one access-log record per request on the ``tsur.server.access`` logger:
  method, path (never the query string, which may carry a key or a search
  text), status, duration and the id of the API key — no personal data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["SECURITY_HEADERS", "Guard"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("tsur.server.access")

#: Sent with every answer.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
)


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Guard:
    """The middleware (see the module); ``max_body`` in bytes, ``body_timeout`` in seconds."""

    def __init__(self, app: ASGIApp, *, max_body: int, body_timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 0}
        scope.setdefault("state", {})

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            try:
                body = await self._read_body(scope, receive)
            except _Refused as refused:
                await _plain_error(send_secured, refused.status, refused.detail)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # a disconnect, when the client goes

            await self.app(scope, replay, send_secured)
        finally:
            principal = scope["state"].get("principal")
            access_log.info(
                "%s %s %s",
                scope.get("method", "-"),
                scope.get("path", "-"),
                state["status"],
                extra={
                    "http": {
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": state["status"],
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "key": getattr(principal, "key_id", None),
                    }
                },
            )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if len(declared) > 1:
            raise _Refused(400, "more than one Content-Length")
        if declared:
            raw = declared[0].strip()
            if not raw.isdigit() or len(raw) > 12:  # "-1", "+5", "1e3", absurd lengths
                raise _Refused(400, "Content-Length is not a number of bytes")
            if int(raw) > self.max_body:
                raise _Refused(413, f"the body is over {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.body_timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(left, 0.001))
            except TimeoutError:
                raise _Refused(408, "the body took too long to arrive") from None
            if message["type"] == "http.disconnect":
                raise _Refused(400, "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _Refused(413, f"the body is over {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _plain_error(send: Send, status: int, detail: str) -> None:
    code = {400: "bad_request", 408: "timeout", 413: "too_large"}.get(status, "http_error")
    data = json.dumps({"detail": detail, "code": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
