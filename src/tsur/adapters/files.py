"""JSON Lines files: hotline exports, written appeals, test data.

Each line is one message in the wire shape of :class:`tsur.wire.MessageIn`.
Reading never stops at a bad line: every line yields either a message or a
clear error naming the line, so valid lines are ingested and bad ones are
kept with their reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
from pydantic import Field

from tsur.domain import FetchResult, Message, Reply
from tsur.errors import AdapterError, IngestError, PayloadError
from tsur.wire import message_to_dict, parse_record, read_jsonl, split_lines

from ._base import AdapterOptions, BaseAdapter
from ._payload import FetchBatch, RejectedItem, refusing

__all__ = ["JsonLinesAdapter", "JsonLinesOptions", "to_jsonl"]


class JsonLinesOptions(AdapterOptions):
    """Options of a ``jsonl`` source."""

    path: str | None = Field(default=None, description="the JSON Lines file to read")
    replies_path: str | None = Field(
        default=None, description="a file the answers are appended to, one JSON line each"
    )


class JsonLinesAdapter(BaseAdapter):
    """A source that reads a JSON Lines file (a hotline or portal export).

    The cursor is the number of lines already read, so appending to the
    file and fetching again returns only the new lines. Replies are
    appended to ``replies_path`` when one is configured.
    """

    kind: ClassVar[str] = "jsonl"
    options_model: ClassVar[type[AdapterOptions]] = JsonLinesOptions
    opts: JsonLinesOptions

    @property
    def path(self) -> Path:
        """The file to read (``options.path``)."""
        if not self.opts.path:
            raise AdapterError("a jsonl source needs options.path", source=self.source.id)
        return Path(self.opts.path)

    @property
    def replies_path(self) -> Path | None:
        """Where answers are appended (``options.replies_path``), if anywhere."""
        return Path(self.opts.replies_path) if self.opts.replies_path else None

    def fetch(self, cursor: str | None) -> FetchResult:
        """Messages on lines after ``cursor`` (a line count); bad lines are reported
        (with their numbers) for the rejected-input store, not fatal."""
        start = int(cursor or 0)
        try:
            lines = split_lines(self.path.read_bytes())
        except OSError as exc:
            raise AdapterError(f"cannot read {self.path}: {exc}", source=self.source.id) from exc
        out: list[Message] = []
        rejected: list[RejectedItem] = []
        for parsed in read_jsonl(lines, origin=str(self.path)):
            if parsed.line <= start:
                continue
            if parsed.error is not None:
                rejected.append(RejectedItem(parsed.raw, str(parsed.error), parsed.line))
                continue
            assert parsed.message is not None
            out.append(attrs.evolve(parsed.message, source=self.source.id))
        return FetchBatch(out, str(len(lines)), False, tuple(rejected))

    @refusing("JSON Lines")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages in one JSON object or a block of JSON Lines; any bad line refuses it
        (:class:`~tsur.errors.PayloadError` naming the line)."""
        if isinstance(payload, Mapping):
            try:
                return [parse_record(payload)]
            except IngestError as exc:
                raise PayloadError(str(exc), source=self.source.id, raw=payload) from exc
        lines = split_lines(payload) if isinstance(payload, bytes) else payload.split("\n")
        out = []
        for parsed in read_jsonl(lines):
            if parsed.error is not None:
                raise PayloadError(str(parsed.error), source=self.source.id, raw=payload)
            assert parsed.message is not None
            out.append(parsed.message)
        return out

    def reply(self, reply: Reply) -> str | None:
        """Append the reply as a JSON line to ``replies_path`` (None if not configured)."""
        target = self.replies_path
        if target is None:
            return None
        record = attrs.asdict(reply)
        with target.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return f"{target}:{reply.incident_id}"


def to_jsonl(messages: Iterable[Message]) -> str:
    """Messages as JSON Lines text (the format ``read_jsonl`` reads)."""
    return "".join(json.dumps(message_to_dict(m), ensure_ascii=False) + "\n" for m in messages)
