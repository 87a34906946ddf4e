"""Hostile requests found by attacking the service, kept as tests: each gets a specific
4xx (never a 500), and nothing personal reaches a reader who may only see masked texts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tsur import Engine
from tsur.testing import message

from .service_kit import Service, service


@pytest.fixture
def svc(engine: Engine) -> Iterator[Service]:
    with service(engine) as s:
        yield s


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/requests.json?service_request_id=²",
        "/open311/v2/requests/²3.json",
        "/open311/v2/requests/²3.xml",
        "/open311/v2/requests.json?end_date=0001-01-02T00:00:00%2B00:00",
        "/open311/v2/requests.json?start_date=9999-12-31T23:59:59%2B00:00",
        "/open311/v2/requests.json?end_date=9999-12-31T23:59:59-12:00",
    ],
)
def test_open311_reads_of_odd_digits_and_dates_are_4xx(svc: Service, path: str) -> None:
    r = svc.get(path, "integration")
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)


def test_a_deeply_nested_open311_body_is_400(svc: Service) -> None:
    r = svc.post(
        "/open311/v2/requests.json",
        "integration",
        content=b"[" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400


def test_open311_refuses_two_different_keys(svc: Service) -> None:
    r = svc.client.get(
        "/open311/v2/services.json",
        params={"api_key": svc.tokens["integration"]},
        headers={"X-API-Key": "garbage"},
    )
    assert r.status_code == 403
    same = svc.client.get(
        "/open311/v2/services.json",
        params={"api_key": svc.tokens["integration"]},
        headers={"X-API-Key": svc.tokens["integration"]},
    )
    assert same.status_code == 200


def test_a_cursor_beyond_the_largest_id_is_422(svc: Service) -> None:
    r = svc.get("/api/v1/incidents?cursor=9999999999999999999", "region")
    assert r.status_code == 422
    assert svc.get("/api/v1/incidents?cursor=999999999999999999", "region").status_code == 200


def test_a_key_with_a_trailing_newline_is_not_a_key(svc: Service) -> None:
    r = svc.client.get("/api/v1/incidents", headers={"X-API-Key": svc.tokens["region"] + "\n"})
    assert r.status_code in (400, 401)


def test_an_analyst_reads_answers_in_the_history_masked(svc: Service) -> None:
    svc.engine.ingest([message("В Тольятти на ул. Мира, 7 огромная яма на дороге")])
    svc.engine.run()
    (inc,) = svc.engine.incidents()
    assert inc.id is not None and inc.executor == "adm-gorod"
    svc.lifecycle.take_in_work(inc.id, actor="adm-gorod")
    svc.lifecycle.answer_intermediate(
        inc.id,
        "Уважаемый заявитель! Яму заделаем до 20.11.2026, вопросы по тел. 8 927 111-22-33, "
        "ivan.petrov@mail.ru",
        actor="adm-gorod",
    )
    analyst = json.dumps(svc.get(f"/api/v1/incidents/{inc.id}", "analyst").json())
    assert "111-22-33" not in analyst and "ivan.petrov@mail.ru" not in analyst
    curator = json.dumps(svc.get(f"/api/v1/incidents/{inc.id}", "region").json())
    assert "ivan.petrov@mail.ru" in curator  # those who answer see what was sent
