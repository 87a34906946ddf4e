"""Hostile inputs for every parser: real payloads mutated, and structural attacks.

Shared by the short hypothesis tests (``tests/test_fuzz_parsers.py``) and the
long run (``benchmarks/fuzz_parsers.py``). A *target* reads one input the way
its channel does; it may refuse (:class:`~tsur.errors.PayloadError`, or a line
or row error naming its line) but never crash, and whatever it accepts must
be storable: a date from 1970 to 2100, no control character left in an
identifier, text that can be written as UTF-8 JSON.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import tsur
from tsur.adapters.csvfile import CsvAdapter
from tsur.adapters.files import JsonLinesAdapter
from tsur.adapters.mail import MailAdapter
from tsur.adapters.open311 import Open311Adapter
from tsur.adapters.portal import PosAdapter
from tsur.adapters.rss import FeedAdapter
from tsur.adapters.telegram import TelegramAdapter
from tsur.adapters.vk import VkAdapter
from tsur.adapters.webhook import JsonWebhookAdapter
from tsur.domain import Message
from tsur.errors import PayloadError
from tsur.testing import payload, payload_names
from tsur.wire import check_instant, clean_message, message_to_dict, read_jsonl, split_lines

HERE = Path(__file__).parent
#: recorded API answers beside the repository, when present (a checkout of the project's data)
SHARED = HERE.parent.parent / "shared" / "payloads"

# Seeds ---------------------------------------------------------------------------------
_APPEAL = {  # the ПОС appeal schema (docs/adapters.md)
    "id": 4410291,
    "category": "Дороги",
    "subcategory": "Ямы на дорогах",
    "text": "На ул. Победы у дома 86 глубокая яма, машины объезжают по встречной.",
    "address": "Тольятти, ул. Победы, 86",
    "coordinates": {"lat": 53.5075, "lon": 49.4201},
    "attachments": [
        {"url": "https://pos.example/files/1.jpg", "name": "яма.jpg", "mime_type": "image/jpeg"},
    ],
    "author": {"name": "Петрова А. В.", "email": "petrova@example.ru", "anonymous": True},
    "created_at": "2026-11-16T09:41:00+04:00",
    "fz59": True,
    "url": "https://pos.example/lkp/appeals/4410291",
}
_WIRE = {
    "source": "portal",
    "external_id": "A-1",
    "text": "Не горит фонарь у школы",
    "created_at": "2026-11-16T09:41:00+04:00",
    "author": {"id": "1", "name": "Анна"},
    "geo": {"lat": 53.2, "lon": 50.1},
    "attachments": [{"kind": "photo", "url": "https://x.example/1.jpg"}],
    "meta": {"a": [1, {"b": "c"}]},
}
_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:georss="http://www.georss.org/georss"><channel><title>t</title>
<item><title>\xd0\xa3\xd0\xbf\xd0\xb0\xd0\xbb\xd0\xbe</title>
<link>https://n.example/1</link><guid>n-1</guid>
<description>&lt;p&gt;On Main street&lt;/p&gt;</description>
<pubDate>Mon, 16 Nov 2026 09:00:00 +0300</pubDate><dc:creator>Ed</dc:creator>
<georss:point>53.2 50.1</georss:point>
<enclosure url="https://n.example/1.jpg" type="image/jpeg"/></item></channel></rss>"""
_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0">
<title>f</title><entry><id>urn:1</id><title>Yama</title>
<link rel="alternate" href="https://n.example/a"/>
<published>2026-11-16T09:00:00+03:00</published><author><name>A</name></author>
<thr:in-reply-to ref="urn:0"/>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
<p>Pit <b>here</b></p></div></content>
</entry></feed>"""
_CSV = (
    "Номер;Дата обращения;Текст обращения;Адрес;ФИО;Телефон;Категория;Широта;Долгота\n"
    "122-1;16.11.2026 09:41;Нет отопления в квартире;Самара, ул. Мира, 1;Иванов;+7927;"
    "ЖКХ;53,2;50,1\n"
    '122-2;2026-11-16T10:00:00+04:00;"Прорыв трубы, вода ; на улице";ул. Победы, 5;;;;;\n'
).encode()


def _files(prefix: str) -> list[bytes]:
    names = [n for n in payload_names() if n.startswith(prefix) and not n.endswith(".txt")]
    out = [payload(n) for n in names]
    if SHARED.is_dir():  # the shared recordings, when this checkout has them beside it
        shipped = set(names)
        for p in sorted(SHARED.glob(prefix + "*")):
            if p.name not in shipped and p.suffix in {".json", ".eml"}:
                out.append(p.read_bytes())
    return out


def _jsonl_seed() -> list[bytes]:
    lines = [json.dumps(dict(_WIRE, external_id=f"A-{i}"), ensure_ascii=False) for i in range(3)]
    seeds = [("\n".join(lines) + "\n").encode()]
    labelled = HERE / "data" / "grouping_labelled.jsonl"
    if labelled.is_file():
        seeds.append(b"\n".join(labelled.read_bytes().split(b"\n")[:5]))
    return seeds


def _csv_seeds() -> list[bytes]:
    comma = (
        "id,date,text,address,lat,lon\n"
        '1,2026-11-16T09:41:00+04:00,"Яма на дороге, глубокая",ул. Мира 1,"53,2","50,1"\n'
        "2,16.11.2026 10:00,Не горит фонарь,,,\n"
    )
    return [_CSV, comma.encode("utf-8")]


def seeds() -> dict[str, list[bytes]]:
    """Real inputs per target: recorded payloads, the test data, documented examples."""
    dumps = lambda x: json.dumps(x, ensure_ascii=False).encode()  # noqa: E731
    return {
        "vk": _files("vk_callback") + _files("vk_bots") + _files("vk_wall"),
        "telegram": _files("tg_update") + _files("tg_getUpdates"),
        "portal": [
            dumps({"type": "appeal", "appeal": _APPEAL}),
            dumps(_APPEAL),
            dumps([_APPEAL, dict(_APPEAL, id=4410292)]),
        ],
        "webhook": [dumps(_WIRE), dumps([_WIRE, dict(_WIRE, external_id="A-2")])],
        "jsonl": _jsonl_seed(),
        "csv": _csv_seeds(),
        "email": _files("email_"),
        "rss": [_RSS, _ATOM],
        "open311": [
            payload("open311_service_requests.json"),
            payload("open311_service_request_single.json"),
        ],
    }


# Targets -------------------------------------------------------------------------------
_SOURCES = {
    # the parsers are fuzzed, not verification: push sources name a key as they must
    "vk": tsur.Source(
        "vk-samara", "vk", "VK", {"group_id": 205427305, "secret_env": "TSUR_FUZZ_KEY"}
    ),
    "telegram": tsur.Source("tg-bot", "telegram", "TG", {"secret_token_env": "TSUR_FUZZ_KEY"}),
    "portal": tsur.Source("pos", "pos", "ПОС", {"secret_env": "TSUR_FUZZ_KEY"}),
    "webhook": tsur.Source("portal", "webhook", "Портал", {"secret_env": "TSUR_FUZZ_KEY"}),
    "jsonl": tsur.Source("file", "jsonl", "Файл", {}),
    "csv": tsur.Source("hotline", "hotline", "122", {"timezone": "Europe/Samara"}),
    "email": tsur.Source("mail", "email", "Почта", {}),
    "rss": tsur.Source("news", "rss", "Новости", {"url": "https://n.example/rss"}),
    "open311": tsur.Source("city311", "open311", "311", {"base_url": "https://c.example/v2/"}),
}
_CLASSES: dict[str, Any] = {
    "vk": VkAdapter,
    "telegram": TelegramAdapter,
    "portal": PosAdapter,
    "webhook": JsonWebhookAdapter,
    "jsonl": JsonLinesAdapter,
    "csv": CsvAdapter,
    "email": MailAdapter,
    "rss": FeedAdapter,
    "open311": Open311Adapter,
}


class Refused(Exception):
    """The input was refused the way its channel refuses (not a crash)."""


def _storable(messages: Iterable[Any]) -> int:
    """Check what a parser accepted as the store would; how many messages."""
    n = 0
    for m in messages:
        if not isinstance(m, Message):
            raise AssertionError(f"parser returned {type(m).__name__}, not a Message")
        check_instant(m.created_at, what="accepted created_at")  # a parser must refuse these
        try:
            cleaned = clean_message(m)
        except ValueError:
            continue  # an identifier with a control character: refused at ingest, with reason
        json.dumps(message_to_dict(cleaned), ensure_ascii=False).encode("utf-8")
        n += 1
    return n


def make_target(name: str) -> Callable[[bytes], int]:
    """A function reading one input as parser ``name`` does; raises :class:`Refused` or
    returns how many messages it accepted. Any other exception is a crash."""
    adapter = _CLASSES[name](_SOURCES[name], None)

    def parse(data: bytes) -> int:
        try:
            messages = list(adapter.parse(data))
        except PayloadError as exc:
            if not str(exc):
                raise AssertionError("a refusal without a reason") from exc
            raise Refused(str(exc)) from None
        return _storable(messages)

    if name == "jsonl":

        def jsonl(data: bytes) -> int:
            lines = list(read_jsonl(split_lines(data)))  # never raises: every line decided
            bad = [p for p in lines if p.error is not None]
            for p in bad:
                if p.error is None or p.error.line != p.line:
                    raise AssertionError("a bad line without its number")
            good = _storable(p.message for p in lines if p.message is not None)
            try:
                parse(data)
            except Refused:
                if not bad:
                    raise AssertionError("the block was refused, no line was bad") from None
            if bad:
                raise Refused(str(bad[0].error))
            return good

        return jsonl
    if name == "csv":

        def csv_rows(data: bytes) -> int:
            try:
                rows = list(adapter.rows(data))
            except PayloadError as exc:  # the header itself cannot be read
                raise Refused(str(exc)) from None
            good = _storable(r.message for r in rows if r.message is not None)
            if any(r.error is not None for r in rows):
                raise Refused(str(next(r.error for r in rows if r.error is not None)))
            return good

        return csv_rows
    return parse


TARGETS = tuple(_CLASSES)


# Mutations -----------------------------------------------------------------------------
_HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**31,
    2**63,
    10**20,
    -(10**20),
    10**400,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    253402300800,
    -62135596800,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\x1b[31m",
    "\u202e",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "2026-13-45T99:99:99+04:00",
    "Fri, 31 Dec 9999 23:59:59 -9999",
    "1e999",
    "ыы" * 5000,
    [],
    {},
    [[[[[[]]]]]],
    {"": {"": {"": None}}},
]


def _deep(depth: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*prefix, i))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def _mutate_json(seed: bytes, rng: random.Random) -> bytes:
    try:
        data = json.loads(seed)
    except ValueError:
        return _mutate_bytes(seed, rng)
    for _ in range(rng.randint(1, 4)):
        paths = list(_paths(data))
        path = rng.choice(paths)
        roll = rng.random()
        if roll < 0.6:
            value = rng.choice(_HOSTILE_VALUES)
            data = _set(data, path, json.loads(json.dumps(value)) if value is not None else None)
        elif roll < 0.75 and path:
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
        elif roll < 0.9:
            other = rng.choice(paths)
            node = data
            try:
                for key in other:
                    node = node[key]
                data = _set(data, path, json.loads(json.dumps(node)))
            except (KeyError, IndexError, TypeError, RecursionError):
                pass
        else:
            marker = "__DEEP__"
            data = _set(data, path, marker)
            text = json.dumps(data, ensure_ascii=False)
            return text.replace(
                json.dumps(marker), _deep(rng.choice([150, 1000, 5000]), rng), 1
            ).encode("utf-8", errors="surrogatepass")
    text = json.dumps(data, ensure_ascii=rng.random() < 0.3)
    return text.encode("utf-8", errors="surrogatepass")


def _mutate_bytes(seed: bytes, rng: random.Random) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        roll = rng.random()
        pos = rng.randint(0, len(data)) if data else 0
        if roll < 0.3 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif roll < 0.5:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif roll < 0.6:
            data[pos:pos] = rng.choice(
                [b"\x00", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\x1b"]
            )
        elif roll < 0.75 and data:
            end = min(len(data), pos + rng.randint(1, 40))
            del data[pos:end]
        elif roll < 0.85 and data:
            end = min(len(data), pos + rng.randint(1, 80))
            data[pos:pos] = data[pos:end] * rng.randint(1, 3)
        elif roll < 0.9:
            data = data[: rng.randint(0, len(data))]
        else:
            data[pos:pos] = rng.choice(
                [b"<", b">", b'"', b"{", b"}", b"[", b"]", b",", b":", b";", b"\n", b"=?"]
            )
    return bytes(data)


_XML_ATTACKS = [
    (b'encoding="UTF-8"', b'encoding="x-no-such-encoding"'),
    (b'encoding="utf-8"', b'encoding="utf-7"'),
    (b'encoding="UTF-8"', b'encoding="cp1251"'),
    (b'encoding="utf-8"', b'encoding="utf-16"'),
    (b"Mon, 16 Nov 2026 09:00:00 +0300", b"Fri, 31 Dec 9999 23:59:59 -9999"),
    (b"Mon, 16 Nov 2026 09:00:00 +0300", b"Thu, 01 Jan 1 00:00:00 +0000"),
    (b"2026-11-16T09:00:00+03:00", b"9999-12-31T23:59:59-12:00"),
    (b"2026-11-16T09:00:00+03:00", b"0001-01-01T00:00:00+14:00"),
    (b"53.2 50.1", b"1e999 nan"),
    (b"53.2 50.1", b"53.2"),
]

_HEADER_VALUES = [
    b"",
    b"<>",
    b",,,,",
    b'"',
    b"a@",
    b"@",
    b"<a@b",
    b"=?utf-8?q?",
    b"=?x-unknown?b?AAAA?=",
    b"=?utf-8?b?////?=",
    b"(((((((((",
    b"Fri, 31 Dec 9999 23:59:59 +9999",
    b"Thu, 01 Jan 0001 00:00:00 -0000",
    b"32 Foo 2026 25:61:61 +0300",
    b'"\\" <x@y>',
    b"undisclosed-recipients:;",
    b"a:b:c:d;, e@f",
    b"\x00\x01\x02",
    b"multipart/mixed; boundary=",
    b"text/plain; charset=x-no-such",
    b"text/plain; charset=utf-7",
    b"base64",
    b"quoted-printable",
]


def _mutate_email(seed: bytes, rng: random.Random) -> bytes:
    head, sep, body = (
        seed.partition(b"\r\n\r\n") if b"\r\n\r\n" in seed else seed.partition(b"\n\n")
    )
    lines = head.splitlines()
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        name, colon, _value = lines[i].partition(b":")
        if colon:
            lines[i] = name + b": " + rng.choice(_HEADER_VALUES)
        else:
            lines[i] = rng.choice(_HEADER_VALUES)
    if rng.random() < 0.3:
        lines.insert(
            rng.randint(0, len(lines)),
            rng.choice([b"From", b"Date", b"Message-ID", b"Content-Type", b"Reply-To"])
            + b": "
            + rng.choice(_HEADER_VALUES),
        )
    out = b"\n".join(lines) + (sep or b"\n\n") + body
    return _mutate_bytes(out, rng) if rng.random() < 0.3 else out


def _mutate_xml(seed: bytes, rng: random.Random) -> bytes:
    data = seed
    roll = rng.random()
    if roll < 0.4:
        old, new = rng.choice(_XML_ATTACKS)
        data = data.replace(old, new)
    elif roll < 0.55:
        depth = rng.choice([100, 1000, 5000])
        deep = b"<div>" * depth + b"x" + b"</div>" * depth
        data = data.replace(b"<p>Pit", deep + b"<p>Pit").replace(
            b"&lt;p&gt;On", b"&lt;div&gt;" * depth + b"&lt;p&gt;On"
        )
    return _mutate_bytes(data, rng) if rng.random() < 0.5 or data == seed else data


def _mutate_lines(seed: bytes, rng: random.Random) -> bytes:
    """Lines of a file: one line spoiled (NUL, bad UTF-8, BOM, far date, deep JSON, noise)."""
    lines = split_lines(seed)
    if not lines:
        return _mutate_bytes(seed, rng)
    i = rng.randrange(len(lines))
    roll = rng.random()
    if roll < 0.15:
        lines[i] = (
            lines[i].replace(b"\xd0", b"\x00", 1)
            if rng.random() < 0.5
            else (lines[i].replace(b'", "', b'\\u0000", "', 1))
        )
    elif roll < 0.3:
        lines[i] = lines[i][:10] + b"\xff\xfe\xc3(" + lines[i][10:]
    elif roll < 0.4:
        lines[0] = b"\xef\xbb\xbf" + lines[0]
    elif roll < 0.55:
        lines[i] = lines[i].replace(b"2026-11-16", b"9999-12-31", 1)
    elif roll < 0.65:
        lines[i] = _deep(5000, rng).encode()
    elif roll < 0.75:
        lines[i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 60)))
    else:
        lines[i] = (
            _mutate_json(lines[i], rng) if rng.random() < 0.6 else _mutate_bytes(lines[i], rng)
        )
    return b"\n".join(lines) + b"\n"


def mutate(name: str, seed: bytes, rng: random.Random) -> bytes:
    """One hostile variant of ``seed`` for target ``name``."""
    roll = rng.random()
    if roll < 0.04:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    if roll < 0.07:
        return _deep(rng.choice([1000, 5000, 50000]), rng).encode()
    if roll < 0.1:
        encoding = rng.choice(["utf-16", "utf-32", "cp1251", "latin-1"])
        try:
            return seed.decode("utf-8").encode(encoding, errors="replace")
        except UnicodeDecodeError:
            return seed
    if name in {"jsonl", "csv"}:
        return _mutate_lines(seed, rng) if rng.random() < 0.7 else _mutate_bytes(seed, rng)
    if name == "email":
        return _mutate_email(seed, rng)
    if name == "rss":
        return _mutate_xml(seed, rng)
    return _mutate_json(seed, rng) if rng.random() < 0.7 else _mutate_bytes(seed, rng)


def attack(name: str, data: bytes) -> tuple[str, str]:
    """Run one input: ``("accepted" | "refused" | "crashed", detail)``."""
    target = make_target(name)
    return run(target, data)


#: How a refusal reads when the last net of a parser caught an unexpected exception.
NET_MARKS = ("cannot be read (", "unreadable letter (", "unreadable (")


def run(target: Callable[[bytes], int], data: bytes) -> tuple[str, str]:
    """Run ``target`` on ``data``: ``("accepted" | "refused" | "crashed", detail)``."""
    try:
        n = target(data)
    except Refused as exc:
        return "refused", str(exc)[:200]
    except Exception as exc:
        return "crashed", f"{type(exc).__name__}: {str(exc)[:300]}"
    return "accepted", str(n)
