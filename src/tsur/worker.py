"""A long-running worker: processes messages as they come and outlives the database.

:class:`Worker` loops over one engine: it claims and processes a batch
(:meth:`~tsur.pipeline.Engine.run_batch`, which delivers what the batch
decided), and when the queue is empty it delivers notifications whose retry
came due, runs the lifecycle's tick when one is due, and waits for new work
(:meth:`~tsur.store.base.Repository.wait_for_work`: LISTEN/NOTIFY on
PostgreSQL, a watch on the file's commits on SQLite). When the database goes away (a restart, a
lost connection) it waits with a growing delay and carries on; a batch
whose transaction broke is simply claimed again, since nothing of it was
written. :meth:`Worker.stop` (what ``tsur worker`` calls on SIGTERM or
SIGINT) lets the batch in hand finish and ends the loop.

Any number of workers, on any number of machines, share one PostgreSQL
queue: a batch is claimed with ``FOR UPDATE SKIP LOCKED`` and processed in
its transaction, so no message is processed twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import attrs

from tsur.errors import StorageError
from tsur.lifecycle import Lifecycle
from tsur.pipeline import Engine
from tsur.runs import RunReport

__all__ = ["Worker", "WorkerReport"]

log = logging.getLogger("tsur.worker")


@attrs.define
class WorkerReport:
    """What a worker did until it stopped."""

    run: RunReport = attrs.field(factory=RunReport)
    batches: int = 0
    ticks: int = 0
    #: times the database could not be reached and the worker waited for it
    outages: int = 0


class Worker:
    """Process messages until stopped, through database outages.

    ``idle`` is the longest wait for new work when the queue is empty (new
    work ends the wait at once: a NOTIFY on PostgreSQL, a commit to a SQLite
    file); ``tick_every`` runs the
    lifecycle's tick (warnings, escalation) that often, None never;
    ``reconnect`` is the first and the longest wait when the database is
    unavailable (doubled each time, with jitter); ``outage_limit`` gives up
    after the database was unavailable that long without a break (None:
    never).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 200,
        idle: float = 5.0,
        tick_every: float | None = 60.0,
        reconnect: tuple[float, float] = (0.5, 30.0),
        outage_limit: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.engine = engine
        self.batch_size = batch_size
        self.idle = idle
        self.tick_every = tick_every
        self.reconnect = reconnect
        self.outage_limit = outage_limit
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._life: Lifecycle | None = None

    def stop(self) -> None:
        """End the loop once the batch in hand is done (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def run(self, *, until_idle: bool = False) -> WorkerReport:
        """Loop until :meth:`stop` (or, with ``until_idle``, until the queue is empty)."""
        report = WorkerReport()
        next_tick = self._monotonic()
        failures = 0
        outage_since: float | None = None
        try:
            while not self._stop.is_set():
                try:
                    part = self.engine.run_batch(self.batch_size)
                    if part is not None:
                        report.run += part
                        report.batches += 1
                    else:
                        self.engine.deliver_notifications()  # retries that came due
                        if self.tick_every is not None and self._monotonic() >= next_tick:
                            self._lifecycle().tick()
                            report.ticks += 1
                            next_tick = self._monotonic() + self.tick_every
                        if until_idle:
                            break
                        self.engine.repository.wait_for_work(self._idle_wait(next_tick))
                    if failures:
                        log.warning("database back after %d failed attempts", failures)
                    failures, outage_since = 0, None
                except StorageError as exc:
                    if not exc.unavailable:
                        raise
                    now = self._monotonic()
                    if outage_since is None:
                        outage_since = now
                        report.outages += 1
                    if self.outage_limit is not None and now - outage_since > self.outage_limit:
                        raise
                    failures += 1
                    delay = self._backoff(failures)
                    log.warning("database unavailable (%s); again in %.1f s", exc, delay)
                    self._stop.wait(delay)
        finally:
            if self._life is not None:
                self._life.close()
                self._life = None
        log.info(
            "worker stopped: %d messages in %d batches, %d ticks, %d outages",
            report.run.processed,
            report.batches,
            report.ticks,
            report.outages,
        )
        return report

    def _lifecycle(self) -> Lifecycle:
        if self._life is None:
            self._life = Lifecycle(self.engine)
        return self._life

    def _idle_wait(self, next_tick: float) -> float:
        wait = self.idle
        if self.tick_every is not None:
            wait = min(wait, max(0.0, next_tick - self._monotonic()))
        return wait

    def _backoff(self, failures: int) -> float:
        first, longest = self.reconnect
        return min(longest, first * 2.0 ** (failures - 1)) * (0.5 + random.random() / 2)
