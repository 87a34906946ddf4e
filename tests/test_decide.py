"""The decision core without a database: an analysis and candidates in, an outcome out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tsur import (
    Analysis,
    Author,
    Classification,
    Location,
    ModerationVerdict,
    Region,
    RouteDecision,
    Status,
    Text,
    Urgency,
    testing,
)
from tsur.decide import Decider, Outcome
from tsur.grouping import (
    Candidates,
    ClosedCandidate,
    OpenCandidate,
    lookup_for,
    reopen_reason,
)
from tsur.text.normalize import get_lemmatizer

NOW = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)  # Monday 11:00 Samara time


@pytest.fixture(scope="module")
def region() -> Region:
    return Region.from_config(testing.small_region())


def decider(region: Region, executor: str = "adm-gorod", router: str = "rules") -> Decider:
    routed: list[Any] = []

    def route(incident: Any, analysis: Analysis) -> RouteDecision:
        routed.append((incident, analysis))
        return RouteDecision(executor, "rule 1", router)

    d = Decider(region, route)
    d.routed = routed  # type: ignore[attr-defined]
    return d


def analysis(
    text: str = "В Тольятти на ул. Мира, 5 яма на дороге",
    *,
    topic: str | None = "roads",
    confidence: float = 0.8,
    urgency: Urgency | None = None,
    territory: str | None = "gorod",
    places: dict[str, str] | None = None,
    verdicts: tuple[ModerationVerdict, ...] = (),
    **message: Any,
) -> Analysis:
    m = testing.message(text, **message)
    t = Text.from_raw(text, get_lemmatizer())
    cls = Classification(topic, confidence, urgency, ("яма",), "keywords") if topic else None
    loc = Location(territory, 0.9, ("тольятти",), "gazetteer") if territory else None
    return Analysis(
        m,
        t,
        verdicts,
        cls,
        loc,
        None,
        places if places is not None else {"street": "мир", "house": "5"},
        t.content_lemmas,
    )


def closed(**kw: Any) -> ClosedCandidate:
    base: dict[str, Any] = {
        "id": 7,
        "status": Status.RESOLVED,
        "topic": "roads",
        "territory": "gorod",
        "executor": "adm-gorod",
        "sla_policy": "default",
        "places": {"street": "мир", "house": "5"},
    }
    return ClosedCandidate(**{**base, **kw})


def test_a_rejected_message_makes_nothing(region: Region) -> None:
    d = decider(region)
    spam = ModerationVerdict("reject", "реклама или спам", filter="spam")
    out = d.decide(1, analysis(verdicts=(spam,)), Candidates(), NOW)
    assert (out.kind, out.reason, out.incident, out.events) == (
        "rejected",
        "реклама или спам",
        None,
        (),
    )
    assert out.verdicts == (spam,)
    assert d.routed == []  # type: ignore[attr-defined]


def test_a_reply_in_a_thread_joins_its_incident(region: Region) -> None:
    out = decider(region).decide(2, analysis(), Candidates(thread=41), NOW)
    assert (out.kind, out.incident_id) == ("merged", 41)
    [event] = out.events
    assert (event.kind, event.reason, event.at) == (
        "message_added",
        "ответ в той же переписке",
        NOW,
    )
    assert event.data["message_id"] == 2


def test_the_same_address_joins_and_the_incident_learns(region: Region) -> None:
    a = analysis(places={"street": "мир", "house": "5", "школа": "77"})
    open_one = OpenCandidate(
        9,
        Status.ROUTED,
        "roads",
        NOW - timedelta(days=1),
        {"street": "мир", "house": "5"},
        frozenset({"яма"}),
    )
    out = decider(region).decide(3, a, Candidates(open=(open_one,)), NOW)
    assert (out.kind, out.incident_id) == ("merged", 9)
    assert out.events[0].reason == "тот же адрес (мир 5)"
    assert out.places == {"street": "мир", "house": "5", "школа": "77"}  # learned the school
    assert out.words is not None and {"яма", "дорога"} <= out.words


def test_another_house_is_another_problem(region: Region) -> None:
    other = OpenCandidate(
        9,
        Status.ROUTED,
        "roads",
        NOW,
        {"street": "мир", "house": "7"},
        frozenset({"яма", "дорога"}),
    )
    out = decider(region).decide(4, analysis(), Candidates(open=(other,)), NOW)
    assert out.kind == "created"


def test_a_reply_to_a_resolved_incident_reopens_it_with_a_new_term(region: Region) -> None:
    c = closed(in_thread=True, status=Status.CLOSED)
    out = decider(region).decide(5, analysis(), Candidates(closed=(c,)), NOW)
    assert (out.kind, out.incident_id, out.reopened_from) == ("reopened", 7, Status.CLOSED)
    added, status, deadlines = out.events
    assert (added.kind, added.reason) == (
        "message_added",
        "ответ в переписке по закрытому обращению",
    )
    assert (status.from_status, status.to_status) == (Status.CLOSED, Status.REOPENED)
    # the default policy resolves in 10 working days, counted from the message
    assert out.resolution_due is not None and out.resolution_due > NOW + timedelta(days=13)
    assert deadlines.data == {"resolution_due": out.resolution_due.isoformat()}
    [note] = out.notifications
    assert (note.kind, note.recipients, note.key) == ("reopened", ("adm-gorod",), "reopened:7:5")


def test_reopen_rule_in_order_thread_author_address() -> None:
    kw = {
        "family": ("roads", "roads.potholes"),  # the message's topic family
        "territory": "gorod",
        "places": {"street": "мир", "house": "5"},
    }
    assert reopen_reason(closed(in_thread=True, topic="health"), **kw) == (
        "ответ в переписке по закрытому обращению"
    )
    assert reopen_reason(closed(same_author=True), **kw) == "тот же заявитель пишет снова"
    assert reopen_reason(closed(), **kw) == "та же проблема по тому же адресу"
    # another topic family, another territory, another house, an open incident: no
    assert reopen_reason(closed(same_author=True, topic="health"), **kw) is None
    assert reopen_reason(closed(territory="sela"), **kw) is None
    assert reopen_reason(closed(places={"street": "мир", "house": "7"}), **kw) is None
    assert reopen_reason(closed(in_thread=True, status=Status.ROUTED), **kw) is None
    # a street alone is not an address
    assert (
        reopen_reason(closed(places={"street": "мир"}), **{**kw, "places": {"street": "мир"}})
        is None
    )


def test_a_new_incident_is_classified_located_routed_and_timed(region: Region) -> None:
    d = decider(region)
    a = analysis(author=Author(id="u1"))
    out = d.decide(6, a, Candidates(), NOW)
    assert out.kind == "created" and out.incident is not None and not out.triage
    inc = out.incident
    assert (inc.topic, inc.territory, inc.executor, inc.status) == (
        "roads",
        "gorod",
        "adm-gorod",
        Status.ROUTED,
    )
    assert [e.kind for e in inc.history] == ["received", "status", "located", "status", "deadlines"]
    assert inc.first_response_due is not None and inc.resolution_due is not None
    assert inc.sla_policy == "default"
    [(seen_incident, seen_analysis)] = d.routed  # type: ignore[attr-defined]
    assert seen_analysis is a  # the router sees the analysed message
    assert (seen_incident.topic, seen_incident.id) == ("roads", None)  # not stored yet
    [note] = out.notifications
    assert (note.kind, note.recipients) == ("routed", ("adm-gorod",))
    assert out.places == {"street": "мир", "house": "5"} and out.words == a.words


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"topic": None}, "тема не определена"),
        ({"confidence": 0.1}, "низкая уверенность 0,10 в теме «Дороги»"),
        ({"territory": None}, "территория не определена"),
    ],
)
def test_an_unsure_incident_waits_for_a_curator(
    region: Region, changes: dict[str, Any], reason: str
) -> None:
    out = decider(region, executor="cur", router="fallback").decide(
        7, analysis(**changes), Candidates(), NOW
    )
    assert out.kind == "created" and out.triage
    assert out.incident is not None and out.incident.status is Status.TRIAGE
    triage = [e for e in out.incident.history if e.to_status is Status.TRIAGE]
    assert reason in triage[0].reason
    assert out.notifications[0].kind == "triage"


def test_a_regional_topic_without_a_territory_is_routed_anyway(region: Region) -> None:
    out = decider(region, executor="minzdrav").decide(
        8, analysis("Нет врача в поликлинике", topic="health", territory=None), Candidates(), NOW
    )
    assert out.incident is not None and out.incident.status is Status.ROUTED


def test_the_lookup_names_what_to_find(region: Region) -> None:
    a = analysis(parent_id="wall-1_5", thread_id="wall-1", author=Author(id="u1"))
    look = lookup_for(a, region)
    assert look.refs == ("wall-1_5", "wall-1") and look.author == "u1"
    assert (look.topics, look.territory) == (("roads",), "gorod")
    assert look.territories == ("gorod",)
    assert look.open_since == a.message.created_at - timedelta(days=7)
    assert look.open_until == a.message.created_at + timedelta(days=7)
    assert look.topic == a.topic
    assert look.closed_since == a.message.created_at - timedelta(days=30)


def test_outcome_kinds_are_checked() -> None:
    with pytest.raises(ValueError):
        Outcome("deleted", 1)
    assert Outcome.failed(3, "classify", "model missing").kind == "failed"


def test_the_summary_reads_as_the_citizen_wrote_it(region: Region) -> None:
    """VK mention markup becomes the name a reader sees; the history speaks Russian."""
    text = "[club123|Администрация Тольятти], на ул. Мира, 5 яма на дороге"
    out = decider(region).decide(8, analysis(text), Candidates(), NOW)
    assert out.incident is not None
    assert out.incident.summary == "Администрация Тольятти, на ул. Мира, 5 яма на дороге"
    reasons = [e.reason for e in out.incident.history]
    assert reasons[0] == "сообщение из источника «ВКонтакте»"
    assert reasons[1] == "уверенность 0,80; слова: яма"
    assert reasons[-1].startswith("сроки по политике SLA «")
