"""Executor KPIs, computed in the database (SQLite and PostgreSQL alike).

:func:`executor_kpis` takes the incidents *received* in a period (created
in ``[since, until)``, rejected and duplicate ones left out) and reports
per executor:

- ``received``; ``answered`` (a first response given); ``answered_on_time``
  (by the first-response deadline, or with none set); ``decided`` — the
  incidents whose first-response outcome is known at ``as_of`` (answered, or
  past the deadline unanswered);
  ``first_response_on_time_share = answered_on_time / decided``;
- ``resolved_on_time`` (resolved, and so still, by the resolution term, or
  with none set); ``resolution_decided`` (resolved, or past the term
  unresolved at ``as_of``);
  ``resolution_on_time_share = resolved_on_time / resolution_decided`` —
  what a citizen waits for, and what the rating is about;
- ``first_response_median_s`` and ``first_response_p90_s``: time from the
  first message to the first answer, measured apart from completion;
- ``resolved`` (resolved at least once) and ``resolution_median_s`` (from the
  first message to the final resolution of those resolved or closed now);
- ``overdue``: a deadline missed — the first response late or still missing
  past its deadline, or the resolution after its (current) deadline or still
  missing past it at ``as_of``;
- ``reopened`` (reopened at least once) and ``reopen_rate = reopened / resolved``;
- ``ratings`` (incidents the citizens rated; of several ratings of one
  incident the last counts) and ``avg_rating``;
- ``thanks``: messages of thanks written in the period that are credited to
  the executor (the one the routers pick for the thanked topic and place,
  or the executor of the incident thanked, when it was thanked), one per
  author.

Counts, sums and the percentiles (linear interpolation, as PostgreSQL's
``percentile_cont``, done with window functions so SQLite gives the same)
are computed by SQL. With a ``calendar`` the durations are working time
instead: the two timestamps per incident are fetched and measured on the
calendar in Python.

Fair ratings: only executors with at least ``min_cases`` incidents get a
``rank`` — by resolution on time first (an executor that answers every
appeal with a template within the hour and solves nothing ranks below one
that solves them), then the citizens' average rating (an executor nobody
rated stands at the middle of the scale, 3), the reopen rate, the
thanks per incident received, and the first response on time as the last
tiebreak.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import sqlalchemy as sa

from tsur.errors import ReportError
from tsur.sla.calendar import WorkingCalendar
from tsur.store import aggregates, schema
from tsur.store.base import Repository

__all__ = ["ExecutorKPI", "executor_kpis"]

INC, E, M = schema.incidents, schema.events, schema.messages
AGG, AGG_META = schema.analytics_daily, schema.analytics_meta
_DONE = ("resolved", "closed")
_EXCLUDED = ("rejected", "duplicate")
_MEDIAN, _P90 = (1, 2), (9, 10)
#: Where an executor nobody rated stands among rated ones: the middle of the 1–5 scale.
NEUTRAL_RATING = 3.0
_Pcts = dict[str, tuple[float | None, float | None]]  # executor → (median, 90th percentile)


@attrs.frozen
class ExecutorKPI:
    """One executor's figures for a period (durations in seconds)."""

    executor: str
    received: int
    answered: int
    answered_on_time: int
    decided: int
    first_response_on_time_share: float | None
    resolved_on_time: int
    resolution_decided: int
    resolution_on_time_share: float | None
    first_response_median_s: float | None
    first_response_p90_s: float | None
    resolved: int
    resolution_median_s: float | None
    overdue: int
    reopened: int
    reopen_rate: float | None
    avg_rating: float | None
    ratings: int
    thanks: int = 0
    rank: int | None = None

    @property
    def ranked(self) -> bool:
        """Whether the executor had enough cases to be ranked."""
        return self.rank is not None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what ``tsur kpi --json`` prints per executor)."""
        return attrs.asdict(self)


def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "postgresql":
        return sa.func.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def _interpolate(lo: float, hi: float, n: int, share: tuple[int, int]) -> float:
    num, den = share
    frac = ((n - 1) * num % den) / den
    return float(lo) + frac * (float(hi) - float(lo))


def _percentile(values: Sequence[float], share: tuple[int, int]) -> float | None:
    """Linear-interpolation percentile of sorted ``values`` (as the SQL does)."""
    n = len(values)
    if n == 0:
        return None
    num, den = share
    lo = (n - 1) * num // den
    hi = lo + (1 if (n - 1) * num % den else 0)
    return _interpolate(values[lo], values[hi], n, share)


def _sql_percentiles(conn: sa.Connection, base: Any, value: Any, condition: Any) -> _Pcts:
    vals = sa.select(base.c.executor.label("ex"), value.label("v")).where(condition).subquery()
    ranked = sa.select(
        vals.c.ex,
        vals.c.v,
        sa.func.row_number().over(partition_by=vals.c.ex, order_by=vals.c.v).label("rn"),
        sa.func.count().over(partition_by=vals.c.ex).label("n"),
    ).subquery()
    n1 = ranked.c.n - 1
    cols: list[Any] = []
    for num, den in (_MEDIAN, _P90):
        lo = (n1 * num) // den + 1
        hi = lo + sa.case(((n1 * num) % den > 0, 1), else_=0)
        cols.append(sa.func.max(sa.case((ranked.c.rn == lo, ranked.c.v))))
        cols.append(sa.func.max(sa.case((ranked.c.rn == hi, ranked.c.v))))
    q = sa.select(ranked.c.ex, ranked.c.n, *cols).group_by(ranked.c.ex, ranked.c.n)
    out: _Pcts = {}
    for ex, n, mlo, mhi, plo, phi in conn.execute(q):
        out[ex] = (_interpolate(mlo, mhi, n, _MEDIAN), _interpolate(plo, phi, n, _P90))
    return out


def executor_kpis(
    repository: Repository,
    *,
    since: datetime,
    until: datetime,
    calendar: WorkingCalendar | None = None,
    min_cases: int = 10,
    as_of: datetime | None = None,
    use_aggregates: bool = True,
) -> list[ExecutorKPI]:
    """KPIs per executor for incidents received in ``[since, until)``; ranked ones first.

    ``as_of`` (default: ``until`` or now, whichever is earlier) is the
    instant at which missing answers count as late. ``calendar`` measures
    durations in its working time instead of plain seconds.

    With ``use_aggregates`` (the default) the counts of whole days come from
    the store's daily aggregates (:mod:`tsur.store.aggregates`), those of
    the partial days at the edges and of the incidents whose outcome still
    depends on ``as_of`` (unanswered or unresolved) from the incidents; the
    percentiles are always exact. The figures are the same either way.
    """
    engine = getattr(repository, "engine", None)
    if not isinstance(engine, sa.Engine):
        raise ReportError("KPIs are computed in SQL: they need the SQL repository")
    for name, value in (("since", since), ("until", until), ("as_of", as_of)):
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ReportError(f"must be timezone-aware, got {value.isoformat()}", option=name)
    if since >= until:
        raise ReportError(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})",
            option="period",
        )
    if min_cases < 0:
        raise ReportError(f"must not be negative, got {min_cases}", option="min_cases")
    as_of = as_of or min(until, datetime.now(UTC))
    dialect = engine.dialect.name
    if use_aggregates:
        with engine.connect() as conn:
            zone = _aggregate_zone(conn)
            if zone is not None:
                return _rank(_aggregated_kpis(conn, zone, since, until, as_of, calendar), min_cases)

    cohort = sa.and_(
        INC.c.created_at >= since,
        INC.c.created_at < until,
        INC.c.executor.is_not(None),
        INC.c.status.not_in(_EXCLUDED),
    )
    ids = sa.select(INC.c.id).where(cohort)
    status_ev = sa.and_(E.c.kind == "status", E.c.incident_id.in_(ids))
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
    # A citizen may rate again (after a reopening, say): the last rating of an incident counts.
    last_rating = (
        sa.select(E.c.incident_id.label("iid"), sa.func.max(E.c.at).label("at"))
        .where(E.c.kind == "rating", E.c.incident_id.in_(ids))
        .group_by(E.c.incident_id)
        .subquery()
    )
    rating_ev = (
        sa.select(
            E.c.incident_id.label("iid"),
            sa.literal(1).label("nratings"),
            sa.func.max(E.c.data["score"].as_integer()).label("score_total"),
        )
        .join(
            last_rating, sa.and_(last_rating.c.iid == E.c.incident_id, last_rating.c.at == E.c.at)
        )
        .where(E.c.kind == "rating")
        .group_by(E.c.incident_id)
        .subquery()
    )
    base = (
        sa.select(
            INC.c.id,
            INC.c.executor,
            INC.c.created_at,
            INC.c.first_response_at.label("fra"),
            INC.c.first_response_due.label("frd"),
            INC.c.resolution_due.label("rd"),
            resolved_ev.c.resolved_at,
            sa.case((INC.c.status.in_(_DONE), resolved_ev.c.resolved_at)).label("final_at"),
            reopened_ev.c.reopens,
            rating_ev.c.nratings,
            rating_ev.c.score_total,
        )
        .select_from(
            INC.outerjoin(resolved_ev, resolved_ev.c.iid == INC.c.id)
            .outerjoin(reopened_ev, reopened_ev.c.iid == INC.c.id)
            .outerjoin(rating_ev, rating_ev.c.iid == INC.c.id)
        )
        .where(cohort)
        .subquery("base")
    )
    b = base.c
    one = sa.literal(1)
    on_time = sa.and_(b.fra.is_not(None), sa.or_(b.frd.is_(None), b.fra <= b.frd))
    decided = sa.or_(b.fra.is_not(None), sa.and_(b.frd.is_not(None), b.frd < as_of))
    first_late = sa.or_(
        sa.and_(b.fra.is_not(None), b.frd.is_not(None), b.fra > b.frd),
        sa.and_(b.fra.is_(None), b.frd < as_of),
    )
    resolution_late = sa.and_(
        b.rd.is_not(None),
        sa.or_(
            sa.and_(b.final_at.is_not(None), b.final_at > b.rd),
            sa.and_(b.final_at.is_(None), b.rd < as_of),
        ),
    )
    resolved_in_time = sa.and_(b.final_at.is_not(None), sa.or_(b.rd.is_(None), b.final_at <= b.rd))
    resolution_known = sa.or_(b.final_at.is_not(None), sa.and_(b.rd.is_not(None), b.rd < as_of))
    totals = sa.select(
        b.executor,
        sa.func.count(),
        sa.func.sum(sa.case((on_time, one), else_=0)),
        sa.func.sum(sa.case((decided, one), else_=0)),
        sa.func.count(b.fra),
        sa.func.sum(sa.case((sa.or_(first_late, resolution_late), one), else_=0)),
        sa.func.count(b.resolved_at),
        sa.func.sum(sa.case((b.reopens > 0, one), else_=0)),
        sa.func.coalesce(sa.func.sum(b.nratings), 0),
        sa.func.sum(b.score_total),
        sa.func.sum(sa.case((resolved_in_time, one), else_=0)),
        sa.func.sum(sa.case((resolution_known, one), else_=0)),
    ).group_by(b.executor)

    thanks_q = _thanks_query(since, until)

    with engine.connect() as conn:
        rows = conn.execute(totals).all()
        thanks = {ex: int(n) for ex, n in conn.execute(thanks_q)}
        if calendar is None:
            first = _sql_percentiles(
                conn, base, _seconds(dialect, b.fra, b.created_at), b.fra.is_not(None)
            )
            final = _sql_percentiles(
                conn, base, _seconds(dialect, b.final_at, b.created_at), b.final_at.is_not(None)
            )
        else:
            spans = conn.execute(sa.select(b.executor, b.created_at, b.fra, b.final_at)).all()
            first, final = _working_percentiles(spans, calendar)

    out = []
    for row in rows:
        (
            ex,
            received,
            on_time_n,
            decided_n,
            answered,
            overdue,
            resolved,
            reopened,
            nr,
            total,
            solved_n,
            solution_known,
        ) = row
        fm, fp = first.get(ex, (None, None))
        rm, _ = final.get(ex, (None, None))
        out.append(
            ExecutorKPI(
                executor=ex,
                received=int(received),
                answered=int(answered),
                answered_on_time=int(on_time_n or 0),
                decided=int(decided_n or 0),
                first_response_on_time_share=(
                    (int(on_time_n or 0) / decided_n) if decided_n else None
                ),
                resolved_on_time=int(solved_n or 0),
                resolution_decided=int(solution_known or 0),
                resolution_on_time_share=(
                    (int(solved_n or 0) / solution_known) if solution_known else None
                ),
                first_response_median_s=_round(fm),
                first_response_p90_s=_round(fp),
                resolved=int(resolved),
                resolution_median_s=_round(rm),
                overdue=int(overdue or 0),
                reopened=int(reopened or 0),
                reopen_rate=(int(reopened or 0) / resolved) if resolved else None,
                avg_rating=round(float(total) / int(nr), 3) if nr else None,
                ratings=int(nr),
                thanks=thanks.pop(ex, 0),
            )
        )
    for ex, n in thanks.items():  # thanked, with no incident received in the period
        out.append(_only_thanks(ex, n))
    return _rank(out, min_cases)


def _aggregate_zone(conn: sa.Connection) -> ZoneInfo | None:
    if not sa.inspect(conn).has_table(AGG_META.name):
        return None
    name = aggregates.stored_tz(conn)
    return ZoneInfo(name) if name else None


#: Measures of the aggregates the KPIs add up (see :mod:`tsur.store.aggregates`).
_STATIC = (
    "n",
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
)


def _aggregated_kpis(
    conn: sa.Connection,
    zone: ZoneInfo,
    since: datetime,
    until: datetime,
    as_of: datetime,
    calendar: WorkingCalendar | None,
) -> list[ExecutorKPI]:
    """The KPIs from the daily aggregates, the edges and the undecided incidents."""
    static: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STATIC, 0))
    days, edges = aggregates.split_days(since, until, zone)
    if days is not None:
        q = (
            sa.select(AGG.c.executor, *[sa.func.sum(AGG.c[m]) for m in _STATIC])
            .where(
                AGG.c.grain == "es",
                AGG.c.day >= days[0],
                AGG.c.day < days[1],
                AGG.c.executor != "",
                AGG.c.status.not_in(_EXCLUDED),
            )
            .group_by(AGG.c.executor)
        )
        for ex, *values in conn.execute(q):
            for m, v in zip(_STATIC, values, strict=True):
                static[ex][m] += int(v or 0)
    for lo, hi in edges:  # the same profile the aggregates are made of, of the edge days
        prof = aggregates.profile_select(
            conn,
            zone.key,
            where=[
                INC.c.created_at >= lo,
                INC.c.created_at < hi,
                INC.c.executor.is_not(None),
                INC.c.status.not_in(_EXCLUDED),
            ],
        )
        p = prof.subquery()
        q = sa.select(p.c.executor, *[sa.func.sum(p.c[m]) for m in _STATIC]).group_by(p.c.executor)
        for ex, *values in conn.execute(q):
            for m, v in zip(_STATIC, values, strict=True):
                static[ex][m] += int(v or 0)

    cohort = sa.and_(
        INC.c.created_at >= since,
        INC.c.created_at < until,
        INC.c.executor.is_not(None),
        INC.c.status.not_in(_EXCLUDED),
    )
    thanks = {ex: int(n) for ex, n in conn.execute(_thanks_query(since, until))}
    dynamic, first, final = _cohort_scan(conn, cohort, as_of, calendar)

    out = []
    for ex in sorted(set(static) | set(dynamic)):
        st = static[ex]
        if not st["n"]:
            continue
        decided_late, known_late, overdue_pending = dynamic.get(ex, (0, 0, 0))
        decided = st["answered"] + decided_late
        known = st["final"] + known_late
        fm, fp = first.get(ex, (None, None))
        rm, _ = final.get(ex, (None, None))
        out.append(
            ExecutorKPI(
                executor=ex,
                received=st["n"],
                answered=st["answered"],
                answered_on_time=st["on_time"],
                decided=decided,
                first_response_on_time_share=(st["on_time"] / decided) if decided else None,
                resolved_on_time=st["final_on_time"],
                resolution_decided=known,
                resolution_on_time_share=(st["final_on_time"] / known) if known else None,
                first_response_median_s=_round(fm),
                first_response_p90_s=_round(fp),
                resolved=st["resolved"],
                resolution_median_s=_round(rm),
                overdue=st["settled_late"] + overdue_pending,
                reopened=st["reopened"],
                reopen_rate=(st["reopened"] / st["resolved"]) if st["resolved"] else None,
                avg_rating=round(st["score"] / st["rated"], 3) if st["rated"] else None,
                ratings=st["rated"],
                thanks=thanks.pop(ex, 0),
            )
        )
    for ex, n in thanks.items():
        out.append(_only_thanks(ex, n))
    return out


def _cohort_scan(
    conn: sa.Connection, cohort: Any, as_of: datetime, calendar: WorkingCalendar | None
) -> tuple[dict[str, tuple[int, int, int]], _Pcts, _Pcts]:
    """One lean pass over the period's incidents: what depends on ``as_of`` and the
    exact percentiles.

    Per executor: ``(decided late, resolution decided late, overdue)`` of the
    incidents not *settled* (answered and resolved — the aggregates count the
    settled ones), and the first-response median and 90th percentile and the
    resolution median (working time with ``calendar``).
    """
    dialect = conn.dialect.name
    resolved = (
        sa.select(E.c.incident_id.label("iid"), sa.func.max(E.c.at).label("at"))
        .where(
            E.c.kind == "status",
            E.c.to_status == "resolved",
            E.c.incident_id.in_(sa.select(INC.c.id).where(cohort)),
        )
        .group_by(E.c.incident_id)
        .subquery()
    )
    final_at = sa.case((INC.c.status.in_(_DONE), resolved.c.at))
    # instants read by the driver itself (PostgreSQL) or as their text (SQLite): far
    # cheaper than through the column type, and as exact
    raw: Any = sa.DateTime(timezone=True) if dialect == "postgresql" else sa.String()
    q = (
        sa.select(
            INC.c.executor,
            _seconds(dialect, INC.c.first_response_at, INC.c.created_at),
            _seconds(dialect, final_at, INC.c.created_at),
            sa.type_coerce(INC.c.created_at, raw),
            sa.type_coerce(INC.c.first_response_at, raw),
            sa.type_coerce(INC.c.first_response_due, raw),
            sa.type_coerce(INC.c.resolution_due, raw),
            sa.type_coerce(final_at, raw),
        )
        .select_from(INC.outerjoin(resolved, resolved.c.iid == INC.c.id))
        .where(cohort)
    )
    limit: Any = as_of
    if dialect != "postgresql":  # as SQLite stores instants: naive UTC text, microseconds
        limit = as_of.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    first_s: dict[str, list[float]] = defaultdict(list)
    final_s: dict[str, list[float]] = defaultdict(list)
    spans: list[tuple[str, datetime | None, datetime | None, datetime | None]] = []
    for ex, fs, rs, created, fra, frd, rd, final in conn.execute(q).all():
        if calendar is not None:
            if fra is not None or final is not None:
                spans.append((ex, _instant(created), _instant(fra), _instant(final)))
        else:
            if fs is not None:
                first_s[ex].append(float(fs))
            if rs is not None:
                final_s[ex].append(float(rs))
        if fra is not None and final is not None:
            continue  # settled: counted by the aggregates
        # compared as read: aware datetimes (PostgreSQL) or the stored text (SQLite),
        # whose order is the instants' order, as the SQL compares them
        c = counts[ex]
        first_due_passed = frd is not None and frd < limit
        term_passed = rd is not None and rd < limit
        if fra is None and first_due_passed:
            c[0] += 1
        if final is None and term_passed:
            c[1] += 1
        first_late = (fra is not None and frd is not None and fra > frd) or (
            fra is None and first_due_passed
        )
        resolution_late = rd is not None and (
            (final is not None and final > rd) or (final is None and term_passed)
        )
        if first_late or resolution_late:
            c[2] += 1
    dynamic = {ex: (c[0], c[1], c[2]) for ex, c in counts.items()}
    if calendar is not None:
        first, final_p = _working_percentiles(spans, calendar)
        return dynamic, first, final_p

    def pct(values: dict[str, list[float]]) -> _Pcts:
        out: _Pcts = {}
        for ex, v in values.items():
            v.sort()
            out[ex] = (_percentile(v, _MEDIAN), _percentile(v, _P90))
        return out

    return dynamic, pct(first_s), pct(final_s)


def _instant(value: Any) -> datetime | None:
    """An aware datetime from what the driver returned (an aware datetime, or naive UTC text)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _thanks_query(since: datetime, until: datetime) -> sa.Executable:
    thanked_executor = sa.func.coalesce(M.c.thanks_executor, INC.c.executor)
    # one thanks per author and executor in a period (an anonymous one counts alone)
    author = M.c.payload["author"]["id"].as_string()
    thanker = sa.func.coalesce(
        sa.literal("a:") + author, sa.literal("m:") + sa.cast(M.c.id, sa.String)
    )
    return (
        sa.select(thanked_executor, sa.func.count(sa.distinct(thanker)))
        .select_from(M.outerjoin(INC, INC.c.id == M.c.incident_id))
        .where(M.c.status == "thanked", M.c.created_at >= since, M.c.created_at < until)
        .where(thanked_executor.is_not(None))
        .group_by(thanked_executor)
    )


def _only_thanks(executor: str, n: int) -> ExecutorKPI:
    return ExecutorKPI(
        executor=executor,
        received=0,
        answered=0,
        answered_on_time=0,
        decided=0,
        first_response_on_time_share=None,
        resolved_on_time=0,
        resolution_decided=0,
        resolution_on_time_share=None,
        first_response_median_s=None,
        first_response_p90_s=None,
        resolved=0,
        resolution_median_s=None,
        overdue=0,
        reopened=0,
        reopen_rate=None,
        avg_rating=None,
        ratings=0,
        thanks=n,
    )


def _round(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else round(v, 1)


def _working_percentiles(spans: Sequence[Any], calendar: WorkingCalendar) -> tuple[_Pcts, _Pcts]:
    first: dict[str, list[float]] = defaultdict(list)
    final: dict[str, list[float]] = defaultdict(list)
    for ex, created, fra, final_at in spans:
        if fra is not None:
            first[ex].append(calendar.between(created, fra).total_seconds())
        if final_at is not None:
            final[ex].append(calendar.between(created, final_at).total_seconds())

    def pct(values: dict[str, list[float]]) -> _Pcts:
        return {
            ex: (_percentile(sorted(v), _MEDIAN), _percentile(sorted(v), _P90))
            for ex, v in values.items()
        }

    return pct(first), pct(final)


def _rank(items: list[ExecutorKPI], min_cases: int) -> list[ExecutorKPI]:
    eligible = [k for k in items if k.received >= min_cases and k.received > 0]
    eligible.sort(
        key=lambda k: (
            -(k.resolution_on_time_share or 0.0),
            -(k.avg_rating if k.avg_rating is not None else NEUTRAL_RATING),
            k.reopen_rate or 0.0,
            -k.thanks / k.received,
            -(k.first_response_on_time_share or 0.0),
            k.executor,
        )
    )
    ranked = [attrs.evolve(k, rank=i) for i, k in enumerate(eligible, start=1)]
    names = {k.executor for k in ranked}
    rest = sorted(
        (k for k in items if k.executor not in names), key=lambda k: (-k.received, k.executor)
    )
    return ranked + rest
