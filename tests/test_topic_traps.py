"""Topic traps: a message is about its problem, not about the landmark or a borrowed word.

The rules the keyword classifier follows (see
:mod:`tsur.default_plugins.keywords`): a keyword counts once per topic; a
word two topic families claim is shared and the rest of the message
decides; a noun after «у», «возле», «рядом с» … names a landmark and weighs
half; the family with the most evidence wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tsur import Engine, Message, Status, testing
from tsur.config import RegionConfig, SeasonalKeywords, TopicConfig
from tsur.default_plugins.keywords import KeywordClassifier, is_landmark
from tsur.region import Region
from tsur.text.normalize import Text, get_lemmatizer

from .helpers import SAMARA

WINTER = datetime(2026, 12, 10, 9, 0, tzinfo=SAMARA)
SUMMER = datetime(2026, 7, 10, 9, 0, tzinfo=SAMARA)


@pytest.fixture(scope="module")
def bundled() -> Iterator[Engine]:
    eng = Engine.from_config(None, db=":memory:", entry_points=False)
    yield eng
    eng.close()


def topic_of(engine: Engine, text: str, at: datetime = WINTER) -> str | None:
    a = engine.analyse(Message(source="vk", external_id="1", text=text, created_at=at))
    return a.topic


@pytest.mark.parametrize(
    ("text", "family"),
    [
        # ice on a sidewalk is a road matter, not sport
        ("Тротуар на улице Ленина — сплошной каток, люди падают", "roads"),
        ("Весь тротуар вдоль дома превратился в каток", "roads"),
        ("Каток на стадионе до сих пор не залили", "culture_sport"),
        ("Когда зальют каток в парке?", "culture_sport"),
        # a traffic light near a school is a traffic light
        ("Светофор у школы на Победы не работает второй день", "roads"),
        ("Возле школы № 5 не горят фонари", "roads"),
        ("Рядом с нашей поликлиникой огромная яма", "roads"),
        ("В школе № 5 не кормят детей горячим", "education"),
        # «света нет» is electricity
        ("В доме на Гагарина света нет с утра", "energy"),
        ("Третий день нет света в доме", "energy"),
        # a cold flat is heating, whatever it says about the electricity bills
        ("В квартире холодно, +16, батареи еле тёплые, а счета за свет приходят огромные", "zhkh"),
        ("Дома холодно, батареи ледяные, а за свет и отопление платим исправно", "zhkh"),
        # a wire sparking in a yard is electricity
        ("Во дворе на Мичурина искрит провод на столбе, дети рядом гуляют", "energy"),
        ("Во дворе оборван провод, искрит", "energy"),
    ],
)
def test_the_problem_decides_the_topic(bundled: Engine, text: str, family: str) -> None:
    topic = topic_of(bundled, text)
    assert topic is not None and bundled.region.in_topic(topic, [family]), topic


@pytest.mark.parametrize(
    ("text", "position", "landmark"),
    [
        ("светофор у школы", 2, True),
        ("рядом с нашей 5-й школой яма", 4, True),
        ("в районе школы яма", 2, True),
        ("возле дома № 5 яма", 1, True),
        ("в школе холодно", 1, False),
        ("во дворе искрит провод", 1, False),
        ("школа закрыта", 0, False),
        ("районная школа", 1, False),
    ],
)
def test_landmarks(text: str, position: int, landmark: bool) -> None:
    t = Text.from_raw(text)
    assert is_landmark(t, position) is landmark


def _classifier(*topics: TopicConfig) -> KeywordClassifier:
    """The small region's topics (none shares a word with these tests) plus ``topics``."""
    base = testing.small_region()
    cfg = RegionConfig.model_validate(
        {
            **base.model_dump(),
            "topics": [*base.model_dump()["topics"], *(t.model_dump() for t in topics)],
        }
    )
    return KeywordClassifier(Region.from_config(cfg), get_lemmatizer())


def _classify(clf: KeywordClassifier, text: str, at: datetime = WINTER) -> tuple[str | None, float]:
    m = Message(source="vk", external_id="1", text=text, created_at=at)
    c = clf.classify(m, Text.from_raw(text))
    return (c.topic, c.confidence) if c else (None, 0.0)


def test_a_keyword_counts_once_per_topic() -> None:
    """Listing a word twice (plain, urgent, seasonal) gives it no extra weight."""
    clf = _classifier(
        TopicConfig(id="a", name="А", keywords=["провод"], urgent_keywords=["провод"]),
        TopicConfig(id="b", name="Б", keywords=["столб"]),
    )
    topic, confidence = _classify(clf, "провод и столб")
    assert confidence == pytest.approx(0.5 * (0.5 + 0.5 / 3), abs=1e-4)  # an even share
    assert topic in {"a", "b"}


def test_a_seasonal_keyword_weighs_more_in_its_months_only() -> None:
    clf = _classifier(
        TopicConfig(
            id="a",
            name="А",
            keywords=["лёд"],
            seasonal=[SeasonalKeywords(months=frozenset({12, 1, 2}), keywords=["лёд"])],
        ),
        TopicConfig(id="b", name="Б", keywords=["каток"]),
    )
    assert _classify(clf, "лёд и каток", WINTER)[0] == "a"
    summer = _classify(clf, "лёд и каток", SUMMER)
    assert summer[1] == pytest.approx(0.5 * (0.5 + 0.5 / 3), abs=1e-4)  # a tie in July


def test_a_shared_word_lets_the_rest_of_the_message_decide() -> None:
    clf = _classifier(
        TopicConfig(id="rd", name="Дороги", keywords=["тротуар", "каток"]),
        TopicConfig(id="sp", name="Спорт", keywords=["каток", "коньки"]),
    )
    assert _classify(clf, "тротуар как каток")[0] == "rd"
    assert _classify(clf, "каток, коньки напрокат")[0] == "sp"
    # the shared word alone is split evenly
    assert _classify(clf, "каток")[1] == pytest.approx(0.5 * (0.5 + 0.5 * 0.5 / 3), abs=1e-4)


def test_a_landmark_weighs_half_and_still_counts_alone() -> None:
    clf = _classifier(
        TopicConfig(id="rd", name="Дороги", keywords=["светофор"]),
        TopicConfig(id="sch", name="Школы", keywords=["школа"]),
    )
    assert _classify(clf, "светофор у школы")[0] == "rd"
    assert _classify(clf, "школа у светофора")[0] == "sch"
    assert _classify(clf, "у школы")[0] == "sch"  # nothing else to go by


def test_the_family_with_most_evidence_wins_over_a_single_deeper_word() -> None:
    clf = _classifier(
        TopicConfig(id="rd", name="Дороги", keywords=["улица"]),
        TopicConfig(id="rd.sidewalks", name="Тротуары", parent="rd", keywords=["тротуар"]),
        TopicConfig(id="sp", name="Спорт", keywords=["стадион"]),
        TopicConfig(id="sp.rinks", name="Катки", parent="sp", keywords=["коньки"]),
    )
    assert _classify(clf, "улица, тротуар, коньки")[0] == "rd.sidewalks"


def test_hostile_text_is_read_in_linear_time() -> None:
    clf = _classifier(TopicConfig(id="sch", name="Школы", keywords=["школа"]))
    text = "у " * 20000 + "школы " * 20000
    assert _classify(clf, text)[0] == "sch"


def test_a_tie_between_families_goes_to_a_curator(bundled: Engine) -> None:
    """«Каток» alone in winter is a rink or ice, evenly: a curator decides, not the alphabet."""
    m = Message(source="vk", external_id="1", text="В Самаре каток", created_at=WINTER)
    _, outcome = bundled.preview(m, now=WINTER)
    assert outcome.incident is not None and outcome.incident.status is Status.TRIAGE
    reason = next(e.reason for e in outcome.incident.history if e.to_status is Status.TRIAGE)
    assert reason.startswith("тема неоднозначна: «")
    assert "Спорт" in reason and "Уборка снега и наледи" in reason
    # with the rest of the message to go by, it is routed
    m = Message(source="vk", external_id="2", text="В Самаре тротуар — каток", created_at=WINTER)
    _, outcome = bundled.preview(m, now=WINTER)
    assert outcome.incident is not None and outcome.incident.status is Status.ROUTED
