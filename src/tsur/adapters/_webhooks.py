"""Receiving pushed payloads: secret and signature checks, and the webhook handler.

An HTTP layer (the API, a small WSGI app) calls :func:`receive_webhook` with
the raw body and headers of a request and answers with the returned status
and body. The handler verifies the request through the adapter, parses it,
ingests the messages (idempotently: a re-delivered event is stored once) and
keeps an unreadable body with its reason in the rejected-input store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from tsur.domain import Message
from tsur.errors import AdapterError, IngestError, WebhookAuthError, raw_text

if TYPE_CHECKING:
    from tsur.protocols import EngineView
    from tsur.runs import IngestReport

__all__ = [
    "WebhookPayload",
    "WebhookReceiver",
    "WebhookResult",
    "header",
    "receive_webhook",
]

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


@attrs.frozen
class WebhookResult:
    """The HTTP answer to give, and what the request brought."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    report: IngestReport | None = None
    events: Sequence[Any] = ()


def receive_webhook(
    engine: EngineView,
    source_id: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    adapter: Any = None,
) -> WebhookResult:
    """Handle one pushed request for ``source_id``: verify, parse, ingest.

    Answers 403 (not stored) when verification fails, 400 with the reason
    when the body cannot be read (the body is kept in the rejected-input
    store), and 200 otherwise. ``adapter`` defaults to the one configured
    for the source (:func:`~tsur.adapters.make_adapter`).
    """
    from ._collect import make_adapter

    own = adapter is None
    if adapter is None:
        adapter = make_adapter(engine, source_id)
    origin = f"webhook:{source_id}"
    try:
        try:
            if isinstance(adapter, WebhookReceiver):
                payload = adapter.receive_webhook(body, headers)
            else:
                payload = WebhookPayload(list(adapter.parse(body)))
        except WebhookAuthError as exc:
            log.warning("webhook for %s refused: %s", source_id, exc)
            return WebhookResult(403, "forbidden")
        except (AdapterError, IngestError, ValueError, TypeError, RecursionError) as exc:
            raw = getattr(exc, "raw", "") or raw_text(body)
            engine.repository.record_rejected_input(origin, None, raw, str(exc), at=engine.clock())
            log.warning("webhook for %s unreadable, kept: %s", source_id, exc)
            return WebhookResult(400, str(exc))
        except Exception as exc:  # the adapter's own bug: the body is kept, the sender told
            reason = f"the adapter failed: {type(exc).__name__}: {exc}"
            engine.repository.record_rejected_input(
                origin, None, raw_text(body), reason, at=engine.clock()
            )
            log.error("webhook for %s: %s (body kept)", source_id, reason)
            return WebhookResult(500, "the adapter failed; the request is kept")
        foreign = [m.source for m in payload.messages if m.source != source_id]
        if foreign:
            raise AdapterError(
                f"adapter returned messages of source {foreign[0]!r} for {source_id!r}",
                source=source_id,
            )
        report = engine.ingest(payload.messages, origin=origin)
    finally:
        if own and hasattr(adapter, "close"):
            adapter.close()
    if payload.response is not None:
        text, ctype = payload.response, "text/plain; charset=utf-8"
    else:
        summary = {
            "ok": True,
            "inserted": report.inserted,
            "duplicates": report.duplicates,
            "refused": [str(e) for e in report.errors],
        }
        text, ctype = json.dumps(summary, ensure_ascii=False), "application/json"
    return WebhookResult(200, text, ctype, report, tuple(payload.events))
