"""A year of a region at once: ingest and process many generated messages, time and memory.

    python benchmarks/backfill.py [--n 20000] [--db postgresql://…] [--workers 2]
    python benchmarks/backfill.py --n 1000000              # the full run

Messages are generated from real appeal texts (``../shared/data/kursk``
beside the repository, or the bundled demo messages), each given a place of
the bundled Samara region, a channel and a time over a year; some are
repeated (a source delivering twice), some lines are broken (not JSON, no
date, a bad byte). They are written as one JSON Lines file, ingested with
``Engine.ingest_jsonl`` (bad lines kept as rejects) and processed: on
SQLite by one worker in this process, on PostgreSQL by ``--workers``
``tsur worker --until-idle`` processes. Printed: ingest and processing
time, messages per second, the peak resident memory of this process and of
the workers; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import DEFAULT_CSV, load_texts

from tsur import Engine, bundled_region_path, load_region
from tsur.store.sql import open_repository

SAMARA = timezone(timedelta(hours=4))
SOURCES = ["vk", "telegram", "ok", "pos", "hotline", "email", "written", "portal"]
PLACES = [
    "Самара",
    "Тольятти",
    "Сызрань",
    "Новокуйбышевск",
    "Чапаевск",
    "Жигулёвск",
    "Отрадный",
    "Кинель",
    "Похвистнево",
    "Октябрьск",
]
STREETS = ["Ленина", "Мира", "Победы", "Гагарина", "Советская", "Молодёжная", "Садовая"]


def write_messages(path: Path, texts: list[str], n: int, seed: int = 7) -> dict[str, int]:
    """``n`` lines of JSON Lines: messages, about 3% repeats and 0.5% broken lines."""
    rnd = random.Random(seed)
    start = datetime(2025, 12, 1, tzinfo=SAMARA)
    counts = {"lines": 0, "repeats": 0, "broken": 0}
    last: list[str] = []
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            roll = rnd.random()
            if roll < 0.005:
                line = rnd.choice(['{"external_id": "x"', '{"text": "без даты"}', "\ufffd"])
                counts["broken"] += 1
            elif roll < 0.035 and last:
                line = rnd.choice(last)
                counts["repeats"] += 1
            else:
                text = texts[rnd.randrange(len(texts))]
                place = f"{rnd.choice(PLACES)}, ул. {rnd.choice(STREETS)}, {rnd.randint(1, 120)}"
                line = json.dumps(
                    {
                        "source": rnd.choice(SOURCES),
                        "external_id": f"bf-{i}",
                        "text": f"{place}. {text}",
                        "created_at": (
                            start + timedelta(seconds=rnd.randint(0, 365 * 86400))
                        ).isoformat(),
                    },
                    ensure_ascii=False,
                )
                last = [*last, line][-50:]
            f.write(line + "\n")
            counts["lines"] += 1
    return counts


def peak_mib(who: int) -> float:
    """Peak resident memory of this process or of its waited-for children, MiB."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="lines to generate")
    parser.add_argument("--db", default=None, help="database URL (default: a SQLite file)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (PostgreSQL)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--texts", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--column", default="Текст Сообщения")
    args = parser.parse_args(argv)

    texts, origin = load_texts(args.texts, args.column)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "backfill.jsonl"
        generated = write_messages(data, texts, args.n)
        db = args.db or str(Path(tmp) / "backfill.db")
        postgres = db.startswith("postgres")
        engine = Engine(load_region(), open_repository(db), entry_points=False)
        t0 = time.perf_counter()
        ingested = engine.ingest_jsonl(data)
        ingest_s = time.perf_counter() - t0
        print(
            f"ingest: {ingested.inserted} new, {ingested.duplicates} repeats, "
            f"{len(ingested.errors)} broken lines kept, {ingest_s:.1f} s",
            file=sys.stderr,
        )
        t1 = time.perf_counter()
        if postgres:
            config = str(bundled_region_path())
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tsur",
                        "worker",
                        "--db",
                        db,
                        "--config",
                        config,
                        "--until-idle",
                        "--tick",
                        "0",
                        "--batch-size",
                        str(args.batch_size),
                    ],
                    stdout=subprocess.DEVNULL,
                )
                for _ in range(args.workers)
            ]
            for p in procs:
                p.wait()
            processed = sum(
                v for k, v in engine.repository.message_counts().items() if k != "pending"
            )
        else:
            processed = engine.run(batch_size=args.batch_size).processed
        process_s = time.perf_counter() - t1
        engine.close()
    result = {
        "n": args.n,
        "texts": origin,
        "db": "postgresql" if postgres else "sqlite",
        "workers": args.workers if postgres else 1,
        **generated,
        "inserted": ingested.inserted,
        "kept_broken": len(ingested.errors),
        "processed": processed,
        "ingest_s": round(ingest_s, 1),
        "process_s": round(process_s, 1),
        "msgs_per_s": round(processed / process_s, 1) if process_s else None,
        "total_s": round(ingest_s + process_s, 1),
        "peak_rss_mib": peak_mib(resource.RUSAGE_SELF),
        "peak_rss_workers_mib": peak_mib(resource.RUSAGE_CHILDREN) if postgres else None,
    }
    print(
        f"processed {processed} in {process_s:.1f} s ({result['msgs_per_s']}/s); "
        f"peak memory {result['peak_rss_mib']} MiB",
        file=sys.stderr,
    )
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
