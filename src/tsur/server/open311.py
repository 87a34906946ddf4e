"""Open311 GeoReport v2 under ``/open311/v2``: the region's incidents as service requests.

The standard's six calls, each as ``.json`` and ``.xml``
(http://wiki.open311.org/GeoReport_v2):

- ``GET services`` — the region's topics as services (``service_code`` is
  the topic id, ``group`` the parent topic's name), and ``GET
  services/{code}`` — a service's definition (no attributes);
- ``POST requests`` — a new request, form-encoded as the spec has it (JSON
  too): it becomes a :class:`~tsur.domain.Message` of the region's
  ``open311_server`` source and goes through the pipeline like any other
  message. Its answer carries a ``token`` (processing is asynchronous), or
  the ``service_request_id`` when the request was processed in-line
  (``[server] process_inline``) and made an incident;
- ``GET tokens/{token}`` — the ``service_request_id`` of a token once its
  message is processed;
- ``GET requests`` (filters ``service_request_id``, ``service_code``,
  ``start_date``, ``end_date``, ``status``; at most 1000, the last 90 days
  by default, newest first; the ``page``/``page_size`` extension) and
  ``GET requests/{id}``.

A service request *is* an incident: ``service_request_id`` is its number,
``status`` is ``open`` while :attr:`~tsur.domain.Status.is_open` and
``closed`` once it is resolved, closed, rejected or a duplicate. Nothing
personal leaves: ``description`` is the incident's masked summary,
``status_notes`` the latest answer (masked), and the name, e-mail and phone
a request was filed with are kept on its message for the answer only.

Filing needs an API key with :attr:`~tsur.roles.Right.OPEN311` (the spec's
``api_key`` parameter, or ``X-API-Key``/``Authorization: Bearer``); reads
need one too unless ``[server] open311_public``. A key scoped to a
municipality files requests there and reads only its requests. Errors are
the spec's ``[{"code": 400, "description": "..."}]`` with the HTTP status —
for these paths only; the rest of the service keeps its own error bodies.
See ``docs/open311.md``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from tsur.access import Principal, can_see, incident_scope, narrow, require
from tsur.domain import Attachment, Author, GeoPoint, Incident, Message, Status
from tsur.errors import (
    AccessDenied,
    NotFound,
    Open311Refused,
    StorageError,
    TooManyRequests,
    TsurError,
)
from tsur.region import Region
from tsur.roles import Right
from tsur.server.deps import ServerState, admit, client_address, retry_after, state
from tsur.server.errors import error_status
from tsur.text.masking import mask_citizen_text

__all__ = [
    "MAX_REQUESTS",
    "PUBLIC_RATE",
    "SOURCE_KIND",
    "Open311Route",
    "open311_status",
    "router",
]

log = logging.getLogger("tsur.server")

#: The source kind requests filed here are stored under (``[[sources]] kind``).
SOURCE_KIND = "open311_server"
#: Most requests one ``GET requests`` answers (the spec's cap).
MAX_REQUESTS = 1000
#: Requests a minute an address may make without a key when reads are public.
PUBLIC_RATE = 300
#: The default and longest span of ``GET requests`` (the spec's).
SPAN = timedelta(days=90)
_MAX_DESCRIPTION = 4000  # the spec's limit
_MAX_ID = 2**63 - 1
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

#: What the ``status_notes`` of a request with no answer yet say, by status.
_NOTES = {
    Status.NEW: "Обращение принято.",
    Status.TRIAGE: "Обращение на разборе в ЦУР.",
    Status.CLASSIFIED: "Обращение принято и направляется исполнителю.",
    Status.ROUTED: "Обращение направлено исполнителю.",
    Status.IN_PROGRESS: "Обращение в работе у исполнителя.",
    Status.ANSWERED_INTERMEDIATE: "Дан промежуточный ответ.",
    Status.RESOLVED: "Проблема решена.",
    Status.CLOSED: "Обращение закрыто.",
    Status.REOPENED: "Обращение возвращено в работу.",
    Status.REJECTED: "Обращение отклонено.",
    Status.DUPLICATE: "Обращение объединено с другим обращением о той же проблеме.",
}


def open311_status(status: Status) -> str:
    """Open311's ``open`` or ``closed`` for a tsur status (``closed``: resolved, closed,
    rejected, a duplicate)."""
    return "open" if status.is_open else "closed"


# errors ------------------------------------------------------------------------
def _is_xml(request: Request) -> bool:
    return request.url.path.endswith(".xml")


def _problem(exc: Exception) -> tuple[int, str, dict[str, str]]:
    """The HTTP status, the description and the headers of an error answer."""
    if isinstance(exc, Open311Refused):
        return exc.status, str(exc), {}
    if isinstance(exc, RequestValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('query', 'path'))}: "
            f"{e.get('msg', '')}"
            for e in exc.errors()
        ]
        return 400, "; ".join(parts) or "invalid request", {}
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail), dict(exc.headers or {})
    if isinstance(exc, TooManyRequests):
        return 429, str(exc), retry_after(exc)
    if isinstance(exc, AccessDenied):  # the spec answers a missing or bad api_key 403
        return (403 if exc.status == 401 else exc.status), f"api_key: {exc}", {}
    if isinstance(exc, StorageError) and (exc.unavailable or exc.retryable):
        return 503, "the service is busy; try again", {"Retry-After": "5"}
    if isinstance(exc, TsurError):
        return error_status(exc)[0], str(exc), {}
    return 500, "internal error", {}


def error_response(request: Request, exc: Exception) -> Response:
    """``exc`` as the spec's errors array, in the format the path asks for."""
    status, description, headers = _problem(exc)
    if status >= 500 and not isinstance(exc, StorageError):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    errors = [{"code": status, "description": description}]
    return _render(
        errors, xml=_is_xml(request), root="errors", item="error", status=status, headers=headers
    )


class Open311Route(APIRoute):
    """A route whose every error is answered in Open311's format (see :func:`error_response`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every failure is answered in the spec's format
                return error_response(request, exc)

        return route_handler


class Open311Problem(BaseModel):
    """One entry of Open311's errors array."""

    code: int
    description: str


#: The errors every Open311 operation may answer, as the spec's array.
OPEN311_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "model": list[Open311Problem],
        "description": what,
        "content": {"application/xml": {"schema": {"type": "string"}}},
    }
    for status, what in (
        (400, "a field is missing or malformed"),
        (401, "no valid api_key"),
        (403, "no valid api_key with the open311 right"),
        (404, "unknown service, request, token, format or jurisdiction_id"),
        (405, "another method is allowed here"),
        (408, "the body took too long to arrive"),
        (413, "the body is over the limit"),
        (415, "a body of a type the spec does not take"),
        (422, "a field is missing or malformed"),
        (429, "over the key's rate; see Retry-After"),
        (503, "the database is busy; see Retry-After"),
    )
}

#: Every Open311 answer comes as JSON or, for a path ending in ``.xml``, as XML.
OPEN311_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {"schema": {"type": "string"}}}},
}

router = APIRouter(
    prefix="/open311/v2",
    tags=["open311"],
    route_class=Open311Route,
    responses=OPEN311_FORMATS | OPEN311_ERRORS,
)

State = Annotated[ServerState, Depends(state)]


# formats -----------------------------------------------------------------------
def _fmt(fmt: Annotated[str, Path(max_length=8, description="json or xml")]) -> bool:
    """True for ``.xml``; an unknown format is 404."""
    if fmt not in ("json", "xml"):
        raise Open311Refused(f"format {fmt[:8]!r} not found: use .json or .xml", status=404)
    return fmt == "xml"


Xml = Annotated[bool, Depends(_fmt)]


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_UNSAFE.sub("", str(value))


def _xml_fill(parent: ElementTree.Element, value: Any, item: str) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _xml_fill(ElementTree.SubElement(parent, k), v, item)
    elif isinstance(value, list):
        for v in value:
            _xml_fill(ElementTree.SubElement(parent, item), v, item)
    elif value is not None:
        parent.text = _xml_text(value)


def _render(
    body: Any,
    *,
    xml: bool,
    root: str,
    item: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``body`` as JSON, or as XML under ``root`` with list members named ``item``."""
    if not xml:
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))
    element = ElementTree.Element(root)
    if isinstance(body, Mapping):
        for k, v in body.items():
            _xml_fill(ElementTree.SubElement(element, k), v, _XML_ITEMS.get(k, item))
    else:
        _xml_fill(element, body, item)
    data = ElementTree.tostring(element, encoding="utf-8", xml_declaration=True)
    return Response(
        data,
        status_code=status,
        media_type="application/xml; charset=utf-8",
        headers=dict(headers or {}),
    )


_XML_ITEMS = {"attributes": "attribute", "values": "value"}


# callers -----------------------------------------------------------------------
def _bearer(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def _key(request: Request, given: str | None) -> str | None:
    """The API key: the spec's ``api_key`` parameter, ``X-API-Key`` or Bearer.

    Given more than once, the keys must be the same: which of two different
    keys counts is not a guess to make, so neither does (refused as no key).
    """
    keys = {k for k in (given, request.headers.get("x-api-key"), _bearer(request)) if k}
    if len(keys) > 1:
        raise AccessDenied("two different API keys in one request", status=401)
    return keys.pop() if keys else None


def _filer(request: Request, given: str | None) -> Principal:
    who = admit(request, _key(request, given))
    require(who, Right.OPEN311)
    return who


def reader(request: Request, st: State) -> Principal | None:
    """The caller of a read: a key with OPEN311, or nobody when reads are public."""
    token = _key(request, request.query_params.get("api_key"))
    if token is None and st.settings.open311_public:
        wait = st.limiter.take(f"open311:{client_address(request)}", PUBLIC_RATE)
        if wait:
            raise TooManyRequests(f"over {PUBLIC_RATE} requests a minute", retry_after=wait)
        return None
    return _filer(request, token)


Reader = Annotated[Principal | None, Depends(reader)]


def jurisdiction(st: ServerState, given: str | None) -> None:
    """Refuse (404) a ``jurisdiction_id`` other than this server's; none is fine."""
    ours = st.settings.jurisdiction_id or st.engine.config.region.code
    if given is not None and given != ours:
        raise Open311Refused(f"jurisdiction_id {given[:100]!r} not found", status=404)


def checked_jurisdiction(request: Request, st: State) -> None:
    """The ``jurisdiction_id`` query parameter checked (see :func:`jurisdiction`)."""
    jurisdiction(st, request.query_params.get("jurisdiction_id"))


Jurisdiction = Depends(checked_jurisdiction)


def _visible(st: ServerState, who: Principal | None, inc: Incident) -> bool:
    return who is None or can_see(who, inc, st.engine.region)


# services ----------------------------------------------------------------------
def _service(region: Region, topic_id: str) -> dict[str, Any]:
    topic = region.topics[topic_id]
    parent = region.topics.get(topic.parent or "")
    chain = region.topic_chain(topic_id)
    return {
        "service_code": topic.id,
        "service_name": topic.name,
        "description": " / ".join(region.topics[t].name for t in chain if t in region.topics)
        or topic.name,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(topic.keywords) or None,
        "group": parent.name if parent is not None else topic.name,
    }


@router.get(
    "/services.{fmt}",
    summary="Open311: the services (the region's topics)",
    dependencies=[Jurisdiction],
)
async def services(xml: Xml, st: State, who: Reader) -> Response:
    """Every topic of the region as a service."""
    region = st.engine.region
    body = [_service(region, t) for t in region.topics]
    return _render(body, xml=xml, root="services", item="service")


@router.get(
    "/services/{service_code}.{fmt}",
    summary="Open311: a service's definition",
    dependencies=[Jurisdiction],
)
async def service_definition(
    service_code: Annotated[str, Path(max_length=64)], xml: Xml, st: State, who: Reader
) -> Response:
    """A service's definition: it asks for no attributes (``metadata`` is false)."""
    if service_code not in st.engine.region.topics:
        raise Open311Refused(f"service_code {service_code!r} not found", status=404)
    body = {"service_code": service_code, "attributes": []}
    return _render(body, xml=xml, root="service_definition", item="attribute")


# requests out --------------------------------------------------------------------
def _w3(at: datetime | None, region: Region) -> str | None:
    return at.astimezone(region.calendar.tz).isoformat(timespec="seconds") if at else None


def _notes(inc: Incident) -> str:
    answers = [e for e in inc.history if e.kind == "reply" and e.data.get("text")]
    if answers:
        return mask_citizen_text(str(answers[-1].data["text"]))
    return _NOTES[inc.status]


def _media(st: ServerState, incident_id: int) -> str | None:
    for sm in st.engine.repository.messages(incident_id=incident_id, limit=20):
        for a in sm.message.attachments:
            if a.kind == "photo" and a.url and a.url.startswith(("https://", "http://")):
                return a.url
    return None


def request_out(st: ServerState, inc: Incident) -> dict[str, Any]:
    """An incident (loaded with its history) as a GeoReport v2 service request."""
    assert inc.id is not None
    region = st.engine.region
    executor = region.executors.get(inc.executor or "")
    updated = max((e.at for e in inc.history), default=inc.created_at)
    topic = inc.topic if inc.topic in region.topics else None
    return {
        "service_request_id": str(inc.id),
        "status": open311_status(inc.status),
        "status_notes": _notes(inc),
        "service_name": region.topics[topic].name if topic else None,
        "service_code": topic,
        "description": inc.summary or None,
        "agency_responsible": executor.name if executor else None,
        "service_notice": f"Статус в ЦУР: {inc.status.label}",
        "requested_datetime": _w3(inc.created_at, region),
        "updated_datetime": _w3(updated, region),
        "expected_datetime": _w3(inc.resolution_due, region),
        "address": inc.address,
        "address_id": None,
        "zipcode": None,
        "lat": inc.geo.lat if inc.geo else None,
        "long": inc.geo.lon if inc.geo else None,
        "media_url": _media(st, inc.id),
    }


def _requests_body(st: ServerState, found: Iterable[Incident]) -> list[dict[str, Any]]:
    out = []
    for listed in found:
        assert listed.id is not None
        try:
            inc = st.engine.incident(listed.id)  # with its history
        except NotFound:  # gone between the listing and now (merged away)
            continue
        out.append(request_out(st, inc))
    return out


def _instant(name: str, value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    text = value.strip().replace(" ", "+")  # an unencoded "+" of an offset arrives as a space
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Refused(
            f"{name} must be a W3C date and time, e.g. 2026-11-16T10:00:00+04:00"
        ) from None
    if at.utcoffset() is None:
        raise Open311Refused(f"{name} must carry a time zone (Z or +04:00)")
    if not 1971 <= at.year <= 9000:  # and a 90-day window around it stays a date
        raise Open311Refused(f"{name} must be a date between 1971 and 9000")
    return at


def _number(text: str) -> bool:
    """Whether ``text`` is a request number: ASCII digits («²» is a digit to Python), in range."""
    return text.isascii() and text.isdigit() and 0 < int(text) <= _MAX_ID


def _listed(name: str, value: str | None) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(items) > MAX_REQUESTS:
        raise Open311Refused(f"{name}: at most {MAX_REQUESTS} values")
    return items


def _filters(st: ServerState, q: Mapping[str, str]) -> dict[str, Any]:
    """The store's incident filters of a ``GET requests`` query (see the module)."""
    ids = _listed("service_request_id", q.get("service_request_id"))
    if ids:  # "this overrides all other arguments"
        if not all(_number(i) for i in ids):
            raise Open311Refused("service_request_id must be request numbers, comma-separated")
        return {"ids": sorted({int(i) for i in ids})}
    filters: dict[str, Any] = {}
    codes = _listed("service_code", q.get("service_code"))
    for code in codes:
        if code not in st.engine.region.topics:
            raise Open311Refused(f"service_code {code!r} not found", status=404)
    if codes:
        filters["topic"] = codes
    wanted = set(_listed("status", q.get("status")))
    if wanted - {"open", "closed"}:
        raise Open311Refused("status must be open, closed or both, comma-separated")
    if wanted == {"open"}:
        filters["status"] = [s.value for s in Status if s.is_open]
    elif wanted == {"closed"}:
        filters["status"] = [s.value for s in Status if not s.is_open]
    start = _instant("start_date", q.get("start_date"))
    end = _instant("end_date", q.get("end_date"))
    if start is not None and end is not None and start > end:
        raise Open311Refused("start_date is after end_date")
    if start is not None and end is not None and end - start > SPAN:
        raise Open311Refused("start_date and end_date may be at most 90 days apart")
    if start is None:
        start = (end if end is not None else st.engine.clock()) - SPAN
    filters["created_from"] = start
    if end is not None or q.get("start_date"):
        # end_date itself is in the range: one second past it, ISO dates having whole seconds
        filters["created_before"] = (end or start + SPAN) + timedelta(seconds=1)
    return filters


def _page(q: Mapping[str, str]) -> tuple[int, int]:
    """The ``page``/``page_size`` extension: (limit, offset)."""
    try:
        size = int(q.get("page_size") or MAX_REQUESTS)
        page = int(q.get("page") or 1)
    except ValueError:
        raise Open311Refused("page and page_size must be whole numbers") from None
    if not 1 <= size <= MAX_REQUESTS or not 1 <= page <= 1_000_000:
        raise Open311Refused(f"page_size must be 1–{MAX_REQUESTS} and page 1 or more")
    return size, (page - 1) * size


@router.get(
    "/requests.{fmt}",
    summary="Open311: service requests (incidents)",
    dependencies=[Jurisdiction],
)
async def list_requests(request: Request, xml: Xml, st: State, who: Reader) -> Response:
    """Requests matching the filters, newest first, at most 1000 (the last 90 days unless
    dates are given; ``service_request_id`` overrides every other filter)."""
    q = request.query_params
    filters = _filters(st, q)
    limit, offset = _page(q)
    if who is not None:
        filters["territory"] = narrow(incident_scope(who, st.engine.region), None)

    def load() -> list[dict[str, Any]]:
        found = st.engine.incidents(**filters, limit=limit, offset=offset)
        return _requests_body(st, found)

    body = await run_in_threadpool(load)
    return _render(body, xml=xml, root="service_requests", item="request")


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="Open311: one service request",
    dependencies=[Jurisdiction],
)
async def get_request(
    service_request_id: Annotated[str, Path(max_length=20)], xml: Xml, st: State, who: Reader
) -> Response:
    """One request; another municipality's is 404 for a scoped key, like a missing one."""
    missing = Open311Refused(f"service_request_id {service_request_id!r} not found", status=404)
    if not _number(service_request_id):
        raise missing

    def load() -> list[dict[str, Any]]:
        try:
            inc = st.engine.incident(int(service_request_id))
        except NotFound:
            raise missing from None
        if not _visible(st, who, inc):
            raise missing
        return [request_out(st, inc)]

    body = await run_in_threadpool(load)
    return _render(body, xml=xml, root="service_requests", item="request")


# requests in ---------------------------------------------------------------------
async def _form(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The fields of a POSTed request (query parameters too) and its ``attribute[…]``."""
    ctype = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    pairs: list[tuple[str, Any]] = list(request.query_params.multi_items())
    body = await request.body()
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Open311Refused("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Open311Refused("the JSON body must be an object of fields")
        for k, v in data.items():
            if k == "attribute" and isinstance(v, dict):
                pairs.extend((f"attribute[{code}]", value) for code, value in v.items())
            else:
                pairs.append((k, v))
    elif ctype in ("application/x-www-form-urlencoded", ""):
        try:
            pairs.extend(
                parse_qsl(
                    body.decode("utf-8"),
                    keep_blank_values=True,
                    strict_parsing=False,
                    max_num_fields=500,
                )
            )
        except (ValueError, UnicodeDecodeError):
            raise Open311Refused("the form is not UTF-8 or has over 500 fields") from None
    elif ctype == "multipart/form-data":
        form = await request.form(max_files=0, max_fields=500)
        pairs.extend((k, v) for k, v in form.multi_items() if isinstance(v, str))
    else:
        raise Open311Refused(
            f"a request is sent as application/x-www-form-urlencoded or JSON, not {ctype!r}",
            status=415,
        )
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for name, raw in pairs:
        values = raw if isinstance(raw, list) else [raw]
        for value in values:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                if value is None:
                    continue
                raise Open311Refused(f"{str(name)[:64]} must be a string or a number")
            m = _ATTRIBUTE.match(name)
            if m is not None:
                attributes.setdefault(m.group(1), []).append(str(value))
            else:
                fields[name] = str(value)
    if len(attributes) > 50 or any(len(v) > 50 for v in attributes.values()):
        raise Open311Refused("at most 50 attributes of 50 values each")
    return fields, attributes


def _field(fields: Mapping[str, str], name: str, longest: int) -> str | None:
    value = (fields.get(name) or "").strip()
    if len(value) > longest:
        raise Open311Refused(f"{name} is longer than {longest} characters")
    if any(not c.isprintable() for c in value) and name != "description":
        raise Open311Refused(f"{name} has control characters")
    return value or None


def _coordinate(fields: Mapping[str, str], name: str, bound: float) -> float | None:
    raw = _field(fields, name, 40)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Refused(f"{name} must be a number (WGS84 degrees)") from None
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise Open311Refused(f"{name} must be between -{bound:g} and {bound:g}")
    return value


def _contact(fields: Mapping[str, str]) -> tuple[str | None, str | None]:
    email = _field(fields, "email", 254)
    if email is not None and (email.count("@") != 1 or " " in email):
        raise Open311Refused("email is not an e-mail address")
    phone = _field(fields, "phone", 40)
    if phone is not None and not re.fullmatch(r"[0-9+()\-. ]{3,40}", phone):
        raise Open311Refused("phone may hold digits, spaces and + ( ) - . only")
    return email, phone


def new_message(
    st: ServerState,
    source: str,
    fields: Mapping[str, str],
    attributes: Mapping[str, list[str]],
    *,
    territory: str | None,
) -> Message:
    """The message a POSTed request makes (its ``external_id`` is the request's token)."""
    region = st.engine.region
    code = _field(fields, "service_code", 64)
    if code is None:
        raise Open311Refused("service_code is required")
    if code not in region.topics:
        raise Open311Refused(f"service_code {code!r} not found", status=404)
    lat = _coordinate(fields, "lat", 90.0)
    lon = _coordinate(fields, "long", 180.0)
    if (lat is None) != (lon is None):
        raise Open311Refused("lat and long go together")
    address = _field(fields, "address_string", 500)
    if lat is None and address is None:
        if fields.get("address_id"):
            raise Open311Refused(
                "address_id is not known here: give lat and long, or address_string"
            )
        raise Open311Refused("a location is required: lat and long, or address_string")
    description = _field(fields, "description", _MAX_DESCRIPTION)
    media = _field(fields, "media_url", 2000)
    if media is not None and urlsplit(media).scheme not in ("http", "https"):
        raise Open311Refused("media_url must be an http(s) URL")
    email, phone = _contact(fields)
    names = [n for n in (_field(fields, "first_name", 100), _field(fields, "last_name", 100)) if n]
    meta: dict[str, Any] = {"service_code": code}
    if attributes:
        meta["attributes"] = {k: v[0] if len(v) == 1 else v for k, v in attributes.items()}
    if email and phone:
        meta["phone"] = phone  # the e-mail is the contact; the phone is kept for the executor
    author = (
        Author(name=" ".join(names) or None, contact=email or phone)
        if names or email or phone
        else None
    )
    return Message(
        source=source,
        external_id=secrets.token_hex(16),
        text=description or region.topics[code].name,
        created_at=st.engine.clock(),
        author=author,
        attachments=[Attachment("photo", media)] if media else [],
        geo=GeoPoint(lat, lon) if lat is not None and lon is not None else None,
        address=address,
        topic=code,
        territory=territory,
        meta=meta,
    )


def intake_source(region: Region) -> str:
    """The region's source for requests filed here: the first of kind ``open311_server``."""
    for source in region.sources.values():
        if source.kind == SOURCE_KIND:
            return source.id
    raise Open311Refused(
        f"this server takes no requests: the region has no source of kind {SOURCE_KIND!r}"
    )


def _registered_notice(st: ServerState, inc: Incident) -> str:
    region = st.engine.region
    notice = f"Обращение зарегистрировано под № {inc.id}."
    executor = region.executors.get(inc.executor or "")
    if executor is not None:
        notice += f" Исполнитель: {executor.name}."
    if inc.resolution_due is not None:
        due = inc.resolution_due.astimezone(region.calendar.tz).strftime("%d.%m.%Y %H:%M")
        notice += f" Срок решения — до {due}."
    return notice


_QUEUED_NOTICE = (
    "Обращение принято и будет зарегистрировано после обработки; его номер можно узнать по token."
)


def _text(longest: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": longest}


#: The fields of a filed request (form-encoded as the spec says, or a JSON object). The
#: rules JSON Schema cannot state are checked by :func:`new_message`: a location is lat
#: and long together or an address; texts are printable; media_url is http(s).
REQUEST_FIELDS: dict[str, Any] = {
    "type": "object",
    "required": ["service_code"],
    "properties": {
        "api_key": _text(200),
        "jurisdiction_id": _text(200),
        "service_code": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]*$", "maxLength": 64},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "minimum": -180, "maximum": 180},
        "address_string": _text(500),
        "description": _text(_MAX_DESCRIPTION),
        "email": _text(254),
        "phone": {"type": "string", "pattern": "^[0-9+()\\-. ]{3,40}$"},
        "first_name": _text(100),
        "last_name": _text(100),
        "media_url": _text(2000),
    },
}


@router.post(
    "/requests.{fmt}",
    summary="Open311: file a service request",
    responses={
        200: {"description": "taken: a token, or the service_request_id when processed"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": REQUEST_FIELDS},
                "application/json": {"schema": REQUEST_FIELDS},
            },
        }
    },
)
async def post_request(request: Request, xml: Xml, st: State) -> Response:
    """File a request: stored as a message of the region's ``open311_server`` source."""
    fields, attributes = await _form(request)
    who = _filer(request, fields.get("api_key"))
    jurisdiction(st, fields.get("jurisdiction_id"))
    source = intake_source(st.engine.region)
    message = new_message(st, source, fields, attributes, territory=who.scope)
    report = await run_in_threadpool(st.engine.ingest, [message], origin=f"open311:{who.key_id}")
    if report.errors:
        raise Open311Refused(f"the request was not taken: {report.errors[0]}")
    body: dict[str, Any] = {"token": message.external_id, "service_notice": _QUEUED_NOTICE}
    if st.settings.process_inline:

        def process() -> Incident | None:
            with st.processing:
                st.engine.run()
            stored = st.engine.repository.message_by_key(source, message.external_id)
            found = stored.incident_id if stored is not None else None
            return st.engine.incident(found) if found is not None else None

        inc = await run_in_threadpool(process)
        if inc is not None and _visible(st, who, inc):
            body = {
                "service_request_id": str(inc.id),
                "service_notice": _registered_notice(st, inc),
            }
    body["account_id"] = None
    return _render([body], xml=xml, root="service_requests", item="request")


# tokens --------------------------------------------------------------------------
@router.get(
    "/tokens/{token}.{fmt}",
    summary="Open311: the service_request_id of a token",
    dependencies=[Jurisdiction],
)
async def get_token(
    token: Annotated[str, Path(max_length=64)], xml: Xml, st: State, who: Reader
) -> Response:
    """``service_request_id`` is null until the request is processed; a token whose
    request made no incident (refused by moderation, a thanks) is 404."""
    missing = Open311Refused(f"token {token!r} not found", status=404)
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        raise missing

    def load() -> str | None:
        sources = [s.id for s in st.engine.region.sources.values() if s.kind == SOURCE_KIND]
        for source in sources:
            sm = st.engine.repository.message_by_key(source, token)
            if sm is None:
                continue
            if sm.incident_id is None:
                if sm.status in ("pending", "failed"):
                    return None
                raise Open311Refused(
                    f"token {token!r}: the request made no service request ({sm.status})",
                    status=404,
                )
            inc = st.engine.incident(sm.incident_id)
            if not _visible(st, who, inc):
                raise missing
            return str(inc.id)
        raise missing

    found = await run_in_threadpool(load)
    body = [{"service_request_id": found, "token": token}]
    return _render(body, xml=xml, root="service_requests", item="request")


# anything else under /open311/v2 -------------------------------------------------------
@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def not_here(request: Request, rest: str) -> Response:
    """Open311's 404 for an unknown path, 405 for a known one with another method."""
    allowed = sorted(
        method
        for route in router.routes
        if isinstance(route, APIRoute)
        and route.endpoint is not not_here
        and route.matches(request.scope)[0] is Match.PARTIAL
        for method in route.methods or ()
    )
    if allowed:
        raise HTTPException(
            405, f"{request.method} is not allowed here", headers={"Allow": ", ".join(allowed)}
        )
    raise Open311Refused(f"{request.url.path} not found", status=404)
