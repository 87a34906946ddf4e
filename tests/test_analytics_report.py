"""The report: its figures, every renderer, a region's own format, and ``tsur report``."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tsur.default_plugins.renderers as renderers
from tsur import Engine, Message, Region, RegionConfig, make_plugin_manager
from tsur.analytics import build_report, render, write_report
from tsur.cli import main
from tsur.errors import ReportError
from tsur.geometry import bundled_geometry, douglas_peucker, load_boundaries, simplify
from tsur.store.sql import SqlRepository, normalize_url

from .conftest import SMALL_REGION, FrozenClock
from .helpers import SAMARA
from .test_analytics import AT, fill, local

ROOT = Path(__file__).resolve().parent.parent
REGION = str(SMALL_REGION)


@pytest.fixture
def reporting(engine: Engine, small_region: RegionConfig, clock: FrozenClock) -> Engine:
    """The test engine's store with the report renderers plugged in, filled with the cases."""
    fill(engine, clock)
    return Engine(
        small_region, engine.repository, entry_points=False, clock=clock, plugins=[renderers]
    )


def headline(report: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {r["key"]: (r["value"], r["previous"]) for r in report["headline"]}


def test_report_figures(reporting: Engine) -> None:
    report = build_report(reporting, "2026-11", at=AT)
    assert json.loads(json.dumps(report)) == report  # JSON-safe throughout
    meta = report["meta"]
    assert (meta["region"], meta["period"]["label"], meta["previous"]["key"]) == (
        "Тестовая область",
        "ноябрь 2026",
        "2026-10",
    )
    assert meta["generated_at"] == AT.isoformat()
    assert headline(report) == {
        "incidents": (8, 3),
        "messages": (8, 3),
        "per_10k": (None, None),  # two of three municipalities have no population
        "urgent": (0, 0),
        "overdue": (4, None),  # n2, n4, n5, n7
        "on_time_share": (round(2 / 3, 4), None),  # n1 and n6 of n1, n3, n6
        "first_response_median_s": (10800.0, None),
        "systemic": (0, None),
        "unlocated": (1, 0),
    }
    assert next(r for r in report["headline"] if r["key"] == "overdue")["share"] == 0.5
    gorod = next(r for r in report["municipalities"] if r["id"] == "gorod")
    assert (gorod["count"], gorod["previous"], gorod["change"], gorod["per_10k"]) == (4, 2, 2, 0.06)
    assert gorod["top_topic"] == "ЖКХ › Отопление"
    top = report["top_problems"][0]
    assert (top["topic"], top["count"], top["previous"]) == ("zhkh.heating", 3, 1)
    # 13 weeks from Monday 7 September: o1 (5 Oct), n1 + n2 (2 Nov), n8 (16 Nov)
    assert top["weeks"] == [0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0]
    total = [t for t in report["trend"] if t["series"] == "*"]
    assert total[0]["date"] == "2026-11-01"
    assert len(total) == 20 and sum(t["count"] for t in total) == 8  # up to the report's day
    assert [(c["label"], c["count"]) for c in report["channels"]] == [
        ("ВКонтакте", 6),
        ("Порталы и виджеты", 1),
        ("Письменные обращения", 1),
    ]
    assert {e["executor"]: e["received"] for e in report["executors"]}["teplo"] == 3
    assert len(report["points"]) == 2
    previous = build_report(reporting, "2026-10", at=AT)
    assert headline(previous)["incidents"] == (3, 0)
    with pytest.raises(ReportError, match="period: cannot read 'last month'"):
        build_report(reporting, "last month")
    with pytest.raises(ReportError, match=r"geometry: boundary file .* does not exist"):
        build_report(reporting, "2026-11", geometry="/nonexistent.geojson")


def test_every_format_through_the_renderer_hook(reporting: Engine) -> None:
    report = build_report(reporting, "2026-11", at=AT)
    assert set(reporting.components.report_renderers) >= {"json", "csv", "html", "geojson"}
    assert json.loads(render(reporting, report, "json")) == report

    text = render(reporting, report, "csv").decode("utf-8")
    sections = dict(re.findall(r"# (\w+)\n(.*?)(?:\n\n|\Z)", text, re.DOTALL))
    munis = list(csv.DictReader(io.StringIO(sections["municipalities"])))
    assert [(r["id"], r["count"], r["overdue"]) for r in munis] == [
        ("gorod", "4", "1"),
        ("sela", "1", "0"),
        ("volzhsky", "2", "2"),
        ("", "1", "1"),
    ]
    assert {"headline", "top_problems", "executors", "trend", "channels"} <= set(sections)

    geo = json.loads(render(reporting, report, "geojson"))
    layers = [f["properties"]["layer"] for f in geo["features"]]
    assert layers.count("municipality") == 3 and layers.count("incident") == 2
    # no boundary file for the test region: centres where known, else no geometry
    by_id = {f["id"]: f["geometry"] for f in geo["features"]}
    assert by_id["gorod"] == {"type": "Point", "coordinates": [49.42, 53.51]}
    assert by_id["volzhsky"] is None
    assert by_id[f"incident-{report['points'][0]['id']}"]["coordinates"] == [48.47, 53.16]

    html = render(reporting, report, "html").decode("utf-8")
    assert "<title>Тестовая область: обращения граждан — ноябрь 2026</title>" in html
    areas = re.findall(r'<rect [^>]*class="area" data-id="(\w+)" data-count="(\d+)"', html)
    assert sorted(areas) == [("gorod", "4"), ("sela", "1"), ("volzhsky", "2")]  # tiles
    assert 'data-key="overdue"><div class="v">4</div>' in html
    assert "ЖКХ › Отопление" in html and "Теплосеть" in html
    assert "Системных проблем не выявлено" in html
    with pytest.raises(ReportError, match="format: no report renderer 'pdf'; available: csv, "):
        render(reporting, report, "pdf")
    with pytest.raises(ReportError, match="report lacks meta"):
        reporting.components.report_renderers["html"].component.render({"points": []})


def test_bundled_region_is_drawn_from_real_boundaries(
    bundled_region: RegionConfig, tmp_path: Path, clock: FrozenClock
) -> None:
    path = bundled_geometry(Region.from_config(bundled_region))
    assert path is not None and path.name == "samara_municipalities.geojson"
    engine = Engine.from_config(
        bundled_region, db=tmp_path / "b.db", entry_points=False, clock=clock, plugins=[renderers]
    )
    with engine:
        engine.process(
            [
                Message(
                    source="vk",
                    external_id=str(i),
                    text=f"Обращение номер {i}",
                    created_at=local(11, 10 + i),
                    topic="roads.potholes",
                    territory=territory,
                )
                for i, territory in enumerate(["tolyatti", "tolyatti-avtozavodsky", "samara"])
            ]
        )
        out = write_report(engine, tmp_path / "r.html", period="2026-11", at=AT)
        html = out.read_text("utf-8")
        geo = json.loads(render(engine, build_report(engine, "2026-11", at=AT), "geojson"))
    areas = dict(
        re.findall(
            r'<path d="[^"]+" fill-rule="evenodd" class="area" data-id="([\w-]+)" '
            r'data-count="(\d*)"',
            html,
        )
    )
    assert len(areas) == 37  # 10 city okrugs + 27 districts
    assert (areas["tolyatti"], areas["samara"], areas["syzran"]) == ("2", "1", "0")
    assert "© участники OpenStreetMap, ODbL 1.0" in html
    shapes = [f for f in geo["features"] if f["properties"]["layer"] == "municipality"]
    assert len(shapes) == 37
    assert {f["geometry"]["type"] for f in shapes} == {"Polygon", "MultiPolygon"}
    assert "OpenStreetMap" in geo["tsur"]["attribution"]


def test_shipped_boundaries_cover_the_region_and_share_their_borders(
    bundled_region: RegionConfig,
) -> None:
    path = bundled_geometry(Region.from_config(bundled_region))
    assert path is not None
    data = json.loads(path.read_text("utf-8"))
    ids = {f["properties"]["id"] for f in data["features"]}
    assert ids == {t.id for t in bundled_region.territories if t.parent == "samara-oblast"}
    assert "OpenStreetMap" in data["tsur"]["source"]
    points: dict[tuple[float, float], set[str]] = {}
    for f in data["features"]:
        g = f["geometry"]
        polys = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
        n = sum(len(r) for p in polys for r in p)
        assert 15 <= n <= 400, (f["properties"]["id"], n)
        for p in polys:
            for ring in p:
                for x, y in ring:
                    points.setdefault((x, y), set()).add(f["properties"]["id"])
    shared = {p for p, owners in points.items() if len(owners) > 1}
    # neighbours keep identical border points after simplification
    assert len(shared) > len(points) / 3
    tolyatti_neighbours = {o for p in shared for o in points[p] if "tolyatti" in points[p]}
    assert {"stavropolsky-rayon", "tolyatti"} <= tolyatti_neighbours


def test_simplification_keeps_shared_borders_identical() -> None:
    zigzag = [(1.0, y / 10) for y in range(11)]
    wobble = [(x + (0.0001 if i % 2 else 0.0), y) for i, (x, y) in enumerate(zigzag)]
    left = [(0.0, 0.0), *wobble, (0.0, 1.0), (0.0, 0.0)]
    right = [*wobble, (2.0, 1.0), (2.0, 0.0), wobble[0]]
    features = [
        {"properties": {"id": "a"}, "geometry": {"type": "Polygon", "coordinates": [left]}},
        {"properties": {"id": "b"}, "geometry": {"type": "Polygon", "coordinates": [right]}},
    ]
    a, b = simplify(features, 0.01)
    ring_a = {tuple(p) for p in a["geometry"]["coordinates"][0]}
    ring_b = {tuple(p) for p in b["geometry"]["coordinates"][0]}
    assert ring_a & ring_b == {(1.0, 0.0), (1.0, 1.0)}  # the wobbly border became one straight line
    assert len(ring_a) == len(ring_b) == 4
    assert douglas_peucker([(0, 0), (1, 0.1), (2, 0)], 0.2) == [(0, 0), (2, 0)]
    assert douglas_peucker([(0, 0), (1, 0.3), (2, 0)], 0.2) == [(0, 0), (1, 0.3), (2, 0)]


def test_bad_boundary_files_are_clear_errors(tmp_path: Path) -> None:
    f = tmp_path / "b.geojson"
    f.write_text('{"type": "Feature"}', "utf-8")
    with pytest.raises(ReportError, match="not a GeoJSON FeatureCollection") as err:
        load_boundaries(f)
    assert err.value.option == "geometry"
    f.write_text('{"type": "FeatureCollection", "features": [{"properties": {}}]}', "utf-8")
    with pytest.raises(ReportError, match=r"features\[0\] has no string properties.id"):
        load_boundaries(f)
    f.write_text(
        '{"type": "FeatureCollection", "features": [{"properties": {"id": "x"}, '
        '"geometry": {"type": "Point", "coordinates": [1, 2]}}]}',
        "utf-8",
    )
    with pytest.raises(ReportError, match="'Point' is not Polygon or MultiPolygon"):
        load_boundaries(f)
    with pytest.raises(ReportError, match="id 'x' is not a municipality of the region"):
        load_boundaries(f, municipalities=["gorod"])
    f.write_text("{oops", "utf-8")
    with pytest.raises(ReportError, match="cannot read boundary file"):
        load_boundaries(f)


# a region's own format: the XLSX plugin of docs/reports.md --------------------
def docs_plugin(name: str) -> types.ModuleType:
    text = (ROOT / "docs" / "reports.md").read_text("utf-8")
    block = re.search(rf"```python\n(# {name}\.py\n.*?)```", text, re.DOTALL)
    assert block, f"docs/reports.md has no {name}.py example"
    module = types.ModuleType(name)
    module.__file__ = f"<docs/reports.md:{name}>"
    exec(compile(block.group(1), module.__file__, "exec"), module.__dict__)
    return module


@pytest.fixture
def xlsx_plugin() -> Iterator[types.ModuleType]:
    module = docs_plugin("tsur_xlsx_report")
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]


def test_a_region_adds_its_own_format(
    reporting: Engine, xlsx_plugin: types.ModuleType, small_region: RegionConfig
) -> None:
    engine = Engine(
        small_region,
        reporting.repository,
        entry_points=False,
        clock=reporting.clock,
        plugins=[renderers, xlsx_plugin],
    )
    assert engine.components.report_renderers["xlsx"].plugin == "tsur_xlsx_report"
    data = render(engine, build_report(engine, "2026-11", at=AT), "xlsx")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        book = z.read("xl/workbook.xml").decode("utf-8")
        names = re.findall(r'<sheet name="([^"]+)"', book)
        assert names == ["Сводка", "Муниципалитеты", "Топ проблем", "Исполнители"]  # no spikes
        munis = z.read("xl/worksheets/sheet2.xml").decode("utf-8")
    rows = re.findall(r"<row>(.*?)</row>", munis)
    assert len(rows) == 1 + 4  # header and gorod, sela, volzhsky, no territory
    assert "<t>Тольятти</t>" in rows[1] and "<c><v>4</v></c>" in rows[1]


# the command line ---------------------------------------------------------------
@pytest.fixture
def filled_db(tmp_path: Path, small_region: RegionConfig, clock: FrozenClock) -> str:
    db = str(tmp_path / "r.db")
    repo = SqlRepository(normalize_url(db))
    repo.migrate()
    with Engine(small_region, repo, entry_points=False, clock=clock) as engine:
        fill(engine, clock)
    return db


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    pm = make_plugin_manager(entry_points=False, plugins=[renderers])
    code = main(list(argv), pm=pm)
    out, err = capsys.readouterr()
    return code, out, err


def test_report_command(filled_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--db", filled_db, "--config", REGION, "--at", "2026-11-20T18:00+04:00"]
    out = tmp_path / "nov.html"
    code, text, err = cli(capsys, "report", *common, "--period", "2026-11", "--out", str(out))
    assert (code, err) == (0, "")
    assert re.fullmatch(
        rf"записан {re.escape(str(out))} \(\d+ КиБ, html\): ноябрь 2026, инцидентов 8, "
        r"системных проблем 0\n",
        text,
    )
    assert "Тестовая область — обращения граждан, ноябрь 2026" in out.read_text("utf-8")

    code, text, _ = cli(
        capsys, "report", *common, "--period", "2026-W46", "--format", "json", "--out", "-"
    )
    data = json.loads(text)
    assert code == 0 and data["meta"]["period"]["label"] == "неделя 46, 09.11–15.11.2026"
    assert headline(data)["incidents"] == (2, 2)  # n3, n4 against n1, n2

    csv_out = tmp_path / "oct.csv"
    code, _, _ = cli(capsys, "report", *common, "--period", "2026-10", "--out", str(csv_out))
    assert code == 0 and csv_out.read_text("utf-8").startswith("# headline\n")

    for args, message in [
        (["--period", "2026-13"], "error: period: '2026-13' is not a valid date"),
        (["--format", "pdf"], "error: format: no report renderer 'pdf'; available: csv, geojson"),
        (["--geometry", "/nope.geojson"], "error: geometry: boundary file /nope.geojson"),
    ]:
        code, _, err = cli(capsys, "report", *common, *args, "--out", str(tmp_path / "x"))
        assert code == 2 and err.startswith(message), err
    code, _, err = cli(capsys, "report", "--db", filled_db, "--config", REGION, "--at", "20.11")
    assert code == 2 and "--at: '20.11' is not an ISO date-time" in err
    code, _, err = cli(
        capsys, "report", "--db", filled_db, "--config", REGION, "--at", "2026-11-20T18:00"
    )
    assert code == 2 and "needs a time zone offset" in err


def test_report_for_a_day_without_incidents(reporting: Engine) -> None:
    report = build_report(reporting, "2026-11-07", at=local(11, 7, 20))
    assert headline(report)["incidents"] == (0, 0)
    html = render(reporting, report, "html").decode("utf-8")
    assert "Системных проблем не выявлено" in html and 'data-count="0"' in html
    assert report["executors"] == [] and report["top_problems"] == []
    assert local(11, 7).tzinfo == SAMARA
