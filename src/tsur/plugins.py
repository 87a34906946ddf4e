"""The plugin manager and the registry of components plugins contribute.

Built-in behaviour is a list of ordinary plugin modules
(:data:`DEFAULT_PLUGINS`) registered through the same manager as
third-party plugins, which are found by the ``tsur`` entry-point group.

Environment variables, read when a plugin manager is built:

``TSUR_PLUGINS``
    Comma-separated names of installed (entry-point) plugins to load; set
    but empty loads none; unset loads every installed plugin.
``TSUR_DISABLE_PLUGINS``
    Comma-separated names of plugins not to register at all: built-in
    modules (``tsur.default_plugins.locators``), installed plugins by their
    entry-point name, or plugins given in code by name.
``TSUR_TRACE_PLUGINS``
    When set, every hook call is logged (logger ``tsur.plugins``, debug).

A name in either list that matches no plugin is reported with a
:class:`PluginWarning` listing the names that exist.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import os
import re
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points as _entry_points
from typing import Any

import attrs
import pluggy
from pydantic import AliasChoices, AliasPath, BaseModel, ValidationError

from tsur import hookspecs
from tsur.components import Components, Registered
from tsur.config import RegionConfig, validation_problems
from tsur.context import Context
from tsur.errors import ConfigError, PluginError, PluginWarning, TsurError

__all__ = [
    "DEFAULT_PLUGINS",
    "Components",
    "PluginWarning",
    "Registered",
    "Registrar",
    "add_plugins",
    "call_each",
    "collect_components",
    "make_plugin_manager",
    "plugin_settings",
]

log = logging.getLogger("tsur.plugins")

#: Modules that provide tsur's built-in components, registered as plugins.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "tsur.default_plugins.moderation",
    "tsur.default_plugins.keywords",
    "tsur.default_plugins.urgency",
    "tsur.default_plugins.models",
    "tsur.default_plugins.locators",
    "tsur.default_plugins.routing",
    "tsur.default_plugins.notifiers",
    "tsur.default_plugins.renderers",
    "tsur.default_plugins.watchers",
    "tsur.default_plugins.sources",
)


_TABLE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def make_plugin_manager(
    *,
    defaults: bool = True,
    entry_points: bool = True,
    plugins: Iterable[object] = (),
    disable: Iterable[str] = (),
) -> pluggy.PluginManager:
    """Build a plugin manager: hookspecs, built-ins, entry points, then ``plugins``.

    ``plugins`` are modules (or module names) or objects an embedding
    application registers in code; ``disable`` names plugins not to
    register (added to ``TSUR_DISABLE_PLUGINS``). No global state is
    touched. (The command line adds tsur's commands itself.)
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    blocked = set(disable) | (_names(os.environ.get("TSUR_DISABLE_PLUGINS")) or set())
    for name in blocked:
        pm.set_blocked(name)
    known: set[str] = set()
    if defaults:
        known.update(DEFAULT_PLUGINS)
        _add_defaults(pm)
    if entry_points:
        known |= _load_entry_points(pm)
    known.update(add_plugins(pm, plugins))
    unknown = sorted(n for n in blocked - known if not _is_builtin_module(n))
    if unknown:
        warnings.warn(
            PluginWarning(
                f"TSUR_DISABLE_PLUGINS names no plugin: {', '.join(unknown)}; "
                f"plugins are: {', '.join(sorted(known))}"
            ),
            stacklevel=2,
        )
    if os.environ.get("TSUR_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda text: log.debug("hook %s", text.rstrip()))
        pm.enable_tracing()
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc} (is the hook name misspelt?)") from exc
    return pm


def _is_builtin_module(name: str) -> bool:
    """Whether ``name`` is one of tsur's plugin modules (a command a manager lacks)."""
    if not name.startswith("tsur.default_plugins."):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def add_plugins(pm: pluggy.PluginManager, plugins: Iterable[object]) -> list[str]:
    """Register plugin modules (or module names) or objects; return their names.

    A plugin already registered changes nothing; a hook name pluggy does not
    know is a :class:`PluginError`.
    """
    names = []
    for plugin in plugins:
        if isinstance(plugin, str):
            module_name = plugin
            try:
                plugin = importlib.import_module(module_name)
            except ImportError as exc:
                raise PluginError(
                    f"cannot import plugin module {module_name!r}: {exc}", plugin=module_name
                ) from exc
        names.append(_register(pm, plugin))
    return names


def _add_defaults(pm: pluggy.PluginManager) -> None:
    """Register the built-in components, unless blocked."""
    for name in DEFAULT_PLUGINS:
        if not pm.is_blocked(name) and not pm.has_plugin(name):
            pm.register(importlib.import_module(name), name=name)


def _register(pm: pluggy.PluginManager, plugin: object) -> str:
    """Register under a readable name; hook typos become :class:`PluginError`.

    Registering a plugin that is already registered (a built-in passed again)
    changes nothing. Returns the plugin's name.
    """
    if pm.is_registered(plugin):
        return pm.get_name(plugin) or ""
    if isinstance(plugin, types.ModuleType):
        name = plugin.__name__
    elif isinstance(plugin, type):
        name = f"{plugin.__module__}.{plugin.__qualname__}"
    else:
        name = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    if pm.is_blocked(name):
        return name
    base, n = name, 1
    while pm.has_plugin(name):
        n += 1
        name = f"{base}#{n}"
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc), plugin=name) from exc
    _warn_unmarked(pm, plugin, name)
    return name


def _warn_unmarked(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """A function named like a hook but not marked ``@tsur.hookimpl`` is never called: say so."""
    implemented = {caller.name for caller in pm.get_hookcallers(plugin) or ()}
    for hook in sorted(set(dir(pm.hook)) - implemented):
        if hook.startswith("_") or not hasattr(hookspecs, hook):
            continue
        try:
            found = callable(getattr(plugin, hook, None))
        except Exception:  # a property that raises: not a hook function either way
            found = False
        if found:
            warnings.warn(
                PluginWarning(
                    f"plugin {name!r} has a function {hook}() without @tsur.hookimpl: "
                    "it is never called"
                ),
                stacklevel=4,
            )


def _load_entry_points(pm: pluggy.PluginManager) -> set[str]:
    """Load the installed plugins ``TSUR_PLUGINS`` allows; return the installed names.

    A plugin that cannot be imported is a :class:`PluginError` naming its
    entry point and how to switch it off.
    """
    eps = {ep.name: ep for ep in _entry_points(group=hookspecs.PROJECT_NAME)}
    selection = os.environ.get("TSUR_PLUGINS")
    old_name = os.environ.get("TSUR_LOAD_PLUGINS")
    if old_name is not None:
        warnings.warn(
            PluginWarning(
                "TSUR_LOAD_PLUGINS is the old name of TSUR_PLUGINS"
                + ("; TSUR_PLUGINS is set and wins" if selection is not None else "")
            ),
            stacklevel=3,
        )
        if selection is None:
            selection = old_name
    wanted = _names(selection)
    if wanted is not None:
        missing = sorted(wanted - set(eps))
        if missing:
            warnings.warn(
                PluginWarning(
                    f"TSUR_PLUGINS names plugins that are not installed: {', '.join(missing)}; "
                    f"installed: {', '.join(sorted(eps)) or 'none'}"
                ),
                stacklevel=3,
            )
    for name in sorted(eps):
        if (wanted is not None and name not in wanted) or pm.is_blocked(name):
            continue
        if pm.has_plugin(name):
            continue
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{exc} (is the hook name misspelt?)", plugin=name) from exc
        except Exception as exc:
            raise PluginError(
                f"installed plugin {name!r} ({eps[name].value}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}; fix or uninstall it, or set "
                f"TSUR_DISABLE_PLUGINS={name}",
                plugin=name,
            ) from exc
        loaded = pm.get_plugin(name)
        if loaded is not None:
            _warn_unmarked(pm, loaded, name)
    return set(eps)


class Registrar:
    """Base of the ``register`` callbacks the ``register_*`` hooks receive.

    A problem is remembered as well as raised, so that a hook wrapper that
    swallows the exception cannot hide it: :func:`call_each` raises it
    after the call.
    """

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.problems: list[PluginError] = []

    def fail(self, message: str) -> PluginError:
        """Remember a problem and return it for raising."""
        exc = PluginError(message, plugin=self.plugin)
        self.problems.append(exc)
        return exc


def _call_order(impl: Any) -> int:
    return 0 if impl.tryfirst else 2 if impl.trylast else 1


def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    make_kwargs: Callable[[str], Mapping[str, Any]],
) -> None:
    """Call ``hook_name`` through pluggy once per plugin that implements it.

    Each call is a subset of the hook with that plugin's implementations
    (and every wrapper), so tracing, monitoring and wrappers see it, and
    whatever the implementation does — a duplicate name, an exception — is
    attributed to its plugin. ``make_kwargs(plugin_name)`` gives each call
    its arguments. Plugins are called in registration order, those marked
    ``tryfirst`` before and ``trylast`` after the others. An exception
    other than a :class:`~tsur.errors.TsurError` becomes a
    :class:`PluginError`; a problem a :class:`Registrar` recorded is raised
    even if a wrapper swallowed it.
    """
    hook = getattr(pm.hook, hook_name)
    impls = [i for i in hook.get_hookimpls() if not (i.hookwrapper or i.wrapper)]
    plugins: list[object] = []
    for impl in sorted(impls, key=_call_order):
        if not any(impl.plugin is p for p in plugins):
            plugins.append(impl.plugin)
    for plugin in plugins:
        name = pm.get_name(plugin) or repr(plugin)
        others = [i.plugin for i in impls if i.plugin is not plugin]
        caller = pm.subset_hook_caller(hook_name, remove_plugins=others)
        kwargs = make_kwargs(name)
        try:
            caller(**kwargs)
        except TsurError:
            raise
        except Exception as exc:
            raise PluginError(f"{hook_name} failed: {exc}", plugin=name) from exc
        for value in kwargs.values():
            if isinstance(value, Registrar) and value.problems:
                raise value.problems[0]


class _SettingsRegistrar(Registrar):
    """``register(name, model)`` for :func:`~tsur.hookspecs.register_settings`."""

    def __init__(
        self,
        plugin: str,
        declared: dict[str, tuple[str, type[BaseModel]]],
        by_plugin: dict[str, str],
    ) -> None:
        super().__init__(plugin)
        self.declared = declared
        self.by_plugin = by_plugin

    def __call__(self, name: str, model: type[BaseModel]) -> None:
        if not isinstance(name, str) or not _TABLE.fullmatch(name):
            raise self.fail(
                f"settings table name {name!r} must be lower-case letters, digits, '_', '.' or '-'"
            )
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or model is BaseModel:
            raise self.fail(
                f"settings of {name!r} must be a pydantic model class (a subclass of "
                f"BaseModel), got {model!r}"
            )
        if name in self.declared:
            raise self.fail(
                f"settings table {name!r} is already declared by plugin {self.declared[name][0]!r}"
            )
        if self.plugin in self.by_plugin:
            raise self.fail(
                f"a plugin declares one settings table; it already declared "
                f"{self.by_plugin[self.plugin]!r}"
            )
        self.declared[name] = (self.plugin, model)
        self.by_plugin[self.plugin] = name


def _field_names(model: type[BaseModel]) -> set[str]:
    """Every key a model's table may have: field names and their aliases."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for alias in (field.alias, field.validation_alias):
            if isinstance(alias, str):
                names.add(alias)
            elif isinstance(alias, AliasChoices):
                names.update(c for c in alias.choices if isinstance(c, str))
                names.update(
                    c.path[0]
                    for c in alias.choices
                    if isinstance(c, AliasPath) and c.path and isinstance(c.path[0], str)
                )
            elif isinstance(alias, AliasPath) and alias.path and isinstance(alias.path[0], str):
                names.add(alias.path[0])
    return names


def plugin_settings(pm: pluggy.PluginManager, config: RegionConfig) -> dict[str, Any]:
    """Each plugin's validated ``[plugins.NAME]`` table, by plugin name.

    A table no plugin declares, a key the model does not have (unless the
    model allows extra keys; a model that would ignore it still refuses it
    here), or a value that does not validate is a
    :class:`~tsur.errors.ConfigError` naming the file and the keys. A
    declared table the region file leaves out is validated from ``{}``
    (the model's defaults); if that fails the plugin gets ``None``. A model
    that fails with anything but a validation error is the plugin's bug: a
    :class:`PluginError`.
    """
    declared: dict[str, tuple[str, type[BaseModel]]] = {}  # table → (plugin, model)
    by_plugin: dict[str, str] = {}
    call_each(
        pm, "register_settings", lambda p: {"register": _SettingsRegistrar(p, declared, by_plugin)}
    )
    raw = config.plugins
    problems: list[tuple[str, str]] = []
    for name in sorted(set(raw) - set(declared)):
        known = ", ".join(sorted(declared)) or "none"
        why = f"no plugin declares these settings (declared: {known})"
        blocked = sorted(n for n, p in pm.list_name_plugin() if p is None)
        if blocked:
            why += f"; disabled plugins: {', '.join(blocked)}"
        problems.append((f"plugins.{name}", why))
    out: dict[str, Any] = {}
    for name, (plugin, model) in declared.items():
        table = raw.get(name)
        if table is not None and model.model_config.get("extra") not in ("allow", "forbid"):
            for key in sorted(set(table) - _field_names(model)):
                problems.append((f"plugins.{name}.{key}", "unknown setting"))
        try:
            out[plugin] = model.model_validate(table if table is not None else {})
        except ValidationError as exc:
            if table is None:
                out[plugin] = None  # not configured: the plugin decides what that means
            else:
                problems.extend(validation_problems(exc, prefix=f"plugins.{name}"))
        except Exception as exc:
            raise PluginError(
                f"settings model {model.__name__} of [plugins.{name}] failed: "
                f"{type(exc).__name__}: {exc}",
                plugin=plugin,
            ) from exc
    if problems:
        raise ConfigError(
            f"{config.origin}: invalid plugin settings ({len(problems)} problem(s))",
            path=config.origin,
            problems=problems,
        )
    return out


_KINDS: dict[str, tuple[str, str | None]] = {
    # kind: (hook name, required method; None: a callable factory)
    "source_adapters": ("register_source_adapters", None),
    "classifiers": ("register_classifiers", "classify"),
    "locators": ("register_locators", "locate"),
    "routers": ("register_routers", "route"),
    "moderation_filters": ("register_moderation_filters", "check"),
    "notifiers": ("register_notifiers", "notify"),
    "watchers": ("register_watchers", "watch"),
    "report_renderers": ("register_report_renderers", "render"),
}


def collect_components(pm: pluggy.PluginManager, context: Context) -> Components:
    """Call every ``register_*`` hook and check each contribution as it arrives.

    Each plugin's hooks receive ``context`` with the plugin's own settings
    (:func:`plugin_settings`). A duplicate name within a kind, a component
    lacking its method, or a name listed in
    ``config.pipeline.disabled_plugins`` is handled here, in one place;
    errors name the plugin.
    """
    settings = plugin_settings(pm, context.config)
    comps = Components(settings=settings)
    disabled = set(context.config.pipeline.disabled_plugins)
    for kind, (hook_name, method) in _KINDS.items():
        seen: dict[str, Registered] = {}

        def kwargs(
            plugin: str,
            _kind: str = kind,
            _method: str | None = method,
            _seen: dict[str, Registered] = seen,
        ) -> dict[str, Any]:
            return {
                "register": _ComponentRegistrar(_kind, _method, plugin, _seen),
                "context": attrs.evolve(context, settings=settings.get(plugin), plugin=plugin),
            }

        call_each(pm, hook_name, kwargs)
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


class _ComponentRegistrar(Registrar):
    """``register(name, component, priority=, weight=)`` for one kind of component."""

    def __init__(
        self, kind: str, method: str | None, plugin: str, seen: dict[str, Registered]
    ) -> None:
        super().__init__(plugin)
        self.kind = kind
        self.method = method
        self.seen = seen

    def __call__(
        self, name: str, component: Any, *, priority: int = 0, weight: float = 1.0
    ) -> None:
        kind, method = self.kind, self.method
        if not isinstance(name, str) or not name:
            raise self.fail(f"{kind}: a component needs a non-empty string name")
        if name in self.seen:
            other = self.seen[name].plugin
            raise self.fail(f"{kind}: name {name!r} is already registered by plugin {other!r}")
        if method is not None and not callable(getattr(component, method, None)):
            raise self.fail(f"{kind}: component {name!r} has no {method}() method")
        if method is None and not callable(component):
            raise self.fail(f"{kind}: factory {name!r} is not callable")
        model = getattr(component, "options_model", None) if method is None else None
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise self.fail(
                f"{kind}: options_model of {name!r} must be a pydantic model class, got {model!r}"
            )
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise self.fail(f"{kind}: priority of {name!r} must be an integer, got {priority!r}")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight <= 0
        ):
            raise self.fail(
                f"{kind}: weight of {name!r} must be a finite positive number, got {weight!r}"
            )
        self.seen[name] = Registered(name, component, self.plugin, priority, float(weight))
