"""The pipeline end to end on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import tsur.pipeline as pipeline
from tsur import (
    Classification,
    Engine,
    IllegalTransition,
    IngestError,
    Status,
    UnknownSource,
    Urgency,
    hookimpl,
)

from .helpers import SAMARA, msg


def test_messages_become_routed_incidents_with_deadlines(engine: Engine) -> None:
    report = engine.process(
        [
            msg("1", "В Тольятти на ул. Мира, 5 нет отопления, батареи холодные!"),
            msg("2", "Прошу отремонтировать дорогу в Смышляевке, огромные ямы", source="written"),
            msg("3", "Автобус 41 опять не пришёл, Сызрань, стоим на остановке час"),
        ]
    )
    assert (report.processed, report.created, report.failed) == (3, 3, 0)
    by_topic = {i.topic: i for i in engine.incidents()}
    heat = by_topic["zhkh.heating"]
    assert (heat.territory, heat.executor, heat.urgency) == ("gorod", "teplo", Urgency.URGENT)
    assert heat.status is Status.ROUTED and heat.sla_policy == "urgent"
    # 09:00 Monday + 2 working hours = 11:00 the same day (Samara time)
    assert heat.first_response_due == datetime(2026, 11, 16, 11, 0, tzinfo=SAMARA)
    road = by_topic["roads"]
    assert (road.territory, road.executor, road.sla_policy) == (
        "smyshlyaevka",
        "adm-volzhsky",
        "written-59fz",
    )
    # 59-ФЗ: registered on receipt's day; 30 days end at the end of the 30th day
    assert road.resolution_due == datetime(2026, 12, 16, 23, 59, 59, 999999, tzinfo=SAMARA)
    [registered] = [
        e
        for e in engine.incident(road.id).history  # type: ignore[arg-type]
        if e.kind == "registered"
    ]
    assert registered.reason == "зарегистрировано" and registered.data["late"] is False
    assert registered.data["due"] == "2026-11-19T23:59:59.999999+04:00"  # within 3 days of receipt
    bus = by_topic["transport"]
    assert (bus.territory, bus.executor) == ("sela", "adm-sela")
    history = engine.incident(heat.id).history  # type: ignore[arg-type]
    kinds = [e.kind if e.to_status is None else e.to_status.value for e in history]
    assert kinds == ["received", "classified", "located", "routed", "deadlines"]
    assert "отопление" in history[1].reason


def test_reingesting_the_same_batch_changes_nothing(engine: Engine) -> None:
    batch = [msg("1", "В Тольятти яма на дороге"), msg("2", "Сызрань: нет воды в подъезде")]
    engine.process(batch)
    before = [(i.id, i.status, i.topic) for i in engine.incidents()]
    report = engine.ingest(batch)
    assert (report.inserted, report.duplicates) == (0, 2)
    assert engine.run().processed == 0
    assert [(i.id, i.status, i.topic) for i in engine.incidents()] == before


def test_duplicates_join_one_incident_and_threads_follow_their_post(engine: Engine) -> None:
    t = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
    engine.process(
        [
            msg("p1", "Тольятти, ул. Мира, 5: нет отопления третий день, батареи ледяные", at=t),
            msg(
                "p2",
                "Тлт Мира дом 5 отопление не работает, батареи холодные как лед",
                at=t + timedelta(hours=2),
            ),
            msg("c1", "до сих пор ничего не сделали", parent_id="p1", at=t + timedelta(hours=5)),
            msg("x", "Сызрань, ул. Мира, 5: нет отопления", at=t + timedelta(hours=1)),
        ]
    )
    incidents = engine.incidents()
    assert len(incidents) == 2
    tlt = next(i for i in incidents if i.territory == "gorod")
    assert len(engine.incident(tlt.id).message_ids) == 3  # type: ignore[arg-type]
    reasons = [e.reason for e in engine.incident(tlt.id).history if e.kind == "message_added"]  # type: ignore[arg-type]
    assert any("ответ в той же переписке" in r for r in reasons)


def test_moderation_rejects_with_reason_and_masks_contacts(engine: Engine) -> None:
    engine.process(
        [
            msg("1", "Спасибо большое за оперативную работу!"),
            msg("2", "Продам гараж недорого, пишите в лс"),
            msg("3", "В Тольятти яма на дороге, звоните +7 (927) 123-45-67"),
        ]
    )
    rejected = {
        m.message.external_id: m.error for m in engine.repository.messages(status="rejected")
    }
    assert rejected == {"2": "реклама или спам"}
    assert [m.message.external_id for m in engine.repository.messages(status="thanked")] == ["1"]
    (inc,) = engine.incidents()
    assert "[телефон]" in inc.summary and "123-45-67" not in inc.summary
    stored = engine.repository.messages(incident_id=inc.id)[0]
    assert "123-45-67" in stored.message.text  # the raw message is kept unchanged


def test_unclear_messages_go_to_the_curator_queue(engine: Engine) -> None:
    engine.process([msg("1", "Сколько можно это терпеть, сделайте хоть что-нибудь уже")])
    (inc,) = engine.incidents()
    assert inc.status is Status.TRIAGE and inc.executor == "cur"
    history = engine.incident(inc.id).history  # type: ignore[arg-type]
    triage = next(e for e in history if e.to_status is Status.TRIAGE)
    assert triage.reason == "тема не определена; территория не определена"
    assert triage.data == {"executor": "cur"}


def test_unknown_source_is_refused_and_kept(engine: Engine) -> None:
    report = engine.ingest([msg("1", "яма", source="myspace"), msg("2", "яма в Тольятти")])
    assert report.inserted == 1
    (err,) = report.errors
    assert isinstance(err, UnknownSource)
    assert "unknown source 'myspace'; configured sources: open311, portal, vk, written" in str(err)
    (kept,) = engine.repository.rejected_inputs()
    assert '"myspace"' in kept.raw and "unknown source" in kept.reason


def _line(ext: str, text: str, at: str = "2026-11-16T09:00:00+04:00") -> str:
    return json.dumps(
        {"source": "vk", "external_id": ext, "text": text, "created_at": at}, ensure_ascii=False
    )


def test_jsonl_ingest_reports_bad_lines_and_keeps_good_ones(engine: Engine) -> None:
    lines = [
        _line("1", "яма"),
        '{"source": "vk", "external_id": "2", "text": "яма", ',
        "",
        '{"source": "vk", "external_id": "3", "text": "яма", "created_at": "2026-11-16T09:00:00"}',
        '["not", "an", "object"]',
        '{"source": "vk", "external_id": "5", "created_at": "2026-11-16T09:00:00+04:00"}',
        _line("6", "нет воды", "2026-11-16T10:00:00+04:00"),
    ]
    report = engine.ingest_jsonl(lines=lines, origin="hotline.jsonl")
    assert report.inserted == 2
    errors = {e.line: str(e) for e in report.errors}
    assert set(errors) == {2, 4, 5, 6}
    assert errors[2].startswith("hotline.jsonl:2: not valid JSON")
    assert "created_at: must carry a time zone offset" in errors[4]
    assert "expected a JSON object, got list" in errors[5]
    assert "text: Field required" in errors[6]
    assert [r.line for r in engine.repository.rejected_inputs()] == [2, 4, 5, 6]


def test_rejected_input_is_retried_after_a_fix(engine: Engine, small_region: Any) -> None:
    engine.ingest([msg("1", "яма в Тольятти", source="hotline")])
    assert engine.repository.message_counts() == {}
    sources = [
        *small_region.model_dump()["sources"],
        {"id": "hotline", "kind": "hotline", "name": "Горячая линия"},
    ]
    fixed = small_region.model_copy(
        update={"sources": [type(small_region.sources[0]).model_validate(s) for s in sources]}
    )
    engine2 = Engine(fixed, engine.repository, entry_points=False, clock=engine.clock)
    assert engine2.retry_rejected_input().inserted == 1
    assert engine2.repository.rejected_inputs() == []
    assert engine2.run().created == 1


class Exploding:
    def __init__(self) -> None:
        self.armed = True

    def classify(self, message: Any, text: Any) -> Classification | None:
        if self.armed and "взрыв" in message.text:
            raise RuntimeError("model file is corrupt")
        return None


def test_a_failing_stage_keeps_the_message_for_rerun(engine: Engine, small_region: Any) -> None:
    boom = Exploding()

    class Plugin:
        @hookimpl
        def register_classifiers(self, register: Any) -> None:
            register("exploding", boom)

    eng = Engine(
        small_region, engine.repository, entry_points=False, plugins=[Plugin()], clock=engine.clock
    )
    report = eng.process([msg("1", "взрыв яма в Тольятти"), msg("2", "яма в Сызрани")])
    assert (report.created, report.failed) == (1, 1)
    (failed,) = eng.repository.messages(status="failed")
    assert failed.error_stage == "classify"
    assert failed.error == "RuntimeError: model file is corrupt"
    boom.armed = False
    assert eng.retry_failed() == 1
    assert eng.run().created == 1
    assert eng.repository.message_counts() == {"done": 2}


def test_unknown_territory_from_a_structured_source_fails_clearly(engine: Engine) -> None:
    engine.process([msg("1", "яма", source="portal", territory="atlantis")])
    (failed,) = engine.repository.messages(status="failed")
    assert (failed.error_stage, failed.error) == ("locate", "unknown territory 'atlantis'")


def test_structured_category_and_territory_are_trusted(engine: Engine) -> None:
    engine.process(
        [msg("1", "Просьба разобраться", source="portal", topic="health", territory="sela")]
    )
    (inc,) = engine.incidents()
    assert (inc.topic, inc.territory, inc.executor, inc.confidence) == (
        "health",
        "sela",
        "minzdrav",
        1.0,
    )


def test_illegal_status_change_through_the_engine(engine: Engine) -> None:
    engine.process([msg("1", "В Тольятти яма на дороге")])
    (inc,) = engine.incidents()
    with pytest.raises(IllegalTransition, match="cannot change status from 'routed' to 'closed'"):
        engine.transition(inc.id, "closed", actor="operator")  # type: ignore[arg-type]
    engine.transition(inc.id, Status.IN_PROGRESS, actor="adm-gorod", reason="выехала бригада")  # type: ignore[arg-type]
    got = engine.incident(inc.id)  # type: ignore[arg-type]
    assert got.status is Status.IN_PROGRESS
    assert got.history[-1].actor == "adm-gorod" and got.history[-1].reason == "выехала бригада"


def test_notifications_are_sent_once(engine: Engine, small_region: Any) -> None:
    seen: list[Any] = []

    class Collect:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register("collect", type("N", (), {"notify": lambda self, n: seen.append(n)})())

    eng = Engine(
        small_region, engine.repository, entry_points=False, plugins=[Collect()], clock=engine.clock
    )
    eng.process([msg("1", "В Тольятти яма на дороге")])
    assert [(n.kind, n.recipients) for n in seen] == [("routed", ("adm-gorod",))]
    assert eng.deliver_notifications() == 0
    assert len(seen) == 1


def test_seasonal_keywords_count_only_in_season(engine: Engine) -> None:
    winter = datetime(2026, 12, 1, 9, tzinfo=SAMARA)
    summer = datetime(2026, 7, 1, 9, tzinfo=SAMARA)
    engine.process(
        [
            msg("w", "В Тольятти гололед на тротуарах", at=winter),
            msg("s", "В Сызрани гололед на тротуарах", at=summer),
        ]
    )
    by_terr = {i.territory: i for i in engine.incidents()}
    assert by_terr["gorod"].topic == "roads"
    assert by_terr["sela"].topic is None and by_terr["sela"].status is Status.TRIAGE


def test_ingest_rejects_empty_messages(engine: Engine) -> None:
    report = engine.ingest([msg("1", "   ")])
    assert report.inserted == 0
    assert isinstance(report.errors[0], IngestError)
    assert "neither text nor attachments" in str(report.errors[0])


def test_run_limit_and_progress(engine: Engine) -> None:
    engine.ingest([msg(str(i), f"В Тольятти яма номер {i}") for i in range(7)])
    calls: list[tuple[int, int]] = []
    report = engine.run(batch_size=3, limit=5, progress=lambda d, t: calls.append((d, t)))
    assert report.processed == 5
    assert calls == [(3, 5), (5, 5)]
    assert engine.repository.message_counts() == {"done": 5, "pending": 2}


def test_engine_from_config_defaults_to_bundled_region_in_memory() -> None:
    with Engine.from_config(
        entry_points=False, clock=lambda: datetime(2026, 11, 16, 6, tzinfo=UTC)
    ) as eng:
        assert eng.config.region.name == "Самарская область"
        eng.process([msg("1", "В Тольятти на улице Революционной открытый люк, дети рядом!")])
        (inc,) = eng.incidents()
        assert inc.territory == "tolyatti"
        assert inc.urgency is Urgency.URGENT


def _resolve(engine: Engine, incident_id: int) -> None:
    engine.transition(incident_id, Status.RESOLVED, actor="adm", reason="сделано")


def test_a_repeat_message_reopens_a_resolved_incident(engine: Engine, clock: Any) -> None:
    from tsur import Author

    t = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
    anna = Author("42", "Анна")
    engine.process(
        [msg("a1", "В Тольятти на ул. Мира, 5 огромная яма на дороге", at=t, author=anna)]
    )
    (inc,) = engine.incidents()
    _resolve(engine, inc.id)  # type: ignore[arg-type]
    report = engine.process(
        [
            msg(
                "c1",
                "яму так и не заделали, всё как было",
                parent_id="a1",
                at=t + timedelta(days=2),
            ),
            msg(
                "a2",
                "Тольятти, дорога у дома Мира 5 опять разбита, ямы",
                at=t + timedelta(days=3),
                author=anna,
            ),
        ]
    )
    assert report.reopened == 1 and report.merged == 1 and report.created == 0
    got = engine.incident(inc.id)  # type: ignore[arg-type]
    assert got.status is Status.REOPENED
    reopen = next(e for e in got.history if e.to_status is Status.REOPENED)
    assert reopen.reason == "повторное сообщение: ответ в переписке по закрытому обращению"
    assert len(got.message_ids) == 3
    assert got.resolution_due is not None and got.resolution_due > t + timedelta(days=2)


def test_the_same_address_written_shorter_reopens_and_a_namesake_street_does_not(
    engine: Engine,
) -> None:
    """Another citizen at «Мира 5» reports the pothole of the resolved «ул. Мира, 5» again:
    the same address, reopened; «пер. Мира, 5» is another street's house, a new incident."""
    from tsur import Author

    t = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
    first = "В Тольятти на ул. Мира, 5 огромная яма на дороге"
    engine.process([msg("a1", first, at=t, author=Author("1", "Анна"))])
    (inc,) = engine.incidents()
    _resolve(engine, inc.id)  # type: ignore[arg-type]
    again = engine.process(
        [
            msg(
                "c1",
                "Тольятти, Мира 5: опять огромная яма на дороге",
                at=t + timedelta(days=1),
                author=Author("3", "Вера"),
            )
        ]
    )
    assert again.reopened == 1 and again.created == 0
    got = engine.incident(inc.id)  # type: ignore[arg-type]
    reopen = next(e for e in got.history if e.to_status is Status.REOPENED)
    assert reopen.reason == "повторное сообщение: та же проблема по тому же адресу"
    _resolve(engine, inc.id)  # type: ignore[arg-type]
    other = engine.process(
        [
            msg(
                "b1",
                "Тольятти, пер. Мира, 5 — огромная яма на дороге",
                at=t + timedelta(days=2),
                author=Author("2", "Борис"),
            )
        ]
    )
    assert other.created == 1 and other.reopened == 0


def test_a_repeat_long_after_the_window_makes_a_new_incident(engine: Engine) -> None:
    t = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
    engine.process([msg("a1", "В Тольятти на ул. Мира, 5 огромная яма на дороге", at=t)])
    (inc,) = engine.incidents()
    _resolve(engine, inc.id)  # type: ignore[arg-type]
    engine.process([msg("c1", "опять яма", parent_id="a1", at=t + timedelta(days=60))])
    assert len(engine.incidents()) == 2


def test_an_incident_learns_the_address_a_later_report_gives(engine: Engine) -> None:
    t = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
    engine.process(
        [
            msg("1", "В Тольятти нет отопления, батареи ледяные третий день", at=t),
            msg(
                "2",
                "Тольятти, ул. Мира, 5: нет отопления, батареи ледяные, дети мёрзнут",
                at=t + timedelta(hours=1),
            ),
            # no words in common with the first, but the address the second taught
            msg(
                "3",
                "Тольятти, ул. Мира, 5 — холодно в квартирах, отопление не включили",
                at=t + timedelta(hours=2),
            ),
        ]
    )
    (inc,) = engine.incidents()
    got = engine.incident(inc.id)  # type: ignore[arg-type]
    reasons = [e.reason for e in got.history if e.kind == "message_added"]
    assert reasons[-1] == "тот же адрес (мир 5)"
    assert len(got.message_ids) == 3


def test_a_large_jsonl_file_is_read_and_stored_a_chunk_at_a_time(
    engine: Engine, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory holds one chunk of a file, not the file: lines are read, checked and
    stored in chunks, and what a chunk boundary falls between — a repeat of a line
    stored in an earlier chunk, a bad line, a corrected line closing its old
    reject — comes out as it does in one piece."""
    monkeypatch.setattr(pipeline, "_INGEST_LINES", 3)
    stored_at_once: list[int] = []
    ingest = engine.repository.ingest

    def spy(messages: Any, **kw: Any) -> Any:
        stored_at_once.append(len(messages))
        return ingest(messages, **kw)

    monkeypatch.setattr(engine.repository, "ingest", spy)
    path = tmp_path / "big.jsonl"
    filler = "и асфальт разбит " * 60  # lines long enough for kibibytes to count
    good = [_line(str(i), f"яма на дороге у дома {i} {filler}") for i in range(1, 9)]
    bad = '{"source": "vk", "external_id": "9", "text": "яма", '
    path.write_text("\n".join([*good[:4], bad, *good[4:], good[0]]) + "\n", encoding="utf-8")
    seen: list[tuple[int, int]] = []
    report = engine.ingest_jsonl(path, progress=lambda done, total: seen.append((done, total)))
    assert (report.inserted, report.duplicates) == (8, 1)
    # progress after each chunk: kibibytes of the file read, of its size
    size = path.stat().st_size // 1024
    assert len(seen) == 4 and [t for _, t in seen] == [size] * 4 and seen[-1][0] == size
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert [e.line for e in report.errors] == [5]
    assert max(stored_at_once) <= 3 and sum(stored_at_once) == 9
    assert [r.line for r in engine.repository.rejected_inputs()] == [5]
    # the file corrected: its line 5 is stored now, and its reject is closed
    path.write_text("\n".join([*good[:4], _line("9", "яма у дома 9"), *good[4:]]) + "\n", "utf-8")
    again = engine.ingest_jsonl(path)
    assert (again.inserted, again.duplicates, again.errors) == (1, 8, [])
    assert engine.repository.rejected_inputs() == []
