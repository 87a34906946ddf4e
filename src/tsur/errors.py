"""Exceptions raised by tsur.

Every error tsur raises on purpose derives from :class:`TsurError`, so an
embedding application can catch the whole family with one clause::

    TsurError
    ├── ConfigError            a region file is missing, malformed or inconsistent
    ├── PluginError            a plugin registered something invalid or conflicting
    ├── IngestError            an incoming message cannot be accepted
    │   └── UnknownSource      ... because its source is not configured
    ├── ProcessingError        a pipeline stage failed on a stored message
    │   └── UnknownTerritory   ... because it names a territory the region lacks
    ├── IllegalTransition      an incident status change the state machine forbids
    ├── NotFound               an incident, message or executor id does not exist
    ├── StorageError           the database cannot be opened or migrated
    ├── AdapterError           a source API failed or answered something unreadable
    │   ├── RateLimited        ... because it asked us to slow down
    │   ├── PayloadError       ... because a payload cannot be read (``raw`` is kept)
    │   └── WebhookAuthError   ... because a pushed request failed verification
    ├── NotifierError          an e-mail or webhook notification could not be delivered
    ├── ModelError             a model file is missing, damaged or needs an extra
    ├── AccessDenied           an API key is missing, unknown, revoked or lacks the right
    │   └── TooManyRequests    ... or is over its rate (429, ``retry_after``)
    ├── ReportError            a report or analytics query cannot be made as asked
    └── LifecycleError         a lifecycle request cannot be carried out
        ├── InvalidRequest     ... because an argument is wrong (empty text, score 7)
        ├── AnswerRejected     ... because a final answer is an «отписка» (``reasons``)
        ├── PhotoRequired      ... because the topic needs photo confirmation first
        └── ExtensionRefused   ... because a 59-ФЗ extension is not allowed here

Context is carried in keyword-only attributes (``source``, ``line``,
``path`` …) so that callers never have to parse messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_RAW",
    "AccessDenied",
    "AdapterError",
    "AnswerRejected",
    "ConfigError",
    "ExtensionRefused",
    "IllegalTransition",
    "IngestError",
    "InvalidRequest",
    "LifecycleError",
    "ModelError",
    "NotFound",
    "NotifierError",
    "Open311Error",
    "Open311Refused",
    "PayloadError",
    "PhotoRequired",
    "PluginError",
    "PluginWarning",
    "ProcessingError",
    "RateLimited",
    "ReportError",
    "StorageError",
    "TelegramError",
    "TooManyRequests",
    "TsurError",
    "UnknownSource",
    "UnknownTerritory",
    "VkError",
    "WebhookAuthError",
    "raw_text",
]

#: Raw payloads longer than this are kept cut (with a note) in the rejected-input store.
MAX_RAW = 1_000_000


def raw_text(payload: bytes | str | Mapping[str, Any] | Sequence[Any]) -> str:
    """A payload as text for the rejected-input store (cut at :data:`MAX_RAW`)."""
    if isinstance(payload, bytes):
        text = payload.decode("utf-8", errors="replace")
    elif isinstance(payload, str):
        text = payload
    else:
        try:
            text = json.dumps(payload, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(payload)
    if len(text) > MAX_RAW:
        return text[:MAX_RAW] + f"\n… [cut: {len(text)} characters in all]"
    return text


class TsurError(Exception):
    """Root of every exception tsur raises deliberately."""


class ConfigError(TsurError):
    """A region configuration cannot be loaded.

    ``path`` is the file, ``problems`` a list of ``(key path, message)``
    pairs, one per thing that is wrong.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        problems: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.path = path
        self.problems = list(problems)
        lines = [message]
        lines.extend(f"  {loc}: {msg}" if loc else f"  {msg}" for loc, msg in self.problems)
        super().__init__("\n".join(lines))


class PluginError(TsurError):
    """A plugin contributed something invalid (duplicate name, wrong type, …)."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}" if plugin else message)


class IngestError(TsurError):
    """An incoming message was not accepted.

    ``line`` is the 1-based line of the input file when there is one.
    """

    def __init__(self, message: str, *, line: int | None = None, origin: str | None = None) -> None:
        self.line = line
        self.origin = origin
        prefix = ""
        if origin is not None and line is not None:
            prefix = f"{origin}:{line}: "
        elif line is not None:
            prefix = f"line {line}: "
        super().__init__(prefix + message)


class UnknownSource(IngestError):
    """The message names a source the region configuration does not declare."""

    def __init__(
        self,
        source: str,
        known: Sequence[str],
        *,
        line: int | None = None,
        origin: str | None = None,
    ) -> None:
        self.source = source
        self.known = list(known)
        super().__init__(
            f"unknown source {source!r}; configured sources: {', '.join(sorted(known)) or 'none'}",
            line=line,
            origin=origin,
        )


class ProcessingError(TsurError):
    """A pipeline stage failed on a message; the message is kept for re-run."""

    def __init__(self, message: str, *, stage: str | None = None) -> None:
        self.stage = stage
        super().__init__(message)


class UnknownTerritory(ProcessingError):
    """A message or plugin named a territory id the region does not have."""

    def __init__(self, territory: str, *, stage: str | None = "locate") -> None:
        self.territory = territory
        super().__init__(f"unknown territory {territory!r}", stage=stage)


class IllegalTransition(TsurError):
    """An incident status change that the state machine does not allow."""

    def __init__(self, current: str, target: str, *, incident_id: int | None = None) -> None:
        self.current = current
        self.target = target
        self.incident_id = incident_id
        where = f"incident {incident_id}: " if incident_id is not None else ""
        super().__init__(f"{where}cannot change status from {current!r} to {target!r}")


class NotFound(TsurError):
    """A record looked up by id does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class StorageError(TsurError):
    """The store cannot be opened, migrated or written.

    ``retryable`` is True for conflicts between concurrent workers (a
    deadlock, a serialization failure, a locked SQLite file): the whole
    transaction can simply be run again. ``unavailable`` is True when the
    database cannot be reached for now (the server restarting or shutting
    down, the connection lost): nothing was written, and a long-running
    worker waits and connects again.
    """

    def __init__(self, message: str, *, retryable: bool = False, unavailable: bool = False) -> None:
        self.retryable = retryable
        self.unavailable = unavailable
        super().__init__(message)


class AdapterError(TsurError):
    """A source adapter's API call failed or returned an unreadable payload."""

    def __init__(self, message: str, *, source: str | None = None, retryable: bool = False) -> None:
        self.source = source
        self.retryable = retryable
        super().__init__(f"{source}: {message}" if source else message)


class RateLimited(AdapterError):
    """The API asked us to slow down; ``retry_after`` is in seconds when known."""

    def __init__(
        self, message: str, *, source: str | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, source=source, retryable=True)


class VkError(AdapterError):
    """An error answered by the VK API; ``code`` is VK's ``error_code``."""

    def __init__(
        self, message: str, *, code: int, source: str | None = None, retryable: bool = False
    ) -> None:
        self.code = code
        super().__init__(message, source=source, retryable=retryable)


class TelegramError(AdapterError):
    """An error answered by the Bot API; ``code`` is its ``error_code``."""

    def __init__(
        self, message: str, *, code: int, source: str | None = None, retryable: bool = False
    ) -> None:
        self.code = code
        super().__init__(message, source=source, retryable=retryable)


class Open311Error(AdapterError):
    """Errors answered by the server: ``errors`` is the list of ``(code, description)``."""

    def __init__(
        self,
        message: str,
        *,
        errors: list[tuple[str, str]],
        source: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.errors = errors
        super().__init__(message, source=source, retryable=retryable)


class ReportError(TsurError):
    """A report or an analytics query cannot be made as asked.

    A bad period (``"2026-13"``), an unknown export format, an unreadable
    boundary file, a store that is not SQL. ``option`` names the argument
    that is wrong when there is one.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        self.option = option
        super().__init__(f"{option}: {message}" if option else message)


class PayloadError(AdapterError):
    """A payload could not be read; ``raw`` is what arrived, kept for re-runs."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        raw: bytes | str | Mapping[str, Any] | Sequence[Any] | None = None,
    ) -> None:
        self.raw = raw_text(raw) if raw is not None else ""
        super().__init__(message, source=source)


class WebhookAuthError(AdapterError):
    """A pushed request failed verification (wrong secret, bad or missing signature).

    ``status`` is the HTTP status to answer with: 403, or 415 for a body
    that is not declared as JSON.
    """

    def __init__(self, message: str, *, source: str | None = None, status: int = 403) -> None:
        self.status = status
        super().__init__(message, source=source)


class NotifierError(TsurError):
    """A notifier (e-mail, webhook) failed; ``retryable`` when a later attempt may pass."""

    def __init__(self, message: str, *, notifier: str, retryable: bool = False) -> None:
        self.notifier = notifier
        self.retryable = retryable
        super().__init__(f"notifier {notifier!r}: {message}")


class ModelError(TsurError):
    """A model file is missing, damaged, of another format, or needs an extra."""


class AccessDenied(TsurError):
    """A request without a valid key (``status`` 401) or outside the key's rights (403)."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        #: the HTTP status a service answers with: 401 unauthenticated, 403 forbidden
        self.status = status


class Open311Refused(TsurError):
    """A service request tsur's Open311 server cannot take or answer (``status``: its HTTP code).

    400 for a missing or malformed field, 404 for an unknown service code,
    jurisdiction, request or token, 415 for a body of another type.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        #: the HTTP status the Open311 server answers with
        self.status = status


class TooManyRequests(AccessDenied):
    """A key (or an address) over its rate: ``status`` 429, ``retry_after`` seconds to wait."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=429)
        #: seconds until a request would be admitted
        self.retry_after = retry_after


class LifecycleError(TsurError):
    """A lifecycle request (answer, rating, extension …) cannot be carried out.

    An illegal status change raises :class:`IllegalTransition` and an unknown
    incident or executor :class:`NotFound`, as everywhere.
    """

    def __init__(self, message: str, *, incident_id: int | None = None) -> None:
        self.incident_id = incident_id
        where = f"incident {incident_id}: " if incident_id is not None else ""
        super().__init__(where + message)


class InvalidRequest(LifecycleError):
    """An argument is wrong: empty text, a score out of range, a blank photo URL."""


class AnswerRejected(LifecycleError):
    """A final answer was refused as an «отписка»; ``reasons`` say why (in Russian).

    The refusal itself is kept in the incident's history (event
    ``answer_rejected``), so it counts in quality reports.
    """

    def __init__(self, reasons: Sequence[str], *, incident_id: int | None = None) -> None:
        self.reasons = list(reasons)
        lines = "; ".join(self.reasons)
        super().__init__(
            f"answer rejected as a formal non-answer: {lines}", incident_id=incident_id
        )


class PhotoRequired(LifecycleError):
    """The incident's topic needs photo confirmation before it is resolved or closed."""

    def __init__(self, topic: str | None, *, incident_id: int | None = None) -> None:
        self.topic = topic
        super().__init__(
            f"topic {topic!r} needs a photo of the result before the incident is resolved or "
            "closed; pass photos=[...] or attach them first",
            incident_id=incident_id,
        )


class ExtensionRefused(LifecycleError):
    """A 59-ФЗ extension is not allowed: not a written appeal, already extended, too late."""


class PluginWarning(UserWarning):
    """A plugin named in ``TSUR_PLUGINS`` or ``TSUR_DISABLE_PLUGINS`` does not exist."""
