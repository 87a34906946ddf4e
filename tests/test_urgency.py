"""Urgency detection: the labelled set, negation, proximity, evidence, pattern files, plugin."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tsur import ConfigError, Engine, RegionConfig, Urgency
from tsur.default_plugins import urgency as urgency_plugin
from tsur.default_plugins.urgency import UrgencyClassifier
from tsur.plugins import collect_components, make_plugin_manager
from tsur.store.sql import SqlRepository, normalize_url
from tsur.testing import make_context
from tsur.text.normalize import Text
from tsur.text.urgency import (
    IndoorNorms,
    UrgencyDetector,
    bundled_patterns_path,
    default_detector,
    read_pattern_file,
)

from .conftest import DATA, FrozenClock
from .helpers import msg

U, Q, N = Urgency.URGENT, Urgency.QUICK, Urgency.NORMAL


def level(text: str) -> Urgency:
    return default_detector().detect_raw(text).level


# --------------------------------------------------------------------------- labelled set
def load_labelled() -> list[tuple[str, Urgency]]:
    with (DATA / "urgency_labelled.csv").open(encoding="utf-8", newline="") as f:
        return [(row["text"], Urgency(row["label"])) for row in csv.DictReader(f)]


def precision_recall(pairs: list[tuple[Urgency, Urgency]], cls: Urgency) -> tuple[float, float]:
    tp = sum(1 for gold, got in pairs if gold is cls and got is cls)
    predicted = sum(1 for _, got in pairs if got is cls)
    actual = sum(1 for gold, _ in pairs if gold is cls)
    return tp / predicted, tp / actual


def test_labelled_set_is_large_and_balanced_as_intended() -> None:
    rows = load_labelled()
    counts = Counter(label for _, label in rows)
    assert len(rows) >= 250
    assert len({text for text, _ in rows}) == len(rows)
    assert 0.25 <= counts[U] / len(rows) <= 0.35
    assert 0.15 <= counts[Q] / len(rows) <= 0.25
    assert 0.45 <= counts[N] / len(rows) <= 0.55


def test_labelled_set_recall_and_precision() -> None:
    det = default_detector()
    pairs = [(gold, det.detect_raw(text).level) for text, gold in load_labelled()]
    urgent_precision, urgent_recall = precision_recall(pairs, U)
    _, quick_recall = precision_recall(pairs, Q)
    assert urgent_recall >= 0.9
    assert urgent_precision >= 0.75
    assert quick_recall >= 0.7


# --------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("провод оборван и искрит у подъезда", U),
        ("провод не искрит и висит высоко, просто некрасиво", N),
        ("газом не пахнет, проверили", N),
        ("искрить перестало, провода висят высоко", N),
        ("в подъезде пахнет газом", U),
        ("нет запаха газа, всё в порядке", N),
    ],
)
def test_negation_cancels_a_part(text: str, expected: Urgency) -> None:
    assert level(text) is expected


def test_negation_reason_is_reported() -> None:
    result = default_detector().detect_raw("щиток не искрит")
    assert result.level is N
    assert [(m.rule, m.reason) for m in result.cancelled] == [("sparks", "negated: искрит")]


def test_negation_skips_fillers_but_not_other_words() -> None:
    assert level("люк уже не был открыт") is N  # «не» + fillers «был»/«уже»
    assert level("почему не убирают упавшее дерево") is U  # «не» belongs to «убирают»


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("люк закрыли спасибо", N),
        ("был открытый люк у дома 5, сегодня закрыли", N),
        ("свет дали, всем спасибо", N),
        ("нет света с утра, когда дадут", U),  # future tense is no fix
        ("трубу прорвало, так и не заварили", U),  # a negated fix is no fix
        ("открытый люк: закрыли, а сегодня опять открыт", U),  # back again
    ],
)
def test_fixed_problems_are_not_urgent(text: str, expected: Urgency) -> None:
    assert level(text) is expected


def test_news_and_jokes_are_not_urgent() -> None:
    assert level("в Москве ребенок упал в открытый люк, читала новость") is N
    assert level("ребенок упал в открытый люк на Ленина") is U


def test_proximity_window_is_counted_in_words_between_parts() -> None:
    # «люк» and «открытый» with three words between them match, with four they do not
    assert level("люк стоит уже неделю открытый") is U
    assert level("люк стоит уже целую неделю открытый") is N
    assert level("открыт люк") is U  # parts match in either order


def test_lemmatised_patterns_match_any_form_and_look_alike_letters() -> None:
    assert level("провалилась в открытые люки") is U
    assert level("ОТКРЫТЫМ ЛЮКОМ никого не удивишь, а он у школы") is U
    assert level("oткрытый люк у школы") is U  # Latin «o»


def test_evidence_names_the_matched_words_and_intensifiers() -> None:
    result = default_detector().detect_raw(
        "Дети мерзнут: нет отопления третий день, на улице мороз"
    )
    assert result.level is U
    assert result.rules == ("outage",)
    assert result.evidence[0] == "нет отопления"
    assert set(result.intensifiers) == {"дети", "мерзнут", "третий день"}
    assert set(result.evidence) == {"нет отопления", *result.intensifiers}
    m = result.matches[0]
    assert (m.label, m.start, m.end) == ("отключение света, тепла или воды", 2, 4)
    assert m.score > 1.0


def test_distant_parts_are_shown_with_an_ellipsis() -> None:
    text = "котлован выкопали возле детской площадки и оставили без ограждения"
    result = default_detector().detect_raw(text)
    assert result.level is U
    assert "котлован … без ограждения" in result.evidence


def test_intensifiers_lift_weak_rules_to_urgent() -> None:
    assert level("в садике не топят") is U  # weak rule + children
    assert level("у нас не топят") is N
    assert level("нет горячей воды") is N
    assert level("нет горячей воды третий день") is U
    below = default_detector().detect_raw("нет горячей воды")
    reasons = {m.rule: m.reason for m in below.cancelled}
    assert reasons == {"outage": "excluded: горячей", "hot-water-outage": "below threshold: 0.7"}


def test_weak_rules_fall_back_to_quick() -> None:
    assert level("на тротуаре гололед, посыпьте") is Q
    assert level("на тротуаре гололед, бабушка упала, перелом") is U
    assert level("крыльцо школы как каток") is U


def test_rule_exclusions() -> None:
    assert level("в четверг плановое отключение света") is N
    assert level("в подъезде нет света") is Q  # staircase lights, not a power cut
    assert level("во всем доме нет света") is U


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("сломана скамейка у подъезда", Q),
        ("перегорела лампочка над подъездом", Q),
        ("урна на остановке переполнена", Q),
        ("граффити на стене школы", Q),
        ("поставьте лавочки в парке", N),
        ("Срочно сделайте расписание автобусов", N),
    ],
)
def test_quick_everyday_problems(text: str, expected: Urgency) -> None:
    assert level(text) is expected


def test_detector_works_on_the_pipeline_text() -> None:
    text = Text.from_raw("Упало дерево на провода")
    assert default_detector().detect(text).level is U
    assert default_detector() is default_detector()  # built once


# --------------------------------------------------------------------------- pattern files
EXTRA: dict[str, Any] = {
    "settings": {"disable": ["graffiti"]},
    "intensifiers": [{"name": "дети", "bonus": 0.4, "phrases": ["гимназия"]}],
    "rules": [
        {
            "id": "bridge",
            "level": "urgent",
            "label": "мост",
            "parts": [["мост"], ["трещина", "шатается"]],
        },
        {
            "id": "bench",
            "level": "quick",
            "label": "скамейка",
            "parts": [["скамейка"], ["покрасить"]],
            "replace": True,
        },
    ],
}


def test_a_region_file_adds_replaces_and_disables_rules(tmp_path: Path) -> None:
    path = tmp_path / "region.toml"
    path.write_text(
        'version = 1\n[settings]\ndisable = ["graffiti"]\n'
        '[[rules]]\nid = "bridge"\nlevel = "urgent"\nlabel = "мост"\n'
        'parts = [["мост"], ["трещина", "шататься"]]\n',
        encoding="utf-8",
    )
    det = UrgencyDetector.from_files(path)
    assert "bridge" in det.rule_ids and "graffiti" not in det.rule_ids
    assert det.detect_raw("мост через овраг шатается").level is U
    assert det.detect_raw("граффити на стене").level is N
    assert default_detector().detect_raw("граффити на стене").level is Q

    det = UrgencyDetector.from_mapping(EXTRA)
    assert det.detect_raw("скамейку надо покрасить").level is Q
    assert det.detect_raw("сломана скамейка").level is N  # the bundled rule was replaced
    assert det.detect_raw("в гимназии не топят").level is U  # extended intensifier
    assert default_detector().detect_raw("в гимназии не топят").level is N


def test_only_the_extension_file_when_asked() -> None:
    det = UrgencyDetector.from_mapping({"rules": EXTRA["rules"][:1]}, bundled=False)
    assert det.rule_ids == ("bridge",)
    assert det.detect_raw("открытый люк").level is N


def test_exact_forms_and_numbers_in_patterns() -> None:
    rule = {"id": "x", "level": "urgent", "label": "x", "parts": [["=горит"], ["<num> этаж"]]}
    det = UrgencyDetector.from_mapping({"rules": [rule]}, bundled=False)
    assert det.detect_raw("горит 5 этаж").evidence == ("горит 5 этаж",)
    assert det.detect_raw("на пятом этаже горит, уже три этажа").level is U  # «три» is a number
    assert det.detect_raw("горело на 5 этаже").level is N  # another form of «гореть»
    assert det.detect_raw("горит этаж").level is N


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        (
            {"rules": [{"id": "люк", "level": "urgent", "label": "x", "parts": [["люк"]]}]},
            "rules[0].id",
            "should match pattern",
        ),
        (
            {"rules": [{"id": "x", "level": "severe", "label": "x", "parts": [["люк"]]}]},
            "rules[0].level",
            "'urgent' or 'quick'",
        ),
        (
            {"rules": [{"id": "x", "level": "urgent", "label": "x", "parts": [["люк"], []]}]},
            "rules[0]",
            "every part needs at least one phrase",
        ),
        (
            {
                "rules": [
                    {"id": "x", "level": "quick", "label": "x", "parts": [["a"]], "weight": 0.5}
                ]
            },
            "rules[0]",
            "weight and fallback apply to urgent rules only",
        ),
        (
            {"intensifiers": [{"name": "x", "bonus": 3, "phrases": ["a"]}]},
            "intensifiers[0].bonus",
            "less than or equal to 1",
        ),
        ({"settings": {"windw": 3}}, "settings.windw", "Extra inputs are not permitted"),
    ],
)
def test_invalid_pattern_files_name_the_key(data: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        UrgencyDetector.from_mapping(data)
    assert info.value.path == "<mapping>"
    assert any(loc == where and message in msg for loc, msg in info.value.problems)


def test_conflicting_rules_are_refused() -> None:
    rule = {"id": "bench", "level": "quick", "label": "x", "parts": [["скамейка"]]}
    with pytest.raises(ConfigError, match=r"'bench' is already defined in .*urgency_patterns"):
        UrgencyDetector.from_mapping({"rules": [rule]})
    with pytest.raises(ConfigError, match="there is no rule 'nope' to replace"):
        UrgencyDetector.from_mapping({"rules": [{**rule, "id": "nope", "replace": True}]})
    with pytest.raises(ConfigError, match="unknown rule 'nope'"):
        UrgencyDetector.from_mapping({"settings": {"disable": ["nope"]}})
    with pytest.raises(ConfigError, match="must be a single word"):
        UrgencyDetector.from_mapping({"settings": {"negators": ["вовсе не"]}})
    with pytest.raises(ConfigError, match="has no words"):
        UrgencyDetector.from_mapping({"rules": [{**rule, "id": "empty", "parts": [["!!"]]}]})


def test_unreadable_pattern_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read urgency patterns") as info:
        read_pattern_file(tmp_path / "missing.toml")
    assert info.value.path == str(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]\nid = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        UrgencyDetector.from_files(bad)


EXAMPLES = {
    "manhole-open": "люк без крышки",
    "pipe-burst": "прорвало трубу в подвале",
    "boiling-water": "кипяток течет по улице",
    "water-fountain": "фонтан из-под асфальта",
    "flooding": "подвал затопило кипятком",
    "sewage-spill": "из колодца течет канализация",
    "outage": "нет электричества",
    "outage-none": "сидим ни света ни воды",
    "hot-water-outage": "вторую неделю нет горячей воды",
    "no-heat": "дети сидят в куртках, не топят",
    "tree-fallen": "упал тополь",
    "tree-danger": "береза накренилась над дорогой",
    "tree-dry": "сухое дерево над детской площадкой",
    "wire-down": "кабель лежит на земле",
    "wire-hanging": "провода висят над детской площадкой",
    "sparks": "в щитке замыкание",
    "electric-box-open": "трансформаторная будка открыта",
    "pole-fallen": "столб накренился",
    "ice-entrance": "наледь у входа в поликлинику",
    "ice": "скользко, дети падают",
    "icicles": "глыба снега над тротуаром",
    "gas": "утечка газа",
    "collapse": "обрушился балкон",
    "collapse-fear": "угроза обрушения",
    "pit-fall": "мужчина упал в траншею",
    "pit-unfenced": "яма без ограждения",
    "ground-collapse": "провал асфальта посреди дороги",
    "dogs-attack": "собака укусила",
    "dogs-aggressive": "агрессивная стая собак у школы",
    "traffic-light": "светофор не работает",
    "fire": "в доме пожар",
    "fire-burning": "горит сарай",
    "smoke": "дым в подъезде",
    "lift-stuck": "застрял в лифте",
    "lift-between-floors": "встал между этажами",
    "lift-fall": "лифт упал",
    "bench": "лавочка сломана",
    "playground": "карусель сломана",
    "lamp": "фонарь не горит",
    "stair-light": "в подъезде не горит свет",
    "bin": "контейнеры переполнены",
    "stop-litter": "мусор на остановке",
    "yard-pothole": "яма во дворе",
    "entrance-door": "сломан доводчик на двери",
    "graffiti": "изрисовали стену",
    "sign-fallen": "знак упал",
    "broken-window": "в подъезде разбито окно",
}


def test_bundled_file_is_valid() -> None:
    patterns = read_pattern_file(bundled_patterns_path())
    assert set(default_detector().rule_ids) == {r.id for r in patterns.rules}
    assert {r.level for r in patterns.rules} == {"urgent", "quick"}


@pytest.mark.parametrize("rule", sorted(EXAMPLES))
def test_every_bundled_rule_fires_on_its_example(rule: str) -> None:
    assert set(EXAMPLES) == set(default_detector().rule_ids)
    result = default_detector().detect_raw(EXAMPLES[rule])
    assert rule in result.rules
    assert result.level is (Q if rule in QUICK_RULES else U)


QUICK_RULES = {r.id for r in read_pattern_file(bundled_patterns_path()).rules if r.level == "quick"}


# --------------------------------------------------------------------------- plugin
def make_engine(region: RegionConfig, db_url: str, clock: FrozenClock, *plugins: Any) -> Engine:
    repo = SqlRepository(normalize_url(db_url))
    repo.migrate()
    return Engine(region, repo, entry_points=False, clock=clock, plugins=plugins)


def test_plugin_registers_the_classifier(small_region: RegionConfig) -> None:
    pm = make_plugin_manager(entry_points=False, plugins=[urgency_plugin])
    comps = collect_components(pm, make_context(small_region))
    reg = next(r for r in comps.classifiers if r.name == "urgency")
    assert isinstance(reg.component, UrgencyClassifier)
    # the bundled patterns plus the region's own urgent and quick keywords
    rules = reg.component.detector.rule_ids
    assert set(default_detector().rule_ids) < set(rules)
    assert "region.zhkh.heating.urgent1" in rules and "region.roads.quick1" in rules


def test_classifier_answers_urgency_only() -> None:
    clf = UrgencyClassifier(default_detector())
    c = clf.classify(msg("1", "x"), Text.from_raw("Упало дерево на провода во дворе"))
    assert c is not None
    assert (c.topic, c.confidence, c.urgency) == (None, 0.0, U)
    assert c.evidence == ("упало дерево", "упало дерево на провода")
    assert clf.classify(msg("2", "x"), Text.from_raw("когда отремонтируют стадион")) is None


def test_engine_puts_hazards_on_the_urgent_track(
    small_region: RegionConfig, db_url: str, clock: FrozenClock
) -> None:
    texts = {
        "wire": "В Тольятти на ул. Мира, 5 оборванный провод лежит на тротуаре, искрит",
        "bench": "Тольятти, ул. Мира, 7: сломана скамейка у подъезда",
        "bus": "Тольятти, автобус 41 не пришёл, стоим на остановке час",
    }
    with make_engine(small_region, db_url, clock, urgency_plugin) as engine:
        engine.process([msg(k, t) for k, t in texts.items()])
        by_key = {i.summary: i for i in engine.incidents()}
        wire, bench, bus = (by_key[t] for t in texts.values())
        assert (wire.urgency, wire.sla_policy) == (U, "urgent")
        assert bench.urgency is Q
        assert (bus.urgency, bus.sla_policy) == (N, "default")
        cls = engine.classify(msg("x", texts["wire"]), Text.from_raw(texts["wire"]))
        assert cls is not None and cls.urgency is U
    # the same message without the plugin: nothing else sees anything urgent
    off = small_region.model_copy(
        update={
            "pipeline": small_region.pipeline.model_copy(update={"disabled_plugins": ["urgency"]})
        }
    )
    with Engine.from_config(off, db=":memory:", entry_points=False) as plain:
        cls = plain.classify(msg("x", texts["wire"]), Text.from_raw(texts["wire"]))
        assert cls is None or cls.urgency is not U


# --------------------------------------------------------------------------- sanitary norms
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # СанПиН 1.2.3685-21: a living room at least +18 °C, a corner room +20 °C
        ("В квартире +17, батареи холодные.", U),  # below the norm, nobody vulnerable
        ("В квартире +15, мама лежачая, отопления нет.", U),
        ("В комнате 16 градусов, ребёнок мёрзнет.", U),
        ("В угловой комнате +19, холодно.", U),  # a corner room's norm is +20
        ("В квартире +19, батареи еле тёплые, лежачая мама мёрзнет.", N),  # at the norm
        ("Батареи чуть тёплые, но в квартире +21, терпимо.", N),
        ("На улице −20, в квартире +22, спасибо теплосети.", N),  # outdoor figures are not read
        ("Горячая вода еле тёплая, 40 градусов.", N),  # water, not a room
    ],
)
def test_indoor_temperature_against_the_norm(text: str, expected: Urgency) -> None:
    assert level(text) == expected


def level_at(text: str, at: datetime, norms: IndoorNorms | None = None) -> Urgency:
    return default_detector().detect(Text.from_raw(text), at=at, norms=norms).level


SAMARA = timezone(timedelta(hours=4))


def test_the_norms_hold_in_the_heating_season_only() -> None:
    """ПП РФ № 354: the indoor norm is the heating service's; in July a cool flat or no
    heating is no emergency, in January it is."""
    july, january = (
        datetime(2026, 7, 15, 12, tzinfo=SAMARA),
        datetime(2027, 1, 15, 12, tzinfo=SAMARA),
    )
    for text in ("В квартире +15, холодно.", "Нет отопления, батареи холодные третий день."):
        assert level_at(text, january) == U, text
        assert level_at(text, july) == N, text
    # what is no heating matter stays urgent all year
    assert level_at("Открытый люк во дворе, дети гуляют рядом.", july) == U
    # a region may keep its own season
    norms = IndoorNorms.for_climate(None, [9, 10, 11, 12, 1, 2, 3, 4, 5])
    may = datetime(2026, 5, 10, 12, tzinfo=SAMARA)
    assert level_at("В квартире +15, холодно.", may, norms) == U
    assert level_at("В квартире +15, холодно.", may) == N


def test_the_night_allowance_and_a_cold_climate() -> None:
    """At night (00:00–05:00) up to 3 °C lower is normal; where the coldest five-day period is
    −31 °C or colder a living room must have +20 °C, a corner one +22 °C."""
    night, day = datetime(2026, 12, 15, 3, tzinfo=SAMARA), datetime(2026, 12, 15, 12, tzinfo=SAMARA)
    assert level_at("В квартире +16, холодно.", day) == U
    assert level_at("В квартире +16, холодно.", night) == N  # 18 − 3 = 15
    assert level_at("В квартире +14, холодно.", night) == U
    siberia = IndoorNorms.for_climate(-37)
    assert (siberia.living, siberia.corner) == (20.0, 22.0)
    assert IndoorNorms.for_climate(-27).living == 18.0
    assert level_at("В квартире +19, батареи еле тёплые.", day, siberia) == U
    assert level_at("В квартире +19, батареи еле тёплые.", day) == N
    assert level_at("В угловой комнате +21.", day, siberia) == U


def test_degrees_that_are_not_a_room_are_not_read() -> None:
    assert level("Купили 3 батареи, угол наклона 15 градусов.") == N
    assert level("Температура подачи теплоносителя 45 градусов.") == N


def test_vulnerable_people_raise_the_stakes_without_a_figure() -> None:
    assert level("Холодно в квартире, дома грудной ребёнок.") == U
    assert level("Холодно в квартире, батареи еле тёплые.") != U


@pytest.mark.parametrize(
    "text",
    [
        "Угрозы жизни нет, но во дворе сломаны качели.",
        "Никакой опасности нет, просто некрасиво покрашен забор.",
        "Без угрозы для жизни, но скамейка шатается.",
    ],
)
def test_a_denied_danger_is_no_emergency(text: str) -> None:
    assert level(text) != U


def test_a_problem_that_is_over_now_is_not_urgent() -> None:
    assert level("Раньше был открытый люк на ул. Мира, сейчас всё нормально.") == N
    assert level("Был открытый люк, до сих пор открыт, дети ходят рядом.") == U
    assert level("Воды нет уже сутки в доме.") == U  # «нет» after water is the problem
