"""Recall and precision of personal-data masking on ``tests/data/personal_data_labelled.csv``.

    python tools/personal_data_figures.py [--split frozen|dev|all]

A labelled entity is found when a masked span of the same kind overlaps it
(for the overall figure: a span of any kind). A masked span is right when
it overlaps a labelled entity of its kind (overall: of any kind). The
``frozen`` half (the default) was split off by a hash of each text before
the masking rules were tuned and is never used to tune them.

Prints a table to stderr and one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

from tsur.text.masking import find_personal_data

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "personal_data_labelled.csv"


def load(split: str) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """The rows of ``split`` as (text, [(kind, start, end), …])."""
    rows = []
    with DATA.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if split != "all" and row["split"] != split:
                continue
            text = row["text"]
            ents = []
            for line in filter(None, row["entities"].split("\n")):
                kind, sub = line.split("\t", 1)
                start = text.index(sub)
                ents.append((kind, start, start + len(sub)))
            rows.append((text, ents))
    return rows


def figures(split: str = "frozen") -> dict[str, dict[str, float | int]]:
    """Per kind and ``"overall"``: labelled, found, masked, right, recall, precision."""
    labelled: Counter[str] = Counter()
    found: Counter[str] = Counter()
    masked: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for text, ents in load(split):
        spans = [(s.kind, s.start, s.end) for s in find_personal_data(text)]
        for kind, start, end in ents:
            labelled[kind] += 1
            labelled["overall"] += 1
            hits = [k for k, s, e in spans if s < end and start < e]
            found[kind] += kind in hits
            found["overall"] += bool(hits)
        for kind, start, end in spans:
            kinds = [k for k, s, e in ents if s < end and start < e]
            masked[kind] += 1
            masked["overall"] += 1
            right[kind] += kind in kinds
            right["overall"] += bool(kinds)
    out: dict[str, dict[str, float | int]] = {}
    for kind in sorted(set(labelled) | set(masked), key=lambda k: (k == "overall", k)):
        out[kind] = {
            "labelled": labelled[kind],
            "found": found[kind],
            "masked": masked[kind],
            "right": right[kind],
            "recall": round(found[kind] / labelled[kind], 3) if labelled[kind] else 0.0,
            "precision": round(right[kind] / masked[kind], 3) if masked[kind] else 0.0,
        }
    return out


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("frozen", "dev", "all"), default="frozen")
    args = ap.parse_args()
    result = figures(args.split)
    print(f"{'kind':<10} {'labelled':>8} {'found':>6} {'masked':>6} {'right':>6} "
          f"{'recall':>7} {'precision':>9}", file=sys.stderr)
    for kind, f in result.items():
        print(f"{kind:<10} {f['labelled']:>8} {f['found']:>6} {f['masked']:>6} {f['right']:>6} "
              f"{f['recall']:>7.3f} {f['precision']:>9.3f}", file=sys.stderr)
    print(json.dumps({"split": args.split, "figures": result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
