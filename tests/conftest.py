"""Shared fixtures: regions, a frozen clock, and repositories on SQLite and PostgreSQL.

PostgreSQL tests use ``TSUR_TEST_PG_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/test``); each test gets a schema of
its own. Without a reachable server those tests are skipped with the reason,
except under ``CI=true``, where a missing server is an error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tsur import Engine, RegionConfig, bundled_region_path, load_region, testing
from tsur.lifecycle import Lifecycle
from tsur.store.sql import SqlRepository, normalize_url
from tsur.testing import FixedClock as FrozenClock

DATA = Path(__file__).parent / "data"
#: The small region shipped for tests, as a file.
SMALL_REGION = Path(str(bundled_region_path("small")))
PG_DSN = os.environ.get("TSUR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
#: One line per fault run (the tests marked ``faults``), shown at the end of the session.
FAULT_FIGURES: list[str] = []


def fault_figures(label: str, figures: Mapping[str, object]) -> str:
    """Record a fault run's figures: one line, printed now and again in the session's summary."""
    line = f"{label}: " + ", ".join(f"{k} {v}" for k, v in figures.items())
    FAULT_FIGURES.append(line)
    print(f"\n{line}")
    return line


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures of every fault run, under ``fault runs``."""
    if FAULT_FIGURES:
        terminalreporter.section("fault runs")
        for line in FAULT_FIGURES:
            terminalreporter.write_line(line)


def pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'tsur[test]')"
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_DSN} is not reachable: {exc}".strip()


_PG_REASON = pg_available()


def require_pg() -> None:
    """Skip (or fail under CI) when PostgreSQL is absent."""
    if _PG_REASON is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the PostgreSQL tests: {_PG_REASON}")
    pytest.skip(_PG_REASON)


class PgSchema:
    """A throwaway PostgreSQL schema and a URL whose search_path points at it."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        sep = "&" if "?" in PG_DSN else "?"
        self.url = f"{PG_DSN}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self.name}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of an empty PostgreSQL schema for this test."""
    require_pg()
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "tsur.db")
        return
    require_pg()
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture(scope="session")
def small_region() -> RegionConfig:
    """The small region shipped for tests (tsur/data/regions/small.toml)."""
    return testing.small_region()


@pytest.fixture(scope="session")
def bundled_region() -> RegionConfig:
    """The bundled example region (Samara oblast)."""
    return load_region()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at Monday 16 November 2026, 10:00 Samara time."""
    return FrozenClock(datetime(2026, 11, 16, 6, 0, tzinfo=UTC))


@pytest.fixture
def engine(small_region: RegionConfig, db_url: str, clock: FrozenClock) -> Iterator[Engine]:
    """An engine on the small region, on each backend, with a frozen clock."""
    repo = SqlRepository(_url(db_url))
    repo.migrate()
    eng = Engine(small_region, repo, entry_points=False, clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def _url(db: str) -> str:
    return normalize_url(db)


@contextmanager
def bundled_world(db_url: str, start: datetime) -> Iterator[tuple[Engine, Lifecycle, FrozenClock]]:
    """The bundled Samara region on ``db_url``, its lifecycle (no replies), a clock at ``start``."""
    clock = FrozenClock(start)
    repo = SqlRepository(_url(db_url))
    repo.migrate()
    engine = Engine(load_region(), repo, entry_points=False, clock=clock)
    life = Lifecycle(engine, post_replies=False)
    try:
        yield engine, life, clock
    finally:
        life.close()
        engine.close()
