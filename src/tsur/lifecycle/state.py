"""The lifecycle's bookkeeping inside an incident, and the names it shares.

``incident.data["lifecycle"]`` keeps what the lifecycle must remember
between calls: the tick's steps already taken (``done``), the 59-ФЗ
extension, forwards, reopenings, ratings, when the running resolution term
started (``resolution_from``).
"""

from __future__ import annotations

from typing import Any

from tsur.domain import ENGINE_ACTOR, Duration, Incident

__all__ = [
    "ACTOR",
    "EXTENSION_DAYS",
    "FORWARD_DAYS",
    "WRITTEN",
    "duration_ru",
    "lifecycle_state",
]

ACTOR = ENGINE_ACTOR  # the engine itself, as an actor in history events
#: The source kind of written appeals under 59-ФЗ.
WRITTEN = "written"
#: 59-ФЗ: one extension, by at most 30 days (art. 12 p. 2); forwarding within 7 days (art. 8 p. 3).
EXTENSION_DAYS = 30
FORWARD_DAYS = 7


def lifecycle_state(incident: Incident) -> dict[str, Any]:
    """The lifecycle's bookkeeping inside ``incident.data["lifecycle"]`` (created if absent)."""
    state = incident.data.get("lifecycle")
    if not isinstance(state, dict):
        state = incident.data["lifecycle"] = {}
    return state


_UNITS_RU = {
    "working_hours": "раб. ч",
    "working_days": "раб. дн.",
    "hours": "ч",
    "days": "дн.",
    "minutes": "мин",
}


def duration_ru(span: Duration | None) -> str:
    """A configured span in Russian: ``7 раб. дн.``, ``30 дн.``, ``4 ч``."""
    if span is None:
        return "—"
    amount = int(span.amount) if span.amount == int(span.amount) else span.amount
    return f"{amount} {_UNITS_RU[span.unit]}"
