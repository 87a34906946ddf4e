"""What a batch reads before a message is decided: the candidates around it.

:class:`BatchLookup` answers a :class:`~tsur.grouping.Lookup` with
:class:`~tsur.grouping.Candidates` — the open incident of the message's
thread, open incidents of the same topic family in its municipality,
resolved ones it may repeat — from the database and from the incidents the
batch has made but not yet written. It only reads; the batch's writer
(:mod:`tsur.store.batch`) is the one place that writes.

On PostgreSQL :meth:`BatchLookup.prefetch` sends the queries of every
message of a batch at once (a pipeline: one round trip instead of one or
more per message) and keeps the answers until the message asks; a reopening
the batch writes forgets them, since it changes what they would say.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tsur.domain import Status
from tsur.grouping.candidates import (
    Candidates,
    ClosedCandidate,
    Lookup,
    OpenCandidate,
    has_address,
)
from tsur.grouping.places import QUALIFIER_KEYS
from tsur.store.bulk import driver_errors
from tsur.store.rows import INC, M, decode_places
from tsur.store.schema import UTCDateTime, utc_value

__all__ = ["MAX_OPEN_CANDIDATES", "BatchLookup", "CandidateCache"]

_OPEN = [s.value for s in Status if s.is_open]
_DONE = [Status.RESOLVED.value, Status.CLOSED.value]
#: At most this many open incidents are compared with one message.
MAX_OPEN_CANDIDATES = 200
#: the end of an open-ended window
_NO_END = datetime(9999, 12, 31, tzinfo=UTC)


def _among(
    column: sa.Column[Any], name: str, dialect: str, values: list[str] | None = None
) -> sa.ColumnElement[bool]:
    """``column`` is one of the values of the parameter ``name`` (a list; ``values``: fixed).

    On PostgreSQL the list is one array parameter (``= ANY``): the statement's
    text is the same for every length, and the server prepares it once. The
    array is of ``text``: a cast to the column's ``varchar(n)`` would cut a
    longer value down to one that matches.
    """
    if dialect == "postgresql":
        array = postgresql.ARRAY(sa.Text())
        return column == sa.any_(sa.bindparam(name, values, type_=array))
    return column.in_(sa.bindparam(name, values, expanding=True))


def _mostly(condition: sa.ColumnElement[bool], dialect: str) -> sa.ColumnElement[bool]:
    """``condition``, which most rows meet, said so to SQLite's planner.

    Without statistics SQLite may pick the status index for "open" when the
    lists of topics and territories are long, and read every open incident
    of the region for each message — a hundred times slower in a busy
    region than the group index. ``likely()`` keeps the term out of its
    index choice; PostgreSQL plans from its statistics.
    """
    if dialect != "sqlite":
        return condition
    return sa.func.likely(condition, type_=sa.Boolean)


def _may_match(dialect: str) -> sa.ColumnElement[bool]:
    """An open incident a message could join: of its topic, or naming one of its places.

    A message joins an incident of another topic of its family only by a
    shared place (the same street and house, the same numbered object); an
    incident with neither can never match (:func:`~tsur.grouping.best_match`),
    and is left out here, so that in a busy municipality the
    :data:`MAX_OPEN_CANDIDATES` compared are ones that could. ``topic`` None:
    no such condition. ``places`` are the message's ``key=value`` items, as
    :func:`~tsur.store.rows.encode_places` joins them with ``;``.
    """
    topic = sa.cast(sa.bindparam("topic", type_=sa.Text), sa.Text)
    return sa.or_(topic.is_(None), INC.c.topic == topic, _names(dialect, every=False))


def _names(dialect: str, *, every: bool) -> sa.ColumnElement[bool]:
    """An incident whose address key holds one of the ``places`` items, or with ``every``
    all of them (the same street and house, whatever qualifiers either side adds: the
    caller compares those)."""
    key = sa.func.coalesce(INC.c.address_key, "")
    if dialect == "postgresql":
        places = sa.bindparam("places", type_=postgresql.ARRAY(sa.Text()))
        held = sa.func.string_to_array(key, ";", type_=postgresql.ARRAY(sa.Text()))
        return held.op("@>" if every else "&&")(places)
    item = sa.func.json_each(sa.bindparam("places", type_=sa.Text)).table_valued("value")
    found = sa.func.instr(";" + key + ";", ";" + item.c.value + ";")
    if every:  # no item the key lacks
        return ~sa.exists(sa.select(1).select_from(item).where(found == 0))
    return sa.exists(sa.select(1).select_from(item).where(found > 0))


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
    done = _among(INC.c.status, "done_statuses", dialect, _DONE)
    closed = sa.select(*closed_cols).where(
        done, INC.c.updated_at >= sa.bindparam("closed_since", type_=UTCDateTime)
    )
    return {
        "thread": sa.select(M.c.incident_id, INC.c.executor)
        .join(INC, INC.c.id == M.c.incident_id)
        .where(
            M.c.source == sa.bindparam("source"),
            _among(M.c.external_id, "refs", dialect),
            _among(INC.c.status, "open_statuses", dialect, _OPEN),
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
            INC.c.territory,
        )
        .where(
            _among(INC.c.topic, "topics", dialect),
            _among(INC.c.territory, "territories", dialect),
            INC.c.created_at >= since,
            INC.c.created_at <= sa.bindparam("until", type_=UTCDateTime),
            _mostly(_among(INC.c.status, "open_statuses", dialect, _OPEN), dialect),
            _may_match(dialect),
        )
        .order_by(INC.c.id.desc())
        .limit(MAX_OPEN_CANDIDATES),
        "any_done": sa.select(INC.c.id).where(done).limit(1),
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
            _names(dialect, every=True),
        ),
    }


def _place_items(places: Mapping[str, str], dialect: str) -> Any:
    """A message's places as the ``key=value`` items an incident's address key holds; not
    the qualifiers (:data:`~tsur.grouping.places.QUALIFIER_KEYS`): every street in a town
    is an «улица», and sharing that makes no incident a candidate."""
    items = [f"{k}={v}" for k, v in sorted(places.items()) if k not in QUALIFIER_KEYS]
    return items if dialect == "postgresql" else json.dumps(items, ensure_ascii=False)


def _key(name: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """A query and its values, as a dictionary key."""
    return (
        name,
        *sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()),
    )


@functools.cache
def _compiled(dialect: sa.Dialect, name: str) -> tuple[sa.sql.compiler.SQLCompiler, dict[str, Any]]:
    """A lookup query compiled for the driver itself, with the conversion of each value."""
    compiled = cast(
        sa.sql.compiler.SQLCompiler, _queries(dialect.name)[name].compile(dialect=dialect)
    )
    convert = {}
    for bind, key in compiled.bind_names.items():
        process = bind.type._cached_bind_processor(dialect)
        if process is not None:
            convert[key] = process
    return compiled, convert


def _candidate(
    incident_id: int,
    status: str,
    topic: str | None,
    created_at: Any,
    address_key: str | None,
    signature: str,
) -> OpenCandidate:
    """An open candidate from an incident's stored values."""
    return OpenCandidate(
        incident_id,
        Status(status),
        topic,
        utc_value(created_at),
        decode_places(address_key),
        frozenset(signature.split()),
    )


class CandidateCache:
    """Open candidates made from their rows, kept while their rows stay the same.

    Many messages of a busy municipality and topic find the same open
    incidents; each row is turned into an :class:`OpenCandidate` (places
    decoded, words split, time read) once, and again only when the row
    read differs in anything (the incident learned a place, changed status).
    One cache serves one database: ids are its incidents'. At most
    ``size`` candidates are kept; past that the cache starts again.
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._by_id: dict[int, tuple[tuple[Any, ...], OpenCandidate]] = {}

    def get(self, row: tuple[Any, ...]) -> OpenCandidate:
        """The candidate of ``row`` (id, status, topic, created_at, address key, signature,
        territory)."""
        kept = self._by_id.get(row[0])
        if kept is not None and kept[0] == row:
            return kept[1]
        made = _candidate(*row[:6])
        if len(self._by_id) >= self.size:
            self._by_id.clear()
        self._by_id[row[0]] = (tuple(row), made)
        return made


class BatchLookup:
    """The reading side of a batch: candidates from the database and the batch's own.

    ``prefetch`` (the default) lets :meth:`prefetch` read ahead on PostgreSQL.
    """

    def __init__(
        self,
        conn: sa.Connection,
        *,
        prefetch: bool = True,
        cache: CandidateCache | None = None,
    ) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self._cache = cache if cache is not None else CandidateCache()
        self._new: list[dict[str, Any]] = []  # incident rows; index i has provisional id -(i+1)
        self._new_by_topic: dict[str | None, list[int]] = {}  # topic → indexes in _new
        self._open_rows: dict[int, tuple[Any, ...]] = {}  # open incidents read, by id
        self._learned: dict[int, dict[str, str | None]] = {}
        self._any_done: bool | None = None
        self._seen: dict[tuple[str, str], int] = {}  # (source, external id) → incident
        self._read_ahead = prefetch and self.dialect == "postgresql"
        self._fetched: dict[tuple[Any, ...], list[Any]] = {}  # answers read ahead

    def candidates(self, lookup: Lookup) -> Candidates:
        thread, thread_executor = self._thread_incident(lookup.source, lookup.refs)
        return Candidates(
            thread=thread,
            thread_executor=thread_executor,
            open=tuple(self._open(lookup)),
            closed=tuple(self._closed(lookup)),
        )

    # reading ahead -------------------------------------------------------------------
    def prefetch(self, lookups: Sequence[Lookup]) -> None:
        """Read what :meth:`candidates` will need for ``lookups``, all at once.

        Only on PostgreSQL: the queries go in one pipeline, and each answer is
        kept until its message asks (a message asking anything else, or
        after :meth:`forget`, reads the database as usual).
        """
        if not self._read_ahead or not lookups:
            return
        first: list[tuple[str, dict[str, Any]]] = []
        if self._any_done is None:
            first.append(("any_done", {}))
        for lookup in lookups:
            first.extend(self._asks(lookup, closed=False))
        answers = self._fetch(first)
        if self._any_done is None:
            self._any_done = bool(answers.pop(_key("any_done", {})))
        self._fetched.update(answers)
        if self._any_done:
            later = [q for lookup in lookups for q in self._asks(lookup, closed=True)]
            self._fetched.update(self._fetch(later))

    def forget(self) -> None:
        """Drop what was read ahead (the batch changed the database it came from)."""
        self._fetched.clear()

    def _asks(self, lookup: Lookup, *, closed: bool) -> list[tuple[str, dict[str, Any]]]:
        """The queries :meth:`candidates` makes for ``lookup`` (the open or the closed ones)."""
        if not closed:
            asks = []
            if lookup.refs:
                asks.append(("thread", self._thread_params(lookup.source, lookup.refs)))
            if lookup.topics and lookup.territories:
                asks.append(("open", self._open_params(lookup)))
            return asks
        return list(self._closed_asks(lookup))

    def _fetch(self, asks: list[tuple[str, dict[str, Any]]]) -> dict[tuple[Any, ...], list[Any]]:
        """Run ``asks`` in one pipeline (one ``executemany`` per query); rows by :func:`_key`."""
        by_query: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        for name, params in asks:
            by_query.setdefault(name, {})[_key(name, params)] = params
        if not by_query:
            return {}
        dialect = self.conn.dialect
        driver: Any = self.conn.connection.driver_connection
        sent = []
        with driver_errors("lookup"):
            with driver.pipeline():
                for name, unique in by_query.items():
                    compiled, convert = _compiled(dialect, name)
                    values = []
                    for params in unique.values():
                        v = dict(compiled.construct_params(params) or {})
                        for k, process in convert.items():
                            v[k] = process(v[k])
                        values.append(v)
                    cursor = driver.cursor()
                    cursor.executemany(compiled.string, values, returning=True)
                    sent.append((list(unique), cursor))
            out: dict[tuple[Any, ...], list[Any]] = {}
            for keys, cursor in sent:
                for i, key in enumerate(keys):
                    if i:
                        cursor.nextset()
                    out[key] = cursor.fetchall()
                cursor.close()
        return out

    def _rows(self, name: str, params: dict[str, Any]) -> list[Any]:
        """The rows of one lookup query: read ahead, or from the database now."""
        if self._fetched:
            found = self._fetched.get(_key(name, params))
            if found is not None:
                return found
        if self.dialect == "sqlite":
            return self._sqlite_rows(name, params)
        return list(self.conn.execute(_queries(self.dialect)[name], params))

    def _sqlite_rows(self, name: str, params: dict[str, Any]) -> list[Any]:
        """One lookup query on SQLite, through the driver itself.

        The statement is the one SQLAlchemy compiled, its lists expanded for
        these values; the values are converted as SQLAlchemy would convert
        them (times read back are converted by :class:`CandidateCache`). Skipping the statement
        execution machinery halves the cost of the lookup, which every
        message pays.
        """
        dialect = self.conn.dialect
        compiled, convert = _compiled(dialect, name)
        state = compiled.construct_expanded_state(params)
        values = dict(state.parameters)
        for key, process in convert.items():
            if key in values:
                values[key] = process(values[key])
        positional = [values[key] for key in state.positiontup or ()]
        driver: Any = self.conn.connection.driver_connection
        try:
            rows: list[Any] = driver.execute(state.statement, positional).fetchall()
        except driver.Error as exc:
            raise sa.exc.DBAPIError.instance(
                state.statement, positional, exc, driver.Error
            ) from exc
        return rows

    # the queries ---------------------------------------------------------------------
    @staticmethod
    def _thread_params(source: str, refs: Sequence[str]) -> dict[str, Any]:
        return {"source": source, "refs": list(refs)}

    def _thread_incident(self, source: str, refs: Sequence[str]) -> tuple[int | None, str | None]:
        """The open incident the message replies in, with its executor (None, None if none)."""
        if not refs:
            return None, None
        for ext in refs:
            if (source, ext) in self._seen:
                incident_id = self._seen[(source, ext)]
                return incident_id, self._executor_of(incident_id)
        rows = self._rows("thread", self._thread_params(source, refs))
        return (None, None) if not rows else (rows[0][0], rows[0][1])

    def _executor_of(self, incident_id: int) -> str | None:
        if incident_id < 0:  # made by this batch, not stored yet
            executor: str | None = self._new[-incident_id - 1]["executor"]
            return executor
        return self.conn.execute(_queries(self.dialect)["executor"], {"id": incident_id}).scalar()

    def _open_params(self, lookup: Lookup) -> dict[str, Any]:
        dialect = self.dialect
        return {
            "topics": list(lookup.topics),
            "territories": list(lookup.territories),
            "since": lookup.open_since,
            "until": lookup.open_until or _NO_END,
            "topic": lookup.topic,
            "places": _place_items(lookup.places, dialect),
        }

    def _open(self, lookup: Lookup) -> list[OpenCandidate]:
        if not lookup.topics or not lookup.territories:
            return []
        cache, learned = self._cache, self._learned
        found = []
        read = set()
        for r in self._rows("open", self._open_params(lookup)):
            read.add(r[0])
            self._open_rows[r[0]] = r
            if learned and r[0] in learned:  # what this batch taught the incident
                r = self._taught(r)
            found.append(cache.get(r))
        territories = set(lookup.territories)
        until = lookup.open_until
        # An incident that learned a place earlier in this batch may match this message by
        # it, though the database, which has not heard of it yet, did not find it. It was
        # read when it was joined: it is taken from there.
        for incident_id in learned.keys() - read:
            r = self._open_rows.get(incident_id)
            if r is None or r[2] not in lookup.topics or r[6] not in territories:
                continue
            c = cache.get(self._taught(r))
            if c.created_at >= lookup.open_since and (until is None or c.created_at <= until):
                found.append(c)
        for topic in lookup.topics:
            for i in self._new_by_topic.get(topic, ()):
                row = self._new[i]
                created = row["created_at"]
                if (
                    row["territory"] in territories
                    and created >= lookup.open_since
                    and (until is None or created <= until)
                ):
                    found.append(
                        _candidate(
                            -(i + 1),
                            row["status"],
                            topic,
                            created,
                            row["address_key"],
                            row["signature"],
                        )
                    )
        return found

    def _taught(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """An open incident's row with what this batch taught it (places, words)."""
        taught = self._learned[row[0]]
        return (
            *row[:4],
            taught.get("address_key", row[4]),
            taught.get("signature", row[5]),
            *row[6:],
        )

    def _add_new(self, values: dict[str, Any]) -> int:
        """Keep an incident the batch made (its row ``values``); its provisional id."""
        self._new.append(values)
        self._new_by_topic.setdefault(values["topic"], []).append(len(self._new) - 1)
        return -len(self._new)

    def _closed_asks(self, lookup: Lookup) -> Iterator[tuple[str, dict[str, Any]]]:
        """The queries for resolved incidents ``lookup`` may repeat, with the flag each sets."""
        since = lookup.closed_since
        if lookup.refs:
            yield (
                "closed_thread",
                {
                    "source": lookup.source,
                    "refs": list(lookup.refs),
                    "closed_since": since,
                },
            )
        if lookup.author and lookup.topics:
            yield (
                "closed_author",
                {
                    "source": lookup.source,
                    "author": lookup.author,
                    "topics": list(lookup.topics),
                    "closed_since": since,
                },
            )
        if has_address(lookup.places) and lookup.topics and lookup.territory:
            yield (
                "closed_place",
                {
                    "territory": lookup.territory,
                    "places": _place_items(lookup.places, self.dialect),
                    "topics": list(lookup.topics),
                    "closed_since": since,
                },
            )

    def _closed(self, lookup: Lookup) -> list[ClosedCandidate]:
        if self._any_done is None:  # once per batch: usually there is nothing to reopen
            self._any_done = bool(self._rows("any_done", {}))
        if not self._any_done:
            return []
        flags = {"closed_thread": "thread", "closed_author": "author", "closed_place": "place"}
        rows: dict[int, tuple[Any, set[str]]] = {}
        for name, params in self._closed_asks(lookup):
            for r in self._rows(name, params):
                rows.setdefault(r[0], (r, set()))[1].add(flags[name])
        return [
            ClosedCandidate(
                r[0],
                Status(r[1]),
                r[2],
                r[3],
                r[4],
                r[5],
                decode_places(r[6]),
                in_thread="thread" in found,
                same_author="author" in found,
            )
            for r, found in rows.values()
        ]
