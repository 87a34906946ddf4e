"""Table definitions (SQLAlchemy Core), shared by SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast, overload

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["UTCDateTime", "metadata"]

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend.

    SQLite has no time zones: values are written as naive UTC and read back
    with ``tzinfo=UTC``. PostgreSQL uses ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; give it a time zone")
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} cannot be stored: it is out of range") from None
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else utc_value(cast(str | datetime, value))


@overload
def utc_value(value: None) -> None: ...
@overload
def utc_value(value: str | datetime) -> datetime: ...
def utc_value(value: Any) -> datetime | None:
    """A time as the driver read it (a SQLite string, a naive or aware datetime), in UTC."""
    if value is None:
        return None
    parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


schema_version = sa.Table(
    "tsur_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    # pending → done | thanked | rejected | failed (failed → pending on re-run)
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error_stage", sa.String(32)),
    sa.Column("error", sa.Text),
    sa.Column("incident_id", BigId),
    sa.Column("processed_at", UTCDateTime),
    sa.Column("moderation", sa.JSON),
    # a message that thanks: the executor it is credited to (status «thanked»)
    sa.Column("thanks_executor", sa.String(64)),
    sa.UniqueConstraint("source", "external_id", name="uq_messages_source_external_id"),
)
sa.Index("ix_messages_status_id", messages.c.status, messages.c.id)
sa.Index("ix_messages_incident", messages.c.incident_id)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(64)),
    sa.Column("confidence", sa.Float, nullable=False, server_default="0"),
    sa.Column("urgency", sa.String(16), nullable=False, server_default="normal"),
    sa.Column("territory", sa.String(64)),
    sa.Column("executor", sa.String(64)),
    sa.Column("sla_policy", sa.String(64)),
    sa.Column("first_response_due", UTCDateTime),
    sa.Column("resolution_due", UTCDateTime),
    sa.Column("first_response_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.String(64)),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("lat", sa.Float),
    sa.Column("lon", sa.Float),
    sa.Column("address", sa.Text),
    sa.Column("address_key", sa.String(200)),
    sa.Column("signature", sa.Text, nullable=False, server_default=""),
    sa.Column("message_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("data", sa.JSON, nullable=False),
)
sa.Index("ix_incidents_group", incidents.c.topic, incidents.c.territory, incidents.c.created_at)
sa.Index("ix_incidents_status", incidents.c.status)
sa.Index("ix_incidents_executor_status", incidents.c.executor, incidents.c.status)
sa.Index("ix_incidents_created", incidents.c.created_at)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("from_status", sa.String(32)),
    sa.Column("to_status", sa.String(32)),
    sa.Column("data", sa.JSON, nullable=False),
)
sa.Index("ix_events_incident", events.c.incident_id, events.c.id)

rejected_input = sa.Table(
    "rejected_input",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("line", sa.Integer),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    # a pushed body whose secret or signature was checked before it was kept
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("incident_id", BigId),
    sa.Column("recipients", sa.JSON, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    # which notifiers have it (a retry goes to the others), when to retry, whose lease
    # runs, when delivery was given up
    sa.Column("delivered_to", sa.JSON),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("claimed_until", UTCDateTime),
    sa.Column("dead_at", UTCDateTime),
)
sa.Index("ix_notifications_unsent", notifications.c.sent_at, notifications.c.id)

#: Daily aggregates of the incidents, by the region's local day (see :mod:`tsur.store.aggregates`).
#: Each incident counts once in every *grain* (a set of dimensions; the others are "").
#: what the daily aggregates add up per group (see :mod:`tsur.store.aggregates`)
AGGREGATE_MEASURES = (
    "n",
    "messages",
    "urgent",
    "open",
    "answered",
    "on_time",
    "resolved",
    "reopened",
    "rated",
    "score",
    "final",
    "final_on_time",
    "settled",
    "settled_late",
    "fr_ms",
)

analytics_daily = sa.Table(
    "analytics_daily",
    metadata,
    sa.Column("grain", sa.String(4), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("territory", sa.String(64), nullable=False, server_default=""),
    sa.Column("topic", sa.String(64), nullable=False, server_default=""),
    sa.Column("source", sa.String(64), nullable=False, server_default=""),
    sa.Column("executor", sa.String(64), nullable=False, server_default=""),
    sa.Column("urgency", sa.String(16), nullable=False, server_default=""),
    sa.Column("status", sa.String(32), nullable=False, server_default=""),
    sa.Column("bucket", sa.Integer, nullable=False, server_default="0"),
    *(
        sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
        for name in AGGREGATE_MEASURES
    ),
    sa.PrimaryKeyConstraint(
        "grain",
        "day",
        "territory",
        "topic",
        "source",
        "executor",
        "urgency",
        "status",
        "bucket",
        name="pk_analytics_daily",
    ),
)

#: What the aggregates were built for: ``tz`` (the time zone of their days).
analytics_meta = sa.Table(
    "analytics_meta",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.Text),
)

#: API keys of a service (:mod:`tsur.access`): only a SHA-256 of each secret.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(100)),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("rate_per_minute", sa.Integer),
)
