"""CSV exports of a hotline: headers recognised or mapped, encodings, per-row errors
with line numbers, a row-count cursor, and bad rows kept on collect."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tsur
from tests.test_adapters_common import adapter_for, build, collect_with
from tsur.adapters.csvfile import CsvAdapter
from tsur.errors import PayloadError
from tsur.intake import retry_rejected

SAMARA = timezone(timedelta(hours=4))

EXPORT = (
    "Номер;Дата обращения;ФИО;Телефон;Адрес;Текст обращения;Категория\n"
    "122-0001;16.11.2026 09:41;Иванов И. И.;+7 927 000-00-01;Тольятти, ул. Мира, 5;"
    "Нет отопления в квартире;ЖКХ\n"
    '122-0002;16.11.2026 10:05;;;"Сызрань, ул. Советская, 3";"Яма на дороге,\n'
    'машины бьют колёса";Дороги\n'
    "122-0003;вчера;Петров;;;Не вывозят мусор;ЖКХ\n"
    "122-0004;16.11.2026 11:00;;;;;ЖКХ\n"
    "122-0005;16.11.2026 11:30;лишняя;колонка;тут;текст;ЖКХ;ещё\n"
)

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests


def csv_adapter(region: tsur.RegionConfig, **options: object) -> CsvAdapter:
    source = tsur.Source("hotline", "hotline", "122", {"adapter": "csv"})
    return build(CsvAdapter, region, source, **options)  # type: ignore[no-any-return]


def test_rows_become_messages_or_errors_with_line_numbers(
    adapters_region: tsur.RegionConfig,
) -> None:
    a = csv_adapter(adapters_region, category_map={"Дороги": "roads"})
    rows = list(a.rows(EXPORT.encode("utf-8"), origin="calls.csv"))
    assert [r.line for r in rows] == [2, 3, 5, 6, 7]  # row 3 spans two lines
    first, second = rows[0].message, rows[1].message
    assert first is not None and second is not None
    assert first.source == "hotline"
    assert first.external_id == "122-0001"
    assert first.text == "Нет отопления в квартире"
    assert first.created_at == datetime(2026, 11, 16, 9, 41, tzinfo=SAMARA)
    assert first.author == tsur.Author(None, "Иванов И. И.", "+7 927 000-00-01")
    assert first.address == "Тольятти, ул. Мира, 5"
    assert first.topic is None and first.meta == {"category": "ЖКХ"}
    assert second.text == "Яма на дороге,\nмашины бьют колёса"
    assert second.author is None
    assert second.topic == "roads"
    errors = [str(r.error) for r in rows[2:]]
    assert errors == [
        "calls.csv:5: cannot read date 'вчера' in column 'Дата обращения' "
        "(expected ISO 8601 or ДД.ММ.ГГГГ ЧЧ:ММ)",
        "calls.csv:6: empty text column 'Текст обращения'",
        "calls.csv:7: 8 columns, the header has 7",
    ]
    assert rows[2].raw == "122-0003;вчера;Петров;;;Не вывозят мусор;ЖКХ"
    with pytest.raises(PayloadError, match=r"3 bad row\(s\): <csv>:5: cannot read date"):
        a.parse(EXPORT)


def test_cp1251_comma_export_with_a_column_map(adapters_region: tsur.RegionConfig) -> None:
    text = (
        "Рег. №,Поступило,Суть,Широта,Долгота\n"
        'A-1,2026-11-16T08:00:00+03:00,Упало дерево на провода,"53,2","50,1"\n'
    )
    data = text.encode("cp1251")
    with pytest.raises(PayloadError, match=r"CSV is not utf-8-sig text.*set options\.encoding"):
        csv_adapter(adapters_region).parse(data)
    a = csv_adapter(
        adapters_region,
        encoding="cp1251",
        columns={"external_id": "Рег. №", "created_at": "Поступило", "text": "Суть"},
    )
    [m] = a.parse(data)
    assert (m.external_id, m.text) == ("A-1", "Упало дерево на провода")
    assert m.created_at == datetime(2026, 11, 16, 8, 0, tzinfo=timezone(timedelta(hours=3)))
    assert m.geo == tsur.GeoPoint(53.2, 50.1)  # «широта»/«долгота» with decimal commas


def test_missing_columns_and_bad_options(adapters_region: tsur.RegionConfig) -> None:
    with pytest.raises(PayloadError, match="no column for text, created_at among 'a', 'b'"):
        csv_adapter(adapters_region).parse("a,b\n1,2\n")
    with pytest.raises(PayloadError, match=r"options\.columns\.text names column 'Суть'"):
        csv_adapter(adapters_region, columns={"text": "Суть"}).parse("a,b\n1,2\n")
    with pytest.raises(
        tsur.ConfigError, match=r"options.columns: unknown fields \[.colour.\]; known: external_id"
    ):
        csv_adapter(adapters_region, columns={"colour": "x"})
    with pytest.raises(tsur.ConfigError, match="unknown time zone 'Mars/Olympus'"):
        csv_adapter(adapters_region, timezone="Mars/Olympus")
    no_region = build(CsvAdapter, None, tsur.Source("h", "hotline", "122"))
    with pytest.raises(PayloadError, match=r"has no offset: set options\.timezone"):
        no_region.parse("Дата,Текст\n16.11.2026 09:41,Нет воды\n")


def test_rows_without_ids_get_stable_ids(adapters_region: tsur.RegionConfig) -> None:
    text = "Дата;Текст\n16.11.2026 09:41;Нет воды\n16.11.2026 09:42;Нет света\n"
    a = csv_adapter(adapters_region, id_prefix="122-")
    first = [m.external_id for m in a.parse(text)]
    assert first == [m.external_id for m in a.parse(text)]
    assert len(set(first)) == 2 and all(x.startswith("122-row-") for x in first)


def test_collect_reads_new_rows_and_keeps_bad_ones(
    sqlite_engine: tsur.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "calls.csv"
    lines = EXPORT.splitlines(keepends=True)
    path.write_text("".join(lines[:4]), encoding="utf-8")  # header and two rows
    first = collect_with(sqlite_engine, "hotline", path=str(path))
    assert (first.inserted, first.rejected) == (2, 0)
    assert sqlite_engine.repository.get_cursor("hotline") == "2"
    path.write_text(EXPORT, encoding="utf-8")  # the export grew
    second = collect_with(sqlite_engine, "hotline", path=str(path))
    assert (second.inserted, second.duplicates, second.rejected) == (0, 0, 3)
    kept = sqlite_engine.repository.rejected_inputs()
    assert [(k.origin, k.line) for k in kept] == [("collect:hotline", n) for n in (5, 6, 7)]
    assert "empty text column" in kept[1].reason
    with path.open("a", encoding="utf-8") as f:
        f.write("122-0006;16.11.2026 12:00;;;;Не работает лифт;ЖКХ\n")
    third = collect_with(sqlite_engine, "hotline", path=str(path))
    assert third.inserted == 1 and sqlite_engine.repository.get_cursor("hotline") == "6"


def test_rows_refused_then_read_again_after_a_fix(
    sqlite_engine: tsur.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(
        "Номер;Дата;Текст\n7;2026.11.16 09:41;Нет воды\n8;вчера;Нет света\n", encoding="utf-8"
    )
    first = collect_with(sqlite_engine, "hotline", path=str(path))
    assert (first.inserted, first.rejected) == (0, 2)
    kept = sqlite_engine.repository.rejected_inputs()
    assert kept[0].raw == "Номер;Дата;Текст\n7;2026.11.16 09:41;Нет воды"  # with its header
    # the operator sets the export's date format and reads the refused rows again
    fixed = retry_rejected(
        sqlite_engine,
        "hotline",
        adapter=adapter_for(
            sqlite_engine, "hotline", path=str(path), datetime_format="%Y.%m.%d %H:%M"
        ),
    )
    assert (fixed.fetched, fixed.inserted, fixed.rejected) == (2, 1, 1)
    [left] = sqlite_engine.repository.rejected_inputs()
    assert "вчера" in left.raw
    [stored] = sqlite_engine.repository.messages()
    assert stored.message.external_id == "7"
    assert stored.message.created_at == datetime(2026, 11, 16, 9, 41, tzinfo=SAMARA)
