"""E-mail through a real local SMTP server (aiosmtpd) and webhooks through httpx transports."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message as EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tsur import ConfigError, Engine, Notification, open_repository, testing
from tsur.default_plugins.notifiers import (
    LogNotifier,
    SmtpNotifier,
    WebhookNotifier,
    build_notifier,
    notifier_plugin,
    register_notifiers,
)
from tsur.errors import NotifierError
from tsur.lifecycle import Lifecycle
from tsur.region import Region
from tsur.testing import make_context

from .helpers import msg
from .test_lifecycle import at, life_region

NOW = datetime(2026, 11, 17, 7, 30, tzinfo=UTC)


def with_emails(data: dict[str, Any]) -> None:
    for e in data["executors"]:
        if e["id"] in ("cur", "adm-sela"):
            e["contacts"] = {"email": f"{e['id']}@example.ru", "phone": "122"}


CONFIG = life_region(executors=with_emails)
REGION = Region.from_config(CONFIG)


def note(
    kind: str = "escalated", recipients: tuple[str, ...] = ("cur", "adm-sela")
) -> Notification:
    return Notification(
        kind=kind,
        incident_id=12,
        at=NOW,
        recipients=recipients,
        text="Эскалация (куратор ЦУР: ЦУР): обращение № 12 просрочено.",
        data={"level": "curator", "step": 2},
    )


class Mailbox:
    """An aiosmtpd handler that keeps what it receives, or refuses it."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        parsed = email.message_from_bytes(envelope.content)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def body(m: EmailMessage) -> str:
    payload = m.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(m.get_content_charset() or "utf-8")


def test_smtp_notifier_mails_the_recipients(smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    mail = SmtpNotifier(
        REGION,
        host="127.0.0.1",
        port=port,
        starttls=False,  # a local relay without TLS, as a plain test server is
        sender="cur-robot@example.ru",
        kinds=["escalated"],
        extra_recipients=["duty@example.ru", "cur@example.ru"],
    )
    mail.notify(note())
    mail.notify(note(kind="routed"))  # filtered out by kinds
    mail.notify(note(recipients=("teplo",)))  # no address but the duty inbox
    assert [rcpt for _, rcpt, _ in box.mails] == [
        ["cur@example.ru", "adm-sela@example.ru", "duty@example.ru"],
        ["duty@example.ru", "cur@example.ru"],
    ]
    sender, _, m = box.mails[0]
    assert sender == "cur-robot@example.ru"
    subject = str(make_header(decode_header(m["Subject"])))
    assert subject == "[ЦУР] Эскалация: обращение № 12"
    assert m["X-Tsur-Incident"] == "12" and m["X-Tsur-Kind"] == "escalated"
    text = body(m)
    assert "обращение № 12 просрочено" in text and "level: curator" in text


def test_smtp_failures_are_notifier_errors(smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    box.refuse = "554 5.7.1 Message rejected as spam"
    mail = SmtpNotifier(
        REGION, host="127.0.0.1", port=port, sender="robot@example.ru", starttls=False
    )
    with pytest.raises(NotifierError, match="answered 554") as err:
        mail.notify(note())
    assert err.value.retryable is False and err.value.notifier == "smtp"
    down = SmtpNotifier(
        REGION, host="127.0.0.1", port=free_port(), sender="r@example.ru", timeout=2
    )
    with pytest.raises(NotifierError, match="cannot send mail") as err:
        down.notify(note())
    assert err.value.retryable is True and isinstance(err.value.__cause__, OSError)


def test_engine_delivers_tick_notifications_by_mail(smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    clock = [at(16, 9, 30)]
    mail = SmtpNotifier(
        REGION,
        host="127.0.0.1",
        port=port,
        sender="robot@example.ru",
        kinds=["escalated"],
        starttls=False,
    )
    engine = Engine(
        REGION,
        open_repository(":memory:"),
        entry_points=False,
        clock=lambda: clock[0],
        plugins=[notifier_plugin(mail=mail)],
    )
    with engine, Lifecycle(engine) as life:
        engine.process([msg("1", "Сызрань, ул. Мира, 5: яма на дороге")])
        assert box.mails == []  # «routed» is not wanted by this notifier
        clock[0] = at(17, 14, 30)
        report = life.tick()
        # supervisor and curator are both the ЦУР, told once; and the «overdue» note
        assert report.escalated == 1 and report.delivered == 2
        assert [rcpt for _, rcpt, _ in box.mails] == [["cur@example.ru", "adm-sela@example.ru"]]


def test_webhook_posts_signed_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = testing.mock_client(handler)
    hook = WebhookNotifier(
        "https://hooks.example.ru/tsur",
        secret="s3cret",
        headers={"X-Region": "99"},
        client=client,
    )
    before = int(time.time())
    hook.notify(note())
    (req,) = seen
    payload = json.loads(req.content)
    assert payload == {
        "kind": "escalated",
        "incident_id": 12,
        "at": NOW.isoformat(),
        "recipients": ["cur", "adm-sela"],
        "text": note().text,
        "data": {"level": "curator", "step": 2},
    }
    # signed as tsur signs what it posts: HMAC-SHA256 of "<timestamp>.<body>", timestamp now
    ts = req.headers["X-Tsur-Timestamp"]
    assert before <= int(ts) <= time.time()
    signed = ts.encode() + b"." + req.content
    expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert req.headers["X-Tsur-Signature"] == f"sha256={expected}"
    assert req.headers["X-Region"] == "99"
    assert req.headers["Content-Type"].startswith("application/json")


def test_webhook_failures_are_notifier_errors() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="maintenance")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    hook = WebhookNotifier("https://hooks.example.ru/x", client=testing.mock_client(busy))
    with pytest.raises(NotifierError, match="HTTP 503: maintenance") as err:
        hook.notify(note())
    assert err.value.retryable
    hook = WebhookNotifier("https://hooks.example.ru/x", client=testing.mock_client(refused))
    with pytest.raises(NotifierError, match="ConnectError") as err:
        hook.notify(note())
    assert isinstance(err.value.__cause__, httpx.ConnectError)
    with pytest.raises(ConfigError, match="must start with http"):
        WebhookNotifier("ftp://example.ru")


def test_notifiers_from_the_proposed_config_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUR_TEST_HOOK_SECRET", "abc")
    hook = build_notifier(
        {
            "name": "portal",
            "kind": "webhook",
            "url": "https://e.ru/h",
            "secret_env": "TSUR_TEST_HOOK_SECRET",
            "kinds": ["escalated"],
        },
        REGION,
    )
    assert isinstance(hook, WebhookNotifier) and hook.secret == "abc"
    assert hook.kinds == {"escalated"}
    hook.close()
    with pytest.raises(ConfigError, match="needs 'host' and 'sender'"):
        build_notifier({"name": "m", "kind": "smtp"}, REGION)
    with pytest.raises(
        ConfigError,
        match=r"notifiers\.m\.password_env: environment variable 'TSUR_TEST_NOPE' is not set",
    ):
        build_notifier(
            {
                "name": "m",
                "kind": "smtp",
                "host": "h",
                "sender": "s@e.ru",
                "password_env": "TSUR_TEST_NOPE",
            },
            REGION,
        )
    with pytest.raises(ConfigError) as err:
        build_notifier({"name": "Bad Name", "kind": "fax"}, REGION)
    assert {loc for loc, _ in err.value.problems} == {"name", "kind"}

    registered: dict[str, Any] = {}
    entries = [{"name": "mail", "kind": "smtp", "host": "127.0.0.1", "sender": "r@e.ru"}]
    with_section = life_region(executors=with_emails, notifiers=entries)
    register_notifiers(
        lambda name, c, **kw: registered.update({name: c}), make_context(with_section)
    )
    assert isinstance(registered["mail"], SmtpNotifier)
    assert registered["mail"].emails == {"cur": "cur@example.ru", "adm-sela": "adm-sela@example.ru"}
    registered.clear()
    register_notifiers(lambda name, c, **kw: registered.update({name: c}), make_context(CONFIG))
    assert list(registered) == ["log"]  # no section: the log notifier only
    assert isinstance(registered["log"], LogNotifier)
