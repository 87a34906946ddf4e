"""Built-in report renderers: ``html``, ``geojson``, ``json`` and ``csv``.

The renderers live in :mod:`tsur.analytics.exports`; ``tsur report`` and
:func:`tsur.analytics.write_report` pick one by format name.
"""

from __future__ import annotations

from tsur.analytics.exports import CsvRenderer, GeoJsonRenderer, HtmlRenderer, JsonRenderer
from tsur.context import Context
from tsur.hookspecs import hookimpl
from tsur.protocols import Register

__all__ = ["register_report_renderers"]


@hookimpl
def register_report_renderers(register: Register, context: Context) -> None:
    """Register the HTML, GeoJSON, JSON and CSV renderers."""
    register("html", HtmlRenderer(context.region))
    register("geojson", GeoJsonRenderer(context.region))
    register("json", JsonRenderer())
    register("csv", CsvRenderer())
