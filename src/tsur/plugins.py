"""The plugin manager and the registry of components plugins contribute.

Built-in behaviour is a list of ordinary plugin modules
(:data:`DEFAULT_PLUGINS`) registered through the same manager as
third-party plugins, which are found by the ``tsur`` entry-point group.

Environment variables:

``TSUR_LOAD_PLUGINS``
    Comma-separated names of entry-point plugins to load; empty loads none.
    Unset loads all installed ones.
``TSUR_TRACE_PLUGINS``
    When set, every hook call is logged.
"""

from __future__ import annotations

import importlib
import os
import types
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy
import structlog

from tsur import hookspecs
from tsur.config import RegionConfig
from tsur.errors import PluginError

__all__ = [
    "DEFAULT_PLUGINS",
    "Components",
    "Registered",
    "collect_components",
    "make_plugin_manager",
]

log = structlog.get_logger("tsur.plugins")

#: Modules that provide tsur's built-in behaviour, registered as plugins.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "tsur.default_plugins.moderation",
    "tsur.default_plugins.keyword_classifier",
    "tsur.default_plugins.urgency",
    "tsur.default_plugins.models",
    "tsur.default_plugins.gazetteer_locator",
    "tsur.routing.rules",
    "tsur.default_plugins.notifiers",
    "tsur.default_plugins.reports",
    "tsur.analytics.renderers",
    "tsur.adapters.files",
    "tsur.adapters.vk",
    "tsur.adapters.telegram",
    "tsur.adapters.portal",
    "tsur.adapters.webhook",
    "tsur.adapters.csvfile",
    "tsur.adapters.open311",
    "tsur.adapters.rss",
    "tsur.adapters.mail",
    "tsur.adapters.commands",
    "tsur.lifecycle.notifiers",
    "tsur.lifecycle.commands",
    "tsur.http",
)


def make_plugin_manager(
    *,
    defaults: bool = True,
    entry_points: bool = True,
    plugins: Iterable[object] = (),
) -> pluggy.PluginManager:
    """Build a plugin manager: hookspecs, built-ins, entry points, then ``plugins``.

    ``plugins`` are modules or objects an embedding application registers
    programmatically. No global state is touched.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if defaults:
        for name in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(name), name=name)
    if entry_points:
        _load_entry_points(pm)
    for plugin in plugins:
        if isinstance(plugin, str):
            plugin = importlib.import_module(plugin)
        _register(pm, plugin)
    if os.environ.get("TSUR_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda text: log.debug("hook", trace=text.rstrip()))
        pm.enable_tracing()
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc} (is the hook name misspelt?)") from exc
    return pm


def _register(pm: pluggy.PluginManager, plugin: object) -> None:
    """Register under a readable name; hook typos become :class:`PluginError`.

    Registering a plugin that is already registered (a built-in passed again)
    changes nothing.
    """
    if pm.is_registered(plugin):
        return
    if isinstance(plugin, types.ModuleType):
        name = plugin.__name__
    else:
        name = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    base, n = name, 1
    while pm.has_plugin(name):
        n += 1
        name = f"{base}#{n}"
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc), plugin=name) from exc


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    wanted = os.environ.get("TSUR_LOAD_PLUGINS")
    if wanted is None:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
        return
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    for name in sorted(names):
        pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME, name=name)


@attrs.frozen
class Registered:
    """One contributed component with its name, plugin and ordering options."""

    name: str
    component: Any
    plugin: str
    priority: int = 0
    weight: float = 1.0


_KINDS: dict[str, tuple[str, str | None]] = {
    # kind: (hook name, required method)
    "source_adapters": ("register_source_adapters", None),
    "classifiers": ("register_classifiers", "classify"),
    "locators": ("register_locators", "locate"),
    "routers": ("register_routers", "route"),
    "moderation_filters": ("register_moderation_filters", "check"),
    "notifiers": ("register_notifiers", "notify"),
    "report_renderers": ("register_report_renderers", "render"),
}


@attrs.define
class Components:
    """Everything the plugins registered, by kind, sorted for use."""

    source_adapters: dict[str, Registered] = attrs.field(factory=dict)
    classifiers: list[Registered] = attrs.field(factory=list)
    locators: list[Registered] = attrs.field(factory=list)
    routers: list[Registered] = attrs.field(factory=list)
    moderation_filters: list[Registered] = attrs.field(factory=list)
    notifiers: list[Registered] = attrs.field(factory=list)
    report_renderers: dict[str, Registered] = attrs.field(factory=dict)

    def names(self, kind: str) -> list[str]:
        """Names registered for ``kind`` (``"classifiers"``, ``"routers"`` …)."""
        value = getattr(self, kind)
        return list(value) if isinstance(value, dict) else [r.name for r in value]


def collect_components(pm: pluggy.PluginManager, config: RegionConfig) -> Components:
    """Call every ``register_*`` hook and check each contribution as it arrives.

    A duplicate name within a kind, a component lacking its method, or a
    name listed in ``config.pipeline.disabled_plugins`` is handled here,
    in one place; errors name the plugin.
    """
    comps = Components()
    disabled = set(config.pipeline.disabled_plugins)
    for kind, (hook_name, method) in _KINDS.items():
        seen: dict[str, Registered] = {}
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
            register = _make_register(kind, method, plugin_name, seen)
            kwargs = {arg: {"register": register, "config": config}[arg] for arg in impl.argnames}
            try:
                impl.function(**kwargs)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"{hook_name} failed: {exc}", plugin=plugin_name) from exc
        items = [
            r
            for r in seen.values()
            if r.name not in disabled and f"{kind}:{r.name}" not in disabled
        ]
        items.sort(key=lambda r: -r.priority)  # stable: registration order breaks ties
        target = getattr(comps, kind)
        if isinstance(target, dict):
            target.update({r.name: r for r in items})
        else:
            target.extend(items)
    return comps


def _make_register(
    kind: str, method: str | None, plugin: str, seen: dict[str, Registered]
) -> Callable[..., None]:
    def register(name: str, component: Any, *, priority: int = 0, weight: float = 1.0) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{kind}: a component needs a non-empty string name", plugin=plugin)
        if name in seen:
            other = seen[name].plugin
            raise PluginError(
                f"{kind}: name {name!r} is already registered by plugin {other!r}", plugin=plugin
            )
        if method is not None and not callable(getattr(component, method, None)):
            raise PluginError(f"{kind}: component {name!r} has no {method}() method", plugin=plugin)
        if method is None and not callable(component):
            raise PluginError(f"{kind}: factory {name!r} is not callable", plugin=plugin)
        if weight <= 0:
            raise PluginError(f"{kind}: weight of {name!r} must be positive", plugin=plugin)
        seen[name] = Registered(name, component, plugin, int(priority), float(weight))

    return register
