"""Rows of the SQL tables to and from domain objects (shared by the repository and its batches)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tsur.domain import Event, GeoPoint, Incident, Notification, Status, Urgency
from tsur.store import schema

__all__ = [
    "decode_places",
    "dialect_insert",
    "encode_places",
    "event_values",
    "incident_values",
    "notification_row",
    "row_to_event",
    "row_to_incident",
]

M, INC, E = schema.messages, schema.incidents, schema.events


def row_to_incident(row: Any) -> Incident:
    geo = GeoPoint(row.lat, row.lon) if row.lat is not None and row.lon is not None else None
    return Incident(
        id=row.id,
        status=Status(row.status),
        created_at=row.created_at,
        topic=row.topic,
        confidence=row.confidence,
        urgency=Urgency(row.urgency),
        territory=row.territory,
        executor=row.executor,
        sla_policy=row.sla_policy,
        first_response_due=row.first_response_due,
        resolution_due=row.resolution_due,
        first_response_at=row.first_response_at,
        summary=row.summary,
        source=row.source,
        geo=geo,
        address=row.address,
        data=dict(row.data or {}),
    )


def incident_values(inc: Incident, now: datetime) -> dict[str, Any]:
    return {
        "status": inc.status.value,
        "topic": inc.topic,
        "confidence": inc.confidence,
        "urgency": inc.urgency.value,
        "territory": inc.territory,
        "executor": inc.executor,
        "sla_policy": inc.sla_policy,
        "first_response_due": inc.first_response_due,
        "resolution_due": inc.resolution_due,
        "first_response_at": inc.first_response_at,
        "updated_at": now,
        "summary": inc.summary,
        "source": inc.source,
        "lat": inc.geo.lat if inc.geo else None,
        "lon": inc.geo.lon if inc.geo else None,
        "address": inc.address,
        "data": inc.data,
    }


def event_values(incident_id: int, ev: Event) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "at": ev.at,
        "actor": ev.actor,
        "kind": ev.kind,
        "reason": ev.reason,
        "from_status": ev.from_status.value if ev.from_status else None,
        "to_status": ev.to_status.value if ev.to_status else None,
        "data": dict(ev.data),
    }


def row_to_event(row: Any) -> Event:
    return Event(
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        reason=row.reason,
        from_status=Status(row.from_status) if row.from_status else None,
        to_status=Status(row.to_status) if row.to_status else None,
        data=dict(row.data or {}),
    )


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` on this database."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def notification_row(n: Notification) -> dict[str, Any]:
    """The outbox row of ``n`` (kept once per ``n.dedup_key``)."""
    return {
        "dedup_key": n.dedup_key,
        "kind": n.kind,
        "incident_id": n.incident_id,
        "recipients": list(n.recipients),
        "text": n.text,
        "data": dict(n.data),
        "created_at": n.at,
    }


def encode_places(keys: Mapping[str, str]) -> str | None:
    """Place keys as stored with an incident (``house=5;street=мир``), None when empty."""
    if not keys:
        return None
    return ";".join(f"{k}={v}" for k, v in sorted(keys.items()))[:200]


def decode_places(stored: str | None) -> dict[str, str]:
    """The place keys :func:`encode_places` stored."""
    out: dict[str, str] = {}
    for part in (stored or "").split(";"):
        k, sep, v = part.partition("=")
        if sep and k and v:
            out[k] = v
    return out
