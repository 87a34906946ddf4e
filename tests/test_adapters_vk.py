"""VK: recorded API answers and Callback API events become messages; replies are
wall.createComment calls in VK's wire format; errors and limits are honoured."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import tsur
from tests.test_adapters_common import FakeTime, build
from tsur import testing
from tsur.adapters.vk import API_VERSION, VkAdapter, VkError
from tsur.errors import PayloadError
from tsur.intake import collect, receive_webhook
from tsur.testing import mock_client, payload

OWNER = -205427305

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests


def vk(adapters_region: tsur.RegionConfig, **kw: Any) -> VkAdapter:
    return build(VkAdapter, adapters_region, "vk-samara", **kw)  # type: ignore[no-any-return]


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


# parsing recorded payloads ------------------------------------------------------------
def test_wall_get_posts_field_by_field(adapters_region: tsur.RegionConfig) -> None:
    messages = list(vk(adapters_region).parse(payload("vk_wall_get.json")))
    assert [m.external_id for m in messages] == [f"wall{OWNER}_{i}" for i in (10, 9, 5, 4, 3, 2, 1)]
    first = messages[0]
    assert first.source == "vk-samara"  # the configured source id, not the kind
    assert first.text == "tt.ru"
    assert first.created_at == datetime(2021, 6, 25, 14, 36, 23, tzinfo=UTC)
    assert first.created_at.utcoffset() == timedelta(hours=4)  # the region's zone
    assert first.author == tsur.Author(id="106017", name="Иван Петров")
    [photo] = first.attachments
    # the largest of ten sizes: w, 1215×2160
    assert photo == tsur.Attachment(
        "photo", "https://sun9-5.us...CPMY&type=album", None, "image/jpeg"
    )
    assert first.url == "https://vk.com/wall-205427305_10"
    assert first.meta["vk_edited"] == 1624692574
    assert (first.thread_id, first.parent_id, first.geo) == (None, None, None)
    link = messages[1]
    assert link.text == "6 https://www.booking.com/"
    assert link.attachments == (
        tsur.Attachment(
            "link",
            "http://www.booking.com/",
            "Booking.com: The largest selection of hotels, homes, and vacation rentals",
        ),
    )


def test_wall_get_comments_with_threads(adapters_region: tsur.RegionConfig) -> None:
    messages = list(vk(adapters_region).parse(payload("vk_wall_getComments.json")))
    ids = [m.external_id for m in messages]
    assert ids == [
        "wall-221060815_1_c2",
        "wall-221060815_1_c3",
        "wall-221060815_1_c4",
        "wall-221060815_1_c5",
    ]
    top, reply = messages[0], messages[1]
    assert top.text == "Комментарий 1"
    assert top.thread_id == "wall-221060815_1"  # the post
    assert top.parent_id is None
    assert top.url == "https://vk.com/wall-221060815_1?reply=2"
    assert top.created_at == datetime(2023, 6, 10, 9, 33, 13, tzinfo=UTC)
    assert reply.text == "[id138826793|Иван], Тест"  # mention markup kept for the normaliser
    assert reply.thread_id == "wall-221060815_1"
    assert reply.parent_id == "wall-221060815_1_c2"  # the parent comment
    assert reply.url == "https://vk.com/wall-221060815_1?reply=3&thread=2"
    assert reply.author == tsur.Author(id="138826793")
    assert messages[3].author == tsur.Author(id="196222841")


def test_newsfeed_search_and_long_poll(adapters_region: tsur.RegionConfig) -> None:
    a = vk(adapters_region)
    [found] = a.parse(payload("vk_newsfeed_search.SKELETON.json"))
    assert (found.external_id, found.text) == (f"wall{OWNER}_5", "5")
    [polled] = a.parse(payload("vk_bots_longpoll_response.json"))
    assert polled.external_id == "wall-123456_28"
    assert polled.meta["vk_event_id"] == "c68dfb983247fea8ac98ea0ea59717df71d8064f"


def test_callback_events(adapters_region: tsur.RegionConfig) -> None:
    a = vk(adapters_region)
    [post] = a.parse(payload("vk_callback_wall_post_new.json"))
    assert post.external_id == "wall-191949777_1"
    assert post.text == "hello its poll"
    assert post.author == tsur.Author(id="-191949777")
    assert post.attachments == (
        tsur.Attachment("poll", "https://vk.com/poll-191949777_364694272", "how are you?"),
    )
    assert post.meta["vk_event_id"] == "2f1a52299ff093eade7c52b46a2cff9b7af11ec1"

    event = json.loads(payload("vk_callback_wall_reply_new.json"))
    [old_style] = a.parse(event)  # post_owner_id, as recorded
    new = copy.deepcopy(event)
    new["object"]["owner_id"] = new["object"].pop("post_owner_id")
    [new_style] = a.parse(new)
    assert old_style == new_style
    assert old_style.external_id == "wall-201077021_5_c8"
    assert old_style.thread_id == "wall-201077021_5"
    assert old_style.text == "Привет! Сколько стоит пицца карбонара без лука?"
    assert old_style.created_at == datetime(2020, 12, 12, 19, 23, 45, tzinfo=UTC)
    assert old_style.author == tsur.Author(id="343298673")

    [photo] = a.parse(payload("vk_callback_photo_comment_new.json"))
    assert photo.external_id == "photo-191949777_457239017_c1"
    assert photo.thread_id == "photo-191949777_457239017"
    assert photo.url == "https://vk.com/photo-191949777_457239017"

    message_new = {
        "type": "message_new",
        "group_id": 205427305,
        "event_id": "a" * 40,
        "object": {
            "message": {
                "date": 1700000000,
                "from_id": 42,
                "id": 0,
                "peer_id": 42,
                "text": "Яма на дороге",
                "conversation_message_id": 7,
                "geo": {"type": "point", "coordinates": {"latitude": 53.2, "longitude": 50.1}},
                "attachments": [],
            },
            "client_info": {"keyboard": True},
        },
    }
    [dm] = a.parse(message_new)
    assert dm.external_id == "msg42_7"
    assert dm.geo == tsur.GeoPoint(53.2, 50.1)
    assert dm.url == "https://vk.com/gim205427305?sel=42"
    assert a.parse({"type": "group_join", "object": {"user_id": 1}, "group_id": 1}) == []


def test_vk_errors(adapters_region: tsur.RegionConfig) -> None:
    a = vk(adapters_region)
    with pytest.raises(VkError) as err:
        a.parse(payload("vk_error_5_auth.json"))
    assert err.value.code == 5 and not err.value.retryable
    assert "VK error 5: User authorization failed: invalid access_token (4)." in str(err.value)
    assert "check options.access_token" in str(err.value)
    with pytest.raises(tsur.RateLimited) as limited:
        a.parse(payload("vk_error_6_too_many.json"))
    assert limited.value.retry_after == 1.0
    captcha = {"error": {"error_code": 14, "error_msg": "Captcha needed", "captcha_sid": "93"}}
    with pytest.raises(VkError, match=r"VK error 14: Captcha needed \(captcha_sid 93\)") as c:
        a.parse(captcha)
    assert not c.value.retryable
    for code in (15, 203, 212):
        with pytest.raises(VkError) as e:
            a.parse({"error": {"error_code": code, "error_msg": "Access denied"}})
        assert e.value.code == code and not e.value.retryable
    with pytest.raises(PayloadError, match="not an API response, a Callback API event"):
        a.parse({"hello": 1})
    with pytest.raises(PayloadError, match=r"items\[0\]: date: Field required"):
        a.parse({"response": {"count": 1, "items": [{"id": 1, "owner_id": 1}]}})


# fetching ------------------------------------------------------------------------------
def test_wall_pagination_to_the_end_and_then_only_new(adapters_region: tsur.RegionConfig) -> None:
    posts = json.loads(payload("vk_wall_get.json"))["response"]["items"]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        q = request.url.params
        offset, count = int(q["offset"]), int(q["count"])
        page = posts[offset : offset + count]
        return httpx.Response(200, json={"response": {"count": len(posts), "items": page}})

    a = vk(adapters_region, client=mock_client(handler))
    cursor, got = None, []
    while True:
        result = a.fetch(cursor)
        got.extend(result.messages)
        cursor = result.cursor
        if not result.more:
            break
    assert len(seen) == 3 and len(got) == 7
    first = seen[0]
    assert (first.method, first.url.host, first.url.path) == (
        "GET",
        "api.vk.com",
        "/method/wall.get",
    )
    assert dict(first.url.params) == {
        "owner_id": str(OWNER),
        "offset": "0",
        "count": "3",
        "extended": "1",
        "access_token": "vk-token",
        "v": API_VERSION,
    }
    assert [r.url.params["offset"] for r in seen] == ["0", "3", "6"]
    # a new post appears on top: the next sweep reads one page and stops at known posts
    posts.insert(0, {**posts[0], "id": 11, "text": "новый пост", "date": 1624700000})
    result = a.fetch(cursor)
    assert [m.external_id for m in result.messages] == [f"wall{OWNER}_11"]
    assert not result.more and json.loads(result.cursor or "")["since"] == 11


def test_comments_of_posts_are_collected_with_threads(adapters_region: tsur.RegionConfig) -> None:
    comments = json.loads(payload("vk_wall_getComments.json"))["response"]
    comments["items"][1]["thread"]["count"] = 1  # a reply not included in thread.items
    post = {"id": 1, "owner_id": -221060815, "from_id": 1, "date": 1686389000, "text": "Пост"}
    post["comments"] = {"count": 4}
    calls: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append({"method": request.url.path.rsplit("/", 1)[1], **request.url.params})
        if request.url.path.endswith("wall.get"):
            return httpx.Response(200, json={"response": {"count": 1, "items": [post]}})
        if "comment_id" in request.url.params:
            item = {
                "id": 6,
                "from_id": 5,
                "date": 1686520000,
                "text": "ответ в ветке",
                "post_id": 1,
                "owner_id": -221060815,
                "parents_stack": [4],
            }
            return httpx.Response(200, json={"response": {"count": 1, "items": [item]}})
        return httpx.Response(200, json={"response": comments})

    a = vk(adapters_region, client=mock_client(handler), owner_id=-221060815, comments=True)
    cursor, got = None, []
    for _ in range(10):
        result = a.fetch(cursor)
        got.extend(result.messages)
        cursor = result.cursor
        if not result.more:
            break
    assert [c["method"] for c in calls] == ["wall.get", "wall.getComments", "wall.getComments"]
    assert calls[1]["post_id"] == "1" and calls[1]["thread_items_count"] == "10"
    assert calls[2]["comment_id"] == "4"
    assert [m.external_id for m in got] == [
        "wall-221060815_1",
        "wall-221060815_1_c2",
        "wall-221060815_1_c3",
        "wall-221060815_1_c4",
        "wall-221060815_1_c5",
        "wall-221060815_1_c6",
    ]
    assert got[-1].parent_id == "wall-221060815_1_c4"


def test_newsfeed_search_follows_next_from(adapters_region: tsur.RegionConfig) -> None:
    answers = [
        json.loads(payload("vk_newsfeed_search.SKELETON.json")),
        {"response": {"items": [], "count": 0, "total_count": 1}},
        {"response": {"items": [], "count": 0, "total_count": 0}},
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answers.pop(0))

    a = vk(adapters_region, client=mock_client(handler), owner_id=None, query="яма")
    first = a.fetch(None)
    assert first.more and [m.external_id for m in first.messages] == [f"wall{OWNER}_5"]
    second = a.fetch(first.cursor)
    assert not second.more
    a.fetch(second.cursor)
    assert seen[0].url.path == "/method/newsfeed.search"
    assert seen[0].url.params["q"] == "яма" and "start_from" not in seen[0].url.params
    assert seen[1].url.params["start_from"] == "OPAQUE_CURSOR_STRING"
    assert seen[2].url.params["start_time"] == str(1624542225 + 1)
    assert "start_from" not in seen[2].url.params


def test_too_many_requests_is_backed_off_and_retried(adapters_region: tsur.RegionConfig) -> None:
    t = FakeTime()
    answers = [payload("vk_error_6_too_many.json"), payload("vk_wall_get.json")]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answers.pop(0))

    a = vk(adapters_region, client=mock_client(handler), sleep=t.sleep, clock=t.clock)
    result = a.fetch(None)
    assert len(result.messages) == 7
    assert t.sleeps and t.sleeps[0] >= 1.0  # VK error 6: wait at least a second


def test_client_side_rate_limit(adapters_region: tsur.RegionConfig) -> None:
    t = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"response": {"count": 0, "items": []}})

    a = vk(
        adapters_region,
        client=mock_client(handler),
        sleep=t.sleep,
        clock=t.clock,
        requests_per_second=3,
    )
    for _ in range(7):
        a.fetch(None)
    assert t.sleeps == [1.0, 1.0]  # the 4th and the 7th call wait for the next second


def test_access_errors_are_not_retried(adapters_region: tsur.RegionConfig) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=payload("vk_error_5_auth.json"))

    with pytest.raises(VkError):
        vk(adapters_region, client=mock_client(handler)).fetch(None)
    assert calls == 1


# replies ---------------------------------------------------------------------------
def test_reply_is_wall_create_comment(adapters_region: tsur.RegionConfig) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"response": {"comment_id": 77, "parents_stack": []}})

    a = vk(adapters_region, client=mock_client(handler))
    text = "Добрый день! Заявка передана в администрацию, яму заделают до 20 ноября."
    got = a.reply(tsur.Reply(5, "vk-samara", text, "final", in_reply_to="wall-205427305_3_c12"))
    assert got == "wall-205427305_3_c77"
    [req] = seen
    assert (req.method, str(req.url)) == ("POST", "https://api.vk.com/method/wall.createComment")
    body = form(req)
    assert body.pop("guid").startswith("tsur-5-final-")
    assert body == {
        "owner_id": "-205427305",
        "post_id": "3",
        "from_group": "205427305",
        "message": text,
        "reply_to_comment": "12",
        "access_token": "vk-token",
        "v": API_VERSION,
    }
    a.reply(tsur.Reply(5, "vk-samara", text, "final", in_reply_to="wall-205427305_3"))
    assert "reply_to_comment" not in form(seen[1])
    with pytest.raises(tsur.AdapterError, match="cannot answer on VK without the id"):
        a.reply(tsur.Reply(5, "vk-samara", text, "final", in_reply_to="12345"))


def test_reply_to_photo_comments_and_messages(adapters_region: tsur.RegionConfig) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("messages.send"):
            return httpx.Response(200, json={"response": 901})
        return httpx.Response(200, json={"response": {"comment_id": 3}})

    a = vk(adapters_region, client=mock_client(handler))
    assert (
        a.reply(tsur.Reply(1, "vk-samara", "Ответ", "final", in_reply_to="photo-1_2_c1"))
        == "photo-1_2_c3"
    )
    assert seen[0].url.path == "/method/photos.createComment"
    assert form(seen[0])["photo_id"] == "2" and form(seen[0])["reply_to_comment"] == "1"
    assert a.reply(tsur.Reply(1, "vk-samara", "Ответ", "final", in_reply_to="msg42_7")) == (
        "msg42_m901"
    )
    sent = form(seen[1])
    assert sent["peer_id"] == "42" and sent["message"] == "Ответ" and int(sent["random_id"]) > 0
    assert json.loads(sent["forward"]) == {
        "peer_id": 42,
        "conversation_message_ids": [7],
        "is_reply": True,
    }


def test_async_fetch_and_reply(adapters_region: tsur.RegionConfig) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("wall.get"):
            return httpx.Response(200, content=payload("vk_wall_get.json"))
        return httpx.Response(200, json={"response": {"comment_id": 9}})

    async def run() -> tuple[int, str | None]:
        async with testing.mock_async_client(handler) as client:
            a = vk(adapters_region, async_client=client, page_size=100)
            result = await a.afetch(None)
            answer = await a.areply(
                tsur.Reply(1, "vk-samara", "Ответ", "final", in_reply_to="wall-205427305_10")
            )
            return len(result.messages), answer

    assert asyncio.run(run()) == (7, "wall-205427305_10_c9")


# Callback API through the webhook handler -------------------------------------------------
def test_callback_api_webhook(adapters_engine: tsur.Engine) -> None:
    key = "mnNEGlTSI9ohjqea"
    confirm = json.dumps({"type": "confirmation", "group_id": 205427305, "secret": key})
    r = receive_webhook(adapters_engine, "vk-samara", confirm.encode(), {})
    assert (r.status, r.body) == (200, "c0nf1rm")
    # the confirmation string is given to VK only: a request without the key gets nothing
    unsigned = json.dumps({"type": "confirmation", "group_id": 205427305}).encode()
    assert receive_webhook(adapters_engine, "vk-samara", unsigned, {}).status == 403
    wrong_key = json.dumps({"type": "confirmation", "group_id": 205427305, "secret": "x"})
    assert receive_webhook(adapters_engine, "vk-samara", wrong_key.encode(), {}).status == 403

    event = json.loads(payload("vk_callback_wall_post_new_text.json"))
    event["group_id"] = 205427305
    body = json.dumps(event).encode()
    first = receive_webhook(adapters_engine, "vk-samara", body, {})
    again = receive_webhook(adapters_engine, "vk-samara", body, {})  # VK re-delivers
    assert (first.status, first.body, again.body) == (200, "ok", "ok")
    assert first.report is not None and first.report.inserted == 1
    assert again.report is not None and again.report.duplicates == 1
    [stored] = adapters_engine.repository.messages()
    assert stored.message.external_id == "wall-154235901_696"

    wrong = dict(event, secret="guess")
    assert (
        receive_webhook(adapters_engine, "vk-samara", json.dumps(wrong).encode(), {}).status == 403
    )
    other = dict(event, group_id=1)
    assert (
        receive_webhook(adapters_engine, "vk-samara", json.dumps(other).encode(), {}).status == 403
    )

    # a body that cannot be verified is refused, not kept (it might be anyone's)
    broken = body[:-20]
    assert receive_webhook(adapters_engine, "vk-samara", broken, {}).status == 403
    assert adapters_engine.repository.rejected_inputs() == []
    # a verified event that cannot be read is kept, marked verified, and acknowledged
    # (VK suspends a server that answers errors in a row)
    unreadable = dict(event, object={"id": "not a number"})
    bad = receive_webhook(adapters_engine, "vk-samara", json.dumps(unreadable).encode(), {})
    assert (bad.status, bad.body) == (200, "ok")
    [kept] = adapters_engine.repository.rejected_inputs()
    assert kept.origin == "webhook:vk-samara" and kept.verified
    assert "object.id" in kept.reason


def test_collect_from_vk_stores_each_post_once(sqlite_engine: tsur.Engine) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        posts = json.loads(payload("vk_wall_get.json"))["response"]["items"]
        q = request.url.params
        offset, count = int(q["offset"]), int(q["count"])
        return httpx.Response(
            200, json={"response": {"count": 7, "items": posts[offset : offset + count]}}
        )

    report = collect(sqlite_engine, "vk-samara", client=mock_client(handler))
    assert (report.pages, report.fetched, report.inserted) == (3, 7, 7)
    stored = {sm.message.external_id: sm.message for sm in sqlite_engine.repository.messages()}
    assert stored[f"wall{OWNER}_10"].attachments[0].url == "https://sun9-5.us...CPMY&type=album"
    assert stored[f"wall{OWNER}_10"].created_at == datetime(2021, 6, 25, 14, 36, 23, tzinfo=UTC)


def test_event_with_impossible_values_is_kept(sqlite_engine: tsur.Engine) -> None:
    event = json.loads(payload("vk_callback_wall_post_new_text.json"))
    event["group_id"] = 205427305
    event["object"]["geo"] = {"type": "point", "coordinates": "95.1 37.6"}  # latitude > 90
    body = json.dumps(event).encode()
    result = receive_webhook(sqlite_engine, "vk-samara", body, {})
    assert (result.status, result.body) == (200, "ok")
    [kept] = sqlite_engine.repository.rejected_inputs()
    assert kept.raw == body.decode() and "lat" in kept.reason
