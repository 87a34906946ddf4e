"""Hostile input never costs a good line: files, standard input and CSV exports,
on SQLite and PostgreSQL alike.

Each attack spoils one line of an otherwise good file: a NUL character, bytes
that are not UTF-8, a byte-order mark, a year-9999 date, JSON nested 5,000
levels deep, a line of random bytes. Every good line must be stored, every
bad line kept in the rejected-input store with its number and a reason that
names what is wrong, and the two stores must agree.
"""

from __future__ import annotations

import io
import json
import random
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

import tsur
from tests.test_adapters_common import adapter_for
from tsur.adapters.files import JsonLinesAdapter
from tsur.cli import main
from tsur.domain import Message
from tsur.errors import PayloadError
from tsur.intake import collect
from tsur.store.sql import open_repository
from tsur.wire import (
    REMOVED_CONTROLS,
    check_instant,
    clean_message,
    from_timestamp,
    read_jsonl,
    split_lines,
)

from .conftest import SMALL_REGION

pytest_plugins = ["tests.test_adapters_common"]  # the adapters engine (CSV source)

SAMARA = timezone(timedelta(hours=4))


def record(n: int, **changes: Any) -> dict[str, Any]:
    """A valid wire record (the ``tsur ingest`` format), number ``n``."""
    rec = {
        "source": "vk",
        "external_id": f"m{n}",
        "text": f"В Тольятти яма на дороге у дома {n}",
        "created_at": "2026-11-16T09:00:00+04:00",
    }
    rec.update(changes)
    return rec


def line(n: int, **changes: Any) -> bytes:
    return json.dumps(record(n, **changes), ensure_ascii=False).encode("utf-8")


def rejects(engine: tsur.Engine) -> dict[int | None, str]:
    return {r.line: r.reason for r in engine.repository.rejected_inputs()}


def stored_ids(engine: tsur.Engine) -> set[str]:
    return {sm.message.external_id for sm in engine.repository.messages(limit=10_000)}


# the attacks, one line each ------------------------------------------------------------
DEEP = b"[" * 5000 + b"]" * 5000
RANDOM = bytes(random.Random(7).randrange(256) for _ in range(200)).replace(b"\n", b"")

ATTACKS: dict[str, tuple[bytes, str]] = {
    "invalid UTF-8": (line(0).replace("яма".encode(), b"\xff\xfe"), "not UTF-8 text"),
    "year 9999": (
        line(0, created_at="9999-12-31T23:59:59-05:00"),
        "outside the years 1970–2100",
    ),
    "year 1": (line(0, created_at="0001-01-01T00:00:00+14:00"), "outside the years 1970–2100"),
    "deep JSON": (DEEP, "JSON nested too deeply: 5000 levels (at most 100 are read)"),
    "random bytes": (RANDOM, ""),
    "NUL in the id": (line(0, external_id="m\u0000x"), "control character U+0000"),
    "lone surrogate": (  # the escape \ud800 alone: valid JSON, but no character
        json.dumps(record(0, text="яма \ud800")).encode(),
        "text: Input should be a valid string, unable to parse raw data as a unicode string",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_one_bad_line_of_many_costs_only_itself(engine: tsur.Engine, attack: str) -> None:
    bad, reason = ATTACKS[attack]
    lines = [line(n) for n in range(1, 1201)]
    lines[699] = bad  # line 700 of 1,200
    report = engine.ingest_jsonl(data=b"\n".join(lines) + b"\n", origin="big.jsonl")
    assert report.inserted == 1199
    assert stored_ids(engine) == {f"m{n}" for n in range(1, 1201)} - {"m700"}
    kept = rejects(engine)
    assert list(kept) == [700]
    assert kept[700].startswith("big.jsonl:700: ") and reason in kept[700]
    assert [e.line for e in report.errors] == [700]


def test_nul_and_control_characters_in_text_are_removed_and_counted(
    engine: tsur.Engine,
) -> None:
    """A stray NUL in the text of line 700 of 1,200 (the escape ``\\u0000``, valid JSON):
    the complaint is stored on both backends, without the NUL; the count is in meta."""
    lines = [line(n) for n in range(1, 1201)]
    lines[699] = line(
        700,
        text="Нет света\u0000 в подъезде\u001b[31m\t\r\nуже\u0085 неделю\u007f",
        address="ул. Мира\u0000, 5",
        author={"name": "Анна\u0007", "id": "42"},
        meta={"note\u0000": ["x\u0000", {"y": "\u0001"}]},
    )
    report = engine.ingest_jsonl(data=b"\n".join(lines), origin="big.jsonl")
    assert (report.inserted, report.errors) == (1200, [])
    (sm,) = [s for s in engine.repository.messages(limit=2000) if s.message.external_id == "m700"]
    m = sm.message
    assert m.text == "Нет света в подъезде[31m\t\r\nуже неделю"
    assert m.address == "ул. Мира, 5"
    assert m.author is not None and m.author.name == "Анна"
    assert m.meta["note"] == ["x", {"y": ""}]
    assert m.meta[REMOVED_CONTROLS] == 9
    # the other lines are as they came, nothing counted
    other = next(s for s in engine.repository.messages(limit=2000) if s.message.external_id == "m1")
    assert REMOVED_CONTROLS not in other.message.meta


def test_a_byte_order_mark_does_not_cost_line_one(engine: tsur.Engine) -> None:
    data = b"\xef\xbb\xbf" + line(1) + b"\r\n" + line(2) + b"\r\n"
    report = engine.ingest_jsonl(data=data, origin="bom.jsonl")
    assert (report.inserted, report.errors) == (2, [])


def test_lines_split_only_at_line_feeds() -> None:
    """U+2028, a form feed or a lone CR inside a record do not cut it in two."""
    data = line(1, text="яма\u2028глубокая\x0cочень\rочень") + b"\n" + line(2) + b"\n"
    parsed = list(read_jsonl(split_lines(data)))
    assert [p.line for p in parsed] == [1, 2]
    assert all(p.error is None for p in parsed)


def test_every_attack_in_one_file(engine: tsur.Engine) -> None:
    """All the attacks in one file of good lines: the good ones stored, each bad one
    kept with its own number and reason; a second run changes nothing."""
    names = sorted(ATTACKS)
    lines: list[bytes] = []
    bad_at: dict[int, str] = {}
    n = 0
    for name in names:
        for _ in range(3):
            n += 1
            lines.append(line(n))
        lines.append(ATTACKS[name][0])
        bad_at[len(lines)] = ATTACKS[name][1]
    lines.append(line(n + 1))
    data = b"\xef\xbb\xbf" + b"\n".join(lines)
    report = engine.ingest_jsonl(data=data, origin="mixed.jsonl")
    assert report.inserted == n + 1
    assert stored_ids(engine) == {f"m{i}" for i in range(1, n + 2)}
    kept = rejects(engine)
    assert sorted(kept) == sorted(bad_at)
    for number, reason in bad_at.items():
        assert kept[number].startswith(f"mixed.jsonl:{number}: ") and reason in kept[number]
    again = engine.ingest_jsonl(data=data, origin="mixed.jsonl")
    assert (again.inserted, again.duplicates) == (0, n + 1)
    assert len(engine.repository.rejected_inputs()) == len(bad_at)  # each kept once


def test_a_file_path_is_read_as_bytes_line_by_line(engine: tsur.Engine, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_bytes(line(1) + b"\n" + b"\xc3(\n" + line(2) + b"\n")
    report = engine.ingest_jsonl(f)
    assert report.inserted == 2
    (reason,) = rejects(engine).values()
    assert reason == (
        f"{f}:2: not UTF-8 text: byte 0xC3 at column 1 (invalid continuation byte); "
        "the line is kept with \\x escapes"
    )
    (rec,) = engine.repository.rejected_inputs()
    assert rec.raw == "\\xc3("


def test_a_raw_nul_is_read_as_its_escape_would_be(engine: tsur.Engine) -> None:
    """A raw NUL byte inside a string (a broken export) and its JSON escape ``\\u0000``
    are one thing: the complaint is stored at once, the NUL removed and counted; in an
    identifier it is refused with the line, as the escape is."""
    raw = line(2).replace("яма".encode(), "я\x00ма".encode())
    escaped = line(3).replace("яма".encode(), b"\\u0000")
    in_id = line(4).replace(b'"m4"', b'"m\x004"')
    report = engine.ingest_jsonl(
        data=b"\n".join([line(1), raw, escaped, in_id]) + b"\n", origin="nul.jsonl"
    )
    assert report.inserted == 3 and [e.line for e in report.errors] == [4]
    (m2,) = [s.message for s in engine.repository.messages() if s.message.external_id == "m2"]
    assert "яма" in m2.text and m2.meta[REMOVED_CONTROLS] == 1


def test_a_row_the_database_refuses_costs_only_itself(engine: tsur.Engine) -> None:
    """Past validation a message may still be refused by the database (here a ``meta``
    value no JSON column can hold): that one is kept as a reject, the others stored."""
    at = datetime(2026, 11, 16, 9, tzinfo=SAMARA)
    ms = [Message("vk", f"r{i}", f"Яма у дома {i}", at) for i in range(1, 6)]
    ms[2] = Message("vk", "r3", "Яма у дома 3", at, meta={"blob": object()})
    report = engine.ingest(ms, origin="api")
    assert report.inserted == 4
    assert stored_ids(engine) == {"r1", "r2", "r4", "r5"}
    (rec,) = engine.repository.rejected_inputs()
    assert rec.line == 3 and "not stored: the database refused it" in rec.reason


def test_the_repository_reports_refused_rows_and_stores_the_rest(
    engine: tsur.Engine,
) -> None:
    at = datetime(2026, 11, 16, 9, tzinfo=SAMARA)
    ms = [Message("vk", f"s{i}", "текст", at) for i in range(600)]  # two chunks
    ms[550] = Message("vk", "s550", "текст \ud800", at)  # no backend can encode it
    result = engine.repository.ingest(ms, received_at=at)
    assert result.count == 599
    assert [i for i, _ in result.failed] == [550]
    assert "surrogates not allowed" in result.failed[0][1]
    again = engine.repository.ingest(ms, received_at=at)
    assert (again.count, again.duplicates) == (0, 599)


# standard input ------------------------------------------------------------------------
def test_stdin_decides_line_by_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b"\n".join(
        [
            b"\xef\xbb\xbf" + line(1),
            line(2).replace("яма".encode(), b"\xff"),
            line(3, text="яма\u0000"),
            line(4, created_at="9999-12-31T23:59:59+00:00"),
            DEEP,
            RANDOM,
            line(7),
        ]
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(["ingest", "-", "--db", db_url, "--config", str(SMALL_REGION)])
    out = capsys.readouterr().out
    assert code == 1
    assert "принято новых сообщений: 3, уже были в базе: 0, отклонено строк: 4" in out
    assert "<stdin>:2: not UTF-8 text: byte 0xFF" in out
    assert "<stdin>:4: created_at: the date 9999-12-31T23:59:59+00:00 is outside" in out
    assert "<stdin>:5: JSON nested too deeply: 5000 levels" in out
    assert "<stdin>:6: " in out
    with closing(open_repository(db_url, existing=True)) as repo:
        assert [r.line for r in repo.rejected_inputs()] == [2, 4, 5, 6]
        assert {sm.message.external_id for sm in repo.messages()} == {"m1", "m3", "m7"}
    code = main(["rejects", "--db", db_url, "--config", str(SMALL_REGION)])
    out = capsys.readouterr().out
    assert "отклонённых входных записей: 4" in out and "<stdin>:5: JSON nested" in out


# CSV exports ---------------------------------------------------------------------------
def test_a_csv_export_keeps_every_good_row(adapters_engine: tsur.Engine, tmp_path: Path) -> None:
    rows = [
        "Номер;Дата обращения;Текст обращения;Адрес",
        "1;16.11.2026 09:41;Нет отопления;ул. Мира, 1",
        "2;16.11.2026 09:42;Прорыв трубы\x00 во дворе;ул. Мира, 2",
        "3;31.12.9999 09:43;Яма;ул. Мира, 3",
        "4;16.11.2026 09:44;ЗАМЕНА;ул. Мира, 4",
        "5;16.11.2026 09:45;Не горит фонарь;ул. Мира, 5",
    ]
    data = ("\n".join(rows) + "\n").encode("utf-8").replace("ЗАМЕНА".encode(), b"\xff\xfe")
    f = tmp_path / "122.csv"
    f.write_bytes(b"\xef\xbb\xbf" + data)
    with adapter_for(adapters_engine, "hotline", path=str(f)) as adapter:
        report = collect(adapters_engine, "hotline", adapter=adapter)
    assert report.inserted == 3
    assert stored_ids(adapters_engine) == {"1", "2", "5"}
    kept = rejects(adapters_engine)
    assert sorted(kept) == [4, 5]  # file lines: the header is line 1
    assert "outside the years 1970–2100" in kept[4]
    assert "not utf-8-sig text: byte 0xFF" in kept[5]
    (m2,) = [
        s.message for s in adapters_engine.repository.messages() if s.message.external_id == "2"
    ]
    assert m2.text == "Прорыв трубы во дворе"


# the shared checks ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), False),
        (datetime(1970, 1, 1, tzinfo=UTC), True),
        (datetime(1970, 1, 1, 3, 59, tzinfo=SAMARA), False),  # 1969 in UTC
        (datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC), True),
        (datetime(2101, 1, 1, tzinfo=UTC), False),
        (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))), False),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), False),
    ],
)
def test_dates_from_1970_to_2100_only(value: datetime, ok: bool) -> None:
    if ok:
        assert check_instant(value) == value
    else:
        with pytest.raises(ValueError, match="outside the years 1970–2100"):
            check_instant(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 1e20, 10**400, 4133980800])
def test_unix_times_outside_the_range_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match=r"outside the years 1970–2100|not a Unix time"):
        from_timestamp(value, UTC)


def test_unix_time_reads_as_the_clock_does() -> None:
    assert from_timestamp(1_763_272_800, SAMARA) == datetime.fromtimestamp(1_763_272_800, SAMARA)
    assert from_timestamp(0, UTC) == datetime(1970, 1, 1, tzinfo=UTC)


def test_an_identifier_with_a_control_character_is_refused_not_changed() -> None:
    at = datetime(2026, 11, 16, tzinfo=UTC)
    for field in ("external_id", "thread_id", "parent_id", "topic", "territory"):
        m = attrs.evolve(Message("vk", "1", "текст", at), **{field: "a\u0000b"})
        with pytest.raises(ValueError, match=f"{field} contains the control character U\\+0000"):
            clean_message(m)
    m = Message("vk", "1", "текст", at, author=tsur.Author(id="7\x1b"))
    with pytest.raises(ValueError, match=r"author\.id contains the control character U\+001B"):
        clean_message(m)


def test_a_clean_message_is_returned_unchanged() -> None:
    m = Message("vk", "1", "Яма\tглубокая\r\nочень", datetime(2026, 11, 16, tzinfo=UTC))
    assert clean_message(m) is m


def test_the_jsonl_source_reports_bad_lines_instead_of_stopping(
    tmp_path: Path,
) -> None:
    f = tmp_path / "feed.jsonl"
    f.write_bytes(line(1) + b"\n\xff\n" + DEEP + b"\n" + line(4) + b"\n")
    adapter = JsonLinesAdapter(tsur.Source("file", "jsonl", "Файл", {"path": str(f)}), None)
    result = adapter.fetch(None)
    assert [m.external_id for m in result.messages] == ["m1", "m4"]
    assert [(r.line, r.reason.split(": ", 1)[1][:20]) for r in result.rejected] == [
        (2, "not UTF-8 text: byte"),
        (3, "JSON nested too deep"),
    ]
    assert result.cursor == "4"
    with pytest.raises(PayloadError, match=":2: not UTF-8 text"):
        adapter.parse(f.read_bytes())


def test_tsur_parse_reads_a_jsonl_file_line_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "x.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + line(1) + b"\n" + b"\xff\xfe\n" + line(3) + b"\n")
    code = main(["parse", "jsonl", str(f)])
    out, err = capsys.readouterr()
    assert code == 1
    assert [json.loads(x)["external_id"] for x in out.splitlines()] == ["m1", "m3"]
    assert f"{f}:2: not UTF-8 text: byte 0xFF" in err
