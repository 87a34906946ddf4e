"""tsur-city-portal: a city portal's appeals in, a router for yards, a duty log out.

«Город онлайн» is a fictional municipal portal with the small JSON API many
regional portals have:

``GET /api/appeals?since=<cursor>&page=N``
    One page of appeals newer than ``cursor``::

        {"items": [{"id": "A-1842", "text": "…", "created_at": "…+04:00", …}],
         "next_page": 2, "cursor": "c-1842"}

    ``next_page`` is ``null`` on the last page; ``cursor`` is what to send
    as ``since`` next time.
``POST /api/appeals/{id}/answers``
    Publishes an answer: ``{"appeal_id": "A-1842", "text": "…"}``.
Webhook
    The portal can also push ``{"event": "appeal.created", "appeal": {…}}``
    as ``application/json``, signed with tsur's scheme: ``X-Tsur-Timestamp``
    (Unix seconds) and ``X-Tsur-Signature: sha256=<HMAC of "<timestamp>.<body>">``.

The plugin adds three components, using only tsur's public API:

- the source adapter ``city_portal`` (a :class:`tsur.adapters.HttpAdapter`:
  retries, rate limits and error handling come with it);
- the router ``yards``: appeals about yards in the towns the region file
  names go to the management company it names, before the region's rules;
- the notifier ``duty-log``: urgent incidents are appended to a JSON Lines
  file the duty officer watches.

Its settings are the region file's ``[plugins.city_portal]`` table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

import tsur
from tsur.adapters import (
    AdapterOptions,
    ApiRequest,
    HttpAdapter,
    WebhookPayload,
    load_json,
    require_json,
    secret,
    validate,
)
from tsur.security import verify_signed_request

__all__ = [
    "KIND",
    "CityPortalAdapter",
    "DutyLog",
    "PortalOptions",
    "Settings",
    "YardRouter",
]

#: The source kind this plugin registers.
KIND = "city_portal"


# What the portal sends (pydantic: this is a boundary) --------------------------
class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PortalAuthor(_Wire):
    """The citizen as the portal shows them."""

    id: str | None = None
    name: str | None = None
    anonymous: bool = False


class PortalLocation(_Wire):
    """A geotag set on the portal's map."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class PortalAppeal(_Wire):
    """One appeal as the portal sends it."""

    id: str = Field(min_length=1)
    text: str = ""
    created_at: datetime
    category: str | None = None
    address: str | None = None
    location: PortalLocation | None = None
    author: PortalAuthor | None = None
    photos: list[str] = Field(default_factory=list)
    url: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("created_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.utcoffset() is None:
            raise ValueError("must carry a UTC offset")
        return v


class PortalPage(_Wire):
    """One page of ``GET /api/appeals``."""

    items: list[PortalAppeal]
    next_page: int | None = None
    cursor: str | None = None


class PortalEvent(_Wire):
    """A webhook body."""

    event: str
    appeal: PortalAppeal | None = None


# The source adapter --------------------------------------------------------------
class PortalOptions(AdapterOptions):
    """A ``city_portal`` source's ``options`` table in the region file."""

    secret_fields: ClassVar[tuple[str, ...]] = ("token", "secret")

    base_url: str = Field(description="the portal's address, e.g. https://portal.example.ru")
    token: SecretStr | None = Field(None, description="API token, sent as a Bearer token")
    secret: SecretStr | None = Field(None, description="the key pushed webhooks are signed with")
    timeout: float = Field(10.0, gt=0, description="seconds per request")


class CityPortalAdapter(HttpAdapter):
    """Collects appeals from «Город онлайн» and posts answers back (kind ``city_portal``)."""

    kind: ClassVar[str] = KIND
    options_model: ClassVar[type[AdapterOptions]] = PortalOptions
    opts: PortalOptions

    def _request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json"}
        token = secret(self.opts.token)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = self.opts.base_url.rstrip("/") + path
        return self.send(ApiRequest(method, url, what=what, headers=headers, **kwargs))

    def fetch(self, cursor: str | None) -> tsur.FetchResult:
        """Every appeal newer than ``cursor``, following the pages to the end."""
        messages: list[tsur.Message] = []
        next_cursor, page = cursor, 1
        while True:
            body = self._request(
                "GET", "/api/appeals", "GET /api/appeals", params={"page": page, "since": cursor}
            )
            data = validate(PortalPage, body, source=self.source.id, what=f"unexpected page {page}")
            messages.extend(self._message(a) for a in data.items)
            next_cursor = data.cursor or next_cursor
            if data.next_page is None:
                return tsur.FetchResult(messages, next_cursor)
            if data.next_page <= page:
                raise tsur.AdapterError(
                    f"page {page} points back to page {data.next_page}", source=self.source.id
                )
            page = data.next_page

    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[tsur.Message]:
        """Messages in one webhook body; events other than ``appeal.*`` carry none."""
        data = load_json(payload, source=self.source.id, what="webhook body")
        event = validate(PortalEvent, data, source=self.source.id, what="unexpected webhook body")
        if not event.event.startswith("appeal.") or event.appeal is None:
            return []
        return [self._message(event.appeal)]

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """A pushed request must be JSON, signed with ``secret`` a moment ago.

        tsur calls this on the raw body before anything is read or stored;
        without a secret every request is refused.
        """
        require_json(headers, source=self.source.id)
        key = secret(self.opts.secret)
        if key is None:
            raise tsur.WebhookAuthError("no options.secret: webhooks refused", source=self.source.id)
        verify_signed_request(key, body, headers, now=self.now(), source=self.source.id)

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload:
        """A verified request's appeals (verified again if called directly)."""
        self.verify_webhook(body, headers)
        return WebhookPayload(list(self.parse(body)))

    def reply(self, reply: tsur.Reply) -> str | None:
        """Publish ``reply`` under the citizen's appeal; the portal's id of the answer."""
        appeal_id = reply.in_reply_to
        if not appeal_id:
            raise tsur.AdapterError(
                f"incident {reply.incident_id}: a reply needs in_reply_to (the appeal id)",
                source=self.source.id,
            )
        body = self._request(
            "POST",
            f"/api/appeals/{quote(appeal_id, safe='')}/answers",
            "POST answer",
            json={"appeal_id": appeal_id, "text": reply.text},
        )
        answer = body.get("id") if isinstance(body, Mapping) else None
        return None if answer is None else str(answer)

    def _message(self, a: PortalAppeal) -> tsur.Message:
        author = a.author
        return tsur.Message(
            source=self.source.id,
            external_id=a.id,
            text=a.text,
            created_at=a.created_at,
            author=tsur.Author(id=author.id, name=author.name, anonymous=author.anonymous)
            if author
            else None,
            attachments=[tsur.Attachment("photo", url) for url in a.photos],
            geo=tsur.GeoPoint(a.location.lat, a.location.lon) if a.location else None,
            address=a.address,
            url=a.url,
            meta={"category": a.category} if a.category else {},
        )


# The plugin's settings: [plugins.city_portal] ---------------------------------------
class Settings(BaseModel):
    """What the region file says about this plugin (``[plugins.city_portal]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    yard_executor: str | None = Field(
        None, description="the executor (a management company) that answers for yards"
    )
    yard_towns: list[str] = Field(
        default_factory=list, description="territories whose yards it answers for"
    )
    yard_words: list[str] = Field(
        default_factory=lambda: ["двор", "детская площадка", "подъезд"],
        description="words of an appeal about a yard",
    )
    duty_log: str | None = Field(
        None, description="a JSON Lines file urgent incidents are appended to"
    )


# The router ------------------------------------------------------------------------
class YardRouter:
    """Appeals about yards in the configured towns go to the yard executor.

    It reads the analysed message (its lemmas and territory), as every router
    can, and answers before the region's rules (it is registered at a higher
    priority); for anything else it has no opinion.
    """

    def __init__(self, region: tsur.Region, lemmatizer: tsur.Lemmatizer, settings: Settings):
        if settings.yard_executor not in region.executors:
            raise tsur.ConfigError(
                f"plugins.city_portal.yard_executor: unknown executor {settings.yard_executor!r}"
            )
        self.region = region
        self.executor = settings.yard_executor
        self.towns = frozenset(settings.yard_towns)
        self.phrases = [lemmatizer.phrase(w) for w in settings.yard_words]

    def route(self, incident: tsur.Incident, analysis: tsur.Analysis) -> tsur.RouteDecision | None:
        """The yard executor for an appeal about a yard in one of the towns."""
        if not self.region.in_territory(analysis.territory, self.towns):
            return None
        found = [" ".join(p) for p in self.phrases if p and analysis.text.contains(p)]
        if not found:
            return None
        return tsur.RouteDecision(self.executor, f"двор ({', '.join(found)}): управляющая компания")


# The notifier ---------------------------------------------------------------------
class DutyLog:
    """Appends every urgent incident's notification to a JSON Lines file."""

    def __init__(self, path: str | Path, region: tsur.Region) -> None:
        self.path = Path(path)
        self.region = region

    def notify(self, notification: tsur.Notification) -> None:
        """One line per notification about an urgent incident (others are left out)."""
        if notification.data.get("urgency") != "urgent":
            return
        record = {
            "at": notification.at.isoformat(),
            "kind": notification.kind,
            "incident": notification.incident_id,
            "to": [self.region.executor_name(r) for r in notification.recipients],
            "text": notification.text,
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


# The hooks ----------------------------------------------------------------------------
@tsur.hookimpl
def register_settings(register: Any) -> None:
    """This plugin's table in the region file: ``[plugins.city_portal]``."""
    register("city_portal", Settings)


@tsur.hookimpl
def register_source_adapters(register: Any) -> None:
    """The «Город онлайн» adapter, as source kind ``city_portal``."""
    register(KIND, CityPortalAdapter)


@tsur.hookimpl
def register_routers(register: Any, context: tsur.Context) -> None:
    """The yard router, when the region file names a yard executor."""
    settings = context.settings
    if settings is not None and settings.yard_executor:
        register("yards", YardRouter(context.region, context.lemmatizer, settings), priority=120)


@tsur.hookimpl
def register_notifiers(register: Any, context: tsur.Context) -> None:
    """The duty log, when the region file names its file."""
    settings = context.settings
    if settings is not None and settings.duty_log:
        register("duty-log", DutyLog(settings.duty_log, context.region))
