"""RSS 2.0 and Atom comment feeds: entries to messages, HTML to text, threading,
geotags, conditional GET, and unsafe or broken XML refused with a clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import tsur
from tests.test_adapters_common import build
from tsur.adapters.rss import FeedAdapter
from tsur.errors import PayloadError
from tsur.intake import collect
from tsur.testing import mock_client

MSK = timezone(timedelta(hours=3))

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:georss="http://www.georss.org/georss">
<channel>
  <title>Комментарии: Городские новости</title>
  <link>https://news.example/</link>
  <item>
    <title>Комментарий к записи «Ремонт дорог в 2026 году»</title>
    <link>https://news.example/remont-dorog/#comment-1842</link>
    <dc:creator><![CDATA[Мария]]></dc:creator>
    <pubDate>Mon, 16 Nov 2026 09:41:00 +0300</pubDate>
    <guid isPermaLink="false">https://news.example/?p=77#comment-1842</guid>
    <description><![CDATA[<p>А когда отремонтируют <b>ул.&nbsp;Мира</b>?</p>
      <p>Там яма на яме.</p>]]></description>
    <georss:point>53.5 49.42</georss:point>
    <enclosure url="https://news.example/up/yama.jpg" type="image/jpeg" length="1000"/>
  </item>
  <item>
    <title>Комментарий к записи «Отопление»</title>
    <link>https://news.example/otoplenie/#comment-1801</link>
    <pubDate>Sun, 15 Nov 2026 20:00:00 +0300</pubDate>
    <guid>https://news.example/?p=70#comment-1801</guid>
    <description>В доме 5 холодные батареи</description>
  </item>
</channel>
</rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0">
  <title>Обсуждения</title>
  <id>urn:uuid:feed</id>
  <updated>2026-11-16T10:00:00Z</updated>
  <entry>
    <id>tag:city.example,2026:comment-9</id>
    <title type="text">Re: Вывоз мусора</title>
    <link rel="alternate" href="https://city.example/t/5#c9"/>
    <published>2026-11-16T10:00:00Z</published>
    <author><name>Сергей</name></author>
    <thr:in-reply-to ref="tag:city.example,2026:topic-5"/>
    <content type="html">&lt;p&gt;Контейнеры не вывозят третий день&lt;/p&gt;</content>
  </entry>
</feed>"""

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests


def feed(region: tsur.RegionConfig, **kw: Any) -> FeedAdapter:
    return build(FeedAdapter, region, "news", **kw)  # type: ignore[no-any-return]


def test_rss_comment_feed(adapters_region: tsur.RegionConfig) -> None:
    first, second = feed(adapters_region).parse(RSS)
    assert first.source == "news"
    assert first.external_id == "https://news.example/?p=77#comment-1842"
    assert first.text == (
        "Комментарий к записи «Ремонт дорог в 2026 году»\n\n"
        "А когда отремонтируют ул. Мира?\n\nТам яма на яме."
    )
    assert first.created_at == datetime(2026, 11, 16, 9, 41, tzinfo=MSK)
    assert first.author == tsur.Author(None, "Мария")
    assert first.url == "https://news.example/remont-dorog/#comment-1842"
    assert first.geo == tsur.GeoPoint(53.5, 49.42)
    assert first.attachments == (
        tsur.Attachment("photo", "https://news.example/up/yama.jpg", None, "image/jpeg"),
    )
    assert second.author is None and second.text.endswith("В доме 5 холодные батареи")


def test_atom_with_threading(adapters_region: tsur.RegionConfig) -> None:
    [entry] = feed(adapters_region).parse(ATOM.encode())
    assert entry.external_id == "tag:city.example,2026:comment-9"
    assert entry.text == "Re: Вывоз мусора\n\nКонтейнеры не вывозят третий день"
    assert entry.created_at == datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    assert entry.parent_id == entry.thread_id == "tag:city.example,2026:topic-5"
    assert entry.url == "https://city.example/t/5#c9"
    assert entry.author == tsur.Author(None, "Сергей")


def test_unsafe_and_broken_feeds_are_refused(adapters_region: tsur.RegionConfig) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><rss><channel><item><title>&lol2;</title>'
        "</item></channel></rss>"
    )
    a = feed(adapters_region)
    with pytest.raises(PayloadError, match="feed refused: EntitiesForbidden"):
        a.parse(bomb)
    with pytest.raises(PayloadError, match="not a well-formed XML feed"):
        a.parse(RSS[:400])
    with pytest.raises(PayloadError, match=r"not an RSS or Atom feed \(root element <html>\)"):
        a.parse("<html><body>502</body></html>")
    with pytest.raises(PayloadError, match=r"entry 0: .* has no readable date"):
        a.parse(RSS.replace("Mon, 16 Nov 2026 09:41:00 +0300", "вчера"))


def test_fetch_is_conditional_and_skips_old_entries(sqlite_engine: tsur.Engine) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("If-None-Match") == '"v2"':
            return httpx.Response(304)
        if request.headers.get("If-None-Match") == '"v1"':
            newer = RSS.replace("#comment-1801", "#comment-1900").replace(
                "Sun, 15 Nov 2026 20:00:00", "Mon, 16 Nov 2026 12:00:00"
            )
            return httpx.Response(200, text=newer, headers={"ETag": '"v2"'})
        return httpx.Response(
            200,
            text=RSS,
            headers={"ETag": '"v1"', "Last-Modified": "Mon, 16 Nov 2026 09:45:00 GMT"},
        )

    first = collect(sqlite_engine, "news", client=mock_client(handler))
    assert first.inserted == 2
    cursor = json.loads(sqlite_engine.repository.get_cursor("news") or "")
    assert cursor == {
        "etag": '"v1"',
        "modified": "Mon, 16 Nov 2026 09:45:00 GMT",
        "since": "2026-11-16T09:41:00+03:00",
    }
    second = collect(sqlite_engine, "news", client=mock_client(handler))
    # the entry older than the cursor is not fetched again; the re-read newest one is known
    assert (second.fetched, second.inserted, second.duplicates) == (2, 1, 1)
    assert seen[1].headers["If-Modified-Since"] == "Mon, 16 Nov 2026 09:45:00 GMT"
    third = collect(sqlite_engine, "news", client=mock_client(handler))
    assert (third.fetched, third.inserted) == (0, 0)
    assert feed(sqlite_engine.config).reply(tsur.Reply(1, "news", "x", "final")) is None
