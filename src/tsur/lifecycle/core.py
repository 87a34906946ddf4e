"""The lifecycle's shared core: look-ups, answer templates, deadlines, the outbox, replies.

:class:`LifecycleCore` holds what every step of an incident's life needs
and nothing that decides a step: :class:`~tsur.lifecycle.Lifecycle` (answers,
59-ФЗ terms) and the rating and escalation modules build on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Self

from tsur.domain import Incident, Notification, SLAPolicy, Status
from tsur.errors import IllegalTransition, InvalidRequest
from tsur.lifecycle.answers import AnswerCheck, AnswerChecker, AnswerTemplates, format_due
from tsur.lifecycle.replies import ReplyChannel
from tsur.lifecycle.state import WRITTEN, lifecycle_state
from tsur.pipeline import Engine
from tsur.sla.calendar import WorkingCalendar
from tsur.sla.deadlines import deadlines_for, policy_for

__all__ = ["ANSWERABLE", "LifecycleCore", "nonempty_text"]

#: Statuses in which an executor can answer.
ANSWERABLE = (Status.ROUTED, Status.IN_PROGRESS, Status.ANSWERED_INTERMEDIATE, Status.REOPENED)


def nonempty_text(value: str | None, what: str, incident_id: int) -> str:
    """``value`` stripped; :class:`~tsur.errors.InvalidRequest` when it is not a non-empty text."""
    if value is None or not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty text", incident_id=incident_id)
    return value.strip()


class LifecycleCore:
    """What every lifecycle step shares: the engine, look-ups, templates, the outbox, replies.

    :class:`~tsur.lifecycle.Lifecycle` adds the steps themselves; the
    rating and escalation modules work on this core.

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

    def __enter__(self) -> Self:
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

    def calendar_of(self, incident: Incident) -> WorkingCalendar:
        """The calendar the incident's terms and escalation run on: round the clock under
        a ``24/7`` policy (the urgent track), else its executor's."""
        return self.region.terms_calendar(incident.executor, self.policy_of(incident))

    def registered_at(self, incident: Incident) -> datetime:
        """When the appeal was registered (its ``registered`` event), else when it came."""
        for ev in incident.history:
            if ev.kind == "registered":
                return ev.at
        return incident.created_at

    def policy_of(self, incident: Incident) -> SLAPolicy | None:
        """The SLA policy the incident is under (its stored one, else the matching one)."""
        return self.region.policy(incident.sla_policy) or policy_for(self.region, incident)

    def is_written_appeal(self, incident: Incident) -> bool:
        """Whether the incident is a written appeal under 59-ФЗ (source kind ``written``)."""
        return self.region.source_kind(incident.source) == WRITTEN

    def needs_photo(self, incident: Incident) -> bool:
        """Whether the incident's topic (or a parent topic) needs photo confirmation."""
        return self.region.in_topic(incident.topic, self._photo_topics)

    def check_answer(self, text: str, *, kind: str = "final") -> AnswerCheck:
        """The «отписка» check of an answer (``final`` or ``intermediate``), without
        touching any incident."""
        return self.checker.check(text, kind=kind)

    def iso(self, when: datetime | None) -> str | None:
        """``when`` as ISO 8601 in the region's time zone (how events store instants)."""
        return when.astimezone(self.region.calendar.tz).isoformat() if when else None

    def executor_name(self, executor: str | None) -> str:
        """The executor's name (its id if the region does not know it)."""
        return self.region.executor_name(executor)

    # internals -------------------------------------------------------------------------
    def require_answerable(self, inc: Incident, target: Status) -> None:
        if not inc.can_transition(target) or inc.status not in ANSWERABLE:
            raise IllegalTransition(inc.status.value, target.value, incident_id=inc.id)

    def photo_urls(self, photos: Iterable[str], incident_id: int) -> list[str]:
        if isinstance(photos, str):
            photos = [photos]
        out = []
        for p in photos:
            if not isinstance(p, str) or not p.strip():
                raise InvalidRequest(f"photo URL {p!r} is empty", incident_id=incident_id)
            out.append(p.strip())
        return out

    def has_photo(self, inc: Incident) -> bool:
        """A photo attached since the incident was last reopened."""
        for ev in reversed(inc.history):
            if ev.kind == "photo" and ev.data.get("urls"):
                return True
            if ev.to_status is Status.REOPENED:
                return False
        return False

    def render_answer(
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

    def set_deadlines(
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

    def recount_deadlines(self, inc: Incident, start: datetime, now: datetime, actor: str) -> None:
        """Count the incident's terms again from ``start`` under the policy and calendar of
        its (new) executor, and record them; the first response's only while none was given.

        A forward and a curator's reassignment both call it after changing the executor.
        """
        dl = deadlines_for(self.region, inc, start)
        if dl is None:
            return
        inc.sla_policy = dl.policy
        first = dl.first_response_due if inc.first_response_at is None else None
        self.set_deadlines(
            inc,
            now,
            actor,
            f"новый исполнитель, политика {dl.policy}",
            first_response_due=first or inc.first_response_due,
            resolution_due=dl.resolution_due,
            resolution_from=start,
        )

    def queue(self, *notifications: Notification) -> list[bool]:
        """Queue notifications in the outbox (each once per key); which were new."""
        return self.repository.queue_notifications(notifications)

    def post_answer(
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
                    reason="" if d.delivered else (d.reason or ""),
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
