"""The executor directory: lookups by territory, kind and topic, and the chain of command."""

from __future__ import annotations

from tsur.config import RegionConfig
from tsur.domain import Executor

__all__ = ["ExecutorDirectory"]


class ExecutorDirectory:
    """Executors of a region, indexed for routing and escalation."""

    def __init__(self, config: RegionConfig) -> None:
        self.config = config
        self.executors: dict[str, Executor] = config.executor_objects()
        self.territory_parent = {t.id: t.parent for t in config.territories}
        self.topic_parent = {t.id: t.parent for t in config.topics}
        self._by_kind_territory: dict[tuple[str, str], str] = {}
        for e in config.executors:
            if e.territory is not None:
                self._by_kind_territory.setdefault((e.kind, e.territory), e.id)

    def territory_chain(self, territory: str | None) -> list[str]:
        """``territory`` and its ancestors up to the region."""
        out: list[str] = []
        node = territory
        while node is not None:
            out.append(node)
            node = self.territory_parent.get(node)
        return out

    def topic_chain(self, topic: str | None) -> list[str]:
        """``topic`` and its ancestors."""
        out: list[str] = []
        node = topic
        while node is not None:
            out.append(node)
            node = self.topic_parent.get(node)
        return out

    def for_territory(self, kind: str, territory: str | None) -> Executor | None:
        """The executor of ``kind`` responsible for ``territory`` (walking up the tree)."""
        for t in self.territory_chain(territory):
            eid = self._by_kind_territory.get((kind, t))
            if eid is not None:
                return self.executors[eid]
        return None

    def supervisor(self, executor: str | None) -> Executor | None:
        """The executor's parent in the chain of command."""
        ex = self.executors.get(executor or "")
        return self.executors.get(ex.parent or "") if ex else None

    def by_kind_for_topic(self, kind: str, topic: str | None) -> Executor | None:
        """The first executor of ``kind`` whose topics cover ``topic`` (deputy governors)."""
        chain = set(self.topic_chain(topic))
        fallback = None
        for e in self.executors.values():
            if e.kind != kind:
                continue
            if chain.intersection(e.topics):
                return e
            if fallback is None and not e.topics:
                fallback = e
        return fallback
