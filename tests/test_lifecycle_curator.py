"""A curator's corrections: reassign, merge, split, correct (and reading corrections back)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tsur import Author, IllegalTransition, Message, NotFound, Status
from tsur.errors import InvalidRequest
from tsur.lifecycle import Lifecycle

from .conftest import FrozenClock
from .helpers import msg
from .test_lifecycle import Channel, at, events, life_region, make_life, new_incident

ROAD = "Сызрань, ул. Мира, 5: яма на дороге, асфальт разбит"


@pytest.fixture
def channel() -> Channel:
    return Channel()


@pytest.fixture
def life(tmp_path: Path, clock: FrozenClock, channel: Channel) -> Iterator[Lifecycle]:
    lc = make_life(str(tmp_path / "tsur.db"), clock, channel)
    try:
        yield lc
    finally:
        lc.close()
        lc.engine.close()


def notes(life: Lifecycle, channel: Channel, kind: str) -> list[tuple[int, tuple[str, ...]]]:
    life.engine.deliver_notifications()
    return [(n.incident_id, n.recipients) for n in channel.notes if n.kind == kind]


# reassign ------------------------------------------------------------------------------------
def test_reassign_moves_the_terms_to_the_new_executors_clock_and_tells_only_the_executor(
    life: Lifecycle, channel: Channel, clock: FrozenClock
) -> None:
    inc = new_incident(life, ROAD)
    iid = inc.id
    assert iid is not None and inc.executor == "adm-sela" and inc.resolution_due == at(30, 9)
    clock.now = at(17, 12)
    moved = life.reassign(iid, "duty", "дорога областная, отвечает ЕДДС", actor="cur-petrova")
    assert moved.status is Status.ROUTED and moved.executor == "duty"
    (ev,) = events(moved, "reassigned")
    assert ev.actor == "cur-petrova" and ev.data == {"from": "adm-sela", "to": "duty"}
    # ЕДДС works round the clock: 10 working days from the first message run day and night
    assert moved.resolution_due == at(26, 9)
    assert events(moved, "deadlines")[-1].actor == "cur-petrova"
    assert channel.posted == []  # the citizen is not told
    assert (iid, ("duty",)) in notes(life, channel, "routed")
    stored = life.engine.incident(iid)
    assert (stored.executor, stored.resolution_due) == ("duty", moved.resolution_due)


def test_reassign_refusals(life: Lifecycle) -> None:
    inc = new_incident(life, ROAD)
    iid = inc.id
    assert iid is not None
    with pytest.raises(NotFound, match="executor 'nobody'"):
        life.reassign(iid, "nobody", "ошибка", actor="cur")
    with pytest.raises(InvalidRequest, match="already with 'adm-sela'"):
        life.reassign(iid, "adm-sela", "ошибка", actor="cur")
    with pytest.raises(InvalidRequest, match="reason"):
        life.reassign(iid, "duty", "  ", actor="cur")
    with pytest.raises(NotFound):
        life.reassign(9999, "duty", "ошибка", actor="cur")
    life.answer_final(iid, "Яма заделана 16.11.2026.")
    with pytest.raises(IllegalTransition, match="'resolved' to 'routed'"):
        life.reassign(iid, "duty", "ошибка", actor="cur")
    assert life.engine.incident(iid).executor == "adm-sela"


# merge ---------------------------------------------------------------------------------------
def test_merged_duplicates_every_citizen_is_answered_once(
    life: Lifecycle, channel: Channel
) -> None:
    a = new_incident(life, ROAD, ext="a", author=Author(id="u1"))
    b = new_incident(
        life,
        "Сызрань, ул. Ленина, 9: яма на дороге, асфальт провалился",
        ext="b",
        author=Author(id="u2"),
    )
    c = new_incident(
        life, "Сызрань, ул. Гагарина, 3: яма на дороге у школы", ext="c", author=Author(id="u1")
    )
    assert a.id is not None and b.id is not None and c.id is not None
    assert len({a.id, b.id, c.id}) == 3
    life.take_in_work(b.id)
    target = life.merge(a.id, [b.id, c.id], actor="cur-ivanova", reason="одна и та же яма")
    assert sorted(target.message_ids) == sorted(a.message_ids + b.message_ids + c.message_ids)
    (merged,) = events(target, "merged")
    assert merged.actor == "cur-ivanova" and merged.data["from"] == [b.id, c.id]
    for dup in (b.id, c.id):
        stored = life.engine.incident(dup)
        assert stored.status is Status.DUPLICATE and stored.message_ids == []
        (ev,) = events(stored, "merged")
        assert ev.data["into"] == a.id and ev.actor == "cur-ivanova"
        assert events(stored, "duplicate")[0].data == {"into": a.id}
    assert life.engine.incident(a.id).message_ids == target.message_ids
    life.answer_final(a.id, "Яма заделана асфальтобетоном 17.11.2026.")
    finals = [r for r in channel.posted if r.kind == "final"]
    assert sorted(r.in_reply_to for r in finals) == ["a", "b"]  # u1 once, u2 once


def test_merge_refusals_change_nothing(life: Lifecycle) -> None:
    a = new_incident(life, ROAD, ext="a")
    b = new_incident(life, "Сызрань, ул. Ленина, 9: яма на дороге, асфальт провалился", ext="b")
    far = new_incident(life, "Тольятти, ул. Победы, 2: яма на дороге у школы", ext="f")
    assert a.id is not None and b.id is not None and far.id is not None
    with pytest.raises(InvalidRequest, match="into itself"):
        life.merge(a.id, [a.id], actor="cur")
    with pytest.raises(InvalidRequest, match="at least one"):
        life.merge(a.id, [], actor="cur")
    with pytest.raises(InvalidRequest, match="twice"):
        life.merge(a.id, [b.id, b.id], actor="cur")
    with pytest.raises(NotFound):
        life.merge(a.id, [b.id, 9999], actor="cur")
    with pytest.raises(InvalidRequest, match="not one problem"):
        life.merge(a.id, [b.id, far.id], actor="cur")
    life.answer_final(b.id, "Выбоина заделана 16.11.2026.")
    with pytest.raises(IllegalTransition, match="'resolved' to 'duplicate'"):
        life.merge(a.id, [b.id], actor="cur")
    with pytest.raises(IllegalTransition, match="'resolved'"):
        life.merge(b.id, [a.id], actor="cur")
    for inc in (a, b, far):
        assert inc.id is not None
        stored = life.engine.incident(inc.id)
        assert stored.message_ids == inc.message_ids and not events(stored, "merged")


def test_merge_gives_the_target_the_earliest_term(life: Lifecycle, clock: FrozenClock) -> None:
    early = new_incident(life, ROAD, ext="e", at=at(16, 9))
    clock.now = at(18, 10)
    late = new_incident(life, "Сызрань, ул. Ленина, 9: яма на дороге у дома", ext="l", at=at(18, 9))
    assert early.id is not None and late.id is not None
    assert early.resolution_due is not None and late.resolution_due is not None
    assert early.resolution_due < late.resolution_due
    target = life.merge(late.id, [early.id], actor="cur")
    assert target.resolution_due == early.resolution_due


# split ---------------------------------------------------------------------------------------
def test_split_routes_the_new_incident_and_gives_it_terms(
    life: Lifecycle, channel: Channel
) -> None:
    first = new_incident(life, ROAD, ext="s1")
    report = life.engine.process(
        [msg_in_thread("s2", "И ещё в доме на ул. Мира, 5 нет отопления, батареи холодные")]
    )
    assert report.incident_ids == [first.id]
    inc = life.engine.incident(first.id)  # type: ignore[arg-type]
    assert len(inc.message_ids) == 2
    heat = inc.message_ids[1]
    new = life.split(
        inc.id,  # type: ignore[arg-type]
        [heat],
        actor="cur-ivanova",
        reason="отопление — другая проблема",
        topic="zhkh.heating",
    )
    assert new.id is not None and new.id != inc.id
    assert new.status is Status.ROUTED and new.executor == "teplo"  # the routing rule
    assert new.topic == "zhkh.heating" and new.territory == inc.territory
    assert new.resolution_due is not None and new.sla_policy is not None
    assert life.engine.incident(new.id).message_ids == [heat]
    rest = life.engine.incident(inc.id)  # type: ignore[arg-type]
    assert rest.message_ids == [inc.message_ids[0]] and rest.executor == "adm-sela"
    (out,) = events(rest, "split")
    assert out.actor == "cur-ivanova" and out.data["into"] == new.id
    (came,) = events(life.engine.incident(new.id), "split")
    assert came.actor == "cur-ivanova" and came.data["from"] == inc.id
    assert (new.id, ("teplo",)) in notes(life, channel, "routed")
    # the answer of each incident goes to its own messages
    life.answer_final(new.id, "Отопление восстановлено 16.11.2026.", photos=["after.jpg"])
    assert [r.in_reply_to for r in channel.posted if r.kind == "final"] == ["s2"]


def msg_in_thread(ext: str, text: str) -> Message:
    """A reply to the message ``s1`` (it joins that message's incident)."""
    return msg(ext, text, parent_id="s1")


def test_split_refusals(life: Lifecycle) -> None:
    first = new_incident(life, ROAD, ext="s1")
    life.engine.process([msg_in_thread("s2", "И ещё во дворе ул. Мира, 5 не вывозят мусор")])
    other = new_incident(life, "Сызрань, ул. Ленина, 9: яма на дороге у дома", ext="o")
    inc = life.engine.incident(first.id)  # type: ignore[arg-type]
    iid = inc.id
    assert iid is not None and len(inc.message_ids) == 2
    with pytest.raises(InvalidRequest, match="all its messages"):
        life.split(iid, inc.message_ids, actor="cur", reason="другое")
    with pytest.raises(InvalidRequest, match="not messages of this incident"):
        life.split(iid, other.message_ids, actor="cur", reason="другое")
    with pytest.raises(InvalidRequest, match="at least one"):
        life.split(iid, [], actor="cur", reason="другое")
    with pytest.raises(NotFound, match="topic 'nope'"):
        life.split(iid, inc.message_ids[1:], actor="cur", reason="другое", topic="nope")
    assert life.engine.incident(iid).message_ids == inc.message_ids


# correct -------------------------------------------------------------------------------------
def test_corrections_are_recorded_and_read_back_as_labelled_examples(
    life: Lifecycle, channel: Channel
) -> None:
    inc = new_incident(life, "Тольятти, ул. Мира, 5: автобус 12 не ходит по расписанию")
    iid = inc.id
    assert iid is not None and inc.topic == "transport" and inc.executor == "carrier"
    fixed = life.correct(iid, actor="cur-ivanova", topic="roads", reason="речь о дороге")
    assert fixed.topic == "roads" and fixed.executor == "carrier"  # no reroute asked
    (ev,) = events(fixed, "corrected")
    assert ev.actor == "cur-ivanova" and ev.data["topic"] == ["transport", "roads"]
    rerouted = life.correct(iid, actor="cur-ivanova", territory="sela", reroute=True)
    assert rerouted.territory == "sela" and rerouted.executor == "adm-sela"
    assert events(rerouted, "reassigned")[0].data == {"from": "carrier", "to": "adm-sela"}
    assert (iid, ("adm-sela",)) in notes(life, channel, "routed")
    first, second = life.corrections()
    assert (first.incident_id, first.old_topic, first.new_topic) == (iid, "transport", "roads")
    assert first.texts == ("Тольятти, ул. Мира, 5: автобус 12 не ходит по расписанию",)
    assert first.topic_changed and not first.territory_changed
    assert (second.old_territory, second.new_territory) == ("gorod", "sela")
    assert second.old_topic == second.new_topic == "roads" and second.actor == "cur-ivanova"
    assert life.corrections(since=datetime(2030, 1, 1, tzinfo=at(1, 0).tzinfo)) == []


def test_correct_refusals(life: Lifecycle) -> None:
    inc = new_incident(life, ROAD)
    iid = inc.id
    assert iid is not None
    with pytest.raises(NotFound, match="topic 'nope'"):
        life.correct(iid, actor="cur", topic="nope")
    with pytest.raises(NotFound, match="territory 'nowhere'"):
        life.correct(iid, actor="cur", territory="nowhere")
    with pytest.raises(InvalidRequest, match="give a topic or a territory"):
        life.correct(iid, actor="cur")
    with pytest.raises(InvalidRequest, match="already has"):
        life.correct(iid, actor="cur", topic=inc.topic)
    life.answer_final(iid, "Яма заделана 16.11.2026.")
    with pytest.raises(IllegalTransition):
        life.correct(iid, actor="cur", topic="transport", reroute=True)
    assert events(life.engine.incident(iid), "corrected") == []
    # a closed incident can still be labelled for the models
    assert life.correct(iid, actor="cur", topic="transport").topic == "transport"


# PostgreSQL ----------------------------------------------------------------------------------
def test_merge_and_split_on_postgresql(pg_url: str, clock: FrozenClock) -> None:
    channel = Channel()
    life = make_life(pg_url, clock, channel)
    try:
        a = new_incident(life, ROAD, ext="a", author=Author(id="u1"))
        b = new_incident(
            life, "Сызрань, ул. Ленина, 9: яма на дороге у дома", ext="b", author=Author(id="u2")
        )
        assert a.id is not None and b.id is not None
        target = life.merge(a.id, [b.id], actor="cur")
        assert len(target.message_ids) == 2
        new = life.split(a.id, b.message_ids, actor="cur", reason="всё же разные ямы")
        assert new.executor == "adm-sela" and new.resolution_due is not None
        assert life.engine.incident(new.id).message_ids == b.message_ids  # type: ignore[arg-type]
        assert life.engine.incident(a.id).message_ids == a.message_ids
    finally:
        life.close()
        life.engine.close()


# command line --------------------------------------------------------------------------------
def test_curator_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tsur import Engine
    from tsur.cli import main

    from .conftest import SMALL_REGION
    from .test_lifecycle import lifecycle_pm

    db, region = str(tmp_path / "cur.db"), str(SMALL_REGION)
    with Engine.from_config(region, db=db, entry_points=False, clock=lambda: at(16, 10)) as engine:
        report = engine.process(
            [
                msg("1", ROAD),
                msg("2", "Сызрань, ул. Ленина, 9: яма на дороге у дома"),
                msg("3", "Тольятти, ул. Мира, 5: автобус 12 не ходит по расписанию"),
            ]
        )
    one, two, bus = report.incident_ids
    c = ["--db", db, "--config", region, "--now", "2026-11-16T11:00:00+04:00"]

    def run(*argv: str) -> str:
        assert main([*argv, *c], pm=lifecycle_pm()) == 0
        return capsys.readouterr().out

    out = run("merge", str(one), str(two), "--reason", "одна яма", "--actor", "cur-ivanova")
    assert f"объединены с обращением № {one}: № {two}; сообщений в нём 2" in out
    with Engine.from_config(region, db=db, entry_points=False) as engine:
        msgs = engine.incident(one).message_ids
    out = run("split", str(one), "--message", str(msgs[1]), "--reason", "разные ямы")
    assert f"из обращения № {one} выделено новое обращение №" in out and "тема «Дороги»" in out
    out = run("correct", str(bus), "--topic", "roads", "--reason", "про дорогу")
    assert f"№ {bus}: тема «Дороги», территория «Тольятти»" in out
    out = run("reassign", str(bus), "adm-gorod", "дорога — администрация")
    assert f"№ {bus}: направлен, исполнитель Администрация г.о. Тольятти" in out
    assert main(["reassign", str(bus), "nobody", "x", *c], pm=lifecycle_pm()) != 0


# confirm -------------------------------------------------------------------------------------
BUS = "Тольятти, ул. Мира, 5: автобус 12 не ходит по расписанию"


@pytest.fixture
def unsure(tmp_path: Path, clock: FrozenClock, channel: Channel) -> Iterator[Lifecycle]:
    """A lifecycle whose engine sends every classification below 0.9 to triage."""

    def strict(data: dict[str, Any]) -> None:
        data.setdefault("pipeline", {})["min_confidence"] = 0.9

    lc = make_life(str(tmp_path / "unsure.db"), clock, channel, region=life_region(pipeline=strict))
    try:
        yield lc
    finally:
        lc.close()
        lc.engine.close()


def test_confirm_sends_a_triage_incident_to_its_proposed_executor_as_it_is(
    unsure: Lifecycle, channel: Channel, clock: FrozenClock
) -> None:
    inc = new_incident(unsure, BUS)
    iid = inc.id
    assert iid is not None and inc.status is Status.TRIAGE
    assert (inc.topic, inc.territory, inc.executor) == ("transport", "gorod", "carrier")
    assert inc.confidence < 0.9
    clock.now = at(16, 11)
    done = unsure.confirm(iid, actor="cur-ivanova", note="модель права")
    assert done.status is Status.ROUTED and done.executor == "carrier"
    assert (done.topic, done.territory, done.confidence) == ("transport", "gorod", 1.0)
    (ev,) = events(done, "confirmed")
    assert ev.actor == "cur-ivanova" and ev.reason == "модель права"
    assert ev.data["topic"] == "transport" and ev.data["executor"] == "carrier"
    assert ev.data["confidence"] == inc.confidence
    assert events(done, "routed")[-1].actor == "cur-ivanova"
    assert events(done, "reassigned") == []
    assert done.resolution_due == inc.resolution_due  # same executor: the terms stand
    assert channel.posted == []  # the citizen is not told
    assert (iid, ("carrier",)) in notes(unsure, channel, "routed")
    stored = unsure.engine.incident(iid)
    assert (stored.status, stored.confidence) == (Status.ROUTED, 1.0)
    # the models learn the engine's labels as the curator's
    (topic,) = unsure.labelled_examples()
    assert (topic.label, topic.origin, topic.incident_id) == ("transport", "confirmed", iid)
    (executor,) = unsure.labelled_examples("executor")
    assert (executor.label, executor.origin) == ("carrier", "confirmed")
    # confirmed once: a second time is refused, and so is a confirmation once at work
    with pytest.raises(InvalidRequest, match="already confirmed"):
        unsure.confirm(iid, actor="cur")
    unsure.take_in_work(iid)
    with pytest.raises(IllegalTransition, match="'in_progress' to 'confirmed'"):
        unsure.confirm(iid, actor="cur")
    assert len(events(unsure.engine.incident(iid), "confirmed")) == 1


def test_confirm_to_another_executor_is_a_reassignment_too(
    unsure: Lifecycle, channel: Channel
) -> None:
    inc = new_incident(unsure, BUS)
    iid = inc.id
    assert iid is not None and inc.status is Status.TRIAGE
    done = unsure.confirm(iid, actor="cur-ivanova", executor="adm-gorod")
    assert done.status is Status.ROUTED and done.executor == "adm-gorod"
    assert done.topic == "transport" and done.confidence == 1.0
    assert events(done, "reassigned")[0].data == {"from": "carrier", "to": "adm-gorod"}
    assert (iid, ("adm-gorod",)) in notes(unsure, channel, "routed")
    assert [(e.label, e.origin) for e in unsure.labelled_examples()] == [("transport", "confirmed")]
    assert [(e.label, e.origin) for e in unsure.labelled_examples("executor")] == [
        ("adm-gorod", "corrected")
    ]


def test_a_routed_incident_not_yet_confirmed_can_be_confirmed_where_it_is(
    life: Lifecycle, channel: Channel
) -> None:
    inc = new_incident(life, ROAD)
    iid = inc.id
    assert iid is not None and inc.status is Status.ROUTED
    before = notes(life, channel, "routed")  # the engine's own notice
    done = life.confirm(iid, actor="cur")
    assert (done.status, done.executor, done.confidence) == (Status.ROUTED, "adm-sela", 1.0)
    assert len(events(done, "confirmed")) == 1
    assert [e for e in done.history if e.to_status is not None] == [
        e for e in inc.history if e.to_status is not None
    ]  # no new status: it was already with its executor
    assert notes(life, channel, "routed") == before  # nobody is told again
    with pytest.raises(InvalidRequest, match="already confirmed"):
        life.confirm(iid, actor="cur")
    # naming another executor still moves it
    moved = life.confirm(iid, actor="cur", executor="duty")
    assert moved.executor == "duty" and len(events(moved, "confirmed")) == 2


def test_confirm_refusals_change_nothing(unsure: Lifecycle) -> None:
    vague = new_incident(unsure, "что-то непонятное", ext="v")
    nowhere = new_incident(unsure, "яма на дороге", ext="n")
    bus = new_incident(unsure, BUS, ext="b")
    assert vague.id is not None and nowhere.id is not None and bus.id is not None
    assert vague.status is nowhere.status is bus.status is Status.TRIAGE
    assert nowhere.topic == "roads" and nowhere.executor == unsure.region.curator
    with pytest.raises(InvalidRequest, match="no topic"):
        unsure.confirm(vague.id, actor="cur", executor="adm-gorod")
    with pytest.raises(InvalidRequest, match="no executor"):
        unsure.confirm(nowhere.id, actor="cur")  # only the curators' own queue was proposed
    with pytest.raises(NotFound, match="executor 'nobody'"):
        unsure.confirm(bus.id, actor="cur", executor="nobody")
    with pytest.raises(InvalidRequest, match="curator"):
        unsure.confirm(bus.id, actor="  ")
    with pytest.raises(NotFound):
        unsure.confirm(9999, actor="cur")
    for inc in (vague, nowhere, bus):
        assert inc.id is not None
        stored = unsure.engine.incident(inc.id)
        assert stored.status is Status.TRIAGE and not events(stored, "confirmed")
        assert stored.confidence == inc.confidence
    # the curator names the executor: the topic the engine found is confirmed
    done = unsure.confirm(nowhere.id, actor="cur", executor="adm-sela")
    assert (done.status, done.executor, done.topic) == (Status.ROUTED, "adm-sela", "roads")
    rejected = unsure.engine.transition(bus.id, Status.REJECTED, actor="cur", reason="спам")
    assert rejected.status is Status.REJECTED
    with pytest.raises(IllegalTransition, match="'rejected' to 'confirmed'"):
        unsure.confirm(bus.id, actor="cur")


def test_confirm_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tsur import Engine
    from tsur.cli import main

    from .conftest import SMALL_REGION
    from .test_lifecycle import lifecycle_pm

    db, region = str(tmp_path / "confirm.db"), str(SMALL_REGION)
    with Engine.from_config(region, db=db, entry_points=False, clock=lambda: at(16, 10)) as engine:
        (iid,) = engine.process([msg("1", "яма на дороге, асфальт разбит")]).incident_ids
        assert engine.incident(iid).status is Status.TRIAGE  # no town: the curators' queue
    c = ["--db", db, "--config", region, "--now", "2026-11-16T11:00:00+04:00"]
    assert main(["confirm", str(iid), *c], pm=lifecycle_pm()) != 0  # no executor proposed
    assert main(["confirm", str(iid), "--executor", "nobody", *c], pm=lifecycle_pm()) != 0
    capsys.readouterr()
    argv = ["confirm", str(iid), "--executor", "adm-sela", "--note", "это Сызрань", *c]
    assert main([*argv, "--actor", "cur-ivanova"], pm=lifecycle_pm()) == 0
    out = capsys.readouterr().out
    assert f"№ {iid}: классификация подтверждена — тема «Дороги»" in out
    assert f"№ {iid}: направлен, исполнитель Администрация г.о. Сызрань" in out
    assert main(["show", str(iid), "--db", db, "--config", region], pm=lifecycle_pm()) == 0
    shown = capsys.readouterr().out
    assert "подтверждено куратором" in shown and "это Сызрань" in shown
    assert main(argv, pm=lifecycle_pm()) != 0  # confirmed already
    with Engine.from_config(region, db=db, entry_points=False) as engine:
        inc = engine.incident(iid)
    assert (inc.status, inc.executor, inc.confidence) == (Status.ROUTED, "adm-sela", 1.0)
    assert [e.actor for e in inc.history if e.kind == "confirmed"] == ["cur-ivanova"]
