"""The decision core: what becomes of one analysed message.

:class:`Decider` takes a message's :class:`~tsur.Analysis` and the
:class:`~tsur.grouping.Candidates` the store found around it, and returns
an :class:`Outcome`: the message is **rejected** (moderation), a
**thanks** credited to the executor it concerns (no incident), **merged**
into an open incident (same thread, same place, same problem), **reopens**
a resolved one (the citizen writes again), or **creates** a new incident —
classified, located, routed (the routers are asked here), on the
accelerated or ordinary track, sent to a curator's triage when unsure, with
its deadlines. The outcome carries every change: the new incident with its
history, the events to append to an existing one, what it learns, the
notifications to queue. Nothing here reads or writes storage; the store
applies the outcome (:meth:`tsur.store.Batch.apply`), in one place.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from tsur.analysis import Analysis
from tsur.domain import (
    ENGINE_ACTOR,
    Event,
    GeoPoint,
    Incident,
    ModerationVerdict,
    Notification,
    RouteDecision,
    Status,
    Urgency,
    status_event,
)
from tsur.grouping import (
    Candidates,
    ClosedCandidate,
    best_match,
    close_topics,
    has_address,
    reopen_target,
)
from tsur.region import Region
from tsur.sla.deadlines import deadlines_for, due, policy_for, registration_policy
from tsur.text.russian import decimal

__all__ = ["OUTCOMES", "Decider", "Outcome", "Route"]

#: The kinds of outcome, as :attr:`Outcome.kind` and the run report count them.
OUTCOMES = ("created", "merged", "reopened", "thanked", "rejected", "failed")

#: Picks the executor of a new incident (the engine asks its routers).
Route = Callable[[Incident, Analysis], RouteDecision]


@attrs.frozen
class Outcome:
    """What becomes of one message, with every change it brings.

    - ``created``: ``incident`` is the new incident with its history;
      ``places`` and ``words`` are what later reports are compared with;
      ``notifications`` refer to it (their ``incident_id`` is set when it is
      stored).
    - ``merged``: ``incident_id`` is the open incident joined, ``events``
      what its history gains; ``places`` and ``words``, when not None, are
      what it learns from the message.
    - ``reopened``: ``incident_id`` goes back to work from ``reopened_from``
      (resolved or closed), with ``events`` and a new ``resolution_due``.
    - ``thanked``: the message thanks and asks for nothing; no incident is
      made or reopened. In an incident's thread (or from the author of a
      resolved one of the same kind) it thanks that incident
      (``incident_id``; ``events`` what its history gains); ``executor`` is
      whom it is credited to when known here (None: the incident's executor,
      or nobody); ``reason`` says how it was attributed.
    - ``rejected``: a moderation filter refused it; ``reason`` says why.
    - ``failed``: a stage failed on it; ``stage`` and ``reason``. The message
      is kept and can be re-run.

    ``verdicts`` are the moderation verdicts kept with the message.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(OUTCOMES))
    message_id: int
    incident_id: int | None = None
    incident: Incident | None = None
    events: tuple[Event, ...] = ()
    places: Mapping[str, str] | None = None
    words: frozenset[str] | None = None
    reopened_from: Status | None = None
    resolution_due: datetime | None = None
    notifications: tuple[Notification, ...] = ()
    verdicts: tuple[ModerationVerdict, ...] = ()
    reason: str = ""
    stage: str | None = None
    triage: bool = False
    executor: str | None = None

    @classmethod
    def failed(cls, message_id: int, stage: str, reason: str) -> Outcome:
        """A message a stage failed on."""
        return cls("failed", message_id, stage=stage, reason=reason)


class Decider:
    """Decides what becomes of analysed messages in one region.

    ``route`` picks the executor of a new incident (the engine passes its
    routers, asked by priority with the curator as the fallback).
    """

    def __init__(self, region: Region, route: Route) -> None:
        self.region = region
        self.route = route
        cfg = region.config
        self.min_confidence = cfg.pipeline.min_confidence
        self.group_window = timedelta(days=cfg.pipeline.group_window_days)
        self.group_similarity = cfg.pipeline.group_similarity

    def decide(
        self, message_id: int, analysis: Analysis, candidates: Candidates, now: datetime
    ) -> Outcome:
        """The outcome for one message; see :class:`Outcome`."""
        verdicts = analysis.verdicts
        rejects = analysis.rejects
        if rejects:
            reason = "; ".join(v.reason for v in rejects)
            return Outcome("rejected", message_id, verdicts=verdicts, reason=reason)
        m = analysis.message
        added = {"message_id": message_id, "source": m.source, "external_id": m.external_id}
        if analysis.thanks and analysis.urgency is not Urgency.URGENT:
            # an emergency is an appeal however politely it is put («Спасибо. Теперь в
            # квартире +14»)
            return self._thanks(message_id, analysis, candidates, added, now)
        topic, territory = analysis.topic, analysis.territory
        if candidates.thread is not None:
            event = Event(
                now, ENGINE_ACTOR, "message_added", "ответ в той же переписке", data=added
            )
            return Outcome(
                "merged", message_id, candidates.thread, events=(event,), verdicts=verdicts
            )
        # a message with no topic may still join an incident at the same numbered object
        # about the same problem (the store found those of the object's topics)
        if (topic is not None or candidates.open) and (
            territory is not None or has_address(analysis.places)
        ):
            window_end = m.created_at + self.group_window
            joined = best_match(
                analysis.places,
                analysis.words,
                topic,
                (c for c in candidates.open if c.created_at <= window_end),
                threshold=self.group_similarity,
                address_only=territory is None,
                close=close_topics(analysis),
            )
            if joined is not None:
                event = Event(now, ENGINE_ACTOR, "message_added", joined.reason, data=added)
                return Outcome(
                    "merged",
                    message_id,
                    joined.incident_id,
                    events=(event,),
                    places=joined.places,
                    words=joined.words,
                    verdicts=verdicts,
                )
        target = reopen_target(
            candidates.closed,
            family=self.region.family(topic),
            territory=territory,
            places=analysis.places,
        )
        if target is not None:
            return self._reopen(message_id, analysis, target[0], target[1], added, now)
        return self._create(message_id, analysis, now)

    def _thanks(
        self,
        message_id: int,
        analysis: Analysis,
        candidates: Candidates,
        added: dict[str, Any],
        now: datetime,
    ) -> Outcome:
        """Whom a message of thanks is credited to: the incident it answers, else the router's pick.

        A reply in an incident's thread thanks that incident, open or
        resolved; so does thanks from the author of a recently resolved
        incident of the same kind. Other thanks go to the executor the
        routers pick for the thanked topic and place (none when that is
        only the curators' fallback).
        """
        verdicts = analysis.verdicts
        thanked: tuple[int, str | None, str] | None = None
        if candidates.thread is not None:
            thanked = (
                candidates.thread,
                candidates.thread_executor,
                "благодарность в той же переписке",
            )
        else:
            closed = [c for c in candidates.closed if c.in_thread] or [
                c for c in candidates.closed if c.same_author
            ]
            if closed:
                c = closed[0]
                why = "благодарность в той же переписке" if c.in_thread else "благодарность автора"
                thanked = (c.id, c.executor, why)
        if thanked is not None:
            incident_id, executor, why = thanked
            event = Event(now, ENGINE_ACTOR, "gratitude", why, data=added)
            return Outcome(
                "thanked",
                message_id,
                incident_id,
                events=(event,),
                verdicts=verdicts,
                executor=executor,
                reason=why,
            )
        unknown = "не понятно, кого благодарят"
        if analysis.topic is None or analysis.territory is None:
            return Outcome("thanked", message_id, verdicts=verdicts, reason=unknown)
        m = analysis.message
        probe = Incident(
            status=Status.NEW,
            created_at=m.created_at,
            topic=analysis.topic,
            confidence=analysis.confidence,
            urgency=analysis.urgency,
            territory=analysis.territory,
            source=m.source,
            geo=m.geo,
            address=m.address,
        )
        decision = self.route(probe, analysis)
        if decision.executor == self.region.curator:
            return Outcome("thanked", message_id, verdicts=verdicts, reason=unknown)
        return Outcome(
            "thanked",
            message_id,
            verdicts=verdicts,
            executor=decision.executor,
            reason=decision.reason,
        )

    def _reopen(
        self,
        message_id: int,
        analysis: Analysis,
        c: ClosedCandidate,
        why: str,
        added: dict[str, Any],
        now: datetime,
    ) -> Outcome:
        m = analysis.message
        events = [Event(now, ENGINE_ACTOR, "message_added", why, data=added)]
        events.append(
            status_event(
                c.status,
                Status.REOPENED,
                at=now,
                actor=ENGINE_ACTOR,
                reason=f"повторное сообщение: {why}",
                data={"message_id": message_id, "executor": c.executor},
                incident_id=c.id,
            )
        )
        policy = self.region.policy(c.sla_policy)
        span = policy.resolution if policy is not None else None
        resolution_due = due(self.region.terms_calendar(c.executor, policy), m.created_at, span)
        if resolution_due is not None:
            events.append(
                Event(
                    now,
                    ENGINE_ACTOR,
                    "deadlines",
                    "возвращено в работу: новый срок решения",
                    data={"resolution_due": resolution_due.isoformat()},
                )
            )
        note = Notification(
            kind="reopened",
            incident_id=c.id,
            at=now,
            recipients=(c.executor or self.region.curator,),
            text=f"Обращение № {c.id} возвращено в работу: {why}",
            data={"message_id": message_id},
            key=f"reopened:{c.id}:{message_id}",
        )
        return Outcome(
            "reopened",
            message_id,
            c.id,
            events=tuple(events),
            reopened_from=c.status,
            resolution_due=resolution_due,
            notifications=(note,),
            verdicts=analysis.verdicts,
        )

    def _create(self, message_id: int, analysis: Analysis, now: datetime) -> Outcome:
        m = analysis.message
        cls, loc = analysis.classification, analysis.location
        topic, territory, urgency = analysis.topic, analysis.territory, analysis.urgency
        inc = Incident(
            status=Status.NEW,
            created_at=m.created_at,
            topic=topic,
            confidence=analysis.confidence,
            urgency=urgency,
            territory=territory,
            summary=analysis.summary,
            source=m.source,
            geo=m.geo,
            address=m.address,
        )
        inc.record(
            "received",
            at=now,
            actor=ENGINE_ACTOR,
            reason=f"сообщение из источника «{self.region.source_name(m.source)}»",
            data={"message_id": message_id, "external_id": m.external_id},
        )
        # a calibrated model's own judgement decides where it has one; else the threshold
        alone = cls.auto if cls is not None else None
        confident = topic is not None and (
            m.topic is not None
            or (alone if alone is not None else inc.confidence >= self.min_confidence)
        )
        if confident:
            inc.transition(
                Status.CLASSIFIED,
                at=now,
                actor=cls.classifier if cls else ENGINE_ACTOR,
                reason=_explain(analysis, self.region),
                data={
                    "topic": topic,
                    "confidence": inc.confidence,
                    "urgency": urgency.value,
                    "evidence": list(cls.evidence) if cls else [],
                    "urgency_evidence": list(cls.urgency_evidence) if cls else [],
                },
            )
        if loc is not None:
            inc.record(
                "located",
                at=now,
                actor=loc.locator or ENGINE_ACTOR,
                reason=", ".join(loc.evidence),
                data={"territory": territory, "confidence": loc.confidence},
            )
        decision = self.route(_detached(inc), analysis)  # a router reads, never writes
        inc.executor = decision.executor
        reasons = _triage_reasons(analysis, inc.confidence, confident, self.region)
        # A regional topic (a ministry's) needs no municipality: route it anyway.
        regional = decision.executor != self.region.curator and decision.router != "fallback"
        unlocated_only = reasons == ["территория не определена"] and regional
        triage = bool(reasons) and not unlocated_only
        if triage:
            inc.transition(
                Status.TRIAGE,
                at=now,
                actor=ENGINE_ACTOR,
                reason="; ".join(reasons),
                data={"executor": decision.executor},
            )
        else:
            inc.transition(
                Status.ROUTED,
                at=now,
                actor=decision.router or ENGINE_ACTOR,
                reason=decision.reason,
                data={"executor": decision.executor},
            )
        notes: list[Notification] = []
        start = m.created_at
        policy = policy_for(self.region, inc)
        written = registration_policy(self.region, inc)
        if written is not None and written.registration is not None:
            # 59-ФЗ art. 8 p. 2: registered within 3 days of receipt, whatever the track;
            # terms run from it
            start = now
            registration_due = due(self.region.calendar, m.created_at, written.registration)
            late = now > registration_due
            inc.record(
                "registered",
                at=now,
                actor=ENGINE_ACTOR,
                reason="зарегистрировано"
                + (
                    f" с нарушением срока (до {_local(registration_due, self.region)})"
                    if late
                    else ""
                ),
                data={"received": _iso(m.created_at), "due": _iso(registration_due), "late": late},
            )
            if late:
                notes.append(
                    Notification(
                        kind="registration_late",
                        incident_id=0,
                        at=now,
                        recipients=(self.region.curator,),
                        text="Письменное обращение зарегистрировано позже 3 дней после "
                        "поступления (ч. 2 ст. 8 59-ФЗ)",
                        data={"received": _iso(m.created_at), "due": _iso(registration_due)},
                    )
                )
        deadlines = deadlines_for(self.region, inc, start, policy=policy)
        if deadlines is not None:
            inc.sla_policy = deadlines.policy
            inc.first_response_due = deadlines.first_response_due
            inc.resolution_due = deadlines.resolution_due
            inc.record(
                "deadlines",
                at=now,
                actor=ENGINE_ACTOR,
                reason=f"сроки по политике SLA «{self.region.policy_name(deadlines.policy)}»",
                data={
                    "first_response_due": _iso(deadlines.first_response_due),
                    "resolution_due": _iso(deadlines.resolution_due),
                },
            )
        note = Notification(
            kind="triage" if triage else "routed",
            incident_id=0,  # the new incident's id, set when it is stored
            at=now,
            recipients=(decision.executor,),
            text=f"Новое обращение: {inc.summary[:140]}",
            data={"topic": topic, "territory": territory, "urgency": urgency.value},
        )
        return Outcome(
            "created",
            message_id,
            incident=inc,
            places=dict(analysis.places),
            words=analysis.words,
            notifications=(note, *notes),
            verdicts=analysis.verdicts,
            triage=triage,
        )


def _triage_reasons(
    analysis: Analysis, confidence: float, confident: bool, region: Region
) -> Sequence[str]:
    """Why a curator must look at a new incident first (nothing when it can be routed)."""
    reasons = []
    cls = analysis.classification
    if not confident:
        topic = analysis.topic
        if topic is None:
            reasons.append("тема не определена")
        elif cls is not None and cls.auto is False:
            reasons.append(
                f"модель не уверена в теме «{region.topic_name(topic)}» настолько, чтобы "
                f"решить без куратора (уверенность {decimal(confidence)})"
            )
        else:
            reasons.append(
                f"низкая уверенность {decimal(confidence)} в теме «{region.topic_name(topic)}»"
            )
    elif analysis.message.topic is None and cls is not None and cls.topic is not None:
        # a tie with another family's topic is a guess, not a classification
        rival = next(
            (
                t
                for t, c in cls.alternatives
                if c >= cls.confidence and region.family(t) != region.family(cls.topic)
            ),
            None,
        )
        if rival is not None:
            reasons.append(
                f"тема неоднозначна: «{region.topic_name(cls.topic)}» или "
                f"«{region.topic_name(rival)}»"
            )
    if analysis.territory is None:
        reasons.append("территория не определена")
    reasons.extend(analysis.flags)
    return reasons


def _explain(analysis: Analysis, region: Region) -> str:
    m, cls = analysis.message, analysis.classification
    if m.topic is not None:
        return f"тему указал источник «{region.source_name(m.source)}»"
    if cls is None:
        return ""
    words = ", ".join(cls.evidence[:6])
    why = ", ".join(cls.urgency_evidence[:4])
    return (
        f"уверенность {decimal(cls.confidence)}"
        + (f"; слова: {words}" if words else "")
        + (f"; срочность: {why}" if why else "")
    )


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def _local(when: datetime, region: Region) -> str:
    return when.astimezone(region.calendar.tz).strftime("%d.%m.%Y %H:%M")


_IMMUTABLE = (str, int, float, bool, type(None), datetime, enum.Enum, GeoPoint)


def _copied(value: Any) -> Any:
    """A deep copy of a JSON-like ``value`` that shares what cannot change (strings,
    numbers, times, enums): :func:`copy.deepcopy` reduces each datetime and enum."""
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return copy.deepcopy(value)


def _detached(inc: Incident) -> Incident:
    """A copy of ``inc`` for the routers: what they might change is their own."""
    history = [
        Event(e.at, e.actor, e.kind, e.reason, e.from_status, e.to_status, _copied(dict(e.data)))
        for e in inc.history
    ]
    return attrs.evolve(
        inc, message_ids=list(inc.message_ids), history=history, data=_copied(inc.data)
    )
