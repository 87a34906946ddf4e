"""Aggregations over the incident store, computed by the database.

Every query filters on ``incidents.created_at`` and groups in SQL by raw
columns (territory, topic, source, a local-time bucket). The grouped result
is small — territories × topics × buckets — and is then rolled up in Python
along the region's trees: a settlement or city district counts for its
municipality, a subtopic for its direction. One code path serves SQLite and
PostgreSQL; only the local-date and duration expressions differ.

Local dates: PostgreSQL converts with ``AT TIME ZONE``; on SQLite, which
has no time zones, the local midnights are computed in Python and the
incidents joined to them (:meth:`Analytics.bucket_table`) — exact in any
zone, and one ``created_at`` index range per bucket.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from tsur.analytics.periods import Period, parse_period
from tsur.analytics.records import (
    ChannelShare,
    IncidentPoint,
    MunicipalityStats,
    Problem,
    TrendPoint,
)
from tsur.analytics.region import RegionIndex
from tsur.domain import Status
from tsur.errors import ReportError, StorageError
from tsur.region import Region
from tsur.store import aggregates, schema
from tsur.store.base import Repository

if TYPE_CHECKING:
    from tsur.protocols import EngineView

__all__ = [
    "INC",
    "OPEN_STATUSES",
    "UNITS",
    "Analytics",
    "count_if",
    "overdue_clause",
    "require_aware",
]

INC = schema.incidents
AGG = schema.analytics_daily
OPEN_STATUSES: tuple[str, ...] = tuple(s.value for s in Status if s.is_open)
#: Time buckets a count can be grouped by.
UNITS = ("day", "week", "month")
_GROUPS = (
    "territory",
    "municipality",
    "topic",
    "direction",
    "source",
    "channel",
    "executor",
    "urgency",
    "status",
    *UNITS,
)
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]+$")
Col = sa.ColumnElement[Any]


def _sa_engine(repository: Repository) -> sa.Engine:
    eng = getattr(repository, "engine", None)
    if not isinstance(eng, sa.Engine):
        raise ReportError(
            f"analytics runs on the SQL store (SQLite or PostgreSQL); "
            f"got {type(repository).__name__}"
        )
    return eng


def overdue_clause(at: datetime) -> Col:
    """True for an incident still open past a deadline at ``at`` (as the engine counts it)."""
    return sa.and_(
        INC.c.status.in_(OPEN_STATUSES),
        sa.or_(
            sa.and_(INC.c.first_response_at.is_(None), INC.c.first_response_due < at),
            INC.c.resolution_due < at,
        ),
    )


def count_if(cond: Col) -> Col:
    """SQL counting the rows where ``cond`` holds (0 for none)."""
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def require_aware(**values: datetime) -> None:
    """Raise :class:`ReportError` for a naive datetime (names the argument)."""
    for name, value in values.items():
        if value.tzinfo is None or value.utcoffset() is None:
            raise ReportError(
                f"{value.isoformat()} has no time zone; give an aware datetime", option=name
            )


def _next_bucket(d: date, unit: str) -> date:
    if unit == "day":
        return d + timedelta(days=1)
    if unit == "week":
        return d + timedelta(days=7)
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


class Analytics:
    """Analytics for one region over its store.

    ``Analytics.for_engine(engine)`` is the usual way to get one. Methods
    take aware datetimes ``since``/``until`` (half-open) and return plain
    attrs records; :mod:`tsur.analytics.report` turns them into a report.
    """

    def __init__(
        self, repository: Repository, region: Region, *, use_aggregates: bool = True
    ) -> None:
        self.repository = repository
        #: read whole days from the daily aggregates when they are kept in the region's zone
        self.use_aggregates = use_aggregates
        self._has_aggregates: bool | None = None
        self._zone: tuple[ZoneInfo | None] | None = None  # cached inside a snapshot
        self.engine = _sa_engine(repository)
        self.dialect = self.engine.dialect.name
        self.config = region.config
        self.region = RegionIndex(region)
        self.tz = region.calendar.tz
        if not _ZONE_NAME.match(self.tz.key):
            raise ReportError(f"time zone name {self.tz.key!r} cannot be used in SQL")
        self._conn: sa.Connection | None = None
        #: Time buckets by joining a table of boundaries (SQLite) or by date_trunc.
        self.bucket_join = self.dialect != "postgresql"

    @classmethod
    def for_engine(cls, engine: EngineView, *, use_aggregates: bool = True) -> Analytics:
        """Analytics over an :class:`~tsur.Engine`'s store and region.

        ``use_aggregates=False`` counts every figure over the incidents
        (slower; the same figures, but the median first response exact).
        """
        return cls(engine.repository, engine.region, use_aggregates=use_aggregates)

    def period(self, text: str) -> Period:
        """A reporting period in the region's time zone (see :func:`parse_period`)."""
        return parse_period(text, self.tz)

    # connections ------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[Analytics]:
        """Run every query inside the block in one read transaction (one consistent view).

        On SQLite the store begins every transaction with ``BEGIN IMMEDIATE``,
        so the block holds the write lock: keep it short, and do not open
        other transactions on the same database inside it.
        """
        if self._conn is not None:
            yield self
            return
        try:
            with self.engine.connect() as conn:
                if self.dialect == "postgresql":  # one view for every query of the block
                    conn.execution_options(isolation_level="REPEATABLE READ")
                self._conn = conn
                try:
                    yield self
                finally:
                    self._conn = None
                    self._zone = None
                    conn.rollback()
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"analytics query failed: {exc.orig or exc}") from exc

    def fetch(self, query: sa.Executable) -> list[sa.Row[Any]]:
        """Run a query (in the open :meth:`snapshot`, if any) and return its rows."""
        try:
            if self._conn is not None:
                return list(self._conn.execute(query).all())
            with self.engine.connect() as conn:
                rows = list(conn.execute(query).all())
                conn.rollback()
                return rows
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"analytics query failed: {exc.orig or exc}") from exc

    # daily aggregates ---------------------------------------------------------------
    def aggregate_zone(self) -> ZoneInfo | None:
        """The zone the daily aggregates are kept in, when they can be used; else None.

        None when ``use_aggregates`` is off, the store has none (an old schema
        opened read-only) or they are not kept (yet). Inside a :meth:`snapshot`
        the answer is read once.
        """
        if not self.use_aggregates:
            return None
        if self._conn is not None and self._zone is not None:
            return self._zone[0]
        if self._has_aggregates is None:
            table = schema.analytics_meta.name
            if self._conn is not None:  # inside a snapshot: its own connection, no other
                self._has_aggregates = sa.inspect(self._conn).has_table(table)
            else:
                with self.engine.connect() as plain:
                    conn = plain.execution_options(tsur_read=True)
                    self._has_aggregates = sa.inspect(conn).has_table(table)
                    conn.rollback()
        zone: ZoneInfo | None = None
        if self._has_aggregates:
            name = self.fetch(
                sa.select(schema.analytics_meta.c.value).where(schema.analytics_meta.c.key == "tz")
            )
            if name and name[0][0]:
                zone = ZoneInfo(str(name[0][0]))
        if self._conn is not None:
            self._zone = (zone,)
        return zone

    def split_days(
        self, since: datetime, until: datetime, tz: ZoneInfo
    ) -> tuple[tuple[date, date] | None, list[tuple[datetime, datetime]]]:
        """``[since, until)`` as whole local days of ``tz`` (first, after last) and the
        partial days at its edges (instants); ``(None, [(since, until)])`` when no
        day lies wholly inside."""
        return aggregates.split_days(since, until, tz)

    def aggregate_rows(
        self,
        grain: str,
        days: tuple[date, date],
        columns: Sequence[str],
        measures: Sequence[str] = ("n",),
        *,
        unit: str | None = None,
    ) -> list[tuple[Any, ...]]:
        """Sums of ``measures`` of grain ``grain`` over the local days ``[first, last)``,
        grouped by ``columns`` (and the first day of the ``unit`` a day is in): rows
        ``(*columns, [bucket], *sums)``, missing values as None."""
        by_day = unit is not None
        keys: list[Col] = [AGG.c[c] for c in columns]
        if unit is not None:
            keys.append(self._unit_of_day(unit))
        q = (
            sa.select(*keys, *[sa.func.sum(AGG.c[m]) for m in measures])
            .where(AGG.c.grain == grain, AGG.c.day >= days[0], AGG.c.day < days[1])
            .group_by(*keys)
        )
        out = []
        for row in self.fetch(q):
            values = list(row)
            for i, c in enumerate(columns):
                if c != "bucket" and values[i] == "":
                    values[i] = None
            if by_day:
                values[len(columns)] = _as_date(values[len(columns)])
            out.append(tuple(values))
        return out

    def _unit_of_day(self, unit: str) -> Col:
        """SQL for the first day of the ``unit`` an aggregate's day falls in."""
        day = AGG.c.day
        if unit == "day":
            return day
        if self.dialect == "postgresql":
            return sa.cast(sa.func.date_trunc(unit, day), sa.Date)
        if unit == "month":
            return sa.func.date(day, "start of month")
        # the Monday on or before: %w counts from Sunday (0)
        back = (sa.cast(sa.func.strftime("%w", day), sa.Integer) + 6) % 7
        return sa.func.date(day, sa.literal("-") + sa.cast(back, sa.String) + " days")

    @staticmethod
    def grain_for(columns: Sequence[str]) -> str | None:
        """The smallest grain of the aggregates that has every one of ``columns``."""
        for grain in ("so", "us", "to", "es", "tt"):
            if set(columns) <= set(aggregates.GRAINS[grain]):
                return grain
        return None

    # SQL building blocks ----------------------------------------------------------
    def bucket_table(self, unit: str, since: datetime, until: datetime) -> sa.CTE:
        """The local days (weeks, months) of ``[since, until)`` as a table ``(b, lo, hi)``.

        ``b`` is the bucket's first day (ISO text), ``lo``/``hi`` the instants
        it spans, computed here from the region's time zone (so transitions
        are exact). Joining on ``lo <= created_at < hi`` lets the database
        walk the ``created_at`` index once per bucket.
        """
        rows = self._bucket_rows(unit, since, until)
        table = sa.values(
            sa.column("b", sa.String),
            sa.column("lo", schema.UTCDateTime()),
            sa.column("hi", schema.UTCDateTime()),
            name="buckets",
        )
        return table.data(rows).cte("buckets")

    def _bucket_rows(
        self, unit: str, since: datetime, until: datetime
    ) -> list[tuple[str, datetime, datetime]]:
        out = []
        for d in self.buckets(since, until, unit):
            lo = datetime.combine(d, time(0), tzinfo=self.tz)
            hi = datetime.combine(_next_bucket(d, unit), time(0), tzinfo=self.tz)
            out.append((d.isoformat(), max(lo, since), min(hi, until)))
        return out

    def bucketed(
        self, unit: str, since: datetime, until: datetime, columns: Sequence[str]
    ) -> sa.Subquery:
        """Incidents of ``[since, until)``: ``columns`` and their local time ``bucket``.

        PostgreSQL computes the bucket with ``date_trunc(… AT TIME ZONE …)``;
        SQLite, which has no time zones, joins :meth:`bucket_table`.
        """
        if unit not in UNITS:
            raise ReportError(f"unknown time unit {unit!r}; use {', '.join(UNITS)}", option="unit")
        cols: list[Col] = [INC.c[c].label(c) for c in columns]
        if not self.bucket_join:
            local = INC.c.created_at.op("AT TIME ZONE")(sa.literal_column(f"'{self.tz.key}'"))
            trunc = sa.func.date_trunc(sa.literal_column(f"'{unit}'"), local)
            bucket = sa.cast(trunc, sa.Date).label("bucket")
            return sa.select(*cols, bucket).where(self.in_range(since, until)).subquery()
        if since >= until:
            empty = sa.select(*cols, sa.literal_column("NULL").label("bucket"))
            return empty.where(sa.false()).subquery()
        t = self.bucket_table(unit, since, until)
        on = sa.and_(INC.c.created_at >= t.c.lo, INC.c.created_at < t.c.hi)
        return sa.select(*cols, t.c.b.label("bucket")).select_from(INC.join(t, on)).subquery()

    def duration_seconds(self, later: Col, earlier: Col) -> Col:
        """SQL for ``later - earlier`` in seconds."""
        if self.dialect == "postgresql":
            return sa.func.extract("epoch", later - earlier)
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0

    @staticmethod
    def in_range(since: datetime, until: datetime) -> Col:
        """``since <= created_at < until``."""
        return sa.and_(INC.c.created_at >= since, INC.c.created_at < until)

    # counts ------------------------------------------------------------------
    def counts(
        self, since: datetime, until: datetime, *, by: Sequence[str] = ("municipality", "topic")
    ) -> list[dict[str, Any]]:
        """Incident counts grouped by any of :data:`_GROUPS`, largest first.

        ``territory``/``municipality``, ``topic``/``direction``,
        ``source``/``channel``, ``executor``, ``urgency``, ``status`` and one
        of ``day``/``week``/``month`` (local time; the bucket's first day).
        """
        require_aware(since=since, until=until)
        unknown = [g for g in by if g not in _GROUPS]
        if unknown or not by:
            raise ReportError(
                f"cannot group by {unknown or 'nothing'}; choose from {', '.join(_GROUPS)}",
                option="by",
            )
        units = [g for g in by if g in UNITS]
        if len(units) > 1:
            raise ReportError("group by one time unit at most", option="by")
        raw = {"municipality": "territory", "direction": "topic", "channel": "source"}
        columns = list(dict.fromkeys(raw.get(g, g) for g in by if g not in UNITS))
        rows = self.grouped(columns, units[0] if units else None, since, until)
        totals: dict[tuple[Any, ...], int] = defaultdict(int)
        for row in rows:
            values = dict(zip(columns, row[: len(columns)], strict=True))
            key: list[Any] = []
            for g in by:
                if g in UNITS:
                    key.append(_as_date(row[len(columns)]))
                elif g == "municipality":
                    key.append(self.region.municipality_of(values["territory"]))
                elif g == "direction":
                    key.append(self.region.direction_of(values["topic"]))
                elif g == "channel":
                    key.append(self.region.channel_of(values["source"]))
                else:
                    key.append(values[g])
            totals[tuple(key)] += int(row[-1])
        out = [{**dict(zip(by, k, strict=True)), "count": n} for k, n in totals.items()]
        out.sort(key=lambda r: (-r["count"], [str(r[g]) for g in by]))
        return out

    def grouped(
        self, columns: Sequence[str], unit: str | None, since: datetime, until: datetime
    ) -> list[tuple[Any, ...]]:
        """Rows ``(*columns, [bucket], n)``: incidents of ``[since, until)`` counted by raw
        ``columns`` (and the ``unit`` they fall in).

        Whole local days come from the daily aggregates when a grain has the
        columns (and, for a unit, the aggregates are kept in the region's
        zone); the partial days at the edges, and everything else, are
        counted over the incidents.
        """
        columns = list(columns)
        zone = self.aggregate_zone()
        grain = self.grain_for(columns) if columns else "us"
        if zone is None or grain is None or (unit is not None and zone.key != self.tz.key):
            return [tuple(r) for r in self._grouped(columns, unit, since, until)]
        days, edges = self.split_days(since, until, zone)
        rows: list[tuple[Any, ...]] = []
        if days is not None:
            for row in self.aggregate_rows(grain, days, columns, unit=unit):
                if row[-1]:
                    rows.append(row)
        for lo, hi in edges:
            rows.extend(tuple(r) for r in self._grouped(columns, unit, lo, hi))
        return rows

    def _grouped(
        self, columns: list[str], unit: str | None, since: datetime, until: datetime
    ) -> list[sa.Row[Any]]:
        """Rows ``(*columns, [bucket], n)``: counts grouped in SQL over the incidents."""
        if unit is None:
            cols: list[Col] = [INC.c[c].label(c) for c in columns]
            q = sa.select(*cols, sa.func.count().label("n")).where(self.in_range(since, until))
            return self.fetch(q.group_by(*cols))
        if unit == "month" and self.bucket_join:
            # SQLite sorts a GROUP BY: a month at a time is ~3× faster than all at once
            rows: list[sa.Row[Any]] = []
            parts = [
                sa.select(
                    *[INC.c[c].label(c) for c in columns],
                    sa.literal(b, sa.String).label("bucket"),
                    sa.func.count().label("n"),
                )
                .where(INC.c.created_at >= lo, INC.c.created_at < hi)
                .group_by(*[INC.c[c] for c in columns])
                for b, lo, hi in self._bucket_rows(unit, since, until)
            ]
            for i in range(0, len(parts), 200):  # SQLite allows 500 SELECTs in a compound
                rows.extend(self.fetch(sa.union_all(*parts[i : i + 200])))
            return rows
        inner = self.bucketed(unit, since, until, columns)
        keys = [inner.c[c] for c in columns] + [inner.c.bucket]
        return self.fetch(sa.select(*keys, sa.func.count().label("n")).group_by(*keys))

    def total(self, since: datetime, until: datetime) -> int:
        """Number of incidents created in ``[since, until)``."""
        require_aware(since=since, until=until)
        return sum(int(r[-1]) for r in self.grouped([], None, since, until))

    # municipalities --------------------------------------------------------------
    def municipality_stats(
        self, since: datetime, until: datetime, *, at: datetime
    ) -> list[MunicipalityStats]:
        """Figures per municipality, every municipality listed (zeros included).

        ``overdue`` counts incidents still open past a deadline at ``at``;
        ``answered_on_time`` those whose first answer came by its deadline.
        The last row (id None) holds incidents without a municipality.
        """
        require_aware(since=since, until=until, at=at)
        fields = ("n", "overdue", "urgent", "open", "answered", "on_time", "messages")
        acc: dict[str | None, dict[str, int]] = defaultdict(lambda: dict.fromkeys(fields, 0))
        for territory, values in self._territory_figures(since, until, at).items():
            target = acc[self.region.municipality_of(territory)]
            for f in fields:
                target[f] += values[f]
        out = []
        ids: list[str | None] = [*self.region.municipalities, None]
        for mid in ids:
            a = acc.get(mid, dict.fromkeys(fields, 0))
            if mid is None and not a["n"]:
                continue
            m = self.region.municipalities.get(mid) if mid is not None else None
            population = m.population if m else None
            out.append(
                MunicipalityStats(
                    id=mid,
                    name=self.region.municipality_name(mid),
                    kind=m.kind if m else None,
                    population=population,
                    count=a["n"],
                    per_10k=self.region.per_10k(a["n"], population),
                    overdue=a["overdue"],
                    overdue_share=round(a["overdue"] / a["n"], 4) if a["n"] else None,
                    urgent=a["urgent"],
                    open=a["open"],
                    answered=a["answered"],
                    answered_on_time=a["on_time"],
                    on_time_share=round(a["on_time"] / a["answered"], 4) if a["answered"] else None,
                    messages=a["messages"],
                    lat=m.lat if m else None,
                    lon=m.lon if m else None,
                )
            )
        return out

    def _territory_figures(
        self, since: datetime, until: datetime, at: datetime
    ) -> dict[str | None, dict[str, int]]:
        """Per raw territory: n, overdue (at ``at``), urgent, open, answered, on_time, messages."""
        answered = INC.c.first_response_at.is_not(None)
        on_time = sa.and_(
            answered,
            sa.or_(
                INC.c.first_response_due.is_(None),
                INC.c.first_response_at <= INC.c.first_response_due,
            ),
        )
        exact_measures: dict[str, Col] = {
            "n": sa.func.count(),
            "urgent": count_if(INC.c.urgency == "urgent"),
            "open": count_if(INC.c.status.in_(OPEN_STATUSES)),
            "answered": count_if(answered),
            "on_time": count_if(on_time),
            "messages": sa.func.coalesce(sa.func.sum(INC.c.message_count), 0),
        }
        names = list(exact_measures)
        out: dict[str | None, dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(["overdue", *names], 0)
        )

        def exact(lo: datetime, hi: datetime) -> None:
            q = (
                sa.select(INC.c.territory, *exact_measures.values())
                .where(self.in_range(lo, hi))
                .group_by(INC.c.territory)
            )
            for got in self.fetch(q):
                for name, count in zip(names, list(got)[1:], strict=True):
                    out[got[0]][name] += int(count or 0)

        zone = self.aggregate_zone()
        if zone is None:
            exact(since, until)
        else:
            days, edges = self.split_days(since, until, zone)
            if days is not None:
                for row in self.aggregate_rows("tt", days, ["territory"], names):
                    for name, value in zip(names, row[1:], strict=True):
                        out[row[0]][name] += int(value or 0)
            for lo, hi in edges:
                exact(lo, hi)
        # overdue depends on the moment: counted over the open incidents, always exactly
        q = (
            sa.select(INC.c.territory, sa.func.count().label("n"))
            .where(self.in_range(since, until), overdue_clause(at))
            .group_by(INC.c.territory)
        )
        for late in self.fetch(q):
            out[late.territory]["overdue"] += int(late.n)
        return out

    # top problems --------------------------------------------------------------------
    def _problem_counts(
        self, start: datetime, end: datetime, previous_start: datetime
    ) -> dict[tuple[str | None, str], list[int]]:
        require_aware(since=start, until=end, previous_since=previous_start)
        acc: dict[tuple[str | None, str], list[int]] = defaultdict(lambda: [0, 0])
        for slot, (lo, hi) in enumerate(((start, end), (previous_start, start))):
            for territory, topic, n in self.grouped(["territory", "topic"], None, lo, hi):
                if topic is not None:
                    acc[(self.region.municipality_of(territory), topic)][slot] += int(n)
        return acc

    def _problems(
        self,
        counts: dict[str, list[int]],
        limit: int | None,
        municipality: str | None = None,
        in_municipality: bool = False,
    ) -> list[Problem]:
        total = sum(c for c, _ in counts.values()) or 1
        items = [(t, c, p) for t, (c, p) in counts.items() if c > 0]
        items.sort(key=lambda x: (-x[1], -(x[1] - x[2]), x[0]))
        out = []
        for topic, cur, prev in items[:limit]:
            out.append(
                Problem(
                    topic=topic,
                    label=self.region.topic_label(topic),
                    direction=self.region.direction_of(topic),
                    count=cur,
                    previous=prev,
                    change=cur - prev,
                    change_pct=round((cur - prev) * 100 / prev, 1) if prev else None,
                    share=round(cur / total, 4),
                    municipality=municipality if in_municipality else None,
                    municipality_name=(
                        self.region.municipality_name(municipality) if in_municipality else None
                    ),
                )
            )
        return out

    def top_problems(
        self,
        since: datetime,
        until: datetime,
        previous_since: datetime,
        *,
        limit: int | None = 10,
        level: str = "topic",
        municipality: str | None = None,
    ) -> list[Problem]:
        """Topics with the most incidents, with the count of ``[previous_since, since)``.

        ``level="direction"`` ranks directions instead of topics;
        ``municipality`` restricts to one municipality (its settlements included).
        """
        if level not in {"topic", "direction"}:
            raise ReportError(f"level must be topic or direction, not {level!r}", option="level")
        if municipality is not None and municipality not in self.region.municipalities:
            raise ReportError(f"unknown municipality {municipality!r}", option="municipality")
        merged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (mid, topic), (cur, prev) in self._problem_counts(since, until, previous_since).items():
            if municipality is not None and mid != municipality:
                continue
            key = topic if level == "topic" else (self.region.direction_of(topic) or topic)
            merged[key][0] += cur
            merged[key][1] += prev
        return self._problems(merged, limit, municipality, municipality is not None)

    def top_problems_by_municipality(
        self, since: datetime, until: datetime, previous_since: datetime, *, limit: int = 3
    ) -> list[Problem]:
        """The ``limit`` leading topics of every municipality (one query for all)."""
        per: dict[str | None, dict[str, list[int]]] = defaultdict(dict)
        for (mid, topic), pair in self._problem_counts(since, until, previous_since).items():
            per[mid][topic] = pair
        out: list[Problem] = []
        for mid in self.region.municipalities:
            if mid in per:
                out.extend(self._problems(per[mid], limit, mid, True))
        return out

    # trends ---------------------------------------------------------------------------
    def buckets(self, since: datetime, until: datetime, unit: str) -> list[date]:
        """Every local day (Monday, first of month) from ``since`` up to ``until``."""
        require_aware(since=since, until=until)
        first = since.astimezone(self.tz).date()
        last = (until - timedelta(microseconds=1)).astimezone(self.tz).date()
        if unit == "week":
            first -= timedelta(days=first.weekday())
        elif unit == "month":
            first = first.replace(day=1)
        out = []
        d = first
        while d <= last:
            out.append(d)
            d = _next_bucket(d, unit)
        return out

    def trend(
        self,
        since: datetime,
        until: datetime,
        *,
        unit: str = "day",
        by: str | None = "direction",
        series: Sequence[str] | None = None,
        municipality: str | None = None,
    ) -> list[TrendPoint]:
        """Counts per time bucket, zero-filled: the total (series ``"*"``) and per ``by``.

        ``by`` is ``"direction"``, ``"topic"``, ``"channel"`` or None;
        ``series`` keeps only those keys (all by default).
        """
        groups = [unit] + (["municipality"] if municipality else []) + ([by] if by else [])
        rows = self.counts(since, until, by=groups)
        if municipality:
            rows = [r for r in rows if r["municipality"] == municipality]
        buckets = self.buckets(since, until, unit)
        totals: dict[tuple[date, str], int] = defaultdict(int)
        keys: set[str] = set()
        for r in rows:
            totals[(r[unit], "*")] += r["count"]
            if by:
                key = str(r[by])
                if series is None or key in series:
                    keys.add(key)
                    totals[(r[unit], key)] += r["count"]
        order = ["*", *(series if series is not None else sorted(keys))]
        return [TrendPoint(b, s, totals.get((b, s), 0)) for s in order for b in buckets]

    def seasonality(
        self, until: datetime, *, years: int = 3, unit: str = "month", by: str | None = "direction"
    ) -> list[dict[str, Any]]:
        """Seasonal profile: mean count per month of year (or ISO week) and its index.

        Counts of the ``years`` before ``until`` (from the first bucket with
        any incident on) are averaged per month of the year (1–12) or ISO
        week (1–53); ``index`` is that mean divided
        by the mean over the whole year, so 1.5 means «half as many again as
        usual». Rows: ``series``, ``unit``, ``number``, ``mean``, ``index``, ``years``.
        """
        if unit not in {"month", "week"}:
            raise ReportError("seasonality is by month or week", option="unit")
        since = until - timedelta(days=round(365.25 * years))
        points = self.trend(since, until, unit=unit, by=by)
        started = [p.bucket for p in points if p.series == "*" and p.count]
        if not started:
            return []
        sums: dict[tuple[str, int], list[int]] = defaultdict(list)
        for p in points:
            if p.bucket < started[0]:  # before the first incident: no history, not zero
                continue
            number = p.bucket.month if unit == "month" else p.bucket.isocalendar()[1]
            sums[(p.series, number)].append(p.count)
        by_series: dict[str, list[tuple[int, float, int]]] = defaultdict(list)
        for (s, number), values in sums.items():
            by_series[s].append((number, sum(values) / len(values), len(values)))
        out = []
        for s, items in by_series.items():
            overall = sum(m for _, m, _ in items) / len(items) if items else 0.0
            if overall == 0:
                continue
            for number, mean, n in sorted(items):
                out.append(
                    {
                        "series": s,
                        "unit": unit,
                        "number": number,
                        "mean": round(mean, 2),
                        "index": round(mean / overall, 3),
                        "years": n,
                    }
                )
        return out

    # channels, points, medians -------------------------------------------------------
    def channel_mix(self, since: datetime, until: datetime) -> list[ChannelShare]:
        """Incidents by the kind of channel they came through (VK, ПОС, hotline …)."""
        rows = self.counts(since, until, by=("source",))
        total = sum(r["count"] for r in rows) or 1
        kinds: dict[str, list[Any]] = {}
        for r in rows:
            kind = self.region.channel_of(r["source"])
            entry = kinds.setdefault(kind, [0, []])
            entry[0] += r["count"]
            entry[1].append(r["source"] or "unknown")
        out = [
            ChannelShare(kind, tuple(sorted(srcs)), n, round(n / total, 4))
            for kind, (n, srcs) in kinds.items()
        ]
        out.sort(key=lambda c: (-c.count, c.kind))
        return out

    def points(
        self, since: datetime, until: datetime, *, at: datetime, limit: int = 5000
    ) -> list[IncidentPoint]:
        """Geotagged incidents (newest first, at most ``limit``)."""
        require_aware(since=since, until=until, at=at)
        q = (
            sa.select(
                INC.c.id,
                INC.c.lat,
                INC.c.lon,
                INC.c.topic,
                INC.c.territory,
                INC.c.status,
                INC.c.urgency,
                INC.c.created_at,
                overdue_clause(at).label("overdue"),
            )
            .where(self.in_range(since, until), INC.c.lat.is_not(None), INC.c.lon.is_not(None))
            .order_by(INC.c.created_at.desc(), INC.c.id.desc())
            .limit(limit)
        )
        return [
            IncidentPoint(
                id=int(r.id),
                lat=float(r.lat),
                lon=float(r.lon),
                topic=r.topic,
                label=self.region.topic_label(r.topic),
                municipality=self.region.municipality_of(r.territory),
                status=r.status,
                urgency=r.urgency,
                overdue=bool(r.overdue),
                created_at=r.created_at,
            )
            for r in self.fetch(q)
        ]

    def median_first_response(
        self, since: datetime, until: datetime, *, by_executor: bool = False
    ) -> dict[str | None, float]:
        """Median seconds from an incident's creation to its first answer.

        Key None holds the whole region unless ``by_executor``. The region's
        median is read from the daily aggregates' histogram when they are
        kept (whole days; the partial days at the edges exactly): within
        ``RELATIVE_ERROR · |exact| + ABSOLUTE_ERROR_S`` — 1 % plus 2 s — of
        the exact median (:mod:`tsur.store.aggregates`). Otherwise, and per
        executor, it is exact: computed in the database with window
        functions (the middle one or two rows of each group).
        """
        require_aware(since=since, until=until)
        seconds = self.duration_seconds(INC.c.first_response_at, INC.c.created_at)
        zone = self.aggregate_zone()
        if zone is not None and not by_executor:
            return self._median_from_histogram(since, until, zone, seconds)
        group: Col = INC.c.executor if by_executor else sa.literal_column("'*'")
        inner = (
            sa.select(
                group.label("g"),
                seconds.label("s"),
                sa.func.row_number().over(partition_by=group, order_by=seconds).label("rn"),
                sa.func.count().over(partition_by=group).label("cnt"),
            )
            .where(self.in_range(since, until), INC.c.first_response_at.is_not(None))
            .subquery()
        )
        q = (
            sa.select(inner.c.g, sa.func.avg(inner.c.s))
            .where(inner.c.rn.in_([(inner.c.cnt + 1) // 2, (inner.c.cnt + 2) // 2]))
            .group_by(inner.c.g)
        )
        out: dict[str | None, float] = {}
        for row in self.fetch(q):
            key, seconds = tuple(row)
            out[key if by_executor else None] = round(float(seconds), 1)
        return out

    def _median_from_histogram(
        self, since: datetime, until: datetime, zone: ZoneInfo, seconds: Col
    ) -> dict[str | None, float]:
        """The region's median first response from the aggregates' histogram
        (whole days) and the exact durations of the partial days at the edges."""
        days, edges = self.split_days(since, until, zone)
        counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        if days is not None:
            for bucket, n, ms in self.aggregate_rows("fr", days, ["bucket"], ("n", "fr_ms")):
                counts[int(bucket)][0] += int(n)
                counts[int(bucket)][1] += int(ms)
        for lo, hi in edges:
            q = sa.select(seconds).where(
                self.in_range(lo, hi), INC.c.first_response_at.is_not(None)
            )
            for (value,) in self.fetch(q):
                entry = counts[aggregates.bucket_of(float(value))]
                entry[0] += 1
                entry[1] += round(float(value) * 1000)
        value = histogram_percentile(counts, (1, 2))
        return {} if value is None else {None: round(value, 1)}


def histogram_percentile(counts: dict[int, list[int]], share: tuple[int, int]) -> float | None:
    """The percentile ``share`` (numerator, denominator) of a log-bucketed histogram.

    ``counts`` maps a bucket (:func:`tsur.store.aggregates.bucket_of`) to
    its count and the sum of its values in milliseconds. Linear interpolation
    between the two values around the rank, as :mod:`tsur.analytics.kpi` and
    PostgreSQL's ``percentile_cont`` do, each value standing for the mean of
    its bucket. The result is within ``RELATIVE_ERROR · |exact| +
    ABSOLUTE_ERROR_S`` (1 % plus 2 s) of the exact percentile, since a value
    and its bucket's mean lie in the same bucket
    (:mod:`tsur.store.aggregates`).
    """
    total = sum(n for n, _ in counts.values() if n > 0)
    if total == 0:
        return None
    num, den = share
    lo_rank = (total - 1) * num // den
    frac = ((total - 1) * num % den) / den
    hi_rank = lo_rank + (1 if frac else 0)
    found: dict[int, float] = {}
    seen = 0
    for bucket in sorted(counts):
        n, ms = counts[bucket]
        if n <= 0:
            continue
        for rank in (lo_rank, hi_rank):
            if seen <= rank < seen + n:
                found[rank] = ms / n / 1000
        seen += n
        if hi_rank < seen:
            break
    lo, hi = found[lo_rank], found[hi_rank]
    return lo + frac * (hi - lo)
