"""Real worker processes: no double processing, and a killed run loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tsur import Engine, RegionConfig
from tsur.store.sql import open_repository

from .conftest import SMALL_REGION
from .helpers import WORKLOAD_TEXTS, msg

WORKER = Path(__file__).with_name("worker_script.py")
CONFIG = str(SMALL_REGION)
TEXTS = WORKLOAD_TEXTS


def _messages(n: int) -> list:
    return [msg(str(i), TEXTS[i % len(TEXTS)].format(n=i % 97)) for i in range(n)]


def _spawn(db: str, go: Path, delay: float) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(WORKER), db, CONFIG, str(go), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _grouping(db: str) -> set[frozenset[str]]:
    repo = open_repository(db)
    with repo.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT incident_id, external_id FROM messages WHERE incident_id IS NOT NULL")
        )
        groups: dict[int, set[str]] = {}
        for inc, ext in rows:
            groups.setdefault(inc, set()).add(ext)
    repo.close()
    return {frozenset(g) for g in groups.values()}


def _check_consistent(db: str, n: int) -> None:
    repo = open_repository(db)
    with repo.engine.connect() as conn:
        statuses = dict(
            conn.execute(sa.text("SELECT status, count(*) FROM messages GROUP BY status")).all()
        )
        attempts = set(conn.execute(sa.text("SELECT DISTINCT attempts FROM messages")).scalars())
        incidents = conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar()
        received = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE kind = 'received'")
        ).scalar()
        mismatched = conn.execute(
            sa.text(
                "SELECT count(*) FROM incidents i WHERE message_count != "
                "(SELECT count(*) FROM messages m WHERE m.incident_id = i.id)"
            )
        ).scalar()
        notes = conn.execute(
            sa.text("SELECT count(*) - count(DISTINCT incident_id) FROM notifications")
        ).scalar()
    repo.close()
    assert sum(statuses.values()) == n and set(statuses) <= {"done", "thanked", "rejected"}
    assert attempts == {1}, "a message was processed more than once"
    assert received == incidents
    assert mismatched == 0
    assert notes == 0


@pytest.mark.slow
def test_three_postgres_workers_share_one_queue_without_double_processing(
    pg_url: str, small_region: RegionConfig, tmp_path: Path
) -> None:
    n = 600
    with Engine(small_region, open_repository(pg_url), entry_points=False) as eng:
        eng.ingest(_messages(n))
    go = tmp_path / "go"
    workers = [_spawn(pg_url, go, 0.004) for _ in range(3)]
    time.sleep(0.5)
    go.touch()
    outputs = [w.communicate(timeout=240) for w in workers]
    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
    counts = [int(out.split()[-1]) for out, _ in outputs]
    assert sum(counts) == n
    assert sum(1 for c in counts if c > 0) >= 2, f"work was not shared: {counts}"
    _check_consistent(pg_url, n)


@pytest.mark.slow
@pytest.mark.faults
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_killed_run_is_resumed_without_loss_or_duplicates(
    backend: str, request: pytest.FixtureRequest, small_region: RegionConfig, tmp_path: Path
) -> None:
    db = str(tmp_path / "k.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    n = 300
    with Engine(small_region, open_repository(db), entry_points=False) as eng:
        eng.ingest(_messages(n))
    go = tmp_path / "go"
    go.touch()
    worker = _spawn(db, go, 0.01)
    repo = open_repository(db)
    deadline = time.monotonic() + 60
    while repo.message_counts().get("done", 0) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    done_before = repo.message_counts().get("done", 0)
    assert 0 < done_before < n, "the worker must die mid-run for this test to mean anything"
    repo.close()
    with Engine(small_region, open_repository(db), entry_points=False) as eng:
        eng.run()
        eng.ingest(_messages(n))  # the source re-delivers everything: still no duplicates
        assert eng.run().processed == 0
    _check_consistent(db, n)
    clean = str(tmp_path / "clean.db")
    with Engine(small_region, open_repository(clean), entry_points=False) as eng:
        eng.process(_messages(n))
    assert _grouping(db) == _grouping(clean)
