"""The incident lifecycle through the public API, on SQLite and PostgreSQL.

Shared here (and imported by the other ``test_lifecycle_*`` modules): the
test region (the small region plus a ``[lifecycle]`` section), a source
adapter plugin that keeps what it posts, and a notifier that keeps what it
receives.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from tsur import (
    AdapterError,
    Engine,
    FetchResult,
    IllegalTransition,
    Incident,
    Message,
    NotFound,
    Notification,
    RegionConfig,
    Reply,
    Source,
    Status,
    hookimpl,
    make_plugin_manager,
)
from tsur.config import region_from_mapping
from tsur.errors import AnswerRejected, ExtensionRefused, InvalidRequest, PhotoRequired
from tsur.lifecycle import Lifecycle
from tsur.store.sql import SqlRepository, normalize_url

from .conftest import SMALL_REGION, FrozenClock
from .helpers import SAMARA, msg


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    """An instant in Samara time (UTC+4)."""
    return datetime(year, month, day, hour, minute, tzinfo=SAMARA)


def life_region(**changes: Any) -> RegionConfig:
    """The small test region with a lifecycle section; ``changes`` patch the raw data."""
    data = tomllib.loads(SMALL_REGION.read_text("utf-8"))
    # written appeals follow 59-ФЗ whatever their urgency: their policy is tried first
    data["sla"].sort(key=lambda p: p["id"] != "written-59fz")
    # VK answers go to the test channel below, never to a real adapter
    next(s for s in data["sources"] if s["id"] == "vk")["options"] = {"adapter": "test-wall"}
    data["lifecycle"] = {
        "photo_required_topics": ["zhkh"],
        "low_rating": 3,
        "reopen_window_days": 30,
        "forbidden_phrases": ["в рабочем порядке"],
    }
    for key, value in changes.items():
        if callable(value):
            value(data)
        else:
            data[key] = value
    return region_from_mapping(data, origin="test region")


class Channel:
    """A plugin with a working adapter for the VK source (``test-wall``) that keeps replies,
    and a notifier that keeps notifications. ``fail`` makes the adapter raise it."""

    def __init__(self) -> None:
        self.posted: list[Reply] = []
        self.notes: list[Notification] = []
        self.fail: Exception | None = None

    @hookimpl
    def register_source_adapters(self, register: Any) -> None:
        channel = self

        class VkAdapter:
            def __init__(self, source: Source, context: Any) -> None:
                self.source = source

            def fetch(self, cursor: str | None) -> FetchResult:
                return FetchResult([], cursor)

            def parse(self, payload: Any) -> list[Message]:
                return []

            def reply(self, reply: Reply) -> str | None:
                if channel.fail is not None:
                    raise channel.fail
                channel.posted.append(reply)
                return f"wall-{len(channel.posted)}"

        register("test-wall", VkAdapter)

    @hookimpl
    def register_notifiers(self, register: Any) -> None:
        channel = self

        class Keep:
            def notify(self, notification: Notification) -> None:
                channel.notes.append(notification)

        register("keep", Keep())


def make_life(
    db_url: str,
    clock: Callable[[], datetime],
    channel: Channel | None = None,
    region: RegionConfig | None = None,
    **kwargs: Any,
) -> Lifecycle:
    """A lifecycle on a fresh engine (close with ``life.engine.close()``)."""
    repo = SqlRepository(normalize_url(db_url))
    repo.migrate()
    engine = Engine(
        region or life_region(),
        repo,
        entry_points=False,
        clock=clock,
        plugins=[channel] if channel else [],
    )
    return Lifecycle(engine, **kwargs)


def lifecycle_pm() -> pluggy.PluginManager:
    """The plugin manager the lifecycle commands run with (built-ins, no installed plugins)."""
    return make_plugin_manager(entry_points=False)


def new_incident(life: Lifecycle, text: str, ext: str = "1", **kw: Any) -> Incident:
    """Process one message and return its incident."""
    report = life.engine.process([msg(ext, text, **kw)])
    (iid,) = report.incident_ids
    return life.engine.incident(iid)


def events(inc: Incident, kind: str) -> list[Any]:
    """The incident's events of ``kind`` (or status events to the status ``kind``)."""
    return [e for e in inc.history if e.kind == kind or (e.to_status and e.to_status == kind)]


@pytest.fixture
def channel() -> Channel:
    return Channel()


@pytest.fixture
def life(db_url: str, clock: FrozenClock, channel: Channel) -> Iterator[Lifecycle]:
    lc = make_life(db_url, clock, channel)
    try:
        yield lc
    finally:
        lc.close()
        lc.engine.close()


# answers ---------------------------------------------------------------------------------
def test_intermediate_answer_is_posted_and_moves_the_final_deadline(
    life: Lifecycle, channel: Channel, clock: FrozenClock
) -> None:
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге, асфальт разбит")
    assert (inc.executor, inc.sla_policy) == ("adm-sela", "default")
    assert inc.resolution_due == at(30, 9)  # 10 working days from Monday 16.11 09:00: 30.11 09:00
    clock.now = at(16, 11)
    done = life.answer_intermediate(inc.id)  # type: ignore[arg-type]
    assert done.status is Status.ANSWERED_INTERMEDIATE
    assert done.first_response_at == at(16, 11)
    # «after an intermediate answer, the final one within 7 working days»
    assert done.resolution_due == at(25, 11)
    (posted,) = channel.posted
    assert posted.kind == "intermediate" and posted.in_reply_to == "1"
    assert "взято в работу" in posted.text
    assert "Исполнитель: Администрация г.о. Сызрань" in posted.text
    assert "Срок: до 25.11.2026 11:00" in posted.text
    (reply,) = events(done, "reply")
    assert reply.data["delivered"] is True and reply.data["external_reply_id"] == "wall-1"
    assert reply.data["kind"] == "intermediate" and reply.data["text"] == posted.text
    deadlines = events(done, "deadlines")[-1]
    assert deadlines.data["resolution_due"] == at(25, 11).isoformat()
    with pytest.raises(IllegalTransition, match="answered_intermediate"):
        life.answer_intermediate(inc.id)  # type: ignore[arg-type]
    assert life.engine.incident(inc.id).resolution_due == at(25, 11)  # type: ignore[arg-type]


def test_an_otpiska_is_refused_and_recorded_then_a_real_answer_resolves(
    life: Lifecycle, channel: Channel
) -> None:
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге, асфальт разбит")
    iid = inc.id
    assert iid is not None
    with pytest.raises(AnswerRejected) as err:
        life.answer_final(iid, "Ваше обращение рассмотрено, информация принята к сведению.")
    assert "нет конкретного действия, срока или обоснованного отказа" in err.value.reasons
    kept = life.engine.incident(iid)
    assert kept.status is Status.ROUTED and kept.first_response_at is None
    (rejected,) = events(kept, "answer_rejected")
    assert rejected.data["reasons"] == err.value.reasons
    assert channel.posted == []  # nothing went to the citizen
    with pytest.raises(AnswerRejected, match="в рабочем порядке"):  # the region's own phrase
        life.answer_final(iid, "Яма будет заделана в рабочем порядке до 25.11.2026.")
    done = life.answer_final(iid, "Яма заделана асфальтовой смесью 17.11.2026.", actor="mayor")
    assert done.status is Status.RESOLVED and done.first_response_at == life.now()
    resolved = events(done, "resolved")[0]
    assert resolved.actor == "mayor" and "действие: заделана" in resolved.data["evidence"]
    assert [r.kind for r in channel.posted] == ["final"]
    assert len(events(done, "answer_rejected")) == 2


def test_photo_confirmation_is_required_for_listed_topics(
    life: Lifecycle, channel: Channel
) -> None:
    inc = new_incident(life, "Тольятти, ул. Мира, 5: нет воды в подъезде второй день")
    iid = inc.id
    assert iid is not None and inc.topic == "zhkh"
    with pytest.raises(PhotoRequired, match="'zhkh' needs a photo"):
        life.answer_final(iid, "Подача воды восстановлена 16.11.2026 в 15:00.")
    assert life.engine.incident(iid).status is Status.ROUTED
    with pytest.raises(InvalidRequest, match="photo URL '  ' is empty"):
        life.answer_final(iid, "Подача воды восстановлена 16.11.2026.", photos=["  "])
    life.attach_photos(iid, ["https://example.org/after.jpg"], actor="adm-gorod")
    done = life.answer_final(iid, "Подача воды восстановлена 16.11.2026 в 15:00.")
    assert done.status is Status.RESOLVED
    assert events(done, "photo")[0].data == {"urls": ["https://example.org/after.jpg"]}
    # reopened: the old photo does not prove the rework
    life.rate(iid, 1, "воды нет", resolved=False)
    with pytest.raises(PhotoRequired):
        life.answer_final(iid, "Повторно восстановлена подача воды 17.11.2026.")
    life.answer_final(iid, "Повторно восстановлена подача воды 17.11.2026.", photos=["p2.jpg"])
    closed = life.close_incident(iid, actor="cur")
    assert closed.status is Status.CLOSED


def test_good_rating_closes_and_low_rating_reopens_to_the_same_executor(
    life: Lifecycle, channel: Channel, clock: FrozenClock
) -> None:
    a = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге", ext="a")
    b = new_incident(life, "Сызрань, ул. Ленина, 9: автобус не ходит по расписанию", ext="b")
    assert a.id is not None and b.id is not None
    with pytest.raises(InvalidRequest, match="no answer to rate yet"):
        life.rate(a.id, 5)
    for iid in (a.id, b.id):
        life.answer_final(iid, "Работы выполнены 16.11.2026, нарушение устранено.")
    closed = life.rate(a.id, 5, "Спасибо!")
    assert closed.status is Status.CLOSED
    assert events(closed, "rating")[0].data == {"score": 5, "comment": "Спасибо!", "resolved": None}
    clock.advance(hours=2)
    reopened = life.rate(b.id, 4, "автобус так и не ходит", resolved=False)
    assert reopened.status is Status.REOPENED and reopened.executor == "adm-sela"
    reopen = events(reopened, "reopened")[0]
    assert reopen.reason == "заявитель: не решено"
    # a new term from now under the policy (10 working days)
    assert reopened.resolution_due == at(30, 12)
    notice = channel.posted[-1]
    assert "возвращено исполнителю" in notice.text and "до 30.11.2026 12:00" in notice.text
    assert events(reopened, "reply")[-1].data["notice"] == "reopened"
    life.engine.deliver_notifications()
    (note,) = [n for n in channel.notes if n.kind == "reopened"]
    assert note.recipients == ("adm-sela",)
    for bad in (0, 6, True, 2.5):
        with pytest.raises(InvalidRequest, match="whole number 1–5"):
            life.rate(a.id, bad)  # type: ignore[arg-type]
    # a low rating long after the closing is reported, not reopened
    clock.advance(days=40)
    late = life.rate(a.id, 1, "опять яма")
    assert late.status is Status.CLOSED
    life.engine.deliver_notifications()
    low = [n for n in channel.notes if n.kind == "low_rating"]
    assert low and low[-1].recipients == ("cur", "adm-sela")


def test_take_in_work_and_illegal_moves(life: Lifecycle) -> None:
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге")
    iid = inc.id
    assert iid is not None
    taken = life.take_in_work(iid)
    assert (
        taken.status is Status.IN_PROGRESS and events(taken, "in_progress")[0].actor == "adm-sela"
    )
    with pytest.raises(IllegalTransition):
        life.take_in_work(iid)
    life.answer_final(iid, "Яма заделана 16.11.2026.")
    with pytest.raises(IllegalTransition, match="'resolved' to 'in_progress'"):
        life.take_in_work(iid)
    with pytest.raises(IllegalTransition):
        life.answer_intermediate(iid)
    reopened = life.reopen(iid, "повторная жалоба: яма снова появилась", actor="cur")
    assert reopened.status is Status.REOPENED and reopened.executor == "adm-sela"
    assert events(reopened, "reopened")[0].actor == "cur"
    with pytest.raises(IllegalTransition, match="'reopened' to 'reopened'"):
        life.reopen(iid, "ещё раз")
    with pytest.raises(InvalidRequest, match="reason of reopening"):
        life.reopen(iid, " ")
    with pytest.raises(NotFound):
        life.answer_final(999, "Яма заделана 16.11.2026.")
    with pytest.raises(InvalidRequest, match="non-empty"):
        life.answer_final(iid, "   ")


# 59-ФЗ -------------------------------------------------------------------------------------
def end_of(day: int, month: int = 11, year: int = 2026) -> datetime:
    """The end of a day in Samara: when a term in days that ends on it ends."""
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=SAMARA)


def test_written_appeal_extension_once_with_notice(life: Lifecycle, clock: FrozenClock) -> None:
    """59-ФЗ art. 12: 30 days from registration; in exceptional cases the term may be
    extended once, by no more than 30 days, before it ends, with the citizen told."""
    inc = new_incident(
        life, "Прошу отремонтировать дорогу в Смышляевке, огромные ямы", source="written"
    )
    late = new_incident(life, "Прошу заасфальтировать двор в Сызрани", ext="w2", source="written")
    iid = inc.id
    assert iid is not None and inc.sla_policy == "written-59fz"
    # registered Monday 16.11: the 30 days end with Wednesday 16.12
    assert inc.resolution_due == end_of(16, month=12)
    clock.now = at(16, 12, month=12)  # day 30, noon: the term has not ended
    extended = life.extend_59fz(iid, "требуется комиссионное обследование участка")
    # 16.12 + 30 days = Friday 15.01.2027, to its end
    assert extended.resolution_due == end_of(15, month=1, year=2027)
    (ext,) = events(extended, "extended")
    assert ext.data["to"] == end_of(15, month=1, year=2027).isoformat()
    assert ext.data["days"] == 30
    notice = events(extended, "reply")[-1]
    assert notice.data["notice"] == "extension" and notice.data["delivered"] is False
    assert "продлён до 15.01.2027 23:59" in notice.data["text"]
    assert "комиссионное обследование" in notice.data["text"]
    assert "no source adapter for kind 'written'" in notice.reason
    with pytest.raises(ExtensionRefused, match="allows one extension"):
        life.extend_59fz(iid, "ещё раз")
    vk = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге", ext="vk1")
    with pytest.raises(ExtensionRefused, match="only written appeals"):
        life.extend_59fz(vk.id, "нужно время")  # type: ignore[arg-type]
    clock.now = at(17, 0, 1, month=12)  # the term ended with 16.12
    with pytest.raises(ExtensionRefused, match="before the term ends"):
        life.extend_59fz(late.id, "не успели")  # type: ignore[arg-type]


def test_an_extension_is_counted_from_the_original_term_by_the_days_given(
    life: Lifecycle, clock: FrozenClock
) -> None:
    """«By no more than 30 days»: the number of days is given, and they are added to the
    original term, not to the term already moved off a day off."""
    # registered Thursday 22.10.2026: day 30 is Saturday 21.11 → the term ends Monday 23.11
    clock.now = at(22, 10, month=10)
    inc = new_incident(
        life,
        "Прошу отремонтировать дорогу в Смышляевке, огромные ямы",
        source="written",
        at=at(22, 9, month=10),
    )
    assert inc.id is not None and inc.resolution_due == end_of(23)
    clock.now = at(20, 10)
    extended = life.extend_59fz(inc.id, "запрошены документы в Росреестре")
    # 21.11 + 30 = Monday 21.12 (from the moved 23.11 it would wrongly be 23.12)
    assert extended.resolution_due == end_of(21, month=12)
    clock.now = at(16, 10)
    short = new_incident(
        life, "Прошу убрать мусор в Смышляевке", ext="w3", source="written", at=at(16, 9)
    )
    clock.now = at(20, 10)
    assert short.id is not None
    with pytest.raises(InvalidRequest, match="1 to 30 days"):
        life.extend_59fz(short.id, "долго", days=45)
    # 16.12 + 10 days = Saturday 26.12 → Monday 28.12
    assert life.extend_59fz(short.id, "нужен выезд", days=10).resolution_due == end_of(28, month=12)
    # a term a curator already moved past the original plus the days is never shortened
    clock.now = at(16, 11)
    moved = new_incident(
        life, "Прошу починить забор в Смышляевке", ext="w4", source="written", at=at(16, 10)
    )
    assert moved.id is not None and moved.resolution_due == end_of(16, month=12)
    clock.now = at(20, 11)
    life.move_term(moved.id, end_of(15, month=1, year=2027), "решение комиссии", actor="cur")
    with pytest.raises(ExtensionRefused, match="never shortens"):
        life.extend_59fz(moved.id, "нужен выезд", days=10)  # 16.12 + 10 = 26.12: earlier
    assert life.engine.incident(moved.id).resolution_due == end_of(15, month=1, year=2027)


def test_written_appeals_are_registered_within_three_days(
    life: Lifecycle, clock: FrozenClock, channel: Channel
) -> None:
    """59-ФЗ art. 8 p. 2: registration within 3 days of receipt; the term runs from it."""
    clock.now = at(20, 15)  # Friday 20.11: four days after the letter came on Monday 16.11
    inc = new_incident(
        life, "Прошу отремонтировать дорогу в Смышляевке", source="written", at=at(16, 9)
    )
    (reg,) = events(inc, "registered")
    assert reg.data["late"] is True and reg.data["due"] == end_of(19).isoformat()
    assert reg.reason == "зарегистрировано с нарушением срока (до 19.11.2026 23:59)"
    # the 30 days run from registration: 20.11 + 30 = Sunday 20.12 → Monday 21.12
    assert inc.resolution_due == end_of(21, month=12)
    life.engine.deliver_notifications()
    assert ("registration_late", ("cur",)) in [(n.kind, n.recipients) for n in channel.notes]
    clock.now = at(19, 23, 30)  # the third day, late in the evening: still in time
    on_time = new_incident(
        life, "Прошу убрать мусор в Смышляевке", ext="w2", source="written", at=at(16, 9)
    )
    assert events(on_time, "registered")[0].data["late"] is False


def test_forwarding_a_written_appeal_within_and_after_seven_days(
    life: Lifecycle, channel: Channel, clock: FrozenClock
) -> None:
    """59-ФЗ art. 8 p. 3: forwarded to the competent body within 7 days of registration
    (to the end of the 7th day); the competent body then has its own 30 days."""
    a = new_incident(life, "Прошу отремонтировать дорогу в Смышляевке", source="written")
    b = new_incident(
        life, "Прошу отремонтировать дорогу в Смышляевке, ул. Луговая", ext="b", source="written"
    )
    c = new_incident(
        life, "Прошу отремонтировать дорогу в Смышляевке, ул. Полевая", ext="c", source="written"
    )
    assert a.executor == "adm-volzhsky" and a.id is not None
    clock.now = at(18, 10)
    moved = life.forward(a.id, "adm-sela", "участок дороги на балансе г.о. Сызрань")
    assert moved.status is Status.ROUTED and moved.executor == "adm-sela"
    (fw,) = events(moved, "forwarded")
    # registered Monday 16.11: the 7 days end with Monday 23.11
    assert fw.data["late"] is False and fw.data["forward_due"] == end_of(23).isoformat()
    assert fw.reason == "участок дороги на балансе г.о. Сызрань"
    assert (
        events(moved, "routed")[-1].reason
        == "переадресовано: участок дороги на балансе г.о. Сызрань"
    )
    # the competent body has its own 30 days from the forwarding: 18.11 + 30 = 18.12
    assert moved.resolution_due == end_of(18, month=12)
    notice = events(moved, "reply")[-1]
    assert "направлено по компетенции в Администрация г.о. Сызрань" in notice.data["text"]
    assert "участок дороги на балансе" in notice.data["text"]
    with pytest.raises(NotFound):
        life.forward(a.id, "nobody", "x")
    with pytest.raises(InvalidRequest, match="already with"):
        life.forward(a.id, "adm-sela", "x")
    clock.now = at(23, 12)  # the 7th day at noon: still in time
    in_time = life.forward(b.id, "adm-sela", "не наша дорога")  # type: ignore[arg-type]
    assert events(in_time, "forwarded")[0].data["late"] is False
    clock.now = at(25, 10)  # nine days after registration
    late = life.forward(c.id, "adm-sela", "не наша дорога")  # type: ignore[arg-type]
    assert events(late, "forwarded")[0].data["late"] is True
    life.engine.deliver_notifications()
    kinds = [(n.kind, n.recipients) for n in channel.notes]
    assert ("forward_late", ("cur",)) in kinds
    assert ("forwarded", ("adm-sela",)) in kinds


def test_forwarding_an_internet_message_keeps_its_clock(
    life: Lifecycle, clock: FrozenClock
) -> None:
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге")
    assert inc.id is not None
    clock.now = at(17, 10)
    moved = life.forward(inc.id, "adm-volzhsky", "дорога в Волжском районе")
    assert moved.first_response_due == inc.first_response_due  # from the first message
    assert moved.resolution_due == inc.resolution_due
    assert "late" not in events(moved, "forwarded")[0].data


# replies ------------------------------------------------------------------------------------
def test_undelivered_reply_is_recorded_and_the_curator_told(
    life: Lifecycle, channel: Channel
) -> None:
    channel.fail = AdapterError("wall is closed", source="vk", retryable=True)
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге")
    done = life.answer_intermediate(inc.id)  # type: ignore[arg-type]
    (reply,) = events(done, "reply")
    assert reply.data["delivered"] is False and reply.data["retryable"] is True
    assert reply.reason == "AdapterError: vk: wall is closed"
    assert done.status is Status.ANSWERED_INTERMEDIATE  # the answer itself stands
    life.engine.deliver_notifications()
    (failed,) = [n for n in channel.notes if n.kind == "reply_failed"]
    assert failed.recipients == ("cur",) and "не доставлен" in failed.text


def test_replies_go_to_every_author_through_the_jsonl_adapter(
    db_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    replies = tmp_path / "replies.jsonl"

    def add_source(data: dict[str, Any]) -> None:
        data["sources"].append(
            {
                "id": "hotline",
                "kind": "file",
                "name": "Горячая линия (выгрузка)",
                "options": {
                    "adapter": "jsonl",
                    "path": str(tmp_path / "calls.jsonl"),
                    "replies_path": str(replies),
                },
            }
        )

    def add_sources(data: dict[str, Any]) -> None:
        add_source(data)
        data["sources"].append(
            {
                "id": "broken",
                "kind": "file",
                "name": "Выгрузка",
                "options": {"adapter": "jsonl", "replies_to": "nowhere"},  # a misspelt option
            }
        )

    life = make_life(db_url, clock, region=life_region(sources=add_sources))
    try:
        from tsur import Author

        life.engine.process(
            [
                msg(
                    "c1",
                    "Сызрань, ул. Мира, 5: яма на дороге, колесо пробил",
                    source="hotline",
                    author=Author(id="+79270000001"),
                ),
                msg(
                    "c2",
                    "Сызрань ул Мира 5 яма на дороге опасная",
                    source="hotline",
                    author=Author(id="+79270000002"),
                ),
                msg(
                    "c3",
                    "Сызрань, Мира 5, яма на дороге, сколько ждать",
                    source="hotline",
                    author=Author(id="+79270000001"),
                ),
            ]
        )
        (inc,) = life.engine.incidents()
        done = life.answer_intermediate(inc.id)  # type: ignore[arg-type]
        lines = [json.loads(x) for x in replies.read_text("utf-8").splitlines()]
        assert [r["in_reply_to"] for r in lines] == ["c1", "c2"]  # once per author
        assert {r["kind"] for r in lines} == {"intermediate"}
        assert [e.data["external_reply_id"] for e in events(done, "reply")] == [
            f"{replies}:{inc.id}",
            f"{replies}:{inc.id}",
        ]
        other = new_incident(life, "Тольятти: автобус 41 не пришёл", ext="b1", source="broken")
        (failed,) = events(life.answer_intermediate(other.id), "reply")  # type: ignore[arg-type]
        assert failed.data["delivered"] is False
        assert failed.reason.startswith(
            "adapter 'jsonl' could not start: ConfigError: source 'broken' "
            "(kind 'file'): invalid options"
        )
        assert "options.replies_to: Extra inputs are not permitted" in failed.reason
    finally:
        life.close()
        life.engine.close()


# calendars ------------------------------------------------------------------------------------
def test_an_executors_own_hours_set_its_deadlines(db_url: str, clock: FrozenClock) -> None:
    def own_hours(data: dict[str, Any]) -> None:
        carrier = next(e for e in data["executors"] if e["id"] == "carrier")
        carrier.update(working_hours=["07:00", "19:00"], sla="carrier")
        data["sla"].append(
            {
                "id": "carrier",
                "name": "Перевозчик",
                "first_response": "4 working hours",
                "resolution": "2 working days",
                "after_intermediate": "10 working hours",
            }
        )

    life = make_life(db_url, clock, region=life_region(executors=own_hours))
    try:
        cal = life.calendar_for("carrier")
        assert (cal.start, cal.end, cal.lunch) == (timedelta(hours=7), timedelta(hours=19), None)
        assert life.calendar_for("adm-sela") is life.engine.calendar
        inc = new_incident(life, "Тольятти: автобус 41 не пришёл, стоим на остановке")
        assert inc.executor == "carrier"
        done = life.answer_intermediate(inc.id)  # type: ignore[arg-type]
        # 10:00 + 10 working hours of 07:00–19:00 without lunch = 20:00 → Tuesday 08:00
        assert done.resolution_due == at(17, 8)
        assert "Срок: до 17.11.2026 08:00" in events(done, "reply")[0].data["text"]
    finally:
        life.close()
        life.engine.close()


def test_the_resolution_term_is_set_once_by_the_first_intermediate_answer(
    life: Lifecycle, clock: FrozenClock
) -> None:
    """take → intermediate → take → intermediate must not push the term again."""
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге, асфальт разбит")
    assert inc.id is not None
    clock.now = at(16, 11)
    first = life.answer_intermediate(inc.id)
    assert first.resolution_due == at(25, 11)  # 7 working days after it
    clock.now = at(20, 10)
    life.take_in_work(inc.id)
    again = life.answer_intermediate(inc.id, "Работы продолжаются, срок прежний — до 25.11.2026.")
    assert again.status is Status.ANSWERED_INTERMEDIATE
    assert again.resolution_due == at(25, 11)  # not 7 working days after 20.11
    assert [e.data["resolution_due"] for e in events(again, "deadlines")][-1] == (
        at(25, 11).isoformat()
    )
    with pytest.raises(InvalidRequest, match="reason"):
        life.move_term(inc.id, at(30, 18), " ", actor="cur")
    with pytest.raises(InvalidRequest, match="already passed"):
        life.move_term(inc.id, at(19, 18), "задним числом", actor="cur")
    moved = life.move_term(inc.id, at(30, 18), "нужна поставка асфальта", actor="cur")
    assert moved.resolution_due == at(30, 18)
    last = events(moved, "deadlines")[-1]
    assert (last.actor, last.reason) == (
        "cur",
        "срок изменён решением куратора: нужна поставка асфальта",
    )


def test_an_evasive_intermediate_answer_is_no_response(life: Lifecycle, channel: Channel) -> None:
    inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге, асфальт разбит")
    assert inc.id is not None
    with pytest.raises(AnswerRejected):
        life.answer_intermediate(inc.id, "Ваше обращение рассмотрено, принято к сведению.")
    kept = life.engine.incident(inc.id)
    assert kept.status is Status.ROUTED and kept.first_response_at is None
    assert events(kept, "answer_rejected")[0].data["kind"] == "intermediate"
    assert channel.posted == []
