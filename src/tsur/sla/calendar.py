"""Working time in a region's time zone on the Russian production calendar.

Working days are generated with :mod:`dateutil.rrule`: Monday to Friday,
minus the holidays, plus the Saturdays the government moved work to. A day
is worked from ``start`` to ``end`` minus the lunch break; a pre-holiday
"short day" ends an hour earlier. Both directions are supported:
:meth:`WorkingCalendar.add` (a deadline from a start) and
:meth:`WorkingCalendar.between` (working time elapsed between two instants).
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

__all__ = ["WorkingCalendar", "load_production_calendar"]

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


def _parse_time(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


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
    ) -> None:
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.start, self.end = _parse_time(hours[0]), _parse_time(hours[1])
        self.lunch = (_parse_time(lunch[0]), _parse_time(lunch[1])) if lunch else None
        self._holidays: set[date] = set()
        self._workdays: set[date] = set()
        self._short: set[date] = set()
        self._years: set[int] = set()
        if use_production_calendar:
            for year, spec in load_production_calendar().get("years", {}).items():
                self._years.add(int(year))
                self._holidays.update(date.fromisoformat(d) for d in spec.get("holidays", []))
                self._workdays.update(date.fromisoformat(d) for d in spec.get("workdays", []))
                self._short.update(date.fromisoformat(d) for d in spec.get("short_days", []))
        extra_h = {d if isinstance(d, date) else date.fromisoformat(d) for d in holidays}
        extra_w = {d if isinstance(d, date) else date.fromisoformat(d) for d in workdays}
        self._holidays |= extra_h
        self._holidays -= extra_w
        self._workdays |= extra_w
        self._workdays -= extra_h
        self._day_cache: dict[date, bool] = {}
        self._interval_cache: dict[date, list[tuple[datetime, datetime]]] = {}

    # days -----------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        if day in self._workdays:
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
        end = datetime.combine(day, self.end, self.tz)
        if day in self._short:
            end -= timedelta(hours=1)
        start = datetime.combine(day, self.start, self.tz)
        if self.lunch is None:
            return [(start, end)]
        l0 = datetime.combine(day, self.lunch[0], self.tz)
        l1 = datetime.combine(day, self.lunch[1], self.tz)
        out = []
        if l0 > start:
            out.append((start, min(l0, end)))
        if end > l1:
            out.append((max(l1, start), end))
        return [(a, b) for a, b in out if b > a]

    @property
    def hours_per_day(self) -> float:
        """Length of an ordinary working day in hours."""
        total = datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        if self.lunch:
            total -= datetime.combine(date.min, self.lunch[1]) - datetime.combine(
                date.min, self.lunch[0]
            )
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

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """``days`` whole working days after ``start``, at the same share of the day."""
        return self.add(start, timedelta(hours=self.hours_per_day * days))

    def add_calendar_days(self, start: datetime, days: float) -> datetime:
        """``days`` calendar days after ``start``; a deadline on a day off moves to
        the end of the next working day (as legal terms do, Civil Code art. 193)."""
        local = start.astimezone(self.tz)
        target = local + timedelta(days=days)
        day = target.date()
        if self.is_working_day(day):
            return target.astimezone(start.tzinfo)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return self.intervals(day)[-1][1].astimezone(start.tzinfo)

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
