"""Attacks on e-mail, kept as tests: a man in the middle with a self-signed
certificate gets no mailbox or SMTP password; a forged letter's Reply-To gets
no official answer; a sender the receiving server could not verify gets none.

The TLS servers are tiny IMAP and SMTP dialogues over :mod:`ssl` in a thread,
with certificates made by ``openssl`` for this test: one server certificate
signed by a throwaway CA, which a client trusts only when told to
(``ca_file``).
"""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tsur
from tests.test_adapters_common import adapter_for, build
from tests.test_lifecycle_notifiers import REGION, note
from tsur.adapters._mailauth import check_sender, parse_authentication_results
from tsur.adapters.mail import MailAdapter
from tsur.default_plugins.notifiers import SmtpNotifier, build_notifier
from tsur.errors import ConfigError, NotifierError

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests

PASSWORD = "mailbox-password-1"


# certificates -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed (ca.pem, server.pem, server.key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=tsur test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


# tiny servers -----------------------------------------------------------------------
class Dialogue(threading.Thread):
    """An IMAP or SMTP server for one test: TLS from the start (``implicit``) or after
    STARTTLS; it records the commands it was sent (passwords included)."""

    def __init__(self, certs: dict[str, Path], protocol: str, *, implicit: bool) -> None:
        super().__init__(daemon=True)
        self.protocol, self.implicit = protocol, implicit
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs["cert"], certs["key"])
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.heard: list[str] = []
        self.handshake_errors: list[str] = []
        self.wrapped: list[ssl.SSLSocket] = []

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with conn:
                    self.serve(conn)
            except (ssl.SSLError, OSError) as exc:
                self.handshake_errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                for sock in self.wrapped:
                    sock.close()
                self.wrapped.clear()

    def stop(self) -> None:
        self.sock.close()

    def wrap(self, sock: socket.socket) -> ssl.SSLSocket:
        tls = self.ctx.wrap_socket(sock, server_side=True)
        self.wrapped.append(tls)
        return tls

    def serve(self, conn: socket.socket) -> None:
        sock: Any = self.wrap(conn) if self.implicit else conn
        tls = self.implicit
        f = sock.makefile("rwb")

        def say(*lines: str) -> None:
            f.write("".join(line + "\r\n" for line in lines).encode())
            f.flush()

        say("* OK [CAPABILITY IMAP4rev1] ready" if self.protocol == "imap" else "220 fake ESMTP")
        while True:
            line = f.readline().decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return
            self.heard.append(line)
            if self.protocol == "imap":
                tag, _, rest = line.partition(" ")
                cmd = rest.split(" ", 1)[0].upper()
                if cmd == "CAPABILITY":
                    caps = "IMAP4rev1" + ("" if tls else " STARTTLS")
                    say(f"* CAPABILITY {caps}", f"{tag} OK done")
                elif cmd == "STARTTLS":
                    say(f"{tag} OK begin TLS")
                    f.close()
                    sock = self.wrap(sock)
                    f, tls = sock.makefile("rwb"), True
                elif cmd == "LOGIN":
                    say(f"{tag} OK logged in")
                elif cmd in ("EXAMINE", "SELECT"):
                    say("* 0 EXISTS", "* OK [UIDVALIDITY 7] ok", f"{tag} OK [READ-ONLY] done")
                elif cmd == "UID":
                    say("* SEARCH", f"{tag} OK done")
                elif cmd == "LOGOUT":
                    say("* BYE", f"{tag} OK bye")
                    return
                else:
                    say(f"{tag} BAD unknown")
                continue
            cmd = line.split(" ", 1)[0].upper()
            if cmd in ("EHLO", "HELO"):
                say("250-fake", "250 AUTH PLAIN" if tls else "250 STARTTLS")
            elif cmd == "STARTTLS":
                say("220 go ahead")
                f.close()
                sock = self.wrap(sock)
                f, tls = sock.makefile("rwb"), True
            elif cmd == "AUTH":
                say("235 accepted")
            elif cmd == "DATA":
                say("354 go on")
                while f.readline().rstrip(b"\r\n") != b".":
                    pass
                say("250 queued")
            elif cmd == "QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")

    def passwords(self) -> list[str]:
        """What the client logged in with (IMAP LOGIN, SMTP AUTH PLAIN)."""
        found = []
        for line in self.heard:
            parts = line.split(" ")
            if len(parts) >= 4 and parts[1].upper() == "LOGIN":
                found.append(parts[3].strip('"'))
            if len(parts) >= 3 and parts[0].upper() == "AUTH":
                found.append(base64.b64decode(parts[2]).split(b"\0")[-1].decode())
        return found


@pytest.fixture
def serve(certs: dict[str, Path]) -> Iterator[Any]:
    started: list[Dialogue] = []

    def start(protocol: str, *, implicit: bool) -> Dialogue:
        server = Dialogue(certs, protocol, implicit=implicit)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# IMAP -------------------------------------------------------------------------------
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_refuses_a_server_it_cannot_verify_and_sends_no_password(
    adapters_region: tsur.RegionConfig, serve: Any, certs: dict[str, Path], security: str
) -> None:
    server = serve("imap", implicit=security == "ssl")
    options = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": security,
        "username": "cur",
        "password": PASSWORD,
    }
    mitm = build(MailAdapter, adapters_region, "mail", **options)
    with pytest.raises(tsur.AdapterError, match="TLS certificate cannot be trusted") as err:
        mitm.fetch(None)
    assert "options.ca_file" in str(err.value) and not err.value.retryable
    assert server.passwords() == [] and PASSWORD not in " ".join(server.heard)

    trusted = build(MailAdapter, adapters_region, "mail", ca_file=str(certs["ca"]), **options)
    result = trusted.fetch(None)
    trusted.close()
    assert (list(result.messages), result.cursor) == ([], "7:0")
    assert server.passwords() == [PASSWORD]


def test_a_ca_file_that_cannot_be_read_is_a_config_error(
    adapters_region: tsur.RegionConfig, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"options\.ca_file"):
        build(MailAdapter, adapters_region, "mail", ca_file=str(tmp_path / "none.pem"))


# SMTP -------------------------------------------------------------------------------
def test_smtp_notifier_defaults_to_587_with_starttls_required(
    serve: Any, certs: dict[str, Path]
) -> None:
    default = build_notifier({"name": "m", "kind": "smtp", "host": "h", "sender": "s@e.ru"}, REGION)
    assert isinstance(default, SmtpNotifier)
    assert (default.port, default.starttls, default.ssl) == (587, True, False)
    server = serve("smtp", implicit=False)
    kw: dict[str, Any] = {"host": "127.0.0.1", "port": server.port, "sender": "robot@example.ru"}
    mitm = SmtpNotifier(REGION, username="robot", password=PASSWORD, **kw)
    with pytest.raises(NotifierError, match="TLS certificate cannot be trusted") as err:
        mitm.notify(note())
    assert not err.value.retryable
    assert server.passwords() == []
    ok = SmtpNotifier(REGION, username="robot", password=PASSWORD, ca_file=str(certs["ca"]), **kw)
    ok.notify(note())
    assert server.passwords() == [PASSWORD]
    assert recipients(server) == ["cur@example.ru", "adm-sela@example.ru"]


def test_smtp_notifier_never_logs_in_over_a_plain_connection() -> None:
    with pytest.raises(ConfigError, match="password in clear"):
        SmtpNotifier(REGION, host="h", sender="s@e.ru", starttls=False, username="u")
    with pytest.raises(ConfigError, match="password in clear"):
        build_notifier(
            {"name": "m", "kind": "smtp", "host": "h", "sender": "s@e.ru", "starttls": False,
             "username": "u"},
            REGION,
        )  # fmt: skip


def test_smtp_notifier_with_implicit_tls(serve: Any, certs: dict[str, Path]) -> None:
    server = serve("smtp", implicit=True)
    kw: dict[str, Any] = {"host": "127.0.0.1", "port": server.port, "sender": "r@example.ru"}
    with pytest.raises(NotifierError, match="TLS certificate cannot be trusted"):
        SmtpNotifier(REGION, ssl=True, username="r", password=PASSWORD, **kw).notify(note())
    assert server.passwords() == []
    SmtpNotifier(
        REGION, ssl=True, username="r", password=PASSWORD, ca_file=str(certs["ca"]), **kw
    ).notify(note())
    assert server.passwords() == [PASSWORD]


def letter(*, reply_to: str | None = None, auth: tuple[str, ...] | list[str] = ()) -> bytes:
    msg = EmailMessage()
    for value in auth:
        msg["Authentication-Results"] = value
    msg["From"] = "Анна Смирнова <anna@example.ru>"
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["To"] = "cur@region.example"
    msg["Subject"] = "В Тольятти не вывозят мусор"
    msg["Date"] = "Mon, 16 Nov 2026 09:41:00 +0400"
    msg["Message-ID"] = "<letter-1@example.ru>"
    msg.set_content("Во дворе дома 5 по ул. Ленина в Тольятти третий день не вывозят мусор.")
    return msg.as_bytes()


def answer(
    engine: tsur.Engine, raw: bytes, server: Any, certs: dict[str, Path] | None, **kw: Any
) -> Any:
    """Ingest ``raw``, process it, answer it through ``server`` over SMTP with TLS
    (trusting the test CA when ``certs`` are given, else the system's CAs only)."""
    mail = adapter_for(engine, "mail", **kw)
    [m] = mail.parse(raw)
    engine.ingest([m])
    engine.run()
    [stored] = [s for s in engine.repository.messages() if s.message.external_id == m.external_id]
    adapter = adapter_for(
        engine,
        "mail",
        smtp_host="127.0.0.1",
        smtp_port=server.port,
        smtp_security="ssl",
        smtp_username="cur",
        smtp_password=PASSWORD,
        from_address="cur@region.example",
        ca_file=str(certs["ca"]) if certs else None,
        **kw,
    )
    reply = tsur.Reply(stored.incident_id, "mail", "Ответ ЦУР", "final", in_reply_to=m.external_id)
    return adapter.reply(reply), stored.message


def recipients(server: Any) -> list[str]:
    rcpt = "RCPT TO:"
    return [x[len(rcpt) :].strip("<>") for x in server.heard if x.upper().startswith(rcpt)]


def test_the_answer_goes_to_from_never_to_a_forged_reply_to(
    sqlite_engine: tsur.Engine, serve: Any, certs: dict[str, Path]
) -> None:
    server = serve("smtp", implicit=True)
    raw = letter(reply_to="attacker@evil.example")
    sent, message = answer(sqlite_engine, raw, server, certs)
    assert sent is not None
    assert recipients(server) == ["anna@example.ru"]
    assert message.meta["email_reply_to"] == "attacker@evil.example"  # kept for a curator


def test_answers_are_not_sent_through_a_server_that_cannot_prove_its_name(
    sqlite_engine: tsur.Engine, serve: Any
) -> None:
    server = serve("smtp", implicit=True)
    with pytest.raises(tsur.AdapterError, match="TLS certificate cannot be trusted") as err:
        answer(sqlite_engine, letter(), server, None)  # the system's CAs only
    assert not err.value.retryable
    assert server.passwords() == [] and recipients(server) == []


TRUSTED = {"trusted_authserv_ids": ["mx.region.example"]}


@pytest.mark.parametrize(
    ("results", "verified"),
    [
        (["mx.region.example; dmarc=pass header.from=example.ru"], True),
        (["mx.region.example; dkim=pass header.d=example.ru; spf=fail"], True),
        (["mx.region.example; spf=pass smtp.mailfrom=anna@example.ru"], True),
        (["mx.region.example; dmarc=fail header.from=example.ru; dkim=pass header.d=example.ru"],
         False),
        (["mx.region.example; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=evil.ru"],
         False),
        (["mx.region.example; dkim=pass header.d=ru"], False),
        (["mx.region.example; dkim=pass header.d=mail.example.ru"], False),
        (["mx.region.example; spf=softfail smtp.mailfrom=example.ru; dkim=none"], False),
        (["mx.region.example; none"], False),
        # a header forged by the sender names another server: not read
        (["evil.example; dmarc=pass header.from=example.ru"], False),
        # the receiving server's own header is the topmost one
        (["mx.region.example; dmarc=fail", "mx.region.example; dmarc=pass"], False),
        ([], False),
    ],
)  # fmt: skip
def test_an_answer_goes_only_to_a_sender_the_trusted_server_verified(
    sqlite_engine: tsur.Engine,
    serve: Any,
    certs: dict[str, Path],
    results: list[str],
    verified: bool,
) -> None:
    server = serve("smtp", implicit=True)
    raw = letter(auth=results, reply_to="attacker@evil.example")
    if verified:
        sent, message = answer(sqlite_engine, raw, server, certs, **TRUSTED)
        assert sent is not None and recipients(server) == ["anna@example.ru"]
    else:
        with pytest.raises(tsur.AdapterError, match="sender address is not verified"):
            answer(sqlite_engine, raw, server, certs, **TRUSTED)
        assert recipients(server) == []
        [stored] = sqlite_engine.repository.messages()
        message = stored.message
    assert message.meta["email_sender"]["verified"] is verified  # recorded with the letter


def test_without_a_trusted_server_nothing_is_claimed(adapters_region: tsur.RegionConfig) -> None:
    raw = letter(auth=["mx.region.example; dmarc=pass"])
    [m] = build(MailAdapter, adapters_region, "mail").parse(raw)
    assert "email_sender" not in m.meta


def test_authentication_results_are_read_as_rfc_8601_writes_them() -> None:
    value = (
        'mx.region.example (Postfix 3.8);\r\n\tdkim=pass (2048-bit key) reason="ok"'
        " header.d=example.ru header.s=mail;\r\n\tspf=pass (sender SPF authorized)"
        " smtp.mailfrom=anna@example.ru; dmarc=pass (p=reject dis=none) header.from=example.ru"
    )
    authserv, results = parse_authentication_results(value)
    assert authserv == "mx.region.example"
    assert [(r["method"], r["result"]) for r in results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    assert results[0]["header.d"] == "example.ru" and results[0]["reason"] == "ok"
    assert check_sender([value], "anna@Example.RU", ["MX.region.example"])["verified"] is True


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.sampled_from(["a@example.ru", "", "@", "x@y@z"]))
def test_hostile_authentication_results_never_crash(value: str, sender: str) -> None:
    authserv, results = parse_authentication_results(value)
    assert isinstance(authserv, str) and isinstance(results, list)
    assert check_sender([value], sender, ["mx"])["verified"] in (True, False)


def test_authentication_results_take_linear_time() -> None:
    """Relative timing guard: hostile text no slower than normal text of the same length."""
    import time

    hostile = ("a=" * 20_000 + "(" * 5_000 + "b" + ")" * 5_000 + ";" + 'x="' * 3_000)[:60_000]
    normal = ("mx; dkim=pass header.d=example.ru; " * 2_000)[:60_000]

    def took(value: str) -> float:
        start = time.perf_counter()
        for _ in range(5):
            parse_authentication_results(value)
        return time.perf_counter() - start

    assert took(hostile) < 20 * took(normal) + 0.05
