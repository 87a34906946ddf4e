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

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pluggy
import structlog

from tsur.adapters.files import parse_record, read_jsonl
from tsur.config import RegionConfig, load_region
from tsur.domain import (
    ENGINE_ACTOR as ACTOR,
)
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
from tsur.grouper import Grouper
from tsur.grouping import encode_keys
from tsur.plugins import Components, collect_components, make_plugin_manager
from tsur.routing.executors import ExecutorDirectory
from tsur.sla.calendar import WorkingCalendar
from tsur.sla.executors import ExecutorCalendars, deadlines_for
from tsur.sla.policies import SLAResolver
from tsur.store.base import Batch, ClaimedMessage, Repository
from tsur.store.sql import open_repository
from tsur.text.normalize import Lemmatizer, Text, get_lemmatizer
from tsur.typing import Notification

__all__ = ["Engine", "IngestReport", "RunReport"]

log = structlog.get_logger("tsur.pipeline")

Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]


try:  # database errors raised inside a stage belong to the batch, not the message
    from sqlalchemy.exc import DBAPIError as _DBAPIError

    _DB_ERRORS: tuple[type[BaseException], ...] = (_DBAPIError,)
except ImportError:  # pragma: no cover
    _DB_ERRORS = ()


def _utcnow() -> datetime:
    return datetime.now(UTC)


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

    ``plugins`` are extra plugin modules or objects to register (an
    embedding application's own); ``entry_points=False`` ignores installed
    third-party plugins; ``clock`` returns the current time (tests freeze it).
    """

    def __init__(
        self,
        config: RegionConfig,
        repository: Repository,
        *,
        plugins: Iterable[object] = (),
        entry_points: bool = True,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock = _utcnow,
        lemmatizer: Lemmatizer | None = None,
    ) -> None:
        self.config = config
        self.repository = repository
        self.clock = clock
        self.lemmatizer = lemmatizer or get_lemmatizer()
        self.pm = plugin_manager or make_plugin_manager(entry_points=entry_points, plugins=plugins)
        self.components: Components = collect_components(self.pm, config)
        self.directory = ExecutorDirectory(config)
        r = config.region
        self.calendar = WorkingCalendar(
            r.timezone,
            hours=r.working_hours,
            lunch=r.lunch,
            holidays=r.extra_holidays,
            workdays=r.extra_workdays,
        )
        self.sla = SLAResolver(config, self.calendar)
        self.calendars = ExecutorCalendars(config, self.calendar)
        self.source_ids = {s.id for s in config.sources}
        self.topic_ids = {t.id for t in config.topics}
        self.territory_ids = {t.id for t in config.territories}
        self.grouper = Grouper(config, self.lemmatizer, self.calendars)
        self.pm.hook.prepare_engine(engine=self)

    @classmethod
    def from_config(
        cls,
        config: str | Path | RegionConfig | None = None,
        db: str | Path = ":memory:",
        **kwargs: Any,
    ) -> Engine:
        """Build an engine from a region file (None: the bundled example) and a database.

        ``db`` is a SQLite path, ``":memory:"`` or a PostgreSQL URL; the
        schema is created or upgraded on open.
        """
        region = config if isinstance(config, RegionConfig) else load_region(config)
        return cls(region, open_repository(db), **kwargs)

    def close(self) -> None:
        """Release the database connections."""
        self.repository.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ingest ---------------------------------------------------------------
    def _check(self, m: Message, *, line: int | None = None, origin: str | None = None) -> None:
        if self.source_ids and m.source not in self.source_ids:
            raise UnknownSource(m.source, sorted(self.source_ids), line=line, origin=origin)
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
                m = item if isinstance(item, Message) else parse_record(item, line=i, origin=origin)
                self._check(m, line=i, origin=origin)
            except IngestError as exc:
                raw = _raw_of(item)
                self.repository.record_rejected_input(origin, i, raw, str(exc), at=now)
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
            "ingest",
            origin=origin,
            inserted=report.inserted,
            duplicates=report.duplicates,
            errors=len(report.errors),
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
                "batch",
                processed=part.processed,
                created=part.created,
                merged=part.merged,
                failed=part.failed,
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
                log.info("batch.retry", attempt=attempt, reason=str(exc)[:200])
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        return None  # pragma: no cover - the loop returns or raises

    def retry_failed(self, ids: Sequence[int] | None = None) -> int:
        """Put failed messages back in the queue; returns how many."""
        return self.repository.requeue(statuses=("failed",), ids=ids)

    def _process_batch(self, batch: Batch) -> RunReport:
        report = RunReport()
        for cm in batch.messages:
            report.processed += 1
            try:
                outcome = self._process_one(batch, cm)
            except StorageError:
                raise
            except _DB_ERRORS:
                raise  # the database, not the message: the whole batch is re-run
            except TsurError as exc:
                stage = getattr(exc, "stage", None) or "process"
                batch.fail(cm.id, stage, str(exc))
                report.failed += 1
                log.warning("message.failed", message_id=cm.id, stage=stage, reason=str(exc))
                continue
            except Exception as exc:  # a plugin's bug must not lose the message
                batch.fail(cm.id, "process", f"{type(exc).__name__}: {exc}")
                report.failed += 1
                log.exception("message.failed", message_id=cm.id, stage="process")
                continue
            kind, incident_id, triage = outcome
            if kind == "rejected":
                report.rejected += 1
            elif kind == "merged":
                report.merged += 1
            elif kind == "reopened":
                report.reopened += 1
            else:
                report.created += 1
                report.triage += int(triage)
            if incident_id is not None:
                report.incident_ids.append(incident_id)
        return report

    def analyse(self, message: Message) -> Analysis:
        """Run the reading stages (no storage): moderation, topic, urgency, territory."""
        text = self._stage("normalise", lambda: Text.from_raw(message.text, self.lemmatizer))
        verdicts = self._stage("moderate", lambda: self.moderate(message, text))
        cls = self._stage("classify", lambda: self.classify(message, text))
        loc = self._stage("locate", lambda: self.locate(message, text))
        return Analysis(text, verdicts, cls, loc)

    @staticmethod
    def _stage(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
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

    def _process_one(self, batch: Batch, cm: ClaimedMessage) -> tuple[str, int | None, bool]:
        m = cm.message
        a = self.analyse(m)
        moderation = [attrs.asdict(v) for v in a.verdicts] or None
        rejects = [v for v in a.verdicts if v.action == "reject"]
        if rejects:
            batch.reject(cm.id, "; ".join(v.reason for v in rejects), moderation)
            return "rejected", None, False
        now = self.clock()
        cls, loc = a.classification, a.location
        topic = cls.topic if cls else None
        if m.topic is not None:
            if m.topic not in self.topic_ids:
                raise ProcessingError(f"unknown topic {m.topic!r}", stage="classify")
            topic = m.topic
        territory = loc.territory if loc else None
        if territory is not None and territory not in self.territory_ids:
            raise UnknownTerritory(territory)
        urgency = (cls.urgency if cls and cls.urgency else None) or Urgency.NORMAL
        signature = self.grouper.signature(a.text)
        address = Text.from_raw(m.address, self.lemmatizer) if m.address else None
        keys = self.grouper.keys(a.text, address)
        akey = encode_keys(keys)

        # group ------------------------------------------------------------
        target = self._stage(
            "group", lambda: self.grouper.find(batch, m, topic, territory, a.text, keys)
        )
        if target is not None:
            inc_id, why, learned = target
            ev = Incident(status=Status.NEW, created_at=m.created_at)
            ev.record(
                "message_added",
                at=now,
                actor=ACTOR,
                reason=why,
                data={"message_id": cm.id, "source": m.source, "external_id": m.external_id},
            )
            batch.attach(inc_id, cm.id, ev.history, **learned)
            batch.done(cm.id, inc_id, moderation)
            return "merged", inc_id, False
        reopened = self._stage(
            "group",
            lambda: self.grouper.reopen(batch, cm, topic, territory, akey, now, moderation),
        )
        if reopened is not None:
            return "reopened", reopened, False

        # new incident -----------------------------------------------------------
        masks = [v.masked_text for v in a.verdicts if v.action == "mask" and v.masked_text]
        masked = masks[-1] if masks else m.text
        inc = Incident(
            status=Status.NEW,
            created_at=m.created_at,
            topic=topic,
            confidence=cls.confidence if cls and m.topic is None else (1.0 if m.topic else 0.0),
            urgency=urgency,
            territory=territory,
            summary=" ".join(masked.split())[:300],
            source=m.source,
            geo=m.geo,
            address=m.address,
        )
        inc.record(
            "received",
            at=now,
            actor=ACTOR,
            reason=f"message from {m.source}",
            data={"message_id": cm.id, "external_id": m.external_id},
        )
        flags = [v.reason for v in a.verdicts if v.action == "flag"]
        confident = topic is not None and (
            m.topic is not None or inc.confidence >= self.config.pipeline.min_confidence
        )
        if confident:
            inc.transition(
                Status.CLASSIFIED,
                at=now,
                actor=cls.classifier if cls else ACTOR,
                reason=_explain_classification(cls, m),
                data={
                    "topic": topic,
                    "confidence": inc.confidence,
                    "urgency": urgency.value,
                    "evidence": list(cls.evidence) if cls else [],
                },
            )
        reasons = []
        if not confident:
            reasons.append(
                "topic unclear"
                if topic is None
                else f"low confidence {inc.confidence:.2f} for {topic}"
            )
        if territory is None:
            reasons.append("territory not found")
        reasons.extend(flags)
        if loc is not None:
            inc.record(
                "located",
                at=now,
                actor=loc.locator or ACTOR,
                reason=", ".join(loc.evidence),
                data={"territory": territory, "confidence": loc.confidence},
            )
        decision = self.route(inc)
        # A regional topic (a ministry's) needs no municipality: route it anyway.
        regional = decision.executor != self.config.region.curator and decision.router != "fallback"
        triage = bool(reasons) and not (confident and territory is None and not flags and regional)
        inc.executor = decision.executor
        if triage:
            inc.transition(
                Status.TRIAGE,
                at=now,
                actor=ACTOR,
                reason="; ".join(reasons),
                data={"executor": decision.executor},
            )
        else:
            inc.transition(
                Status.ROUTED,
                at=now,
                actor=decision.router or ACTOR,
                reason=decision.reason,
                data={"executor": decision.executor},
            )
        deadlines = deadlines_for(
            self.sla, self.calendars.for_executor(inc.executor), inc, m.created_at
        )
        if deadlines is not None:
            inc.sla_policy = deadlines.policy
            inc.first_response_due = deadlines.first_response_due
            inc.resolution_due = deadlines.resolution_due
            inc.record(
                "deadlines",
                at=now,
                actor=ACTOR,
                reason=f"SLA policy {deadlines.policy}",
                data={
                    "first_response_due": _iso(deadlines.first_response_due),
                    "resolution_due": _iso(deadlines.resolution_due),
                },
            )
        inc_id = batch.create_incident(inc, cm.id, signature=signature, address_key=akey)
        batch.done(cm.id, inc_id, moderation)
        batch.notify(
            Notification(
                kind="triage" if triage else "routed",
                incident_id=inc_id,
                at=now,
                recipients=(decision.executor,),
                text=f"Новое обращение: {inc.summary[:140]}",
                data={"topic": topic, "territory": territory, "urgency": urgency.value},
            ),
        )
        return "created", inc_id, triage

    # stages as public API -----------------------------------------------------
    def moderate(self, message: Message, text: Text) -> list[ModerationVerdict]:
        """All moderation filters' verdicts on ``message``."""
        out: list[ModerationVerdict] = []
        for reg in self.components.moderation_filters:
            for v in reg.component.check(message, text) or ():
                out.append(attrs.evolve(v, filter=v.filter or reg.name))
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
            if c.urgency is not None and (urgency is None or c.urgency.rank > urgency.rank):
                urgency = c.urgency
            if c.topic is None:
                urgency_evidence.extend(c.evidence)
                continue
            if c.topic not in self.topic_ids:
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
                return attrs.evolve(loc, locator=loc.locator or reg.name)
        return None

    def route(self, incident: Incident) -> RouteDecision:
        """The first router's answer, in descending priority; the curator otherwise."""
        for reg in self.components.routers:
            d: RouteDecision | None = reg.component.route(incident, self.config)
            if d is not None:
                if d.executor not in self.directory.executors:
                    raise ProcessingError(
                        f"router {reg.name!r} chose unknown executor {d.executor!r}", stage="route"
                    )
                return attrs.evolve(d, router=d.router or reg.name)
        return RouteDecision(self.config.region.curator, "no rule matched: curator", "fallback")

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
                        log.warning(
                            "notifier.failed",
                            notifier=reg.name,
                            notification_id=nid,
                            error=str(exc),
                        )
                results.append((nid, self.clock(), "; ".join(errors) or None))
            self.repository.mark_notifications(results)
            sent += len(results)


@attrs.frozen
class Analysis:
    """What the reading stages made of one message."""

    text: Text
    verdicts: list[ModerationVerdict]
    classification: Classification | None
    location: Location | None


def _explain_classification(cls: Classification | None, m: Message) -> str:
    if m.topic is not None:
        return f"category given by {m.source}"
    if cls is None:
        return ""
    words = ", ".join(cls.evidence[:6])
    return f"confidence {cls.confidence:.2f}" + (f"; words: {words}" if words else "")


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def _raw_of(item: Any) -> str:
    import json

    if isinstance(item, Message):
        from tsur.store.codec import message_to_dict

        return json.dumps(message_to_dict(item), ensure_ascii=False)
    try:
        return json.dumps(item, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(item)
