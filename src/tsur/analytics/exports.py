"""Report renderers: the leaders' report as HTML, GeoJSON, JSON or CSV.

Each renderer turns the mapping :func:`tsur.analytics.build_report` returns
into the bytes of one file format; :mod:`tsur.default_plugins.renderers`
registers them as ``html``, ``geojson``, ``json`` and ``csv``. A region adds
its own format the same way — see docs/reports.md::

    @tsur.hookimpl
    def register_report_renderers(register, context):
        register("xlsx", XlsxRenderer())
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from tsur.analytics.html import render_html
from tsur.errors import ReportError
from tsur.geometry import Boundaries, bundled_geometry, load_boundaries
from tsur.region import Region

__all__ = ["CsvRenderer", "GeoJsonRenderer", "HtmlRenderer", "JsonRenderer", "boundaries_for"]


@lru_cache(maxsize=8)
def _load(path: str, ids: frozenset[str]) -> Boundaries:
    return load_boundaries(path, municipalities=ids)


def boundaries_for(region: Region, report: Mapping[str, Any]) -> Boundaries | None:
    """The boundaries a report is drawn with: its ``meta.geometry`` file, the shipped
    file matching the region, or None (the maps then use tiles)."""
    ids = frozenset(t.id for t in region.municipalities)
    given = (report.get("meta") or {}).get("geometry")
    if given:
        return _load(str(given), ids)
    bundled = bundled_geometry(region)
    return _load(str(bundled), ids) if bundled is not None else None


class HtmlRenderer:
    """The report as one self-contained HTML page with maps and charts."""

    def __init__(self, region: Region) -> None:
        self.region = region

    def render(self, report: Mapping[str, Any]) -> bytes:
        """Render ``report`` (see :func:`tsur.analytics.report.build_report`)."""
        _require(report, ("meta", "headline", "municipalities", "top_problems", "points"))
        return render_html(report, boundaries_for(self.region, report)).encode("utf-8")


class GeoJsonRenderer:
    """Municipalities (with their figures) and geotagged incidents as GeoJSON."""

    def __init__(self, region: Region) -> None:
        self.region = region

    def render(self, report: Mapping[str, Any]) -> bytes:
        """A FeatureCollection: one feature per municipality, one point per incident."""
        _require(report, ("meta", "municipalities", "points"))
        shapes = boundaries_for(self.region, report)
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


class JsonRenderer:
    """The report as pretty-printed UTF-8 JSON."""

    def render(self, report: Mapping[str, Any]) -> bytes:
        """Serialise ``report``."""
        return json.dumps(report, ensure_ascii=False, indent=2, default=str).encode("utf-8")


class CsvRenderer:
    """Every list-of-rows table of the report, one CSV section per table."""

    def render(self, report: Mapping[str, Any]) -> bytes:
        """Write each table (a list of dicts) under a ``# name`` line."""
        buf = io.StringIO()
        for name, value in report.items():
            if not (isinstance(value, list) and value and isinstance(value[0], Mapping)):
                continue
            buf.write(f"# {name}\n")
            fields = list(dict.fromkeys(k for row in value for k in row))
            writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(value)
            buf.write("\n")
        return buf.getvalue().encode("utf-8")
