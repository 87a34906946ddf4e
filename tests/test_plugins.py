"""Hooks: registration checks and how several plugins' answers combine."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any

import pydantic
import pytest

import tsur
from tsur import Classification, Engine, Location, PluginError, RouteDecision, Urgency, hookimpl
from tsur.plugins import DEFAULT_PLUGINS, collect_components, make_plugin_manager
from tsur.testing import make_context

from .helpers import msg


class FixedClassifier:
    def __init__(
        self,
        topic: str | None,
        confidence: float,
        urgency: Urgency | None = None,
        evidence: tuple[str, ...] = (),
    ) -> None:
        self.answer = Classification(topic, confidence, urgency, evidence)

    def classify(self, message: Any, text: Any) -> Classification:
        return self.answer


class FixedLocator:
    def __init__(self, territory: str | None) -> None:
        self.territory = territory

    def locate(self, message: Any, text: Any) -> Location | None:
        return Location(self.territory, 0.5, ("fixed",)) if self.territory else None


def plugin(**hooks: Any) -> object:
    """A throwaway plugin object whose hooks register the given components."""

    class P:
        pass

    p = P()
    for hook, items in hooks.items():

        def impl(register: Any, _items: Any = items) -> None:
            for name, component, kw in _items:
                register(name, component, **kw)

        impl.__name__ = hook
        setattr(p, hook, hookimpl(impl))
    return p


def engine_with(region: Any, *plugins: object, defaults: bool = True) -> Engine:
    pm = make_plugin_manager(defaults=defaults, entry_points=False, plugins=plugins)
    return Engine(region, tsur.open_repository(":memory:"), plugin_manager=pm)


@pytest.fixture
def region(small_region: Any) -> Any:
    return small_region


def test_built_ins_are_ordinary_plugins(region: Any) -> None:
    pm = make_plugin_manager(entry_points=False)
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert set(DEFAULT_PLUGINS) <= names
    comps = collect_components(pm, make_context(region))
    assert comps.names("classifiers") == ["keywords", "urgency"]
    assert comps.names("locators") == ["explicit", "gazetteer", "geotag", "source"]
    assert comps.names("routers") == ["rules", "topic-executors"]
    assert "jsonl" in comps.names("source_adapters")
    assert {"json", "csv"} <= set(comps.names("report_renderers"))


def test_without_defaults_nothing_is_registered(region: Any) -> None:
    comps = collect_components(
        make_plugin_manager(defaults=False, entry_points=False), make_context(region)
    )
    assert all(comps.names(k) == [] for k in ("classifiers", "locators", "routers", "notifiers"))


def test_duplicate_names_are_an_error_naming_both_plugins(region: Any) -> None:
    p = plugin(register_classifiers=[("keywords", FixedClassifier("roads", 1.0), {})])
    pm = make_plugin_manager(entry_points=False, plugins=[p])
    with pytest.raises(PluginError) as info:
        collect_components(pm, make_context(region))
    text = str(info.value)
    assert "name 'keywords' is already registered by plugin 'tsur.default_plugins.keywords'" in text
    assert text.startswith("plugin '")


def test_component_without_its_method_is_refused(region: Any) -> None:
    p = plugin(register_routers=[("bad", object(), {})])
    with pytest.raises(PluginError, match="component 'bad' has no route\\(\\) method"):
        collect_components(
            make_plugin_manager(entry_points=False, plugins=[p]), make_context(region)
        )


def test_a_crashing_hook_is_reported_with_its_plugin(region: Any) -> None:
    class Broken:
        @hookimpl
        def register_locators(self, register: Any) -> None:
            raise KeyError("gazetteer file")

    with pytest.raises(PluginError, match="register_locators failed: 'gazetteer file'"):
        collect_components(
            make_plugin_manager(entry_points=False, plugins=[Broken()]), make_context(region)
        )


def test_classifiers_vote_with_weights(region: Any) -> None:
    p = plugin(
        register_classifiers=[
            ("a", FixedClassifier("roads", 0.9, evidence=("яма",)), {"weight": 1.0}),
            ("b", FixedClassifier("transport", 0.8, Urgency.QUICK), {"weight": 1.0}),
            ("c", FixedClassifier("transport", 0.6, Urgency.URGENT), {"weight": 2.0}),
        ]
    )
    eng = engine_with(region, p, defaults=False)
    m = msg("1", "текст")
    result = eng.classify(m, tsur.Text.from_raw(m.text))
    assert result is not None
    # roads 0.9; transport 0.8 + 2 × 0.6 = 2.0; total weight 4
    assert result.topic == "transport"
    assert result.confidence == pytest.approx(0.5)
    assert result.urgency is Urgency.URGENT  # the most pressing urgency of any voter
    assert result.classifier == "b+c"


def test_runner_ups_combine_votes_and_alternatives_and_never_decide(region: Any) -> None:
    class WithAlternatives:
        def classify(self, message: Any, text: Any) -> Classification:
            return Classification("roads", 0.6, alternatives=[("health", 0.3), ("space", 0.2)])

    p = plugin(
        register_classifiers=[
            ("a", WithAlternatives(), {"weight": 1.0}),
            ("b", FixedClassifier("transport", 0.4), {"weight": 1.0}),
        ]
    )
    eng = engine_with(region, p, defaults=False)
    m = msg("1", "текст")
    result = eng.classify(m, tsur.Text.from_raw(m.text))
    assert result is not None and result.topic == "roads"
    # per unit of weight: transport 0.4 / 2, health 0.3 / 2; an unknown topic is left out
    assert result.alternatives == (("transport", 0.2), ("health", 0.15))


@pytest.mark.parametrize(
    "alternatives",
    [[("", 0.5)], [("roads", 1.5)], [("roads", float("nan"))], [("roads", "high")]],
)
def test_bad_alternatives_are_refused(alternatives: Any) -> None:
    with pytest.raises(ValueError, match="alternative"):
        Classification("roads", 0.5, alternatives=alternatives)


def test_a_classifier_naming_an_unknown_topic_fails_the_message(region: Any) -> None:
    p = plugin(register_classifiers=[("x", FixedClassifier("space", 1.0), {})])
    eng = engine_with(region, p)
    eng.process([msg("1", "яма в Тольятти")])
    (failed,) = eng.repository.messages(status="failed")
    assert failed.error == "classifier 'x' returned unknown topic 'space'"


def test_locators_first_answer_by_priority_wins(region: Any) -> None:
    p = plugin(
        register_locators=[
            ("low", FixedLocator("sela"), {"priority": 60}),
            ("silent", FixedLocator(None), {"priority": 1000}),
            ("lowest", FixedLocator("volzhsky"), {"priority": -5}),
        ]
    )
    eng = engine_with(region, p)
    m = msg("1", "яма в Тольятти")  # the gazetteer (priority 50) would say Тольятти
    loc = eng.locate(m, tsur.Text.from_raw(m.text))
    assert loc is not None and (loc.territory, loc.locator) == ("sela", "low")


def test_routers_first_answer_by_priority_and_curator_fallback(region: Any) -> None:
    class Always:
        def route(self, incident: Any, config: Any) -> RouteDecision:
            return RouteDecision("minzdrav", "always")

    eng = engine_with(region, plugin(register_routers=[("always", Always(), {"priority": 500})]))
    eng.process([msg("1", "яма в Тольятти")])
    assert eng.incidents()[0].executor == "minzdrav"

    bare = engine_with(region, defaults=False)
    bare.process([msg("2", "яма в Тольятти")])
    inc = bare.incidents()[0]
    assert inc.executor == "cur"


def test_a_router_naming_an_unknown_executor_fails_the_message(region: Any) -> None:
    class Wrong:
        def route(self, incident: Any, config: Any) -> RouteDecision:
            return RouteDecision("nobody", "bug")

    eng = engine_with(region, plugin(register_routers=[("wrong", Wrong(), {"priority": 500})]))
    eng.process([msg("1", "яма в Тольятти")])
    assert eng.repository.messages(status="failed")[0].error == (
        "router 'wrong' chose unknown executor 'nobody'"
    )


def test_moderation_filters_all_apply(region: Any) -> None:
    class Flag:
        def check(self, message: Any, text: Any) -> list[tsur.ModerationVerdict]:
            return [tsur.ModerationVerdict("flag", "possible fake")]

    class Reject:
        def check(self, message: Any, text: Any) -> list[tsur.ModerationVerdict]:
            if "реклама" in message.text:
                return [tsur.ModerationVerdict("reject", "advertising (city list)")]
            return []

    eng = engine_with(
        region, plugin(register_moderation_filters=[("flag", Flag(), {}), ("reject", Reject(), {})])
    )
    eng.process([msg("1", "яма в Тольятти"), msg("2", "реклама яма в Тольятти")])
    (inc,) = eng.incidents()
    assert inc.status is tsur.Status.TRIAGE  # flagged for a curator
    rejected = eng.repository.messages(status="rejected")[0]
    assert rejected.error == "advertising (city list)"
    assert {v["filter"] for v in rejected.moderation} == {"flag", "reject"}


def test_notifiers_fan_out_and_one_failure_does_not_stop_others(region: Any) -> None:
    got: list[str] = []

    class Good:
        def notify(self, n: Any) -> None:
            got.append(n.kind)

    class Bad:
        def notify(self, n: Any) -> None:
            raise ConnectionError("smtp down")

    eng = engine_with(region, plugin(register_notifiers=[("bad", Bad(), {}), ("good", Good(), {})]))
    eng.process([msg("1", "яма в Тольятти")])
    assert got == ["routed"]


def test_disabled_plugins_from_the_region_file(region: Any) -> None:
    cfg = region.model_copy(
        update={"pipeline": region.pipeline.model_copy(update={"disabled_plugins": ["gazetteer"]})}
    )
    comps = collect_components(make_plugin_manager(entry_points=False), make_context(cfg))
    assert "gazetteer" not in comps.names("locators")


def test_prepare_engine_hook_sees_the_engine(region: Any) -> None:
    seen: list[Engine] = []

    class Prep:
        @hookimpl
        def prepare_engine(self, engine: Engine) -> None:
            seen.append(engine)

    eng = engine_with(region, Prep())
    assert seen == [eng]


def test_tracing_logs_every_hook_call(
    region: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Prepares:
        @hookimpl
        def prepare_engine(self, engine: Any) -> None:
            pass

    monkeypatch.setenv("TSUR_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.DEBUG, logger="tsur.plugins"):
        engine_with(region, Prepares())
    traces = "\n".join(r.getMessage() for r in caplog.records if r.name == "tsur.plugins")
    for hook in (
        "register_settings",
        "register_classifiers",
        "register_locators",
        "register_routers",
        "register_source_adapters",
        "prepare_engine",
    ):
        assert hook in traces, hook


def test_built_in_classifier_locator_and_moderation_can_be_replaced(region: Any) -> None:
    """A region switches the built-ins off and a third-party plugin takes their place."""

    class Everything:
        def classify(self, message: Any, text: Any) -> Classification:
            return Classification("health", 0.9, None, ("всё о здоровье",))

        def locate(self, message: Any, text: Any) -> Location:
            return Location("volzhsky", 0.8, ("своя карта",))

        def check(self, message: Any, text: Any) -> list[tsur.ModerationVerdict]:
            return [tsur.ModerationVerdict("mask", "own masking", masked_text="***")]

    thing = Everything()
    cfg = region.model_copy(
        update={
            "pipeline": region.pipeline.model_copy(
                update={
                    "disabled_plugins": [
                        "keywords",
                        "gazetteer",
                        "masking",
                        "spam",
                        "not-an-appeal",
                    ]
                }
            )
        }
    )
    p = plugin(
        register_classifiers=[("region-classifier", thing, {})],
        register_locators=[("region-map", thing, {"priority": 60})],
        register_moderation_filters=[("region-masking", thing, {})],
    )
    eng = Engine(cfg, tsur.open_repository(":memory:"), entry_points=False, plugins=[p])
    assert "keywords" not in eng.components.names("classifiers")
    assert "gazetteer" not in eng.components.names("locators")
    eng.process([msg("1", "В Тольятти огромная яма на дороге")])
    (inc,) = eng.incidents()
    assert (inc.topic, inc.territory, inc.summary) == ("health", "volzhsky", "***")


# called through pluggy ---------------------------------------------------------------
def test_hook_calls_are_seen_by_monitoring_and_wrappers(region: Any) -> None:
    seen: list[tuple[str, list[str]]] = []
    wrapped: list[str] = []

    class Around:
        @hookimpl(wrapper=True)
        def register_routers(self, register: Any, context: Any) -> Any:
            wrapped.append(context.plugin)
            return (yield)

    pm = make_plugin_manager(entry_points=False, plugins=[Around()])
    pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls])),
        lambda outcome, name, impls, kwargs: None,
    )
    engine = Engine(region, tsur.open_repository(":memory:"), plugin_manager=pm)
    routers = [impls for name, impls in seen if name == "register_routers"]
    # one call per plugin, each with the wrapper around it
    assert sorted(i[0] for i in routers) == [
        "tsur.default_plugins.models",
        "tsur.default_plugins.routing",
    ]
    assert all(impls[-1].endswith("Around") for impls in routers)
    assert sorted(wrapped) == ["tsur.default_plugins.models", "tsur.default_plugins.routing"]
    assert engine.components.names("routers") == ["rules", "topic-executors"]


# settings ------------------------------------------------------------------------------
class CitySettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    radius_km: float = pydantic.Field(gt=0)
    label: str = "город"


class CityPlugin:
    def __init__(self) -> None:
        self.given: list[Any] = []

    @hookimpl
    def register_settings(self, register: Any) -> None:
        register("city", CitySettings)

    @hookimpl
    def register_locators(self, register: Any, context: Any) -> None:
        self.given.append(context.settings)


def with_plugins_table(region: Any, **tables: Any) -> Any:
    return region.model_copy(update={"plugins": tables})


def test_a_plugin_gets_its_validated_settings(region: Any) -> None:
    p = CityPlugin()
    engine_with(with_plugins_table(region, city={"radius_km": 5}), p)
    assert p.given == [CitySettings(radius_km=5)]


def test_bad_settings_name_the_file_and_the_key(small_region: Any) -> None:
    bad = with_plugins_table(small_region, city={"radius_km": -1, "colour": "red"})
    with pytest.raises(tsur.ConfigError) as err:
        engine_with(bad, CityPlugin())
    assert err.value.path == small_region.origin
    assert str(err.value).startswith(f"{small_region.origin}: invalid plugin settings")
    assert sorted(loc for loc, _ in err.value.problems) == [  # each key once
        "plugins.city.colour",
        "plugins.city.radius_km",
    ]


def test_a_table_no_plugin_declares_is_an_error(region: Any) -> None:
    with pytest.raises(tsur.ConfigError) as err:
        engine_with(with_plugins_table(region, ctiy={"radius_km": 5}), CityPlugin())
    [(loc, msg)] = err.value.problems
    assert loc == "plugins.ctiy" and "declared: city, locators, moderation" in msg


def test_a_missing_table_gives_defaults_or_nothing(region: Any) -> None:
    p = CityPlugin()
    engine_with(region, p)
    assert p.given == [None]  # radius_km is required: not configured

    class Optional(pydantic.BaseModel):
        label: str = "город"

    class Q:
        def __init__(self) -> None:
            self.given: list[Any] = []

        @hookimpl
        def register_settings(self, register: Any) -> None:
            register("q", Optional)

        @hookimpl
        def register_locators(self, register: Any, context: Any) -> None:
            self.given.append(context.settings)

    q = Q()
    engine_with(region, q)
    assert q.given == [Optional()]


def test_settings_names_are_each_plugins_own(region: Any) -> None:
    class Twice:
        @hookimpl
        def register_settings(self, register: Any) -> None:
            register("one", CitySettings)
            register("two", CitySettings)

    with pytest.raises(PluginError, match="a plugin declares one settings table"):
        engine_with(region, Twice())

    class Clash:
        @hookimpl
        def register_settings(self, register: Any) -> None:
            register("locators", CitySettings)

    with pytest.raises(PluginError, match="'locators' is already declared by plugin"):
        engine_with(region, Clash())

    class NotAModel:
        @hookimpl
        def register_settings(self, register: Any) -> None:
            register("x", dict)

    with pytest.raises(PluginError, match="must be a pydantic model class"):
        engine_with(region, NotAModel())


def test_built_in_plugins_read_their_settings_too(region: Any) -> None:
    engine = engine_with(
        with_plugins_table(
            region,
            locators={"geotag_radius_km": 3},
            moderation={"abuse_threshold": 1},
        )
    )
    geotag = next(r for r in engine.components.locators if r.name == "geotag")
    masking = next(r for r in engine.components.moderation_filters if r.name == "masking")
    assert geotag.component.radius_km == 3 and masking.component.abuse_threshold == 1


# the engine's lemmatiser is the only one -------------------------------------------------
LEMMATIZER_SCRIPT = """
import json, sys
from datetime import datetime, timezone, timedelta
import tsur
from tsur.text.normalize import get_lemmatizer

class Counting(tsur.Lemmatizer):
    def __init__(self):
        super().__init__()
        self.words = set()
    def lemma(self, word):
        self.words.add(word)
        return super().lemma(word)

lem = Counting()
engine = tsur.Engine(tsur.load_region(), tsur.open_repository(":memory:"),
                     entry_points=False, lemmatizer=lem)
at = datetime(2026, 11, 16, 9, 0, tzinfo=timezone(timedelta(hours=4)))
texts = ["В Тольятти на ул. Мира, 5 открытый люк, рядом школа!",
         "Щорса, 86 — течёт крыша, управляющая компания не отвечает",
         "Спасибо администрации за ремонт дороги"]
report = engine.process([tsur.Message("vk", str(i), t, at) for i, t in enumerate(texts)])
print(json.dumps({
    "global_made": get_lemmatizer.cache_info().currsize,
    "processed": report.processed,
    "failed": report.failed,
    "saw": sorted(lem.words & {"люк", "крыша", "щорса", "администрации"}),
}))
"""


def test_the_engines_lemmatizer_is_the_only_one_a_run_uses() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LEMMATIZER_SCRIPT],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "TSUR_PLUGINS": ""},
        check=True,
        timeout=300,
    )
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["global_made"] == 0  # the process-wide lemmatiser was never even created
    assert (got["processed"], got["failed"]) == (3, 0)
    assert got["saw"] == ["администрации", "крыша", "люк", "щорса"]


# a quiet library ------------------------------------------------------------------------
QUIET_SCRIPT = """
import logging, sys
from datetime import datetime, timezone, timedelta
import tsur
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(self.format(record))
at = datetime(2026, 11, 16, 9, 0, tzinfo=timezone(timedelta(hours=4)))
text = "Иванов Пётр, тел. 8 927 123-45-67: на ул. Мира, 5 открытый люк"
if sys.argv[1] == "debug":
    logging.getLogger().addHandler(Keep())
    logging.getLogger().setLevel(logging.DEBUG)
with tsur.Engine.from_config(entry_points=False) as engine:
    engine.process([tsur.Message("vk", "1", text, at),
                    tsur.Message("vk", "2", "Купите окна недорого, скидки! Звоните", at)])
print("\\n".join(records))
"""


def test_the_library_prints_nothing_and_logs_no_citizens_text() -> None:
    env = {**os.environ, "TSUR_PLUGINS": ""}
    quiet = subprocess.run(
        [sys.executable, "-c", QUIET_SCRIPT, "quiet"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        check=True,
        timeout=300,
    )
    assert (quiet.stdout.strip(), quiet.stderr.strip()) == ("", "")
    debug = subprocess.run(
        [sys.executable, "-c", QUIET_SCRIPT, "debug"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        check=True,
        timeout=300,
    )
    logged = debug.stdout
    assert "ingest from api: 2 new" in logged  # the application asked for debug records
    for private in ("Иванов", "927", "123-45-67", "люк", "окна"):
        assert private not in logged, private
