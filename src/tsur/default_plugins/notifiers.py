"""Built-in notifiers: a log line, e-mail over SMTP, a JSON webhook over HTTP.

``log`` is always registered: it logs each notification's kind, incident
and recipients (logger ``tsur.notify``; the text stays in the outbox, since
it quotes citizens). The region's ``[[notifiers]]`` entries add SMTP and
webhook notifiers (:class:`NotifierSpec`). From code, register them like
any component::

    from tsur.default_plugins.notifiers import SmtpNotifier, WebhookNotifier, notifier_plugin

    plugin = notifier_plugin(
        mail=SmtpNotifier(region, host="smtp.example.ru", port=587, sender="cur@example.ru",
                          starttls=True, kinds=["escalated", "warning", "reply_failed"]),
        hook=WebhookNotifier("https://hooks.example.ru/tsur", secret="…"),
    )
    engine = tsur.Engine(config, repository, plugins=[plugin])

A failing delivery raises :class:`~tsur.errors.NotifierError` (with the
cause chained); the engine logs it and keeps the error with the
notification.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl as _ssl
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx
from pydantic import ValidationError

from tsur.config import NotifierConfig as NotifierSpec
from tsur.config import validation_problems
from tsur.context import Context
from tsur.domain import Notification
from tsur.errors import ConfigError, NotifierError
from tsur.hookspecs import hookimpl
from tsur.protocols import Register
from tsur.region import Region
from tsur.security import env_secret, sign_request

__all__ = [
    "LogNotifier",
    "NotifierSpec",
    "SmtpNotifier",
    "WebhookNotifier",
    "build_notifier",
    "notification_payload",
    "notifier_plugin",
    "register_notifiers",
]

log = logging.getLogger("tsur.notify")


class LogNotifier:
    """Logs every notification (logger ``tsur.notify``, info): kind, incident, recipients."""

    def notify(self, notification: Notification) -> None:
        """Write one log record."""
        log.info(
            "%s: incident %s to %s",
            notification.kind,
            notification.incident_id,
            ", ".join(notification.recipients) or "nobody",
        )


_TITLES = {
    "routed": "Новое обращение",
    "triage": "Обращение ждёт разбора",
    "warning": "Истекает срок",
    "overdue": "Просрочено",
    "escalated": "Эскалация",
    "reopened": "Возвращено на доработку",
    "forwarded": "Переадресовано",
    "forward_late": "Нарушен срок переадресации",
    "reply_failed": "Ответ не доставлен",
    "low_rating": "Низкая оценка",
    "merged": "Обращения объединены",
}


def notification_payload(n: Notification) -> dict[str, Any]:
    """The JSON body of a notification (what the webhook posts)."""
    return {
        "kind": n.kind,
        "incident_id": n.incident_id,
        "at": n.at.isoformat(),
        "recipients": list(n.recipients),
        "text": n.text,
        "data": dict(n.data),
    }


def _wanted(kinds: frozenset[str], n: Notification) -> bool:
    return not kinds or n.kind in kinds


class SmtpNotifier:
    """E-mails each notification to its recipients' ``contacts.email`` (from the region).

    ``kinds`` limits which notifications are sent (all when empty);
    ``extra_recipients`` get every one (a duty inbox). By default the
    connection goes to port 587 and must be upgraded with STARTTLS (a
    server that does not offer it gets nothing); ``ssl=True`` connects with
    implicit TLS instead (port 465). Either way the server's certificate
    and name are verified, against the system's CAs or only ``ca_file``'s.
    A plain connection (``starttls=False``, for a local relay) never logs
    in: ``username`` with it is a :class:`~tsur.errors.ConfigError`.
    """

    def __init__(
        self,
        region: Region,
        *,
        host: str,
        port: int | None = None,
        sender: str,
        kinds: Iterable[str] = (),
        extra_recipients: Iterable[str] = (),
        starttls: bool = True,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        name: str = "smtp",
        ca_file: str | None = None,
    ) -> None:
        if not host or not sender:
            raise ConfigError("an SMTP notifier needs 'host' and 'sender'")
        if username and not (ssl or starttls):
            raise ConfigError(
                f"notifier {name!r}: a login over a plain connection would send the password "
                "in clear: keep starttls = true or set ssl = true"
            )
        self.ca_file = ca_file
        ssl_context(ca_file)  # a CA file that cannot be read is a mistake to report now
        if port is None:
            port = 465 if ssl else 587
        self.host, self.port, self.sender = host, int(port), sender
        self.kinds = frozenset(kinds)
        self.extra = tuple(extra_recipients)
        self.starttls, self.ssl = starttls, ssl
        self.username, self.password = username, password
        self.timeout = timeout
        self.name = name
        self.emails = {
            e.id: e.contacts["email"] for e in region.executors.values() if e.contacts.get("email")
        }

    def addresses(self, n: Notification) -> list[str]:
        """E-mail addresses for ``n``: its recipients' and the extra ones, without repeats."""
        found = [self.emails[r] for r in n.recipients if r in self.emails]
        return list(dict.fromkeys([*found, *self.extra]))

    def message(self, n: Notification, to: list[str]) -> EmailMessage:
        """The e-mail for ``n``."""
        msg = EmailMessage()
        title = _TITLES.get(n.kind, n.kind)
        msg["Subject"] = f"[ЦУР] {title}: обращение № {n.incident_id}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(to)
        msg["Date"] = formatdate(n.at.timestamp(), localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        msg["X-Tsur-Incident"] = str(n.incident_id)
        msg["X-Tsur-Kind"] = n.kind
        lines = [n.text, "", f"Обращение № {n.incident_id}", f"Время: {n.at.isoformat()}"]
        lines.extend(f"{k}: {v}" for k, v in n.data.items())
        msg.set_content("\n".join(lines))
        return msg

    def notify(self, notification: Notification) -> None:
        """Send one e-mail; nothing when filtered out or nobody has an address."""
        if not _wanted(self.kinds, notification):
            return
        to = self.addresses(notification)
        if not to:
            log.info("%s: no e-mail address for incident %s", self.name, notification.incident_id)
            return
        msg = self.message(notification, to)
        try:
            if self.ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl_context(self.ca_file)
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls and not self.ssl:  # raises when the server offers none
                    client.starttls(context=ssl_context(self.ca_file))
                if self.username:
                    client.login(self.username, self.password or "")
                refused = client.send_message(msg)
        except _ssl.SSLCertVerificationError as exc:
            raise NotifierError(
                f"{self.host}:{self.port}: the server's TLS certificate cannot be trusted "
                f"({exc.verify_message}); nothing was sent. If it has its own CA, give its "
                "PEM file as ca_file",
                notifier=self.name,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise NotifierError(
                f"{self.host}:{self.port} answered {exc.smtp_code}: {exc.smtp_error!r}",
                notifier=self.name,
                retryable=400 <= exc.smtp_code < 500,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifierError(
                f"cannot send mail via {self.host}:{self.port}: {type(exc).__name__}: {exc}",
                notifier=self.name,
                retryable=True,
            ) from exc
        if refused:
            raise NotifierError(f"recipients refused: {sorted(refused)}", notifier=self.name)


def ssl_context(ca_file: str | None = None) -> _ssl.SSLContext:
    """The TLS context used for SMTP: verifies the server's certificate and name
    against the system's CAs, or only those in ``ca_file``."""
    try:
        return _ssl.create_default_context(cafile=ca_file)
    except (OSError, _ssl.SSLError) as exc:
        raise ConfigError(f"ca_file {ca_file!r} cannot be read: {exc}") from exc


class WebhookNotifier:
    """POSTs each notification as JSON to ``url``.

    With a ``secret`` the body is signed as everything tsur posts
    (:mod:`tsur.security`): ``X-Tsur-Timestamp`` (Unix seconds) and
    ``X-Tsur-Signature: sha256=<hex HMAC of "<timestamp>.<body>">``. Pass a
    ``client`` (``httpx.Client``, e.g. with a ``MockTransport`` in tests) to
    control transport and timeouts; otherwise one is created and closed
    with :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        kinds: Iterable[str] = (),
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        name: str = "webhook",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook url {url!r} must start with http:// or https://")
        self.url = url
        self.secret = secret or None
        self.headers = dict(headers or {})
        self.kinds = frozenset(kinds)
        self._own = client is None
        self.client = client or httpx.Client(timeout=timeout)
        self.name = name

    def close(self) -> None:
        """Close the HTTP client if this notifier created it."""
        if self._own:
            self.client.close()

    def notify(self, notification: Notification) -> None:
        """POST the notification; a non-2xx answer or a network error raises."""
        if not _wanted(self.kinds, notification):
            return
        body = json.dumps(notification_payload(notification), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", **self.headers}
        if self.secret is not None:
            headers.update(sign_request(self.secret, body, at=datetime.now(UTC)))
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NotifierError(
                f"POST {self.url}: {type(exc).__name__}: {exc}", notifier=self.name, retryable=True
            ) from exc
        if not response.is_success:
            raise NotifierError(
                f"POST {self.url}: HTTP {response.status_code}: {response.text[:200]}",
                notifier=self.name,
                retryable=response.status_code >= 500 or response.status_code == 429,
            )


def build_notifier(
    spec: NotifierSpec | Mapping[str, Any],
    region: Region,
    *,
    client: httpx.Client | None = None,
) -> SmtpNotifier | WebhookNotifier:
    """A notifier from one ``[[notifiers]]`` entry; :class:`ConfigError` if it is incomplete."""
    try:
        s = spec if isinstance(spec, NotifierSpec) else NotifierSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise ConfigError("invalid notifier", problems=validation_problems(exc)) from None
    where = f"notifiers.{s.name}"
    if s.kind == "smtp":
        if not s.host or not s.sender:
            raise ConfigError(f"{where}: an smtp notifier needs 'host' and 'sender'")
        return SmtpNotifier(
            region,
            host=s.host,
            port=s.port,
            sender=s.sender,
            kinds=s.kinds,
            extra_recipients=s.extra_recipients,
            starttls=s.starttls,
            ssl=s.ssl,
            ca_file=s.ca_file,
            username=s.username,
            password=env_secret(s.password_env, f"{where}.password_env"),
            timeout=s.timeout,
            name=s.name,
        )
    if not s.url:
        raise ConfigError(f"{where}: a webhook notifier needs 'url'")
    return WebhookNotifier(
        s.url,
        secret=env_secret(s.secret_env, f"{where}.secret_env"),
        headers=s.headers,
        kinds=s.kinds,
        client=client,
        timeout=s.timeout,
        name=s.name,
    )


class _NotifierPlugin:
    def __init__(self, notifiers: Mapping[str, Any]) -> None:
        self.notifiers = dict(notifiers)

    @hookimpl
    def register_notifiers(self, register: Register) -> None:
        """Register the notifiers given to :func:`notifier_plugin`."""
        for name, notifier in self.notifiers.items():
            register(name, notifier)


def notifier_plugin(**notifiers: Any) -> object:
    """A plugin object registering ``notifiers`` by name (for ``Engine(plugins=[...])``)."""
    return _NotifierPlugin(notifiers)


@hookimpl
def register_notifiers(register: Register, context: Context) -> None:
    """Register the log notifier and those of the region's ``[[notifiers]]`` section."""
    register("log", LogNotifier())
    for spec in context.config.notifiers:
        notifier = build_notifier(spec, context.region)
        register(notifier.name, notifier)
