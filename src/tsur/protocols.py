"""The components' interfaces (Protocols) and the callbacks hooks receive.

A component is any object with the one method its Protocol names; no base
class is needed. Components are built by a plugin's ``register_*`` hook
with what its :class:`~tsur.Context` gives (the region, the lemmatiser,
the plugin's settings) and keep it; the methods below receive only what
changes from call to call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tsur.domain import (
    Classification,
    FetchResult,
    Incident,
    Location,
    Message,
    ModerationVerdict,
    Notification,
    Reply,
    RouteDecision,
    Source,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from tsur.analysis import Analysis
    from tsur.components import Components
    from tsur.config import RegionConfig
    from tsur.context import Context
    from tsur.region import Region
    from tsur.sla.calendar import WorkingCalendar
    from tsur.store.base import Repository
    from tsur.text.normalize import Text

__all__ = [
    "AdapterFactory",
    "Classifier",
    "EngineView",
    "Locator",
    "ModerationFilter",
    "Notifier",
    "Register",
    "RegisterSettings",
    "ReportRenderer",
    "Router",
    "SourceAdapter",
    "Watcher",
]


class Register(Protocol):
    """The callback every ``register_*`` component hook receives.

    ``name`` is unique per kind; ``priority`` orders components where the
    first answer wins (higher first); ``weight`` scales a classifier's vote.
    """

    def __call__(
        self, name: str, component: Any, *, priority: int = 0, weight: float = 1.0
    ) -> None: ...


class RegisterSettings(Protocol):
    """The callback of ``register_settings``: the ``[plugins.NAME]`` table and its model."""

    def __call__(self, name: str, model: type[BaseModel]) -> None: ...


@runtime_checkable
class Classifier(Protocol):
    """Decides what a message is about."""

    def classify(self, message: Message, text: Text) -> Classification | None: ...


@runtime_checkable
class Locator(Protocol):
    """Decides where a message's problem is."""

    def locate(self, message: Message, text: Text) -> Location | None: ...


@runtime_checkable
class Router(Protocol):
    """Decides which executor answers for a new incident.

    ``incident`` is the incident about to be made (topic, urgency,
    territory, source, summary); ``analysis`` is the message it comes from
    as the reading stages saw it (lemmas, classification, location).
    """

    def route(self, incident: Incident, analysis: Analysis) -> RouteDecision | None: ...


@runtime_checkable
class ModerationFilter(Protocol):
    """Finds spam, non-appeals, obscenity and personal data."""

    def check(self, message: Message, text: Text) -> Sequence[ModerationVerdict]: ...


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications (log, e-mail, webhook, messenger)."""

    def notify(self, notification: Notification) -> None: ...


@runtime_checkable
class ReportRenderer(Protocol):
    """Turns a report's figures into a file format."""

    def render(self, report: Mapping[str, Any]) -> bytes: ...


@runtime_checkable
class Watcher(Protocol):
    """Looks at the whole region on every tick and says what people must hear.

    ``watch(now)`` returns notifications to queue; each one's ``key`` makes
    it once-only (a spike reported once per week, not on every tick).
    """

    def watch(self, now: datetime) -> Iterable[Notification]: ...


@runtime_checkable
class SourceAdapter(Protocol):
    """Talks to one channel: collects messages and posts replies."""

    def fetch(self, cursor: str | None) -> FetchResult: ...

    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]: ...

    def reply(self, reply: Reply) -> str | None: ...


class AdapterFactory(Protocol):
    """What ``register_source_adapters`` registers: builds the adapter of one source.

    Called as ``factory(source, context, **runtime)``: ``source.options`` is
    the source's ``options`` table (a factory with an ``options_model``
    attribute has it validated first, and ``tsur sources`` lists its keys);
    ``runtime`` are objects an application passes in code (``client=`` an
    :class:`httpx.Client`, ``sleep=``), never read from the region file.
    """

    def __call__(self, source: Source, context: Context, /, **runtime: Any) -> SourceAdapter: ...


class EngineView(Protocol):
    """The parts of an engine adapters and analytics read (:class:`tsur.Engine` has them).

    :func:`tsur.adapters.make_adapter` and :func:`tsur.analytics.build_report`
    take an object with these members rather than the engine class, so that
    they sit below it (the engine's built-in plugins are made of them); they
    read its region, store and components and never drive it.
    """

    @property
    def region(self) -> Region: ...

    @property
    def config(self) -> RegionConfig: ...

    @property
    def calendar(self) -> WorkingCalendar: ...

    @property
    def repository(self) -> Repository: ...

    @property
    def components(self) -> Components: ...

    @property
    def context(self) -> Context: ...

    @property
    def clock(self) -> Callable[[], datetime]:
        """Returns the current time."""
        ...
