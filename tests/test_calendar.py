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


def test_a_term_in_days_ends_at_the_end_of_its_last_day() -> None:
    """59-ФЗ / Civil Code art. 191–193: a term of N days ends when its last day ends,
    whatever time the count began; a last day that is a day off moves to the next
    working day."""
    # 30 days from 16.10.2026 (any hour) end on Sunday 15.11 → the end of Monday 16.11
    end_of_16 = datetime(2026, 11, 16, 23, 59, 59, 999999, tzinfo=MSK4)
    assert CAL.add_calendar_days(at(16, 10, month=10), 30) == end_of_16
    assert CAL.add_calendar_days(at(16, 17, 45, month=10), 30) == end_of_16
    assert CAL.add_calendar_days(at(2, 10), 1) == datetime(
        2026, 11, 3, 23, 59, 59, 999999, tzinfo=MSK4
    )
    # a region whose practice is the end of the working day
    office = WorkingCalendar("Europe/Samara", day_end="working_day")
    assert office.add_calendar_days(at(16, 10, month=10), 30) == at(16, 18)
    # Tuesday 03.11.2026 is a short day: its working day ends at 17:00
    assert office.add_calendar_days(at(2, 10), 1) == at(3, 17)


def test_n_working_days_are_days_not_hours() -> None:
    # 7 working days from Monday 02.11.2026 10:00: 03 (short), 05, 06, 09, 10, 11, 12 →
    # 12.11 10:00; the shortened 03.11 and the 04.11 holiday add nothing
    assert CAL.add_working_days(at(2, 10), 7) == at(12, 10)
    # from a day off the count starts with the next working morning
    assert CAL.add_working_days(at(7, 15), 1) == at(10, 9)  # Sat 07.11 → Mon 09.11 09:00 + 1
    # landing after a shortened day's end: it ends with that day (02.11 17:30 + 1 → 03.11 17:00)
    assert CAL.add_working_days(at(2, 17, 30), 1) == at(3, 17)
    # a half day is counted in working hours
    assert CAL.add_working_days(at(9, 9), 0.5) == at(9, 13)  # 4 working hours, to lunch


def test_round_the_clock_and_daily_schedules() -> None:
    clock = WorkingCalendar.round_the_clock("Europe/Samara")
    sat_3am = datetime(2026, 11, 21, 3, 0, tzinfo=MSK4)  # a Saturday night
    assert clock.add(sat_3am, timedelta(hours=2)) == sat_3am + timedelta(hours=2)
    assert clock.between(sat_3am, sat_3am + timedelta(hours=30)) == timedelta(hours=30)
    assert clock.is_working_day(date(2027, 1, 1)) and clock.hours_per_day == 24
    assert clock.add_working_days(sat_3am, 1) == sat_3am + timedelta(days=1)
    daily = WorkingCalendar("Europe/Samara", hours=("08:00", "20:00"), lunch=None, schedule="daily")
    assert daily.is_working_day(date(2026, 11, 4))  # Unity Day: a duty service works
    assert daily.add(sat_3am, timedelta(hours=1)) == datetime(2026, 11, 21, 9, 0, tzinfo=MSK4)
    night = WorkingCalendar("Europe/Samara", hours=("00:00", "24:00"), lunch=None, schedule="daily")
    assert night.between(sat_3am, sat_3am + timedelta(hours=5)) == timedelta(hours=5)


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
