"""The periodic tick: warnings before deadlines, overdue marks, the escalation ladder.

For every open incident the tick looks at its deadlines on the executor's
working calendar:

- the first response (while no answer has been given) and the resolution;
- when ``escalation.warn_at`` of the working time to a deadline has passed,
  the executor is warned once (event ``warning``);
- when a deadline passes, the executor is told once (event ``overdue``);
- from the earliest missed deadline, each rung of ``[[escalation.ladder]]``
  is climbed once its ``after`` has passed: the executor's supervisor
  (``parent``), the region's curator, the deputy governor for the topic,
  the governor, or an executor of a given kind (event ``escalated``).

Then every registered watcher (``register_watchers``) looks at the whole
region — the built-in ``systemic`` watcher reports a topic surging in a
municipality — and what it reports is queued.

Every step's notification goes through the outbox with a dedup key
(``escalated:{id}:{step}:{deadline}``, ``warning:{id}:{deadline kind}:{deadline}``
…) before its event is recorded under the incident's row lock, so ticks
can run twice, or in two workers at once, and still notify once. When a
deadline moves (an intermediate answer, an extension, a reopening), the
keys change with it and the ladder starts again for the new term.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import attrs

from tsur.config import EscalationStep
from tsur.domain import Incident, Notification, Status, Urgency
from tsur.errors import TsurError
from tsur.lifecycle.answers import format_due
from tsur.lifecycle.core import LifecycleCore
from tsur.lifecycle.state import ACTOR, lifecycle_state
from tsur.sla.deadlines import due, late_by, warning_instant

__all__ = ["LEVEL_LABELS", "Action", "TickReport", "level_label", "plan_actions", "run_tick"]

log = logging.getLogger("tsur.lifecycle.tick")

#: Escalation levels as a Russian reader says who a late incident goes to.
LEVEL_LABELS = {
    "supervisor": "руководителю исполнителя",
    "executor_kind": "ответственной службе (ЕДДС)",
    "curator": "куратору ЦУР",
    "deputy_governor": "заместителю губернатора",
    "governor": "губернатору",
}


def level_label(level: str) -> str:
    """An escalation level in Russian (its id when unknown)."""
    return LEVEL_LABELS.get(level, level)


#: Statuses whose deadlines the tick watches.
WATCHED = tuple(s for s in Status if s.is_open and s is not Status.NEW)
_LEVEL_RU = {
    "supervisor": "руководитель исполнителя",
    "curator": "куратор ЦУР",
    "deputy_governor": "заместитель губернатора",
    "governor": "губернатор",
    "executor_kind": "ответственный",
}
_DEADLINE_RU = {"first_response": "первый ответ", "resolution": "решение"}


@attrs.define
class TickReport:
    """What one tick did; ``notified`` counts notifications newly queued by this tick."""

    now: datetime
    checked: int = 0
    warned: int = 0
    overdue: int = 0
    escalated: int = 0
    notified: int = 0
    delivered: int = 0
    escalations: list[dict[str, Any]] = attrs.field(factory=list)
    watched: int = 0  # notifications the watchers raised (systemic problems …)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the last line of ``tsur tick``)."""
        return {
            "now": self.now.isoformat(),
            "checked": self.checked,
            "warned": self.warned,
            "overdue": self.overdue,
            "escalated": self.escalated,
            "notified": self.notified,
            "delivered": self.delivered,
            "watched": self.watched,
            "escalations": self.escalations,
        }


@attrs.frozen
class Action:
    """One thing the tick must do for one incident."""

    kind: str  # "warning" | "overdue" | "escalated"
    key: str
    deadline: str  # "first_response" | "resolution"
    due: datetime
    notification: Notification
    event: dict[str, Any]


def _stamp(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _deadlines(life: LifecycleCore, inc: Incident) -> list[tuple[str, datetime, datetime]]:
    """(kind, due, start of the span) of the deadlines that still matter."""
    out = []
    if inc.first_response_at is None and inc.first_response_due is not None:
        out.append(("first_response", inc.first_response_due, inc.created_at))
    if inc.resolution_due is not None:
        raw = lifecycle_state(inc).get("resolution_from")
        start = datetime.fromisoformat(raw) if isinstance(raw, str) else inc.created_at
        out.append(("resolution", inc.resolution_due, min(start, inc.resolution_due)))
    return out


def _target(life: LifecycleCore, inc: Incident, step: EscalationStep) -> str | None:
    region = life.region
    if step.level == "supervisor":
        ex = region.supervisor(inc.executor)
        return ex.id if ex else None
    if step.level == "curator":
        return region.curator
    if step.level in ("deputy_governor", "governor"):
        ex = region.executor_for_topic(step.level, inc.topic)
        return ex.id if ex else None
    # an executor of the kind for the territory, else one that declares the topic
    kind = step.executor_kind or ""
    ex = region.executor_for(kind, inc.territory)
    if ex is None:
        ex = next(
            (
                e
                for e in region.executors.values()
                if e.kind == kind and region.in_topic(inc.topic, e.topics)
            ),
            None,
        )
    return ex.id if ex else None


def plan_actions(life: LifecycleCore, inc: Incident, now: datetime) -> list[Action]:
    """What the tick must do for ``inc`` at ``now`` that it has not done yet."""
    assert inc.id is not None
    done = set(lifecycle_state(inc).get("done", []))
    cal = life.calendar_of(inc)
    warn_at = life.config.escalation.warn_at
    tz = life.region.calendar.tz
    who = life.executor_name(inc.executor)
    actions: list[Action] = []
    missed: list[tuple[datetime, str]] = []

    def add(
        kind: str,
        key: str,
        deadline: str,
        when: datetime,
        note: Notification,
        event: dict[str, Any],
    ) -> None:
        if key not in done:
            actions.append(Action(kind, key, deadline, when, note, event))

    for kind, deadline, start in _deadlines(life, inc):
        stamp = _stamp(deadline)
        label = _DEADLINE_RU[kind]
        if now < deadline:
            if now >= warning_instant(cal, start, deadline, warn_at):
                add(
                    "warning",
                    f"warning:{inc.id}:{kind}:{stamp}",
                    kind,
                    deadline,
                    Notification(
                        kind="warning",
                        incident_id=inc.id,
                        at=now,
                        recipients=tuple(r for r in (inc.executor,) if r),
                        text=f"Истекает срок ({label}) по обращению № {inc.id}: до "
                        f"{format_due(deadline, tz)}",
                        data={"deadline": kind, "due": life.iso(deadline), "share": warn_at},
                    ),
                    {"deadline": kind, "share": warn_at, "due": life.iso(deadline)},
                )
            continue
        missed.append((deadline, kind))
        add(
            "overdue",
            f"overdue:{inc.id}:{kind}:{stamp}",
            kind,
            deadline,
            Notification(
                kind="overdue",
                incident_id=inc.id,
                at=now,
                recipients=tuple(r for r in (inc.executor,) if r),
                text=f"Просрочен срок ({label}) по обращению № {inc.id}: был до "
                f"{format_due(deadline, tz)}",
                data={"deadline": kind, "due": life.iso(deadline)},
            ),
            {"deadline": kind, "due": life.iso(deadline)},
        )
    if not missed:
        return actions
    deadline, kind = min(missed)
    escalation = life.config.escalation
    urgent = inc.urgency is Urgency.URGENT and bool(escalation.urgent)
    # The urgent ladder climbs round the clock; the ordinary one in the office hours of the
    # people it climbs to (the region's calendar), even when the executor works 24/7.
    ladder, clock = (
        (escalation.urgent, life.region.clock)
        if urgent
        else (escalation.ladder, life.region.calendar)
    )
    late = late_by(clock, deadline, now)
    # one notice per level for a missed term, and a person told at one level is not told
    # again at another (a curator's supervisor who is also the governor hears it once);
    # a new missed term (after an answer moved it) climbs anew
    stamp = _stamp(deadline)
    told = {
        str(ev.data.get("to"))
        for ev in inc.history
        if ev.kind == "escalated"
        and ev.data.get("to") is not None
        and ev.data.get("due") == life.iso(deadline)
    }
    for n, step in enumerate(ladder, start=1):
        reached = due(clock, deadline, step.after)
        if reached is None or now < reached:
            continue
        to = _target(life, inc, step)
        if to is None or to == inc.executor:
            continue
        level_key = step.level if step.level != "executor_kind" else f"kind-{step.executor_kind}"
        key = f"escalated:{inc.id}:{level_key}:{stamp}"
        if to in told and key not in done:
            continue  # already told at another level
        told.add(to)
        level_ru = _LEVEL_RU[step.level]
        data = {
            "level": step.level,
            "to": to,
            "step": n,
            "deadline": kind,
            "due": life.iso(deadline),
            "late_by_s": int(late.total_seconds()),
        }
        add(
            "escalated",
            key,
            kind,
            deadline,
            Notification(
                kind="escalated",
                incident_id=inc.id,
                at=now,
                recipients=tuple(dict.fromkeys(r for r in (to, inc.executor) if r)),
                text=f"Эскалация ({level_ru}: {life.executor_name(to)}): обращение № {inc.id} "
                f"просрочено ({_DEADLINE_RU[kind]}, срок {format_due(deadline, tz)}). "
                f"Исполнитель: {who}.",
                data=data,
            ),
            data,
        )
    return actions


def _watch(life: LifecycleCore, now: datetime) -> int:
    """Ask every watcher; queue what they report (once per key). How many were new."""
    notes: list[Notification] = []
    for reg in life.engine.components.watchers:
        try:
            notes.extend(reg.component.watch(now))
        except TsurError as exc:  # a watcher that cannot look now must not stop the tick
            log.warning("watcher %s skipped: %s", reg.name, exc)
    return sum(life.queue(*notes))


def run_tick(life: LifecycleCore, now: datetime | None = None) -> TickReport:
    """Look at every open incident once, then ask the watchers; see the module docstring."""
    now = now or life.now()
    report = TickReport(now=now)
    repo = life.repository
    plans: list[tuple[int, list[Action]]] = []
    for inc in repo.incidents(status=[s.value for s in WATCHED], limit=None):
        report.checked += 1
        planned = plan_actions(life, inc, now)
        if planned:
            assert inc.id is not None
            plans.append((inc.id, planned))
    # the outbox first: a crash before the events are recorded re-plans the same keys
    items = [attrs.evolve(a.notification, key=a.key) for _, planned in plans for a in planned]
    report.notified = sum(life.queue(*items))
    for incident_id, planned in plans:
        queued = {a.key for a in planned}
        with repo.update_incident(incident_id) as locked:
            state = lifecycle_state(locked)
            overdue_here = False
            for a in plan_actions(life, locked, now):
                if a.key not in queued:
                    continue  # appeared since we looked: the next tick queues it first
                locked.record(a.kind, at=now, actor=ACTOR, reason=a.notification.text, data=a.event)
                state.setdefault("done", []).append(a.key)
                if a.kind == "warning":
                    report.warned += 1
                elif a.kind == "overdue":
                    if not overdue_here:  # incidents, not deadlines
                        report.overdue += 1
                        overdue_here = True
                else:
                    report.escalated += 1
                    state["escalation"] = {
                        k: a.event[k] for k in ("level", "to", "step", "deadline")
                    }
                    report.escalations.append({"incident": incident_id, **a.event})
    report.watched = _watch(life, now)
    report.notified += report.watched
    report.delivered = life.engine.deliver_notifications()
    log.info(
        "tick: %d checked, %d warned, %d overdue, %d escalated, %d notified",
        report.checked,
        report.warned,
        report.overdue,
        report.escalated,
        report.notified,
    )
    return report
