"""A generic JSON webhook any municipal portal can post to (source kind ``webhook``).

The body is one message in the wire shape of :class:`tsur.wire.MessageIn`
(``external_id``, ``text``, ``created_at`` with an offset, optional
``author``, ``attachments``, ``geo``, ``address`` …) or a JSON array of them.
``source`` may be left out; when given it must be this source's id.

Every request must be signed with the source's secret (``secret_env``
names the environment variable holding it): ``Content-Type:
application/json``, ``X-Tsur-Timestamp: <Unix seconds>`` within
``max_signature_age`` seconds of tsur's clock, and ``X-Tsur-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<raw body>`` keyed with
the secret (:mod:`tsur.security`); anything else is refused and nothing of
it is stored. Only ``insecure = true`` (local testing) takes unsigned
requests. Answers go back by POSTing JSON to ``reply_url``, signed the same
way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, SecretStr, ValidationError, model_validator

from tsur.domain import Message, Reply
from tsur.errors import PayloadError
from tsur.security import MAX_SIGNATURE_AGE, env_secret, sign_request, verify_signed_request
from tsur.wire import message_from_dict

from ._base import AdapterOptions, HttpAdapter, secret
from ._http import ApiRequest
from ._payload import describe, load_json, refusing
from ._webhooks import WebhookPayload, require_json, webhook_secret

__all__ = ["JsonWebhookAdapter", "SignedOptions", "WebhookOptions", "signed_post"]

log = logging.getLogger("tsur.adapters")


class SignedOptions(AdapterOptions):
    """The keys of a source whose requests are signed with tsur's scheme
    (:mod:`tsur.security`): ``webhook`` and ``pos``."""

    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of X-Tsur-Signature (better: secret_env)"
    )
    secret_env: str | None = Field(
        None, description="environment variable holding the HMAC-SHA256 key"
    )
    insecure: bool = Field(
        False, description="local testing only: take pushed requests without a signature"
    )
    max_signature_age: float = Field(
        MAX_SIGNATURE_AGE,
        gt=0,
        le=86400,
        description="seconds X-Tsur-Timestamp may be away from tsur's clock",
    )

    def has_key(self) -> bool:
        """Whether a key (or the variable holding it) is given, or ``insecure`` set."""
        return bool(self.secret or self.secret_env or self.insecure)


class WebhookOptions(SignedOptions):
    """Options of a ``webhook`` source (``[[sources]] options``)."""

    reply_url: str | None = Field(None, description="where answers are POSTed as JSON")
    timeout: float = Field(20.0, gt=0, description="seconds per request")

    @model_validator(mode="after")
    def _key(self) -> WebhookOptions:
        if not self.has_key():
            raise ValueError(
                "a webhook source takes signed requests only: set secret_env (the environment "
                "variable holding the key), or insecure = true for local testing"
            )
        return self


def signing_key(opts: SignedOptions) -> str | None:
    """The key what a source posts is signed with (None: ``insecure``, no key given)."""
    return secret(opts.secret) or env_secret(opts.secret_env, "options.secret_env")


def signed_post(
    url: str, body: Mapping[str, Any], key: str | None, *, what: str, at: datetime
) -> ApiRequest:
    """A JSON POST whose exact bytes are signed at ``at`` (``X-Tsur-Timestamp``,
    ``X-Tsur-Signature``) when ``key`` is set."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if key:
        headers.update(sign_request(key, content, at=at))
    return ApiRequest("POST", url, what=what, content=content, headers=headers)


def verify_signed(adapter: HttpAdapter, opts: SignedOptions, body: bytes, headers: Any) -> None:
    """Verify a pushed request to a source with :class:`SignedOptions`, or raise
    :class:`~tsur.errors.WebhookAuthError`."""
    source = adapter.source.id
    require_json(headers, source=source)
    key = webhook_secret(
        opts.secret, opts.secret_env, insecure=opts.insecure, key="secret", source=source
    )
    if key is not None:
        verify_signed_request(
            key, body, headers, now=adapter.now(), max_age=opts.max_signature_age, source=source
        )


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

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """JSON, signed with the source's key, dated within ``max_signature_age``."""
        verify_signed(self, self.opts, body, headers)

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload:
        """A verified request's messages (:meth:`verify_webhook` is checked first)."""
        self.verify_webhook(body, headers)
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
        key = signing_key(self.opts)
        req = signed_post(self.opts.reply_url, body, key, what="reply", at=self.now())
        return answer_id(self.channel.send(req))
