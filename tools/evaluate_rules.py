"""Figures of the rules a ЦУР lives by, on the hand-labelled sets in ``tests/data``.

    python tools/evaluate_rules.py

* the «отписка» check on ``answers_labelled.csv``: precision and recall of
  refusing evasive answers, per half (``dev`` was used to write the rules,
  ``frozen`` never);
* urgency, gratitude and topic traps on ``messages_fresh.csv``, written
  before the urgency and gratitude rules were changed and used only to
  measure them (never to tune): what the engine of the bundled region makes
  of each message.

Prints a table to stderr and one JSON object on stdout.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tsur import Engine, Message
from tsur.lifecycle import check_answer
from tsur.testing import FixedClock

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SAMARA = timezone(timedelta(hours=4))
#: The set's topic hints as the bundled region's topics (a topic or its subtopics).
TOPICS = {
    "heating": ("zhkh.heating",),
    "electricity": ("energy",),
    "water": ("zhkh.water",),
    "gas": ("zhkh.gas",),
    "roads": ("roads",),
    "sidewalk_ice": ("roads.snow", "roads.sidewalks"),
    "traffic_lights": ("roads.traffic",),
    "schools": ("education",),
    "yards": ("landscaping",),
    "waste": ("waste",),
    "transport": ("transport",),
    "health": ("health",),
    "roof": ("zhkh.roof",),
}


def _pr(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }


def answers() -> dict[str, object]:
    with (DATA / "answers_labelled.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, object] = {}
    for split in ("dev", "frozen"):
        tp = fp = fn = 0
        for r in (r for r in rows if r["split"] == split):
            refused = not check_answer(r["text"]).accepted
            evasive = r["label"] == "evasive"
            tp += refused and evasive
            fp += refused and not evasive
            fn += evasive and not refused
        out[split] = {"n": sum(r["split"] == split for r in rows), **_pr(tp, fp, fn)}
    return out


def _right(counts: Counter[tuple[str, bool]], kind: str) -> str:
    return f"{counts[(kind, True)]}/{counts[(kind, True)] + counts[(kind, False)]}"


def messages() -> dict[str, object]:
    with (DATA / "messages_fresh.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    now = datetime(2026, 11, 20, 12, 0, tzinfo=SAMARA)
    engine = Engine.from_config(None, db=":memory:", entry_points=False, clock=FixedClock(now))
    urgency: Counter[tuple[str, str]] = Counter()
    gratitude = Counter[str]()
    topics: Counter[tuple[str, bool]] = Counter()
    for r in rows:
        m = Message(source="vk", external_id=r["id"], text=r["text"], created_at=now)
        a = engine.analyse(m)
        thanks = bool(a.thanks)
        predicted = "normal" if a.rejects or a.thanks else a.urgency.value
        urgency[(r["urgency"], predicted)] += 1
        gold = r["gratitude"] == "yes"
        gratitude["tp" if gold and thanks else "fp" if thanks else "fn" if gold else "tn"] += 1
        wanted = TOPICS.get(r["topic_hint"])
        if wanted and not gold:
            ok = any(engine.region.in_topic(a.topic, [w]) for w in wanted)
            topics[("traps" if r["trap"] else "plain", ok)] += 1

    def track(name: str) -> dict[str, float | None]:
        tp = urgency[(name, name)]
        fp = sum(v for (g, p), v in urgency.items() if p == name and g != name)
        fn = sum(v for (g, p), v in urgency.items() if g == name and p != name)
        return _pr(tp, fp, fn)

    return {
        "n": len(rows),
        "urgent": track("urgent"),
        "quick": track("quick"),
        "gratitude": _pr(gratitude["tp"], gratitude["fp"], gratitude["fn"]),
        "topic_traps_right": _right(topics, "traps"),
        "topic_plain_right": _right(topics, "plain"),
    }


def main() -> None:
    figures = {"answers": answers(), "messages": messages()}
    for section, values in figures.items():
        print(f"{section}: {values}", file=sys.stderr)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
