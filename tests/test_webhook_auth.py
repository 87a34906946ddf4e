"""Attacks on pushed input, kept as tests: every push source (VK Callback API,
Telegram, ПОС, the generic JSON webhook) refuses unauthenticated, forged,
replayed and form-posted requests and stores nothing of them — neither at
once nor after ``retry_rejected``; pull-only sources have no webhook route.

The rules come from the channels' documentation (VK: the community's secret
key in each event's ``secret`` field; Telegram: the ``secret_token`` of
setWebhook in ``X-Telegram-Bot-Api-Secret-Token``) and from tsur's own
signature scheme (docs/adapters.md: HMAC-SHA256 of ``<timestamp>.<body>``,
the timestamp within 5 minutes).
"""

from __future__ import annotations

import json
import logging
import resource
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import tsur
from tests.service_kit import post_raw
from tests.test_adapters_common import make_engine, region_with
from tsur.adapters._base import parse_options
from tsur.adapters.portal import PosOptions
from tsur.adapters.telegram import TelegramOptions
from tsur.adapters.vk import VkOptions
from tsur.adapters.webhook import WebhookOptions
from tsur.intake import check_webhook_sources, receive_webhook, retry_rejected
from tsur.security import (
    TIMESTAMP_HEADER,
    hmac_sha256_signature,
    sign_request,
    verify_hmac_sha256,
    verify_signed_request,
)
from tsur.server import create_app as App
from tsur.store.sql import SqlRepository, normalize_url
from tsur.testing import START, FixedClock, payload, signed_headers
from tsur.wire import load_json_text

KEYS = {
    "TSUR_T_VK": "vk-community-key",
    "TSUR_T_TG": "tg-secret-token",
    "TSUR_T_POS": "pos-hmac-key",
    "TSUR_T_PORTAL": "portal-hmac-key",
}
GROUP = 205427305
PUSHED = [
    {
        "id": "vk",
        "kind": "vk",
        "name": "ВКонтакте",
        "options": {"secret_env": "TSUR_T_VK", "group_id": GROUP, "confirmation": "c0nf1rm"},
    },
    {"id": "tg", "kind": "telegram", "name": "Бот", "options": {"secret_token_env": "TSUR_T_TG"}},
    {"id": "pos", "kind": "pos", "name": "ПОС", "options": {"secret_env": "TSUR_T_POS"}},
    {
        "id": "portal",
        "kind": "webhook",
        "name": "Портал",
        "options": {"secret_env": "TSUR_T_PORTAL"},
    },
]
PULLED = [
    {"id": "mail", "kind": "email", "name": "Почта", "options": {}},
    {"id": "news", "kind": "rss", "name": "Новости", "options": {"url": "https://n.example/rss"}},
    {
        "id": "city311",
        "kind": "open311",
        "name": "Open311",
        "options": {"base_url": "https://city.example/open311/v2/"},
    },
    {"id": "hotline", "kind": "hotline", "name": "122", "options": {"adapter": "csv"}},
    {"id": "export", "kind": "jsonl", "name": "Выгрузка", "options": {}},
]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def region() -> tsur.RegionConfig:
    return region_with(PUSHED + PULLED)


@pytest.fixture
def engine(keys: None, region: tsur.RegionConfig, db_url: str, clock: Any) -> Iterator[tsur.Engine]:
    """An engine on both databases."""
    eng = make_engine(region, db_url, clock)
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture(scope="module")
def sqlite(
    region: tsur.RegionConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tsur.Engine]:
    """One engine on SQLite for the many attacks, where the database makes no
    difference (each attack checks that it left the store empty)."""
    db = tmp_path_factory.mktemp("attacks") / "tsur.db"
    eng = make_engine(region, str(db), FixedClock(START))
    try:
        yield eng
    finally:
        eng.close()


# what each channel sends when it is genuine ------------------------------------------
def vk_body(**changes: Any) -> bytes:
    event = json.loads(payload("vk_callback_wall_post_new_text.json"))
    event.update({"group_id": GROUP, "secret": KEYS["TSUR_T_VK"]})
    event.update(changes)
    return json.dumps(event, ensure_ascii=False).encode()


def tg_body() -> bytes:
    return payload("tg_update_photo_caption.json")


def pos_body() -> bytes:
    appeal = {
        "id": "4410291",
        "text": "В Тольятти на ул. Мира, 5 яма на дороге",
        "created_at": "2026-11-16T09:00:00+04:00",
    }
    return json.dumps({"type": "appeal", "appeal": appeal}, ensure_ascii=False).encode()


def portal_body() -> bytes:
    msg = {
        "external_id": "NE-7",
        "text": "В Тольятти на ул. Мира, 5 огромная яма",
        "created_at": "2026-11-16T09:00:00+04:00",
    }
    return json.dumps(msg, ensure_ascii=False).encode()


def genuine(source: str) -> tuple[bytes, dict[str, str]]:
    """A request the source's channel really sends (body, headers)."""
    if source == "vk":
        return vk_body(), dict(JSON)
    if source == "tg":
        return tg_body(), {**JSON, "X-Telegram-Bot-Api-Secret-Token": KEYS["TSUR_T_TG"]}
    body = pos_body() if source == "pos" else portal_body()
    key = KEYS["TSUR_T_POS"] if source == "pos" else KEYS["TSUR_T_PORTAL"]
    return body, signed_headers(key, body)


def wsgi(app: Any, path: str, body: bytes, headers: dict[str, str]) -> int:
    """One POST through the service; its status."""
    return post_raw(app, path, body, headers)[0]


# the attacks -----------------------------------------------------------------------
Attack = Callable[[], tuple[bytes, dict[str, str]]]


def _signed_at(key: str, body: bytes, ts: str, sig_ts: int | None = None) -> dict[str, str]:
    sig = hmac_sha256_signature(key, body, int(ts) if sig_ts is None else sig_ts)
    return {**JSON, TIMESTAMP_HEADER: ts, "X-Tsur-Signature": sig}


def attacks(source: str) -> dict[str, tuple[Attack, int]]:
    """Forged requests to ``source``: name → (request, expected status)."""
    body, good = genuine(source)
    bare = body
    if source == "vk":
        event = json.loads(body)
        del event["secret"]
        bare = json.dumps(event).encode()
    out: dict[str, tuple[Attack, int]] = {
        "no credentials at all": (lambda: (bare, dict(JSON)), 403),
        "a browser form": (
            lambda: (body, {**good, "Content-Type": "application/x-www-form-urlencoded"}),
            415,
        ),
        "text/plain (a form's enctype)": (
            lambda: (body, {**good, "Content-Type": "text/plain"}),
            415,
        ),
        "multipart form": (
            lambda: (body, {**good, "Content-Type": "multipart/form-data; boundary=x"}),
            415,
        ),
        "empty body": (lambda: (b"", dict(JSON)), 403),
        "not JSON": (lambda: (b"{not json", dict(JSON)), 403),
    }
    if source == "vk":
        vk_key = KEYS["TSUR_T_VK"]
        out |= {
            "wrong secret": (lambda: (vk_body(secret="guess"), dict(JSON)), 403),
            "secret in another case": (lambda: (vk_body(secret=vk_key.upper()), dict(JSON)), 403),
            "non-ASCII secret": (lambda: (vk_body(secret="ключ"), dict(JSON)), 403),
            "secret as a list": (lambda: (vk_body(secret=[vk_key]), dict(JSON)), 403),
            "secret as null": (lambda: (vk_body(secret=None), dict(JSON)), 403),
            "secret as an object": (lambda: (vk_body(secret={"$ne": ""}), dict(JSON)), 403),
            "another community": (lambda: (vk_body(group_id=1), dict(JSON)), 403),
            "community as text": (lambda: (vk_body(group_id=str(GROUP)), dict(JSON)), 403),
            "truncated event": (lambda: (vk_body()[:-30], dict(JSON)), 403),
            "an array of events": (lambda: (b"[" + vk_body() + b"]", dict(JSON)), 403),
            "unsigned confirmation": (
                lambda: (json.dumps({"type": "confirmation", "group_id": GROUP}).encode(), {}),
                403,
            ),
            "nested too deeply": (lambda: (b"[" * 100_000 + b"]" * 100_000, dict(JSON)), 403),
        }
        return out
    if source == "tg":
        header = "X-Telegram-Bot-Api-Secret-Token"
        out |= {
            "wrong secret token": (lambda: (body, {**JSON, header: "guess"}), 403),
            "a prefix of the token": (
                lambda: (body, {**JSON, header: KEYS["TSUR_T_TG"][:-1]}),
                403,
            ),
            "non-ASCII token": (lambda: (body, {**JSON, header: "tg-secret-tok\xe9n"}), 403),
            "empty token": (lambda: (body, {**JSON, header: ""}), 403),
            "right token, no Content-Type": (lambda: (body, {header: KEYS["TSUR_T_TG"]}), 415),
        }
        return out
    key = KEYS["TSUR_T_POS"] if source == "pos" else KEYS["TSUR_T_PORTAL"]
    now = int(START.timestamp())
    out |= {
        "wrong key": (lambda: (body, signed_headers("guess", body)), 403),
        "non-ASCII signature": (lambda: (body, {**good, "X-Tsur-Signature": "sha256=\xff"}), 403),
        "non-ASCII digits": (
            lambda: (body, {**good, "X-Tsur-Signature": "sha256=" + "٣" * 64}),
            403,
        ),
        "signature of the body alone (no timestamp)": (
            lambda: (body, {**JSON, "X-Tsur-Signature": hmac_sha256_signature(key, body)}),
            403,
        ),
        "no timestamp": (
            lambda: (body, {k: v for k, v in good.items() if k != TIMESTAMP_HEADER}),
            403,
        ),
        "replayed a day later": (
            lambda: (body, signed_headers(key, body, at=START - timedelta(days=1))),
            403,
        ),
        "replayed six minutes later": (
            lambda: (body, signed_headers(key, body, at=START - timedelta(minutes=6))),
            403,
        ),
        "dated in the future": (
            lambda: (body, signed_headers(key, body, at=START + timedelta(minutes=6))),
            403,
        ),
        "timestamp changed after signing": (
            lambda: (body, _signed_at(key, body, str(now + 1), sig_ts=now)),
            403,
        ),
        "fullwidth digits in the timestamp": (
            lambda: (body, {**good, TIMESTAMP_HEADER: "１７６３"}),
            403,
        ),
        "timestamp of 10**40": (lambda: (body, _signed_at(key, body, "1" + "0" * 40)), 403),
        "negative timestamp": (lambda: (body, {**good, TIMESTAMP_HEADER: "-1"}), 403),
        "body changed after signing": (lambda: (body + b" ", good), 403),
        "an unreadable body, unsigned": (lambda: (b'{"text": 1}', dict(JSON)), 403),
    }
    return out


CASES = [(source, name) for source in ("vk", "tg", "pos", "portal") for name in attacks(source)]


@pytest.mark.parametrize(("source", "name"), CASES, ids=[f"{s}: {n}" for s, n in CASES])
def test_a_forged_push_is_refused_and_nothing_is_kept(
    keys: None, sqlite: tsur.Engine, source: str, name: str
) -> None:
    engine = sqlite
    request, expected = attacks(source)[name]
    body, headers = request()
    assert wsgi(App(engine), f"/webhooks/{source}", body, headers) == expected
    assert receive_webhook(engine, source, body, headers).status == expected
    assert engine.repository.message_counts() == {}
    assert engine.repository.rejected_inputs(include_resolved=True) == []
    report = retry_rejected(engine, source)
    assert (report.fetched, report.inserted) == (0, 0)
    assert engine.repository.message_counts() == {}


@pytest.mark.parametrize("source", ["vk", "tg", "pos", "portal"])
def test_the_genuine_request_passes(engine: tsur.Engine, source: str) -> None:
    """The attacks above fail for their flaw, not for a broken setup."""
    body, headers = genuine(source)
    assert wsgi(App(engine), f"/webhooks/{source}", body, headers) == 200
    assert engine.repository.message_counts() == {"pending": 1}
    # a genuine request passes whatever the header names' case
    lower = {k.lower(): v for k, v in headers.items()}
    assert receive_webhook(engine, source, body, lower).status == 200


@pytest.mark.parametrize("source", ["vk", "tg", "pos", "portal"])
def test_a_secret_whose_variable_is_not_set_refuses_everything(
    engine: tsur.Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    source: str,
) -> None:
    body, headers = genuine(source)
    for name in KEYS:
        monkeypatch.delenv(name)
    with caplog.at_level(logging.WARNING, logger="tsur.intake"):
        assert wsgi(App(engine), f"/webhooks/{source}", body, headers) == 403
    assert "is not set: request refused" in caplog.text
    monkeypatch.setenv("TSUR_T_VK", "")  # empty is not a key either
    monkeypatch.setenv("TSUR_T_TG", "")
    monkeypatch.setenv("TSUR_T_POS", "")
    monkeypatch.setenv("TSUR_T_PORTAL", "")
    assert receive_webhook(engine, source, body, headers).status == 403
    assert engine.repository.message_counts() == {}
    assert engine.repository.rejected_inputs() == []


@pytest.mark.parametrize("source", [s["id"] for s in PULLED])
def test_pull_only_sources_have_no_webhook_route(engine: tsur.Engine, source: str) -> None:
    body = portal_body()
    assert wsgi(App(engine), f"/webhooks/{source}", body, signed_headers("k", body)) == 404
    assert receive_webhook(engine, source, body, dict(JSON)).status == 404
    assert engine.repository.message_counts() == {}
    assert engine.repository.rejected_inputs() == []


# the rejected-input store is no way around verification --------------------------------
def test_only_verified_bodies_are_kept_and_read_again(engine: tsur.Engine) -> None:
    # VK: a signed event whose object cannot be read yet is kept, marked verified
    odd = vk_body(object={"id": 7, "owner_id": -GROUP, "date": "tomorrow", "text": "яма"})
    # acknowledged all the same: VK suspends a server that answers errors in a row
    answer = receive_webhook(engine, "vk", odd, dict(JSON))
    assert (answer.status, answer.body) == (200, "ok")
    forged = vk_body(secret="guess", object={"id": 8, "owner_id": -GROUP, "date": 1})
    assert receive_webhook(engine, "vk", forged, dict(JSON)).status == 403
    [kept] = engine.repository.rejected_inputs()
    assert kept.verified and kept.raw == odd.decode()
    # a body an older tsur kept without verification is never read again
    unverified = vk_body(secret="guess")
    engine.repository.record_rejected_input(
        "webhook:vk", None, unverified.decode(), "kept by tsur 0.1", at=START
    )
    report = retry_rejected(engine, "vk")
    assert (report.fetched, report.inserted, report.rejected) == (1, 0, 1)
    assert engine.repository.message_counts() == {}
    assert len(engine.repository.rejected_inputs()) == 2


def test_platforms_that_punish_errors_are_told_a_kept_body_arrived(engine: tsur.Engine) -> None:
    """VK suspends a server that answers errors in a row; Telegram drops an update after
    its retries. A verified body tsur cannot read yet is kept, so they are answered 200;
    tsur's own senders, who can fix what they send, get 400 with the reason."""
    update = json.loads(tg_body())
    update["message"]["date"] = 10**12  # far beyond 2100
    body = json.dumps(update).encode()
    headers = {**JSON, "X-Telegram-Bot-Api-Secret-Token": KEYS["TSUR_T_TG"]}
    answer = receive_webhook(engine, "tg", body, headers)
    assert (answer.status, answer.body) == (200, "")
    bad = json.dumps({"external_id": "NE-8", "text": "яма"}).encode()  # no date
    answer = receive_webhook(engine, "portal", bad, signed_headers(KEYS["TSUR_T_PORTAL"], bad))
    assert answer.status == 400 and "created_at" in answer.body
    kept = {r.origin: r for r in engine.repository.rejected_inputs()}
    assert set(kept) == {"webhook:tg", "webhook:portal"}
    assert all(r.verified for r in kept.values())
    assert engine.repository.message_counts() == {}


def test_after_a_fix_retry_reads_verified_bodies_only(engine: tsur.Engine) -> None:
    body = json.dumps({"external_id": "NE-9", "text": "яма", "created_at": "2026-11-16"}).encode()
    headers = signed_headers(KEYS["TSUR_T_PORTAL"], body)
    assert receive_webhook(engine, "portal", body, headers).status == 400  # no offset
    smuggled = body.replace(b"NE-9", b"NE-666")  # what 0.1 kept without verification
    engine.repository.record_rejected_input(
        "webhook:portal", None, smuggled.decode(), "kept by tsur 0.1", at=START
    )

    class Fixed:  # an adapter upgrade that reads dates without an offset
        def __init__(self) -> None:
            self.read: list[str] = []

        def parse(self, raw: str) -> list[tsur.Message]:
            self.read.append(raw)
            data = json.loads(raw)
            when = START.replace(hour=9)
            return [tsur.Message("portal", data["external_id"], data["text"], when)]

    fixed = Fixed()
    report = retry_rejected(engine, "portal", adapter=fixed)
    assert fixed.read == [body.decode()]
    assert (report.fetched, report.inserted) == (1, 1)
    [stored] = engine.repository.messages()
    assert stored.message.external_id == "NE-9"
    [left] = engine.repository.rejected_inputs()
    assert left.raw == smuggled.decode() and not left.verified


def test_a_verifier_that_crashes_refuses(engine: tsur.Engine) -> None:
    class Crashing:
        def verify_webhook(self, body: bytes, headers: Any) -> None:
            raise TypeError("a plugin's bug")

        def receive_webhook(self, body: bytes, headers: Any) -> Any:
            raise AssertionError("never reached")

    body = portal_body()
    result = receive_webhook(engine, "portal", body, dict(JSON), adapter=Crashing())
    assert result.status == 403
    assert engine.repository.rejected_inputs() == []

    class ParseOnly:  # the 0.1 way: no verification at all
        def parse(self, payload: bytes) -> list[tsur.Message]:
            raise AssertionError("never reached")

    assert receive_webhook(engine, "portal", body, dict(JSON), adapter=ParseOnly()).status == 404
    assert engine.repository.rejected_inputs() == []


# configuration: no push source without a key ---------------------------------------
@pytest.mark.parametrize(
    ("model", "kind", "options", "needed"),
    [
        (VkOptions, "vk", {}, "secret_env"),
        (VkOptions, "vk", {"mode": "callback", "group_id": 1}, "secret_env"),
        (TelegramOptions, "telegram", {}, "secret_token_env"),
        (PosOptions, "pos", {"callback_url": "https://gw.example/st"}, "secret_env"),
        (WebhookOptions, "webhook", {"reply_url": "https://p.example/a"}, "secret_env"),
    ],
)
def test_a_push_source_without_a_key_is_a_config_error(
    model: Any, kind: str, options: dict[str, Any], needed: str
) -> None:
    with pytest.raises(tsur.ConfigError, match=f"source 'src' .*\n.*{needed}"):
        parse_options(model, tsur.Source("src", kind, "S", options))
    for escape in ({needed: "SOME_VARIABLE"}, {"insecure": True}):
        parse_options(model, tsur.Source("src", kind, "S", {**options, **escape}))


@pytest.mark.parametrize("token", ["", "a b", "a+b/c=", "ключ", "x" * 257])
def test_a_telegram_secret_token_setwebhook_refuses_is_a_config_error(token: str) -> None:
    with pytest.raises(tsur.ConfigError, match="secret_token"):
        parse_options(TelegramOptions, tsur.Source("s", "telegram", "S", {"secret_token": token}))
    parse_options(TelegramOptions, tsur.Source("s", "telegram", "S", {"secret_token": "A-z_9"}))


def test_pull_modes_need_no_key() -> None:
    parse_options(VkOptions, tsur.Source("s", "vk", "S", {"owner_id": -1}))
    parse_options(TelegramOptions, tsur.Source("s", "telegram", "S", {"token": "1:A"}))
    parse_options(PosOptions, tsur.Source("s", "pos", "S", {"path": "appeals.jsonl"}))


def test_serving_a_region_with_an_open_source_fails_naming_it(clock: Any, db_url: str) -> None:
    region = region_with([{"id": "portal", "kind": "webhook", "name": "Портал", "options": {}}])
    with make_engine(region, db_url, clock) as eng, pytest.raises(tsur.ConfigError) as err:
        App(eng)
    assert "source 'portal'" in str(err.value) and "secret_env" in str(err.value)


def test_insecure_sources_take_unsigned_requests_and_are_warned_about(
    clock: Any, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    region = region_with(
        [{"id": "portal", "kind": "webhook", "name": "Портал", "options": {"insecure": True}}]
    )
    with make_engine(region, db_url, clock) as eng:
        with caplog.at_level(logging.WARNING):
            app = App(eng)
        assert any("'portal': insecure = true" in w for w in app.state.warnings)
        assert "WITHOUT any verification" in caplog.text
        assert wsgi(app, "/webhooks/portal", portal_body(), dict(JSON)) == 200
        # still never from a browser form
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert wsgi(app, "/webhooks/portal", portal_body(), form) == 415


def test_the_bundled_regions_name_secrets_by_variable_only(
    clock: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TSUR_VK_SECRET", "TSUR_TELEGRAM_SECRET", "TSUR_POS_SECRET", "TSUR_PORTAL_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for config in (tsur.load_region(), tsur.testing.small_region()):
        with make_engine(config, db_url, clock) as eng:
            warnings = check_webhook_sources(eng)
            pushed = [s for s in eng.region.sources.values() if s.kind in PUSH_KINDS]
            assert pushed and all(
                set(s.options) <= {"secret_env", "secret_token_env"} for s in pushed
            )
            assert all(any(f"source {s.id!r}" in w for w in warnings) for s in pushed)
            body = portal_body()
            assert receive_webhook(eng, "portal", body, signed_headers("", body)).status == 403
            assert eng.repository.rejected_inputs() == []


PUSH_KINDS = {"vk", "telegram", "pos", "webhook"}


# signatures: hostile values never raise anything but WebhookAuthError -------------------
@pytest.mark.parametrize(
    "signature",
    [
        "sha256=\xff",
        "sha256=" + "\udcff" * 64,
        "sha256=" + "ä" * 64,
        "sha256=" + "0" * 63 + "\x00",
        "sha256=" + "0" * 65,
        "sha256=" + "0" * 640_000,
        "sha256= " + "0" * 64,
        "SHA256=" + "g" * 64,
        "\x00",
        "sha256",
        "=",
    ],
)
def test_hostile_signatures_are_refused_not_crashed_on(signature: str) -> None:
    with pytest.raises(tsur.WebhookAuthError):
        verify_hmac_sha256("key", b"{}", signature)
    headers = {TIMESTAMP_HEADER: str(int(START.timestamp())), "X-Tsur-Signature": signature}
    with pytest.raises(tsur.WebhookAuthError):
        verify_signed_request("key", b"{}", headers, now=START)


def test_the_signature_scheme_is_hmac_of_timestamp_dot_body() -> None:
    """As docs/adapters.md defines it, computed here without tsur's helpers."""
    import hashlib
    import hmac

    body = '{"text":"яма"}'.encode()
    ts = int(START.timestamp())
    expected = hmac.new(b"k", f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert sign_request("k", body, at=START) == {
        "X-Tsur-Timestamp": str(ts),
        "X-Tsur-Signature": f"sha256={expected}",
    }
    verify_signed_request("k", body, sign_request("k", body, at=START), now=START)
    window = {"now": START + timedelta(seconds=60), "max_age": 30}
    with pytest.raises(tsur.WebhookAuthError, match="60 s old"):
        verify_signed_request("k", body, sign_request("k", body, at=START), **window)


def test_a_database_from_before_verification_marks_nothing_verified(db_url: str) -> None:
    repo = SqlRepository(normalize_url(db_url))
    repo.migrate()
    try:
        with repo.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE rejected_input DROP COLUMN verified"))
            conn.execute(sa.text("DELETE FROM tsur_schema_version WHERE version >= 5"))
            conn.execute(
                sa.text(
                    "INSERT INTO rejected_input (origin, raw, reason, created_at) "
                    "VALUES ('webhook:vk', '{}', 'old', :at)"
                ),
                {"at": START},
            )
        repo.migrate()
        [old] = repo.rejected_inputs()
        assert old.origin == "webhook:vk" and old.verified is False
    finally:
        repo.close()


# attacks that once got through ---------------------------------------------------------
# a body kept for one pushed source, re-read by the file retry, could claim another
# source; Content-Length -1 (or none) read a stream to its end before verification; NaN and
# 1e400 were stored on SQLite and refused by PostgreSQL; the depth check cost memory per
# character of a long string; a corrected file left its old rejects open forever.


def test_a_kept_pushed_body_is_never_read_as_a_file_line(engine: tsur.Engine) -> None:
    # a correctly signed portal body claiming to be a VK message: unreadable for the
    # portal (kept, verified), and the file retry must not store it as VK's
    body = json.dumps(
        {"source": "vk", "external_id": "msg1_1", "text": "яма", "created_at": "x"}
    ).encode()
    answer = tsur.intake.receive_webhook(
        engine, "portal", body, signed_headers(KEYS["TSUR_T_PORTAL"], body)
    )
    assert answer.status == 400
    good = json.dumps(
        {
            "source": "vk",
            "external_id": "msg1_2",
            "text": "яма",
            "created_at": "2026-11-16T09:00:00+04:00",
        }
    )
    engine.repository.record_rejected_input(
        "webhook:tg", None, good, "kept by tsur 0.1", at=engine.clock()
    )
    report = engine.retry_rejected_input()
    assert report.inserted == 0
    assert engine.repository.message_counts() == {}
    assert len(engine.repository.rejected_inputs()) == 2


def _post(app: Any, length: str | None, body: bytes = b"{}") -> int:
    headers = {"Content-Type": "application/json"}
    if length is not None:
        headers["Content-Length"] = length
    return post_raw(app, "/webhooks/portal", body, headers)[0]


@pytest.mark.parametrize(
    ("length", "status"), [("-1", 400), ("", 400), ("1e3", 400), ("٣", 400), (None, 403)]
)
def test_a_body_of_a_bogus_length_is_never_read(
    engine: tsur.Engine, length: str | None, status: int
) -> None:
    assert _post(App(engine), length) == status
    assert engine.repository.rejected_inputs() == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_numbers_json_does_not_know_are_refused_on_every_store(
    engine: tsur.Engine, value: str
) -> None:
    line = (
        '{"source": "vk", "external_id": "n1", "text": "яма", '
        f'"created_at": "2026-11-16T09:00:00+04:00", "meta": {{"x": {value}}}}}'
    )
    report = engine.ingest_jsonl(lines=[line, line.replace('"n1"', '"n2"').replace(value, "1")])
    assert report.inserted == 1 and len(report.errors) == 1
    assert "not valid JSON" in str(report.errors[0]) and report.errors[0].line == 1


def test_a_long_string_costs_no_memory_per_character_to_check() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    value = load_json_text('["' + "a" * 20_000_000 + '"]')
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert len(value[0]) == 20_000_000
    assert grown_mib < 400  # the string itself and its copies, not 2.4 GB of backtracking


def test_a_corrected_file_ingested_again_closes_its_old_rejects(
    engine: tsur.Engine, tmp_path: Any
) -> None:
    path = tmp_path / "appeals.jsonl"
    record = '{"source": "vk", "external_id": "%s", "text": "яма", "created_at": "%s"}'
    good = record % ("a1", "2026-11-16T09:00:00+04:00")
    bad = record % ("a2", "9999-11-16T09:00:00+04:00")
    path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    first = engine.ingest_jsonl(path)
    assert first.inserted == 1 and [e.line for e in first.errors] == [2]
    [open_reject] = engine.repository.rejected_inputs()
    assert open_reject.line == 2
    path.write_text(good + "\n" + bad.replace("9999", "2026") + "\n", encoding="utf-8")
    second = engine.ingest_jsonl(path)
    assert second.inserted == 1 and second.errors == []
    assert engine.repository.rejected_inputs() == []
    assert engine.repository.message_counts() == {"pending": 2}


def test_standard_input_never_closes_another_batchs_rejects(engine: tsur.Engine) -> None:
    record = '{"source": "vk", "external_id": "%s", "text": "яма", "created_at": "%s"}'
    first = [record % ("s1", "2026-11-16T09:00:00+04:00"), record % ("s2", "9999-01-01T00:00:00Z")]
    engine.ingest_jsonl(data="\n".join(first).encode(), origin="<stdin>")
    other = [
        record % ("s3", "2026-11-16T09:00:00+04:00"),
        record % ("s4", "2026-11-16T09:00:00+04:00"),
    ]
    engine.ingest_jsonl(data="\n".join(other).encode(), origin="<stdin>")
    [still] = engine.repository.rejected_inputs()
    assert still.line == 2 and "9999" in still.raw
