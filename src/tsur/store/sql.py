"""The SQL repository: SQLite (embedded default) and PostgreSQL, one code path.

SQLite runs in WAL mode and takes its write lock at the start of every
transaction (``BEGIN IMMEDIATE``), so concurrent workers queue instead of
failing half-way. PostgreSQL workers claim pending messages with
``SELECT … FOR UPDATE SKIP LOCKED``: each message is processed by exactly one
worker, and a worker that dies releases its claim when its transaction
rolls back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from tsur.domain import Event, Incident, Message, Notification, Status, Urgency
from tsur.errors import NotFound, StorageError
from tsur.roles import ApiKey, Role
from tsur.store import aggregates, bulk, schema
from tsur.store.base import (
    INCIDENT_ORDERS,
    Batch,
    ClaimedMessage,
    DeliveryResult,
    IngestResult,
    OutboxItem,
    Regrouping,
    RejectedInput,
    Repository,
    StoredMessage,
)
from tsur.store.batch import SqlBatch
from tsur.store.lookup import CandidateCache
from tsur.store.migrations import MIGRATIONS, check, migrate
from tsur.store.regroup import SqlRegrouping
from tsur.store.rows import (
    dialect_insert,
    event_values,
    incident_values,
    notification_row,
    row_to_event,
    row_to_incident,
)
from tsur.wire import message_from_dict, message_to_dict

__all__ = ["SqlRepository", "normalize_url", "open_repository"]

#: how often an idle worker looks at a SQLite file for new commits, seconds
_SQLITE_WATCH_EVERY = 0.005
log = logging.getLogger("tsur.store")

M, INC, E = schema.messages, schema.incidents, schema.events
_INGEST_CHUNK = 500
#: on PostgreSQL a chunk of at least this many new messages is copied in; a smaller one
#: (a webhook's message) is inserted in one statement, fewer round trips than a copy
_COPY_FROM = 20
#: the PostgreSQL channel an ingest notifies and idle workers listen on
WORK_CHANNEL = "tsur_pending"


def normalize_url(db: str | Path) -> str:
    """Turn a path, ``:memory:`` or a database URL into a SQLAlchemy URL."""
    text = str(db)
    if text in {":memory:", "sqlite://", "sqlite:///:memory:"}:
        return "sqlite://"
    if text.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser()}"


def open_repository(
    db: str | Path, *, migrate_schema: bool = True, existing: bool = False
) -> SqlRepository:
    """Open (and by default create or upgrade) the database at ``db``.

    ``db`` is a SQLite file path, ``:memory:``, or a URL such as
    ``postgresql://user@host/dbname``. With ``existing=True`` (tools that
    only read) nothing is created or changed: a SQLite file that does not
    exist, a database without tsur's tables or with a newer schema is a
    :class:`~tsur.errors.StorageError`, and a SQLite file the user may not
    write is opened read-only.
    """
    url = normalize_url(db)
    if not existing:
        repo = SqlRepository(url)
        if migrate_schema:
            repo.migrate()
        return repo
    read_only = False
    path = _sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise StorageError(
                f"no database at {path}: check --db (or TSUR_DB); 'tsur ingest' creates one, "
                "'tsur demo' makes tsur-demo.db"
            )
        read_only = not os.access(path, os.W_OK)
    repo = SqlRepository(url, read_only=read_only, keep_journal=True)
    try:
        if check(repo.engine) < MIGRATIONS[-1].version and not read_only:
            repo.migrate()  # an older tsur database: ours to upgrade
    except StorageError:
        repo.close()
        raise
    return repo


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StorageError(f"not a database URL: {url!r} ({exc})") from exc
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_engine(url: str, *, read_only: bool = False, keep_journal: bool = False) -> sa.Engine:
    path = _sqlite_path(url)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if path is None:
        kwargs["poolclass"] = StaticPool
    else:
        if path.is_dir():
            raise StorageError(f"cannot open database {path}: it is a folder")
        if path.parent and not path.parent.exists():
            raise StorageError(
                f"cannot create database {path}: folder {path.parent} does not exist"
            )
        if read_only:
            url = f"sqlite:///file:{quote(str(path.absolute()))}?mode=ro&uri=true"
    engine = sa.create_engine(url, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if path is not None and not (read_only or keep_journal):
            cur.execute("PRAGMA journal_mode=WAL")  # persistent: set when tsur creates the file
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()
        # SQLite's own lower() folds ASCII only: Cyrillic searches need Python's
        dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
        # the aggregates' local day of a stored time (PostgreSQL has AT TIME ZONE)
        dbapi_conn.create_function(
            aggregates.SQLITE_LOCAL_DAY, 2, aggregates.sqlite_local_day, deterministic=True
        )

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        reading = read_only or conn.get_execution_options().get("tsur_read", False)
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


#: psycopg prepares a statement on the server after its fifth use, and PostgreSQL then
#: plans it once for any values (a generic plan). For the lookups a batch makes per
#: message that plan walks the whole incidents table (``ORDER BY id DESC LIMIT``
#: over an index it cannot see through the parameters): every statement is planned
#: for its values instead. The bulk writes, whose plans do not depend on the values,
#: prepare themselves (:mod:`tsur.store.bulk`).
_PG_CONNECT_ARGS = {"prepare_threshold": None}

_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available


#: the server going away: admin shutdown (pg_terminate_backend, a restart), crash
#: shutdown, not accepting connections yet; class 08 is a lost or refused connection
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03"}
#: how SQLite says it cannot write the file (no space, a size limit, read-only)
_DISK_ERRORS = ("disk I/O error", "database or disk is full", "readonly database")


def _storage_error(exc: sa.exc.SQLAlchemyError) -> StorageError:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    retryable = state in _RETRYABLE_SQLSTATES or "database is locked" in str(orig)
    unavailable = (
        bool(getattr(exc, "connection_invalidated", False))
        or state in _UNAVAILABLE_SQLSTATES
        or (state or "").startswith("08")
        # psycopg's OperationalError without a state: the server refused or dropped the
        # connection before answering
        or (
            state is None
            and type(orig).__module__.startswith("psycopg")
            and type(orig).__name__ == "OperationalError"
        )
    )
    message = f"database error: {orig or exc}"
    if any(s in str(orig) for s in _DISK_ERRORS):
        message += " (is the disk full, or the database file not writable?)"
    return StorageError(message, retryable=retryable, unavailable=unavailable)


#: What storing one message can fail on because of the message itself (not the database).
_ROW_ERRORS = (StorageError, sa.exc.StatementError, ValueError, OverflowError, TypeError)


def _message_row(m: Message, received_at: datetime) -> dict[str, Any]:
    return {
        "source": m.source,
        "external_id": m.external_id,
        "created_at": m.created_at,
        "received_at": received_at,
        "text": m.text,
        "payload": message_to_dict(m),
        "status": "pending",
    }


def _row_error(exc: Exception) -> bool:
    """Whether ``exc`` is about the row written (bad data), not the database (down, busy)."""
    if isinstance(exc, StorageError):
        if exc.retryable or exc.unavailable:
            return False
        exc = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        if isinstance(exc, StorageError):
            return False
    if isinstance(exc, sa.exc.DBAPIError):
        return isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError)
    return True


def _row_reason(exc: Exception) -> str:
    if isinstance(exc, StorageError) and isinstance(exc.__cause__, Exception):
        exc = exc.__cause__
    orig = getattr(exc, "orig", None) or exc
    return f"the database refused it: {type(orig).__name__}: {str(orig).splitlines()[0][:300]}"


def _storable(text: str) -> str:
    """``text`` as every backend stores it: NUL as ``\\u0000``, lone surrogates as ``\\udXXX``."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text


def _stored_message(r: Any) -> StoredMessage:
    return StoredMessage(
        id=r.id,
        message=message_from_dict(r.payload),
        status=r.status,
        received_at=r.received_at,
        attempts=r.attempts,
        error_stage=r.error_stage,
        error=r.error,
        incident_id=r.incident_id,
        moderation=r.moderation,
        thanks_executor=r.thanks_executor,
    )


class SqlRepository(Repository):
    """:class:`Repository` on SQLAlchemy Core, for SQLite and PostgreSQL.

    With ``bulk`` (the default) many rows are written in one round trip:
    on PostgreSQL an ingest copies its messages in (``COPY``) and a batch
    writes each table with one ``COPY`` or array statement
    (:mod:`tsur.store.bulk`); on SQLite a batch writes each table with one
    ``executemany``. ``bulk=False`` uses portable SQLAlchemy statements
    only (for a server or proxy without ``COPY``). Both store the same rows.
    """

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        keep_journal: bool = False,
        bulk: bool = True,
    ) -> None:
        self.url = url
        #: opened read-only (a SQLite file the user may not write)
        self.read_only = read_only
        #: write many rows per round trip (see the class)
        self.bulk = bulk
        try:
            if url.startswith("sqlite"):
                self.engine = _sqlite_engine(url, read_only=read_only, keep_journal=keep_journal)
            else:
                self.engine = sa.create_engine(
                    url, pool_pre_ping=True, connect_args=_PG_CONNECT_ARGS
                )
        except (sa.exc.SQLAlchemyError, ModuleNotFoundError) as exc:
            hint = " (pip install 'tsur[postgres]')" if "psycopg" in str(exc) else ""
            raise StorageError(f"cannot open database {url!r}: {exc}{hint}") from exc
        self.dialect = self.engine.dialect.name
        self._listener: Any = None  # the connection an idle worker listens on (PostgreSQL)
        self._candidates = CandidateCache()  # open candidates, by incident, while unchanged
        self._watcher: sqlite3.Connection | None = None  # … or watches the file with (SQLite)
        self._seen_version: int | None = None
        self._aggregates: bool | None = None  # the aggregates' tables exist

    def __repr__(self) -> str:
        return f"SqlRepository({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextlib.contextmanager
    def _tx(self, *, read: bool = False) -> Iterator[sa.Connection]:
        """A transaction; ``read`` ones only read, and on SQLite take no write lock (a
        busy worker never starves an operator's query, nor the query the worker)."""
        try:
            if read:
                with self.engine.connect() as plain:
                    conn = plain.execution_options(tsur_read=True)
                    with conn.begin():
                        yield conn
            else:
                with self.engine.begin() as conn:
                    yield conn
        except sa.exc.DBAPIError as exc:
            raise _storage_error(exc) from exc

    def migrate(self) -> int:
        self._aggregates = None
        return migrate(self.engine)

    def _has_aggregates(self, conn: sa.Connection) -> bool:
        """Whether this database has the daily aggregates' tables (schema version 6 on)."""
        if self._aggregates is None:
            self._aggregates = sa.inspect(conn).has_table(schema.analytics_meta.name)
        return self._aggregates

    def aggregates_timezone(self) -> str | None:
        """The time zone the daily aggregates are kept in (None: not kept)."""
        with self._tx(read=True) as conn:
            return aggregates.stored_tz(conn) if self._has_aggregates(conn) else None

    def rebuild_aggregates(self, tz: str) -> int:
        """Recompute the daily analytics aggregates from the incidents, by local days
        of ``tz``, in one transaction; the number of aggregate rows written."""
        with self._tx() as conn:
            if not self._has_aggregates(conn):
                raise StorageError("this database has no analytics aggregates; migrate it first")
            return aggregates.rebuild(conn, tz)

    def ensure_aggregates(self, tz: str) -> bool:
        """Rebuild the aggregates in ``tz`` unless they are kept in it; whether it did.

        A read-only store is left as it is (analytics then counts the incidents).
        """
        if self.read_only:
            return False
        try:
            return aggregates.ensure(self.engine, tz)
        except sa.exc.DBAPIError as exc:
            raise _storage_error(exc) from exc

    def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener.close()
            self._listener = None
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                self._watcher.close()
            self._watcher = None
        self.engine.dispose()

    def wait_for_work(self, timeout: float) -> bool:
        """Until new messages may be pending, at most ``timeout`` seconds.

        On PostgreSQL an ingest notifies ``tsur_pending`` when it commits,
        and this returns as soon as it does (True); on SQLite, or when the
        listening connection cannot be had, it waits for the timeout (a
        poll) and returns False. On a SQLite file it watches the file's
        ``PRAGMA data_version`` every few milliseconds and returns True as soon
        as another connection commits (an ingest, or any other write).
        """
        if self.dialect == "sqlite":
            return self._watch_sqlite(timeout)
        if self.dialect != "postgresql":
            return super().wait_for_work(timeout)
        try:
            if self._listener is None:
                import psycopg  # installed wherever a PostgreSQL URL can be opened

                url = self.engine.url.set(drivername="postgresql")
                self._listener = psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                )
                self._listener.execute(f"LISTEN {WORK_CHANNEL}")
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except Exception as exc:  # the server went away: poll, and listen again next time
            log.info("cannot listen for new messages (%s); polling", exc)
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    self._listener.close()
            self._listener = None
            return super().wait_for_work(timeout)

    def _watch_sqlite(self, timeout: float) -> bool:
        path = self.engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return super().wait_for_work(timeout)
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            watcher = self._watcher
            if watcher is None:
                watcher = self._watcher = sqlite3.connect(
                    f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False
                )
                self._seen_version = None
            while True:
                version = watcher.execute("PRAGMA data_version").fetchone()[0]
                if version != self._seen_version:
                    # the first look has nothing to compare with: say "maybe", and claim
                    self._seen_version = version
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(_SQLITE_WATCH_EVERY, left))
        except sqlite3.Error as exc:  # the file went away or cannot be read: plain poll
            log.info("cannot watch %s for new messages (%s); polling", path, exc)
            if self._watcher is not None:
                with contextlib.suppress(Exception):
                    self._watcher.close()
            self._watcher = None
            return super().wait_for_work(max(0.0, deadline - time.monotonic()))

    # ingest ---------------------------------------------------------------
    def ingest(self, messages: Sequence[Message], *, received_at: datetime) -> IngestResult:
        inserted: list[int] = []
        duplicates = 0
        failed: list[tuple[int, str]] = []
        for start in range(0, len(messages), _INGEST_CHUNK):
            # Repeated keys inside one chunk count as duplicates too.
            unique: dict[tuple[str, str], tuple[int, Message]] = {}
            for i in range(start, min(start + _INGEST_CHUNK, len(messages))):
                m = messages[i]
                if m.key in unique:
                    duplicates += 1
                else:
                    unique[m.key] = (i, m)
            try:
                try:
                    copy = self._copies and len(unique) >= _COPY_FROM
                    ids = self._ingest_chunk(unique, received_at, copy=copy)
                except StorageError as exc:
                    if not (self._copies and isinstance(exc.__cause__, sa.exc.IntegrityError)):
                        raise
                    # another ingest stored one of these keys since they were looked up:
                    # the chunk again, skipping what is stored by then
                    ids = self._ingest_chunk(unique, received_at, copy=False)
                duplicates += len(unique) - len(ids)  # counted once the chunk is committed
                inserted.extend(ids)
            except _ROW_ERRORS as exc:
                if not _row_error(exc):
                    raise
                # One row the database refuses must not cost the others: row by row.
                log.warning("ingest: a chunk was refused (%s); storing it row by row", exc)
                for i, m in unique.values():
                    try:
                        with self._tx() as conn:
                            if self._known_keys(conn, [m.key]):
                                duplicates += 1
                                continue
                            ids = self._insert_ignoring_conflicts(
                                conn, [_message_row(m, received_at)]
                            )
                            inserted.extend(ids)
                            duplicates += 1 - len(ids)
                            if ids and self.dialect == "postgresql":
                                conn.execute(sa.text(f"SELECT pg_notify('{WORK_CHANNEL}', '')"))
                    except _ROW_ERRORS as row_exc:
                        if not _row_error(row_exc):
                            raise
                        failed.append((i, _row_reason(row_exc)))
        return IngestResult(tuple(inserted), duplicates, tuple(failed))

    @property
    def _copies(self) -> bool:
        """Whether an ingest copies its messages in (``COPY``, PostgreSQL)."""
        return self.bulk and self.dialect == "postgresql"

    def _ingest_chunk(
        self,
        unique: dict[tuple[str, str], tuple[int, Message]],
        received_at: datetime,
        *,
        copy: bool,
    ) -> list[int]:
        """Store the messages of one chunk not stored yet, in one transaction; their ids.

        With ``copy`` the new rows get their ids from the sequence and are
        copied in; a key another ingest stores meanwhile fails the chunk
        (a :class:`StorageError` from :class:`sqlalchemy.exc.IntegrityError`). Without it they are
        inserted skipping such keys.
        """
        with self._tx() as conn:
            # an insert skipping conflicts needs no look first on PostgreSQL (one round trip)
            skip = not copy and self.dialect == "postgresql"
            known = set() if skip else self._known_keys(conn, list(unique))
            rows = [
                _message_row(m, received_at) for key, (_i, m) in unique.items() if key not in known
            ]
            if not rows:
                return []
            if copy:
                ids = bulk.next_ids(conn, M, len(rows))
                for row, new_id in zip(rows, ids, strict=True):
                    row["id"] = new_id
                bulk.copy_rows(conn, M, list(rows[0]), rows)
            else:
                ids = self._insert_ignoring_conflicts(conn, rows)
            if ids and self.dialect == "postgresql":  # wake waiting workers on commit
                conn.execute(sa.text(f"SELECT pg_notify('{WORK_CHANNEL}', '')"))
            return ids

    def _known_keys(self, conn: sa.Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        if self._copies and len(keys) > 1:
            return bulk.existing_keys(conn, M, ("source", "external_id"), keys)
        known: set[tuple[str, str]] = set()
        by_source: dict[str, list[str]] = {}
        for source, ext in keys:
            by_source.setdefault(source, []).append(ext)
        for source, exts in by_source.items():
            q = sa.select(M.c.external_id).where(M.c.source == source, M.c.external_id.in_(exts))
            known.update((source, e) for e in conn.execute(q).scalars())
        return known

    def _insert_ignoring_conflicts(
        self, conn: sa.Connection, rows: list[dict[str, Any]]
    ) -> list[int]:
        stmt = (
            dialect_insert(self.dialect, M)
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(M.c.id)
        )
        # A concurrent ingest of the same key makes RETURNING skip that row.
        return [int(i) for i in conn.execute(stmt, rows).scalars().all()]

    def record_rejected_input(
        self,
        origin: str,
        line: int | None,
        raw: str,
        reason: str,
        *,
        at: datetime,
        verified: bool = False,
    ) -> int:
        with self._tx() as conn:
            return self._record_rejected(conn, origin, line, raw, reason, at, verified)

    def record_rejected_inputs(
        self, records: Sequence[tuple[str, int | None, str, str]], *, at: datetime
    ) -> list[int]:
        """Keep several unreadable records in one transaction (one commit, not one each)."""
        if not records:
            return []
        with self._tx() as conn:
            return [
                self._record_rejected(conn, origin, line, raw, reason, at, False)
                for origin, line, raw, reason in records
            ]

    def _record_rejected(
        self,
        conn: sa.Connection,
        origin: str,
        line: int | None,
        raw: str,
        reason: str,
        at: datetime,
        verified: bool,
    ) -> int:
        R = schema.rejected_input
        # NUL is the one character PostgreSQL's text refuses: kept as its JSON escape on
        # every backend alike, so the record is stored and reads the same anywhere.
        raw, reason = _storable(raw), _storable(reason)
        known = conn.execute(
            sa.select(R.c.id).where(R.c.origin == origin, R.c.raw == raw, R.c.resolved_at.is_(None))
        ).scalar()
        if known is not None:  # the same bad record sent again: keep one copy
            return int(known)
        stmt = R.insert().values(
            origin=origin, line=line, raw=raw, reason=reason, created_at=at, verified=verified
        )
        return int(conn.execute(stmt.returning(R.c.id)).scalar_one())

    def rejected_inputs(self, *, include_resolved: bool = False) -> list[RejectedInput]:
        R = schema.rejected_input
        q = sa.select(R).order_by(R.c.id)
        if not include_resolved:
            q = q.where(R.c.resolved_at.is_(None))
        with self._tx(read=True) as conn:
            return [
                RejectedInput(
                    r.id, r.origin, r.line, r.raw, r.reason, r.created_at, bool(r.verified)
                )
                for r in conn.execute(q)
            ]

    def resolve_rejected_input(self, ids: Sequence[int], *, at: datetime) -> None:
        R = schema.rejected_input
        with self._tx() as conn:
            conn.execute(R.update().where(R.c.id.in_(list(ids))).values(resolved_at=at))

    # processing -------------------------------------------------------------
    @contextlib.contextmanager
    def claim(self, limit: int, *, now: datetime) -> Iterator[Batch]:
        q = sa.select(M.c.id, M.c.payload, M.c.attempts).where(M.c.status == "pending")
        q = q.order_by(M.c.id).limit(limit)
        if self.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        with self._tx() as conn:
            claimed = [
                ClaimedMessage(r.id, message_from_dict(r.payload), r.attempts)
                for r in conn.execute(q)
            ]
            batch = SqlBatch(
                conn,
                claimed,
                now,
                bulk=self.bulk,
                cache=self._candidates,
                aggregates=self._has_aggregates(conn),
            )
            yield batch
            batch.flush()

    def requeue(
        self, *, statuses: Sequence[str] = ("failed",), ids: Sequence[int] | None = None
    ) -> int:
        with self._tx() as conn:
            stmt = M.update().where(M.c.status.in_(list(statuses)))
            if ids is not None:
                stmt = stmt.where(M.c.id.in_(list(ids)))
            result = conn.execute(stmt.values(status="pending", error=None, error_stage=None))
            return int(result.rowcount or 0)

    def message_counts(self) -> dict[str, int]:
        with self._tx(read=True) as conn:
            q = sa.select(M.c.status, sa.func.count()).group_by(M.c.status)
            return {status: int(n) for status, n in conn.execute(q)}

    def messages(
        self, *, status: str | None = None, incident_id: int | None = None, limit: int = 100
    ) -> list[StoredMessage]:
        q = sa.select(M).order_by(M.c.id.desc()).limit(limit)
        if status is not None:
            q = q.where(M.c.status == status)
        if incident_id is not None:
            q = q.where(M.c.incident_id == incident_id)
        with self._tx(read=True) as conn:
            return [_stored_message(r) for r in conn.execute(q)]

    def messages_by_id(self, ids: Sequence[int]) -> list[StoredMessage]:
        wanted = sorted({int(i) for i in ids if 0 < int(i) < 2**63})
        if not wanted:
            return []
        with self._tx(read=True) as conn:
            q = sa.select(M).where(M.c.id.in_(wanted)).order_by(M.c.id)
            return [_stored_message(r) for r in conn.execute(q)]

    def message_by_key(self, source: str, external_id: str) -> StoredMessage | None:
        q = sa.select(M).where(M.c.source == source, M.c.external_id == external_id)
        with self._tx(read=True) as conn:
            r = conn.execute(q).first()
        return None if r is None else _stored_message(r)

    # incidents -------------------------------------------------------------
    def _load(self, conn: sa.Connection, incident_id: int, *, lock: bool = False) -> Incident:
        if not 0 < incident_id < 2**63:  # no such id can be stored (nor bound)
            raise NotFound("incident", incident_id)
        q = sa.select(INC).where(INC.c.id == incident_id)
        if lock and self.dialect == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise NotFound("incident", incident_id)
        inc = row_to_incident(row)
        inc.history = [
            row_to_event(r)
            for r in conn.execute(
                sa.select(E).where(E.c.incident_id == incident_id).order_by(E.c.id)
            )
        ]
        inc.message_ids = list(
            conn.execute(
                sa.select(M.c.id).where(M.c.incident_id == incident_id).order_by(M.c.id)
            ).scalars()
        )
        return inc

    def get_incident(self, incident_id: int) -> Incident:
        with self._tx(read=True) as conn:
            return self._load(conn, incident_id)

    def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        topic: str | Sequence[str] | None = None,
        territory: Sequence[str] | None = None,
        executor: str | None = None,
        urgency: str | None = None,
        overdue_at: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
        before_id: int | None = None,
        text: str | None = None,
        ids: Sequence[int] | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        order: str = "newest",
    ) -> list[Incident]:
        if order == "uncertainty":
            by = [INC.c.confidence.asc(), INC.c.created_at.asc(), INC.c.id.asc()]
        elif order == "newest":
            by = [INC.c.id.desc()]
        else:
            raise StorageError(f"unknown order {order!r}: one of {', '.join(INCIDENT_ORDERS)}")
        q = sa.select(INC).order_by(*by).offset(offset)
        if ids is not None:  # an empty list matches nothing; no stored id is out of range
            q = q.where(INC.c.id.in_([i for i in ids if 0 < i < 2**63]))
        if created_from is not None:
            q = q.where(INC.c.created_at >= created_from)
        if created_before is not None:
            q = q.where(INC.c.created_at < created_before)
        if limit is not None:
            q = q.limit(limit)
        if before_id is not None:
            q = q.where(INC.c.id < before_id)
        if text:
            needle = text.lower()
            q = q.where(
                sa.or_(
                    sa.func.lower(INC.c.summary).contains(needle, autoescape=True),
                    sa.func.lower(INC.c.address).contains(needle, autoescape=True),
                )
            )
        if status:
            q = q.where(INC.c.status.in_([Status(s).value for s in status]))
        if isinstance(topic, str):
            q = q.where(INC.c.topic == topic)
        elif topic is not None:
            q = q.where(INC.c.topic.in_(list(topic)))
        if territory is not None:  # an empty list matches nothing
            q = q.where(INC.c.territory.in_(list(territory)))
        if executor is not None:
            q = q.where(INC.c.executor == executor)
        if urgency is not None:
            q = q.where(INC.c.urgency == Urgency(urgency).value)
        if overdue_at is not None:
            open_statuses = [s.value for s in Status if s.is_open]
            q = q.where(
                INC.c.status.in_(open_statuses),
                sa.or_(
                    sa.and_(
                        INC.c.first_response_at.is_(None), INC.c.first_response_due < overdue_at
                    ),
                    INC.c.resolution_due < overdue_at,
                ),
            )
        with self._tx(read=True) as conn:
            rows = conn.execute(q).all()
            result = [row_to_incident(r) for r in rows]
            counts: dict[int, int] = (
                dict(
                    conn.execute(
                        sa.select(M.c.incident_id, sa.func.count())
                        .where(M.c.incident_id.in_([r.id for r in rows]))
                        .group_by(M.c.incident_id)
                    ).all()
                )
                if rows
                else {}
            )
        for inc in result:
            inc.data.setdefault("message_count", counts.get(inc.id or 0, 0))
        return result

    def count_incidents(self, by: str) -> dict[str | None, int]:
        allowed = {"topic", "territory", "executor", "status", "urgency", "source"}
        if by not in allowed:
            raise ValueError(f"cannot group incidents by {by!r}; choose from {sorted(allowed)}")
        col = INC.c[by]
        with self._tx(read=True) as conn:
            return {
                k: int(n) for k, n in conn.execute(sa.select(col, sa.func.count()).group_by(col))
            }

    @contextlib.contextmanager
    def update_incident(self, incident_id: int) -> Iterator[Incident]:
        with self._tx() as conn:
            inc = self._load(conn, incident_id, lock=True)
            tracker = aggregates.Tracker(conn, enabled=self._has_aggregates(conn))
            tracker.before([incident_id])
            known = len(inc.history)
            yield inc
            now = inc.history[-1].at if len(inc.history) > known else datetime.now(UTC)
            values = incident_values(inc, now)
            conn.execute(INC.update().where(INC.c.id == incident_id).values(**values))
            new = inc.history[known:]
            if new:
                conn.execute(E.insert(), [event_values(incident_id, ev) for ev in new])
            tracker.commit()

    @contextlib.contextmanager
    def regroup(self, incident_ids: Sequence[int]) -> Iterator[Regrouping]:
        with self._tx() as conn:
            ids = sorted(set(incident_ids))
            loaded = [self._load(conn, iid, lock=True) for iid in ids]  # in id order: no deadlock
            tracker = aggregates.Tracker(conn, enabled=self._has_aggregates(conn))
            tracker.before(ids)
            unit = SqlRegrouping(conn, loaded, tracker)
            yield unit
            unit.save()

    def events_of_kind(
        self, kinds: Sequence[str], *, since: datetime | None = None
    ) -> list[tuple[int, Event]]:
        q = sa.select(E).where(E.c.kind.in_(list(kinds))).order_by(E.c.id)
        if since is not None:
            q = q.where(E.c.at >= since)
        with self._tx(read=True) as conn:
            return [(int(r.incident_id), row_to_event(r)) for r in conn.execute(q)]

    # API keys ---------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None:
        row = attrs.asdict(key, recurse=False)
        row["role"] = key.role.value
        with self._tx() as conn:
            conn.execute(schema.api_keys.insert().values(**row))

    def get_api_key(self, key_id: str) -> ApiKey | None:
        K = schema.api_keys
        with self._tx(read=True) as conn:
            row = conn.execute(sa.select(K).where(K.c.id == key_id)).mappings().first()
        return None if row is None else _api_key(row)

    def api_keys(self) -> list[ApiKey]:
        K = schema.api_keys
        with self._tx(read=True) as conn:
            rows = conn.execute(sa.select(K).order_by(K.c.created_at, K.c.id)).mappings()
            return [_api_key(r) for r in rows]

    def revoke_api_key(self, key_id: str, *, at: datetime) -> bool:
        K = schema.api_keys
        with self._tx() as conn:
            q = K.update().where(K.c.id == key_id, K.c.revoked_at.is_(None))
            return bool(conn.execute(q.values(revoked_at=at)).rowcount)

    # cursors & outbox -------------------------------------------------------
    def get_cursor(self, source: str) -> str | None:
        C = schema.cursors
        with self._tx(read=True) as conn:
            return conn.execute(sa.select(C.c.value).where(C.c.source == source)).scalar()

    def set_cursor(self, source: str, value: str | None, *, at: datetime) -> None:
        C = schema.cursors
        with self._tx() as conn:
            updated = conn.execute(
                C.update().where(C.c.source == source).values(value=value, updated_at=at)
            ).rowcount
            if not updated:
                conn.execute(C.insert().values(source=source, value=value, updated_at=at))

    def queue_notifications(self, notifications: Sequence[Notification]) -> list[bool]:
        """Queue notifications in one transaction; which ones were new."""
        if not notifications:
            return []
        rows, seen = [], set()
        for note in notifications:
            if note.dedup_key not in seen:
                seen.add(note.dedup_key)
                rows.append(notification_row(note))
        N = schema.notifications
        stmt = (
            dialect_insert(self.dialect, N)
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(N.c.dedup_key)
        )
        with self._tx() as conn:
            new = set(conn.execute(stmt, rows).scalars())
        out = []
        for note in notifications:
            out.append(note.dedup_key in new)
            new.discard(note.dedup_key)
        return out

    def pending_notifications(self, limit: int = 100) -> Iterator[tuple[int, Notification]]:
        N = schema.notifications
        q = sa.select(N).where(N.c.sent_at.is_(None), N.c.dead_at.is_(None))
        with self._tx(read=True) as conn:
            rows = conn.execute(q.order_by(N.c.id).limit(limit)).all()
        for r in rows:
            yield r.id, _notification(r)

    def mark_notifications(
        self, results: Sequence[tuple[int, datetime | None, str | None]]
    ) -> None:
        if not results:
            return
        N = schema.notifications
        stmt = (
            N.update()
            .where(N.c.id == sa.bindparam("nid"))
            .values(
                sent_at=sa.bindparam("sent", type_=schema.UTCDateTime),
                error=sa.bindparam("err"),
                attempts=N.c.attempts + 1,
            )
        )
        with self._tx() as conn:
            conn.execute(stmt, [{"nid": i, "sent": at, "err": err} for i, at, err in results])

    def claim_notifications(
        self, limit: int, *, now: datetime, lease: timedelta = timedelta(minutes=5)
    ) -> list[OutboxItem]:
        N = schema.notifications
        due = sa.select(N.c.id).where(
            N.c.sent_at.is_(None),
            N.c.dead_at.is_(None),
            sa.or_(N.c.next_attempt_at.is_(None), N.c.next_attempt_at <= now),
            sa.or_(N.c.claimed_until.is_(None), N.c.claimed_until <= now),
        )
        due = due.order_by(N.c.id).limit(limit)
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # one statement: the due ones, skipping those another deliverer is claiming, leased
        stmt = N.update().where(N.c.id.in_(due)).values(claimed_until=now + lease).returning(N)
        with self._tx() as conn:
            rows = sorted(conn.execute(stmt).all(), key=lambda r: int(r.id))
        return [_outbox_item(r) for r in rows]

    def settle_notifications(self, results: Sequence[DeliveryResult]) -> None:
        if not results:
            return
        N = schema.notifications
        ids = [r.id for r in results]
        if self.bulk and self.dialect == "postgresql" and len(set(ids)) == len(ids):
            settled = [
                {
                    "id": r.id,
                    "delivered_to": list(r.delivered_to),
                    "sent_at": r.sent_at,
                    "error": r.error,
                    "next_attempt_at": r.next_attempt_at,
                    "dead_at": r.dead_at,
                    "claimed_until": None,
                }
                for r in results
            ]
            with self._tx() as conn:
                bulk.update_rows(conn, N, "id", list(settled[0])[1:], settled, increment="attempts")
            return
        stmt = (
            N.update()
            .where(N.c.id == sa.bindparam("nid"))
            .values(
                delivered_to=sa.bindparam("to", type_=sa.JSON),
                sent_at=sa.bindparam("sent", type_=schema.UTCDateTime),
                error=sa.bindparam("err"),
                next_attempt_at=sa.bindparam("next", type_=schema.UTCDateTime),
                dead_at=sa.bindparam("dead", type_=schema.UTCDateTime),
                claimed_until=None,
                attempts=N.c.attempts + 1,
            )
        )
        rows = [
            {
                "nid": r.id,
                "to": list(r.delivered_to),
                "sent": r.sent_at,
                "err": r.error,
                "next": r.next_attempt_at,
                "dead": r.dead_at,
            }
            for r in results
        ]
        with self._tx() as conn:
            conn.execute(stmt, rows)

    def notification_counts(self, *, now: datetime) -> dict[str, int]:
        N = schema.notifications
        state = sa.case(
            (N.c.sent_at.is_not(None), "sent"),
            (N.c.dead_at.is_not(None), "dead"),
            (sa.and_(N.c.next_attempt_at.is_not(None), N.c.next_attempt_at > now), "retrying"),
            else_="queued",
        )
        with self._tx(read=True) as conn:
            counts = dict.fromkeys(("queued", "retrying", "sent", "dead"), 0)
            for name, n in conn.execute(sa.select(state, sa.func.count()).group_by(state)):
                counts[name] = int(n)
            return counts

    def dead_notifications(self, limit: int = 100) -> list[OutboxItem]:
        N = schema.notifications
        q = sa.select(N).where(N.c.dead_at.is_not(None), N.c.sent_at.is_(None))
        with self._tx(read=True) as conn:
            rows = conn.execute(q.order_by(N.c.dead_at.desc(), N.c.id.desc()).limit(limit))
            return [_outbox_item(r) for r in rows]

    def revive_notifications(self, ids: Sequence[int] | None = None) -> int:
        N = schema.notifications
        stmt = N.update().where(N.c.dead_at.is_not(None), N.c.sent_at.is_(None))
        if ids is not None:
            stmt = stmt.where(N.c.id.in_(list(ids)))
        with self._tx() as conn:
            result = conn.execute(
                stmt.values(dead_at=None, next_attempt_at=None, claimed_until=None, attempts=0)
            )
            return int(result.rowcount or 0)


def _notification(r: Any) -> Notification:
    return Notification(
        kind=r.kind,
        incident_id=r.incident_id,
        at=r.created_at,
        recipients=tuple(r.recipients),
        text=r.text,
        data=dict(r.data),
        key=r.dedup_key,
    )


def _outbox_item(r: Any) -> OutboxItem:
    return OutboxItem(
        id=r.id,
        notification=_notification(r),
        attempts=r.attempts,
        delivered_to=tuple(r.delivered_to or ()),
        error=r.error,
        next_attempt_at=r.next_attempt_at,
        dead_at=r.dead_at,
    )


def _api_key(row: sa.RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        scope=row["scope"],
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        rate_per_minute=row["rate_per_minute"],
    )
