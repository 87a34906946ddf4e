"""Reporting periods: a month, an ISO week, a day, a year or a range of days.

Periods are half-open ``[start, end)`` intervals of local time in the
region's time zone; :meth:`Period.previous` is the period just before,
used for "change against the previous period".
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from tsur.errors import ReportError

__all__ = ["MONTHS", "Period", "parse_period", "period_of"]

#: Month names (nominative), as report headings use them.
MONTHS = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/)\s*(\d{4}-\d{2}-\d{2})$")


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@attrs.frozen
class Period:
    """A reporting period: ``[start, end)`` in the region's local time."""

    kind: str  # "year" | "month" | "week" | "day" | "range"
    first: date  # first day
    last: date  # last day (inclusive)
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        """Local midnight at the start of the first day."""
        return _midnight(self.first, self.tz)

    @property
    def end(self) -> datetime:
        """Local midnight after the last day (exclusive)."""
        return _midnight(self.last + timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        """Number of calendar days."""
        return (self.last - self.first).days + 1

    @property
    def key(self) -> str:
        """The text that :func:`parse_period` reads back (``2026-11``, ``2026-W46`` …)."""
        if self.kind == "year":
            return f"{self.first.year}"
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        if self.kind == "week":
            y, w, _ = self.first.isocalendar()
            return f"{y}-W{w:02d}"
        if self.kind == "day":
            return self.first.isoformat()
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    @property
    def label(self) -> str:
        """A Russian heading: «ноябрь 2026», «неделя 46, 09.11–15.11.2026» …"""
        if self.kind == "year":
            return f"{self.first.year} год"
        if self.kind == "month":
            return f"{MONTHS[self.first.month - 1]} {self.first.year}"
        if self.kind == "day":
            return f"{self.first:%d.%m.%Y}"
        span = f"{self.first:%d.%m}–{self.last:%d.%m.%Y}"
        if self.kind == "week":
            return f"неделя {self.first.isocalendar()[1]}, {span}"
        return span

    def previous(self) -> Period:
        """The period of the same kind (and length) just before this one."""
        if self.kind == "year":
            first = date(self.first.year - 1, 1, 1)
            return Period("year", first, self.first - timedelta(1), self.tz)
        if self.kind == "month":
            return Period("month", _add_months(self.first, -1), self.first - timedelta(1), self.tz)
        shift = timedelta(days=self.days)
        return Period(self.kind, self.first - shift, self.last - shift, self.tz)

    def clip(self, at: datetime) -> datetime:
        """``at`` if it falls inside the period, else the period's end (or start)."""
        return min(max(at, self.start), self.end)

    def as_dict(self) -> dict[str, str]:
        """JSON-safe description."""
        return {
            "key": self.key,
            "kind": self.kind,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


def parse_period(text: str, tz: ZoneInfo | str) -> Period:
    """Read ``2026-11`` (month), ``2026-W46`` (ISO week), ``2026-11-16`` (day),
    ``2026`` (year) or ``2026-11-01..2026-11-20`` (days, both included).

    Raises :class:`~tsur.errors.ReportError` naming what is wrong.
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    value = text.strip()
    try:
        if m := _MONTH.match(value):
            first = date(int(m.group(1)), int(m.group(2)), 1)
            return Period("month", first, _add_months(first, 1) - timedelta(1), zone)
        if m := _WEEK.match(value):
            first = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            return Period("week", first, first + timedelta(6), zone)
        if m := _DAY.match(value):
            day = date.fromisoformat(value)
            return Period("day", day, day, zone)
        if m := _YEAR.match(value):
            year = int(m.group(1))
            return Period("year", date(year, 1, 1), date(year, 12, 31), zone)
        if m := _RANGE.match(value):
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
            if last < first:
                raise ReportError(f"range {value!r} ends before it starts", option="period")
            return Period("range", first, last, zone)
    except ValueError as exc:
        raise ReportError(f"{value!r} is not a valid date: {exc}", option="period") from exc
    raise ReportError(
        f"cannot read {text!r}; write a month 2026-11, a week 2026-W46, a day 2026-11-16, "
        "a year 2026 or days 2026-11-01..2026-11-20",
        option="period",
    )


def period_of(at: datetime, kind: str, tz: ZoneInfo | str) -> Period:
    """The month (week, day, year) that contains ``at`` in the region's time zone."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = at.astimezone(zone).date()
    if kind == "month":
        return parse_period(f"{local:%Y-%m}", zone)
    if kind == "week":
        y, w, _ = local.isocalendar()
        return parse_period(f"{y}-W{w:02d}", zone)
    if kind == "day":
        return parse_period(local.isoformat(), zone)
    if kind == "year":
        return parse_period(str(local.year), zone)
    raise ReportError(f"unknown period kind {kind!r}; use month, week, day or year", option="kind")
