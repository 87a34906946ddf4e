"""Delivering the outbox: queued notifications to every notifier."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from tsur.components import Registered
from tsur.store.base import Repository

__all__ = ["deliver"]

log = logging.getLogger("tsur.delivery")


def deliver(
    repository: Repository,
    notifiers: Sequence[Registered],
    clock: Callable[[], datetime],
    *,
    chunk: int = 500,
) -> int:
    """Send queued notifications through every notifier; return how many were sent.

    A notification is marked sent once every notifier has had it; a
    notifier's failure is logged and recorded with the notification, and
    never stops the others.
    """
    sent = 0
    while True:
        pending = list(repository.pending_notifications(limit=chunk))
        if not pending:
            return sent
        results: list[tuple[int, datetime | None, str | None]] = []
        for nid, note in pending:
            errors = []
            for reg in notifiers:
                try:
                    reg.component.notify(note)
                except Exception as exc:
                    errors.append(f"{reg.name}: {type(exc).__name__}: {exc}")
                    log.warning("notifier %s failed on notification %d: %s", reg.name, nid, exc)
            results.append((nid, clock(), "; ".join(errors) or None))
        repository.mark_notifications(results)
        sent += len(results)
