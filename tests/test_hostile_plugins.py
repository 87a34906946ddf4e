"""A plugin's mistakes cost its own message, are named, and never stall the others.

Every case here is an attack on the plugin contract: answers of the wrong
type or out of range, hooks that raise, wrappers that swallow errors,
settings models that misbehave, adapters that fail to start.
"""

from __future__ import annotations

import math
import types
from typing import Any

import pluggy
import pydantic
import pytest

import tsur
import tsur.intake
from tsur import (
    Classification,
    ModerationVerdict,
    PluginError,
    RouteDecision,
    hookimpl,
)
from tsur.plugins import call_each, collect_components, make_plugin_manager
from tsur.testing import FixedClock, make_context, message

TEXT = "На улице Ленина 5 в Тольятти огромная яма на дороге"


def engine(region: Any, *plugins: object, clock: Any = None) -> tsur.Engine:
    pm = make_plugin_manager(entry_points=False, plugins=plugins)
    kw = {"clock": clock} if clock is not None else {}
    return tsur.Engine(region, tsur.open_repository(":memory:"), plugin_manager=pm, **kw)


class Poison:
    """A classifier that answers badly for messages containing «яд»."""

    def __init__(self, bad: Any) -> None:
        self.bad = bad

    def classify(self, msg: Any, text: Any) -> Any:
        return self.bad() if "яд" in msg.text else None

    @hookimpl
    def register_classifiers(self, register: Any) -> None:
        register("poison", self)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda: Classification("roads", math.nan), "confidence must be a number from 0 to 1"),
        (lambda: Classification("roads", 7.5), "confidence must be a number from 0 to 1"),
        (lambda: Classification("roads", -3), "confidence must be a number from 0 to 1"),
        (lambda: Classification("roads", 0.5, urgency="soon"), "'soon' is not a valid Urgency"),
        (lambda: Classification(5, 0.5), "'topic' must be <class 'str'>"),  # type: ignore[arg-type]
        (
            lambda: types.SimpleNamespace(topic="roads", confidence=0.9),
            "classifier 'poison' returned SimpleNamespace, not a Classification",
        ),
    ],
)
def test_a_bad_classifier_answer_fails_its_message_only(
    small_region: Any, bad: Any, reason: str
) -> None:
    eng = engine(small_region, Poison(bad))
    report = eng.process(
        [
            message(TEXT, external_id="a"),
            message("яд: " + TEXT, external_id="b"),
            message("В Тольятти на улице Мира 3 нет отопления", external_id="c"),
        ]
    )
    assert (report.processed, report.failed) == (3, 1)
    [failed] = eng.repository.messages(status="failed")
    assert failed.message.external_id == "b"
    assert failed.error_stage == "classify" and reason in failed.error
    assert len(eng.incidents()) == 2
    assert eng.repository.message_counts().get("pending", 0) == 0


class BadRouter:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def route(self, incident: Any, analysis: Any) -> Any:
        return self.answer()

    @hookimpl
    def register_routers(self, register: Any) -> None:
        register("bad", self, priority=1000)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (lambda: RouteDecision("teplo", object()), "'reason' must be <class 'str'>"),  # type: ignore[arg-type]
        (lambda: RouteDecision("", "why"), "executor must be a non-empty string"),
        (lambda: {"executor": "teplo"}, "router 'bad' returned dict, not a RouteDecision"),
    ],
)
def test_a_bad_route_fails_its_message_naming_the_router(
    small_region: Any, answer: Any, reason: str
) -> None:
    eng = engine(small_region, BadRouter(answer))
    report = eng.process([message(TEXT)])
    assert report.failed == 1
    [failed] = eng.repository.messages(status="failed")
    assert failed.error_stage == "route" and reason in failed.error


@pytest.mark.parametrize(
    "kw",
    [
        {"weight": math.nan},
        {"weight": math.inf},
        {"weight": 0},
        {"weight": -1.0},
        {"weight": True},
        {"weight": "1"},
        {"priority": 1.5},
        {"priority": "high"},
    ],
)
def test_weights_and_priorities_are_checked_at_registration(small_region: Any, kw: Any) -> None:
    class P:
        @hookimpl
        def register_classifiers(self, register: Any) -> None:
            register("c", Poison(lambda: None), **kw)

    with pytest.raises(PluginError, match=r"(weight|priority) of 'c' must be"):
        engine(small_region, P())


def test_a_plugin_passed_as_a_class_is_named_by_the_class() -> None:
    class Helper:
        @staticmethod
        @hookimpl
        def register_locators(register: Any) -> None:
            pass

    pm = make_plugin_manager(entry_points=False, plugins=[Helper])
    assert pm.get_name(Helper).endswith(".Helper")  # type: ignore[union-attr]
    assert "builtins" not in (pm.get_name(Helper) or "")


def test_prepare_engine_failing_is_a_plugin_error(small_region: Any) -> None:
    class Boom:
        @hookimpl
        def prepare_engine(self, engine: Any) -> None:
            raise RuntimeError("no licence")

    with pytest.raises(PluginError, match="prepare_engine failed: no licence") as err:
        engine(small_region, Boom())
    assert err.value.plugin is not None and "Boom" in err.value.plugin


# the call contract -------------------------------------------------------------------
def test_two_implementations_of_one_hook_in_one_plugin_are_each_called_once(
    small_region: Any,
) -> None:
    calls: list[str] = []

    class Two:
        @hookimpl(specname="register_classifiers")
        def first(self, register: Any) -> None:
            calls.append("first")
            register("a", Poison(lambda: None))

        @hookimpl(specname="register_classifiers")
        def second(self, register: Any) -> None:
            calls.append("second")
            register("b", Poison(lambda: None))

    comps = collect_components(
        make_plugin_manager(entry_points=False, plugins=[Two()]), make_context(small_region)
    )
    assert sorted(calls) == ["first", "second"]
    assert {"a", "b"} <= set(comps.names("classifiers"))


def test_tryfirst_plugins_are_called_first_and_trylast_last() -> None:
    order: list[str] = []

    def make(label: str, **opts: Any) -> object:
        class P:
            @hookimpl(**opts)
            def register_locators(self, register: Any) -> None:
                order.append(label)

        P.__qualname__ = f"P_{label}"
        return P()

    pm = make_plugin_manager(
        defaults=False,
        entry_points=False,
        plugins=[make("last", trylast=True), make("plain"), make("first", tryfirst=True)],
    )
    call_each(
        pm,
        "register_locators",
        lambda _name: {"register": lambda *a, **k: None, "context": None},
    )
    assert order == ["first", "plain", "last"]


def test_a_wrapper_cannot_hide_another_plugins_registration_error(small_region: Any) -> None:
    class Swallower:
        @hookimpl(wrapper=True)
        def register_classifiers(self, register: Any) -> Any:
            try:
                return (yield)
            except Exception:
                return None

    class Duplicate:
        @hookimpl
        def register_classifiers(self, register: Any) -> None:
            register("keywords", Poison(lambda: None))  # the built-in's name

    with pytest.raises(PluginError, match="name 'keywords' is already registered"):
        engine(small_region, Swallower(), Duplicate())


# settings ------------------------------------------------------------------------------
def settings_plugin(model: Any, table: str = "city") -> object:
    class P:
        @hookimpl
        def register_settings(self, register: Any) -> None:
            register(table, model)

    return P()


def with_tables(region: Any, **tables: Any) -> Any:
    return region.model_copy(update={"plugins": tables})


@pytest.mark.parametrize("exc", [TypeError, KeyError, RuntimeError])
def test_a_settings_model_that_crashes_is_the_plugins_error(
    small_region: Any, exc: type[Exception]
) -> None:
    class Crashing(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(validate_default=True)  # defaults are checked too

        radius: int = 1

        @pydantic.field_validator("radius")
        @classmethod
        def boom(cls, v: int) -> int:
            raise exc("validator bug")

    for region in (with_tables(small_region, city={"radius": 2}), small_region):
        with pytest.raises(PluginError, match=r"settings model Crashing of \[plugins\.city\]"):
            engine(region, settings_plugin(Crashing))


def test_the_base_model_itself_is_not_a_settings_model(small_region: Any) -> None:
    with pytest.raises(PluginError, match="a subclass of BaseModel"):
        engine(small_region, settings_plugin(pydantic.BaseModel))


def test_a_misspelt_setting_is_an_error_even_if_the_model_ignores_extras(
    small_region: Any,
) -> None:
    class Lenient(pydantic.BaseModel):  # extra="ignore", pydantic's default
        max_pending: int = 5

    with pytest.raises(tsur.ConfigError) as err:
        engine(with_tables(small_region, city={"max_pendng": 10}), settings_plugin(Lenient))
    assert ("plugins.city.max_pendng", "unknown setting") in err.value.problems

    class Open(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")

    engine(with_tables(small_region, city={"anything": 1}), settings_plugin(Open))


def test_a_table_of_a_disabled_plugin_says_the_plugin_is_disabled(
    small_region: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSUR_DISABLE_PLUGINS", "tsur.default_plugins.locators")
    with pytest.raises(tsur.ConfigError) as err:
        engine(with_tables(small_region, locators={}))
    [(loc, why)] = err.value.problems
    assert loc == "plugins.locators"
    assert "disabled plugins: tsur.default_plugins.locators" in why


def test_huge_moderation_settings_are_refused_naming_the_key(small_region: Any) -> None:
    for value in (math.inf, 1e300):
        with pytest.raises(tsur.ConfigError) as err:
            engine(with_tables(small_region, moderation={"repeat_window_minutes": value}))
        assert [loc for loc, _ in err.value.problems] == [
            "plugins.moderation.repeat_window_minutes"
        ]


# what a plugin is given ------------------------------------------------------------------
def test_a_plugin_cannot_change_the_region_for_the_others(small_region: Any) -> None:
    ctx = make_context(small_region)
    region = ctx.region
    with pytest.raises(TypeError):
        del region.territories["tolyatti"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        region.executors["x"] = region.executors[region.curator]  # type: ignore[index]
    executor = next(iter(region.executors.values()))
    with pytest.raises(TypeError):
        executor.contacts["email"] = "evil@example.org"  # type: ignore[index]
    source = next(iter(region.sources.values()))
    with pytest.raises(TypeError):
        source.options["adapter"] = "other"  # type: ignore[index]


# moderation ---------------------------------------------------------------------------------
class Masker:
    def __init__(self, word: str, label: str) -> None:
        self.word, self.label, self.seen = word, label, ""

    def check(self, msg: Any, text: Any) -> list[ModerationVerdict]:
        self.seen = msg.text
        if self.word not in msg.text:
            return []
        return [ModerationVerdict("mask", self.label, msg.text.replace(self.word, self.label))]


def test_masks_compose_so_a_later_filter_never_unmasks(small_region: Any) -> None:
    first, second = Masker("Иванов", "[фамилия]"), Masker("А123ВС", "[номер]")

    class P:
        @hookimpl
        def register_moderation_filters(self, register: Any) -> None:
            register("surnames", first, priority=50)
            register("plates", second, priority=40)

    eng = engine(small_region, P())
    eng.process([message(TEXT + ", машина А123ВС Иванова Петра мешает", external_id="m")])
    [inc] = eng.incidents()
    assert "Иванов" not in second.seen  # the second filter read the masked text
    assert "[фамилия]" in inc.summary and "[номер]" in inc.summary
    assert "Иванов" not in inc.summary and "А123ВС" not in inc.summary


def test_an_empty_mask_hides_everything(small_region: Any) -> None:
    class Blank:
        def check(self, msg: Any, text: Any) -> list[ModerationVerdict]:
            return [ModerationVerdict("mask", "passport", "")]

        @hookimpl
        def register_moderation_filters(self, register: Any) -> None:
            register("blank", self)

    # the built-in masker off: the plugin's empty mask alone must hide the text
    region = small_region.model_copy(
        update={
            "pipeline": small_region.pipeline.model_copy(update={"disabled_plugins": ["masking"]})
        }
    )
    eng = engine(region, Blank())
    eng.process([message(TEXT + " паспорт 3604 123456")])
    [inc] = eng.incidents()
    assert inc.summary == ""


def test_a_mask_verdict_needs_its_text() -> None:
    with pytest.raises(ValueError, match="a mask verdict needs masked_text"):
        ModerationVerdict("mask", "passport")


# ingest and the lost reopen race -------------------------------------------------------------
def test_an_item_that_is_not_a_message_is_kept_and_the_rest_stored(small_region: Any) -> None:
    eng = engine(small_region)
    report = eng.ingest([message(TEXT, external_id="ok"), 42, None])  # type: ignore[list-item]
    assert report.inserted == 1
    assert [str(e) for e in report.errors] == [
        "api:2: not a message: int",
        "api:3: not a message: NoneType",
    ]
    assert [r.line for r in eng.repository.rejected_inputs()] == [2, 3]


def test_a_reply_joins_an_incident_another_worker_reopened_first(
    small_region: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock()
    eng = engine(small_region, clock=clock)
    eng.process([message("В Тольятти на улице Ленина 5 нет отопления", external_id="p1")])
    [first] = eng.incidents()
    for status in ("in_progress", "resolved"):
        eng.transition(first.id, status, actor="test")
    clock.advance(hours=2)

    from tsur.store.batch import SqlBatch
    from tsur.store.schema import incidents

    apply = SqlBatch.apply

    def another_worker_reopens_first(self: SqlBatch, outcome: Any) -> Any:
        if outcome.kind == "reopened":  # between our lookup and our write
            self.conn.execute(
                incidents.update()
                .where(incidents.c.id == outcome.incident_id)
                .values(status="reopened")
            )
        return apply(self, outcome)

    monkeypatch.setattr(SqlBatch, "apply", another_worker_reopens_first)
    report = eng.process(
        [message("всё ещё холодно", external_id="p2", parent_id="p1", thread_id="p1")]
    )
    assert (report.created, report.merged) == (0, 1)
    [only] = eng.incidents()
    assert only.id == first.id and only.status == "reopened"
    assert len(eng.repository.messages(incident_id=first.id)) == 2


# entry points ----------------------------------------------------------------------------------
def install_broken_entry_point(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "tsur_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tsur-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tsur]\nbroken = tsur_broken_missing_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TSUR_PLUGINS", raising=False)


def test_an_installed_plugin_that_cannot_import_is_named_with_the_way_out(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install_broken_entry_point(tmp_path, monkeypatch)
    with pytest.raises(PluginError) as err:
        make_plugin_manager()
    text = str(err.value)
    assert "installed plugin 'broken' (tsur_broken_missing_module) cannot be loaded" in text
    assert "ModuleNotFoundError" in text and "TSUR_DISABLE_PLUGINS=broken" in text

    from tsur.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("tsur ")
    assert main(["config"]) == 2
    assert "TSUR_DISABLE_PLUGINS=broken" in capsys.readouterr().err

    monkeypatch.setenv("TSUR_DISABLE_PLUGINS", "broken")
    assert "tsur.default_plugins.keywords" in {
        name for name, _ in make_plugin_manager().list_name_plugin()
    }


def test_pluggy_validation_of_an_entry_point_is_still_named(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "tsur_typo_plugin.py"
    pkg.write_text("import tsur\n\n@tsur.hookimpl\ndef register_clasifiers(register):\n    pass\n")
    dist = tmp_path / "tsur_typo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tsur-typo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tsur]\ntypo = tsur_typo_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="is the hook name misspelt"):
        make_plugin_manager()


def test_pluggy_is_what_calls_the_hooks() -> None:
    pm = make_plugin_manager(entry_points=False)
    assert isinstance(pm, pluggy.PluginManager)


# adapters --------------------------------------------------------------------------------------
def adapter_plugin(factory: Any) -> object:
    class P:
        @hookimpl
        def register_source_adapters(self, register: Any) -> None:
            register("written", factory)

    return P()


def test_an_adapter_that_fails_to_start_is_named(small_region: Any) -> None:
    def factory(source: Any, context: Any) -> Any:
        raise RuntimeError("no route to host")

    eng = engine(small_region, adapter_plugin(factory))
    with pytest.raises(tsur.AdapterError) as err:
        tsur.adapters.make_adapter(eng, "written")
    assert err.value.source == "written"
    assert "failed to start: RuntimeError: no route to host" in str(err.value)


@pytest.mark.parametrize("result", [None, 42, object()])
def test_a_factory_must_return_an_adapter(small_region: Any, result: Any) -> None:
    eng = engine(small_region, adapter_plugin(lambda source, context: result))
    with pytest.raises(tsur.AdapterError, match="none of fetch\\(\\), parse\\(\\), reply\\(\\)"):
        tsur.adapters.make_adapter(eng, "written")


def test_a_misspelt_runtime_argument_is_an_error_not_the_real_network(small_region: Any) -> None:
    eng = engine(small_region)
    client = tsur.testing.mock_client(lambda request: None)
    with pytest.raises(tsur.AdapterError, match="takes no clinet="):
        tsur.adapters.make_adapter(eng, "vk", clinet=client)

    class Plain:
        def __init__(self, source: Any, context: Any) -> None:
            pass

        def parse(self, payload: bytes) -> Any:
            return []

    eng = engine(small_region, adapter_plugin(Plain))
    with pytest.raises(tsur.AdapterError, match="takes no client="):
        tsur.adapters.make_adapter(eng, "written", client=client)


def test_options_model_must_be_a_pydantic_model(small_region: Any) -> None:
    def factory(source: Any, context: Any) -> Any:
        return None

    factory.options_model = dict  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="options_model of 'written' must be a pydantic model"):
        engine(small_region, adapter_plugin(factory))


def test_a_failing_fetch_is_named_and_the_cursor_stays(small_region: Any) -> None:
    class Flaky:
        calls = 0

        def __init__(self, source: Any, context: Any) -> None:
            pass

        def fetch(self, cursor: str | None) -> tsur.FetchResult:
            Flaky.calls += 1
            if Flaky.calls > 1:
                raise OSError("disk full")
            return tsur.FetchResult(
                [message("письмо: " + TEXT, source="written", external_id="w1")], "page-1", True
            )

    eng = engine(small_region, adapter_plugin(Flaky))
    with pytest.raises(tsur.AdapterError, match="fetch failed: OSError: disk full"):
        tsur.intake.collect(eng, "written")
    assert eng.repository.get_cursor("written") == "page-1"  # the good page is kept
    assert eng.repository.message_counts() == {"pending": 1}


def test_a_push_only_adapter_cannot_be_polled(small_region: Any) -> None:
    class PushOnly:
        def __init__(self, source: Any, context: Any) -> None:
            pass

        def parse(self, payload: bytes) -> Any:
            return []

    eng = engine(small_region, adapter_plugin(PushOnly))
    with pytest.raises(tsur.AdapterError, match="cannot be polled"):
        tsur.intake.collect(eng, "written")


def test_a_hook_function_without_the_marker_is_reported(small_region: Any) -> None:
    class Forgot:
        def register_routers(self, register: Any, context: Any) -> None:  # no @hookimpl
            register("never", BadRouter(lambda: None))

    with pytest.warns(tsur.PluginWarning, match=r"register_routers\(\) without @tsur.hookimpl"):
        make_plugin_manager(entry_points=False, plugins=[Forgot()])


def test_plugins_given_with_a_manager_join_it(small_region: Any) -> None:
    pm = make_plugin_manager(entry_points=False)
    router = BadRouter(lambda: RouteDecision("teplo", "своё правило"))
    eng = tsur.Engine(
        small_region, tsur.open_repository(":memory:"), plugin_manager=pm, plugins=[router]
    )
    assert "bad" in eng.components.names("routers")
    eng.process([message(TEXT)])
    [inc] = eng.incidents()
    assert inc.executor == "teplo"


def test_a_router_cannot_change_the_incident_it_is_shown(small_region: Any) -> None:
    class Meddler:
        def route(self, incident: Any, analysis: Any) -> RouteDecision:
            incident.topic = "health"
            incident.data["when"] = {1, 2}  # not even storable
            incident.history[0].data.clear()  # an event is frozen, its data a dict
            incident.history.clear()
            return RouteDecision("teplo", "своё правило")

        @hookimpl
        def register_routers(self, register: Any) -> None:
            register("meddler", self, priority=1000)

    eng = engine(small_region, Meddler())
    report = eng.process([message(TEXT)])
    assert (report.created, report.failed) == (1, 0)
    [inc] = eng.incidents()
    assert inc.topic == "roads" and inc.executor == "teplo" and "when" not in inc.data
    first = eng.incident(inc.id).history[0]
    assert first.kind == "received" and set(first.data) == {"message_id", "external_id"}


def test_numbers_of_other_kinds_are_confidences_too() -> None:
    from decimal import Decimal
    from fractions import Fraction

    for value in (Decimal("0.8"), Fraction(4, 5), 1):
        assert Classification("roads", value).confidence == pytest.approx(float(value))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"must be a number from 0 to 1, got '0\.8'"):
        Classification("roads", "0.8")  # type: ignore[arg-type]


def test_settings_aliases_are_keys_not_typos(small_region: Any) -> None:
    class Aliased(pydantic.BaseModel):
        radius: int = pydantic.Field(
            1, validation_alias=pydantic.AliasChoices("radius", "radius_km")
        )

    eng = engine(with_tables(small_region, city={"radius_km": 3}), settings_plugin(Aliased))
    assert eng.components.settings["tests.test_hostile_plugins.settings_plugin.<locals>.P"] == (
        Aliased(radius_km=3)
    )


def test_a_misspelt_plugin_module_is_named() -> None:
    with pytest.raises(PluginError, match="cannot import plugin module 'tsur_helo'"):
        make_plugin_manager(entry_points=False, plugins=["tsur_helo"])


def test_a_property_named_like_a_hook_that_raises_is_not_a_crash() -> None:
    class Odd:
        @property
        def register_routers(self) -> Any:
            raise RuntimeError("not a hook")

    make_plugin_manager(entry_points=False, plugins=[Odd()])  # no exception, no warning


def test_payload_names_cannot_leave_the_payloads() -> None:
    for name in ("../regions/small.toml", "/etc/passwd", ".hidden", "README.md/../x"):
        with pytest.raises(FileNotFoundError):
            tsur.testing.payload(name)
