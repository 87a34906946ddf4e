"""Telegram Bot API: updates by getUpdates or webhook, answers by sendMessage.

The cursor is getUpdates' ``offset``: the last ``update_id`` + 1. Telegram
forgets an update once a later getUpdates asks for a higher offset, and
:func:`~tsur.intake.collect` sends that offset only after the update was
stored, so nothing is lost on a crash. getUpdates and a webhook exclude each
other (HTTP 409): a bot uses one or the other.

External ids are ``"<chat_id>:<message_id>"``. An ``edited_message`` keeps
its id, so once the original is stored the edit is ignored (ingest is
idempotent); a message first seen edited is stored with its new text.
Forum topics become threads: ``thread_id = "<chat_id>:<message_thread_id>"``,
the id of the topic's first message. Photos become an attachment of the
largest size with URL ``telegram-file:<file_id>``;
:meth:`TelegramAdapter.file_url` turns a file id into a download URL
(getFile; the URL embeds the bot token and lives about an hour).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tsur.domain import Attachment, Author, FetchResult, GeoPoint, Message, Reply
from tsur.errors import (
    AdapterError,
    PayloadError,
    RateLimited,
    TelegramError,
    WebhookAuthError,
    raw_text,
)
from tsur.security import secrets_match

from ._base import AdapterOptions, HttpAdapter, secret
from ._http import ApiRequest, RateLimit, RateLimiter
from ._payload import (
    FetchBatch,
    RejectedItem,
    from_unix,
    load_json,
    refusing,
    response_json,
    validate,
)
from ._webhooks import WebhookPayload, header, require_json, webhook_secret

__all__ = [
    "FILE_SCHEME",
    "SECRET_HEADER",
    "TelegramAdapter",
    "TelegramError",
    "TelegramOptions",
    "split_text",
]

#: The header carrying the webhook's secret token.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Attachment URLs of Telegram files: ``telegram-file:<file_id>``.
FILE_SCHEME = "telegram-file:"
#: Longest text one sendMessage takes.
MAX_TEXT = 4096
_MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(@\w+)?$")


def telegram_error(data: Mapping[str, Any], *, source: str | None, what: str) -> AdapterError:
    """The tsur error for a ``{"ok": false, …}`` answer."""
    code = data.get("error_code")
    desc = str(data.get("description") or "no description")
    params = data.get("parameters") if isinstance(data.get("parameters"), Mapping) else {}
    assert isinstance(params, Mapping)
    msg = f"{what}: Telegram error {code}: {desc}"
    if code == 429:
        after = params.get("retry_after")
        retry_after = float(after) if isinstance(after, int | float) else None
        return RateLimited(msg, source=source, retry_after=retry_after)
    if not isinstance(code, int):
        return PayloadError(f"{what}: unreadable Telegram error: {desc}", source=source, raw=data)
    if code == 409:
        msg += (
            " — getUpdates cannot run while a webhook is set (or while another process "
            "polls): call deleteWebhook, or receive updates through the webhook only"
        )
    elif code in (401, 404) and what == "getUpdates":
        msg += " — the bot token was rejected: check options.token"
    if isinstance(params.get("migrate_to_chat_id"), int):
        msg += f" — the group is now the supergroup {params['migrate_to_chat_id']}"
    return TelegramError(msg, code=code, source=source, retryable=code >= 500)


class _W(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class TgUser(_W):
    """A user or bot."""

    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None


class TgChat(_W):
    """A chat: private, group, supergroup or channel."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    is_forum: bool = False


class TgPhotoSize(_W):
    """One size of a photo."""

    file_id: str
    file_unique_id: str | None = None
    width: int = 0
    height: int = 0
    file_size: int | None = None


class TgFile(_W):
    """A document, voice note, audio, video …"""

    file_id: str
    file_name: str | None = None
    mime_type: str | None = None


class TgLocation(_W):
    """A point."""

    latitude: float
    longitude: float


class TgVenue(_W):
    """A named place."""

    location: TgLocation
    title: str = ""
    address: str = ""


class TgContact(_W):
    """A shared phone contact."""

    phone_number: str
    first_name: str = ""
    last_name: str | None = None
    user_id: int | None = None


class TgMessage(_W):
    """A message (or channel post)."""

    message_id: int
    date: int
    chat: TgChat
    from_: TgUser | None = Field(None, alias="from")
    sender_chat: TgChat | None = None
    author_signature: str | None = None
    text: str | None = None
    caption: str | None = None
    photo: list[TgPhotoSize] = Field(default_factory=list)
    document: TgFile | None = None
    voice: TgFile | None = None
    audio: TgFile | None = None
    video: TgFile | None = None
    video_note: TgFile | None = None
    animation: TgFile | None = None
    location: TgLocation | None = None
    venue: TgVenue | None = None
    contact: TgContact | None = None
    message_thread_id: int | None = None
    is_topic_message: bool = False
    reply_to_message: TgMessage | None = None
    edit_date: int | None = None


class TgUpdate(_W):
    """One update; at most one of the message fields is set."""

    update_id: int
    message: TgMessage | None = None
    edited_message: TgMessage | None = None
    channel_post: TgMessage | None = None
    edited_channel_post: TgMessage | None = None


#: what setWebhook accepts as a secret_token
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramOptions(AdapterOptions):
    """Options of a ``telegram`` source (``[[sources]] options``)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("token",)

    token: SecretStr | None = Field(None, description="bot token from @BotFather")
    secret_token: SecretStr | None = Field(
        None, description="webhook secret (setWebhook secret_token); better: secret_token_env"
    )
    secret_token_env: str | None = Field(
        None, description="environment variable holding the webhook's secret_token"
    )
    insecure: bool = Field(False, description="local testing only: take webhooks without a secret")
    base_url: str = Field("https://api.telegram.org", description="Bot API server")
    poll_timeout: int = Field(0, ge=0, le=50, description="getUpdates long polling seconds")
    limit: int = Field(100, ge=1, le=100, description="updates per getUpdates")
    allowed_updates: list[str] = Field(
        default_factory=lambda: list(_MESSAGE_KINDS), description="update types to receive"
    )
    messages_per_second: int = Field(30, ge=1, description="overall sending limit")
    chat_interval: float = Field(1.0, ge=0.0, description="seconds between messages to a chat")
    group_messages_per_minute: int = Field(20, ge=1, description="limit per group chat")
    reply_mode: Literal["reply_parameters", "reply_to_message_id"] = Field(
        "reply_parameters", description="how answers point at the citizen's message"
    )
    skip_commands: bool = Field(True, description="skip bare bot commands such as /start")
    timeout: float = Field(20.0, gt=0, description="seconds per request (plus poll_timeout)")

    @field_validator("secret_token")
    @classmethod
    def _token_setwebhook_takes(cls, value: SecretStr | None) -> SecretStr | None:
        # setWebhook accepts 1–256 characters of A-Z, a-z, 0-9, _ and - only
        if value is not None and not _SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "Telegram takes 1–256 characters A-Z, a-z, 0-9, _ and - as secret_token"
            )
        return value

    @model_validator(mode="after")
    def _some_way_in(self) -> TelegramOptions:
        pushed = self.secret_token or self.secret_token_env or self.insecure
        if not (self.token or pushed):
            raise ValueError(
                "set token (getUpdates) or secret_token_env (the environment variable holding "
                "the webhook's secret_token; insecure = true for local testing)"
            )
        return self


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters at paragraph or line ends."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit))
        if cut <= limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _ref(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    chat, sep, number = value.rpartition(":")
    try:
        return (int(chat), int(number)) if sep else None
    except ValueError:
        return None


class TelegramAdapter(HttpAdapter):
    """Collects Telegram bot updates and answers in the same chat (source kind ``telegram``)."""

    kind: ClassVar[str] = "telegram"
    options_model: ClassVar[type[AdapterOptions]] = TelegramOptions
    #: a verified update tsur cannot read is kept and acknowledged: Telegram repeats a
    #: non-2xx answer and then gives up on the update
    unreadable_answer: ClassVar[tuple[int, str]] = (200, "")
    opts: TelegramOptions

    def _default_limiter(self) -> RateLimiter:
        o = self.opts
        limits: dict[str, list[RateLimit]] = {
            "*": [RateLimit(o.messages_per_second, 1.0)],
            "group": [RateLimit(o.group_messages_per_minute, 60.0)],
        }
        if o.chat_interval > 0:
            limits["chat"] = [RateLimit(1, o.chat_interval)]
        return self._limiter(limits)

    def _api(self, method: str, body: Mapping[str, Any], **kw: Any) -> ApiRequest:
        token = secret(self.opts.token)
        if token is None:
            raise AdapterError("options.token is needed to call Telegram", source=self.source.id)
        url = f"{self.opts.base_url.rstrip('/')}/bot{token}/{method}"
        return ApiRequest("POST", url, what=method, json=dict(body), **kw)

    def decode(self, response: httpx.Response, request: ApiRequest) -> Any:
        data = response_json(response, request, source=self.source.id)
        if not isinstance(data, Mapping) or "ok" not in data:
            raise PayloadError(
                f"{request.label}: not a Bot API answer (no 'ok')", source=self.source.id, raw=data
            )
        if data["ok"] is not True:
            raise telegram_error(data, source=self.source.id, what=request.label)
        return data.get("result")

    # fetch ------------------------------------------------------------------
    def _updates_request(self, cursor: str | None) -> ApiRequest:
        o = self.opts
        body: dict[str, Any] = {
            "limit": o.limit,
            "timeout": o.poll_timeout,
            "allowed_updates": o.allowed_updates,
        }
        if cursor:
            try:
                body["offset"] = int(cursor)
            except ValueError:
                raise AdapterError(
                    f"unreadable Telegram cursor {cursor!r} (an update id)", source=self.source.id
                ) from None
        return self._api("getUpdates", body, timeout=o.timeout + o.poll_timeout)

    def _updates_result(self, cursor: str | None, result: Any) -> FetchResult:
        if not isinstance(result, list):
            raise PayloadError(
                "getUpdates: 'result' is not a list", source=self.source.id, raw=result
            )
        messages: list[Message] = []
        rejected: list[RejectedItem] = []
        last = int(cursor) - 1 if cursor else None
        for i, raw in enumerate(result):
            uid = raw.get("update_id") if isinstance(raw, Mapping) else None
            if isinstance(uid, int):
                last = uid if last is None else max(last, uid)
            try:
                messages.extend(self._update(raw))
            except Exception as exc:  # one unreadable update never costs the page
                rejected.append(RejectedItem(raw_text(raw), f"result[{i}]: {exc}"))
        next_cursor = str(last + 1) if last is not None else cursor
        return FetchBatch(messages, next_cursor, len(result) >= self.opts.limit, tuple(rejected))

    def fetch(self, cursor: str | None) -> FetchResult:
        """One getUpdates call from offset ``cursor``; ``more`` when the page was full."""
        return self._updates_result(cursor, self.channel.send(self._updates_request(cursor)))

    async def afetch(self, cursor: str | None) -> FetchResult:
        """:meth:`fetch` through the injected ``async_client``."""
        result = await self.channel.asend(self._updates_request(cursor))
        return self._updates_result(cursor, result)

    # parse ------------------------------------------------------------------
    @refusing("Telegram payload")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages in a getUpdates answer, one Update (a webhook body) or a list of them."""
        data = load_json(payload, source=self.source.id, what="Telegram payload")
        if isinstance(data, Mapping) and "ok" in data:
            if data["ok"] is not True:
                raise telegram_error(data, source=self.source.id, what="Telegram payload")
            data = data.get("result")
        if isinstance(data, Mapping):
            return self._update(data)
        if isinstance(data, list):
            return [m for item in data for m in self._update(item)]
        raise PayloadError(
            "Telegram payload: expected an Update or a getUpdates answer",
            source=self.source.id,
            raw=payload,
        )

    def _update(self, raw: Any) -> list[Message]:
        if not isinstance(raw, Mapping) or "update_id" not in raw:
            raise PayloadError("not a Telegram Update (no update_id)", source=self.source.id)
        update = validate(TgUpdate, raw, source=self.source.id, what="update")
        for kind in _MESSAGE_KINDS:
            m = getattr(update, kind)
            if m is not None:
                msg = self._message(m, kind, update.update_id)
                return [msg] if msg is not None else []
        return []  # callback queries, member updates …: not messages from citizens

    def _message(self, m: TgMessage, kind: str, update_id: int) -> Message | None:
        if m.from_ is not None and m.from_.is_bot:
            return None
        text = m.text or m.caption or ""
        if self.opts.skip_commands and _COMMAND.match(text.strip()):
            return None
        attachments = self._attachments(m)
        if not text.strip() and not attachments:
            return None  # service messages: topic created, members joined …
        geo = address = None
        meta: dict[str, Any] = {"telegram_update_id": update_id, "telegram_chat_type": m.chat.type}
        if m.venue is not None:
            geo = GeoPoint(m.venue.location.latitude, m.venue.location.longitude)
            address = m.venue.address or None
            meta["telegram_venue"] = m.venue.title
        elif m.location is not None:
            geo = GeoPoint(m.location.latitude, m.location.longitude)
        if kind.startswith("edited_"):
            meta["telegram_edited_at"] = m.edit_date
        chat = m.chat.id
        thread = None
        if m.is_topic_message and m.message_thread_id:
            thread = f"{chat}:{m.message_thread_id}"
        parent = f"{chat}:{m.reply_to_message.message_id}" if m.reply_to_message else None
        return Message(
            source=self.source.id,
            external_id=f"{chat}:{m.message_id}",
            text=text,
            created_at=from_unix(m.date, self.tz),
            author=self._author(m),
            attachments=attachments,
            geo=geo,
            address=address,
            thread_id=thread,
            parent_id=parent,
            url=self._url(m),
            meta=meta,
        )

    def _author(self, m: TgMessage) -> Author:
        contact = None
        if m.contact is not None and (
            m.contact.user_id is None or (m.from_ is not None and m.contact.user_id == m.from_.id)
        ):
            contact = m.contact.phone_number
        if m.from_ is not None:
            u = m.from_
            name = " ".join(x for x in (u.first_name, u.last_name) if x) or u.username
            return Author(id=str(u.id), name=name, contact=contact)
        chat = m.sender_chat or m.chat
        return Author(id=str(chat.id), name=m.author_signature or chat.title, contact=contact)

    def _attachments(self, m: TgMessage) -> list[Attachment]:
        out: list[Attachment] = []
        if m.photo:
            best = max(m.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
            out.append(Attachment("photo", FILE_SCHEME + best.file_id, None, "image/jpeg"))
        files = (
            ("document", m.document),
            ("audio", m.voice),
            ("audio", m.audio),
            ("video", m.video),
            ("video", m.video_note),
            ("video", m.animation),
        )
        for kind, f in files:
            if f is not None:
                out.append(Attachment(kind, FILE_SCHEME + f.file_id, f.file_name, f.mime_type))
        point = m.venue.location if m.venue is not None else m.location
        if point is not None:
            uri = f"geo:{point.latitude},{point.longitude}"
            out.append(Attachment("location", uri, m.venue.title if m.venue else None))
        if m.contact is not None:
            name = " ".join(x for x in (m.contact.first_name, m.contact.last_name) if x)
            out.append(Attachment("contact", f"tel:{m.contact.phone_number}", name or None))
        return out

    def _url(self, m: TgMessage) -> str | None:
        if m.chat.type == "private":
            return None  # private chats have no message links
        thread = f"{m.message_thread_id}/" if m.is_topic_message and m.message_thread_id else ""
        if m.chat.username:
            return f"https://t.me/{m.chat.username}/{thread}{m.message_id}"
        chat = str(m.chat.id)
        if chat.startswith("-100"):
            return f"https://t.me/c/{chat[4:]}/{thread}{m.message_id}"
        return None

    # webhook ----------------------------------------------------------------
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """``X-Telegram-Bot-Api-Secret-Token`` must be the configured ``secret_token``
        and the body declared JSON. Telegram does not sign or date updates: a
        replayed update is stored once (messages are idempotent on their ids)."""
        o = self.opts
        require_json(headers, source=self.source.id)
        expected = webhook_secret(
            o.secret_token,
            o.secret_token_env,
            insecure=o.insecure,
            key="secret_token",
            source=self.source.id,
        )
        if expected is not None and not secrets_match(expected, header(headers, SECRET_HEADER)):
            raise WebhookAuthError(f"{SECRET_HEADER} does not match", source=self.source.id)

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload:
        """One webhook Update, verified first (:meth:`verify_webhook`), then parsed."""
        self.verify_webhook(body, headers)
        data = load_json(body, source=self.source.id, what="webhook body")
        return WebhookPayload(self._update(data), "")

    # reply ------------------------------------------------------------------
    def _reply_requests(self, reply: Reply) -> list[ApiRequest]:
        target = _ref(reply.in_reply_to)
        if target is None:
            raise AdapterError(
                f"incident {reply.incident_id}: cannot answer on Telegram without the "
                f"'<chat_id>:<message_id>' of the citizen's message (got {reply.in_reply_to!r})",
                source=self.source.id,
            )
        pieces = split_text(reply.text)
        if not pieces:
            raise AdapterError(f"incident {reply.incident_id}: empty reply", source=self.source.id)
        chat, message_id = target
        thread = _ref(reply.thread_id)
        keys = (f"chat:{chat}",) + ((f"group:{chat}",) if chat < 0 else ())
        out = []
        for i, piece in enumerate(pieces):
            body: dict[str, Any] = {"chat_id": chat, "text": piece}
            if thread is not None and thread[0] == chat:
                body["message_thread_id"] = thread[1]
            if i == 0:
                if self.opts.reply_mode == "reply_parameters":
                    body["reply_parameters"] = {
                        "message_id": message_id,
                        "allow_sending_without_reply": True,
                    }
                else:
                    body["reply_to_message_id"] = message_id
                    body["allow_sending_without_reply"] = True
            out.append(self._api("sendMessage", body, rate_keys=keys))
        return out

    def _sent_id(self, result: Any) -> str:
        if not isinstance(result, Mapping) or not isinstance(result.get("message_id"), int):
            raise PayloadError(
                "sendMessage: no message_id in the answer", source=self.source.id, raw=result
            )
        chat = result.get("chat")
        chat_id = chat.get("id") if isinstance(chat, Mapping) else None
        return f"{chat_id}:{result['message_id']}"

    def reply(self, reply: Reply) -> str | None:
        """sendMessage in reply to the citizen's message (long texts in several parts);
        returns ``"<chat_id>:<message_id>"`` of the first part."""
        ids = [self._sent_id(self.channel.send(req)) for req in self._reply_requests(reply)]
        return ids[0]

    async def areply(self, reply: Reply) -> str | None:
        """:meth:`reply` through the injected ``async_client``."""
        ids = [self._sent_id(await self.channel.asend(r)) for r in self._reply_requests(reply)]
        return ids[0]

    def file_url(self, file_id: str) -> str:
        """A download URL for a file id (getFile); it contains the bot token."""
        if file_id.startswith(FILE_SCHEME):
            file_id = file_id[len(FILE_SCHEME) :]
        result = self.channel.send(self._api("getFile", {"file_id": file_id}))
        path = result.get("file_path") if isinstance(result, Mapping) else None
        if not isinstance(path, str):
            raise PayloadError("getFile: no file_path", source=self.source.id, raw=result)
        return f"{self.opts.base_url.rstrip('/')}/file/bot{secret(self.opts.token)}/{path}"
