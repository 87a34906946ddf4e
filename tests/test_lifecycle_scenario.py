"""Two full lives on a frozen clock, on SQLite and PostgreSQL.

An urgent heating failure reported on VK on the short day before Unity Day
(03.11.2026; 04.11 is a holiday), whose terms and escalation run round the
clock through the holiday night, and a written appeal under 59-ФЗ whose
extended term ends in the New Year holidays of 2027: each is classified,
routed, answered in between, late, escalated, refused an «отписка»,
answered properly with a photo, rated low, reopened and resolved again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tsur import Status
from tsur.errors import AnswerRejected, ExtensionRefused, PhotoRequired
from tsur.lifecycle import Lifecycle

from .conftest import FrozenClock
from .helpers import msg
from .test_lifecycle import Channel, at, end_of, life_region, make_life


def kinds(life: Lifecycle, iid: int) -> list[str]:
    return [
        e.kind if e.to_status is None else e.to_status.value
        for e in life.engine.incident(iid).history
    ]


def urgent_after_intermediate(data: dict[str, Any]) -> None:
    urgent = next(p for p in data["sla"] if p["id"] == "urgent")
    urgent["after_intermediate"] = "8 working hours"


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[Lifecycle, FrozenClock, Channel]]:
    clock = FrozenClock(at(3, 15, 31))
    channel = Channel()
    life = make_life(db_url, clock, channel, region=life_region(sla=urgent_after_intermediate))
    try:
        yield life, clock, channel
    finally:
        life.close()
        life.engine.close()


def test_an_urgent_incident_lives_round_the_clock_through_a_holiday(
    world: tuple[Lifecycle, FrozenClock, Channel],
) -> None:
    life, clock, channel = world
    report = life.engine.process(
        [msg("p1", "В Тольятти на ул. Мира, 5 нет отопления, батареи холодные", at=at(3, 15, 30))]
    )
    (iid,) = report.incident_ids
    inc = life.engine.incident(iid)
    assert (inc.topic, inc.urgency.value, inc.executor) == ("zhkh.heating", "urgent", "teplo")
    # the urgent track runs on the clock: 2 hours to answer, 24 to resolve, holiday or not
    assert inc.first_response_due == at(3, 17, 30)
    assert inc.resolution_due == at(4, 15, 30)

    clock.now = at(3, 17)
    inc = life.answer_intermediate(iid)
    assert inc.first_response_at == at(3, 17)
    assert inc.resolution_due == at(4, 1)  # 8 hours after the intermediate answer, at night
    assert "Срок: до 04.11.2026 01:00" in channel.posted[-1].text

    ticks = []
    for now in (at(3, 22, 30), at(3, 23, 30), at(4, 1, 30), at(4, 2), at(4, 2), at(4, 5)):
        clock.now = now
        r = life.tick()
        ticks.append((r.warned, r.overdue, r.escalated, r.notified))
    assert ticks == [
        (0, 0, 0, 0),  # 75 % of the 8 hours falls at 23:00
        (1, 0, 0, 1),
        (0, 1, 1, 2),  # overdue since 01:00; the town's ЕДДС 30 minutes later
        (0, 0, 1, 1),  # the ЦУР an hour after the term, on the holiday night
        (0, 0, 0, 0),  # the same tick again: nothing twice
        (0, 0, 1, 1),  # the governor four hours after: the ladder does not wait for Thursday
    ]
    steps = [e.data for e in life.engine.incident(iid).history if e.kind == "escalated"]
    assert [(s["step"], s["level"], s["to"]) for s in steps] == [
        (1, "executor_kind", "edds-gorod"),
        (2, "curator", "cur"),
        (3, "governor", "governor"),
    ]
    escalated = [n for n in channel.notes if n.kind == "escalated"]
    assert [n.recipients for n in escalated] == [
        ("edds-gorod", "teplo"),
        ("cur", "teplo"),
        ("governor", "teplo"),
    ]

    clock.now = at(4, 9, 5)
    with pytest.raises(AnswerRejected) as err:
        life.answer_final(iid, "Ваша заявка принята, работы ведутся в плановом порядке.")
    assert "«в плановом порядке» без конкретного срока" in err.value.reasons
    answer = "Заменена задвижка на вводе в дом, подача тепла восстановлена 04.11.2026 в 09:00."
    with pytest.raises(PhotoRequired):
        life.answer_final(iid, answer)
    inc = life.answer_final(iid, answer, photos=["https://example.org/p1-after.jpg"])
    assert inc.status is Status.RESOLVED
    clock.now = at(4, 10)
    assert life.tick().escalated == 0  # resolved: the ladder stops

    clock.now = at(4, 12)
    inc = life.rate(iid, 2, "в квартире по-прежнему +15")
    assert inc.status is Status.REOPENED and inc.executor == "teplo"
    assert inc.resolution_due == at(5, 12)  # 24 hours again, on the clock

    clock.now = at(5, 11)
    life.answer_final(
        iid,
        "Отрегулирован тепловой узел, температура в квартире 22 °C по замеру 05.11.2026.",
        photos=["https://example.org/p1-rework.jpg"],
    )
    assert life.rate(iid, 5, "Тепло, спасибо").status is Status.CLOSED
    assert kinds(life, iid) == [
        "received",
        "classified",
        "located",
        "routed",
        "deadlines",
        "answered_intermediate",
        "deadlines",
        "reply",
        "warning",
        "overdue",
        "escalated",
        "escalated",
        "escalated",
        "answer_rejected",
        "photo",
        "resolved",
        "reply",
        "rating",
        "reopened",
        "deadlines",
        "reply",
        "photo",
        "resolved",
        "reply",
        "rating",
        "closed",
    ]
    replies = [r.kind for r in channel.posted]
    assert replies == ["intermediate", "final", "intermediate", "final"]
    assert "возвращено исполнителю" in channel.posted[2].text


def test_a_written_appeal_lives_through_the_new_year_holidays(
    world: tuple[Lifecycle, FrozenClock, Channel],
) -> None:
    life, clock, channel = world
    clock.now = at(29, 11, 5, month=10)
    text = (
        "Прошу принять меры: в Сызрани на ул. Советская, д. 3 в подъезде течёт вода с крыши, "
        "управляющая компания не реагирует"
    )
    report = life.engine.process([msg("w-17", text, source="written", at=at(29, 11, month=10))])
    (iid,) = report.incident_ids
    inc = life.engine.incident(iid)
    assert (inc.executor, inc.sla_policy) == ("adm-sela", "written-59fz")
    # registered 29.10: 30 days end on Saturday 28.11 → the end of Monday 30.11
    assert inc.resolution_due == end_of(30)

    clock.now = at(2, 10)
    inc = life.forward(iid, "teplo", "течь из стояка отопления — в компетенции теплосети")
    forwarded = next(e for e in inc.history if e.kind == "forwarded")
    assert forwarded.data["late"] is False
    assert forwarded.data["forward_due"] == end_of(5).isoformat()  # 7 days from 29.10
    # the competent body's own terms from the forwarding: 7 and 30 days
    assert (inc.first_response_due, inc.resolution_due) == (end_of(9), end_of(2, month=12))

    clock.now = at(5, 10)
    inc = life.answer_intermediate(iid)
    assert inc.first_response_at == at(5, 10)
    assert inc.resolution_due == end_of(2, month=12)  # 59-ФЗ: only an extension moves it

    clock.now = at(25, 10)
    inc = life.extend_59fz(iid, "требуется замена участка стояка с отключением дома")
    # 02.12 + 30 days = 01.01.2027: New Year holidays to 08.01, a weekend → Monday 11.01
    assert inc.resolution_due == end_of(11, month=1, year=2027)
    with pytest.raises(ExtensionRefused):
        life.extend_59fz(iid, "ещё на месяц")

    ticks = []
    for now in (
        at(1, 10, month=12),
        at(28, 10, month=12),
        at(11, 17, month=1, year=2027),
        at(12, 10, 30, month=1, year=2027),
        at(12, 13, 30, month=1, year=2027),
        at(12, 13, 30, month=1, year=2027),
    ):
        clock.now = now
        r = life.tick()
        ticks.append((r.warned, r.overdue, r.escalated, r.notified))
    assert ticks == [
        (0, 0, 0, 0),
        (1, 0, 0, 1),  # 75 % of the extended term's working time is behind
        (0, 0, 0, 0),  # 11.01 17:00: the term runs to the end of the day
        (0, 1, 1, 2),  # overdue since the end of 11.01; supervisor from 10:00 on 12.01
        (0, 0, 1, 1),  # curator from 13:00
        (0, 0, 0, 0),
    ]
    steps = [e.data for e in life.engine.incident(iid).history if e.kind == "escalated"]
    assert [(s["level"], s["to"]) for s in steps] == [
        ("supervisor", "vice-zhkh"),
        ("curator", "cur"),
    ]

    clock.now = at(12, 14, month=1, year=2027)
    with pytest.raises(AnswerRejected) as err:
        life.answer_final(
            iid, "Ваше обращение направлено для рассмотрения. Информация принята к сведению."
        )
    assert "«направлено» без указания, куда и кому, и без даты" in err.value.reasons
    clock.now = at(12, 14, 10, month=1, year=2027)
    inc = life.answer_final(
        iid,
        "Выполнен ремонт стояка отопления в подъезде дома № 3, течь устранена 12.01.2027.",
        photos=["https://example.org/w17.jpg"],
    )
    assert inc.status is Status.RESOLVED

    clock.now = at(15, 10, month=1, year=2027)
    inc = life.rate(iid, 1, "снова течёт", resolved=False)
    assert inc.status is Status.REOPENED
    # 30 days from 15.01 end on Sunday 14.02 → the end of Monday 15.02
    assert inc.resolution_due == end_of(15, month=2, year=2027)

    clock.now = at(20, 11, month=1, year=2027)
    life.answer_final(
        iid,
        "Заменён участок стояка длиной 3 м, течь устранена 20.01.2027, подъезд просушен.",
        photos=["https://example.org/w17-2.jpg"],
    )
    assert life.rate(iid, 5).status is Status.CLOSED
    assert kinds(life, iid) == [
        "received",
        "classified",
        "located",
        "routed",
        "registered",
        "deadlines",
        "forwarded",
        "routed",
        "deadlines",
        "reply",
        "answered_intermediate",
        "reply",
        "extended",
        "deadlines",
        "reply",
        "warning",
        "overdue",
        "escalated",
        "escalated",
        "answer_rejected",
        "photo",
        "resolved",
        "reply",
        "rating",
        "reopened",
        "deadlines",
        "reply",
        "photo",
        "resolved",
        "reply",
        "rating",
        "closed",
    ]
    # no channel posts written answers: every reply is kept as not delivered, the curator told
    history = life.engine.incident(iid).history
    notices = [e.data.get("notice") for e in history if e.kind == "reply"]
    assert notices == ["forward", None, "extension", None, "reopened", None]
    assert not any(e.data["delivered"] for e in history if e.kind == "reply")
    life.engine.deliver_notifications()
    failed = [n for n in channel.notes if n.kind == "reply_failed" and n.incident_id == iid]
    assert len(failed) == 6 and {n.recipients for n in failed} == {("cur",)}
