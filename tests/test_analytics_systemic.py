"""Systemic problems: a topic surging in a municipality, with the incidents behind it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from tsur import Engine, Message
from tsur.analytics import Analytics, find_spikes
from tsur.analytics.stats import poisson_sf
from tsur.errors import ReportError

from .conftest import FrozenClock
from .helpers import SAMARA

UNTIL = datetime(2026, 11, 20, 18, 0, tzinfo=SAMARA)
WEEK = timedelta(days=7)


def in_week(i: int, k: int) -> datetime:
    """The ``k``-th moment inside week ``i`` before UNTIL (week 0 is the last 7 days)."""
    return UNTIL - WEEK * i - timedelta(days=1, hours=3 * k + 1)


def make(engine: Engine, clock: FrozenClock) -> dict[str, list[int]]:
    """Incidents per case, window (week 0) incidents' ids returned by case."""
    clock.now = UNTIL
    plan: list[tuple[str, str, str, int, int]] = []  # case, territory, topic, week, how many
    # Тольятти × дороги: one a week for eight weeks, then six in the last week → a spike
    plan += [("roads", "gorod", "roads", i, 1) for i in range(1, 9)] + [
        ("roads", "gorod", "roads", 0, 6)
    ]
    # Сызрань × транспорт: 2,3,2,3… a week, then 5: above mean + 2.5 sd (2.5 + 1.25) but not
    # improbable for Poisson(2.5) (p ≈ 0.11) → no spike
    plan += [("bus", "sela", "transport", i, 2 + i % 2) for i in range(1, 9)]
    plan += [("bus", "sela", "transport", 0, 5)]
    # Волжский район × ЖКХ: nothing before, three in Смышляевка and two in the district → a spike
    plan += [("zhkh", "smyshlyaevka", "zhkh", 0, 3), ("zhkh", "volzhsky", "zhkh", 0, 2)]
    # Тольятти × здравоохранение: three out of nowhere → below the minimum count of four
    plan += [("health", "gorod", "health", 0, 3)]
    messages, cases = [], {}
    n = 0
    for case, territory, topic, week, count in plan:
        for k in range(count):
            n += 1
            key = f"{case}-{week}-{territory}-{k}"
            cases[key] = (case, week)
            messages.append(
                Message(
                    source="vk",
                    external_id=key,
                    text=f"Обращение номер {n}",
                    created_at=in_week(week, k),
                    topic=topic,
                    territory=territory,
                )
            )
    report = engine.process(messages)
    assert report.created == len(messages) == 8 + 6 + 20 + 5 + 5 + 3
    window: dict[str, list[int]] = {}
    for sm in engine.repository.messages(limit=1000):
        case, week = cases[sm.message.external_id]
        if week == 0 and sm.incident_id is not None:
            window.setdefault(case, []).append(sm.incident_id)
    return {case: sorted(ids) for case, ids in window.items()}


def test_spikes_flag_surges_with_their_incidents(engine: Engine, clock: FrozenClock) -> None:
    window = make(engine, clock)
    a = Analytics.for_engine(engine)
    spikes = find_spikes(a, UNTIL)
    assert [(s.municipality, s.topic) for s in spikes] == [
        ("volzhsky", "zhkh"),  # p = P(X ≥ 5 | 0.5) ≈ 1.7e-4
        ("gorod", "roads"),  # p = P(X ≥ 6 | 1) ≈ 5.9e-4
    ]
    zhkh, roads = spikes
    assert (zhkh.count, zhkh.baseline, zhkh.mean, zhkh.expected) == (5, (0,) * 8, 0.0, 0.5)
    assert zhkh.p_value == pytest.approx(poisson_sf(5, 0.5))
    assert zhkh.p_value == pytest.approx(
        1 - math.exp(-0.5) * sum(0.5**j / math.factorial(j) for j in range(5))
    )
    assert zhkh.incident_ids == tuple(window["zhkh"])  # the settlement's and the district's
    assert zhkh.municipality_name == "Волжский район" and zhkh.label == "ЖКХ"
    assert (roads.count, roads.baseline, roads.mean, roads.sd, roads.ratio) == (
        6,
        (1,) * 8,
        1.0,
        0.0,
        6.0,
    )
    assert roads.incident_ids == tuple(window["roads"])
    assert (roads.window_start, roads.window_end) == (UNTIL - WEEK, UNTIL)

    # a lower minimum and a laxer alpha let the three health complaints through (p ≈ 0.014);
    # a stricter alpha drops Тольятти
    loose = find_spikes(a, UNTIL, min_count=3, alpha=0.02)
    assert ("gorod", "health") in [(s.municipality, s.topic) for s in loose]
    strict = find_spikes(a, UNTIL, alpha=3e-4)
    assert [(s.municipality, s.topic) for s in strict] == [("volzhsky", "zhkh")]
    # the transport week is above mean + 2.5 sd but ordinary for Poisson(2.5) at alpha 0.1;
    # only a lax alpha lets it through
    assert all(s.topic != "transport" for s in find_spikes(a, UNTIL, alpha=0.1))
    assert "transport" in [s.topic for s in find_spikes(a, UNTIL, alpha=0.2)]
    # a week earlier nothing had happened yet
    assert find_spikes(a, UNTIL - WEEK) == []
    with pytest.raises(ReportError, match="must be positive"):
        find_spikes(a, UNTIL, baseline_weeks=0)


def test_tick_raises_each_spike_once_to_the_curator(engine: Engine, clock: FrozenClock) -> None:
    from tsur.lifecycle import Lifecycle

    make(engine, clock)
    life = Lifecycle(engine, post_replies=False)
    import sqlalchemy as sa

    from tsur.store.schema import notifications

    first = life.tick(now=UNTIL)
    assert first.watched == 2  # Тольятти × дороги and Волжский район × ЖКХ
    with engine.repository.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            sa.select(notifications).where(notifications.c.kind == "systemic")
        ).all()
    by_place = {r.data["municipality"]: r for r in rows}
    assert set(by_place) == {"gorod", "volzhsky"}
    assert by_place["gorod"].recipients == ["cur"]
    assert len(by_place["gorod"].data["incidents"]) == 6
    assert by_place["gorod"].text.startswith("Системная проблема: ")
    assert all(r.sent_at is not None for r in rows)  # delivered by the same tick
    assert life.tick(now=UNTIL).watched == 0  # idempotent: each spike is told once


def test_one_citizen_repeating_himself_is_no_surge() -> None:
    from tsur.analytics import judge_surge
    from tsur.analytics.systemic import REPEAT_SHARE

    quiet = [1, 0, 1, 2, 0, 1, 1, 0]
    assert judge_surge(12, quiet) is not None  # twelve incidents where one is usual
    assert judge_surge(12, quiet, authors=1) is None  # ... all from one citizen
    assert judge_surge(12, quiet, authors=2) is None  # two voices, below the minimum
    # a few citizens writing twice do not hide a surge
    assert REPEAT_SHARE > 0 and judge_surge(12, quiet, authors=10) is not None


def test_a_growing_season_is_expected_not_a_surge() -> None:
    from tsur.analytics import judge_surge

    heating = [14, 11, 8, 6, 4, 3, 2, 2]  # most recent first: the season is starting
    assert judge_surge(19, heating, recent_weeks=0) is not None  # against the mean alone
    assert judge_surge(19, heating) is None  # what the trend predicts
    assert judge_surge(45, heating) is not None  # far above even the trend


def test_spikes_count_different_citizens(engine: Engine, clock: FrozenClock) -> None:
    from tsur import Author

    clock.now = UNTIL
    messages = []
    for k in range(8):  # eight complaints in the last week from one citizen, none before
        messages.append(
            Message(
                source="vk",
                external_id=f"one-{k}",
                text=f"Жалоба номер {k}",
                created_at=in_week(0, k),
                topic="zhkh",
                territory="gorod",
                author=Author(id="id777"),
            )
        )
    for k in range(8):  # eight in another municipality from eight citizens
        messages.append(
            Message(
                source="vk",
                external_id=f"many-{k}",
                text=f"Жалоба номер {k}",
                created_at=in_week(0, k),
                topic="zhkh",
                territory="sela",
                author=Author(id=f"id{k}"),
            )
        )
    engine.process(messages)
    spikes = find_spikes(Analytics.for_engine(engine), UNTIL)
    assert [(s.municipality, s.topic) for s in spikes] == [("sela", "zhkh")]


def test_a_small_surge_is_flagged() -> None:
    from tsur.analytics import judge_surge

    quiet = [0, 1, 0, 0, 1, 0, 0, 0]  # a village's roads: one complaint a month
    # four different citizens in one week: a small surge (p ≈ 0.002 at 0.5 a week)
    assert judge_surge(4, quiet, authors=4) is not None
    assert judge_surge(3, quiet, authors=3) is None  # three are below the minimum
    # three times the usual three a week, over a history that varies some (mean + 2.5 sd
    # is 8.3): a surge; over a noisy one, not
    assert judge_surge(9, [3, 3, 0, 6, 3, 3, 6, 0]) is not None
    assert judge_surge(12, [1, 12, 3, 10, 2, 11, 4, 5]) is None
