"""Working-time arithmetic on the Russian production calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from tsur import WorkingCalendar

MSK4 = timezone(timedelta(hours=4))
CAL = WorkingCalendar("Europe/Samara")


def at(d: int, h: int, m: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, d, h, m, tzinfo=MSK4)


def test_production_calendar_counts_official_working_days() -> None:
    # Official totals: 2024 — 248, 2025 — 247, 2026 — 247 working days.
    for year, total in ((2024, 248), (2025, 247), (2026, 247)):
        days = list(CAL.working_days(date(year, 1, 1), date(year, 12, 31)))
        assert len(days) == total, year


def test_transferred_days() -> None:
    assert not CAL.is_working_day(date(2025, 5, 2))  # moved off
    assert CAL.is_working_day(date(2025, 11, 1))  # a working Saturday
    assert not CAL.is_working_day(date(2026, 11, 4))  # Unity Day


def test_add_working_hours_skips_lunch_nights_and_weekends() -> None:
    # Friday 20.11.2026 16:00 + 8 working hours: 2 h on Friday, 4 h before lunch and 2 h after
    # on Monday → 23.11 16:00
    assert CAL.add(at(20, 16), timedelta(hours=8)) == at(23, 16)
    # before opening: the clock starts at 09:00
    assert CAL.add(at(16, 7), timedelta(hours=2)) == at(16, 11)
    # across lunch
    assert CAL.add(at(16, 12), timedelta(hours=2)) == at(16, 15)


def test_holiday_is_skipped() -> None:
    # Tuesday 03.11.2026 is a short pre-holiday day (ends 17:00), 04.11 a holiday
    assert CAL.add(at(3, 16), timedelta(hours=2)) == at(5, 10)


def test_calendar_days_roll_to_the_next_working_day() -> None:
    # 30 days from 16.10.2026 is Sunday 15.11 → end of Monday 16.11
    assert CAL.add_calendar_days(at(16, 10, month=10), 30) == at(16, 18)
    assert CAL.add_calendar_days(at(2, 10), 1) == at(3, 10)


def test_between_counts_only_working_time() -> None:
    assert CAL.between(at(20, 16), at(23, 16)) == timedelta(hours=8)
    assert CAL.between(at(23, 16), at(20, 16)) == -timedelta(hours=8)
    assert CAL.between(at(21, 10), at(22, 23)) == timedelta(0)


def test_region_overrides() -> None:
    cal = WorkingCalendar("Asia/Kamchatka", holidays=["2026-11-16"], workdays=["2026-11-21"])
    assert not cal.is_working_day(date(2026, 11, 16))
    assert cal.is_working_day(date(2026, 11, 21))
    start = datetime(2026, 11, 16, 9, tzinfo=UTC)  # 21:00 in Kamchatka
    assert cal.add(start, timedelta(hours=1)).astimezone(cal.tz).hour == 10


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 10, 1), timezones=st.just(UTC)
)
spans = st.integers(min_value=0, max_value=60 * 400).map(lambda m: timedelta(minutes=m))


@settings(max_examples=150, deadline=None)
@given(start=instants, span=spans)
def test_add_then_between_gives_the_span_back(start: datetime, span: timedelta) -> None:
    end = CAL.add(start, span)
    assert end >= start
    assert CAL.between(start, end) == span


@settings(max_examples=100, deadline=None)
@given(start=instants, a=spans, b=spans)
def test_add_is_monotonic_and_additive(start: datetime, a: timedelta, b: timedelta) -> None:
    assert CAL.add(CAL.add(start, a), b) == CAL.add(start, a + b)
    small, big = sorted((a, b))
    assert CAL.add(start, small) <= CAL.add(start, big)
