"""ПОС appeals and status callbacks, and the generic JSON webhook: schemas, signatures,
ingest through the webhook handler, and answers POSTed back signed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import tsur
from tests.test_adapters_common import build, collect_with
from tsur.adapters.portal import PosAdapter, PosStatus, widget_url
from tsur.adapters.webhook import JsonWebhookAdapter
from tsur.intake import receive_webhook
from tsur.security import verify_signed_request
from tsur.testing import mock_client, signed_headers

#: When the adapters of these tests post (their clock).
POSTED = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)

SAMARA = timezone(timedelta(hours=4))
NOW = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)

APPEAL: dict[str, Any] = {
    "id": 4410291,
    "category": "Дороги",
    "subcategory": "Ямы на дорогах",
    "text": "На ул. Победы у дома 86 глубокая яма, машины объезжают по встречной.",
    "address": "Тольятти, ул. Победы, 86",
    "coordinates": {"lat": 53.5075, "lon": 49.4201},
    "attachments": [
        {"url": "https://pos.example/files/1.jpg", "name": "яма.jpg", "mime_type": "image/jpeg"},
        {"url": "https://pos.example/files/2.pdf", "mime_type": "application/pdf"},
    ],
    "author": {"name": "Петрова А. В.", "email": "petrova@example.ru", "anonymous": True},
    "created_at": "2026-11-16T09:41:00+04:00",
    "fz59": True,
    "url": "https://pos.example/lkp/appeals/4410291",
}

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests


def pos(region: tsur.RegionConfig, **kw: Any) -> PosAdapter:
    return build(PosAdapter, region, "pos", **{"now": lambda: NOW, **kw})  # type: ignore[no-any-return]


def test_appeal_schema_to_message(adapters_region: tsur.RegionConfig) -> None:
    a = pos(adapters_region, category_map={"Ямы на дорогах": "roads"})
    [m] = a.parse({"type": "appeal", "appeal": APPEAL})
    assert m.source == "pos"
    assert m.external_id == "4410291"
    assert m.text.startswith("На ул. Победы у дома 86")
    assert m.created_at == datetime(2026, 11, 16, 9, 41, tzinfo=SAMARA)
    assert m.author == tsur.Author(None, "Петрова А. В.", "petrova@example.ru", anonymous=True)
    assert m.attachments == (
        tsur.Attachment("photo", "https://pos.example/files/1.jpg", "яма.jpg", "image/jpeg"),
        tsur.Attachment("file", "https://pos.example/files/2.pdf", None, "application/pdf"),
    )
    assert m.geo == tsur.GeoPoint(53.5075, 49.4201)
    assert m.address == "Тольятти, ул. Победы, 86"
    assert m.url == "https://pos.example/lkp/appeals/4410291"
    assert m.topic == "roads"  # the subcategory mapped to the region's topic
    assert m.meta == {"fz59": True, "pos_category": "Дороги", "pos_subcategory": "Ямы на дорогах"}
    assert list(a.parse(APPEAL)) == [m]  # a bare appeal is accepted too


def test_appeal_errors_name_the_field(adapters_region: tsur.RegionConfig) -> None:
    a = pos(adapters_region)
    naive = dict(APPEAL, created_at="2026-11-16T09:41:00")
    with pytest.raises(
        tsur.AdapterError, match="ПОС appeal: created_at: must carry a time zone offset"
    ):
        a.parse(naive)
    with pytest.raises(tsur.AdapterError, match=r"coordinates.lat: Input should be less than"):
        a.parse(dict(APPEAL, coordinates={"lat": 153.5, "lon": 49.4}))
    with pytest.raises(tsur.AdapterError, match="type 'appeal' needs the 'appeal' object"):
        a.parse({"type": "appeal"})
    with pytest.raises(tsur.ConfigError, match="category_map names unknown topics"):
        pos(adapters_region, category_map={"Дороги": "no-such-topic"})


def test_status_callbacks_with_ratings_arrive_as_events(sqlite_engine: tsur.Engine) -> None:
    appeal = json.dumps({"type": "appeal", "appeal": APPEAL}, ensure_ascii=False).encode()
    status = {
        "type": "status",
        "status": {
            "appeal_id": "4410291",
            "status": "closed",
            "rating": 2,
            "rating_comment": "яму не заделали",
            "resolved": False,
            "at": "2026-11-25T12:00:00+04:00",
        },
    }
    body = json.dumps([json.loads(appeal), status], ensure_ascii=False).encode()
    result = receive_webhook(sqlite_engine, "pos", body, signed_headers("pos-key", body))
    assert result.status == 200
    assert result.report is not None and result.report.inserted == 1
    [event] = result.events
    assert isinstance(event, PosStatus)
    assert (event.appeal_id, event.status, event.rating, event.resolved) == (
        "4410291",
        "closed",
        2,
        False,
    )
    again = receive_webhook(
        sqlite_engine,
        "pos",
        appeal,
        signed_headers("pos-key", appeal),
    )
    assert again.report is not None and again.report.duplicates == 1
    unsigned = receive_webhook(sqlite_engine, "pos", appeal, {"Content-Type": "application/json"})
    assert unsigned.status == 403


def test_replies_post_status_to_the_callback(adapters_region: tsur.RegionConfig) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": f"st-{len(seen)}"})

    a = pos(
        adapters_region,
        client=mock_client(handler),
        callback_url="https://gateway.example/pos/status",
    )
    final = tsur.Reply(12, "pos", "Яма заделана 18.11, фото во вложении.", "final", "4410291")
    assert a.reply(final) == "st-1"
    [req] = seen
    assert (req.method, str(req.url)) == ("POST", "https://gateway.example/pos/status")
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert req.headers["x-tsur-timestamp"] == str(int(POSTED.timestamp()))
    verify_signed_request("pos-key", req.content, req.headers, now=POSTED)
    assert json.loads(req.content) == {
        "appeal_id": "4410291",
        "status": "answer_ready",
        "answer": "Яма заделана 18.11, фото во вложении.",
        "answer_kind": "final",
        "incident_id": 12,
        "at": "2026-11-16T07:30:00Z",
    }
    a.reply(tsur.Reply(12, "pos", "Передано в работу", "intermediate", "4410291"))
    assert json.loads(seen[1].content)["status"] == "in_progress"
    assert a.status_update("4410291", "closed") == "st-3"
    assert pos(adapters_region).reply(final) is None  # no callback_url: nothing to post to


def test_appeals_from_an_export_file(adapters_region: tsur.RegionConfig, tmp_path: Path) -> None:
    export = tmp_path / "pos.jsonl"
    second = dict(APPEAL, id="4410292", text="Не горит фонарь у школы")
    export.write_text(
        json.dumps(APPEAL, ensure_ascii=False) + "\n" + '{"id": 1, "text": ""}\n',
        encoding="utf-8",
    )
    a = pos(adapters_region, path=str(export))
    first = a.fetch(None)
    assert [m.external_id for m in first.messages] == ["4410291"]
    [bad] = first.rejected  # type: ignore[attr-defined]
    assert bad.line == 2 and "text: String should have at least 1 character" in bad.reason
    with export.open("a", encoding="utf-8") as f:
        f.write(json.dumps(second, ensure_ascii=False) + "\n")
    nxt = a.fetch(first.cursor)
    assert [m.external_id for m in nxt.messages] == ["4410292"] and nxt.cursor == "3"


def test_widget_link() -> None:
    # the link placed in VK community menus (payloads/pos_widget_embed.html, variant C)
    assert widget_url(223418, source="vk", medium="03", campaign="1032311673074") == (
        "https://pos.gosuslugi.ru/form/?opaId=223418&utm_source=vk&utm_medium=03"
        "&utm_campaign=1032311673074"
    )
    assert (
        widget_url(268828, fz59=False) == "https://pos.gosuslugi.ru/form/?opaId=268828&fz59=false"
    )


# the generic JSON webhook -------------------------------------------------------------------
def hook(region: tsur.RegionConfig, **kw: Any) -> JsonWebhookAdapter:
    return build(JsonWebhookAdapter, region, "portal", **{"now": lambda: NOW, **kw})  # type: ignore[no-any-return]


def test_webhook_messages_in_the_wire_shape(adapters_region: tsur.RegionConfig) -> None:
    a = hook(adapters_region)
    body = [
        {
            "external_id": 101,
            "text": "Прорыв трубы на ул. Мира",
            "created_at": "2026-11-16T08:00:00+04:00",
            "geo": {"lat": 53.2, "lon": 50.1},
            "attachments": [{"kind": "photo", "url": "https://portal.example/1.jpg"}],
        },
        {"source": "portal", "external_id": "102", "text": "x", "created_at": "2026-11-16T08:00Z"},
    ]
    first, second = a.parse(json.dumps(body, ensure_ascii=False))
    assert (first.source, first.external_id) == ("portal", "101")
    assert first.geo == tsur.GeoPoint(53.2, 50.1)
    assert first.attachments == (tsur.Attachment("photo", "https://portal.example/1.jpg"),)
    assert second.created_at == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    with pytest.raises(tsur.AdapterError, match="message of source 'vk' sent to webhook 'portal'"):
        a.parse({**body[0], "source": "vk"})
    with pytest.raises(tsur.AdapterError, match=r"\[1\]: expected a JSON object, got int"):
        a.parse([body[0], 5])
    with pytest.raises(tsur.AdapterError, match="body: external_id: Field required"):
        a.parse({"text": "x", "created_at": "2026-11-16T08:00:00+04:00"})


def test_webhook_reply_is_signed_json(adapters_region: tsur.RegionConfig) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    a = hook(adapters_region, client=mock_client(handler), reply_url="https://portal.example/a")
    assert a.reply(tsur.Reply(3, "portal", "Трубу заменили", "final", "101")) is None
    [req] = seen
    assert req.headers["X-Tsur-Timestamp"] == str(int(POSTED.timestamp()))
    verify_signed_request("portal-key", req.content, req.headers, now=POSTED)
    assert json.loads(req.content) == {
        "incident_id": 3,
        "in_reply_to": "101",
        "thread_id": None,
        "kind": "final",
        "text": "Трубу заменили",
        "author": None,
        "sent_at": "2026-11-16T07:30:00+00:00",
    }

    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html><title>Not Found</title></html>")

    b = hook(adapters_region, client=mock_client(failing), reply_url="https://portal.example/a")
    with pytest.raises(tsur.AdapterError, match="reply: HTTP 404") as err:
        b.reply(tsur.Reply(3, "portal", "Трубу заменили", "final", "101"))
    assert not err.value.retryable


def test_pos_collect_from_export(sqlite_engine: tsur.Engine, tmp_path: Path) -> None:
    export = tmp_path / "pos.jsonl"
    export.write_text(json.dumps(APPEAL, ensure_ascii=False) + "\nnot json\n", encoding="utf-8")
    report = collect_with(sqlite_engine, "pos", path=str(export))
    assert (report.inserted, report.rejected) == (1, 1)
    [kept] = sqlite_engine.repository.rejected_inputs()
    assert kept.raw == "not json" and kept.line == 2
    assert collect_with(sqlite_engine, "pos", path=str(export)).inserted == 0


def test_shipped_json_schemas_are_the_models() -> None:
    from tsur.adapters.schemas import SCHEMA_FILES, json_schemas, shipped_schema

    generated = json_schemas()
    assert set(generated) == set(SCHEMA_FILES)
    for name, schema in generated.items():
        assert shipped_schema(name) == schema, f"regenerate src/tsur/data/schemas/{name}"
    appeal = shipped_schema("pos_event.schema.json")["$defs"]["PosAppeal"]
    assert set(appeal["required"]) == {"id", "text", "created_at"}
    assert "source" not in shipped_schema("webhook_message.schema.json")["required"]
