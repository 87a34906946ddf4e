"""Workers killed with SIGKILL, again and again: every message processed once, every notice heard.

The rule: a worker may die at any instant — in the middle of a batch, between
delivering a notice and recording that it did — and be started again; at
the end every message stored is processed exactly once (none lost, none
twice), the incidents are what an uninterrupted run makes of the same
messages, and every notice in the outbox reached the notifier. Delivery is
at least once by design (:mod:`tsur.delivery`): a worker killed after
delivering a notice and before recording it leaves it to the next deliverer
once its lease runs out, and the notifier drops the repeat by its
``dedup_key``. The tests prove that a notice is heard again only then, and
by key exactly once.

The workers are real ``tsur worker`` processes (:mod:`tests.fault_worker_script`,
which adds a notifier appending each delivery to a file). Kill points come
from a fixed seed: some kills land at a random instant after the worker has
done some work, others are the worker killing itself right after its n-th
delivery.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pwd
import random
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tsur import DeliveryPolicy, Engine, Message, RegionConfig
from tsur.context import utcnow
from tsur.store.sql import open_repository
from tsur.wire import message_to_dict

from .conftest import SMALL_REGION, _url, fault_figures
from .fault_worker_script import RecorderPlugin
from .helpers import SAMARA, WORKLOAD_TEXTS, msg

SCRIPT = Path(__file__).with_name("fault_worker_script.py")
TEXTS = WORKLOAD_TEXTS
#: one message an hour from here (20,000 take until 2026): a message groups with the
#: same complaint about the same house within the week (every 138 hours), not with all
START = datetime(2024, 1, 8, 9, 0, tzinfo=SAMARA)
STEP = timedelta(hours=1)
N_SQLITE = 20_000
N_POSTGRES = 20_000


def fault_messages(n: int) -> list[Message]:
    """``n`` messages of six kinds (problems that group, thanks, complaints), in time order."""
    return [
        msg(str(i), TEXTS[i % len(TEXTS)].format(n=i % 23), at=START + i * STEP) for i in range(n)
    ]


# what a run made ------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a run made of the messages: per message, per incident, per notice."""

    statuses: Counter[str]
    attempts: Counter[int]
    #: external id → the decision on that message (its incident's attributes, not its id)
    decisions: dict[str, tuple[Any, ...]]
    #: each incident: its messages and attributes
    incidents: set[tuple[Any, ...]]
    #: each notice: kind, its incident's messages, recipients
    notices: set[tuple[Any, ...]]
    #: dedup key → sent (True), dead (None) or not yet (False)
    outbox: dict[str, bool | None]
    count_mismatches: int
    received_events: int

    def decisions_checksum(self) -> str:
        return _digest(sorted(self.decisions.items()))

    def incidents_checksum(self) -> str:
        return _digest(sorted(self.incidents) + sorted(self.notices))


def _digest(items: Any) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def outcome(db: str) -> Outcome:
    """Read what is stored in ``db`` (a SQLite path or a PostgreSQL URL)."""
    engine = sa.create_engine(_url(db))
    try:
        with engine.connect() as conn:
            msgs = conn.execute(
                sa.text(
                    "SELECT external_id, status, attempts, incident_id, thanks_executor, "
                    "moderation, error_stage FROM messages"
                )
            ).all()
            incs = {
                r.id: r
                for r in conn.execute(
                    sa.text(
                        "SELECT id, topic, territory, executor, urgency, status, message_count "
                        "FROM incidents"
                    )
                )
            }
            notes = conn.execute(
                sa.text(
                    "SELECT dedup_key, kind, incident_id, recipients, sent_at, dead_at "
                    "FROM notifications"
                )
            ).all()
            received = conn.execute(
                sa.text("SELECT count(*) FROM events WHERE kind = 'received'")
            ).scalar_one()
    finally:
        engine.dispose()
    members: dict[int, list[str]] = {}
    decisions: dict[str, tuple[Any, ...]] = {}
    for m in msgs:
        inc = incs.get(m.incident_id) if m.incident_id is not None else None
        if m.incident_id is not None:
            members.setdefault(m.incident_id, []).append(m.external_id)
        moderation = m.moderation if not isinstance(m.moderation, str) else json.loads(m.moderation)
        decisions[m.external_id] = (
            m.status,
            m.error_stage,
            m.thanks_executor,
            json.dumps(moderation, sort_keys=True, ensure_ascii=False),
            None if inc is None else (inc.topic, inc.territory, inc.executor, inc.urgency),
        )
    group = {i: tuple(sorted(ids, key=int)) for i, ids in members.items()}
    incidents = {
        (group.get(i, ()), r.topic, r.territory, r.executor, r.urgency, r.status, r.message_count)
        for i, r in incs.items()
    }

    def recipients(value: Any) -> tuple[str, ...]:
        return tuple(json.loads(value) if isinstance(value, str) else value)

    return Outcome(
        statuses=Counter(m.status for m in msgs),
        attempts=Counter(m.attempts for m in msgs),
        decisions=decisions,
        incidents=incidents,
        notices={(n.kind, group.get(n.incident_id, ()), recipients(n.recipients)) for n in notes},
        outbox={
            n.dedup_key: True if n.sent_at is not None else (None if n.dead_at else False)
            for n in notes
        },
        count_mismatches=sum(
            1 for i, r in incs.items() if r.message_count != len(members.get(i, ()))
        ),
        received_events=int(received),
    )


# the uninterrupted run ----------------------------------------------------------------------
class Reference:
    """An uninterrupted ``tsur ingest --run`` of the first N_SQLITE messages, in the background.

    Messages are processed in the order they are stored and each decision
    depends on the earlier messages only, so the first ``k`` messages of
    this run are what an uninterrupted run of those ``k`` messages makes.
    """

    def __init__(self, folder: Path) -> None:
        self.db = str(folder / "reference.db")
        lines = folder / "messages.jsonl"
        with lines.open("w", encoding="utf-8") as out:
            for m in fault_messages(N_SQLITE):
                out.write(json.dumps(message_to_dict(m), ensure_ascii=False) + "\n")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tsur",
                "ingest",
                str(lines),
                "--run",
                "--db",
                self.db,
                "--config",
                str(SMALL_REGION),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._outcome: Outcome | None = None

    def result(self) -> Outcome:
        if self._outcome is None:
            out, err = self.proc.communicate(timeout=600)
            assert self.proc.returncode == 0, (out, err)
            self._outcome = outcome(self.db)
        return self._outcome


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    ref = Reference(tmp_path_factory.mktemp("reference"))
    yield ref
    if ref.proc.poll() is None:
        ref.proc.kill()
        ref.proc.communicate()


def first(decisions: dict[str, tuple[Any, ...]], n: int) -> dict[str, tuple[Any, ...]]:
    return {k: v for k, v in decisions.items() if int(k) < n}


# the fault run -------------------------------------------------------------------------------
@dataclass
class Deliveries:
    """The recorder's file: who delivered which notice when, in order."""

    lines: list[tuple[int, float, str]]

    @classmethod
    def read(cls, path: Path) -> Deliveries:
        if not path.exists():
            return cls([])
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            pid, at, key = line.split(" ", 2)
            out.append((int(pid), float(at), key))
        return cls(out)

    def by_key(self) -> dict[str, list[tuple[int, float]]]:
        keys: dict[str, list[tuple[int, float]]] = {}
        for pid, at, key in self.lines:
            keys.setdefault(key, []).append((pid, at))
        return keys


@dataclass
class FaultRun:
    """One run of workers under faults, and what it counted."""

    db: str
    record: Path
    killed: set[int] = field(default_factory=set)
    starts: int = 0
    graceful_processed: int = 0
    stranded: int = 0  # notices a killed worker had claimed, delivered after the lease

    def pending(self, *, tolerant: bool = False) -> int | None:
        """Messages pending; with ``tolerant``, None while the database is away."""
        try:
            if self.db.endswith(".db"):
                # read without SQLite's write lock, which a busy worker would starve
                with closing(
                    sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=60)
                ) as peek:
                    row = peek.execute("SELECT count(*) FROM messages WHERE status = 'pending'")
                    return int(row.fetchone()[0])
            engine = sa.create_engine(_url(self.db))
            try:
                with engine.connect() as conn:
                    return int(
                        conn.execute(
                            sa.text("SELECT count(*) FROM messages WHERE status = 'pending'")
                        ).scalar_one()
                    )
            finally:
                engine.dispose()
        except sa.exc.OperationalError:
            if tolerant:
                return None
            raise

    def recorded_by(self, pid: int) -> int:
        if not self.record.exists():
            return 0
        tag = f"{pid} ".encode()
        return sum(1 for line in self.record.read_bytes().splitlines() if line.startswith(tag))

    def start(self, *args: str, die_after: int = 0) -> subprocess.Popen[str]:
        """A worker process, once it is ready: its signal handler is in place."""
        self.starts += 1
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                str(self.record),
                str(die_after),
                "--",
                "worker",
                "--db",
                self.db,
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
        _wait_ready(proc)
        return proc

    def finish(self, proc: subprocess.Popen[str], *, term: bool = True) -> None:
        """Stop a worker gracefully (SIGTERM) and count what it says it processed."""
        if term and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        self.graceful_processed += int(out.split("обработано сообщений: ")[1].split()[0])

    def kill_rounds(self, kills: int, seed: int) -> None:
        """Start a worker and kill it, ``kills`` times, while messages are pending."""
        rng = random.Random(seed)
        while len(self.killed) < kills and self.pending() > 0:
            die_after = rng.randint(1, 120) if rng.random() < 0.35 else 0
            pause = rng.uniform(0.0, 1.5)
            proc = self.start("--batch-size", str(rng.choice((50, 100, 200))), die_after=die_after)
            if die_after:  # it kills itself after its n-th delivery
                dry = _dead_or_dry(self, proc, lambda p: False)
            else:  # once it has finished a batch, at a random instant
                dry = _dead_or_dry(self, proc, lambda p: self.recorded_by(p.pid) > 0)
                if not dry:
                    time.sleep(pause)
                    proc.send_signal(signal.SIGKILL)
            if dry and proc.poll() is None:  # the queue ran dry first: no kill this round
                self.finish(proc)
                continue
            _out, err = proc.communicate(timeout=60)
            assert proc.returncode == -signal.SIGKILL, err[-3000:]
            self.killed.add(proc.pid)

    def sweep(self, region: RegionConfig) -> None:
        """Deliver what killed workers left claimed, as any worker does once the lease ran
        out (a clock past the lease)."""
        lease = DeliveryPolicy().lease
        plugin = RecorderPlugin(str(self.record))
        with Engine(
            region,
            open_repository(self.db),
            entry_points=False,
            plugins=[plugin],
            clock=lambda: utcnow() + lease + timedelta(seconds=1),
        ) as engine:
            engine.deliver_notifications()
        self.stranded = plugin.recorder.delivered


def _wait_ready(proc: subprocess.Popen[str], seconds: float = 120) -> None:
    """Wait for a worker's first line, which it prints once SIGTERM finishes it cleanly.

    Until then a SIGTERM may find Python still starting (importing tsur),
    before any handler of tsur's: the process ends at once with -15. Nothing
    is lost then, but the test could not tell that from a crash.
    """
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    assert ready, "the worker did not start"
    line = proc.stdout.readline()
    assert line.startswith("обработчик готов") or proc.poll() is not None, line


def _dead_or_dry(
    run: FaultRun, proc: subprocess.Popen[str], ready: Callable[[subprocess.Popen[str]], bool]
) -> bool:
    """Wait until ``proc`` died, the queue is empty (True) or ``ready(proc)`` (False)."""
    while True:
        if proc.poll() is not None:
            return True
        if ready(proc):
            return False
        if run.pending() == 0:
            return True
        time.sleep(0.02)


def _pending_at_most(run: FaultRun, count: int) -> bool:
    left = run.pending(tolerant=True)
    return left is not None and left <= count


def _wait(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the workers"
        time.sleep(0.02)


def check_exactly_once(
    run: FaultRun,
    n: int,
    got: Outcome,
    *,
    label: str,
    heard_again: Callable[[int, float], bool] | None = None,
    extra: dict[str, int] | None = None,
) -> dict[str, int]:
    """Every message once, every notice once by key; the figures.

    A notice may be heard again only when ``heard_again(pid, at)`` explains
    each earlier delivery; by default, when the worker that delivered it was
    killed before it could record that.
    """
    deliveries = Deliveries.read(run.record)
    by_key = deliveries.by_key()
    sent = {k for k, state in got.outbox.items() if state is True}
    processed = sum(got.statuses[s] for s in ("done", "thanked", "rejected"))
    figures = {
        "messages in": n,
        "processed": processed,
        "duplicated": sum(c for a, c in got.attempts.items() if a > 1),
        "lost": n - processed,
        "kills": len(run.killed),
        "worker starts": run.starts,
        "notices": len(got.outbox),
        "notices delivered (by key)": len(by_key),
        "deliveries repeated": len(deliveries.lines) - len(by_key),
        "notices left claimed": run.stranded,
        **(extra or {}),
    }
    fault_figures(label, figures)
    assert sum(got.statuses.values()) == n, "a message is missing or stored twice"
    assert set(got.statuses) <= {"done", "thanked", "rejected"}, got.statuses
    assert got.attempts == Counter({1: n}), f"processed more than once: {got.attempts}"
    assert got.count_mismatches == 0
    assert got.received_events == len(got.incidents)
    assert len(got.outbox) >= len(got.incidents) > 0
    assert sent == set(got.outbox), "a notice was never delivered"
    assert set(by_key) == set(got.outbox), "the notifier heard a notice the outbox lacks"
    explained = heard_again or (lambda pid, _at: pid in run.killed)
    for key, seen in by_key.items():
        assert all(explained(pid, at) for pid, at in seen[:-1]), (key, seen)
    return figures


# the tests ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.faults
def test_a_worker_killed_again_and_again_on_sqlite_loses_nothing_and_repeats_nothing(
    tmp_path: Path, small_region: RegionConfig, reference: Reference
) -> None:
    """20,000 messages on a SQLite file; one worker killed 10 times, started again each time."""
    db = str(tmp_path / "kills.db")
    with Engine(small_region, open_repository(db), entry_points=False) as eng:
        assert eng.ingest(fault_messages(N_SQLITE)).inserted == N_SQLITE
    run = FaultRun(db, tmp_path / "deliveries.log")
    run.kill_rounds(10, seed=20261116)
    assert len(run.killed) == 10, "the workers must die mid-run for this test to mean anything"
    assert run.pending() > 0
    run.finish(run.start("--until-idle"), term=False)
    run.sweep(small_region)
    got = outcome(db)
    figures = check_exactly_once(run, N_SQLITE, got, label="SQLite, kill -9")
    assert figures["notices left claimed"] > 0, (
        "no kill fell between delivering a notice and recording it"
    )
    ref = reference.result()
    assert got.decisions_checksum() == ref.decisions_checksum()
    assert got.incidents_checksum() == ref.incidents_checksum()
    assert got.decisions == ref.decisions and got.incidents == ref.incidents
    assert got.notices == ref.notices


@pytest.mark.slow
@pytest.mark.faults
def test_postgres_workers_sharing_a_queue_lose_nothing_when_one_is_killed_again_and_again(
    pg_url: str, tmp_path: Path, small_region: RegionConfig, reference: Reference
) -> None:
    """20,000 messages on PostgreSQL; two workers, one steady, the other killed 6 times
    and started again each time (batches are written in bulk: fewer messages would be
    done before the sixth kill).

    Concurrent workers group differently from one (two similar messages in
    batches claimed at once become two incidents), so the decision on each
    message — its state, its incident's topic, territory, executor and
    urgency — is compared with the uninterrupted run, and the incidents are
    checked for consistency.
    """
    with Engine(small_region, open_repository(pg_url), entry_points=False) as eng:
        assert eng.ingest(fault_messages(N_POSTGRES)).inserted == N_POSTGRES
    run = FaultRun(pg_url, tmp_path / "deliveries.log")
    steady = [run.start("--batch-size", "50")]
    try:
        run.kill_rounds(6, seed=46)
        assert len(run.killed) == 6, "the worker must die mid-run for this test to mean anything"
        _wait(lambda: run.pending() == 0, 300)
    finally:
        for proc in steady:
            run.finish(proc)
    run.sweep(small_region)
    got = outcome(pg_url)
    check_exactly_once(run, N_POSTGRES, got, label="PostgreSQL, 2 workers, kill -9")
    expected = first(reference.result().decisions, N_POSTGRES)
    assert got.decisions_checksum() == _digest(sorted(expected.items()))
    assert got.decisions == expected


# a PostgreSQL server of the test's own, to restart ------------------------------------------
PG_BIN = Path(os.environ.get("TSUR_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A throwaway PostgreSQL server in a temporary folder, on a free port.

    The server refuses to run as root: a root test runs its commands as the
    ``postgres`` user (``runuser``), in a folder that user owns.
    """

    def __init__(self) -> None:
        missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / b).exists()]
        if missing:
            pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (TSUR_TEST_PG_BIN)")
        self.as_user: list[str] = []
        uid = gid = None
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user to run a server as")
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root and 'runuser' is missing to run a server as postgres")
            self.as_user = [runuser, "-u", "postgres", "--"]
            uid, gid = account.pw_uid, account.pw_gid
        # not under pytest's temporary folder: that one only root may enter
        self.dir = Path(tempfile.mkdtemp(prefix="tsur-pg-"))
        if uid is not None and gid is not None:
            os.chown(self.dir, uid, gid)
        self.data = self.dir / "data"
        self.port = _free_port()
        self._pg(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-o",
            options,
            "-w",
            "start",
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, command: str, *args: str) -> None:
        proc = subprocess.run(
            [*self.as_user, str(PG_BIN / command), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"{command} failed: {proc.stdout}{proc.stderr}"

    def restart(self, mode: str) -> None:
        """``pg_ctl restart -m MODE``: every connection is cut, the server is back after."""
        # -l again: without it the new server writes to pg_ctl's output, held open forever
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-m",
            mode,
            "-w",
            "restart",
        )

    def stop(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own (never the shared one), stopped afterwards."""
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.faults
def test_workers_carry_on_by_themselves_through_postgres_restarts(
    private_pg: PrivatePostgres, tmp_path: Path, small_region: RegionConfig, reference: Reference
) -> None:
    """4,000 messages, two ``tsur worker`` processes, the server restarted twice mid-run
    (``pg_ctl restart -m fast``, then ``-m immediate``: a crash and its recovery).

    Nobody restarts the workers: they wait for the server and finish the run.
    A notice delivered just before the server went away cannot be recorded
    as delivered; it is delivered again once its lease runs out, and the
    notifier drops it by its key. Such repeats are allowed only for
    deliveries made shortly before a restart ended.
    """
    n = 4_000
    schema = f"t_{os.getpid()}"
    admin = sa.create_engine(_url(private_pg.url))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    db = f"{private_pg.url}?options=-csearch_path%3D{schema}"
    with Engine(small_region, open_repository(db), entry_points=False) as eng:
        assert eng.ingest(fault_messages(n)).inserted == n
    run = FaultRun(db, tmp_path / "deliveries.log")
    workers = [run.start("--batch-size", "50") for _ in range(2)]
    windows: list[tuple[float, float]] = []
    outputs: list[str] = []
    try:
        for mode, share in (("fast", 0.2), ("immediate", 0.55)):
            _wait(functools.partial(_pending_at_most, run, int(n * (1 - share))), 300)
            began = time.time()
            private_pg.restart(mode)
            windows.append((began, time.time()))
            left = run.pending(tolerant=True)
            assert left is not None and left > 0, "the server must restart mid-run"
            assert all(w.poll() is None for w in workers), "a worker gave up"
        _wait(functools.partial(_pending_at_most, run, 0), 300)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
            outputs.append(out)
            assert proc.returncode == 0, err[-3000:]
    run.graceful_processed = sum(
        int(o.split("обработано сообщений: ")[1].split()[0]) for o in outputs
    )
    outages = [int(o.split("перерывов связи с базой ")[1].split()[0]) for o in outputs]
    assert all(o >= 1 for o in outages), f"the workers must have lost the server: {outages}"
    run.sweep(small_region)
    got = outcome(db)

    def before_a_restart_ended(_pid: int, at: float) -> bool:
        # a round is claimed, delivered and recorded within moments; 10 s of slack
        return any(began - 10 <= at <= ended for began, ended in windows)

    figures = check_exactly_once(
        run,
        n,
        got,
        label="PostgreSQL restarts",
        heard_again=before_a_restart_ended,
        extra={"restarts": len(windows), "outages seen by the workers": sum(outages)},
    )
    assert figures["kills"] == 0
    assert got.decisions == first(reference.result().decisions, n)
