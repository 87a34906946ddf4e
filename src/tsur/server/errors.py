"""tsur's exceptions as HTTP answers: a specific 4xx with a clear reason, never a 500.

Every error body is ``{"detail": "...", "code": "..."}`` (``reasons`` too
for an answer refused as an «отписка»). Anything unexpected is logged with
its traceback and answered 500 without details.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tsur.errors import (
    AccessDenied,
    AnswerRejected,
    ExtensionRefused,
    IllegalTransition,
    LifecycleError,
    NotFound,
    PhotoRequired,
    ReportError,
    TooManyRequests,
    TsurError,
    UnknownSource,
)
from tsur.server.deps import retry_after

__all__ = ["ERROR_RESPONSES", "ErrorOut", "error_status", "install_error_handlers"]

log = logging.getLogger("tsur.server")


class ErrorOut(BaseModel):
    """An error answer: what went wrong, a stable code, and an «отписка»'s reasons."""

    #: a text, or for a body or query that fails validation one entry per problem
    detail: str | list[dict[str, Any]]
    code: str
    reasons: list[str] | None = None


#: The error answers any route may give (documented once for every operation).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a malformed request (a bogus Content-Length …)"},
    401: {"model": ErrorOut, "description": "no valid API key"},
    403: {"model": ErrorOut, "description": "the key's role may not do this"},
    404: {"model": ErrorOut, "description": "no such resource within the key's scope"},
    408: {"model": ErrorOut, "description": "the body took too long to arrive"},
    413: {"model": ErrorOut, "description": "the body is over the limit"},
    429: {"model": ErrorOut, "description": "over the key's rate; see Retry-After"},
}

_STATUS: tuple[tuple[type[TsurError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (UnknownSource, 404, "unknown_source"),
    (IllegalTransition, 409, "illegal_transition"),
    (ExtensionRefused, 409, "extension_refused"),
    (AnswerRejected, 422, "answer_rejected"),
    (PhotoRequired, 422, "photo_required"),
    (LifecycleError, 422, "invalid_request"),
    (ReportError, 400, "bad_report_request"),
)


def error_status(exc: TsurError) -> tuple[int, str]:
    """The HTTP status and error code of one of tsur's exceptions."""
    if isinstance(exc, AccessDenied):
        return exc.status, {401: "unauthenticated", 429: "rate_limited"}.get(
            exc.status, "forbidden"
        )
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 400, "bad_request"


def _tsur_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TsurError)
    status, code = error_status(exc)
    body: dict[str, object] = {"detail": str(exc), "code": code}
    if isinstance(exc, AnswerRejected):
        body["reasons"] = list(exc.reasons)
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests):
        headers.update(retry_after(exc))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error", "code": "internal"}, status_code=500)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"detail": exc.detail, "code": code},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    return JSONResponse(
        {"detail": problems, "code": "invalid_request"},
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer tsur's exceptions, validation errors and the unexpected as described above."""
    app.add_exception_handler(TsurError, _tsur_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
