"""Throughput of each NLP stage on its own, in messages per second.

    python benchmarks/nlp.py [--texts PATH.csv] [--column COL] [--limit N] [--rounds R]

Texts are real appeals when a CSV is available (``../shared/data/kursk/appeals.csv``
beside the repository, or ``--texts``; HTML tags and entities stripped) and
the bundled demo messages otherwise. Stages, each timed apart on the same
texts:

* ``normalise``: markup, ё, look-alike letters, repeats, lower case;
* ``tokenise``: word tokens of the normalised texts;
* ``lemmatise_cold``: a fresh :class:`~tsur.text.normalize.Lemmatizer`,
  every distinct word parsed once by pymorphy3 (analyzer start-up apart);
  ``cache_hit_rate`` is the share of words this pass found in the cache;
* ``lemmatise_warm``: the same texts again, every word a cache hit;
* ``keywords``: the keyword classifier of the bundled region;
* ``urgency``: the urgency detector of the bundled patterns;
* ``gazetteer``: the gazetteer locator of the bundled region;
* ``moderation:<name>``: each moderation filter registered by
  ``tsur.plugins.DEFAULT_PLUGINS`` when the benchmark runs.

The classifiers, locator and filters get ready-made ``Text`` objects, so
their figures exclude normalisation and lemmatisation. Warm stages run
``--rounds`` times and report the best. A table goes to stderr; the last
line on stdout is one JSON object with messages/second per stage.
"""

from __future__ import annotations

import argparse
import csv
import functools
import html
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from tsur import Message, load_region
from tsur.context import Context
from tsur.default_plugins.keywords import KeywordClassifier
from tsur.default_plugins.locators import GazetteerLocator
from tsur.plugins import collect_components, make_plugin_manager
from tsur.region import Region
from tsur.text.normalize import Lemmatizer, Text, normalize, tokenize
from tsur.text.urgency import UrgencyDetector

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO.parent / "shared" / "data" / "kursk" / "appeals.csv"
TAGS = re.compile(r"<[^>]+>")


def load_texts(path: Path | None, column: str) -> tuple[list[str], str]:
    """Texts to measure on, and where they came from."""
    if path is not None and path.is_file():
        with path.open(encoding="utf-8", newline="") as f:
            texts = [
                " ".join(html.unescape(TAGS.sub(" ", row[column])).split())
                for row in csv.DictReader(f)
            ]
        return [t for t in texts if t], str(path)
    demo = resources.files("tsur") / "data" / "demo" / "messages.jsonl"
    lines = demo.read_text("utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines], "bundled demo messages"


def best_of(rounds: int, fn: Callable[[], object]) -> float:
    """Fastest of ``rounds`` runs of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _run_check(check: Callable[..., object], pairs: Sequence[tuple[Message, Text]]) -> None:
    for m, t in pairs:
        check(m, t)


def measure(texts: Sequence[str], rounds: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Seconds per stage over all ``texts``, and facts about the run."""
    tz = timezone(timedelta(hours=4))
    created = datetime(2026, 11, 16, 9, 0, tzinfo=tz)
    messages = [
        Message(source="vk", external_id=str(i), text=t, created_at=created)
        for i, t in enumerate(texts)
    ]
    seconds: dict[str, float] = {}

    seconds["normalise"] = best_of(rounds, lambda: [normalize(t) for t in texts])
    normalised = [normalize(t) for t in texts]
    seconds["tokenise"] = best_of(rounds, lambda: [tokenize(t) for t in normalised])
    tokens = [tokenize(t) for t in normalised]
    words = sum(len(t) for t in tokens)

    t0 = time.perf_counter()
    lem = Lemmatizer()
    start_up = time.perf_counter() - t0
    t0 = time.perf_counter()
    lemmas = [lem.lemmas(t) for t in tokens]
    seconds["lemmatise_cold"] = time.perf_counter() - t0
    misses = lem.cache_size  # each distinct word was parsed once, every other lookup hit
    seconds["lemmatise_warm"] = best_of(rounds, lambda: [lem.lemmas(t) for t in tokens])
    prepared = [
        Text(original=raw, tokens=tuple(tok), lemmas=tuple(lm))
        for raw, tok, lm in zip(texts, tokens, lemmas, strict=True)
    ]
    for t in prepared:  # cached properties every consumer shares, computed once as in the engine
        _ = t.lemma_set, t.content_lemmas

    region = Region.from_config(load_region())
    t0 = time.perf_counter()
    keywords = KeywordClassifier(region, lem)
    urgency = UrgencyDetector.from_files(lemmatizer=lem)
    gazetteer = GazetteerLocator(region, lem)
    build_ms = (time.perf_counter() - t0) * 1000
    pairs = list(zip(messages, prepared, strict=True))
    seconds["keywords"] = best_of(rounds, lambda: [keywords.classify(m, t) for m, t in pairs])
    seconds["urgency"] = best_of(rounds, lambda: [urgency.detect(t) for t in prepared])
    seconds["gazetteer"] = best_of(rounds, lambda: [gazetteer.locate(m, t) for m, t in pairs])

    comps = collect_components(make_plugin_manager(entry_points=False), Context(region, lem))
    for reg in comps.moderation_filters:
        check = reg.component.check
        seconds[f"moderation:{reg.name}"] = best_of(
            rounds, functools.partial(_run_check, check, pairs)
        )

    facts = {
        "words": words,
        "distinct_words": misses,
        "cache_hit_rate": round(1 - misses / words, 4) if words else 0.0,
        "analyzer_start_ms": round(start_up * 1000),
        "components_build_ms": round(build_ms),
        "urgent_share": round(
            sum(1 for t in prepared if urgency.detect(t).level.value == "urgent") / len(texts), 4
        ),
    }
    return seconds, facts


def main(argv: list[str] | None = None) -> int:
    """Run the stages, print the table to stderr and the JSON line to stdout."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--texts", type=Path, default=DEFAULT_CSV, help="CSV of appeal texts")
    parser.add_argument("--column", default="Текст Сообщения", help="text column of the CSV")
    parser.add_argument("--limit", type=int, default=None, help="use at most N texts")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each warm stage")
    args = parser.parse_args(argv)

    texts, origin = load_texts(args.texts, args.column)
    if args.limit is not None:
        texts = texts[: args.limit]
    n = len(texts)
    seconds, facts = measure(texts, max(1, args.rounds))
    print(
        f"{n} messages from {origin}: {facts['words']} words, "
        f"{facts['distinct_words']} distinct; cold cache hit rate {facts['cache_hit_rate']:.1%}; "
        f"analyzer start-up {facts['analyzer_start_ms']} ms",
        file=sys.stderr,
    )
    print(f"{'stage':<24}{'messages/s':>14}{'µs/message':>14}", file=sys.stderr)
    for stage, s in seconds.items():
        print(f"{stage:<24}{n / s:>14,.0f}{s / n * 1e6:>14,.1f}", file=sys.stderr)
    result: dict[str, Any] = {"n": n, "texts": origin}
    result.update({f"{stage}_msgs_per_s": round(n / s, 1) for stage, s in seconds.items()})
    result.update(facts)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
