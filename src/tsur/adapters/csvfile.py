"""CSV files: hotline and call-centre exports, one appeal a row (source kind ``csv``).

Columns are found by their header: ``columns`` maps tsur's fields to the
file's headers, and common Russian and English headers are recognised
without it («Номер», «Дата обращения», «Текст обращения», «Адрес»,
«ФИО», «Телефон», «Категория» …). The delimiter is sniffed (``,`` ``;``
tab) unless given; the encoding defaults to UTF-8 (with or without BOM) —
exports from Russian office software are often ``cp1251``.

Every bad row yields an :class:`~tsur.errors.IngestError` naming its line;
the good rows are read anyway. The cursor is the number of data rows read.
Without an id column a row's id is a hash of its content, so re-reading a
file never duplicates.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from pydantic import Field, field_validator

from tsur.context import Context
from tsur.domain import Attachment, Author, FetchResult, GeoPoint, Message, Reply, Source
from tsur.errors import AdapterError, ConfigError, IngestError, PayloadError
from tsur.wire import check_instant

from ._base import AdapterOptions, BaseAdapter
from ._payload import FetchBatch, RejectedItem, refusing

__all__ = ["FIELDS", "CsvAdapter", "CsvOptions", "ParsedRow"]

#: tsur fields a column can fill, with the headers recognised for each.
FIELDS: Mapping[str, tuple[str, ...]] = {
    "external_id": ("external_id", "id", "номер", "№", "номер обращения", "номер заявки", "n"),
    "text": (
        "text",
        "текст",
        "текст обращения",
        "содержание",
        "содержание обращения",
        "суть обращения",
        "описание",
        "сообщение",
        "обращение",
    ),
    "created_at": (
        "created_at",
        "date",
        "дата",
        "дата обращения",
        "дата и время",
        "дата создания",
        "дата регистрации",
        "время обращения",
    ),
    "author_name": ("author", "author_name", "фио", "ф.и.о.", "заявитель", "имя"),
    "author_contact": (
        "contact",
        "phone",
        "email",
        "e-mail",
        "телефон",
        "контакт",
        "контактный телефон",
    ),
    "address": ("address", "адрес", "адрес проблемы", "место"),
    "lat": ("lat", "latitude", "широта"),
    "lon": ("lon", "lng", "longitude", "долгота"),
    "category": ("category", "категория", "тема", "рубрика"),
    "topic": ("topic",),
    "territory": ("territory",),
    "url": ("url", "ссылка"),
    "attachments": ("attachments", "photo", "фото", "вложения"),
}
_FORMATS = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M",
)


class CsvOptions(AdapterOptions):
    """Options of a ``csv`` source (``[[sources]] options``)."""

    path: str | None = Field(None, description="the CSV file to collect")
    encoding: str = Field("utf-8-sig", description="file encoding (cp1251 for many exports)")
    delimiter: str | None = Field(None, description="column separator; sniffed when absent")
    columns: dict[str, str] = Field(default_factory=dict, description="tsur field → CSV header")
    datetime_format: str | None = Field(None, description="strptime format of the date column")
    timezone: str | None = Field(None, description="zone of dates without offset (region's)")
    category_map: dict[str, str] = Field(default_factory=dict, description="category → topic")
    id_prefix: str = Field("", description="prepended to row ids")

    @field_validator("columns")
    @classmethod
    def _known(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown fields {unknown}; known: {', '.join(FIELDS)}")
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError("must be one character")
        return v


@attrs.frozen
class ParsedRow:
    """One data row: a message, or the error that kept it from being one."""

    line: int
    raw: str
    message: Message | None = None
    error: IngestError | None = None
    header: str = ""  # the file's header line, to read the row again on its own


class CsvAdapter(BaseAdapter):
    """Reads appeals from CSV exports (source kind ``csv``)."""

    kind: ClassVar[str] = "csv"
    options_model: ClassVar[type[AdapterOptions]] = CsvOptions
    opts: CsvOptions

    def __init__(self, source: Source, context: Context | None = None) -> None:
        super().__init__(source, context)
        if self.opts.timezone:
            try:
                self.tz = ZoneInfo(self.opts.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"source {source.id!r}: unknown time zone {self.opts.timezone!r}",
                    problems=[("options.timezone", "use an IANA name like 'Europe/Samara'")],
                ) from None
        self._tz_known = bool(self.opts.timezone) or context is not None

    def _text(self, payload: bytes | str) -> str:
        """The text of a file; bytes that are not of the encoding become lone surrogates
        (``surrogateescape``), so that only the rows holding them are refused."""
        if isinstance(payload, str):
            return payload.removeprefix("\ufeff")
        try:
            return payload.decode(self.opts.encoding, errors="surrogateescape").removeprefix(
                "\ufeff"
            )
        except LookupError as exc:
            raise PayloadError(
                f"unknown encoding {self.opts.encoding!r} (set options.encoding, e.g. 'cp1251')",
                source=self.source.id,
                raw=payload,
            ) from exc

    def rows(self, payload: bytes | str, *, origin: str = "<csv>") -> Iterator[ParsedRow]:
        """Every data row as a message or an error naming its line."""
        text = self._text(payload)
        if not text.strip():
            return
        delimiter = self.opts.delimiter or _sniff(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            headers = next(reader)
        except csv.Error as exc:
            raise PayloadError(
                f"{origin}: unreadable header: {exc}", source=self.source.id
            ) from exc
        if _undecodable(_join(headers, delimiter)):
            raise PayloadError(
                f"{origin}: CSV is not {self.opts.encoding} text: its header has byte "
                f"0x{_undecodable(_join(headers, delimiter)) or 0:02X} "
                "(set options.encoding, e.g. 'cp1251')",
                source=self.source.id,
                raw=payload,
            )
        columns = self._columns(headers, origin)
        header = _join(headers, delimiter)
        last = reader.line_num
        while True:
            start = last + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # the reader goes on with the next line
                err = IngestError(f"unreadable CSV: {exc}", line=start, origin=origin)
                yield ParsedRow(start, "", error=err, header=header)
                last = reader.line_num
                continue
            last = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            raw = _join(row, delimiter)
            bad = _undecodable(raw)
            if bad is not None:
                err = IngestError(
                    f"not {self.opts.encoding} text: byte 0x{bad:02X} (the row is kept with "
                    "\\x escapes; set options.encoding if the whole file is another one)",
                    line=start,
                    origin=origin,
                )
                yield ParsedRow(start, _escaped(raw), error=err, header=header)
                continue
            try:
                msg = self._message(row, columns, headers)
            except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
                err = IngestError(str(exc), line=start, origin=origin)
                yield ParsedRow(start, raw, error=err, header=header)
                continue
            yield ParsedRow(start, raw, message=msg, header=header)

    def _columns(self, headers: list[str], origin: str) -> dict[str, int]:
        index = {h.strip().lower(): i for i, h in enumerate(headers)}
        found: dict[str, int] = {}
        for fld, given in self.opts.columns.items():
            if given.strip().lower() not in index:
                raise PayloadError(
                    f"{origin}: options.columns.{fld} names column {given!r}, the file has "
                    f"{', '.join(repr(h) for h in headers)}",
                    source=self.source.id,
                )
            found[fld] = index[given.strip().lower()]
        for fld, names in FIELDS.items():
            if fld in found:
                continue
            for name in names:
                if name in index:
                    found[fld] = index[name]
                    break
        missing = [f for f in ("text", "created_at") if f not in found]
        if missing:
            raise PayloadError(
                f"{origin}: no column for {', '.join(missing)} among "
                f"{', '.join(repr(h) for h in headers)}; map them with options.columns",
                source=self.source.id,
            )
        return found

    def _message(self, row: list[str], cols: Mapping[str, int], headers: list[str]) -> Message:
        def get(fld: str) -> str | None:
            i = cols.get(fld)
            if i is None or i >= len(row):
                return None
            return row[i].strip() or None

        if len(row) != len(headers):
            raise ValueError(f"{len(row)} columns, the header has {len(headers)}")
        text = get("text")
        if text is None:
            raise ValueError(f"empty text column {headers[cols['text']]!r}")
        created = self._datetime(get("created_at"), headers[cols["created_at"]])
        ext = get("external_id")
        if ext is None:
            ext = "row-" + hashlib.sha1("\x1f".join(row).encode("utf-8")).hexdigest()[:16]
        name, contact = get("author_name"), get("author_contact")
        lat, lon = get("lat"), get("lon")
        geo = None
        if lat and lon:
            geo = GeoPoint(float(lat.replace(",", ".")), float(lon.replace(",", ".")))
        category = get("category")
        topic = get("topic") or (self.opts.category_map.get(category) if category else None)
        urls = (get("attachments") or "").replace(";", " ").split()
        return Message(
            source=self.source.id,
            external_id=self.opts.id_prefix + ext,
            text=text,
            created_at=created,
            author=Author(None, name, contact) if name or contact else None,
            attachments=[Attachment("photo", u) for u in urls],
            geo=geo,
            address=get("address"),
            url=get("url"),
            topic=topic,
            territory=get("territory"),
            meta={"category": category} if category else {},
        )

    def _datetime(self, value: str | None, column: str) -> datetime:
        if value is None:
            raise ValueError(f"empty date column {column!r}")
        formats = (self.opts.datetime_format,) if self.opts.datetime_format else _FORMATS
        parsed: datetime | None = None
        try:
            parsed = datetime.fromisoformat(value) if not self.opts.datetime_format else None
        except ValueError:
            parsed = None
        for fmt in formats:
            if parsed is not None:
                break
            try:
                parsed = datetime.strptime(value, fmt)
            except ValueError:
                continue
        if parsed is None:
            want = self.opts.datetime_format or "ISO 8601 or ДД.ММ.ГГГГ ЧЧ:ММ"
            raise ValueError(f"cannot read date {value!r} in column {column!r} (expected {want})")
        if parsed.utcoffset() is None:
            if not self._tz_known:
                raise ValueError(f"date {value!r} has no offset: set options.timezone")
            parsed = parsed.replace(tzinfo=self._zone())
        return check_instant(parsed, what=f"date in column {column!r}")

    def _zone(self) -> tzinfo:
        return self.tz

    @refusing("CSV")
    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages of a whole CSV text; any bad row raises, naming every bad line."""
        if isinstance(payload, Mapping):
            raise PayloadError("a CSV payload is text, not an object", source=self.source.id)
        rows = list(self.rows(payload))
        bad = [r.error for r in rows if r.error is not None]
        if bad:
            listed = "; ".join(str(e) for e in bad[:10])
            more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
            raise PayloadError(
                f"{len(bad)} bad row(s): {listed}{more}", source=self.source.id, raw=payload
            )
        return [r.message for r in rows if r.message is not None]

    def fetch(self, cursor: str | None) -> FetchResult:
        """Rows after ``cursor`` (a data-row count); bad rows are reported, not fatal."""
        if not self.opts.path:
            raise AdapterError("a csv source needs options.path", source=self.source.id)
        path = Path(self.opts.path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AdapterError(f"cannot read {path}: {exc}", source=self.source.id) from exc
        rows = list(self.rows(data, origin=str(path)))
        start = int(cursor or 0)
        if start > len(rows):  # the file was replaced by a shorter export
            start = 0
        fresh = rows[start:]
        messages = [r.message for r in fresh if r.message is not None]
        rejected = [  # kept with the header, so the row can be read again on its own
            RejectedItem(f"{r.header}\n{r.raw}", str(r.error), r.line)
            for r in fresh
            if r.error is not None
        ]
        return FetchBatch(messages, str(len(rows)), False, tuple(rejected))

    def reply(self, reply: Reply) -> str | None:
        """A file takes no answers: the hotline calls back (None)."""
        return None


def _sniff(text: str) -> str:
    sample = text[:8192]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(",;\t", key=first.count)


def _undecodable(text: str) -> int | None:
    """The first byte the file's encoding could not read (a ``surrogateescape`` surrogate)."""
    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            return ord(ch) - 0xDC00
    return None


def _escaped(text: str) -> str:
    """Text with undecodable bytes written as ``\\xNN`` (storable, and readable)."""
    return "".join(
        f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch for ch in text
    )


def _join(row: list[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(row)
    return out.getvalue()
