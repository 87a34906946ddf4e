"""Analytics queries against hand-computed figures, on SQLite and PostgreSQL.

A dozen incidents of the small test region are made through the engine
with given topics and territories (structured sources), some answered and
resolved through the repository; every expected figure below is worked
out by hand from that table.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from tsur import Engine, GeoPoint, Message, Status
from tsur.analytics import Analytics, executor_ratings, parse_period
from tsur.analytics.stats import poisson_sf
from tsur.errors import ReportError
from tsur.store.base import Repository

from .conftest import FrozenClock
from .helpers import SAMARA

AT = datetime(2026, 11, 20, 18, 0, tzinfo=SAMARA)  # the report's moment: Friday 18:00
#: P(X ≥ 60) for X ~ Poisson(5), summed exactly with 60-digit decimals.
POISSON_60_5 = 7.649610081149392e-43

#: key, source, topic, territory, (month, day, hour, minute), geo
CASES = [
    ("o1", "vk", "zhkh.heating", "gorod", (10, 5, 10, 0), None),
    ("o2", "vk", "roads", "gorod", (10, 12, 10, 0), None),
    ("o3", "vk", "transport", "sela", (10, 20, 10, 0), None),
    ("n1", "vk", "zhkh.heating", "gorod", (11, 2, 10, 0), None),
    ("n2", "vk", "zhkh.heating", "gorod", (11, 3, 11, 0), None),
    ("n3", "vk", "roads", "gorod", (11, 9, 10, 0), (53.51, 49.42)),
    ("n4", "vk", "roads", "smyshlyaevka", (11, 10, 10, 0), None),
    ("n5", "vk", "zhkh", "volzhsky", (11, 16, 9, 0), None),
    ("n6", "portal", "transport", "sela", (11, 17, 10, 0), (53.16, 48.47)),
    ("n7", "vk", "health", None, (11, 18, 10, 0), None),
    ("n8", "written", "zhkh.heating", "gorod", (11, 19, 12, 0), None),
    ("d1", "vk", "roads", "gorod", (12, 1, 10, 0), None),
]
#: Distinct words per message, so that no two incidents are grouped together.
WORDS = [
    "скамейка сломана",
    "забор покосился",
    "качели скрипят",
    "вывеска упала",
    "киоск закрыт",
    "люди жалуются",
    "фонтан молчит",
    "ограда погнулась",
    "клумба вытоптана",
    "табличка исчезла",
    "урна переполнена",
    "ворота заклинило",
]


def local(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SAMARA)


def fill(engine: Engine, clock: FrozenClock) -> dict[str, int]:
    """Make the incidents of :data:`CASES`; record answers; return key → incident id."""
    clock.now = AT
    messages = [
        Message(
            source=source,
            external_id=key,
            text=f"Обращение: {WORDS[i]}",
            created_at=local(*when),
            topic=topic,
            territory=territory,
            geo=GeoPoint(*geo) if geo else None,
        )
        for i, (key, source, topic, territory, when, geo) in enumerate(CASES)
    ]
    report = engine.process(messages)
    assert (report.created, report.failed, report.rejected) == (len(CASES), 0, 0)
    ids = {
        sm.message.external_id: sm.incident_id
        for sm in engine.repository.messages(limit=100)
        if sm.incident_id is not None
    }
    # n1 answered after 2 h and resolved; n3 answered two days late; n6 answered after 3 h
    answer(engine.repository, ids["n1"], local(11, 2, 12), resolve=True)
    answer(engine.repository, ids["n3"], local(11, 11, 12))
    answer(engine.repository, ids["n6"], local(11, 17, 13))
    return ids


def answer(repo: Repository, incident_id: int, at: datetime, *, resolve: bool = False) -> None:
    with repo.update_incident(incident_id) as inc:
        inc.first_response_at = at
        inc.record("reply", at=at, actor=inc.executor or "test", data={"kind": "final"})
        inc.transition(Status.IN_PROGRESS, at=at, actor="test", reason="answered")
        if resolve:
            inc.transition(Status.RESOLVED, at=at, actor="test", reason="done")


@pytest.fixture
def data(engine: Engine, clock: FrozenClock) -> tuple[Analytics, dict[str, int]]:
    ids = fill(engine, clock)
    return Analytics.for_engine(engine), ids


NOV = parse_period("2026-11", "Europe/Samara")
OCT = NOV.previous()


def test_periods_parse_and_step_back() -> None:
    assert (OCT.key, OCT.start, OCT.end) == ("2026-10", local(10, 1, 0), local(11, 1, 0))
    week = parse_period("2026-W47", "Europe/Samara")
    assert (week.first, week.last, week.previous().key) == (
        date(2026, 11, 16),
        date(2026, 11, 22),
        "2026-W46",
    )
    assert week.label == "неделя 47, 16.11–22.11.2026"
    days = parse_period("2026-11-01..2026-11-20", "Europe/Samara")
    assert (days.days, days.previous().first) == (20, date(2026, 10, 12))
    assert parse_period("2026", "Europe/Samara").previous().label == "2025 год"
    assert NOV.label == "ноябрь 2026"
    for bad, words in [
        ("2026-13", "not a valid date"),
        ("ноябрь", "cannot read 'ноябрь'"),
        ("2026-11-20..2026-11-01", "ends before it starts"),
    ]:
        with pytest.raises(ReportError, match=words) as err:
            parse_period(bad, "Europe/Samara")
        assert err.value.option == "period"


def test_counts_roll_settlements_up_to_municipalities(
    data: tuple[Analytics, dict[str, int]],
) -> None:
    a, _ = data
    by_muni = {
        r["municipality"]: r["count"] for r in a.counts(NOV.start, NOV.end, by=["municipality"])
    }
    # Смышляевка (n4) counts for Волжский район; n7 has no territory
    assert by_muni == {"gorod": 4, "volzhsky": 2, "sela": 1, None: 1}
    by_terr = {r["territory"]: r["count"] for r in a.counts(NOV.start, NOV.end, by=["territory"])}
    assert by_terr == {"gorod": 4, "smyshlyaevka": 1, "volzhsky": 1, "sela": 1, None: 1}
    rows = a.counts(NOV.start, NOV.end, by=("municipality", "direction"))
    assert {(r["municipality"], r["direction"]): r["count"] for r in rows} == {
        ("gorod", "zhkh"): 3,  # n1, n2, n8 (heating is a subtopic of ЖКХ)
        ("gorod", "roads"): 1,
        ("volzhsky", "roads"): 1,
        ("volzhsky", "zhkh"): 1,
        ("sela", "transport"): 1,
        (None, "health"): 1,
    }
    weeks = a.counts(NOV.start, NOV.end, by=["week"])
    assert {r["week"]: r["count"] for r in weeks} == {
        date(2026, 11, 2): 2,
        date(2026, 11, 9): 2,
        date(2026, 11, 16): 4,
    }
    months = a.counts(OCT.start, local(12, 31), by=["month", "channel"])
    assert {(r["month"], r["channel"]): r["count"] for r in months} == {
        (date(2026, 10, 1), "vk"): 3,
        (date(2026, 11, 1), "vk"): 6,
        (date(2026, 11, 1), "written"): 1,
        (date(2026, 11, 1), "webhook"): 1,  # the "portal" source is of kind webhook
        (date(2026, 12, 1), "vk"): 1,
    }
    with pytest.raises(ReportError, match="cannot group by"):
        a.counts(NOV.start, NOV.end, by=["weather"])
    with pytest.raises(ReportError, match="since: 2026-11-01T00:00:00 has no time zone"):
        a.counts(datetime(2026, 11, 1), NOV.end, by=["day"])
    with pytest.raises(ReportError, match="at: 2026-11-20T18:00:00 has no time zone"):
        a.municipality_stats(NOV.start, NOV.end, at=AT.replace(tzinfo=None))


def test_municipality_figures(data: tuple[Analytics, dict[str, int]]) -> None:
    a, _ = data
    stats = {s.id: s for s in a.municipality_stats(NOV.start, NOV.end, at=AT)}
    assert list(stats) == ["gorod", "sela", "volzhsky", None]  # config order, unknown last
    g = stats["gorod"]
    # n1 resolved on time; n2 open and unanswered since 3 Nov; n3 answered late (its
    # resolution is due after 20 Nov); n8 is a written appeal with 7 days to answer
    assert (g.count, g.overdue, g.open, g.answered, g.answered_on_time) == (4, 1, 3, 2, 1)
    assert (g.overdue_share, g.on_time_share, g.population) == (0.25, 0.5, 680000)
    assert g.per_10k == round(4 * 10_000 / 680_000, 2) == 0.06
    v = stats["volzhsky"]
    assert (v.count, v.overdue, v.answered, v.per_10k, v.on_time_share) == (2, 2, 0, None, None)
    s = stats["sela"]
    assert (s.count, s.overdue, s.answered_on_time, s.on_time_share) == (1, 0, 1, 1.0)
    none = stats[None]
    assert (none.name, none.count, none.overdue) == ("территория не определена", 1, 1)
    before = {s.id: s.count for s in a.municipality_stats(OCT.start, OCT.end, at=AT)}
    assert before == {"gorod": 2, "sela": 1, "volzhsky": 0}


def test_top_problems_against_the_previous_period(
    data: tuple[Analytics, dict[str, int]],
) -> None:
    a, _ = data
    top = a.top_problems(NOV.start, NOV.end, OCT.start, limit=10)
    assert [(p.topic, p.count, p.previous, p.change, p.change_pct) for p in top] == [
        ("zhkh.heating", 3, 1, 2, 200.0),
        ("roads", 2, 1, 1, 100.0),
        ("health", 1, 0, 1, None),  # ties: larger rise first, then by id
        ("zhkh", 1, 0, 1, None),
        ("transport", 1, 1, 0, 0.0),
    ]
    assert top[0].label == "ЖКХ › Отопление" and top[0].share == 0.375
    directions = a.top_problems(NOV.start, NOV.end, OCT.start, level="direction", limit=2)
    assert [(p.topic, p.count, p.previous) for p in directions] == [("zhkh", 4, 1), ("roads", 2, 1)]
    local_top = a.top_problems(NOV.start, NOV.end, OCT.start, municipality="volzhsky")
    assert [(p.topic, p.count, p.municipality_name) for p in local_top] == [
        ("roads", 1, "Волжский район"),
        ("zhkh", 1, "Волжский район"),
    ]
    per = a.top_problems_by_municipality(NOV.start, NOV.end, OCT.start, limit=1)
    assert [(p.municipality, p.topic) for p in per] == [
        ("gorod", "zhkh.heating"),
        ("sela", "transport"),
        ("volzhsky", "roads"),
    ]
    with pytest.raises(ReportError, match="unknown municipality 'smyshlyaevka'"):
        a.top_problems(NOV.start, NOV.end, OCT.start, municipality="smyshlyaevka")


def test_trend_is_zero_filled_and_channels_add_up(data: tuple[Analytics, dict[str, int]]) -> None:
    a, _ = data
    weekly = a.trend(local(10, 26, 0), NOV.end, unit="week", by="direction", series=["zhkh"])
    total = {p.bucket: p.count for p in weekly if p.series == "*"}
    zhkh = {p.bucket: p.count for p in weekly if p.series == "zhkh"}
    assert list(total) == [date(2026, 10, 26) + timedelta(weeks=i) for i in range(6)]
    assert list(total.values()) == [0, 2, 2, 4, 0, 0]
    assert list(zhkh.values()) == [0, 2, 0, 2, 0, 0]  # n1, n2 | n5, n8
    mix = a.channel_mix(NOV.start, NOV.end)
    assert [(c.kind, c.sources, c.count, c.share) for c in mix] == [
        ("vk", ("vk",), 6, 0.75),
        ("webhook", ("portal",), 1, 0.125),
        ("written", ("written",), 1, 0.125),
    ]
    points = a.points(NOV.start, NOV.end, at=AT)
    assert [(p.municipality, p.lat, p.lon, p.overdue) for p in points] == [
        ("sela", 53.16, 48.47, False),  # newest first
        ("gorod", 53.51, 49.42, False),
    ]


def test_seasonality_profile(data: tuple[Analytics, dict[str, int]]) -> None:
    a, _ = data
    rows = a.seasonality(local(12, 31, 0), years=1, unit="month", by="direction")
    total = {r["number"]: (r["mean"], r["index"]) for r in rows if r["series"] == "*"}
    # months before the first incident (October) are no history, not zeros:
    # October 3, November 8, December 1 → the mean month is 4
    assert total == {10: (3.0, 0.75), 11: (8.0, 2.0), 12: (1.0, 0.25)}
    zhkh = {r["number"]: r["index"] for r in rows if r["series"] == "zhkh"}
    assert zhkh == {10: 0.6, 11: 2.4, 12: 0.0}  # 1, 4, 0 against a mean of 5/3
    weekly = a.seasonality(local(12, 31, 0), years=1, unit="week", by=None)
    assert {r["number"] for r in weekly} == set(range(41, 54))  # ISO weeks 41 to 53
    assert sum(r["mean"] for r in weekly) == 12
    with pytest.raises(ReportError, match="by month or week"):
        a.seasonality(AT, unit="day")


def test_median_first_response(data: tuple[Analytics, dict[str, int]]) -> None:
    a, _ = data
    # answered: n1 after 2 h, n6 after 3 h, n3 after 50 h → the median is 3 h
    assert a.median_first_response(NOV.start, NOV.end) == {None: 10800.0}
    assert a.median_first_response(NOV.start, NOV.end, by_executor=True) == {
        "teplo": 7200.0,
        "adm-sela": 10800.0,
        "adm-gorod": 180000.0,
    }
    # an even count averages the middle two: n1 (2 h) and n3 (50 h), created before 17 Nov
    first_half = a.median_first_response(NOV.start, local(11, 17, 0))
    assert first_half == {None: (7200.0 + 180000.0) / 2}


def test_executor_rating_from_the_lifecycle_kpis(data: tuple[Analytics, dict[str, int]]) -> None:
    a, _ = data
    rows = executor_ratings(a, NOV.start, NOV.end, at=AT, min_cases=2)
    by = {r["executor"]: r for r in rows}
    assert {e: r["received"] for e, r in by.items()} == {
        "teplo": 3,
        "adm-volzhsky": 2,
        "adm-gorod": 1,
        "adm-sela": 1,
        "minzdrav": 1,
    }
    assert by["teplo"]["name"] == "Теплосеть"
    assert {r["source"] for r in rows} == {"lifecycle"}
    assert [r["executor"] for r in rows if r["rank"]] == ["teplo", "adm-volzhsky"]
    assert all(r["rank"] is None for r in rows[2:])


def test_local_days_follow_the_region_time_zone(engine: Engine, clock: FrozenClock) -> None:
    """23:30 on 30 November in Samara is 19:30 UTC; 01:00 on 1 December is 21:00 UTC on 30
    November — yet it belongs to December in the region."""
    clock.now = AT
    late = [("a", local(11, 30, 23, 30)), ("b", local(12, 1, 1, 0)), ("c", local(12, 1, 3, 59))]
    engine.process(
        [
            Message(
                source="vk",
                external_id=k,
                text=f"Обращение: {WORDS[i]}",
                created_at=t,
                topic="roads",
                territory="gorod",
            )
            for i, (k, t) in enumerate(late)
        ]
    )
    a = Analytics.for_engine(engine)
    span = (local(11, 1, 0), local(12, 31, 0))
    days = {r["day"]: r["count"] for r in a.counts(*span, by=["day"])}
    assert days == {date(2026, 11, 30): 1, date(2026, 12, 1): 2}
    months = {r["month"]: r["count"] for r in a.counts(*span, by=["month"])}
    assert months == {date(2026, 11, 1): 1, date(2026, 12, 1): 2}
    # the week of Monday 30 November holds all three
    assert a.counts(*span, by=["week"]) == [{"week": date(2026, 11, 30), "count": 3}]
    assert datetime(2026, 11, 30, 21, 0, tzinfo=UTC) == local(12, 1, 1, 0)


def test_poisson_tail() -> None:
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(6, 1.0) == pytest.approx(
        1 - math.exp(-1) * (1 + 1 + 1 / 2 + 1 / 6 + 1 / 24 + 1 / 120)
    )
    assert poisson_sf(2, 2.0) == pytest.approx(1 - 3 * math.exp(-2))
    assert poisson_sf(60, 5.0) == pytest.approx(POISSON_60_5, rel=1e-9)  # no cancellation
    assert poisson_sf(3, 0.0) == 0.0
