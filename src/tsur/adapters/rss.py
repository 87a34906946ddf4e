"""RSS 2.0 and Atom feeds: city news comments and other public feeds (kind ``rss``).

Feeds are parsed with the standard library's ElementTree through
``defusedxml``, which refuses entity expansion and external references
(feeds come from the open internet). Entries become messages: the id is
the entry's ``guid``/``id`` (else its link), the text the title and the
body with HTML turned into plain text, the time ``pubDate``/``published``.
Atom threading (RFC 4685 ``thr:in-reply-to``) gives ``parent_id``;
``georss:point`` and ``geo:lat``/``geo:long`` give the geotag.

Fetching sends ``If-None-Match``/``If-Modified-Since`` from the cursor, so an
unchanged feed costs a 304; the cursor also keeps the newest entry time and
older entries are skipped. Feeds take no answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import (  # type: ignore[import-untyped]  # stubs (types-defusedxml) not installed
    DefusedXmlException,
)
from defusedxml import ElementTree as SafeET
from pydantic import Field

from tsur.domain import Attachment, Author, FetchResult, GeoPoint, Message, Reply
from tsur.errors import AdapterError, PayloadError, raw_text
from tsur.wire import check_instant

from ._base import AdapterOptions, HttpAdapter
from ._http import ApiRequest, http_error
from ._payload import FetchBatch, RejectedItem, refusing
from ._text import html_to_text, tidy

__all__ = ["FeedAdapter", "FeedOptions", "parse_feed"]

log = logging.getLogger("tsur.adapters")

ATOM = "{http://www.w3.org/2005/Atom}"
NS = {
    "dc": "{http://purl.org/dc/elements/1.1/}",
    "content": "{http://purl.org/rss/1.0/modules/content/}",
    "georss": "{http://www.georss.org/georss}",
    "geo": "{http://www.w3.org/2003/01/geo/wgs84_pos#}",
    "thr": "{http://purl.org/syndication/thread/1.0}",
    "media": "{http://search.yahoo.com/mrss/}",
}


class FeedOptions(AdapterOptions):
    """Options of an ``rss`` source (``[[sources]] options``)."""

    url: str | None = Field(None, description="the feed's URL")
    include_title: bool = Field(True, description="put the entry title before its text")
    timeout: float = Field(20.0, gt=0, description="seconds per request")


def _t(el: Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _body(el: Element | None) -> str:
    if el is None:
        return ""
    kind = (el.get("type") or "").lower()
    if kind == "xhtml":
        inner = "".join(SafeET.tostring(child, encoding="unicode") for child in el)
        return html_to_text(inner)
    text = el.text or ""
    if kind in {"html", "text/html"} or "<" in text:
        return html_to_text(text)
    return tidy(text)


def parse_feed(data: bytes | str, *, source: str | None = None) -> list[dict[str, Any]]:
    """Entries of an RSS 2.0, RSS 1.0 or Atom document as plain dictionaries."""
    try:
        root = SafeET.fromstring(data.encode("utf-8") if isinstance(data, str) else data)
    except DefusedXmlException as exc:
        raise PayloadError(
            f"feed refused: {type(exc).__name__} (entities and external references are not "
            "allowed)",
            source=source,
            raw=data,
        ) from exc
    except ParseError as exc:
        raise PayloadError(f"not a well-formed XML feed: {exc}", source=source, raw=data) from exc
    except (LookupError, ValueError) as exc:  # an encoding Python does not know, …
        raise PayloadError(f"unreadable XML feed: {exc}", source=source, raw=data) from exc
    if root.tag == f"{ATOM}feed":
        return [_entry(_atom, e) for e in root.iter(f"{ATOM}entry")]
    items = [el for el in root.iter() if el.tag == "item" or el.tag.endswith("}item")]
    if root.tag not in {"rss"} and not root.tag.endswith("RDF"):
        raise PayloadError(
            f"not an RSS or Atom feed (root element <{root.tag}>)", source=source, raw=data
        )
    return [_entry(_rss, i) for i in items]


def _entry(read: Any, el: Element) -> dict[str, Any]:
    """One entry's fields; one that cannot be read is ``{"error": reason}`` (refused alone)."""
    try:
        entry: dict[str, Any] = read(el)
    except RecursionError:
        return {"error": "its content is nested too deeply to read"}
    except (ValueError, TypeError, ArithmeticError) as exc:
        return {"error": f"unreadable entry: {exc}"}
    return entry


def _geo(el: Element) -> tuple[float, float] | None:
    point = _t(el.find(f"{NS['georss']}point"))
    if point:
        lat, _, lon = point.replace(",", " ").partition(" ")
        return float(lat), float(lon.strip())
    lat_s, lon_s = _t(el.find(f"{NS['geo']}lat")), _t(el.find(f"{NS['geo']}long"))
    if lat_s and lon_s:
        return float(lat_s), float(lon_s)
    return None


def _rss(item: Element) -> dict[str, Any]:
    def child(name: str) -> Element | None:
        found = item.find(name)
        if found is None:
            found = next((c for c in item if c.tag.endswith("}" + name)), None)
        return found

    body = item.find(f"{NS['content']}encoded")
    enclosures = [
        (e.get("url"), e.get("type")) for e in item.findall("enclosure") if e.get("url")
    ] + [(m.get("url"), m.get("type")) for m in item.findall(f"{NS['media']}content")]
    return {
        "id": _t(child("guid")) or _t(child("link")),
        "title": tidy(_t(child("title"))),
        "body": _body(body if body is not None else child("description")),
        "date": _t(child("pubDate")) or _t(item.find(f"{NS['dc']}date")),
        "author": _t(item.find(f"{NS['dc']}creator")) or _t(child("author")),
        "link": _t(child("link")),
        "parent": None,
        "geo": _geo(item),
        "enclosures": enclosures,
    }


def _atom(entry: Element) -> dict[str, Any]:
    links = entry.findall(f"{ATOM}link")
    link = next((x.get("href") for x in links if x.get("rel", "alternate") == "alternate"), None)
    enclosures = [(x.get("href"), x.get("type")) for x in links if x.get("rel") == "enclosure"]
    reply_to = entry.find(f"{NS['thr']}in-reply-to")
    content = entry.find(f"{ATOM}content")
    return {
        "id": _t(entry.find(f"{ATOM}id")) or (link or ""),
        "title": tidy(_t(entry.find(f"{ATOM}title"))),
        "body": _body(content if content is not None else entry.find(f"{ATOM}summary")),
        "date": _t(entry.find(f"{ATOM}published")) or _t(entry.find(f"{ATOM}updated")),
        "author": _t(entry.find(f"{ATOM}author/{ATOM}name")),
        "link": link or "",
        "parent": reply_to.get("ref") if reply_to is not None else None,
        "geo": _geo(entry),
        "enclosures": enclosures,
    }


class FeedAdapter(HttpAdapter):
    """Reads RSS/Atom feeds (source kind ``rss``)."""

    kind: ClassVar[str] = "rss"
    options_model: ClassVar[type[AdapterOptions]] = FeedOptions
    opts: FeedOptions

    def decode(self, response: httpx.Response, request: ApiRequest) -> Any:
        if response.status_code == 304:
            return response
        if response.status_code >= 300:
            raise http_error(response, request, source=self.source.id)
        return response

    def _message(self, e: Mapping[str, Any]) -> Message:
        if "error" in e:
            raise ValueError(e["error"])
        created = _date(e["date"])
        if created is None:
            raise ValueError(f"entry {e['id'] or e['title']!r} has no readable date {e['date']!r}")
        if created.utcoffset() is None:
            created = created.replace(tzinfo=self.tz)
        created = check_instant(created, what="the entry's date")
        title, body = e["title"], e["body"]
        text = body
        if self.opts.include_title and title and title not in body:
            text = f"{title}\n\n{body}".strip()
        ext = e["id"] or hashlib.sha1(f"{title}|{e['date']}".encode()).hexdigest()[:20]
        attachments = [
            Attachment("photo" if (t or "").startswith("image/") else "file", url, None, t)
            for url, t in e["enclosures"]
        ]
        return Message(
            source=self.source.id,
            external_id=ext,
            text=text,
            created_at=created,
            author=Author(None, e["author"]) if e["author"] else None,
            attachments=attachments,
            geo=GeoPoint(*e["geo"]) if e["geo"] else None,
            thread_id=e["parent"],
            parent_id=e["parent"],
            url=e["link"] or None,
            meta={"feed_title": title} if title else {},
        )

    @refusing("feed")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages of a feed document; an entry without a readable date raises."""
        if isinstance(payload, Mapping):
            raise PayloadError("a feed is XML, not an object", source=self.source.id)
        out = []
        for i, e in enumerate(parse_feed(payload, source=self.source.id)):
            try:
                out.append(self._message(e))
            except ValueError as exc:
                raise PayloadError(f"entry {i}: {exc}", source=self.source.id) from exc
        return out

    def fetch(self, cursor: str | None) -> FetchResult:
        """The feed's entries newer than the cursor's; a 304 brings nothing."""
        if not self.opts.url:
            raise AdapterError("an rss source needs options.url", source=self.source.id)
        try:
            st: dict[str, Any] = json.loads(cursor) if cursor else {}
            since = datetime.fromisoformat(st["since"]) if st.get("since") else None
        except (ValueError, TypeError, AttributeError) as exc:
            raise AdapterError(f"unreadable feed cursor {cursor!r}", source=self.source.id) from exc
        headers = {}
        if st.get("etag"):
            headers["If-None-Match"] = st["etag"]
        if st.get("modified"):
            headers["If-Modified-Since"] = st["modified"]
        req = ApiRequest("GET", self.opts.url, what="feed", headers=headers)
        response: httpx.Response = self.channel.send(req)
        if response.status_code == 304:
            return FetchResult([], cursor, False)
        messages: list[Message] = []
        rejected: list[RejectedItem] = []
        for e in parse_feed(response.content, source=self.source.id):
            try:
                m = self._message(e)
            except (ValueError, TypeError, ArithmeticError) as exc:
                rejected.append(RejectedItem(raw_text(e), f"feed entry: {exc}"))
                continue
            if since is None or m.created_at >= since:
                messages.append(m)
        newest = max([m.created_at for m in messages], default=since)
        new_state = {
            "etag": response.headers.get("ETag"),
            "modified": response.headers.get("Last-Modified"),
            "since": newest.isoformat() if newest else None,
        }
        return FetchBatch(messages, json.dumps(new_state), False, tuple(rejected))

    def reply(self, reply: Reply) -> str | None:
        """Feeds are read-only: None."""
        log.info("%s: a feed takes no answers", self.source.id)
        return None
