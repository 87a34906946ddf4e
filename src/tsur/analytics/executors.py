"""The executor rating: who answers, how fast, how often late.

The figures and the ranking are :func:`tsur.analytics.kpi.executor_kpis`'s
(resolution on time, the citizens' rating, the reopen rate, their thanks,
first response on time; fair: executors with fewer than ``min_cases`` incidents are listed
but not ranked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from tsur.analytics.kpi import executor_kpis
from tsur.analytics.queries import Analytics
from tsur.sla.calendar import WorkingCalendar

__all__ = ["KPI_FIELDS", "executor_ratings"]

#: Every row of the rating carries these keys (None where a figure is unknown).
KPI_FIELDS = (
    "executor",
    "received",
    "answered_on_time",
    "first_response_on_time_share",
    "resolved_on_time",
    "resolution_on_time_share",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "overdue",
    "reopened",
    "reopen_rate",
    "avg_rating",
    "ratings",
    "thanks",
)


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
    judge fairly. Durations are working time when ``calendar`` is given.

    Call it outside :meth:`Analytics.snapshot`: on SQLite the KPIs open
    their own transaction.
    """
    kpis = executor_kpis(
        analytics.repository,
        since=since,
        until=until,
        calendar=calendar,
        min_cases=min_cases,
        as_of=at,
        use_aggregates=analytics.use_aggregates,
    )
    names = analytics.region.executor_names
    rows = []
    for k in kpis:
        row: dict[str, Any] = dict.fromkeys(KPI_FIELDS)
        row.update(attrs.asdict(k))
        executor = row["executor"]
        row["name"] = names.get(executor, executor) if executor else "не назначен"
        row["source"] = "lifecycle"
        rows.append(row)
    ranked = sorted((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])
    rest = [r for r in rows if r["rank"] is None]
    rest.sort(key=lambda r: (-(r["received"] or 0), str(r["executor"])))
    return ranked + rest
