"""Executor KPIs computed in SQL, checked against figures worked out by hand."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tsur import Message
from tsur.analytics import ExecutorKPI, executor_kpis, parse_period
from tsur.cli import main
from tsur.errors import ReportError
from tsur.lifecycle import Lifecycle

from .conftest import SMALL_REGION, FrozenClock
from .test_lifecycle import at, lifecycle_pm, make_life

SINCE, UNTIL = at(1, 0), at(1, 0, month=12)
PHOTO = ["https://example.org/done.jpg"]


def build(life: Lifecycle, clock: FrozenClock) -> dict[str, int]:
    """Nine incidents with known outcomes (see the test for the figures they give)."""
    ids: dict[str, int] = {}

    def new(key: str, text: str, when: datetime, source: str = "vk") -> int:
        clock.now = when
        report = life.engine.process(
            [Message(source=source, external_id=key, text=text, created_at=when)]
        )
        (ids[key],) = report.incident_ids
        return ids[key]

    def act(when: datetime) -> None:
        clock.now = when

    new("old", "Сызрань, ул. Пушкина, 2: яма на дороге", at(20, 9, month=10))
    s1 = new("s1", "Сызрань, ул. Мира, 5: яма на дороге", at(2, 9))
    s2 = new("s2", "Сызрань, ул. Ленина, 7: яма на дороге", at(2, 10))
    s3 = new("s3", "Сызрань, ул. Гагарина, 1: яма на дороге", at(9, 9))
    new("s4", "Сызрань, ул. Советская, 3: яма на дороге", at(30, 17))
    s5 = new("s5", "Сызрань, ул. Кирова, 8: яма на дороге", at(10, 9))
    g1 = new("g1", "Тольятти, ул. Мира, 5: нет воды в подъезде", at(3, 9))
    g2 = new("g2", "Тольятти, ул. Победы, 3: в подъезде протекает крыша", at(11, 9))
    t1 = new("t1", "Тольятти, ул. Луначарского, 9: нет отопления, батареи холодные", at(12, 9))
    done = "Яма заделана литым асфальтом, работы выполнены в день ответа, 10.11.2026."
    act(at(2, 11)), life.answer_intermediate(s1)
    act(at(3, 10)), life.answer_final(s1, done)
    act(at(3, 10, 30)), life.rate(s1, 5)
    act(at(3, 12)), life.answer_intermediate(s2)  # late: was due 03.11 10:00
    act(at(5, 10)), life.answer_final(s2, done)
    act(at(5, 12)), life.rate(s2, 2, "яма осталась")
    act(at(6, 10)), life.answer_final(s2, "Повторно заделана яма 06.11.2026.")
    act(at(10, 15)), life.answer_final(s5, done)
    act(at(10, 15, 30)), life.rate(s5, 4)
    act(at(3, 10)), life.answer_intermediate(g1)
    act(at(11, 12)), life.answer_final(g2, "Кровля отремонтирована 11.11.2026.", photos=PHOTO)
    act(at(11, 13)), life.rate(g2, 1, resolved=False)
    act(at(12, 10)), life.answer_intermediate(t1)
    act(at(12, 16)), life.answer_final(t1, "Подача тепла восстановлена 12.11.2026.", photos=PHOTO)
    act(at(12, 17)), life.rate(t1, 5)
    assert s3 not in (s1, s2) and len(set(ids.values())) == 9  # none grouped together
    return ids


@pytest.fixture
def kpis(db_url: str, clock: FrozenClock) -> dict[str, ExecutorKPI]:
    life = make_life(db_url, clock)
    try:
        build(life, clock)
        got = executor_kpis(life.repository, since=SINCE, until=UNTIL, min_cases=2, as_of=UNTIL)
        # Сызрань solved three of four in time; Тольятти answered fast but solved nothing
        assert [k.executor for k in got] == ["adm-sela", "adm-gorod", "teplo"]
        calendar = executor_kpis(
            life.repository, since=SINCE, until=UNTIL, calendar=life.engine.calendar
        )
        by = {k.executor: k for k in calendar}
        # working time: 2 h, 7 + 3 h, 4 + 1 h (lunch and the night not counted)
        assert by["adm-sela"].first_response_median_s == 5 * 3600
        assert by["adm-sela"].first_response_p90_s == (5 + 0.8 * 5) * 3600
        assert by["teplo"].resolution_median_s == 6 * 3600  # 09:00–16:00 minus lunch
        return {k.executor: k for k in got}
    finally:
        life.close()
        life.engine.close()


def test_kpis_per_executor(kpis: dict[str, ExecutorKPI]) -> None:
    sela = kpis["adm-sela"]
    assert sela.rank == 1 and sela.received == 5  # the October one is not in November
    assert (sela.answered, sela.answered_on_time, sela.decided) == (3, 2, 4)  # s4 not yet due
    assert sela.first_response_on_time_share == 0.5
    # solved in time: s1, s2 (its rework too) and s5; s3 never, past its term; s4 not due
    assert (sela.resolved_on_time, sela.resolution_decided) == (3, 4)
    assert sela.resolution_on_time_share == 0.75
    # first answers after 2 h, 26 h and 6 h: median 6 h; 90th percentile interpolated
    assert sela.first_response_median_s == 21600.0
    assert sela.first_response_p90_s == 21600.0 + 0.8 * (93600 - 21600)
    assert (sela.resolved, sela.reopened) == (3, 1)
    assert sela.reopen_rate == pytest.approx(1 / 3)
    assert sela.resolution_median_s == 25 * 3600.0  # 6 h, 25 h and 4 days
    assert sela.overdue == 2  # s2 answered late, s3 never answered
    assert (sela.ratings, sela.avg_rating) == (3, round(11 / 3, 3))

    gorod = kpis["adm-gorod"]
    # every first answer in time, nothing solved in time: second, whatever the answers' speed
    assert gorod.rank == 2 and gorod.first_response_on_time_share == 1.0
    assert (gorod.resolved_on_time, gorod.resolution_decided) == (0, 2)
    assert gorod.resolution_on_time_share == 0.0
    assert gorod.first_response_median_s == 7200.0 and gorod.first_response_p90_s == 10080.0
    assert (gorod.resolved, gorod.resolution_median_s) == (1, None)  # g2 reopened, still open
    assert (gorod.reopened, gorod.reopen_rate) == (1, 1.0)
    assert gorod.overdue == 2  # g1 missed its final term, g2 its rework term
    assert (gorod.ratings, gorod.avg_rating) == (1, 1.0)

    teplo = kpis["teplo"]
    assert teplo.rank is None and not teplo.ranked  # one case: shown, not ranked
    assert (teplo.received, teplo.first_response_on_time_share, teplo.overdue) == (1, 1.0, 0)
    assert teplo.resolution_on_time_share == 1.0
    assert teplo.resolution_median_s == 7 * 3600.0 and teplo.reopen_rate == 0.0
    assert teplo.as_dict()["avg_rating"] == 5.0


def test_bad_kpi_requests_are_refused(db_url: str, clock: FrozenClock) -> None:
    life = make_life(db_url, clock)
    try:
        with pytest.raises(ReportError, match="must be before"):
            executor_kpis(life.repository, since=UNTIL, until=SINCE)
        with pytest.raises(ReportError, match="timezone-aware"):
            executor_kpis(life.repository, since=datetime(2026, 11, 1), until=UNTIL)
        assert executor_kpis(life.repository, since=SINCE, until=UNTIL) == []
    finally:
        life.close()
        life.engine.close()
    with pytest.raises(ReportError, match="not a valid date"):
        parse_period("2026-13", "Europe/Samara")
    december = parse_period("2026-12", "Europe/Samara")
    assert (december.start, december.end) == (at(1, 0, month=12), at(1, 0, month=1, year=2027))


def test_tsur_kpi_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "kpi.db")
    clock = FrozenClock(at(1, 0))
    life = make_life(db, clock)
    try:
        build(life, clock)
    finally:
        life.close()
        life.engine.close()
    pm = lifecycle_pm()
    common = ["--db", db, "--config", str(SMALL_REGION), "--now", UNTIL.isoformat()]
    assert main(["kpi", "--period", "2026-11", "--json", "--min-cases", "2", *common], pm=pm) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["executor"] for r in rows] == ["adm-sela", "adm-gorod", "teplo"]
    keys = {
        "executor",
        "received",
        "resolution_on_time_share",
        "first_response_on_time_share",
        "first_response_median_s",
        "overdue",
    }
    assert keys | {"reopen_rate", "avg_rating", "rank"} <= set(rows[0])
    assert rows[0]["received"] == 5 and rows[0]["first_response_on_time_share"] == 0.5
    assert main(["kpi", "--period", "2026-11", *common], pm=pm) == 0
    out = capsys.readouterr().out
    assert "Показатели исполнителей: ноябрь 2026" in out
    assert "в рейтинге — исполнители с не менее чем 10 обращениями" in out
    assert main(["kpi", "--period", "ноябрь", *common], pm=pm) == 2
    assert "write a month 2026-11" in capsys.readouterr().err
    # without --period: the month the clock (--now, 1 December 00:00) is in
    assert main(["kpi", *common], pm=pm) == 0
    assert capsys.readouterr().out == (
        "декабрь 2026: обращений нет (последние инциденты — за 11.2026: --period 2026-11)\n"
    )


def test_solving_ranks_above_replying(db_url: str, clock: FrozenClock) -> None:
    """An executor that sends the template intermediate answer within the hour and solves
    nothing ranks below one that solves everything in time, even late to first reply."""
    life = make_life(db_url, clock)
    try:
        ids: dict[str, list[int]] = {"sela": [], "gorod": []}
        for n in range(10):
            day = 2 + n % 5  # Monday 02.11 … Friday 06.11 (04.11 is a holiday: no matter)
            for town, key in (("Сызрань", "sela"), ("Тольятти", "gorod")):
                clock.now = at(day, 9)
                report = life.engine.process(
                    [
                        Message(
                            source="vk",
                            external_id=f"{key}{n}",
                            text=f"{town}, ул. Мира, {n + 1}: яма на дороге, асфальт разбит",
                            created_at=at(day, 9),
                        )
                    ]
                )
                ids[key] += report.incident_ids
        for iid in ids["sela"]:  # the template within the hour, then nothing
            clock.now = life.engine.incident(iid).created_at + timedelta(minutes=40)
            life.answer_intermediate(iid)
        for iid in ids["gorod"]:  # no reply the first day, the road repaired the next
            clock.now = life.engine.incident(iid).created_at + timedelta(days=1, hours=2)
            life.answer_final(iid, f"Яма заделана литым асфальтом {clock.now:%d.%m.%Y}.")
        got = {
            k.executor: k
            for k in executor_kpis(
                life.repository, since=SINCE, until=UNTIL, min_cases=10, as_of=UNTIL
            )
        }
        sela, gorod = got["adm-sela"], got["adm-gorod"]
        assert (sela.first_response_on_time_share, sela.resolution_on_time_share) == (1.0, 0.0)
        assert sela.overdue == 10
        assert gorod.resolution_on_time_share == 1.0
        assert gorod.first_response_on_time_share is not None
        assert gorod.first_response_on_time_share < 0.5  # mostly late to reply
        assert (gorod.rank, sela.rank) == (1, 2)
    finally:
        life.close()
        life.engine.close()


def test_ratings_count_once_per_incident_and_nobody_rated_is_neutral(
    db_url: str, clock: FrozenClock
) -> None:
    """Of several ratings of one incident the last counts; an executor nobody rated stands
    at the middle of the scale, above one rated 1 and below one rated 5."""
    life = make_life(db_url, clock)
    try:
        ids: dict[str, list[int]] = {"sela": [], "gorod": []}
        for n in range(3):
            for town, key in (("Сызрань", "sela"), ("Тольятти", "gorod")):
                clock.now = at(2 + n, 9)
                report = life.engine.process(
                    [
                        Message(
                            source="vk",
                            external_id=f"{key}{n}",
                            text=f"{town}, ул. Мира, {n + 1}: яма на дороге, асфальт разбит",
                            created_at=at(2 + n, 9),
                        )
                    ]
                )
                ids[key] += report.incident_ids
        for key in ("sela", "gorod"):  # both answer and solve alike
            for iid in ids[key]:
                clock.now = life.engine.incident(iid).created_at + timedelta(hours=1)
                life.answer_intermediate(iid)
                if key == "sela" and iid == ids["sela"][0]:
                    life.rate(iid, 1, "долго")  # while open: recorded, no reopening
                clock.now += timedelta(hours=3)
                life.answer_final(iid, f"Яма заделана литым асфальтом {clock.now:%d.%m.%Y}.")

        def ranks() -> dict[str, tuple[int | None, int, float | None]]:
            got = executor_kpis(life.repository, since=SINCE, until=UNTIL, min_cases=3)
            return {k.executor: (k.rank, k.ratings, k.avg_rating) for k in got}

        assert ranks() == {"adm-gorod": (1, 0, None), "adm-sela": (2, 1, 1.0)}
        for score in (5, 5, 5, 4):  # the same citizen rates one incident again and again
            clock.now += timedelta(minutes=10)
            life.rate(ids["gorod"][0], score)
        assert ranks()["adm-gorod"] == (1, 1, 4.0)  # one incident rated, its last rating
    finally:
        life.close()
        life.engine.close()
