"""Telegram Bot API: recorded updates become messages; getUpdates offsets; webhook
secret; sendMessage replies in Bot API wire format; 429 and 409 answers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import tsur
from tests.test_adapters_common import FakeTime, build
from tsur import testing
from tsur.adapters.telegram import TelegramAdapter, TelegramError, split_text
from tsur.intake import collect, receive_webhook
from tsur.testing import mock_client, payload

API = "https://api.telegram.org/bot123:ABC"

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests


def tg(adapters_region: tsur.RegionConfig, **kw: Any) -> TelegramAdapter:
    return build(TelegramAdapter, adapters_region, "tg-bot", **kw)  # type: ignore[no-any-return]


def test_private_messages(adapters_region: tsur.RegionConfig) -> None:
    messages = list(tg(adapters_region).parse(payload("tg_getUpdates_private_messages.json")))
    # "/start" alone is a bot command, not an appeal
    assert [m.external_id for m in messages] == [
        "7993663512:62",
        "7993663512:100",
        "7993663512:101",
        "7993663512:110",
    ]
    text, voice, photo, document = messages
    assert text.source == "tg-bot"
    assert text.text == "hola"
    assert text.created_at == datetime(2025, 2, 16, 23, 48, 2, tzinfo=UTC)
    assert str(text.created_at.tzinfo) == "Europe/Samara"
    assert text.author == tsur.Author(id="7993663512", name="User")
    assert text.url is None  # private chats have no message links
    assert text.meta["telegram_update_id"] == 184522457
    assert voice.attachments == (
        tsur.Attachment(
            "audio",
            "telegram-file:AwACAgEAAxkBAANkZ7KNstb4jGyLDMC62Yf0ztvv6s8AApYEAALO_ZhFREJzoiIcpDk2BA",
            None,
            "audio/ogg",
        ),
    )
    # of four sizes, the largest (590×1280)
    assert photo.attachments == (
        tsur.Attachment(
            "photo",
            "telegram-file:AgACAgEAAxkBAANlZ7KOK-jx7fnQk_R7AgeBiftJPwgAAk6uMRvO_ZhFGhwablc3zuMBAAMCAAN5AAM2BA",
            None,
            "image/jpeg",
        ),
    )
    assert document.attachments[0].name == "IMG_0847.PNG"
    assert document.attachments[0].mime_type == "image/jpeg"


def test_caption_location_venue_channel_forum_edit(adapters_region: tsur.RegionConfig) -> None:
    a = tg(adapters_region)
    [caption] = a.parse(payload("tg_update_photo_caption.json"))
    assert caption.text == "photo description"
    assert caption.attachments[0].kind == "photo"
    assert caption.author == tsur.Author(id="12345678", name="FirstName LastName")

    [location] = a.parse(payload("tg_update_location.json"))
    assert location.geo == tsur.GeoPoint(50.693416, 30.624605)
    assert location.attachments == (tsur.Attachment("location", "geo:50.693416,30.624605"),)

    [venue] = a.parse(payload("tg_update_venue.json"))
    assert venue.geo == tsur.GeoPoint(50.693416, 30.624605)
    assert venue.address == "Venue Address"
    assert venue.meta["telegram_venue"] == "Venue Name"

    posts = list(a.parse(payload("tg_getUpdates_channel_post.json")))
    assert [p.external_id for p in posts] == ["-1001241558182:21", "-1001241558182:22"]
    assert posts[0].author == tsur.Author(id="-1001241558182", name="Jun")
    assert posts[0].url == "https://t.me/c/1241558182/21"
    assert posts[1].text.endswith("这里介绍了一种具体的实施方法")

    [forum] = a.parse(payload("tg_update_forum_topic_message.json"))
    assert forum.external_id == "-1001000000002:214"
    assert forum.thread_id == "-1001000000002:200"  # the topic
    assert forum.parent_id == "-1001000000002:200"
    assert forum.url == "https://t.me/c/1000000002/200/214"
    assert forum.text == "does anyone know how to configure this?"

    [edited] = a.parse(payload("tg_update_edited_message.json"))
    assert edited.external_id == "666857351:18"  # same id as the original message
    assert edited.created_at == datetime(2021, 6, 5, 11, 58, 5, tzinfo=UTC)  # the original date
    assert edited.meta["telegram_edited_at"] == 1622897563
    assert edited.text == "/добавитьЗадачу написать тест"


def test_errors(adapters_region: tsur.RegionConfig) -> None:
    a = tg(adapters_region)
    with pytest.raises(tsur.RateLimited) as limited:
        a.parse(payload("tg_error_429.json"))
    assert limited.value.retry_after == 5.0
    with pytest.raises(TelegramError) as conflict:
        a.parse(payload("tg_error_409_conflict.json"))
    assert conflict.value.code == 409 and not conflict.value.retryable
    assert "call deleteWebhook" in str(conflict.value)
    with pytest.raises(tsur.AdapterError, match="not a Telegram Update"):
        a.parse({"message": {}})
    with pytest.raises(tsur.AdapterError, match=r"message.chat: Field required"):
        a.parse({"update_id": 1, "message": {"message_id": 1, "date": 1}})


def test_get_updates_offsets_and_conflict(adapters_region: tsur.RegionConfig) -> None:
    pages = json.loads(payload("tg_getUpdates_private_messages.json"))["result"]
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"url": str(request.url), "method": request.method, **body})
        offset = body.get("offset", 0)
        result = [u for u in pages if u["update_id"] >= offset][: body["limit"]]
        return httpx.Response(200, json={"ok": True, "result": result})

    a = tg(adapters_region, client=mock_client(handler))
    first = a.fetch(None)
    assert first.cursor == "184522464" and first.more  # last update_id + 1; a full page
    assert [m.external_id for m in first.messages] == ["7993663512:62"]  # /start skipped
    second = a.fetch(first.cursor)
    assert second.cursor == "184522466"
    third = a.fetch(second.cursor)
    assert third.cursor == "184522469" and not third.more
    fourth = a.fetch(third.cursor)
    assert fourth.messages == [] and fourth.cursor == "184522469"
    assert seen[0] == {
        "url": f"{API}/getUpdates",
        "method": "POST",
        "limit": 2,
        "timeout": 0,
        "allowed_updates": ["message", "edited_message", "channel_post", "edited_channel_post"],
    }
    assert [s.get("offset") for s in seen] == [None, 184522464, 184522466, 184522469]

    def conflict(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, content=payload("tg_error_409_conflict.json"))

    with pytest.raises(TelegramError, match=r"while webhook is active.*call deleteWebhook"):
        tg(adapters_region, client=mock_client(conflict)).fetch(None)


def test_429_is_waited_out_then_retried(adapters_region: tsur.RegionConfig) -> None:
    t = FakeTime()
    answers = [
        httpx.Response(429, content=payload("tg_error_429.json")),
        httpx.Response(200, json={"ok": True, "result": {"message_id": 5, "chat": {"id": 7}}}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    a = tg(adapters_region, client=mock_client(handler), sleep=t.sleep, clock=t.clock)
    assert a.reply(tsur.Reply(1, "tg-bot", "Принято", "intermediate", in_reply_to="7:3")) == "7:5"
    assert t.sleeps and t.sleeps[0] >= 5.0  # parameters.retry_after


def test_reply_is_send_message(adapters_region: tsur.RegionConfig) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        result = {"message_id": 500 + len(seen), "chat": {"id": body["chat_id"]}}
        return httpx.Response(200, json={"ok": True, "result": result})

    a = tg(adapters_region, client=mock_client(handler))
    text = "Здравствуйте! Обращение передано в управляющую компанию."
    reply = tsur.Reply(
        9,
        "tg-bot",
        text,
        "intermediate",
        in_reply_to="-1001000000002:214",
        thread_id="-1001000000002:200",
    )
    assert a.reply(reply) == "-1001000000002:501"
    [req] = seen
    assert (req.method, str(req.url)) == ("POST", f"{API}/sendMessage")
    assert json.loads(req.content) == {
        "chat_id": -1001000000002,
        "text": text,
        "message_thread_id": 200,
        "reply_parameters": {"message_id": 214, "allow_sending_without_reply": True},
    }
    legacy = tg(adapters_region, client=mock_client(handler), reply_mode="reply_to_message_id")
    legacy.reply(tsur.Reply(9, "tg-bot", text, "final", in_reply_to="42:7"))
    assert json.loads(seen[1].content) == {
        "chat_id": 42,
        "text": text,
        "reply_to_message_id": 7,
        "allow_sending_without_reply": True,
    }
    with pytest.raises(tsur.AdapterError, match="'<chat_id>:<message_id>'"):
        a.reply(tsur.Reply(9, "tg-bot", text, "final", in_reply_to="wall-1_2"))


def test_long_answers_are_split_and_paced_per_chat(adapters_region: tsur.RegionConfig) -> None:
    t = FakeTime()
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        result = {"message_id": len(seen), "chat": {"id": 42}}
        return httpx.Response(200, json={"ok": True, "result": result})

    a = tg(adapters_region, client=mock_client(handler), sleep=t.sleep, clock=t.clock)
    paragraph = "Работы по ремонту кровли включены в план. " * 40
    text = "\n\n".join([paragraph.strip()] * 4)  # about 6,700 characters
    assert a.reply(tsur.Reply(1, "tg-bot", text, "final", in_reply_to="42:7")) == "42:1"
    assert len(seen) == 2 and all(len(s["text"]) <= 4096 for s in seen)
    assert "reply_parameters" in seen[0] and "reply_parameters" not in seen[1]
    assert "".join(s["text"] for s in seen).replace("\n", "") == text.replace("\n", "")
    assert t.sleeps == [1.0]  # one message a second to the same chat
    assert split_text("а" * 5000, 4096) == ["а" * 4096, "а" * 904]


def test_webhook_secret_and_duplicates(adapters_engine: tsur.Engine) -> None:
    body = payload("tg_update_photo_caption.json")
    json_type = {"Content-Type": "application/json"}
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-token", **json_type}
    assert receive_webhook(adapters_engine, "tg-bot", body, json_type).status == 403
    bad = {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-tokeN", **json_type}
    assert receive_webhook(adapters_engine, "tg-bot", body, bad).status == 403
    first = receive_webhook(adapters_engine, "tg-bot", body, good)
    again = receive_webhook(adapters_engine, "tg-bot", body, good)
    assert (first.status, first.body) == (200, "")
    assert first.report is not None and first.report.inserted == 1
    assert again.report is not None and again.report.duplicates == 1
    # an edit of a stored message changes nothing: ingest is idempotent
    edited = json.loads(body)
    edited["edited_message"] = dict(edited.pop("message"), text="x", edit_date=1508825200)
    r = receive_webhook(adapters_engine, "tg-bot", json.dumps(edited).encode(), good)
    assert r.report is not None and r.report.duplicates == 1
    [stored] = adapters_engine.repository.messages()
    assert stored.message.text == "photo description"


def test_collect_with_offsets_survives_restart(sqlite_engine: tsur.Engine) -> None:
    pages = json.loads(payload("tg_getUpdates_private_messages.json"))["result"]
    offsets: list[int | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        offsets.append(body.get("offset"))
        result = [u for u in pages if u["update_id"] >= body.get("offset", 0)][: body["limit"]]
        return httpx.Response(200, json={"ok": True, "result": result})

    first = collect(sqlite_engine, "tg-bot", client=mock_client(handler), max_pages=1)
    assert first.inserted == 1
    rest = collect(sqlite_engine, "tg-bot", client=mock_client(handler))
    # the second run starts from the saved offset and stops after a page that is not full
    assert offsets == [None, 184522464, 184522466]
    assert rest.inserted == 3 and rest.duplicates == 0
    assert sqlite_engine.repository.get_cursor("tg-bot") == "184522469"


def test_async_fetch_and_reply(adapters_region: tsur.RegionConfig) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("getUpdates"):
            return httpx.Response(200, content=payload("tg_getUpdates_channel_post.json"))
        return httpx.Response(
            200, json={"ok": True, "result": {"message_id": 3, "chat": {"id": 1}}}
        )

    async def run() -> tuple[list[str], str | None]:
        async with testing.mock_async_client(handler) as client:
            a = tg(adapters_region, async_client=client)
            result = await a.afetch(None)
            sent = await a.areply(tsur.Reply(1, "tg-bot", "Ответ", "final", in_reply_to="1:2"))
            return [m.external_id for m in result.messages], sent

    assert asyncio.run(run()) == (["-1001241558182:21", "-1001241558182:22"], "1:3")
