"""The systemic-problem detector on labelled timelines: precision and recall per half.

    python benchmarks/surges_labelled.py [--half dev|frozen|all ...] [--errors]

``tests/data/surges_labelled.jsonl`` (made by ``tools/make_surges_labelled.py``)
holds 240 municipality × topic timelines: the last week's incidents, the
eight weeks before, how many citizens wrote the last week's, and whether a
real surge was added. The file is split once by a hash of each ``id`` into
``dev`` (tuned on) and ``frozen`` (measured only)
(``tests/data/surges_labelled.README.md``). Prints, for the detector as it
was (counts only) and as it is (:func:`tsur.analytics.judge_surge` with
its defaults and the authors), precision, recall and the cases flagged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tsur.analytics import judge_surge
from tsur.analytics.stats import poisson_sf

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "surges_labelled.jsonl"


def half_of(case: dict[str, Any]) -> str:
    """``frozen`` when the first 8 hex digits of sha256(id) are odd, else ``dev``."""
    return "frozen" if int(hashlib.sha256(case["id"].encode()).hexdigest()[:8], 16) % 2 else "dev"


def load(half: str) -> list[dict[str, Any]]:
    """The labelled timelines of one half (``all``: every one)."""
    with DATA.open(encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    return [c for c in cases if half == "all" or half_of(c) == half]


def as_was(case: dict[str, Any]) -> bool:
    """The detector before authors and trend: at least 5, above mean + 3·sd, and
    Poisson p < 0.01 at the mean (at least 0.5) — main at 92ca4ad, restated."""
    count, baseline = case["weekly"][0], case["weekly"][1:]
    if count < 5:
        return False
    mean = sum(baseline) / len(baseline)
    sd = math.sqrt(sum((c - mean) ** 2 for c in baseline) / len(baseline))
    return count > mean + 3 * sd and poisson_sf(count, max(mean, 0.5)) < 0.01


def as_is(case: dict[str, Any]) -> bool:
    """The detector with its defaults, given the window's authors."""
    w = case["weekly"]
    return judge_surge(w[0], w[1:], authors=case["authors"]) is not None


def scores(cases: list[dict[str, Any]], flag: Callable[[dict[str, Any]], bool]) -> str:
    tp = sum(1 for c in cases if c["surge"] and flag(c))
    fp = sum(1 for c in cases if not c["surge"] and flag(c))
    fn = sum(1 for c in cases if c["surge"] and not flag(c))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return f"{precision:9.3f} {recall:7.3f} {tp + fp:7d} {tp + fn:6d}"


def main() -> None:
    """Print the figures of each half asked for."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", action="append", choices=["dev", "frozen", "all"])
    ap.add_argument("--errors", action="store_true")
    args = ap.parse_args()
    print(
        f"{'half':7} {'detector':8} {'cases':>5} {'precision':>9} {'recall':>7}"
        f" {'flagged':>7} {'surges':>6}"
    )
    for half in args.half or ["dev", "frozen", "all"]:
        cases = load(half)
        for name, flag in (("as was", as_was), ("as is", as_is)):
            print(f"{half:7} {name:8} {len(cases):5d} {scores(cases, flag)}")
        if args.errors:
            wrong = Counter()
            for c in cases:
                if as_is(c) != c["surge"]:
                    wrong[c["kind"]] += 1
                    print(
                        f"   {c['id']} {c['kind']:15} {c['surge']!s:5} {c['weekly']}"
                        f" authors {c['authors']}"
                    )
            print("   errors by kind:", dict(wrong))


if __name__ == "__main__":
    main()
