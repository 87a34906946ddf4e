"""The long-running worker: it takes work as it comes, outlives the database, stops cleanly.

The rules: a worker waiting on an empty queue takes a new message at once
(on PostgreSQL it is told, it does not poll); a database that goes away —
every connection of the worker terminated by the server, as a restart does
— costs nothing: the worker waits and carries on, and every message is
processed exactly once; SIGTERM lets the batch in hand finish and stops,
and what is left is there for the next worker.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tsur import Engine, RegionConfig, hookimpl
from tsur.cli import main
from tsur.plugins import make_plugin_manager
from tsur.store.sql import SqlRepository, open_repository
from tsur.worker import Worker, WorkerReport

from .conftest import PG_DSN, SMALL_REGION, _url
from .helpers import msg
from .test_workers import _check_consistent, _messages

SCRIPT = Path(__file__).with_name("worker_cli_script.py")


def _wait_until(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _start(worker: Worker) -> tuple[threading.Thread, list[WorkerReport]]:
    out: list[WorkerReport] = []
    thread = threading.Thread(target=lambda: out.append(worker.run()), daemon=True)
    thread.start()
    return thread, out


def test_an_idle_worker_takes_new_messages_as_they_come(
    db_url: str, small_region: RegionConfig
) -> None:
    postgres = not db_url.endswith(".db")
    # the worker is told of new work (NOTIFY on PostgreSQL, the file's data version on
    # SQLite): a long idle wait must not delay it
    idle = 60.0
    engine = Engine(small_region, SqlRepository(_url(db_url)), entry_points=False)
    engine.repository.migrate()
    worker = Worker(engine, idle=idle, tick_every=None)
    thread, out = _start(worker)
    feeder = SqlRepository(_url(db_url))
    try:
        time.sleep(0.5)  # the worker is waiting now
        with Engine(small_region, feeder, entry_points=False) as other:
            other.ingest([msg("1", "Сызрань, яма на дороге у дома 5")])
            assert _wait_until(lambda: other.repository.message_counts() == {"done": 1}, 20)
    finally:
        worker.stop()
        waker = sa.create_engine(_url(db_url))  # wake it from its wait
        with waker.begin() as conn:
            if postgres:
                conn.execute(sa.text("SELECT pg_notify('tsur_pending', '')"))
            else:  # any commit by another connection will do
                conn.execute(sa.text("PRAGMA user_version = 7"))
        waker.dispose()
        thread.join(timeout=idle + 5)
        engine.close()
    assert not thread.is_alive()
    assert out[0].run.processed == 1 and out[0].outages == 0


@pytest.mark.slow
@pytest.mark.faults
def test_a_worker_outlives_its_connections_being_terminated(
    pg_url: str, small_region: RegionConfig
) -> None:
    name = f"tsur-outage-{os.getpid()}"
    url = f"{pg_url}&application_name={name}"
    n = 300
    with Engine(small_region, open_repository(url), entry_points=False) as eng:
        eng.ingest(_messages(n))

    class Slow:
        def classify(self, message: object, text: object) -> None:
            time.sleep(0.01)

    class Plugin:
        @hookimpl
        def register_classifiers(self, register: object) -> None:
            register("slow", Slow())  # type: ignore[operator]

    engine = Engine(small_region, open_repository(url), entry_points=False, plugins=[Plugin()])
    worker = Worker(engine, batch_size=10, idle=0.2, tick_every=None, reconnect=(0.05, 0.5))
    thread, out = _start(worker)
    kills = 0
    admin = sa.create_engine(_url(PG_DSN))
    watcher = open_repository(pg_url)
    try:
        # the server terminates every connection of the worker, again and again
        while kills < 6 and thread.is_alive():
            time.sleep(0.4)
            with admin.begin() as conn:
                kills += conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": name},
                ).scalar_one()
        assert kills >= 3, "the worker's connections must be cut for this test to mean anything"
        assert _wait_until(lambda: watcher.message_counts().get("pending", 0) == 0, 120)
    finally:
        worker.stop()
        thread.join(timeout=30)
        engine.close()
        watcher.close()
        admin.dispose()
    assert out and out[0].outages >= 1
    _check_consistent(pg_url, n)


def _cli(db: str, *args: str, delay: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            str(delay),
            "--",
            "worker",
            "--db",
            db,
            "--config",
            str(SMALL_REGION),
            "--idle",
            "0.2",
            "--tick",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


@pytest.mark.slow
@pytest.mark.faults
def test_sigterm_finishes_the_batch_in_hand_and_leaves_the_rest(
    tmp_path: Path, small_region: RegionConfig
) -> None:
    db = str(tmp_path / "w.db")
    n = 200
    with Engine(small_region, open_repository(db), entry_points=False) as eng:
        eng.ingest(_messages(n))
    proc = _cli(db, "--batch-size", "10", delay=0.02)
    repo = open_repository(db)
    try:
        # read without taking SQLite's write lock, which the busy worker would starve
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as peek:
            assert _wait_until(
                lambda: (
                    peek.execute(
                        "SELECT count(*) FROM messages WHERE status != 'pending'"
                    ).fetchone()[0]
                    >= 20
                ),
                60,
            )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        processed = int(out.split("обработано сообщений: ")[1].split()[0])
        counts = repo.message_counts()
        assert 0 < processed < n, "SIGTERM must come mid-run for this test to mean anything"
        # every claimed batch was finished: nothing half-done, the rest still pending
        assert processed % 10 == 0
        assert counts.get("pending", 0) == n - processed
        assert "processing" not in counts
        rest = _cli(db, "--until-idle")
        out, err = rest.communicate(timeout=120)
        assert rest.returncode == 0, err
        assert f"обработано сообщений: {n - processed}" in out
    finally:
        if proc.poll() is None:
            proc.kill()
        repo.close()
    _check_consistent(db, n)


class SignalWhileLoading:
    """A plugin that sends its own process ``signum`` while tsur loads the commands."""

    def __init__(self, signum: int) -> None:
        self.signum = signum

    @hookimpl
    def register_commands(self) -> None:
        signal.raise_signal(self.signum)


def test_sigterm_while_the_worker_starts_stops_it_cleanly_before_its_first_batch(
    tmp_path: Path, small_region: RegionConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIGTERM before the worker's own handler is in place (plugins loading, the
    engine opening) is kept, not fatal: the worker stops before its first batch."""
    db = str(tmp_path / "w.db")
    with Engine(small_region, open_repository(db), entry_points=False) as eng:
        eng.ingest(_messages(20))
    before = signal.getsignal(signal.SIGTERM)
    pm = make_plugin_manager(entry_points=False, plugins=[SignalWhileLoading(signal.SIGTERM)])
    argv = ["worker", "--db", db, "--config", str(SMALL_REGION), "--tick", "0"]
    assert main(argv, pm=pm) == 0
    assert "обработано сообщений: 0 " in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before
    repo = open_repository(db)
    try:
        assert repo.message_counts() == {"pending": 20}
    finally:
        repo.close()


def test_a_signal_while_another_command_starts_acts_when_the_command_begins(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Only the worker takes a signal kept during start-up over; any other command gets it
    as it came (Ctrl-C: interrupted)."""
    # as in a process started in the foreground: Ctrl-C is Python's (another test's
    # process state may have left it ignored, which tsur rightly leaves as it is)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    before = signal.getsignal(signal.SIGINT)
    pm = make_plugin_manager(entry_points=False, plugins=[SignalWhileLoading(signal.SIGINT)])
    assert main(["sources", "--db", str(tmp_path / "s.db")], pm=pm) == 130
    assert signal.getsignal(signal.SIGINT) is before
