"""The daily aggregates, checked against the incidents themselves, on SQLite and PostgreSQL.

The rule: whatever pipeline runs and lifecycle actions happened, in any
order, (1) the aggregates equal what a rebuild from the incidents makes, and
(2) every aggregate-backed query answers as the exact query over the raw
incidents — counts exactly, the histogram median within its documented
bound — for periods aligned to local days and for periods that are not.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tsur import Engine, Message, Status
from tsur.analytics import Analytics, executor_kpis, find_spikes
from tsur.analytics.kpi import _MEDIAN, _P90, _percentile
from tsur.analytics.queries import histogram_percentile
from tsur.domain import TRANSITIONS
from tsur.errors import TsurError
from tsur.lifecycle import Lifecycle
from tsur.store import aggregates, schema
from tsur.store.sql import SqlRepository, open_repository
from tsur.testing import FixedClock

from .conftest import PG_DSN, require_pg
from .helpers import SAMARA

TERRITORIES = ["gorod", "sela", "volzhsky", "smyshlyaevka", None]
TOPICS = ["zhkh", "zhkh.heating", "roads", "transport", "health", None]
SOURCES = ["vk", "written", "portal"]
EXECUTORS = ["adm-gorod", "adm-sela", "teplo", "carrier", "duty"]
START = datetime(2026, 11, 1, 0, 0, tzinfo=SAMARA)
WORDS = [
    "скамейка",
    "забор",
    "качели",
    "вывеска",
    "киоск",
    "фонтан",
    "ограда",
    "клумба",
    "табличка",
    "урна",
    "ворота",
]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, or a PostgreSQL schema of this module's own (``analytics_…``)."""
    if request.param == "sqlite":
        yield str(tmp_path / "agg.db")
        return
    require_pg()
    import psycopg

    name = f"analytics_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in PG_DSN else "?"
    try:
        yield f"{PG_DSN}{sep}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


class World:
    """An engine, its lifecycle and the messages sent so far."""

    def __init__(self, small_region: Any, url: str) -> None:
        self.clock = FixedClock(START + timedelta(days=12))
        self.engine = Engine(
            small_region, open_repository(url), entry_points=False, clock=self.clock
        )
        self.life = Lifecycle(self.engine, post_replies=False)
        self.sent: list[str] = []
        self.serial = 0

    @property
    def repo(self) -> SqlRepository:
        repo = self.engine.repository
        assert isinstance(repo, SqlRepository)
        return repo

    def ids(self) -> list[int]:
        return sorted(i.id for i in self.engine.incidents(limit=None) if i.id is not None)

    # actions ---------------------------------------------------------------------------
    def run(self, action: tuple[Any, ...]) -> None:
        kind, a, b, c, minutes = action
        ids = self.ids()
        target = ids[a % len(ids)] if ids else None
        self.clock.now = START + timedelta(days=6, minutes=minutes * 7)
        try:
            if kind == "messages" or target is None:
                self.send(a, b, c, minutes)
            elif kind == "reply":
                self.reply(a, minutes)
            elif kind == "answer":
                self.answer(target, minutes, resolve=bool(b % 2))
            elif kind == "move":
                self.move(target, b, c)
            elif kind == "take":
                self.life.take_in_work(target)
            elif kind == "final":
                self.life.answer_final(
                    target, "Бригада заменила трубу на улице Ленина, отопление восстановлено."
                )
            elif kind == "close":
                self.life.close_incident(target)
            elif kind == "rate":
                self.life.rate(target, 1 + b % 5)
            elif kind == "reopen":
                self.life.reopen(target, "не сделано")
            elif kind == "status":
                self.walk(target, list(Status)[b % len(Status)])
        except TsurError:
            pass  # an action the incident's state does not allow: nothing written

    def walk(self, incident_id: int, goal: Status) -> None:
        """Move towards ``goal`` by allowed steps (work, resolve, close, reopen)."""
        path = [Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED, Status.REOPENED, goal]
        with self.repo.update_incident(incident_id) as inc:
            for step in path[: path.index(goal) + 1]:
                if inc.status != step and step in TRANSITIONS[inc.status]:
                    inc.transition(step, at=self.clock.now, actor="test", reason="test")

    def send(self, n: int, b: int, c: int, minutes: int) -> None:
        messages = []
        for i in range(1 + n % 4):
            self.serial += 1
            key = f"m{self.serial}"
            self.sent.append(key)
            created = START + timedelta(
                minutes=(minutes * 97 + i * 611 + b * 13) % (6 * 1440),
                microseconds=(minutes * 7919 + i) % 10**6 if c % 2 else 0,
            )
            messages.append(
                Message(
                    source=SOURCES[(b + i) % len(SOURCES)],
                    external_id=key,
                    text=f"Обращение {self.serial}: {WORDS[(c + i) % len(WORDS)]} сломан",
                    created_at=created,
                    topic=TOPICS[(c + 2 * i) % len(TOPICS)],
                    territory=TERRITORIES[(b + c + i) % len(TERRITORIES)],
                )
            )
        self.engine.process(messages)

    def reply(self, a: int, minutes: int) -> None:
        if not self.sent:
            return
        parent = self.sent[a % len(self.sent)]
        self.serial += 1
        message = Message(
            source="vk",
            external_id=f"r{self.serial}",
            text="всё ещё не сделано",
            created_at=START + timedelta(days=5, minutes=minutes),
            parent_id=parent,
            thread_id=parent,
        )
        self.engine.process([message])

    def answer(self, incident_id: int, minutes: int, *, resolve: bool) -> None:
        with self.repo.update_incident(incident_id) as inc:
            at = inc.created_at + timedelta(
                minutes=(minutes * 37) % 5000, microseconds=(minutes * 104729) % 10**6
            )
            inc.first_response_at = at
            inc.record("reply", at=at, actor="test", data={"kind": "final"})
            for step in (Status.IN_PROGRESS, Status.RESOLVED) if resolve else ():
                if step in TRANSITIONS[inc.status]:
                    inc.transition(step, at=at + timedelta(hours=3), actor="test")

    def move(self, incident_id: int, b: int, c: int) -> None:
        with self.repo.update_incident(incident_id) as inc:
            inc.executor = EXECUTORS[b % len(EXECUTORS)] if b % 6 else None
            inc.territory = TERRITORIES[c % len(TERRITORIES)]
            inc.topic = TOPICS[(b + c) % len(TOPICS)]


# the checks ---------------------------------------------------------------------------------
def stored(conn: sa.Connection) -> list[tuple[Any, ...]]:
    A = schema.analytics_daily
    rows = conn.execute(sa.select(A)).all()
    return sorted((tuple(str(v) for v in r) for r in rows), key=str)


def assert_same_as_rebuilt(repo: SqlRepository) -> None:
    with repo.engine.connect() as conn:
        tz = aggregates.stored_tz(conn)
        assert tz == "Europe/Samara"
        kept = stored(conn)
        conn.rollback()
        with conn.begin():
            aggregates.rebuild(conn, tz)
            rebuilt = stored(conn)
            conn.rollback()
    assert kept == rebuilt


def close_enough(approx: float | None, exact: float | None) -> bool:
    if approx is None or exact is None:
        return approx is None and exact is None
    bound = aggregates.RELATIVE_ERROR * abs(exact) + aggregates.ABSOLUTE_ERROR_S + 0.1
    return abs(approx - exact) <= bound


def assert_queries_agree(world: World, since: datetime, until: datetime, at: datetime) -> None:
    region = world.engine.region
    fast = Analytics(world.repo, region)
    exact = Analytics(world.repo, region, use_aggregates=False)
    assert fast.aggregate_zone() is not None and exact.aggregate_zone() is None
    for by in (
        ("municipality", "topic"),
        ("territory",),
        ("direction", "day"),
        ("topic", "week"),
        ("channel", "month"),
        ("source",),
        ("executor", "status"),
        ("urgency",),
        ("executor", "territory"),  # no grain has both: counted exactly
    ):
        assert fast.counts(since, until, by=by) == exact.counts(since, until, by=by), by
    assert fast.total(since, until) == exact.total(since, until)
    assert fast.municipality_stats(since, until, at=at) == exact.municipality_stats(
        since, until, at=at
    )
    previous = since - (until - since)
    for level in ("topic", "direction"):
        assert fast.top_problems(since, until, previous, limit=None, level=level) == (
            exact.top_problems(since, until, previous, limit=None, level=level)
        )
    assert fast.top_problems_by_municipality(since, until, previous) == (
        exact.top_problems_by_municipality(since, until, previous)
    )
    assert fast.trend(since, until, unit="day") == exact.trend(since, until, unit="day")
    assert fast.channel_mix(since, until) == exact.channel_mix(since, until)
    rule = {"window_days": 1, "baseline_weeks": 3, "min_count": 1, "k": 0.5, "alpha": 0.9}
    assert find_spikes(fast, until, **rule) == find_spikes(exact, until, **rule)
    m_fast = fast.median_first_response(since, until).get(None)
    m_exact = exact.median_first_response(since, until).get(None)
    assert close_enough(m_fast, m_exact), (m_fast, m_exact)
    assert fast.median_first_response(since, until, by_executor=True) == (
        exact.median_first_response(since, until, by_executor=True)
    )
    for calendar in (None, world.engine.calendar):
        kwargs: dict[str, Any] = {"since": since, "until": until, "as_of": at}
        assert executor_kpis(world.repo, calendar=calendar, min_cases=1, **kwargs) == (
            executor_kpis(
                world.repo, calendar=calendar, min_cases=1, use_aggregates=False, **kwargs
            )
        )


ACTION = st.tuples(
    st.sampled_from(
        [
            "messages",
            "messages",
            "reply",
            "answer",
            "move",
            "take",
            "final",
            "close",
            "rate",
            "reopen",
            "status",
            "status",
            "answer",
            "rate",
        ]
    ),
    st.integers(0, 50),
    st.integers(0, 50),
    st.integers(0, 50),
    st.integers(0, 2000),
)
#: A period: start (minutes after 1 Nov 00:00 local) and length (minutes); day-aligned
#: ones come up as often as not.
PERIOD = st.tuples(st.integers(-1440, 7 * 1440), st.integers(1, 6 * 1440), st.booleans())


@pytest.mark.parametrize("dummy", [None])
def test_aggregates_follow_every_write_and_every_query_agrees(
    small_region: Any, store_url: str, dummy: None
) -> None:
    world = World(small_region, store_url)

    @settings(
        max_examples=20,
        deadline=None,
        # the examples share one store, so a shorter failing one would not fail alone
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
    )
    @given(st.lists(ACTION, min_size=3, max_size=14), st.lists(PERIOD, min_size=1, max_size=2))
    def check(actions: list[tuple[Any, ...]], periods: list[tuple[int, int, bool]]) -> None:
        for action in actions:
            world.run(action)
        assert_same_as_rebuilt(world.repo)
        for start, length, aligned in periods:
            if aligned:
                start, length = start // 1440 * 1440, max(1, length // 1440) * 1440
            since = START + timedelta(minutes=start)
            until = since + timedelta(minutes=length)
            at = START + timedelta(days=3, hours=start % 100)
            assert_queries_agree(world, since, until, at)

    try:
        check()
        with world.repo.engine.connect() as conn:  # the sequences got somewhere
            kinds = {r[0] for r in conn.execute(sa.select(schema.events.c.to_status).distinct())}
            assert {"resolved", "reopened", "in_progress"} <= kinds
        assert len(world.ids()) > 5
    finally:
        world.engine.close()


# the histogram ------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e6, 1e8, allow_nan=False),
            st.floats(-3, 3, allow_nan=False),
            st.integers(0, 10**6).map(float),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_histogram_percentiles_are_within_the_documented_bound(values: list[float]) -> None:
    counts: dict[int, list[int]] = {}
    for v in values:
        entry = counts.setdefault(aggregates.bucket_of(v), [0, 0])
        entry[0] += 1
        entry[1] += round(v * 1000)
    ordered = sorted(values)
    for share in (_MEDIAN, _P90):
        exact = _percentile(ordered, share)
        approx = histogram_percentile(counts, share)
        assert exact is not None and approx is not None
        num, den = share
        lo = ordered[(len(ordered) - 1) * num // den]
        hi = ordered[-((-(len(ordered) - 1) * num) // den)]
        # the documented bound; with values of both signs around the rank, of the larger
        scale = abs(exact) if lo * hi >= 0 else max(abs(lo), abs(hi))
        bound = aggregates.RELATIVE_ERROR * scale + aggregates.ABSOLUTE_ERROR_S
        assert abs(approx - exact) <= bound + 1e-6, (share, exact, approx)


def test_bucket_bounds() -> None:
    assert aggregates.bucket_of(0.5) == aggregates.bucket_of(-0.5) == 0
    for seconds in (1.0, 59.0, 3600.0, 86400.0 * 30):
        b = aggregates.bucket_of(seconds)
        assert aggregates.GAMMA ** (b - 1) <= seconds * (1 + 1e-12)
        assert seconds < aggregates.GAMMA**b * (1 + 1e-12)
        assert aggregates.bucket_of(-seconds) == -b


# rebuild and migration ---------------------------------------------------------------------
def test_an_older_database_gains_aggregates_and_the_engine_keeps_them_in_its_zone(
    small_region: Any, store_url: str
) -> None:
    world = World(small_region, store_url)
    try:
        world.send(3, 1, 2, 100)
        world.send(2, 4, 1, 900)
        repo = world.repo
        with repo.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE analytics_daily"))
            conn.execute(sa.text("DROP TABLE analytics_meta"))
            conn.execute(sa.text("DELETE FROM tsur_schema_version WHERE version >= 6"))
        again = open_repository(store_url)
        assert again.aggregates_timezone() == "UTC"  # back-filled by UTC days
        with again.engine.connect() as conn:
            assert sum(int(r.n) for r in stored_rows(conn, "us")) == len(world.ids())
        Engine(small_region, again, entry_points=False, clock=world.clock)
        assert again.aggregates_timezone() == "Europe/Samara"  # rebuilt by the region's days
        assert_same_as_rebuilt(again)
        assert again.rebuild_aggregates("Europe/Samara") > 0
        assert_same_as_rebuilt(again)
        again.close()
    finally:
        world.engine.close()


def stored_rows(conn: sa.Connection, grain: str) -> list[Any]:
    A = schema.analytics_daily
    return list(conn.execute(sa.select(A).where(A.c.grain == grain)))


def test_without_aggregates_in_the_zone_queries_count_the_incidents(
    small_region: Any, tmp_path: Path
) -> None:
    world = World(small_region, str(tmp_path / "x.db"))
    try:
        world.send(3, 1, 2, 100)
        world.repo.rebuild_aggregates("Asia/Tokyo")  # another zone: days do not match
        a = Analytics(world.repo, world.engine.region)
        assert a.aggregate_zone() is not None
        since, until = START, START + timedelta(days=7)
        exact = Analytics(world.repo, world.engine.region, use_aggregates=False)
        assert a.counts(since, until, by=("day", "topic")) == exact.counts(
            since, until, by=("day", "topic")
        )
        assert a.counts(since, until, by=("topic",)) == exact.counts(since, until, by=("topic",))
        assert math.isclose(a.total(since, until), exact.total(since, until))
    finally:
        world.engine.close()


def test_whole_day_split(small_region: Any, tmp_path: Path) -> None:
    world = World(small_region, str(tmp_path / "y.db"))
    try:
        a = Analytics(world.repo, world.engine.region)
        tz = a.tz
        days, edges = a.split_days(START, START + timedelta(days=2), tz)
        assert days == (START.date(), START.date() + timedelta(days=2)) and edges == []
        noon = START + timedelta(hours=12)
        days, edges = a.split_days(noon, noon + timedelta(days=2), tz)
        assert days == (START.date() + timedelta(days=1), START.date() + timedelta(days=2))
        assert edges == [
            (noon, START + timedelta(days=1)),
            (START + timedelta(days=2), noon + timedelta(days=2)),
        ]
        assert a.split_days(noon, noon + timedelta(hours=13), tz) == (
            None,
            [(noon, noon + timedelta(hours=13))],
        )
        assert a.split_days(noon, noon, tz) == (None, [])
        assert datetime(2026, 11, 1, tzinfo=UTC) < START + timedelta(days=1)
    finally:
        world.engine.close()


def test_a_reply_that_reopens_and_one_that_joins_keep_the_aggregates(
    small_region: Any, store_url: str
) -> None:
    world = World(small_region, store_url)
    try:
        world.send(0, 0, 0, 10)
        world.send(0, 1, 3, 20)
        first, _second = world.ids()
        world.answer(first, 100, resolve=True)
        world.walk(first, Status.CLOSED)
        world.reply(0, 30)  # to the closed one: reopens it
        world.reply(1, 40)  # to the open one: joins it
        assert world.engine.repository.get_incident(first).status == Status.REOPENED
        assert_same_as_rebuilt(world.repo)
        since = START - timedelta(days=1)
        assert_queries_agree(world, since, since + timedelta(days=9), START + timedelta(days=8))
    finally:
        world.engine.close()


def test_the_rebuild_command(
    small_region: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tsur.cli import main

    from .conftest import SMALL_REGION

    db = tmp_path / "cli.db"
    world = World(small_region, str(db))
    try:
        world.send(3, 1, 2, 100)
        with world.repo.engine.begin() as conn:  # an import around tsur's writer
            conn.execute(sa.text("DELETE FROM analytics_daily"))
    finally:
        world.engine.close()
    assert main(["rebuild-aggregates", "--db", str(db), "--config", str(SMALL_REGION)]) == 0
    assert "агрегаты пересчитаны" in capsys.readouterr().out
    repo = open_repository(str(db))
    try:
        assert_same_as_rebuilt(repo)
        with repo.engine.connect() as conn:
            assert sum(int(r.n) for r in stored_rows(conn, "us")) == 4
    finally:
        repo.close()


def test_days_across_a_clock_change_split_as_the_store_counts_them(
    small_region: Any, store_url: str
) -> None:
    """Aggregates kept in a zone with summer time (Berlin left it on 25 October 2026)."""
    world = World(small_region, store_url)
    try:
        berlin = ZoneInfo("Europe/Berlin")
        first = datetime(2026, 10, 23, 21, 17, tzinfo=UTC)
        messages = [
            Message(
                source=SOURCES[i % 3],
                external_id=f"dst{i}",
                text=f"Обращение {i}: {WORDS[i % len(WORDS)]} сломан",
                created_at=first + timedelta(minutes=97 * i),
                topic=TOPICS[i % len(TOPICS)],
                territory=TERRITORIES[i % len(TERRITORIES)],
            )
            for i in range(90)
        ]
        world.engine.process(messages)
        world.repo.rebuild_aggregates("Europe/Berlin")
        with world.repo.engine.connect() as conn:
            days = {str(r.day) for r in stored_rows(conn, "us")}
        assert "2026-10-25" in days
        region = world.engine.region
        fast = Analytics(world.repo, region)
        exact = Analytics(world.repo, region, use_aggregates=False)
        assert fast.aggregate_zone() == berlin
        for since, until in (
            (datetime(2026, 10, 24, tzinfo=berlin), datetime(2026, 10, 27, tzinfo=berlin)),
            (datetime(2026, 10, 24, 13, 5, tzinfo=berlin), datetime(2026, 10, 26, 1, tzinfo=UTC)),
            (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)),
        ):
            for by in (("municipality", "topic"), ("source",), ("executor", "status")):
                assert fast.counts(since, until, by=by) == exact.counts(since, until, by=by)
            at = since + timedelta(days=1)
            assert fast.municipality_stats(since, until, at=at) == exact.municipality_stats(
                since, until, at=at
            )
            kwargs: dict[str, Any] = {"since": since, "until": until, "as_of": at}
            assert executor_kpis(world.repo, **kwargs) == executor_kpis(
                world.repo, use_aggregates=False, **kwargs
            )
    finally:
        world.engine.close()


def test_a_snapshot_that_has_read_already_finds_the_aggregates(
    small_region: Any, tmp_path: Path
) -> None:
    world = World(small_region, str(tmp_path / "snap.db"))
    try:
        world.send(3, 1, 2, 100)
        a = Analytics(world.repo, world.engine.region)
        with a.snapshot():  # holds SQLite's write lock once it has read
            a.fetch(sa.select(sa.func.count()).select_from(schema.incidents))
            assert a.total(START, START + timedelta(days=7)) == 4
    finally:
        world.engine.close()


def per_day(rows: list[Any]) -> dict[str, int]:
    """Incidents per local day (ISO) in one grain's stored rows."""
    out: dict[str, int] = {}
    for r in rows:
        out[str(r.day)[:10]] = out.get(str(r.day)[:10], 0) + r.n
    return out


def test_local_midnight_in_samara_starts_the_next_day(small_region: Any, store_url: str) -> None:
    """Samara keeps UTC+4 all year: 23:59:59.999999 local (19:59:59.999999 UTC) is still
    30 November, local midnight (20:00 UTC) is 1 December, and so is 03:59 local (23:59
    UTC, still 30 November in UTC) — kept so as messages arrive and when rebuilt."""
    world = World(small_region, store_url)
    try:
        samara = ZoneInfo("Europe/Samara")
        world.clock.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
        world.repo.rebuild_aggregates("Europe/Samara")
        times = {
            "before": datetime(2026, 11, 30, 19, 59, 59, 999999, tzinfo=UTC),
            "midnight": datetime(2026, 11, 30, 20, 0, tzinfo=UTC),
            "after": datetime(2026, 11, 30, 20, 0, 0, 1, tzinfo=UTC),
            "utc-eve": datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
            "utc-day": datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
            "late": datetime(2026, 12, 1, 19, 59, 59, tzinfo=UTC),
            "next": datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
        }
        world.engine.process(
            [
                Message(
                    source="vk",
                    external_id=key,
                    text=f"Обращение {i}: {WORDS[i]} сломан",
                    created_at=at,
                    topic=TOPICS[i % 5],
                    territory="gorod",
                )
                for i, (key, at) in enumerate(times.items())
            ]
        )
        expected = {"2026-11-30": 1, "2026-12-01": 5, "2026-12-02": 1}
        assert world.repo.aggregates_timezone() == "Europe/Samara"
        with world.repo.engine.connect() as conn:
            kept = per_day(stored_rows(conn, "us"))
        assert kept == expected
        world.repo.rebuild_aggregates("Europe/Samara")
        with world.repo.engine.connect() as conn:
            rebuilt = per_day(stored_rows(conn, "us"))
            profiled = {
                str(r.day)[:10]
                for r in conn.execute(aggregates.profile_select(conn, "Europe/Samara"))
            }
        assert rebuilt == expected
        assert profiled == set(expected)
        days = Analytics(world.repo, world.engine.region).counts(
            datetime(2026, 11, 30, tzinfo=samara), datetime(2026, 12, 3, tzinfo=samara), by=["day"]
        )
        assert {str(r["day"]): r["count"] for r in days} == expected
    finally:
        world.engine.close()


def test_the_sqlite_local_day_reads_the_stored_text() -> None:
    """The SQLite function reads a time as the store writes it (naive UTC text)."""
    day = aggregates.sqlite_local_day
    assert day("2026-11-30 19:59:59.999999", "Europe/Samara") == "2026-11-30"
    assert day("2026-11-30 20:00:00.000000", "Europe/Samara") == "2026-12-01"
    assert day("2026-11-30 20:00:00", "Europe/Samara") == "2026-12-01"
    assert day("2026-10-24 22:30:00.000000", "Europe/Berlin") == "2026-10-25"  # summer time
    assert day("2026-10-25 22:30:00.000000", "Europe/Berlin") == "2026-10-25"  # winter time
    assert day(None, "Europe/Samara") is None
