"""Reading payloads safely: JSON with clear errors, validation, rejected items.

A payload that cannot be read raises :class:`PayloadError`, an
:class:`~tsur.errors.AdapterError` that also carries the raw text, so
whoever received it (:func:`~tsur.intake.collect`, a webhook handler)
can keep it with its reason in the rejected-input store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any, TypeVar

import attrs
from pydantic import BaseModel, ValidationError

from tsur.domain import FetchResult, Message
from tsur.errors import PayloadError, TsurError, raw_text

__all__ = [
    "FetchBatch",
    "RejectedItem",
    "convert_items",
    "describe",
    "from_unix",
    "load_json",
    "response_json",
    "validate",
]

_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def load_json(payload: bytes | str | Any, *, source: str | None, what: str) -> Any:
    """Decoded JSON; HTML error pages, empty and truncated bodies give a clear error."""
    if not isinstance(payload, bytes | str):
        return payload
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PayloadError(
                f"{what}: not UTF-8 text (byte {exc.start})", source=source, raw=payload
            ) from exc
    else:
        text = payload
    stripped = text.strip()
    if not stripped:
        raise PayloadError(f"{what}: empty body, expected JSON", source=source, raw=payload)
    if stripped.startswith("<"):
        m = _TITLE.search(stripped)
        title = " ".join(m.group(1).split()) if m else stripped[:60]
        kind = "an HTML page" if "html" in stripped[:200].lower() else "XML or HTML"
        raise PayloadError(
            f"{what}: expected JSON, got {kind} ({title!r})", source=source, raw=payload
        )
    try:
        return json.loads(stripped)
    except RecursionError as exc:
        raise PayloadError(
            f"{what}: JSON nested too deeply to read", source=source, raw=payload
        ) from exc
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped) - 1 or "Unterminated" in exc.msg:
            msg = f"{what}: truncated JSON (the text ends at character {len(stripped)})"
        else:
            msg = f"{what}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise PayloadError(msg, source=source, raw=payload) from exc


def response_json(response: Any, request: Any, *, source: str) -> Any:
    """The JSON of an API answer; an unreadable body of an HTTP error is that HTTP error.

    ``response`` is an :class:`httpx.Response`, ``request`` the
    :class:`~tsur.adapters._http.ApiRequest` it answers.
    """
    from ._http import http_error

    try:
        return load_json(response.content, source=source, what=request.label)
    except PayloadError:
        if response.status_code >= 400:
            raise http_error(response, request, source=source) from None
        raise


def describe(exc: ValidationError, *, prefix: str = "") -> str:
    """Each problem of a validation error as ``path: message``, joined by ``; ``."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        if prefix:
            loc = f"{prefix}.{loc}" if loc else prefix
        parts.append(f"{loc or 'body'}: {err['msg'].removeprefix('Value error, ')}")
    more = exc.error_count() - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def validate(
    model: type[_M], data: Any, *, source: str | None, what: str, raw: Any = None, at: str = ""
) -> _M:
    """``model.model_validate(data)``; a mismatch is a :class:`PayloadError` naming the fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PayloadError(
            f"{what}: {describe(exc, prefix=at)}",
            source=source,
            raw=raw if raw is not None else data,
        ) from exc


@attrs.frozen
class RejectedItem:
    """One item of a fetched page that could not become a message, and why."""

    raw: str
    reason: str
    line: int | None = None


@attrs.frozen
class FetchBatch(FetchResult):
    """A :class:`~tsur.protocols.FetchResult` that also reports unreadable items.

    :func:`~tsur.intake.collect` keeps every rejected item with its reason,
    so a bad record never blocks the cursor and is never lost.
    """

    rejected: Sequence[RejectedItem] = ()


def convert_items(
    items: Iterable[_T],
    convert: Callable[[_T], Iterable[Message]],
    *,
    what: str,
) -> tuple[list[Message], list[RejectedItem]]:
    """Convert items one by one: good ones to messages, bad ones to rejected items."""
    messages: list[Message] = []
    rejected: list[RejectedItem] = []
    for i, item in enumerate(items):
        try:
            messages.extend(convert(item))
        except PayloadError as exc:
            rejected.append(
                RejectedItem(exc.raw or raw_text(_jsonable(item)), f"{what}[{i}]: {exc}")
            )
        except (TsurError, ValueError, TypeError) as exc:
            rejected.append(RejectedItem(raw_text(_jsonable(item)), f"{what}[{i}]: {exc}"))
    return messages, rejected


def _jsonable(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json")
    return item


def from_unix(value: int | float, tz: tzinfo) -> datetime:
    """A Unix timestamp as an aware datetime in ``tz``."""
    return datetime.fromtimestamp(value, tz)
