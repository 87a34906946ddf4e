"""How processing scales with worker processes on one PostgreSQL queue.

    python benchmarks/workers.py [--db postgresql://postgres@127.0.0.1:5432/test]
                                 [--n 4000] [--workers 1,2] [--batch-size 200] [--rounds 1]

For each worker count the same generated messages (see ``backfill.py``:
real appeal texts with a place of the bundled Samara region, a channel, a
time over a year, some repeats and broken lines) are ingested into a fresh
schema of the database (dropped afterwards; ``public`` is never touched),
then that many worker processes — each one :class:`tsur.worker.Worker`
with ``until_idle`` — are started, wait until all are ready (the region
and the lemmatiser loaded) and process the queue together. Timed: from the
start signal until the last worker is done. Printed per count: ingest
time, messages per second, the CPU seconds of the workers and of the
PostgreSQL server (when it runs on this machine) and of the whole machine
(when it is much more than the two, something else competed for the
cores and the figures say little), and for every count
after the first the speed-up over the first; the last line is one JSON
object. With ``--rounds`` above 1 the counts alternate that many times and
the best round of each is kept (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backfill import write_messages
from pipeline import DEFAULT_CSV, load_texts

PG_DSN = os.environ.get("TSUR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def child(url: str, go: Path, batch_size: int) -> int:
    """One worker process: load, say ready, wait for the start signal, process, report."""
    from tsur import Engine, bundled_region_path
    from tsur.worker import Worker

    engine = Engine.from_config(str(bundled_region_path()), db=url, entry_points=False)
    worker = Worker(engine, batch_size=batch_size, tick_every=None)
    print("ready", flush=True)
    deadline = time.monotonic() + 300
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    report = worker.run(until_idle=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    engine.close()
    out = {"processed": report.run.processed, "batches": report.batches, "cpu_s": cpu}
    print(json.dumps({**out, "elapsed_s": elapsed}), flush=True)
    return 0


def server_cpu() -> float | None:
    """CPU seconds used so far by the PostgreSQL processes of this machine (None when the
    server runs elsewhere or /proc cannot tell): what the database cost, beside the workers."""
    total, seen = 0, False
    try:
        tick = os.sysconf("SC_CLK_TCK")
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except (OSError, ValueError):
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")].startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            total += sum(int(v) for v in fields[11:15])  # its own and its reaped children's
            seen = True
    return total / tick if seen else None


def machine_cpu() -> float | None:
    """CPU seconds the whole machine has been busy (None where /proc/stat is missing)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and waiting for disk
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with its search_path set to ``schema``."""
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options=-csearch_path%3D{schema}"


def one_run(dsn: str, data: Path, workers: int, batch_size: int) -> dict[str, float | int]:
    """Ingest ``data`` into a fresh schema and process it with ``workers`` processes."""
    import psycopg
    import sqlalchemy as sa

    from tsur import Engine, load_region
    from tsur.store.sql import open_repository

    schema = f"tsur_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = with_schema(dsn, schema)
    try:
        engine = Engine(load_region(), open_repository(url), entry_points=False)
        t0 = time.perf_counter()
        ingested = engine.ingest_jsonl(data)
        ingest_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            go = Path(tmp) / "go"
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "--child", url, str(go), str(batch_size)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(workers)
            ]
            for p in procs:
                assert p.stdout is not None
                line = p.stdout.readline().strip()
                if line != "ready":
                    raise SystemExit(f"a worker did not start: {line!r}")
            cpu0, busy0 = server_cpu(), machine_cpu()
            t1 = time.perf_counter()
            go.touch()
            reports = []
            for p in procs:
                out, _ = p.communicate(timeout=3600)
                if p.returncode:
                    raise SystemExit(f"a worker failed with exit code {p.returncode}")
                reports.append(json.loads(out.strip().splitlines()[-1]))
            process_s = time.perf_counter() - t1
            busy1 = machine_cpu()
            time.sleep(0.5)  # the server's processes of the workers end and are counted
            cpu1 = server_cpu()
        with engine.repository.engine.connect() as conn:
            pending = conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE status = 'pending'")
            ).scalar()
            twice = conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE attempts > 1")
            ).scalar()
        engine.close()
        processed = sum(r["processed"] for r in reports)
        if pending or twice or processed != ingested.inserted:
            raise SystemExit(
                f"inconsistent run: {pending} pending, {twice} processed twice, "
                f"{processed} processed of {ingested.inserted}"
            )
        return {
            "workers": workers,
            "inserted": ingested.inserted,
            "ingest_s": round(ingest_s, 2),
            "process_s": round(process_s, 2),
            "msgs_per_s": round(processed / process_s, 1),
            "worker_cpu_s": round(sum(r["cpu_s"] for r in reports), 2),
            "server_cpu_s": round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 else None,
            "machine_busy_s": round(busy1 - busy0, 2) if busy0 is not None and busy1 else None,
            "capacity_s": round(process_s * (os.cpu_count() or 1), 2),
            "per_worker": [r["processed"] for r in reports],
        }
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--child"]:
        return child(args_in[1], Path(args_in[2]), int(args_in[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=PG_DSN, help="PostgreSQL URL (a schema is made in it)")
    parser.add_argument("--n", type=int, default=4000, help="lines to generate")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the counts this often")
    parser.add_argument("--texts", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--column", default="Текст Сообщения")
    args = parser.parse_args(args_in)
    counts = [int(c) for c in args.workers.split(",")]

    texts, origin = load_texts(args.texts, args.column)
    best: dict[int, dict[str, float | int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "messages.jsonl"
        write_messages(data, texts, args.n)
        for _ in range(args.rounds):
            for k in counts:
                run = one_run(args.db, data, k, args.batch_size)
                print(
                    f"{k} worker(s): ingest {run['ingest_s']} s, processed {run['inserted']} in "
                    f"{run['process_s']} s = {run['msgs_per_s']} msg/s "
                    f"(CPU: workers {run['worker_cpu_s']} s, PostgreSQL {run['server_cpu_s']} s, "
                    f"whole machine {run['machine_busy_s']} of {run['capacity_s']} s; "
                    f"per worker {run['per_worker']})",
                    file=sys.stderr,
                )
                if k not in best or run["msgs_per_s"] > best[k]["msgs_per_s"]:
                    best[k] = run
    base = best[counts[0]]["msgs_per_s"]
    result: dict[str, object] = {"n": args.n, "texts": origin, "batch_size": args.batch_size}
    for k in counts:
        result[f"msgs_per_s_{k}"] = best[k]["msgs_per_s"]
        result[f"ingest_s_{k}"] = best[k]["ingest_s"]
        if k != counts[0]:
            ratio = round(float(best[k]["msgs_per_s"]) / float(base), 2)
            result[f"speedup_{k}"] = ratio
            print(f"{k} workers / {counts[0]}: {ratio}×", file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
