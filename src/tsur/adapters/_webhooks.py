"""What an adapter makes of a pushed request (:class:`WebhookPayload`), and how it
verifies pushed requests (:class:`WebhookReceiver`).

Handling a request — verify first, then parse, store, keep what cannot be
read — is :func:`tsur.intake.receive_webhook`'s. An adapter takes pushed
requests only if it is a :class:`WebhookReceiver`; a pull-only adapter (one
without ``verify_webhook``) has no webhook route at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
from pydantic import SecretStr

from tsur.domain import Message
from tsur.errors import WebhookAuthError
from tsur.security import request_secret

__all__ = [
    "WebhookPayload",
    "WebhookReceiver",
    "header",
    "require_json",
    "webhook_secret",
]

log = logging.getLogger("tsur.adapters")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, looked up case-insensitively."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def media_type(headers: Mapping[str, str]) -> str | None:
    """The ``Content-Type`` without its parameters, lower case (None when absent)."""
    value = header(headers, "Content-Type")
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()


def require_json(
    headers: Mapping[str, str], *, source: str | None = None, allow_missing: bool = False
) -> None:
    """Refuse (:class:`~tsur.errors.WebhookAuthError`, status 415) a body not declared
    ``Content-Type: application/json``, so a browser form can never post to a webhook.

    ``allow_missing`` lets a request without the header through (for channels
    that do not document it); a browser form always sends one of its own
    types (``application/x-www-form-urlencoded``, ``multipart/form-data``,
    ``text/plain``), refused either way.
    """
    media = media_type(headers)
    if media == "application/json" or (media is None and allow_missing):
        return
    raise WebhookAuthError(
        f"Content-Type must be application/json, got {media or 'none'!r}",
        source=source,
        status=415,
    )


def webhook_secret(
    value: SecretStr | None,
    env: str | None,
    *,
    insecure: bool,
    key: str,
    source: str | None = None,
) -> str | None:
    """The key a pushed request is verified with, read as the request comes.

    ``value`` is the option ``<key>``, ``env`` the option ``<key>_env`` (an
    environment variable). A named variable that is not set refuses the
    request (:class:`~tsur.errors.WebhookAuthError`, logged by the caller);
    so does a source with neither, unless it says ``insecure = true`` — then
    None, and the request is taken unverified.
    """
    plain = value.get_secret_value() if value is not None else None
    found = request_secret(plain, env, where=f"options.{key}_env", source=source)
    if found is not None:
        return found
    if insecure:
        return None
    raise WebhookAuthError(
        f"no options.{key} (or {key}_env) is set: pushed requests are refused", source=source
    )


@attrs.frozen
class WebhookPayload:
    """What an adapter made of one pushed request.

    ``response`` is the body the channel expects back (VK: ``"ok"`` or the
    confirmation string); ``None`` lets the handler answer with a JSON
    summary. ``events`` are things other than messages (a citizen's rating
    of an answer, a status change) for the caller to act on.
    """

    messages: Sequence[Message] = ()
    response: str | None = None
    events: Sequence[Any] = ()


@runtime_checkable
class WebhookReceiver(Protocol):
    """An adapter that takes pushed requests.

    :func:`tsur.intake.receive_webhook` calls ``verify_webhook`` first, on
    the raw body and headers, before anything is parsed or stored: it must
    raise :class:`~tsur.errors.WebhookAuthError` unless the request is
    authentic (any other exception is treated the same way: refused, not
    stored). Only then is ``receive_webhook`` called to read the body; a
    body it cannot read is kept, marked verified, for a later
    ``retry_rejected``. It is answered 400 with the reason, or with the
    adapter's ``unreadable_answer`` (status, body) when it has one: a
    platform that suspends a server answering errors (VK) or drops an update
    after retries (Telegram) is told it was received, since it is kept.
    """

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None: ...

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload: ...
