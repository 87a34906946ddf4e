"""What a batch reads before a message is decided: the candidates around it.

:class:`BatchLookup` answers a :class:`~tsur.grouping.Lookup` with
:class:`~tsur.grouping.Candidates` — the open incident of the message's
thread, open incidents of the same topic family in its municipality,
resolved ones it may repeat — from the database and from the incidents the
batch has made but not yet written. It only reads; the batch's writer
(:mod:`tsur.store.batch`) is the one place that writes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tsur.domain import Status
from tsur.grouping.candidates import Candidates, ClosedCandidate, Lookup, OpenCandidate
from tsur.store.rows import INC, M, decode_places, encode_places
from tsur.store.schema import UTCDateTime

__all__ = ["MAX_OPEN_CANDIDATES", "BatchLookup"]

_OPEN = [s.value for s in Status if s.is_open]
_DONE = [Status.RESOLVED.value, Status.CLOSED.value]
#: At most this many open incidents are compared with one message.
MAX_OPEN_CANDIDATES = 200


def _among(column: sa.Column[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of the values of the parameter ``name`` (a list).

    On PostgreSQL the list is one array parameter (``= ANY``): the statement's
    text is the same for every length, and the server prepares it once. The
    array is of ``text``: a cast to the column's ``varchar(n)`` would cut a
    longer value down to one that matches.
    """
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.Text())))
    return column.in_(sa.bindparam(name, expanding=True))


@functools.cache
def _queries(dialect: str) -> dict[str, Any]:
    """The lookup's statements for ``dialect``, built once (each message only binds
    its values)."""
    since = sa.bindparam("since", type_=UTCDateTime)
    closed_cols = (
        INC.c.id,
        INC.c.status,
        INC.c.topic,
        INC.c.territory,
        INC.c.executor,
        INC.c.sla_policy,
        INC.c.address_key,
    )
    closed = sa.select(*closed_cols).where(
        INC.c.status.in_(_DONE), INC.c.updated_at >= sa.bindparam("closed_since", type_=UTCDateTime)
    )
    return {
        "thread": sa.select(M.c.incident_id, INC.c.executor)
        .join(INC, INC.c.id == M.c.incident_id)
        .where(
            M.c.source == sa.bindparam("source"),
            _among(M.c.external_id, "refs", dialect),
            INC.c.status.in_(_OPEN),
        )
        .limit(1),
        "executor": sa.select(INC.c.executor).where(INC.c.id == sa.bindparam("id")),
        "open": sa.select(
            INC.c.id,
            INC.c.status,
            INC.c.topic,
            INC.c.created_at,
            INC.c.address_key,
            INC.c.signature,
        )
        .where(
            _among(INC.c.topic, "topics", dialect),
            _among(INC.c.territory, "territories", dialect),
            INC.c.created_at >= since,
            INC.c.status.in_(_OPEN),
        )
        .order_by(INC.c.id.desc())
        .limit(MAX_OPEN_CANDIDATES),
        "any_done": sa.select(INC.c.id).where(INC.c.status.in_(_DONE)).limit(1),
        "closed_thread": closed.join(M, M.c.incident_id == INC.c.id).where(
            M.c.source == sa.bindparam("source"), _among(M.c.external_id, "refs", dialect)
        ),
        "closed_author": closed.join(M, M.c.incident_id == INC.c.id).where(
            M.c.source == sa.bindparam("source"),
            M.c.payload["author"]["id"].as_string() == sa.bindparam("author"),
            _among(INC.c.topic, "topics", dialect),
        ),
        "closed_place": closed.where(
            _among(INC.c.topic, "topics", dialect),
            INC.c.territory == sa.bindparam("territory"),
            INC.c.address_key == sa.bindparam("key"),
        ),
    }


class BatchLookup:
    """The reading side of a batch: candidates from the database and the batch's own."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self._new: list[dict[str, Any]] = []  # incident rows; index i has provisional id -(i+1)
        self._learned: dict[int, dict[str, str | None]] = {}
        self._any_done: bool | None = None
        self._seen: dict[tuple[str, str], int] = {}  # (source, external id) → incident

    def candidates(self, lookup: Lookup) -> Candidates:
        thread, thread_executor = self._thread_incident(lookup.source, lookup.refs)
        return Candidates(
            thread=thread,
            thread_executor=thread_executor,
            open=tuple(self._open(lookup)),
            closed=tuple(self._closed(lookup)),
        )

    def _thread_incident(self, source: str, refs: Sequence[str]) -> tuple[int | None, str | None]:
        """The open incident the message replies in, with its executor (None, None if none)."""
        if not refs:
            return None, None
        for ext in refs:
            if (source, ext) in self._seen:
                incident_id = self._seen[(source, ext)]
                return incident_id, self._executor_of(incident_id)
        q = _queries(self.dialect)["thread"]
        row = self.conn.execute(q, {"source": source, "refs": list(refs)}).first()
        return (None, None) if row is None else (row[0], row[1])

    def _executor_of(self, incident_id: int) -> str | None:
        if incident_id < 0:  # made by this batch, not stored yet
            executor: str | None = self._new[-incident_id - 1]["executor"]
            return executor
        return self.conn.execute(_queries(self.dialect)["executor"], {"id": incident_id}).scalar()

    def _open(self, lookup: Lookup) -> list[OpenCandidate]:
        if not lookup.topics or not lookup.territories:
            return []
        territories = list(lookup.territories)
        params = {
            "topics": list(lookup.topics),
            "territories": territories,
            "since": lookup.open_since,
        }
        found = [
            OpenCandidate(
                r.id,
                Status(r.status),
                r.topic,
                r.created_at,
                decode_places(r.address_key),
                frozenset(r.signature.split()),
            )
            for r in self.conn.execute(_queries(self.dialect)["open"], params)
        ]
        for i, row in enumerate(self._new):
            t = row["topic"]
            if (
                t in lookup.topics
                and row["territory"] in territories
                and row["created_at"] >= lookup.open_since
            ):
                found.append(
                    OpenCandidate(
                        -(i + 1),
                        Status(row["status"]),
                        t,
                        row["created_at"],
                        decode_places(row["address_key"]),
                        frozenset(row["signature"].split()),
                    )
                )
        return found

    def _closed(self, lookup: Lookup) -> list[ClosedCandidate]:
        queries = _queries(self.dialect)
        if self._any_done is None:  # once per batch: usually there is nothing to reopen
            self._any_done = self.conn.execute(queries["any_done"]).first() is not None
        if not self._any_done:
            return []
        rows: dict[int, tuple[Any, set[str]]] = {}

        def add(name: str, params: dict[str, Any], flag: str) -> None:
            params["closed_since"] = lookup.closed_since
            for r in self.conn.execute(queries[name], params):
                rows.setdefault(r.id, (r, set()))[1].add(flag)

        if lookup.refs:
            add("closed_thread", {"source": lookup.source, "refs": list(lookup.refs)}, "thread")
        if lookup.author and lookup.topics:
            params = {"source": lookup.source, "author": lookup.author}
            add("closed_author", {**params, "topics": list(lookup.topics)}, "author")
        key = encode_places(lookup.places)
        if key and lookup.topics and lookup.territory:
            params = {"territory": lookup.territory, "key": key}
            add("closed_place", {**params, "topics": list(lookup.topics)}, "place")
        return [
            ClosedCandidate(
                r.id,
                Status(r.status),
                r.topic,
                r.territory,
                r.executor,
                r.sla_policy,
                decode_places(r.address_key),
                in_thread="thread" in flags,
                same_author="author" in flags,
            )
            for r, flags in rows.values()
        ]
