"""59-ФЗ terms whatever the track and the executor's hours, and office-hour ladders.

Written from the rule, on the bundled Samara oblast region, on SQLite and
PostgreSQL:

- a written appeal is registered within 3 days of receipt (art. 8 p. 2) —
  an urgent letter too, although its answers follow the urgent terms;
- a term in days ends at 24:00 of its last day (Civil Code art. 194): an
  act done at 23:59:59.5 of that day is in time;
- a term ending on a day off moves to the next working day of the production
  calendar (art. 193), even when the executor works round the clock;
- the ordinary escalation ladder climbs in the office hours of the people it
  climbs to, even when the executor itself works 24/7.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tsur import Engine, Message, Urgency
from tsur.lifecycle import Lifecycle
from tsur.store import schema

from .conftest import FrozenClock, bundled_world

SAMARA = timezone(timedelta(hours=4))


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SAMARA)


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[Engine, Lifecycle, FrozenClock]]:
    with bundled_world(db_url, at(12, 1, 11)) as w:
        yield w


def letter(ext: str, text: str, received: datetime) -> Message:
    return Message(source="written", external_id=ext, text=text, created_at=received)


def registered(engine: Engine, incident_id: int) -> dict[str, object]:
    (event,) = [e for e in engine.incident(incident_id).history if e.kind == "registered"]
    return dict(event.data)


def test_an_urgent_letter_is_registered_and_its_late_registration_flagged(
    world: tuple[Engine, Lifecycle, FrozenClock],
) -> None:
    engine, _, clock = world
    clock.now = at(12, 1, 11)  # Tuesday; received Friday 27.11: 3 days ended Monday 30.11
    report = engine.process(
        [
            letter(
                "urgent",
                "Прошу принять меры: в Тольятти на ул. Мира, 12 открытый люк, дети ходят мимо",
                at(11, 27, 10),
            )
        ]
    )
    (iid,) = report.incident_ids
    inc = engine.incident(iid)
    assert inc.urgency is Urgency.URGENT and inc.sla_policy == "urgent"  # answered fast
    data = registered(engine, iid)
    assert data["late"] is True
    assert data["due"] == "2026-11-30T23:59:59.999999+04:00"
    outbox = schema.notifications
    with engine.repository.engine.connect() as conn:  # type: ignore[attr-defined]
        late = conn.execute(
            sa.select(outbox.c.incident_id).where(outbox.c.kind == "registration_late")
        ).all()
    assert [row[0] for row in late] == [iid]  # the curator is told


def test_an_act_in_the_last_second_of_the_term_is_in_time(
    world: tuple[Engine, Lifecycle, FrozenClock],
) -> None:
    engine, _, clock = world
    clock.now = at(11, 30, 23, 59) + timedelta(seconds=59, microseconds=500_000)
    report = engine.process(
        [letter("last", "В Сызрани на ул. Ленина, 5 не убирают двор", at(11, 27, 10))]
    )
    (iid,) = report.incident_ids
    assert registered(engine, iid)["late"] is False


def test_a_letter_forwarded_to_a_round_the_clock_service_keeps_the_production_calendar(
    world: tuple[Engine, Lifecycle, FrozenClock],
) -> None:
    engine, life, clock = world
    clock.now = at(12, 2, 10)
    report = engine.process(
        [letter("fwd", "В Сызрани на ул. Ленина, 5 не убирают двор", at(12, 2, 9))]
    )
    (iid,) = report.incident_ids
    assert engine.region.executors["cur-duty"].schedule == "24/7"
    life.forward(iid, "cur-duty", "вопрос в ведении дежурной службы")
    inc = engine.incident(iid)
    # 30 days from 02.12.2026 end on 01.01.2027, a holiday: the term moves to Monday 11.01
    assert inc.resolution_due == datetime(2027, 1, 11, 23, 59, 59, 999999, tzinfo=SAMARA)


def test_the_ordinary_ladder_keeps_office_hours_for_a_round_the_clock_executor(
    world: tuple[Engine, Lifecycle, FrozenClock],
) -> None:
    engine, life, clock = world
    clock.now = at(11, 20, 16)  # Friday afternoon
    report = engine.process(
        [
            Message(
                source="vk",
                external_id="bill",
                text="Самара, ул. Гагарина, 10: пришёл счёт за отопление с ошибкой в площади",
                created_at=at(11, 20, 15, 50),
            )
        ]
    )
    (iid,) = report.incident_ids
    assert engine.incident(iid).urgency is not Urgency.URGENT
    life.forward(iid, "tplus-ads", "расчёты за тепло ведёт теплоснабжающая организация")
    assert engine.region.executors["tplus-ads"].schedule == "24/7"
    due = engine.incident(iid).first_response_due
    assert due is not None and due < at(11, 23, 9)  # on the 24/7 calendar: over the weekend
    weekend = [at(11, 21, h) for h in (3, 12, 23)] + [at(11, 22, h) for h in (6, 18, 23)]
    for now in weekend:
        clock.now = now
        life.tick()
    assert [e for e in engine.incident(iid).history if e.kind == "escalated"] == []
    clock.now = at(11, 23, 10, 30)  # Monday: an office hour after the missed term
    life.tick()
    escalated = [e for e in engine.incident(iid).history if e.kind == "escalated"]
    assert [e.data["level"] for e in escalated] == ["supervisor"]
