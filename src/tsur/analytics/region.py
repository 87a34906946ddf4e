"""What analytics needs to know about a region: municipalities with their figures, names.

A territory below a municipality (a settlement, a city district) counts
for the municipality it lies in, and subtopics roll up to their direction
(the top-level topic), as :class:`tsur.Region` says; :class:`RegionIndex`
adds what reports show: municipalities with their population, per-capita
figures, Russian labels, channel kinds.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from tsur.region import Region

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
    """Look-ups over a region used by every aggregation."""

    def __init__(self, region: Region) -> None:
        self.region = region
        self.root = region.root
        self.municipalities: dict[str, Municipality] = {
            t.id: Municipality(
                t.id,
                t.name,
                t.kind,
                t.population,
                t.population_year,
                t.center.lat if t.center else None,
                t.center.lon if t.center else None,
            )
            for t in region.municipalities
        }
        root = region.territories.get(self.root)
        known = [m.population for m in self.municipalities.values()]
        # the region's own figure, else the sum — only when every municipality has one
        self.region_population: int | None = (root.population if root else None) or (
            sum(p for p in known if p) if known and all(known) else None
        )
        years = {m.population_year for m in self.municipalities.values() if m.population_year}
        self.population_year: int | None = max(years) if years else None
        self.directions = [t.id for t in region.topics.values() if t.parent is None]
        self.executor_names = {e.id: e.name for e in region.executors.values()}

    def municipality_of(self, territory: str | None) -> str | None:
        """The municipality a territory lies in; None for the region itself or unknown ids."""
        return self.region.municipality_of(territory)

    def territories_in(self, municipality: str) -> list[str]:
        """Every territory id that counts for ``municipality`` (itself included)."""
        return list(self.region.same_municipality(municipality))

    def direction_of(self, topic: str | None) -> str | None:
        """The top-level topic (direction) of ``topic``."""
        return self.region.direction_of(topic)

    def topic_label(self, topic: str | None) -> str:
        """«ЖКХ › Отопление» for a subtopic, «ЖКХ» for a direction, «тема не определена»."""
        if topic is None:
            return "тема не определена"
        name = self.region.topic_name(topic)
        direction = self.direction_of(topic)
        if direction is None or direction == topic:
            return name
        return f"{self.region.topic_name(direction)} › {name}"

    def municipality_name(self, municipality: str | None) -> str:
        """The municipality's name, «территория не определена» for None."""
        if municipality is None:
            return "территория не определена"
        return self.region.territory_name(municipality)

    def per_10k(self, count: int, population: int | None) -> float | None:
        """``count`` per 10,000 residents, None without a population figure."""
        if not population:
            return None
        return round(count * 10_000 / population, 2)

    def channel_of(self, source: str | None) -> str:
        """The kind of a configured source (``vk``, ``pos`` …); the id itself if unknown."""
        if source is None:
            return "unknown"
        return self.region.source_kind(source) or source

    def roll_up(self, territories: Iterable[str | None]) -> dict[str | None, list[str | None]]:
        """Group territory ids by the municipality they count for."""
        out: dict[str | None, list[str | None]] = {}
        for t in territories:
            out.setdefault(self.municipality_of(t), []).append(t)
        return out
