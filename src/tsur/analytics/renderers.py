"""Plugin: the ``html`` and ``geojson`` report renderers and the ``tsur report`` command.

Registered like any plugin (``tsur.analytics.renderers``); ``json`` and
``csv`` come from :mod:`tsur.default_plugins.reports`. A region adds its
own format the same way — see docs/reports.md::

    @tsur.hookimpl
    def register_report_renderers(register, config):
        register("xlsx", XlsxRenderer())
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from tsur.analytics.errors import ReportError
from tsur.analytics.geometry import Boundaries, bundled_geometry, load_boundaries
from tsur.analytics.html import render_html
from tsur.config import RegionConfig
from tsur.hookspecs import hookimpl
from tsur.typing import Register

if TYPE_CHECKING:
    from tsur.pipeline import Engine

__all__ = ["GeoJsonRenderer", "HtmlRenderer", "boundaries_for"]


@lru_cache(maxsize=8)
def _load(path: str, ids: frozenset[str]) -> Boundaries:
    return load_boundaries(path, municipalities=ids)


def boundaries_for(config: RegionConfig, report: Mapping[str, Any]) -> Boundaries | None:
    """The boundaries a report is drawn with: its ``meta.geometry`` file, the shipped
    file matching the region, or None (the maps then use tiles)."""
    ids = frozenset(t.id for t in config.territories if t.parent == config.region.territory)
    given = (report.get("meta") or {}).get("geometry")
    if given:
        return _load(str(given), ids)
    bundled = bundled_geometry(config)
    return _load(str(bundled), ids) if bundled is not None else None


class HtmlRenderer:
    """The report as one self-contained HTML page with maps and charts."""

    def __init__(self, config: RegionConfig) -> None:
        self.config = config

    def render(self, report: Mapping[str, Any]) -> bytes:
        """Render ``report`` (see :func:`tsur.analytics.report.build_report`)."""
        _require(report, ("meta", "headline", "municipalities", "top_problems", "points"))
        return render_html(report, boundaries_for(self.config, report)).encode("utf-8")


class GeoJsonRenderer:
    """Municipalities (with their figures) and geotagged incidents as GeoJSON."""

    def __init__(self, config: RegionConfig) -> None:
        self.config = config

    def render(self, report: Mapping[str, Any]) -> bytes:
        """A FeatureCollection: one feature per municipality, one point per incident."""
        import json

        _require(report, ("meta", "municipalities", "points"))
        shapes = boundaries_for(self.config, report)
        features: list[dict[str, Any]] = []
        for row in report["municipalities"]:
            if not row.get("id"):
                continue
            polys = shapes.shapes.get(row["id"]) if shapes is not None else None
            geometry: dict[str, Any] | None
            if polys:
                coords = [[[list(p) for p in ring] for ring in poly] for poly in polys]
                geometry = (
                    {"type": "Polygon", "coordinates": coords[0]}
                    if len(coords) == 1
                    else {"type": "MultiPolygon", "coordinates": coords}
                )
            elif row.get("lat") is not None and row.get("lon") is not None:
                geometry = {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
            else:
                geometry = None
            features.append(
                {
                    "type": "Feature",
                    "id": row["id"],
                    "geometry": geometry,
                    "properties": {"layer": "municipality", **row},
                }
            )
        for p in report["points"]:
            props = {k: v for k, v in p.items() if k not in {"lat", "lon"}}
            features.append(
                {
                    "type": "Feature",
                    "id": f"incident-{p['id']}",
                    "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                    "properties": {"layer": "incident", **props},
                }
            )
        meta = report["meta"]
        collection = {
            "type": "FeatureCollection",
            "tsur": {
                "region": meta.get("region"),
                "period": meta.get("period"),
                "generated_at": meta.get("generated_at"),
                "attribution": shapes.attribution if shapes is not None else None,
            },
            "features": features,
        }
        return json.dumps(collection, ensure_ascii=False, default=str).encode("utf-8")


def _require(report: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in report]
    if missing:
        raise ReportError(
            f"the report lacks {', '.join(missing)}: build it with tsur.analytics.build_report",
            option="report",
        )


@hookimpl
def register_report_renderers(register: Register, config: RegionConfig) -> None:
    """Register the HTML and GeoJSON renderers."""
    register("html", HtmlRenderer(config))
    register("geojson", GeoJsonRenderer(config))


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


def _engine(args: argparse.Namespace) -> Engine:
    from tsur.pipeline import Engine
    from tsur.plugins import DEFAULT_PLUGINS

    extra = [] if __name__ in DEFAULT_PLUGINS else [sys.modules[__name__]]
    return Engine.from_config(args.config, db=args.db, plugins=extra)


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """``tsur report``: build, render and write the report."""
    from tsur.analytics.report import build_report, render

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
    with _engine(args) as engine:
        report = build_report(engine, args.period, at=at, geometry=args.geometry)
        data = render(engine, report, fmt)
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    target = Path(out or f"report-{report['meta']['period']['key'].replace('..', '_')}.{fmt}")
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc}", option="--out") from exc
    total = next((r["value"] for r in report["headline"] if r["key"] == "incidents"), 0)
    console.print(
        f"wrote {target} ({len(data) // 1024 or 1} KiB, {fmt}): "
        f"{report['meta']['period']['label']}, {total} incidents, "
        f"{len(report['systemic'])} systemic problems"
    )
    return 0
