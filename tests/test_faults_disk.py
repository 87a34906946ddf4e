"""A disk that fills up mid-run: a clear error, nothing half-written, nothing lost.

The rule: a store that cannot write says so (not a traceback), every
transaction it could not finish leaves no trace (the messages stay
pending), the file stays a sound database, and once there is room again
the run finishes as if nothing had happened — each message processed once.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tsur import Engine, RegionConfig
from tsur.store.sql import open_repository

from .conftest import SMALL_REGION
from .test_workers import _check_consistent, _messages

SCRIPT = Path(__file__).with_name("faults_script.py")


@pytest.mark.slow
@pytest.mark.faults
def test_a_full_disk_mid_run_is_a_clear_error_and_loses_nothing(
    tmp_path: Path, small_region: RegionConfig
) -> None:
    db = tmp_path / "full.db"
    n = 400
    with Engine(small_region, open_repository(str(db)), entry_points=False) as eng:
        eng.ingest(_messages(n))
    size = db.stat().st_size + sum(
        p.stat().st_size for p in tmp_path.glob("full.db-*") if p.is_file()
    )
    # room for a little more than what is there: the run fills it
    limit = size + 64 * 1024
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(limit),
            "--",
            "run",
            "--db",
            str(db),
            "--config",
            str(SMALL_REGION),
            "--batch-size",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "error: database error:" in proc.stderr
    assert "(is the disk full, or the database file not writable?)" in proc.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status"))
    assert sum(states.values()) == n and states.get("pending", 0) > 0
    assert "processing" not in states
    # room again: the rest is processed, each message once
    with Engine(small_region, open_repository(str(db)), entry_points=False) as eng:
        assert eng.run().processed == states["pending"]
    _check_consistent(str(db), n)
