"""Helpers for testing tsur plugins the way tsur tests itself.

Real components, no monkeypatching: an in-memory engine on a small bundled
region (two towns, a district with a village, five topics), a clock tests
move by hand, httpx clients answered by a function, messages and signed
webhook bodies built in one line::

    from tsur import testing

    def test_my_router_picks_the_carrier():
        engine = testing.make_engine(plugins=[my_plugin])
        engine.process([testing.message("автобус 41 не пришёл в Тольятти")])
        [incident] = engine.incidents()
        assert incident.executor == "carrier"

    def test_my_adapter_reads_a_page():
        client = testing.mock_client(lambda request: httpx.Response(200, json={...}))
        adapter = MyAdapter(source, testing.make_context(), client=client)

``payload(name)`` gives recorded API answers and webhook bodies (VK,
Telegram, Open311, e-mail, the «Решаем вместе» widget), shipped with tsur
(``tsur/data/payloads``, their sources in its README), to test an adapter
against what the real services send::

    def test_my_vk_plugin_reads_a_reply():
        body = testing.payload("vk_callback_wall_reply_new.json")

Installed plugins (entry points) are left out, so tests run the same on
every machine.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import attrs
import httpx

from tsur.config import RegionConfig, bundled_region_path, load_region
from tsur.context import Context
from tsur.domain import Message
from tsur.pipeline import Engine
from tsur.plugins import make_plugin_manager
from tsur.region import Region
from tsur.security import sign_request
from tsur.store.sql import open_repository
from tsur.text.normalize import Lemmatizer, get_lemmatizer

__all__ = [
    "SAMARA",
    "START",
    "FixedClock",
    "Handler",
    "evolve_source",
    "make_context",
    "make_engine",
    "message",
    "mock_async_client",
    "mock_client",
    "payload",
    "payload_file",
    "payload_json",
    "payload_names",
    "signed_headers",
    "small_region",
]

#: Samara time (UTC+4), the small region's zone.
SAMARA = timezone(timedelta(hours=4))
#: Monday 16 November 2026, 10:00 Samara time: a working morning.
START = datetime(2026, 11, 16, 10, 0, tzinfo=SAMARA)

_ids = itertools.count(1)


class FixedClock:
    """A clock that stands still until a test moves it; pass it as ``clock=``."""

    def __init__(self, now: datetime = START) -> None:
        if now.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move on by ``timedelta(**delta)`` (``hours=2``); the new time."""
        self.now += timedelta(**delta)
        return self.now

    def set(self, now: datetime) -> None:
        """Jump to ``now``."""
        self.now = now


def small_region() -> RegionConfig:
    """The small test region shipped with tsur (``tsur/data/regions/small.toml``).

    Territories ``oblast`` → ``gorod`` (Тольятти), ``sela`` (Сызрань),
    ``volzhsky`` → ``smyshlyaevka``; topics ``zhkh`` (``zhkh.heating``),
    ``roads``, ``transport``, ``health``; sources ``vk``, ``written``,
    ``portal``, ``open311`` (Open311 server); executors with routing rules and SLA policies.
    """
    return load_region(bundled_region_path("small"))


def make_context(
    config: RegionConfig | Region | None = None,
    *,
    lemmatizer: Lemmatizer | None = None,
    clock: Callable[[], datetime] | None = None,
    settings: Any = None,
) -> Context:
    """A :class:`~tsur.Context` as a plugin's hook receives it (no repository)."""
    region = config if isinstance(config, Region) else Region.from_config(config or small_region())
    return Context(region, lemmatizer or get_lemmatizer(), clock or FixedClock(), settings=settings)


def make_engine(
    config: RegionConfig | Region | None = None,
    *,
    plugins: Iterable[object] = (),
    defaults: bool = True,
    db: str = ":memory:",
    clock: Callable[[], datetime] | None = None,
    lemmatizer: Lemmatizer | None = None,
) -> Engine:
    """An engine on ``config`` (the small region by default) and an in-memory database.

    ``plugins`` are registered after the built-ins (none of them with
    ``defaults=False``); installed plugins are not loaded. The clock is a
    :class:`FixedClock` at :data:`START` unless one is given.
    """
    pm = make_plugin_manager(defaults=defaults, entry_points=False, plugins=plugins)
    return Engine(
        config or small_region(),
        open_repository(db),
        plugin_manager=pm,
        clock=clock or FixedClock(),
        lemmatizer=lemmatizer,
    )


def message(
    text: str,
    *,
    source: str = "vk",
    external_id: str | None = None,
    at: datetime | None = None,
    **fields: Any,
) -> Message:
    """A message from ``source`` with a fresh external id, created at :data:`START`."""
    return Message(
        source=source,
        external_id=external_id or f"test-{next(_ids)}",
        text=text,
        created_at=at or START,
        **fields,
    )


Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Mapping[str, httpx.Response | Callable[[httpx.Request], httpx.Response]]
)


def _answer(handler: Handler) -> Callable[[httpx.Request], httpx.Response]:
    if callable(handler):
        return handler
    routes = dict(handler)

    def answer(request: httpx.Request) -> httpx.Response:
        for key in (f"{request.method} {request.url.path}", request.url.path):
            if key in routes:
                found = routes[key]
                return found(request) if callable(found) else found
        return httpx.Response(404, text=f"no route for {request.method} {request.url.path}")

    return answer


def mock_client(handler: Handler, *, base_url: str = "") -> httpx.Client:
    """An :class:`httpx.Client` whose requests ``handler`` answers.

    ``handler`` is a function of the request, or a mapping from ``"METHOD
    /path"`` (or just ``"/path"``) to a response or a function; a request
    nothing answers gets a 404 naming it.
    """
    return httpx.Client(transport=httpx.MockTransport(_answer(handler)), base_url=base_url)


def mock_async_client(handler: Handler, *, base_url: str = "") -> httpx.AsyncClient:
    """:func:`mock_client` for adapters that talk through an :class:`httpx.AsyncClient`."""
    return httpx.AsyncClient(transport=httpx.MockTransport(_answer(handler)), base_url=base_url)


def signed_headers(
    secret: str, body: bytes, *, at: datetime = START, **headers: str
) -> dict[str, str]:
    """Headers of a JSON webhook request signed with ``secret`` at ``at``
    (``X-Tsur-Timestamp``, ``X-Tsur-Signature``; :mod:`tsur.security`).

    ``at`` defaults to :data:`START`, where the test engines' clock stands.
    """
    return {
        "Content-Type": "application/json",
        **sign_request(secret, body, at=at),
        **headers,
    }


def evolve_source(region: Region, source_id: str, **options: Any) -> Any:
    """The region's source ``source_id`` with ``options`` added to its options table."""
    source = region.sources[source_id]
    return attrs.evolve(source, options={**source.options, **options})


def _payloads() -> Traversable:
    return resources.files("tsur") / "data" / "payloads"


def payload_names() -> list[str]:
    """The recorded payloads tsur ships (file names, sorted)."""
    return sorted(p.name for p in _payloads().iterdir() if p.is_file() and p.name != "README.md")


def payload_file(name: str) -> Traversable:
    """A recorded payload as a file (``str()`` of it is a path on an installed tsur)."""
    item = _payloads() / name
    if "/" in name or "\\" in name or name.startswith(".") or not item.is_file():
        raise FileNotFoundError(f"no payload {name!r}; there are: {', '.join(payload_names())}")
    return item


def payload(name: str) -> bytes:
    """A recorded payload's bytes (``"vk_wall_get.json"``; see :func:`payload_names`)."""
    return payload_file(name).read_bytes()


def payload_json(name: str) -> Any:
    """A recorded JSON payload, parsed."""
    return json.loads(payload(name))
