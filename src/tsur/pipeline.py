"""The engine: it stores what comes in and drives each message through the steps.

Each step is its own module, called once per message, in one direction:
reading (:mod:`tsur.reading`), finding what is around the message
(:mod:`tsur.grouping`, the batch's lookup), deciding (:mod:`tsur.decide`),
writing the outcome (the batch), delivering the outbox
(:mod:`tsur.delivery`). No step calls back into the engine.

:class:`Engine` is what an embedding application creates::

    import tsur

    engine = tsur.Engine.from_config(db="tsur.db")      # bundled example region
    engine.process([tsur.Message(...), ...])
    for incident in engine.incidents(status=["routed"]):
        ...

Raw messages are stored before anything may fail on them. Processing takes
pending messages in batches, each batch in one transaction: a crash
mid-batch rolls the batch back and the next run does it again, so nothing
is lost and nothing is made twice. A message a stage fails on is marked
``failed`` with the stage and reason and can be re-run after a fix
(:meth:`Engine.retry_failed`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pluggy

from tsur.analysis import Analysis
from tsur.config import RegionConfig, load_region
from tsur.context import Clock, Context, preview_mode, utcnow
from tsur.decide import Decider, Outcome
from tsur.delivery import DeliveryPolicy, deliver
from tsur.domain import (
    Classification,
    Incident,
    Location,
    Message,
    ModerationVerdict,
    RouteDecision,
    Status,
)
from tsur.errors import (
    IngestError,
    StorageError,
    TsurError,
    UnknownSource,
)
from tsur.grouping import Candidates, Lookup, lookup_for
from tsur.plugins import (
    Components,
    add_plugins,
    call_each,
    collect_components,
    make_plugin_manager,
)
from tsur.reading import Reader
from tsur.region import Region
from tsur.routing.choose import choose_route
from tsur.runs import IngestReport, RunReport
from tsur.sla.calendar import WorkingCalendar
from tsur.stages import DB_ERRORS, run_stage
from tsur.store.base import Batch, ClaimedMessage, Repository
from tsur.store.sql import open_repository
from tsur.text.normalize import Lemmatizer, Text, get_lemmatizer
from tsur.wire import (
    ParsedLine,
    clean_message,
    file_lines,
    message_to_dict,
    parse_record,
    read_jsonl,
    split_lines,
)

__all__ = ["Engine", "IngestReport", "RunReport"]  # the reports live in tsur.runs

log = logging.getLogger("tsur.pipeline")
#: lines of a JSON Lines input read, checked and stored at a time (memory holds one chunk)
_INGEST_LINES = 5_000

Progress = Callable[[int, int], None]


#: origins of rejected input that belongs to a source's adapter, not to a file
ADAPTER_ORIGINS = ("collect:", "webhook:")


class Engine:
    """The incident engine for one region, on one store, with its plugins.

    ``config`` is a validated region file (or a :class:`~tsur.Region` built
    from one). ``plugins`` are extra plugin modules or objects to register
    (an embedding application's own); ``entry_points=False`` ignores
    installed third-party plugins; ``plugin_manager`` is a ready manager
    to use instead (``plugins`` are then added to it). ``clock`` returns
    the current time (tests freeze it); ``lemmatizer`` is the one every
    stage and plugin uses (the process-wide one by default).
    """

    def __init__(
        self,
        config: RegionConfig | Region,
        repository: Repository,
        *,
        plugins: Iterable[object] = (),
        entry_points: bool = True,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock = utcnow,
        lemmatizer: Lemmatizer | None = None,
        delivery: DeliveryPolicy | None = None,
    ) -> None:
        self.region = config if isinstance(config, Region) else Region.from_config(config)
        self.repository = repository
        # the daily analytics aggregates count by this region's local days
        repository.ensure_aggregates(self.region.calendar.tz.key)
        self.clock = clock
        #: how long notifications a notifier refuses are retried
        self.delivery = delivery or DeliveryPolicy()
        self.lemmatizer = lemmatizer or get_lemmatizer()
        if plugin_manager is None:
            plugin_manager = make_plugin_manager(entry_points=entry_points, plugins=plugins)
        else:
            add_plugins(plugin_manager, plugins)  # given both: the plugins join the manager
        self.pm = plugin_manager
        #: what every plugin is given (with its own settings added per plugin)
        self.context = Context(self.region, self.lemmatizer, clock, repository)
        self.components: Components = collect_components(self.pm, self.context)
        #: the reading stages over the registered components
        self.reader = Reader(self.region, self.components, self.lemmatizer)
        self.decider = Decider(
            self.region, functools.partial(choose_route, self.components.routers, self.region)
        )
        call_each(self.pm, "prepare_engine", lambda _plugin: {"engine": self})

    @classmethod
    def from_config(
        cls,
        config: str | Path | RegionConfig | Region | None = None,
        db: str | Path = ":memory:",
        *,
        existing: bool = False,
        **kwargs: Any,
    ) -> Engine:
        """Build an engine from a region file (None: the bundled example) and a database.

        ``db`` is a SQLite path, ``":memory:"`` or a PostgreSQL URL; the
        schema is created or upgraded on open. With ``existing=True`` only
        an existing tsur database is opened (see :func:`~tsur.open_repository`).
        """
        region = config if isinstance(config, RegionConfig | Region) else load_region(config)
        return cls(region, open_repository(db, existing=existing), **kwargs)

    @property
    def config(self) -> RegionConfig:
        """The validated region file."""
        return self.region.config

    @property
    def calendar(self) -> WorkingCalendar:
        """The region's working calendar."""
        return self.region.calendar

    def close(self) -> None:
        """Release the database connections."""
        self.repository.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ingest ---------------------------------------------------------------
    def _check(self, m: Message, *, line: int | None = None, origin: str | None = None) -> Message:
        """The message as it is stored (:func:`~tsur.wire.clean_message`), or an IngestError."""
        sources = self.region.sources
        if sources and m.source not in sources:
            raise UnknownSource(m.source, sorted(sources), line=line, origin=origin)
        try:
            m = clean_message(m)
        except ValueError as exc:
            raise IngestError(str(exc), line=line, origin=origin) from None
        if not m.text.strip() and not m.attachments:
            raise IngestError("message has neither text nor attachments", line=line, origin=origin)
        return m

    def ingest(
        self, messages: Iterable[Message | Mapping[str, Any]], *, origin: str = "api"
    ) -> IngestReport:
        """Store messages for processing; idempotent on ``(source, external_id)``.

        Dictionaries are validated as wire records. An item that cannot be
        accepted is kept in the rejected-input store with its reason and
        reported in ``errors``; the others are stored.
        """
        report = IngestReport()
        ok: list[Message] = []
        positions: list[int] = []
        now = self.clock()
        rejects: list[tuple[str, int | None, str, str]] = []
        for i, item in enumerate(messages, start=1):
            try:
                if isinstance(item, Message):
                    m = item
                elif isinstance(item, Mapping):
                    m = parse_record(item, line=i, origin=origin)
                else:
                    raise IngestError(
                        f"not a message: {type(item).__name__}", line=i, origin=origin
                    )
                m = self._check(m, line=i, origin=origin)
            except IngestError as exc:
                rejects.append((origin, i, _raw_of(item), str(exc)))
                report.errors.append(exc)
                continue
            ok.append(m)
            positions.append(i)
        self.repository.record_rejected_inputs(rejects, at=now)  # one transaction for all
        return self._store(ok, report, origin, now, positions)

    def _store(
        self,
        messages: list[Message],
        report: IngestReport,
        origin: str,
        now: datetime,
        lines: list[int] | None = None,
    ) -> IngestReport:
        """Store accepted messages and complete ``report`` (refusals are already in it).

        A message the database refuses (``IngestResult.failed``) is kept in the
        rejected-input store with the database's reason, its line when known.
        """
        result = self.repository.ingest(messages, received_at=now)
        report.inserted += result.count
        report.duplicates += result.duplicates
        for index, reason in result.failed:
            m = messages[index]
            line = lines[index] if lines is not None else None
            err = IngestError(f"not stored: {reason}", line=line, origin=origin)
            self.repository.record_rejected_input(origin, line, _raw_of(m), str(err), at=now)
            report.errors.append(err)
        log.info(
            "ingest from %s: %d new, %d already stored, %d refused",
            origin,
            report.inserted,
            report.duplicates,
            len(report.errors),
        )
        return report

    def ingest_jsonl(
        self,
        path: str | Path | None = None,
        *,
        lines: Iterable[str | bytes] | None = None,
        data: bytes | None = None,
        origin: str | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest JSON Lines from a file (``path``), raw bytes (``data``: standard input)
        or ``lines``; every line is decided on its own.

        A line that cannot be accepted — not UTF-8, not JSON, nested too
        deeply, not a message, a date outside 1970–2100, an unknown source,
        an identifier with a control character, refused by the database —
        is kept in the rejected-input store with its number and reason and
        reported in ``errors``; every other line is stored. Bytes are
        decoded line by line, so one bad byte costs only its line; a
        byte-order mark opening the file is dropped. Ingesting a corrected
        file again resolves what its lines left in the rejected-input store.

        Lines are read and stored :data:`_INGEST_LINES` at a time: memory holds
        one chunk, whatever the size of the file. After each chunk
        ``progress(done, total)`` is called with the kibibytes of a file read
        and its size (with the lines read, twice, for other input).
        """
        if lines is None and data is None and path is None:
            raise ValueError("give a path, data or lines")
        origin = origin or (str(path) if path is not None else "<lines>")
        report = IngestReport()
        now = self.clock()
        # lines of this file refused before, by number: a corrected line stored now closes
        # its reject; standard input has no identity to tell one batch's line 2 from another's
        refused_before: dict[int, list[int]] = {}
        if path is not None:
            for r in self.repository.rejected_inputs():
                if r.origin == origin and r.line is not None:
                    refused_before.setdefault(r.line, []).append(r.id)
        try:
            with contextlib.ExitStack() as stack:
                fh: BinaryIO | None = None
                if lines is None:
                    if data is not None:
                        lines = split_lines(data)
                    else:
                        assert path is not None
                        fh = stack.enter_context(Path(path).open("rb"))
                        lines = file_lines(fh)
                size = os.fstat(fh.fileno()).st_size // 1024 if fh is not None else 0
                parsed = read_jsonl(lines, origin=origin)
                while chunk := list(itertools.islice(parsed, _INGEST_LINES)):
                    self._ingest_lines(chunk, report, origin, now, refused_before)
                    if progress is not None:
                        if fh is not None:
                            progress(min(fh.tell() // 1024, size), size)
                        else:
                            progress(chunk[-1].line, chunk[-1].line)
        except OSError as exc:
            stored = (
                f"; {report.inserted} new messages before it are stored" if report.inserted else ""
            )
            raise IngestError(f"cannot read {path or origin}: {exc}{stored}") from exc
        return report

    def _ingest_lines(
        self,
        chunk: Sequence[ParsedLine],
        report: IngestReport,
        origin: str,
        now: datetime,
        refused_before: dict[int, list[int]],
    ) -> None:
        """Store one chunk of parsed lines (``report`` grows); bad lines are kept as rejects."""
        good: list[Message] = []
        numbers: list[int] = []
        rejects: list[tuple[str, int | None, str, str]] = []
        errors_before = len(report.errors)
        for parsed in chunk:
            err = parsed.error
            if err is None:
                assert parsed.message is not None
                try:
                    good.append(self._check(parsed.message, line=parsed.line, origin=origin))
                    numbers.append(parsed.line)
                    continue
                except IngestError as exc:
                    err = exc
            rejects.append((origin, parsed.line, parsed.raw, str(err)))
            report.errors.append(err)
        self.repository.record_rejected_inputs(rejects, at=now)  # one transaction for all
        self._store(good, report, origin, now, numbers)
        if refused_before:
            failed = {e.line for e in report.errors[errors_before:]}
            stale = [rid for n in numbers if n not in failed for rid in refused_before.pop(n, ())]
            if stale:
                self.repository.resolve_rejected_input(stale, at=now)

    def retry_rejected_input(self) -> IngestReport:
        """Try stored unreadable lines of files and standard input again (after a config
        fix); resolve those that pass.

        What a source's adapter collected or was pushed (origins ``collect:…`` and
        ``webhook:…``) is its adapter's to read again, verified bodies only
        (:func:`tsur.intake.retry_rejected`): read here as wire records, a body
        pushed to one source could claim to be another's.
        """
        report = IngestReport()
        now = self.clock()
        for rec in self.repository.rejected_inputs():
            if rec.origin.startswith(ADAPTER_ORIGINS):
                continue
            parsed = next(iter(read_jsonl([rec.raw], origin=rec.origin)), None)
            if parsed is None or parsed.message is None:
                continue
            try:
                message = self._check(parsed.message)
            except IngestError:
                continue
            result = self.repository.ingest([message], received_at=now)
            if result.failed:
                continue
            report.inserted += result.count
            report.duplicates += result.duplicates
            self.repository.resolve_rejected_input([rec.id], at=now)
        return report

    # processing -------------------------------------------------------------
    def process(self, messages: Iterable[Message | Mapping[str, Any]]) -> RunReport:
        """Ingest ``messages`` and process everything pending."""
        self.ingest(messages)
        return self.run()

    def run(
        self, *, batch_size: int = 200, limit: int | None = None, progress: Progress | None = None
    ) -> RunReport:
        """Process pending messages in batches until none are left (or ``limit``)."""
        total = self.repository.message_counts().get("pending", 0)
        if limit is not None:
            total = min(total, limit)
        report = RunReport()
        while limit is None or report.processed < limit:
            size = batch_size if limit is None else min(batch_size, limit - report.processed)
            part = self.run_batch(size)
            if part is None:
                break
            report += part
            if progress is not None:
                progress(report.processed, max(total, report.processed))
            log.debug(
                "batch: %d processed, %d new, %d merged, %d failed",
                part.processed,
                part.created,
                part.merged,
                part.failed,
            )
        self.deliver_notifications()  # retries that came due meanwhile
        return report

    def run_batch(self, size: int = 200) -> RunReport | None:
        """Claim and process one batch of up to ``size`` pending messages, then deliver
        what it decided; None when nothing is pending.

        What a long-running worker calls in its loop (:class:`tsur.worker.Worker`).
        """
        part = self._run_batch(size)
        if part is not None:
            # what this batch decided is heard now, not after the whole backlog
            self.deliver_notifications()
        return part

    def _run_batch(self, size: int, attempts: int = 8) -> RunReport | None:
        """Claim and process one batch; a conflict with another worker re-runs it."""
        for attempt in range(1, attempts + 1):
            try:
                with self.repository.claim(size, now=self.clock()) as batch:
                    if not batch.messages:
                        return None
                    report = self._process_batch(batch)
                report.incident_ids = [batch.real_id(i) for i in report.incident_ids]
                return report
            except StorageError as exc:
                if not exc.retryable or attempt == attempts:
                    raise
                log.info("batch conflict, attempt %d: %s", attempt, str(exc)[:200])
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        return None  # pragma: no cover - the loop returns or raises

    def retry_failed(self, ids: Sequence[int] | None = None) -> int:
        """Put failed messages back in the queue; returns how many."""
        return self.repository.requeue(statuses=("failed",), ids=ids)

    def _process_batch(self, batch: Batch) -> RunReport:
        report = RunReport()
        # Every message is read first, so that the batch can look up what is around all
        # of them at once (one round trip on PostgreSQL); then each is decided in turn.
        readings = [self._read(cm) for cm in batch.messages]
        batch.prefetch([r[1] for r in readings if isinstance(r, tuple) and r[1] is not None])
        for cm, reading in zip(batch.messages, readings, strict=True):
            outcome, incident_id = self._process_one(batch, cm, reading)
            report.count(outcome, incident_id)
            if outcome.kind == "failed":
                log.warning(
                    "message %d failed at %s: %s", cm.id, outcome.stage, outcome.reason[:200]
                )
        return report

    def _read(self, cm: ClaimedMessage) -> tuple[Analysis, Lookup | None] | Outcome:
        """The reading stages' analysis of a message and what to look up around it, or the
        failed outcome when a stage fails on it."""
        try:
            analysis = self.analyse(cm.message)
            return analysis, None if analysis.rejects else lookup_for(analysis, self.region)
        except Exception as exc:
            return self._failure(cm, exc)

    def _process_one(
        self, batch: Batch, cm: ClaimedMessage, reading: tuple[Analysis, Lookup | None] | Outcome
    ) -> tuple[Outcome, int | None]:
        """Find candidates, decide, and write the outcome of a message read before."""
        if isinstance(reading, Outcome):
            batch.apply(reading)
            return reading, None
        analysis, lookup = reading
        try:
            candidates = Candidates() if lookup is None else batch.candidates(lookup)
            now = self.clock()
            lost: set[int] = set()
            while True:
                outcome = run_stage("decide", self.decider.decide, cm.id, analysis, candidates, now)
                incident_id = batch.apply(outcome)
                if outcome.kind == "reopened" and incident_id is None:
                    # Another worker changed that incident since the lookup (reopened it,
                    # most likely): look again, so a reply joins it, without that one
                    # as a closed candidate. Each round excludes one more: it ends.
                    assert outcome.incident_id is not None and lookup is not None
                    lost.add(outcome.incident_id)
                    candidates = batch.candidates(lookup)
                    for gone in lost:
                        candidates = candidates.without(gone)
                    continue
                return outcome, incident_id
        except Exception as exc:
            outcome = self._failure(cm, exc)
        batch.apply(outcome)
        return outcome, None

    def _failure(self, cm: ClaimedMessage, exc: Exception) -> Outcome:
        """The failed outcome of a message a step raised ``exc`` on; the database's own
        errors are raised again (the whole batch is run again)."""
        if isinstance(exc, (StorageError, *DB_ERRORS)):
            raise exc
        if isinstance(exc, TsurError):
            stage = getattr(exc, "stage", None) or "process"
            return Outcome.failed(cm.id, stage, str(exc))
        # a plugin's bug must not lose the message
        log.error("message %d failed", cm.id, exc_info=exc)
        return Outcome.failed(cm.id, "process", f"{type(exc).__name__}: {exc}")

    def analyse(self, message: Message) -> Analysis:
        """Run the reading stages (no storage): moderation, topic, urgency, territory, places.

        A message a filter rejects is not classified or located. Raises
        :class:`~tsur.errors.ProcessingError` (with the stage) when a stage
        fails or names a topic or territory the region lacks.
        """
        return self.reader.analyse(message)

    def preview(self, message: Message, *, now: datetime | None = None) -> tuple[Analysis, Outcome]:
        """What the engine would make of ``message`` alone, storing and sending nothing.

        The reading stages' :class:`~tsur.Analysis` and the decision's
        :class:`~tsur.decide.Outcome` as if no other incident were stored
        (nothing to join or reopen): rejected, a thanks credited to an
        executor, or a new incident with its topic, urgency, territory,
        executor, triage reasons and deadlines (``now``: the engine's clock
        by default). ``tsur classify`` prints it. Components that remember
        what they see remember nothing of it (:func:`tsur.context.previewing`).
        Raises
        :class:`~tsur.errors.ProcessingError` as :meth:`analyse` does.
        """
        with preview_mode():
            analysis = self.analyse(message)
            outcome = run_stage(
                "decide", self.decider.decide, 0, analysis, Candidates(), now or self.clock()
            )
        return analysis, outcome

    # stages as public API -----------------------------------------------------
    def moderate(self, message: Message, text: Text) -> list[ModerationVerdict]:
        """All moderation filters' verdicts on ``message`` (masks compose)."""
        return self.reader.moderate(message, text)

    def classify(self, message: Message, text: Text) -> Classification | None:
        """Combine every classifier's answer by weighted vote."""
        return self.reader.classify(message, text)

    def locate(self, message: Message, text: Text) -> Location | None:
        """The first locator's answer, in descending priority."""
        return self.reader.locate(message, text)

    def route(self, incident: Incident, analysis: Analysis) -> RouteDecision:
        """The first router's answer, in descending priority; the curator otherwise.

        A router that fails or answers badly raises a
        :class:`~tsur.errors.ProcessingError` at stage ``route``.
        """
        return choose_route(self.components.routers, self.region, incident, analysis)

    # incidents --------------------------------------------------------------
    def incident(self, incident_id: int) -> Incident:
        """One incident with its full history."""
        return self.repository.get_incident(incident_id)

    def incidents(self, **filters: Any) -> list[Incident]:
        """Incidents filtered as :meth:`Repository.incidents` allows, newest first.

        ``topic`` takes its subtopics along (by the region's topic tree).
        The incidents come without their history; :meth:`incident` gives
        one with it.
        """
        if isinstance(filters.get("topic"), str):
            filters["topic"] = self.region.subtopics(filters["topic"])
        return self.repository.incidents(**filters)

    def transition(
        self,
        incident_id: int,
        status: Status | str,
        *,
        actor: str,
        reason: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> Incident:
        """Change an incident's status (checked by the state machine) and record why."""
        with self.repository.update_incident(incident_id) as inc:
            inc.transition(Status(status), at=self.clock(), actor=actor, reason=reason, data=data)
        return inc

    def deliver_notifications(self, *, chunk: int = 500) -> int:
        """Deliver the notifications due now through every notifier; how many rounds settled.

        A notification is sent once every notifier has it; a notifier that
        fails gets it again later, after the delays of :attr:`delivery`,
        until it is given up (:mod:`tsur.delivery`).
        """
        return deliver(
            self.repository,
            self.components.notifiers,
            self.clock,
            chunk=chunk,
            policy=self.delivery,
        )


def _raw_of(item: Any) -> str:
    if isinstance(item, Message):
        return json.dumps(message_to_dict(item), ensure_ascii=False, default=repr)
    try:
        return json.dumps(item, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(item)
