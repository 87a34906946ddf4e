"""The import layers of tsur, and no import cycles — deferred and type-only imports included.

Every ``import`` in ``src/tsur`` counts: at the top of a module, inside a
function, under ``if TYPE_CHECKING:``; so do the packages an import runs
first (``tsur.sla`` for ``tsur.sla.deadlines``; the root package, the public
facade, aside) and modules named in a string to be imported by name (the
built-in plugin lists, ``importlib.import_module``). A module may import modules of its
own layer or of a lower one, never of a higher one, and no two modules may
import each other, however indirectly. The layers, lowest first:

1. the domain: errors, domain types, the version, roles and API keys;
2. what reads and computes without the engine: configuration, text,
   calendars, the wire schema, shared secrets, models;
3. the region and what decides on it, without storage: the region's
   domain view, deadlines, geometry, the analysis of a message, grouping,
   the routers, the decision core;
4. storage and what plugins are given: the store, the context, the
   components' protocols (with the view of an engine that adapters and
   analytics take), the hook specifications, the registry of components,
   the run reports, access decisions on API keys;
5. adapters and analytics, on that view of an engine;
6. the built-in components (``default_plugins`` but the commands);
7. the plugin manager, which registers them;
8. the engine;
9. the lifecycle, intake and the long-running worker;
10. embedding helpers: the service (``tsur.server``), ``tsur.testing``;
11. what commands share (``tsur.console``);
12. tsur's own commands (``default_plugins.commands`` and its siblings);
13. the command line, which registers them, and the package root.

Within layer 5 adapters do not import analytics; the lifecycle does not
import analytics either.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
#: the modules of tsur's own commands (the built-in components sit far lower)
COMMANDS = (
    "commands",
    "source_commands",
    "lifecycle_commands",
    "report_commands",
    "model_commands",
    "classify_command",
    "serve",
    "keys_commands",
    "region_commands",
)

LAYERS: list[tuple[str, ...]] = [
    ("tsur.errors", "tsur.domain", "tsur._version", "tsur.roles"),
    (
        "tsur.config",
        "tsur.text",
        "tsur.sla",
        "tsur.wire",
        "tsur.security",
        "tsur.ml",
        "tsur.components",
        "tsur.stages",
    ),
    (
        "tsur.region",
        "tsur.sla.deadlines",
        "tsur.geometry",
        "tsur.analysis",
        "tsur.grouping",
        "tsur.routing",
        "tsur.decide",
    ),
    (
        "tsur.store",
        "tsur.context",
        "tsur.protocols",
        "tsur.hookspecs",
        "tsur.runs",
        "tsur.reading",
        "tsur.delivery",
        "tsur.access",
    ),
    ("tsur.adapters", "tsur.analytics"),
    ("tsur.default_plugins",),
    ("tsur.plugins",),
    ("tsur.pipeline",),
    ("tsur.lifecycle", "tsur.intake", "tsur.worker"),
    ("tsur.server", "tsur.testing"),
    ("tsur.console",),
    tuple(f"tsur.default_plugins.{name}" for name in COMMANDS),
    ("tsur.cli", "tsur", "tsur.__main__"),
]
#: Within a layer: (importer prefix, imported prefix) that must not happen.
FORBIDDEN = [
    ("tsur.adapters", "tsur.analytics"),
    ("tsur.analytics", "tsur.adapters"),
    ("tsur.lifecycle", "tsur.analytics"),
]


def modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "tsur").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported tsur module, line) for every import in ``path``, wherever it stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield from _with_packages(name, target, node.lineno)
    # Modules listed by name to be imported with importlib (a tuple of plugin modules, an
    # import_module call) count too; a logger named after a module does not.
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Tuple | ast.List):
            names = node.elts
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            names = node.args[:1]
        else:
            continue
        for item in names:
            value = item.value if isinstance(item, ast.Constant) else None
            if isinstance(value, str) and value in MODULES and value not in ("tsur", name):
                yield from _with_packages(name, value, item.lineno)


def _with_packages(importer: str, target: str, line: int) -> Iterator[tuple[str, int]]:
    """``target`` and the packages importing it runs first (a/__init__, a/b/__init__ for
    a.b.c), but not the root package (the public facade at the top) nor the importer's own."""
    yield target, line
    parent = target.rpartition(".")[0]
    while parent and parent != "tsur":
        if parent in MODULES and parent != importer and not importer.startswith(parent + "."):
            yield parent, line
        parent = parent.rpartition(".")[0]


GRAPH = {
    name: sorted({t for t, _ in imports_of(name, path) if t != "tsur" or name == "tsur"})
    for name, path in MODULES.items()
}


def layer_of(name: str) -> int:
    best = (-1, -1)  # (length of the matching prefix, layer)
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best[0]:
                best = (len(p), i)
    assert best[1] >= 0, f"{name} is in no layer: add it to LAYERS"
    return best[1]


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name: str) -> None:
    mine = layer_of(name)
    for target, line in imports_of(name, MODULES[name]):
        if target == "tsur" and name != "tsur":
            pytest.fail(f"{name}:{line} imports the package root; import the module instead")
        assert layer_of(target) <= mine, (
            f"{name}:{line} (layer {mine + 1}) imports {target} (layer {layer_of(target) + 1})"
        )
        for importer, imported in FORBIDDEN:
            assert not (name.startswith(importer) and target.startswith(imported)), (
                f"{name}:{line} imports {target}: {importer} must not depend on {imported}"
            )


def test_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == [], f"modules that import each other: {cycles}"


def test_the_checker_sees_deferred_and_type_only_imports(tmp_path: Path) -> None:
    """The graph is only as good as the parser: a hidden import must still count."""
    code = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tsur.pipeline import Engine\n"
        "def f():\n    from tsur.cli import main\n"
        "from . import region\n"
    )
    code += (
        "import importlib, logging\n"
        "log = logging.getLogger('tsur.store')\n"
        "PLUGINS = ('tsur.lifecycle.demo',)\n"
        "importlib.import_module('tsur.server')\n"
        "from tsur.sla.deadlines import due\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(code, encoding="utf-8")
    found = {t for t, _ in imports_of("tsur.probe", path)}
    assert found == {
        "tsur.pipeline",
        "tsur.cli",
        "tsur.region",
        "tsur.lifecycle.demo",
        "tsur.lifecycle",  # the package runs before its module
        "tsur.server",
        "tsur.sla.deadlines",
        "tsur.sla",
    }
