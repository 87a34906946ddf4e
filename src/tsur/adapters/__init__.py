"""Source adapters: how tsur hears citizens and answers them on the same channel.

Each adapter is a plugin registered by source kind (``vk``, ``telegram``,
``pos``, ``webhook``, ``open311``, ``email``, ``rss``, ``csv``, ``jsonl``);
:func:`collect` runs one collection of a configured source with its saved
cursor, :func:`receive_webhook` handles a pushed payload. See
``docs/adapters.md``.
"""

from tsur.adapters._collect import (
    CollectReport,
    build_adapter,
    collect,
    make_adapter,
    retry_rejected,
)
from tsur.adapters._http import RateLimit, RateLimiter, RetryPolicy, make_client
from tsur.adapters._payload import FetchBatch, PayloadError, RejectedItem
from tsur.adapters._webhooks import (
    WebhookAuthError,
    WebhookPayload,
    WebhookResult,
    hmac_sha256_signature,
    receive_webhook,
    verify_hmac_sha256,
)
from tsur.adapters.csvfile import CsvAdapter
from tsur.adapters.files import JsonLinesAdapter, ParsedLine, read_jsonl
from tsur.adapters.mail import MailAdapter
from tsur.adapters.open311 import Open311Adapter
from tsur.adapters.portal import PosAdapter
from tsur.adapters.rss import FeedAdapter
from tsur.adapters.telegram import TelegramAdapter
from tsur.adapters.vk import VkAdapter
from tsur.adapters.webhook import JsonWebhookAdapter

__all__ = [
    "CollectReport",
    "CsvAdapter",
    "FeedAdapter",
    "FetchBatch",
    "JsonLinesAdapter",
    "JsonWebhookAdapter",
    "MailAdapter",
    "Open311Adapter",
    "ParsedLine",
    "PayloadError",
    "PosAdapter",
    "RateLimit",
    "RateLimiter",
    "RejectedItem",
    "RetryPolicy",
    "TelegramAdapter",
    "VkAdapter",
    "WebhookAuthError",
    "WebhookPayload",
    "WebhookResult",
    "build_adapter",
    "collect",
    "hmac_sha256_signature",
    "make_adapter",
    "make_client",
    "read_jsonl",
    "receive_webhook",
    "retry_rejected",
    "verify_hmac_sha256",
]
