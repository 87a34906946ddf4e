"""The incident lifecycle after routing: work, answers, 59-ФЗ terms, ratings, escalation.

:class:`Lifecycle` wraps an :class:`~tsur.Engine`::

    life = Lifecycle(engine)
    life.take_in_work(12, actor="teplo")
    life.answer_intermediate(12, actor="teplo")           # «взято в работу … Срок: …»
    life.answer_final(12, "Подача тепла восстановлена 20.11.2026", actor="teplo",
                      photos=["https://…/after.jpg"])
    life.rate(12, 2, resolved=False)                       # reopens
    life.tick()                                            # warnings and escalation

Every change is a status transition or an event in the incident's
history, made while the incident's row is locked
(:meth:`Repository.update_incident`), so two workers answering or rating
the same incident at once are serialised and lose nothing. Answers are
posted to the citizen on the incident's channel after the change is
committed; the outcome of each post is recorded as a ``reply`` event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tsur.domain import Incident, Notification, SLAPolicy, Status
from tsur.errors import (
    AnswerRejected,
    ExtensionRefused,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    PhotoRequired,
)
from tsur.lifecycle.answers import AnswerCheck, AnswerChecker, AnswerTemplates, format_due
from tsur.lifecycle.escalation import TickReport, run_tick
from tsur.lifecycle.feedback import rate, reopen
from tsur.lifecycle.replies import ReplyChannel
from tsur.lifecycle.state import (
    ACTOR,
    EXTENSION_DAYS,
    FORWARD_DAYS,
    WRITTEN,
    duration_ru,
    lifecycle_state,
)
from tsur.pipeline import Engine
from tsur.sla.calendar import WorkingCalendar
from tsur.sla.deadlines import deadlines_for, due, policy_for

__all__ = ["Lifecycle"]

_ANSWERABLE = (Status.ROUTED, Status.IN_PROGRESS, Status.ANSWERED_INTERMEDIATE, Status.REOPENED)


def _text(value: str | None, what: str, incident_id: int) -> str:
    if value is None or not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty text", incident_id=incident_id)
    return value.strip()


class Lifecycle:
    """Answers, deadlines, ratings and escalation for the incidents of one engine.

    ``templates`` and ``checker`` replace the bundled Russian templates and
    the built-in «отписка» rules (plus the region's forbidden phrases);
    ``adapter_options`` adds constructor arguments for source adapters by
    source id (an ``httpx.Client``, a token); ``post_replies=False`` posts
    nothing to the channels (answers are kept as not delivered).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        templates: AnswerTemplates | None = None,
        checker: AnswerChecker | None = None,
        adapter_options: Mapping[str, Mapping[str, Any]] | None = None,
        post_replies: bool = True,
    ) -> None:
        self.engine = engine
        self.region = engine.region
        self.config = engine.config
        self.repository = engine.repository
        self.templates = templates or AnswerTemplates.load()
        self.checker = checker or AnswerChecker(engine.config.lifecycle.forbidden_phrases)
        self.replies = ReplyChannel(engine, adapter_options, enabled=post_replies)
        self._photo_topics = set(engine.config.lifecycle.photo_required_topics)

    def close(self) -> None:
        """Close the source adapters opened for replies."""
        self.replies.close()

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # lookups ---------------------------------------------------------------------------
    def now(self) -> datetime:
        """The engine's clock."""
        return self.engine.clock()

    def calendar_for(self, executor: str | None) -> WorkingCalendar:
        """The working calendar of ``executor`` (its own hours, else the region's)."""
        return self.region.calendar_for(executor)

    def policy_of(self, incident: Incident) -> SLAPolicy | None:
        """The SLA policy the incident is under (its stored one, else the matching one)."""
        return self.region.policy(incident.sla_policy) or policy_for(self.region, incident)

    def is_written_appeal(self, incident: Incident) -> bool:
        """Whether the incident is a written appeal under 59-ФЗ (source kind ``written``)."""
        return self.region.source_kind(incident.source) == WRITTEN

    def needs_photo(self, incident: Incident) -> bool:
        """Whether the incident's topic (or a parent topic) needs photo confirmation."""
        return self.region.in_topic(incident.topic, self._photo_topics)

    def check_answer(self, text: str) -> AnswerCheck:
        """The «отписка» check of a final answer, without touching any incident."""
        return self.checker.check(text)

    def iso(self, when: datetime | None) -> str | None:
        """``when`` as ISO 8601 in the region's time zone (how events store instants)."""
        return when.astimezone(self.region.calendar.tz).isoformat() if when else None

    def executor_name(self, executor: str | None) -> str:
        """The executor's name (its id if the region does not know it)."""
        return self.region.executor_name(executor)

    # answers ---------------------------------------------------------------------------
    def take_in_work(self, incident_id: int, *, actor: str | None = None) -> Incident:
        """The executor starts work: ROUTED or REOPENED → IN_PROGRESS (nothing is posted)."""
        now = self.now()
        with self.repository.update_incident(incident_id) as inc:
            inc.transition(
                Status.IN_PROGRESS,
                at=now,
                actor=actor or inc.executor or ACTOR,
                reason="взято в работу",
                data={"executor": inc.executor},
            )
        return inc

    def answer_intermediate(
        self, incident_id: int, text: str | None = None, *, actor: str | None = None
    ) -> Incident:
        """Give the intermediate answer («взято в работу … Срок: …») and post it.

        The final answer then falls due ``after_intermediate`` of the SLA
        policy from now (Sevastopol's rule: 7 working days) — except for
        written appeals, whose 59-ФЗ term only an extension moves. Without
        ``text`` the topic's template is used. A second intermediate answer
        is an :class:`~tsur.errors.IllegalTransition`.
        """
        if text is not None:
            text = _text(text, "the intermediate answer", incident_id)
        now = self.now()
        with self.repository.update_incident(incident_id) as inc:
            self._require(inc, Status.ANSWERED_INTERMEDIATE)
            policy = self.policy_of(inc)
            cal = self.calendar_for(inc.executor)
            new_due = inc.resolution_due
            span = policy.after_intermediate if policy is not None else None
            if span is not None and not self.is_written_appeal(inc):
                new_due = due(cal, now, span)
            if text is None:
                text = self._render("intermediate", inc, due_at=new_due)
            who = actor or inc.executor or ACTOR
            inc.transition(
                Status.ANSWERED_INTERMEDIATE,
                at=now,
                actor=who,
                reason="промежуточный ответ",
                data={"text": text},
            )
            if inc.first_response_at is None:
                inc.first_response_at = now
            if new_due != inc.resolution_due:
                self._set_deadlines(
                    inc,
                    now,
                    who,
                    f"окончательный ответ — через {duration_ru(span)} после промежуточного",
                    resolution_due=new_due,
                )
        return self._send(inc, "intermediate", text, actor=who)

    def answer_final(
        self,
        incident_id: int,
        text: str,
        *,
        actor: str | None = None,
        photos: Iterable[str] = (),
    ) -> Incident:
        """Give the final answer: checked for «отписка», then RESOLVED and posted.

        An answer without a concrete action, term or justified refusal is
        recorded as ``answer_rejected`` with the reasons and raises
        :class:`AnswerRejected`; the incident keeps its status. Topics in
        ``lifecycle.photo_required_topics`` need a photo (here or attached
        before with :meth:`attach_photos`) or :class:`PhotoRequired` is raised.
        """
        text = _text(text, "the final answer", incident_id)
        urls = self._urls(photos, incident_id)
        verdict = self.checker.check(text)
        now = self.now()
        with self.repository.update_incident(incident_id) as inc:
            self._require(inc, Status.RESOLVED)
            who = actor or inc.executor or ACTOR
            if not verdict.accepted:
                inc.record(
                    "answer_rejected",
                    at=now,
                    actor=who,
                    reason="; ".join(verdict.reasons),
                    data={"reasons": list(verdict.reasons), "text": text},
                )
            else:
                if urls:
                    inc.record("photo", at=now, actor=who, data={"urls": urls})
                if self.needs_photo(inc) and not self._has_photo(inc):
                    raise PhotoRequired(inc.topic, incident_id=incident_id)
                inc.transition(
                    Status.RESOLVED,
                    at=now,
                    actor=who,
                    reason="окончательный ответ",
                    data={"text": text, "evidence": list(verdict.evidence)},
                )
                if inc.first_response_at is None:
                    inc.first_response_at = now
        if not verdict.accepted:
            raise AnswerRejected(verdict.reasons, incident_id=incident_id)
        return self._send(inc, "final", text, actor=who)

    def attach_photos(
        self, incident_id: int, urls: Iterable[str], *, actor: str | None = None
    ) -> Incident:
        """Attach photos of the work (a ``photo`` event) without changing the status."""
        photos = self._urls(urls, incident_id)
        if not photos:
            raise InvalidRequest("give at least one photo URL", incident_id=incident_id)
        with self.repository.update_incident(incident_id) as inc:
            who = actor or inc.executor or ACTOR
            inc.record("photo", at=self.now(), actor=who, data={"urls": photos})
        return inc

    def close_incident(
        self, incident_id: int, *, actor: str = ACTOR, reason: str = "закрыто"
    ) -> Incident:
        """RESOLVED → CLOSED (photo confirmation checked for the topics that need it)."""
        with self.repository.update_incident(incident_id) as inc:
            if inc.status is Status.RESOLVED and self.needs_photo(inc) and not self._has_photo(inc):
                raise PhotoRequired(inc.topic, incident_id=incident_id)
            inc.transition(Status.CLOSED, at=self.now(), actor=actor, reason=reason)
        return inc

    # 59-ФЗ -----------------------------------------------------------------------------
    def extend_59fz(self, incident_id: int, reason: str, *, actor: str | None = None) -> Incident:
        """Extend a written appeal's term once by 30 days, before it ends, and tell the citizen.

        Raises :class:`ExtensionRefused` for an appeal that is not written,
        is closed, was extended before, or whose term has already ended.
        """
        reason = _text(reason, "the reason of an extension", incident_id)
        now = self.now()
        with self.repository.update_incident(incident_id) as inc:
            if not self.is_written_appeal(inc):
                raise ExtensionRefused(
                    f"only written appeals under 59-ФЗ can be extended; this one came from "
                    f"{inc.source!r}",
                    incident_id=incident_id,
                )
            if not inc.status.is_open:
                raise ExtensionRefused(
                    f"the appeal is {inc.status.value}; only open appeals can be extended",
                    incident_id=incident_id,
                )
            state = lifecycle_state(inc)
            if state.get("extension"):
                ext = state["extension"]
                raise ExtensionRefused(
                    f"the term was already extended on {ext['at']} to {ext['to']}; 59-ФЗ "
                    "allows one extension",
                    incident_id=incident_id,
                )
            if inc.resolution_due is None:
                raise ExtensionRefused("the appeal has no term to extend", incident_id=incident_id)
            if now > inc.resolution_due:
                raise ExtensionRefused(
                    f"the term ended at {inc.resolution_due.isoformat()}; an extension must be "
                    "decided before the term ends",
                    incident_id=incident_id,
                )
            cal = self.calendar_for(inc.executor)
            old = inc.resolution_due
            new = cal.add_calendar_days(old, EXTENSION_DAYS)
            who = actor or inc.executor or ACTOR
            state["extension"] = {"at": self.iso(now), "from": self.iso(old), "to": self.iso(new)}
            inc.record(
                "extended",
                at=now,
                actor=who,
                reason=reason,
                data={"from": self.iso(old), "to": self.iso(new), "days": EXTENSION_DAYS},
            )
            self._set_deadlines(inc, now, who, f"продление по 59-ФЗ: {reason}", resolution_due=new)
            text = self._render("extension", inc, due_at=new, reason=reason)
        return self._send(inc, "intermediate", text, actor=who, notice="extension")

    def forward(
        self, incident_id: int, to_executor: str, reason: str, *, actor: str | None = None
    ) -> Incident:
        """Re-route to the competent executor with the reason shown, and tell the citizen.

        The incident goes back to ROUTED with the new executor. A written
        appeal gets a new 30-day term from now (the competent body's own
        registration) and the 7-day forwarding rule of 59-ФЗ is checked: a
        late forward still happens, is marked ``late`` and reported to the
        curator. Other incidents keep their clock from the first message,
        under the new executor's policy and calendar.
        """
        reason = _text(reason, "the reason of forwarding", incident_id)
        if to_executor not in self.region.executors:
            raise NotFound("executor", to_executor)
        now = self.now()
        late = False
        with self.repository.update_incident(incident_id) as inc:
            if inc.executor == to_executor:
                raise InvalidRequest(
                    f"the incident is already with {to_executor!r}", incident_id=incident_id
                )
            if inc.status not in (Status.TRIAGE, *_ANSWERABLE):
                raise IllegalTransition(inc.status.value, Status.ROUTED.value, incident_id=inc.id)
            who = actor or inc.executor or ACTOR
            written = self.is_written_appeal(inc)
            data: dict[str, Any] = {"from": inc.executor, "to": to_executor, "reason": reason}
            if written:
                limit = self.region.calendar.add_calendar_days(inc.created_at, FORWARD_DAYS)
                late = now > limit
                data.update(forward_due=self.iso(limit), late=late)
            previous = inc.executor
            inc.record("forwarded", at=now, actor=who, reason=reason, data=data)
            inc.executor = to_executor
            inc.transition(
                Status.ROUTED,
                at=now,
                actor=who,
                reason=f"переадресовано: {reason}",
                data={"executor": to_executor, "previous": previous},
            )
            state = lifecycle_state(inc)
            state["forwards"] = int(state.get("forwards", 0)) + 1
            start = now if written else inc.created_at
            dl = deadlines_for(self.region, inc, start)
            if dl is not None:
                inc.sla_policy = dl.policy
                first = dl.first_response_due if inc.first_response_at is None else None
                self._set_deadlines(
                    inc,
                    now,
                    who,
                    f"новый исполнитель, политика {dl.policy}",
                    first_response_due=first or inc.first_response_due,
                    resolution_due=dl.resolution_due,
                    resolution_from=start,
                )
            text = self._render("forward", inc, due_at=inc.resolution_due, reason=reason)
        self.queue(
            Notification(
                kind="forwarded",
                incident_id=incident_id,
                at=now,
                recipients=(to_executor,),
                text=f"Переадресовано обращение № {incident_id}: {reason}",
                data={"from": previous, "reason": reason},
                key=f"forwarded:{incident_id}:{to_executor}:{now.isoformat()}",
            )
        )
        if late:
            self.queue(
                Notification(
                    kind="forward_late",
                    incident_id=incident_id,
                    at=now,
                    recipients=(self.region.curator,),
                    text=f"Обращение № {incident_id} переадресовано позже 7 дней (ч. 3 ст. 8 "
                    "59-ФЗ)",
                    data={"to": to_executor},
                    key=f"forward_late:{incident_id}:{now.isoformat()}",
                )
            )
        return self._send(inc, "intermediate", text, actor=who, notice="forward")

    # ratings and escalation live in their own modules ------------------------------
    def rate(
        self,
        incident_id: int,
        score: int,
        comment: str | None = None,
        resolved: bool | None = None,
        *,
        actor: str = "citizen",
    ) -> Incident:
        """The citizen's rating; a low one (or «не решено») reopens. See :mod:`.feedback`."""
        return rate(self, incident_id, score, comment, resolved, actor=actor)

    def reopen(self, incident_id: int, reason: str, *, actor: str = "citizen") -> Incident:
        """RESOLVED/CLOSED → REOPENED, back to the same executor with a new term."""
        return reopen(self, incident_id, reason, actor=actor)

    def tick(self, now: datetime | None = None) -> TickReport:
        """Warn, mark overdue and escalate, ask the watchers; deliver notifications.

        See :mod:`.escalation`.
        """
        return run_tick(self, now)

    # internals -------------------------------------------------------------------------
    def _require(self, inc: Incident, target: Status) -> None:
        if not inc.can_transition(target) or inc.status not in _ANSWERABLE:
            raise IllegalTransition(inc.status.value, target.value, incident_id=inc.id)

    def _urls(self, photos: Iterable[str], incident_id: int) -> list[str]:
        if isinstance(photos, str):
            photos = [photos]
        out = []
        for p in photos:
            if not isinstance(p, str) or not p.strip():
                raise InvalidRequest(f"photo URL {p!r} is empty", incident_id=incident_id)
            out.append(p.strip())
        return out

    def _has_photo(self, inc: Incident) -> bool:
        """A photo attached since the incident was last reopened."""
        for ev in reversed(inc.history):
            if ev.kind == "photo" and ev.data.get("urls"):
                return True
            if ev.to_status is Status.REOPENED:
                return False
        return False

    def _render(
        self, kind: str, inc: Incident, *, due_at: datetime | None, reason: str | None = None
    ) -> str:
        tz = self.region.calendar.tz
        term = f"до {format_due(due_at, tz)}" if due_at else "в сроки, установленные регламентом"
        return self.templates.render(
            kind,
            self.region.topic_chain(inc.topic),
            id=inc.id,
            executor=self.executor_name(inc.executor),
            due=format_due(due_at, tz) if due_at else None,
            term=term,
            topic=self.region.topic_name(inc.topic) if inc.topic in self.region.topics else None,
            reason=reason,
            address=inc.address,
        )

    def _set_deadlines(
        self,
        inc: Incident,
        now: datetime,
        actor: str,
        reason: str,
        *,
        first_response_due: datetime | None = None,
        resolution_due: datetime | None,
        resolution_from: datetime | None = None,
    ) -> None:
        if first_response_due is not None:
            inc.first_response_due = first_response_due
        inc.resolution_due = resolution_due
        state = lifecycle_state(inc)
        state["resolution_from"] = self.iso(resolution_from or now)
        inc.record(
            "deadlines",
            at=now,
            actor=actor,
            reason=reason,
            data={
                "first_response_due": self.iso(inc.first_response_due),
                "resolution_due": self.iso(inc.resolution_due),
            },
        )

    def queue(self, *notifications: Notification) -> list[bool]:
        """Queue notifications in the outbox (each once per key); which were new."""
        return self.repository.queue_notifications(notifications)

    def _send(
        self, inc: Incident, kind: str, text: str, *, actor: str, notice: str | None = None
    ) -> Incident:
        """Post an answer to the incident's citizens, record each outcome; the fresh incident."""
        assert inc.id is not None
        deliveries = self.replies.post(inc, kind, text, author=self.executor_name(inc.executor))
        now = self.now()
        with self.repository.update_incident(inc.id) as locked:
            for d in deliveries:
                data: dict[str, Any] = {
                    "kind": kind,
                    "text": text,
                    "delivered": d.delivered,
                    "external_reply_id": d.external_reply_id,
                    "source": d.source,
                    "message_id": d.message_id,
                }
                if notice:
                    data["notice"] = notice
                if not d.delivered:
                    data["retryable"] = d.retryable
                locked.record(
                    "reply",
                    at=now,
                    actor=actor,
                    reason="" if d.delivered else f"not delivered: {d.reason}",
                    data=data,
                )
        failed = [d for d in deliveries if not d.delivered]
        for d in failed:
            self.queue(
                Notification(
                    kind="reply_failed",
                    incident_id=inc.id,
                    at=now,
                    recipients=(self.region.curator,),
                    text=f"Ответ по обращению № {inc.id} не доставлен заявителю ({d.source}): "
                    f"{d.reason}. Доставьте ответ вручную.",
                    data={"reply_kind": kind, "source": d.source, "reason": d.reason},
                    key=f"reply_failed:{inc.id}:{kind}:{d.message_id}:{now.isoformat()}",
                )
            )
        return locked
