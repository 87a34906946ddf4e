"""Protocols and type aliases shared by the engine and its plugins.

A component is any object with the one method its Protocol names; no base
class is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from tsur.domain import (
    Classification,
    Incident,
    Location,
    Message,
    ModerationVerdict,
    Reply,
    RouteDecision,
)

if TYPE_CHECKING:
    from tsur.config import RegionConfig
    from tsur.text.normalize import Text

__all__ = [
    "Classifier",
    "FetchResult",
    "Locator",
    "ModerationFilter",
    "Notification",
    "Notifier",
    "Register",
    "ReportRenderer",
    "Router",
    "SourceAdapter",
]


class Register(Protocol):
    """The callback every ``register_*`` hook receives."""

    def __call__(
        self, name: str, component: Any, *, priority: int = 0, weight: float = 1.0
    ) -> None: ...


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
    """Decides which executor answers for an incident."""

    def route(self, incident: Incident, config: RegionConfig) -> RouteDecision | None: ...


@runtime_checkable
class ModerationFilter(Protocol):
    """Finds spam, non-appeals, obscenity and personal data."""

    def check(self, message: Message, text: Text) -> Sequence[ModerationVerdict]: ...


@attrs.frozen
class Notification:
    """Something people must hear about: an incident routed, late, escalated."""

    kind: str  # "routed" | "warning" | "overdue" | "escalated" | "reply" | ...
    incident_id: int
    at: datetime
    recipients: tuple[str, ...]  # executor ids
    text: str
    data: Mapping[str, Any] = attrs.field(factory=dict)


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications (log, e-mail, webhook, messenger)."""

    def notify(self, notification: Notification) -> None: ...


@runtime_checkable
class ReportRenderer(Protocol):
    """Turns a report's figures into a file format."""

    def render(self, report: Mapping[str, Any]) -> bytes: ...


@attrs.frozen
class FetchResult:
    """What one ``fetch`` call brought: messages and the cursor to continue from."""

    messages: Sequence[Message]
    cursor: str | None
    more: bool = False  # True when the source has more right now


@runtime_checkable
class SourceAdapter(Protocol):
    """Talks to one channel: collects messages and posts replies."""

    def fetch(self, cursor: str | None) -> FetchResult: ...

    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]: ...

    def reply(self, reply: Reply) -> str | None: ...
