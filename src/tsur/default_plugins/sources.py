"""Built-in source adapters, one per channel kind.

``vk``, ``telegram``, ``pos`` («Решаем вместе»), ``webhook`` (a generic
JSON webhook), ``csv``, ``open311`` (and ``open311_server``: requests filed
on tsur's own Open311 server), ``rss`` (RSS and Atom feeds), ``email`` (IMAP
in, SMTP out) and ``jsonl`` (JSON Lines files). The adapters live in
:mod:`tsur.adapters`; a source of the region file uses the one its kind
names, or ``options.adapter``.
"""

from __future__ import annotations

from tsur.adapters.csvfile import CsvAdapter
from tsur.adapters.files import JsonLinesAdapter
from tsur.adapters.jetstream import JetStreamAdapter
from tsur.adapters.mail import MailAdapter
from tsur.adapters.open311 import Open311Adapter, Open311InboxAdapter
from tsur.adapters.portal import PosAdapter
from tsur.adapters.rss import FeedAdapter
from tsur.adapters.telegram import TelegramAdapter
from tsur.adapters.vk import VkAdapter
from tsur.adapters.webhook import JsonWebhookAdapter
from tsur.context import Context
from tsur.hookspecs import hookimpl
from tsur.protocols import Register

__all__ = ["register_source_adapters"]


@hookimpl
def register_source_adapters(register: Register, context: Context) -> None:
    """Register every built-in adapter under its kind."""
    register("vk", VkAdapter)
    register("telegram", TelegramAdapter)
    register("pos", PosAdapter)
    register("webhook", JsonWebhookAdapter)
    register("csv", CsvAdapter)
    register("open311", Open311Adapter)
    register("open311_server", Open311InboxAdapter)
    register("rss", FeedAdapter)
    register("email", MailAdapter)
    register("jsonl", JsonLinesAdapter)
    register("nats", JetStreamAdapter)
