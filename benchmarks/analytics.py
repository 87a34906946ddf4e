"""Speed of the analytics queries on a large store, SQLite and PostgreSQL.

    python benchmarks/analytics.py [--n 100000] [--days 365] [--no-postgres]
    python benchmarks/analytics.py --n 1000000              # the full run

Incidents of the bundled region are generated (territories weighted by
population, topics by a long-tailed distribution, winter topics in winter,
answers, deadlines, statuses, geotags) and written directly — executemany
in big transactions on SQLite, COPY on PostgreSQL — not through the
pipeline. Then every query of a monthly report is timed (best of
``--repeat`` runs) for the last full month, first counting the incidents
themselves (``exact``: ``use_aggregates=False``), then — after the daily
aggregates are rebuilt through the public path,
:meth:`SqlRepository.rebuild_aggregates` (timed as ``rebuild_s``) — reading
whole days from them (``aggregates``). With ``--proposed-indexes`` the exact
queries are timed once more with the extra indexes of
:data:`PROPOSED_INDEXES`. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tsur import Engine, load_region
from tsur.analytics import (
    Analytics,
    build_report,
    executor_ratings,
    find_spikes,
    parse_period,
    render,
)
from tsur.config import RegionConfig
from tsur.store.sql import SqlRepository, open_repository

PG_DSN = os.environ.get("TSUR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "bench_analytics"
#: Indexes proposed for schema version 3, by name: (columns, why).
PROPOSED_INDEXES: dict[str, tuple[tuple[str, ...], str]] = {
    "ix_incidents_created_territory_topic": (
        ("created_at", "territory", "topic"),
        "covers counts by territory × topic × period and the systemic-problem scan",
    ),
}
COLUMNS = (
    "status",
    "topic",
    "confidence",
    "urgency",
    "territory",
    "executor",
    "sla_policy",
    "first_response_due",
    "resolution_due",
    "first_response_at",
    "created_at",
    "updated_at",
    "source",
    "summary",
    "lat",
    "lon",
    "address",
    "address_key",
    "signature",
    "message_count",
    "data",
)
WINTER = ("zhkh.heating", "roads.snow", "energy.outage")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Generator:
    """Plausible incidents of one region, reproducible from a seed."""

    def __init__(self, config: RegionConfig, end: datetime, days: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.end, self.days = end, days
        root = config.region.territory
        parents = {t.id: t.parent for t in config.territories}
        weights: dict[str, float] = {}
        for t in config.territories:
            if t.id == root:
                continue
            base = float(t.population or 15_000)
            weights[t.id] = base if parents.get(t.id) == root else base * 0.3
        self.territories = list(weights)
        self.territory_weights = list(weights.values())
        self.centres = {
            t.id: (t.lat, t.lon) for t in config.territories if t.lat is not None and t.lon
        }
        for t in config.territories:  # settlements without coordinates: their parent's
            node = t.id
            while node not in self.centres and parents.get(node):
                node = parents[node] or node
            if node in self.centres:
                self.centres.setdefault(t.id, self.centres[node])
        self.topics = [t.id for t in config.topics]
        self.topic_weights = [1 / (i + 1) ** 0.8 for i in range(len(self.topics))]
        self.rnd.shuffle(self.topic_weights)
        self.executors = [e.id for e in config.executors]
        self.sources = [s.id for s in config.sources]
        self.source_weights = [40, 15, 10, 20, 8, 4, 2, 1][: len(self.sources)]

    def rows(self, n: int) -> Iterator[dict[str, Any]]:
        """``n`` incidents in time order (ids grow with time, as in a real store)."""
        rnd = self.rnd
        start = self.end - timedelta(days=self.days)
        step = self.days * 86400 / n
        statuses = (
            "closed",
            "resolved",
            "in_progress",
            "routed",
            "triage",
            "answered_intermediate",
        )
        status_w = (45, 20, 12, 15, 5, 3)
        chunk = 10_000
        for first in range(0, n, chunk):
            k = min(chunk, n - first)
            territories = rnd.choices(self.territories, self.territory_weights, k=k)
            topics = rnd.choices(self.topics, self.topic_weights, k=k)
            sources = rnd.choices(self.sources, self.source_weights, k=k)
            states = rnd.choices(statuses, status_w, k=k)
            executors = rnd.choices(self.executors, k=k)
            for j in range(k):
                i = first + j
                created = start + timedelta(seconds=(i + rnd.random()) * step)
                topic: str | None = topics[j]
                if topic in WINTER and 5 <= created.month <= 9 and rnd.random() < 0.8:
                    topic = self.topics[int(rnd.random() * len(self.topics))]
                status = states[j]
                answered = status not in ("routed", "triage") or rnd.random() < 0.1
                u = rnd.random()
                territory = territories[j] if u > 0.08 else None
                lat = lon = None
                if u > 0.75 and territory in self.centres:
                    clat, clon = self.centres[territory]
                    lat, lon = clat + (rnd.random() - 0.5) * 0.1, clon + (rnd.random() - 0.5) * 0.16
                yield {
                    "status": status,
                    "topic": topic if u < 0.97 or u > 0.99 else None,
                    "confidence": 0.8,
                    "urgency": "urgent" if u < 0.08 else "quick" if u > 0.9 else "normal",
                    "territory": territory,
                    "executor": executors[j],
                    "sla_policy": "default",
                    "first_response_due": created + timedelta(hours=8 + 16 * u),
                    "resolution_due": created + timedelta(days=10 + 4 * u),
                    "first_response_at": (
                        created + timedelta(hours=rnd.expovariate(0.25)) if answered else None
                    ),
                    "created_at": created,
                    "updated_at": created,
                    "source": sources[j],
                    "summary": f"Обращение {i}",
                    "lat": lat,
                    "lon": lon,
                    "address": None,
                    "address_key": None,
                    "signature": "",
                    "message_count": 1 + (u > 0.8) + (u > 0.95),
                    "data": "{}",
                }


def _sqlite_text(value: Any) -> Any:
    """A datetime as the store keeps it on SQLite: naive UTC text with microseconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]
    return value


def load_sqlite(repo: SqlRepository, gen: Generator, n: int, chunk: int = 50_000) -> float:
    raw = repo.engine.raw_connection()
    t0 = time.perf_counter()
    sql = f"INSERT INTO incidents ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    done = 0
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA cache_size=-262144")  # 256 MiB while loading
        rows = gen.rows(n)
        while done < n:
            batch = [
                tuple(_sqlite_text(r[c]) for c in COLUMNS)
                for _, r in zip(range(min(chunk, n - done)), rows, strict=False)
            ]
            cur.execute("BEGIN")
            cur.executemany(sql, batch)
            cur.execute("COMMIT")
            done += len(batch)
            say(f"  sqlite: {done:,}/{n:,} ({done / (time.perf_counter() - t0):,.0f} rows/s)")
        cur.execute("ANALYZE")
    finally:
        raw.close()
    return time.perf_counter() - t0


def load_postgres(repo: SqlRepository, gen: Generator, n: int, chunk: int = 100_000) -> float:
    raw = repo.engine.raw_connection()
    t0 = time.perf_counter()
    done = 0
    try:
        cur = raw.cursor()
        rows = gen.rows(n)
        while done < n:
            size = min(chunk, n - done)
            with cur.copy(f"COPY incidents ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for _, r in zip(range(size), rows, strict=False):
                    copy.write_row([r[c] for c in COLUMNS])
            raw.commit()
            done += size
            say(f"  postgres: {done:,}/{n:,} ({done / (time.perf_counter() - t0):,.0f} rows/s)")
    finally:
        raw.close()
    with repo.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE incidents"
        )
    return time.perf_counter() - t0


def create_indexes(repo: SqlRepository) -> float:
    t0 = time.perf_counter()
    with repo.engine.begin() as conn:
        for name, (cols, _why) in PROPOSED_INDEXES.items():
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {name} ON incidents ({', '.join(cols)})"
            )
    with repo.engine.connect() as conn:
        if repo.dialect == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE incidents"
            )
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return time.perf_counter() - t0


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_queries(
    engine: Engine, month: str, at: datetime, repeat: int, *, use_aggregates: bool = True
) -> dict[str, float]:
    a = Analytics.for_engine(engine, use_aggregates=use_aggregates)
    p = parse_period(month, a.tz)
    prev = p.previous()
    weeks_start = p.end - timedelta(weeks=12)
    queries: dict[str, Callable[[], Any]] = {
        "total": lambda: a.total(p.start, p.end),
        "counts municipality×topic": lambda: a.counts(p.start, p.end, by=("municipality", "topic")),
        "counts municipality×direction×day": lambda: a.counts(
            p.start, p.end, by=("municipality", "direction", "day")
        ),
        "municipality stats": lambda: a.municipality_stats(p.start, p.end, at=at),
        "top problems (+previous)": lambda: a.top_problems(p.start, p.end, prev.start),
        "top problems by municipality": lambda: a.top_problems_by_municipality(
            p.start, p.end, prev.start
        ),
        "trend by day × direction": lambda: a.trend(p.start, p.end, unit="day"),
        "trend 12 weeks × direction": lambda: a.trend(weeks_start, p.end, unit="week"),
        "weeks × topic (sparklines)": lambda: a.counts(weeks_start, p.end, by=("week", "topic")),
        "seasonality 3 years by month": lambda: a.seasonality(p.end, years=3),
        "systemic problems (spikes)": lambda: find_spikes(a, p.end),
        "channel mix": lambda: a.channel_mix(p.start, p.end),
        "geotagged points (≤5000)": lambda: a.points(p.start, p.end, at=at),
        "median first response": lambda: a.median_first_response(p.start, p.end),
        "executor KPIs": lambda: executor_ratings(
            a, p.start, p.end, at=at, calendar=engine.calendar
        ),
    }
    out = {}
    for name, fn in queries.items():
        out[name] = best(fn, repeat)
        say(f"    {name:<36} {out[name] * 1000:8.1f} ms")
    report: dict[str, Any] = {}

    def whole() -> None:
        report.update(build_report(engine, month, at=at, use_aggregates=use_aggregates))

    out["whole report (build)"] = best(whole, 1)
    out["render html"] = best(lambda: render(engine, report, "html"), 1)
    say(f"    {'whole report (build)':<36} {out['whole report (build)'] * 1000:8.1f} ms")
    say(f"    {'render html':<36} {out['render html'] * 1000:8.1f} ms")
    return out


def run_backend(
    name: str, url: str, config: RegionConfig, args: argparse.Namespace
) -> dict[str, Any]:
    say(f"{name}: generating {args.n:,} incidents over {args.days} days")
    repo = open_repository(url)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    gen = Generator(config, end, args.days, args.seed)
    loader = load_postgres if repo.dialect == "postgresql" else load_sqlite
    load_s = loader(repo, gen, args.n)
    at = end - timedelta(hours=4)
    month = "2026-11"
    # the incidents were written around the store's writer: the aggregates are rebuilt
    # through the public path (an engine would do it too, on opening the store)
    t0 = time.perf_counter()
    agg_rows = repo.rebuild_aggregates(config.region.timezone)
    rebuild_s = time.perf_counter() - t0
    engine = Engine(config, repo, entry_points=False, clock=lambda: at)
    result: dict[str, Any] = {
        "rows": args.n,
        "load_s": round(load_s, 1),
        "rebuild_s": round(rebuild_s, 2),
        "aggregate_rows": agg_rows,
    }
    say(f"  loaded in {load_s:.1f} s; aggregates rebuilt in {rebuild_s:.2f} s: {agg_rows:,} rows")
    with repo.engine.connect() as conn:
        in_month = conn.execute(
            sa.text("SELECT count(*) FROM incidents WHERE created_at >= :a AND created_at < :b"),
            {
                "a": _bind(repo, datetime(2026, 10, 31, 20, tzinfo=UTC)),
                "b": _bind(repo, datetime(2026, 11, 30, 20, tzinfo=UTC)),
            },
        ).scalar()
    result["rows_in_month"] = in_month
    say(f"  {in_month:,} incidents in {month}")
    say("  exact queries (over the incidents, the schema's indexes):")
    result["exact"] = time_queries(engine, month, at, args.repeat, use_aggregates=False)
    say("  queries reading the daily aggregates:")
    result["aggregates"] = time_queries(engine, month, at, args.repeat)
    if args.proposed_indexes:
        result["index_s"] = round(create_indexes(repo), 1)
        say(f"  proposed indexes built in {result['index_s']} s; exact queries again:")
        result["exact_indexed"] = time_queries(engine, month, at, args.repeat, use_aggregates=False)
    engine.close()
    return result


def _bind(repo: SqlRepository, value: datetime) -> Any:
    return _sqlite_text(value) if repo.dialect == "sqlite" else value


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="incidents (default 100,000)")
    parser.add_argument("--days", type=int, default=365, help="spread over this many days")
    parser.add_argument("--repeat", type=int, default=3, help="runs per query (best is kept)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", help="SQLite file (default: a temporary one)")
    parser.add_argument("--postgres", default=PG_DSN, help="PostgreSQL URL (a schema is made)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--proposed-indexes",
        action="store_true",
        help="time the exact queries again with the indexes of PROPOSED_INDEXES",
    )
    args = parser.parse_args()
    config = load_region()
    results: dict[str, Any] = {"n": args.n, "days": args.days}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.sqlite or Path(tmp) / "analytics.db")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        results["sqlite"] = run_backend("sqlite", str(path), config, args)
        results["sqlite"]["file_mb"] = round(path.stat().st_size / 2**20)
    if not args.no_postgres:
        import psycopg

        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
            conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
        sep = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{sep}options=-csearch_path%3D{PG_SCHEMA}"
        try:
            results["postgres"] = run_backend("postgres", url, config, args)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
    print(json.dumps(results, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
