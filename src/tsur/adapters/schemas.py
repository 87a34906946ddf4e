"""JSON Schemas of the payloads tsur accepts from portals and connectors.

The schemas shipped in ``tsur/data/schemas/`` are generated from the
pydantic models here, so a connector can validate what it sends (and a
test keeps the files equal to the models):

- ``pos_event.schema.json``: a ПОС appeal or status callback (``pos``);
- ``pos_status.schema.json``: a status callback on its own (sent by tsur too);
- ``webhook_message.schema.json``: one message of the generic JSON webhook.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from tsur.wire import MessageIn

from .portal import PosEvent, PosStatus

__all__ = ["SCHEMA_FILES", "json_schemas", "shipped_schema"]

#: File name → what it describes.
SCHEMA_FILES = {
    "pos_event.schema.json": "ПОС appeal or status callback pushed to a pos source",
    "pos_status.schema.json": "ПОС status callback (both directions)",
    "webhook_message.schema.json": "one message pushed to a webhook source",
}


def _webhook_message() -> dict[str, Any]:
    schema = MessageIn.model_json_schema()
    schema["required"] = [r for r in schema.get("required", []) if r != "source"]
    schema["title"] = "WebhookMessage"
    schema["description"] = (
        "One message pushed to a tsur webhook source (or a JSON array of them); "
        "'source' may be left out."
    )
    return schema


def json_schemas() -> dict[str, dict[str, Any]]:
    """The schemas by file name, generated from the models."""
    out = {
        "pos_event.schema.json": PosEvent.model_json_schema(),
        "pos_status.schema.json": PosStatus.model_json_schema(),
        "webhook_message.schema.json": _webhook_message(),
    }
    for name, schema in out.items():
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://tsur.invalid/schemas/{name}"
    return out


def shipped_schema(name: str) -> dict[str, Any]:
    """A schema as shipped in the package (``tsur/data/schemas/<name>``)."""
    text = (resources.files("tsur") / "data" / "schemas" / name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
