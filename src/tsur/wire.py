"""The wire schema: messages and incidents as JSON, in and out.

:class:`MessageIn` is the shape of one message on the wire — a JSON Lines
record, a generic webhook body, the stored raw message (the ``payload``
column) — published as ``tsur/data/schemas/webhook_message.schema.json``.
:func:`read_jsonl` reads JSON Lines line by line: every line yields either
a message or an error naming the line, so one bad line never costs a good
one. :func:`incident_to_dict` is the one JSON view of an incident (CLI and
HTTP output).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tsur.domain import Attachment, Author, GeoPoint, Incident, Message
from tsur.errors import IngestError

__all__ = [
    "MessageIn",
    "ParsedLine",
    "describe_validation_error",
    "incident_to_dict",
    "message_from_dict",
    "message_to_dict",
    "parse_record",
    "read_jsonl",
]


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
        return v

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


def read_jsonl(lines: Iterable[str], *, origin: str = "<input>") -> Iterator[ParsedLine]:
    """Parse JSON Lines; blank lines are skipped, bad lines yield an error."""
    for n, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            err = IngestError(
                f"not valid JSON: {exc.msg} at column {exc.colno}", line=n, origin=origin
            )
            yield ParsedLine(n, stripped, error=err)
            continue
        try:
            yield ParsedLine(n, stripped, message=parse_record(data, line=n, origin=origin))
        except IngestError as exc:
            yield ParsedLine(n, stripped, error=exc)
