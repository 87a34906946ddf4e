"""Working calendars per executor and deadline arithmetic on them.

An executor may keep its own hours, lunch break and time zone
(``executors[].working_hours``, ``lunch``, ``timezone``); the region's apply
otherwise. Holidays and transferred working days are the region's for
everyone. An executor that declares its own ``working_hours`` but no
``lunch`` works without a break (a dispatch service); one that declares
neither keeps the region's lunch.

The functions here only read calendars: :func:`due` adds a configured
span (working hours, working days, calendar days, plain hours) to an
instant, :func:`warning_instant` finds the moment a share of the time to a
deadline has passed, and :func:`late_by` says how much working time an
instant is past a deadline.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tsur.config import Duration, RegionConfig, SLAConfig
from tsur.domain import Incident
from tsur.sla.calendar import WorkingCalendar
from tsur.sla.policies import Deadlines, SLAResolver

__all__ = [
    "ExecutorCalendars",
    "deadlines_for",
    "due",
    "late_by",
    "warning_instant",
]


class ExecutorCalendars:
    """One :class:`WorkingCalendar` per executor, built once and cached.

    ``region`` is the region's calendar (the engine's, when given, so both
    share one cache); executors without hours of their own get it.
    """

    def __init__(self, config: RegionConfig, region: WorkingCalendar | None = None) -> None:
        r = config.region
        self.config = config
        self.region = region or WorkingCalendar(
            r.timezone,
            hours=r.working_hours,
            lunch=r.lunch,
            holidays=r.extra_holidays,
            workdays=r.extra_workdays,
        )
        self._executors = {e.id: e for e in config.executors}
        self._cache: dict[str, WorkingCalendar] = {}

    def for_executor(self, executor: str | None) -> WorkingCalendar:
        """The calendar ``executor`` works on (the region's if it has none of its own)."""
        if executor is None:
            return self.region
        cached = self._cache.get(executor)
        if cached is not None:
            return cached
        e = self._executors.get(executor)
        if e is None or (e.working_hours is None and e.lunch is None and e.timezone is None):
            cal = self.region
        else:
            r = self.config.region
            # own hours: own lunch or none; the region's hours: the region's lunch by default
            lunch = e.lunch if e.working_hours is not None else e.lunch or r.lunch
            cal = WorkingCalendar(
                e.timezone or r.timezone,
                hours=e.working_hours or r.working_hours,
                lunch=lunch,
                holidays=r.extra_holidays,
                workdays=r.extra_workdays,
            )
        self._cache[executor] = cal
        return cal


def due(calendar: WorkingCalendar, start: datetime, span: Duration | None) -> datetime | None:
    """``start`` plus ``span`` on ``calendar``; None when there is no span.

    Working hours and working days count only working time (a working day
    is the calendar's ordinary day length); calendar days end on a working
    day (a term ending on a day off moves to the end of the next working
    day); hours and minutes are plain time.
    """
    if span is None:
        return None
    if span.unit == "working_hours":
        return calendar.add(start, timedelta(hours=span.amount))
    if span.unit == "working_days":
        return calendar.add(start, timedelta(hours=span.amount * calendar.hours_per_day))
    if span.unit == "days":
        return calendar.add_calendar_days(start, span.amount)
    return start + span.as_timedelta()


def deadlines_for(
    resolver: SLAResolver,
    calendar: WorkingCalendar,
    incident: Incident,
    start: datetime,
    *,
    policy: SLAConfig | None = None,
) -> Deadlines | None:
    """Deadlines of ``incident`` counted from ``start`` on ``calendar`` (the executor's).

    ``policy`` defaults to the one ``resolver`` matches; None without a policy.
    """
    p = policy or resolver.policy_for(incident)
    if p is None:
        return None
    return Deadlines(
        p.id, due(calendar, start, p.first_response), due(calendar, start, p.resolution)
    )


def warning_instant(
    calendar: WorkingCalendar, start: datetime, deadline: datetime, share: float
) -> datetime:
    """The instant when ``share`` (0–1) of the time from ``start`` to ``deadline`` has passed.

    Time is counted in working time, so a warning never falls at night;
    when no working time lies between the two (a deadline on the same
    evening), plain time is used instead.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    if deadline <= start:
        return deadline
    working = calendar.between(start, deadline)
    if working > timedelta(0):
        return min(calendar.add(start, working * share), deadline)
    return start + (deadline - start) * share


def late_by(calendar: WorkingCalendar, deadline: datetime, now: datetime) -> timedelta:
    """Working time from ``deadline`` to ``now``; zero when ``now`` is not past it."""
    if now <= deadline:
        return timedelta(0)
    return calendar.between(deadline, now)
