"""The engine: ingest → normalise → moderate → classify → locate → group → route → deadlines.

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

import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pluggy

from tsur.analysis import Analysis
from tsur.config import RegionConfig, load_region
from tsur.context import Clock, Context, utcnow
from tsur.decide import Decider, Outcome
from tsur.domain import (
    Classification,
    Incident,
    Location,
    Message,
    ModerationVerdict,
    RouteDecision,
    Status,
    Urgency,
)
from tsur.errors import (
    IngestError,
    ProcessingError,
    StorageError,
    TsurError,
    UnknownSource,
    UnknownTerritory,
)
from tsur.grouping import Candidates, Places, lookup_for
from tsur.plugins import Components, call_each, collect_components, make_plugin_manager
from tsur.region import Region
from tsur.sla.calendar import WorkingCalendar
from tsur.store.base import Batch, ClaimedMessage, Repository
from tsur.store.sql import open_repository
from tsur.text.normalize import Lemmatizer, Text, get_lemmatizer
from tsur.wire import message_to_dict, parse_record, read_jsonl

__all__ = ["Engine", "IngestReport", "RunReport"]

log = logging.getLogger("tsur.pipeline")

Progress = Callable[[int, int], None]
_T = TypeVar("_T")


try:  # database errors raised inside a stage belong to the batch, not the message
    from sqlalchemy.exc import DBAPIError as _DBAPIError

    _DB_ERRORS: tuple[type[BaseException], ...] = (_DBAPIError,)
except ImportError:  # pragma: no cover
    _DB_ERRORS = ()


@attrs.define
class IngestReport:
    """What an ingest did: new messages, known ones, and inputs that were refused."""

    inserted: int = 0
    duplicates: int = 0
    errors: list[IngestError] = attrs.field(factory=list)

    def __add__(self, other: IngestReport) -> IngestReport:
        return IngestReport(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.errors + other.errors,
        )


@attrs.define
class RunReport:
    """What a processing run did."""

    processed: int = 0
    created: int = 0
    merged: int = 0
    rejected: int = 0
    failed: int = 0
    triage: int = 0
    incident_ids: list[int] = attrs.field(factory=list)
    reopened: int = 0

    def count(self, outcome: Outcome, incident_id: int | None) -> None:
        """Add one message's outcome."""
        self.processed += 1
        if outcome.kind == "created":
            self.created += 1
            self.triage += int(outcome.triage)
        elif outcome.kind == "merged":
            self.merged += 1
        elif outcome.kind == "reopened":
            self.reopened += 1
        elif outcome.kind == "rejected":
            self.rejected += 1
        else:
            self.failed += 1
        if incident_id is not None:
            self.incident_ids.append(incident_id)

    def __add__(self, other: RunReport) -> RunReport:
        return RunReport(
            self.processed + other.processed,
            self.created + other.created,
            self.merged + other.merged,
            self.rejected + other.rejected,
            self.failed + other.failed,
            self.triage + other.triage,
            self.incident_ids + other.incident_ids,
            self.reopened + other.reopened,
        )


class Engine:
    """The incident engine for one region, on one store, with its plugins.

    ``config`` is a validated region file (or a :class:`~tsur.Region` built
    from one). ``plugins`` are extra plugin modules or objects to register
    (an embedding application's own); ``entry_points=False`` ignores
    installed third-party plugins; ``plugin_manager`` replaces both with a
    ready manager. ``clock`` returns the current time (tests freeze it);
    ``lemmatizer`` is the one every stage and plugin uses (the process-wide
    one by default).
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
    ) -> None:
        self.region = config if isinstance(config, Region) else Region.from_config(config)
        self.repository = repository
        self.clock = clock
        self.lemmatizer = lemmatizer or get_lemmatizer()
        self.pm = plugin_manager or make_plugin_manager(entry_points=entry_points, plugins=plugins)
        #: what every plugin is given (with its own settings added per plugin)
        self.context = Context(self.region, self.lemmatizer, clock, repository)
        self.components: Components = collect_components(self.pm, self.context)
        self.places = Places(self.region, self.lemmatizer)
        self.decider = Decider(self.region, self.route)
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
    def _check(self, m: Message, *, line: int | None = None, origin: str | None = None) -> None:
        sources = self.region.sources
        if sources and m.source not in sources:
            raise UnknownSource(m.source, sorted(sources), line=line, origin=origin)
        if not m.text.strip() and not m.attachments:
            raise IngestError("message has neither text nor attachments", line=line, origin=origin)

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
        now = self.clock()
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
                self._check(m, line=i, origin=origin)
            except IngestError as exc:
                self.repository.record_rejected_input(origin, i, _raw_of(item), str(exc), at=now)
                report.errors.append(exc)
                continue
            ok.append(m)
        return self._store(ok, report, origin, now)

    def _store(
        self, messages: list[Message], report: IngestReport, origin: str, now: datetime
    ) -> IngestReport:
        """Store accepted messages and complete ``report`` (refusals are already in it)."""
        result = self.repository.ingest(messages, received_at=now)
        report.inserted += result.count
        report.duplicates += result.duplicates
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
        lines: Iterable[str] | None = None,
        origin: str | None = None,
    ) -> IngestReport:
        """Ingest a JSON Lines file; bad lines are reported with their numbers and kept."""
        if lines is None:
            if path is None:
                raise ValueError("give a path or lines")
            try:
                lines = Path(path).read_text("utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise IngestError(f"cannot read {path}: {exc}") from exc
        origin = origin or (str(path) if path is not None else "<lines>")
        report = IngestReport()
        good: list[Message] = []
        now = self.clock()
        for parsed in read_jsonl(lines, origin=origin):
            err = parsed.error
            if err is None:
                assert parsed.message is not None
                try:
                    self._check(parsed.message, line=parsed.line, origin=origin)
                    good.append(parsed.message)
                    continue
                except IngestError as exc:
                    err = exc
            self.repository.record_rejected_input(origin, parsed.line, parsed.raw, str(err), at=now)
            report.errors.append(err)
        return self._store(good, report, origin, now)

    def retry_rejected_input(self) -> IngestReport:
        """Try stored unreadable inputs again (after a config fix); resolve those that pass."""
        report = IngestReport()
        now = self.clock()
        for rec in self.repository.rejected_inputs():
            parsed = next(iter(read_jsonl([rec.raw], origin=rec.origin)), None)
            if parsed is None or parsed.message is None:
                continue
            try:
                self._check(parsed.message)
            except IngestError:
                continue
            result = self.repository.ingest([parsed.message], received_at=now)
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
            part = self._run_batch(size)
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
        self.deliver_notifications()
        return report

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
        for cm in batch.messages:
            outcome, incident_id = self._process_one(batch, cm)
            report.count(outcome, incident_id)
            if outcome.kind == "failed":
                log.warning(
                    "message %d failed at %s: %s", cm.id, outcome.stage, outcome.reason[:200]
                )
        return report

    def _process_one(self, batch: Batch, cm: ClaimedMessage) -> tuple[Outcome, int | None]:
        """Analyse, find candidates, decide, and write the outcome: the walk of one message."""
        try:
            analysis = self.analyse(cm.message)
            lookup = None if analysis.rejects else lookup_for(analysis, self.region)
            candidates = Candidates() if lookup is None else batch.candidates(lookup)
            now = self.clock()
            lost: set[int] = set()
            while True:
                outcome = _stage("decide", self.decider.decide, cm.id, analysis, candidates, now)
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
        except StorageError:
            raise
        except _DB_ERRORS:
            raise  # the database, not the message: the whole batch is re-run
        except TsurError as exc:
            stage = getattr(exc, "stage", None) or "process"
            outcome = Outcome.failed(cm.id, stage, str(exc))
        except Exception as exc:  # a plugin's bug must not lose the message
            log.exception("message %d failed", cm.id)
            outcome = Outcome.failed(cm.id, "process", f"{type(exc).__name__}: {exc}")
        batch.apply(outcome)
        return outcome, None

    def analyse(self, message: Message) -> Analysis:
        """Run the reading stages (no storage): moderation, topic, urgency, territory, places.

        A message a filter rejects is not classified or located. Raises
        :class:`~tsur.errors.ProcessingError` (with the stage) when a stage
        fails or names a topic or territory the region lacks.
        """
        text = _stage("normalise", Text.from_raw, message.text, self.lemmatizer)
        verdicts = tuple(_stage("moderate", self.moderate, message, text))
        if any(v.action == "reject" for v in verdicts):
            return Analysis(message, text, verdicts)
        cls = _stage("classify", self.classify, message, text)
        if message.topic is not None and message.topic not in self.region.topics:
            raise ProcessingError(f"unknown topic {message.topic!r}", stage="classify")
        loc = _stage("locate", self.locate, message, text)
        if loc is not None and loc.territory not in self.region.territories:
            raise UnknownTerritory(loc.territory)
        address = (
            _stage("normalise", Text.from_raw, message.address, self.lemmatizer)
            if message.address
            else None
        )
        places = _stage("group", self.places.keys, text, address)
        return Analysis(
            message,
            text,
            verdicts,
            cls,
            loc,
            address,
            places,
            self.places.words(text),
        )

    # stages as public API -----------------------------------------------------
    def moderate(self, message: Message, text: Text) -> list[ModerationVerdict]:
        """All moderation filters' verdicts on ``message``."""
        out: list[ModerationVerdict] = []
        for reg in self.components.moderation_filters:
            for v in reg.component.check(message, text) or ():
                _expect(v, ModerationVerdict, "moderation filter", reg.name)
                out.append(attrs.evolve(v, filter=v.filter or reg.name))
                if v.action == "mask" and v.masked_text is not None:
                    # Masks compose: the filters after this one read the masked text,
                    # so the last mask hides what every earlier one hid.
                    message = attrs.evolve(message, text=v.masked_text)
                    text = Text.from_raw(v.masked_text, self.lemmatizer)
        return out

    def classify(self, message: Message, text: Text) -> Classification | None:
        """Combine every classifier's answer by weighted vote."""
        votes: dict[str, float] = defaultdict(float)
        weight_total = 0.0
        evidence: dict[str, list[str]] = defaultdict(list)
        voters: dict[str, list[str]] = defaultdict(list)
        urgency: Urgency | None = None
        urgency_evidence: list[str] = []
        for reg in self.components.classifiers:
            c = reg.component.classify(message, text)
            if c is None:
                continue
            _expect(c, Classification, "classifier", reg.name)
            if c.urgency is not None and (urgency is None or c.urgency.rank > urgency.rank):
                urgency = c.urgency
            if c.topic is None:
                urgency_evidence.extend(c.evidence)
                continue
            if c.topic not in self.region.topics:
                raise ProcessingError(
                    f"classifier {reg.name!r} returned unknown topic {c.topic!r}", stage="classify"
                )
            votes[c.topic] += c.confidence * reg.weight
            weight_total += reg.weight
            evidence[c.topic].extend(c.evidence)
            voters[c.topic].append(reg.name)
        if not votes:
            if urgency is None:
                return None
            return Classification(None, 0.0, urgency, tuple(urgency_evidence), "")
        best = max(votes, key=lambda t: votes[t])
        return Classification(
            topic=best,
            confidence=round(votes[best] / weight_total, 4),
            urgency=urgency,
            evidence=tuple(dict.fromkeys([*evidence[best], *urgency_evidence])),
            classifier="+".join(voters[best]),
        )

    def locate(self, message: Message, text: Text) -> Location | None:
        """The first locator's answer, in descending priority."""
        for reg in self.components.locators:
            loc: Location | None = reg.component.locate(message, text)
            if loc is not None:
                _expect(loc, Location, "locator", reg.name)
                return attrs.evolve(loc, locator=loc.locator or reg.name)
        return None

    def route(self, incident: Incident, analysis: Analysis) -> RouteDecision:
        """The first router's answer, in descending priority; the curator otherwise.

        A router that fails or answers badly raises a
        :class:`~tsur.errors.ProcessingError` at stage ``route``.
        """
        return _stage("route", self._route, incident, analysis)

    def _route(self, incident: Incident, analysis: Analysis) -> RouteDecision:
        for reg in self.components.routers:
            d: RouteDecision | None = reg.component.route(incident, analysis)
            if d is not None:
                _expect(d, RouteDecision, "router", reg.name)
                if d.executor not in self.region.executors:
                    raise ProcessingError(
                        f"router {reg.name!r} chose unknown executor {d.executor!r}", stage="route"
                    )
                return attrs.evolve(d, router=d.router or reg.name)
        return RouteDecision(self.region.curator, "no rule matched: curator", "fallback")

    # incidents --------------------------------------------------------------
    def incident(self, incident_id: int) -> Incident:
        """One incident with its full history."""
        return self.repository.get_incident(incident_id)

    def incidents(self, **filters: Any) -> list[Incident]:
        """Incidents filtered as :meth:`Repository.incidents` allows."""
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
        """Send queued notifications through every notifier; return how many were sent.

        A notification is marked sent once every notifier has had it; a
        notifier's failure is logged and recorded with the notification.
        """
        sent = 0
        while True:
            pending = list(self.repository.pending_notifications(limit=chunk))
            if not pending:
                return sent
            results: list[tuple[int, datetime | None, str | None]] = []
            for nid, note in pending:
                errors = []
                for reg in self.components.notifiers:
                    try:
                        reg.component.notify(note)
                    except Exception as exc:
                        errors.append(f"{reg.name}: {type(exc).__name__}: {exc}")
                        log.warning("notifier %s failed on notification %d: %s", reg.name, nid, exc)
                results.append((nid, self.clock(), "; ".join(errors) or None))
            self.repository.mark_notifications(results)
            sent += len(results)


def _expect(value: object, cls: type, role: str, name: str) -> None:
    """A component's answer must be of its type (whose checks then hold)."""
    if not isinstance(value, cls):
        raise ProcessingError(
            f"{role} {name!r} returned {type(value).__name__}, not a {cls.__name__}"
        )


def _stage(name: str, fn: Callable[..., _T], *args: Any) -> _T:
    """Run one stage; a failure that is not a :class:`~tsur.errors.TsurError` becomes a
    :class:`~tsur.errors.ProcessingError` naming the stage."""
    try:
        return fn(*args)
    except ProcessingError as exc:
        if exc.stage is None:
            exc.stage = name
        raise
    except TsurError:
        raise
    except _DB_ERRORS:
        raise
    except Exception as exc:
        raise ProcessingError(f"{type(exc).__name__}: {exc}", stage=name) from exc


def _raw_of(item: Any) -> str:
    if isinstance(item, Message):
        return json.dumps(message_to_dict(item), ensure_ascii=False)
    try:
        return json.dumps(item, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(item)
