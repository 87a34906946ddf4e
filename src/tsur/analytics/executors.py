"""The executor rating: who answers, how fast, how often late.

The figures come from :func:`tsur.lifecycle.kpi.executor_kpis` when that
module is importable. Without it :func:`_fallback_kpis` computes the few it
can from the incidents table alone (received, answered, on time, overdue,
median first answer) and :func:`_rank` ranks them; both can be deleted once
the lifecycle module is always present.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from tsur.analytics.queries import INC, Analytics, count_if, overdue_clause
from tsur.sla.calendar import WorkingCalendar

__all__ = ["KPI_FIELDS", "executor_ratings"]

#: Every row of the rating carries these keys (None where a figure is unknown).
KPI_FIELDS = (
    "executor",
    "received",
    "answered_on_time",
    "on_time_share",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "overdue",
    "reopened",
    "reopen_rate",
    "avg_rating",
    "ratings",
)


def _lifecycle_kpis() -> Any | None:
    try:
        module = importlib.import_module("tsur.lifecycle.kpi")
    except ImportError:
        return None
    return getattr(module, "executor_kpis", None)


def _kpi_row(kpi: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(KPI_FIELDS)
    if attrs.has(type(kpi)):
        row.update(attrs.asdict(kpi))
    else:
        row.update({f: getattr(kpi, f, None) for f in (*KPI_FIELDS, "rank")})
    return row


def executor_ratings(
    analytics: Analytics,
    since: datetime,
    until: datetime,
    *,
    at: datetime,
    calendar: WorkingCalendar | None = None,
    min_cases: int = 10,
) -> list[dict[str, Any]]:
    """The executors' KPIs for incidents created in ``[since, until)``, ranked.

    Executors with at least ``min_cases`` incidents are ranked (``rank``
    1, 2 …); the others follow unranked (``rank`` None): too few cases to
    judge fairly. With :mod:`tsur.lifecycle.kpi` the figures and the ranking
    are its own (on-time share, overdue share, reopen rate, rating; working
    time with ``calendar``); ``source`` says where the figures came from.

    Call it outside :meth:`Analytics.snapshot`: on SQLite the KPIs open
    their own transaction.
    """
    kpis = _lifecycle_kpis()
    if kpis is not None:
        options: dict[str, Any] = {"since": since, "until": until, "calendar": calendar}
        accepted = inspect.signature(kpis).parameters
        options.update(
            {k: v for k, v in (("min_cases", min_cases), ("as_of", at)) if k in accepted}
        )
        rows = [_kpi_row(k) for k in kpis(analytics.repository, **options)]
        origin = "lifecycle"
    else:
        rows = _fallback_kpis(analytics, since, until, at=at)
        origin = "incidents"
    names = analytics.region.executor_names
    for r in rows:
        executor = r["executor"]
        r["name"] = names.get(executor, executor) if executor else "не назначен"
        r["source"] = origin
    if origin == "lifecycle" and "rank" in (rows[0] if rows else {}):
        ranked = sorted((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])
        rest = [r for r in rows if r["rank"] is None]
        rest.sort(key=lambda r: (-(r["received"] or 0), str(r["executor"])))
        return ranked + rest
    return _rank(rows, min_cases)


def _rank(rows: list[dict[str, Any]], min_cases: int) -> list[dict[str, Any]]:
    """Rank rows that lack a rank: on-time share, overdue share, median answer, volume."""
    ranked = [r for r in rows if (r["received"] or 0) >= min_cases]
    rest = [r for r in rows if (r["received"] or 0) < min_cases]

    def order(r: dict[str, Any]) -> tuple[float, float, float, int, str]:
        share = r["on_time_share"]
        median = r["first_response_median_s"]
        received = r["received"] or 0
        return (
            -(share if share is not None else -1.0),
            (r["overdue"] or 0) / received if received else 1.0,
            median if median is not None else float("inf"),
            -received,
            str(r["executor"]),
        )

    ranked.sort(key=order)
    rest.sort(key=lambda r: (-(r["received"] or 0), str(r["executor"])))
    for i, r in enumerate(ranked, start=1):
        r["rank"] = i
    for r in rest:
        r["rank"] = None
    return ranked + rest


def _fallback_kpis(
    analytics: Analytics, since: datetime, until: datetime, *, at: datetime
) -> list[dict[str, Any]]:
    """Received, answered on time, overdue and median first answer per executor."""
    answered = INC.c.first_response_at.is_not(None)
    on_time = sa.and_(
        answered,
        sa.or_(
            INC.c.first_response_due.is_(None),
            INC.c.first_response_at <= INC.c.first_response_due,
        ),
    )
    q = (
        sa.select(
            INC.c.executor,
            sa.func.count().label("received"),
            count_if(answered).label("answered"),
            count_if(on_time).label("on_time"),
            count_if(overdue_clause(at)).label("overdue"),
        )
        .where(INC.c.created_at >= since, INC.c.created_at < until)
        .group_by(INC.c.executor)
    )
    medians = analytics.median_first_response(since, until, by_executor=True)
    out = []
    for r in analytics.fetch(q):
        row: dict[str, Any] = dict.fromkeys(KPI_FIELDS)
        row.update(
            executor=r.executor,
            received=int(r.received),
            answered=int(r.answered),
            answered_on_time=int(r.on_time),
            on_time_share=round(int(r.on_time) / int(r.answered), 4) if r.answered else None,
            first_response_median_s=medians.get(r.executor),
            overdue=int(r.overdue),
        )
        out.append(row)
    return out
