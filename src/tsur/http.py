"""A small WSGI application: webhooks in, incidents out.

``tsur.http.App(engine)`` is a standard WSGI callable, so any WSGI server
runs it (gunicorn, waitress, uWSGI …); ``tsur serve`` runs it on the
standard library's server for trials and small installations.

Routes:

``POST /webhooks/<source>``
    A pushed payload for a configured source (VK Callback API, Telegram,
    ПОС-shaped portals, JSON webhooks …), handled by
    :func:`tsur.intake.receive_webhook`: verified on the raw body first
    (403, nothing stored, when that fails), then parsed and stored. The
    answer is what the channel expects (VK's confirmation string, ``ok``);
    an unreadable verified body is kept with its reason and answered 400.
    Sources that are collected, not pushed (e-mail, RSS, CSV …) have no
    such route (404).
``GET /incidents/<id>``
    One incident with its history, as JSON.
``GET /incidents?status=…&executor=…&territory=…&topic=…&limit=…``
    Incidents, newest first.
``GET /health``
    Message counts by processing state.

Processing is left to the workers (``tsur run``) unless the app is made
with ``process=True``, which processes what a webhook brought before
answering. With a ``token`` the reading routes need
``Authorization: Bearer <token>`` (webhooks are checked by each channel's
own secret or signature).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from tsur.domain import Status, Urgency
from tsur.errors import NotFound, TsurError
from tsur.intake import check_webhook_sources, receive_webhook
from tsur.pipeline import Engine
from tsur.wire import incident_to_dict

__all__ = ["App"]

StartResponse = Callable[..., Any]
_WEBHOOK = re.compile(r"^/webhooks/([a-z0-9][a-z0-9_.-]*)/?$")
_INCIDENT = re.compile(r"^/incidents/(\d{1,19})/?$")
_REASONS = {
    401: "Unauthorized",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


class App:
    """The WSGI application over one :class:`~tsur.Engine`."""

    def __init__(
        self,
        engine: Engine,
        *,
        process: bool = False,
        max_body: int = 5 * 1024 * 1024,
        token: str | None = None,
    ) -> None:
        self.engine = engine
        #: what :func:`~tsur.intake.check_webhook_sources` warned about (logged)
        self.warnings = check_webhook_sources(engine)
        self.process = process
        self.max_body = max_body
        self.token = token

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        try:
            status, body, content_type = self._route(method, path, environ)
        except NotFound as exc:
            status, body, content_type = _json(404, {"error": str(exc)})
        except TsurError as exc:
            status, body, content_type = _json(400, {"error": str(exc)})
        data = body.encode("utf-8")
        start_response(
            f"{status} {_REASONS.get(status, 'Unknown')}",
            [("Content-Type", content_type), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _route(self, method: str, path: str, environ: dict[str, Any]) -> tuple[int, str, str]:
        if m := _WEBHOOK.match(path):
            if method != "POST":
                return _json(405, {"error": "webhooks take POST"})
            return self._webhook(m.group(1), environ)
        if method != "GET":
            return _json(405, {"error": f"{method} is not supported here"})
        if self.token is not None:
            given = environ.get("HTTP_AUTHORIZATION", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return _json(401, {"error": "a valid Authorization: Bearer token is needed"})
        if m := _INCIDENT.match(path):
            inc = self.engine.incident(int(m.group(1)))
            return _json(200, incident_to_dict(inc, history=True))
        if path.rstrip("/") == "/incidents":
            query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            return _json(200, [incident_to_dict(i) for i in self._incidents(query)])
        if path.rstrip("/") == "/health":
            return _json(200, {"status": "ok", "messages": self.engine.repository.message_counts()})
        return _json(404, {"error": f"no such resource: {path}"})

    def _incidents(self, query: dict[str, str]) -> list[Any]:
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            raise TsurError(f"limit must be a number, got {query['limit']!r}") from None
        for key, allowed in (("status", Status), ("urgency", Urgency)):
            if key in query and query[key] not in {v.value for v in allowed}:
                known = ", ".join(v.value for v in allowed)
                raise TsurError(f"{key} must be one of: {known}; got {query[key]!r}")
        return self.engine.incidents(
            status=[query["status"]] if "status" in query else None,
            topic=query.get("topic"),
            territory=[query["territory"]] if "territory" in query else None,
            executor=query.get("executor"),
            urgency=query.get("urgency"),
            limit=max(1, min(limit, 1000)),
        )

    def _webhook(self, source: str, environ: dict[str, Any]) -> tuple[int, str, str]:
        if source not in self.engine.region.sources:
            return _json(404, {"error": f"no source {source!r} in the region"})
        declared = str(environ.get("CONTENT_LENGTH") or "").strip()
        if not declared:  # no length: reading to the end would let anyone stream forever
            return _json(411, {"error": "Content-Length required"})
        if not declared.isascii() or not declared.isdigit():  # "-1" reads to end of stream
            return _json(400, {"error": "bad Content-Length"})
        length = int(declared)
        if length > self.max_body:
            return _json(413, {"error": f"body over {self.max_body} bytes"})
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if "CONTENT_TYPE" in environ:
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        result = receive_webhook(self.engine, source, body, headers)
        if self.process and result.status == 200:
            self.engine.run()
        return result.status, result.body, result.content_type


def _json(status: int, payload: Any) -> tuple[int, str, str]:
    return status, json.dumps(payload, ensure_ascii=False), "application/json; charset=utf-8"
