"""Latency of a steady stream: a message stored → its incident routed → the notice delivered.

    python benchmarks/latency.py [--rate 100] [--seconds 20] [--db postgresql://…]

A feeder thread stores messages at ``--rate`` per second (each its own
ingest, as a webhook would) while a :class:`tsur.worker.Worker` runs in
another thread with small batches. Per message three instants are taken on
one clock: when its ingest committed, when the decision that routed it was
made (routed to an executor, or to a curator's triage: the worker's clock
as the history records it), and when a notifier received the ``routed`` or
``triage`` notice. The figures are percentiles of
stored → routed and stored → notified, in milliseconds; the last line is
one JSON object. SQLite by default (a temporary file), where the idle
worker watches the file's data version; on PostgreSQL it wakes on
LISTEN/NOTIFY.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import DEFAULT_CSV, load_texts

from tsur import Engine, Message, Notification, hookimpl, load_region
from tsur.store.sql import open_repository
from tsur.worker import Worker

SAMARA = timezone(timedelta(hours=4))


class Stopwatch:
    """A notifier that notes when each incident's first notice arrives."""

    def __init__(self) -> None:
        self.notified: dict[int, float] = {}

    @hookimpl
    def register_notifiers(self, register: Any) -> None:
        outer = self

        class Note:
            def notify(self, n: Notification) -> None:
                if n.kind in ("routed", "triage"):
                    outer.notified.setdefault(n.incident_id, time.time())

        register("stopwatch", Note())


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to feed")
    parser.add_argument("--db", default=None, help="database URL (default: a SQLite file)")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--texts", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--column", default="Текст Сообщения")
    args = parser.parse_args(argv)

    texts, origin = load_texts(args.texts, args.column)
    tmp = tempfile.TemporaryDirectory()
    db = args.db or str(Path(tmp.name) / "latency.db")
    watch = Stopwatch()
    region = load_region()
    engine = Engine(region, open_repository(db), entry_points=False, plugins=[watch])
    feeder = Engine(region, open_repository(db), entry_points=False)
    worker = Worker(engine, batch_size=args.batch_size, idle=0.05, tick_every=None)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()

    stored: dict[str, float] = {}
    n = int(args.rate * args.seconds)
    start = time.perf_counter()
    run = f"{time.time():.0f}"
    for i in range(n):
        due = start + i / args.rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        ext = f"lat-{run}-{i}"
        feeder.ingest(
            [
                Message(
                    source="vk",
                    external_id=ext,
                    text=texts[i % len(texts)],
                    created_at=datetime.now(UTC).astimezone(SAMARA),
                )
            ]
        )
        stored[ext] = time.time()
    fed = time.perf_counter() - start
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and feeder.repository.message_counts().get("pending"):
        time.sleep(0.05)
    time.sleep(0.5)
    worker.stop()
    thread.join(timeout=30)

    routed_ms, notified_ms = [], []
    for inc in engine.incidents(limit=None):
        history = engine.incident(inc.id).history  # type: ignore[arg-type]
        received = next((e for e in history if e.kind == "received"), None)
        routed = next((e for e in history if e.to_status in ("routed", "triage")), None)
        if received is None or routed is None:
            continue
        ext = str(received.data.get("external_id"))
        if ext not in stored:
            continue
        routed_ms.append((routed.at.timestamp() - stored[ext]) * 1000)
        if inc.id in watch.notified:
            notified_ms.append((watch.notified[inc.id] - stored[ext]) * 1000)
    engine.close()
    feeder.close()
    tmp.cleanup()
    if not routed_ms:
        print("no incident was routed", file=sys.stderr)
        return 1
    result: dict[str, Any] = {
        "texts": origin,
        "db": "postgresql" if db.startswith("postgres") else "sqlite",
        "rate_per_s": args.rate,
        "fed_per_s": round(n / fed, 1),
        "messages": n,
        "routed": len(routed_ms),
    }
    for name, values in (("routed", routed_ms), ("notified", notified_ms)):
        if values:
            result[f"{name}_p50_ms"] = round(percentile(values, 0.5), 1)
            result[f"{name}_p99_ms"] = round(percentile(values, 0.99), 1)
            result[f"{name}_mean_ms"] = round(statistics.fmean(values), 1)
    print(
        f"{n} messages at {args.rate:g}/s ({result['db']}): stored → routed p50 "
        f"{result['routed_p50_ms']} ms, p99 {result['routed_p99_ms']} ms; stored → notified "
        f"p50 {result.get('notified_p50_ms')} ms, p99 {result.get('notified_p99_ms')} ms",
        file=sys.stderr,
    )
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
