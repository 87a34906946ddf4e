"""The role matrix: every key of every role × every endpoint of the work API × an incident in
its own and in a foreign territory, on SQLite and PostgreSQL.

The rule, stated once here from :data:`tsur.roles.RIGHTS` and the keys' scopes
(:data:`.service_kit.ROLES`), and every status checked against it:

1. a role without the endpoint's right gets 403, whatever the incident;
2. otherwise an incident outside the key's scope — another municipality's for
   a municipal curator, one not routed to its organisation for an executor —
   is 404, exactly as one that does not exist;
3. otherwise the endpoint does its work: 200 (201 for a split, which makes
   an incident), and an action is signed with the key's actor
   (``role:name``) in the incident's history.

A refused request changes nothing: no event of its actor appears anywhere.
The region-wide report is refused (403) to a key scoped to a municipality.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from tsur import Engine
from tsur.roles import RIGHTS, Right, Role

from .service_kit import ROLES, Service, service
from .work_kit import CONCRETE, TOWNS, IncidentMaker, Made, Spec

ACTORS = {key: f"{role}:{key}" for key, (role, _) in ROLES.items()}


def role_of(key: str) -> Role:
    return Role(ROLES[key][0])


def sees(key: str, side: str) -> bool:
    """Whether the key's scope takes in the incidents of ``side`` (a town of work_kit)."""
    role, scope = role_of(key), ROLES[key][1]
    if role is Role.MUNICIPAL_CURATOR:
        return TOWNS[side].territory == scope
    if role is Role.EXECUTOR:
        return TOWNS[side].executor == scope
    return True


@attrs.frozen
class Setup:
    """A fresh incident to act on (``dup``: a second one of the same town, to merge)."""

    made: Made
    dup: Made | None = None


@attrs.frozen
class Endpoint:
    """An endpoint on one incident: its right, what it needs and what it does."""

    name: str
    method: str
    right: Right
    ok: int = 200
    #: how the incident is made: a vk or written message, how many, answered first, a pair
    source: str = "vk"
    messages: int = 1
    answered: bool = False
    pair: bool = False
    body: Callable[[Setup], dict[str, Any]] | None = None
    #: what a success shows in the answer (besides the actor in the history)
    done: Callable[[dict[str, Any], Setup], bool] = lambda r, s: True

    def path(self, setup: Setup) -> str:
        base = f"/api/v1/incidents/{setup.made.id}"
        return base if self.name == "read" else f"{base}/{self.name}"


ENDPOINTS = (
    Endpoint("read", "GET", Right.READ, done=lambda r, s: r["id"] == s.made.id),
    Endpoint("take", "POST", Right.WORK, done=lambda r, s: r["status"] == "in_progress"),
    Endpoint(
        "answer",
        "POST",
        Right.WORK,
        body=lambda s: {"text": CONCRETE, "final": True},
        done=lambda r, s: r["status"] == "resolved",
    ),
    Endpoint(
        "forward",
        "POST",
        Right.WORK,
        body=lambda s: {"to_executor": "minzdrav", "reason": "вопрос здравоохранения"},
        done=lambda r, s: r["executor"] == "minzdrav" and r["status"] == "routed",
    ),
    Endpoint(
        "extend",
        "POST",
        Right.WORK,
        source="written",
        body=lambda s: {"days": 10, "reason": "нужна экспертиза"},
        done=lambda r, s: any(e["kind"] == "extended" for e in r["history"]),
    ),
    Endpoint(
        "rating",
        "POST",
        Right.CURATE,
        answered=True,
        body=lambda s: {"score": 5, "comment": "всё сделали", "resolved": True},
        done=lambda r, s: r["status"] == "closed",
    ),
    Endpoint(
        "confirm",
        "POST",
        Right.CURATE,
        done=lambda r, s: (
            r["status"] == "routed"
            and r["executor"] in {t.executor for t in TOWNS.values()}  # where it was
            and any(e["kind"] == "confirmed" for e in r["history"])
        ),
    ),
    Endpoint(
        "reassign",
        "POST",
        Right.CURATE,
        body=lambda s: {"to_executor": "minzdrav", "reason": "ошибка маршрутизации"},
        done=lambda r, s: r["executor"] == "minzdrav",
    ),
    Endpoint(
        "merge",
        "POST",
        Right.CURATE,
        pair=True,
        body=lambda s: {"duplicates": [s.dup.id if s.dup else 0], "reason": "одна и та же яма"},
        done=lambda r, s: (
            s.dup is not None and set(s.dup.message_ids) <= set(m["id"] for m in r["messages"])
        ),
    ),
    Endpoint(
        "split",
        "POST",
        Right.CURATE,
        ok=201,
        messages=2,
        body=lambda s: {"message_ids": [s.made.message_ids[1]], "reason": "другая проблема"},
        done=lambda r, s: (
            r["id"] != s.made.id and [m["id"] for m in r["messages"]] == [s.made.message_ids[1]]
        ),
    ),
    Endpoint(
        "correct",
        "POST",
        Right.CURATE,
        body=lambda s: {"topic": "transport", "reason": "тема уточнена"},
        done=lambda r, s: r["topic"] == "transport",
    ),
)


def expected(key: str, endpoint: Endpoint, side: str) -> int:
    """The status the rule gives ``key`` on ``endpoint`` for an incident of ``side``."""
    if endpoint.right not in RIGHTS[role_of(key)]:
        return 403
    if not sees(key, side):
        return 404
    return endpoint.ok


def _prepare(
    svc: Service, cases: list[tuple[str, Endpoint, str]]
) -> tuple[list[Setup], dict[str, list[Made]]]:
    """A fresh incident per case that should succeed, one shared probe per town otherwise."""
    maker = IncidentMaker(svc.engine)
    specs: list[Spec] = []
    for key, ep, side in cases:
        if expected(key, ep, side) < 400:
            town = TOWNS[side]
            specs.append(Spec(town, ep.source, ep.messages))
            if ep.pair:
                specs.append(Spec(town))
    probes = {side: maker.make([Spec(t, messages=2), Spec(t)]) for side, t in TOWNS.items()}
    made = iter(maker.make(specs))
    out = []
    for key, ep, side in cases:
        if expected(key, ep, side) >= 400:
            first, second = probes[side]
            out.append(Setup(first, second))
            continue
        setup = Setup(next(made), next(made) if ep.pair else None)
        if ep.answered:
            svc.lifecycle.answer_final(setup.made.id, CONCRETE, actor="setup")
        out.append(setup)
    return out, probes


def test_every_role_on_every_incident_endpoint(engine: Engine) -> None:
    cases = [(key, ep, side) for key in ROLES for ep in ENDPOINTS for side in TOWNS]
    with service(engine) as svc:
        setups, probes = _prepare(svc, cases)
        wrong: list[str] = []
        for (key, ep, side), setup in zip(cases, setups, strict=True):
            want = expected(key, ep, side)
            if ep.method == "GET":
                r = svc.get(ep.path(setup), key)
            else:
                r = svc.post(ep.path(setup), key, json=ep.body(setup) if ep.body else None)
            label = f"{key} {ep.name} {side}"
            if r.status_code != want:
                wrong.append(f"{label}: {r.status_code} (want {want}) {r.text[:200]}")
                continue
            if want >= 400:
                assert r.json()["code"] in ("forbidden", "not_found"), label
                continue
            body = r.json()
            if not ep.done(body, setup):
                wrong.append(f"{label}: answered {want} but did not do it: {body}")
            if ep.method == "POST":
                signed = {e["actor"] for e in body["history"]}
                if ACTORS[key] not in signed:
                    wrong.append(f"{label}: {ACTORS[key]} not in the history ({signed})")
                if ep.pair and setup.dup is not None:
                    dup = svc.engine.incident(setup.dup.id)
                    if dup.status.value != "duplicate" or ACTORS[key] not in {
                        e.actor for e in dup.history
                    }:
                        wrong.append(f"{label}: the duplicate was not merged by {ACTORS[key]}")
        assert wrong == []
        # the refused requests left the probes as the engine routed them
        for side, made in probes.items():
            for m in made:
                inc = svc.engine.incident(m.id)
                assert inc.status.value == "routed", (side, inc.status)
                assert inc.executor == TOWNS[side].executor
                assert not {e.actor for e in inc.history} & set(ACTORS.values()), inc.history


def test_every_role_on_the_listing_and_the_figures(engine: Engine) -> None:
    with service(engine) as svc:
        maker = IncidentMaker(svc.engine)
        made = {side: maker.make([Spec(t), Spec(t, "written")]) for side, t in TOWNS.items()}
        wrong = []
        for key in ROLES:
            role = role_of(key)
            r = svc.get("/api/v1/incidents", key)
            if Right.READ not in RIGHTS[role]:
                if r.status_code != 403:
                    wrong.append(f"{key} list: {r.status_code} (want 403)")
            else:
                want = {m.id for side in TOWNS if sees(key, side) for m in made[side]}
                got = {i["id"] for i in r.json()["items"]} if r.status_code == 200 else None
                if got != want:
                    wrong.append(f"{key} list: {r.status_code} {got} (want {want})")
            for path, scoped_refused in (
                ("/api/v1/executors/kpi?period=2026-11", False),
                ("/api/v1/analytics/summary?period=2026-11", False),
                ("/api/v1/reports/2026-11", True),
            ):
                want_status = 200
                scoped = ROLES[key][1] is not None
                if Right.ANALYTICS not in RIGHTS[role] or (scoped_refused and scoped):
                    want_status = 403
                r = svc.get(path, key)
                if r.status_code != want_status:
                    wrong.append(f"{key} {path}: {r.status_code} (want {want_status})")
        assert wrong == []
