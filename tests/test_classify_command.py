"""``tsur classify``: what the engine makes of one text, storing nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tsur.cli import main

WINTER_NIGHT = "2026-11-21T03:00:00+04:00"  # a Saturday


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "classify", "--json", *argv)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_an_emergency_at_night_goes_to_the_dispatch_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = as_json(
        capsys, "В Тольятти пахнет газом в подъезде дома 5 на ул. Мира", "--at", WINTER_NIGHT
    )
    assert r["outcome"] == "created" and r["moderation"] == []
    assert r["topic"]["id"] == "zhkh.gas" and 0 < r["topic"]["confidence"] <= 1
    assert r["urgency"] == {"track": "urgent", "reason": ["пахнет газом"]}
    assert r["territory"]["id"] == "tolyatti" and r["territory"]["evidence"]
    assert r["executor"]["id"] == "gazprom-gr-ads" and "104" in r["executor"]["reason"]
    # the urgent track runs round the clock: a reply within 2 hours, at night
    assert r["first_response_due"] == "2026-11-21T05:00:00+04:00"
    assert r["triage"] is None


def test_runner_ups_are_listed_and_never_the_winner_or_its_parents(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = as_json(capsys, "Тротуар на улице Ленина в Самаре — сплошной каток", "--at", WINTER_NIGHT)
    topic = r["topic"]
    assert topic["id"].startswith("roads")
    alternatives = [a["id"] for a in topic["alternatives"]]
    assert "culture_sport.sport" in alternatives  # the rink reading, lower
    assert topic["id"] not in alternatives and "roads" not in alternatives
    assert all(a["confidence"] <= topic["confidence"] for a in topic["alternatives"])
    assert r["urgency"]["reason"] == ["каток"]


def test_thanks_say_whom_they_credit(capsys: pytest.CaptureFixture[str]) -> None:
    r = as_json(capsys, "Спасибо, отремонтировали дорогу на Московском шоссе в Самаре")
    assert r["outcome"] == "thanked"
    assert [m["action"] for m in r["moderation"]] == ["thanks"]
    assert r["executor"]["id"] == "adm-samara"


def test_spam_is_rejected_with_its_reason_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    r = as_json(capsys, "Продам гараж недорого, звоните 8-917-123-45-67")
    assert r["outcome"] == "rejected" and r["reason"] == "реклама или спам"
    assert {m["action"] for m in r["moderation"]} == {"reject", "mask"}
    assert r["topic"] is None and r["executor"] is None


def test_unclear_text_goes_to_the_curator_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    r = as_json(capsys, "Сколько можно терпеть, сделайте уже что-нибудь")
    assert r["outcome"] == "created" and r["topic"] is None and r["territory"] is None
    assert r["triage"] == "тема не определена; территория не определена"
    assert r["executor"]["id"] == "cur"  # the ЦУР's curators sort it out


def test_text_from_stdin_and_the_russian_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("В Сызрани на ул. Ленина нет света с утра\n"))
    code, out, _ = run(capsys, "classify", "-", "--at", WINTER_NIGHT)
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines["модерация"] == "замечаний нет"
    assert lines["тема"].startswith("Отключения электроэнергии (energy.outage)")
    assert lines["территория"].startswith("Сызрань (syzran)")
    assert lines["исполнитель"].startswith("ПАО «Россети Волга»")
    assert lines["сроки"] == "первый ответ до 21.11 05:00, решение до 22.11 03:00"
    assert lines["итог"] == "новый инцидент"


def test_nothing_is_stored(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    code, _, _ = run(capsys, "classify", "--db", str(db), "В Самаре яма на дороге")
    assert code == 0 and not db.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["   "], "the text is empty"),
        (["--source", "myspace", "яма"], "unknown source 'myspace'"),
    ],
)
def test_bad_input_gets_a_clear_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, "classify", *argv)
    assert code != 0 and message in err


def test_a_time_without_offset_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["classify", "яма", "--at", "2026-11-21T03:00"])
    assert exc.value.code == 2
    assert "UTC offset" in capsys.readouterr().err


def test_a_preview_leaves_nothing_behind() -> None:
    """Previewing a text and then processing it for real decides as if no preview happened."""
    from datetime import datetime, timedelta, timezone

    from tsur import Author, Engine, Message
    from tsur.context import previewing

    at = datetime(2026, 11, 16, 9, 0, tzinfo=timezone(timedelta(hours=4)))
    anna = Author("42", "Анна")
    text = "В Самаре на ул. Мира, 5 яма на дороге, объезжаем по встречке"
    with Engine.from_config(None, db=":memory:", entry_points=False) as engine:
        for _ in range(3):
            engine.preview(Message("vk", "preview", text, at, author=anna))
        assert not previewing()
        report = engine.process([Message("vk", "real", text, at, author=anna)])
        assert (report.created, report.rejected) == (1, 0)
        assert engine.repository.message_counts() == {"done": 1}
        # a real repeat is still caught
        again = engine.process([Message("vk", "again", text, at, author=anna)])
        assert again.rejected == 1
