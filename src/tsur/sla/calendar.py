"""Working time in a region's time zone on the Russian production calendar.

Working days are generated with :mod:`dateutil.rrule`: Monday to Friday,
minus the holidays, plus the Saturdays the government moved work to. A day
is worked from ``start`` to ``end`` minus the lunch break; a pre-holiday
"short day" ends an hour earlier. Both directions are supported:
:meth:`WorkingCalendar.add` (a deadline from a start) and
:meth:`WorkingCalendar.between` (working time elapsed between two instants).

Services that do not keep office hours have a schedule of their own:

``office``
    the production calendar above (the default);
``daily``
    every day of the year, holidays included, within the hours;
``24/7``
    round the clock (an emergency dispatch service, ЕДДС, 112): working
    time is plain time.

Terms in days end at the end of their last day (``day_end="midnight"``:
24:00, the last instant before midnight; ``"working_day"``: the end of that
day's working hours, as some regions practise), and a term that ends on a
day off moves to the next working day (Civil Code art. 193).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

__all__ = ["SCHEDULES", "WorkingCalendar", "load_production_calendar"]

#: The schedules a calendar can keep (see the module docstring).
SCHEDULES = ("office", "daily", "24/7")
#: How a term in days ends on its last day.
DAY_ENDS = ("midnight", "working_day")

_FIXED_HOLIDAYS = (
    (1, 1),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 5),
    (1, 6),
    (1, 7),
    (1, 8),
    (2, 23),
    (3, 8),
    (5, 1),
    (5, 9),
    (6, 12),
    (11, 4),
)


@lru_cache(maxsize=1)
def load_production_calendar() -> dict[str, Any]:
    """The bundled Russian production calendar (``tsur/data/calendar/ru.json``)."""
    ref = resources.files("tsur") / "data" / "calendar" / "ru.json"
    try:
        data: dict[str, Any] = json.loads(ref.read_text("utf-8"))
    except FileNotFoundError:  # pragma: no cover - the file ships with the package
        data = {"years": {}}
    return data


def _parse_time(text: str) -> timedelta:
    """``"HH:MM"`` as the time since midnight (``"24:00"`` is the day's end)."""
    h, m = text.split(":")
    return timedelta(hours=int(h), minutes=int(m))


def _at(day: date, offset: timedelta, tz: ZoneInfo) -> datetime:
    """``day`` at ``offset`` after its local midnight (24:00 is the next midnight)."""
    return datetime.combine(day, time(), tz) + offset


class WorkingCalendar:
    """Working hours of one region (or executor) on a production calendar.

    ``holidays`` and ``workdays`` add to (and override) the bundled
    calendar; years the calendar lacks fall back to the fixed public
    holidays of the Labour Code (art. 112) without transfers.
    """

    def __init__(
        self,
        tz: str | ZoneInfo = "Europe/Moscow",
        *,
        hours: tuple[str, str] = ("09:00", "18:00"),
        lunch: tuple[str, str] | None = ("13:00", "14:00"),
        holidays: Iterable[date | str] = (),
        workdays: Iterable[date | str] = (),
        use_production_calendar: bool = True,
        schedule: str = "office",
        day_end: str = "midnight",
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        if day_end not in DAY_ENDS:
            raise ValueError(f"day_end must be one of {', '.join(DAY_ENDS)}, got {day_end!r}")
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        #: ``office``, ``daily`` or ``24/7``
        self.schedule = schedule
        #: how a term in days ends: ``midnight`` or ``working_day``
        self.day_end = day_end
        if schedule == "24/7":
            hours, lunch = ("00:00", "24:00"), None
        self.start, self.end = _parse_time(hours[0]), _parse_time(hours[1])
        self.lunch = (_parse_time(lunch[0]), _parse_time(lunch[1])) if lunch else None
        self._holidays: set[date] = set()
        self._workdays: set[date] = set()
        self._short: set[date] = set()
        self._years: set[int] = set()
        if use_production_calendar and schedule == "office":
            for year, spec in load_production_calendar().get("years", {}).items():
                self._years.add(int(year))
                self._holidays.update(date.fromisoformat(d) for d in spec.get("holidays", []))
                self._workdays.update(date.fromisoformat(d) for d in spec.get("workdays", []))
                self._short.update(date.fromisoformat(d) for d in spec.get("short_days", []))
        if schedule == "office":
            extra_h = {d if isinstance(d, date) else date.fromisoformat(d) for d in holidays}
            extra_w = {d if isinstance(d, date) else date.fromisoformat(d) for d in workdays}
            self._holidays |= extra_h
            self._holidays -= extra_w
            self._workdays |= extra_w
            self._workdays -= extra_h
        self._day_cache: dict[date, bool] = {}
        self._interval_cache: dict[date, list[tuple[datetime, datetime]]] = {}

    @classmethod
    def round_the_clock(cls, tz: str | ZoneInfo, *, day_end: str = "midnight") -> WorkingCalendar:
        """A 24/7 calendar: every instant is working time."""
        return cls(tz, schedule="24/7", day_end=day_end)

    # days -----------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        if self.schedule != "office" or day in self._workdays:
            result = True
        elif day in self._holidays or (
            day.year not in self._years and (day.month, day.day) in _FIXED_HOLIDAYS
        ):
            result = False
        else:
            result = day.weekday() < 5
        self._day_cache[day] = result
        return result

    def working_days(self, start: date, end: date) -> Iterator[date]:
        """Working days from ``start`` to ``end`` inclusive."""
        rule = rrule.rrule(
            rrule.DAILY,
            dtstart=datetime.combine(start, time()),
            until=datetime.combine(end, time()),
        )
        for dt in rule:
            if self.is_working_day(dt.date()):
                yield dt.date()

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Working intervals of ``day`` as aware datetimes (empty on days off)."""
        cached = self._interval_cache.get(day)
        if cached is None:
            cached = self._interval_cache[day] = self._intervals(day)
        return cached

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return []
        end = _at(day, self.end, self.tz)
        if day in self._short:
            end -= timedelta(hours=1)
        start = _at(day, self.start, self.tz)
        if self.lunch is None:
            return [(start, end)]
        l0 = _at(day, self.lunch[0], self.tz)
        l1 = _at(day, self.lunch[1], self.tz)
        out = []
        if l0 > start:
            out.append((start, min(l0, end)))
        if end > l1:
            out.append((max(l1, start), end))
        return [(a, b) for a, b in out if b > a]

    @property
    def hours_per_day(self) -> float:
        """Length of an ordinary working day in hours."""
        total = self.end - self.start
        if self.lunch:
            total -= self.lunch[1] - self.lunch[0]
        return total.total_seconds() / 3600

    # arithmetic -------------------------------------------------------------
    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant when ``amount`` of working time has passed since ``start``."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if amount < timedelta(0):
            raise ValueError("amount must not be negative")
        if amount == timedelta(0):
            return start
        local = start.astimezone(self.tz)
        remaining = amount
        day = local.date()
        for _ in range(3660):  # ten years of days: a hard stop for absurd inputs
            for a, b in self.intervals(day):
                if b <= local:
                    continue
                a = max(a, local)
                span = b - a
                if remaining <= span:
                    return (a + remaining).astimezone(start.tzinfo)
                remaining -= span
            day += timedelta(days=1)
        raise ValueError(f"working time {amount} does not fit in ten years")

    def next_working_instant(self, start: datetime) -> datetime:
        """``start`` if it is working time, else the start of the next working interval."""
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(3660):
            for a, b in self.intervals(day):
                if b > local:
                    return max(a, local).astimezone(start.tzinfo)
            day += timedelta(days=1)
        raise ValueError(f"no working time within ten years of {start.isoformat()}")

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """``days`` working days after ``start``: the same time of day, ``days`` working
        days on (from the next working instant when ``start`` is outside working time).

        A day is a day whatever its length: a shortened pre-holiday day crossed
        on the way adds nothing. A term that lands after a shortened day's end
        ends with it; a fraction of a day is counted in working hours.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if days < 0:
            raise ValueError("days must not be negative")
        begin = self.next_working_instant(start).astimezone(self.tz)
        whole = int(days)
        day = begin.date()
        counted = 0
        while counted < whole:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        offset = begin - datetime.combine(begin.date(), time(), self.tz)
        target = _at(day, offset, self.tz)
        spans = self.intervals(day)
        if spans and target > spans[-1][1]:
            target = spans[-1][1]
        result = target.astimezone(start.tzinfo)
        fraction = days - whole
        if fraction:
            result = self.add(result, timedelta(hours=self.hours_per_day * fraction))
        return result

    def end_of_day(self, day: date) -> datetime:
        """When a term ending on ``day`` ends: the last instant before its midnight
        (24:00 of the day, Civil Code art. 194), or its working day's end."""
        if self.day_end == "working_day":
            spans = self.intervals(day)
            if spans:
                return spans[-1][1]
        return datetime.combine(day, time(23, 59, 59, 999999), self.tz)

    def add_calendar_days(self, start: datetime, days: float) -> datetime:
        """A term of ``days`` calendar days from ``start``: it ends at the end of its last
        day, and a last day that is a day off moves to the next working day (as legal
        terms do, Civil Code art. 191–193). A fraction of a day is plain time."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if days != int(days):
            return start + timedelta(days=days)
        day = start.astimezone(self.tz).date() + timedelta(days=int(days))
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return self.end_of_day(day).astimezone(start.tzinfo)

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b`` (negative if ``b`` is before ``a``)."""
        if a.tzinfo is None or b.tzinfo is None:
            raise ValueError("instants must be timezone-aware")
        if b < a:
            return -self.between(b, a)
        la, lb = a.astimezone(self.tz), b.astimezone(self.tz)
        total = timedelta(0)
        day = la.date()
        while day <= lb.date():
            for s, e in self.intervals(day):
                s, e = max(s, la), min(e, lb)
                if e > s:
                    total += e - s
            day += timedelta(days=1)
        return total
