"""A collected source's API failing for a while: nothing lost, nothing stored twice.

A scripted Open311 server (:class:`httpx.MockTransport`) holds a stream of
service requests, published one every few minutes as the test's clock
moves on, read in date windows with the ``page``/``page_size`` extension.
Collection runs come every few hours, as ``tsur collect`` from a timer
does: each a new adapter, the cursor read from and saved to the store.
For whole runs the server answers every request with 503, or never
answers (a timeout), or asks to slow down (429 with ``Retry-After``: a
short pause honoured, a long one not waited out); in other runs it fails
now and then, or dies after a few pages. The pauses are the adapter's
injected ``sleep``, which only counts: nothing waits for real.

After every run, failed or not, the cursor points past stored requests
only; at the end every request is stored exactly once (count and checksum
of ids and texts).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

import tsur
from tsur.errors import AdapterError, RateLimited
from tsur.intake import collect
from tsur.testing import FixedClock, mock_client

from .conftest import fault_figures
from .test_adapters_common import adapter_for

pytest_plugins = ["tests.test_adapters_common"]  # the adapters region and its engine

SOURCE = "city311"
N = 3_000
EVERY = timedelta(minutes=4)
#: some requests are indexed late: visible this long after their time (within the overlap)
LATE = timedelta(minutes=35)
PAGE = 100
OPTIONS = {"window_days": 2, "overlap_minutes": 60, "page_size": PAGE}
TEXTS = [
    "Яма на дороге у дома {n}, асфальт разбит",
    "Во дворе дома {n} не убран снег",
    "Не горит фонарь на улице Мира, {n}",
]


class CityServer:
    """An Open311 ``requests.json`` of :data:`N` requests and a script of its failures.

    Request ``i`` was made at ``first + i * EVERY`` and is visible once the
    clock reaches that time (every seventh :data:`LATE` after it). Answers
    hold the requests of ``[start_date, end_date]`` in time order, a page
    of them.
    """

    def __init__(self, clock: FixedClock, first: datetime) -> None:
        self.clock = clock
        self.items = [
            {
                "service_request_id": f"r{i}",
                "requested_datetime": (first + i * EVERY).isoformat(),
                "description": TEXTS[i % len(TEXTS)].format(n=i),
                "status": "open",
                "service_code": "roads",
            }
            for i in range(N)
        ]
        self.times = [first + i * EVERY for i in range(N)]
        self.mode = "ok"
        self.calls = 0  # requests in the current mode
        self.answered = 0
        self.faults: Counter[str] = Counter()

    def visible(self, i: int) -> bool:
        return self.times[i] + (LATE if i % 7 == 3 else timedelta(0)) <= self.clock()

    def published(self) -> list[int]:
        return [i for i in range(N) if self.visible(i)]

    def set_mode(self, mode: str) -> None:
        self.mode, self.calls = mode, 0

    def fault(self) -> str | None:
        """What goes wrong with this request, by the mode of this run."""
        self.calls += 1
        k = self.calls
        if self.mode in ("503", "timeout", "429", "429-long"):
            return self.mode
        if self.mode == "flaky" and k % 3 == 1:  # every third fails, its retry succeeds
            return ("503", "timeout", "429")[(k // 3) % 3]
        if self.mode == "dies" and k > 4:  # four pages, then down
            return "503"
        return None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        fault = self.fault()
        if fault is not None:
            self.faults[fault] += 1
        if fault == "503":
            return httpx.Response(503, text="<html><body>503 Service Unavailable</body></html>")
        if fault == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if fault in ("429", "429-long"):
            after = "7" if fault == "429" else "3600"
            return httpx.Response(
                429,
                headers={"Retry-After": after},
                json=[{"code": 429, "description": "Too many requests"}],
            )
        q = request.url.params
        start = datetime.fromisoformat(q["start_date"])
        end = datetime.fromisoformat(q["end_date"])
        page, size = int(q["page"]), int(q["page_size"])
        inside = [i for i in range(N) if start <= self.times[i] <= end and self.visible(i)]
        self.answered += 1
        return httpx.Response(
            200, json=[self.items[i] for i in inside[(page - 1) * size : page * size]]
        )


class Pauses:
    """The adapter's ``sleep``: records every pause, waits for none."""

    def __init__(self) -> None:
        self.all: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.all.append(seconds)


def stored(engine: tsur.Engine) -> list[tuple[str, str]]:
    """``(external_id, text)`` of every stored message of the source, duplicates included."""
    with engine.repository.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            sa.text("SELECT external_id, text FROM messages WHERE source = :s"), {"s": SOURCE}
        ).all()
    return [(r.external_id, r.text) for r in rows]


def checksum(pairs: list[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(sorted(pairs)).encode()).hexdigest()[:16]


def passed_by(server: CityServer, cursor: str | None) -> list[int]:
    """The requests the cursor says are collected: those before its window, and the
    pages of the window it has read (counted among requests indexed on time)."""
    if cursor is None:
        return []
    state = json.loads(cursor)
    start, page = datetime.fromisoformat(state["start"]), int(state["page"])
    before = [i for i in range(N) if server.times[i] < start]
    on_time = [i for i in range(N) if server.times[i] >= start and server.visible(i)]
    early = [i for i in on_time[: (page - 1) * PAGE] if i % 7 != 3]
    return before + early


#: the collection runs: (mode, hours since the last run); runs in a failing mode fail
SCRIPT: list[tuple[str, float]] = [
    ("503", 0),  # the backlog: the server is down from the start
    ("timeout", 3),
    ("429", 3),
    ("429-long", 3),
    ("dies", 3),  # four pages stored, then down again
    ("dies", 3),
    ("flaky", 3),  # catches up the backlog through failures it retries
    ("ok", 3),
    ("503", 3),
    ("timeout", 3),
    ("flaky", 3),
    ("429", 3),
    ("ok", 3),
    ("flaky", 6),
    ("dies", 6),
    ("ok", 6),
]
FAILING = {"503", "timeout", "429", "429-long"}


@pytest.mark.slow
@pytest.mark.faults
def test_an_api_down_for_a_while_loses_nothing_and_the_collector_catches_up(
    adapters_engine: tsur.Engine, clock: FixedClock
) -> None:
    """3,000 Open311 requests; runs fail with 503, timeouts and 429, and die mid-stream."""
    engine = adapters_engine
    first = clock() - timedelta(hours=100)  # a backlog of 1,500 requests, more to come
    server = CityServer(clock, first)
    pauses = Pauses()
    repo = engine.repository
    runs = failed = inserted = reread = 0
    retry_after_honoured = 0

    def one_run(mode: str) -> None:
        nonlocal runs, failed, inserted, reread, retry_after_honoured
        runs += 1
        server.set_mode(mode)
        before = repo.get_cursor(SOURCE)
        slept = len(pauses.all)
        adapter = adapter_for(
            engine,
            SOURCE,
            client=mock_client(server),
            sleep=pauses,
            start_date=(first - timedelta(hours=1)).isoformat(),
            **OPTIONS,
        )
        try:
            report = collect(engine, SOURCE, adapter=adapter)
        except AdapterError as exc:
            failed += 1
            assert mode in FAILING or mode == "dies", f"{mode}: {exc}"
            if mode == "429-long":  # not waited out: given up at once, for a later run
                assert isinstance(exc, RateLimited) and exc.retry_after == 3600
                assert len(pauses.all) == slept
            if mode == "429":  # waited as asked, then given up for a later run
                waits = pauses.all[slept:]
                assert len(waits) == 4 and all(7 <= w <= 30.5 for w in waits), waits
                retry_after_honoured += len(waits)
            if mode in FAILING:
                assert repo.get_cursor(SOURCE) == before, "a failed run moved the cursor"
        else:
            assert mode not in FAILING, f"{mode}: the run should have failed"
            inserted += report.inserted
            reread += report.duplicates
        have = {ext for ext, _ in stored(engine)}
        missing = [i for i in passed_by(server, repo.get_cursor(SOURCE)) if f"r{i}" not in have]
        assert not missing, f"the cursor passed requests never stored: {missing[:5]}"

    for mode, hours in SCRIPT:
        clock.advance(hours=hours)
        one_run(mode)
    # the stream goes on to its end; the collector comes every 3 hours
    while server.times[-1] + LATE > clock() - timedelta(hours=3):
        clock.advance(hours=3)
        one_run("flaky")
    one_run("ok")

    rows = stored(engine)
    expected = [(str(it["service_request_id"]), str(it["description"])) for it in server.items]
    ids = Counter(ext for ext, _ in rows)
    figures = {
        "items in": N,
        "stored": len(rows),
        "duplicated": sum(c - 1 for c in ids.values() if c > 1),
        "lost": len({e for e, _ in expected} - set(ids)),
        "collection runs": runs,
        "failed runs": failed,
        "faults served": sum(server.faults.values()),
        **{f"faults {k}": v for k, v in sorted(server.faults.items())},
        "pauses": len(pauses.all),
        "re-read (already stored)": reread,
    }
    fault_figures(f"Open311 outage ({engine.repository.dialect})", figures)  # type: ignore[attr-defined]
    assert figures["duplicated"] == 0 and figures["lost"] == 0
    assert len(rows) == N and inserted <= N
    assert checksum(rows) == checksum(expected)
    assert server.faults["503"] and server.faults["timeout"] and server.faults["429"]
    assert server.faults["429-long"] == 1
    assert retry_after_honoured >= 8
    assert max(pauses.all) <= 120, "a pause longer than the policy allows"
