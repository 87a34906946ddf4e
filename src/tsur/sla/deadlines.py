"""Deadlines: which SLA policy applies, and when its terms fall due on a calendar.

The one place tsur turns a configured span into an instant. Every caller —
the pipeline setting a new incident's deadlines, the lifecycle moving them
after an answer, an extension or a reopening, the tick finding warnings and
escalation rungs — goes through :func:`due`:

- working hours count only working time on the calendar;
- working days count days: the same time of day so many working days on,
  whatever the length of the days between;
- calendar days end at the end of their last day, and a term that ends on a
  day off moves to the next working day;
- hours and minutes are plain time.

:func:`policy_for` picks the policy (the executor's own, else the first of
the region's whose conditions hold) and :func:`deadlines_for` computes an
incident's first-response and resolution deadlines on its executor's
calendar (:meth:`tsur.Region.calendar_for`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, overload

import attrs

from tsur.domain import Duration, Incident, SLAPolicy
from tsur.sla.calendar import WorkingCalendar

if TYPE_CHECKING:
    from tsur.region import Region

__all__ = [
    "Deadlines",
    "deadlines_for",
    "due",
    "late_by",
    "policy_for",
    "registration_policy",
    "warning_instant",
]


@attrs.frozen
class Deadlines:
    """Deadlines computed for an incident under one policy."""

    policy: str
    first_response_due: datetime | None
    resolution_due: datetime | None


@overload
def due(calendar: WorkingCalendar, start: datetime, span: Duration) -> datetime: ...


@overload
def due(calendar: WorkingCalendar, start: datetime, span: None) -> None: ...


@overload
def due(calendar: WorkingCalendar, start: datetime, span: Duration | None) -> datetime | None: ...


def due(calendar: WorkingCalendar, start: datetime, span: Duration | None) -> datetime | None:
    """``start`` plus ``span`` on ``calendar``; None when there is no span."""
    if span is None:
        return None
    if span.unit == "working_hours":
        return calendar.add(start, timedelta(hours=span.amount))
    if span.unit == "working_days":
        return calendar.add_working_days(start, span.amount)
    if span.unit == "days":
        return calendar.add_calendar_days(start, span.amount)
    if span.unit == "hours":
        return start + timedelta(hours=span.amount)
    return start + timedelta(minutes=span.amount)


def policy_for(region: Region, incident: Incident) -> SLAPolicy | None:
    """The policy that applies to ``incident``, or None if the region has none.

    An executor's own policy (``executors[].sla``) overrides the region's
    rules; otherwise the first matching ``[[sla]]`` entry wins.
    """
    ex = region.executors.get(incident.executor or "")
    if ex is not None and ex.sla is not None:
        return region.policy(ex.sla)
    return next((p for p in region.sla if _matches(region, p, incident)), None)


def registration_policy(region: Region, incident: Incident) -> SLAPolicy | None:
    """The first policy with a ``registration`` term whose conditions, urgency aside, hold.

    A written appeal is registered within its term (59-ФЗ art. 8 p. 2)
    whatever track its answers are on: an urgent letter is answered on the
    urgent terms and registered all the same.
    """
    return next(
        (
            p
            for p in region.sla
            if p.registration is not None and _matches(region, p, incident, urgency=False)
        ),
        None,
    )


def _matches(region: Region, p: SLAPolicy, incident: Incident, *, urgency: bool = True) -> bool:
    ex = region.executors.get(incident.executor or "")
    if p.topics and not region.in_topic(incident.topic, p.topics):
        return False
    if urgency and p.urgency and incident.urgency not in p.urgency:
        return False
    if p.sources and incident.source not in p.sources:
        return False
    if p.source_kinds and region.source_kind(incident.source) not in p.source_kinds:
        return False
    return not (p.executor_kinds and (ex is None or ex.kind not in p.executor_kinds))


def deadlines_for(
    region: Region,
    incident: Incident,
    start: datetime,
    *,
    policy: SLAPolicy | None = None,
) -> Deadlines | None:
    """Deadlines of ``incident`` counted from ``start`` on its terms' calendar
    (:meth:`tsur.Region.terms_calendar`: round the clock for a ``24/7`` policy).

    ``policy`` defaults to the one :func:`policy_for` picks; None without a policy.
    """
    p = policy or policy_for(region, incident)
    if p is None:
        return None
    calendar = region.terms_calendar(incident.executor, p)
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
