"""Grouping on the hand-labelled benchmark: pairwise precision and recall per half.

    python benchmarks/grouping_labelled.py [--half dev|frozen|all ...] [--errors]

``tests/data/grouping_labelled.jsonl`` is split once, by a hash of each
problem's label (of the message itself for a one-off), into a ``dev`` half
that grouping is tuned on and a ``frozen`` half that is only measured
(``tests/data/grouping_labelled.README.md``); ``fresh`` is
``tests/data/grouping_fresh.jsonl``, 36 more messages written before any
tuning and never tuned on. Each half is grouped by a
fresh engine on its own; ``all`` groups the whole file. ``--errors`` lists
the pairs wrongly made and wrongly missed, on dev only unless ``--half``
says otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_grouping import pairs
from tests.test_grouping_labelled import (
    FRESH,
    half_rows,
    labelled_engine_for,
    labelled_scores,
    load_rows,
)


def errors(engine: Any, rows: list[dict[str, Any]]) -> None:
    """Print pairs made wrongly and pairs missed, with the texts."""
    text = {(r["source"], r["external_id"]): r["text"] for r in rows}
    label = {(r["source"], r["external_id"]): r["meta"]["group"] for r in rows}
    made: dict[str, set[tuple[str, str]]] = {}
    for sm in engine.repository.messages(status="done", limit=10_000):
        if sm.message.key in label:
            made.setdefault(str(sm.incident_id), set()).add(sm.message.key)
    truth: dict[str, set[tuple[str, str]]] = {}
    for key, group in label.items():
        truth.setdefault(group, set()).add(key)
    t, p = pairs(truth), pairs(made)
    for title, wrong in (("made wrongly", p - t), ("missed", t - p)):
        print(f"--- {title}: {len(wrong)}")
        for pair in sorted(wrong, key=lambda x: sorted(x)):
            a, b = sorted(pair)
            print(f"  [{label[a]}] {text[a][:110]}")
            print(f"  [{label[b]}] {text[b][:110]}")
            print()


def main() -> None:
    """Print precision, recall and pairs for each half asked for."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", action="append", choices=["dev", "frozen", "all", "fresh"])
    ap.add_argument("--errors", action="store_true")
    args = ap.parse_args()
    halves = args.half or ["dev", "frozen", "all", "fresh"]
    every = load_rows()
    print(f"{'half':8} {'msgs':>5} {'precision':>9} {'recall':>7} {'made':>5} {'true':>5}  sec")
    for half in halves:
        rows = (
            every
            if half == "all"
            else load_rows(FRESH)
            if half == "fresh"
            else half_rows(every, half)
        )
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            engine = labelled_engine_for(rows, Path(tmp))
            precision, recall, made, true = labelled_scores(engine, rows)
            took = time.perf_counter() - start
            print(
                f"{half:8} {len(rows):5d} {precision:9.3f} {recall:7.3f} {made:5d} {true:5d}"
                f"  {took:.1f}"
            )
            if args.errors and (half == "dev" or args.half):
                errors(engine, rows)
            engine.close()


if __name__ == "__main__":
    main()
