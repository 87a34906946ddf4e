"""E-mail: letters collected over IMAP, answers sent over SMTP in the same thread (kind ``email``).

Collecting reads the mailbox read-only (``EXAMINE``; bodies with
``BODY.PEEK[]``, so nothing is marked read) by UID. The cursor is
``"<UIDVALIDITY>:<last UID>"``; when the server's UIDVALIDITY changes the
mailbox is read again from the start, which is harmless since a letter's
id is its ``Message-ID``. Letters are decoded with the standard library
(RFC 2047 headers, multipart, quoted-printable and base64 bodies, any
charset); an HTML-only letter is turned into text; quoted earlier letters
and phone footers are cut off; attachments keep their names and types.

Answers go by SMTP to the letter's ``From`` address — never to a
``Reply-To`` (anyone can write one; it is kept in ``meta`` for a curator)
— with ``Subject: Re: …``, ``In-Reply-To`` and ``References``, so the
citizen's mail program shows them in the same thread. With
``trusted_authserv_ids`` (the name the receiving mail server gives itself
in ``Authentication-Results``) the sender is checked by that server's SPF,
DKIM and DMARC results: the outcome is kept in the message's
``meta["email_sender"]``, and a letter whose sender is not verified gets
no answer by e-mail (the reply fails with the reason). The original letter
is read from the repository: build the adapter with
``repository=engine.repository`` (:func:`~tsur.adapters.make_adapter` does).

IMAP and SMTP over TLS verify the server's certificate and name against
the system's CAs, or only against ``ca_file`` when it is given; a server
that cannot prove its name gets no password.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, tzinfo
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, make_msgid, parsedate_to_datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from tsur.context import Context
from tsur.domain import Attachment, Author, FetchResult, Message, Reply
from tsur.errors import AdapterError, ConfigError, PayloadError, TsurError
from tsur.wire import check_instant

from ._base import AdapterOptions, BaseAdapter, secret
from ._http import RetryPolicy
from ._mailauth import check_sender
from ._payload import FetchBatch, RejectedItem, refusing
from ._text import html_to_text, strip_quoted_reply, tidy

__all__ = ["MailAdapter", "MailOptions", "imap_utf7", "letter_to_message", "tls_context"]

Security = Literal["ssl", "starttls", "none"]
_PREFIX = re.compile(r"^\s*((re|fwd?|aw|отв|ответ|пересл)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_FETCH_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


class MailOptions(AdapterOptions):
    """Options of an ``email`` source (``[[sources]] options``)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "smtp_password")

    host: str | None = Field(None, description="IMAP server")
    port: int | None = Field(None, description="IMAP port (993 with ssl, 143 otherwise)")
    security: Security = Field("ssl", description="IMAP: ssl, starttls or none")
    username: str | None = Field(None, description="mailbox login")
    password: SecretStr | None = Field(None, description="mailbox password")
    mailbox: str = Field("INBOX", description="folder to read (any language)")
    batch: int = Field(50, ge=1, le=500, description="letters per fetch")
    smtp_host: str | None = Field(None, description="SMTP server for answers")
    smtp_port: int | None = Field(None, description="SMTP port (465 ssl, 587 starttls, 25)")
    smtp_security: Security = Field("starttls", description="SMTP: ssl, starttls or none")
    smtp_username: str | None = Field(None, description="SMTP login (default: username)")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (default: password)")
    from_address: str | None = Field(None, description="sender address of answers")
    from_name: str | None = Field(None, description="sender name of answers")
    strip_quotes: bool = Field(True, description="cut quoted earlier letters off the text")
    timeout: float = Field(30.0, gt=0, description="seconds per network operation")
    ca_file: str | None = Field(
        None, description="PEM file of the CAs the IMAP and SMTP servers are verified with"
    )
    trusted_authserv_ids: list[str] = Field(
        default_factory=list,
        description="authserv-ids of Authentication-Results to trust (the receiving server's)",
    )


def imap_utf7(name: str) -> str:
    """A mailbox name in IMAP's modified UTF-7 (RFC 3501 5.1.3), quoted when needed."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            raw = "".join(buf).encode("utf-16-be")
            out.append(
                "&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-"
            )
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    encoded = "".join(out)
    if re.search(r'[\s"(){%*\\]', encoded):
        encoded = '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return encoded


def _msgid(value: Any) -> str | None:
    text = str(value or "").strip()
    m = re.search(r"<([^<>]+)>", text)
    return (m.group(1) if m else text) or None


def _ids(value: Any) -> list[str]:
    return re.findall(r"<([^<>]+)>", str(value or ""))


def _decoded(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AssertionError):  # unknown, lying or NUL-laden charset
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        return raw.decode("utf-8", errors="replace")


def letter_to_message(
    raw: bytes,
    *,
    source: str,
    tz: tzinfo = UTC,
    strip_quotes: bool = True,
    received_at: datetime | None = None,
    trusted_authserv_ids: Sequence[str] = (),
) -> Message:
    """One RFC 5322 letter as a message (raises :class:`PayloadError` when unreadable).

    With ``trusted_authserv_ids`` its ``meta["email_sender"]`` says whether
    the ``From`` address is verified (:func:`~tsur.adapters._mailauth.check_sender`).
    Whatever a broken letter provokes in the standard library's header
    and body parsers (``IndexError``, ``AttributeError``, a lying charset …)
    is refused with a reason, and so is a date outside 1970–2100.
    """
    try:
        return _letter(
            raw,
            source=source,
            tz=tz,
            strip_quotes=strip_quotes,
            received_at=received_at,
            trusted_authserv_ids=trusted_authserv_ids,
        )
    except TsurError:
        raise
    except Exception as exc:
        raise PayloadError(
            f"unreadable letter ({type(exc).__name__}: {str(exc)[:200]})", source=source, raw=raw
        ) from exc


def _letter(
    raw: bytes,
    *,
    source: str,
    tz: tzinfo,
    strip_quotes: bool,
    received_at: datetime | None,
    trusted_authserv_ids: Sequence[str],
) -> Message:
    if not raw.strip():
        raise PayloadError("empty letter", source=source)
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(msg, EmailMessage) or (not msg.keys() and not msg.get_payload()):
        raise PayloadError("not an e-mail message (no headers)", source=source, raw=raw)
    _check_headers(msg, source=source, raw=raw)
    mid = _msgid(msg.get("Message-ID"))
    if mid is None:
        mid = "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
    subject = tidy(str(msg.get("Subject") or ""))
    created = None
    date_header = msg.get("Date")
    if date_header is not None:
        created = getattr(date_header, "datetime", None)
    created = created or received_at
    if created is None:
        raise PayloadError(f"letter {mid}: no readable Date header", source=source, raw=raw)
    if created.utcoffset() is None:
        created = created.replace(tzinfo=tz)
    try:
        created = check_instant(created, what="the Date header")
    except ValueError as exc:
        raise PayloadError(f"letter {mid}: {exc}", source=source, raw=raw) from None
    sender = _first_address(msg.get("From"))
    reply_to = _first_address(msg.get("Reply-To"))
    body_part = msg.get_body(preferencelist=("plain", "html"))
    body = ""
    if isinstance(body_part, EmailMessage):
        content = _decoded(body_part)
        body = html_to_text(content) if body_part.get_content_subtype() == "html" else content
    body = strip_quoted_reply(body) if strip_quotes else tidy(body)
    topic_line = _PREFIX.sub("", subject).strip()
    text = body
    if topic_line and topic_line.lower() not in body.lower():
        text = f"{topic_line}\n\n{body}".strip()
    attachments = []
    for part in msg.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        mime = part.get_content_type()
        kind = "photo" if mime.startswith("image/") else "file"
        attachments.append(Attachment(kind, None, part.get_filename(), mime))
    refs = _ids(msg.get("References"))
    parent = _msgid(msg.get("In-Reply-To"))
    meta: dict[str, Any] = {"email_subject": subject}
    if reply_to and reply_to[1] != (sender[1] if sender else None):
        meta["email_reply_to"] = reply_to[1]
    if refs:
        meta["email_references"] = refs
    if trusted_authserv_ids:
        results = msg.get_all("Authentication-Results") or []
        meta["email_sender"] = check_sender(
            results, sender[1] if sender else None, trusted_authserv_ids
        )
    return Message(
        source=source,
        external_id=mid,
        text=text,
        created_at=created,
        author=Author(sender[1], sender[0] or None, sender[1]) if sender else None,
        attachments=attachments,
        thread_id=refs[0] if refs else parent,
        parent_id=parent,
        meta=meta,
    )


def _check_headers(msg: EmailMessage, *, source: str, raw: bytes) -> None:
    """Read every header once: one the standard library cannot parse is named."""
    for name in msg:
        try:
            for value in msg.get_all(name) or ():
                str(value)
                for attr in ("addresses", "datetime", "params"):
                    getattr(value, attr, None)
        except Exception as exc:
            raise PayloadError(
                f"unreadable {name} header: {type(exc).__name__}: {str(exc)[:200]}",
                source=source,
                raw=raw,
            ) from exc


def _first_address(header: Any) -> tuple[str, str] | None:
    addresses = getattr(header, "addresses", ()) if header is not None else ()
    for a in addresses:
        if a.addr_spec and a.addr_spec != "<>":
            return (a.display_name, a.addr_spec)
    return None


class MailAdapter(BaseAdapter):
    """Letters in over IMAP, answers out over SMTP (source kind ``email``)."""

    kind: ClassVar[str] = "email"
    options_model: ClassVar[type[AdapterOptions]] = MailOptions
    opts: MailOptions

    def __init__(
        self,
        source: Any,
        context: Context | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], datetime] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(source, context)
        #: where the original letters are read from to answer them
        self.repository = context.repository if context is not None else None
        self.retry = retry or (RetryPolicy(sleep=sleep) if sleep else RetryPolicy())
        self.now = now or (context.clock if context is not None else lambda: datetime.now(UTC))
        #: verifies the servers' certificates: the system's CAs, or only ``ca_file``'s
        self.ssl_context = ssl_context or tls_context(self.opts.ca_file, source=source.id)
        self._conn: imaplib.IMAP4 | None = None

    # parse ------------------------------------------------------------------
    @refusing("letter")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """The message of one letter (an ``.eml`` file's bytes)."""
        if isinstance(payload, Mapping):
            raise PayloadError("a letter is bytes, not an object", source=self.source.id)
        raw = payload.encode("utf-8") if isinstance(payload, str) else payload
        return [
            letter_to_message(
                raw,
                source=self.source.id,
                tz=self.tz,
                strip_quotes=self.opts.strip_quotes,
                trusted_authserv_ids=self.opts.trusted_authserv_ids,
            )
        ]

    # IMAP -------------------------------------------------------------------
    def _fail(self, what: str, exc: Exception) -> AdapterError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return AdapterError(
                f"{what}: the server's TLS certificate cannot be trusted ({exc.verify_message}); "
                "nothing was sent to it. If the server has its own CA, give its PEM file "
                "as options.ca_file",
                source=self.source.id,
            )
        retryable = isinstance(exc, OSError | imaplib.IMAP4.abort | smtplib.SMTPServerDisconnected)
        return AdapterError(
            f"{what}: {type(exc).__name__}: {exc}", source=self.source.id, retryable=retryable
        )

    def _connect(self) -> imaplib.IMAP4:
        o = self.opts
        if not o.host or not o.username or o.password is None:
            raise AdapterError(
                "an email source needs options.host, username and password to collect",
                source=self.source.id,
            )
        conn: imaplib.IMAP4 | None = None
        try:
            if o.security == "ssl":
                conn = imaplib.IMAP4_SSL(
                    o.host, o.port or 993, ssl_context=self.ssl_context, timeout=o.timeout
                )
            else:
                conn = imaplib.IMAP4(o.host, o.port or 143, timeout=o.timeout)
                if o.security == "starttls":
                    conn.starttls(ssl_context=self.ssl_context)
            conn.login(o.username, secret(o.password) or "")
        except (OSError, imaplib.IMAP4.error) as exc:
            if conn is not None:
                with suppress(OSError, imaplib.IMAP4.error):
                    conn.shutdown()
            raise self._fail(f"IMAP {o.host}", exc) from exc
        return conn

    @contextmanager
    def _imap(self) -> Iterator[imaplib.IMAP4]:
        """The logged-in connection, kept between fetches; dropped after a failure."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            yield self._conn
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Log out of the IMAP server if connected."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(OSError, imaplib.IMAP4.error):
                conn.logout()

    def fetch(self, cursor: str | None) -> FetchResult:
        """Letters with a UID above the cursor's, ``batch`` at a time."""
        return self.retry.call(lambda: self._fetch(cursor))

    def _fetch(self, cursor: str | None) -> FetchResult:
        validity, last = _cursor(cursor, self.source.id)
        with self._imap() as conn:
            try:
                typ, data = conn.select(imap_utf7(self.opts.mailbox), readonly=True)
                if typ != "OK":
                    raise AdapterError(
                        f"cannot open mailbox {self.opts.mailbox!r}: {_said(data)}",
                        source=self.source.id,
                    )
                current = _said(conn.response("UIDVALIDITY")[1]) or "0"
                if validity is not None and validity != current:
                    last = 0  # the server renumbered the mailbox: read it again
                typ, data = conn.uid("SEARCH", f"UID {last + 1}:*")
                uids = sorted(int(x) for x in _said(data).split() if int(x) > last)
                batch = uids[: self.opts.batch]
                messages: list[Message] = []
                rejected: list[RejectedItem] = []
                if batch:
                    ids = ",".join(str(u) for u in batch)
                    typ, data = conn.uid("FETCH", ids, "(UID INTERNALDATE BODY.PEEK[])")
                    if typ != "OK":
                        raise AdapterError(f"FETCH failed: {_said(data)}", source=self.source.id)
                    for uid, raw, received in _letters(data):
                        try:
                            messages.append(
                                letter_to_message(
                                    raw,
                                    source=self.source.id,
                                    tz=self.tz,
                                    strip_quotes=self.opts.strip_quotes,
                                    received_at=received,
                                    trusted_authserv_ids=self.opts.trusted_authserv_ids,
                                )
                            )
                        except PayloadError as exc:
                            reason = f"{self.opts.mailbox} UID {uid}: {exc}"
                            rejected.append(RejectedItem(exc.raw, reason))
            except (OSError, imaplib.IMAP4.error) as exc:
                raise self._fail("IMAP", exc) from exc
        new_last = batch[-1] if batch else last
        more = len(uids) > len(batch)
        return FetchBatch(messages, f"{current}:{new_last}", more, tuple(rejected))

    # SMTP -------------------------------------------------------------------
    def _original(self, reply: Reply) -> Message:
        if self.repository is None:
            raise AdapterError(
                "answering by e-mail needs the original letter: build the adapter with "
                "repository=engine.repository",
                source=self.source.id,
            )
        for sm in self.repository.messages(incident_id=reply.incident_id, limit=1000):
            m = sm.message
            if m.source == self.source.id and m.external_id == reply.in_reply_to:
                return m
        raise AdapterError(
            f"incident {reply.incident_id}: letter {reply.in_reply_to!r} not found",
            source=self.source.id,
        )

    def compose(self, reply: Reply, original: Message) -> EmailMessage:
        """The answer letter, threaded under ``original``."""
        o = self.opts
        if not o.from_address:
            raise AdapterError("options.from_address is needed to answer", source=self.source.id)
        checked = original.meta.get("email_sender")
        if isinstance(checked, Mapping) and checked.get("verified") is False:
            raise AdapterError(
                f"letter {original.external_id!r}: the sender address is not verified "
                f"({_auth_summary(checked)}): no answer is sent to it",
                source=self.source.id,
            )
        to = original.author.contact if original.author else None  # From, never Reply-To
        if not to:
            raise AdapterError(
                f"letter {original.external_id!r} has no sender address", source=self.source.id
            )
        subject = str(original.meta.get("email_subject") or "")
        if not _PREFIX.match(subject):
            subject = f"Re: {subject}" if subject else "Re: ваше обращение"
        refs = [*original.meta.get("email_references", []), original.external_id]
        letter = EmailMessage(policy=policy.SMTP)
        letter["From"] = formataddr((o.from_name or "", o.from_address))
        letter["To"] = to
        letter["Subject"] = subject
        letter["Date"] = format_datetime(self.now())
        letter["Message-ID"] = make_msgid(domain=o.from_address.rpartition("@")[2] or None)
        letter["In-Reply-To"] = f"<{original.external_id}>"
        letter["References"] = " ".join(f"<{r}>" for r in refs)
        letter["X-Tsur-Incident"] = str(reply.incident_id)
        letter.set_content(reply.text)
        return letter

    def reply(self, reply: Reply) -> str | None:
        """Send the answer by SMTP in the letter's thread; returns its Message-ID."""
        if not reply.in_reply_to:
            raise AdapterError(
                f"incident {reply.incident_id}: no letter to answer", source=self.source.id
            )
        letter = self.compose(reply, self._original(reply))
        self.retry.call(lambda: self._send(letter))
        return _msgid(letter["Message-ID"])

    def _send(self, letter: EmailMessage) -> None:
        o = self.opts
        if not o.smtp_host:
            raise AdapterError("options.smtp_host is needed to answer", source=self.source.id)
        user = o.smtp_username or o.username
        password = secret(o.smtp_password) or secret(o.password)
        try:
            smtp: smtplib.SMTP
            if o.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    o.smtp_host, o.smtp_port or 465, timeout=o.timeout, context=self.ssl_context
                )
            else:
                smtp = smtplib.SMTP(o.smtp_host, o.smtp_port or 587, timeout=o.timeout)
            with smtp:
                if o.smtp_security == "starttls":
                    smtp.starttls(context=self.ssl_context)
                if user and password:
                    smtp.login(user, password)
                smtp.send_message(letter)
        except smtplib.SMTPRecipientsRefused as exc:
            raise AdapterError(
                f"SMTP refused the recipient: {exc.recipients}", source=self.source.id
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise self._fail(f"SMTP {o.smtp_host}", exc) from exc


def tls_context(ca_file: str | None = None, *, source: str | None = None) -> ssl.SSLContext:
    """A client TLS context that verifies the server's certificate and host name:
    against the system's CAs, or only those in ``ca_file``."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"source {source!r}: options.ca_file {ca_file!r} cannot be read: {exc}"
        ) from exc


def _auth_summary(checked: Mapping[str, Any]) -> str:
    parts = [f"{k}={checked[k]}" for k in ("dmarc", "dkim", "spf") if checked.get(k)]
    if checked.get("authserv_id"):
        parts.insert(0, str(checked["authserv_id"]))
    return ", ".join(parts) or str(checked.get("reason") or "no result")


def _said(data: Any) -> str:
    if isinstance(data, list | tuple):
        data = data[0] if data else b""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")


def _cursor(cursor: str | None, source: str) -> tuple[str | None, int]:
    if not cursor:
        return None, 0
    validity, sep, last = cursor.partition(":")
    if not sep or not last.isdigit():
        raise AdapterError(f"unreadable e-mail cursor {cursor!r}", source=source)
    return validity, int(last)


def _letters(data: list[Any]) -> Iterator[tuple[int, bytes, datetime | None]]:
    for item in data:
        if not isinstance(item, tuple) or len(item) < 2:
            continue
        head, raw = item[0], item[1]
        m = _FETCH_UID.search(head)
        if m is None:
            continue
        received = None
        d = _INTERNALDATE.search(head)
        if d is not None:
            try:
                received = parsedate_to_datetime(_internaldate(d.group(1).decode()))
            except (TypeError, ValueError):
                received = None
        yield int(m.group(1)), raw, received


def _internaldate(value: str) -> str:
    # "17-Jul-1996 02:44:25 -0700" → RFC 2822 "17 Jul 1996 02:44:25 -0700"
    return value.strip().replace("-", " ", 2)
