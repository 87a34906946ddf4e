"""JSON Lines files: hotline exports, written appeals, test data.

Each line is one message in the wire shape of :class:`tsur.store.codec.MessageIn`.
Reading never stops at a bad line: every line yields either a message or a
clear error naming the line, so valid lines are ingested and bad ones are
kept with their reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
from pydantic import ValidationError

from tsur.config import RegionConfig
from tsur.domain import Message, Reply, Source
from tsur.errors import AdapterError, IngestError
from tsur.hookspecs import hookimpl
from tsur.store.codec import describe_validation_error, message_from_dict, message_to_dict
from tsur.typing import FetchResult, Register

__all__ = ["JsonLinesAdapter", "ParsedLine", "read_jsonl"]


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


class JsonLinesAdapter:
    """A source that reads a JSON Lines file (a hotline or portal export).

    The cursor is the number of lines already read, so appending to the
    file and fetching again returns only the new lines. Replies are
    appended to ``replies_path`` when one is configured.
    """

    def __init__(
        self,
        source: Source,
        config: RegionConfig | None = None,
        *,
        path: str | None = None,
        replies_path: str | None = None,
    ) -> None:
        self.source = source
        path = path or source.options.get("path")
        if not path:
            raise AdapterError("a jsonl source needs options.path", source=source.id)
        self.path = Path(str(path))
        rp = replies_path or source.options.get("replies_path")
        self.replies_path = Path(str(rp)) if rp else None

    def fetch(self, cursor: str | None) -> FetchResult:
        """Messages on lines after ``cursor`` (a line count); bad lines raise."""
        start = int(cursor or 0)
        try:
            lines = self.path.read_text("utf-8").splitlines()
        except OSError as exc:
            raise AdapterError(f"cannot read {self.path}: {exc}", source=self.source.id) from exc
        out: list[Message] = []
        for parsed in read_jsonl(lines[start:], origin=str(self.path)):
            if parsed.error is not None:
                raise parsed.error
            assert parsed.message is not None
            out.append(attrs.evolve(parsed.message, source=self.source.id))
        return FetchResult(out, str(len(lines)))

    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages in one JSON object or a block of JSON Lines."""
        if isinstance(payload, Mapping):
            return [parse_record(payload)]
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        out = []
        for parsed in read_jsonl(text.splitlines()):
            if parsed.error is not None:
                raise parsed.error
            assert parsed.message is not None
            out.append(parsed.message)
        return out

    def reply(self, reply: Reply) -> str | None:
        """Append the reply as a JSON line to ``replies_path`` (None if not configured)."""
        if self.replies_path is None:
            return None
        record = attrs.asdict(reply)
        with self.replies_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return f"{self.replies_path}:{reply.incident_id}"


def to_jsonl(messages: Iterable[Message]) -> str:
    """Messages as JSON Lines text (the format ``read_jsonl`` reads)."""
    return "".join(json.dumps(message_to_dict(m), ensure_ascii=False) + "\n" for m in messages)


@hookimpl
def register_source_adapters(register: Register, config: RegionConfig) -> None:
    """Register the JSON Lines file adapter as ``jsonl``."""
    register("jsonl", JsonLinesAdapter)
