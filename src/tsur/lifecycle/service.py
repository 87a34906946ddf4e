"""The incident lifecycle after routing: work, answers, 59-ФЗ terms, ratings, escalation.

:class:`Lifecycle` wraps an :class:`~tsur.Engine`::

    life = Lifecycle(engine)
    life.take_in_work(12, actor="teplo")
    life.answer_intermediate(12, actor="teplo")           # «взято в работу … Срок: …»
    life.answer_final(12, "Подача тепла восстановлена 20.11.2026", actor="teplo",
                      photos=["https://…/after.jpg"])
    life.rate(12, 2, resolved=False)                       # reopens
    life.tick()                                            # warnings, escalation, watchers

Every change is a status transition or an event in the incident's
history, made while the incident's row is locked
(:meth:`Repository.update_incident`), so two workers answering or rating
the same incident at once are serialised and lose nothing. Answers are
posted to the citizen on the incident's channel after the change is
committed; the outcome of each post is recorded as a ``reply`` event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from tsur.domain import Duration, Incident, Notification, Status
from tsur.errors import (
    AnswerRejected,
    ExtensionRefused,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    PhotoRequired,
)
from tsur.lifecycle import curator
from tsur.lifecycle.core import ANSWERABLE, LifecycleCore, nonempty_text
from tsur.lifecycle.curator import Correction
from tsur.lifecycle.escalation import TickReport, run_tick
from tsur.lifecycle.feedback import rate, reopen
from tsur.lifecycle.learning import (
    DuplicatePair,
    LabelledExample,
    duplicate_pairs,
    labelled_examples,
)
from tsur.lifecycle.state import (
    ACTOR,
    EXTENSION_DAYS,
    FORWARD_DAYS,
    duration_ru,
    lifecycle_state,
)
from tsur.sla.deadlines import due

__all__ = ["Lifecycle"]


class Lifecycle(LifecycleCore):
    """Answers, deadlines, ratings and escalation for the incidents of one engine.

    ``templates`` and ``checker`` replace the bundled Russian templates and
    the built-in «отписка» rules (plus the region's forbidden phrases);
    ``adapter_options`` adds runtime objects for source adapters by source
    id (an ``httpx.Client``); ``post_replies=False`` posts nothing to the
    channels (answers are kept as not delivered).
    """

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
        policy from now (Sevastopol's rule: 7 working days) — once: a later
        intermediate answer (after the incident was taken back, say) never
        moves the term again, and written appeals keep their 59-ФЗ term,
        which only an extension moves. Without ``text`` the topic's template
        is used. An answer that fails the «отписка» check is refused
        (:class:`AnswerRejected`) and does not count as a response.
        """
        if text is not None:
            text = nonempty_text(text, "the intermediate answer", incident_id)
        now = self.now()
        with self.repository.update_incident(incident_id) as inc:
            self.require_answerable(inc, Status.ANSWERED_INTERMEDIATE)
            policy = self.policy_of(inc)
            state = lifecycle_state(inc)
            new_due = inc.resolution_due
            span = policy.after_intermediate if policy is not None else None
            first = "intermediate_at" not in state
            if span is not None and first and not self.is_written_appeal(inc):
                new_due = due(self.calendar_of(inc), now, span)
            if text is None:
                text = self.render_answer("intermediate", inc, due_at=new_due)
            who = actor or inc.executor or ACTOR
            verdict = self.checker.check(text, kind="intermediate")
            if not verdict.accepted:
                _record_refusal(inc, verdict.reasons, text, now, who, kind="intermediate")
            else:
                inc.transition(
                    Status.ANSWERED_INTERMEDIATE,
                    at=now,
                    actor=who,
                    reason="промежуточный ответ",
                    data={"text": text},
                )
                state.setdefault("intermediate_at", self.iso(now))
                if inc.first_response_at is None:
                    inc.first_response_at = now
                if new_due != inc.resolution_due:
                    self.set_deadlines(
                        inc,
                        now,
                        who,
                        f"окончательный ответ — через {duration_ru(span)} после промежуточного",
                        resolution_due=new_due,
                    )
        if not verdict.accepted:
            raise AnswerRejected(verdict.reasons, incident_id=incident_id)
        return self.post_answer(inc, "intermediate", text, actor=who)

    def move_term(
        self, incident_id: int, resolution_due: datetime, reason: str, *, actor: str
    ) -> Incident:
        """A curator's decision to set the resolution term, with its reason (recorded).

        Besides a 59-ФЗ extension this is the only way a term moves once set.
        A term that has already passed is refused (:class:`InvalidRequest`).
        """
        reason = nonempty_text(reason, "the reason of moving the term", incident_id)
        if resolution_due.tzinfo is None:
            raise InvalidRequest("the new term must be timezone-aware", incident_id=incident_id)
        now = self.now()
        if resolution_due <= now:
            raise InvalidRequest(
                f"the new term {resolution_due.isoformat()} has already passed",
                incident_id=incident_id,
            )
        with self.repository.update_incident(incident_id) as inc:
            if not inc.status.is_open:
                raise InvalidRequest(
                    f"the incident is {inc.status.label}; only an open one has a term",
                    incident_id=incident_id,
                )
            self.set_deadlines(
                inc,
                now,
                actor,
                f"срок изменён решением куратора: {reason}",
                resolution_due=resolution_due,
            )
        return inc

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
        text = nonempty_text(text, "the final answer", incident_id)
        urls = self.photo_urls(photos, incident_id)
        verdict = self.checker.check(text)
        now = self.now()
        with self.repository.update_incident(incident_id) as inc:
            self.require_answerable(inc, Status.RESOLVED)
            who = actor or inc.executor or ACTOR
            if not verdict.accepted:
                _record_refusal(inc, verdict.reasons, text, now, who)
            else:
                if urls:
                    inc.record("photo", at=now, actor=who, data={"urls": urls})
                if self.needs_photo(inc) and not self.has_photo(inc):
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
        return self.post_answer(inc, "final", text, actor=who)

    def attach_photos(
        self, incident_id: int, urls: Iterable[str], *, actor: str | None = None
    ) -> Incident:
        """Attach photos of the work (a ``photo`` event) without changing the status."""
        photos = self.photo_urls(urls, incident_id)
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
            if inc.status is Status.RESOLVED and self.needs_photo(inc) and not self.has_photo(inc):
                raise PhotoRequired(inc.topic, incident_id=incident_id)
            inc.transition(Status.CLOSED, at=self.now(), actor=actor, reason=reason)
        return inc

    # 59-ФЗ -----------------------------------------------------------------------------
    def extend_59fz(
        self,
        incident_id: int,
        reason: str,
        *,
        days: int = EXTENSION_DAYS,
        actor: str | None = None,
    ) -> Incident:
        """Extend a written appeal's term once, by ``days`` (at most 30), and tell the citizen.

        59-ФЗ art. 12 p. 2: "in exceptional cases … by no more than 30 days",
        decided before the term ends. The new term is counted from the
        original one (the 30th day after registration, before any move off a
        day off) and ends at the end of its last day. Raises
        :class:`ExtensionRefused` for an appeal that is not written, is
        closed, was extended before, whose term has already ended, or whose
        current term already runs past the extended one (after a reopening or
        a curator's move): an extension never shortens a term.
        """
        reason = nonempty_text(reason, "the reason of an extension", incident_id)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= EXTENSION_DAYS:
            raise InvalidRequest(
                f"an extension is 1 to {EXTENSION_DAYS} days, got {days!r}",
                incident_id=incident_id,
            )
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
            old = inc.resolution_due
            new = self._extended_term(inc, days)
            if new <= old:
                raise ExtensionRefused(
                    f"the term already runs to {old.isoformat()}, beyond the original term "
                    f"plus {days} days ({new.isoformat()}); an extension never shortens it",
                    incident_id=incident_id,
                )
            who = actor or inc.executor or ACTOR
            state["extension"] = {"at": self.iso(now), "from": self.iso(old), "to": self.iso(new)}
            inc.record(
                "extended",
                at=now,
                actor=who,
                reason=reason,
                data={"from": self.iso(old), "to": self.iso(new), "days": days},
            )
            self.set_deadlines(
                inc,
                now,
                who,
                f"продление по 59-ФЗ на {days} дн.: {reason}",
                resolution_due=new,
                resolution_from=self._term_start(inc),
            )
            text = self.render_answer("extension", inc, due_at=new, reason=reason)
        return self.post_answer(inc, "intermediate", text, actor=who, notice="extension")

    def _term_start(self, inc: Incident) -> datetime:
        """When the running 59-ФЗ term began: a forward's new registration, else the first."""
        raw = lifecycle_state(inc).get("resolution_from")
        if isinstance(raw, str) and lifecycle_state(inc).get("forwards"):
            return datetime.fromisoformat(raw)
        return self.registered_at(inc)

    def _extended_term(self, inc: Incident, days: int) -> datetime:
        """The original term plus ``days``, ending at the end of its last day."""
        policy = self.policy_of(inc)
        cal = self.calendar_of(inc)
        span = policy.resolution if policy is not None else None
        if span is not None and span.unit == "days":
            return due(cal, self._term_start(inc), Duration(span.amount + days, "days"))
        assert inc.resolution_due is not None
        return due(cal, inc.resolution_due, Duration(days, "days"))

    def forward(
        self, incident_id: int, to_executor: str, reason: str, *, actor: str | None = None
    ) -> Incident:
        """Re-route to the competent executor with the reason shown, and tell the citizen.

        The incident goes back to ROUTED with the new executor. A written
        appeal gets a new 30-day term from now (the competent body's own
        registration) and the 7-day forwarding rule of 59-ФЗ is checked (7
        days from registration, to the end of the 7th day): a late forward
        still happens, is marked ``late`` and reported to the curator. Other
        incidents keep their clock from the first message, under the new
        executor's policy and calendar.
        """
        reason = nonempty_text(reason, "the reason of forwarding", incident_id)
        if to_executor not in self.region.executors:
            raise NotFound("executor", to_executor)
        now = self.now()
        late = False
        with self.repository.update_incident(incident_id) as inc:
            if inc.executor == to_executor:
                raise InvalidRequest(
                    f"the incident is already with {to_executor!r}", incident_id=incident_id
                )
            if inc.status not in (Status.TRIAGE, *ANSWERABLE):
                raise IllegalTransition(inc.status.value, Status.ROUTED.value, incident_id=inc.id)
            who = actor or inc.executor or ACTOR
            written = self.is_written_appeal(inc)
            data: dict[str, Any] = {"from": inc.executor, "to": to_executor, "reason": reason}
            if written:  # within 7 days of registration, to the end of the 7th day
                limit = due(
                    self.region.calendar, self.registered_at(inc), Duration(FORWARD_DAYS, "days")
                )
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
            self.recount_deadlines(inc, now if written else inc.created_at, now, who)
            text = self.render_answer("forward", inc, due_at=inc.resolution_due, reason=reason)
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
        return self.post_answer(inc, "intermediate", text, actor=who, notice="forward")

    # a curator's corrections live in their own module -------------------------------
    def confirm(
        self,
        incident_id: int,
        *,
        actor: str,
        executor: str | None = None,
        note: str | None = None,
    ) -> Incident:
        """Approve the engine's work: the incident keeps its topic and territory, goes on.

        For an incident in triage, or routed and not yet confirmed. The history
        gains ``confirmed`` (topic, territory, the executor it goes to, the
        engine's proposal and confidence) by ``actor``, with ``note`` as its
        reason; the classification becomes certain (confidence 1). An
        incident in triage goes to its proposed executor — or to
        ``executor`` when given — as :meth:`reassign` gives it (ROUTED, the
        executor notified, the terms counted again only when the executor
        changes); a routed one stays where it is unless ``executor`` names
        another. :meth:`labelled_examples` reads the confirmation as a
        curator's label (origin ``"confirmed"``).

        Raises :class:`IllegalTransition` for an incident in any other status
        (taken into work, answered, closed), :class:`InvalidRequest` for one
        already confirmed, one without a topic (correct it instead) or
        without an executor to go to (the engine proposed none, or only the
        curators' own queue: name one), :class:`NotFound` for an unknown
        incident or executor.
        """
        return curator.confirm(self, incident_id, actor=actor, executor=executor, note=note)

    def reassign(self, incident_id: int, to_executor: str, reason: str, *, actor: str) -> Incident:
        """Give an open incident to another executor of the region (ROUTED), with the reason.

        For an incident out of triage or a wrong assignment; unlike
        :meth:`forward` (59-ФЗ forwarding to a competent body) the citizen is
        not told and a written appeal keeps its term. Other incidents' terms
        are counted again from their first message under the new executor's
        policy and calendar, as a forward counts them (the first response's
        only while none was given). The new executor is notified (``routed``);
        the history gains ``reassigned`` and a status event, both by ``actor``.

        Raises :class:`NotFound` for an unknown executor, :class:`InvalidRequest`
        for the executor it already has or an empty reason, and
        :class:`IllegalTransition` for an incident that is closed (resolved,
        closed, rejected, a duplicate) or not yet classified.
        """
        return curator.reassign(self, incident_id, to_executor, reason, actor=actor)

    def merge(
        self, target_id: int, duplicate_ids: Sequence[int], *, actor: str, reason: str = ""
    ) -> Incident:
        """Merge duplicates of one problem into ``target_id``; the target as it is now.

        The duplicates' messages move to the target, so its answers reach
        their authors too (each author once). Each duplicate records a
        ``merged`` event (``{"into": target}``) and becomes ``duplicate``;
        the target records ``merged`` (``{"from": [...]}``) and takes the
        earliest terms of them all. The executors concerned are notified
        (``merged``); citizens are not.

        Refused: an empty list or a repeated id, the target among the
        duplicates, duplicates in a territory unrelated to the target's
        (neither inside the other), a written appeal (59-ФЗ) merged into an
        incident that is not one (:class:`InvalidRequest`); a target or a
        duplicate that is no longer open (:class:`IllegalTransition`); an
        unknown incident (:class:`NotFound`). Nothing changes when one is refused.
        """
        return curator.merge(self, target_id, duplicate_ids, actor=actor, reason=reason)

    def split(
        self,
        incident_id: int,
        message_ids: Sequence[int],
        *,
        actor: str,
        reason: str,
        topic: str | None = None,
        territory: str | None = None,
    ) -> Incident:
        """Move messages of an open incident (another problem) to a new incident; the new one.

        The new incident has the incident's topic and territory unless
        ``topic`` or ``territory`` is given, is routed again by the engine's
        routers (to triage when it has no topic), gets its terms from its
        first message (a written appeal's from the registration it came
        with) and is notified to its executor. Both record a ``split`` event
        by ``actor`` naming the other and the messages. When the incident's
        first message leaves, its summary is written again from what stays.

        Raises :class:`InvalidRequest` for no messages, messages that are not
        the incident's, all of its messages, or an empty reason;
        :class:`NotFound` for an unknown incident, topic or territory;
        :class:`IllegalTransition` for an incident that is no longer open.
        """
        return curator.split(
            self,
            incident_id,
            message_ids,
            actor=actor,
            reason=reason,
            topic=topic,
            territory=territory,
        )

    def correct(
        self,
        incident_id: int,
        *,
        actor: str,
        topic: str | None = None,
        territory: str | None = None,
        reason: str = "",
        reroute: bool = False,
    ) -> Incident:
        """Correct the incident's topic or territory (event ``corrected`` with ``[old, new]``).

        Any incident can be corrected (it labels the data the models learn
        from: :meth:`corrections`). With ``reroute`` the routers are asked
        again and an open incident goes to the executor they pick as
        :meth:`reassign` gives it (out of triage even when the executor stays).

        Raises :class:`NotFound` for an unknown topic or territory,
        :class:`InvalidRequest` when neither is given or neither changes, and
        :class:`IllegalTransition` when ``reroute`` is asked for an incident
        that is no longer open.
        """
        return curator.correct(
            self,
            incident_id,
            actor=actor,
            topic=topic,
            territory=territory,
            reason=reason,
            reroute=reroute,
        )

    def corrections(self, since: datetime | None = None) -> list[Correction]:
        """The curators' corrections of topics and territories (at or after ``since``),
        oldest first, with the texts of the messages as stored: labelled examples for
        training the classifiers and locators. See :class:`~tsur.lifecycle.curator.Correction`.
        """
        return curator.corrections(self, since)

    def labelled_examples(
        self,
        target: str = "topic",
        *,
        since: datetime | None = None,
        curated_only: bool = False,
    ) -> list[LabelledExample]:
        """Every curator correction as feedback: ``(text, topic)`` or ``(text, executor)``
        examples from the stored incidents, a curator's label overriding the engine's and
        the latest correction winning; messages of thanks left out, every text masked.
        ``since`` keeps incidents created or worked on by a curator at or after it;
        ``curated_only`` only labels a curator corrected or confirmed. See
        :mod:`tsur.lifecycle.learning`.
        """
        return labelled_examples(self, target, since=since, curated_only=curated_only)

    def duplicate_pairs(self, since: datetime | None = None) -> list[DuplicatePair]:
        """Message pairs curators merged (duplicates) or split apart (not duplicates), at or
        after ``since``; the latest judgement of a pair wins. See
        :func:`tsur.lifecycle.learning.duplicate_pairs`.
        """
        return duplicate_pairs(self, since)

    # ratings and escalation live in their own modules ------------------------------
    def rate(
        self,
        incident_id: int,
        score: int,
        comment: str | None = None,
        resolved: bool | None = None,
        *,
        actor: str = "citizen",
        ref: str | None = None,
    ) -> Incident:
        """The citizen's rating; a low one (or «не решено») reopens. See :mod:`.feedback`."""
        return rate(self, incident_id, score, comment, resolved, actor=actor, ref=ref)

    def reopen(self, incident_id: int, reason: str, *, actor: str = "citizen") -> Incident:
        """RESOLVED/CLOSED → REOPENED, back to the same executor with a new term."""
        return reopen(self, incident_id, reason, actor=actor)

    def tick(self, now: datetime | None = None) -> TickReport:
        """Warn, mark overdue and escalate, ask the watchers; deliver notifications.

        See :mod:`.escalation`.
        """
        return run_tick(self, now)


def _record_refusal(
    inc: Incident,
    reasons: Sequence[str],
    text: str,
    now: datetime,
    actor: str,
    *,
    kind: str = "final",
) -> None:
    """Keep a refused answer in the history (``answer_rejected``): it counts in quality reports."""
    data: dict[str, Any] = {"reasons": list(reasons), "text": text}
    if kind != "final":
        data["kind"] = kind
    inc.record("answer_rejected", at=now, actor=actor, reason="; ".join(reasons), data=data)
