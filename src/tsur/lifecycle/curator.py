"""A curator's corrections of the engine's work: confirm, reassign, merge, split, correct.

- **confirm** approves the engine's work as it stands: an incident waiting in
  triage (or routed and not yet confirmed) keeps its topic and territory,
  its classification becomes certain (confidence 1, event ``confirmed``) and
  it goes to its proposed executor — or to the one the curator names, which
  is a reassignment as well. The models read a confirmation as a curator's
  label that agrees with the engine.

- **reassign** gives an incident to another executor of the region (out of
  triage, or after a wrong assignment). Unlike a forward under 59-ФЗ the
  citizen is not told and a written appeal keeps its term; other incidents'
  terms are counted again from their first message under the new
  executor's policy and calendar, as a forward counts them. The new
  executor is notified (``routed``).
- **merge** joins duplicates of one problem into a target incident: their
  messages move to it (so its answers reach their authors, each author
  once), each duplicate is closed as ``duplicate`` with a ``merged`` event
  naming the target, and the target records a ``merged`` event naming them.
  The target's terms become the earliest of all, so nobody waits for an
  answer longer than their own term allowed.
- **split** moves some messages of an incident to a new incident (another
  problem), which the engine's routers route again and which gets its own
  terms.
- **correct** fixes an incident's topic or territory (event ``corrected``
  with ``[old, new]``; a corrected topic is certain: confidence 1),
  optionally routing it again. The corrections are the curators' labels for
  the models: :func:`corrections` reads them back with the messages' texts,
  and :mod:`tsur.lifecycle.learning` reads every operation here as labelled
  examples and duplicate pairs.

Every operation changes its incidents while their rows are locked and
records the curator (``actor``) in their history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from tsur.analysis import Analysis
from tsur.context import preview_mode
from tsur.domain import Incident, Message, Notification, RouteDecision, Status
from tsur.errors import IllegalTransition, InvalidRequest, NotFound
from tsur.lifecycle.core import LifecycleCore, nonempty_text
from tsur.sla.deadlines import deadlines_for
from tsur.store.base import StoredMessage

__all__ = ["Correction", "confirm", "correct", "corrections", "merge", "reassign", "split"]

#: Message statuses whose texts are not about the incident's problem (a thanks).
_NOT_AN_APPEAL = frozenset({"thanked"})


@attrs.frozen
class Correction:
    """A curator's correction of an incident's topic or territory: a labelled example.

    ``texts`` are the texts of the incident's messages as they are stored
    (unmasked: they may hold personal data, mask them before they leave the
    region), in the order of ``message_ids``; messages of thanks are left
    out. A field the curator did not change has its old value equal to the
    new one; :attr:`topic_changed` and :attr:`territory_changed` say which
    were corrected.
    """

    incident_id: int
    message_ids: tuple[int, ...]
    texts: tuple[str, ...]
    old_topic: str | None
    new_topic: str | None
    old_territory: str | None
    new_territory: str | None
    actor: str
    at: datetime
    reason: str = ""

    @property
    def topic_changed(self) -> bool:
        """Whether the curator corrected the topic."""
        return self.old_topic != self.new_topic

    @property
    def territory_changed(self) -> bool:
        """Whether the curator corrected the territory."""
        return self.old_territory != self.new_territory


def _actor(actor: Any, incident_id: int) -> str:
    return nonempty_text(actor, "the curator (actor)", incident_id)


def _require_open(inc: Incident, target: Status) -> None:
    """IllegalTransition unless ``inc`` is open and may move to ``target``."""
    if not inc.status.is_open or not inc.can_transition(target):
        raise IllegalTransition(inc.status.value, target.value, incident_id=inc.id)


def _check_place(life: LifecycleCore, topic: str | None, territory: str | None) -> None:
    if topic is not None and topic not in life.region.topics:
        raise NotFound("topic", topic)
    if territory is not None and territory not in life.region.territories:
        raise NotFound("territory", territory)


def _analysis(life: LifecycleCore, inc: Incident, stored: Sequence[StoredMessage]) -> Analysis:
    """How the reading stages see the incident's first message (nothing is remembered)."""
    appeals = [sm for sm in stored if sm.status not in _NOT_AN_APPEAL] or list(stored)
    if appeals:
        message = min(appeals, key=lambda sm: sm.id).message
    else:  # an incident without messages: its summary stands for them
        message = Message(
            source=inc.source or "curator",
            external_id=f"incident-{inc.id}",
            text=inc.summary,
            created_at=inc.created_at,
            address=inc.address,
            geo=inc.geo,
        )
    with preview_mode():
        return life.engine.analyse(message)


def _route(life: LifecycleCore, inc: Incident, analysis: Analysis) -> RouteDecision:
    """The routers' answer for ``inc`` as it stands (they get a copy to read)."""
    probe = Incident(
        status=inc.status,
        created_at=inc.created_at,
        id=inc.id,
        topic=inc.topic,
        confidence=inc.confidence,
        urgency=inc.urgency,
        territory=inc.territory,
        source=inc.source,
        geo=inc.geo,
        address=inc.address,
        message_ids=list(inc.message_ids),
    )
    return life.engine.route(probe, analysis)


def _routed_note(inc: Incident, now: datetime, text: str, data: dict[str, Any]) -> Notification:
    """The notice that tells an executor an incident is now theirs (kind ``routed``)."""
    assert inc.id is not None and inc.executor is not None
    return Notification(
        kind="routed",
        incident_id=inc.id,
        at=now,
        recipients=(inc.executor,),
        text=text,
        data=data,
        key=f"routed:{inc.id}:{inc.executor}:{now.isoformat()}",
    )


def _route_to(
    life: LifecycleCore, inc: Incident, executor: str, reason: str, now: datetime, who: str
) -> Notification:
    """Give the locked ``inc`` to ``executor`` (ROUTED), count its terms again; the notice.

    A written appeal keeps its 59-ФЗ term: moving it inside the region is no
    new registration. Other incidents' terms run again from their first
    message under the executor's policy and calendar.
    """
    previous = inc.executor
    if executor != previous:
        inc.record(
            "reassigned",
            at=now,
            actor=who,
            reason=reason,
            data={"from": previous, "to": executor},
        )
        inc.executor = executor
    inc.transition(
        Status.ROUTED,
        at=now,
        actor=who,
        reason=f"передано исполнителю куратором: {reason}",
        data={"executor": executor, "previous": previous},
    )
    if executor != previous and not life.is_written_appeal(inc):
        life.recount_deadlines(inc, inc.created_at, now, who)
    return _routed_note(
        inc,
        now,
        f"Вам передано обращение № {inc.id}: {inc.summary[:140]} (причина: {reason})",
        {"from": previous, "reason": reason, "topic": inc.topic, "territory": inc.territory},
    )


# reassign ------------------------------------------------------------------------------
def reassign(
    life: LifecycleCore, incident_id: int, to_executor: str, reason: str, *, actor: str
) -> Incident:
    """Give an open incident to another executor of the region; see :mod:`.curator`."""
    reason = nonempty_text(reason, "the reason of reassigning", incident_id)
    who = _actor(actor, incident_id)
    if not isinstance(to_executor, str) or to_executor not in life.region.executors:
        raise NotFound("executor", to_executor)
    now = life.now()
    with life.repository.update_incident(incident_id) as inc:
        if inc.executor == to_executor:
            raise InvalidRequest(
                f"the incident is already with {to_executor!r}", incident_id=incident_id
            )
        _require_open(inc, Status.ROUTED)
        note = _route_to(life, inc, to_executor, reason, now, who)
    life.queue(note)
    return inc


# confirm -------------------------------------------------------------------------------
#: Where a curator can confirm the engine's work: waiting in triage, or routed and untouched.
CONFIRMABLE = (Status.TRIAGE, Status.ROUTED)


def _confirmed(inc: Incident) -> bool:
    """Whether a curator confirmed the incident since it last went to triage."""
    for ev in reversed(inc.history):
        if ev.kind == "confirmed":
            return True
        if ev.to_status is Status.TRIAGE:
            return False
    return False


def confirm(
    life: LifecycleCore,
    incident_id: int,
    *,
    actor: str,
    executor: str | None = None,
    note: str | None = None,
) -> Incident:
    """Approve the engine's labels and send the incident on; see :meth:`Lifecycle.confirm`."""
    who = _actor(actor, incident_id)
    why = note.strip() if isinstance(note, str) else ""
    if executor is not None and (
        not isinstance(executor, str) or executor not in life.region.executors
    ):
        raise NotFound("executor", executor)
    now = life.now()
    routed = None
    with life.repository.update_incident(incident_id) as inc:
        if inc.status not in CONFIRMABLE:
            raise IllegalTransition(inc.status.value, "confirmed", incident_id=incident_id)
        to = executor or inc.executor
        if inc.status is Status.ROUTED and _confirmed(inc) and to == inc.executor:
            raise InvalidRequest("the incident is already confirmed", incident_id=incident_id)
        if inc.topic is None:
            raise InvalidRequest(
                "the incident has no topic to confirm: correct it instead",
                incident_id=incident_id,
            )
        if to is None or (executor is None and to == life.region.curator):
            raise InvalidRequest(
                "the engine proposed no executor for the incident: name the executor",
                incident_id=incident_id,
            )
        inc.record(
            "confirmed",
            at=now,
            actor=who,
            reason=why,
            data={
                "topic": inc.topic,
                "territory": inc.territory,
                "executor": to,
                "proposed": inc.executor,
                "confidence": inc.confidence,
                "message_ids": list(inc.message_ids),
            },
        )
        inc.confidence = 1.0  # the curator's word, as a corrected topic is
        if inc.status is Status.TRIAGE or to != inc.executor:
            said = "классификация подтверждена" + (f": {why}" if why else "")
            routed = _route_to(life, inc, to, said, now, who)
    if routed is not None:
        life.queue(routed)
    return inc


# merge ---------------------------------------------------------------------------------
def _ids(values: Any, what: str, incident_id: int) -> list[int]:
    if isinstance(values, int | str) or not isinstance(values, Iterable):
        raise InvalidRequest(f"{what} must be a list of numbers", incident_id=incident_id)
    out = list(values)
    for v in out:
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidRequest(f"{what}: {v!r} is not a number", incident_id=incident_id)
    if not out:
        raise InvalidRequest(f"give at least one of {what}", incident_id=incident_id)
    if len(set(out)) != len(out):
        raise InvalidRequest(f"{what} name one twice: {out}", incident_id=incident_id)
    return out


def _same_place(life: LifecycleCore, a: str | None, b: str | None) -> bool:
    """Whether two territories can hold one problem: unknown, equal, or one inside the other."""
    if a is None or b is None:
        return True
    return life.region.in_territory(a, [b]) or life.region.in_territory(b, [a])


def merge(
    life: LifecycleCore,
    target_id: int,
    duplicate_ids: Sequence[int],
    *,
    actor: str,
    reason: str = "",
) -> Incident:
    """Merge open duplicates into an open target incident; see :meth:`Lifecycle.merge`."""
    dups = _ids(duplicate_ids, "the duplicates", target_id)
    if target_id in dups:
        raise InvalidRequest("an incident cannot be merged into itself", incident_id=target_id)
    who = _actor(actor, target_id)
    why = reason.strip() if isinstance(reason, str) else ""
    now = life.now()
    notes: list[Notification] = []
    with life.repository.regroup([target_id, *dups]) as unit:
        target = unit.incidents[target_id]
        if not target.status.is_open:
            raise IllegalTransition(target.status.value, "merged", incident_id=target_id)
        written = life.is_written_appeal(target)
        for did in dups:
            dup = unit.incidents[did]
            _require_open(dup, Status.DUPLICATE)
            if not _same_place(life, dup.territory, target.territory):
                raise InvalidRequest(
                    f"incident {did} is in «{life.region.territory_name(dup.territory)}», "
                    f"not in «{life.region.territory_name(target.territory)}»: not one problem",
                    incident_id=target_id,
                )
            if life.is_written_appeal(dup) and not written:
                raise InvalidRequest(
                    f"incident {did} is a written appeal (59-ФЗ) and the target is not: its "
                    "term and registration would be lost",
                    incident_id=target_id,
                )
        moved: list[int] = []
        for did in dups:
            dup = unit.incidents[did]
            mids = list(dup.message_ids)
            unit.move_messages(mids, target_id)
            moved.extend(mids)
            text = f"объединено с обращением № {target_id}" + (f": {why}" if why else "")
            dup.record(
                "merged",
                at=now,
                actor=who,
                reason=why,
                data={"into": target_id, "message_ids": mids},
            )
            dup.transition(
                Status.DUPLICATE, at=now, actor=who, reason=text, data={"into": target_id}
            )
            if dup.executor and dup.executor != target.executor:
                notes.append(
                    Notification(
                        kind="merged",
                        incident_id=did,
                        at=now,
                        recipients=(dup.executor,),
                        text=f"Обращение № {did} объединено с обращением № {target_id}; "
                        f"работу ведёт {life.executor_name(target.executor)}",
                        data={"into": target_id},
                        key=f"merged:{did}:{now.isoformat()}",
                    )
                )
        target.record(
            "merged",
            at=now,
            actor=who,
            reason=why,
            data={"from": dups, "message_ids": sorted(moved)},
        )
        _earliest_terms(life, target, [unit.incidents[d] for d in dups], now, who)
        if target.executor:
            notes.append(
                Notification(
                    kind="merged",
                    incident_id=target_id,
                    at=now,
                    recipients=(target.executor,),
                    text=f"К обращению № {target_id} присоединены обращения "
                    + ", ".join(f"№ {d}" for d in dups)
                    + "; окончательный ответ получат все их заявители",
                    data={"from": dups},
                    key=f"merged:{target_id}:{now.isoformat()}",
                )
            )
    life.queue(*notes)
    return target


def _earliest_terms(
    life: LifecycleCore, target: Incident, dups: list[Incident], now: datetime, who: str
) -> None:
    """The target's terms become the earliest of the merged incidents' still running."""
    resolution = min(
        (d for d in (target.resolution_due, *(x.resolution_due for x in dups)) if d is not None),
        default=None,
    )
    first = None
    if target.first_response_at is None:
        first = min(
            (
                d
                for d in (
                    target.first_response_due,
                    *(x.first_response_due for x in dups if x.first_response_at is None),
                )
                if d is not None
            ),
            default=None,
        )
    moved_first = first is not None and first != target.first_response_due
    if resolution == target.resolution_due and not moved_first:
        return
    life.set_deadlines(
        target,
        now,
        who,
        "объединение: срок самого раннего из объединённых обращений",
        first_response_due=first if moved_first else None,
        resolution_due=resolution,
    )


# split ---------------------------------------------------------------------------------
def split(
    life: LifecycleCore,
    incident_id: int,
    message_ids: Sequence[int],
    *,
    actor: str,
    reason: str,
    topic: str | None = None,
    territory: str | None = None,
) -> Incident:
    """Move messages of an open incident to a new, routed one; see :meth:`Lifecycle.split`."""
    reason = nonempty_text(reason, "the reason of splitting", incident_id)
    who = _actor(actor, incident_id)
    wanted = _ids(message_ids, "the messages to split off", incident_id)
    _check_place(life, topic, territory)
    before = life.repository.get_incident(incident_id)
    _check_split(before, wanted)
    stored = life.repository.messages_by_id(before.message_ids)
    moving = [sm for sm in stored if sm.id in set(wanted)]
    staying = [sm for sm in stored if sm.id not in set(wanted)]
    analysis = _analysis(life, before, moving)
    first_staying = min(staying, key=lambda sm: sm.id) if staying else None
    new_summary = None
    if before.message_ids and before.message_ids[0] in set(wanted) and first_staying is not None:
        # the summary told of the problem that leaves: tell of what stays
        new_summary = _analysis(life, before, staying).summary
    now = life.now()
    with life.repository.regroup([incident_id]) as unit:
        inc = unit.incidents[incident_id]
        _check_split(inc, wanted)
        first = min(moving, key=lambda sm: sm.id).message
        new = Incident(
            status=Status.NEW,
            created_at=min(sm.message.created_at for sm in moving),
            topic=topic or inc.topic,
            confidence=1.0 if topic else inc.confidence,
            urgency=analysis.urgency,
            territory=territory or inc.territory,
            summary=analysis.summary,
            source=first.source,
            geo=first.geo,
            address=first.address,
        )
        given = {k: v for k, v in (("topic", topic), ("territory", territory)) if v}
        new.record(
            "split",
            at=now,
            actor=who,
            reason=reason,
            data={"from": incident_id, "message_ids": sorted(wanted), **given},
        )
        written = life.is_written_appeal(inc)
        start = new.created_at
        if written:  # the appeal was registered once, with the incident it came in
            start = life.registered_at(inc)
            new.record(
                "registered",
                at=now,
                actor=who,
                reason=f"зарегистрировано в обращении № {incident_id}",
                data={"registered": life.iso(start), "with": incident_id},
            )
        if new.topic is not None:
            new.transition(
                Status.CLASSIFIED,
                at=now,
                actor=who,
                reason=f"выделено куратором из обращения № {incident_id}",
                data={"topic": new.topic, "confidence": new.confidence},
            )
        decision = _route(life, new, analysis)
        new.executor = decision.executor
        fallback = decision.router == "fallback" or decision.executor == life.region.curator
        triage = new.topic is None or (new.territory is None and fallback)
        if triage:
            new.transition(
                Status.TRIAGE,
                at=now,
                actor=who,
                reason="тема не определена" if new.topic is None else "территория не определена",
                data={"executor": decision.executor},
            )
        else:
            new.transition(
                Status.ROUTED,
                at=now,
                actor=decision.router or who,
                reason=decision.reason,
                data={"executor": decision.executor},
            )
        dl = deadlines_for(life.region, new, start)
        if dl is not None:
            new.sla_policy = dl.policy
            life.set_deadlines(
                new,
                now,
                who,
                f"сроки по политике SLA «{life.region.policy_name(dl.policy)}»",
                first_response_due=dl.first_response_due,
                resolution_due=dl.resolution_due,
                resolution_from=start,
            )
        unit.add(new, places=analysis.places, words=analysis.words)
        assert new.id is not None
        unit.move_messages(wanted, new.id)
        inc.record(
            "split",
            at=now,
            actor=who,
            reason=reason,
            data={"into": new.id, "message_ids": sorted(wanted)},
        )
        if new_summary is not None:
            inc.summary = new_summary
    note = Notification(
        kind="triage" if triage else "routed",
        incident_id=new.id,
        at=now,
        recipients=(decision.executor,),
        text=f"Новое обращение: {new.summary[:140]}",
        data={"topic": new.topic, "territory": new.territory, "urgency": new.urgency.value},
    )
    life.queue(note)
    return new


def _check_split(inc: Incident, wanted: list[int]) -> None:
    if not inc.status.is_open:
        raise IllegalTransition(inc.status.value, "split", incident_id=inc.id)
    strangers = sorted(set(wanted) - set(inc.message_ids))
    if strangers:
        raise InvalidRequest(
            f"messages {strangers} are not messages of this incident", incident_id=inc.id
        )
    if set(inc.message_ids) <= set(wanted):
        raise InvalidRequest(
            "an incident cannot give away all its messages; correct it instead",
            incident_id=inc.id,
        )


# correct -------------------------------------------------------------------------------
def correct(
    life: LifecycleCore,
    incident_id: int,
    *,
    actor: str,
    topic: str | None = None,
    territory: str | None = None,
    reason: str = "",
    reroute: bool = False,
) -> Incident:
    """Correct an incident's topic or territory; see :meth:`Lifecycle.correct`."""
    who = _actor(actor, incident_id)
    if topic is None and territory is None:
        raise InvalidRequest("give a topic or a territory to correct", incident_id=incident_id)
    _check_place(life, topic, territory)
    why = reason.strip() if isinstance(reason, str) else ""
    analysis = None
    if reroute:
        before = life.repository.get_incident(incident_id)
        _require_open(before, Status.ROUTED)
        analysis = _analysis(life, before, life.repository.messages_by_id(before.message_ids))
    now = life.now()
    note = None
    with life.repository.update_incident(incident_id) as inc:
        data: dict[str, Any] = {}
        if topic is not None and topic != inc.topic:
            data["topic"] = [inc.topic, topic]
        if territory is not None and territory != inc.territory:
            data["territory"] = [inc.territory, territory]
        if not data:
            raise InvalidRequest(
                "the incident already has this topic and territory", incident_id=incident_id
            )
        if reroute:
            _require_open(inc, Status.ROUTED)
        data["message_ids"] = list(inc.message_ids)
        data["kept"] = {k: getattr(inc, k) for k in ("topic", "territory") if k not in data}
        inc.record("corrected", at=now, actor=who, reason=why, data=data)
        if "topic" in data:
            inc.topic = topic
            inc.confidence = 1.0  # the curator's topic, as a split with a topic gives it
        if "territory" in data:
            inc.territory = territory
        if analysis is not None:
            decision = _route(life, inc, analysis)
            moved = decision.executor != inc.executor
            if moved or inc.status is Status.TRIAGE:
                note = _route_to(
                    life,
                    inc,
                    decision.executor,
                    f"исправлена классификация; {decision.reason}",
                    now,
                    who,
                )
    if note is not None:
        life.queue(note)
    return inc


def corrections(life: LifecycleCore, since: datetime | None = None) -> list[Correction]:
    """The curators' corrections (at or after ``since``), oldest first, with the texts."""
    found = life.repository.events_of_kind(["corrected"], since=since)
    ids = {int(m) for _, ev in found for m in ev.data.get("message_ids", [])}
    stored = {sm.id: sm for sm in life.repository.messages_by_id(sorted(ids))}
    out = []
    for incident_id, ev in found:
        mids = [
            int(m)
            for m in ev.data.get("message_ids", [])
            if int(m) in stored and stored[int(m)].status not in _NOT_AN_APPEAL
        ]
        kept = ev.data.get("kept") or {}
        topic = ev.data.get("topic") or [kept.get("topic")] * 2
        territory = ev.data.get("territory") or [kept.get("territory")] * 2
        out.append(
            Correction(
                incident_id=incident_id,
                message_ids=tuple(mids),
                texts=tuple(stored[m].message.text for m in mids),
                old_topic=topic[0],
                new_topic=topic[1],
                old_territory=territory[0],
                new_territory=territory[1],
                actor=ev.actor,
                at=ev.at,
                reason=ev.reason,
            )
        )
    return out
