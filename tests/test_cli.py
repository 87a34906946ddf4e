"""The tsur command as an operator uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tsur import open_repository
from tsur.cli import build_parser, main

from .conftest import SMALL_REGION

REGION = str(SMALL_REGION)


def run(capsys: pytest.CaptureFixture[str], *argv: str, pm: Any = None) -> tuple[int, str, str]:
    code = main(list(argv), pm=pm)
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "demo.db")
    code, out, _ = run(capsys, "demo", "--db", db)
    assert code == 0
    assert "Самарская область" in out
    ingested = int(out.split("принято сообщений: ")[1].split()[0])
    assert ingested >= 300
    assert "с ошибкой 0" in out
    for title in ("Обращения по темам", "По территориям", "По исполнителям", "Срочные"):
        assert title in out
    # the fortnight: answers, «отписки» refused, a few escalations on a moving clock
    assert int(out.split("отклонено как отписка ")[1].split(")")[0]) > 0
    escalated = int(out.split("Эскалация: ")[1].split()[0])
    assert 0 < escalated < ingested // 4
    report = tmp_path / "tsur-demo-report.html"
    assert report.exists() and "<svg" in report.read_text("utf-8")
    assert f"отчёт за месяц для руководства региона: {report}" in out
    # a second demo starts afresh; --keep re-ingests nothing
    code, out, _ = run(capsys, "demo", "--db", db, "--keep")
    assert code == 0 and "принято сообщений: 0" in out
    code, out, _ = run(
        capsys, "incidents", "--db", db, "--urgency", "urgent", "--json", "--limit", "500"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(r["urgency"] == "urgent" for r in rows)
    code, out, _ = run(capsys, "incidents", "--db", db, "--limit", "3")
    assert "Инциденты: последние 3 (есть ещё; больше — --limit)" in out
    assert all(r["executor"] for r in rows)
    code, out, _ = run(capsys, "show", str(rows[0]["id"]), "--db", db, "--json")
    shown = json.loads(out)
    assert shown["id"] == rows[0]["id"]
    assert shown["history"][0]["kind"] == "received"


def _lines(*records: object) -> str:
    return (
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records)
        + "\n"
    )


def test_ingest_reports_bad_lines_and_keeps_the_good(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "in.jsonl"
    good = {
        "source": "vk",
        "external_id": "1",
        "text": "В Тольятти яма на дороге",
        "created_at": "2026-11-16T09:00:00+04:00",
    }
    f.write_text(_lines(good, "{oops", {**good, "external_id": "2", "source": "fax"}), "utf-8")
    db = str(tmp_path / "t.db")
    code, out, _ = run(capsys, "ingest", str(f), "--db", db, "--config", REGION)
    assert code == 1
    assert f"{f}:2: not valid JSON" in out
    assert f"{f}:3: unknown source 'fax'" in out
    assert "принято новых сообщений: 1, уже были в базе: 0, отклонено строк: 2" in out
    code, out, _ = run(capsys, "ingest", str(f), "--db", db, "--config", REGION)
    assert "принято новых сообщений: 0, уже были в базе: 1" in out
    code, out, _ = run(capsys, "rejects", "--db", db, "--config", REGION)
    assert out.count("in.jsonl:") == 2  # each bad line kept once, however often it came
    assert "отклонённых входных записей: 2" in out
    code, out, _ = run(capsys, "run", "--db", db, "--config", REGION, "--quiet")
    assert code == 0 and "обработано 1: новых инцидентов 1" in out
    code, out, _ = run(capsys, "incidents", "--db", db, "--config", REGION, "--json")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert (row["topic"], row["territory"], row["executor"]) == ("roads", "gorod", "adm-gorod")
    code, out, _ = run(capsys, "messages", "--db", db, "--config", REGION)
    assert "обработано: 1" in out
    # the first response is due at row["first_response_due"]: «⚠» marks it once that is past
    due = row["first_response_due"]
    before, after = "2026-11-16T09:30:00+04:00", "2026-12-31T12:00:00+04:00"
    code, out, _ = run(capsys, "incidents", "--db", db, "--config", REGION, "--now", before)
    assert code == 0 and "⚠" not in out and "ответ до" in out
    code, out, _ = run(capsys, "incidents", "--db", db, "--config", REGION, "--now", after)
    assert "⚠ ответ до" in out and "⚠ срок нарушен на 31.12.2026 12:00" in out
    code, out, _ = run(
        capsys, "incidents", "--db", db, "--config", REGION, "--now", before, "--overdue"
    )
    assert "Инциденты (0)" in out
    assert due is not None


def test_bad_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text(
        Path(REGION).read_text("utf-8").replace('kind = "carrier"', 'kind = "bus"'), "utf-8"
    )
    code, _, err = run(capsys, "config", "--config", str(bad))
    assert code == 2
    assert f"error: {bad}: invalid region configuration (1 problem(s))" in err
    assert "executors[10].kind" in err  # the carrier, the eleventh executor


def test_show_unknown_incident(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "x.db")
    open_repository(db).close()  # an empty database
    code, _, err = run(capsys, "show", "42", "--db", db, "--config", REGION)
    assert code == 2 and "incident 42 not found" in err


def test_reading_a_mistyped_database_is_refused_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "tsur-dmeo.db"
    for argv in (["incidents"], ["show", "1"], ["messages"], ["rejects"], ["kpi"], ["report"]):
        code, _, err = run(capsys, *argv, "--db", str(missing), "--config", REGION)
        assert code == 2, argv
        assert f"no database at {missing}: check --db" in err, argv
        assert not missing.exists(), argv


def test_reading_never_adds_tables_to_another_applications_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    other = tmp_path / "crm.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    empty = tmp_path / "empty.db"
    empty.touch()
    for db in (other, empty):
        for argv in (["incidents"], ["run"], ["kpi"]):
            code, _, err = run(capsys, *argv, "--db", str(db), "--config", REGION)
            assert code == 2, (db, argv)
            assert "is not a tsur database" in err, (db, argv)
    with sqlite3.connect(other) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"customers"}
    assert empty.stat().st_size == 0


def test_processing_a_mistyped_database_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "typo.db"
    code, _, err = run(capsys, "run", "--db", str(typo), "--config", REGION)
    assert code == 2 and "no database at" in err
    assert not typo.exists()


def test_a_database_opened_read_only_reads_and_refuses_writes(tmp_path: Path) -> None:
    """What a read command does on a file its user may not write (root may write any)."""
    from tsur.errors import StorageError
    from tsur.store.sql import SqlRepository, normalize_url
    from tsur.testing import START, message

    db = tmp_path / "ro.db"
    repo = open_repository(db)
    repo.ingest([message("яма на дороге в Тольятти")], received_at=START)
    repo.close()
    ro = SqlRepository(normalize_url(db), read_only=True, keep_journal=True)
    try:
        assert ro.message_counts() == {"pending": 1}
        with pytest.raises(StorageError, match="readonly"):
            ro.ingest([message("ещё одна", external_id="2")], received_at=START)
    finally:
        ro.close()


@pytest.mark.parametrize(
    ("db", "says"),
    [("", "--db (or TSUR_DB) is empty"), ("{tmp}", "it is a folder")],
)
def test_odd_database_arguments_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], db: str, says: str
) -> None:
    code, _, err = run(capsys, "incidents", "--db", db.format(tmp=tmp_path), "--config", REGION)
    assert code == 2 and says in err


def test_a_full_sqlalchemy_url_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "full.db"
    open_repository(db).close()
    code, _, err = run(capsys, "incidents", "--db", f"sqlite+pysqlite:///{db}", "--config", REGION)
    assert code == 0, err


def test_config_checks_plugin_settings_and_source_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = Path(REGION).read_text("utf-8")
    typo = tmp_path / "typo.toml"
    typo.write_text(text + "\n[plugins.moderaton]\nabuse_threshold = 5\n", "utf-8")
    code, _, err = run(capsys, "config", "--config", str(typo))
    assert code == 2 and "plugins.moderaton: no plugin declares these settings" in err

    bad = tmp_path / "bad.toml"
    vk_options = 'options = { secret_env = "TSUR_VK_SECRET" }\n'
    assert vk_options in text
    for options, says in (
        ('{ secret_env = "TSUR_VK_SECRET", bogus = 1 }', "sources[0].options.bogus"),
        (
            '{ secret_env = "V", access_token_env = "TSUR_NOPE" }',
            "environment variable 'TSUR_NOPE' is not set",
        ),
        # a Callback API source without its key: the region file names the source
        ("{}", "mode 'callback' takes pushed events: set secret_env"),
    ):
        bad.write_text(text.replace(vk_options, f"options = {options}\n"), "utf-8")
        code, _, err = run(capsys, "config", "--config", str(bad))
        assert code == 2, err
        assert "invalid source options" in err and "(source 'vk')" in err
        assert says in err


def test_a_plugin_command_without_a_handler_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tsur import hookimpl
    from tsur.plugins import make_plugin_manager

    class Commands:
        @hookimpl
        def register_commands(self, add_command: Any) -> None:
            add_command("orphan", help="no handler")
            quiet = add_command("quiet", help="returns None")
            quiet.set_defaults(func=lambda args, console: None)

    pm = make_plugin_manager(entry_points=False, plugins=[Commands()])
    code, _, err = run(capsys, "orphan", pm=pm)
    assert code == 2 and "command 'orphan' has no handler" in err
    assert run(capsys, "quiet", pm=pm)[0] == 0


def test_a_database_that_does_not_answer_is_named_as_such(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a port nothing listens on: the error says the server cannot be reached
    url = "postgresql://nobody@127.0.0.1:1/test"
    code, _, err = run(capsys, "incidents", "--db", url, "--config", REGION)
    assert code == 2
    assert "cannot connect to the database" in err and "127.0.0.1" in err
    assert "migrate" not in err


def test_config_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config")
    assert code == 0
    assert "Самарская область (Europe/Samara)" in out and "городских округов 10" in out
    assert "без адаптера (заполняются вручную или через tsur ingest): ok, hotline, written" in out


def test_every_command_has_complete_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"demo", "ingest", "run", "incidents", "show"}
    for name, p in sub.choices.items():
        text = p.format_help()
        assert p.description, f"{name} has no description"
        assert "--db" in text and "--config" in text
        for action in p._actions:
            if action.dest not in {"help"}:
                assert action.help, f"{name} {action.dest} is undocumented"


def test_console_script_is_installed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tsur", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "demo" in out and "incidents" in out


def test_plugins_add_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from tsur import hookimpl, make_plugin_manager

    class Hello:
        @hookimpl
        def register_commands(self, add_command: Any) -> None:
            p = add_command("hello", help="say hello to a territory")
            p.add_argument("name")
            p.set_defaults(func=lambda args, console: console.print(f"привет, {args.name}") or 0)

    pm = make_plugin_manager(entry_points=False, plugins=[Hello()])
    code, out, _ = run(capsys, "hello", "Самара", pm=pm)
    assert (code, out.strip()) == (0, "привет, Самара")

    class Clash:
        @hookimpl
        def register_commands(self, add_command: Any) -> None:
            add_command("demo", help="mine")

    pm = make_plugin_manager(entry_points=False, plugins=[Clash()])
    code, _, err = run(capsys, "demo", pm=pm)
    assert code == 2 and "command 'demo' already exists" in err


def test_run_re_reads_payloads_kept_by_adapters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from tsur import open_repository

    db = str(tmp_path / "w.db")
    repo = open_repository(db)
    body = json.dumps(
        {
            "external_id": "NE-1",
            "text": "В Тольятти яма на дороге",
            "created_at": "2026-11-16T09:00:00+04:00",
        },
        ensure_ascii=False,
    )
    at = datetime(2026, 11, 16, tzinfo=UTC)
    repo.record_rejected_input(
        "webhook:portal", None, body, "was unreadable before a fix", at=at, verified=True
    )
    # a body kept without verification (tsur 0.1 kept forged ones) is never read again
    forged = body.replace("NE-1", "NE-666")
    repo.record_rejected_input("webhook:portal", None, forged, "kept by tsur 0.1", at=at)
    repo.close()
    code, out, _ = run(
        capsys, "run", "--db", db, "--config", REGION, "--quiet", "--retry-rejected-input"
    )
    assert code == 0
    assert "portal: перечитано сохранённых записей 1, принято 1, всё ещё не читаются 0" in out
    assert "обработано 1: новых инцидентов 1" in out
    repo = open_repository(db)
    [left] = repo.rejected_inputs()
    assert left.raw == forged and not left.verified
    assert [m.message.external_id for m in repo.messages()] == ["NE-1"]
    repo.close()


def test_a_built_in_command_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    monkeypatch.setenv("TSUR_DISABLE_PLUGINS", "tsur.default_plugins.serve")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a real plugin's name is no typo
        parser = build_parser()
        from tsur.plugins import make_plugin_manager

        make_plugin_manager(entry_points=False)
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "serve" not in sub.choices and "incidents" in sub.choices


def test_verbosity_before_the_command_shows_the_plugin_trace_from_the_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TSUR_TRACE_PLUGINS", "1")
    code, out, err = run(capsys, "-vv", "config")
    assert code == 0 and "файл региона в порядке" in out
    assert "register_commands" in err  # the hooks that build the parser are traced too
    assert "register_settings" in err
    code, _, err = run(capsys, "config")
    assert code == 0 and "register_commands" not in err  # quiet without -v


def test_ingesting_a_missing_file_creates_no_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x.db"
    code, _, err = run(capsys, "ingest", str(tmp_path / "nofile.jsonl"), "--db", str(db))
    assert code == 2 and "nofile.jsonl: no such file" in err
    assert not db.exists()


def test_failed_messages_say_the_stage_in_russian(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tsur import hookimpl
    from tsur.plugins import make_plugin_manager

    class Broken:
        def locate(self, message: Any, text: Any) -> Any:
            raise RuntimeError("gazetteer offline")

        @hookimpl
        def register_locators(self, register: Any) -> None:
            register("broken", self, priority=1000)

    pm = make_plugin_manager(entry_points=False, plugins=[Broken()])
    db = str(tmp_path / "f.db")
    line = json.dumps(
        {
            "source": "vk",
            "external_id": "1",
            "text": "яма на дороге в Тольятти",
            "created_at": "2026-11-16T09:00:00+04:00",
        },
        ensure_ascii=False,
    )
    src = tmp_path / "m.jsonl"
    src.write_text(line + "\n", "utf-8")
    assert main(["ingest", str(src), "--db", db, "--config", REGION, "--run"], pm=pm) == 0
    capsys.readouterr()
    assert main(["messages", "--db", db, "--config", REGION], pm=pm) == 0
    out = capsys.readouterr().out
    assert "с ошибкой: 1" in out
    assert "#1 vk/1 [с ошибкой] место: RuntimeError: gazetteer offline" in out


def test_a_command_returning_something_else_than_a_status_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tsur import hookimpl
    from tsur.plugins import make_plugin_manager

    class Commands:
        @hookimpl
        def register_commands(self, add_command: Any) -> None:
            add_command("chatty", help="returns text").set_defaults(
                func=lambda args, console: "done"
            )

    pm = make_plugin_manager(entry_points=False, plugins=[Commands()])
    code, _, err = run(capsys, "chatty", pm=pm)
    assert code == 2 and "command 'chatty' returned 'done', not an exit status" in err
    code, out, _ = run(capsys, "-v", "--version", pm=pm)
    assert code == 0 and out.startswith("tsur ")


def test_reading_kpis_leaves_the_outbox_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tsur import Notification
    from tsur.testing import START

    db = tmp_path / "o.db"
    repo = open_repository(db)
    repo.queue_notifications(
        [Notification("escalated", 1, START, ("cur",), "Эскалация", key="e:1")]
    )
    repo.close()
    assert run(capsys, "kpi", "--db", str(db), "--config", REGION, "--period", "2026-11")[0] == 0
    repo = open_repository(db)
    assert len(list(repo.pending_notifications(limit=10))) == 1
    repo.close()
