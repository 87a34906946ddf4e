"""What analytics needs to know about a region: its municipalities, topics and channels.

A territory below a municipality (a settlement, a city district) counts
for the municipality it lies in: :meth:`RegionIndex.municipality_of` walks
the territory tree of the region configuration up to the level just below
the region. Subtopics roll up to their direction (the top-level topic) the
same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from tsur.config import RegionConfig

__all__ = ["Municipality", "RegionIndex"]


@attrs.frozen
class Municipality:
    """A municipality (a city okrug, a municipal district or okrug) of the region."""

    id: str
    name: str
    kind: str
    population: int | None
    population_year: int | None
    lat: float | None
    lon: float | None


class RegionIndex:
    """Look-ups over a region configuration used by every aggregation."""

    def __init__(self, config: RegionConfig) -> None:
        self.config = config
        self.root = config.region.territory
        parents = {t.id: t.parent for t in config.territories}
        by_id = {t.id: t for t in config.territories}
        self.territory_names = {t.id: t.name for t in config.territories}
        self.municipalities: dict[str, Municipality] = {}
        for t in config.territories:
            if t.parent == self.root:
                self.municipalities[t.id] = Municipality(
                    t.id, t.name, t.kind, t.population, t.population_year, t.lat, t.lon
                )
        self._municipality: dict[str, str | None] = {}
        for tid in parents:
            node: str | None = tid
            seen: set[str] = set()
            while node is not None and node not in self.municipalities and node not in seen:
                seen.add(node)
                node = parents.get(node)
            self._municipality[tid] = node
        root = by_id.get(self.root)
        known = [m.population for m in self.municipalities.values()]
        # the region's own figure, else the sum — only when every municipality has one
        self.region_population: int | None = (root.population if root else None) or (
            sum(p for p in known if p) if known and all(known) else None
        )
        years = {m.population_year for m in self.municipalities.values() if m.population_year}
        self.population_year: int | None = max(years) if years else None
        topic_parents = {t.id: t.parent for t in config.topics}
        self.topic_names = {t.id: t.name for t in config.topics}
        self._direction: dict[str, str] = {}
        for tid in topic_parents:
            node = tid
            while topic_parents.get(node) is not None:
                node = topic_parents[node] or node
            self._direction[tid] = node
        self.directions = [t.id for t in config.topics if t.parent is None]
        self.source_kinds: dict[str, str] = {s.id: str(s.kind) for s in config.sources}
        self.source_names = {s.id: s.name for s in config.sources}
        self.executor_names = {e.id: e.name for e in config.executors}

    def municipality_of(self, territory: str | None) -> str | None:
        """The municipality a territory lies in; None for the region itself or unknown ids."""
        if territory is None:
            return None
        return self._municipality.get(territory)

    def territories_in(self, municipality: str) -> list[str]:
        """Every territory id that counts for ``municipality`` (itself included)."""
        return [t for t, m in self._municipality.items() if m == municipality]

    def direction_of(self, topic: str | None) -> str | None:
        """The top-level topic (direction) of ``topic``."""
        if topic is None:
            return None
        return self._direction.get(topic, topic)

    def topic_label(self, topic: str | None) -> str:
        """«ЖКХ › Отопление» for a subtopic, «ЖКХ» for a direction, «тема не определена»."""
        if topic is None:
            return "тема не определена"
        name = self.topic_names.get(topic, topic)
        direction = self.direction_of(topic)
        if direction is None or direction == topic:
            return name
        return f"{self.topic_names.get(direction, direction)} › {name}"

    def municipality_name(self, municipality: str | None) -> str:
        """The municipality's name, «территория не определена» for None."""
        if municipality is None:
            return "территория не определена"
        return self.territory_names.get(municipality, municipality)

    def per_10k(self, count: int, population: int | None) -> float | None:
        """``count`` per 10,000 residents, None without a population figure."""
        if not population:
            return None
        return round(count * 10_000 / population, 2)

    def channel_of(self, source: str | None) -> str:
        """The kind of a configured source (``vk``, ``pos`` …); the id itself if unknown."""
        if source is None:
            return "unknown"
        return self.source_kinds.get(source, source)

    def roll_up(self, territories: Iterable[str | None]) -> dict[str | None, list[str | None]]:
        """Group territory ids by the municipality they count for."""
        out: dict[str | None, list[str | None]] = {}
        for t in territories:
            out.setdefault(self.municipality_of(t), []).append(t)
        return out
