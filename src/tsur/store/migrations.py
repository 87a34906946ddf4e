"""Versioned schema migrations.

tsur is embedded in other applications, so its schema must upgrade itself
when a new version opens an old database, without an external tool or a
migration environment on disk. Each migration is a numbered function run
once, inside a transaction, and recorded in ``tsur_schema_version``; on
PostgreSQL an advisory lock keeps two processes from migrating at once, on
SQLite the write lock does. Migrations are written with SQLAlchemy
constructs, so one definition serves both databases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import attrs
import sqlalchemy as sa

from tsur.errors import StorageError
from tsur.store import aggregates, schema

__all__ = ["MIGRATIONS", "Migration", "check", "current_version", "migrate"]

_LOCK_ID = 0x7473_7572  # "tsur"


@attrs.frozen
class Migration:
    """One step of the schema's history."""

    version: int
    description: str
    upgrade: Callable[[sa.Connection], None]


def _v1(conn: sa.Connection) -> None:
    tables = [
        schema.messages,
        schema.incidents,
        schema.events,
        schema.rejected_input,
        schema.cursors,
    ]
    schema.metadata.create_all(conn, tables=tables)


def _v2(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.notifications])


def _v3(conn: sa.Connection) -> None:
    columns = {c["name"] for c in sa.inspect(conn).get_columns(schema.messages.name)}
    if "thanks_executor" not in columns:  # a database made by version 1 before it existed
        conn.execute(sa.text("ALTER TABLE messages ADD COLUMN thanks_executor VARCHAR(64)"))


def _v4(conn: sa.Connection) -> None:
    table = schema.notifications
    have = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    for name in ("delivered_to", "next_attempt_at", "claimed_until", "dead_at"):
        if name not in have:  # an outbox made before retries existed
            column = sa.schema.CreateColumn(table.c[name]).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column}"))


def _v5(conn: sa.Connection) -> None:
    columns = {c["name"] for c in sa.inspect(conn).get_columns(schema.rejected_input.name)}
    if "verified" not in columns:  # bodies kept before: none counts as verified
        conn.execute(
            sa.text("ALTER TABLE rejected_input ADD COLUMN verified BOOLEAN NOT NULL DEFAULT false")
        )


def _v6(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.analytics_daily, schema.analytics_meta])
    # by UTC days: an engine opening the store rebuilds them in its region's time zone
    aggregates.rebuild(conn, "UTC")


def _v7(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.api_keys])


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "messages, incidents, events, rejected input, cursors", _v1),
    Migration(2, "notification outbox", _v2),
    Migration(3, "the executor a message of thanks is credited to", _v3),
    Migration(4, "outbox retries: per-notifier delivery, backoff, leases, dead letters", _v4),
    Migration(5, "rejected input records whether a pushed body was verified", _v5),
    Migration(6, "daily analytics aggregates, back-filled from the incidents", _v6),
    Migration(7, "API keys of the service (hashed secrets, roles, scopes)", _v7),
)


def current_version(conn: sa.Connection) -> int:
    """The highest applied migration, 0 for an empty database."""
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    value = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    return int(value or 0)


def _where(engine: sa.Engine) -> str:
    url = engine.url.set(drivername=engine.url.get_backend_name())
    return url.render_as_string(hide_password=True)


def _connect(engine: sa.Engine) -> None:
    try:
        engine.connect().close()
    except sa.exc.DBAPIError as exc:
        lines = [" ".join(line.split()) for line in str(exc.orig or exc).splitlines()]
        reason = "; ".join(line.rstrip(".") for line in lines if line)
        raise StorageError(f"cannot connect to the database {_where(engine)}: {reason}") from exc


def check(engine: sa.Engine) -> int:
    """The schema version of an existing tsur database, changing nothing.

    A database without tsur's tables (another application's, or an empty
    file) or with a schema newer than this tsur is a :class:`StorageError`.
    """
    _connect(engine)
    latest = MIGRATIONS[-1].version
    try:
        with engine.connect() as conn:
            version = current_version(conn)
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot read database {_where(engine)}: {exc}") from exc
    if version == 0:
        raise StorageError(
            f"{_where(engine)} is not a tsur database (it has no {schema.schema_version.name} "
            "table); check --db (or TSUR_DB)"
        )
    if version > latest:
        raise StorageError(
            f"database schema version {version} is newer than this tsur "
            f"(knows up to {latest}); upgrade tsur"
        )
    return version


def migrate(engine: sa.Engine) -> int:
    """Apply every pending migration; return the resulting version."""
    latest = MIGRATIONS[-1].version
    _connect(engine)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
            schema.metadata.create_all(conn, tables=[schema.schema_version])
            version = current_version(conn)
            if version > latest:
                raise StorageError(
                    f"database schema version {version} is newer than this tsur "
                    f"(knows up to {latest}); upgrade tsur"
                )
            for m in MIGRATIONS:
                if m.version <= version:
                    continue
                m.upgrade(conn)
                conn.execute(
                    schema.schema_version.insert().values(
                        version=m.version, description=m.description, applied_at=datetime.now(UTC)
                    )
                )
                version = m.version
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot migrate database: {exc}") from exc
    return version
