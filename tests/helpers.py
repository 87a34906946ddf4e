"""Small builders used across tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tsur import Message

SAMARA = timezone(timedelta(hours=4))


def msg(
    ext: str, text: str, *, source: str = "vk", at: datetime | None = None, **kw: Any
) -> Message:
    """A message from ``source`` created at ``at`` (default 16.11.2026 09:00 Samara)."""
    return Message(
        source=source,
        external_id=ext,
        text=text,
        created_at=at or datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA),
        **kw,
    )
