"""Pushed webhooks through the service: verified before stored, answered at once,
and a portal's status callbacks recording the citizen's rating on the incident.

The rule for the ratings: ПОС («Решаем вместе») sends a ``closed`` status with
the citizen's score and «решено / не решено» back to the region; a low score
or «не решено» reopens the answered incident (the region's regulation), and a
callback delivered twice counts once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import tsur
from tests.service_kit import Service, service
from tests.test_adapters_common import make_engine, region_with
from tsur.config import ServerConfig
from tsur.domain import Status
from tsur.server import create_app
from tsur.testing import signed_headers

pytest_plugins = ["tests.test_adapters_common"]

APPEAL: dict[str, Any] = {
    "id": 4410291,
    "category": "Дороги",
    "text": "На ул. Победы у дома 86 в Тольятти глубокая яма, машины объезжают по встречной.",
    "address": "Тольятти, ул. Победы, 86",
    "created_at": "2026-11-16T09:41:00+04:00",
    "fz59": False,
}


def status(appeal_id: str, rating: int | None, resolved: bool | None, at: str) -> dict[str, Any]:
    return {
        "type": "status",
        "status": {
            "appeal_id": appeal_id,
            "status": "closed",
            "rating": rating,
            "rating_comment": "Звоните 8 917 123-45-67, яму не заделали",
            "resolved": resolved,
            "at": at,
        },
    }


@pytest.fixture
def svc(adapters_engine: tsur.Engine) -> Iterator[Service]:
    with service(adapters_engine) as s:
        yield s


def push(svc: Service, body: Any, *, key: str = "pos-key", source: str = "pos") -> Any:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return svc.client.post(f"/webhooks/{source}", content=raw, headers=signed_headers(key, raw))


def answered_incident(svc: Service) -> int:
    assert push(svc, {"type": "appeal", "appeal": APPEAL}).status_code == 200
    svc.engine.run()
    (inc,) = svc.engine.incidents()
    assert inc.id is not None
    svc.lifecycle.take_in_work(inc.id, actor="adm-gorod")
    svc.lifecycle.answer_final(
        inc.id, "Яма на ул. Победы, 86 заделана 16.11.2026 бригадой МБУ.", actor="adm-gorod"
    )
    return inc.id


def ratings(svc: Service, incident_id: int) -> list[Any]:
    return [e for e in svc.engine.incident(incident_id).history if e.kind == "rating"]


def test_a_low_rating_from_the_portal_reopens_the_incident_once(svc: Service) -> None:
    iid = answered_incident(svc)
    assert svc.engine.incident(iid).status is Status.RESOLVED
    callback = status("4410291", 2, False, "2026-11-16T12:00:00+04:00")
    assert push(svc, callback).status_code == 200
    assert push(svc, callback).status_code == 200  # the portal delivers it again
    (rating,) = ratings(svc, iid)
    assert rating.actor == "citizen:pos"
    assert rating.data["score"] == 2 and rating.data["resolved"] is False
    assert "917" not in json.dumps(rating.data, ensure_ascii=False)  # the comment is masked
    assert svc.engine.incident(iid).status is Status.REOPENED


def test_a_good_rating_closes_the_resolved_incident(svc: Service) -> None:
    iid = answered_incident(svc)
    assert push(svc, status("4410291", 5, True, "2026-11-16T12:00:00+04:00")).status_code == 200
    assert svc.engine.incident(iid).status is Status.CLOSED


def test_forged_or_unknown_callbacks_change_nothing(svc: Service) -> None:
    iid = answered_incident(svc)
    forged = push(svc, status("4410291", 1, False, "2026-11-16T12:00:00+04:00"), key="guess")
    assert forged.status_code == 403
    unknown = push(svc, status("999", 1, False, "2026-11-16T12:00:00+04:00"))
    assert unknown.status_code == 200  # acknowledged: the portal must not retry forever
    assert ratings(svc, iid) == []
    assert svc.engine.incident(iid).status is Status.RESOLVED


def test_a_pushed_message_is_stored_once_and_processed_inline_when_asked(
    adapters_engine: tsur.Engine,
) -> None:
    with service(adapters_engine, ServerConfig(process_inline=True)) as svc:
        body = {"type": "appeal", "appeal": APPEAL}
        first, again = push(svc, body), push(svc, body)
        assert first.status_code == again.status_code == 200
        assert (first.json()["inserted"], again.json()["duplicates"]) == (1, 1)
        assert svc.engine.repository.message_counts() == {"done": 1}
        page = svc.get("/api/v1/incidents?executor=adm-gorod", "region").json()
        assert [i["topic"] for i in page["items"]] == ["roads"]


def test_unreadable_bodies_are_kept_and_routes_answer_json_errors(svc: Service) -> None:
    raw = b"{not json"
    r = svc.client.post("/webhooks/pos", content=raw, headers=signed_headers("pos-key", raw))
    assert r.status_code == 400
    (kept,) = svc.engine.repository.rejected_inputs()
    assert (kept.origin, kept.raw, kept.verified) == ("webhook:pos", "{not json", True)
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    r = svc.client.post("/webhooks/pos", content=deep, headers=signed_headers("pos-key", deep))
    assert r.status_code == 400 and "nested too deeply" in r.text
    assert svc.client.post("/webhooks/myspace", content=b"{}").status_code == 404
    assert svc.client.post("/webhooks/Bad Name", content=b"{}").status_code in (404, 422)
    assert svc.client.get("/webhooks/pos").status_code == 405
    assert svc.client.delete("/api/v1/incidents/1").status_code == 405
    missing = svc.client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_a_source_that_is_not_pushed_has_no_webhook(svc: Service) -> None:
    r = svc.client.post(
        "/webhooks/news", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 404
    assert svc.engine.repository.rejected_inputs() == []


def test_a_region_with_an_unverified_push_source_is_not_served(clock: Any, tmp_path: Any) -> None:
    region = region_with([{"id": "portal", "kind": "webhook", "name": "Портал", "options": {}}])
    with (
        make_engine(region, str(tmp_path / "t.db"), clock) as eng,
        pytest.raises(tsur.ConfigError, match="secret_env"),
    ):
        create_app(eng)
