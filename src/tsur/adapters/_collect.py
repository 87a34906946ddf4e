"""Building a configured source's adapter: its factory, its options, its runtime objects.

What is then done with the adapter — polling it with a saved cursor,
handing it a pushed request — is :mod:`tsur.intake`'s.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from tsur.context import Context
from tsur.domain import Source
from tsur.errors import (
    AdapterError,
    ConfigError,
    TsurError,
    UnknownSource,
)

from ._base import ADAPTER_KEY, option_fields

if TYPE_CHECKING:
    from tsur.components import Components
    from tsur.protocols import EngineView

__all__ = [
    "adapter_kind",
    "build_adapter",
    "describe_factory",
    "make_adapter",
]

log = logging.getLogger("tsur.adapters")


def adapter_kind(source: Source) -> str:
    """The adapter a source uses: ``options.adapter`` if given, else its ``kind``.

    ``options.adapter`` lets a source keep a descriptive kind (``"hotline"``)
    while being read by a generic adapter (``"csv"``).
    """
    chosen = source.options.get(ADAPTER_KEY)
    return str(chosen) if chosen else source.kind


def _accepted(factory: Any, runtime: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The runtime objects ``factory`` declares a parameter for, and those it does not."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}, sorted(runtime)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(runtime), []
    named = {
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    return {k: v for k, v in runtime.items() if k in named}, sorted(set(runtime) - named)


_ADAPTER_METHODS = ("fetch", "parse", "reply")


def build_adapter(
    components: Components,
    context: Context,
    source: Source,
    *,
    kind: str | None = None,
    **runtime: Any,
) -> Any:
    """Build ``source``'s adapter: ``factory(source, context, **runtime)``.

    ``kind`` overrides :func:`adapter_kind`. The factory gets ``context``
    with the settings of the plugin that registered it, and ``runtime``
    objects (``client=``, ``sleep=`` …); one it has no parameter for is an
    :class:`~tsur.errors.AdapterError` (a mistyped ``clinet=`` must not
    leave the adapter on the real network). A factory that fails on the
    source's options raises a :class:`~tsur.errors.ConfigError` naming the
    source; any other failure, or a result with none of ``fetch()``,
    ``parse()`` and ``reply()``, an :class:`~tsur.errors.AdapterError`.
    """
    kind = kind or adapter_kind(source)
    registered = components.source_adapters.get(kind)
    if registered is None:
        known = ", ".join(sorted(components.source_adapters)) or "none"
        raise AdapterError(
            f"no adapter for kind {kind!r}; installed adapters: {known} (is the plugin that "
            "provides it installed? or set options.adapter to one of these)",
            source=source.id,
        )
    factory = registered.component
    ctx = attrs.evolve(
        context, settings=components.settings.get(registered.plugin), plugin=registered.plugin
    )
    accepted, unused = _accepted(factory, runtime)
    if unused:
        raise AdapterError(
            f"the adapter of kind {kind!r} (plugin {registered.plugin!r}) takes no "
            f"{', '.join(n + '=' for n in unused)}",
            source=source.id,
        )
    try:
        adapter = factory(source, ctx, **accepted)
    except TsurError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"source {source.id!r} (kind {kind!r}): the adapter cannot be built: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise AdapterError(
            f"the adapter of kind {kind!r} (plugin {registered.plugin!r}) failed to start: "
            f"{type(exc).__name__}: {exc}",
            source=source.id,
        ) from exc
    if not any(callable(getattr(adapter, m, None)) for m in _ADAPTER_METHODS):
        raise AdapterError(
            f"the factory of kind {kind!r} (plugin {registered.plugin!r}) returned "
            f"{type(adapter).__name__}, which has none of fetch(), parse(), reply()",
            source=source.id,
        )
    return adapter


def make_adapter(
    engine: EngineView, source_id: str, *, kind: str | None = None, **runtime: Any
) -> Any:
    """The adapter of a configured source, built by its registered factory.

    ``runtime`` objects are passed to the factory as well (``client=``, ``sleep=`` …).
    """
    source = engine.region.sources.get(source_id)
    if source is None:
        raise UnknownSource(source_id, sorted(engine.region.sources))
    return build_adapter(engine.components, engine.context, source, kind=kind, **runtime)


def describe_factory(factory: Any) -> Mapping[str, Any]:
    """Summary and region-file keys of an adapter factory (for ``tsur sources``).

    The keys come from the factory's ``options_model``; a factory without one
    documents its options in its docstring, and none are listed.
    """
    own = factory.__dict__.get("__doc__") if isinstance(factory, type) else factory.__doc__
    doc = inspect.cleandoc(own) if own else ""  # a base class's text does not describe it
    model = getattr(factory, "options_model", None)
    options = option_fields(model) if model is not None else []
    return {"summary": doc.splitlines()[0] if doc else "", "options": options}
