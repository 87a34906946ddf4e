"""``tsur report``: the leaders' report for a period, in any registered format;
``tsur rebuild-aggregates``: recompute the analytics' daily aggregates."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rich.console import Console

from tsur.analytics.report import build_report, render
from tsur.console import open_engine, period_hint
from tsur.errors import ReportError, StorageError
from tsur.hookspecs import hookimpl

__all__ = ["register_commands"]


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``tsur report``."""
    p = add_command(
        "report",
        help="write the leaders' report for a period (HTML, CSV, JSON, GeoJSON …)",
        description="Build the report of a period — headline figures, heat map of "
        "municipalities, top problems, systemic problems, municipalities compared, executor "
        "rating, trends — and write it as one self-contained HTML file or export it through "
        "any registered report renderer.",
    )
    p.add_argument(
        "--period",
        help="2026-11 (month), 2026-W46 (ISO week), 2026-11-16 (day), 2026 (year) or "
        "2026-11-01..2026-11-20 (default: the current month)",
    )
    p.add_argument("--out", help="output file, - for standard output (default: report-PERIOD.FMT)")
    p.add_argument(
        "--format",
        dest="fmt",
        help="html, csv, json, geojson or a plugin's format (default: from --out, else html)",
    )
    p.add_argument("--geometry", help="GeoJSON of municipal boundaries (properties.id = ids)")
    p.add_argument(
        "--at",
        help="judge overdue at this ISO time, e.g. 2026-11-20T18:00+04:00 (default: now)",
    )
    p.set_defaults(func=cmd_report)
    r = add_command(
        "rebuild-aggregates",
        help="recompute the daily analytics aggregates from the incidents",
        description="Recompute the daily aggregates the reports read (counts per local day "
        "of the region) from the incidents, in one transaction. They are kept in step by "
        "every write; rebuild after writing incidents around tsur (a bulk import by SQL) "
        "or to check them.",
    )
    r.set_defaults(func=cmd_rebuild_aggregates)


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """``tsur report``: build, render and write the report."""
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError as exc:
            raise ReportError(f"{args.at!r} is not an ISO date-time", option="--at") from exc
        if at.tzinfo is None:
            raise ReportError(f"{args.at!r} needs a time zone offset, e.g. +04:00", option="--at")
    out = args.out
    fmt = args.fmt or (Path(out).suffix.lstrip(".").lower() if out and out != "-" else "") or "html"
    with open_engine(args, create=False) as engine:
        report = build_report(engine, args.period, at=at, geometry=args.geometry)
        data = render(engine, report, fmt)
        total = next((r["value"] for r in report["headline"] if r["key"] == "incidents"), 0)
        hint = f" ({period_hint(engine)})" if not total else ""
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    target = Path(out or f"report-{report['meta']['period']['key'].replace('..', '_')}.{fmt}")
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc}", option="--out") from exc
    console.print(
        f"записан {target} ({len(data) // 1024 or 1} КиБ, {fmt}): "
        f"{report['meta']['period']['label']}, инцидентов {total}{hint}, "
        f"системных проблем {len(report['systemic'])}"
    )
    return 0


def cmd_rebuild_aggregates(args: argparse.Namespace, console: Console) -> int:
    """``tsur rebuild-aggregates``: recompute the aggregates in the region's time zone."""
    with open_engine(args, create=False) as engine:
        rebuild = getattr(engine.repository, "rebuild_aggregates", None)
        if rebuild is None:
            raise StorageError("this store keeps no analytics aggregates")
        zone = engine.region.calendar.tz.key
        started = time.perf_counter()
        rows = rebuild(zone)
        took = time.perf_counter() - started
    console.print(f"агрегаты пересчитаны: {rows} строк по дням {zone} за {took:.1f} с")
    return 0
