"""Exceptions of the incident lifecycle.

All derive from :class:`~tsur.errors.TsurError` through :class:`LifecycleError`::

    TsurError
    └── LifecycleError          a lifecycle request cannot be carried out
        ├── InvalidRequest      ... because an argument is wrong (empty text, score 7)
        ├── AnswerRejected      ... because a final answer is an «отписка» (``reasons``)
        ├── PhotoRequired       ... because the topic needs photo confirmation first
        ├── ExtensionRefused    ... because a 59-ФЗ extension is not allowed here
        └── NotifierError       ... because an e-mail or webhook could not be delivered

An illegal status change raises :class:`~tsur.errors.IllegalTransition` and
an unknown incident or executor :class:`~tsur.errors.NotFound`, as everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from tsur.errors import TsurError

__all__ = [
    "AnswerRejected",
    "ExtensionRefused",
    "InvalidRequest",
    "LifecycleError",
    "NotifierError",
    "PhotoRequired",
]


class LifecycleError(TsurError):
    """A lifecycle request (answer, rating, extension …) cannot be carried out."""

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


class NotifierError(LifecycleError):
    """A notifier (e-mail, webhook) failed; ``retryable`` when a later attempt may pass."""

    def __init__(self, message: str, *, notifier: str, retryable: bool = False) -> None:
        self.notifier = notifier
        self.retryable = retryable
        super().__init__(f"notifier {notifier!r}: {message}")
