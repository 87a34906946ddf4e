"""Locators: territory from a structured field, from names in the text, from a geotag.

The gazetteer matches lemmatised territory names and variants ("в
Тольятти", "тольяттинский", "Новокуйбышевске") and prefers the deepest
territory named (a settlement over its district, a district over the
region). The geotag locator finds the municipality whose boundary holds
the point, else the nearest municipal centre within a radius, and runs
after the text. Settings (``[plugins.locators]``): ``geotag_radius_km``
(default 25).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from tsur.context import Context
from tsur.domain import Location, Message
from tsur.errors import UnknownTerritory
from tsur.geometry import Boundaries, bundled_geometry, load_boundaries
from tsur.hookspecs import hookimpl
from tsur.protocols import Register, RegisterSettings
from tsur.region import Region
from tsur.text.normalize import Lemmatizer, Text
from tsur.text.russian import decimal

__all__ = [
    "ExplicitLocator",
    "GazetteerLocator",
    "GeoLocator",
    "LocatorSettings",
    "SourceLocator",
    "demonyms",
]


class LocatorSettings(BaseModel):
    """``[plugins.locators]``: how the built-in locators work."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    geotag_radius_km: float = Field(
        default=25.0, gt=0, description="a geotag farther than this from every centre is ignored"
    )


class ExplicitLocator:
    """Trusts a territory id given by a structured source, after checking it exists."""

    def __init__(self, region: Region) -> None:
        self.ids = set(region.territories)

    def locate(self, message: Message, text: Text) -> Location | None:
        """The message's own ``territory`` field, validated."""
        if message.territory is None:
            return None
        if message.territory not in self.ids:
            raise UnknownTerritory(message.territory)
        return Location(message.territory, 1.0, ("территория указана источником",))


_TOWN_KINDS = frozenset({"city_okrug", "urban_settlement", "municipal_okrug"})
_VOWELS = "аеёиоуыэюяь"


def demonyms(name: str) -> list[str]:
    """What a town's people are called, by the regular patterns of Russian.

    «Самара» → «самарец», «Тольятти» → «тольяттинец», «Сызрань» → «сызранец»,
    «Новокуйбышевск» → «новокуйбышевец». Names of several words or shorter
    than five letters, and adjective-like names («Отрадный»), get none: the
    risk of matching an ordinary word is too high.
    """
    word = name.lower().replace("ё", "е")
    if " " in word or "-" in word or len(word) < 5 or word.endswith(("ый", "ий", "ой", "ая")):
        return []
    if word.endswith("ск"):
        return [word[:-2] + "ец"]
    if word.endswith(("и", "о")) and word[-2] not in _VOWELS:
        return [word[:-1] + "инец", word[:-1] + "ец"]
    stem = word[:-1] if word[-1] in _VOWELS else word
    return [stem + "ец"]


class SourceLocator:
    """The territory a source is bound to (a city's community group), as a last resort."""

    def __init__(self, region: Region) -> None:
        self.region = region
        self.by_source = {s.id: s.territory for s in region.sources.values() if s.territory}

    def locate(self, message: Message, text: Text) -> Location | None:
        """The message source's own territory, if it has one."""
        territory = self.by_source.get(message.source)
        if territory is None:
            return None
        return Location(
            territory, 0.5, (f"территория источника «{self.region.source_name(message.source)}»",)
        )


class GazetteerLocator:
    """Finds territory names in the lemmatised text (and in the address)."""

    def __init__(self, region: Region, lemmatizer: Lemmatizer) -> None:
        lem = lemmatizer
        self.depth = {tid: region.depth(tid) for tid in region.territories}
        # first lemma → [(phrase, territory id)], longest phrases first
        self.index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for t in region.territories.values():
            names = [t.name, *t.variants]
            if t.kind in _TOWN_KINDS:
                names.extend(demonyms(t.name))
            for name in names:
                phrase = lem.phrase(name)
                if phrase:
                    self.index.setdefault(phrase[0], []).append((phrase, t.id))
        for entries in self.index.values():
            entries.sort(key=lambda e: -len(e[0]))
        self.lemmatizer = lem

    def _matches(self, lemmas: tuple[str, ...]) -> list[tuple[str, str]]:
        found = []
        i, n = 0, len(lemmas)
        while i < n:
            step = 1
            for phrase, tid in self.index.get(lemmas[i], ()):
                k = len(phrase)
                if lemmas[i : i + k] == phrase:
                    found.append((tid, " ".join(phrase)))
                    step = k
                    break
            i += step
        return found

    def locate(self, message: Message, text: Text) -> Location | None:
        """The deepest territory named in the text or address."""
        found = self._matches(text.lemmas)
        if message.address:
            found += self._matches(Text.from_raw(message.address, self.lemmatizer).lemmas)
        if not found:
            return None
        counts: dict[str, int] = {}
        for tid, _ in found:
            counts[tid] = counts.get(tid, 0) + 1
        best = max(counts, key=lambda t: (self.depth[t], counts[t]))
        evidence = tuple(dict.fromkeys(w for t, w in found if t == best))
        confidence = 0.9 if len(counts) == 1 else 0.7
        return Location(best, confidence, evidence)


class GeoLocator:
    """A geotag's municipality: inside its boundary when the region has boundaries
    (the bundled region ships OpenStreetMap's), else the nearest centre within
    ``radius_km``."""

    def __init__(self, region: Region, radius_km: float = 25.0) -> None:
        self.radius_km = radius_km
        self.points = [
            (t.id, t.center.lat, t.center.lon)
            for t in region.territories.values()
            if t.center is not None and t.kind != "region"
        ]
        self.boundaries = _boundaries(region)

    def locate(self, message: Message, text: Text) -> Location | None:
        """The territory of ``message.geo``."""
        if message.geo is None:
            return None
        lat, lon = message.geo.lat, message.geo.lon
        if self.boundaries is not None:
            inside = self.boundaries.containing(lon, lat)
            if inside is not None:
                return Location(inside, 0.95, ("геометка внутри границы муниципалитета",))
        best, best_km = None, float("inf")
        for tid, tlat, tlon in self.points:
            km = _haversine_km(lat, lon, tlat, tlon)
            if km < best_km:
                best, best_km = tid, km
        if best is None or best_km > self.radius_km:
            return None
        return Location(
            best,
            round(max(0.3, 1 - best_km / self.radius_km), 3),
            (f"геометка в {decimal(best_km, 1)} км от центра",),
        )


def _boundaries(region: Region) -> Boundaries | None:
    """The shipped municipal boundaries of this region, or None."""
    path = bundled_geometry(region)
    if path is None:
        return None
    return load_boundaries(path, municipalities=[t.id for t in region.municipalities])


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@hookimpl
def register_settings(register: RegisterSettings) -> None:
    """Declare ``[plugins.locators]``."""
    register("locators", LocatorSettings)


@hookimpl
def register_locators(register: Register, context: Context) -> None:
    """Register the explicit-field, gazetteer, geotag and source locators, in that order."""
    region = context.region
    settings = context.settings or LocatorSettings()
    register("explicit", ExplicitLocator(region), priority=100)
    register("gazetteer", GazetteerLocator(region, context.lemmatizer), priority=50)
    register("geotag", GeoLocator(region, settings.geotag_radius_km), priority=10)
    register("source", SourceLocator(region), priority=0)
