"""The work API's actions by the rules of the lifecycle, and its cursor, on SQLite and PostgreSQL.

The rules: an intermediate answer moves the incident to «промежуточный
ответ» and sets the final term; a final answer that is a formal non-answer
(«отписка») is refused with its reasons and changes nothing but the record
of the refusal; a topic that needs photo confirmation is not resolved
without a photo; a written appeal's term is extended once (59-ФЗ art. 12
p. 2); a forwarded incident leaves the executor's scope; a curator's
corrections stay within the key's scope. A cursor walk over the listing
returns every incident once, even while new ones arrive.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tsur import Engine
from tsur.config import region_from_mapping
from tsur.store.sql import SqlRepository, normalize_url

from .conftest import SMALL_REGION, FrozenClock
from .service_kit import Service, service
from .work_kit import (
    CONCRETE,
    GOROD,
    SELA,
    IncidentMaker,
    Made,
    Spec,
)


@pytest.fixture
def svc(engine: Engine) -> Iterator[Service]:
    with service(engine) as s:
        yield s


@pytest.fixture
def maker(svc: Service) -> IncidentMaker:
    return IncidentMaker(svc.engine)


def one(maker: IncidentMaker, spec: Spec) -> Made:
    return maker.make([spec])[0]


def kinds_by(body: dict[str, Any], actor: str) -> list[str]:
    """The kinds of the events ``actor`` made, in order."""
    return [e["kind"] for e in body["history"] if e["actor"] == actor]


# answers ---------------------------------------------------------------------------------
def test_an_intermediate_then_a_final_answer_move_the_status(
    svc: Service, maker: IncidentMaker
) -> None:
    inc = one(maker, Spec(GOROD))
    path = f"/api/v1/incidents/{inc.id}"
    before = svc.get(path, "adm-gorod").json()
    assert before["first_response_at"] is None

    r = svc.post(f"{path}/answer", "adm-gorod", json={"text": None})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "answered_intermediate"
    assert body["first_response_at"] is not None
    # the default policy: the final answer falls due 7 working days after the intermediate one
    assert body["resolution_due"] != before["resolution_due"]
    assert "status" in kinds_by(body, "executor:adm-gorod")

    r = svc.post(f"{path}/answer", "adm-gorod", json={"text": CONCRETE, "final": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    last = [e for e in r.json()["history"] if e["kind"] == "status"][-1]
    assert (last["to"], last["actor"]) == ("resolved", "executor:adm-gorod")


def test_a_final_answer_that_is_an_otpiska_is_422_with_its_reasons(
    svc: Service, maker: IncidentMaker
) -> None:
    inc = one(maker, Spec(SELA))
    r = svc.post(
        f"/api/v1/incidents/{inc.id}/answer",
        "teplo",
        json={"text": "Ваше обращение рассмотрено.", "final": True},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "answer_rejected"
    assert r.json()["reasons"] and all(isinstance(x, str) for x in r.json()["reasons"])
    after = svc.get(f"/api/v1/incidents/{inc.id}", "teplo").json()
    assert after["status"] == "routed" and after["first_response_at"] is None
    assert kinds_by(after, "executor:teplo") == ["answer_rejected"]


@pytest.fixture
def photo_engine(db_url: str, clock: FrozenClock) -> Iterator[Engine]:
    """The small region where road incidents need a photo before they are resolved."""
    data = tomllib.loads(SMALL_REGION.read_text("utf-8"))
    data["lifecycle"] = {"photo_required_topics": ["roads"]}
    repo = SqlRepository(normalize_url(db_url))
    repo.migrate()
    engine = Engine(region_from_mapping(data), repo, entry_points=False, clock=clock)
    yield engine
    engine.close()


def test_a_final_answer_without_a_required_photo_is_422(photo_engine: Engine) -> None:
    with service(photo_engine) as svc:
        a, b = IncidentMaker(photo_engine).make([Spec(GOROD), Spec(GOROD)])
        r = svc.post(
            f"/api/v1/incidents/{a.id}/answer", "region", json={"text": CONCRETE, "final": True}
        )
        assert (r.status_code, r.json()["code"]) == (422, "photo_required")
        assert svc.get(f"/api/v1/incidents/{a.id}", "region").json()["status"] == "routed"
        r = svc.post(
            f"/api/v1/incidents/{b.id}/answer",
            "region",
            json={"text": CONCRETE, "final": True, "photos": ["https://photos.example/b.jpg"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "resolved"
        photo = [e for e in r.json()["history"] if e["kind"] == "photo"]
        assert photo[0]["data"]["urls"] == ["https://photos.example/b.jpg"]
        assert photo[0]["actor"] == "region_curator:region"


def test_take_on_a_resolved_incident_is_409(svc: Service, maker: IncidentMaker) -> None:
    inc = one(maker, Spec(GOROD))
    svc.lifecycle.answer_final(inc.id, CONCRETE, actor="x")
    r = svc.post(f"/api/v1/incidents/{inc.id}/take", "adm-gorod")
    assert (r.status_code, r.json()["code"]) == (409, "illegal_transition")


# 59-ФЗ -----------------------------------------------------------------------------------
def test_a_written_appeal_is_extended_once(svc: Service, maker: IncidentMaker) -> None:
    written, online = maker.make([Spec(SELA, "written"), Spec(SELA)])
    path = f"/api/v1/incidents/{written.id}/extend"
    before = svc.get(f"/api/v1/incidents/{written.id}", "teplo").json()["resolution_due"]
    # 20.0 is the integer 20 to JSON Schema; "20" and true are not (BAD_BODIES)
    r = svc.post(path, "teplo", json={"days": 20.0, "reason": "нужна экспертиза"})
    assert r.status_code == 200, r.text
    after = r.json()
    assert datetime.fromisoformat(after["resolution_due"]) > datetime.fromisoformat(before)
    extended = [e for e in after["history"] if e["kind"] == "extended"]
    assert extended[0]["actor"] == "executor:teplo" and extended[0]["data"]["days"] == 20

    again = svc.post(path, "sela", json={"days": 5, "reason": "ещё раз"})
    assert (again.status_code, again.json()["code"]) == (409, "extension_refused")
    not_written = svc.post(
        f"/api/v1/incidents/{online.id}/extend", "teplo", json={"reason": "нужна экспертиза"}
    )
    assert (not_written.status_code, not_written.json()["code"]) == (409, "extension_refused")


# forwarding and scope ------------------------------------------------------------------------
def test_a_forwarded_incident_leaves_the_executors_scope(
    svc: Service, maker: IncidentMaker
) -> None:
    inc = one(maker, Spec(GOROD))
    path = f"/api/v1/incidents/{inc.id}"
    r = svc.post(
        f"{path}/forward", "adm-gorod", json={"to_executor": "teplo", "reason": "это отопление"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["executor"] == "teplo"
    forwarded = [e for e in r.json()["history"] if e["kind"] == "forwarded"]
    assert forwarded[0]["actor"] == "executor:adm-gorod"
    assert svc.get(path, "adm-gorod").status_code == 404
    assert svc.post(f"{path}/take", "adm-gorod").status_code == 404
    assert svc.post(f"{path}/take", "teplo").status_code == 200


def test_a_forward_or_reassignment_to_no_executor_is_422(
    svc: Service, maker: IncidentMaker
) -> None:
    inc = one(maker, Spec(GOROD))
    for action, who in (("forward", "adm-gorod"), ("reassign", "gorod")):
        r = svc.post(
            f"/api/v1/incidents/{inc.id}/{action}",
            who,
            json={"to_executor": "nobody", "reason": "x"},
        )
        assert (r.status_code, r.json()["code"]) == (422, "invalid_request"), action
    assert svc.engine.incident(inc.id).executor == "adm-gorod"


def test_an_executor_may_forward_but_not_reassign(svc: Service, maker: IncidentMaker) -> None:
    inc = one(maker, Spec(SELA))
    body = {"to_executor": "adm-sela", "reason": "не отопление"}
    assert svc.post(f"/api/v1/incidents/{inc.id}/reassign", "teplo", json=body).status_code == 403
    assert svc.engine.incident(inc.id).executor == "teplo"
    assert svc.post(f"/api/v1/incidents/{inc.id}/forward", "teplo", json=body).status_code == 200


# a curator's corrections ----------------------------------------------------------------------
def test_a_duplicate_outside_the_scope_is_404_and_nothing_is_merged(
    svc: Service, maker: IncidentMaker
) -> None:
    mine, other, theirs = maker.make([Spec(GOROD), Spec(GOROD), Spec(SELA)])
    r = svc.post(
        f"/api/v1/incidents/{mine.id}/merge", "gorod", json={"duplicates": [other.id, theirs.id]}
    )
    assert r.status_code == 404
    assert svc.engine.incident(other.id).status.value == "routed"
    assert svc.engine.incident(theirs.id).status.value == "routed"
    r = svc.post(f"/api/v1/incidents/{mine.id}/merge", "gorod", json={"duplicates": [other.id]})
    assert r.status_code == 200, r.text
    assert svc.engine.incident(other.id).status.value == "duplicate"
    assert set(other.message_ids) <= {m["id"] for m in r.json()["messages"]}


def test_a_municipal_curator_corrects_only_within_its_municipality(
    svc: Service, maker: IncidentMaker
) -> None:
    inc = one(maker, Spec(GOROD, messages=2))
    path = f"/api/v1/incidents/{inc.id}"
    r = svc.post(f"{path}/correct", "gorod", json={"territory": "sela", "reason": "это Сызрань"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = svc.post(
        f"{path}/split",
        "gorod",
        json={"message_ids": [inc.message_ids[1]], "reason": "другое", "territory": "sela"},
    )
    assert r.status_code == 403
    assert svc.engine.incident(inc.id).territory == "gorod"
    assert len(svc.engine.incident(inc.id).message_ids) == 2

    r = svc.post(f"{path}/correct", "region", json={"territory": "sela", "reason": "это Сызрань"})
    assert r.status_code == 200, r.text
    corrected = [e for e in r.json()["history"] if e["kind"] == "corrected"]
    assert corrected[0]["data"]["territory"] == ["gorod", "sela"]
    assert corrected[0]["actor"] == "region_curator:region"
    assert svc.get(path, "gorod").status_code == 404
    assert svc.get(path, "sela").status_code == 200


def test_a_curator_confirms_a_triage_incident_within_its_scope(
    svc: Service, maker: IncidentMaker
) -> None:
    inc = one(maker, Spec(GOROD))
    svc.engine.transition(inc.id, "triage", actor="tsur", reason="низкая уверенность")
    path = f"/api/v1/incidents/{inc.id}/confirm"
    assert svc.post(path, "sela").status_code == 404  # another municipality's
    for key in ("adm-gorod", "analyst"):
        assert svc.post(path, key).status_code == 403, key
    r = svc.post(path, "gorod", json={"executor": "nobody"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")
    assert svc.engine.incident(inc.id).status.value == "triage"
    r = svc.post(path, "gorod", json={"note": "модель права"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["executor"], body["topic"]) == ("routed", "adm-gorod", "roads")
    assert kinds_by(body, "municipal_curator:gorod")[:2] == ["confirmed", "status"]
    (ev,) = [e for e in body["history"] if e["kind"] == "confirmed"]
    assert ev["reason"] == "модель права" and ev["data"]["territory"] == "gorod"
    r = svc.post(path, "gorod")  # no body at all: the engine's proposal, again
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")
    assert svc.post(f"/api/v1/incidents/{inc.id}/take", "adm-gorod").status_code == 200
    r = svc.post(path, "region", json={"executor": "teplo"})
    assert (r.status_code, r.json()["code"]) == (409, "illegal_transition")
    assert svc.engine.incident(inc.id).executor == "adm-gorod"


def test_a_split_answers_201_with_the_new_incident(svc: Service, maker: IncidentMaker) -> None:
    inc = one(maker, Spec(SELA, messages=2))
    r = svc.post(
        f"/api/v1/incidents/{inc.id}/split",
        "sela",
        json={"message_ids": [inc.message_ids[1]], "reason": "другой дом", "topic": "zhkh"},
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert r.headers["location"] == f"/api/v1/incidents/{new['id']}"
    assert new["topic"] == "zhkh" and new["territory"] == "sela"
    assert svc.engine.incident(inc.id).message_ids == [inc.message_ids[0]]
    assert svc.get(r.headers["location"], "sela").status_code == 200


def test_a_curator_records_a_rating_and_a_low_one_reopens(
    svc: Service, maker: IncidentMaker
) -> None:
    fresh, answered = maker.make([Spec(GOROD), Spec(GOROD)])
    r = svc.post(f"/api/v1/incidents/{fresh.id}/rating", "gorod", json={"score": 5})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")  # nothing to rate yet
    svc.lifecycle.answer_final(answered.id, CONCRETE, actor="x")
    r = svc.post(
        f"/api/v1/incidents/{answered.id}/rating",
        "gorod",
        json={"score": 2, "comment": "яму так и не заделали", "resolved": False},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reopened"
    rating = [e for e in r.json()["history"] if e["kind"] == "rating"]
    assert rating[0]["actor"] == "municipal_curator:gorod" and rating[0]["data"]["score"] == 2


# bodies ----------------------------------------------------------------------------------------
#: Bodies every action refuses before it acts: unknown fields, wrong types (no coercion:
#: "10" is no number, true no 1), empty or overlong texts, ids that cannot be.
BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("answer", {"text": "x", "extra": 1}),
    ("answer", {"final": True}),
    ("answer", {"text": ""}),
    ("answer", {"text": "   "}),
    ("answer", {"text": "x" * 20_001}),
    ("answer", {"text": CONCRETE, "final": "yes"}),
    ("answer", {"text": CONCRETE, "photos": ["javascript:alert(1)"]}),
    ("answer", {"text": CONCRETE, "photos": ["https://e.x/1.jpg"] * 21}),
    ("extend", {"days": "10", "reason": "x"}),
    ("extend", {"days": 31, "reason": "x"}),
    ("extend", {"days": 0, "reason": "x"}),
    ("extend", {"days": True, "reason": "x"}),
    ("extend", {"days": 5}),
    ("forward", {"to_executor": "teplo"}),
    ("forward", {"to_executor": "t" * 65, "reason": "x"}),
    ("rating", {"score": 6}),
    ("rating", {"score": 0}),
    ("rating", {"score": 4.5}),
    ("rating", {"score": 4, "comment": "x" * 2001}),
    ("merge", {"duplicates": []}),
    ("merge", {"duplicates": [0]}),
    ("merge", {"duplicates": ["2"]}),
    ("split", {"message_ids": [1], "reason": "x", "topic": "nope"}),
    ("correct", {"topic": "nope"}),
    ("correct", {"territory": "nowhere"}),
    ("correct", {}),  # neither given: the lifecycle's refusal
    ("confirm", {"executor": "nobody"}),
    ("confirm", {"executor": "T"}),
    ("confirm", {"note": 5}),
    ("confirm", {"note": "x" * 2001}),
    ("confirm", {"extra": 1}),
]


def test_bad_bodies_are_422_never_500(svc: Service, maker: IncidentMaker) -> None:
    inc = one(maker, Spec(GOROD, messages=2))
    path = f"/api/v1/incidents/{inc.id}"
    wrong = []
    for action, body in BAD_BODIES:
        r = svc.post(f"{path}/{action}", "region", json=body)
        if r.status_code != 422 or r.json()["code"] != "invalid_request":
            wrong.append((action, body, r.status_code, r.text[:200]))
    assert wrong == []
    after = svc.get(path, "region").json()
    assert after["status"] == "routed"
    assert kinds_by(after, "region_curator:region") == []


def test_a_body_that_is_not_json_is_422(svc: Service, maker: IncidentMaker) -> None:
    inc = one(maker, Spec(GOROD))
    for content in (b"{", b"[]", b"null", "текст".encode()):
        r = svc.post(
            f"/api/v1/incidents/{inc.id}/forward",
            "region",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 422, (content, r.status_code)


def test_the_openapi_document_describes_every_action(svc: Service) -> None:
    doc = svc.client.get("/openapi.json").json()
    actions = ("take", "answer", "forward", "extend", "rating", "confirm", "reassign", "merge")
    for action in (*actions, "split", "correct"):
        op = doc["paths"][f"/api/v1/incidents/{{incident_id}}/{action}"]["post"]
        assert {"403", "404"} <= set(op["responses"]), action
    schemas = doc["components"]["schemas"]
    for name in (
        "AnswerBody",
        "ForwardBody",
        "ExtendBody",
        "RatingBody",
        "MergeBody",
        "ConfirmBody",
    ):
        assert schemas[name]["additionalProperties"] is False, name


# the cursor -------------------------------------------------------------------------------------
def _walk(svc: Service, who: str, limit: int, between: Any = None) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = svc.get(f"/api/v1/incidents?{query}", who).json()
        seen.extend(i["id"] for i in page["items"])
        if between is not None:
            between()
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_a_cursor_walk_returns_every_incident_once_while_new_ones_arrive(
    svc: Service, maker: IncidentMaker
) -> None:
    first = maker.make([Spec(GOROD if i % 3 else SELA) for i in range(20)])
    arrived: list[Made] = []
    seen = _walk(svc, "region", 6, lambda: arrived.extend(maker.make([Spec(GOROD), Spec(SELA)])))
    assert sorted(seen) == sorted(m.id for m in first)  # each once, none of the newcomers
    assert len(arrived) == 8  # four pages, two newcomers after each
    # a new walk starts from the newest, newcomers included; the scope holds across pages
    everything = {m.id for m in first + arrived}
    assert sorted(_walk(svc, "region", 7)) == sorted(everything)
    gorod = _walk(svc, "gorod", 4)
    assert len(gorod) == len(set(gorod))
    assert set(gorod) == {i for i in everything if svc.engine.incident(i).territory == "gorod"}


def test_a_walk_whose_last_page_is_full_ends_without_an_empty_page(
    svc: Service, maker: IncidentMaker
) -> None:
    made = maker.make([Spec(GOROD) for _ in range(6)])
    pages = []
    cursor = None
    while True:
        q = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = svc.get(f"/api/v1/incidents?{q}", "region").json()
        pages.append([i["id"] for i in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [sorted((m.id for m in made), reverse=True)[i : i + 3] for i in (0, 3)]
