"""Grouping measured on a hand-labelled benchmark of citizens' messages.

``tests/data/grouping_labelled.jsonl`` holds messages from the Samara oblast
(VK, Telegram, OK, ПОС, hotline 122, e-mail, a city portal), one JSON object
a line in the ingest wire format; ``meta.group`` labels the concrete problem
each one reports. 42 groups of two to four messages each describe one
problem in one place in very different words; the other 56 messages are
one-off problems built as hard negatives: the same topic and town but another house, school,
bus route or crossroads; the same house but another problem; or almost the
same wording about another place.

Pairwise precision is the share of message pairs put in one incident that
truly report the same problem; recall, the share of such pairs put together.
The thresholds sit a little below the values measured on the whole file
(precision 0.919, recall 0.756 on 182 messages; 0.856 and 0.704 before
routes were read as citizens name them; 0.730 and 0.481 before addresses
were read properly); raise them as the grouping stage improves.
The file is split once into a ``dev`` half, tuned on, and a ``frozen`` one
(:func:`half_of`; ``tests/data/grouping_labelled.README.md``);
``benchmarks/grouping_labelled.py`` prints the figures of each half and of
``grouping_fresh.jsonl``, 36 messages written before any tuning.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.test_grouping import pairs
from tsur import Engine, load_region, open_repository

LABELLED = Path(__file__).parent / "data" / "grouping_labelled.jsonl"
#: 36 more messages written before grouping was tuned, never tuned on
FRESH = Path(__file__).parent / "data" / "grouping_fresh.jsonl"
SOURCES = {"vk", "telegram", "ok", "pos", "hotline", "email", "portal"}
# after the last message (20.11.2026, Samara time), inside every grouping window
CLOCK = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)

MIN_PRECISION = 0.89
MIN_RECALL = 0.73
#: on grouping_fresh.jsonl (1.000 and 0.765 measured: a close topic no longer joins
#: a route or school on the object alone)
FRESH_PRECISION = 0.95
FRESH_RECALL = 0.74


def load_rows(path: Path = LABELLED) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def half_of(row: dict[str, Any], sizes: Counter[str]) -> str:
    """``dev`` or ``frozen``: the half a labelled message belongs to, fixed once.

    A problem's messages stay together (the hash of ``meta.group``); a one-off
    goes by the hash of ``source:external_id``. Odd first 32 bits → frozen.
    """
    group = row["meta"]["group"]
    key = group if sizes[group] > 1 else f"{row['source']}:{row['external_id']}"
    return "frozen" if int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2 else "dev"


def half_rows(rows: list[dict[str, Any]], half: str) -> list[dict[str, Any]]:
    """The messages of one half (``dev`` or ``frozen``), in their order."""
    sizes = Counter(r["meta"]["group"] for r in rows)
    return [r for r in rows if half_of(r, sizes) == half]


def labelled_engine_for(rows: list[dict[str, Any]], tmp: Path) -> Engine:
    """A fresh in-memory engine that has grouped ``rows``."""
    path = tmp / "rows.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    eng = Engine(
        load_region(),
        open_repository(":memory:"),
        entry_points=False,
        clock=lambda: CLOCK,
    )
    report = eng.ingest_jsonl(path)
    assert not report.errors, report.errors
    eng.run()
    return eng


def labelled_scores(engine: Engine, rows: list[dict[str, Any]]) -> tuple[float, float, int, int]:
    """Pairwise precision and recall of the engine's incidents against ``meta.group``.

    Returns (precision, recall, pairs made, true pairs); only messages the
    engine processed (status ``done``) count on both sides.
    """
    label = {(r["source"], r["external_id"]): r["meta"]["group"] for r in rows}
    made: dict[str, set[tuple[str, str]]] = {}
    for sm in engine.repository.messages(status="done", limit=10_000):
        if sm.message.key in label:
            made.setdefault(str(sm.incident_id), set()).add(sm.message.key)
    done: set[tuple[str, str]] = set().union(*made.values())
    truth: dict[str, set[tuple[str, str]]] = {}
    for key, group in label.items():
        if key in done:
            truth.setdefault(group, set()).add(key)
    t, p = pairs(truth), pairs(made)
    both = len(t & p)
    precision = both / len(p) if p else 1.0
    recall = both / len(t) if t else 1.0
    return precision, recall, len(p), len(t)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return load_rows()


@pytest.fixture(scope="module")
def labelled_engine(rows: list[dict[str, Any]]) -> Engine:
    eng = Engine(
        load_region(),
        open_repository(":memory:"),
        entry_points=False,
        clock=lambda: CLOCK,
    )
    report = eng.ingest_jsonl(LABELLED)
    assert not report.errors, report.errors
    eng.run()
    return eng


def test_benchmark_is_well_formed(rows: list[dict[str, Any]]) -> None:
    assert 150 <= len(rows) <= 200
    keys = [(r["source"], r["external_id"]) for r in rows]
    assert len(set(keys)) == len(keys), "duplicate (source, external_id)"
    assert len({r["text"] for r in rows}) == len(rows), "duplicate texts"
    start, end = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
    times = [datetime.fromisoformat(r["created_at"]) for r in rows]
    for r, at in zip(rows, times, strict=True):
        assert r["source"] in SOURCES, r
        assert r["created_at"].endswith("+04:00"), r["created_at"]
        assert start <= at < end, r["created_at"]
        assert r["meta"]["group"], r
    assert times == sorted(times), "messages are in the order they were written"
    assert max(times) <= CLOCK
    sizes = Counter(r["meta"]["group"] for r in rows)
    groups = [n for n in sizes.values() if n > 1]
    singletons = [n for n in sizes.values() if n == 1]
    assert 38 <= len(groups) <= 45 and max(groups) <= 6
    assert 45 <= len(singletons) <= 60
    threads = {r["external_id"] for r in rows if r["source"] == "vk"}
    for r in rows:
        for ref in (r.get("thread_id"), r.get("parent_id")):
            assert ref is None or ref in threads, ref


def test_every_labelled_message_is_processed(
    labelled_engine: Engine, rows: list[dict[str, Any]]
) -> None:
    # real complaints: none may be rejected as spam or fail, or the scores below mean little
    done = labelled_engine.repository.messages(status="done", limit=10_000)
    assert len(done) == len(rows)


def test_grouping_precision_and_recall_on_labelled_benchmark(
    labelled_engine: Engine, rows: list[dict[str, Any]]
) -> None:
    precision, recall, made, true = labelled_scores(labelled_engine, rows)
    assert true > 100
    assert made > 30
    assert precision >= MIN_PRECISION, f"precision {precision:.3f} ({made} pairs made)"
    assert recall >= MIN_RECALL, f"recall {recall:.3f} ({true} true pairs)"


def test_the_split_is_fixed(rows: list[dict[str, Any]]) -> None:
    dev, frozen = half_rows(rows, "dev"), half_rows(rows, "frozen")
    assert (len(dev), len(frozen)) == (89, 93)
    # a problem's messages are never split between the halves
    assert not {r["meta"]["group"] for r in dev} & {r["meta"]["group"] for r in frozen}


def test_grouping_on_fresh_messages(tmp_path: Path) -> None:
    fresh = load_rows(FRESH)
    assert len(fresh) == 36 and len({r["text"] for r in fresh}) == 36
    engine = labelled_engine_for(fresh, tmp_path)
    precision, recall, made, true = labelled_scores(engine, fresh)
    assert true == 17
    assert precision >= FRESH_PRECISION, f"precision {precision:.3f} ({made} pairs made)"
    assert recall >= FRESH_RECALL, f"recall {recall:.3f} ({true} true pairs)"
