"""Systemic problems: a topic surging in one municipality.

A region found 600 complaints about open manholes before anyone called it
a pattern. :func:`find_spikes` compares the last week (``window_days``)
of every municipality × topic with the weeks before it, in one grouped
query, and returns the surges with the incidents behind them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa

from tsur.analytics.queries import INC, Analytics, require_aware
from tsur.analytics.records import Spike
from tsur.analytics.stats import poisson_sf
from tsur.errors import ReportError

__all__ = ["find_spikes"]


def find_spikes(
    analytics: Analytics,
    until: datetime,
    *,
    window_days: int = 7,
    baseline_weeks: int = 8,
    k: float = 3.0,
    min_count: int = 5,
    alpha: float = 0.01,
    floor_rate: float = 0.5,
    max_ids: int = 500,
) -> list[Spike]:
    """Topics surging in a municipality in the ``window_days`` before ``until``.

    The window's count is compared with the counts of the
    ``baseline_weeks`` weeks before it (each ``window_days`` long): a
    spike has at least ``min_count`` incidents, more than ``mean + k·sd``
    of the baseline, and a Poisson tail probability below ``alpha`` at
    the baseline mean (at least ``floor_rate``, so that a quiet history
    does not make one message a spike). Sorted by ``p_value``.
    """
    require_aware(until=until)
    if window_days < 1 or baseline_weeks < 1 or min_count < 1:
        raise ReportError("window_days, baseline_weeks and min_count must be positive")
    span = timedelta(days=window_days)
    edges = [until - span * (i + 1) for i in range(baseline_weeks + 1)]
    weekly: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (baseline_weeks + 1))
    # window i is [edges[i], edges[i - 1]) (the last one ends at ``until``); whole days
    # are read from the daily aggregates, the partial ones at the windows' edges counted
    for i, lo in enumerate(edges):
        hi = until if i == 0 else edges[i - 1]
        for territory, topic, n in analytics.grouped(["territory", "topic"], None, lo, hi):
            mid = analytics.region.municipality_of(territory)
            if mid is None or topic is None:
                continue
            weekly[(mid, topic)][i] += int(n)
    found: list[tuple[tuple[str, str], int, list[int], float, float, float, float]] = []
    for pair, counts in weekly.items():
        count, baseline = counts[0], counts[1:]
        if count < min_count:
            continue
        mean = sum(baseline) / len(baseline)
        sd = math.sqrt(sum((c - mean) ** 2 for c in baseline) / len(baseline))
        if count <= mean + k * sd:
            continue
        rate = max(mean, floor_rate)
        p = poisson_sf(count, rate)
        if p >= alpha:
            continue
        found.append((pair, count, baseline, mean, sd, rate, p))
    if not found:
        return []
    ids = _ids_in_window(analytics, edges[0], until, {pair for pair, *_ in found}, max_ids)
    out = [
        Spike(
            municipality=mid,
            municipality_name=analytics.region.municipality_name(mid),
            topic=topic,
            label=analytics.region.topic_label(topic),
            count=count,
            baseline=tuple(baseline),
            mean=round(mean, 3),
            sd=round(sd, 3),
            expected=round(rate, 3),
            ratio=round(count / rate, 2),
            p_value=p,
            window_start=edges[0],
            window_end=until,
            incident_ids=tuple(ids.get((mid, topic), ())),
        )
        for (mid, topic), count, baseline, mean, sd, rate, p in found
    ]
    out.sort(key=lambda s: (s.p_value, -s.count, s.municipality, s.topic))
    return out


def _ids_in_window(
    analytics: Analytics,
    since: datetime,
    until: datetime,
    pairs: set[tuple[str, str]],
    max_ids: int,
) -> dict[tuple[str, str], list[int]]:
    topics = sorted({t for _, t in pairs})
    territories = sorted({t for m, _ in pairs for t in analytics.region.territories_in(m)})
    q = (
        sa.select(INC.c.id, INC.c.territory, INC.c.topic)
        .where(analytics.in_range(since, until))
        .where(INC.c.topic.in_(topics), INC.c.territory.in_(territories))
        .order_by(INC.c.id)
    )
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in analytics.fetch(q):
        key = (analytics.region.municipality_of(row.territory) or "", row.topic)
        if key in pairs and len(out[key]) < max_ids:
            out[key].append(int(row.id))
    return out
