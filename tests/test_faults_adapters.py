"""A collected source's API failing for a while: nothing lost, nothing stored twice.

Scripted servers (:class:`httpx.MockTransport`) hold a stream of items,
published one every few minutes as the test's clock moves on: an Open311
``requests.json`` read in date windows of pages, a VK wall read newest first
by offset, Telegram's ``getUpdates`` (which forgets what an offset
confirms). Collection runs come every few hours, as ``tsur collect`` from a
timer does: each with a new adapter, the cursor read from and saved to the
store. For whole runs the server answers every request with a 5xx, or never
answers (a timeout; Telegram's has confirmed the offset first), or asks to
slow down (429 with a short ``Retry-After``, honoured, or a long one, not
waited out); in other runs it fails now and then, or dies after a few
pages. Pauses go to the adapter's injected ``sleep`` and ``clock``: nothing
waits for real.

After every run, failed or not, the cursor points past stored items only
(Telegram's server forgot only stored updates); at the end every item is
stored exactly once (count and checksum of ids and texts).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
import sqlalchemy as sa

import tsur
from tsur.adapters._vk_wire import post_ref
from tsur.errors import AdapterError, RateLimited
from tsur.intake import collect
from tsur.testing import FixedClock, mock_client

from .conftest import fault_figures
from .test_adapters_common import adapter_for

pytest_plugins = ["tests.test_adapters_common"]  # the adapters region and its engine

EVERY = timedelta(minutes=4)
PAGE = 100
TEXTS = [
    "Яма на дороге у дома {n}, асфальт разбит",
    "Во дворе дома {n} не убран снег",
    "Не горит фонарь на улице Мира, {n}",
]
#: the collection runs: (mode, hours since the last run); a run in FAILING fails
SCRIPT: list[tuple[str, float]] = [
    ("5xx", 0),  # the backlog: the server is down from the start
    ("timeout", 3),
    ("429", 3),
    ("429-long", 3),
    ("dies", 3),  # four pages stored, then down again
    ("dies", 3),
    ("flaky", 3),  # catches up through failures it retries
    ("ok", 3),
    ("5xx", 3),
    ("timeout", 3),
    ("flaky", 3),
    ("429", 3),
    ("ok", 3),
    ("flaky", 6),
    ("dies", 6),
    ("ok", 6),
]
FAILING = {"5xx", "timeout", "429", "429-long"}
RETRY_AFTER = 7.0


class Scripted:
    """A stream of ``n`` items, item ``i`` published at ``first + i * EVERY``, and the
    failures of the mode the test sets for each run."""

    source: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    n: ClassVar[int] = 2_000

    def __init__(self, clock: FixedClock, first: datetime) -> None:
        self.clock = clock
        self.first = first
        self.times = [first + i * EVERY for i in range(self.n)]
        self.mode = "ok"
        self.calls = 0  # requests in this run
        self.faults: Counter[str] = Counter()

    def text(self, i: int) -> str:
        return TEXTS[i % len(TEXTS)].format(n=i)

    def visible(self, i: int) -> bool:
        return self.times[i] <= self.clock()

    def last_visible_at(self) -> datetime:
        return self.times[-1]

    def set_mode(self, mode: str) -> None:
        self.mode, self.calls = mode, 0

    def fault(self) -> str | None:
        self.calls += 1
        k = self.calls
        if self.mode in FAILING:
            return self.mode
        if self.mode == "flaky" and k % 3 == 1:  # every third fails, its retry succeeds
            return ("5xx", "timeout", "429")[(k // 3) % 3]
        if self.mode == "dies" and k > 4:
            return "5xx"
        return None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        fault = self.fault()
        if fault is None:
            return self.answer(request)
        self.faults[fault] += 1
        if fault == "timeout":
            self.before_timeout(request)
            raise httpx.ReadTimeout("timed out", request=request)
        return self.failure(fault)

    def before_timeout(self, request: httpx.Request) -> None:
        """What the server did with a request whose answer never came."""

    def answer(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def failure(self, fault: str) -> httpx.Response:
        raise NotImplementedError

    def expected(self) -> list[tuple[str, str]]:
        """``(external_id, text)`` of every item."""
        raise NotImplementedError

    def passed_by(self, cursor: str | None) -> list[str]:
        """External ids of the items the cursor says are collected (or the server forgot)."""
        raise NotImplementedError


class Open311Server(Scripted):
    """``requests.json`` in time order, a page of ``[start_date, end_date]``; every
    seventh request is indexed 35 minutes late (within the source's hour of overlap)."""

    source = "city311"
    options: ClassVar[dict[str, Any]] = {
        "window_days": 2,
        "overlap_minutes": 60,
        "page_size": PAGE,
    }
    n = 3_000
    late = timedelta(minutes=35)

    def visible(self, i: int) -> bool:
        return self.times[i] + (self.late if i % 7 == 3 else timedelta(0)) <= self.clock()

    def last_visible_at(self) -> datetime:
        return self.times[-1] + self.late

    def answer(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        start = datetime.fromisoformat(q["start_date"])
        end = datetime.fromisoformat(q["end_date"])
        page, size = int(q["page"]), int(q["page_size"])
        inside = [i for i in range(self.n) if start <= self.times[i] <= end and self.visible(i)]
        return httpx.Response(
            200,
            json=[
                {
                    "service_request_id": f"r{i}",
                    "requested_datetime": self.times[i].isoformat(),
                    "description": self.text(i),
                    "status": "open",
                    "service_code": "roads",
                }
                for i in inside[(page - 1) * size : page * size]
            ],
        )

    def failure(self, fault: str) -> httpx.Response:
        if fault == "5xx":
            return httpx.Response(503, text="<html><body>503 Service Unavailable</body></html>")
        after = RETRY_AFTER if fault == "429" else 3600
        return httpx.Response(
            429,
            headers={"Retry-After": str(int(after))},
            json=[{"code": 429, "description": "Too many requests"}],
        )

    def expected(self) -> list[tuple[str, str]]:
        return [(f"r{i}", self.text(i)) for i in range(self.n)]

    def passed_by(self, cursor: str | None) -> list[str]:
        """Requests before the cursor's window, and the window's pages read (counted
        among the requests indexed on time)."""
        if cursor is None:
            return []
        state = json.loads(cursor)
        start, page = datetime.fromisoformat(state["start"]), int(state["page"])
        before = [i for i in range(self.n) if self.times[i] < start]
        on_time = [i for i in range(self.n) if self.times[i] >= start and self.visible(i)]
        read = [i for i in on_time[: (page - 1) * PAGE] if i % 7 != 3]
        return [f"r{i}" for i in before + read]


class VkWall(Scripted):
    """``wall.get`` newest first by offset, an old post pinned on top; post ``i`` has
    id ``i + 1``."""

    source = "vk-samara"
    options: ClassVar[dict[str, Any]] = {"page_size": PAGE}
    owner = -205427305
    pinned = 4  # post id 5

    def post(self, i: int, *, pinned: bool = False) -> dict[str, Any]:
        return {
            "id": i + 1,
            "owner_id": self.owner,
            "from_id": 1000 + i % 50,
            "date": int(self.times[i].timestamp()),
            "text": self.text(i),
            **({"is_pinned": 1} if pinned else {}),
        }

    def answer(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        offset, count = int(q["offset"]), int(q["count"])
        newest_first = [i for i in reversed(range(self.n)) if self.visible(i)]
        wall = [self.post(i, pinned=i == self.pinned) for i in newest_first if i == self.pinned]
        wall += [self.post(i) for i in newest_first if i != self.pinned]
        return httpx.Response(
            200,
            json={"response": {"count": len(wall), "items": wall[offset : offset + count]}},
        )

    def failure(self, fault: str) -> httpx.Response:
        if fault == "5xx":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if fault == "429":
            return httpx.Response(429, headers={"Retry-After": str(int(RETRY_AFTER))}, text="")
        # VK's own: the token's daily limit is reached (error 29), come back in an hour
        error = {"error_code": 29, "error_msg": "Rate limit reached"}
        return httpx.Response(200, json={"error": error})

    def expected(self) -> list[tuple[str, str]]:
        return [(post_ref(self.owner, i + 1), self.text(i)) for i in range(self.n)]

    def passed_by(self, cursor: str | None) -> list[str]:
        """Posts up to the last finished sweep's newest."""
        since = int(json.loads(cursor).get("since") or 0) if cursor else 0
        return [post_ref(self.owner, i + 1) for i in range(min(since, self.n))]


class TelegramUpdates(Scripted):
    """``getUpdates``: an offset confirms (and the server forgets) every update below
    it; update ``i`` has id ``500_000 + i``."""

    source = "tg-bot"
    options: ClassVar[dict[str, Any]] = {"limit": PAGE}
    base = 500_000

    def __init__(self, clock: FixedClock, first: datetime) -> None:
        super().__init__(clock, first)
        self.confirmed = 0  # updates below this id are forgotten

    def confirm(self, request: httpx.Request) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(request.content)
        if body.get("offset"):
            self.confirmed = max(self.confirmed, int(body["offset"]))
        return body

    def before_timeout(self, request: httpx.Request) -> None:
        self.confirm(request)

    def update(self, i: int) -> dict[str, Any]:
        chat = 7000 + i % 40
        return {
            "update_id": self.base + i,
            "message": {
                "message_id": i + 1,
                "date": int(self.times[i].timestamp()),
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "Житель"},
                "text": self.text(i),
            },
        }

    def answer(self, request: httpx.Request) -> httpx.Response:
        body = self.confirm(request)
        pending = [i for i in range(self.n) if self.base + i >= self.confirmed and self.visible(i)]
        result = [self.update(i) for i in pending[: int(body["limit"])]]
        return httpx.Response(200, json={"ok": True, "result": result})

    def failure(self, fault: str) -> httpx.Response:
        if fault == "5xx":
            error = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            return httpx.Response(502, json=error)
        after = RETRY_AFTER if fault == "429" else 3600
        return httpx.Response(
            429,
            json={
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {int(after)}",
                "parameters": {"retry_after": int(after)},
            },
        )

    def expected(self) -> list[tuple[str, str]]:
        return [(f"{7000 + i % 40}:{i + 1}", self.text(i)) for i in range(self.n)]

    def passed_by(self, cursor: str | None) -> list[str]:
        """Updates below the saved offset, and any the server has forgotten."""
        below = max(int(cursor) if cursor else 0, self.confirmed)
        ids = self.expected()
        return [ids[i][0] for i in range(self.n) if self.base + i < below]


class Pauses:
    """The adapter's ``sleep`` and ``clock``: a pause is recorded and moves the clock on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.all: list[float] = []

    def clock(self) -> float:
        return self.now

    def __call__(self, seconds: float) -> None:
        self.all.append(seconds)
        self.now += seconds


def stored(engine: tsur.Engine, source: str) -> list[tuple[str, str]]:
    """``(external_id, text)`` of every stored message of ``source``, duplicates included."""
    with engine.repository.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            sa.text("SELECT external_id, text FROM messages WHERE source = :s"), {"s": source}
        ).all()
    return [(r.external_id, r.text) for r in rows]


def checksum(pairs: list[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(sorted(pairs)).encode()).hexdigest()[:16]


@pytest.mark.slow
@pytest.mark.faults
@pytest.mark.parametrize("api", [Open311Server, VkWall, TelegramUpdates], ids=lambda c: c.source)
def test_an_api_down_for_a_while_loses_nothing_and_the_collector_catches_up(
    api: type[Scripted], adapters_engine: tsur.Engine, clock: FixedClock
) -> None:
    """A stream of 2,000–3,000 items behind pages; runs fail with 5xx, timeouts and
    429, or die mid-stream; repeated runs store every item once."""
    engine = adapters_engine
    first = clock() - timedelta(hours=100)  # a backlog of 1,500 items, more to come
    server = api(clock, first)
    source = api.source
    options = dict(api.options)
    if api is Open311Server:
        options["start_date"] = (first - timedelta(hours=1)).isoformat()
    pauses = Pauses()
    repo = engine.repository
    runs = failed = reread = honoured = 0

    def one_run(mode: str) -> None:
        nonlocal runs, failed, reread, honoured
        runs += 1
        server.set_mode(mode)
        before = repo.get_cursor(source)
        slept = len(pauses.all)
        adapter = adapter_for(
            engine,
            source,
            client=mock_client(server),
            sleep=pauses,
            clock=pauses.clock,
            **options,
        )
        try:
            report = collect(engine, source, adapter=adapter)
        except AdapterError as exc:
            failed += 1
            assert mode in FAILING or mode == "dies", f"{mode}: {exc}"
            long_waits = [w for w in pauses.all[slept:] if w >= RETRY_AFTER]
            if mode == "429-long":  # not waited out: given up at once, for a later run
                assert isinstance(exc, RateLimited) and exc.retry_after == 3600, exc
                assert not long_waits
            if mode == "429":  # waited as asked, four times, then left for a later run
                assert isinstance(exc, RateLimited) and exc.retry_after == RETRY_AFTER, exc
                assert len(long_waits) == 4 and max(long_waits) < RETRY_AFTER + 1, long_waits
                honoured += len(long_waits)
            if mode in FAILING:
                assert repo.get_cursor(source) == before, "a failed run moved the cursor"
        else:
            assert mode not in FAILING, f"{mode}: the run should have failed"
            reread += report.duplicates
        have = {ext for ext, _ in stored(engine, source)}
        missing = [e for e in server.passed_by(repo.get_cursor(source)) if e not in have]
        assert not missing, f"after a {mode!r} run, passed but never stored: {missing[:5]}"

    for mode, hours in SCRIPT:
        clock.advance(hours=hours)
        one_run(mode)
    # the stream goes on to its end; the collector comes every 3 hours
    while server.last_visible_at() > clock() - timedelta(hours=3):
        clock.advance(hours=3)
        one_run("flaky")
    one_run("ok")

    rows = stored(engine, source)
    expected = server.expected()
    ids = Counter(ext for ext, _ in rows)
    figures = {
        "items in": server.n,
        "stored": len(rows),
        "duplicated": sum(c - 1 for c in ids.values() if c > 1),
        "lost": len({e for e, _ in expected} - set(ids)),
        "collection runs": runs,
        "failed runs": failed,
        **{f"faults {k}": v for k, v in sorted(server.faults.items())},
        "Retry-After waits": honoured,
        "re-read (already stored)": reread,
    }
    dialect = engine.repository.dialect  # type: ignore[attr-defined]
    fault_figures(f"{source} API outage ({dialect})", figures)
    assert figures["duplicated"] == 0 and figures["lost"] == 0
    assert len(rows) == server.n
    assert checksum(rows) == checksum(expected)
    assert all(server.faults[k] for k in ("5xx", "timeout", "429", "429-long"))
    assert honoured == 8
    assert max(pauses.all) <= 120, "a pause longer than the retry policy allows"
