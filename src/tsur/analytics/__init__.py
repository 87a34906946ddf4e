"""Analytics and reports for the region's leaders.

Figures are aggregated by the database (SQLite or PostgreSQL alike) and
rolled up along the region's territory and topic trees::

    import tsur
    from tsur.analytics import Analytics, build_report, write_report

    engine = tsur.Engine.from_config(db="tsur.db")
    a = Analytics.for_engine(engine)
    period = a.period("2026-11")
    a.top_problems(period.start, period.end, period.previous().start)
    write_report(engine, "report.html", period="2026-11")

Modules: :mod:`~tsur.analytics.queries` (the SQL), :mod:`~tsur.analytics.systemic`
(spikes), :mod:`~tsur.analytics.executors` (the rating),
:mod:`~tsur.analytics.report` (the report mapping), :mod:`~tsur.analytics.html`,
:mod:`~tsur.analytics.heatmap`, :mod:`~tsur.analytics.charts` (rendering) and
:mod:`~tsur.analytics.exports` (the ``html``, ``geojson``, ``json`` and ``csv``
renderers) and :mod:`~tsur.analytics.kpi` (executor KPIs).
"""

from tsur.analytics.executors import executor_ratings
from tsur.analytics.kpi import ExecutorKPI, executor_kpis
from tsur.analytics.periods import Period, parse_period, period_of
from tsur.analytics.queries import Analytics
from tsur.analytics.records import (
    ChannelShare,
    IncidentPoint,
    MunicipalityStats,
    Problem,
    Spike,
    TrendPoint,
)
from tsur.analytics.report import build_report, demo_report, render, write_report
from tsur.analytics.systemic import find_spikes, judge_surge

__all__ = [
    "Analytics",
    "ChannelShare",
    "ExecutorKPI",
    "IncidentPoint",
    "MunicipalityStats",
    "Period",
    "Problem",
    "Spike",
    "TrendPoint",
    "build_report",
    "demo_report",
    "executor_kpis",
    "executor_ratings",
    "find_spikes",
    "judge_surge",
    "parse_period",
    "period_of",
    "render",
    "write_report",
]
