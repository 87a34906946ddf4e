"""The docs say what the code does: hooks, example plugins, states, configuration fields.

- every hookspec has a ``### name(args)`` section in docs/plugins.md with
  its exact arguments and an example implementing it;
- every example plugin on that page (a ``python`` block starting with
  ``# tsur_<name>.py``) runs in a real engine on the bundled region and
  does what the page says;
- the status table in docs/architecture.md is :data:`tsur.TRANSITIONS`;
- every field of every section model of the region file is described in
  its section of docs/configuration.md;
- relative links between the docs point at files that exist.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import re
import sys
import types
import typing
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from pydantic import BaseModel

import tsur
from tests.conftest import SMALL_REGION
from tsur import hookspecs, testing
from tsur.adapters import build_adapter
from tsur.lifecycle import Lifecycle

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PLUGINS_MD = DOCS / "plugins.md"
SAMARA = timezone(timedelta(hours=4))


def read(name: str) -> str:
    return (DOCS / name).read_text("utf-8")


def section(text: str, heading: str) -> str:
    """The text under the first heading line equal to ``heading``, up to the next
    heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        pytest.fail(f"no heading {heading!r}")
    out = []
    fenced = False
    for line in lines[start + 1 :]:
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#{1,6}) ", line)
        if m and len(m.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


# hooks --------------------------------------------------------------------------
def hookspec_functions() -> dict[str, Callable[..., Any]]:
    specs = {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
    }
    assert specs, "no hookspecs found"
    return specs


HOOK_HEADING = re.compile(r"^### (\w+)\(([^)]*)\)\s*$", re.MULTILINE)


def test_every_hook_is_documented_with_its_signature() -> None:
    text = PLUGINS_MD.read_text("utf-8")
    found = HOOK_HEADING.findall(text)
    twice = [name for name, n in Counter(name for name, _ in found).items() if n > 1]
    assert not twice, f"hooks documented twice: {twice}"
    documented = {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in found}
    specs = hookspec_functions()
    for name, fn in specs.items():
        assert name in documented, f"docs/plugins.md has no '### {name}(...)' section"
        expected = list(inspect.signature(fn).parameters)
        assert documented[name] == expected, (
            f"docs/plugins.md documents {name}({', '.join(documented[name])}), "
            f"the hookspec is {name}({', '.join(expected)})"
        )
    unknown = set(documented) - set(specs)
    assert not unknown, f"docs/plugins.md documents hooks that do not exist: {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hook_section_has_an_example(name: str) -> None:
    text = PLUGINS_MD.read_text("utf-8")
    args = ", ".join(inspect.signature(hookspec_functions()[name]).parameters)
    body = section(text, f"### {name}({args})")
    assert "@tsur.hookimpl" in body and f"def {name}(" in body, f"{name}: no example plugin"


# example plugins ------------------------------------------------------------------
EXAMPLE_BLOCK = re.compile(r"```python\n(# (tsur_\w+)\.py\n.*?)```", re.DOTALL)


def example_plugins() -> dict[str, str]:
    return {name: code for code, name in EXAMPLE_BLOCK.findall(PLUGINS_MD.read_text("utf-8"))}


MESSAGES = [
    tsur.Message(
        source="vk",
        external_id="gas",
        text="В подъезде сильно пахнет газом, Самара, ул. Гагарина, 10",
        created_at=datetime(2026, 11, 16, 11, 0, tzinfo=SAMARA),
    ),
    tsur.Message(
        source="vk",
        external_id="kvartal",
        text="В 12 квартале вторую неделю не вывозят мусор с контейнерной площадки",
        created_at=datetime(2026, 11, 16, 11, 5, tzinfo=SAMARA),
    ),
    tsur.Message(
        source="telegram",
        external_id="night",  # Saturday, 23:30
        text="Открытый люк на Революционной в Тольятти, ребёнок чуть не упал!",
        created_at=datetime(2026, 11, 14, 23, 30, tzinfo=SAMARA),
    ),
    tsur.Message(
        source="ok",
        external_id="chain",
        text="Перешлите всем! В Самаре завтра отключат воду во всех домах на неделю, это не фейк",
        created_at=datetime(2026, 11, 16, 12, 0, tzinfo=SAMARA),
    ),
]


def incident_of(engine: tsur.Engine, external_id: str) -> tsur.Incident:
    (stored,) = [
        s for s in engine.repository.messages(limit=100) if s.message.external_id == external_id
    ]
    assert stored.incident_id is not None, stored
    return engine.incident(stored.incident_id)


def check_hello(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    renderer = engine.components.report_renderers["json-line"].component
    assert renderer.render({"всего": 4}) == '{"всего": 4}'.encode()


def check_hotline_csv(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text(
        "call_id;started_at;phone;summary\n"
        "122-0001;2026-11-16T09:05:00+04:00;+7 927 000-00-00;"
        "Нет отопления в Сызрани, ул. Советская, 3\n",
        encoding="utf-8",
    )
    source = tsur.Source(
        id="hotline",
        kind="hotline",
        name="122",
        options={"adapter": "hotline_csv", "path": str(calls)},
    )
    adapter = build_adapter(engine.components, engine.context, source)
    with pytest.raises(tsur.ConfigError, match=r"options\.pth: Extra inputs are not permitted"):
        build_adapter(
            engine.components,
            engine.context,
            attrs.evolve(source, options={"adapter": "hotline_csv", "pth": "x"}),
        )
    first = adapter.fetch(None)
    assert [m.external_id for m in first.messages] == ["122-0001"] and first.cursor == "1"
    assert adapter.fetch(first.cursor) == tsur.FetchResult([], "1")
    assert engine.ingest(first.messages).inserted == 1
    with pytest.raises(tsur.AdapterError, match="unreadable row"):
        adapter.parse("call_id;started_at;summary\n1;вчера;текст")


def check_gas_smell(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    inc = incident_of(engine, "gas")
    # urgent gas goes to the round-the-clock emergency dispatch (104), by the region's rules
    assert (inc.topic, inc.urgency, inc.executor) == (
        "zhkh.gas",
        tsur.Urgency.URGENT,
        "gazprom-gr-ads",
    )
    assert any(e.actor == "keywords+gas-smell" for e in inc.history)


def check_tlt_kvartal(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    assert engine.components.names("locators") == [
        "explicit",
        "gazetteer",
        "tlt-kvartal",
        "geotag",
        "source",
    ]
    assert incident_of(engine, "kvartal").territory == "tolyatti-avtozavodsky"


def check_night_duty(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    night = incident_of(engine, "night")
    assert night.executor == engine.config.region.curator
    assert any(e.actor == "night-duty" and e.to_status is tsur.Status.ROUTED for e in night.history)
    # office hours: the rules (urgent gas to the emergency dispatch)
    assert incident_of(engine, "gas").executor == "gazprom-gr-ads"


def check_chain_letters(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    inc = incident_of(engine, "chain")
    assert inc.status is tsur.Status.TRIAGE
    assert any("possible fake (переслать весь, это не фейк)" in e.reason for e in inc.history)


def check_duty_chat(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    assert engine.components.names("notifiers") == ["log"]  # no [plugins.duty_chat] table
    configured = region_with(engine, plugins={"duty_chat": {"chat_id": "-100500"}})
    with pytest.raises(tsur.ConfigError, match="DUTY_BOT_TOKEN"):
        tsur.Engine(configured, engine.repository, plugin_manager=engine.pm)
    os.environ["DUTY_BOT_TOKEN"] = "TOKEN"
    try:
        chatty = tsur.Engine(configured, engine.repository, plugin_manager=engine.pm)
    finally:
        del os.environ["DUTY_BOT_TOKEN"]
    assert chatty.components.names("notifiers") == ["log", "duty-chat"]
    broken = region_with(engine, plugins={"duty_chat": {"chatid": "-1"}})
    with pytest.raises(tsur.ConfigError) as err:
        tsur.Engine(broken, engine.repository, plugin_manager=engine.pm)
    assert {loc for loc, _ in err.value.problems} == {
        "plugins.duty_chat.chat_id",
        "plugins.duty_chat.chatid",
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    with testing.mock_client(handler) as client:
        chat = module.DutyChat("TOKEN", "-100500", client=client)
        at = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
        chat.notify(
            tsur.Notification(
                "routed", 1, at, ("gazprom-gr",), "Новое обращение: газ", {"urgency": "urgent"}
            )
        )
        chat.notify(
            tsur.Notification(
                "routed", 2, at, ("adm-samara",), "Новое обращение: яма", {"urgency": "normal"}
            )
        )
    (request,) = seen
    assert str(request.url) == "https://api.telegram.org/botTOKEN/sendMessage"
    assert request.read().decode() == (
        '{"chat_id":"-100500","text":"Новое обращение: газ\\nИсполнитель: gazprom-gr"}'
    )


def check_markdown_report(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    counts = engine.repository.count_incidents("topic")
    report = {
        "region": engine.config.region.name,
        "by_topic": [{"topic": k, "incidents": v} for k, v in counts.items()],
    }
    text = engine.components.report_renderers["md"].component.render(report).decode()
    assert text.startswith("**region**: Самарская область\n\n### by_topic\n\n| topic | incidents |")


def check_poll(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    from tsur.cli import main

    region, export = tmp_path / "region.toml", tmp_path / "export.jsonl"
    region.write_text(
        SMALL_REGION.read_text("utf-8")
        + '\n[[sources]]\nid = "export"\nkind = "file"\nname = "Выгрузка"\n'
        f'options = {{ adapter = "jsonl", path = "{export.as_posix()}" }}\n',
        "utf-8",
    )
    export.write_text(
        '{"source": "export", "external_id": "c-1", "created_at": "2026-11-16T09:05:00+04:00", '
        '"text": "В Тольятти на дороге яма"}\n',
        "utf-8",
    )
    pm = tsur.make_plugin_manager(entry_points=False, plugins=[module])
    argv = ["poll", "export", "--config", str(region), "--db", str(tmp_path / "tsur.db")]
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(argv, pm=pm) == 0
        outputs.append(out.getvalue().strip())
    assert outputs == ["export: новых 1, уже были 0", "export: новых 0, уже были 0"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([argv[0], "nope", *argv[2:]], pm=pm) == 2


def check_startup_check(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    pass  # the log lines are checked in test_example_plugin_works


def check_backlog(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    [watcher] = engine.components.watchers[-1:]
    assert watcher.name == "backlog" and watcher.component.limit == 1000  # the default
    strict = tsur.Engine(
        region_with(engine, plugins={"backlog": {"max_pending": 1}}),
        engine.repository,
        plugin_manager=engine.pm,
        clock=engine.clock,
    )
    strict.ingest([attrs.evolve(MESSAGES[0], external_id=f"b{i}") for i in range(3)])
    life = Lifecycle(strict, post_replies=False)
    first, again = life.tick(), life.tick()
    assert (first.watched, again.watched) == (1, 0)  # once an hour, however often it ticks
    with pytest.raises(tsur.ConfigError, match=r"plugins\.backlog\.max_pending"):
        tsur.Engine(
            region_with(engine, plugins={"backlog": {"max_pending": 0}}),
            engine.repository,
            plugin_manager=engine.pm,
        )


def check_quiet_source(engine: tsur.Engine, module: types.ModuleType, tmp_path: Path) -> None:
    assert "quiet-source" in engine.components.names("watchers")
    watcher = engine.components.watchers[-1].component
    later = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    said = list(watcher.watch(later))
    assert {n.text.split(" нет ")[0] for n in said} == {
        "Из источника vk",
        "Из источника telegram",
        "Из источника ok",
    }
    monday = [n.text for n in watcher.watch(datetime(2026, 11, 16, 13, 0, tzinfo=UTC))]
    assert monday == ["Из источника telegram нет сообщений с 14.11 23:30"]  # since Saturday


CHECKS: dict[str, Callable[[tsur.Engine, types.ModuleType, Path], None]] = {
    "tsur_hello": check_hello,
    "tsur_hotline_csv": check_hotline_csv,
    "tsur_gas_smell": check_gas_smell,
    "tsur_tlt_kvartal": check_tlt_kvartal,
    "tsur_night_duty": check_night_duty,
    "tsur_chain_letters": check_chain_letters,
    "tsur_duty_chat": check_duty_chat,
    "tsur_markdown_report": check_markdown_report,
    "tsur_poll": check_poll,
    "tsur_startup_check": check_startup_check,
    "tsur_backlog": check_backlog,
    "tsur_quiet_source": check_quiet_source,
}


def region_with(engine: tsur.Engine, **sections: Any) -> tsur.RegionConfig:
    """The engine's region file with ``sections`` replaced."""
    return engine.config.model_copy(update=sections)


def test_every_example_plugin_is_checked() -> None:
    assert set(example_plugins()) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_plugin_works(
    name: str,
    bundled_region: tsur.RegionConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("DUTY_BOT_TOKEN", raising=False)
    module = types.ModuleType(name)
    module.__file__ = f"{PLUGINS_MD}:{name}.py"
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(example_plugins()[name], module.__file__, "exec"), module.__dict__)

    pm = tsur.make_plugin_manager(entry_points=False, plugins=[module])
    with caplog.at_level(logging.INFO):
        engine = tsur.Engine(
            bundled_region,
            tsur.open_repository(":memory:"),
            plugin_manager=pm,
            clock=lambda: datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
        )
    with engine:
        report = engine.process(MESSAGES)
        assert (report.processed, report.failed) == (4, 0)
        CHECKS[name](engine, module, tmp_path)
    if name == "tsur_startup_check":
        (ready,) = [r.getMessage() for r in caplog.records if r.name == "tsur_startup_check"]
        assert ready.startswith("engine ready: region 63,")
        assert "routers ['rules', 'topic-executors']" in ready


# the tutorial ------------------------------------------------------------------------
TUTORIAL_PLUGIN = ROOT / "examples" / "custom_source_plugin"


def test_the_tutorial_quotes_the_example_plugin_verbatim() -> None:
    body = section(PLUGINS_MD.read_text("utf-8"), "## Your first plugin")
    module = (TUTORIAL_PLUGIN / "tsur_city_portal" / "__init__.py").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", body, re.DOTALL)
    assert len(blocks) >= 7
    for block in blocks:
        assert block.strip("\n") in module, f"not in the example plugin:\n{block}"
    pyproject = (TUTORIAL_PLUGIN / "pyproject.toml").read_text("utf-8")
    assert (
        'city_portal = "tsur_city_portal"' in pyproject and 'name = "tsur-city-portal"' in pyproject
    )


def test_the_testing_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The "Testing a plugin" code, run as written against the tutorial plugin."""
    body = section(PLUGINS_MD.read_text("utf-8"), "## Testing a plugin")
    [code] = re.findall(r"```python\n(.*?)```", body, re.DOTALL)
    monkeypatch.syspath_prepend(str(TUTORIAL_PLUGIN))
    namespace: dict[str, Any] = {"__name__": "plugin_tests"}
    exec(compile(code, "plugins.md:testing", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()


def test_the_tutorial_plugin_imports_nothing_private() -> None:
    import ast

    tree = ast.parse((TUTORIAL_PLUGIN / "tsur_city_portal" / "__init__.py").read_text("utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module] + [
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    ]
    tsur_modules = [m for m in imported if m.split(".")[0] == "tsur"]
    assert tsur_modules, "the tutorial plugin should use tsur"
    assert all(not part.startswith("_") for m in tsur_modules for part in m.split(".")), (
        tsur_modules
    )


# the state machine -------------------------------------------------------------------
STATE_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|(.*)\|\s*$")


def test_architecture_state_table_is_the_state_machine() -> None:
    body = section(read("architecture.md"), "## Incident statuses")
    table: dict[str, set[str]] = {}
    for line in body.splitlines():
        m = STATE_ROW.match(line)
        if m:
            assert m.group(1) not in table, f"status {m.group(1)} listed twice"
            table[m.group(1)] = set(re.findall(r"`(\w+)`", m.group(2)))
    expected = {s.value: {t.value for t in targets} for s, targets in tsur.TRANSITIONS.items()}
    assert table == expected


# configuration fields ----------------------------------------------------------------
def _models(annotation: Any) -> list[type[BaseModel]]:
    """Section models inside an annotation (``list[X]``, ``X | None`` …), durations aside."""
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return [annotation]
        return []
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def config_sections() -> list[tuple[str, type[BaseModel]]]:
    """(heading key, model) for every table of the region file: ``[region]``,
    ``[[territories]]``, ``[[topics.seasonal]]`` …"""
    out: list[tuple[str, type[BaseModel]]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            for sub in _models(field.annotation):
                key = f"{prefix}.{name}" if prefix else name
                is_list = typing.get_origin(field.annotation) is list
                out.append((f"[[{key}]]" if is_list else f"[{key}]", sub))
                walk(sub, key)

    walk(tsur.RegionConfig, "")
    return out


def test_every_config_field_is_described_in_its_section() -> None:
    text = read("configuration.md")
    headings = {
        line.split(" ", 1)[1].split(" ", 1)[0]: line
        for line in text.splitlines()
        if re.match(r"^#{2,4} \[", line)
    }
    sections = config_sections()
    assert len(sections) >= 11
    missing = []
    for key, model in sections:
        assert key in headings, f"docs/configuration.md has no section for {key}"
        body = section(text, headings[key])
        missing += [f"{key} {name}" for name in model.model_fields if f"`{name}`" not in body]
    assert not missing, f"fields not described in their section: {missing}"


# links ----------------------------------------------------------------------------------
@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_relative_links_point_at_files(page: str) -> None:
    text = read(page)
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (DOCS / target).exists(), f"{page}: broken link {target}"


# the README ------------------------------------------------------------------------------
def test_the_readme_embedding_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    first_lines = readme.split("## ", 1)[0]
    assert "pip install . && tsur demo" in first_lines
    assert "pip install -e '.[test]' && python -m pytest" in first_lines
    [code] = re.findall(r"```python\n(.*?)```", section(readme, "## Embedding"), re.DOTALL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TSUR_PLUGINS", "")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().startswith(
        "1 Люки и колодцы Тольятти Администрация городского округа Тольятти urgent "
    )
    assert (tmp_path / "tsur.db").exists()


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_every_link_between_the_docs_lands_on_a_heading() -> None:
    docs = {p.name: p for p in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]}
    anchors = {
        name: {_slug(h) for h in re.findall(r"^#+ (.+)$", p.read_text("utf-8"), re.M)}
        for name, p in docs.items()
    }
    broken = []
    for name, path in docs.items():
        for target, anchor in re.findall(
            r"\]\(([\w./-]*\.md)?#([^)\s]+)\)", path.read_text("utf-8")
        ):
            where = Path(target).name if target else name
            if where in anchors and anchor not in anchors[where]:
                broken.append(f"{name}: {target}#{anchor}")
    assert broken == []
