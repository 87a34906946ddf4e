"""Throughput of the full pipeline on SQLite against bare pymorphy3 lemmatisation.

    python benchmarks/pipeline.py [--n N] [--texts PATH.csv] [--column COL]

Messages are generated from real appeal texts when a CSV is available
(``../shared/data/kursk/appeals.csv`` beside the repository, or ``--texts``)
and from the bundled demo messages otherwise. The default run uses each
distinct text once (2,000 Kursk appeals); ``--n`` larger than that cycles
through the texts again, so words and texts repeat and caches warm up.
Two figures are measured on the same texts, each starting from a cold
cache (a new pymorphy3 analyser and an empty word cache in both):

* ``lemmatise_msgs_per_s``: regex tokens, each distinct word parsed once by
  pymorphy3 through a dict cache — the unavoidable morphology cost;
* ``pipeline_msgs_per_s``: ingest + normalise + moderate + classify +
  locate + group + route + deadlines + storage on a SQLite file.

The last line is one JSON object so the figures can be tracked over time.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

from tsur import Engine, Message, load_region
from tsur.store.sql import open_repository
from tsur.text.masking import default_obscene_lexicon
from tsur.text.normalize import Lemmatizer

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO.parent / "shared" / "data" / "kursk" / "appeals.csv"
SOURCES = ["vk", "telegram", "ok", "pos", "hotline", "email", "written", "portal"]
WORD = re.compile(r"[а-яёa-z0-9]+(?:-[а-яёa-z0-9]+)*", re.IGNORECASE)
TAGS = re.compile(r"<[^>]+>")


def load_texts(path: Path | None, column: str) -> tuple[list[str], str]:
    """Texts to build messages from, and where they came from."""
    if path is not None and path.is_file():
        with path.open(encoding="utf-8", newline="") as f:
            texts = [TAGS.sub(" ", row[column]).strip() for row in csv.DictReader(f)]
        return [t for t in texts if t], str(path)
    demo = resources.files("tsur") / "data" / "demo" / "messages.jsonl"
    lines = demo.read_text("utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    # few texts repeated make every message a near-duplicate of many: say so, loudly
    print(
        f"{path} not found: using the {len(texts)} bundled demo messages instead "
        "(give --texts for real appeals)",
        file=sys.stderr,
    )
    return texts, "bundled demo messages"


def make_messages(texts: list[str], n: int, seed: int = 1) -> list[Message]:
    """``n`` messages cycling through ``texts`` with distinct ids, sources and times."""
    rnd = random.Random(seed)
    tz = timezone(timedelta(hours=4))
    start = datetime(2026, 11, 2, 8, 0, tzinfo=tz)
    return [
        Message(
            source=SOURCES[i % len(SOURCES)],
            external_id=f"bench-{i}",
            text=texts[i % len(texts)],
            created_at=start + timedelta(minutes=rnd.randint(0, 60 * 24 * 14)),
        )
        for i in range(n)
    ]


def bench_lemmatise(texts: list[str]) -> float:
    """Seconds to lemmatise ``texts`` with pymorphy3 and a cold dict cache."""
    import pymorphy3

    t0 = time.perf_counter()
    morph = pymorphy3.MorphAnalyzer(lang="ru")
    cache: dict[str, str] = {}
    for text in texts:
        for word in WORD.findall(text.lower()):
            if word not in cache:
                cache[word] = morph.parse(word)[0].normal_form
    return time.perf_counter() - t0


def bench_pipeline(messages: list[Message], batch_size: int) -> tuple[float, dict[str, int]]:
    """Seconds to ingest and process ``messages`` on a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        lem = Lemmatizer()  # cold cache, as the bare measurement
        default_obscene_lexicon.cache_clear()  # and every word judged afresh
        t0 = time.perf_counter()
        engine = Engine(
            load_region(),
            open_repository(Path(tmp) / "bench.db"),
            entry_points=False,
            lemmatizer=lem,
        )
        setup = time.perf_counter() - t0
        t1 = time.perf_counter()
        engine.ingest(messages)
        report = engine.run(batch_size=batch_size)
        elapsed = time.perf_counter() - t1
        engine.close()
    counts = {
        "created": report.created,
        "merged": report.merged,
        "rejected": report.rejected,
        "failed": report.failed,
        "setup_ms": round(setup * 1000),
    }
    return elapsed, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=0, help="messages to process (default: each distinct text once)"
    )
    parser.add_argument("--texts", type=Path, default=DEFAULT_CSV, help="CSV of appeal texts")
    parser.add_argument("--column", default="Текст Сообщения", help="text column of the CSV")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args(argv)

    texts, origin = load_texts(args.texts, args.column)
    texts = list(dict.fromkeys(texts))
    args.n = args.n or len(texts)
    messages = make_messages(texts, args.n)
    bodies = [m.text for m in messages]
    words = sum(len(WORD.findall(t)) for t in bodies)
    print(f"{args.n} messages from {origin} ({words} words)", file=sys.stderr)

    # the best of --repeat runs of each, interleaved, every run from a cold start:
    # other work on the machine only ever makes a run slower
    lem_s, pipe_s = float("inf"), float("inf")
    for _ in range(args.repeat):
        lem_s = min(lem_s, bench_lemmatise(bodies))
        elapsed, counts = bench_pipeline(messages, args.batch_size)
        pipe_s = min(pipe_s, elapsed)
    print(
        f"bare lemmatisation (cold): {lem_s:.2f} s, {args.n / lem_s:,.0f} messages/s",
        file=sys.stderr,
    )
    print(
        f"full pipeline on SQLite:   {pipe_s:.2f} s, {args.n / pipe_s:,.0f} messages/s ({counts})",
        file=sys.stderr,
    )
    result = {
        "n": args.n,
        "texts": origin,
        "pipeline_msgs_per_s": round(args.n / pipe_s, 1),
        "lemmatise_msgs_per_s": round(args.n / lem_s, 1),
        "ratio": round(lem_s / pipe_s, 3),
        "repeat": args.repeat,
        **counts,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
