"""The wire schema: messages and incidents as JSON, in and out.

:class:`MessageIn` is the shape of one message on the wire — a JSON Lines
record, a generic webhook body, the stored raw message (the ``payload``
column) — published as ``tsur/data/schemas/webhook_message.schema.json``.
:func:`read_jsonl` reads JSON Lines line by line: every line yields either
a message or an error naming the line, so one bad line never costs a good
one. :func:`incident_to_dict` is the one JSON view of an incident (CLI and
HTTP output).

The checks every message passes before it is stored live here too, so that
every channel refuses the same things for the same reasons:
:func:`check_instant` (dates from 1970 to 2100 only), :func:`load_json_text`
(JSON nested at most :data:`MAX_JSON_DEPTH` levels), :func:`split_lines`,
:func:`file_lines` and :func:`decode_line` (bytes read line by line, a bad line never costing
the others) and :func:`clean_message` (control characters).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, BinaryIO

import attrs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tsur.domain import Attachment, Author, GeoPoint, Incident, Message
from tsur.errors import IngestError

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_JSON_DEPTH",
    "REMOVED_CONTROLS",
    "MessageIn",
    "ParsedLine",
    "check_instant",
    "clean_message",
    "decode_line",
    "describe_validation_error",
    "escaped_line",
    "file_lines",
    "from_timestamp",
    "incident_to_dict",
    "load_json_text",
    "message_from_dict",
    "message_to_dict",
    "parse_record",
    "read_jsonl",
    "split_lines",
]

#: The first instant a message may carry: no channel tsur reads is older.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: The first instant past the dates a message may carry (the end of 2100).
LATEST = datetime(2101, 1, 1, tzinfo=UTC)
#: How deeply JSON may nest: real payloads nest below 20 levels.
MAX_JSON_DEPTH = 100


def check_instant(value: datetime, *, what: str = "date") -> datetime:
    """``value`` if it is aware and from 1970 to 2100; a :class:`ValueError` naming it otherwise.

    The one range check of every channel: a year-9999 date, a Unix time of
    10^20 or a date before 1970 is a broken record, not a complaint from
    another century, and no store or calendar has to handle it.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no time zone offset")
    # Years are compared first: a year-9999 date with an offset cannot even be moved to UTC.
    if not EARLIEST.year <= value.year < LATEST.year or not (
        EARLIEST <= value.astimezone(UTC) < LATEST
    ):
        raise ValueError(f"{what} {value.isoformat()} is outside the years 1970–2100")
    return value


_FIRST_SECOND, _LAST_SECOND = int(EARLIEST.timestamp()), int(LATEST.timestamp())


def from_timestamp(value: float, tz: tzinfo, *, what: str = "date") -> datetime:
    """A Unix timestamp as an aware datetime in ``tz``, checked by :func:`check_instant`.

    Infinite, NaN, huge and negative timestamps raise :class:`ValueError`,
    never ``OverflowError`` or ``OSError``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} {value!r} is not a Unix time")
    # compared as given: an int of 400 digits has no float, NaN compares false to all
    if not (_FIRST_SECOND <= value < _LAST_SECOND):
        raise ValueError(f"{what} {value!r} (Unix time) is outside the years 1970–2100")
    return (EARLIEST + timedelta(seconds=value)).astimezone(tz)


def _json_depth(text: str) -> int:
    """How deeply ``text`` nests arrays and objects (brackets in strings do not count)."""
    depth = deepest = 0
    for token in _BRACKETS.findall(text):
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


# possessive: a long string is one step, not a backtracking frame per character
_BRACKETS = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]')


def _no_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON: {name} is no number JSON knows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not valid JSON: {text[:40]} is too large a number")
    return value


def load_json_text(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses what nests deeper than ``max_depth`` levels.

    The depth is counted before parsing, so no hostile line reaches
    Python's recursion limit (here or later, when the record is validated
    or written). Control characters inside strings are read, as their
    escapes would be. Raises :class:`ValueError` (a ``json.JSONDecodeError``
    for bad syntax) with a reason.
    """
    if "[" in text or "{" in text:
        depth = _json_depth(text)
        if depth > max_depth:
            raise ValueError(
                f"JSON nested too deeply: {depth} levels (at most {max_depth} are read)"
            )
    try:
        # a raw control character inside a string (a NUL from a broken export) is read as
        # the escaped one would be; what a record keeps of it is decided after
        # (clean_message: removed from text, refused in identifiers)
        return json.loads(
            text, strict=False, parse_constant=_no_constant, parse_float=_finite_float
        )
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError("JSON nested too deeply to read") from None


def split_lines(data: bytes) -> list[bytes]:
    """Lines of a file's bytes, split at ``\\n`` only (``\\r\\n`` ends a line as well).

    Unlike ``str.splitlines`` nothing inside a line (U+2028, a form feed, a
    lone ``\\r``) splits it, so line numbers are those an editor shows.
    """
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def file_lines(f: BinaryIO) -> Iterator[bytes]:
    """The lines of an open binary file, read as they come, split as :func:`split_lines`
    splits (at ``\n`` only; ``\r\n`` ends a line as well).

    A file of any size is read a line at a time: memory holds one line, not
    the file.
    """
    for line in f:
        if line.endswith(b"\n"):
            line = line[:-1]
        yield line[:-1] if line.endswith(b"\r") else line


def decode_line(raw: bytes, *, first: bool = False) -> str:
    """One line as UTF-8 text (a byte-order mark opening the first line is dropped).

    Raises :class:`ValueError` naming the first byte that is not UTF-8 and
    its column.
    """
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex().upper()
        raise ValueError(
            f"not UTF-8 text: byte 0x{bad} at column {exc.start + 1} ({exc.reason}); "
            "the line is kept with \\x escapes"
        ) from None


def escaped_line(raw: bytes) -> str:
    """A line that is not UTF-8 as text to keep: bad bytes as ``\\xNN`` escapes."""
    return raw.decode("utf-8", errors="backslashreplace")


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _clean(value: str) -> tuple[str, int]:
    """``value`` without control characters (but tab, line feed and carriage return)."""
    cleaned, n = _CONTROLS.subn("", value)
    return cleaned, n


def _clean_json(value: Any, counter: list[int]) -> Any:
    if isinstance(value, str):
        cleaned, n = _clean(value)
        counter[0] += n
        return cleaned
    if isinstance(value, Mapping):
        return {_clean_json(str(k), counter): _clean_json(v, counter) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v, counter) for v in value]
    return value


#: The fields that identify a message or name something of the region: refused, never edited.
_ID_FIELDS = ("source", "external_id", "thread_id", "parent_id", "topic", "territory")
#: The meta key that says how many control characters were removed from a message.
REMOVED_CONTROLS = "removed_control_characters"


def clean_message(m: Message) -> Message:
    """``m`` as it may be stored: control characters out of its text, its ids checked.

    Text written by a person (the text, the address, the author's name and
    contact, attachments, the URL, ``meta``) loses every control character
    but tab, line feed and carriage return — NUL, escape, DEL, the C1 range
    and unpaired surrogates — and ``meta`` records how many went
    (:data:`REMOVED_CONTROLS`): a stray NUL from a broken export must not
    cost a complaint, and no database stores it the same way (PostgreSQL
    refuses NUL in text, SQLite keeps it). An identifier with such a
    character (``source``, ``external_id``, ``thread_id``, ``parent_id``,
    ``topic``, ``territory``, the author's id) raises :class:`ValueError`:
    changing it could merge two senders' messages. The date must pass
    :func:`check_instant`.
    """
    check_instant(m.created_at, what="created_at")
    for name in _ID_FIELDS:
        value = getattr(m, name)
        if value is not None and _CONTROLS.search(value):
            raise ValueError(_bad_id(name, value))
    if m.author is not None and m.author.id is not None and _CONTROLS.search(m.author.id):
        raise ValueError(_bad_id("author.id", m.author.id))
    counter = [0]

    def text(value: str | None) -> str | None:
        if value is None:
            return None
        cleaned, n = _clean(value)
        counter[0] += n
        return cleaned

    author = m.author
    if author is not None:
        author = attrs.evolve(author, name=text(author.name), contact=text(author.contact))
    attachments = [
        attrs.evolve(
            a,
            kind=text(a.kind) or "file",
            url=text(a.url),
            name=text(a.name),
            mime_type=text(a.mime_type),
        )
        for a in m.attachments
    ]
    fields: dict[str, Any] = {
        "text": text(m.text),
        "address": text(m.address),
        "url": text(m.url),
        "author": author,
        "attachments": attachments,
    }
    meta = _clean_json(dict(m.meta), counter) if m.meta else {}
    if not counter[0]:
        return m
    before = meta.get(REMOVED_CONTROLS)
    meta[REMOVED_CONTROLS] = counter[0] + (before if type(before) is int else 0)
    return attrs.evolve(m, meta=meta, **fields)


def _bad_id(name: str, value: str) -> str:
    pos = next(i for i, ch in enumerate(value) if _CONTROLS.match(ch))
    return (
        f"{name} contains the control character U+{ord(value[pos]):04X} at position "
        f"{pos + 1}; an identifier is never altered, so the record is refused"
    )


class _AuthorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    name: str | None = None
    contact: str | None = None
    anonymous: bool = False


class _AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "file"
    url: str | None = None
    name: str | None = None
    mime_type: str | None = None


class _GeoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class MessageIn(BaseModel):
    """The wire shape of one message (a JSON Lines record, a webhook body)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(min_length=1, max_length=64)
    external_id: str = Field(min_length=1, max_length=255)
    text: str
    created_at: datetime
    author: _AuthorIn | None = None
    attachments: list[_AttachmentIn] = Field(default_factory=list)
    geo: _GeoIn | None = None
    address: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    url: str | None = None
    topic: str | None = None
    territory: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("external_id", "thread_id", "parent_id", mode="before")
    @classmethod
    def _ids_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("created_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("must carry a time zone offset, e.g. 2026-11-16T09:41:00+04:00")
        return check_instant(v, what="the date")

    def to_message(self) -> Message:
        """The domain message."""
        a = self.author
        return Message(
            source=self.source,
            external_id=self.external_id,
            text=self.text,
            created_at=self.created_at,
            author=Author(a.id, a.name, a.contact, a.anonymous) if a else None,
            attachments=[Attachment(x.kind, x.url, x.name, x.mime_type) for x in self.attachments],
            geo=GeoPoint(self.geo.lat, self.geo.lon) if self.geo else None,
            address=self.address,
            thread_id=self.thread_id,
            parent_id=self.parent_id,
            url=self.url,
            topic=self.topic,
            territory=self.territory,
            meta=self.meta,
        )


def message_from_dict(data: Mapping[str, Any]) -> Message:
    """Validate a wire dictionary into a :class:`Message` (pydantic errors propagate)."""
    return MessageIn.model_validate(data).to_message()


def message_to_dict(m: Message) -> dict[str, Any]:
    """A JSON-safe dictionary that :func:`message_from_dict` reads back."""
    out: dict[str, Any] = {
        "source": m.source,
        "external_id": m.external_id,
        "text": m.text,
        "created_at": m.created_at.isoformat(),
    }
    if m.author is not None:
        out["author"] = {
            k: v
            for k, v in (
                ("id", m.author.id),
                ("name", m.author.name),
                ("contact", m.author.contact),
                ("anonymous", m.author.anonymous or None),
            )
            if v is not None
        }
    if m.attachments:
        out["attachments"] = [
            {
                k: v
                for k, v in (
                    ("kind", a.kind),
                    ("url", a.url),
                    ("name", a.name),
                    ("mime_type", a.mime_type),
                )
                if v is not None
            }
            for a in m.attachments
        ]
    if m.geo is not None:
        out["geo"] = {"lat": m.geo.lat, "lon": m.geo.lon}
    for key in ("address", "thread_id", "parent_id", "url", "topic", "territory"):
        value = getattr(m, key)
        if value is not None:
            out[key] = value
    if m.meta:
        out["meta"] = dict(m.meta)
    return out


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field: ``created_at: must carry a time zone …``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def incident_to_dict(i: Incident, *, history: bool = False) -> dict[str, Any]:
    """A JSON-safe view of an incident (with its history when asked): CLI and HTTP output."""
    out: dict[str, Any] = {
        "id": i.id,
        "status": i.status.value,
        "topic": i.topic,
        "confidence": i.confidence,
        "urgency": i.urgency.value,
        "territory": i.territory,
        "executor": i.executor,
        "sla_policy": i.sla_policy,
        "first_response_due": i.first_response_due.isoformat() if i.first_response_due else None,
        "resolution_due": i.resolution_due.isoformat() if i.resolution_due else None,
        "created_at": i.created_at.isoformat(),
        "source": i.source,
        "summary": i.summary,
        "messages": i.message_ids or i.data.get("message_count"),
    }
    if history:
        out["history"] = [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "kind": e.kind,
                "reason": e.reason,
                "from": e.from_status.value if e.from_status else None,
                "to": e.to_status.value if e.to_status else None,
                "data": dict(e.data),
            }
            for e in i.history
        ]
    return out


@attrs.frozen
class ParsedLine:
    """One input line: a message, or the error that kept it from being one."""

    line: int
    raw: str
    message: Message | None = None
    error: IngestError | None = None


def parse_record(data: Any, *, line: int | None = None, origin: str | None = None) -> Message:
    """Validate one decoded JSON record into a message or raise :class:`IngestError`."""
    if not isinstance(data, Mapping):
        raise IngestError(
            f"expected a JSON object, got {type(data).__name__}", line=line, origin=origin
        )
    try:
        return message_from_dict(data)
    except ValidationError as exc:
        raise IngestError(describe_validation_error(exc), line=line, origin=origin) from None
    except (ValueError, TypeError) as exc:  # a field the domain refuses after validation
        raise IngestError(str(exc), line=line, origin=origin) from None


def read_jsonl(lines: Iterable[str | bytes], *, origin: str = "<input>") -> Iterator[ParsedLine]:
    """Parse JSON Lines, line by line; blank lines are skipped, bad lines yield an error.

    A line may be text or bytes (one line of a file, decoded here on its
    own: a line that is not UTF-8 is refused alone, a byte-order mark
    opening the first line is dropped). Nothing a line holds raises: bad
    UTF-8, bad JSON, JSON nested too deeply, a record that is no message,
    a date outside 1970–2100 each yield a :class:`ParsedLine` with an
    :class:`~tsur.errors.IngestError` naming the line and the reason.
    """
    for n, item in enumerate(lines, start=1):
        if isinstance(item, bytes):
            try:
                text = decode_line(item, first=n == 1)
            except ValueError as exc:
                kept = escaped_line(item).strip()
                yield ParsedLine(n, kept, error=IngestError(str(exc), line=n, origin=origin))
                continue
        else:
            text = item.removeprefix("\ufeff") if n == 1 else item
        parsed = _parse_line(n, text, origin)
        if parsed is not None:
            yield parsed


def _parse_line(n: int, raw: str, origin: str) -> ParsedLine | None:
    stripped = raw.strip()
    if not stripped:
        return None
    try:
        data = load_json_text(stripped)
    except json.JSONDecodeError as exc:
        err = IngestError(f"not valid JSON: {exc.msg} at column {exc.colno}", line=n, origin=origin)
        return ParsedLine(n, stripped, error=err)
    except ValueError as exc:
        return ParsedLine(n, stripped, error=IngestError(str(exc), line=n, origin=origin))
    try:
        return ParsedLine(n, stripped, message=parse_record(data, line=n, origin=origin))
    except IngestError as exc:
        return ParsedLine(n, stripped, error=exc)
