"""The JSON shapes of the work API (pydantic models, published in the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tsur.domain import Incident
from tsur.store.base import StoredMessage
from tsur.text.masking import mask_citizen_text

__all__ = [
    "EventOut",
    "IncidentDetail",
    "IncidentOut",
    "IncidentPage",
    "MessageOut",
    "event_out",
    "incident_detail",
    "incident_out",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class IncidentOut(_Out):
    """An incident as listed."""

    id: int
    status: str
    topic: str | None
    confidence: float
    urgency: str
    territory: str | None
    executor: str | None
    sla_policy: str | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_response_at: datetime | None
    created_at: datetime
    source: str | None
    summary: str
    address: str | None


class MessageOut(_Out):
    """A citizen's message of an incident (its text masked for a masked reader)."""

    id: int
    source: str
    external_id: str
    created_at: datetime
    text: str
    status: str


class EventOut(_Out):
    """One entry of an incident's history, with who made it."""

    at: datetime
    actor: str
    kind: str
    reason: str
    from_status: str | None = Field(None, alias="from")
    to_status: str | None = Field(None, alias="to")
    data: dict[str, Any]

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class IncidentDetail(IncidentOut):
    """One incident with its messages and history."""

    messages: list[MessageOut]
    history: list[EventOut]


class IncidentPage(_Out):
    """A page of incidents, newest first; ``next_cursor`` fetches the next (None: the last)."""

    items: list[IncidentOut]
    next_cursor: str | None


def incident_out(inc: Incident) -> IncidentOut:
    """The listed view of an incident."""
    assert inc.id is not None
    return IncidentOut(
        id=inc.id,
        status=inc.status.value,
        topic=inc.topic,
        confidence=inc.confidence,
        urgency=inc.urgency.value,
        territory=inc.territory,
        executor=inc.executor,
        sla_policy=inc.sla_policy,
        first_response_due=inc.first_response_due,
        resolution_due=inc.resolution_due,
        first_response_at=inc.first_response_at,
        created_at=inc.created_at,
        source=inc.source,
        summary=inc.summary,
        address=inc.address,
    )


def event_out(event: Any, *, masked: bool = False) -> EventOut:
    """A history entry; with ``masked``, its texts (an answer, a comment, a reason) masked."""

    def shown(value: Any) -> Any:
        return mask_citizen_text(value) if masked and isinstance(value, str) else value

    return EventOut(
        at=event.at,
        actor=event.actor,
        kind=event.kind,
        reason=shown(event.reason),
        from_status=event.from_status.value if event.from_status else None,
        to_status=event.to_status.value if event.to_status else None,
        data={key: shown(value) for key, value in event.data.items()},
    )


def incident_detail(
    inc: Incident, messages: list[StoredMessage], *, masked: bool
) -> IncidentDetail:
    """An incident with its messages (texts masked when ``masked``) and history."""
    return IncidentDetail(
        **incident_out(inc).model_dump(),
        messages=[
            MessageOut(
                id=m.id,
                source=m.message.source,
                external_id=m.message.external_id,
                created_at=m.message.created_at,
                text=mask_citizen_text(m.message.text) if masked else m.message.text,
                status=m.status,
            )
            for m in messages
        ],
        history=[event_out(e, masked=masked) for e in inc.history],
    )
