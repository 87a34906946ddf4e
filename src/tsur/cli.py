"""The ``tsur`` command: demo, ingest, run, incidents, show and friends.

Every command takes ``--db`` (a SQLite path or a PostgreSQL URL; env
``TSUR_DB``) and ``--config`` (a region file; env ``TSUR_CONFIG``; the
bundled example region when absent).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, cast

import pluggy
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text as RichText

from tsur.config import load_region
from tsur.domain import Status
from tsur.errors import PluginError, TsurError
from tsur.pipeline import Engine, RunReport
from tsur.plugins import make_plugin_manager
from tsur.store.codec import incident_to_dict

__all__ = ["main"]

DEFAULT_DB = "tsur.db"
DEMO_DB = "tsur-demo.db"
#: The demo's clock: 18:00 Samara time (UTC+4) on the day of the last bundled message.
DEMO_NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


class _Stderr:
    """Whatever ``sys.stderr`` is at write time (it may be replaced after configuration)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        cache_logger_on_first_use=False,
    )


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--db",
        default=None,
        help=f"SQLite file or postgresql:// URL (env TSUR_DB; default {DEFAULT_DB}, "
        f"for the demo {DEMO_DB})",
    )
    p.add_argument(
        "--config",
        default=os.environ.get("TSUR_CONFIG"),
        help="region file, TOML or YAML (env TSUR_CONFIG; default: bundled Samara oblast)",
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    return p


def build_parser(pm: pluggy.PluginManager | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``tsur`` command, with plugins' commands from ``pm``."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="tsur",
        description="tsur: turn citizens' messages into classified, located, routed and "
        "tracked incidents.",
        epilog="Start with 'tsur demo'. Each command has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"tsur {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="run the bundled example region end to end",
        description="Create a SQLite database, load the bundled Samara oblast "
        "region, ingest a few hundred bundled messages from several "
        "channels, process them and print a summary.",
    )
    p.set_defaults(func=cmd_demo)
    p.add_argument(
        "--report",
        default=None,
        help="also write the HTML report of the month here (default: tsur-demo-report.html "
        "next to the database; '' for none)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep an existing database instead of starting afresh"
    )

    p = sub.add_parser(
        "ingest",
        parents=[common],
        help="store messages from a JSON Lines file",
        description="Store messages from a JSON Lines file (one message per "
        "line). Bad lines are reported with their numbers and kept "
        "for re-run; valid lines are stored. Re-ingesting the same "
        "file changes nothing. Exit status 1 if any line was refused.",
    )
    p.add_argument("file", help="JSON Lines file, or - for standard input")
    p.add_argument("--run", action="store_true", help="process pending messages afterwards")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "run",
        parents=[common],
        help="process pending messages",
        description="Process pending messages in batches (several workers may "
        "run at once on PostgreSQL).",
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

    p = sub.add_parser(
        "incidents",
        parents=[common],
        help="list incidents",
        description="List incidents, newest first, filtered.",
    )
    p.add_argument(
        "--status", action="append", choices=[s.value for s in Status], help="repeat for several"
    )
    p.add_argument("--topic", help="topic id (includes subtopics)")
    p.add_argument("--territory", help="territory id")
    p.add_argument("--executor", help="executor id")
    p.add_argument("--urgency", choices=["urgent", "quick", "normal"], help="track")
    p.add_argument("--overdue", action="store_true", help="only incidents past a deadline now")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--json", action="store_true", help="JSON Lines output")
    p.set_defaults(func=cmd_incidents)

    p = sub.add_parser(
        "show",
        parents=[common],
        help="one incident with its history",
        description="Show one incident, its messages and its full history.",
    )
    p.add_argument("id", type=int, help="incident number")
    p.add_argument("--json", action="store_true", help="one JSON object with the history")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "messages",
        parents=[common],
        help="stored messages and their state",
        description="Counts of messages by state, and the failed or rejected "
        "ones with their reasons.",
    )
    p.add_argument(
        "--status",
        choices=["pending", "done", "rejected", "failed"],
        help="list messages in this state (default: failed ones, if any)",
    )
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.set_defaults(func=cmd_messages)

    p = sub.add_parser(
        "rejects",
        parents=[common],
        help="input lines that could not be read",
        description="Input records refused at ingest (bad JSON, unknown "
        "source …) with their reasons.",
    )
    p.set_defaults(func=cmd_rejects)

    p = sub.add_parser(
        "config",
        parents=[common],
        help="validate a region file",
        description="Load and validate a region file; print what it holds.",
    )
    p.set_defaults(func=cmd_config)
    _plugin_commands(sub, common, pm or make_plugin_manager())
    return parser


def _plugin_commands(sub: Any, common: argparse.ArgumentParser, pm: pluggy.PluginManager) -> None:
    """Subcommands contributed through the ``register_commands`` hook."""
    for impl in pm.hook.register_commands.get_hookimpls():
        plugin = pm.get_name(impl.plugin) or repr(impl.plugin)

        def add_command(
            name: str, *, help: str, description: str | None = None, _plugin: str = plugin
        ) -> argparse.ArgumentParser:
            if name in sub.choices:
                raise PluginError(f"command {name!r} already exists", plugin=_plugin)
            parser = sub.add_parser(
                name, parents=[common], help=help, description=description or help
            )
            return cast(argparse.ArgumentParser, parser)

        impl.function(add_command=add_command)


def _version() -> str:
    from tsur import __version__

    return __version__


def _engine(args: argparse.Namespace, **kwargs: Any) -> Engine:
    return Engine.from_config(args.config, db=args.db, **kwargs)


def _progress_run(engine: Engine, console: Console, *, quiet: bool = False, **kw: Any) -> RunReport:
    if quiet or (not console.is_terminal and os.environ.get("TSUR_PROGRESS") != "1"):
        return engine.run(**kw)
    with Progress(
        TextColumn("[bold]обработка"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("run", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return engine.run(progress=update, **kw)


def _print_run(console: Console, r: RunReport) -> None:
    console.print(
        f"processed {r.processed}: {r.created} new incidents ({r.triage} to curators), "
        f"{r.merged} added to existing ones, {r.reopened} reopened, "
        f"{r.rejected} rejected by moderation, {r.failed} failed"
    )


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    path = Path(args.db)
    if "://" not in args.db and not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    demo = resources.files("tsur") / "data" / "demo" / "messages.jsonl"
    with Engine.from_config(args.config, db=args.db, clock=lambda: DEMO_NOW) as engine:
        lines = demo.read_text("utf-8").splitlines()
        ing = engine.ingest_jsonl(lines=lines, origin="demo/messages.jsonl")
        console.print(f"[bold]tsur demo[/] — {engine.config.region.name}, база {args.db}")
        console.print(f"ingested {ing.inserted} messages ({ing.duplicates} already stored)")
        report = _progress_run(engine, console)
        _print_run(console, report)
        _summary(engine, console)
        from tsur.lifecycle import demo_lifecycle

        console.print("\n[bold]Жизненный цикл: ответы, оценки, контроль сроков[/]")
        for line in demo_lifecycle(engine).lines():
            console.print(line, markup=False, highlight=False)
        report_path = args.report
        if report_path is None:
            folder = path.parent if "://" not in args.db else Path.cwd()
            report_path = str(folder / "tsur-demo-report.html")
        if report_path:
            from tsur.analytics import demo_report

            written = demo_report(engine, report_path)
            console.print(f"\nreport of the month for the region's leaders: {written}")
    console.print(
        f"\nNext: tsur incidents --db {args.db} --urgency urgent;  tsur show ID --db {args.db}"
    )
    return 0


def _summary(engine: Engine, console: Console) -> None:
    cfg = engine.config
    topics = {t.id: t.name for t in cfg.topics}
    terr = {t.id: t.name for t in cfg.territories}
    execs = {e.id: e.name for e in cfg.executors}
    incidents = engine.incidents(limit=None)
    for title, column, key, names in (
        ("Обращения по темам", "Тема", "topic", topics),
        ("По территориям", "Территория", "territory", terr),
        ("По исполнителям", "Исполнитель", "executor", execs),
    ):
        counts = Counter(getattr(i, key) for i in incidents)
        table = Table(title=title, title_justify="left")
        table.add_column(column)
        table.add_column("инцидентов", justify="right")
        for k, n in counts.most_common(10):
            table.add_row(names.get(k, "—") if k else "— не определено", str(n))
        if len(counts) > 10:
            table.add_row(
                f"… ещё {len(counts) - 10}", str(sum(n for _, n in counts.most_common()[10:]))
            )
        console.print(table)
    urgent = [i for i in incidents if i.urgency.value == "urgent"]
    table = Table(title=f"Срочные ({len(urgent)})", title_justify="left")
    for col in ("№", "тема", "территория", "исполнитель", "ответ до", "суть"):
        table.add_column(col)
    tz = engine.calendar.tz
    for i in urgent[:12]:
        table.add_row(
            str(i.id),
            topics.get(i.topic or "", "—"),
            terr.get(i.territory or "", "—"),
            execs.get(i.executor or "", "—"),
            _fmt(i.first_response_due, tz),
            i.summary[:60],
        )
    console.print(table)
    now = engine.clock()
    overdue = [i for i in incidents if i.is_overdue(now)]
    triage = [i for i in incidents if i.status == Status.TRIAGE]
    console.print(
        f"on {now.astimezone(tz):%d.%m.%Y %H:%M}: {len(incidents)} incidents, "
        f"{len(overdue)} past a deadline, {len(triage)} waiting for a curator"
    )


def _fmt(d: datetime | None, tz: Any) -> str:
    return d.astimezone(tz).strftime("%d.%m %H:%M") if d else "—"


def cmd_ingest(args: argparse.Namespace, console: Console) -> int:
    with _engine(args) as engine:
        if args.file == "-":
            report = engine.ingest_jsonl(lines=sys.stdin.read().splitlines(), origin="<stdin>")
        else:
            report = engine.ingest_jsonl(args.file)
        for err in report.errors:
            console.print(RichText("error ", style="red") + RichText(str(err)))
        console.print(
            f"ingested {report.inserted} new messages, {report.duplicates} already "
            f"stored, {len(report.errors)} lines refused"
            + (" (kept with reasons: tsur rejects)" if report.errors else "")
        )
        if args.run:
            _print_run(console, _progress_run(engine, console))
    return 1 if report.errors else 0


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    with _engine(args) as engine:
        if args.retry_rejected_input:
            rep = engine.retry_rejected_input()
            console.print(f"re-ingested {rep.inserted} stored input lines")
            _retry_collected(engine, console)
        if args.retry_failed:
            console.print(f"requeued {engine.retry_failed()} failed messages")
        report = _progress_run(
            engine, console, quiet=args.quiet, batch_size=args.batch_size, limit=args.limit
        )
        _print_run(console, report)
    return 0


def _retry_collected(engine: Engine, console: Console) -> None:
    """Re-read what adapters collected or received but could not read (per source)."""
    from tsur.adapters import retry_rejected

    sources = {
        r.origin.split(":", 1)[1]
        for r in engine.repository.rejected_inputs()
        if r.origin.startswith(("collect:", "webhook:"))
    }
    for source_id in sorted(sources):
        try:
            report = retry_rejected(engine, source_id)
        except TsurError as exc:
            console.print(RichText(f"{source_id}: cannot re-read yet: {exc}", style="yellow"))
            continue
        console.print(
            f"{source_id}: re-read {report.fetched} kept payloads, ingested {report.inserted}, "
            f"still unreadable {report.rejected}"
        )


def cmd_incidents(args: argparse.Namespace, console: Console) -> int:
    with _engine(args, entry_points=True) as engine:
        items = engine.incidents(
            status=args.status,
            topic=args.topic,
            territory=[args.territory] if args.territory else None,
            executor=args.executor,
            urgency=args.urgency,
            overdue_at=engine.clock() if args.overdue else None,
            limit=args.limit,
        )
        if args.json:
            for i in items:
                print(json.dumps(incident_to_dict(i), ensure_ascii=False))
            return 0
        cfg = engine.config
        topics = {t.id: t.name for t in cfg.topics}
        terr = {t.id: t.name for t in cfg.territories}
        tz = engine.calendar.tz
        table = Table(title=f"Инциденты ({len(items)})", title_justify="left")
        for col in (
            "№",
            "статус",
            "срочность",
            "тема",
            "территория",
            "исполнитель",
            "ответ до",
            "суть",
        ):
            table.add_column(col)
        for i in items:
            table.add_row(
                str(i.id),
                i.status.value,
                i.urgency.value,
                topics.get(i.topic or "", "—"),
                terr.get(i.territory or "", "—"),
                i.executor or "—",
                _fmt(i.first_response_due, tz),
                i.summary[:50],
            )
        console.print(table)
    return 0


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    with _engine(args) as engine:
        inc = engine.incident(args.id)
        if args.json:
            print(json.dumps(incident_to_dict(inc, history=True), ensure_ascii=False, indent=2))
            return 0
        cfg = engine.config
        tz = engine.calendar.tz
        topics = {t.id: t.name for t in cfg.topics}
        terr = {t.id: t.name for t in cfg.territories}
        execs = {e.id: e.name for e in cfg.executors}
        console.print(f"[bold]Инцидент №{inc.id}[/] — {inc.status.value}, {inc.urgency.value}")
        console.print(f"тема: {topics.get(inc.topic or '', '—')} ({inc.confidence:.2f})")
        console.print(f"территория: {terr.get(inc.territory or '', '—')}")
        console.print(f"исполнитель: {execs.get(inc.executor or '', '—')}")
        console.print(
            f"SLA: {inc.sla_policy or '—'}; первый ответ до {_fmt(inc.first_response_due, tz)}, "
            f"решение до {_fmt(inc.resolution_due, tz)}"
        )
        for sm in reversed(engine.repository.messages(incident_id=inc.id, limit=1000)):
            m = sm.message
            console.print(
                f"\n[bold]{m.source}[/] {m.external_id} "
                f"{m.created_at.astimezone(tz):%d.%m.%Y %H:%M}",
                highlight=False,
            )
            console.print(m.text, highlight=False, markup=False)
        table = Table(title="История", title_justify="left")
        for col in ("когда", "кто", "что", "почему"):
            table.add_column(col)
        for e in inc.history:
            what = e.kind if e.to_status is None else f"{e.from_status} → {e.to_status}"
            table.add_row(e.at.astimezone(tz).strftime("%d.%m %H:%M"), e.actor, str(what), e.reason)
        console.print(table)
    return 0


def cmd_messages(args: argparse.Namespace, console: Console) -> int:
    with _engine(args) as engine:
        counts = engine.repository.message_counts()
        console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no messages")
        status = args.status or ("failed" if counts.get("failed") else None)
        if status:
            for sm in engine.repository.messages(status=status, limit=args.limit):
                console.print(
                    f"#{sm.id} {sm.message.source}/{sm.message.external_id} "
                    f"[{sm.status}] {sm.error_stage or ''}: {sm.error or ''}",
                    highlight=False,
                    markup=False,
                )
    return 0


def cmd_rejects(args: argparse.Namespace, console: Console) -> int:
    with _engine(args) as engine:
        items = engine.repository.rejected_inputs()
        for r in items:
            console.print(f"#{r.id} {r.reason}", highlight=False, markup=False)
        console.print(
            f"{len(items)} refused input records"
            + ("; after fixing, run: tsur run --retry-rejected-input" if items else "")
        )
    return 0


def cmd_config(args: argparse.Namespace, console: Console) -> int:
    cfg = load_region(args.config)
    kinds = Counter(t.kind for t in cfg.territories)
    console.print(
        f"{cfg.region.name} ({cfg.region.timezone}): {len(cfg.territories)} territories "
        f"({', '.join(f'{k} {v}' for k, v in kinds.items())}), {len(cfg.topics)} topics, "
        f"{len(cfg.executors)} executors, {len(cfg.sources)} sources, "
        f"{len(cfg.routing)} routing rules, {len(cfg.sla)} SLA policies"
    )
    return 0


def main(argv: Sequence[str] | None = None, *, pm: pluggy.PluginManager | None = None) -> int:
    """Entry point of the ``tsur`` console script (``pm``: a plugin manager to use)."""
    try:
        parser = build_parser(pm)
    except TsurError as exc:
        Console(stderr=True, soft_wrap=True).print(
            RichText("error: ", style="red") + RichText(str(exc))
        )
        return 2
    args = parser.parse_args(argv)
    if getattr(args, "db", None) is None:
        fallback = DEMO_DB if args.command == "demo" else DEFAULT_DB
        args.db = os.environ.get("TSUR_DB", fallback)
    _configure_logging(args.verbose)
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return int(args.func(args, console))
    except TsurError as exc:
        err.print(RichText("error: ", style="red") + RichText(str(exc)))
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        err.print("interrupted; nothing is lost: run 'tsur run' to continue")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
