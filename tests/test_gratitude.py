"""Thanks and good news are not incidents: they are recorded and credited to the executor.

The rule: a message that thanks, praises or tells good news and asks for
nothing («Спасибо, отремонтировали дорогу», «Начали ремонт кровли в школе.
Ну наконец-то») makes no incident and is not routed; it counts for the
executor whose work it praises. Thanks with a complaint in it is an appeal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tsur import Author, Engine, Status
from tsur.analytics.kpi import executor_kpis

from .helpers import SAMARA, msg

T = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
NOV = (datetime(2026, 11, 1, tzinfo=SAMARA), datetime(2026, 12, 1, tzinfo=SAMARA))


def thanked(engine: Engine) -> dict[str, tuple[str | None, int | None]]:
    return {
        m.message.external_id: (m.thanks_executor, m.incident_id)
        for m in engine.repository.messages(status="thanked")
    }


@pytest.mark.parametrize(
    "text",
    [
        "Спасибо, отремонтировали дорогу в Тольятти на улице Мира!",
        "Тольятти: яму на дороге у нас заделали за два дня, огромное спасибо",
        "Хочу поблагодарить администрацию Тольятти — асфальт на дороге положили отлично",
    ],
)
def test_thanks_make_no_incident_and_count_for_the_executor(engine: Engine, text: str) -> None:
    report = engine.process([msg("1", text, at=T)])
    assert report.thanked == 1 and report.created == 0
    assert engine.incidents() == []
    # roads in Tolyatti are the city administration's: the thanks is theirs
    assert thanked(engine) == {"1": ("adm-gorod", None)}
    (k,) = executor_kpis(engine.repository, since=NOV[0], until=NOV[1], min_cases=0)
    assert (k.executor, k.thanks, k.received) == ("adm-gorod", 1, 0)


@pytest.mark.parametrize(
    "text",
    [
        "Начали ремонт кровли в школе. Ну наконец-то",
        "Ура, во дворе наконец-то положили новый асфальт",
    ],
)
def test_good_news_is_no_incident(engine: Engine, text: str) -> None:
    report = engine.process([msg("1", text, at=T)])
    assert report.thanked == 1 and report.created == 0 and engine.incidents() == []


@pytest.mark.parametrize(
    "text",
    [
        "Спасибо, но яма на дороге в Тольятти так и не заделана",
        "Спасибо за дорогу! А когда в Тольятти уберут снег во дворе?",
        "В Тольятти упало дерево, перегородило дорогу. Спасибо.",
        "Наконец-то в Тольятти прорвало трубу, вода хлещет на дорогу",
        # sarcasm and emergencies politely put
        "Ну наконец то прорвало трубу",
        "Спасибо. Теперь в квартире +14, батареи ледяные",
        "Спасибо, теперь у нас вместо дороги болото. Тольятти, ул. Мира",
        "Спасибо за отписку",
    ],
)
def test_thanks_with_a_problem_is_an_appeal(engine: Engine, text: str) -> None:
    report = engine.process([msg("1", text, at=T)])
    assert report.created == 1 and report.thanked == 0


def test_thanks_in_the_thread_of_a_resolved_incident_credit_it_and_do_not_reopen_it(
    engine: Engine,
) -> None:
    engine.process([msg("a1", "В Тольятти на ул. Мира, 5 огромная яма на дороге", at=T)])
    (inc,) = engine.incidents()
    assert inc.id is not None and inc.executor == "adm-gorod"
    engine.transition(inc.id, Status.RESOLVED, actor="adm-gorod", reason="яма заделана")
    report = engine.process(
        [msg("c1", "Спасибо большое, всё сделали!", parent_id="a1", at=T + timedelta(days=2))]
    )
    assert report.thanked == 1 and report.reopened == 0
    got = engine.incident(inc.id)
    assert got is not None and got.status is Status.RESOLVED
    (event,) = [e for e in got.history if e.kind == "gratitude"]
    assert event.reason == "благодарность в той же переписке"
    assert thanked(engine) == {"c1": ("adm-gorod", inc.id)}
    (k,) = executor_kpis(engine.repository, since=NOV[0], until=NOV[1], min_cases=0)
    assert (k.executor, k.thanks, k.received) == ("adm-gorod", 1, 1)


def test_thanks_in_the_thread_of_an_open_incident_count_for_its_executor(
    engine: Engine,
) -> None:
    engine.process([msg("a1", "В Тольятти на ул. Мира, 5 огромная яма на дороге", at=T)])
    (inc,) = engine.incidents()
    engine.process([msg("c1", "Спасибо, что откликнулись!", parent_id="a1", at=T)])
    assert thanked(engine) == {"c1": ("adm-gorod", inc.id)}  # whoever answers it now
    got = engine.incident(inc.id)  # type: ignore[arg-type]
    assert got is not None and got.status is Status.ROUTED
    assert [e.kind for e in got.history].count("gratitude") == 1
    (k,) = executor_kpis(engine.repository, since=NOV[0], until=NOV[1], min_cases=0)
    assert (k.executor, k.thanks) == ("adm-gorod", 1)


def test_thanks_from_the_author_of_a_resolved_incident_credit_it(engine: Engine) -> None:
    anna = Author("42", "Анна")
    engine.process(
        [msg("a1", "В Тольятти на ул. Мира, 5 огромная яма на дороге", at=T, author=anna)]
    )
    (inc,) = engine.incidents()
    engine.transition(inc.id, Status.RESOLVED, actor="adm-gorod", reason="яма заделана")  # type: ignore[arg-type]
    engine.process(
        [msg("a2", "Спасибо, яму на дороге заделали!", at=T + timedelta(days=1), author=anna)]
    )
    assert thanked(engine) == {"a2": ("adm-gorod", inc.id)}
    got = engine.incident(inc.id)  # type: ignore[arg-type]
    assert got is not None and got.status is Status.RESOLVED
    assert [e.reason for e in got.history if e.kind == "gratitude"] == ["благодарность автора"]


def test_thanks_nobody_can_be_credited_with_are_kept_unattributed(engine: Engine) -> None:
    report = engine.process([msg("1", "Спасибо всем, кто помог!", at=T)])
    assert report.thanked == 1
    assert thanked(engine) == {"1": (None, None)}
    assert executor_kpis(engine.repository, since=NOV[0], until=NOV[1], min_cases=0) == []


def test_thanks_are_a_tiebreak_of_the_ranking(engine: Engine) -> None:
    """Two executors equal on every other figure: the thanked one ranks first."""
    for i, town in enumerate(("Тольятти", "Сызрань")):
        engine.process([msg(f"p{i}", f"{town}: огромная яма на дороге", at=T)])
    engine.process([msg("t1", "Сызрань: спасибо, дорогу отремонтировали", at=T)])
    kpis = executor_kpis(engine.repository, since=NOV[0], until=NOV[1], min_cases=1)
    assert [(k.executor, k.rank, k.thanks) for k in kpis] == [
        ("adm-sela", 1, 1),
        ("adm-gorod", 2, 0),
    ]


def test_thanks_stay_with_whom_they_thanked_after_a_forward(engine: Engine) -> None:
    engine.process([msg("a1", "В Тольятти на ул. Мира, 5 огромная яма на дороге", at=T)])
    (inc,) = engine.incidents()
    engine.process([msg("c1", "Спасибо, что так быстро откликнулись!", parent_id="a1", at=T)])
    with engine.repository.update_incident(inc.id) as moved:  # type: ignore[arg-type]
        moved.executor = "adm-sela"  # the incident moves on; the thanks stays
    kpis = executor_kpis(engine.repository, since=NOV[0], until=NOV[1], min_cases=0)
    assert {k.executor: k.thanks for k in kpis} == {"adm-sela": 0, "adm-gorod": 1}


def test_one_author_thanks_once(engine: Engine) -> None:
    """Three thanks from one author count once; anonymous thanks count each."""
    anna = Author("42", "Анна")
    streets = ("Мира", "Ленина", "Победы")
    engine.process(
        [
            msg(
                f"a{i}",
                f"Спасибо, отремонтировали дорогу в Тольятти на улице {street}!",
                at=T + timedelta(hours=i),
                author=anna,
            )
            for i, street in enumerate(streets)
        ]
        + [
            msg(
                f"x{i}",
                f"Спасибо, отремонтировали дорогу в Тольятти на улице {street}!",
                at=T + timedelta(hours=i),
            )
            for i, street in enumerate(streets[:2])
        ]
    )
    assert len(engine.repository.messages(status="thanked")) == 5
    (k,) = executor_kpis(engine.repository, since=NOV[0], until=NOV[1], min_cases=0)
    assert (k.executor, k.thanks) == ("adm-gorod", 3)  # Анна once, two anonymous
