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
from tsur.store.schema import messages as MSG

__all__ = ["REPEAT_SHARE", "find_spikes", "judge_surge"]


#: the share of a week's incidents a citizen may write twice before they count once
REPEAT_SHARE = 0.25


def _trend(baseline: list[int] | tuple[int, ...], recent_weeks: int) -> float:
    """What a growing season predicts for the window: the recent mean, grown on.

    The mean of the ``recent_weeks`` most recent windows, times the weekly
    growth from the older half of the baseline to the newer one (capped at
    doubling a week) over the windows between; 0 without ``recent_weeks``.
    """
    if recent_weeks <= 0 or not baseline:
        return 0.0
    recent = baseline[:recent_weeks]
    level = sum(recent) / len(recent)
    half = len(baseline) // 2
    if half == 0:
        return level
    new, old = baseline[:half], baseline[half:]
    growth = ((sum(new) / len(new)) + 0.5) / ((sum(old) / len(old)) + 0.5)
    weekly = min(2.0, max(1.0, growth) ** (1 / len(new)))
    return float(level * weekly ** ((recent_weeks + 1) / 2))


def judge_surge(
    count: int,
    baseline: list[int] | tuple[int, ...],
    *,
    k: float = 2.5,
    min_count: int = 4,
    alpha: float = 0.01,
    floor_rate: float = 0.5,
    authors: int | None = None,
    recent_weeks: int = 2,
) -> tuple[float, float, float, float] | None:
    """Whether ``count`` incidents in a window are a surge over ``baseline``.

    ``baseline`` holds the counts of the windows before, most recent first.
    A surge has at least ``min_count`` incidents, more than ``expected +
    k·sd`` of the baseline, and a Poisson tail probability below ``alpha``
    at the expected rate (at least ``floor_rate``). The expected rate is the
    baseline mean, or what a growing season predicts when higher
    (:func:`_trend`). Returns (mean, sd, expected rate, p-value) for a
    surge, else None.

    ``authors``: how many different citizens wrote the window's incidents;
    the window counts no more than that, plus :data:`REPEAT_SHARE` (one
    citizen's fifteen complaints are one voice, not a systemic problem).
    ``recent_weeks``: how many recent windows the seasonal trend starts
    from (a season starting — the heating, the snow — raises the count week
    after week; 0: the whole baseline's mean only).
    """
    if authors is not None:
        # a few citizens write twice in any week: only a larger shortfall of
        # authors is one voice repeated
        count = min(count, math.ceil(authors * (1 + REPEAT_SHARE)))
    if count < min_count or not baseline:
        return None
    mean = sum(baseline) / len(baseline)
    sd = math.sqrt(sum((c - mean) ** 2 for c in baseline) / len(baseline))
    expected = max(mean, _trend(baseline, recent_weeks))
    if count <= expected + k * sd:
        return None
    rate = max(expected, floor_rate)
    p = poisson_sf(count, rate)
    if p >= alpha:
        return None
    return mean, sd, rate, p


def find_spikes(
    analytics: Analytics,
    until: datetime,
    *,
    window_days: int = 7,
    baseline_weeks: int = 8,
    k: float = 2.5,
    min_count: int = 4,
    alpha: float = 0.01,
    floor_rate: float = 0.5,
    max_ids: int = 500,
    recent_weeks: int = 2,
) -> list[Spike]:
    """Topics surging in a municipality in the ``window_days`` before ``until``.

    The window's count is compared with the counts of the
    ``baseline_weeks`` weeks before it (each ``window_days`` long): a
    spike has at least ``min_count`` incidents, more than ``mean + k·sd``
    of the baseline, and a Poisson tail probability below ``alpha`` at
    the baseline mean (at least ``floor_rate``, so that a quiet history
    does not make one message a spike). Sorted by ``p_value``.

    The window counts no more incidents than different citizens wrote
    (plus :data:`REPEAT_SHARE`), and the expected rate follows a growing
    season (``recent_weeks``; :func:`judge_surge`).
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
    busy = {pair for pair, counts in weekly.items() if counts[0] >= min_count}
    authors = _authors_in_window(analytics, edges[0], until, busy) if busy else {}
    for pair, counts in weekly.items():
        count, baseline = counts[0], counts[1:]
        if pair not in busy:
            continue
        judged = judge_surge(
            count,
            baseline,
            k=k,
            min_count=min_count,
            alpha=alpha,
            floor_rate=floor_rate,
            authors=authors.get(pair),
            recent_weeks=recent_weeks,
        )
        if judged is None:
            continue
        found.append((pair, count, baseline, *judged))
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


def _authors_in_window(
    analytics: Analytics, since: datetime, until: datetime, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """How many different citizens wrote the window's incidents of each pair.

    A citizen is a source and an author id; a message without an author
    (a hotline call, an e-mail with no sender) counts as a citizen of its own.
    """
    topics = sorted({t for _, t in pairs})
    territories = sorted({t for m, _ in pairs for t in analytics.region.territories_in(m)})
    q = (
        sa.select(INC.c.id, INC.c.territory, INC.c.topic, MSG.c.source, MSG.c.payload)
        .join(MSG, MSG.c.incident_id == INC.c.id)
        .where(analytics.in_range(since, until))
        .where(INC.c.topic.in_(topics), INC.c.territory.in_(territories))
    )
    seen: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for row in analytics.fetch(q):
        key = (analytics.region.municipality_of(row.territory) or "", row.topic)
        if key not in pairs:
            continue
        payload = row.payload if isinstance(row.payload, dict) else {}
        author = payload.get("author") if isinstance(payload.get("author"), dict) else None
        who = author.get("id") if author else None
        seen[key].add((row.source, str(who)) if who else ("incident", str(row.id)))
    return {pair: len(who) for pair, who in seen.items()}


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
