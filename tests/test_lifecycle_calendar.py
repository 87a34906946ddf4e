"""Executors' own working calendars and the deadline arithmetic of the lifecycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tsur import Region, parse_duration
from tsur.sla.deadlines import due, late_by, warning_instant

from .test_lifecycle import life_region

MSK = timezone(timedelta(hours=3))
SAMARA = timezone(timedelta(hours=4))


def own_calendars(data: dict[str, Any]) -> None:
    ex = {e["id"]: e for e in data["executors"]}
    ex["teplo"].update(working_hours=["00:00", "23:59"])  # a dispatch service: no lunch
    ex["carrier"].update(working_hours=["07:00", "19:00"], lunch=["11:00", "11:30"])
    ex["minzdrav"].update(timezone="Europe/Moscow")  # region's hours, Moscow time
    ex["adm-sela"].update(lunch=["12:00", "12:48"])  # region's hours, own lunch


REGION = life_region(executors=own_calendars)
CALENDARS = Region.from_config(REGION)


def test_each_executor_gets_its_own_calendar_or_the_regions() -> None:
    region = CALENDARS.calendar
    assert CALENDARS.calendar_for("adm-gorod") is region
    assert CALENDARS.calendar_for(None) is region
    assert CALENDARS.calendar_for("no-such-executor") is region
    teplo = CALENDARS.calendar_for("teplo")
    assert teplo.lunch is None and teplo.hours_per_day == 23 + 59 / 60
    carrier = CALENDARS.calendar_for("carrier")
    assert carrier.hours_per_day == 11.5
    minzdrav = CALENDARS.calendar_for("minzdrav")
    assert str(minzdrav.tz) == "Europe/Moscow" and minzdrav.hours_per_day == 8
    sela = CALENDARS.calendar_for("adm-sela")
    assert str(sela.tz) == "Europe/Samara" and sela.hours_per_day == 8.2
    assert CALENDARS.calendar_for("carrier") is carrier  # built once


def test_deadlines_in_working_hours_days_and_calendar_days() -> None:
    start = datetime(2026, 11, 3, 16, 0, tzinfo=SAMARA)  # the short day before Unity Day
    region = CALENDARS.calendar
    # 1 h of the short day (ends 17:00), 04.11 off, 3 h on Thursday
    assert due(region, start, parse_duration("4 working hours")) == datetime(
        2026, 11, 5, 12, 0, tzinfo=SAMARA
    )
    assert due(region, start, parse_duration("6 working hours")) == datetime(
        2026, 11, 5, 15, 0, tzinfo=SAMARA
    )
    # Moscow hours are 10–19 in Samara: 2 h left on the short day, lunch at 13:00 Moscow time
    minzdrav = CALENDARS.calendar_for("minzdrav")
    assert due(minzdrav, start, parse_duration("6 working hours")) == datetime(
        2026, 11, 5, 13, 0, tzinfo=MSK
    )
    carrier = CALENDARS.calendar_for("carrier")
    # two carrier working days are two days, whatever their length: Thursday, Friday
    assert due(carrier, start, parse_duration("2 working days")) == datetime(
        2026, 11, 6, 16, 0, tzinfo=SAMARA
    )
    # 30 days end at the end of the 30th day, not at the hour the count began
    assert due(region, start, parse_duration("30 days")) == datetime(
        2026, 12, 3, 23, 59, 59, 999999, tzinfo=SAMARA
    )
    # 2 days from Saturday 02.01.2027 land in the New Year holidays → the end of Monday 11.01
    new_year = datetime(2027, 1, 2, 10, 0, tzinfo=SAMARA)
    assert due(region, new_year, parse_duration("2 days")) == datetime(
        2027, 1, 11, 23, 59, 59, 999999, tzinfo=SAMARA
    )
    assert due(region, start, parse_duration("90 minutes")) == start + timedelta(minutes=90)
    assert due(region, start, None) is None


def test_warnings_fall_in_working_time_and_lateness_counts_only_it() -> None:
    region = CALENDARS.calendar
    start = datetime(2026, 11, 20, 16, 0, tzinfo=SAMARA)  # Friday
    deadline = datetime(2026, 11, 23, 16, 0, tzinfo=SAMARA)  # Monday: 8 working hours later
    # 6 of the 8 hours: 2 on Friday, 4 on Monday morning — the lunch break is not counted
    assert warning_instant(region, start, deadline, 0.75) == datetime(
        2026, 11, 23, 13, 0, tzinfo=SAMARA
    )
    # no working time in between (a Saturday): plain time
    sat = datetime(2026, 11, 21, 10, 0, tzinfo=SAMARA)
    assert warning_instant(region, sat, sat + timedelta(hours=4), 0.5) == sat + timedelta(hours=2)
    assert late_by(region, deadline, deadline - timedelta(hours=1)) == timedelta(0)
    assert late_by(region, start, deadline) == timedelta(hours=8)


# properties ---------------------------------------------------------------------------------------
EXECUTORS = ["adm-gorod", "teplo", "carrier", "minzdrav", "adm-sela"]
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 11, 30), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(
    executor=st.sampled_from(EXECUTORS),
    start=instants,
    minutes=st.integers(min_value=1, max_value=60 * 120),
)
def test_working_deadlines_hold_exactly_that_much_working_time(
    executor: str, start: datetime, minutes: int
) -> None:
    cal = CALENDARS.calendar_for(executor)
    span = timedelta(minutes=minutes)
    end = due(cal, start, parse_duration(f"{minutes} minutes"))
    assert end == start + span  # plain minutes are plain
    end = due(cal, start, parse_duration(f"{minutes / 60} working hours"))
    assert end is not None and end > start
    assert abs(cal.between(start, end) - span) < timedelta(milliseconds=1)
    # the deadline is inside working time (or at the very end of an interval)
    local = end.astimezone(cal.tz)
    assert any(a < local <= b for a, b in cal.intervals(local.date()))


@settings(max_examples=60, deadline=None)
@given(
    executor=st.sampled_from(EXECUTORS),
    start=instants,
    days=st.integers(min_value=1, max_value=60),
)
def test_calendar_day_terms_end_on_a_working_day_never_early(
    executor: str, start: datetime, days: int
) -> None:
    cal = CALENDARS.calendar_for(executor)
    end = due(cal, start, parse_duration(f"{days} days"))
    assert end is not None and end >= start + timedelta(days=days)
    assert cal.is_working_day(end.astimezone(cal.tz).date())
    target = (start + timedelta(days=days)).astimezone(cal.tz).date()
    assert all(
        not cal.is_working_day(target + timedelta(n))
        for n in range((end.astimezone(cal.tz).date() - target).days)
    )


@settings(max_examples=60, deadline=None)
@given(
    executor=st.sampled_from(EXECUTORS),
    start=instants,
    hours=st.floats(min_value=0.25, max_value=200),
    share=st.floats(min_value=0, max_value=1),
)
def test_warning_instant_splits_the_working_time(
    executor: str, start: datetime, hours: float, share: float
) -> None:
    cal = CALENDARS.calendar_for(executor)
    deadline = due(cal, start, parse_duration(f"{hours} working hours"))
    assert deadline is not None
    w = warning_instant(cal, start, deadline, share)
    assert start <= w <= deadline
    total = cal.between(start, deadline)
    assert abs(cal.between(start, w) - total * share) < timedelta(milliseconds=1)


@settings(max_examples=60, deadline=None)
@given(
    executor=st.sampled_from(EXECUTORS),
    deadline=instants,
    after=st.lists(st.integers(min_value=1, max_value=40), min_size=2, max_size=4, unique=True),
    late=st.integers(min_value=0, max_value=24 * 14),
)
def test_ladder_rungs_come_in_order_and_lateness_is_working_time(
    executor: str, deadline: datetime, after: list[int], late: int
) -> None:
    cal = CALENDARS.calendar_for(executor)
    rungs = [due(cal, deadline, parse_duration(f"{a} working hours")) for a in sorted(after)]
    assert rungs == sorted(rungs)  # type: ignore[type-var]
    now = deadline + timedelta(hours=late)
    lateness = late_by(cal, deadline, now)
    assert timedelta(0) <= lateness <= now - deadline
    for a, rung in zip(sorted(after), rungs, strict=True):
        assert rung is not None
        # a rung is reached exactly when the lateness reaches its working hours
        assert (now >= rung) == (lateness >= timedelta(hours=a)), (a, rung, lateness)


def test_production_calendar_is_shared_by_executor_calendars() -> None:
    for executor in EXECUTORS:
        cal = CALENDARS.calendar_for(executor)
        assert not cal.is_working_day(date(2027, 1, 8))
        assert cal.is_working_day(date(2027, 2, 20))  # the transferred working Saturday
