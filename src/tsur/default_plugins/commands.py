"""The core commands: ``demo``, ``ingest``, ``run``, ``incidents``, ``show``, ``messages``,
``rejects`` and ``config``.

A plugin like any other: :func:`register_commands` adds them. What they
print is for the people who run a ЦУР, in Russian.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text as RichText

from tsur.adapters import adapter_kind, parse_options
from tsur.analytics import demo_report
from tsur.config import load_region
from tsur.console import (
    ACTOR_LABELS,
    MESSAGE_STATES,
    STAGE_LABELS,
    event_label,
    fmt_time,
    instant,
    markup_text,
    open_engine,
    progress_callback,
    run_summary,
    run_with_progress,
    terminal_text,
)
from tsur.context import Context
from tsur.domain import Incident, Message, Status
from tsur.errors import ConfigError, IngestError, TsurError
from tsur.hookspecs import hookimpl
from tsur.intake import retry_rejected
from tsur.lifecycle import DemoClock, DemoRun, simulate
from tsur.pipeline import ADAPTER_ORIGINS, Engine
from tsur.plugins import collect_components
from tsur.region import Region
from tsur.store.base import StoredMessage
from tsur.text.masking import masked_stored_text
from tsur.text.normalize import get_lemmatizer
from tsur.text.russian import decimal
from tsur.wire import file_lines, incident_to_dict, parse_record

__all__ = ["DEMO_DB", "DEMO_NOW", "register_commands"]

DEMO_DB = "tsur-demo.db"
#: The end of the demo's period: midnight after the day of the last bundled message (Samara).
DEMO_NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)

_URGENCY_MARK = {"urgent": " ‼", "quick": " ·", "normal": ""}
#: The status column of incident lists: the longest status, its mark and a space.
_STATUS_WIDTH = max(len(s.label) for s in Status) + 3

MESSAGE_LINE = (
    '{"source": "vk", "external_id": "wall-1_42", '
    '"text": "На ул. Мира, 5 открытый люк", "created_at": "2026-11-16T09:00:00+04:00"}'
)


# demo -------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    """Simulate a fortnight of the bundled region on a fresh database, show the results."""
    db = args.db or os.environ.get("TSUR_DB", DEMO_DB)
    path = Path(db)
    if "://" not in db and not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    args.db = db
    demo = resources.files("tsur") / "data" / "demo" / "messages.jsonl"
    origin = "demo/messages.jsonl"
    messages = [
        parse_record(json.loads(line), line=n, origin=origin)
        for n, line in enumerate(demo.read_text("utf-8").splitlines(), 1)
    ]
    clock = DemoClock(min(m.created_at for m in messages))
    with open_engine(args, clock=clock) as engine:
        console.print(f"[bold]tsur demo[/] — {engine.region.name}, база {db}")
        run = _simulate(engine, messages, clock, console)
        console.print(f"принято сообщений: {run.inserted} (уже были в базе: {run.duplicates})")
        for line in run.lines():
            console.print(line, markup=False, highlight=False)
        _summary(engine, console)
        report_path = args.report
        if report_path is None:
            folder = path.parent if "://" not in db else Path.cwd()
            report_path = str(folder / "tsur-demo-report.html")
        if report_path:
            written = demo_report(engine, report_path)
            console.print(f"\nотчёт за месяц для руководства региона: {written}")
        end = DEMO_NOW.astimezone(engine.region.calendar.tz).isoformat()
    console.print(
        f"\nДальше: tsur incidents --db {db} --urgency urgent --now {end}; "
        f"tsur show ID --db {db}; tsur kpi --db {db} --period 2026-11 --now {end}"
    )
    return 0


def _simulate(
    engine: Engine, messages: Sequence[Message], clock: DemoClock, console: Console
) -> DemoRun:
    with progress_callback(console, "период", transient=True) as update:
        return simulate(engine, messages, clock=clock, until=DEMO_NOW, progress=update)


def _summary(engine: Engine, console: Console) -> None:
    region = engine.region
    incidents = engine.incidents(limit=None)
    for title, column, key, name in (
        ("Обращения по темам", "Тема", "topic", region.topic_name),
        ("По территориям", "Территория", "territory", region.territory_name),
        ("По исполнителям", "Исполнитель", "executor", region.executor_name),
    ):
        counts = Counter(getattr(i, key) for i in incidents)
        table = Table(title=title, title_justify="left", box=box.SIMPLE)
        table.add_column(column, overflow="ellipsis", max_width=48)
        table.add_column("инцидентов", justify="right")
        for k, n in counts.most_common(10):
            table.add_row(markup_text(name(k)) if k else "— не определено", str(n))
        if len(counts) > 10:
            table.add_row(
                f"… ещё {len(counts) - 10}", str(sum(n for _, n in counts.most_common()[10:]))
            )
        console.print(table)
    urgent = [i for i in incidents if i.urgency.value == "urgent"]
    still = [i for i in urgent if i.status.is_open]
    console.print()
    _print_incidents(
        console, engine, still[:12], f"Срочные, ещё в работе: {len(still)} из {len(urgent)}"
    )
    now = engine.clock()
    overdue = [i for i in incidents if i.is_overdue(now)]
    triage = [i for i in incidents if i.status == Status.TRIAGE]
    tz = region.calendar.tz
    console.print(
        f"на {now.astimezone(tz):%d.%m.%Y %H:%M}: инцидентов {len(incidents)}, с нарушенным "
        f"сроком {len(overdue)}, ждут куратора {len(triage)}"
    )


def _fit(text: str, width: int) -> str:
    """``text`` on one line, cut with «…» to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


def _print_incidents(
    console: Console, engine: Engine, items: Sequence[Incident], title: str
) -> None:
    """Incidents two lines each, readable at 80 columns: what, where and until when;
    then who answers for it and the citizen's words (masked)."""
    region = engine.region
    tz = region.calendar.tz
    width = max(60, console.width)
    now = engine.clock()
    late = False
    console.print(f"[bold]{title}[/]")
    for inc in items:
        overdue = inc.is_overdue(now)
        late = late or overdue
        due = (
            ("⚠ " if overdue else "")
            + (
                f"ответ до {fmt_time(inc.first_response_due, tz)}"
                if inc.first_response_at is None
                else f"решение до {fmt_time(inc.resolution_due, tz)}"
            )
        ).rjust(24)
        head = (
            f"№ {inc.id:<5}{inc.status.label + _URGENCY_MARK[inc.urgency.value]:<{_STATUS_WIDTH}}"
        )
        what = terminal_text(
            f"{region.topic_name(inc.topic)}, {region.territory_name(inc.territory)}"
        )
        room = width - len(head) - len(due) - 2
        console.print(
            RichText(head) + RichText(f"{_fit(what, room):<{room}}  ") + RichText(due),
            no_wrap=True,
        )
        who = "      → " + _fit(terminal_text(region.executor_name(inc.executor)), width - 8)
        rest = width - len(who) - 3
        line = RichText(who)
        if rest > 8:
            line += RichText(" ▸ " + _fit(terminal_text(inc.summary), rest), style="dim")
        console.print(line, no_wrap=True)
    if items:
        legend = "‼ срочное, · быстрорешаемое" + (
            f"; ⚠ срок нарушен на {now.astimezone(tz):%d.%m.%Y %H:%M}" if late else ""
        )
        console.print(legend, style="dim")


# ingest and run -------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace, console: Console) -> int:
    """Store messages from a JSON Lines file."""
    if args.file != "-" and not Path(args.file).is_file():
        raise IngestError(f"cannot read {args.file}: no such file")  # before a database is made
    with open_engine(args) as engine:
        if args.file == "-":
            stdin = getattr(sys.stdin, "buffer", None)  # bytes: decided line by line
            if stdin is not None:
                report = engine.ingest_jsonl(lines=file_lines(stdin), origin="<stdin>")
            else:
                report = engine.ingest_jsonl(lines=sys.stdin.read().split("\n"), origin="<stdin>")
        else:
            with progress_callback(console, "чтение, КиБ", transient=True) as update:
                report = engine.ingest_jsonl(args.file, progress=update)
        for err in report.errors:
            console.print(RichText("ошибка ", style="red") + RichText(terminal_text(err)))
        console.print(
            f"принято новых сообщений: {report.inserted}, уже были в базе: {report.duplicates}, "
            f"отклонено строк: {len(report.errors)}"
            + (" (сохранены с причинами: tsur rejects)" if report.errors else "")
        )
        if args.run:
            console.print(run_summary(run_with_progress(engine, console)))
    return 1 if report.errors else 0


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """Process pending messages."""
    with open_engine(args, create=False) as engine:
        if args.retry_rejected_input:
            rep = engine.retry_rejected_input()
            console.print(f"повторно принято сохранённых строк: {rep.inserted}")
            _retry_collected(engine, console)
        if args.retry_failed:
            console.print(f"возвращено в очередь сообщений с ошибкой: {engine.retry_failed()}")
        report = run_with_progress(
            engine, console, quiet=args.quiet, batch_size=args.batch_size, limit=args.limit
        )
        console.print(run_summary(report))
    return 0


def _retry_collected(engine: Engine, console: Console) -> None:
    """Re-read what adapters collected or received but could not read (per source)."""
    sources = {
        r.origin.split(":", 1)[1]
        for r in engine.repository.rejected_inputs()
        if r.origin.startswith(ADAPTER_ORIGINS)
    }
    for source_id in sorted(sources):
        try:
            report = retry_rejected(engine, source_id)
        except TsurError as exc:
            console.print(
                RichText(terminal_text(f"{source_id}: пока не читается: {exc}"), style="yellow")
            )
            continue
        console.print(
            f"{source_id}: перечитано сохранённых записей {report.fetched}, принято "
            f"{report.inserted}, всё ещё не читаются {report.rejected}"
        )


# reading ------------------------------------------------------------------------------
def cmd_incidents(args: argparse.Namespace, console: Console) -> int:
    """List incidents, newest first."""
    kw = {} if args.now is None else {"clock": lambda: args.now}
    with open_engine(args, create=False, **kw) as engine:
        items = engine.incidents(
            status=args.status,
            topic=args.topic,
            territory=[args.territory] if args.territory else None,
            executor=args.executor,
            urgency=args.urgency,
            overdue_at=engine.clock() if args.overdue else None,
            limit=args.limit + 1,
        )
        more = len(items) > args.limit
        items = items[: args.limit]
        if args.json:
            for i in items:
                print(json.dumps(incident_to_dict(i), ensure_ascii=False))
            return 0
        title = f"Инциденты ({len(items)})"
        if more:
            title = f"Инциденты: последние {len(items)} (есть ещё; больше — --limit)"
        _print_incidents(console, engine, items, title)
    return 0


def shown_text(sm: StoredMessage) -> str:
    """A stored message's text as it may be shown: masked (see
    :func:`~tsur.text.masking.masked_stored_text`); the unmasked text stays in
    the store of raw messages only."""
    return masked_stored_text(sm.message.text, sm.moderation)


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    """One incident, its messages and its history."""
    with open_engine(args, create=False) as engine:
        inc = engine.incident(args.id)
        if args.json:
            print(json.dumps(incident_to_dict(inc, history=True), ensure_ascii=False, indent=2))
            return 0
        region = engine.region
        tz = region.calendar.tz
        console.print(f"[bold]Инцидент № {inc.id}[/] — {inc.status.label}, {inc.urgency.label}")
        console.print(
            f"тема: {markup_text(region.topic_name(inc.topic))} ({decimal(inc.confidence)})"
        )
        console.print(f"территория: {markup_text(region.territory_name(inc.territory))}")
        console.print(f"исполнитель: {markup_text(region.executor_name(inc.executor))}")
        console.print(
            f"сроки ({markup_text(region.policy_name(inc.sla_policy))}): первый ответ до "
            f"{fmt_time(inc.first_response_due, tz)}, решение до {fmt_time(inc.resolution_due, tz)}"
        )
        for sm in reversed(engine.repository.messages(incident_id=inc.id, limit=1000)):
            m = sm.message
            console.print(
                f"\n[bold]{markup_text(region.source_name(m.source))}[/] "
                f"{markup_text(m.external_id)} "
                f"{m.created_at.astimezone(tz):%d.%m.%Y %H:%M}",
                highlight=False,
            )
            console.print(terminal_text(shown_text(sm)), highlight=False, markup=False)
        table = Table(title="История", title_justify="left", box=box.SIMPLE)
        for col in ("когда", "кто", "что", "почему"):
            table.add_column(col)
        for e in inc.history:
            what = (
                event_label(e.kind)
                if e.to_status is None
                else " → ".join(
                    Status(s).label for s in (e.from_status, e.to_status) if s is not None
                )
            )
            who = (
                region.executor_name(e.actor)
                if e.actor in region.executors
                else ACTOR_LABELS.get(e.actor, e.actor)
            )
            table.add_row(
                e.at.astimezone(tz).strftime("%d.%m %H:%M"),
                markup_text(who),
                markup_text(what),
                markup_text(e.reason),
            )
        console.print(table)
    return 0


def cmd_messages(args: argparse.Namespace, console: Console) -> int:
    """Message counts by processing state, and the failed or rejected ones."""
    with open_engine(args, create=False) as engine:
        counts = engine.repository.message_counts()
        console.print(
            ", ".join(f"{MESSAGE_STATES.get(k, k)}: {v}" for k, v in sorted(counts.items()))
            or "сообщений нет"
        )
        status = args.status or ("failed" if counts.get("failed") else None)
        if status:
            for sm in engine.repository.messages(status=status, limit=args.limit):
                why = sm.error or ""
                if sm.error_stage and sm.status == "failed":
                    why = f"{STAGE_LABELS.get(sm.error_stage, sm.error_stage)}: {why}"
                console.print(
                    terminal_text(
                        f"#{sm.id} {sm.message.source}/{sm.message.external_id} "
                        f"[{MESSAGE_STATES.get(sm.status, sm.status)}]" + (f" {why}" if why else "")
                    ),
                    highlight=False,
                    markup=False,
                )
    return 0


def cmd_rejects(args: argparse.Namespace, console: Console) -> int:
    """Input records refused at ingest, with their reasons."""
    with open_engine(args, create=False) as engine:
        items = engine.repository.rejected_inputs()
        for r in items:
            console.print(terminal_text(f"#{r.id} {r.reason}"), highlight=False, markup=False)
        console.print(
            f"отклонённых входных записей: {len(items)}"
            + ("; после исправления: tsur run --retry-rejected-input" if items else "")
        )
    return 0


#: territory kinds as a Russian reader says them (counts in ``tsur config``)
_KIND_RU = {
    "region": "регион",
    "city_okrug": "городских округов",
    "municipal_okrug": "муниципальных округов",
    "municipal_district": "муниципальных районов",
    "urban_settlement": "городских поселений",
    "rural_settlement": "сельских поселений",
    "settlement": "населённых пунктов",
    "city_district": "внутригородских районов",
}


def cmd_config(args: argparse.Namespace, console: Console) -> int:
    """Validate a region file as the engine will, and say what it holds.

    Beyond the file itself this checks what the engine checks when it
    starts: every ``[plugins.NAME]`` table against the plugin that declares
    it, and every source's options against its adapter (secrets named by
    ``*_env`` must be set in the environment).
    """
    cfg = load_region(args.config)
    context = Context(Region.from_config(cfg), get_lemmatizer())
    comps = collect_components(args.pm, context)
    problems: list[tuple[str, str]] = []
    manual: list[str] = []
    for i, source in enumerate(context.region.sources.values()):
        registered = comps.source_adapters.get(adapter_kind(source))
        if registered is None:
            manual.append(source.id)
            continue
        model = getattr(registered.component, "options_model", None)
        if model is None:
            continue
        try:
            parse_options(model, source)
        except ConfigError as exc:
            problems.extend(
                (f"sources[{i}].{loc}", f"{msg} (source {source.id!r})")
                for loc, msg in exc.problems
            )
    if problems:
        raise ConfigError(
            f"{cfg.origin}: invalid source options ({len(problems)} problem(s))",
            path=cfg.origin,
            problems=problems,
        )
    kinds = Counter(t.kind for t in cfg.territories)
    console.print(
        f"{cfg.region.name} ({cfg.region.timezone}): территорий {len(cfg.territories)} "
        f"({', '.join(f'{_KIND_RU.get(k, k)} {v}' for k, v in kinds.items())}), "
        f"тем {len(cfg.topics)}, исполнителей {len(cfg.executors)}, "
        f"источников {len(cfg.sources)}, правил маршрутизации {len(cfg.routing)}, "
        f"политик SLA {len(cfg.sla)}"
    )
    if manual:
        console.print(
            "без адаптера (заполняются вручную или через tsur ingest): " + ", ".join(manual)
        )
    console.print("файл региона в порядке")
    return 0


# the hook ---------------------------------------------------------------------------
@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the core commands."""
    p = add_command(
        "demo",
        help="run the bundled example region end to end",
        description="Create a SQLite database (default tsur-demo.db), load the bundled "
        "Samara oblast region, ingest a few hundred bundled messages from several "
        "channels, process them, walk a few incidents through their lifecycle and "
        "write the month's report.",
    )
    p.add_argument(
        "--report",
        default=None,
        help="also write the HTML report of the month here (default: tsur-demo-report.html "
        "next to the database; '' for none)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep an existing database instead of starting afresh"
    )
    p.set_defaults(func=cmd_demo)

    p = add_command(
        "ingest",
        help="store messages from a JSON Lines file",
        description="Store messages from a JSON Lines file, one message per line, e.g.\n\n"
        f"  {MESSAGE_LINE}\n\n"
        "Required: source (a source id of the region), external_id, text, created_at "
        "(ISO 8601 with a UTC offset). Optional: author {id, name, contact, anonymous}, "
        "attachments [{kind, url, name, mime_type}], geo {lat, lon}, address, thread_id, "
        "parent_id, url, topic, territory, meta. The JSON Schema is "
        "tsur/data/schemas/webhook_message.schema.json. Bad lines are reported with their "
        "numbers and kept for re-run; valid lines are stored. Re-ingesting the same file "
        "changes nothing. Exit status 1 if any line was refused.",
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("file", help="JSON Lines file, or - for standard input")
    p.add_argument("--run", action="store_true", help="process pending messages afterwards")
    p.set_defaults(func=cmd_ingest)

    p = add_command(
        "run",
        help="process pending messages",
        description="Process pending messages in batches (several workers may run at once "
        "on PostgreSQL).",
    )
    p.add_argument("--batch-size", type=int, default=200, help="messages per transaction")
    p.add_argument("--limit", type=int, default=None, help="stop after this many messages")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="first put messages that failed before back in the queue",
    )
    p.add_argument(
        "--retry-rejected-input",
        action="store_true",
        help="first re-ingest stored unreadable input lines that now pass",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = add_command(
        "incidents", help="list incidents", description="List incidents, newest first, filtered."
    )
    p.add_argument(
        "--status", action="append", choices=[s.value for s in Status], help="repeat for several"
    )
    p.add_argument("--topic", help="topic id (includes subtopics)")
    p.add_argument("--territory", help="territory id")
    p.add_argument("--executor", help="executor id")
    p.add_argument("--urgency", choices=["urgent", "quick", "normal"], help="track")
    p.add_argument("--overdue", action="store_true", help="only incidents past a deadline now")
    p.add_argument(
        "--now",
        type=instant,
        default=None,
        help="the instant 'now' means for --overdue and the marks of late terms (ISO with "
        "offset; the demo's database ends at 2026-11-21T00:00:00+04:00)",
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--json", action="store_true", help="JSON Lines output")
    p.set_defaults(func=cmd_incidents)

    p = add_command(
        "show",
        help="one incident with its history",
        description="Show one incident, its messages and its full history.",
    )
    p.add_argument("id", type=int, help="incident number")
    p.add_argument("--json", action="store_true", help="one JSON object with the history")
    p.set_defaults(func=cmd_show)

    p = add_command(
        "messages",
        help="stored messages and their state",
        description="Counts of messages by state, and the failed or rejected ones with their "
        "reasons.",
    )
    p.add_argument(
        "--status",
        choices=["pending", "done", "thanked", "rejected", "failed"],
        help="list messages in this state (default: failed ones, if any)",
    )
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.set_defaults(func=cmd_messages)

    p = add_command(
        "rejects",
        help="input lines that could not be read",
        description="Input records refused at ingest (bad JSON, unknown source …) with their "
        "reasons.",
    )
    p.set_defaults(func=cmd_rejects)

    p = add_command(
        "config",
        help="validate a region file",
        description="Load and validate a region file; print what it holds.",
    )
    p.set_defaults(func=cmd_config)
