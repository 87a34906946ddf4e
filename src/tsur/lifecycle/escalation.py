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

Every step's notification goes through the outbox with a dedup key
(``escalated:{id}:{step}:{deadline}``, ``warning:{id}:{deadline kind}:{deadline}``
…) before its event is recorded under the incident's row lock, so ticks
can run twice, or in two workers at once, and still notify once. When a
deadline moves (an intermediate answer, an extension, a reopening), the
keys change with it and the ladder starts again for the new term.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from tsur.config import EscalationStep
from tsur.domain import Incident, Status
from tsur.lifecycle.answers import format_due
from tsur.sla.executors import due, late_by, warning_instant
from tsur.typing import Notification

if TYPE_CHECKING:
    from tsur.lifecycle.service import Lifecycle

__all__ = ["Action", "TickReport", "plan_actions", "queue_all", "run_tick"]

log = structlog.get_logger("tsur.lifecycle.tick")

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
    systemic: int = 0

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
            "systemic": self.systemic,
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


def _deadlines(life: Lifecycle, inc: Incident) -> list[tuple[str, datetime, datetime]]:
    """(kind, due, start of the span) of the deadlines that still matter."""
    from tsur.lifecycle.service import lifecycle_state

    out = []
    if inc.first_response_at is None and inc.first_response_due is not None:
        out.append(("first_response", inc.first_response_due, inc.created_at))
    if inc.resolution_due is not None:
        raw = lifecycle_state(inc).get("resolution_from")
        start = datetime.fromisoformat(raw) if isinstance(raw, str) else inc.created_at
        out.append(("resolution", inc.resolution_due, min(start, inc.resolution_due)))
    return out


def _target(life: Lifecycle, inc: Incident, step: EscalationStep) -> str | None:
    d = life.engine.directory
    if step.level == "supervisor":
        ex = d.supervisor(inc.executor)
        return ex.id if ex else None
    if step.level == "curator":
        return life.config.region.curator
    if step.level in ("deputy_governor", "governor"):
        ex = d.by_kind_for_topic(step.level, inc.topic)
        return ex.id if ex else None
    # an executor of the kind for the territory, else one that declares the topic
    kind = step.executor_kind or ""
    ex = d.for_territory(kind, inc.territory)
    if ex is None:
        chain = set(d.topic_chain(inc.topic))
        ex = next(
            (e for e in d.executors.values() if e.kind == kind and chain.intersection(e.topics)),
            None,
        )
    return ex.id if ex else None


def plan_actions(life: Lifecycle, inc: Incident, now: datetime) -> list[Action]:
    """What the tick must do for ``inc`` at ``now`` that it has not done yet."""
    from tsur.lifecycle.service import lifecycle_state

    assert inc.id is not None
    done = set(lifecycle_state(inc).get("done", []))
    cal = life.calendar_for(inc.executor)
    warn_at = life.config.escalation.warn_at
    tz = life.calendars.region.tz
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
    stamp = _stamp(deadline)
    late = late_by(cal, deadline, now)
    for n, step in enumerate(life.config.escalation.ladder, start=1):
        reached = due(cal, deadline, step.after)
        if reached is None or now < reached:
            continue
        to = _target(life, inc, step)
        if to is None or to == inc.executor:
            continue
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
            f"escalated:{inc.id}:{n}:{stamp}",
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


def queue_all(life: Lifecycle, items: list[tuple[Notification, str]]) -> list[bool]:
    """Queue notifications with their dedup keys; which were new.

    Uses the repository's ``queue_notifications`` (one transaction) when it
    has one, else ``queue_notification`` per item.
    """
    if not items:
        return []
    bulk = getattr(life.repository, "queue_notifications", None)
    if callable(bulk):
        return [bool(x) for x in bulk(items)]
    return [life.repository.queue_notification(note, key) for note, key in items]


def _systemic_signals(life: Lifecycle, now: datetime) -> int:
    """Tell the curator, once per spike, about a topic surging in a municipality.

    Uses :func:`tsur.analytics.systemic.find_spikes` (last 7 days against the
    8 weeks before); the notification lists the incidents behind the spike.
    Returns how many signals were newly queued.
    """
    from tsur.analytics.queries import Analytics
    from tsur.analytics.systemic import find_spikes
    from tsur.errors import ReportError

    try:
        spikes = find_spikes(Analytics.for_engine(life.engine), now)
    except ReportError as exc:  # a store the analytics cannot query: no signals
        log.info("systemic.skipped", reason=str(exc))
        return 0
    curator = life.engine.config.region.curator
    items = []
    for s in spikes:
        ids = list(s.incident_ids)
        week = s.window_start.date().isoformat()
        items.append(
            (
                Notification(
                    kind="systemic",
                    incident_id=ids[0] if ids else 0,
                    at=now,
                    recipients=(curator,),
                    text=(
                        f"Системная проблема: {s.label} — {s.municipality_name}, "
                        f"{s.count} обращений за неделю (обычно {s.mean:.1f})"
                    ),
                    data={
                        "municipality": s.municipality,
                        "topic": s.topic,
                        "count": s.count,
                        "incidents": ids,
                        "p_value": s.p_value,
                    },
                ),
                f"systemic:{s.municipality}:{s.topic}:{week}",
            )
        )
    return sum(queue_all(life, items))


def run_tick(life: Lifecycle, now: datetime | None = None) -> TickReport:
    """Look at every open incident once; see the module docstring."""
    from tsur.lifecycle.service import ACTOR, lifecycle_state

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
    items = [(a.notification, a.key) for _, planned in plans for a in planned]
    report.notified = sum(queue_all(life, items))
    for incident_id, planned in plans:
        queued = {a.key for a in planned}
        with repo.update_incident(incident_id) as locked:
            state = lifecycle_state(locked)
            for a in plan_actions(life, locked, now):
                if a.key not in queued:
                    continue  # appeared since we looked: the next tick queues it first
                locked.record(a.kind, at=now, actor=ACTOR, reason=a.notification.text, data=a.event)
                state.setdefault("done", []).append(a.key)
                if a.kind == "warning":
                    report.warned += 1
                elif a.kind == "overdue":
                    report.overdue += 1
                else:
                    report.escalated += 1
                    state["escalation"] = {
                        k: a.event[k] for k in ("level", "to", "step", "deadline")
                    }
                    report.escalations.append({"incident": incident_id, **a.event})
    report.systemic = _systemic_signals(life, now)
    report.notified += report.systemic
    report.delivered = life.engine.deliver_notifications()
    log.info(
        "tick",
        checked=report.checked,
        warned=report.warned,
        overdue=report.overdue,
        escalated=report.escalated,
        notified=report.notified,
    )
    return report
