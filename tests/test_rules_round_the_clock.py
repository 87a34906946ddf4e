"""Emergencies do not wait for Monday: the urgent track runs round the clock.

Written from the rule, on the bundled Samara oblast region, on SQLite and
PostgreSQL: a gas smell reported at 03:00 on a Saturday in Tolyatti goes to
the gas emergency dispatch service (104, round the clock), its terms are
wall-clock, and when it is missed the municipality's ЕДДС hears of it within
the hour — before 07:00 that Saturday. A pothole reported at the same moment
still waits for Monday's working hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tsur import Engine, Message, Status, Urgency
from tsur.lifecycle import Lifecycle

from .conftest import FrozenClock, bundled_world

SAMARA = timezone(timedelta(hours=4))
SATURDAY_3AM = datetime(2026, 11, 21, 3, 0, tzinfo=SAMARA)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SAMARA)


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[Engine, Lifecycle, FrozenClock]]:
    with bundled_world(db_url, at(21, 3, 5)) as w:
        yield w


def message(ext: str, text: str) -> Message:
    return Message(source="hotline", external_id=ext, text=text, created_at=SATURDAY_3AM)


def escalations(engine: Engine, incident_id: int) -> list[tuple[str, str]]:
    return [
        (e.data["to"], e.at.astimezone(SAMARA).strftime("%a %H:%M"))
        for e in engine.incident(incident_id).history
        if e.kind == "escalated"
    ]


def test_a_saturday_night_gas_smell_reaches_the_duty_service_before_dawn(
    world: tuple[Engine, Lifecycle, FrozenClock],
) -> None:
    engine, life, clock = world
    report = engine.process(
        [
            message("gas", "Тольятти, ул. Мира, 12: в подъезде сильно пахнет газом, соседи спят"),
            message("pothole", "Тольятти, ул. Мира, 12: во дворе яма на дороге, объезжаем"),
        ]
    )
    gas_id, pothole_id = report.incident_ids
    gas, pothole = engine.incident(gas_id), engine.incident(pothole_id)
    assert (gas.topic, gas.urgency, gas.executor) == (
        "zhkh.gas",
        Urgency.URGENT,
        "gazprom-gr-ads",
    )
    assert engine.region.executors["gazprom-gr-ads"].schedule == "24/7"
    # wall-clock terms: 2 hours to answer, 24 to resolve, on a Saturday night
    assert gas.first_response_due == at(21, 5)
    assert gas.resolution_due == at(22, 3)
    # the pothole keeps office hours: 8 working hours from Monday 09:00
    assert pothole.urgency is not Urgency.URGENT
    assert pothole.first_response_due == at(23, 18)

    for now in (at(21, 5, 10), at(21, 5, 40), at(21, 6, 10), at(21, 7)):
        clock.now = now
        life.tick()
    # missed at 05:00: the town's ЕДДС at 05:40, the ЦУР by 06:10 — before 07:00 Saturday
    assert escalations(engine, gas_id) == [
        ("edds-tolyatti", "Sat 05:40"),
        ("cur", "Sat 06:10"),
    ]
    assert engine.region.executors["edds-tolyatti"].kind == "edds"
    assert escalations(engine, pothole_id) == []  # nothing is late yet

    clock.now = at(21, 9, 30)  # the deputy governor three hours after the missed term
    life.tick()
    assert [to for to, _ in escalations(engine, gas_id)][-1] == "deputy-housing"
    # the pothole's ladder waits for Monday's working hours
    clock.now = at(22, 23, 30)
    life.tick()
    assert escalations(engine, pothole_id) == []
    clock.now = at(23, 19, 30)  # Monday: 8 working hours ended at 18:00
    life.tick()
    assert escalations(engine, pothole_id) == []  # one working hour late is Tuesday 10:00
    clock.now = at(24, 10, 5)
    life.tick()
    assert [to for to, _ in escalations(engine, pothole_id)][:1] == [
        engine.region.supervisor(pothole.executor).id  # type: ignore[union-attr]
    ]
    assert engine.incident(gas_id).status in (Status.ROUTED, Status.TRIAGE)
