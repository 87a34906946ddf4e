"""The lifecycle's ``tsur`` commands as an operator uses them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tsur import Engine
from tsur.cli import main

from .conftest import SMALL_REGION
from .test_lifecycle import lifecycle_pm

REGION = str(SMALL_REGION)


def run(capsys: pytest.CaptureFixture[str], *argv: str, now: str) -> tuple[int, str, str]:
    code = main([*argv, "--now", now], pm=lifecycle_pm())
    out, err = capsys.readouterr()
    return code, out, err


SELA = "Администрация г.о. Сызрань"  # executor adm-sela of the small region


def test_operator_walks_an_incident_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "ops.db")
    messages = [
        ("written", "1", "Сызрань, ул. Мира, 5: яма на дороге"),
        ("written", "w1", "Прошу отремонтировать дорогу в Смышляевке, огромные ямы"),
    ]
    registered = datetime(2026, 11, 16, 10, 0, tzinfo=timezone(timedelta(hours=4)))
    with Engine.from_config(REGION, db=db, entry_points=False, clock=lambda: registered) as engine:
        report = engine.process(
            [
                {
                    "source": s,
                    "external_id": x,
                    "text": t,
                    "created_at": "2026-11-16T09:00:00+04:00",
                }
                for s, x, t in messages
            ]
        )
    road, written = report.incident_ids
    c = ["--db", db, "--config", REGION]
    code, out, _ = run(capsys, "take", str(road), *c, now="2026-11-16T10:00:00+04:00")
    assert code == 0 and f"№ {road}: в работе, исполнитель {SELA}" in out
    code, out, _ = run(capsys, "answer", str(road), *c, now="2026-11-16T10:30:00+04:00")
    assert code == 0 and "дан пром. ответ" in out
    assert "решение до 16.12.2026 23:59" in out  # 59-ФЗ: the answer does not move the term
    assert "ответ НЕ доставлен: no source adapter for kind 'written'" in out
    code, out, _ = run(
        capsys,
        "answer",
        str(road),
        "Ваше обращение рассмотрено.",
        "--final",
        *c,
        now="2026-11-17T10:00:00+04:00",
    )
    assert code == 1 and "ответ отклонён как отписка:" in out
    assert "— шаблонная фраза «обращение рассмотрено»" in out
    code, out, _ = run(
        capsys,
        "answer",
        str(road),
        "Яма заделана 17.11.2026.",
        "--final",
        "--photo",
        "p.jpg",
        *c,
        now="2026-11-17T11:00:00+04:00",
    )
    assert code == 0 and f"№ {road}: решён" in out
    code, out, _ = run(
        capsys,
        "rate",
        str(road),
        "2",
        "--resolved",
        "нет",
        "--comment",
        "яма осталась",
        *c,
        now="2026-11-17T12:00:00+04:00",
    )
    assert code == 0 and f"№ {road}: возвращён в работу" in out
    code, _, err = run(capsys, "rate", str(road), "9", *c, now="2026-11-17T12:00:00+04:00")
    assert code == 2 and "whole number 1–5" in err
    code, out, _ = run(
        capsys, "extend", str(written), "нужна комиссия", *c, now="2026-12-01T10:00:00+04:00"
    )
    assert code == 0 and "решение до 15.01.2027 23:59" in out
    code, _, err = run(capsys, "extend", str(written), "ещё", *c, now="2026-12-01T10:00:00+04:00")
    assert code == 2 and "allows one extension" in err
    code, out, _ = run(
        capsys,
        "forward",
        str(written),
        "adm-sela",
        "дорога г.о. Сызрань",
        *c,
        now="2026-12-01T11:00:00+04:00",
    )
    assert code == 0 and f"исполнитель {SELA}" in out
    assert "7-дневный срок переадресации (ч. 3 ст. 8 59-ФЗ) нарушен" in out
    assert main(["show", str(road), *c, "--json"], pm=lifecycle_pm()) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert [h["kind"] for h in history].count("reply") == 3  # intermediate, final, reopened
