"""VK (ВКонтакте): community walls, comments, search, Callback API, replies.

Collecting (``fetch``), by ``mode``:

``wall``
    ``wall.get`` of ``owner_id`` with offset pagination to the end of what is
    new; with ``comments = true`` also ``wall.getComments`` (with threads) of
    the posts seen in the sweep and of the newest page of posts.
``newsfeed``
    ``newsfeed.search`` for ``query``, following ``next_from`` → ``start_from``
    and then asking only for posts newer than the last one seen.
``callback``
    nothing to poll: events arrive through the Callback API (webhook).

Each ``fetch`` makes one API call and says ``more`` while the sweep goes on.
Answers are ``wall.createComment`` under the citizen's post or comment
(``photos.createComment`` for photo comments, ``messages.send`` for
community messages). VK reports errors as HTTP 200 with an ``error`` object;
codes 6, 9 and 29 become :class:`~tsur.errors.RateLimited`, the others a
:class:`VkError` with the VK code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, model_validator

from tsur.domain import Attachment, Author, FetchResult, GeoPoint, Message, Reply
from tsur.errors import AdapterError, PayloadError, RateLimited, VkError, WebhookAuthError
from tsur.security import secrets_match

from ._base import AdapterOptions, HttpAdapter, secret
from ._http import ApiRequest, RateLimit, RateLimiter, http_error
from ._payload import (
    FetchBatch,
    RejectedItem,
    convert_items,
    from_unix,
    load_json,
    refusing,
    validate,
)
from ._vk_wire import (
    VkAttachment,
    VkComment,
    VkEvent,
    VkGeo,
    VkItems,
    VkMessage,
    VkPost,
    comment_ref,
    parse_ref,
    post_ref,
)
from ._webhooks import WebhookPayload, require_json, webhook_secret

__all__ = ["API_VERSION", "VkAdapter", "VkError", "VkOptions"]

#: The VK API version tsur speaks (sent as ``v``).
API_VERSION = "5.199"

#: VK error codes that ask to slow down, with the pause to take (seconds).
RATE_LIMIT_CODES = {6: 1.0, 9: 10.0, 29: 3600.0}
RETRYABLE_CODES = frozenset({1, 10})
_HINTS = {
    5: "check options.access_token",
    14: "VK wants a captcha for this token: lower requests_per_second or use a community token",
    15: "the token has no access to this object",
    203: "the token has no access to this community",
    212: "commenting this post is not allowed for the token",
}


def vk_error(error: Any, *, source: str | None, what: str) -> AdapterError:
    """The tsur error for VK's ``error`` object."""
    if not isinstance(error, Mapping) or not isinstance(error.get("error_code"), int):
        return PayloadError(f"{what}: unreadable VK error object: {error!r}", source=source)
    code = int(error["error_code"])
    text = str(error.get("error_msg") or "no message")
    msg = f"{what}: VK error {code}: {text}"
    if code in RATE_LIMIT_CODES:
        return RateLimited(msg, source=source, retry_after=RATE_LIMIT_CODES[code])
    if code == 14 and error.get("captcha_sid"):
        msg += f" (captcha_sid {error['captcha_sid']})"
    if code in _HINTS:
        msg += f" — {_HINTS[code]}"
    return VkError(msg, code=code, source=source, retryable=code in RETRYABLE_CODES)


class VkOptions(AdapterOptions):
    """Options of a ``vk`` source (``[[sources]] options``)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("access_token",)

    access_token: SecretStr | None = Field(None, description="user or community access token")
    mode: Literal["wall", "newsfeed", "callback"] | None = Field(
        None, description="wall (owner_id given), newsfeed (query given) or callback"
    )
    owner_id: int | None = Field(None, description="wall to read; negative for a community")
    group_id: int | None = Field(
        None, gt=0, description="the community answering (Callback API, from_group)"
    )
    query: str | None = Field(None, description="newsfeed.search query")
    comments: bool = Field(False, description="wall mode: also collect comments")
    comments_recent: int = Field(
        20, ge=0, le=100, description="wall mode: newest posts whose comments every sweep re-reads"
    )
    page_size: int = Field(100, ge=1, le=100, description="items per call")
    confirmation: str | None = Field(None, description="Callback API confirmation string")
    secret: SecretStr | None = Field(
        None, description="Callback API secret key (better: secret_env)"
    )
    secret_env: str | None = Field(
        None, description="environment variable holding the Callback API secret key"
    )
    insecure: bool = Field(
        False, description="local testing only: take Callback API events without a secret"
    )
    requests_per_second: float = Field(
        3.0, gt=0, le=20, description="3 for a user token, up to 20 for a community token"
    )
    api_version: str = Field(API_VERSION, description="VK API version")
    base_url: str = Field("https://api.vk.com/method/", description="API endpoint")
    timeout: float = Field(20.0, gt=0, description="seconds per request")
    skip_own: bool = Field(True, description="skip comments written by group_id itself")

    @model_validator(mode="after")
    def _mode(self) -> VkOptions:
        mode = self.mode
        if mode is None:
            mode = "wall" if self.owner_id else "newsfeed" if self.query else "callback"
            object.__setattr__(self, "mode", mode)
        if mode == "wall" and not self.owner_id:
            raise ValueError("mode 'wall' needs owner_id (negative for a community)")
        if mode == "newsfeed" and not self.query:
            raise ValueError("mode 'newsfeed' needs query")
        if mode == "callback" and not (self.secret or self.secret_env or self.insecure):
            raise ValueError(
                "mode 'callback' takes pushed events: set secret_env (the environment "
                "variable holding the Callback API secret key), or insecure = true for "
                "local testing"
            )
        return self


class VkAdapter(HttpAdapter):
    """Collects VK posts and comments and answers under them (source kind ``vk``)."""

    kind: ClassVar[str] = "vk"
    options_model: ClassVar[type[AdapterOptions]] = VkOptions
    #: a verified event tsur cannot read is kept and acknowledged: VK suspends a server
    #: that answers errors in a row, and the events after it would be lost
    unreadable_answer: ClassVar[tuple[int, str]] = (200, "ok")
    opts: VkOptions

    def _default_limiter(self) -> RateLimiter:
        rate = self.opts.requests_per_second
        count, per = (int(rate), 1.0) if rate >= 1 else (1, 1.0 / rate)
        return self._limiter({"*": [RateLimit(count, per)]})

    # requests ---------------------------------------------------------------
    def _call(self, method: str, params: Mapping[str, Any], *, post: bool = False) -> ApiRequest:
        token = secret(self.opts.access_token)
        if token is None:
            raise AdapterError("options.access_token is needed to call VK", source=self.source.id)
        full = {**params, "access_token": token, "v": self.opts.api_version}
        url = self.opts.base_url.rstrip("/") + "/" + method
        if post:
            return ApiRequest("POST", url, what=method, data=full)
        return ApiRequest("GET", url, what=method, params=full)

    def decode(self, response: httpx.Response, request: ApiRequest) -> Any:
        if response.status_code >= 500 or response.status_code == 429:
            raise http_error(response, request, source=self.source.id)
        data = load_json(response.content, source=self.source.id, what=request.label)
        if not isinstance(data, Mapping):
            raise PayloadError(
                f"{request.label}: expected a JSON object", source=self.source.id, raw=data
            )
        if "error" in data:
            raise vk_error(data["error"], source=self.source.id, what=request.label)
        if response.status_code >= 400:
            raise http_error(response, request, source=self.source.id)
        if "response" not in data:
            raise PayloadError(
                f"{request.label}: neither 'response' nor 'error' in the answer",
                source=self.source.id,
                raw=data,
            )
        return data["response"]

    # fetch ------------------------------------------------------------------
    def fetch(self, cursor: str | None) -> FetchResult:
        """One API call of the current sweep; ``more`` while the sweep goes on."""
        state = self._state(cursor)
        req = self._plan(state)
        if req is None:
            return FetchResult([], cursor, False)
        return self._interpret(state, self.channel.send(req))

    async def afetch(self, cursor: str | None) -> FetchResult:
        """:meth:`fetch` through the injected ``async_client``."""
        state = self._state(cursor)
        req = self._plan(state)
        if req is None:
            return FetchResult([], cursor, False)
        return self._interpret(state, await self.channel.asend(req))

    def _state(self, cursor: str | None) -> dict[str, Any]:
        if not cursor:
            return {"since": 0, "top": 0, "offset": None, "queue": [], "next_from": None}
        try:
            state = json.loads(cursor)
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise AdapterError(
                f"unreadable VK cursor {cursor!r}: {exc}", source=self.source.id
            ) from exc
        return state

    def _plan(self, st: dict[str, Any]) -> ApiRequest | None:
        o = self.opts
        if o.mode == "callback":
            return None
        if o.mode == "newsfeed":
            params: dict[str, Any] = {"q": o.query, "count": o.page_size, "extended": 1}
            if st.get("next_from"):
                params["start_from"] = st["next_from"]
            if st.get("since"):
                params["start_time"] = int(st["since"]) + 1
            return self._call("newsfeed.search", params)
        if st.get("offset") is None and st.get("queue"):
            post_id, comment_id, offset = st["queue"][0]
            params = {
                "owner_id": o.owner_id,
                "post_id": post_id,
                "offset": offset,
                "count": o.page_size,
                "sort": "asc",
                "extended": 1,
                "thread_items_count": 10,
            }
            if comment_id:
                params["comment_id"] = comment_id
            return self._call("wall.getComments", params)
        offset = st.get("offset") or 0
        return self._call(
            "wall.get",
            {"owner_id": o.owner_id, "offset": offset, "count": o.page_size, "extended": 1},
        )

    def _interpret(self, st: dict[str, Any], response: Any) -> FetchResult:
        page = validate(VkItems, response, source=self.source.id, what="VK response")
        names = page.names()
        if self.opts.mode == "newsfeed":
            msgs, bad = convert_items(
                page.items, lambda i: [self._post(self._valid_post(i), names)], what="items"
            )
            dates = [m.created_at.timestamp() for m in msgs]
            st["top"] = int(max([int(st.get("top") or 0), *dates]))
            st["next_from"] = page.next_from or None
            if not page.next_from:
                st["since"] = st["top"]
            return self._result(st, msgs, bad, more=bool(page.next_from))
        if st.get("offset") is None and st.get("queue"):
            return self._comments_page(st, page, names)
        return self._wall_page(st, page, names)

    def _wall_page(self, st: dict[str, Any], page: VkItems, names: dict[int, str]) -> FetchResult:
        since, offset = int(st.get("since") or 0), int(st.get("offset") or 0)
        msgs: list[Message] = []
        bad: list[RejectedItem] = []
        reached_old = False
        queue: list[list[int]] = list(st.get("queue") or [])
        for i, raw in enumerate(page.items):
            try:
                post = validate(VkPost, raw, source=self.source.id, what=f"items[{i}]")
            except PayloadError as exc:
                bad.append(RejectedItem(exc.raw, str(exc)))
                continue
            if post.id <= since and not post.is_pinned:
                reached_old = True
            if post.id > since:
                m, b = convert_items([post], lambda p: [self._post(p, names)], what="items")
                msgs.extend(m)
                bad.extend(b)
                st["top"] = max(int(st.get("top") or 0), post.id)
            wanted = post.id > since or offset + i < self.opts.comments_recent
            has_comments = post.comments is not None and post.comments.count > 0
            if self.opts.comments and wanted and has_comments:
                queue.append([post.id, 0, 0])
        end = offset + len(page.items)
        done = reached_old or not page.items or (page.count is not None and end >= page.count)
        st["queue"] = queue
        if done:
            st["offset"] = None
            st["since"] = max(since, int(st.get("top") or 0))
        else:
            st["offset"] = end
        return self._result(st, msgs, bad, more=not done or bool(queue))

    def _comments_page(
        self, st: dict[str, Any], page: VkItems, names: dict[int, str]
    ) -> FetchResult:
        queue: list[list[int]] = [list(x) for x in st["queue"]]
        post_id, comment_id, offset = queue[0]
        owner = int(self.opts.owner_id or 0)
        msgs: list[Message] = []
        bad: list[RejectedItem] = []
        for i, raw in enumerate(page.items):
            try:
                c = validate(VkComment, raw, source=self.source.id, what=f"items[{i}]")
            except PayloadError as exc:
                bad.append(RejectedItem(exc.raw, str(exc)))
                continue
            for item in (c, *(c.thread.items if c.thread else ())):
                m, b = convert_items(
                    [item], lambda x: self._comment(x, owner, post_id, names), what="items"
                )
                msgs.extend(m)
                bad.extend(b)
            if c.thread is not None and c.thread.count > len(c.thread.items) and not comment_id:
                queue.append([post_id, c.id, 0])
        level = page.current_level_count if not comment_id else page.count
        end = offset + len(page.items)
        if not page.items or level is None or end >= level:
            queue.pop(0)
        else:
            queue[0] = [post_id, comment_id, end]
        st["queue"] = queue
        return self._result(st, msgs, bad, more=bool(queue))

    def _valid_post(self, raw: Any) -> VkPost:
        return validate(VkPost, raw, source=self.source.id, what="post")

    def _result(
        self, st: dict[str, Any], msgs: list[Message], bad: list[RejectedItem], *, more: bool
    ) -> FetchResult:
        cursor = json.dumps(st, sort_keys=True, separators=(",", ":"))
        return FetchBatch(msgs, cursor, more, tuple(_as_response(b) for b in bad))

    # parse ------------------------------------------------------------------
    @refusing("VK payload")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages in an API response (wall.get, wall.getComments, newsfeed.search),
        a Callback API event or a Bots Long Poll answer; an ``error`` answer raises."""
        data = load_json(payload, source=self.source.id, what="VK payload")
        if isinstance(data, list):
            return [m for item in data for m in self._event(item)]
        if not isinstance(data, Mapping):
            raise PayloadError(
                "VK payload: expected a JSON object", source=self.source.id, raw=data
            )
        if "error" in data:
            raise vk_error(data["error"], source=self.source.id, what="VK payload")
        if "response" in data:
            return self._response(data["response"])
        if "updates" in data:
            updates = data["updates"]
            if not isinstance(updates, list):
                raise PayloadError("long poll: 'updates' is not a list", source=self.source.id)
            return [m for u in updates for m in self._event(u)]
        if "type" in data:
            return self._event(data)
        raise PayloadError(
            "VK payload: not an API response, a Callback API event or a long poll answer "
            f"(keys: {', '.join(sorted(map(str, data))[:8])})",
            source=self.source.id,
            raw=data,
        )

    def _response(self, response: Any) -> list[Message]:
        page = validate(VkItems, response, source=self.source.id, what="VK response")
        names = page.names()
        out: list[Message] = []
        for i, raw in enumerate(page.items):
            is_comment = isinstance(raw, Mapping) and "post_id" in raw and "post_type" not in raw
            if is_comment:
                c = validate(VkComment, raw, source=self.source.id, what=f"items[{i}]")
                owner = c.owner_id or c.post_owner_id
                if not owner or not c.post_id:
                    raise PayloadError(
                        f"items[{i}]: a comment needs owner_id and post_id",
                        source=self.source.id,
                        raw=raw,
                    )
                for item in (c, *(c.thread.items if c.thread else ())):
                    out.extend(self._comment(item, owner, c.post_id, names))
            else:
                post = validate(VkPost, raw, source=self.source.id, what=f"items[{i}]")
                out.append(self._post(post, names))
        return out

    def _event(self, raw: Any) -> list[Message]:
        ev = validate(VkEvent, raw, source=self.source.id, what="VK event")
        meta = {"vk_event": ev.type, "vk_event_id": ev.event_id} if ev.event_id else {}
        obj = ev.object
        if ev.type in {"wall_post_new", "wall_repost"}:
            post = validate(VkPost, obj, source=self.source.id, what=ev.type, at="object")
            return [self._post(post, {}, meta)]
        if ev.type == "wall_reply_new":
            c = validate(VkComment, obj, source=self.source.id, what=ev.type, at="object")
            owner = c.post_owner_id if c.post_owner_id is not None else c.owner_id
            if owner is None or c.post_id is None:
                raise PayloadError(
                    "wall_reply_new: object needs post_id and owner_id (or post_owner_id)",
                    source=self.source.id,
                    raw=raw,
                )
            return self._comment(c, owner, c.post_id, {}, meta)
        if ev.type == "photo_comment_new":
            c = validate(VkComment, obj, source=self.source.id, what=ev.type, at="object")
            if c.photo_id is None or c.photo_owner_id is None:
                raise PayloadError(
                    "photo_comment_new: object needs photo_id and photo_owner_id",
                    source=self.source.id,
                    raw=raw,
                )
            return self._comment(c, c.photo_owner_id, c.photo_id, {}, meta, kind="photo")
        if ev.type == "message_new":
            body = obj.get("message", obj) if isinstance(obj, Mapping) else obj
            m = validate(VkMessage, body, source=self.source.id, what=ev.type, at="object")
            return [self._message(m, ev.group_id or self.opts.group_id, meta)]
        return []

    # messages ---------------------------------------------------------------
    def _author(self, author_id: int | None, names: Mapping[int, str]) -> Author | None:
        if author_id is None:
            return None
        return Author(id=str(author_id), name=names.get(author_id))

    def _attachments(self, items: Iterable[VkAttachment]) -> list[Attachment]:
        out = []
        for a in items:
            if a.type == "photo" and a.photo is not None:
                out.append(Attachment("photo", a.photo.largest_url(), None, "image/jpeg"))
            elif a.type == "link" and a.link is not None:
                out.append(Attachment("link", a.link.url, a.link.title))
            elif a.type == "video" and a.video is not None:
                url = f"https://vk.com/video{a.video.owner_id}_{a.video.id}"
                out.append(Attachment("video", url, a.video.title))
            elif a.type == "doc" and a.doc is not None:
                out.append(Attachment("document", a.doc.url, a.doc.title))
            elif a.type == "poll" and a.poll is not None:
                url = f"https://vk.com/poll{a.poll.owner_id}_{a.poll.id}"
                out.append(Attachment("poll", url, a.poll.question))
            else:
                out.append(Attachment(a.type))
        return out

    def _geo(self, geo: VkGeo | None) -> tuple[GeoPoint | None, str | None]:
        if geo is None:
            return None, None
        point = geo.point()
        return (GeoPoint(*point) if point else None), geo.address()

    def _post(
        self, p: VkPost, names: Mapping[int, str], meta: Mapping[str, Any] | None = None
    ) -> Message:
        text = p.text
        attachments = self._attachments(p.attachments)
        for copy in p.copy_history[:1]:  # a repost: the reposted text is the content
            text = f"{text}\n\n{copy.text}".strip() if copy.text else text
            attachments.extend(self._attachments(copy.attachments))
        geo, address = self._geo(p.geo)
        info: dict[str, Any] = {"vk_post_type": p.post_type, **(meta or {})}
        if p.edited:
            info["vk_edited"] = p.edited
        return Message(
            source=self.source.id,
            external_id=post_ref(p.owner_id, p.id),
            text=text,
            created_at=from_unix(p.date, self.tz),
            author=self._author(p.signer_id or p.from_id or p.owner_id, names),
            attachments=attachments,
            geo=geo,
            address=address,
            url=f"https://vk.com/wall{p.owner_id}_{p.id}",
            meta=info,
        )

    def _comment(
        self,
        c: VkComment,
        owner_id: int,
        post_id: int,
        names: Mapping[int, str],
        meta: Mapping[str, Any] | None = None,
        *,
        kind: str = "wall",
    ) -> list[Message]:
        if c.deleted:
            return []
        own = self.opts.group_id is not None and c.from_id == -self.opts.group_id
        if own and self.opts.skip_own:
            return []
        parent = c.parent
        thread = f"{kind}{owner_id}_{post_id}"
        if kind == "photo":
            url = f"https://vk.com/photo{owner_id}_{post_id}"
        else:
            url = f"https://vk.com/wall{owner_id}_{post_id}?reply={c.id}"
            if parent:
                url += f"&thread={c.parents_stack[0] if c.parents_stack else parent}"
        return [
            Message(
                source=self.source.id,
                external_id=comment_ref(owner_id, post_id, c.id, kind=kind),
                text=c.text,
                created_at=from_unix(c.date, self.tz),
                author=self._author(c.from_id, names),
                attachments=self._attachments(c.attachments),
                thread_id=thread,
                parent_id=comment_ref(owner_id, post_id, parent, kind=kind) if parent else None,
                url=url,
                meta=dict(meta or {}),
            )
        ]

    def _message(self, m: VkMessage, group_id: int | None, meta: Mapping[str, Any]) -> Message:
        geo, address = self._geo(m.geo)
        number = m.conversation_message_id or m.id
        return Message(
            source=self.source.id,
            external_id=f"msg{m.peer_id}_{number}",
            text=m.text,
            created_at=from_unix(m.date, self.tz),
            author=self._author(m.from_id, {}),
            attachments=self._attachments(m.attachments),
            geo=geo,
            address=address,
            url=f"https://vk.com/gim{group_id}?sel={m.peer_id}" if group_id else None,
            meta=dict(meta),
        )

    # webhook ----------------------------------------------------------------
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """A Callback API request carries the community's secret key in its ``secret``
        field, and the ``group_id`` this source answers for (when set).

        Checked on the raw body before anything else is read: a body that is
        not a JSON object with the right key is refused, whatever else it
        holds. VK does not sign requests or date them: a replayed event is
        stored once (messages are idempotent on their ids).
        """
        require_json(headers, source=self.source.id, allow_missing=True)
        o = self.opts
        key = webhook_secret(
            o.secret, o.secret_env, insecure=o.insecure, key="secret", source=self.source.id
        )
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise WebhookAuthError(
                "not a Callback API event (a JSON object)", source=self.source.id
            )
        given = data.get("secret")
        if key is not None and not (isinstance(given, str) and secrets_match(key, given)):
            raise WebhookAuthError("Callback API secret does not match", source=self.source.id)
        group = o.group_id
        if group is not None and data.get("group_id") != group:
            raise WebhookAuthError(
                f"event for community {data.get('group_id')!r}, this source answers for {group}",
                source=self.source.id,
            )

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload:
        """A verified Callback API request: ``ok``, or the confirmation string to a
        ``confirmation`` event. Verifies it first (:meth:`verify_webhook`)."""
        self.verify_webhook(body, headers)
        data = load_json(body, source=self.source.id, what="Callback API body")
        ev = validate(VkEvent, data, source=self.source.id, what="Callback API body", raw=body)
        if ev.type == "confirmation":
            if not self.opts.confirmation:
                raise AdapterError(
                    "VK asks to confirm the server: set options.confirmation to the string "
                    "shown in the community's Callback API settings",
                    source=self.source.id,
                )
            return WebhookPayload((), self.opts.confirmation)
        return WebhookPayload(self._event(data), "ok")

    # reply ------------------------------------------------------------------
    def _reply_request(self, reply: Reply) -> tuple[ApiRequest, Any]:
        target = reply.in_reply_to or reply.thread_id
        ref = parse_ref(target) if target else None
        if ref is None:
            raise AdapterError(
                f"incident {reply.incident_id}: cannot answer on VK without the id of the "
                f"citizen's post or comment (got {target!r})",
                source=self.source.id,
            )
        if not reply.text.strip():
            raise AdapterError(f"incident {reply.incident_id}: empty reply", source=self.source.id)
        digest = hashlib.sha1(reply.text.encode("utf-8")).hexdigest()[:12]
        guid = f"tsur-{reply.incident_id}-{reply.kind}-{digest}"
        group = self.opts.group_id
        if ref.kind == "wall":
            params: dict[str, Any] = {
                "owner_id": ref.owner_id,
                "post_id": ref.item_id,
                "from_group": group,
                "message": reply.text,
                "reply_to_comment": ref.comment_id,
                "guid": guid,
            }
            return self._call("wall.createComment", params, post=True), ref
        if ref.kind == "photo":
            params = {
                "owner_id": ref.owner_id,
                "photo_id": ref.item_id,
                "from_group": 1 if group else None,
                "message": reply.text,
                "reply_to_comment": ref.comment_id,
                "guid": guid,
            }
            return self._call("photos.createComment", params, post=True), ref
        forward = {"peer_id": ref.owner_id, "conversation_message_ids": [ref.item_id]}
        params = {
            "peer_id": ref.owner_id,
            "message": reply.text,
            "random_id": int(hashlib.sha1(guid.encode()).hexdigest()[:8], 16),
            "forward": json.dumps({**forward, "is_reply": True}, separators=(",", ":")),
        }
        return self._call("messages.send", params, post=True), ref

    def _reply_id(self, ref: Any, result: Any) -> str:
        if ref.kind == "msg":
            return f"msg{ref.owner_id}_m{result}"
        if not isinstance(result, Mapping) or not isinstance(result.get("comment_id"), int):
            raise PayloadError(
                f"createComment: no comment_id in {result!r}", source=self.source.id, raw=result
            )
        return comment_ref(ref.owner_id, ref.item_id, result["comment_id"], kind=ref.kind)

    def reply(self, reply: Reply) -> str | None:
        """Post the answer under the citizen's post or comment; the new comment's id."""
        req, ref = self._reply_request(reply)
        return self._reply_id(ref, self.channel.send(req))

    async def areply(self, reply: Reply) -> str | None:
        """:meth:`reply` through the injected ``async_client``."""
        req, ref = self._reply_request(reply)
        return self._reply_id(ref, await self.channel.asend(req))


def _as_response(item: RejectedItem) -> RejectedItem:
    """A rejected API item kept as a one-item answer, so ``parse`` can read it again."""
    try:
        data = json.loads(item.raw)
    except ValueError:
        return item
    if not isinstance(data, dict) or "id" not in data:
        return item
    wrapped = json.dumps({"response": {"count": 1, "items": [data]}}, ensure_ascii=False)
    return RejectedItem(wrapped, item.reason, item.line)
