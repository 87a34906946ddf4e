"""Reading payloads safely: JSON with clear errors, validation, rejected items.

A payload that cannot be read raises :class:`PayloadError`, an
:class:`~tsur.errors.AdapterError` that also carries the raw text, so
whoever received it (:func:`~tsur.intake.collect`, a webhook handler)
can keep it with its reason in the rejected-input store.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any, ParamSpec, TypeVar

import attrs
from pydantic import BaseModel, ValidationError

from tsur.domain import FetchResult, Message
from tsur.errors import PayloadError, TsurError, raw_text
from tsur.wire import from_timestamp, load_json_text

__all__ = [
    "FetchBatch",
    "RejectedItem",
    "convert_items",
    "describe",
    "from_unix",
    "load_json",
    "refusing",
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
        return load_json_text(stripped)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped) - 1 or "Unterminated" in exc.msg:
            msg = f"{what}: truncated JSON (the text ends at character {len(stripped)})"
        else:
            msg = f"{what}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise PayloadError(msg, source=source, raw=payload) from exc
    except ValueError as exc:  # nested too deeply
        raise PayloadError(f"{what}: {exc}", source=source, raw=payload) from exc


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
            rejected.append(RejectedItem(_raw(item), f"{what}[{i}]: {exc}"))
        except Exception as exc:  # whatever else one item breaks, the others go on
            rejected.append(
                RejectedItem(_raw(item), f"{what}[{i}]: unreadable ({type(exc).__name__}: {exc})")
            )
    return messages, rejected


def _raw(item: Any) -> str:
    try:
        return raw_text(_jsonable(item))
    except Exception:  # an item too deep or too odd to dump: its repr, cut
        return repr(item)[:10_000]


def _jsonable(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json")
    return item


def from_unix(value: int | float, tz: tzinfo) -> datetime:
    """A Unix timestamp as an aware datetime in ``tz``; outside 1970–2100 a :class:`ValueError`.

    The range is :func:`tsur.wire.check_instant`'s, the one every channel shares.
    """
    return from_timestamp(value, tz)


_P = ParamSpec("_P")


def refusing(
    what: str,
) -> Callable[[Callable[_P, Iterable[Message]]], Callable[_P, Iterable[Message]]]:
    """Make a parser refuse instead of crash: any failure becomes a :class:`PayloadError`.

    tsur's own errors pass as they are (a :class:`PayloadError` with its
    reason, an API error answer, a failed verification); anything else a
    hostile payload provokes in a parser or the standard library under it
    (``RecursionError``, ``OverflowError``, ``IndexError`` from a header
    parser, ``LookupError`` from an unknown encoding …) is refused with the
    exception named, and the payload kept. The messages are made inside
    the guard (a generator's too).
    """

    def wrap(parse: Callable[_P, Iterable[Message]]) -> Callable[_P, Iterable[Message]]:
        @functools.wraps(parse)
        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> Iterable[Message]:
            try:
                return list(parse(*args, **kwargs))
            except TsurError:
                raise
            except Exception as exc:
                source = getattr(args[0], "source", None) if args else None
                payload = args[1] if len(args) > 1 else kwargs.get("payload")
                reason = (
                    str(exc)  # a value the parser refused, with its own reason
                    if type(exc) in (ValueError, TypeError)
                    else f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
                )
                raise PayloadError(
                    f"{what}: {reason}", source=getattr(source, "id", None), raw=_raw(payload)
                ) from exc

        return guarded

    return wrap
