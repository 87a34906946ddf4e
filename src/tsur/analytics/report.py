"""The leaders' report: every figure for one period, as one JSON-safe mapping.

:func:`build_report` asks :class:`~tsur.analytics.queries.Analytics` for the
figures and returns a plain mapping (strings, numbers, lists, dicts) that
any report renderer turns into a file: the built-in ``json`` and ``csv``,
``html`` and ``geojson`` (:mod:`tsur.analytics.exports`), or a
region's own (XLSX …). Every top-level list of rows is a table::

    import tsur
    from tsur.analytics import build_report, write_report

    engine = tsur.Engine.from_config(db="tsur.db")
    report = build_report(engine, "2026-11")
    write_report(engine, "report.html", period="2026-11")
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from tsur._version import __version__
from tsur.analytics.executors import executor_ratings
from tsur.analytics.exports import HtmlRenderer
from tsur.analytics.periods import Period, parse_period, period_of
from tsur.analytics.queries import Analytics
from tsur.analytics.systemic import find_spikes
from tsur.errors import ReportError

if TYPE_CHECKING:
    from tsur.protocols import EngineView

__all__ = ["CHANNEL_NAMES", "build_report", "demo_report", "render", "write_report"]

#: Russian names of channel kinds, as the report shows them.
CHANNEL_NAMES = {
    "vk": "ВКонтакте",
    "telegram": "Telegram",
    "ok": "Одноклассники",
    "pos": "Госуслуги. Решаем вместе",
    "webhook": "Порталы и виджеты",
    "open311": "Open311",
    "open311_server": "Open311 (приём заявок)",
    "email": "Электронная почта",
    "rss": "СМИ и RSS",
    "hotline": "Горячая линия",
    "written": "Письменные обращения",
    "file": "Файлы",
    "other": "Другое",
    "unknown": "канал не указан",
}

#: Executors with fewer incidents in the period get no place in the rating.
EXECUTOR_MIN_CASES = 10

#: Systemic-problem rule used by the report (see :func:`tsur.analytics.systemic.find_spikes`).
SPIKE_DEFAULTS: dict[str, Any] = {
    "window_days": 7,
    "baseline_weeks": 8,
    "k": 2.5,
    "min_count": 4,
    "alpha": 0.01,
}


def jsonable(value: Any) -> Any:
    """Dates to ISO text, attrs records and tuples to dicts and lists, recursively."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if attrs.has(type(value)):
        return {k: jsonable(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _change(cur: float | None, prev: float | None) -> float | None:
    if cur is None or prev is None:
        return None
    return round(cur - prev, 4)


def _headline(
    a: Analytics,
    cur: list[Any],
    prev: list[Any],
    medians: tuple[float | None, float | None],
    systemic: int,
) -> list[dict[str, Any]]:
    def total(rows: list[Any], field: str) -> int:
        return sum(int(getattr(r, field)) for r in rows)

    def share(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    population = a.region.region_population
    out: list[dict[str, Any]] = []

    def add(key: str, label: str, value: Any, previous: Any, unit: str) -> None:
        out.append(
            {
                "key": key,
                "label": label,
                "value": value,
                "previous": previous,
                "change": _change(value, previous) if unit != "text" else None,
                "unit": unit,
            }
        )

    n, pn = total(cur, "count"), total(prev, "count")
    add("incidents", "Инцидентов", n, pn, "count")
    add("messages", "Сообщений граждан", total(cur, "messages"), total(prev, "messages"), "count")
    add(
        "per_10k",
        "На 10 тыс. жителей",
        a.region.per_10k(n, population),
        a.region.per_10k(pn, population),
        "rate",
    )
    add("urgent", "Срочных", total(cur, "urgent"), total(prev, "urgent"), "count")
    add("overdue", "Просрочено сейчас", total(cur, "overdue"), None, "count")
    out[-1]["share"] = share(total(cur, "overdue"), n)
    add(
        "on_time_share",
        "Первый ответ в срок",
        share(total(cur, "answered_on_time"), total(cur, "answered")),
        share(total(prev, "answered_on_time"), total(prev, "answered")),
        "share",
    )
    add("first_response_median_s", "Медиана первого ответа", medians[0], medians[1], "seconds")
    add("systemic", "Системных проблем", systemic, None, "count")
    unlocated = next((r.count for r in cur if r.id is None), 0)
    add(
        "unlocated",
        "Без территории",
        unlocated,
        next((r.count for r in prev if r.id is None), 0),
        "count",
    )
    return out


def build_report(
    engine: EngineView,
    period: str | Period | None = None,
    *,
    at: datetime | None = None,
    geometry: str | Path | None = None,
    top: int = 10,
    spike_options: Mapping[str, Any] | None = None,
    use_aggregates: bool = True,
) -> dict[str, Any]:
    """All figures of ``period`` (``"2026-11"``, ``"2026-W46"`` …; default: this month).

    ``at`` is the moment overdue is judged at (default: the engine's
    clock); ``geometry`` a boundary file for the maps (default: the
    shipped one matching the region, or tiles). Returns a JSON-safe mapping.
    Whole days are read from the store's daily aggregates unless
    ``use_aggregates`` is off (see :class:`~tsur.analytics.queries.Analytics`).
    """
    analytics = Analytics.for_engine(engine, use_aggregates=use_aggregates)
    now = at or engine.clock()
    if period is None:
        p = period_of(now, "month", analytics.tz)
    elif isinstance(period, Period):
        p = period
    else:
        p = parse_period(period, analytics.tz)
    if geometry is not None and not Path(geometry).is_file():
        raise ReportError(f"boundary file {geometry} does not exist", option="geometry")
    prev = p.previous()
    spike_rule = {**SPIKE_DEFAULTS, **(spike_options or {})}
    spike_until = min(now, p.end)
    region = analytics.region
    # Days after the report's moment have no incidents yet: the trend stops at today.
    today_end = datetime.combine(
        now.astimezone(analytics.tz).date() + timedelta(days=1), time(0), tzinfo=analytics.tz
    )
    trend_end = min(p.end, max(today_end, p.start + timedelta(days=1)))
    # whole weeks: from the Monday on or before 12 weeks back (or the period's start)
    monday = min(p.start, p.end - timedelta(weeks=12)).astimezone(analytics.tz).date()
    monday -= timedelta(days=monday.weekday())
    weeks_start = datetime.combine(monday, time(0), tzinfo=analytics.tz)
    with analytics.snapshot() as a:
        cur_stats = a.municipality_stats(p.start, p.end, at=now)
        prev_stats = a.municipality_stats(prev.start, prev.end, at=now)
        problems = a.top_problems(p.start, p.end, prev.start, limit=top)
        directions = a.top_problems(p.start, p.end, prev.start, limit=None, level="direction")
        by_municipality = a.top_problems_by_municipality(p.start, p.end, prev.start, limit=3)
        spikes = find_spikes(a, spike_until, **spike_rule) if spike_until > p.start else []
        weekly_topics = a.counts(weeks_start, p.end, by=("week", "topic"))
        lead = [d.topic for d in directions[:5]]
        daily = a.trend(p.start, trend_end, unit="day" if p.days <= 62 else "week", series=lead)
        weekly = a.trend(weeks_start, trend_end, unit="week", series=lead)
        seasonal = a.seasonality(p.end, years=3, unit="month", by="direction")
        channels = a.channel_mix(p.start, p.end)
        points = a.points(p.start, p.end, at=now)
        median = a.median_first_response(p.start, p.end).get(None)
        prev_median = a.median_first_response(prev.start, prev.end).get(None)
    # outside the snapshot: the KPIs open their own transaction
    executors = executor_ratings(
        analytics, p.start, p.end, at=now, calendar=engine.calendar, min_cases=EXECUTOR_MIN_CASES
    )
    week_list = analytics.buckets(weeks_start, p.end, "week")
    topic_weeks: dict[str, dict[date, int]] = defaultdict(dict)
    for row in weekly_topics:
        topic_weeks[str(row["topic"])][row["week"]] = row["count"]
    prev_by_id = {r.id: r for r in prev_stats}
    first_leader: dict[str, Any] = {}
    for pr in by_municipality:
        first_leader.setdefault(str(pr.municipality), pr)
    municipalities = []
    for r in cur_stats:
        row = jsonable(r)
        before = prev_by_id.get(r.id)
        row["previous"] = before.count if before else 0
        row["change"] = r.count - row["previous"]
        lead_topic = first_leader.get(str(r.id)) if r.id else None
        row["top_topic"] = lead_topic.label if lead_topic else None
        municipalities.append(row)
    names = {d: region.region.topic_name(d) for d in region.directions}
    names["*"] = "Все обращения"
    report: dict[str, Any] = {
        "meta": {
            "region": engine.config.region.name,
            "region_code": engine.config.region.code,
            "timezone": analytics.tz.key,
            "period": p.as_dict(),
            "previous": prev.as_dict(),
            "generated_at": now.isoformat(),
            "population": region.region_population,
            "population_year": region.population_year,
            "geometry": str(geometry) if geometry is not None else None,
            "systemic_rule": spike_rule,
            "executor_figures": executors[0]["source"] if executors else None,
            "executor_min_cases": EXECUTOR_MIN_CASES,
            "tsur_version": __version__,
        },
        "headline": _headline(analytics, cur_stats, prev_stats, (median, prev_median), len(spikes)),
        "municipalities": municipalities,
        "top_problems": [
            {**jsonable(pr), "weeks": [topic_weeks[pr.topic].get(w, 0) for w in week_list]}
            for pr in problems
        ],
        "directions": jsonable(directions),
        "top_by_municipality": jsonable(by_municipality),
        "systemic": jsonable(spikes),
        "executors": executors,
        "trend": [
            {
                "date": t.bucket.isoformat(),
                "series": t.series,
                "label": names.get(t.series, t.series),
                "count": t.count,
            }
            for t in daily
        ],
        "weekly": [
            {
                "week": t.bucket.isoformat(),
                "series": t.series,
                "label": names.get(t.series, t.series),
                "count": t.count,
            }
            for t in weekly
        ],
        "seasonality": [
            {**s, "label": names.get(s["series"], s["series"])}
            for s in seasonal
            if s["series"] == "*" or s["series"] in lead
        ],
        "channels": [{**jsonable(c), "label": CHANNEL_NAMES.get(c.kind, c.kind)} for c in channels],
        "points": jsonable(points),
    }
    return report


def render(engine: EngineView, report: Mapping[str, Any], fmt: str) -> bytes:
    """``report`` in format ``fmt`` through the registered report renderers."""
    renderers = engine.components.report_renderers
    if fmt not in renderers:
        raise ReportError(
            f"no report renderer {fmt!r}; available: {', '.join(sorted(renderers)) or 'none'}",
            option="format",
        )
    data = renderers[fmt].component.render(report)
    if not isinstance(data, bytes):
        raise ReportError(
            f"renderer {fmt!r} (plugin {renderers[fmt].plugin}) returned "
            f"{type(data).__name__}, not bytes",
            option="format",
        )
    return data


def write_report(
    engine: EngineView,
    path: str | Path,
    *,
    period: str | Period | None = None,
    fmt: str | None = None,
    **options: Any,
) -> Path:
    """Build the report of ``period`` and write it to ``path`` in ``fmt``
    (default: from the file's suffix, else ``html``). Returns the path."""
    target = Path(path)
    fmt = fmt or (target.suffix.lstrip(".").lower() or "html")
    report = build_report(engine, period, **options)
    data = render(engine, report, fmt)
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc}", option="out") from exc
    return target


def demo_report(engine: EngineView, path: str | Path) -> Path:
    """Write the HTML report of the month the engine's clock is in (``tsur demo`` uses it).

    Works whether or not the engine has the ``html`` renderer plugged in.
    """
    if "html" in engine.components.report_renderers:
        return write_report(engine, path, fmt="html")
    target = Path(path)
    data = HtmlRenderer(engine.region).render(build_report(engine))
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc}", option="out") from exc
    return target
