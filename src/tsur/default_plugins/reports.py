"""Built-in report renderers: JSON and CSV of a report's figures."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from tsur.config import RegionConfig
from tsur.hookspecs import hookimpl
from tsur.typing import Register

__all__ = ["CsvRenderer", "JsonRenderer"]


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


@hookimpl
def register_report_renderers(register: Register, config: RegionConfig) -> None:
    """Register the JSON and CSV renderers."""
    register("json", JsonRenderer())
    register("csv", CsvRenderer())
