"""A generic JSON webhook any municipal portal can post to (source kind ``webhook``).

The body is one message in the wire shape of :class:`tsur.wire.MessageIn`
(``external_id``, ``text``, ``created_at`` with an offset, optional
``author``, ``attachments``, ``geo``, ``address`` …) or a JSON array of them.
``source`` may be left out; when given it must be this source's id.

When ``secret`` is configured every request must carry
``X-Tsur-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body keyed
with the secret; anything else is refused. Answers go back by POSTing JSON
to ``reply_url``, signed the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import Field, SecretStr, ValidationError

from tsur.domain import Message, Reply
from tsur.errors import PayloadError
from tsur.security import SIGNATURE_HEADER, hmac_sha256_signature, verify_hmac_sha256
from tsur.wire import message_from_dict

from ._base import AdapterOptions, HttpAdapter, secret
from ._http import ApiRequest
from ._payload import describe, load_json, refusing
from ._webhooks import WebhookPayload, header

__all__ = ["JsonWebhookAdapter", "WebhookOptions", "signed_post"]

log = logging.getLogger("tsur.adapters")


class WebhookOptions(AdapterOptions):
    """Options of a ``webhook`` source (``[[sources]] options``)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key; when set, X-Tsur-Signature is required"
    )
    reply_url: str | None = Field(None, description="where answers are POSTed as JSON")
    timeout: float = Field(20.0, gt=0, description="seconds per request")


def signed_post(url: str, body: Mapping[str, Any], key: str | None, *, what: str) -> ApiRequest:
    """A JSON POST whose exact bytes are signed in ``X-Tsur-Signature`` when ``key`` is set."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if key:
        headers[SIGNATURE_HEADER] = hmac_sha256_signature(key, content)
    return ApiRequest("POST", url, what=what, content=content, headers=headers)


def answer_id(result: Any) -> str | None:
    """The ``id`` a portal answered with, if any."""
    if isinstance(result, Mapping) and result.get("id") is not None:
        return str(result["id"])
    return None


class JsonWebhookAdapter(HttpAdapter):
    """Messages pushed as JSON by a portal; answers POSTed back (source kind ``webhook``)."""

    kind: ClassVar[str] = "webhook"
    options_model: ClassVar[type[AdapterOptions]] = WebhookOptions
    opts: WebhookOptions

    @refusing("webhook body")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages in a body: one message object or an array of them."""
        data = load_json(payload, source=self.source.id, what="webhook body")
        items = data if isinstance(data, list) else [data]
        out = []
        for i, item in enumerate(items):
            where = f"[{i}]" if isinstance(data, list) else "body"
            if not isinstance(item, Mapping):
                raise PayloadError(
                    f"{where}: expected a JSON object, got {type(item).__name__}",
                    source=self.source.id,
                    raw=payload,
                )
            given = item.get("source")
            if given is not None and given != self.source.id:
                raise PayloadError(
                    f"{where}: message of source {given!r} sent to webhook {self.source.id!r}",
                    source=self.source.id,
                    raw=payload,
                )
            try:
                out.append(message_from_dict({**item, "source": self.source.id}))
            except ValidationError as exc:
                raise PayloadError(
                    f"{where}: {describe(exc)}", source=self.source.id, raw=payload
                ) from exc
        return out

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload:
        """Check ``X-Tsur-Signature`` (when a secret is set), then parse the body."""
        key = secret(self.opts.secret)
        if key is not None:
            verify_hmac_sha256(key, body, header(headers, SIGNATURE_HEADER), source=self.source.id)
        return WebhookPayload(list(self.parse(body)))

    def reply(self, reply: Reply) -> str | None:
        """POST the answer to ``reply_url``; the portal's ``id`` for it, if it gives one."""
        if not self.opts.reply_url:
            log.info(
                "%s: no answer posted for incident %d: no options.reply_url",
                self.source.id,
                reply.incident_id,
            )
            return None
        body = {
            "incident_id": reply.incident_id,
            "in_reply_to": reply.in_reply_to,
            "thread_id": reply.thread_id,
            "kind": reply.kind,
            "text": reply.text,
            "author": reply.author,
            "sent_at": self.now().isoformat(),
        }
        req = signed_post(self.opts.reply_url, body, secret(self.opts.secret), what="reply")
        return answer_id(self.channel.send(req))
