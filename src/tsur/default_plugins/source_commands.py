"""``tsur parse``, ``tsur sources`` and ``tsur collect``: the adapters on the command line.

A plugin like any other: its :func:`register_commands` hook adds the three
commands, which use the plugin manager the command line was started with.

``tsur parse ADAPTER FILE``
    Print the messages an adapter reads from a recorded payload (an API
    answer, a webhook body, a ``.eml`` letter, a CSV export …) as JSON Lines.
    Exit status 2 when the payload cannot be read, 1 when some rows could not.
``tsur sources [--json]``
    The installed adapter kinds, built-in and third-party, with their config
    keys and the region's sources that use them.
``tsur collect SOURCE``
    Fetch what a configured source has new, page by page, from its saved
    cursor, and store it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text as RichText

from tsur.adapters import (
    JsonLinesAdapter,
    adapter_kind,
    build_adapter,
    describe_factory,
    make_adapter,
)
from tsur.config import load_region
from tsur.console import open_engine, run_summary, terminal_text
from tsur.context import Context
from tsur.domain import Source
from tsur.errors import AdapterError, ConfigError, PayloadError
from tsur.hookspecs import hookimpl
from tsur.intake import CollectReport, collect
from tsur.plugins import Components, collect_components
from tsur.region import Region
from tsur.text.normalize import get_lemmatizer
from tsur.wire import message_to_dict, read_jsonl, split_lines

__all__ = ["register_commands"]


def _components(args: argparse.Namespace) -> tuple[Region, Context, Components]:
    """The region and the plugins' components, without a database."""
    region = Region.from_config(load_region(args.config))
    context = Context(region, get_lemmatizer())
    return region, context, collect_components(args.pm, context)


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


# tsur parse ---------------------------------------------------------------------
def cmd_parse(args: argparse.Namespace, console: Console) -> int:
    """Print the messages in a payload file as JSON Lines."""
    region, context, comps = _components(args)
    if args.adapter not in comps.source_adapters:
        known = ", ".join(sorted(comps.source_adapters))
        raise AdapterError(f"unknown adapter {args.adapter!r}; installed: {known}")
    if args.source:
        source = region.sources.get(args.source)
        if source is None:
            raise AdapterError(f"no source {args.source!r} in {args.config or 'the region'}")
    else:
        source = Source(id=args.adapter, kind=args.adapter, name=args.adapter)
    options = {**source.options, **dict(args.option or [])}
    factory = comps.source_adapters[args.adapter].component
    model = getattr(factory, "options_model", None)
    if args.file != "-" and model is not None and "path" in model.model_fields:
        options.setdefault("path", args.file)
    if not args.source and model is not None and "insecure" in model.model_fields:
        options.setdefault("insecure", True)  # reads a file: no request is ever taken
    try:
        payload = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise AdapterError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    source = attrs.evolve(source, options=options)
    try:
        adapter = build_adapter(comps, context, source, kind=args.adapter)
    except ConfigError as exc:
        if args.source:
            raise
        raise ConfigError(
            f"the {args.adapter!r} adapter needs options to start: give a configured source "
            "(--source ID) or the options (--option KEY=VALUE)",
            problems=exc.problems,
        ) from exc
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    bad = 0
    try:
        try:
            rows = _rows(adapter, payload, args.file)
        except (ValueError, TypeError) as exc:  # a value the domain refuses (a bad point …)
            raise PayloadError(f"{args.file}: {exc}") from exc
        for message, error in rows:
            if message is not None:
                sys.stdout.write(json.dumps(message_to_dict(message), ensure_ascii=False) + "\n")
            else:
                bad += 1
                err.print(RichText("error ", style="red") + RichText(terminal_text(error)))
    finally:
        if hasattr(adapter, "close"):
            adapter.close()
    sys.stdout.flush()
    return 1 if bad else 0


def _rows(adapter: Any, payload: bytes, origin: str) -> list[tuple[Any, Any]]:
    """(message, None) or (None, error) for each record of a payload."""
    if isinstance(adapter, JsonLinesAdapter):
        out: list[tuple[Any, Any]] = []
        for p in read_jsonl(split_lines(payload), origin=origin):  # decoded line by line
            out.append((_own(p.message, adapter), p.error))
        return out
    if callable(getattr(adapter, "rows", None)):
        return [(r.message, r.error) for r in adapter.rows(payload, origin=origin)]
    return [(m, None) for m in adapter.parse(payload)]


def _own(message: Any, adapter: Any) -> Any:
    return attrs.evolve(message, source=adapter.source.id) if message is not None else None


# tsur sources ----------------------------------------------------------------------
def cmd_sources(args: argparse.Namespace, console: Console) -> int:
    """List installed adapter kinds with their options."""
    region, _, comps = _components(args)
    sources = list(region.sources.values())
    items = []
    for kind in sorted(comps.source_adapters):
        reg = comps.source_adapters[kind]
        info = describe_factory(reg.component)
        items.append(
            {
                "name": kind,
                "plugin": reg.plugin,
                "builtin": reg.plugin.startswith("tsur."),
                "summary": info["summary"],
                "options": info["options"],
                "sources": [s.id for s in sources if adapter_kind(s) == kind],
            }
        )
    if args.json:
        sys.stdout.write(json.dumps(items, ensure_ascii=False, indent=2) + "\n")
        return 0
    table = Table(title=f"Адаптеры источников ({len(items)})", title_justify="left")
    for col in ("адаптер", "источники региона", "параметры", "плагин"):
        table.add_column(col, overflow="fold")
    for it in items:
        keys = ", ".join(o["name"] for o in it["options"])
        plugin = "встроенный" if it["builtin"] else it["plugin"]
        table.add_row(it["name"], ", ".join(it["sources"]) or "—", keys or "—", plugin)
    console.print(table)
    unused = [s.id for s in sources if adapter_kind(s) not in comps.source_adapters]
    if unused:
        console.print(
            "источники без адаптера — сообщения в них вносят вручную или файлом "
            "(tsur ingest); чтобы собирать их, укажите options.adapter: " + ", ".join(unused),
            highlight=False,
        )
    return 0


# tsur collect ------------------------------------------------------------------------
def cmd_collect(args: argparse.Namespace, console: Console) -> int:
    """One collection of a configured source, from its saved cursor."""
    runtime: dict[str, Any] = {}
    if args.adapter:
        runtime["kind"] = args.adapter
    with open_engine(args) as engine:
        show = not args.quiet and (console.is_terminal or os.environ.get("TSUR_PROGRESS") == "1")
        try:
            report = _collect_with_progress(engine, args, console, show, **runtime)
        except PayloadError as exc:
            raise AdapterError(
                f"{exc} (kept in the rejected input: tsur rejects); the cursor was not moved"
            ) from exc
        console.print(
            f"{args.source}: страниц {report.pages}, получено сообщений {report.fetched}, "
            f"новых {report.inserted}, уже были в базе {report.duplicates}, отклонено "
            f"{report.rejected}" + (" (сохранены: tsur rejects)" if report.rejected else "")
        )
        for reason in report.reasons[:20]:
            console.print(RichText("отклонено ", style="yellow") + RichText(terminal_text(reason)))
        if args.run:
            console.print(run_summary(engine.run()))
    return 1 if report.rejected else 0


def _collect_with_progress(
    engine: Any, args: argparse.Namespace, console: Console, show: bool, **runtime: Any
) -> CollectReport:
    kind = runtime.pop("kind", None)
    adapter = make_adapter(engine, args.source, kind=kind)
    try:
        if not show:
            return collect(engine, args.source, adapter=adapter, max_pages=args.max_pages)
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(f"сбор {args.source}", status="")

            def update(r: CollectReport) -> None:
                bar.update(
                    task,
                    status=f"страниц {r.pages}, сообщений {r.fetched}, новых {r.inserted}",
                )

            return collect(
                engine, args.source, adapter=adapter, max_pages=args.max_pages, progress=update
            )
    finally:
        if hasattr(adapter, "close"):
            adapter.close()


# the hook --------------------------------------------------------------------------
@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``parse``, ``sources`` and ``collect``."""
    p = add_command(
        "parse",
        help="print the messages an adapter reads from a payload file",
        description="Read a recorded payload (API answer, webhook body, .eml letter, CSV "
        "export …) with an adapter and print the messages as JSON Lines. Exit status 2 "
        "if the payload cannot be read, 1 if some records could not.",
    )
    p.add_argument("adapter", help="adapter kind: vk, telegram, pos, webhook, open311, email …")
    p.add_argument("file", help="payload file, or - for standard input")
    p.add_argument("--source", help="take the options of this configured source")
    p.add_argument(
        "--option",
        action="append",
        type=_option,
        metavar="KEY=VALUE",
        help="an adapter option (JSON values allowed); repeat for several",
    )
    p.set_defaults(func=cmd_parse)

    p = add_command(
        "sources",
        help="installed source adapters and their options",
        description="List the installed source adapter kinds (built-in and third-party) "
        "with their configuration keys and the region's sources that use each.",
    )
    p.add_argument("--json", action="store_true", help="a JSON array of objects")
    p.set_defaults(func=cmd_sources)

    p = add_command(
        "collect",
        help="fetch what a source has new and store it",
        description="Fetch new messages of a configured source page by page from its saved "
        "cursor and store them; the cursor is saved after each stored page, so an "
        "interrupted run continues where it stopped.",
    )
    p.add_argument("source", help="source id in the region file")
    p.add_argument("--adapter", help="adapter kind to use instead of the source's")
    p.add_argument("--max-pages", type=int, default=None, help="stop after this many pages")
    p.add_argument("--run", action="store_true", help="process pending messages afterwards")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_collect)
