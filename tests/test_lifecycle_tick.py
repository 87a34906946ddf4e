"""The escalation tick: the whole ladder, resets, idempotence, the ``tsur tick`` command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tsur import Engine
from tsur.cli import main
from tsur.lifecycle import Lifecycle

from .conftest import SMALL_REGION, FrozenClock
from .test_lifecycle import Channel, at, life_region, lifecycle_pm, make_life, new_incident


def with_kind_rung(data: dict[str, Any]) -> None:
    data["escalation"]["ladder"].append(
        {"level": "executor_kind", "executor_kind": "district_administration", "after": "5 wd"}
    )


@pytest.fixture
def ladder(db_url: str, clock: FrozenClock) -> Iterator[tuple[Lifecycle, Channel]]:
    channel = Channel()
    life = make_life(db_url, clock, channel, region=life_region(escalation=with_kind_rung))
    try:
        yield life, channel
    finally:
        life.close()
        life.engine.close()


def escalations(life: Lifecycle, iid: int) -> list[tuple[int, str, str, str]]:
    return [
        (e.data["step"], e.data["level"], e.data["to"], e.data["deadline"])
        for e in life.engine.incident(iid).history
        if e.kind == "escalated"
    ]


def test_the_whole_ladder_once_each_and_missing_rungs_skipped(
    ladder: tuple[Lifecycle, Channel], clock: FrozenClock
) -> None:
    life, channel = ladder
    road = new_incident(life, "Смышляевка: яма на дороге у школы", ext="r")
    clinic = new_incident(life, "Тольятти: в поликлинике не записаться к врачу", ext="h")
    assert (road.executor, clinic.executor) == ("adm-volzhsky", "minzdrav")
    assert road.first_response_due == at(16, 18)  # 8 working hours from 09:00
    clock.now = at(30, 12)  # two weeks later: every rung is due at once
    report = life.tick()
    # each person hears of a missed term once: the district's supervisor is the ЦУР, so
    # the curator rung tells nobody new
    assert escalations(life, road.id) == [  # type: ignore[arg-type]
        (1, "supervisor", "cur", "first_response"),
        (3, "deputy_governor", "vice-zhkh", "first_response"),
        (4, "governor", "governor", "first_response"),
    ]  # rung 5 names the district administration, the executor itself: skipped
    # the ministry's supervisor is the governor, told once (not again as governor); no
    # deputy covers health
    assert escalations(life, clinic.id) == [  # type: ignore[arg-type]
        (1, "supervisor", "governor", "first_response"),
        (2, "curator", "cur", "first_response"),
    ]
    # both deadlines are missed: overdue counts incidents, the ladder runs from the earliest
    assert report.overdue == 2 and report.escalated == 5
    state = life.engine.incident(road.id).data["lifecycle"]  # type: ignore[arg-type]
    assert state["escalation"] == {
        "level": "governor",
        "to": "governor",
        "step": 4,
        "deadline": "first_response",
    }
    again = life.tick()
    assert (again.escalated, again.overdue, again.notified) == (0, 0, 0)
    sent = [n for n in channel.notes if n.kind == "escalated"]
    assert len(sent) == 5
    assert ("governor", "adm-volzhsky") in {n.recipients for n in sent}


def test_a_new_deadline_restarts_the_ladder(
    ladder: tuple[Lifecycle, Channel], clock: FrozenClock
) -> None:
    life, _ = ladder
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге", ext="r")
    iid = inc.id
    assert iid is not None
    clock.now = at(17, 10, 30)  # the first answer was due Monday 18:00
    assert life.tick().escalated == 1
    assert escalations(life, iid) == [(1, "supervisor", "cur", "first_response")]
    clock.now = at(17, 11)
    life.answer_intermediate(iid)  # late, but now the final answer is due in 7 working days
    assert life.tick().escalated == 0
    clock.now = at(26, 12, 30)  # the new term (26.11 11:00) is missed by 1.5 working hours
    report = life.tick()
    assert (report.overdue, report.escalated) == (1, 1)
    assert escalations(life, iid)[-1] == (1, "supervisor", "cur", "resolution")


def test_two_workers_ticking_at_once_notify_once(db_url: str, clock: FrozenClock) -> None:
    a = make_life(db_url, clock)
    b = make_life(db_url, clock)
    try:
        texts = [
            "Сызрань, ул. Мира, 5: яма на дороге",
            "Сызрань: автобус 41 не пришёл, стоим на остановке",
            "Сызрань, ул. Ленина, 9: в подъезде нет воды",
        ]
        ids = {new_incident(a, text, ext=str(n)).id for n, text in enumerate(texts)}
        assert len(ids) == 3
        clock.now = at(17, 14, 30)  # 4.5 working hours late: supervisor and curator, both
        first, second = a.tick(), b.tick()  # the ЦУР, which hears of each incident once
        assert first.escalated == 3 and second.escalated == 0
        assert second.notified == 0
        with a.engine.repository.engine.connect() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                sa.text("SELECT kind, count(*) FROM notifications GROUP BY kind ORDER BY kind")
            ).all()
        assert dict(rows) == {"escalated": 3, "overdue": 3, "routed": 3}
    finally:
        for life in (a, b):
            life.close()
            life.engine.close()


def test_tsur_tick_prints_counts_as_its_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "t.db")
    config = str(SMALL_REGION)
    with Engine.from_config(config, db=db, entry_points=False, clock=lambda: at(16, 9, 30)) as e:
        e.process(
            [
                {
                    "source": "vk",
                    "external_id": "1",
                    "text": "Сызрань, ул. Мира, 5: яма на дороге",
                    "created_at": "2026-11-16T09:00:00+04:00",
                }
            ]
        )
    pm = lifecycle_pm()
    argv = ["tick", "--db", db, "--config", config, "--now", "2026-11-17T10:30:00+04:00"]
    assert main(argv, pm=pm) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "открытых инцидентов 1: предупреждений о сроке 0, отметок о просрочке 1, "
        "шагов эскалации 1, уведомлений 2"
    )
    assert any("Эскалации (1)" in line for line in out)
    assert main([*argv, "--json"], pm=pm) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["escalated"] == 0 and json.loads(line)["notified"] == 0
    with pytest.raises(SystemExit):
        main(["tick", "--db", db, "--config", config, "--now", "tomorrow"], pm=pm)
    assert "'tomorrow' is not an ISO date-time" in capsys.readouterr().err
