"""Write ``tests/data/surges_labelled.jsonl``: weekly timelines with and without a surge.

    python tools/make_surges_labelled.py

Each line is one municipality × topic: ``weekly`` holds the incidents of the
last week first, then the eight weeks before it (most recent first), as
:func:`tsur.analytics.find_spikes` reads them; ``authors`` is how many
different citizens wrote the last week's incidents; ``surge`` is the label:
True when a real systemic problem was added to the last week (many people,
well above what the history predicts), False otherwise. ``kind`` says how
the timeline was made:

- ``quiet`` / ``steady``: a rate of 0.2–3 or 3–25 a week with overdispersed
  noise (a gamma-Poisson mixture), nothing added;
- ``seasonal``: a rate growing 15–40 % a week (the heating season starting),
  the last week continuing the trend;
- ``dip``: one or two empty weeks in the history (a holiday, an outage of
  intake), then the usual rate;
- ``past``: a surge three to six weeks ago, the last week back to normal;
- ``one_author``: 5–15 incidents from one citizen added to the last week;
- ``surge`` / ``seasonal_surge`` / ``small_surge``: 2.5–6× (1.7–2.3× for
  ``small_surge``) the rate, at least four more incidents from different
  people, added to the last week of a steady, quiet or seasonal history.

The timelines are drawn from a fixed seed; the file is written once and
labelled by construction. The split into ``dev`` and ``frozen`` is by a hash
of ``id`` (``tests/data/surges_labelled.README.md``).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "surges_labelled.jsonl"
WEEKS = 8
TOPICS = [
    "zhkh.heating",
    "zhkh.water",
    "roads.potholes",
    "roads.snow",
    "waste.containers",
    "transport.schedule",
    "health.clinics",
    "animals",
    "landscaping.yards",
    "roads.lighting",
]
PLACES = [
    "samara",
    "tolyatti",
    "syzran",
    "novokuybyshevsk",
    "chapaevsk",
    "zhigulevsk",
    "otradny",
    "kinel",
    "volzhsky",
    "krasnoyarsky",
    "stavropolsky",
    "bezenchuksky",
]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth below 30, a rounded normal above)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def noisy(rng: random.Random, lam: float) -> int:
    """An overdispersed count: Poisson of a gamma-distributed rate (shape 6)."""
    return poisson(rng, rng.gammavariate(6.0, lam / 6.0)) if lam > 0 else 0


def authors_of(rng: random.Random, count: int) -> int:
    """Different citizens behind ``count`` ordinary incidents (a few write twice)."""
    return count - sum(rng.random() < 0.08 for _ in range(count))


def case(rng: random.Random, n: int, kind: str) -> dict[str, object]:
    lam = rng.uniform(0.2, 3.0) if kind in {"quiet"} else rng.uniform(3.0, 25.0)
    if kind in {"surge", "small_surge", "one_author", "past", "dip"} and rng.random() < 0.4:
        lam = rng.uniform(0.3, 3.0)
    rates = [lam] * (WEEKS + 1)  # index 0 is the last week
    if kind in {"seasonal", "seasonal_surge"}:
        growth = rng.uniform(1.15, 1.4)
        start = rng.uniform(0.5, 3.0)
        rates = [start * growth ** (WEEKS - i) for i in range(WEEKS + 1)]
    weekly = [noisy(rng, r) for r in rates]
    if kind == "dip":
        for i in rng.sample(range(1, WEEKS + 1), rng.choice([1, 2])):
            weekly[i] = 0
    if kind == "past":
        i = rng.randint(3, 6)
        weekly[i] += max(5, round(rates[i] * rng.uniform(3, 6)))
    authors = authors_of(rng, weekly[0])
    surge = False
    if kind in {"surge", "seasonal_surge", "small_surge"}:
        factor = rng.uniform(1.7, 2.3) if kind == "small_surge" else rng.uniform(2.5, 6.0)
        extra = max(4, round(rates[0] * (factor - 1)))
        weekly[0] += extra
        authors += authors_of(rng, extra)
        surge = True
    if kind == "one_author":
        weekly[0] += rng.randint(5, 15)
        authors += 1
    return {
        "id": f"case-{n:03d}",
        "municipality": rng.choice(PLACES),
        "topic": rng.choice(TOPICS),
        "weekly": weekly,
        "authors": authors,
        "surge": surge,
        "kind": kind,
    }


def main() -> None:
    """Write the file (240 timelines)."""
    rng = random.Random(20261203)
    plan = (
        ["quiet"] * 35
        + ["steady"] * 40
        + ["seasonal"] * 25
        + ["dip"] * 15
        + ["past"] * 15
        + ["one_author"] * 20
        + ["surge"] * 50
        + ["seasonal_surge"] * 20
        + ["small_surge"] * 20
    )
    rng.shuffle(plan)
    with OUT.open("w", encoding="utf-8") as f:
        for n, kind in enumerate(plan):
            f.write(json.dumps(case(rng, n, kind), ensure_ascii=False) + "\n")
    print(f"{len(plan)} timelines → {OUT}")


if __name__ == "__main__":
    main()
