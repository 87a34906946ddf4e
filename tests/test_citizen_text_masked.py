"""A citizen's words leave the engine masked: notifications, the API, `tsur show`, reports, logs."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tsur import Engine
from tsur.access import issue_key
from tsur.analytics import build_report
from tsur.cli import main
from tsur.server import create_app
from tsur.testing import FixedClock as FrozenClock
from tsur.wire import incident_to_dict

from .conftest import SMALL_REGION
from .service_kit import TestClient
from .test_lifecycle import Channel, events, lifecycle_pm, make_life, new_incident

REGION = str(SMALL_REGION)
SAMARA = timezone(timedelta(hours=4))
PHONE = "8\u2011927\u2011555\u201144\u201133"  # non-breaking hyphens
EMAIL = "petrova.olga@mail.ru"
MSG_PHONE = "+7 927 123-45-67"
SECRETS = ("555", "44\u201133", "petrova", "123-45-67")


def run(capsys: pytest.CaptureFixture[str], *argv: str, now: str) -> tuple[int, str, str]:
    code = main([*argv, "--now", now], pm=lifecycle_pm())
    out, err = capsys.readouterr()
    return code, out, err


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_rating_comment_and_message_are_masked_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = str(tmp_path / "pd.db")
    at = datetime(2026, 11, 16, 10, 0, tzinfo=SAMARA)
    with Engine.from_config(REGION, db=db, entry_points=False, clock=lambda: at) as engine:
        report = engine.process(
            [
                {
                    "source": "written",
                    "external_id": "1",
                    "text": f"Сызрань, ул. Мира, 5: яма на дороге. Тел. {MSG_PHONE}",
                    "created_at": "2026-11-16T09:00:00+04:00",
                }
            ]
        )
    (iid,) = report.incident_ids
    c = ["--db", db, "--config", REGION]
    assert run(capsys, "take", str(iid), *c, now="2026-11-16T10:00:00+04:00")[0] == 0
    assert run(capsys, "answer", str(iid), *c, now="2026-11-16T10:30:00+04:00")[0] == 0
    comment = f"Яма на месте! Звоните {PHONE} или пишите {EMAIL}, Петрова Ольга Ивановна"
    code, out, err = run(
        capsys, "rate", str(iid), "1", "--comment", comment, *c, now="2026-11-16T12:00:00+04:00"
    )
    assert code == 0 and not leaks(out + err)

    # tsur show --json and tsur show
    assert main(["show", str(iid), *c, "--json"], pm=lifecycle_pm()) == 0
    shown_json = capsys.readouterr().out
    (rating,) = [h for h in json.loads(shown_json)["history"] if h["kind"] == "rating"]
    assert rating["data"]["comment"] == (
        "Яма на месте! Звоните [телефон] или пишите [e-mail], [ФИО]"
    )
    assert main(["show", str(iid), *c], pm=lifecycle_pm()) == 0
    shown = capsys.readouterr().out
    assert "Тел. [телефон]" in shown
    assert not leaks(shown_json) and not leaks(shown)

    with Engine.from_config(REGION, db=db, entry_points=False, clock=lambda: at) as engine:
        # every notification, sent or not: the one to the executor quotes the masked comment
        with sqlite3.connect(db) as conn:
            notes = conn.execute(
                "SELECT kind, text, data, recipients FROM notifications"
            ).fetchall()
        (low,) = [text for kind, text, _, _ in notes if kind == "low_rating"]
        assert low.endswith(": Яма на месте! Звоните [телефон] или пишите [e-mail], [ФИО]")
        assert not leaks(json.dumps(notes, ensure_ascii=False))
        # GET /api/v1/incidents/ID, as an executor and as an analyst
        for role, scope in (("executor", "adm-sela"), ("analyst", None)):
            _, token = issue_key(
                engine.repository, engine.region, name=role, role=role, scope=scope, now=at
            )
            with TestClient(create_app(engine)) as client:
                r = client.get(f"/api/v1/incidents/{iid}", headers={"X-API-Key": token})
            history = json.dumps(r.json()["history"], ensure_ascii=False)
            assert r.status_code == 200 and "[телефон]" in history, role
            assert not leaks(history)
            if role == "analyst":  # the messages too: an analyst reads masked texts only
                assert not leaks(json.dumps(r.json(), ensure_ascii=False))
        # the report of the month
        monthly = build_report(engine, "2026-11", at=at + timedelta(days=20))
        assert not leaks(json.dumps(monthly, ensure_ascii=False, default=str))
        # the raw store keeps the message as received
        (stored,) = engine.repository.messages(incident_id=iid, limit=10)
        assert MSG_PHONE in stored.message.text

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not leaks(logged)


def test_a_reason_for_returning_an_answer_is_masked(db_url: str, clock: FrozenClock) -> None:
    channel = Channel()
    life = make_life(db_url, clock, channel)
    try:
        inc = new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге")
        assert inc.id is not None
        life.answer_final(inc.id, "Работы выполнены 16.11.2026, нарушение устранено.")
        back = life.reopen(inc.id, f"яма осталась, перезвоните {PHONE}, {EMAIL}")
        (event,) = events(back, "reopened")
        assert event.reason == "яма осталась, перезвоните [телефон], [e-mail]"
        history = json.dumps(incident_to_dict(back, history=True), ensure_ascii=False)
        assert not leaks(history)
        assert not leaks(" ".join(n.text for n in channel.notes))
        assert not leaks(" ".join(r.text for r in channel.posted))
    finally:
        life.close()
        life.engine.close()
