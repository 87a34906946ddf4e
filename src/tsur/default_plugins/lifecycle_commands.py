"""``tsur`` subcommands of the lifecycle: tick, kpi, take, answer, rate, extend, forward,
confirm, reassign, merge, split, correct, notifications, worker.

A plugin like any other: :func:`register_commands` adds them. Every command accepts
``--now ISO`` to act at a given instant (replaying a day, testing); the
default is the current time. Notifications a command queues are delivered
before it exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table

from tsur.analytics import executor_kpis, parse_period
from tsur.console import (
    StopSignals,
    fmt_time,
    instant,
    markup_text,
    open_engine,
    period_hint,
    terminal_text,
)
from tsur.domain import Incident
from tsur.errors import AnswerRejected, InvalidRequest
from tsur.hookspecs import hookimpl
from tsur.lifecycle import Lifecycle
from tsur.lifecycle.answers import format_due
from tsur.lifecycle.escalation import level_label
from tsur.text.russian import decimal
from tsur.worker import Worker

__all__ = ["register_commands"]

log = logging.getLogger("tsur.cli")


def _add_now(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--now", type=instant, default=None, help="act at this instant (ISO with offset)"
    )


@contextmanager
def _life(
    args: argparse.Namespace, *, create: bool = False, deliver: bool = True
) -> Iterator[Lifecycle]:
    clock: Callable[[], datetime] = (
        (lambda: args.now) if args.now is not None else (lambda: datetime.now(UTC))
    )
    with (
        open_engine(args, create=create, clock=clock) as engine,
        Lifecycle(engine) as life,
    ):
        yield life
        if deliver:  # a command that only reads leaves the outbox to those that act
            engine.deliver_notifications()


def _show(console: Console, life: Lifecycle, inc: Incident) -> None:
    tz = life.region.calendar.tz
    replies = [e for e in inc.history if e.kind == "reply"]
    last = replies[-1].data if replies else {}
    delivered = ""
    if last:
        delivered = (
            f"; ответ доставлен ({last.get('external_reply_id')})"
            if last.get("delivered")
            else f"; ответ НЕ доставлен: {replies[-1].reason}"
        )
    console.print(
        terminal_text(
            f"№ {inc.id}: {inc.status.label}, исполнитель "
            f"{life.region.executor_name(inc.executor)}, "
            f"первый ответ до {format_due(inc.first_response_due, tz)}, "
            f"решение до {format_due(inc.resolution_due, tz)}{delivered}"
        ),
        markup=False,
    )


def cmd_tick(args: argparse.Namespace, console: Console) -> int:
    """Run one tick and print its figures (``--json``: one JSON object, for scripts)."""
    with _life(args) as life:
        report = life.tick(args.now)
        if not args.json:
            table = Table(title=f"Эскалации ({report.escalated})", title_justify="left")
            for col in ("№", "шаг", "уровень", "кому", "срок", "просрочка, ч"):
                table.add_column(col)
            tz = life.region.calendar.tz
            for e in report.escalations:
                table.add_row(
                    str(e["incident"]),
                    str(e["step"]),
                    level_label(e["level"]),
                    markup_text(life.executor_name(e["to"])),
                    format_due(datetime.fromisoformat(e["due"]), tz),
                    decimal(e["late_by_s"] / 3600, 1),
                )
            if report.escalations:
                console.print(table)
            console.print(
                f"открытых инцидентов {report.checked}: предупреждений о сроке {report.warned}, "
                f"отметок о просрочке {report.overdue}, шагов эскалации {report.escalated}, "
                f"уведомлений {report.notified}"
            )
        else:
            print(json.dumps(report.as_dict(), ensure_ascii=False))
    return 0


def cmd_kpi(args: argparse.Namespace, console: Console) -> int:
    """Print executor KPIs for a period (the current month by default)."""
    with _life(args, deliver=False) as life:
        tz = life.region.calendar.tz
        period = parse_period(args.period or f"{life.now().astimezone(tz):%Y-%m}", tz)
        kpis = executor_kpis(
            life.repository,
            since=period.start,
            until=period.end,
            calendar=life.region.calendar if args.working_time else None,
            min_cases=args.min_cases,
            as_of=args.now,
        )
        if args.json:
            print(json.dumps([k.as_dict() for k in kpis], ensure_ascii=False))
            return 0
        unit = "раб. ч" if args.working_time else "ч"
        table = Table(
            title=f"Показатели исполнителей: {period.label}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1, 0, 0),
        )
        table.add_column("№", justify="right", no_wrap=True)
        table.add_column("исполнитель", ratio=1, min_width=16, overflow="fold")
        for col in ("пост", "решено", "ответ", f"мед., {unit}", "проср", "возвр", "спас"):
            table.add_column(col, justify="right", no_wrap=True)
        table.add_column("оценка", no_wrap=True)
        for k in kpis:
            table.add_row(
                str(k.rank) if k.rank else "—",
                markup_text(life.executor_name(k.executor)),
                str(k.received),
                _pct(k.resolution_on_time_share),
                _pct(k.first_response_on_time_share),
                _hours(k.first_response_median_s),
                str(k.overdue),
                _pct(k.reopen_rate),
                str(k.thanks),
                f"{decimal(k.avg_rating, 1)} ({k.ratings})" if k.avg_rating is not None else "—",
            )
        if not kpis:
            console.print(f"{period.label}: обращений нет ({period_hint(life.engine)})")
            return 0
        console.print(table)
        console.print(
            f"пост — поступило; решено и ответ — доля решённых и отвеченных в срок; мед. — "
            f"медиана времени до первого ответа; проср — с нарушенным сроком; возвр — доля "
            f"возвращённых в работу; спас — благодарности жителей. Место — по решённым в "
            f"срок, затем по оценкам жителей, возвратам, благодарностям и первому ответу; "
            f"в рейтинге — исполнители с не менее чем "
            f"{args.min_cases} обращениями"
        )
    return 0


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _hours(v: float | None) -> str:
    return "—" if v is None else decimal(v / 3600, 1)


def cmd_take(args: argparse.Namespace, console: Console) -> int:
    """Take an incident into work."""
    with _life(args) as life:
        _show(console, life, life.take_in_work(args.id, actor=args.actor))
    return 0


def cmd_answer(args: argparse.Namespace, console: Console) -> int:
    """Give an intermediate or a final answer."""
    with _life(args) as life:
        if args.final:
            if not args.text:
                raise InvalidRequest("a final answer needs its text", incident_id=args.id)
            try:
                inc = life.answer_final(args.id, args.text, actor=args.actor, photos=args.photo)
            except AnswerRejected as exc:
                console.print("ответ отклонён как отписка:")
                for reason in exc.reasons:
                    console.print(terminal_text(f"  — {reason}"), markup=False)
                return 1
        else:
            if args.photo:
                life.attach_photos(args.id, args.photo, actor=args.actor)
            inc = life.answer_intermediate(args.id, args.text, actor=args.actor)
        _show(console, life, inc)
    return 0


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in {"yes", "y", "да", "true", "1"}:
        return True
    if value in {"no", "n", "нет", "false", "0"}:
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: answer yes or no (да / нет)")


def cmd_rate(args: argparse.Namespace, console: Console) -> int:
    """Record a citizen's rating."""
    with _life(args) as life:
        inc = life.rate(
            args.id, args.score, args.comment, args.resolved, actor=args.actor or "citizen"
        )
        _show(console, life, inc)
    return 0


def cmd_extend(args: argparse.Namespace, console: Console) -> int:
    """Extend a written appeal's term once, by ``--days`` (59-ФЗ: at most 30)."""
    with _life(args) as life:
        inc = life.extend_59fz(args.id, args.reason, days=args.days, actor=args.actor)
        _show(console, life, inc)
    return 0


def cmd_forward(args: argparse.Namespace, console: Console) -> int:
    """Forward an incident to the competent executor."""
    with _life(args) as life:
        inc = life.forward(args.id, args.executor, args.reason, actor=args.actor)
        _show(console, life, inc)
        late = [e for e in inc.history if e.kind == "forwarded"][-1].data.get("late")
        if late:
            console.print("внимание: 7-дневный срок переадресации (ч. 3 ст. 8 59-ФЗ) нарушен")
    return 0


def cmd_confirm(args: argparse.Namespace, console: Console) -> int:
    """Approve the engine's topic, territory and executor (out of triage, to the executor)."""
    with _life(args) as life:
        inc = life.confirm(
            args.id,
            actor=args.actor or life.region.curator,
            executor=args.executor,
            note=args.note,
        )
        region = life.region
        console.print(
            terminal_text(
                f"№ {inc.id}: классификация подтверждена — тема «{region.topic_name(inc.topic)}», "
                f"территория «{region.territory_name(inc.territory)}»"
            ),
            markup=False,
        )
        _show(console, life, inc)
    return 0


def cmd_reassign(args: argparse.Namespace, console: Console) -> int:
    """Give an incident to another executor (the curator's decision; the citizen is not told)."""
    with _life(args) as life:
        _show(
            console,
            life,
            life.reassign(
                args.id, args.executor, args.reason, actor=args.actor or life.region.curator
            ),
        )
    return 0


def cmd_merge(args: argparse.Namespace, console: Console) -> int:
    """Merge duplicates into one incident."""
    with _life(args) as life:
        inc = life.merge(
            args.id,
            args.duplicates,
            actor=args.actor or life.region.curator,
            reason=args.reason or "",
        )
        dups = ", ".join(f"№ {d}" for d in args.duplicates)
        console.print(
            terminal_text(
                f"объединены с обращением № {inc.id}: {dups}; "
                f"сообщений в нём {len(inc.message_ids)}"
            ),
            markup=False,
        )
        _show(console, life, inc)
    return 0


def cmd_split(args: argparse.Namespace, console: Console) -> int:
    """Move messages of an incident to a new incident, routed anew."""
    with _life(args) as life:
        new = life.split(
            args.id,
            args.message,
            actor=args.actor or life.region.curator,
            reason=args.reason,
            topic=args.topic,
            territory=args.territory,
        )
        console.print(
            terminal_text(
                f"из обращения № {args.id} выделено новое обращение № {new.id} "
                f"(сообщений {len(new.message_ids)}), тема «{life.region.topic_name(new.topic)}»"
            ),
            markup=False,
        )
        _show(console, life, new)
    return 0


def cmd_correct(args: argparse.Namespace, console: Console) -> int:
    """Correct an incident's topic or territory (optionally route it again)."""
    with _life(args) as life:
        inc = life.correct(
            args.id,
            actor=args.actor or life.region.curator,
            topic=args.topic,
            territory=args.territory,
            reason=args.reason or "",
            reroute=args.reroute,
        )
        region = life.region
        console.print(
            terminal_text(
                f"№ {inc.id}: тема «{region.topic_name(inc.topic)}», территория "
                f"«{region.territory_name(inc.territory)}»"
            ),
            markup=False,
        )
        _show(console, life, inc)
    return 0


def cmd_worker(args: argparse.Namespace, console: Console) -> int:
    """Process messages as they come until SIGTERM or Ctrl-C; survive database outages.

    The signal handler comes first, before the engine opens (region, models,
    the database): a stop asked for while the worker starts, even before
    this command ran (``args.stop_signals``), ends it before its first batch.
    Once the handler is in place the worker prints a line saying it is ready.
    """
    stopped: list[int] = []
    worker: Worker | None = None

    def stop(signum: int, _frame: object) -> None:
        if stopped:  # asked twice: stop now, the open batch is rolled back and kept
            raise KeyboardInterrupt
        stopped.append(signum)
        log.info("%s: finishing the batch in hand", signal.Signals(signum).name)
        if worker is not None:
            worker.stop()

    early: StopSignals | None = getattr(args, "stop_signals", None)
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for signum in early.take() if early is not None else ():
            stop(signum, None)
        with open_engine(args) as engine:
            worker = Worker(
                engine,
                batch_size=args.batch_size,
                idle=args.idle,
                tick_every=args.tick or None,
            )
            if stopped:
                worker.stop()
            console.print(
                f"обработчик готов (pid {os.getpid()}): SIGTERM или Ctrl-C — доделать "
                "пачку в работе и остановиться"
            )
            report = worker.run(until_idle=args.until_idle)
            console.print(
                f"обработано сообщений: {report.run.processed} (пачек {report.batches}), "
                f"проверок сроков {report.ticks}, перерывов связи с базой {report.outages}"
            )
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if early is not None:
            early.take()  # a stop asked for as the worker ends: it is ending
    return 0


def cmd_notifications(args: argparse.Namespace, console: Console) -> int:
    """The outbox by state; notices given up, with why; send them again."""
    with _life(args, deliver=False) as life:
        engine = life.engine
        repo = engine.repository
        revived = repo.revive_notifications(args.id or None) if args.retry_dead else 0
        if revived:
            console.print(f"возвращено в очередь уведомлений: {revived}")
            engine.deliver_notifications()
        counts = repo.notification_counts(now=engine.clock())
        console.print(
            f"уведомления: ждут отправки {counts['queued']}, ждут повтора {counts['retrying']}, "
            f"отправлены {counts['sent']}, не доставлены {counts['dead']}"
        )
        tz = life.region.calendar.tz
        for item in repo.dead_notifications(limit=args.limit) if counts["dead"] else ():
            n = item.notification
            when = fmt_time(item.dead_at, tz)
            console.print(
                terminal_text(
                    f"#{item.id} {when} обращение № {n.incident_id} ({n.kind}), попыток "
                    f"{item.attempts}: {item.error}"
                ),
                markup=False,
                highlight=False,
            )
        if counts["dead"] and not args.retry_dead:
            console.print("отправить снова: tsur notifications --retry-dead [--id N]")
    return 1 if counts["dead"] else 0


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``tick``, ``kpi``, ``take``, ``answer``, ``rate``, ``extend``, ``forward``,
    ``confirm``, ``reassign``, ``merge``, ``split``, ``correct`` and ``notifications``."""
    p = add_command(
        "tick",
        help="warn, mark overdue and escalate late incidents",
        description="Look at every open incident once: warn before deadlines, mark missed "
        "ones, climb the escalation ladder, deliver notifications. Safe to run often and "
        "twice: each step happens once. The last line is a JSON object with the counts.",
    )
    p.add_argument("--json", action="store_true", help="only the JSON line, with escalations")
    _add_now(p)
    p.set_defaults(func=cmd_tick)

    p = add_command(
        "kpi",
        help="executor KPIs for a month",
        description="First response on time, medians, overdue, reopened, ratings per "
        "executor for incidents received in a month; executors with fewer than "
        "--min-cases incidents are shown but not ranked.",
    )
    p.add_argument(
        "--period",
        help="2026-11 (month), 2026-W46 (week), 2026-11-16 (day), 2026 or "
        "2026-11-01..2026-11-20 (default: the current month)",
    )
    p.add_argument("--min-cases", type=int, default=10, help="cases needed to be ranked")
    p.add_argument(
        "--working-time", action="store_true", help="durations in the region's working time"
    )
    p.add_argument("--json", action="store_true", help="a JSON list, one object per executor")
    _add_now(p)
    p.set_defaults(func=cmd_kpi)

    p = add_command(
        "worker",
        help="process messages as they come, until stopped",
        description="A long-running worker: processes pending messages in batches and "
        "delivers their notifications at once, waits for new ones when the queue is empty "
        "(LISTEN/NOTIFY on PostgreSQL, a poll on SQLite), runs the tick every --tick "
        "seconds, and waits for the database when it goes away. SIGTERM or Ctrl-C finish "
        "the batch in hand and stop (one that comes while the worker starts stops it before "
        "its first batch); a second one stops at once (nothing is lost: the open "
        "batch is rolled back). Run as many as you like against one PostgreSQL database.",
    )
    p.add_argument("--batch-size", type=int, default=200, help="messages per transaction")
    p.add_argument("--idle", type=float, default=5.0, help="longest wait for new work, seconds")
    p.add_argument("--tick", type=float, default=60.0, help="seconds between ticks (0: no ticks)")
    p.add_argument("--until-idle", action="store_true", help="stop when the queue is empty")
    p.set_defaults(func=cmd_worker, graceful_stop=True)

    p = add_command(
        "notifications",
        help="the outbox: what is sent, retried, given up",
        description="Notifications by state; those a notifier kept refusing until delivery "
        "was given up are listed with the last error (exit status 1 while there are any). "
        "--retry-dead queues them again and delivers at once.",
    )
    p.add_argument("--retry-dead", action="store_true", help="queue given-up notices again")
    p.add_argument("--id", type=int, action="append", help="only this notice (repeat)")
    p.add_argument("--limit", type=int, default=50, help="how many given-up notices to list")
    _add_now(p)
    p.set_defaults(func=cmd_notifications)

    _register_curator_commands(add_command)

    for name, helptext, func in (
        ("take", "take an incident into work", cmd_take),
        ("answer", "answer the citizen (intermediate, or --final)", cmd_answer),
        ("rate", "record the citizen's rating (a low one reopens)", cmd_rate),
        ("extend", "extend a written appeal's term once, by up to 30 days (59-ФЗ)", cmd_extend),
        ("forward", "forward an incident to the competent executor", cmd_forward),
    ):
        p = add_command(name, help=helptext)
        p.add_argument("id", type=int, help="incident number")
        if name == "answer":
            p.add_argument(
                "text",
                nargs="?",
                default=None,
                help="answer text (intermediate: the topic's template when omitted)",
            )
            p.add_argument("--final", action="store_true", help="the final answer")
            p.add_argument("--photo", action="append", default=[], help="photo URL (repeat)")
        elif name == "rate":
            p.add_argument("score", type=int, help="1–5")
            p.add_argument("--comment", default=None, help="the citizen's comment")
            p.add_argument("--resolved", type=_yes_no, default=None, help="yes / no")
        elif name == "extend":
            p.add_argument("reason", help="why the term is extended")
            p.add_argument(
                "--days",
                type=int,
                default=30,
                help="by how many days, 1–30 (default 30), counted from the original term",
            )
        elif name == "forward":
            p.add_argument("executor", help="executor id to forward to")
            p.add_argument("reason", help="why it is forwarded")
        p.add_argument("--actor", default=None, help="who acts (default: the executor)")
        _add_now(p)
        p.set_defaults(func=func)


def _register_curator_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """The curator's corrections: ``confirm``, ``reassign``, ``merge``, ``split``, ``correct``."""
    p = add_command(
        "confirm",
        help="approve an incident's topic, territory and executor as the engine proposed",
        description="The engine was right: the incident keeps its topic and territory (kept "
        "as a confirmed label for the models) and goes out of triage to its proposed executor, "
        "or to --executor. A routed incident not yet confirmed can be confirmed too.",
    )
    p.add_argument("id", type=int, help="incident number")
    p.add_argument("--executor", default=None, help="send it to this executor id instead")
    p.add_argument("--note", default=None, help="a note (kept in the history)")
    _curator_options(p)
    p.set_defaults(func=cmd_confirm)

    p = add_command(
        "reassign",
        help="give an incident to another executor (the curator's decision)",
        description="Give an open incident to another executor of the region: out of triage "
        "or after a wrong assignment. The citizen is not told (unlike forward); the terms are "
        "counted again under the new executor (a written appeal keeps its term).",
    )
    p.add_argument("id", type=int, help="incident number")
    p.add_argument("executor", help="executor id to give it to")
    p.add_argument("reason", help="why")
    _curator_options(p)
    p.set_defaults(func=cmd_reassign)

    p = add_command(
        "merge",
        help="merge duplicates into one incident",
        description="The duplicates' messages move to the incident, each duplicate is closed "
        "as a duplicate, and the final answer reaches every citizen once.",
    )
    p.add_argument("id", type=int, help="the incident that stays")
    p.add_argument("duplicates", type=int, nargs="+", help="numbers of the duplicates")
    p.add_argument("--reason", default=None, help="why (kept in the history)")
    _curator_options(p)
    p.set_defaults(func=cmd_merge)

    p = add_command(
        "split",
        help="move messages of an incident to a new incident",
        description="Some messages of an incident are another problem: they move to a new "
        "incident (same topic and territory unless given), routed anew, with its own terms.",
    )
    p.add_argument("id", type=int, help="incident number")
    p.add_argument(
        "--message", type=int, action="append", required=True, help="message id (repeat)"
    )
    p.add_argument("--reason", required=True, help="why")
    p.add_argument("--topic", default=None, help="the new incident's topic id")
    p.add_argument("--territory", default=None, help="the new incident's territory id")
    _curator_options(p)
    p.set_defaults(func=cmd_split)

    p = add_command(
        "correct",
        help="correct an incident's topic or territory",
        description="Record the correct topic or territory (kept as a labelled example for "
        "the models); --reroute asks the routing rules again.",
    )
    p.add_argument("id", type=int, help="incident number")
    p.add_argument("--topic", default=None, help="the correct topic id")
    p.add_argument("--territory", default=None, help="the correct territory id")
    p.add_argument("--reason", default=None, help="why (kept in the history)")
    p.add_argument("--reroute", action="store_true", help="route the incident again")
    _curator_options(p)
    p.set_defaults(func=cmd_correct)


def _curator_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--actor", default=None, help="who acts (default: the region's curator)")
    _add_now(p)
