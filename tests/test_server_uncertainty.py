"""The triage queue by the models' uncertainty: least certain classification first.

The rule: with ``order=uncertainty`` the incidents a curator is shown come by
their stored classification confidence, lowest first (the oldest first among
equals), within the key's scope and every other filter, page after page
without a gap or a repeat; on the work API and on the desk alike.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tsur import Engine, Status

from .helpers import SAMARA, msg
from .service_kit import Service, service
from .test_server_desk import log_in

T = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
TEXTS = [
    # (name, text) — the keyword rules' confidence differs from one to another
    ("road", "Тольятти, ул. Мира 3, яма на дороге, асфальт разбит"),
    ("bus", "Тольятти, ул. Мира 5: автобус 12 не ходит по расписанию"),
    ("mixed", "Тольятти, ул. Ленина 7: автобус не доезжает до конечной, дорога перекрыта"),
    ("vague", "что-то непонятное"),
    ("vague-sela", "Сызрань, улица Советская 10, что-то непонятное"),
]


@pytest.fixture
def svc(engine: Engine) -> Service:
    """A service over the small region (SQLite and PostgreSQL) with five incidents."""
    engine.process(
        [msg(name, text, at=T + timedelta(minutes=i)) for i, (name, text) in enumerate(TEXTS)]
    )
    with service(engine) as s:
        yield s  # type: ignore[misc]


def _by_uncertainty(engine: Engine, **filters: object) -> list[int]:
    """What the rule says: ids by confidence, then by age."""
    found = engine.incidents(limit=None, **filters)
    return [i.id for i in sorted(found, key=lambda i: (i.confidence, i.created_at, i.id or 0))]  # type: ignore[misc]


def test_the_api_lists_the_least_certain_first(svc: Service) -> None:
    incidents = svc.engine.incidents(limit=None)
    assert len({i.confidence for i in incidents}) >= 3  # the ordering is put to the test
    r = svc.get("/api/v1/incidents?order=uncertainty", "region")
    assert r.status_code == 200, r.text
    ids = [i["id"] for i in r.json()["items"]]
    assert ids == _by_uncertainty(svc.engine)
    confidences = [i["confidence"] for i in r.json()["items"]]
    assert confidences == sorted(confidences)
    # the default stays the newest first
    newest = [i["id"] for i in svc.get("/api/v1/incidents", "region").json()["items"]]
    assert newest == sorted(newest, reverse=True)
    # the triage queue: only incidents waiting for a curator, least certain first
    triage = svc.get("/api/v1/incidents?order=uncertainty&status=triage", "region").json()
    want = _by_uncertainty(svc.engine, status=["triage"])
    assert [i["id"] for i in triage["items"]] == want and len(want) >= 2


def test_pages_by_uncertainty_have_no_gap_nor_repeat(svc: Service) -> None:
    seen: list[int] = []
    url = "/api/v1/incidents?order=uncertainty&limit=2"
    while True:
        page = svc.get(url, "region").json()
        seen.extend(i["id"] for i in page["items"])
        if page["next_cursor"] is None:
            break
        url = f"/api/v1/incidents?order=uncertainty&limit=2&cursor={page['next_cursor']}"
    assert seen == _by_uncertainty(svc.engine)


def test_the_uncertainty_order_stops_at_its_depth(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the order's depth a page is empty without asking the store (a deep offset makes
    it sort everything), and the page that reaches the depth has no next cursor."""
    from tsur.server import work

    total = len(_by_uncertainty(svc.engine))
    assert total >= 4
    monkeypatch.setattr(work, "MAX_UNCERTAINTY_OFFSET", 3)
    page = svc.get("/api/v1/incidents?order=uncertainty&limit=2&cursor=2", "region").json()
    assert len(page["items"]) == 1 and page["next_cursor"] is None
    asked: list[object] = []
    monkeypatch.setattr(svc.engine, "incidents", lambda **kw: asked.append(kw) or [])
    for cursor in ("3", "999999999999999999"):
        deep = svc.get(f"/api/v1/incidents?order=uncertainty&cursor={cursor}", "region")
        assert deep.status_code == 200 and deep.json() == {"items": [], "next_cursor": None}
    assert asked == []


def test_a_corrected_topic_is_certain_and_leaves_the_front_of_the_queue(svc: Service) -> None:
    first = svc.get("/api/v1/incidents?order=uncertainty&status=triage", "region").json()
    least = first["items"][0]["id"]
    svc.lifecycle.correct(least, actor="cur", topic="roads")
    assert svc.engine.incident(least).confidence == 1.0
    after = svc.get("/api/v1/incidents?order=uncertainty&status=triage", "region").json()
    assert [i["id"] for i in after["items"]][-1] == least


def test_uncertainty_keeps_the_scope(svc: Service) -> None:
    r = svc.get("/api/v1/incidents?order=uncertainty", "sela").json()
    assert r["items"] and all(i["territory"] == "sela" for i in r["items"])
    r = svc.get("/api/v1/incidents?order=uncertainty", "teplo").json()
    assert r["items"] == []  # no heating appeal: the executor sees none


@pytest.mark.parametrize(
    "query", ["order=confidence", "order=", "order=UNCERTAINTY", "order=uncertainty&cursor=0"]
)
def test_hostile_orders_are_refused(svc: Service, query: str) -> None:
    r = svc.get(f"/api/v1/incidents?{query}", "region")
    assert r.status_code == 422, query


def test_openapi_documents_the_order(svc: Service) -> None:
    spec = svc.client.get("/openapi.json").json()
    params = spec["paths"]["/api/v1/incidents"]["get"]["parameters"]
    (order,) = [p for p in params if p["name"] == "order"]
    assert order["schema"]["enum"] == ["newest", "uncertainty"]
    assert order["schema"]["default"] == "newest" and "confidence" in order["description"]


def test_the_desk_queue_orders_by_uncertainty(svc: Service) -> None:
    svc.client.follow_redirects = False
    assert log_in(svc.client, svc.tokens["region"]).status_code == 303
    page = svc.client.get("/desk/queue?view=triage&order=uncertainty")
    assert page.status_code == 200
    shown = [int(x) for x in re.findall(r'<tr class="[^"]*" data-id="(\d+)"', page.text)]
    assert shown == _by_uncertainty(svc.engine, status=[Status.TRIAGE.value])
    assert "уверенность 0 %" in page.text
    assert 'value="uncertainty" selected' in page.text
    assert svc.client.get("/desk/queue?view=triage&order=nonsense").status_code == 400
