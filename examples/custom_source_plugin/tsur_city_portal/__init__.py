"""tsur-city-portal: a tsur source adapter for the «Город онлайн» city portal.

«Город онлайн» is a fictional municipal portal with a small JSON API, the
shape many regional portals have:

``GET /api/appeals?since=<cursor>&page=N``
    One page of appeals newer than ``cursor``::

        {"items": [{"id": "A-1842", "text": "…", "created_at": "…+04:00", …}],
         "next_page": 2, "cursor": "c-1842"}

    ``next_page`` is ``null`` on the last page; ``cursor`` is what to send
    as ``since`` next time.
``POST /api/appeals/{id}/answers``
    Publishes an answer: ``{"appeal_id": "A-1842", "text": "…"}``.
Webhook
    The portal can also push ``{"event": "appeal.created", "appeal": {…}}``.

The module is a tsur plugin: installing the package registers it through
the ``tsur`` entry-point group, and its :func:`register_source_adapters`
hook contributes the adapter as source kind ``"city_portal"``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import tsur
from tsur.typing import Register

__all__ = ["KIND", "CityPortalAdapter", "register_source_adapters"]

#: The source kind this plugin registers.
KIND = "city_portal"

_M = TypeVar("_M", bound=BaseModel)


# Wire shapes (pydantic: this is a boundary) ----------------------------------
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


# The adapter ------------------------------------------------------------------
class CityPortalAdapter:
    """Collects appeals from «Город онлайн» and posts answers back.

    tsur calls it as ``CityPortalAdapter(source, config, **source.options)``.
    Options: ``base_url`` (required unless ``client`` is given), ``token``
    (sent as ``Authorization: Bearer …``), ``timeout`` in seconds.
    ``client`` is a ready :class:`httpx.Client` whose ``base_url`` points at
    the portal; tests pass one with an :class:`httpx.MockTransport`. A
    client the adapter builds itself is closed by :meth:`close`.
    """

    def __init__(
        self,
        source: tsur.Source,
        config: tsur.RegionConfig | None = None,
        *,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.source = source
        self.token = token
        self._owns_client = client is None
        if client is None:
            if not base_url:
                raise tsur.AdapterError(
                    "a city_portal source needs options.base_url", source=source.id
                )
            client = httpx.Client(base_url=base_url, timeout=timeout)
        self.client = client

    # SourceAdapter ------------------------------------------------------------
    def fetch(self, cursor: str | None) -> tsur.FetchResult:
        """Every appeal newer than ``cursor``, following the pages to the end."""
        messages: list[tsur.Message] = []
        next_cursor = cursor
        page = 1
        while True:
            params: dict[str, str | int] = {"page": page}
            if cursor is not None:
                params["since"] = cursor
            body = self._request("GET", "/api/appeals", params=params)
            data = self._validate(PortalPage, body, what=f"page {page}")
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
        if not isinstance(payload, Mapping):
            try:
                payload = json.loads(payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise tsur.AdapterError(
                    f"webhook body is not JSON: {exc}", source=self.source.id
                ) from exc
        event = self._validate(PortalEvent, payload, what="webhook body")
        if not event.event.startswith("appeal.") or event.appeal is None:
            return []
        return [self._message(event.appeal)]

    def reply(self, reply: tsur.Reply) -> str | None:
        """Publish ``reply`` under the citizen's appeal; return the portal's answer id."""
        appeal_id = reply.in_reply_to
        if not appeal_id:
            raise tsur.AdapterError(
                f"incident {reply.incident_id}: a reply needs in_reply_to (the appeal id)",
                source=self.source.id,
            )
        body = self._request(
            "POST",
            f"/api/appeals/{quote(appeal_id, safe='')}/answers",
            json={"appeal_id": appeal_id, "text": reply.text},
        )
        answer = body.get("id") if isinstance(body, Mapping) else None
        return None if answer is None else str(answer)

    # lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP client if the adapter built it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> CityPortalAdapter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # helpers --------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        """One API call; every failure becomes a tsur error naming the source."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        where = f"{method} {url}"
        try:
            response = self.client.request(method, url, headers=headers, **kwargs)
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status == 429:
                raise tsur.RateLimited(
                    f"{where}: HTTP 429, the portal asks to slow down",
                    source=self.source.id,
                    retry_after=_retry_after(exc.response.headers.get("Retry-After")),
                ) from exc
            raise tsur.AdapterError(
                f"{where}: HTTP {status}: {_snippet(exc.response.text)}",
                source=self.source.id,
                retryable=status >= 500,
            ) from exc
        except httpx.HTTPError as exc:  # connection refused, timeout, TLS …
            raise tsur.AdapterError(
                f"{where}: {type(exc).__name__}: {exc}", source=self.source.id, retryable=True
            ) from exc
        try:
            return response.json()
        except ValueError as exc:
            kind = response.headers.get("Content-Type", "no Content-Type")
            raise tsur.AdapterError(
                f"{where}: expected JSON, got {kind}: {_snippet(response.text)}",
                source=self.source.id,
            ) from exc

    def _validate(self, model: type[_M], data: Any, *, what: str) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "body"
            raise tsur.AdapterError(
                f"unexpected {what}: {loc}: {first['msg']} ({exc.error_count()} problem(s))",
                source=self.source.id,
            ) from exc

    def _message(self, a: PortalAppeal) -> tsur.Message:
        author = None
        if a.author is not None:
            author = tsur.Author(id=a.author.id, name=a.author.name, anonymous=a.author.anonymous)
        return tsur.Message(
            source=self.source.id,
            external_id=a.id,
            text=a.text,
            created_at=a.created_at,
            author=author,
            attachments=tuple(tsur.Attachment("photo", url=u) for u in a.photos),
            geo=tsur.GeoPoint(a.location.lat, a.location.lon) if a.location else None,
            address=a.address,
            url=a.url,
            meta={"category": a.category} if a.category else {},
        )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _snippet(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@tsur.hookimpl
def register_source_adapters(register: Register, config: tsur.RegionConfig) -> None:
    """Contribute the «Город онлайн» adapter as source kind ``city_portal``."""
    register(KIND, CityPortalAdapter)
