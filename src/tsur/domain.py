"""The domain model: what a source saw, what the engine made of it.

Plain attrs classes without I/O. Messages and history events are frozen;
an :class:`Incident` changes only through :meth:`Incident.transition` and
the other methods that append an :class:`Event`, so its history is the
complete, append-only record of who changed what, when and why.
"""

from __future__ import annotations

import enum
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from tsur.errors import IllegalTransition

__all__ = [
    "ENGINE_ACTOR",
    "TRANSITIONS",
    "Attachment",
    "Author",
    "Classification",
    "Duration",
    "Event",
    "Executor",
    "FetchResult",
    "GeoPoint",
    "Incident",
    "Location",
    "Message",
    "ModerationVerdict",
    "Notification",
    "Rating",
    "Reply",
    "RouteDecision",
    "SLAPolicy",
    "Seasonal",
    "Source",
    "Status",
    "Territory",
    "Topic",
    "Urgency",
    "parse_duration",
    "status_event",
]


def _aware(_instance: object, attribute: attrs.Attribute[Any], value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{attribute.name} must be timezone-aware, got naive {value.isoformat()}")


def _share(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A confidence: a finite number from 0 to 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ValueError(f"{attribute.name} must be a number from 0 to 1, got {value!r}")


def _real(value: object) -> object:
    """Any real number as a float (numpy's, a Decimal); anything else is left to the check."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _alternatives(value: Iterable[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """Runner-up topics: (a non-empty topic id, a confidence from 0 to 1) pairs."""
    out = []
    for item in value:
        topic, confidence = item
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"an alternative's topic must be a non-empty string, got {topic!r}")
        share = _real(confidence)
        if not isinstance(share, float) or not math.isfinite(share) or not 0 <= share <= 1:
            raise ValueError(f"an alternative's confidence must be from 0 to 1, got {confidence!r}")
        out.append((topic, share))
    return tuple(out)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    """A tuple of strings (evidence); a bare string is one item, not its letters."""
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"evidence must be strings, got {item!r}")
    return items


def _urgency(value: object) -> Urgency | None:
    return None if value is None else Urgency(str(value))


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy: what the region file says cannot be changed by a plugin."""
    return MappingProxyType(dict(value))


_str = attrs.validators.instance_of(str)
_opt_str = attrs.validators.optional(_str)


def _non_empty(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")


#: The actor named in history events the engine itself records.
ENGINE_ACTOR = "tsur"


class Status(enum.StrEnum):
    """Where an incident stands. See :data:`TRANSITIONS` for the allowed moves."""

    NEW = "new"
    TRIAGE = "triage"  # waits for a curator: low confidence or no territory
    CLASSIFIED = "classified"
    ROUTED = "routed"
    IN_PROGRESS = "in_progress"
    ANSWERED_INTERMEDIATE = "answered_intermediate"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"

    @property
    def is_open(self) -> bool:
        """True while the incident still needs work (Open311's ``open``)."""
        return self not in {Status.RESOLVED, Status.CLOSED, Status.REJECTED, Status.DUPLICATE}

    @property
    def label(self) -> str:
        """The status as a Russian-speaking curator reads it («направлен»)."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    Status.NEW: "новый",
    Status.TRIAGE: "на разборе",
    Status.CLASSIFIED: "классифицирован",
    Status.ROUTED: "направлен",
    Status.IN_PROGRESS: "в работе",
    Status.ANSWERED_INTERMEDIATE: "дан пром. ответ",
    Status.RESOLVED: "решён",
    Status.CLOSED: "закрыт",
    Status.REOPENED: "возвращён в работу",
    Status.REJECTED: "отклонён",
    Status.DUPLICATE: "дубль",
}

_S = Status
#: The state machine: status → statuses it may change to.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    _S.NEW: frozenset({_S.TRIAGE, _S.CLASSIFIED, _S.REJECTED, _S.DUPLICATE}),
    _S.TRIAGE: frozenset({_S.CLASSIFIED, _S.ROUTED, _S.REJECTED, _S.DUPLICATE}),
    _S.CLASSIFIED: frozenset({_S.TRIAGE, _S.CLASSIFIED, _S.ROUTED, _S.REJECTED, _S.DUPLICATE}),
    _S.ROUTED: frozenset(
        {
            _S.ROUTED,
            _S.IN_PROGRESS,
            _S.ANSWERED_INTERMEDIATE,
            _S.RESOLVED,
            _S.REJECTED,
            _S.DUPLICATE,
            _S.TRIAGE,
        }
    ),
    _S.IN_PROGRESS: frozenset({_S.ROUTED, _S.ANSWERED_INTERMEDIATE, _S.RESOLVED, _S.DUPLICATE}),
    # a curator may merge an incident into another at any open stage (it becomes a duplicate)
    _S.ANSWERED_INTERMEDIATE: frozenset({_S.ROUTED, _S.IN_PROGRESS, _S.RESOLVED, _S.DUPLICATE}),
    _S.RESOLVED: frozenset({_S.CLOSED, _S.REOPENED}),
    _S.CLOSED: frozenset({_S.REOPENED}),
    _S.REOPENED: frozenset(
        {_S.ROUTED, _S.IN_PROGRESS, _S.ANSWERED_INTERMEDIATE, _S.RESOLVED, _S.DUPLICATE}
    ),
    _S.REJECTED: frozenset({_S.REOPENED}),
    _S.DUPLICATE: frozenset({_S.REOPENED}),
}


def status_event(
    current: Status,
    target: Status,
    *,
    at: datetime,
    actor: str,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
    incident_id: int | None = None,
) -> Event:
    """The history event of a status change; :class:`IllegalTransition` if it is forbidden.

    :meth:`Incident.transition` uses it; code that changes a stored incident
    without loading it (the pipeline reopening one) builds its event here.
    """
    target = Status(target)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current.value, target.value, incident_id=incident_id)
    return Event(
        at=at,
        actor=actor,
        kind="status",
        reason=reason,
        from_status=current,
        to_status=target,
        data=dict(data or {}),
    )


class Urgency(enum.StrEnum):
    """Which track an incident is on; drives its SLA policy."""

    URGENT = "urgent"  # threat to life or health, emergencies
    QUICK = "quick"  # «быстрорешаемые»: a bench, a pothole in a yard
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        """Higher is more pressing: urgent 2, quick 1, normal 0."""
        return {Urgency.URGENT: 2, Urgency.QUICK: 1, Urgency.NORMAL: 0}[self]

    @property
    def label(self) -> str:
        """The track as a Russian-speaking curator reads it («срочное»)."""
        return {Urgency.URGENT: "срочное", Urgency.QUICK: "быстрорешаемое"}.get(self, "обычное")


@attrs.frozen
class GeoPoint:
    """A WGS84 point."""

    lat: float = attrs.field(validator=[attrs.validators.ge(-90.0), attrs.validators.le(90.0)])
    lon: float = attrs.field(validator=[attrs.validators.ge(-180.0), attrs.validators.le(180.0)])


@attrs.frozen
class Author:
    """Who wrote a message. ``id`` is the source's own user id."""

    id: str | None = None
    name: str | None = None
    contact: str | None = None  # phone or e-mail when the channel gives one
    anonymous: bool = False  # name hidden publicly, known to the executor


@attrs.frozen
class Attachment:
    """A file attached to a message (photo, video, document, link)."""

    kind: str
    url: str | None = None
    name: str | None = None
    mime_type: str | None = None


def _attachments(items: Iterable[Attachment]) -> tuple[Attachment, ...]:
    return tuple(items)


@attrs.frozen
class Message:
    """One message as a source saw it: the unit of ingest.

    ``(source, external_id)`` identifies it; ingesting the same pair twice is
    a no-op. ``territory`` and ``topic`` may be given by structured sources
    (a portal form with a category), in which case they are checked against
    the region instead of guessed.
    """

    source: str = attrs.field(validator=_non_empty)
    external_id: str = attrs.field(validator=_non_empty)
    text: str = attrs.field(validator=_str)
    created_at: datetime = attrs.field(validator=[attrs.validators.instance_of(datetime), _aware])
    author: Author | None = None
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_attachments)
    geo: GeoPoint | None = None
    address: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    url: str | None = None
    topic: str | None = None
    territory: str | None = None
    meta: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """The idempotency key ``(source, external_id)``."""
        return (self.source, self.external_id)


@attrs.frozen
class Source:
    """A configured channel: a VK community, a Telegram bot, a portal, a hotline.

    ``options`` is the source's ``options`` table from the region file (its
    adapter validates it); ``territory`` is where its messages are from when
    they do not say (a city's community group).
    """

    id: str
    kind: str
    name: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)
    territory: str | None = None


@attrs.frozen
class Territory:
    """A node of the territory tree: region → municipality → settlement."""

    id: str
    name: str
    kind: str
    parent: str | None = None
    variants: tuple[str, ...] = ()
    population: int | None = None
    population_year: int | None = None
    center: GeoPoint | None = None


@attrs.frozen
class Seasonal:
    """Keywords that count only in some months (snow in winter …)."""

    months: frozenset[int]
    keywords: tuple[str, ...]


@attrs.frozen
class Topic:
    """A node of the topic tree with its keywords."""

    id: str
    name: str
    parent: str | None = None
    keywords: tuple[str, ...] = ()
    seasonal: tuple[Seasonal, ...] = ()
    urgent_keywords: tuple[str, ...] = ()
    quick_keywords: tuple[str, ...] = ()


@attrs.frozen
class Executor:
    """Who answers for incidents: an administration, a ministry, a УК, a РСО …

    ``sla`` names an SLA policy that overrides the region's rules;
    ``working_hours``, ``lunch`` and ``timezone`` are the executor's own
    (None: the region's); ``schedule`` is ``office`` (the production
    calendar), ``daily`` or ``24/7`` (a dispatch service, ЕДДС).
    """

    id: str
    name: str
    kind: str
    territory: str | None = None
    topics: tuple[str, ...] = ()
    parent: str | None = None
    contacts: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)
    sla: str | None = None
    working_hours: tuple[str, str] | None = None
    lunch: tuple[str, str] | None = None
    timezone: str | None = None
    schedule: str = "office"


_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(working\s+hours?|working\s+days?|hours?|days?|minutes?|wh|wd|h|d|m)\s*$",
    re.IGNORECASE,
)
_DURATION_UNITS = ("working_hours", "working_days", "hours", "days", "minutes")


@attrs.frozen
class Duration:
    """A span of time, either in working time (calendar-aware) or plain time.

    ``unit`` is one of ``working_hours``, ``working_days``, ``hours``,
    ``days`` (calendar days, as legal terms count) and ``minutes``. Build one
    from text with :func:`parse_duration`.
    """

    amount: float = attrs.field(converter=float)
    unit: str = attrs.field(validator=attrs.validators.in_(_DURATION_UNITS))

    def __attrs_post_init__(self) -> None:
        if not self.amount > 0:
            raise ValueError(f"duration {self} must be positive")

    @property
    def working(self) -> bool:
        """Whether the span counts only working time."""
        return self.unit.startswith("working")

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        return f"{amount} {self.unit.replace('_', ' ')}"


def parse_duration(text: str | Mapping[str, Any] | Duration) -> Duration:
    """Parse ``"8 working hours"``, ``"8wh"``, ``"7 working days"``, ``"30 days"``, ``"4h"``.

    A mapping ``{"amount": 8, "unit": "working_hours"}`` is accepted too.
    Raises :class:`ValueError` naming the text when it cannot be read.
    """
    if isinstance(text, Duration):
        return text
    if isinstance(text, Mapping):
        try:
            return Duration(text["amount"], text["unit"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"cannot read duration {dict(text)!r}: give amount and unit ({exc})"
            ) from None
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(
            f"cannot read duration {text!r}; write e.g. '8 working hours', '7 working days', "
            "'30 days', '4 hours'"
        )
    amount = float(m.group(1))
    word = re.sub(r"\s+", " ", m.group(2).lower())
    unit = {"wh": "working_hours", "wd": "working_days", "h": "hours", "d": "days"}.get(word)
    if unit is None:
        if word == "m" or word.startswith("minute"):
            unit = "minutes"
        elif word.startswith("working h"):
            unit = "working_hours"
        elif word.startswith("working d"):
            unit = "working_days"
        elif word.startswith("hour"):
            unit = "hours"
        else:
            unit = "days"
    if amount <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return Duration(amount, unit)


@attrs.frozen
class SLAPolicy:
    """An SLA policy: the deadlines it sets and the incidents it applies to.

    The conditions (``topics`` — a topic or any of its subtopics —,
    ``urgency``, ``sources``, ``source_kinds``, ``executor_kinds``) must all
    hold; an empty condition holds for every incident. The region's
    policies are tried in order and the first that applies wins, unless the
    executor names its own (``Executor.sla``). ``schedule`` says whose clock
    counts the terms (``executor``: its calendar; ``24/7``: round the
    clock); ``registration``, when set, is the term to register an appeal
    in, and the other terms then run from registration (59-ФЗ).
    """

    id: str
    name: str
    first_response: Duration | None = None
    resolution: Duration | None = None
    after_intermediate: Duration | None = None
    topics: tuple[str, ...] = ()
    urgency: tuple[Urgency, ...] = ()
    sources: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    executor_kinds: tuple[str, ...] = ()
    schedule: str = "executor"
    registration: Duration | None = None


@attrs.frozen
class Classification:
    """A classifier's answer: a topic, how sure, and the words that decided.

    ``alternatives`` are the runner-up topics with their confidences, best
    first (shown to curators; they never decide); ``urgency_evidence`` says
    why ``urgency`` was set (in the engine's combined answer ``evidence`` is
    what decided the topic, ``urgency_evidence`` what decided the track).
    ``auto`` is a calibrated classifier's own judgement of whether its topic
    may be acted on without a curator (True: at a confidence where it was
    right 19 times in 20 on texts it had not seen); None: no opinion, the
    region's ``pipeline.min_confidence`` decides.
    """

    topic: str | None = attrs.field(validator=_opt_str)
    confidence: float = attrs.field(converter=_real, validator=_share)
    urgency: Urgency | None = attrs.field(default=None, converter=_urgency)
    evidence: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    classifier: str = attrs.field(default="", validator=_str)
    alternatives: tuple[tuple[str, float], ...] = attrs.field(default=(), converter=_alternatives)
    urgency_evidence: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    auto: bool | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(bool))
    )


@attrs.frozen
class Location:
    """A locator's answer: the territory, how sure, and why."""

    territory: str = attrs.field(validator=_non_empty)
    confidence: float = attrs.field(default=1.0, converter=_real, validator=_share)
    evidence: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    locator: str = attrs.field(default="", validator=_str)


@attrs.frozen
class RouteDecision:
    """A router's answer: the executor and the rule or reason that chose it."""

    executor: str = attrs.field(validator=_non_empty)
    reason: str = attrs.field(validator=_str)
    router: str = attrs.field(default="", validator=_str)


@attrs.frozen
class ModerationVerdict:
    """A moderation filter's decision on one message.

    ``action`` is ``"reject"`` (not an appeal, spam: no incident is made),
    ``"thanks"`` (the message thanks or praises and asks for nothing: no
    incident; it is credited to the executor it concerns), ``"flag"``
    (kept, marked for a curator) or ``"mask"`` (``masked_text`` replaces
    the text for everything that leaves the engine).
    """

    action: str
    reason: str = attrs.field(validator=_str)
    masked_text: str | None = attrs.field(default=None, validator=_opt_str)
    filter: str = attrs.field(default="", validator=_str)

    def __attrs_post_init__(self) -> None:
        if self.action not in {"reject", "thanks", "flag", "mask"}:
            raise ValueError(f"unknown moderation action {self.action!r}")
        if self.action == "mask" and self.masked_text is None:
            raise ValueError("a mask verdict needs masked_text")


@attrs.frozen
class Reply:
    """An answer posted back to the citizen on the channel they wrote in."""

    incident_id: int
    source: str
    text: str
    kind: str  # "intermediate" | "final"
    in_reply_to: str | None = None  # external id of the citizen's message
    thread_id: str | None = None
    author: str | None = None


@attrs.frozen
class Rating:
    """The citizen's rating of an answer (1–5) and a comment."""

    incident_id: int
    score: int = attrs.field(validator=[attrs.validators.ge(1), attrs.validators.le(5)])
    comment: str | None = None
    resolved: bool | None = None  # the citizen's "решено / не решено"


@attrs.frozen
class Notification:
    """Something people must hear about: an incident routed, late, escalated.

    ``recipients`` are executor ids. ``key`` makes queueing idempotent: a
    notification whose key was queued before is not queued again (by
    default ``kind:incident:recipients``).
    """

    kind: str  # "routed" | "warning" | "overdue" | "escalated" | "reply" | ...
    incident_id: int
    at: datetime = attrs.field(validator=_aware)
    recipients: tuple[str, ...]
    text: str
    data: Mapping[str, Any] = attrs.field(factory=dict)
    key: str | None = None

    @property
    def dedup_key(self) -> str:
        """The key the outbox keeps it under."""
        return self.key or f"{self.kind}:{self.incident_id}:{','.join(self.recipients)}"


@attrs.frozen
class FetchResult:
    """What one ``fetch`` call brought: messages and the cursor to continue from."""

    messages: Sequence[Message]
    cursor: str | None
    more: bool = False  # True when the source has more right now


@attrs.frozen
class Event:
    """One entry of an incident's append-only history."""

    at: datetime = attrs.field(validator=_aware)
    actor: str
    kind: str
    reason: str = ""
    from_status: Status | None = None
    to_status: Status | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.define
class Incident:
    """One problem in one place, made of one or more messages.

    Status changes go through :meth:`transition`, which checks
    :data:`TRANSITIONS` and appends an :class:`Event`; the history is never
    rewritten. ``id`` is ``None`` until the store saves the incident.
    """

    status: Status
    created_at: datetime = attrs.field(validator=_aware)
    id: int | None = None
    topic: str | None = None
    confidence: float = 0.0
    urgency: Urgency = Urgency.NORMAL
    territory: str | None = None
    executor: str | None = None
    sla_policy: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_at: datetime | None = None
    summary: str = ""
    source: str | None = None
    geo: GeoPoint | None = None
    address: str | None = None
    message_ids: list[int] = attrs.field(factory=list)
    history: list[Event] = attrs.field(factory=list)
    data: dict[str, Any] = attrs.field(factory=dict)

    def can_transition(self, target: Status) -> bool:
        """Whether the state machine allows moving to ``target`` now."""
        return target in TRANSITIONS[self.status]

    def transition(
        self,
        target: Status,
        *,
        at: datetime,
        actor: str,
        reason: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        """Move to ``target`` and record why; raise :class:`IllegalTransition` if forbidden."""
        event = status_event(
            self.status,
            target,
            at=at,
            actor=actor,
            reason=reason,
            data=data,
            incident_id=self.id,
        )
        self.status = event.to_status or self.status
        self.history.append(event)
        return event

    def record(
        self,
        kind: str,
        *,
        at: datetime,
        actor: str,
        reason: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        """Append a non-status event (classified, located, routed, merged, note …)."""
        event = Event(at=at, actor=actor, kind=kind, reason=reason, data=dict(data or {}))
        self.history.append(event)
        return event

    def is_overdue(self, at: datetime) -> bool:
        """Whether a deadline that still matters has passed at ``at``."""
        if not self.status.is_open:
            return False
        first_due = self.first_response_due
        if self.first_response_at is None and first_due is not None and at > first_due:
            return True
        return self.resolution_due is not None and at > self.resolution_due
