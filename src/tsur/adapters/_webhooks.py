"""What an adapter makes of a pushed request (:class:`WebhookPayload`), and how it
says it verifies requests itself (:class:`WebhookReceiver`).

Handling a request — verify, parse, store, keep what cannot be read — is
:func:`tsur.intake.receive_webhook`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from tsur.domain import Message

if TYPE_CHECKING:
    pass

__all__ = ["WebhookPayload", "WebhookReceiver", "header"]

log = logging.getLogger("tsur.adapters")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, looked up case-insensitively."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


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
    """An adapter that verifies pushed requests itself (secrets, signatures)."""

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload: ...
