"""The adapter toolkit: options, JSON reading, retries, rate limits, signatures,
collecting with a persisted cursor and receiving webhooks, on SQLite and PostgreSQL.

Also the shared fixtures of the ``test_adapters_*`` modules: a region that
declares one source of every adapter kind, and an engine on it.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import tsur
from tests.conftest import SMALL_REGION
from tsur.adapters._base import parse_options
from tsur.adapters._collect import build_adapter, make_adapter
from tsur.adapters._http import ApiRequest, HttpChannel, RateLimit, RateLimiter, RetryPolicy
from tsur.adapters._payload import load_json
from tsur.adapters.vk import VkOptions
from tsur.config import region_from_mapping
from tsur.errors import PayloadError, WebhookAuthError
from tsur.intake import CollectReport, collect, receive_webhook, retry_rejected
from tsur.security import hmac_sha256_signature, secrets_match, verify_hmac_sha256
from tsur.store.sql import SqlRepository, normalize_url
from tsur.testing import make_context, mock_client, payload, signed_headers

DATA = Path(__file__).parent / "data"

SOURCES: list[dict[str, Any]] = [
    {
        "id": "vk-samara",
        "kind": "vk",
        "name": "Сообщество",
        "options": {
            "access_token": "vk-token",
            "owner_id": -205427305,
            "group_id": 205427305,
            "page_size": 3,
            "confirmation": "c0nf1rm",
            "secret": "mnNEGlTSI9ohjqea",
            "requests_per_second": 20,
        },
    },
    {
        "id": "tg-bot",
        "kind": "telegram",
        "name": "Бот ЦУР",
        "options": {"token": "123:ABC", "secret_token": "s3cr3t-token", "limit": 2},
    },
    {"id": "pos", "kind": "pos", "name": "ПОС", "options": {"secret": "pos-key"}},
    {"id": "portal", "kind": "webhook", "name": "Портал", "options": {"secret": "portal-key"}},
    {
        "id": "city311",
        "kind": "open311",
        "name": "Open311",
        "options": {"base_url": "https://city.example/open311/v2/", "window_days": 30},
    },
    {"id": "news", "kind": "rss", "name": "Новости", "options": {"url": "https://n.example/rss"}},
    {"id": "mail", "kind": "email", "name": "Почта", "options": {}},
    {"id": "hotline", "kind": "hotline", "name": "122", "options": {"adapter": "csv"}},
]


def region_with(sources: list[dict[str, Any]]) -> tsur.RegionConfig:
    """The small test region with ``sources`` added (replacing its own of the same id)."""
    data = tomllib.loads(SMALL_REGION.read_text("utf-8"))
    merged = {s["id"]: s for s in data.get("sources", [])}
    merged.update({s["id"]: s for s in sources})
    data["sources"] = list(merged.values())
    return region_from_mapping(data, origin="test region")


@pytest.fixture(scope="session")
def adapters_region() -> tsur.RegionConfig:
    """The small region with one source of every adapter kind."""
    return region_with(SOURCES)


def make_engine(region: tsur.RegionConfig, db_url: str, clock: Any) -> tsur.Engine:
    """An engine with the built-in adapters registered, on ``db_url``."""
    repo = SqlRepository(normalize_url(db_url))
    repo.migrate()
    return tsur.Engine(region, repo, entry_points=False, clock=clock)


@pytest.fixture
def adapters_engine(
    adapters_region: tsur.RegionConfig, db_url: str, clock: Any
) -> Iterator[tsur.Engine]:
    """An engine on the adapters region, on SQLite and on PostgreSQL."""
    eng = make_engine(adapters_region, db_url, clock)
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture
def sqlite_engine(
    adapters_region: tsur.RegionConfig, tmp_path: Path, clock: Any
) -> Iterator[tsur.Engine]:
    """An engine on the adapters region on a SQLite file, for tests where the
    backend makes no difference (both backends are covered by ``adapters_engine``)."""
    eng = make_engine(adapters_region, str(tmp_path / "tsur.db"), clock)
    try:
        yield eng
    finally:
        eng.close()


class FakeTime:
    """A monotonic clock and a sleep that only moves it, recording each pause."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


RUNTIME = frozenset(
    {"client", "async_client", "retry", "limiter", "sleep", "async_sleep", "clock", "now"}
    | {"ssl_context"}
)


def build(
    cls: Any,
    region: tsur.RegionConfig | None,
    source: tsur.Source | str,
    **kw: Any,
) -> Any:
    """``cls(source, context, **runtime)``: keyword arguments that are runtime objects are
    passed as such, the others are added to the source's options table."""
    if isinstance(source, str):
        assert region is not None
        source = tsur.Region.from_config(region).sources[source]
    runtime = {k: v for k, v in kw.items() if k in RUNTIME}
    options = {k: v for k, v in kw.items() if k not in RUNTIME}
    source = attrs.evolve(source, options={**source.options, **options})
    context = make_context(region) if region is not None else None
    return cls(source, context, **runtime)


def adapter_for(engine: tsur.Engine, source_id: str, **kw: Any) -> Any:
    """The engine's adapter of ``source_id`` built with extra options and runtime objects
    (as if the region file had the options)."""
    source = engine.region.sources[source_id]
    runtime = {k: v for k, v in kw.items() if k in RUNTIME}
    options = {k: v for k, v in kw.items() if k not in RUNTIME}
    source = attrs.evolve(source, options={**source.options, **options})
    return build_adapter(engine.components, engine.context, source, **runtime)


def collect_with(engine: tsur.Engine, source_id: str, **kw: Any) -> CollectReport:
    """One collection of ``source_id`` with an adapter built by :func:`adapter_for`."""
    with adapter_for(engine, source_id, **kw) as adapter:
        return collect(engine, source_id, adapter=adapter)


# options ------------------------------------------------------------------------
def test_options_errors_name_each_key() -> None:
    source = tsur.Source("vk1", "vk", "VK", {"mode": "wall", "page_size": 500, "colour": "red"})
    with pytest.raises(tsur.ConfigError) as err:
        parse_options(VkOptions, source)
    text = str(err.value)
    assert "source 'vk1' (kind 'vk'): invalid options" in text
    assert "options.page_size: Input should be less than or equal to 100" in text
    assert "options.colour: Extra inputs are not permitted" in text


def test_options_mode_needs_its_key() -> None:
    with pytest.raises(tsur.ConfigError, match="mode 'wall' needs owner_id"):
        parse_options(VkOptions, tsur.Source("vk1", "vk", "VK", {"mode": "wall"}))


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    options = {"access_token_env": "TSUR_TEST_VK_TOKEN", "owner_id": -1}
    source = tsur.Source("vk1", "vk", "VK", options)
    with pytest.raises(tsur.ConfigError, match="environment variable 'TSUR_TEST_VK_TOKEN'"):
        parse_options(VkOptions, source)
    monkeypatch.setenv("TSUR_TEST_VK_TOKEN", "from-env")
    opts = parse_options(VkOptions, source)
    assert opts.access_token is not None
    assert opts.access_token.get_secret_value() == "from-env"
    assert "from-env" not in repr(opts)  # secrets stay out of logs and reprs


# reading payloads ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty body, expected JSON"),
        (
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "expected JSON, got an HTML page ('502 Bad Gateway')",
        ),
        (b'{"response": {"count": 7, "items": [{"id": 1', "truncated JSON"),
        (b'{"a": 1,, "b": 2}', "invalid JSON: Expecting property name"),
        (b"\xff\xfe{", "not UTF-8 text"),
    ],
)
def test_unreadable_json_is_a_clear_payload_error(body: bytes, expected: str) -> None:
    with pytest.raises(PayloadError) as err:
        load_json(body, source="s", what="wall.get")
    assert expected in str(err.value)
    assert str(err.value).startswith("s: wall.get: ")
    assert err.value.raw == body.decode("utf-8", "replace")


# signatures -----------------------------------------------------------------------
def test_hmac_signature_verification() -> None:
    body = b'{"external_id": "1"}'
    sig = hmac_sha256_signature("key", body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    verify_hmac_sha256("key", body, sig)
    verify_hmac_sha256("key", body, sig.upper().replace("SHA256=", "sha256="))
    for bad, why in [
        (None, "missing X-Tsur-Signature"),
        ("md5=abc", "must look like 'sha256=<64 hex digits>'"),
        (hmac_sha256_signature("other", body), "does not match the body"),
        (hmac_sha256_signature("key", body + b" "), "does not match the body"),
    ]:
        with pytest.raises(WebhookAuthError, match=why):
            verify_hmac_sha256("key", body, bad)
    assert secrets_match("abc", "abc") and not secrets_match("abc", "abd")
    assert not secrets_match("abc", None)


# retries and limits ------------------------------------------------------------------
def test_rate_limiter_spaces_requests_globally_and_per_key() -> None:
    t = FakeTime()
    limiter = RateLimiter(
        {"*": [RateLimit(3, 1.0)], "chat": [RateLimit(1, 1.0)]}, clock=t.clock, sleep=t.sleep
    )
    waits = [limiter.wait() for _ in range(7)]
    assert waits == [0, 0, 0, 1.0, 0, 0, 1.0]  # 3 per second, no more
    t.now += 10
    assert limiter.wait(["chat:1"]) == 0
    assert limiter.wait(["chat:2"]) == 0  # another chat has its own window
    assert limiter.wait(["chat:1"]) == pytest.approx(1.0)  # one message a second per chat
    assert t.sleeps == [1.0, 1.0, pytest.approx(1.0)]


def test_rate_limited_answers_are_retried_after_the_asked_pause() -> None:
    t = FakeTime()
    answers = [
        httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"),
        httpx.Response(503, text="busy"),
        httpx.Response(200, json={"ok": 1}),
    ]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return answers.pop(0)

    def decode(response: httpx.Response, request: ApiRequest) -> Any:
        if response.status_code >= 300:
            from tsur.adapters._http import http_error

            raise http_error(response, request, source="s")
        return response.json()

    channel = HttpChannel(
        "s", decode=decode, client=mock_client(handler), retry=RetryPolicy(sleep=t.sleep)
    )
    assert channel.send(ApiRequest("GET", "https://api.example/x")) == {"ok": 1}
    assert len(seen) == 3
    assert t.sleeps[0] >= 7.0  # Retry-After honoured
    assert 0.5 <= t.sleeps[1] <= 1.5  # then exponential backoff with jitter


def test_network_errors_become_adapter_errors_after_retries() -> None:
    t = FakeTime()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    channel = HttpChannel(
        "s",
        decode=lambda r, q: r.json(),
        client=mock_client(handler),
        retry=RetryPolicy(attempts=3, sleep=t.sleep),
    )
    with pytest.raises(tsur.AdapterError) as err:
        channel.send(ApiRequest("GET", "https://api.example/x", what="ping"))
    assert calls == 3 and len(t.sleeps) == 2
    assert str(err.value) == "s: ping: ConnectError: connection refused"
    assert err.value.retryable and isinstance(err.value.__cause__, httpx.ConnectError)


def test_a_pause_longer_than_allowed_is_not_waited_out() -> None:
    t = FakeTime()
    policy = RetryPolicy(max_retry_after=60, sleep=t.sleep)

    def quota() -> None:
        raise tsur.RateLimited("daily quota", retry_after=3600)

    with pytest.raises(tsur.RateLimited):
        policy.call(quota)
    assert t.sleeps == []


# collect ---------------------------------------------------------------------------
def wall_handler(posts: list[dict[str, Any]], log: list[httpx.Request]) -> Any:
    """A VK wall.get answering pages of ``posts`` (newest first)."""

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        q = request.url.params
        offset, count = int(q["offset"]), int(q["count"])
        items = posts[offset : offset + count]
        return httpx.Response(200, json={"response": {"count": len(posts), "items": items}})

    return handler


def test_collect_resumes_after_restart_without_rereading(
    adapters_region: tsur.RegionConfig, db_url: str, clock: Any
) -> None:
    posts = json.loads(payload("vk_wall_get.json"))["response"]["items"]
    log: list[httpx.Request] = []
    engine = make_engine(adapters_region, db_url, clock)
    try:
        first = collect(
            engine, "vk-samara", max_pages=1, client=mock_client(wall_handler(posts, log))
        )
        assert (first.pages, first.inserted) == (1, 3)
        cursor = engine.repository.get_cursor("vk-samara")
        assert cursor is not None and json.loads(cursor)["offset"] == 3
    finally:
        engine.close()
    # a new process: new engine, new adapter, same database
    engine = make_engine(adapters_region, db_url, clock)
    try:
        rest = collect(engine, "vk-samara", client=mock_client(wall_handler(posts, log)))
        assert [int(r.url.params["offset"]) for r in log] == [0, 3, 6]
        assert (rest.pages, rest.inserted, rest.duplicates) == (2, 4, 0)
        assert engine.repository.message_counts() == {"pending": 7}
        assert json.loads(engine.repository.get_cursor("vk-samara") or "")["since"] == 10
        # nothing new on the wall: one call, nothing stored twice
        again = collect(engine, "vk-samara", client=mock_client(wall_handler(posts, log)))
        assert (again.pages, again.inserted, again.duplicates) == (1, 0, 0)
    finally:
        engine.close()


def test_collect_keeps_an_unreadable_page_and_leaves_the_cursor(
    adapters_engine: tsur.Engine,
) -> None:
    body = b'{"response": {"count": 7, "items": [{"id": 10, "owner_id": -2054'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    with pytest.raises(PayloadError, match="truncated JSON"):
        collect(adapters_engine, "vk-samara", client=mock_client(handler))
    assert adapters_engine.repository.get_cursor("vk-samara") is None
    [kept] = adapters_engine.repository.rejected_inputs()
    assert kept.origin == "collect:vk-samara"
    assert kept.raw == body.decode()
    assert "truncated JSON" in kept.reason


def test_collect_keeps_bad_items_and_moves_on(adapters_engine: tsur.Engine) -> None:
    posts = json.loads(payload("vk_wall_get.json"))["response"]["items"][:3]
    posts[1] = {**posts[1], "date": "yesterday"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"response": {"count": 3, "items": posts}})

    report = collect(adapters_engine, "vk-samara", client=mock_client(handler))
    assert (report.inserted, report.rejected) == (2, 1)
    [kept] = adapters_engine.repository.rejected_inputs()
    assert "items[1]: date: Input should be a valid integer" in kept.reason
    # kept as a one-item answer, so the adapter can read it again after a fix
    assert json.loads(kept.raw)["response"]["items"][0]["id"] == 9
    again = retry_rejected(adapters_engine, "vk-samara", client=mock_client(handler))
    assert (again.fetched, again.inserted, again.rejected) == (1, 0, 1)  # still unreadable
    assert len(adapters_engine.repository.rejected_inputs()) == 1
    assert json.loads(adapters_engine.repository.get_cursor("vk-samara") or "")["since"] == 10


def test_make_adapter_errors() -> None:
    region = region_with([{"id": "ok", "kind": "ok", "name": "OK", "options": {}}])
    engine = tsur.Engine(region, SqlRepository("sqlite://"), entry_points=False)
    with pytest.raises(tsur.UnknownSource, match="unknown source 'nope'"):
        make_adapter(engine, "nope")
    with pytest.raises(tsur.AdapterError, match=r"no adapter for kind 'ok'.*set options\.adapter"):
        make_adapter(engine, "ok")


# webhooks --------------------------------------------------------------------------
def test_webhook_delivered_twice_is_stored_once(adapters_engine: tsur.Engine) -> None:
    body = json.dumps(
        {
            "external_id": "A-17",
            "text": "Во дворе дома 5 по ул. Ленина не вывозят мусор",
            "created_at": "2026-11-16T09:41:00+04:00",
        },
        ensure_ascii=False,
    ).encode()
    headers = {k.lower(): v for k, v in signed_headers("portal-key", body).items()}
    first = receive_webhook(adapters_engine, "portal", body, headers)
    again = receive_webhook(adapters_engine, "portal", body, headers)
    assert first.status == again.status == 200
    assert json.loads(first.body) == {"ok": True, "inserted": 1, "duplicates": 0, "refused": []}
    assert json.loads(again.body)["duplicates"] == 1
    [stored] = adapters_engine.repository.messages()
    assert (stored.message.source, stored.message.external_id) == ("portal", "A-17")


def test_webhook_refuses_bad_signatures_and_keeps_bad_bodies(
    adapters_engine: tsur.Engine,
) -> None:
    body = b'{"external_id": "A-18", "text": "x", "created_at": "2026-11-16T09:41:00"}'
    forged_headers = signed_headers(
        "portal-key", body, **{"X-Tsur-Signature": "sha256=" + "0" * 64}
    )
    forged = receive_webhook(adapters_engine, "portal", body, forged_headers)
    assert (forged.status, forged.body) == (403, "forbidden")
    assert adapters_engine.repository.rejected_inputs() == []  # forgeries are not stored
    bad = receive_webhook(adapters_engine, "portal", body, signed_headers("portal-key", body))
    assert bad.status == 400
    assert "created_at: must carry a time zone offset" in bad.body
    [kept] = adapters_engine.repository.rejected_inputs()
    assert (kept.origin, kept.raw, kept.verified) == ("webhook:portal", body.decode(), True)
    assert adapters_engine.repository.message_counts() == {}
