"""The demo's fortnight: a clock that moves with the messages, hourly ticks, executors at work.

What a real period looks like, and what the demo must therefore show: each
message is taken in minutes after it is written (letters in the next
working hours), never before; no incident is late on arrival; most are
answered, most answers in time, some late, a few escalated; the urgent
ladder climbs at night as the rules say; histories read in time order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from tsur import Engine, Incident, Message, Status
from tsur.default_plugins.commands import DEMO_NOW
from tsur.errors import InvalidRequest
from tsur.lifecycle import DemoClock, DemoRun, simulate
from tsur.wire import parse_record


def demo_messages() -> list[Message]:
    lines = (resources.files("tsur") / "data" / "demo" / "messages.jsonl").read_text("utf-8")
    return [parse_record(json.loads(line)) for line in lines.splitlines()]


def fortnight(
    messages: list[Message] | None = None, until: datetime = DEMO_NOW
) -> tuple[Engine, DemoRun]:
    messages = demo_messages() if messages is None else messages
    clock = DemoClock(min(m.created_at for m in messages))
    engine = Engine.from_config(None, db=":memory:", entry_points=False, clock=clock)
    return engine, simulate(engine, messages, clock=clock, until=until)


@pytest.fixture(scope="module")
def period() -> Iterator[tuple[Engine, DemoRun]]:
    engine, run = fortnight()
    yield engine, run
    engine.close()


def received(inc: Incident) -> datetime:
    return next(e.at for e in inc.history if e.kind == "received")


def test_each_message_is_taken_shortly_after_it_is_written(
    period: tuple[Engine, DemoRun],
) -> None:
    engine, run = period
    region = engine.region
    for inc in run.incidents:
        first = engine.repository.messages(incident_id=inc.id, limit=1000)[-1].message
        lag = received(inc) - first.created_at
        assert lag >= timedelta(0), inc.id
        if region.source_kind(inc.source) == "written":  # registered in working hours
            assert lag < timedelta(days=4), inc.id
        else:
            assert lag <= timedelta(hours=2), (inc.id, inc.source, lag)


def test_nothing_is_late_on_arrival_and_histories_run_forward(
    period: tuple[Engine, DemoRun],
) -> None:
    _, run = period
    for inc in run.incidents:
        at = received(inc)
        assert inc.first_response_due is None or inc.first_response_due > at, inc.id
        times = [e.at for e in inc.history]
        assert times == sorted(times), inc.id
        assert times[-1] <= DEMO_NOW


def test_the_period_reads_like_a_real_one(period: tuple[Engine, DemoRun]) -> None:
    _, run = period
    s = run.summary()
    n = s["incidents"]
    assert n >= 290
    assert s["answered"] >= 0.85 * n  # most incidents answered
    assert 0.8 * s["answered"] <= s["answered_on_time"] < s["answered"]  # most in time, some late
    assert 0 < s["resolved_on_time"] < s["resolved"]
    assert 0 < s["overdue_now"] <= 0.15 * n
    assert 0 < s["escalated_incidents"] <= 0.25 * n  # a few escalated, not all
    assert s["escalations"].get("governor", 0) <= 0.1 * n
    assert s["triage_left"] == 0  # the curators sorted out their queue
    assert run.ticks == int((DEMO_NOW - run.start) / timedelta(hours=1))
    a = run.actions
    assert a["otpiska"] > 0 and a["closed"] > 0 and a["reopened"] > 0 and a["extended"] == 1
    assert run.processed["thanked"] > 0 and run.processed["failed"] == 0


def test_each_person_hears_once_per_missed_term(period: tuple[Engine, DemoRun]) -> None:
    """One notice per incident, level and missed term (a reopened incident has a new term)."""
    _, run = period
    steps = [(e["incident"], e["to"], e["deadline"], e["due"]) for e in run.escalations]
    assert len(steps) == len(set(steps))
    assert len({(e["incident"], e["level"]) for e in run.escalations}) > 0.9 * len(steps)


def test_the_urgent_ladder_climbs_at_night(period: tuple[Engine, DemoRun]) -> None:
    engine, run = period
    tz = engine.region.calendar.tz
    urgent_night: list[datetime] = []
    for inc in run.incidents:
        if inc.urgency.value != "urgent":
            continue
        for e in inc.history:
            local = e.at.astimezone(tz)
            if e.kind == "escalated" and (local.hour < 8 or local.hour >= 20):
                urgent_night.append(local)
    assert urgent_night, "no urgent incident climbed the ladder out of office hours"


def test_the_same_data_gives_the_same_period() -> None:
    """Run twice, the first days of the demo give the same incidents, actions and figures."""
    messages = demo_messages()
    start = min(m.created_at for m in messages)
    first_days = [m for m in messages if m.created_at < start + timedelta(days=3)]
    runs = []
    for _ in range(2):
        engine, run = fortnight(first_days, until=start + timedelta(days=4))
        engine.close()
        runs.append(run)
    first, again = runs
    assert first.summary()["incidents"] > 20 and first.actions
    assert again.summary() == first.summary()
    assert again.actions == first.actions


def test_answers_are_not_posted_to_real_channels(period: tuple[Engine, DemoRun]) -> None:
    _, run = period
    replies = [e for inc in run.incidents for e in inc.history if e.kind == "reply"]
    assert replies and all(e.data.get("delivered") is False for e in replies)


def test_an_engine_on_another_clock_is_refused() -> None:
    messages = demo_messages()[:3]
    clock = DemoClock(messages[0].created_at)
    with (
        Engine.from_config(None, db=":memory:", entry_points=False) as engine,
        pytest.raises(InvalidRequest, match="the engine must run on the simulation's clock"),
    ):
        simulate(engine, messages, clock=clock, until=DEMO_NOW)


def test_lines_say_what_happened(period: tuple[Engine, DemoRun]) -> None:
    _, run = period
    text = "\n".join(run.lines())
    s: dict[str, Any] = run.summary()
    assert f"Первый ответ дан по {s['answered']} из {s['incidents']} инцидентов" in text
    assert f"Эскалация: {s['escalated_incidents']} инцидент" in text
    assert "контроль сроков — каждый час" in text
    resolved = [i for i in run.incidents if i.status in (Status.RESOLVED, Status.CLOSED)]
    assert f"решено {len(resolved)}" in text
