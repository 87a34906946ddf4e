"""A fortnight of a region, simulated on the demo data with a clock that moves.

:func:`simulate` feeds messages to the engine in the order they were
written, each processed shortly after it arrives (minutes for social
networks and the hotline, the next working hours for letters), and runs
the deadline tick every hour of the period, night and weekends included.
Simulated executors answer: most of them in time, some late, a few not at
all; some answers are refused as «отписки» and redone; some citizens rate
the result, and an unhappy one reopens it. Curators sort out the incidents
sent to them. Everything happens through the public lifecycle API at the
moment it is simulated, so histories, deadlines, KPIs and escalations read
like a real period's. Random choices are seeded: the same data gives the
same fortnight.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from tsur.domain import Incident, Message, Status, Urgency
from tsur.errors import AnswerRejected, IllegalTransition, InvalidRequest, LifecycleError
from tsur.lifecycle.answers import format_due
from tsur.lifecycle.escalation import level_label
from tsur.lifecycle.service import Lifecycle
from tsur.text.russian import plural

if TYPE_CHECKING:
    from tsur.pipeline import Engine

__all__ = ["DemoClock", "DemoRun", "Habits", "simulate"]

#: A formal non-answer some simulated executors try first; the check refuses it.
OTPISKA = "Ваше обращение рассмотрено. Информация принята к сведению, вопрос находится на контроле."
FINAL = (
    "Работы выполнены {date}: неисправность устранена, результат проверен на месте "
    "инженером {who}. Фотография прилагается."
)
#: Minutes from a message being written to its processing, by channel.
ARRIVAL_MINUTES: dict[str, tuple[int, int]] = {
    "hotline": (2, 10),
    "vk": (5, 40),
    "ok": (5, 40),
    "telegram": (3, 30),
    "pos": (5, 30),
    "portal": (10, 60),
    "email": (20, 120),
}
#: Channels whose messages are registered by hand in working hours (letters).
REGISTERED_BY_HAND = frozenset({"written"})


class DemoClock:
    """The simulation's clock: the engine and the lifecycle read it, :func:`simulate` moves it."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise InvalidRequest("the demo clock needs a timezone-aware time")
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@attrs.frozen
class Habits:
    """How the simulated executors and citizens behave (shares from 0 to 1).

    ``first_on_time``: the first response comes before its deadline;
    ``resolved_on_time`` / ``resolved_late``: the final answer comes before
    the term / after it (the rest stay unresolved within the period); the
    ``urgent_`` ones for the urgent track, whose duty staff work round the
    clock and are late by hours, not days;
    ``otpiska``: a final answer is first tried as a formal non-answer;
    ``rated``: the citizen rates a final answer; ``unhappy``: a rating says
    «не решено» and reopens the incident.
    """

    first_on_time: float = 0.9
    resolved_on_time: float = 0.78
    resolved_late: float = 0.14
    urgent_resolved_on_time: float = 0.94
    urgent_resolved_late: float = 0.05
    otpiska: float = 0.06
    rated: float = 0.4
    unhappy: float = 0.2


@attrs.define
class DemoRun:
    """What :func:`simulate` did; :meth:`lines` are ready to print.

    ``inserted`` / ``duplicates``: messages stored / already in the database;
    ``processed``: outcomes by kind; ``actions``: what the simulated people
    did; ``escalations``: every escalation step the hourly ticks took;
    ``incidents``: every incident at the end, with its history.
    """

    start: datetime
    end: datetime
    timezone: Any
    inserted: int = 0
    duplicates: int = 0
    processed: Counter[str] = attrs.field(factory=Counter)
    actions: Counter[str] = attrs.field(factory=Counter)
    ticks: int = 0
    warned: int = 0
    overdue_marks: int = 0
    escalations: list[dict[str, Any]] = attrs.field(factory=list)
    notified: int = 0
    incidents: list[Incident] = attrs.field(factory=list)

    def summary(self) -> dict[str, Any]:
        """The period's figures: incidents, first responses, resolutions, escalations."""
        incs = self.incidents
        end = self.end
        answered = [i for i in incs if i.first_response_at is not None]
        on_time = [
            i
            for i in answered
            if i.first_response_due is None or i.first_response_at <= i.first_response_due  # type: ignore[operator]
        ]
        done = [i for i in incs if i.status in (Status.RESOLVED, Status.CLOSED)]
        resolved_in_time = [i for i in done if _resolved_in_time(i)]
        overdue = [i for i in incs if i.is_overdue(end)]
        levels = Counter(e["level"] for e in self.escalations)
        first_step = {e["level"]: e["step"] for e in reversed(self.escalations)}
        return {
            "incidents": len(incs),
            "answered": len(answered),
            "answered_on_time": len(on_time),
            "resolved": len(done),
            "resolved_on_time": len(resolved_in_time),
            "open": len(incs) - len(done),
            "overdue_now": len(overdue),
            "escalated_incidents": len({e["incident"] for e in self.escalations}),
            "escalations": dict(sorted(levels.items(), key=lambda kv: first_step[kv[0]])),
            "triage_left": sum(1 for i in incs if i.status is Status.TRIAGE),
        }

    def lines(self) -> list[str]:
        """Russian lines for the console."""
        s = self.summary()
        tz = self.timezone
        a, p = self.actions, self.processed
        levels = ", ".join(f"{level_label(k)} {n}" for k, n in s["escalations"].items())
        escalated = s["escalated_incidents"]
        return [
            f"Период {self.start.astimezone(tz):%d.%m %H:%M} — "
            f"{self.end.astimezone(tz):%d.%m %H:%M}: "
            f"каждое сообщение обработано через минуты после поступления (письма — в рабочее "
            f"время), контроль сроков — каждый час, {self.ticks} раз",
            f"Сообщений {sum(p.values())}: новых инцидентов {p['created']}, добавлено к "
            f"существующим {p['merged']}, возвращено в работу {p['reopened']}, благодарностей "
            f"{p['thanked']}, отклонено модерацией {p['rejected']}, с ошибкой {p['failed']}",
            f"Куратор разобрал {a['triage']}; исполнители: промежуточных ответов "
            f"{a['intermediate']}, окончательных {a['final']} (отклонено как отписка "
            f"{a['otpiska']}), продлено по 59-ФЗ {a['extended']}; оценки: закрыто "
            f"{a['closed']}, возвращено на доработку {a['reopened']}",
            f"Первый ответ дан по {s['answered']} из {s['incidents']} инцидентов, в срок — "
            f"{s['answered_on_time']}; решено {s['resolved']}, в срок — {s['resolved_on_time']}; "
            f"открыто {s['open']}, из них с нарушенным сроком {s['overdue_now']}",
            f"Эскалация: {escalated} {plural(escalated, 'инцидент', 'инцидента', 'инцидентов')}, "
            f"шагов {sum(s['escalations'].values())}"
            + (f" ({levels})" if levels else "")
            + f"; предупреждений о сроке {self.warned}, уведомлений при контроле сроков "
            f"{self.notified}",
        ]


def _resolved_in_time(inc: Incident) -> bool:
    when = next(
        (e.at for e in reversed(inc.history) if e.to_status is Status.RESOLVED),
        None,
    )
    return when is not None and (inc.resolution_due is None or when <= inc.resolution_due)


Event = tuple[datetime, int, str, Any]


class _Simulation:
    def __init__(
        self,
        engine: Engine,
        life: Lifecycle,
        clock: DemoClock,
        habits: Habits,
        seed: int,
        until: datetime,
    ) -> None:
        self.engine, self.life, self.clock, self.habits = engine, life, clock, habits
        self.until = until
        self.rng = random.Random(seed)
        self.queue: list[Event] = []
        self.seq = 0
        self.planned: set[int] = set()
        self.tried: set[int] = set()  # incidents whose executor already tried an «отписка»
        self.extended = False
        self.run: DemoRun | None = None

    # scheduling ---------------------------------------------------------------------
    def at(self, when: datetime, kind: str, payload: Any = None) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, kind, payload))

    def working(self, inc: Incident, when: datetime) -> datetime:
        """The first moment the incident's executor works at or after ``when``."""
        return self.life.calendar_of(inc).next_working_instant(when)

    def between(self, a: datetime, b: datetime, lo: float = 0.1, hi: float = 0.9) -> datetime:
        span = max(timedelta(minutes=10), b - a)
        return a + span * self.rng.uniform(lo, hi)

    def arrival(self, m: Message) -> datetime:
        if m.source in REGISTERED_BY_HAND:  # a clerk registers letters in working hours
            start = self.engine.region.calendar.next_working_instant(m.created_at)
            return start + timedelta(minutes=self.rng.randint(10, 60))
        lo, hi = ARRIVAL_MINUTES.get(m.source, (5, 60))
        return m.created_at + timedelta(minutes=self.rng.randint(lo, hi))

    # what happens to a new or reopened incident ------------------------------------------
    def plan(self, inc: Incident, now: datetime) -> None:
        assert inc.id is not None
        if inc.status is Status.TRIAGE:
            # the ЦУР's duty officer sorts out urgent ones at once; curators the rest
            # within a few working hours
            if inc.urgency is Urgency.URGENT:
                when = now + timedelta(minutes=self.rng.randint(10, 40))
            else:
                when = self.engine.region.calendar.next_working_instant(now) + timedelta(
                    minutes=self.rng.randint(20, 180)
                )
            self.at(when, "triage", inc.id)
            return
        h, r = self.habits, self.rng
        urgent = inc.urgency is Urgency.URGENT
        if urgent:
            self.at(now + timedelta(minutes=r.randint(10, 45)), "take", inc.id)
        frd = inc.first_response_due or now + timedelta(days=1)
        if r.random() < h.first_on_time:
            first = self.between(now, frd)
            if not urgent:  # the urgent track has duty staff; the rest wait for office hours
                first = self.working(inc, first)
        elif urgent:  # a dispatcher late by minutes, not days
            first = frd + timedelta(minutes=r.randint(10, 90))
        else:
            first = self.working(inc, frd + timedelta(hours=r.uniform(1, 30)))
        fate = r.random()
        on_time = h.urgent_resolved_on_time if urgent else h.resolved_on_time
        late = h.urgent_resolved_late if urgent else h.resolved_late
        resolve = "on_time" if fate < on_time else "late" if fate < on_time + late else "never"
        quick = inc.urgency is not Urgency.NORMAL and resolve == "on_time" and r.random() < 0.5
        if self.life.is_written_appeal(inc) and not urgent:
            when = self.working(inc, now + timedelta(days=2))
            if not self.extended and when < self.until:
                # the first letter needs a commission: its term is extended, no reply yet
                self.extended = True
                self.at(when, "extend", inc.id)
            elif resolve != "never":  # one reply, well inside the letter's 30 days
                self.at(self.between(now, now + timedelta(days=12), 0.3, 1.0), "final", inc.id)
            return
        if quick:  # fixed before the first response was due: the final answer is the first
            self.at(first, "final", inc.id)
        else:
            self.at(first, "intermediate", (inc.id, resolve))

    def plan_final(self, inc: Incident, resolve: str, now: datetime) -> None:
        if resolve == "never":
            return
        due = inc.resolution_due or now + timedelta(days=5)
        urgent = inc.urgency is Urgency.URGENT
        if resolve == "on_time":
            when = self.between(now, due, 0.2, 0.85)
            if not urgent:
                when = self.working(inc, when)
            if when > due:  # no working time left before the term: answer now
                when = now + timedelta(minutes=30)
        elif urgent:  # a crew late by an hour or a few
            when = due + timedelta(hours=self.rng.uniform(0.5, 5))
        else:
            when = self.working(inc, due + timedelta(hours=self.rng.uniform(2, 48)))
        self.at(when, "final", inc.id)

    # one event --------------------------------------------------------------------------
    def handle(self, kind: str, payload: Any, now: datetime) -> None:
        run, life, r = self.run, self.life, self.rng
        assert run is not None
        if kind == "message":
            stored = self.engine.ingest([payload])
            run.inserted += stored.inserted
            run.duplicates += stored.duplicates
            report = self.engine.run()
            for name in ("created", "merged", "reopened", "thanked", "rejected", "failed"):
                run.processed[name] += getattr(report, name)
            for iid in report.incident_ids:
                inc = self.engine.incident(iid)
                if iid not in self.planned or inc.status is Status.REOPENED:
                    self.planned.add(iid)
                    self.plan(inc, now)
            return
        if kind == "tick":
            t = life.tick(now)
            run.ticks += 1
            run.warned += t.warned
            run.overdue_marks += t.overdue
            run.notified += t.notified
            run.escalations.extend(t.escalations)
            return
        iid = payload[0] if isinstance(payload, tuple) else payload
        inc = self.engine.incident(iid)
        try:
            if kind == "triage":
                if inc.status is not Status.TRIAGE:
                    return
                proposed = next(
                    (
                        e.data.get("executor")
                        for e in reversed(inc.history)
                        if e.to_status is Status.TRIAGE
                    ),
                    None,
                )
                if proposed and proposed != inc.executor:
                    life.forward(
                        iid,
                        proposed,
                        "куратор проверил тему и исполнителя",
                        actor=self.engine.region.curator,
                    )
                else:
                    self.engine.transition(
                        iid,
                        Status.ROUTED,
                        actor=self.engine.region.curator,
                        reason="куратор разобрал обращение: отвечает ЦУР",
                    )
                run.actions["triage"] += 1
                self.plan(self.engine.incident(iid), now)
            elif kind == "take":
                if inc.status in (Status.ROUTED, Status.REOPENED):
                    life.take_in_work(iid)
            elif kind == "intermediate":
                if inc.status in (Status.ROUTED, Status.IN_PROGRESS, Status.REOPENED):
                    life.answer_intermediate(iid)
                    run.actions["intermediate"] += 1
                self.plan_final(self.engine.incident(iid), payload[1], now)
            elif kind == "final":
                self.final(inc, now)
            elif kind == "rate":
                if inc.status is not Status.RESOLVED:
                    return
                if r.random() < self.habits.unhappy:
                    life.rate(iid, 2, "Ничего не изменилось", resolved=False)
                    run.actions["reopened"] += 1
                    self.at(
                        self.working(inc, now + timedelta(hours=r.uniform(12, 60))), "final", iid
                    )
                else:
                    life.rate(iid, r.choice((4, 5, 5)), "Спасибо, всё сделали")
                    run.actions["closed"] += 1
            elif kind == "extend" and inc.status in (Status.ROUTED, Status.IN_PROGRESS):
                life.extend_59fz(iid, "требуется выезд комиссии и запрос документов")
                run.actions["extended"] += 1
        except (IllegalTransition, LifecycleError) as exc:
            # the incident moved on meanwhile (closed, reopened): the executor does nothing
            run.actions["skipped"] += 1
            run.actions[f"skipped:{type(exc).__name__}"] += 1

    def final(self, inc: Incident, now: datetime) -> None:
        run, life, r = self.run, self.life, self.rng
        assert run is not None and inc.id is not None
        if inc.status not in (
            Status.ROUTED,
            Status.IN_PROGRESS,
            Status.ANSWERED_INTERMEDIATE,
            Status.REOPENED,
        ):
            return
        if inc.id not in self.tried and r.random() < self.habits.otpiska:
            self.tried.add(inc.id)
            try:
                life.answer_final(inc.id, OTPISKA)
            except AnswerRejected:  # recorded in the history; a real answer follows
                run.actions["otpiska"] += 1
            self.at(self.working(inc, now + timedelta(hours=r.uniform(3, 20))), "final", inc.id)
            return
        tz = self.engine.region.calendar.tz
        text = FINAL.format(date=format_due(now, tz).split()[0], who=inc.executor or "")
        life.answer_final(inc.id, text, photos=[f"https://example.org/after/{inc.id}.jpg"])
        run.actions["final"] += 1
        if r.random() < self.habits.rated:
            self.at(now + timedelta(hours=r.uniform(2, 48)), "rate", inc.id)


def simulate(
    engine: Engine,
    messages: Sequence[Message],
    *,
    clock: DemoClock,
    until: datetime,
    habits: Habits | None = None,
    seed: int = 20261120,
    progress: Callable[[int, int], None] | None = None,
) -> DemoRun:
    """Run the period: every message processed after it arrives, executors at work, hourly ticks.

    ``engine`` must read ``clock`` (``Engine(..., clock=clock)``); the
    simulation moves it from the hour before the first message to
    ``until``. Nothing is posted to the region's real channels (answers are
    kept as not delivered). ``progress(done, total)`` is called as the
    messages go in.
    """
    if engine.clock is not clock:
        raise InvalidRequest("the engine must run on the simulation's clock")
    ordered = sorted(messages, key=lambda m: m.created_at)
    if not ordered:
        raise InvalidRequest("no messages to simulate")
    start = ordered[0].created_at.replace(minute=0, second=0, microsecond=0)
    with Lifecycle(engine, post_replies=False) as life:
        sim = _Simulation(engine, life, clock, habits or Habits(), seed, until)
        run = DemoRun(start=start, end=until, timezone=engine.region.calendar.tz)
        sim.run = run
        for m in ordered:
            sim.at(sim.arrival(m), "message", m)
        t = start + timedelta(hours=1)
        while t <= until:
            sim.at(t, "tick")
            t += timedelta(hours=1)
        done = 0
        while sim.queue and sim.queue[0][0] <= until:
            when, _, kind, payload = heapq.heappop(sim.queue)
            clock.now = max(clock.now, when)
            sim.handle(kind, payload, clock.now)
            if kind == "message":
                done += 1
                if progress is not None:
                    progress(done, len(ordered))
        clock.now = until
        run.incidents = [
            engine.incident(i.id) for i in engine.incidents(limit=None) if i.id is not None
        ]
    return run
