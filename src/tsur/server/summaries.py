"""The work API's figures: executor KPIs, a summary of a period, the leaders' report.

All three need the :attr:`~tsur.roles.Right.ANALYTICS` right (a region or
municipal curator, an analyst) and take a ``period`` as ``tsur report``
does: a month ``2026-11``, an ISO week ``2026-W46``, a day ``2026-11-16``, a
year ``2026`` or days ``2026-11-01..2026-11-20`` — at most a year, within
the years 1971–9000; anything else is 400 (``bad_report_request``). Without
a period the month the service's clock is in.

A municipal curator's scope:

- ``/analytics/summary`` is limited to its municipality — the analytics
  count by municipality, so every figure of it is its own;
- ``/executors/kpi`` is region-wide: the KPIs are computed per executor over
  all its incidents and cannot be narrowed to a territory, and a partial
  figure of an executor serving several municipalities (a utility) would
  misstate it. They are aggregates without a citizen's data, the same
  rating the leaders' report publishes;
- ``/reports/{period}`` is refused (403): the report is a region-wide
  document that names incidents of every municipality (its map's points,
  the systemic problems' incidents), which a municipal key may not see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import attrs
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from tsur.access import Principal
from tsur.analytics import Analytics, ExecutorKPI, Period, executor_kpis, parse_period
from tsur.analytics.exports import HtmlRenderer
from tsur.analytics.report import CHANNEL_NAMES, build_report, render
from tsur.errors import AccessDenied, ReportError
from tsur.roles import Right, Role
from tsur.server.deps import ServerState, needs
from tsur.server.errors import ErrorOut
from tsur.server.work import State

__all__ = [
    "ChannelOut",
    "ExecutorKpiOut",
    "KpiPage",
    "MunicipalityOut",
    "PeriodOut",
    "ProblemOut",
    "Summary",
    "Totals",
    "check_report_access",
    "report_file",
    "router",
    "summary_municipality",
    "validated_period",
]

router = APIRouter(prefix="/api/v1", tags=["analytics"])

Analyst = Annotated[Principal, Depends(needs(Right.ANALYTICS))]
PERIOD_HELP = (
    "a month 2026-11, a week 2026-W46, a day 2026-11-16, a year 2026 or days "
    "2026-11-01..2026-11-20 (default: this month)"
)
#: What a period looks like (whether it is a date is for :func:`validated_period` to say).
PERIOD_PATTERN = (
    r"^[0-9]{4}(-[Ww][0-9]{2}|-[0-9]{2}(-[0-9]{2}( ?(\.\.|/) ?[0-9]{4}-[0-9]{2}-[0-9]{2})?)?)?$"
)
PeriodQuery = Annotated[
    str | None,
    Query(min_length=4, max_length=40, pattern=PERIOD_PATTERN, description=PERIOD_HELP),
]
#: The longest period asked for (days): a leap year.
MAX_DAYS = 366
_YEARS = (1971, 9000)
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a period that cannot be read"},
    403: {"model": ErrorOut, "description": "the key's role has no analytics right"},
}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PeriodOut(_Out):
    """A reporting period: ``[start, end)`` in the region's local time."""

    key: str
    kind: str
    label: str
    start: datetime
    end: datetime


class ExecutorKpiOut(_Out):
    """One executor's figures for the incidents received in the period (durations in seconds).

    See :mod:`tsur.analytics.kpi` for every figure; ``rank`` is None for an
    executor with too few incidents to rank fairly.
    """

    executor: str
    name: str
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
    thanks: int
    rank: int | None


class KpiPage(_Out):
    """The executors' KPIs of a period, ranked ones first."""

    period: PeriodOut
    working_time: bool
    min_cases: int
    executors: list[ExecutorKpiOut]


class Totals(_Out):
    """Headline figures of the period (and the count of the period before)."""

    incidents: int
    previous: int
    messages: int
    urgent: int
    open: int
    overdue: int
    answered: int
    answered_on_time: int
    on_time_share: float | None


class MunicipalityOut(_Out):
    """A municipality's figures (its settlements included); id None: not located."""

    id: str | None
    name: str
    count: int
    previous: int
    per_10k: float | None
    overdue: int
    urgent: int
    open: int
    answered: int
    answered_on_time: int
    on_time_share: float | None
    messages: int


class ProblemOut(_Out):
    """A topic's incidents in the period and the period before."""

    topic: str
    label: str
    direction: str | None
    count: int
    previous: int
    change: int
    change_pct: float | None
    share: float


class ChannelOut(_Out):
    """Incidents by the kind of channel they came through."""

    kind: str
    label: str
    count: int
    share: float


class Summary(_Out):
    """A period's figures: the region's, or one municipality's for a municipal curator."""

    period: PeriodOut
    previous_period: PeriodOut
    municipality: str | None
    totals: Totals
    municipalities: list[MunicipalityOut]
    top_problems: list[ProblemOut]
    channels: list[ChannelOut]


def validated_period(st: ServerState, text: str | None) -> Period:
    """The period ``text`` names (default: this month), within the service's limits.

    :class:`ReportError` (400) for a text that is not a period, a period
    longer than :data:`MAX_DAYS` days or outside the years 1971–9000.
    """
    tz = st.engine.region.calendar.tz
    if text is None:
        text = f"{st.engine.clock().astimezone(tz):%Y-%m}"
    period = parse_period(text, tz)
    if not (_YEARS[0] <= period.first.year and period.last.year <= _YEARS[1]):
        raise ReportError(
            f"{text!r}: periods are between the years {_YEARS[0]} and {_YEARS[1]}",
            option="period",
        )
    if period.days > MAX_DAYS:
        raise ReportError(
            f"{text!r} is {period.days} days long; ask for at most {MAX_DAYS}", option="period"
        )
    return period


def summary_municipality(who: Principal) -> str | None:
    """The municipality ``who``'s figures are limited to: a municipal curator's own;
    None (the whole region) for every other key."""
    return who.scope if who.role is Role.MUNICIPAL_CURATOR else None


def check_report_access(who: Principal) -> None:
    """Refuse (:class:`AccessDenied`, 403) the region-wide report to a scoped key.

    The report names incidents of every municipality (its map's points, the
    systemic problems' incidents), which a municipal key may not see.
    """
    if who.scope is not None:
        raise AccessDenied(
            f"the report covers the whole region; a key scoped to {who.scope!r} may ask for "
            "/api/v1/analytics/summary instead"
        )


def report_file(st: ServerState, period: Period) -> bytes:
    """The leaders' report of ``period`` as an HTML file, as ``tsur report`` writes it.

    Overdue as of now; the region's own ``html`` renderer if it has one.
    Check :func:`check_report_access` first.
    """
    built = build_report(st.engine, period, at=st.engine.clock())
    if "html" in st.engine.components.report_renderers:
        return render(st.engine, built, "html")
    return HtmlRenderer(st.engine.region).render(built)


def _period_out(p: Period) -> PeriodOut:
    return PeriodOut(key=p.key, kind=p.kind, label=p.label, start=p.start, end=p.end)


@router.get(
    "/executors/kpi",
    response_model=KpiPage,
    summary="Executor KPIs of a period",
    responses=_ERRORS,
)
async def executor_kpi(
    who: Analyst,
    st: State,
    period: PeriodQuery = None,
    working_time: Annotated[
        bool, Query(description="durations in the region's working time")
    ] = False,
    min_cases: Annotated[
        int, Query(ge=0, le=100_000, description="fewest incidents to be ranked")
    ] = 10,
) -> KpiPage:
    """Every executor's KPIs for the incidents received in the period, ranked fairly.

    Region-wide for every key, a municipal curator's too (see the module:
    an executor's figures cannot be narrowed to a territory). Missing answers
    count as late as of the end of the period, or now if it has not ended.
    """

    def load() -> KpiPage:
        p = validated_period(st, period)
        region = st.engine.region
        kpis: list[ExecutorKPI] = executor_kpis(
            st.engine.repository,
            since=p.start,
            until=p.end,
            calendar=region.calendar if working_time else None,
            min_cases=min_cases,
            as_of=min(p.end, st.engine.clock()),
        )
        return KpiPage(
            period=_period_out(p),
            working_time=working_time,
            min_cases=min_cases,
            executors=[
                ExecutorKpiOut(name=region.executor_name(k.executor), **attrs.asdict(k))
                for k in kpis
            ],
        )

    return await run_in_threadpool(load)


@router.get(
    "/analytics/summary",
    response_model=Summary,
    summary="A summary of a period",
    responses=_ERRORS,
)
async def analytics_summary(who: Analyst, st: State, period: PeriodQuery = None) -> Summary:
    """The period's figures against the period before: totals, municipalities, top topics,
    channels. A municipal curator's are its municipality's alone; overdue is as of now."""

    def load() -> Summary:
        p = validated_period(st, period)
        prev = p.previous()
        mine = summary_municipality(who)
        now = st.engine.clock()
        analytics = Analytics.for_engine(st.engine)
        with analytics.snapshot() as a:
            cur = a.municipality_stats(p.start, p.end, at=now)
            before = {m.id: m.count for m in a.municipality_stats(prev.start, prev.end, at=now)}
            problems = a.top_problems(p.start, p.end, prev.start, limit=10, municipality=mine)
            by_channel = a.counts(p.start, p.end, by=("municipality", "channel"))
        if mine is not None:
            cur = [m for m in cur if m.id == mine]
            by_channel = [r for r in by_channel if r["municipality"] == mine]
        channels: dict[str, int] = {}
        for row in by_channel:
            channels[row["channel"]] = channels.get(row["channel"], 0) + int(row["count"])
        n = sum(m.count for m in cur)
        answered = sum(m.answered for m in cur)
        on_time = sum(m.answered_on_time for m in cur)
        previous = sum(before.get(m.id, 0) for m in cur)
        return Summary(
            period=_period_out(p),
            previous_period=_period_out(prev),
            municipality=mine,
            totals=Totals(
                incidents=n,
                previous=previous,
                messages=sum(m.messages for m in cur),
                urgent=sum(m.urgent for m in cur),
                open=sum(m.open for m in cur),
                overdue=sum(m.overdue for m in cur),
                answered=answered,
                answered_on_time=on_time,
                on_time_share=round(on_time / answered, 4) if answered else None,
            ),
            municipalities=[
                MunicipalityOut(
                    id=m.id,
                    name=m.name,
                    count=m.count,
                    previous=before.get(m.id, 0),
                    per_10k=m.per_10k,
                    overdue=m.overdue,
                    urgent=m.urgent,
                    open=m.open,
                    answered=m.answered,
                    answered_on_time=m.answered_on_time,
                    on_time_share=m.on_time_share,
                    messages=m.messages,
                )
                for m in cur
            ],
            top_problems=[
                ProblemOut(
                    topic=pr.topic,
                    label=pr.label,
                    direction=pr.direction,
                    count=pr.count,
                    previous=pr.previous,
                    change=pr.change,
                    change_pct=pr.change_pct,
                    share=pr.share,
                )
                for pr in problems
            ],
            channels=[
                ChannelOut(
                    kind=kind,
                    label=CHANNEL_NAMES.get(kind, kind),
                    count=count,
                    share=round(count / n, 4) if n else 0.0,
                )
                for kind, count in sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        )

    return await run_in_threadpool(load)


@router.get(
    "/reports/{period}",
    summary="The leaders' report of a period (HTML, as a download)",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {}}, "description": "the report, as an attachment"},
        **_ERRORS,
        403: {"model": ErrorOut, "description": "no analytics right, or a municipal key"},
    },
)
async def report(
    who: Analyst,
    st: State,
    period: Annotated[
        str, Path(min_length=4, max_length=40, pattern=PERIOD_PATTERN, description=PERIOD_HELP)
    ],
) -> Response:
    """The leaders' report of the period as an HTML file (``Content-Disposition:
    attachment``), as ``tsur report`` writes it; overdue as of now.

    Refused (403) to a municipal curator: the report covers the whole region
    and names its incidents (see the module).
    """
    check_report_access(who)

    def load() -> tuple[str, bytes]:
        p = validated_period(st, period)
        return p.key.replace("..", "_"), report_file(st, p)

    key, data = await run_in_threadpool(load)
    return Response(
        content=data,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{key}.html"'},
    )
