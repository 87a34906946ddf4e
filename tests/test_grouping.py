"""Grouping measured on the demo messages, whose duplicate groups and threads are labelled.

``tests/data/demo_groups.csv`` (written by ``tools/make_demo_messages.py``)
names, for every message reporting a problem someone else reported too, its
group; every other message is a problem of its own. Pairwise precision is
the share of message pairs put in one incident that truly belong together;
recall, the share of true pairs that were put together.
"""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tsur import Engine, open_repository

LABELS = Path(__file__).parent / "data" / "demo_groups.csv"


def pairs(groups: dict[str, set[tuple[str, str]]]) -> set[frozenset[tuple[str, str]]]:
    return {frozenset(p) for members in groups.values() for p in itertools.combinations(members, 2)}


def grouping_scores(engine: Engine) -> tuple[float, float, int]:
    truth: dict[str, set[tuple[str, str]]] = {}
    with LABELS.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            truth.setdefault(row["group"], set()).add((row["source"], row["external_id"]))
    made: dict[str, set[tuple[str, str]]] = {}
    for sm in engine.repository.messages(status="done", limit=10_000):
        made.setdefault(str(sm.incident_id), set()).add(sm.message.key)
    done = set().union(*made.values())
    truth = {g: {k for k in ks if k in done} for g, ks in truth.items()}
    t, p = pairs(truth), pairs(made)
    precision = len(t & p) / len(p) if p else 1.0
    recall = len(t & p) / len(t) if t else 1.0
    return precision, recall, len(p)


@pytest.fixture(scope="module")
def demo_engine(bundled_region: Any) -> Engine:
    eng = Engine(
        bundled_region,
        open_repository(":memory:"),
        entry_points=False,
        clock=lambda: datetime(2026, 11, 20, 14, tzinfo=UTC),
    )
    lines = (resources.files("tsur") / "data" / "demo" / "messages.jsonl").read_text("utf-8")
    eng.ingest_jsonl(lines=lines.splitlines(), origin="demo")
    eng.run()
    return eng


def test_grouping_precision_and_recall_on_labelled_demo(demo_engine: Engine) -> None:
    precision, recall, merged_pairs = grouping_scores(demo_engine)
    assert merged_pairs > 20
    assert precision >= 0.65, f"precision {precision:.2f}"
    assert recall >= 0.45, f"recall {recall:.2f}"


def street_and_house(keys: dict[str, str]) -> dict[str, str]:
    """Place keys without the street's other name words and kind (tested on their own)."""
    return {k: v for k, v in keys.items() if k not in {"street_name", "street_kind"}}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ул. Льва Толстого, 5: яма на дороге", "ул. Алексея Толстого, 5: яма на дороге"),
        ("пр. Ленина 40: яма на дороге", "пер. Ленина 40: яма на дороге"),
        ("дом 5 по переулку Ленина: яма", "проспект Ленина, 5: яма"),
    ],
)
def test_namesake_streets_are_two_places(a: str, b: str) -> None:
    """Two streets with one surname (Льва and Алексея Толстого) or one name but another kind
    (a prospekt and a side street) are two addresses, even at the same house number."""
    from tsur.grouping import match_candidate, place_keys
    from tsur.text.normalize import Text

    ka, kb = place_keys(Text.from_raw(a)), place_keys(Text.from_raw(b))
    assert ka["street"] == kb["street"] and ka["house"] == kb["house"]
    assert match_candidate(ka, frozenset(), kb, frozenset(), same_topic=True, threshold=0.5) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ул. Льва Толстого, 5: яма на дороге", "Толстого 5, яма на дороге"),
        ("ул. Ленина, 40: яма на дороге", "проспект Ленина 40 — яма на дороге"),
        ("дом 5 по ул. Льва Толстого", "ул. Толстого, д. 5"),
    ],
)
def test_a_street_named_shorter_is_still_the_same_address(a: str, b: str) -> None:
    """A citizen who leaves out the first name or the street's kind names the same house."""
    from tsur.grouping import match_candidate, place_keys
    from tsur.text.normalize import Text

    ka, kb = place_keys(Text.from_raw(a)), place_keys(Text.from_raw(b))
    found = match_candidate(ka, frozenset(), kb, frozenset(), same_topic=True, threshold=0.5)
    assert found is not None and found.reason.startswith("тот же адрес"), (ka, kb)
    # the name's other words and the street's kind are no object of their own
    other = place_keys(Text.from_raw("ул. Льва Толстого: яма на дороге"))
    assert (
        match_candidate(ka, frozenset(), other, frozenset(), same_topic=False, threshold=0.5)
        is None
    )


def test_place_keys_keep_different_places_apart() -> None:
    from tsur import Text
    from tsur.grouping import match_candidate, place_keys

    a = place_keys(Text.from_raw("В школе № 77 в Тольятти холодно, +16 в кабинетах"))
    b = place_keys(Text.from_raw("В школе № 58 в Тольятти холодно, +16 в кабинетах"))
    words = frozenset({"школа", "холодно", "кабинет"})
    assert a == {"школа": "77"} and b == {"школа": "58"}
    assert match_candidate(a, words, b, words, same_topic=True, threshold=0.5) is None
    same = match_candidate(a, words, a, frozenset(), same_topic=True, threshold=0.5)
    assert same is not None and same.reason == "тот же объект: школа 77"
    # the same school, another problem (no words in common, another subtopic): apart
    assert (
        match_candidate(a, words, a, frozenset({"столовая"}), same_topic=False, threshold=0.5)
        is None
    )
    # ... but with two problem words in common across subtopics: together
    assert match_candidate(a, words, a, words, same_topic=False, threshold=0.5) is not None


def test_place_keys_read_streets_houses_and_routes() -> None:
    from tsur import Text
    from tsur.grouping import place_keys
    from tsur.store.rows import decode_places, encode_places

    cases = {
        "В Тольятти на ул. Мира, 5 нет отопления": {"street": "мир", "house": "5"},
        "На Московском шоссе напротив дома № 18": {"street": "московский", "house": "18"},
        "дом № 145 на ул. Стара-Загора": {"house": "145", "street": "стара-загора"},
        "автобус №41 в Сызрани не ходит": {"route": "41"},
        "маршрутка 41 опять не пришла": {"route": "41"},
    }
    for text, keys in cases.items():
        got = place_keys(Text.from_raw(text))
        assert street_and_house(got) == keys, text
        assert decode_places(encode_places(got)) == got
    assert place_keys(Text.from_raw("пер. Мира, 5"))["street_kind"] == "переулок"
    assert place_keys(Text.from_raw("ул. Мира, 5"))["street_kind"] == "улица"
    # the address field wins over the text
    got = place_keys(Text.from_raw("ул. Мира, 5"), Text.from_raw("ул. Ленина, 7"))
    assert street_and_house(got) == {"street": "ленин", "house": "7"}


def test_bare_addresses_without_a_street_marker() -> None:
    from tsur import Text
    from tsur.grouping import place_keys

    towns = frozenset({"самара", "тольятти"})
    cases = {
        "в доме на Ново-Садовой 20 нет воды": {"street": "ново-садовый", "house": "20"},
        "Щорса, 86 — течёт крыша": {"street": "щорс", "house": "86"},
        "Уже 5 дней нет воды": {},  # a stop word, and an amount of days
        "в Самаре 15 градусов в квартире": {},  # a town, and degrees
        "Пенсия 14 тысяч, на лекарства не хватает": {},  # an amount of money
    }
    for text, keys in cases.items():
        assert street_and_house(place_keys(Text.from_raw(text), not_streets=towns)) == keys, text


def test_place_keys_read_addresses_as_citizens_write_them() -> None:
    from tsur import Text
    from tsur.grouping import place_keys

    towns = frozenset({"самара", "тольятти", "сызрань"})
    lenina5 = {"street": "ленин", "house": "5"}
    cases = {
        # one address, four ways
        "Самара, ул. Ленина, 5 — нет воды": lenina5,
        "на Ленина 5 третий день нет воды": lenina5,
        "в доме 5 по улице Ленина нет воды": lenina5,
        "дом № 5 по Ленина, нет воды": lenina5,
        # blocks, letters, fractions
        "Ленина д.5 корп.2 — нет воды": {"street": "ленин", "house": "5к2"},
        "ул. Гагарина, д. 86 А, течёт крыша": {"street": "гагарин", "house": "86а"},
        "Гагарина 86А, течёт крыша": {"street": "гагарин", "house": "86а"},
        "Ново-Садовая 20/1, холодно": {"street": "ново-садовый", "house": "20/1"},
        # street names of several words: the last word is the key
        "ул. Льва Яшина, 7 — мусор": {"street": "яшин", "house": "7"},
        "Льва Яшина 7, мусор": {"street": "яшин", "house": "7"},
        "Тольятти, Степана Разина 30 — двор": {"street": "разин", "house": "30"},
        # a district's name is a street too; a town's is not
        "Самара, Ленинская 202 — двор не чищен": {"street": "ленинский", "house": "202"},
        "Самара 2026, отчёт": {},
        "АВТОСТРОИТЕЛЕЙ 68 БЕЗ ТЕПЛА": {"street": "автостроитель", "house": "68"},
        "на Солнечной,53 мусор": {"street": "солнечный", "house": "53"},
        # crossroads, in any order and spelling
        "на перекрестке 40 лет Победы и Юбилейной": {"crossing": "победа+юбилейный"},
        "светофор на 40 лет Победы/Юбилейная": {"crossing": "победа+юбилейный"},
        "перекрёсток ул. Юбилейная – ул. 40 лет Победы": {"crossing": "победа+юбилейный"},
        "пересечение Юбилейной и Ворошилова": {"crossing": "ворошилов+юбилейный"},
        # numbered objects and stops; a building's parts and amounts are no houses
        "В МБОУ СОШ № 10 холодно": {"школа": "10"},
        "детский сад № 5, в группах холодно": {"сад": "5"},
        "остановка «Пятая просека» — яма": {"stop": "пятый просека"},
        "Маршрут 50 вечером не ходит": {"route": "50"},
        "В доме 16 этажей, лифт во 2-м подъезде": {},
        "не работает с 15 ноября": {},
        "на Кирова 5 минут ждали": {"street": "киров"},
        # a street with no house
        "улица Кирова — снег не убран": {"street": "киров"},
        "На Революционной темно": {"street": "революционный"},
        "Революционная от Юбилейной до 40 лет Победы — темно": {"street": "революционный"},
    }
    for text, keys in cases.items():
        assert street_and_house(place_keys(Text.from_raw(text), not_streets=towns)) == keys, text


def test_a_towns_street_list_decides_bare_streets() -> None:
    from tsur import Text
    from tsur.grouping import place_keys

    known = frozenset({"революционный", "ленин"})
    # a stop's name is no street when the town's streets are known
    assert place_keys(Text.from_raw("Стояла на Металлурге час")) == {"street": "металлург"}
    assert place_keys(Text.from_raw("Стояла на Металлурге час"), streets=known) == {}
    assert place_keys(Text.from_raw("Металлург 5 — яма"), streets=known) == {}
    # a known street is read anywhere, even with no marker and no house
    assert place_keys(Text.from_raw("Тольятти. Революционная — темно"), streets=known) == {
        "street": "революционный"
    }
    assert place_keys(Text.from_raw("Ленина 5, нет воды"), streets=known) == {
        "street": "ленин",
        "house": "5",
    }


def test_one_house_other_problem_stays_apart_unless_the_words_agree() -> None:
    from tsur.grouping import match_candidate

    house = {"street": "автостроитель", "house": "68"}
    lift = frozenset({"лифт", "застревать", "подъезд", "автостроитель"})
    heat = frozenset({"батарея", "холодный", "отопление", "подъезд", "автостроитель"})
    # another subtopic, only the house and generic words in common: two problems
    assert match_candidate(house, lift, house, heat, same_topic=False, threshold=0.5) is None
    # the classifiers nearly chose the incident's topic: the same problem
    assert (
        match_candidate(house, lift, house, heat, same_topic=False, threshold=0.5, close_topic=True)
        is not None
    )
    # a crossroads and a street not on it are two places
    assert (
        match_candidate(
            {"crossing": "победа+юбилейный"},
            heat,
            {"street": "ленин"},
            heat,
            same_topic=True,
            threshold=0.1,
        )
        is None
    )
    # one street, one subtopic, no house on one side: together
    found = match_candidate(
        {"street": "приморский"},
        lift,
        {"street": "приморский", "house": "5"},
        heat,
        same_topic=True,
        threshold=0.9,
    )
    assert found is not None and "та же улица" in found.reason
    # a message naming no town joins only at its street and house
    assert (
        match_candidate(
            {"street": "приморский"},
            heat,
            {"street": "приморский"},
            heat,
            same_topic=True,
            threshold=0.1,
            address_only=True,
        )
        is None
    )


def test_the_region_file_lists_a_towns_streets() -> None:
    from tsur import Text, load_region
    from tsur.grouping import Places
    from tsur.region import Region
    from tsur.text.normalize import get_lemmatizer

    cfg = load_region()
    cfg = cfg.model_copy(
        update={
            "pipeline": cfg.pipeline.model_copy(
                update={"streets": {"tolyatti": ["улица Революционная", "40 лет Победы"]}}
            )
        }
    )
    places = Places(Region.from_config(cfg), get_lemmatizer())
    text = Text.from_raw("Революционная — фонари не горят, стояла на Металлурге")
    assert places.keys(text, territory="tolyatti") == {"street": "революционный"}
    # in a town without a list the general rules read the stop's name as a street
    assert places.keys(text, territory="samara") == {"street": "металлург"}


def test_routes_named_as_citizens_say_them() -> None:
    from tsur import Text
    from tsur.grouping import place_keys

    cases = {
        "Девятка в Сызрани после 7 вечера не ходит": {"route": "9"},
        "Пятёрку ждём сорок минут на остановке": {"route": "5"},
        "50-го опять нет уже 40 минут, остановка Металлург": {
            "stop": "металлург",
            "route": "50",
        },
        "Каждый день езжу на пятидесятом, автобус битком": {"route": "50"},
        "пятидесятый автобус вечером не ходит": {"route": "50"},
        "двадцать шестой маршрут утром не пришёл": {"route": "26"},
        "жду 26-й уже час на остановке": {"route": "26"},
        # a route is written out: the nickname does not override it
        "автобус № 41, девятка тоже не ходит": {"route": "41"},
        # no bus anywhere: a number is no route
        "50-го опять нет горячей воды": {},
        "Купил девятку, а она не заводится": {},
        # the number of something else, or a date
        "первый рейс опять не вышел, стою на остановке": {},
        "на 5-м этаже живу, до остановки далеко": {},
        "С 20-го числа автобус ходит реже": {},
    }
    for text, keys in cases.items():
        assert place_keys(Text.from_raw(text)) == keys, text


def test_a_route_has_problems_of_its_own() -> None:
    from tsur.grouping import match_candidate

    route = {"route": "50"}
    rude = frozenset({"водитель", "грубо", "разговаривать", "сдача", "автобус"})
    evening = frozenset({"вечером", "ходить", "расписание", "час", "автобус"})
    # the classifiers nearly chose the incident's topic, but no word of the problem
    # is shared: a rude driver is not the evening timetable
    assert (
        match_candidate(
            route, rude, route, evening, same_topic=False, threshold=0.5, close_topic=True
        )
        is None
    )
    # «вечерние рейсы» and «вечером не ходит» say the same: together
    late = frozenset({"вечерний", "рейс", "отменить"})
    found = match_candidate(route, late, route, evening, same_topic=False, threshold=0.5)
    assert found is not None and "маршрут 50" in found.reason
    # «утренний» and «утром» too
    assert (
        match_candidate(
            {"route": "26"},
            frozenset({"утром", "прийти"}),
            {"route": "26"},
            frozenset({"утренний", "выполняться"}),
            same_topic=False,
            threshold=0.5,
        )
        is not None
    )


def test_an_incident_keeps_the_most_informative_words() -> None:
    from tsur.domain import Status
    from tsur.grouping import OpenCandidate, best_match
    from tsur.grouping.places import MAX_WORDS, informative

    # a long report: numbers and generic words make way for the words of the problem
    many = {f"{n}" for n in range(40)} | {f"слово{n:02d}" for n in range(70)} | {"я"}
    kept = informative(many | {"канализация"}, generic=frozenset({"дом"}))
    assert len(kept) == MAX_WORDS and "канализация" in kept
    assert not any(w[:1].isdigit() for w in kept) and "я" not in kept
    # an incident full of words still learns a rarer word of a new report, whatever
    # letter it starts with («яма» would never make it in alphabetical order)
    full = frozenset(f"аа{n:02d}" for n in range(MAX_WORDS))
    incident = OpenCandidate(
        1, Status.NEW, "roads.pits", datetime(2026, 11, 1, tzinfo=UTC), {"route": "9"}, full
    )
    joined = best_match(
        {"route": "9"},
        frozenset({"ямочный", "аа00"}),
        "roads.pits",
        [incident],
        threshold=0.5,
    )
    assert joined is not None and joined.words is not None
    assert "ямочный" in joined.words and len(joined.words) == MAX_WORDS


def test_a_message_without_a_topic_joins_its_bus_route(bundled_region: Any) -> None:
    from tsur import load_region
    from tsur.domain import Message
    from tsur.grouping import object_topics
    from tsur.region import Region

    region = Region.from_config(load_region())
    transport = object_topics(region, {"route": "9"})
    assert "transport.schedule" in transport and "transport.routes" in transport
    assert "education.schools" in object_topics(region, {"школа": "5"})
    assert object_topics(region, {"street": "мир", "house": "5"}) == ()
    at = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
    engine = Engine(
        bundled_region, open_repository(":memory:"), entry_points=False, clock=lambda: at
    )
    texts = [
        "Сызрань, у автобуса № 9 отменили вечерние рейсы, последний уходит в 19:00",
        # no topic the classifiers are sure of, the route by its nickname, «вечера»
        "Девятка в Сызрани после 8 вечера не ходит, как домой добираться?",
        # the same route, another problem: apart
        "Девятка в Сызрани, водитель курит и хамит, не дал сдачу",
    ]
    engine.process([Message("vk", f"m{i}", t, at) for i, t in enumerate(texts)])
    incident = {
        sm.message.external_id: sm.incident_id
        for sm in engine.repository.messages(status="done", limit=10)
    }
    assert incident["m0"] == incident["m1"] != incident["m2"]
    engine.close()


def test_a_floor_or_a_day_is_no_word_of_the_problem() -> None:
    from tsur.grouping import match_candidate

    school = {"школа": "12"}
    cold = frozenset({"пятый", "холодно", "кабинет"})
    food = frozenset({"пятый", "столовая", "кормить"})
    # «в пятом классе холодно», «пятый день кормят плохо»: a number, not the problem;
    # another subtopic at the same school stays apart
    assert match_candidate(school, cold, school, food, same_topic=False, threshold=0.5) is None
