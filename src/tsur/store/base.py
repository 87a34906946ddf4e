"""The repository interface every storage backend implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import attrs

from tsur.domain import Event, Incident, Message, Status
from tsur.typing import Notification

__all__ = [
    "Batch",
    "ClaimedMessage",
    "GroupCandidate",
    "IngestResult",
    "RejectedInput",
    "Repository",
    "StoredMessage",
]


@attrs.frozen
class IngestResult:
    """What an ingest call did: ids of new messages and how many were already known."""

    inserted: tuple[int, ...]
    duplicates: int

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
    """A stored message with its processing state."""

    id: int
    message: Message
    status: str
    received_at: datetime
    attempts: int
    error_stage: str | None
    error: str | None
    incident_id: int | None
    moderation: Any


@attrs.frozen
class RejectedInput:
    """An input record that could not even be parsed into a message."""

    id: int
    origin: str
    line: int | None
    raw: str
    reason: str
    created_at: datetime


@attrs.frozen
class GroupCandidate:
    """An open incident a new message might belong to."""

    id: int
    status: Status
    signature: frozenset[str]
    address_key: str | None  # place keys, see tsur.grouping.encode_keys
    created_at: datetime
    topic: str | None = None
    executor: str | None = None
    sla_policy: str | None = None


class Batch(abc.ABC):
    """Messages claimed in one transaction, and the writes that complete them.

    Everything written through a batch is committed together when the
    ``claim`` context exits normally, or not at all.
    """

    messages: Sequence[ClaimedMessage]

    @abc.abstractmethod
    def group_candidates(
        self, *, topic: str | None, territories: Sequence[str], since: datetime
    ) -> list[GroupCandidate]:
        """Open incidents on ``topic`` or its subtopics in one of ``territories``, created since
        ``since``."""

    @abc.abstractmethod
    def incident_of_message(self, source: str, external_ids: Sequence[str]) -> int | None:
        """The open incident an earlier message (same source) belongs to, if any."""

    @abc.abstractmethod
    def reopen_candidates(
        self,
        *,
        source: str,
        author_id: str | None,
        refs: Sequence[str],
        topic: str | None,
        territory: str | None,
        address_key: str | None,
        since: datetime,
    ) -> list[tuple[GroupCandidate, str]]:
        """Resolved or closed incidents (changed since ``since``) a repeat message reopens.

        Matches, each with its reason: a reply in the thread of one of their
        messages; the same citizen on the same source about the same topic
        family; the same topic family at the same address.
        """

    @abc.abstractmethod
    def reopen(
        self,
        incident_id: int,
        message_id: int,
        events: Sequence[Event],
        *,
        resolution_due: datetime | None,
    ) -> bool:
        """Reopen a resolved or closed incident with a new message; False if it changed."""

    @abc.abstractmethod
    def create_incident(
        self, incident: Incident, message_id: int, *, signature: str, address_key: str | None
    ) -> int:
        """Add a new incident made from one message; return its id.

        The id may be provisional (negative) until the batch is written;
        every method of the batch accepts it, and :meth:`real_id` gives the
        stored id afterwards.
        """

    @abc.abstractmethod
    def real_id(self, incident_id: int) -> int:
        """The stored id for an id this batch returned."""

    @abc.abstractmethod
    def attach(
        self,
        incident_id: int,
        message_id: int,
        events: Sequence[Event],
        *,
        address_key: str | None = None,
        signature: str | None = None,
    ) -> None:
        """Add a message (and events) to an existing incident.

        ``address_key`` and ``signature``, when given, replace the incident's
        place keys and word signature (the caller merged in what the new
        message adds), so later reports can match what it taught.
        """

    @abc.abstractmethod
    def done(self, message_id: int, incident_id: int | None, moderation: Any = None) -> None:
        """Mark a message processed."""

    @abc.abstractmethod
    def reject(self, message_id: int, reason: str, moderation: Any = None) -> None:
        """Mark a message rejected (not an appeal, spam) with its reason."""

    @abc.abstractmethod
    def fail(self, message_id: int, stage: str, reason: str) -> None:
        """Mark a message failed at ``stage``; it can be re-run later."""

    @abc.abstractmethod
    def notify(self, notification: Notification, dedup_key: str | None = None) -> None:
        """Queue a notification in the outbox with the batch (once per ``dedup_key``;
        by default ``kind:incident:recipients``)."""


class Repository(abc.ABC):
    """Storage of messages, incidents, their history, cursors and the outbox."""

    @abc.abstractmethod
    def migrate(self) -> int:
        """Create or upgrade the schema; return its version."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    # ingest ---------------------------------------------------------------
    @abc.abstractmethod
    def ingest(self, messages: Sequence[Message], *, received_at: datetime) -> IngestResult:
        """Store raw messages; those already stored (same source and id) are skipped."""

    @abc.abstractmethod
    def record_rejected_input(
        self, origin: str, line: int | None, raw: str, reason: str, *, at: datetime
    ) -> int:
        """Keep an unreadable input record with its reason (once per origin and raw text)."""

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

    # incidents -------------------------------------------------------------
    @abc.abstractmethod
    def get_incident(self, incident_id: int) -> Incident:
        """An incident with its history and messages; :class:`NotFound` if absent."""

    @abc.abstractmethod
    def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        topic: str | None = None,
        territory: Sequence[str] | None = None,
        executor: str | None = None,
        urgency: str | None = None,
        overdue_at: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[Incident]:
        """Incidents matching all given filters, newest first (without history)."""

    @abc.abstractmethod
    def count_incidents(self, by: str) -> dict[str | None, int]:
        """Incident counts grouped by a column (topic, territory, executor, status, urgency)."""

    @abc.abstractmethod
    def update_incident(self, incident_id: int) -> AbstractContextManager[Incident]:
        """Load an incident locked for update; changes and new events are saved on exit."""

    # cursors & outbox -------------------------------------------------------
    @abc.abstractmethod
    def get_cursor(self, source: str) -> str | None:
        """The saved fetch cursor of a source."""

    @abc.abstractmethod
    def set_cursor(self, source: str, value: str | None, *, at: datetime) -> None:
        """Save the fetch cursor of a source."""

    @abc.abstractmethod
    def queue_notification(self, notification: Notification, dedup_key: str) -> bool:
        """Queue a notification; False if the same ``dedup_key`` was queued before."""

    @abc.abstractmethod
    def queue_notifications(self, items: Sequence[tuple[Notification, str]]) -> list[bool]:
        """Queue several ``(notification, dedup_key)`` at once; which ones were new."""

    @abc.abstractmethod
    def pending_notifications(self, limit: int = 100) -> Iterator[tuple[int, Notification]]:
        """Queued notifications not yet delivered."""

    @abc.abstractmethod
    def mark_notifications(
        self, results: Sequence[tuple[int, datetime | None, str | None]]
    ) -> None:
        """Record deliveries: ``(notification id, sent_at or None, error or None)`` each."""
