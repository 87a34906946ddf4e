"""Fuzz every parser with mutated real payloads and structural attacks: none may crash.

    python benchmarks/fuzz_parsers.py [--n 20000] [--seed 1] [--only vk,rss] [--show 3]

For each parser (VK events and long poll, Telegram updates, ПОС, the generic
webhook, JSON Lines, CSV, e-mail, RSS/Atom, Open311) ``--n`` inputs are made
from the recorded payloads (``tsur.testing.payload``, ``/work/shared/payloads``
when present, ``tests/data``) by seeded mutations: a hostile value in a random
field (huge numbers, far dates, NUL, lone surrogates, deep nesting), bytes
flipped, inserted or cut, another encoding, broken e-mail headers, unknown
XML encodings, deep Atom xhtml, lines of random bytes. Each input is either
accepted (and what came out is storable), refused with a reason, or a crash.
Prints a table per parser (inputs tried / accepted / refused / crashed; "by
net": refusals where a parser's last guard caught an unexpected exception) and
the first crashing inputs; the last line is one JSON object. Exit status 1
if anything crashed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz_targets import NET_MARKS, TARGETS, make_target, mutate, run, seeds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="inputs per parser")
    ap.add_argument("--seed", type=int, default=1, help="random seed")
    ap.add_argument("--only", default="", help="comma-separated parsers (default: all)")
    ap.add_argument("--show", type=int, default=3, help="crashing inputs to print per parser")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(TARGETS)
    all_seeds = seeds()
    figures: dict[str, dict[str, int]] = {}
    print(
        f"{'parser':10} {'inputs':>7} {'accepted':>9} {'refused':>8} {'by net':>7} "
        f"{'crashed':>8} {'s':>6}"
    )
    for name in names:
        rng = random.Random(f"{args.seed}:{name}")
        target = make_target(name)
        counts = {"accepted": 0, "refused": 0, "net": 0, "crashed": 0}
        crashes: list[tuple[bytes, str]] = []
        started = time.perf_counter()
        for seed in all_seeds[name]:  # the real payloads themselves first
            outcome, _ = run(target, seed)
            if outcome != "accepted":
                crashes.append((seed, f"a real payload was not accepted: {outcome}"))
        for _ in range(args.n):
            data = mutate(name, rng.choice(all_seeds[name]), rng)
            outcome, detail = run(target, data)
            counts[outcome] += 1
            if outcome == "refused" and any(mark in detail for mark in NET_MARKS):
                counts["net"] += 1
            if outcome == "crashed" and len(crashes) < 50:
                crashes.append((data, detail))
        took = time.perf_counter() - started
        figures[name] = {"inputs": args.n, **counts}
        print(
            f"{name:10} {args.n:>7} {counts['accepted']:>9} {counts['refused']:>8} "
            f"{counts['net']:>7} "
            f"{counts['crashed']:>8} {took:>6.1f}",
            flush=True,
        )
        for data, detail in crashes[: args.show]:
            print(f"    {detail}\n      input: {data[:300]!r}", flush=True)
    print(json.dumps({"fuzz_parsers": figures, "seed": args.seed}))
    return 1 if any(f["crashed"] for f in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
