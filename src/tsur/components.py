"""What the plugins contributed: :class:`Components`, each item :class:`Registered`.

Plain data, filled by :func:`tsur.plugins.collect_components` and read by
the engine, the adapters' factories and the report renderers.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Components", "Registered"]


@attrs.frozen
class Registered:
    """One contributed component with its name, plugin and ordering options."""

    name: str
    component: Any
    plugin: str
    priority: int = 0
    weight: float = 1.0


@attrs.define
class Components:
    """Everything the plugins registered, by kind, sorted for use."""

    source_adapters: dict[str, Registered] = attrs.field(factory=dict)
    classifiers: list[Registered] = attrs.field(factory=list)
    locators: list[Registered] = attrs.field(factory=list)
    routers: list[Registered] = attrs.field(factory=list)
    moderation_filters: list[Registered] = attrs.field(factory=list)
    notifiers: list[Registered] = attrs.field(factory=list)
    watchers: list[Registered] = attrs.field(factory=list)
    report_renderers: dict[str, Registered] = attrs.field(factory=dict)
    #: each plugin's validated settings, by plugin name (for factories called later)
    settings: dict[str, Any] = attrs.field(factory=dict)

    def names(self, kind: str) -> list[str]:
        """Names registered for ``kind`` (``"classifiers"``, ``"routers"`` …)."""
        value = getattr(self, kind)
        return list(value) if isinstance(value, dict) else [r.name for r in value]
