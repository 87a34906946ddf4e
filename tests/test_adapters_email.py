"""E-mail: recorded letters parsed; quoted replies cut; collection from a real IMAP
server (pymap, started here) by UID; answers sent to a real SMTP server (aiosmtpd)
threaded with In-Reply-To and References."""

from __future__ import annotations

import imaplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

import tsur
from tests.test_adapters_common import adapter_for, build, collect_with
from tsur.adapters._text import strip_quoted_reply
from tsur.adapters.mail import MailAdapter, imap_utf7
from tsur.testing import payload

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
pytest.importorskip("pymap")

USER, PASSWORD = "cur", "imap-pass"

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def imap_server() -> Iterator[int]:
    """A real IMAP4rev1 server (pymap, in-memory) on a free local port."""
    port = free_port()
    code = "import sys; from pymap.main import main; sys.exit(main())"
    args = ["--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict", "--demo-data"]
    args += ["--demo-user", USER, "--demo-password", PASSWORD]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"pymap did not start: {err[-500:]}")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


class Inbox:
    """Collects what the SMTP server receives."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server (aiosmtpd) on a free local port."""
    inbox = Inbox()
    controller = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def mailbox(port: int, name: str, letters: list[bytes]) -> None:
    """Create mailbox ``name`` holding ``letters`` (APPEND, as a mail server delivers)."""
    conn = imaplib.IMAP4("127.0.0.1", port)
    try:
        conn.login(USER, PASSWORD)
        typ, _ = conn.create(imap_utf7(name))
        assert typ == "OK"
        for raw in letters:
            typ, _ = conn.append(imap_utf7(name), None, None, raw)
            assert typ == "OK"
    finally:
        conn.logout()


def appeal_letter(n: int = 1) -> bytes:
    """A citizen's HTML-only letter with a photo and a document, answering an earlier one."""
    msg = EmailMessage()
    msg["From"] = "Анна Смирнова <anna@example.ru>"
    msg["To"] = "cur@region.example"
    msg["Subject"] = f"Re: Не вывозят мусор (№{n})"
    msg["Date"] = "Mon, 16 Nov 2026 09:41:00 +0400"
    msg["Message-ID"] = f"<appeal-{n}@example.ru>"
    msg["In-Reply-To"] = "<answer-0@region.example>"
    msg["References"] = "<first-0@example.ru> <answer-0@region.example>"
    msg.set_content(
        "<html><body><p>Во дворе дома 5 по ул. Ленина третий день не вывозят мусор.</p>"
        "<blockquote>Ваше обращение принято</blockquote></body></html>",
        subtype="html",
    )
    msg.add_attachment(b"\xff\xd8\xff", maintype="image", subtype="jpeg", filename="двор.jpg")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="акт.pdf")
    return msg.as_bytes()


# parsing ---------------------------------------------------------------------------
def mail(region: tsur.RegionConfig, **kw: Any) -> MailAdapter:
    return build(MailAdapter, region, "mail", **kw)  # type: ignore[no-any-return]


def test_recorded_letters(adapters_region: tsur.RegionConfig) -> None:
    [base64_letter] = mail(adapters_region).parse(payload("email_ru_utf8_base64.eml"))
    assert base64_letter.source == "mail"
    assert base64_letter.external_id == (
        "CAE8KSLzgpmdDBfoP21vUX4LOYL6H_BhS=aOgT2RXz4da1Cyd+Q@mail.gmail.com"
    )
    assert base64_letter.text.startswith(
        "Добрый день\n\nГде-то на прошлой неделе вам было отправлено письмо с ожиданием\n"
    )
    assert base64_letter.text.endswith("С уважением,\nМистер Джошуа Кунте.")
    assert base64_letter.created_at == datetime(2021, 10, 6, 18, 20, 26, tzinfo=UTC)
    assert base64_letter.author == tsur.Author(
        "sender@example.com", "Sender Name", "sender@example.com"
    )
    assert base64_letter.meta == {
        "email_subject": "Добрый день",
        "email_reply_to": "sender.reply@example.com",
    }
    [qp] = mail(adapters_region).parse(payload("email_ru_multipart_qp.eml"))
    assert qp.external_id == "test-message-id@silverfire.me"
    assert qp.text == "Это тестовое сообщение\n\nТут ещё есть 😘"
    assert qp.author == tsur.Author("my@silverfire.me", "Дмитрий Науменко", "my@silverfire.me")
    assert qp.created_at == datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=3)))


def test_html_only_letter_with_attachments_and_thread(adapters_region: tsur.RegionConfig) -> None:
    [m] = mail(adapters_region).parse(appeal_letter())
    assert m.text == (
        "Не вывозят мусор (№1)\n\nВо дворе дома 5 по ул. Ленина третий день не вывозят мусор."
    )  # «Re:» dropped from the subject; the quoted block cut
    assert m.attachments == (
        tsur.Attachment("photo", None, "двор.jpg", "image/jpeg"),
        tsur.Attachment("file", None, "акт.pdf", "application/pdf"),
    )
    assert m.parent_id == "answer-0@region.example"
    assert m.thread_id == "first-0@example.ru"  # the thread's first letter
    assert m.meta["email_references"] == ["first-0@example.ru", "answer-0@region.example"]
    with pytest.raises(tsur.AdapterError, match="empty letter"):
        mail(adapters_region).parse(b"  ")
    with pytest.raises(tsur.AdapterError, match="no readable Date header"):
        mail(adapters_region).parse(b"Subject: hi\r\n\r\nbody\r\n")


@pytest.mark.parametrize(
    ("letter", "kept"),
    [
        (
            "Спасибо, вопрос решён.\n\n> Заявка передана в УК\n> С уважением",
            "Спасибо, вопрос решён.",
        ),
        (
            "Когда починят?\n\n-----Original Message-----\nFrom: ЦУР\nSubject: ответ",
            "Когда починят?",
        ),
        ("Фото во вложении\n\nОтправлено с iPhone", "Фото во вложении"),
        (
            "Не починили.\n\nOn Mon, 16 Nov 2026 at 09:41, ЦУР <cur@region.example>\nwrote:\n> ok",
            "Не починили.",
        ),
        ("Лифт снова стоит.\n\n16.11.2026, 9:41, ЦУР пишет:\n> Лифт исправен", "Лифт снова стоит."),
        (
            "Ответ не получен.\n\nFrom: ЦУР\nSent: Monday\nTo: me\nSubject: Re",
            "Ответ не получен.",
        ),
        ("Вопрос 1\n> цитата\nВопрос 2", "Вопрос 1\nВопрос 2"),
        ("Текст\n-- \nИван Петров, тел. 123", "Текст"),
        ("От: жильцов дома 5\nПросим убрать снег", "От: жильцов дома 5\nПросим убрать снег"),
    ],
)
def test_quoted_replies_are_cut(letter: str, kept: str) -> None:
    assert strip_quoted_reply(letter) == kept


def test_mailbox_names_in_modified_utf7() -> None:
    assert imap_utf7("INBOX") == "INBOX"
    assert imap_utf7("Обращения") == "&BB4EMQRABDAESQQ1BD0EOARP-"
    assert imap_utf7("A & B") == '"A &- B"'


# IMAP and SMTP ----------------------------------------------------------------------------
def test_collect_by_uid_from_a_real_imap_server(
    sqlite_engine: tsur.Engine, imap_server: int
) -> None:
    box = "Обращения граждан"  # a non-ASCII name with a space: modified UTF-7, quoted
    letters = [payload("email_ru_utf8_base64.eml"), payload("email_ru_multipart_qp.eml")]
    mailbox(imap_server, box, [*letters, appeal_letter(1)])
    opts = {
        "host": "127.0.0.1",
        "port": imap_server,
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        "mailbox": box,
        "batch": 2,
    }
    first = collect_with(sqlite_engine, "mail", **opts)
    assert (first.pages, first.inserted) == (2, 3)
    cursor = sqlite_engine.repository.get_cursor("mail") or ""
    validity, _, last = cursor.partition(":")
    assert validity.isdigit() and int(last) > 0
    stored = {sm.message.external_id: sm.message for sm in sqlite_engine.repository.messages()}
    assert stored["appeal-1@example.ru"].author == tsur.Author(
        "anna@example.ru", "Анна Смирнова", "anna@example.ru"
    )
    # a new process reads nothing again; a new letter is the only one read
    again = collect_with(sqlite_engine, "mail", **opts)
    assert (again.fetched, again.inserted) == (0, 0)
    mailbox_append(imap_server, box, appeal_letter(2))
    more = collect_with(sqlite_engine, "mail", **opts)
    assert (more.fetched, more.inserted) == (1, 1)
    # read-only collection: nothing was marked as seen
    conn = imaplib.IMAP4("127.0.0.1", imap_server)
    conn.login(USER, PASSWORD)
    conn.select(imap_utf7(box), readonly=True)
    typ, data = conn.uid("SEARCH", "SEEN")
    conn.logout()
    assert (typ, data[0]) == ("OK", b"")


def mailbox_append(port: int, name: str, raw: bytes) -> None:
    conn = imaplib.IMAP4("127.0.0.1", port)
    conn.login(USER, PASSWORD)
    conn.append(imap_utf7(name), None, None, raw)
    conn.logout()


def test_wrong_password_is_a_clear_error(
    adapters_region: tsur.RegionConfig, imap_server: int
) -> None:
    a = mail(
        adapters_region,
        host="127.0.0.1",
        port=imap_server,
        security="none",
        username=USER,
        password="wrong",
    )
    with pytest.raises(tsur.AdapterError, match=r"IMAP 127.0.0.1: error: .*") as err:
        a.fetch(None)
    assert not err.value.retryable


def test_answer_by_smtp_in_the_same_thread(
    sqlite_engine: tsur.Engine, smtp_server: tuple[int, Inbox]
) -> None:
    port, inbox = smtp_server
    letters = [payload("email_ru_utf8_base64.eml"), appeal_letter(7)]
    report = sqlite_engine.ingest(
        [m for raw in letters for m in mail(sqlite_engine.config).parse(raw)]
    )
    assert report.inserted == 2
    sqlite_engine.run()
    by_ext = {sm.message.external_id: sm for sm in sqlite_engine.repository.messages(limit=10)}
    adapter = adapter_for(
        sqlite_engine,
        "mail",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        from_address="cur@region.example",
        from_name="ЦУР Тестовой области",
        now=lambda: datetime(2026, 11, 16, 10, 0, tzinfo=UTC),
    )
    for ext in (
        "CAE8KSLzgpmdDBfoP21vUX4LOYL6H_BhS=aOgT2RXz4da1Cyd+Q@mail.gmail.com",
        "appeal-7@example.ru",
    ):
        incident = by_ext[ext].incident_id
        assert incident is not None
        text = "Здравствуйте! Обращение передано в управляющую компанию, срок — 18 ноября."
        sent = adapter.reply(tsur.Reply(incident, "mail", text, "intermediate", in_reply_to=ext))
        assert sent is not None and sent.endswith("@region.example")
    first, second = inbox.envelopes
    assert first.mail_from == "cur@region.example"
    # the letter's Reply-To (sender.reply@…) is anyone's to write: the answer goes to From
    assert first.rcpt_tos == ["sender@example.com"]
    letter = BytesParser(policy=policy.default).parsebytes(first.content)
    assert letter["Subject"] == "Re: Добрый день"
    original = "<CAE8KSLzgpmdDBfoP21vUX4LOYL6H_BhS=aOgT2RXz4da1Cyd+Q@mail.gmail.com>"
    assert str(letter["In-Reply-To"]).strip() == original  # long ids are folded on the wire
    assert str(letter["References"]).strip() == original
    assert str(letter["From"]) == "ЦУР Тестовой области <cur@region.example>"
    assert letter["Date"] == "Mon, 16 Nov 2026 10:00:00 +0000"
    assert letter.get_content().strip() == text
    reply = BytesParser(policy=policy.default).parsebytes(second.content)
    assert second.rcpt_tos == ["anna@example.ru"]
    assert reply["Subject"] == "Re: Не вывозят мусор (№7)"  # not «Re: Re:»
    assert str(reply["References"]).strip() == (
        "<first-0@example.ru> <answer-0@region.example> <appeal-7@example.ru>"
    )
    lost = tsur.Reply(999, "mail", text, "final", in_reply_to="nowhere@x")
    with pytest.raises(tsur.AdapterError, match="letter 'nowhere@x' not found"):
        adapter.reply(lost)
