"""The service's front door: body limits, keys, rate limits, headers, never a 500.

The rules: a body limit cannot be bypassed by a bogus or absent length
(RFC 9110 §8.6: Content-Length is a decimal number of octets), a request
without a valid key is 401, a key over its rate 429 with Retry-After
(RFC 6585 §4), secrets are stored hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tsur import Engine
from tsur.access import Principal, authenticate, issue_key
from tsur.config import ServerConfig
from tsur.errors import AccessDenied, InvalidRequest, NotFound
from tsur.roles import Role
from tsur.server.deps import RateLimiter
from tsur.testing import message

from .service_kit import Service, service


@pytest.fixture
def svc(engine: Engine) -> Iterator[Service]:
    with service(engine, ServerConfig(max_body_bytes=2048)) as s:
        yield s


def test_health_needs_no_key_and_carries_security_headers(svc: Service) -> None:
    r = svc.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in r.headers  # CORS off by default


@pytest.mark.parametrize("length", ["-1", "+5", "1e3", "0x10", "9" * 30, " "])
def test_a_length_that_is_not_a_number_is_refused(svc: Service, length: str) -> None:
    r = svc.client.post("/webhooks/portal", content=b"{}", headers={"Content-Length": length})
    assert r.status_code == 400
    assert svc.engine.repository.message_counts() == {}


def test_a_body_over_the_limit_is_refused_declared_or_streamed(svc: Service) -> None:
    big = b"x" * 4096
    assert svc.client.post("/webhooks/portal", content=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(8):
            yield b"x" * 512

    assert svc.client.post("/webhooks/portal", content=chunks()).status_code == 413
    assert svc.engine.repository.rejected_inputs() == []


def test_requests_without_a_valid_key_are_401(svc: Service) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "tsur_000000000000_" + "A" * 43},
        {"X-API-Key": svc.tokens["region"][:-1] + "B"},
    ):
        r = svc.client.get("/api/v1/incidents", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
    assert svc.get("/api/v1/incidents", "region").status_code == 200


def test_a_revoked_key_stops_at_once(svc: Service) -> None:
    key_id = svc.tokens["analyst"].split("_")[1]
    assert svc.get("/api/v1/incidents", "analyst").status_code == 200
    assert svc.engine.repository.revoke_api_key(key_id, at=svc.engine.clock())
    assert svc.get("/api/v1/incidents", "analyst").status_code == 401
    assert not svc.engine.repository.revoke_api_key(key_id, at=svc.engine.clock())


def test_only_a_hash_of_the_secret_is_stored(engine: Engine) -> None:
    key, token = issue_key(
        engine.repository, engine.region, name="a", role="analyst", now=engine.clock()
    )
    stored = engine.repository.get_api_key(key.id)
    assert stored is not None and token.split("_", 2)[2] not in repr(stored)
    assert stored.secret_hash == hashlib.sha256(token.split("_", 2)[2].encode()).hexdigest()
    who = authenticate(engine.repository, token)
    assert who == Principal(key.id, "a", Role.ANALYST, None, 300)


@pytest.mark.parametrize(
    ("role", "scope", "error"),
    [
        ("municipal_curator", None, InvalidRequest),
        ("municipal_curator", "smyshlyaevka", NotFound),  # a settlement, not a municipality
        ("executor", None, InvalidRequest),
        ("executor", "nobody", NotFound),
        ("analyst", "gorod", InvalidRequest),
        ("admin", None, InvalidRequest),
    ],
)
def test_keys_are_issued_only_with_a_scope_their_role_needs(
    engine: Engine, role: str, scope: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        issue_key(
            engine.repository, engine.region, name="x", role=role, scope=scope, now=engine.clock()
        )
    assert engine.repository.api_keys() == []


def test_a_key_over_its_rate_gets_429_with_retry_after(engine: Engine) -> None:
    _, token = issue_key(
        engine.repository,
        engine.region,
        name="slow",
        role="analyst",
        rate_per_minute=3,
        now=engine.clock(),
    )
    with service(engine) as svc:
        headers = {"Authorization": f"Bearer {token}"}
        codes = [svc.client.get("/api/v1/incidents", headers=headers).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = svc.client.get("/api/v1/incidents", headers=headers)
        assert int(r.headers["retry-after"]) >= 1
        assert svc.get("/api/v1/incidents", "region").status_code == 200  # others unaffected


def test_failed_logins_from_one_address_are_slowed(engine: Engine) -> None:
    with service(engine, ServerConfig(auth_failures_per_minute=5)) as svc:
        codes = [
            svc.client.get("/api/v1/incidents", headers={"X-API-Key": "guess"}).status_code
            for _ in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2


def test_the_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("k", 2) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("k", 2) == pytest.approx(30.0)
    now[0] += timedelta(seconds=30).total_seconds()
    assert limiter.take("k", 2) == 0.0


def test_bad_parameters_are_4xx_never_500(svc: Service) -> None:
    for query in (
        "status=bogus",
        "urgency=bogus",
        "limit=0",
        "limit=abc",
        "cursor=-5",
        "cursor=99999999999999999999999",
        "topic=nope",
    ):
        r = svc.client.get(f"/api/v1/incidents?{query}", headers=svc.headers("region"))
        assert 400 <= r.status_code < 500, (query, r.status_code)
        assert "detail" in r.json()
    for path in ("/api/v1/incidents/0", "/api/v1/incidents/" + "9" * 20, "/api/v1/incidents/x"):
        assert svc.get(path, "region").status_code in (404, 422)


def test_authenticate_refuses_with_our_own_error(engine: Engine) -> None:
    with pytest.raises(AccessDenied) as info:
        authenticate(engine.repository, None)
    assert info.value.status == 401


def test_a_topic_filter_takes_its_subtopics_and_wildcards_match_nothing(svc: Service) -> None:
    svc.engine.ingest(
        [
            message("В Тольятти на ул. Мира, 5 нет отопления", source="vk"),
            message("В Тольятти на ул. Мира, 7 огромная яма на дороге", source="vk"),
        ]
    )
    svc.engine.run()
    page = svc.get("/api/v1/incidents?topic=zhkh", "region").json()
    assert [i["topic"] for i in page["items"]] == ["zhkh.heating"]
    for hostile in ("%", "zhkh%", "_", "zhkh.%"):
        r = svc.client.get(
            "/api/v1/incidents", params={"topic": hostile}, headers=svc.headers("region")
        )
        assert r.status_code == 404, hostile
    for text in ("%", "_", "\\", "' OR 1=1 --"):
        r = svc.client.get("/api/v1/incidents", params={"q": text}, headers=svc.headers("region"))
        assert (r.status_code, r.json()["items"]) == (200, []), text
    found = svc.client.get(
        "/api/v1/incidents", params={"q": "МИРА, 7"}, headers=svc.headers("region")
    )
    assert [i["topic"] for i in found.json()["items"]] == ["roads"]  # Cyrillic, any case


def test_two_different_keys_in_one_request_count_as_none(svc: Service) -> None:
    both = svc.headers("region") | {"X-API-Key": svc.tokens["analyst"]}
    assert svc.client.get("/api/v1/incidents", headers=both).status_code == 401
    same = svc.headers("region") | {"X-API-Key": svc.tokens["region"]}
    assert svc.client.get("/api/v1/incidents", headers=same).status_code == 200


def test_the_rate_limiter_forgets_idle_names_instead_of_growing() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for i in range(100_001):
        limiter.take(f"addr-{i}", 30)
    now[0] += 61.0
    limiter.take("late", 30)
    assert len(limiter._buckets) == 1
