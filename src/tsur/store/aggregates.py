"""Daily aggregates of the incidents, kept exactly in step with them.

Analytics over a year of a large region should not read a million rows.
The table ``analytics_daily`` holds, per local day of the region and per
*grain* — a small set of dimensions — the counts and sums the reports
need. Every incident counts once in every grain:

======  ==========================  ============================================
grain   dimensions                  serves
======  ==========================  ============================================
``tt``  territory, topic            counts by place and topic, municipality
                                    figures, top problems, systemic spikes
``to``  topic                       trends, seasonality, weekly topics
``so``  source                      the channel mix
``us``  urgency, status             totals, counts by urgency or status
``es``  executor, status            executor KPIs
``fr``  bucket                      first-response histogram (answered only)
======  ==========================  ============================================

The dimensions outside a grain are ``""`` (so is a missing value). The
measures (:data:`MEASURES`) are counts of incidents with a property, the
sums of their messages, of their last rating and of their first-answer
times.

**One writer.** The aggregates are written only by :func:`apply_delta`,
called inside the transaction that writes the incidents — the batch flush
(:mod:`tsur.store.batch`) and :meth:`SqlRepository.update_incident` — with
the difference between the *profiles* (:func:`profile_select`) of the
incidents touched after and before the write. A profile is computed by SQL
from the stored incident and its events, the same SQL :func:`rebuild` runs
over every incident, so the incremental and the rebuilt aggregates agree
by construction.

**Days.** An incident's day is the local date of its ``created_at`` in
the time zone recorded in ``analytics_meta`` (key ``tz``). Schema
migration 6 back-fills by UTC days; an engine opening the store rebuilds
them in its region's zone (:func:`ensure`). Analytics splits a period on
the recorded zone's days — whole days from the aggregates, the partial
days at the edges counted over the incidents — so any zone gives exact
counts; grouping by day, week or month needs the region's own zone, else
it counts over the incidents.

**Percentiles.** The ``fr`` grain is a log-bucketed histogram of the
seconds from creation to the first answer: bucket ``b ≥ 1`` holds
``[γ^(b-1), γ^b)`` with ``γ = 1.01`` (negative durations mirror it, bucket
0 holds ``(-1, 1)``), with the count and the sum of its durations (measure
``fr_ms``, milliseconds). A percentile read from it stands each value for
the mean of its bucket and interpolates as the exact percentile does, so
it is within ``RELATIVE_ERROR · |exact| + ABSOLUTE_ERROR_S`` of the exact
value — 1 % plus 2 s — and exact where the values around the rank are
alone in their buckets. (A value and its bucket's mean share a bucket, so
they differ by less than ``(γ − 1)·|value|``, or 2 s in bucket 0; the
interpolation keeps the bound. Should the two values around the rank have
opposite signs — an answer stamped before the incident, clock skew — the
relative part is of the larger of their magnitudes instead.)
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from tsur.domain import Status
from tsur.store import schema
from tsur.store.rows import dialect_insert

__all__ = [
    "ABSOLUTE_ERROR_S",
    "DIMS",
    "GAMMA",
    "GRAINS",
    "MEASURES",
    "RELATIVE_ERROR",
    "Tracker",
    "apply_delta",
    "bucket_of",
    "ensure",
    "profile_select",
    "profiles",
    "rebuild",
    "split_days",
    "sqlite_local_day",
    "stored_tz",
    "subtract",
]

AGG, META = schema.analytics_daily, schema.analytics_meta
INC, E = schema.incidents, schema.events
DIMS = ("territory", "topic", "source", "executor", "urgency", "status")
MEASURES = schema.AGGREGATE_MEASURES
GRAINS: dict[str, tuple[str, ...]] = {
    "tt": ("territory", "topic"),
    "to": ("topic",),
    "so": ("source",),
    "us": ("urgency", "status"),
    "es": ("executor", "status"),
    "fr": ("bucket",),
}
#: Ratio of a histogram bucket's bounds.
GAMMA = 1.01
#: Largest relative error of a percentile read from the histogram (see the module).
RELATIVE_ERROR = GAMMA - 1
#: and the absolute error it may add (durations under a second share one bucket).
ABSOLUTE_ERROR_S = 2.0
_LOG_GAMMA = math.log(GAMMA)
_DONE = (Status.RESOLVED.value, Status.CLOSED.value)
_OPEN = tuple(s.value for s in Status if s.is_open)
_Key = tuple[Any, ...]  # (grain, day, *DIMS, bucket)


# histogram --------------------------------------------------------------------------
def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration (as the SQL of :func:`profile_select` computes it)."""
    if seconds >= 1:
        return 1 + math.floor(math.log(seconds) / _LOG_GAMMA)
    if seconds <= -1:
        return -(1 + math.floor(math.log(-seconds) / _LOG_GAMMA))
    return 0


def _bucket_sql(seconds: Any) -> Any:
    log_g = sa.literal(_LOG_GAMMA, sa.Float)
    up = 1 + sa.func.floor(sa.func.ln(seconds) / log_g)
    down = -(1 + sa.func.floor(sa.func.ln(-seconds) / log_g))
    return sa.cast(
        sa.case((seconds >= 1, up), (seconds <= -1, down), else_=0),
        sa.Integer,
    )


def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "postgresql":
        return sa.func.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


# the time zone -------------------------------------------------------------------------
def stored_tz(conn: sa.Connection, *, lock: bool = False) -> str | None:
    """The zone the aggregates are kept in (None: not kept in this database).

    ``lock`` (writers, on PostgreSQL) holds it until the transaction ends, so a
    rebuild in another zone waits for the write.
    """
    q = sa.select(META.c.value).where(META.c.key == "tz")
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update(read=True)
    return conn.execute(q).scalar()


#: the SQLite function :func:`sqlite_local_day` is registered as (see :mod:`tsur.store.sql`)
SQLITE_LOCAL_DAY = "tsur_local_day"


def sqlite_local_day(value: object, tz: object) -> str | None:
    """The local ISO date, in zone ``tz``, of a time as SQLite stores it (naive UTC text).

    Registered on every SQLite connection as ``tsur_local_day(created_at, tz)``:
    the statement keeps the same text for any incidents and zone, so SQLAlchemy
    compiles it once. NULL for NULL.
    """
    if value is None or tz is None:
        return None
    at = schema.utc_value(value if isinstance(value, datetime) else str(value))
    return at.astimezone(ZoneInfo(str(tz))).date().isoformat()


# profiles --------------------------------------------------------------------------------
def profile_select(
    conn: sa.Connection,
    tz: str,
    ids: Sequence[int] | None = None,
    *,
    where: Sequence[Any] = (),
) -> sa.Select[Any]:
    """One row per incident (of ``ids``, or all; those matching ``where``, conditions on
    the incidents): its day, dimensions, measures and bucket.
    """
    return _profile_select(conn.dialect.name, tz, None if ids is None else list(ids), where)


@functools.lru_cache(maxsize=16)
def _profiles_of_ids(dialect: str, tz: str) -> sa.Select[Any]:
    """:func:`profile_select` of the incidents bound as ``profile_ids``, built once."""
    return _profile_select(dialect, tz, sa.bindparam("profile_ids", expanding=True), ())


def _profile_select(dialect: str, tz: str, ids: Any, where: Sequence[Any]) -> sa.Select[Any]:
    ZoneInfo(tz)  # a valid zone, or ZoneInfoNotFoundError
    where = list(where)
    ev_where: list[Any] = []
    if ids is not None:
        where.append(INC.c.id.in_(ids))
        ev_where.append(E.c.incident_id.in_(ids))
    elif where:
        ev_where.append(E.c.incident_id.in_(sa.select(INC.c.id).where(*where)))
    status_ev = sa.and_(E.c.kind == "status", *ev_where)
    resolved_ev = (
        sa.select(E.c.incident_id.label("iid"), sa.func.max(E.c.at).label("resolved_at"))
        .where(status_ev, E.c.to_status == "resolved")
        .group_by(E.c.incident_id)
        .subquery()
    )
    reopened_ev = (
        sa.select(E.c.incident_id.label("iid"), sa.func.count().label("reopens"))
        .where(status_ev, E.c.to_status == "reopened")
        .group_by(E.c.incident_id)
        .subquery()
    )
    last_rating = (
        sa.select(E.c.incident_id.label("iid"), sa.func.max(E.c.at).label("at"))
        .where(E.c.kind == "rating", *ev_where)
        .group_by(E.c.incident_id)
        .subquery()
    )
    rating_ev = (
        sa.select(
            E.c.incident_id.label("iid"),
            sa.func.max(E.c.data["score"].as_integer()).label("score"),
        )
        .join(
            last_rating, sa.and_(last_rating.c.iid == E.c.incident_id, last_rating.c.at == E.c.at)
        )
        .where(E.c.kind == "rating")
        .group_by(E.c.incident_id)
        .subquery()
    )
    joined: Any = (
        INC.outerjoin(resolved_ev, resolved_ev.c.iid == INC.c.id)
        .outerjoin(reopened_ev, reopened_ev.c.iid == INC.c.id)
        .outerjoin(rating_ev, rating_ev.c.iid == INC.c.id)
    )
    if dialect == "postgresql":
        local = INC.c.created_at.op("AT TIME ZONE")(sa.literal(tz, sa.String))
        day: Any = sa.cast(local, sa.Date)
    else:  # a bound zone: one statement text for every call, compiled once
        day = getattr(sa.func, SQLITE_LOCAL_DAY)(
            INC.c.created_at, sa.literal(tz, sa.String), type_=sa.String
        )
    fra, frd, rd = INC.c.first_response_at, INC.c.first_response_due, INC.c.resolution_due
    final_at = sa.case((INC.c.status.in_(_DONE), resolved_ev.c.resolved_at))
    answered = fra.is_not(None)
    fr_seconds = _seconds(dialect, fra, INC.c.created_at)
    settled = sa.and_(answered, final_at.is_not(None))

    def flag(cond: Any) -> Any:
        return sa.case((cond, 1), else_=0)

    return (
        sa.select(
            INC.c.id,
            day.label("day"),
            INC.c.territory,
            INC.c.topic,
            INC.c.source,
            INC.c.executor,
            INC.c.urgency,
            INC.c.status,
            sa.literal(1, sa.Integer).label("n"),
            INC.c.message_count.label("messages"),
            flag(INC.c.urgency == "urgent").label("urgent"),
            flag(INC.c.status.in_(_OPEN)).label("open"),
            flag(answered).label("answered"),
            flag(sa.and_(answered, sa.or_(frd.is_(None), fra <= frd))).label("on_time"),
            flag(resolved_ev.c.resolved_at.is_not(None)).label("resolved"),
            flag(reopened_ev.c.reopens > 0).label("reopened"),
            flag(rating_ev.c.iid.is_not(None)).label("rated"),
            sa.func.coalesce(rating_ev.c.score, 0).label("score"),
            flag(final_at.is_not(None)).label("final"),
            flag(sa.and_(final_at.is_not(None), sa.or_(rd.is_(None), final_at <= rd))).label(
                "final_on_time"
            ),
            flag(settled).label("settled"),
            flag(
                sa.and_(
                    settled,
                    sa.or_(
                        sa.and_(frd.is_not(None), fra > frd),
                        sa.and_(rd.is_not(None), final_at > rd),
                    ),
                )
            ).label("settled_late"),
            sa.case((answered, _bucket_sql(fr_seconds))).label("bucket"),
            sa.cast(
                sa.case((answered, sa.func.round(fr_seconds * 1000)), else_=0), sa.BigInteger
            ).label("fr_ms"),
        )
        .select_from(joined)
        .where(*where)
    )


def profiles(conn: sa.Connection, tz: str, ids: Iterable[int]) -> dict[_Key, list[int]]:
    """The aggregate rows the incidents ``ids`` make (their contribution to every grain)."""
    wanted = sorted({int(i) for i in ids})
    out: dict[_Key, list[int]] = {}
    for chunk in range(0, len(wanted), 500):
        q = _profiles_of_ids(conn.dialect.name, tz)
        for row in conn.execute(q, {"profile_ids": wanted[chunk : chunk + 500]}).all():
            _add_profile(out, row._mapping, 1)
    return out


def _add_profile(acc: dict[_Key, list[int]], p: Any, sign: int) -> None:
    day = p["day"]
    day = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
    values = [int(p[m] or 0) * sign for m in MEASURES]
    for grain, dims in GRAINS.items():
        if grain == "fr":
            if p["bucket"] is None:
                continue
            key: _Key = (grain, day, "", "", "", "", "", "", int(p["bucket"]))
        else:
            key = (grain, day, *((p[d] or "") if d in dims else "" for d in DIMS), 0)
        target = acc.setdefault(key, [0] * len(MEASURES))
        for i, v in enumerate(values):
            target[i] += v


def subtract(after: dict[_Key, list[int]], before: dict[_Key, list[int]]) -> dict[_Key, list[int]]:
    """``after − before``, keys whose every measure cancels left out."""
    out: dict[_Key, list[int]] = defaultdict(lambda: [0] * len(MEASURES))
    for key, values in after.items():
        target = out[key]
        for i, v in enumerate(values):
            target[i] += v
    for key, values in before.items():
        target = out[key]
        for i, v in enumerate(values):
            target[i] -= v
    return {k: v for k, v in out.items() if any(v)}


# the one writer ------------------------------------------------------------------------
_KEY_COLUMNS = ("grain", "day", *DIMS, "bucket")


def apply_delta(conn: sa.Connection, delta: dict[_Key, list[int]]) -> None:
    """Add ``delta`` to the aggregates (in the caller's transaction); drop emptied rows.

    Rows are written in key order, so concurrent writers lock them in the
    same order and do not deadlock each other.
    """
    if not delta:
        return
    rows = []
    for key in sorted(delta, key=lambda k: (k[0], k[1], *k[2:8], k[8])):
        row = dict(zip(_KEY_COLUMNS, key, strict=True))
        row.update(zip(MEASURES, delta[key], strict=True))
        rows.append(row)
    stmt = dialect_insert(conn.dialect.name, AGG)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY_COLUMNS),
        set_={m: AGG.c[m] + stmt.excluded[m] for m in MEASURES},
    )
    conn.execute(stmt, rows)
    emptied = [r for r in rows if r["n"] < 0]
    if emptied:
        conn.execute(
            AGG.delete().where(
                *(AGG.c[c] == sa.bindparam(f"k_{c}") for c in _KEY_COLUMNS), AGG.c.n == 0
            ),
            [{f"k_{c}": r[c] for c in _KEY_COLUMNS} for r in emptied],
        )


class Tracker:
    """The aggregates' side of one write transaction: profiles before, then after.

    ``before(ids)`` records the incidents' profiles as they are stored now
    (call it before changing them; an id is recorded once); ``commit(ids)``
    — after every write, in the same transaction — adds the difference
    between their stored profiles now and those recorded (new incidents
    had none) to the aggregates.
    """

    def __init__(self, conn: sa.Connection, *, enabled: bool = True) -> None:
        self.conn = conn
        self.tz = stored_tz(conn, lock=True) if enabled else None
        self._seen: set[int] = set()
        self._before: dict[_Key, list[int]] = {}

    def before(self, ids: Iterable[int | None]) -> None:
        if self.tz is None:
            return
        fresh = {int(i) for i in ids if i is not None and int(i) > 0} - self._seen
        if not fresh:
            return
        self._seen |= fresh
        if self.conn.dialect.name == "postgresql":  # no other writer changes them meanwhile
            self.conn.execute(
                sa.select(INC.c.id)
                .where(INC.c.id.in_(sorted(fresh)))
                .order_by(INC.c.id)
                .with_for_update()
            ).all()
        for key, values in profiles(self.conn, self.tz, fresh).items():
            target = self._before.setdefault(key, [0] * len(MEASURES))
            for i, v in enumerate(values):
                target[i] += v

    def commit(self, new_ids: Iterable[int] = ()) -> None:
        if self.tz is None:
            return
        touched = self._seen | {int(i) for i in new_ids}
        if not touched:
            return
        after = profiles(self.conn, self.tz, touched)
        apply_delta(self.conn, subtract(after, self._before))
        self._seen.clear()
        self._before = {}


# rebuild -------------------------------------------------------------------------------
def rebuild(conn: sa.Connection, tz: str) -> int:
    """Recompute every aggregate from the incidents, by local days of ``tz``; rows written.

    Runs in the caller's transaction. On PostgreSQL the aggregates are locked
    first (after the zone's row, in the writers' order): writes that began
    before wait and add their own difference after it, so nothing is lost or
    counted twice.
    """
    ZoneInfo(tz)  # a valid zone, or ZoneInfoNotFoundError
    _set_tz(conn, tz)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"LOCK TABLE {AGG.name} IN EXCLUSIVE MODE"))
    conn.execute(AGG.delete())
    q = profile_select(conn, tz)
    # every incident's profile once, into a temporary table the grains are grouped from
    temp = _profile_table(conn.dialect.name)
    temp.create(conn)
    names = ["day", *DIMS, *MEASURES, "bucket"]
    source = q.subquery("p")
    conn.execute(temp.insert().from_select(names, sa.select(*[source.c[n] for n in names])))
    prof = temp
    for grain, dims in GRAINS.items():
        group: list[Any] = [prof.c.day]
        keys: list[Any] = [sa.literal(grain, sa.String).label("grain"), prof.c.day]
        for d in DIMS:
            if d in dims:
                expr = sa.func.coalesce(prof.c[d], "")
                group.append(expr)
                keys.append(expr.label(d))
            else:
                keys.append(sa.literal("", sa.String).label(d))
        if grain == "fr":
            group.append(prof.c.bucket)
            keys.append(prof.c.bucket.label("bucket"))
        else:
            keys.append(sa.literal(0, sa.Integer).label("bucket"))
        sums = [sa.func.sum(prof.c[m]).label(m) for m in MEASURES]
        # in the primary key's order: the index grows at its end, not all over
        sel = sa.select(*keys, *sums).group_by(*group).order_by(*group)
        if grain == "fr":
            sel = sel.where(prof.c.bucket.is_not(None))
        conn.execute(AGG.insert().from_select([*_KEY_COLUMNS, *MEASURES], sel))
    temp.drop(conn)
    conn.execute(sa.text(f"ANALYZE {AGG.name}"))  # the planner learns the new table's shape
    return int(conn.execute(sa.select(sa.func.count()).select_from(AGG)).scalar() or 0)


def _profile_table(dialect: str) -> sa.Table:
    """A temporary table for the profiles of a rebuild (its days as SQLite gives them)."""
    day: Any = sa.Date() if dialect == "postgresql" else sa.String(10)
    return sa.Table(
        "tsur_profile",
        sa.MetaData(),
        sa.Column("day", day),
        *(sa.Column(d, sa.String(64)) for d in DIMS),
        *(sa.Column(m, sa.BigInteger) for m in MEASURES),
        sa.Column("bucket", sa.Integer),
        prefixes=["TEMPORARY"],
    )


def _set_tz(conn: sa.Connection, tz: str) -> None:
    if conn.execute(sa.select(META.c.key).where(META.c.key == "tz").with_for_update()).first():
        conn.execute(META.update().where(META.c.key == "tz").values(value=tz))
    else:
        conn.execute(META.insert().values(key="tz", value=tz))


def ensure(engine: sa.Engine, tz: str) -> bool:
    """Rebuild the aggregates in ``tz`` unless they are kept in it already; whether it did."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(META.name):
            conn.rollback()
            return False
        current = stored_tz(conn)
        conn.rollback()
    if current == tz:
        return False
    with engine.begin() as conn:
        # the zone's row locked for update at once: two engines opening the store
        # together rebuild one after the other (the second finds nothing to do)
        q = sa.select(META.c.value).where(META.c.key == "tz").with_for_update()
        if conn.execute(q).scalar() == tz:
            return False
        rebuild(conn, tz)
    return True


def split_days(
    since: datetime, until: datetime, tz: ZoneInfo
) -> tuple[tuple[date, date] | None, list[tuple[datetime, datetime]]]:
    """``[since, until)`` as whole local days of ``tz`` (first, after last), which the
    aggregates answer, and the partial days at its edges (instants), which are counted
    over the incidents; ``(None, [(since, until)])`` when no day lies wholly inside,
    ``(None, [])`` for an empty period."""
    if since >= until:
        return None, []
    first = since.astimezone(tz).date()
    lo = datetime.combine(first, time(0), tzinfo=tz)
    if lo < since:
        first += timedelta(days=1)
        lo = datetime.combine(first, time(0), tzinfo=tz)
    last = until.astimezone(tz).date()
    hi = datetime.combine(last, time(0), tzinfo=tz)
    if first >= last or lo >= hi:
        return None, [(since, until)]
    return (first, last), [(a, b) for a, b in ((since, lo), (hi, until)) if a < b]
