"""Delivering the outbox: queued notifications to every notifier, at least once.

A deliverer claims due notifications for a lease, hands each to every
notifier that does not have it yet, and settles the round: sent when every
notifier has it; otherwise retried later, after a growing delay, by the
notifiers that failed only; given up ("dead") after
:attr:`DeliveryPolicy.max_attempts` rounds, where a curator sees it
(``tsur notifications``) and can queue it again. A deliverer that dies
mid-round leaves its lease to run out and the round is done again: a
notifier may see a notification twice and recognises it by
``Notification.dedup_key``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs

from tsur.components import Registered
from tsur.store.base import DeliveryResult, OutboxItem, Repository

__all__ = ["DeliveryPolicy", "deliver"]

log = logging.getLogger("tsur.delivery")


@attrs.frozen
class DeliveryPolicy:
    """How long to keep trying a notification a notifier refuses.

    After the n-th failed round the next one waits ``retry_delays[n-1]``
    (the last delay repeats); after ``max_attempts`` rounds delivery is
    given up. The defaults try for about a day: 1, 5, 15 minutes, 1 and 3
    hours, then every 6 hours, ten rounds in all. ``lease`` is how long a
    claimed notification is left to its deliverer before another may take
    it.
    """

    retry_delays: tuple[timedelta, ...] = (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
    )
    max_attempts: int = attrs.field(default=10, validator=attrs.validators.ge(1))
    lease: timedelta = timedelta(minutes=5)

    def __attrs_post_init__(self) -> None:
        if not self.retry_delays or any(d <= timedelta(0) for d in self.retry_delays):
            raise ValueError("retry_delays must be positive durations, at least one")
        if self.lease <= timedelta(0):
            raise ValueError("lease must be a positive duration")

    def delay(self, failed_rounds: int) -> timedelta:
        """The wait after ``failed_rounds`` failed rounds."""
        return self.retry_delays[min(failed_rounds, len(self.retry_delays)) - 1]


def deliver(
    repository: Repository,
    notifiers: Sequence[Registered],
    clock: Callable[[], datetime],
    *,
    chunk: int = 500,
    policy: DeliveryPolicy | None = None,
) -> int:
    """Deliver every notification due now; return how many rounds were settled.

    A notifier's failure is logged and recorded with the notification and
    never stops the others; the notification is retried for that notifier.
    """
    policy = policy or DeliveryPolicy()
    names = tuple(reg.name for reg in notifiers)
    settled = 0
    while True:
        items = repository.claim_notifications(chunk, now=clock(), lease=policy.lease)
        if not items:
            return settled
        repository.settle_notifications(
            [_round(item, notifiers, names, clock, policy) for item in items]
        )
        settled += len(items)
        if len(items) < chunk:  # every one due was claimed: no need to ask again
            return settled


def _round(
    item: OutboxItem,
    notifiers: Sequence[Registered],
    names: tuple[str, ...],
    clock: Callable[[], datetime],
    policy: DeliveryPolicy,
) -> DeliveryResult:
    """One delivery round of one notification to the notifiers that lack it."""
    have = list(item.delivered_to)
    errors = []
    for reg in notifiers:
        if reg.name in have:
            continue
        try:
            reg.component.notify(item.notification)
        except Exception as exc:
            errors.append(f"{reg.name}: {type(exc).__name__}: {exc}")
            log.warning("notifier %s failed on notification %d: %s", reg.name, item.id, exc)
        else:
            have.append(reg.name)
    now = clock()
    delivered = tuple(have)
    if not errors or all(name in have for name in names):
        return DeliveryResult(item.id, delivered, sent_at=now)
    error = "; ".join(errors)
    rounds = item.attempts + 1
    if rounds >= policy.max_attempts:
        log.error("notification %d given up after %d rounds: %s", item.id, rounds, error)
        return DeliveryResult(item.id, delivered, error=error, dead_at=now)
    return DeliveryResult(
        item.id, delivered, error=error, next_attempt_at=now + policy.delay(rounds)
    )
