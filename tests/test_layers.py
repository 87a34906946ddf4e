"""The import layers of tsur, and no import cycles — deferred and type-only imports included.

Every ``import`` in ``src/tsur`` counts: at the top of a module, inside a
function, under ``if TYPE_CHECKING:``. A module may import modules of its
own layer or of a lower one, never of a higher one, and no two modules may
import each other, however indirectly. The layers, lowest first:

1. the domain: errors, domain types, the version;
2. what reads and computes without the engine: configuration, text,
   calendars, the wire schema, shared secrets, models;
3. the region and what decides on it, without storage: the region's
   domain view, deadlines, geometry, the analysis of a message, grouping,
   the routers, the decision core;
4. storage and what plugins are given: the store, the context, the
   components' protocols, the hook specifications;
5. the plugin manager;
6. the engine;
7. around the engine: adapters, the lifecycle, analytics;
8. embedding helpers: the HTTP application, ``tsur.testing``;
9. the command line;
10. the plugins tsur ships (``default_plugins``), the package root.

Within layer 7, adapters do not import the lifecycle or analytics, and the
lifecycle does not import analytics.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

LAYERS: list[tuple[str, ...]] = [
    ("tsur.errors", "tsur.domain", "tsur._version"),
    (
        "tsur.config",
        "tsur.text",
        "tsur.sla.calendar",
        "tsur.wire",
        "tsur.security",
        "tsur.ml",
    ),
    (
        "tsur.region",
        "tsur.sla",
        "tsur.geometry",
        "tsur.analysis",
        "tsur.grouping",
        "tsur.routing",
        "tsur.decide",
    ),
    ("tsur.store", "tsur.context", "tsur.protocols", "tsur.hookspecs"),
    ("tsur.plugins",),
    ("tsur.pipeline",),
    ("tsur.adapters", "tsur.lifecycle", "tsur.analytics"),
    ("tsur.http", "tsur.testing"),
    ("tsur.cli",),
    ("tsur.default_plugins", "tsur", "tsur.__main__"),
]
#: Within a layer: (importer prefix, imported prefix) that must not happen.
FORBIDDEN = [
    ("tsur.adapters", "tsur.lifecycle"),
    ("tsur.adapters", "tsur.analytics"),
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
                yield target, node.lineno


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
    path = tmp_path / "probe.py"
    path.write_text(code, encoding="utf-8")
    found = {t for t, _ in imports_of("tsur.probe", path)}
    assert found == {"tsur.pipeline", "tsur.cli", "tsur.region"}
