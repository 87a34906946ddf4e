"""The work API's figures: executor KPIs, a period's summary, the leaders' report.

The rules: the figures count the incidents received in the period; a
municipal curator's summary is its municipality's alone; the report is a
download (``Content-Disposition: attachment``); a period that cannot be
read as a date, or is longer than a year, is 400, one not even shaped like a period
422 — never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tsur import Engine

from .service_kit import Service, service
from .work_kit import CONCRETE, GOROD, SELA, IncidentMaker, Spec


@pytest.fixture
def svc(engine: Engine) -> Iterator[Service]:
    with service(engine) as s:
        made = IncidentMaker(engine).make(
            [Spec(GOROD), Spec(GOROD), Spec(GOROD, "written"), Spec(SELA), Spec(SELA)]
        )
        s.lifecycle.answer_final(made[0].id, CONCRETE, actor="executor:adm-gorod")
        yield s


def test_the_summary_of_a_municipal_curator_is_its_municipalitys(svc: Service) -> None:
    region = svc.get("/api/v1/analytics/summary?period=2026-11", "region").json()
    assert region["municipality"] is None
    assert region["totals"]["incidents"] == 5
    counts = {m["id"]: m["count"] for m in region["municipalities"]}
    assert (counts["gorod"], counts["sela"]) == (3, 2)
    assert {p["topic"]: p["count"] for p in region["top_problems"]} == {
        "roads": 3,
        "zhkh.heating": 2,
    }

    gorod = svc.get("/api/v1/analytics/summary?period=2026-11", "gorod").json()
    assert gorod["municipality"] == "gorod"
    assert [m["id"] for m in gorod["municipalities"]] == ["gorod"]
    assert gorod["totals"]["incidents"] == 3
    assert gorod["totals"]["answered"] == 1 and gorod["totals"]["answered_on_time"] == 1
    assert [(p["topic"], p["count"]) for p in gorod["top_problems"]] == [("roads", 3)]
    assert {c["kind"]: c["count"] for c in gorod["channels"]} == {"vk": 2, "written": 1}
    assert sum(c["share"] for c in gorod["channels"]) == pytest.approx(1.0)

    sela = svc.get("/api/v1/analytics/summary?period=2026-11", "sela").json()
    assert sela["totals"]["incidents"] == 2 and sela["top_problems"][0]["topic"] == "zhkh.heating"


def test_the_summary_and_kpis_default_to_the_month_of_the_clock(svc: Service) -> None:
    for path in ("/api/v1/analytics/summary", "/api/v1/executors/kpi"):
        body = svc.get(path, "analyst").json()
        assert body["period"]["key"] == "2026-11", path
    empty = svc.get("/api/v1/analytics/summary?period=2026-10", "analyst").json()
    assert empty["totals"]["incidents"] == 0
    assert empty["previous_period"]["key"] == "2026-09"


def test_executor_kpis_count_the_answers_given(svc: Service) -> None:
    r = svc.get("/api/v1/executors/kpi?period=2026-11&min_cases=1", "gorod")
    assert r.status_code == 200
    rows = {k["executor"]: k for k in r.json()["executors"]}
    assert set(rows) == {"adm-gorod", "teplo"}  # region-wide, a municipal key's too
    assert rows["adm-gorod"]["name"] == "Администрация г.о. Тольятти"
    assert (rows["adm-gorod"]["received"], rows["adm-gorod"]["answered"]) == (3, 1)
    assert rows["adm-gorod"]["resolved"] == 1
    assert (rows["teplo"]["received"], rows["teplo"]["answered"]) == (2, 0)
    assert all(k["rank"] is not None for k in rows.values())  # min_cases=1: all ranked
    unranked = svc.get("/api/v1/executors/kpi?period=2026-11", "gorod").json()
    assert all(k["rank"] is None for k in unranked["executors"])  # under 10 cases


@pytest.mark.parametrize(
    ("period", "filename"),
    [
        ("2026-11", "report-2026-11.html"),
        ("2026-11-01..2026-11-20", "report-2026-11-01_2026-11-20.html"),
    ],
)
def test_the_report_is_an_html_download(svc: Service, period: str, filename: str) -> None:
    r = svc.get(f"/api/v1/reports/{period}", "analyst")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert r.content.lstrip().lower().startswith(b"<!doctype html")
    assert "Тестовая область".encode() in r.content


BAD_PERIODS = [
    "2026-13",
    "2026-00",
    "2026-W54",
    "2026-02-30",
    "2026-11-20..2026-11-01",
    "2000-01-01..2026-01-01",
    "0001",
    "9999",
    "9999-12-31",
]
#: Not even the shape of a period: refused by the parameter's pattern (422).
MALFORMED_PERIODS = ["abcd", "2026-11;drop", "２０２６-11", "2026-1", "x"]


def test_bad_periods_are_400_never_500(svc: Service) -> None:
    wrong = []
    for period in BAD_PERIODS:
        for path in (
            f"/api/v1/analytics/summary?period={period}",
            f"/api/v1/executors/kpi?period={period}",
            f"/api/v1/reports/{period}",
        ):
            r = svc.get(path, "region")
            if r.status_code != 400 or r.json()["code"] != "bad_report_request":
                wrong.append((path, r.status_code, r.text[:200]))
    for period in [*MALFORMED_PERIODS, "1" * 41]:
        for path in (
            f"/api/v1/analytics/summary?period={period}",
            f"/api/v1/executors/kpi?period={period}",
            f"/api/v1/reports/{period}",
        ):
            r = svc.get(path, "region")
            if r.status_code != 422:
                wrong.append((path, r.status_code, r.text[:200]))
    assert wrong == []
