"""Open311 GeoReport v2 client: a city's service requests as messages (kind ``open311``).

Reads ``GET requests.json`` in date windows: the cursor is the start of the
next window (ISO 8601) and, with the ``page``/``page_size`` extension some
servers support, the page within it. Windows are at most 90 days (the
spec's limit); each new window starts ``overlap_minutes`` before the end of
the previous one, so requests indexed late are not missed (reading one
twice is harmless). ``service_code`` and ids are opaque strings.

The standard's only write is ``POST requests.json`` (a new request).
Answering a citizen means changing a request's status, which GeoReport v2
does not define: many servers have no such endpoint. With ``status_url``
(a server's extension) answers are POSTed there as form fields
``service_request_id``, ``status`` (``open``/``closed``) and
``status_notes``; without it :meth:`Open311Adapter.reply` returns None and
logs why. Errors are the spec's array ``[{"code", "description"}]``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from tsur.domain import Attachment, FetchResult, GeoPoint, Message, Reply
from tsur.errors import AdapterError, Open311Error, PayloadError, RateLimited
from tsur.wire import check_instant

from ._base import AdapterOptions, BaseAdapter, HttpAdapter, secret
from ._http import ApiRequest, http_error, retry_after_seconds, snippet
from ._payload import FetchBatch, convert_items, load_json, refusing, response_json, validate

__all__ = [
    "Open311Adapter",
    "Open311Error",
    "Open311InboxAdapter",
    "Open311Options",
    "Service",
    "ServiceRequest",
]

log = logging.getLogger("tsur.adapters")


def _text(v: Any) -> Any:
    return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


class _W(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ServiceRequest(_W):
    """One service request (``GET requests.json``)."""

    service_request_id: str = Field(min_length=1)
    status: str | None = None
    status_notes: str | None = None
    service_name: str | None = None
    service_code: str | None = None
    description: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: datetime
    updated_datetime: datetime | None = None
    expected_datetime: datetime | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    long: float | None = Field(None, ge=-180, le=180)
    media_url: str | None = None

    _ids = field_validator(
        "service_request_id", "service_code", "address_id", "zipcode", mode="before"
    )(lambda cls, v: _text(v))

    @field_validator("requested_datetime")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.utcoffset() is None:
            raise ValueError("must carry a UTC offset (ISO 8601)")
        return check_instant(v, what="the date")


class Service(_W):
    """One service of ``GET services.json``."""

    service_code: str
    service_name: str = ""
    description: str | None = None
    metadata: bool = False
    type: str | None = None
    keywords: str | None = None
    group: str | None = None

    _code = field_validator("service_code", mode="before")(lambda cls, v: _text(v))


class Open311Options(AdapterOptions):
    """Options of an ``open311`` source (``[[sources]] options``)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)

    base_url: str | None = Field(
        None, description="the endpoint, e.g. https://city.gov/open311/v2/"
    )
    api_key: SecretStr | None = Field(None, description="API key (sent when given)")
    jurisdiction_id: str | None = Field(None, description="jurisdiction of a multi-city server")
    window_days: int = Field(30, ge=1, le=90, description="days per requests.json window")
    overlap_minutes: int = Field(60, ge=0, description="each window re-reads this much")
    start_date: datetime | None = Field(None, description="where the first window starts")
    page_size: int | None = Field(None, ge=1, le=1000, description="page/page_size extension")
    service_map: dict[str, str] = Field(default_factory=dict, description="service_code → topic")
    request_url: str | None = Field(None, description="link to a request, with {id}")
    status_url: str | None = Field(None, description="extension endpoint for status updates")
    timeout: float = Field(20.0, gt=0, description="seconds per request")


def id_in_url(template: str, request_id: str, *, source: str | None = None) -> str:
    """``template`` with ``{id}`` replaced by ``request_id``, percent-encoded whole
    (a ``/``, ``?`` or ``#`` in an id never reaches the path or the query).

    An id with control characters, or one that is ``.`` or ``..`` (a path
    step even encoded), is an :class:`~tsur.errors.AdapterError`.
    """
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in request_id) or request_id in (
        "",
        ".",
        "..",
    ):
        raise AdapterError(
            f"service_request_id {request_id[:40]!r} cannot be put in a URL", source=source
        )
    return template.replace("{id}", quote(request_id, safe=""))


def _link(template: str, request_id: str) -> str | None:
    try:
        return id_in_url(template, request_id)
    except AdapterError:
        return None


def _errors(data: Any) -> list[tuple[str, str]] | None:
    """The spec's errors array ``[{code, description}]`` as pairs, or None."""
    if not isinstance(data, list) or not data:
        return None
    if all(
        isinstance(e, Mapping)
        and "code" in e
        and "description" in e
        and "service_request_id" not in e
        for e in data
    ):
        return [(str(e.get("code")), str(e.get("description"))) for e in data]
    return None


class Open311Adapter(HttpAdapter):
    """Collects GeoReport v2 service requests (source kind ``open311``)."""

    kind: ClassVar[str] = "open311"
    options_model: ClassVar[type[AdapterOptions]] = Open311Options
    opts: Open311Options

    def _url(self, path: str) -> str:
        if not self.opts.base_url:
            raise AdapterError("options.base_url is needed", source=self.source.id)
        return self.opts.base_url.rstrip("/") + "/" + path

    def _common(self) -> dict[str, Any]:
        return {"jurisdiction_id": self.opts.jurisdiction_id, "api_key": secret(self.opts.api_key)}

    def decode(self, response: httpx.Response, request: ApiRequest) -> Any:
        if response.status_code < 300 and not response.content.strip():
            return None
        data = response_json(response, request, source=self.source.id)
        errors = _errors(data)
        if errors is not None:
            listed = "; ".join(f"{c}: {d}" for c, d in errors)
            status = response.status_code
            if status == 429:  # slow down, however the body puts it: Retry-After is honoured
                raise RateLimited(
                    f"{request.label}: HTTP 429 Too Many Requests: Open311 error {listed}",
                    source=self.source.id,
                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                )
            raise Open311Error(
                f"{request.label}: Open311 error (HTTP {status}) {listed}",
                errors=errors,
                source=self.source.id,
                retryable=status >= 500 or status == 408,
            )
        if response.status_code >= 400:
            raise http_error(response, request, source=self.source.id)
        return data

    # fetch ------------------------------------------------------------------
    def _window(self, cursor: str | None) -> tuple[datetime, int]:
        if not cursor:
            start = self.opts.start_date or self.now() - timedelta(days=self.opts.window_days)
            if start.utcoffset() is None:
                start = start.replace(tzinfo=self.tz)
            return start, 1
        try:
            st = json.loads(cursor)
            return datetime.fromisoformat(st["start"]), int(st.get("page", 1))
        except (ValueError, KeyError, TypeError) as exc:
            raise AdapterError(
                f"unreadable Open311 cursor {cursor!r}: {exc}", source=self.source.id
            ) from exc

    def _requests_request(self, start: datetime, end: datetime, page: int) -> ApiRequest:
        params = {
            **self._common(),
            "start_date": start.isoformat(timespec="seconds"),
            "end_date": end.isoformat(timespec="seconds"),
        }
        if self.opts.page_size:
            params.update(page=page, page_size=self.opts.page_size)
        return ApiRequest("GET", self._url("requests.json"), what="requests.json", params=params)

    def fetch(self, cursor: str | None) -> FetchResult:
        """One page of requests in the window at ``cursor``; ``more`` until caught up."""
        start, page = self._window(cursor)
        now = self.now()
        end = min(start + timedelta(days=self.opts.window_days), now)
        data = self.channel.send(self._requests_request(start, end, page))
        items = self._items(data)
        msgs, bad = convert_items(items, lambda r: [self._message(r)], what="requests")
        size = self.opts.page_size
        if size and len(items) >= size:
            nxt = {"start": start.isoformat(), "page": page + 1}
            return FetchBatch(msgs, json.dumps(nxt), True, tuple(bad))
        overlap = timedelta(minutes=self.opts.overlap_minutes)
        next_start = (
            max(end - overlap, start + timedelta(seconds=1)) if end < now else end - overlap
        )
        nxt = {"start": next_start.isoformat(), "page": 1}
        return FetchBatch(msgs, json.dumps(nxt), end < now, tuple(bad))

    def _items(self, data: Any) -> list[Any]:
        if isinstance(data, Mapping) and isinstance(data.get("service_requests"), list):
            data = data["service_requests"]
        elif isinstance(data, Mapping) and "service_request_id" in data:
            data = [data]  # one request on its own (a kept rejected item)
        if not isinstance(data, list):
            raise PayloadError(
                "requests.json: expected a JSON array of requests", source=self.source.id, raw=data
            )
        return data

    # parse ------------------------------------------------------------------
    @refusing("Open311 answer")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages in a ``requests.json`` (or ``requests/{id}.json``) answer;
        an errors array raises :class:`Open311Error`."""
        data = load_json(payload, source=self.source.id, what="Open311 payload")
        errors = _errors(data)
        if errors is not None:
            listed = "; ".join(f"{c}: {d}" for c, d in errors)
            raise Open311Error(f"Open311 error {listed}", errors=errors, source=self.source.id)
        if isinstance(data, Mapping) and "attributes" in data:
            raise PayloadError(
                "a service definition (services/{code}.json) holds no requests",
                source=self.source.id,
            )
        items = self._items(data)
        first = items[0] if items and isinstance(items[0], Mapping) else {}
        if "service_request_id" not in first and "service_name" in first:
            raise PayloadError(
                "a list of services (services.json) holds no requests", source=self.source.id
            )
        if "token" in first and "requested_datetime" not in first:
            raise PayloadError(
                "an answer to POST requests.json (ids and tokens) holds no requests",
                source=self.source.id,
            )
        out = []
        for i, item in enumerate(items):
            r = validate(ServiceRequest, item, source=self.source.id, what=f"requests[{i}]")
            out.append(self._message(r))
        return out

    def _message(self, r: Any) -> Message:
        if not isinstance(r, ServiceRequest):
            r = validate(ServiceRequest, r, source=self.source.id, what="request")
        meta: dict[str, Any] = {
            k: v
            for k, v in (
                ("open311_status", r.status),
                ("status_notes", r.status_notes),
                ("service_code", r.service_code),
                ("service_name", r.service_name),
                ("agency_responsible", r.agency_responsible),
                ("address_id", r.address_id),
                ("zipcode", r.zipcode),
                ("updated_at", r.updated_datetime.isoformat() if r.updated_datetime else None),
                ("expected_at", r.expected_datetime.isoformat() if r.expected_datetime else None),
            )
            if v is not None
        }
        media = (r.media_url or "").strip()
        geo = GeoPoint(r.lat, r.long) if r.lat is not None and r.long is not None else None
        template = self.opts.request_url
        return Message(
            source=self.source.id,
            external_id=r.service_request_id,
            text=(r.description or r.service_name or "").strip(),
            created_at=r.requested_datetime,
            attachments=[Attachment("photo", media)] if media else [],
            geo=geo,
            address=r.address,
            url=_link(template, r.service_request_id) if template else None,
            topic=self.opts.service_map.get(r.service_code or ""),
            meta=meta,
        )

    # services ---------------------------------------------------------------
    def services(self) -> list[Service]:
        """``GET services.json``: the services (categories) the server offers."""
        req = ApiRequest(
            "GET", self._url("services.json"), what="services.json", params=self._common()
        )
        data = self.channel.send(req)
        if not isinstance(data, list):
            raise PayloadError("services.json: expected an array", source=self.source.id, raw=data)
        return [
            validate(Service, x, source=self.source.id, what=f"services[{i}]")
            for i, x in enumerate(data)
        ]

    # reply ------------------------------------------------------------------
    def reply(self, reply: Reply) -> str | None:
        """Update the request's status through ``status_url``; None without one."""
        if not reply.in_reply_to:
            raise AdapterError(
                f"incident {reply.incident_id}: no service_request_id to answer",
                source=self.source.id,
            )
        if not self.opts.status_url:
            log.info(
                "%s: no answer posted for incident %d: GeoReport v2 has no status update "
                "(set options.status_url if the server has such an extension)",
                self.source.id,
                reply.incident_id,
            )
            return None
        form = {
            **self._common(),
            "service_request_id": reply.in_reply_to,
            "status": "closed" if reply.kind == "final" else "open",
            "status_notes": reply.text,
        }
        url = id_in_url(self.opts.status_url, reply.in_reply_to, source=self.source.id)
        data = self.channel.send(ApiRequest("POST", url, what="status update", data=form))
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            data = data[0]
        if isinstance(data, Mapping) and data.get("service_request_id") is not None:
            return str(data["service_request_id"])
        if data is not None and not isinstance(data, Mapping):
            log.info("%s: the server answered %s", self.source.id, snippet(str(data)))
        return reply.in_reply_to


class Open311InboxAdapter(BaseAdapter):
    """Requests filed on tsur's own Open311 server (source kind ``open311_server``).

    Nothing to collect and nothing pushed to ``/webhooks``: the requests
    arrive through ``POST /open311/v2/requests.json`` (:mod:`tsur.server.open311`).
    An answer needs no posting either: the server publishes it as the
    request's ``status_notes``, where the client that filed it reads it, so
    :meth:`reply` records it as delivered.
    """

    kind: ClassVar[str] = "open311_server"

    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Refused: requests come through the Open311 server, not as payloads."""
        raise PayloadError(
            "an open311_server source takes requests through POST /open311/v2/requests.json",
            source=self.source.id,
        )

    def reply(self, reply: Reply) -> str | None:
        """The answer's reference: it is published as the request's ``status_notes``."""
        return f"status_notes:{reply.incident_id}"
