"""The repository interface every storage backend implements."""

from __future__ import annotations

import abc
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from tsur.domain import Event, Incident, Message, Notification
from tsur.grouping.candidates import Candidates, Lookup
from tsur.roles import ApiKey

if TYPE_CHECKING:
    from tsur.decide import Outcome

__all__ = [
    "INCIDENT_ORDERS",
    "Batch",
    "ClaimedMessage",
    "DeliveryResult",
    "IngestResult",
    "OutboxItem",
    "Regrouping",
    "RejectedInput",
    "Repository",
    "StoredMessage",
]

#: The orders :meth:`Repository.incidents` knows.
INCIDENT_ORDERS = ("newest", "uncertainty")


@attrs.frozen
class IngestResult:
    """What an ingest call did: ids of new messages and how many were already known.

    ``failed`` lists the messages the database refused, as ``(index in the
    given sequence, reason)``: the others are stored all the same.
    """

    inserted: tuple[int, ...]
    duplicates: int
    failed: tuple[tuple[int, str], ...] = ()

    @property
    def count(self) -> int:
        """Number of messages newly stored."""
        return len(self.inserted)


@attrs.frozen
class ClaimedMessage:
    """A pending message claimed by a worker for processing."""

    id: int
    message: Message
    attempts: int


@attrs.frozen
class StoredMessage:
    """A stored message with its processing state.

    ``thanks_executor`` is the executor a message of thanks (status
    ``thanked``) is credited to; a thanks in an incident's thread is
    credited to that incident (``incident_id``).
    """

    id: int
    message: Message
    status: str
    received_at: datetime
    attempts: int
    error_stage: str | None
    error: str | None
    incident_id: int | None
    moderation: Any
    thanks_executor: str | None = None


@attrs.frozen
class RejectedInput:
    """An input record that could not even be parsed into a message.

    ``verified``: a pushed body whose secret or signature was checked
    before it was kept (only those are read again).
    """

    id: int
    origin: str
    line: int | None
    raw: str
    reason: str
    created_at: datetime
    verified: bool = False


@attrs.frozen
class OutboxItem:
    """A queued notification as the deliverer sees it.

    ``delivered_to`` names the notifiers that already have it (a retry goes
    to the others only); ``attempts`` counts delivery rounds so far;
    ``error`` is the last round's failure, ``dead_at`` when delivery was
    given up (a curator sees these and can revive them).
    """

    id: int
    notification: Notification
    attempts: int = 0
    delivered_to: tuple[str, ...] = ()
    error: str | None = None
    next_attempt_at: datetime | None = None
    dead_at: datetime | None = None


@attrs.frozen
class DeliveryResult:
    """The end of one delivery round of a notification.

    ``sent_at`` is set when every notifier has it; otherwise
    ``next_attempt_at`` says when to try the rest again, or ``dead_at``
    that delivery is given up.
    """

    id: int
    delivered_to: tuple[str, ...]
    sent_at: datetime | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    dead_at: datetime | None = None


class Batch(abc.ABC):
    """Messages claimed in one transaction, and the writes that complete them.

    The engine asks :meth:`candidates` for each message, decides
    (:class:`~tsur.decide.Decider`) and hands the outcome to :meth:`apply`,
    the one place where a message's outcome is written. Everything is
    committed together when the ``claim`` context exits normally, or not at
    all.
    """

    messages: Sequence[ClaimedMessage]

    @abc.abstractmethod
    def candidates(self, lookup: Lookup) -> Candidates:
        """What the store holds around one message (this batch's new incidents included):
        the open incident of the thread it replies in, open incidents of the topic family
        in the territories since ``open_since``, and resolved or closed ones it may repeat
        (by thread, author on the same source, or the same place keys) changed since
        ``closed_since``."""

    def prefetch(self, lookups: Sequence[Lookup]) -> None:  # noqa: B027 - optional
        """Read ahead what :meth:`candidates` will be asked for ``lookups`` (the batch's
        messages, in order), so that asking costs no round trip each; a store that
        cannot read ahead does nothing here. What :meth:`candidates` answers is the same."""

    @abc.abstractmethod
    def apply(self, outcome: Outcome) -> int | None:
        """Write an outcome; return the incident the message ended in (None: none).

        A new incident's id may be provisional (negative) until the batch is
        written; every later lookup of the batch knows it, and
        :meth:`real_id` gives the stored id afterwards. A reopening whose
        incident another worker changed meanwhile writes nothing and
        returns None: decide again without that candidate.
        """

    @abc.abstractmethod
    def real_id(self, incident_id: int) -> int:
        """The stored id for an id this batch returned."""


class Regrouping(abc.ABC):
    """Several incidents locked together while messages move between them.

    What :meth:`Repository.regroup` yields: ``incidents`` by id, each loaded
    with its history and messages and locked for update. :meth:`add` stores a
    new incident in the same transaction (its id is set at once, so other
    incidents' events can name it), :meth:`move_messages` gives messages of
    one incident of the set to another. On exit every incident of the set
    (the added ones too) is saved with its new events, like
    :meth:`Repository.update_incident` saves one; an exception writes nothing.
    """

    @property
    @abc.abstractmethod
    def incidents(self) -> Mapping[int, Incident]:
        """The locked incidents by id (the added ones too)."""

    @abc.abstractmethod
    def add(
        self,
        incident: Incident,
        *,
        places: Mapping[str, str] | None = None,
        words: frozenset[str] | None = None,
    ) -> Incident:
        """Store a new incident (without messages yet) and add it to the set; its id is set.

        ``places`` and ``words`` are what grouping compares later messages with
        (as a new incident made by the pipeline keeps them).
        """

    @abc.abstractmethod
    def move_messages(self, message_ids: Sequence[int], to: int) -> None:
        """Link messages of incidents of the set to the incident ``to`` of the set.

        ``message_ids`` of both sides change at once; a message that no incident
        of the set holds, or an incident ``to`` outside it, raises :class:`ValueError`.
        """


class Repository(abc.ABC):
    """Storage of messages, incidents, their history, cursors and the outbox."""

    @abc.abstractmethod
    def migrate(self) -> int:
        """Create or upgrade the schema; return its version."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def ensure_aggregates(self, tz: str) -> bool:
        """Keep the analytics aggregates by local days of ``tz``, rebuilding them if
        they were kept otherwise; whether they were rebuilt. A store without
        aggregates does nothing."""
        return False

    # ingest ---------------------------------------------------------------
    @abc.abstractmethod
    def ingest(self, messages: Sequence[Message], *, received_at: datetime) -> IngestResult:
        """Store raw messages; those already stored (same source and id) are skipped."""

    @abc.abstractmethod
    def record_rejected_input(
        self,
        origin: str,
        line: int | None,
        raw: str,
        reason: str,
        *,
        at: datetime,
        verified: bool = False,
    ) -> int:
        """Keep an unreadable input record with its reason (once per origin and raw text);
        ``verified`` marks a pushed body that passed its source's verification."""

    def record_rejected_inputs(
        self, records: Sequence[tuple[str, int | None, str, str]], *, at: datetime
    ) -> list[int]:
        """Keep several unreadable records, ``(origin, line, raw, reason)`` each, as
        :meth:`record_rejected_input` keeps one; their ids. A store may keep them in one
        transaction."""
        return [
            self.record_rejected_input(origin, line, raw, reason, at=at)
            for origin, line, raw, reason in records
        ]

    @abc.abstractmethod
    def rejected_inputs(self, *, include_resolved: bool = False) -> list[RejectedInput]:
        """Input records that could not be read."""

    @abc.abstractmethod
    def resolve_rejected_input(self, ids: Sequence[int], *, at: datetime) -> None:
        """Mark rejected input records as handled (re-ingested or dismissed)."""

    # processing -------------------------------------------------------------
    @abc.abstractmethod
    def claim(self, limit: int, *, now: datetime) -> AbstractContextManager[Batch]:
        """Claim up to ``limit`` pending messages, skipping ones other workers hold."""

    @abc.abstractmethod
    def requeue(
        self, *, statuses: Sequence[str] = ("failed",), ids: Sequence[int] | None = None
    ) -> int:
        """Put failed (or other) messages back in the queue; return how many."""

    @abc.abstractmethod
    def message_counts(self) -> dict[str, int]:
        """Number of messages per processing status."""

    @abc.abstractmethod
    def messages(
        self, *, status: str | None = None, incident_id: int | None = None, limit: int = 100
    ) -> list[StoredMessage]:
        """Stored messages, newest first."""

    @abc.abstractmethod
    def message_by_key(self, source: str, external_id: str) -> StoredMessage | None:
        """The stored message ``(source, external_id)`` with its state; None if there is none."""

    # incidents -------------------------------------------------------------
    @abc.abstractmethod
    def get_incident(self, incident_id: int) -> Incident:
        """An incident with its history and messages; :class:`NotFound` if absent."""

    @abc.abstractmethod
    def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        topic: str | Sequence[str] | None = None,
        territory: Sequence[str] | None = None,
        executor: str | None = None,
        urgency: str | None = None,
        overdue_at: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
        before_id: int | None = None,
        text: str | None = None,
        ids: Sequence[int] | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        order: str = "newest",
    ) -> list[Incident]:
        """Incidents matching all given filters, newest first (without history).

        ``order="uncertainty"`` gives the least certain classification first
        instead: the lowest stored confidence first, the oldest first among
        equals — a curator's triage queue by what the models most need a word
        on (page with ``offset``).

        ``topic`` is one topic id or several (:meth:`tsur.Engine.incidents`
        gives a topic with its subtopics); ``territory`` a list of ids (an
        empty one matches nothing); ``before_id`` keeps ids below it (a
        stable cursor for paging); ``text`` a case-insensitive substring of
        the summary or the address; ``ids`` the incidents with these ids (an
        empty list matches nothing); ``created_from`` and ``created_before``
        the incidents created at or after, and before, these instants.
        """

    @abc.abstractmethod
    def count_incidents(self, by: str) -> dict[str | None, int]:
        """Incident counts grouped by a column (topic, territory, executor, status, urgency)."""

    @abc.abstractmethod
    def update_incident(self, incident_id: int) -> AbstractContextManager[Incident]:
        """Load an incident locked for update; changes and new events are saved on exit."""

    @abc.abstractmethod
    def regroup(self, incident_ids: Sequence[int]) -> AbstractContextManager[Regrouping]:
        """Lock several incidents (in id order) to move messages between them and add new
        ones, all in one transaction; see :class:`Regrouping`. :class:`NotFound` if one
        is absent."""

    @abc.abstractmethod
    def messages_by_id(self, ids: Sequence[int]) -> list[StoredMessage]:
        """The stored messages with these ids, in id order (unknown ids are left out)."""

    @abc.abstractmethod
    def events_of_kind(
        self, kinds: Sequence[str], *, since: datetime | None = None
    ) -> list[tuple[int, Event]]:
        """History events of these kinds across all incidents, at or after ``since``,
        as ``(incident id, event)`` in the order they were recorded."""

    # API keys ---------------------------------------------------------------
    @abc.abstractmethod
    def add_api_key(self, key: ApiKey) -> None:
        """Store a new key (:func:`tsur.access.issue_key` makes it)."""

    @abc.abstractmethod
    def get_api_key(self, key_id: str) -> ApiKey | None:
        """A stored key by its id, revoked or not; None if there is none."""

    @abc.abstractmethod
    def api_keys(self) -> list[ApiKey]:
        """Every stored key, oldest first."""

    @abc.abstractmethod
    def revoke_api_key(self, key_id: str, *, at: datetime) -> bool:
        """Revoke a key from ``at`` on; False if there is no such key or it was revoked."""

    # cursors & outbox -------------------------------------------------------
    @abc.abstractmethod
    def get_cursor(self, source: str) -> str | None:
        """The saved fetch cursor of a source."""

    @abc.abstractmethod
    def set_cursor(self, source: str, value: str | None, *, at: datetime) -> None:
        """Save the fetch cursor of a source."""

    @abc.abstractmethod
    def queue_notifications(self, notifications: Sequence[Notification]) -> list[bool]:
        """Queue notifications in the outbox, each once per its ``dedup_key``; which were new."""

    @abc.abstractmethod
    def pending_notifications(self, limit: int = 100) -> Iterator[tuple[int, Notification]]:
        """Queued notifications not yet delivered."""

    @abc.abstractmethod
    def mark_notifications(
        self, results: Sequence[tuple[int, datetime | None, str | None]]
    ) -> None:
        """Record deliveries: ``(notification id, sent_at or None, error or None)`` each."""

    def wait_for_work(self, timeout: float) -> bool:
        """Wait until new messages may be pending, at most ``timeout`` seconds.

        True when the store was told of new work; False after the timeout.
        This default just sleeps (a poll); a store that can be told of new
        work returns earlier.
        """
        time.sleep(max(0.0, timeout))
        return False

    @abc.abstractmethod
    def claim_notifications(
        self, limit: int, *, now: datetime, lease: timedelta = timedelta(minutes=5)
    ) -> list[OutboxItem]:
        """Claim up to ``limit`` notifications due for delivery at ``now`` for ``lease``.

        Due: not sent, not dead, its ``next_attempt_at`` passed and no other
        deliverer's lease running. A deliverer that dies mid-round leaves its
        lease to run out, and the notifications are claimed again: delivery is
        at least once, and ``Notification.dedup_key`` lets a notifier drop a
        repeat.
        """

    @abc.abstractmethod
    def settle_notifications(self, results: Sequence[DeliveryResult]) -> None:
        """Record delivery rounds: count the attempt, release the lease, store the result."""

    @abc.abstractmethod
    def notification_counts(self, *, now: datetime) -> dict[str, int]:
        """Outbox by state: ``queued`` (due now), ``retrying`` (waiting for a retry),
        ``sent`` and ``dead``."""

    @abc.abstractmethod
    def dead_notifications(self, limit: int = 100) -> list[OutboxItem]:
        """Notifications whose delivery was given up, newest first, with their last error."""

    @abc.abstractmethod
    def revive_notifications(self, ids: Sequence[int] | None = None) -> int:
        """Queue dead notifications (all, or ``ids``) for delivery again; how many."""
