"""«Госуслуги. Решаем вместе» (ПОС) appeals through a documented webhook (kind ``pos``).

ПОС has no public API: agencies answer inside its operator cabinet or
through СМЭВ. tsur therefore defines the shape a connector (an СМЭВ
gateway, a regional integration bus, an export script) sends, and the shape
tsur sends back:

Inbound (POST to tsur), signed with the source's key as every ``webhook``
source's (``X-Tsur-Timestamp`` and ``X-Tsur-Signature``, see
:mod:`tsur.adapters.webhook`):

- an appeal: ``{"type": "appeal", "appeal": {…PosAppeal…}}`` (or the bare
  appeal object, or a JSON array of either);
- a status callback: ``{"type": "status", "status": {…PosStatus…}}`` — the
  citizen's rating of an answer arrives this way.

Outbound (POST to ``callback_url``), signed the same way: a
:class:`PosStatus` with ``status`` ``in_progress`` (an intermediate answer)
or ``answer_ready`` (the final one) and the answer's text.

Appeals can also be read from a JSON Lines export (``path``): one appeal per
line; the cursor is the number of lines read. :func:`widget_url` builds the
link to the ПОС form to point citizens at.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tsur.context import Context
from tsur.domain import Attachment, Author, FetchResult, GeoPoint, Message, Reply, Source
from tsur.errors import AdapterError, ConfigError, PayloadError
from tsur.wire import check_instant, decode_line, escaped_line, split_lines

from ._base import AdapterOptions, HttpAdapter
from ._payload import FetchBatch, RejectedItem, load_json, refusing, validate
from ._webhooks import WebhookPayload
from .webhook import SignedOptions, answer_id, signed_post, signing_key, verify_signed

__all__ = [
    "POS_FORM_URL",
    "PosAdapter",
    "PosAppeal",
    "PosOptions",
    "PosStatus",
    "widget_url",
]

log = logging.getLogger("tsur.adapters")

#: The public ПОС form (the only public surface of the platform).
POS_FORM_URL = "https://pos.gosuslugi.ru/form/"


def widget_url(org_id: int | str, *, fz59: bool | None = None, **utm: str) -> str:
    """Link to the ПОС form of organisation ``org_id`` (``opaId``), e.g. for a VK menu."""
    params: dict[str, str] = {"opaId": str(org_id)}
    if fz59 is not None:
        params["fz59"] = "true" if fz59 else "false"
    params.update({f"utm_{k}": v for k, v in utm.items()})
    return f"{POS_FORM_URL}?{urlencode(params)}"


class _W(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _aware(v: datetime) -> datetime:
    if v.utcoffset() is None:
        raise ValueError("must carry a time zone offset, e.g. 2026-11-16T09:41:00+04:00")
    return check_instant(v, what="the date")


class PosCoordinates(_W):
    """The geotag the citizen set on the map (WGS84)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class PosAttachment(_W):
    """A photo or file attached to an appeal."""

    url: str = Field(min_length=1)
    name: str | None = None
    mime_type: str | None = None


class PosAuthor(_W):
    """The citizen; ``anonymous`` hides the name publicly (the executor still sees it)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    anonymous: bool = False


class PosAppeal(_W):
    """One ПОС appeal as a connector delivers it."""

    id: str = Field(min_length=1, max_length=255, description="ПОС appeal number")
    category: str | None = Field(None, description="ПОС category (name or code)")
    subcategory: str | None = None
    text: str = Field(min_length=1)
    address: str | None = None
    coordinates: PosCoordinates | None = None
    attachments: list[PosAttachment] = Field(default_factory=list)
    author: PosAuthor | None = None
    created_at: datetime
    fz59: bool = Field(False, description="the citizen asked for an answer under 59-ФЗ")
    url: str | None = Field(None, description="the appeal in the operator cabinet")

    _id = field_validator("id", mode="before")(lambda cls, v: str(v) if isinstance(v, int) else v)
    _at = field_validator("created_at")(lambda cls, v: _aware(v))


PosState = Literal["received", "in_progress", "answer_ready", "closed"]


class PosStatus(_W):
    """A status change of an appeal, in either direction.

    From tsur: ``in_progress`` / ``answer_ready`` with ``answer``. From ПОС:
    ``closed`` with the citizen's ``rating`` (1–5), ``rating_comment`` and
    ``resolved`` («решено / не решено»).
    """

    appeal_id: str = Field(min_length=1)
    status: PosState
    answer: str | None = None
    answer_kind: Literal["intermediate", "final"] | None = None
    incident_id: int | None = None
    rating: int | None = Field(None, ge=1, le=5)
    rating_comment: str | None = None
    resolved: bool | None = None
    at: datetime

    _id = field_validator("appeal_id", mode="before")(
        lambda cls, v: str(v) if isinstance(v, int) else v
    )
    _at = field_validator("at")(lambda cls, v: _aware(v))


class PosEvent(_W):
    """The envelope of a pushed body."""

    type: Literal["appeal", "status"]
    appeal: PosAppeal | None = None
    status: PosStatus | None = None


class PosOptions(SignedOptions):
    """Options of a ``pos`` source (``[[sources]] options``)."""

    callback_url: str | None = Field(None, description="where status changes are POSTed")
    category_map: dict[str, str] = Field(
        default_factory=dict, description="ПОС category → topic id of the region"
    )
    path: str | None = Field(None, description="JSON Lines export of appeals to collect")
    org_id: str | None = Field(None, description="organisation id in ПОС (opaId) for links")
    timeout: float = Field(20.0, gt=0, description="seconds per request")

    @model_validator(mode="after")
    def _key(self) -> PosOptions:
        if not (self.has_key() or self.path):
            raise ValueError(
                "a pos source takes signed requests: set secret_env (the environment variable "
                "holding the key), or path to read an export only, or insecure = true for "
                "local testing"
            )
        return self


class PosAdapter(HttpAdapter):
    """ПОС appeals in, status changes and answers out (source kind ``pos``)."""

    kind: ClassVar[str] = "pos"
    options_model: ClassVar[type[AdapterOptions]] = PosOptions
    opts: PosOptions

    def __init__(self, source: Source, context: Context | None = None, **runtime: Any) -> None:
        super().__init__(source, context, **runtime)
        if context is not None:
            topics = context.region.topics
            wrong = [(k, v) for k, v in self.opts.category_map.items() if v not in topics]
            if wrong:
                raise ConfigError(
                    f"source {source.id!r}: category_map names unknown topics",
                    problems=[
                        (f"options.category_map.{k}", f"unknown topic {v!r}") for k, v in wrong
                    ],
                )

    # inbound ----------------------------------------------------------------
    def events(self, payload: bytes | str | Mapping[str, Any]) -> list[PosAppeal | PosStatus]:
        """Appeals and status changes in a body (an event, a bare appeal or an array)."""
        data = load_json(payload, source=self.source.id, what="ПОС body")
        items = data if isinstance(data, list) else [data]
        out: list[PosAppeal | PosStatus] = []
        for i, item in enumerate(items):
            at = f"[{i}]" if isinstance(data, list) else ""
            if isinstance(item, Mapping) and "type" in item:
                ev = validate(PosEvent, item, source=self.source.id, what="ПОС event", at=at)
                got = ev.appeal if ev.type == "appeal" else ev.status
                if got is None:
                    raise PayloadError(
                        f"ПОС event{at}: type {ev.type!r} needs the {ev.type!r} object",
                        source=self.source.id,
                        raw=payload,
                    )
                out.append(got)
            else:
                out.append(
                    validate(PosAppeal, item, source=self.source.id, what="ПОС appeal", at=at)
                )
        return out

    @refusing("ПОС body")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """The appeals in a body as messages (status changes carry none)."""
        return [self.message(e) for e in self.events(payload) if isinstance(e, PosAppeal)]

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """JSON, signed with the source's key, dated within ``max_signature_age``."""
        verify_signed(self, self.opts, body, headers)

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookPayload:
        """Verified first (:meth:`verify_webhook`); appeals become messages, statuses events."""
        self.verify_webhook(body, headers)
        events = self.events(body)
        messages = [self.message(e) for e in events if isinstance(e, PosAppeal)]
        statuses = [e for e in events if isinstance(e, PosStatus)]
        return WebhookPayload(messages, None, statuses)

    def message(self, a: PosAppeal) -> Message:
        """An appeal as a message; its category becomes a topic through ``category_map``."""
        author = None
        if a.author is not None:
            au = a.author
            author = Author(None, au.name, au.email or au.phone, au.anonymous)
        attachments = [
            Attachment(
                "photo" if (x.mime_type or "").startswith("image/") else "file",
                x.url,
                x.name,
                x.mime_type,
            )
            for x in a.attachments
        ]
        meta: dict[str, Any] = {"fz59": a.fz59}
        if a.category:
            meta["pos_category"] = a.category
        if a.subcategory:
            meta["pos_subcategory"] = a.subcategory
        cmap = self.opts.category_map
        topic = cmap.get(a.subcategory or "") or cmap.get(a.category or "")
        return Message(
            source=self.source.id,
            external_id=a.id,
            text=a.text,
            created_at=a.created_at,
            author=author,
            attachments=attachments,
            geo=GeoPoint(a.coordinates.lat, a.coordinates.lon) if a.coordinates else None,
            address=a.address,
            url=a.url,
            topic=topic,
            meta=meta,
        )

    def fetch(self, cursor: str | None) -> FetchResult:
        """Appeals on lines of the ``path`` export after ``cursor`` (a line count)."""
        if not self.opts.path:
            return FetchResult([], cursor, False)
        path = Path(self.opts.path)
        try:
            lines = split_lines(path.read_bytes())  # decoded line by line below
        except OSError as exc:
            raise AdapterError(f"cannot read {path}: {exc}", source=self.source.id) from exc
        start = int(cursor or 0)
        if start > len(lines):  # a new, shorter export replaced the file
            start = 0
        messages: list[Message] = []
        rejected: list[RejectedItem] = []
        for n, raw in enumerate(lines[start:], start=start + 1):
            try:
                line = decode_line(raw, first=n == 1)
            except ValueError as exc:
                rejected.append(RejectedItem(escaped_line(raw), f"{path}:{n}: {exc}", n))
                continue
            if not line.strip():
                continue
            try:
                messages.extend(self.parse(line))
            except PayloadError as exc:
                rejected.append(RejectedItem(line, f"{path}:{n}: {exc}", n))
        return FetchBatch(messages, str(len(lines)), False, tuple(rejected))

    # outbound ---------------------------------------------------------------
    def status_update(
        self,
        appeal_id: str,
        status: PosState,
        *,
        answer: str | None = None,
        answer_kind: Literal["intermediate", "final"] | None = None,
        incident_id: int | None = None,
    ) -> str | None:
        """POST a status change to ``callback_url``; the connector's id for it, if any."""
        if not self.opts.callback_url:
            log.info(
                "%s: status of appeal %s not sent: no options.callback_url",
                self.source.id,
                appeal_id,
            )
            return None
        st = PosStatus(
            appeal_id=appeal_id,
            status=status,
            answer=answer,
            answer_kind=answer_kind,
            incident_id=incident_id,
            at=self.now(),
        )
        body = st.model_dump(mode="json", exclude_none=True)
        key = signing_key(self.opts)
        req = signed_post(self.opts.callback_url, body, key, what="status", at=self.now())
        return answer_id(self.channel.send(req)) or f"{appeal_id}:{status}"

    def reply(self, reply: Reply) -> str | None:
        """An intermediate answer is ``in_progress``, a final one ``answer_ready``."""
        if not reply.in_reply_to:
            raise AdapterError(
                f"incident {reply.incident_id}: an answer in ПОС needs the appeal id",
                source=self.source.id,
            )
        final = reply.kind == "final"
        return self.status_update(
            reply.in_reply_to,
            "answer_ready" if final else "in_progress",
            answer=reply.text,
            answer_kind="final" if final else "intermediate",
            incident_id=reply.incident_id,
        )

    def widget_url(self, **utm: str) -> str:
        """The ПОС form link of ``org_id`` to point citizens at."""
        if not self.opts.org_id:
            raise AdapterError("options.org_id (opaId) is not set", source=self.source.id)
        return widget_url(self.opts.org_id, fz59=None, **utm)
