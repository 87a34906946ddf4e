"""Source adapters: how tsur hears citizens and answers them on the same channel.

The toolkit every adapter is built with — built-in or a plugin's:

- :class:`BaseAdapter` and :class:`HttpAdapter` (retries with backoff,
  client-side rate limits, httpx errors as tsur errors) with options
  validated by an :class:`AdapterOptions` model (secrets from the
  environment with ``<name>_env``);
- :class:`HttpChannel`, :class:`RetryPolicy`, :class:`RateLimit`,
  :class:`RateLimiter`, :func:`make_client` for adapters that talk HTTP
  their own way;
- :class:`FetchBatch` and :class:`RejectedItem` for a page some of whose
  items cannot be read; :func:`load_json`, :func:`validate` and
  :func:`convert_items` to read payloads with clear errors.

Building them: :func:`make_adapter` builds a configured source's adapter
with its factory (:func:`build_adapter` from the components and a
context). Running them — polling with a saved cursor, handling a pushed
request, reading kept payloads again — is :mod:`tsur.intake`'s: the
adapters know nothing of the engine. The built-in adapters (``vk``,
``telegram``, ``pos``, ``webhook``, ``open311``, ``email``, ``rss``,
``csv``, ``jsonl``) are below. See ``docs/adapters.md``.
"""

from tsur.adapters._base import (
    AdapterOptions,
    BaseAdapter,
    HttpAdapter,
    option_fields,
    parse_options,
    secret,
)
from tsur.adapters._collect import (
    adapter_kind,
    build_adapter,
    describe_factory,
    make_adapter,
)
from tsur.adapters._http import (
    ApiRequest,
    HttpChannel,
    RateLimit,
    RateLimiter,
    RetryPolicy,
    make_async_client,
    make_client,
)
from tsur.adapters._payload import (
    FetchBatch,
    RejectedItem,
    convert_items,
    from_unix,
    load_json,
    validate,
)
from tsur.adapters._webhooks import (
    WebhookPayload,
    WebhookReceiver,
    header,
    require_json,
    webhook_secret,
)
from tsur.adapters.csvfile import CsvAdapter
from tsur.adapters.files import JsonLinesAdapter, to_jsonl
from tsur.adapters.mail import MailAdapter
from tsur.adapters.open311 import Open311Adapter
from tsur.adapters.portal import PosAdapter
from tsur.adapters.rss import FeedAdapter
from tsur.adapters.telegram import TelegramAdapter
from tsur.adapters.vk import VkAdapter
from tsur.adapters.webhook import JsonWebhookAdapter

__all__ = [
    "AdapterOptions",
    "ApiRequest",
    "BaseAdapter",
    "CsvAdapter",
    "FeedAdapter",
    "FetchBatch",
    "HttpAdapter",
    "HttpChannel",
    "JsonLinesAdapter",
    "JsonWebhookAdapter",
    "MailAdapter",
    "Open311Adapter",
    "PosAdapter",
    "RateLimit",
    "RateLimiter",
    "RejectedItem",
    "RetryPolicy",
    "TelegramAdapter",
    "VkAdapter",
    "WebhookPayload",
    "WebhookReceiver",
    "adapter_kind",
    "build_adapter",
    "convert_items",
    "describe_factory",
    "from_unix",
    "header",
    "load_json",
    "make_adapter",
    "make_async_client",
    "make_client",
    "option_fields",
    "parse_options",
    "require_json",
    "secret",
    "to_jsonl",
    "validate",
    "webhook_secret",
]
