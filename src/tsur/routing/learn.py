"""Routing learned from a labelled history: an executor is a function of what and where.

Three pieces, used by ``tsur region bootstrap`` (:mod:`tsur.default_plugins.bootstrap`)
and usable alone:

- :func:`places_in_name` reads the territories an executor's Russian name
  holds, from the genitive to the nominative: «Администрация Курского
  района» → «Курский район», «Комитет ЖКХ г. Железногорска» →
  «Железногорск», «Администрация Центрального округа города Курска» →
  «Центральный округ» inside «Курск»;
- :func:`executor_kind` guesses the executor's kind from its name;
- :func:`learn_rules` learns an ordered decision list of routing rules —
  topic × territory → executor, then topic-only rules for regional
  executors (ministries answer wherever the appeal is from), then
  territory-only rules, then topic-only fallbacks — each with its
  support in the history, keeping only rules that change some decision.

:class:`LearnedRules` applies such a list with the engine's semantics (a
rule's topic matches the topic and its subtopics, its territory the
territory and what lies inside), so the rules can be measured without an
engine.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "LearnedRule",
    "LearnedRules",
    "Observation",
    "Place",
    "executor_kind",
    "is_common_word",
    "learn_rules",
    "places_in_name",
    "slug",
    "unique_slug",
]


@attrs.frozen
class Place:
    """A territory named in an executor's title, in the nominative case.

    ``kind`` is a territory kind of the region file (``municipal_district``,
    ``city_okrug``, ``city_district``, ``rural_settlement``,
    ``urban_settlement``, ``settlement``, ``region``); ``adjective`` is the
    name's adjective in the nominative («курский» of «Курский район»), None
    for towns.
    """

    name: str
    kind: str
    adjective: str | None = None


@functools.lru_cache(maxsize=1)
def _morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


_WORD = re.compile(r"[А-Яа-яЁё]+(?:-[А-Яа-яЁё]+)*|[A-Za-z0-9]+|[.«»\"'`]")
#: Nouns after which the name of a place follows in the nominative or genitive.
_TOWN_MARKERS = {
    "города": "city_okrug",
    "город": "city_okrug",
    "г": "city_okrug",
    "поселка": "urban_settlement",
    "посёлка": "urban_settlement",
    "пос": "urban_settlement",
    "п": "urban_settlement",
    "пгт": "urban_settlement",
    "рп": "urban_settlement",
    "села": "settlement",
    "с": "settlement",
    "деревни": "settlement",
    "д": "settlement",
    "станицы": "settlement",
}
#: Genitive nouns that close an adjectival name: «Курского района».
_ADJ_MARKERS = {
    "района": ("municipal_district", "район"),
    "округа": ("municipal_okrug", "округ"),
    "сельсовета": ("rural_settlement", "сельсовет"),
    "поссовета": ("urban_settlement", "поссовет"),
    "поселения": ("rural_settlement", "поселение"),
    "области": ("region", "область"),
    "края": ("region", "край"),
}
#: Adjectives that qualify the marker rather than name the place.
_QUALIFIERS = {"муниципального", "городского", "сельского", "внутригородского", "административного"}


def is_common_word(word: str) -> bool:
    """True for a word pymorphy knows as anything but a place name («искра», «северный»).

    Such a word as a settlement's name would make the gazetteer find that
    settlement in ordinary sentences.
    """
    morph = _morph()
    low = word.lower()
    if not morph.word_is_known(low):
        return False
    return not any("Geox" in p.tag for p in morph.parse(low))


def _cap(word: str) -> str:
    return "-".join(p[:1].upper() + p[1:] for p in word.split("-"))


def _adjective_nominative(word: str, gender: str) -> str | None:
    """The nominative of a genitive adjective in ``gender`` («Курского» → «курский»)."""
    for p in _morph().parse(word.lower()):
        if "ADJF" in p.tag and ("gent" in p.tag or "nomn" in p.tag):
            form = p.inflect({"nomn", "sing", gender})
            if form is not None:
                return str(form.word).replace("ё", "е")
    low = word.lower()
    if gender == "masc":  # a place adjective pymorphy takes for a surname
        for ending, nominative in (("ского", "ский"), ("цкого", "цкий"), ("ного", "ный")):
            if low.endswith(ending) and len(low) > len(ending) + 2:
                return low[: -len(ending)] + nominative
    return None


def _noun_nominative(word: str) -> str:
    """The nominative of a place name given in the genitive or the nominative."""
    parses = _morph().parse(word.lower())
    geo = [p for p in parses if "Geox" in p.tag] or parses
    for case in ("gent", "nomn"):
        for p in geo:
            if case in p.tag:
                if "nomn" in p.tag:
                    return word.lower()
                return str(p.normal_form)
    return word.lower()


def _town(words: Sequence[str]) -> str:
    """The nominative of a town name of one or more words («Старого Оскола» → «Старый Оскол»)."""
    if not words:
        return ""
    noun = _noun_nominative(words[-1])
    gender = "masc"
    for p in _morph().parse(noun):
        for g in ("masc", "femn", "neut"):
            if g in p.tag:
                gender = g
                break
        else:
            continue
        break
    out = [_adjective_nominative(w, gender) or w.lower() for w in words[:-1]]
    return " ".join(_cap(w) for w in [*out, noun])


def places_in_name(name: str) -> list[Place]:
    """The territories an executor's name holds, innermost first, in the nominative.

    «Администрация Центрального округа города Курска» →
    [Центральный округ (city_district), Курск (city_okrug)];
    «Комитет здравоохранения Курской области» → [Курская область (region)];
    a name without a place → [].
    """
    tokens = _WORD.findall(name.replace("ё", "е").replace("Ё", "Е"))
    places: list[Place] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        if low in _ADJ_MARKERS:
            kind, noun = _ADJ_MARKERS[low]
            j = i - 1
            adjs: list[str] = []
            while j >= 0 and tokens[j][:1].isalpha():
                w = tokens[j].lower()
                if w in _QUALIFIERS:
                    if w == "городского" and low == "округа":
                        kind = "city_okrug"
                    j -= 1
                    continue
                gender = "femn" if noun in {"область"} else "masc"
                if noun == "поселение":
                    gender = "neut"
                nom = _adjective_nominative(w, gender)
                if nom is None:
                    break
                adjs.insert(0, nom)
                j -= 1
            if adjs:
                in_town = i + 1 < len(tokens) and tokens[i + 1].lower() in {"города", "г"}
                if kind == "municipal_okrug" and in_town:
                    kind = "city_district"
                full = " ".join([*adjs, noun])
                places.append(Place(full[:1].upper() + full[1:], kind, " ".join(adjs)))
        elif low in _TOWN_MARKERS and (
            low in {"города", "город", "поселка", "посёлка", "села", "деревни", "станицы"}
            or (i + 1 < len(tokens) and tokens[i + 1] == ".")
        ):
            j = i + 1
            if j < len(tokens) and tokens[j] == ".":
                j += 1
            if j < len(tokens) and tokens[j] in {"«", '"'}:
                j += 1
            words: list[str] = []
            while j < len(tokens) and tokens[j][:1].isupper() and tokens[j][:1].isalpha():
                if tokens[j].lower() in _ADJ_MARKERS or len(words) == 3:
                    break
                words.append(tokens[j])
                j += 1
            if words and words[-1].lower() in {"администрации", "администрация"}:
                words = []
            if words:
                places.append(Place(_town(words), _TOWN_MARKERS[low]))
                i = j
                continue
        i += 1
    return places


_ORG_MANAGEMENT = re.compile(r"\b(ооо|оао|зао|пао|ао|ук|тсж|жск|управляющ\w*)\b", re.I)
_ORG_UTILITY = re.compile(
    r"(водоканал|теплосет|электросет|энерго|газ|рэс\b|тепло|россети|квадра)", re.I
)
_ORG_MINISTRY = re.compile(r"^(министерство|комитет|департамент)", re.I)
_ORG_AGENCY = re.compile(r"^(управление|инспекция|государственная|агентство|служба)", re.I)


def executor_kind(name: str, places: Sequence[Place] | None = None) -> str:
    """The executor kind its name suggests (a kind of the region file).

    «Администрация … района» → ``district_administration``, «Администрация
    города …» → ``municipal_administration``, a committee or ministry «…
    области» → ``ministry``, an inspection or agency «… области» →
    ``regional_agency``, «ООО …», «УК …» → ``management_company``, a
    utility → ``utility``, «ЕДДС» → ``edds``; ``other`` otherwise.
    """
    places = places_in_name(name) if places is None else places
    low = name.lower()
    inner = places[0].kind if places else None
    if "едднс" in low or "еддс" in low:
        return "edds"
    if low.startswith("администрация") and inner is not None:
        if inner == "region":
            return "regional_agency"
        if inner in {"municipal_district", "city_district"}:
            return "district_administration"
        return "municipal_administration"
    if _ORG_MANAGEMENT.search(low):
        return "management_company"
    if _ORG_UTILITY.search(low):
        return "utility"
    if inner == "region":
        if _ORG_MINISTRY.search(low):
            return "ministry"
        return "regional_agency"
    return "other"


_TRANSLIT = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
}


#: Prepositions and conjunctions (transliterated) a cut id must not end on.
_FUNCTION_WORDS = frozenset(
    [
        "i",
        "v",
        "vo",
        "na",
        "pri",
        "po",
        "s",
        "so",
        "k",
        "ko",
        "o",
        "ob",
        "obo",
        "ot",
        "iz",
        "za",
        "do",
        "dlya",
        "ili",
        "a",
        "no",
        "u",
        "bez",
        "nad",
        "pod",
        "pered",
        "cherez",
        "mezhdu",
        "ne",
        "ni",
        "kak",
        "chto",
        "li",
    ]
)


def slug(text: str, max_length: int = 48) -> str:
    """A region-file id from Russian text: transliterated, lower case, words joined by ``-``.

    «Администрация Курского района» → ``administratsiya-kurskogo-rayona``;
    cut at a word boundary to ``max_length``, never ending on a preposition
    or a conjunction («…-torgovli», not «…-torgovli-i»); ``x`` when nothing is left.
    The result matches the region file's id pattern (``[a-z0-9][a-z0-9_.-]*``).
    """
    low = unicodedata.normalize("NFKC", text).lower()
    out = "".join(_TRANSLIT.get(ch, ch) for ch in low)
    words = re.findall(r"[a-z0-9]+", out)
    kept: list[str] = []
    for w in words:
        if len("-".join([*kept, w])) > max_length:
            # cut: end on a word that carries meaning, not on «и», «при», «в»…
            while len(kept) > 1 and kept[-1] in _FUNCTION_WORDS:
                kept.pop()
            break
        kept.append(w)
    result = "-".join(kept)
    if not result and words:
        result = words[0][:max_length]
    return result or "x"


def unique_slug(text: str, taken: set[str], *, prefix: str = "", max_length: int = 48) -> str:
    """:func:`slug` with ``prefix``, made unique against ``taken`` (and added to it)."""
    base = prefix + slug(text, max_length - len(prefix) - 3)
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


@attrs.frozen
class Observation:
    """One appeal of the history: its topic id, the territory found in it (or None), executor."""

    topic: str
    territory: str | None
    executor: str


@attrs.frozen
class LearnedRule:
    """A routing rule learned from the history.

    ``topics``/``territories`` are empty for "any"; ``support`` is how many
    appeals matching the rule went to ``executor``, ``total`` how many matched.
    ``fallback`` marks a rule sending a territory to its own administration
    because the history gave it no territory-only rule (see :func:`learn_rules`):
    it rests on the executors' titles, not on its support.
    """

    topics: tuple[str, ...]
    territories: tuple[str, ...]
    executor: str
    support: int
    total: int
    fallback: bool = False

    @property
    def share(self) -> float:
        """The share of matching appeals that went to ``executor``."""
        return self.support / self.total if self.total else 0.0


def _chains(parents: Mapping[str, str | None]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for start in parents:
        chain = [start]
        node = parents.get(start)
        while node is not None and node not in chain:
            chain.append(node)
            node = parents.get(node)
        out[start] = tuple(chain)
    return out


class LearnedRules:
    """An ordered list of learned rules applied as the engine applies ``[[routing]]``."""

    def __init__(
        self,
        rules: Sequence[LearnedRule],
        topic_parents: Mapping[str, str | None],
        territory_parents: Mapping[str, str | None],
    ) -> None:
        self.rules = tuple(rules)
        self._topics = _chains(topic_parents)
        self._territories = _chains(territory_parents)

    def matches(self, rule: LearnedRule, topic: str | None, territory: str | None) -> bool:
        """True when ``rule`` applies to an appeal of ``topic`` located in ``territory``."""
        if rule.topics and (
            topic is None or not set(rule.topics) & set(self._topics.get(topic, (topic,)))
        ):
            return False
        if rule.territories:
            if territory is None:
                return False
            if not set(rule.territories) & set(self._territories.get(territory, (territory,))):
                return False
        return True

    def route(self, topic: str | None, territory: str | None) -> LearnedRule | None:
        """The first rule that applies, None when none does (the curator's, then)."""
        for rule in self.rules:
            if self.matches(rule, topic, territory):
                return rule
        return None


def learn_rules(
    observations: Iterable[Observation],
    *,
    topic_parents: Mapping[str, str | None],
    territory_parents: Mapping[str, str | None],
    regional: Callable[[str], bool],
    min_support: int = 2,
    skip_territories: Iterable[str] = (),
    administrations: Mapping[str, str] | None = None,
    fallbacks: bool = True,
) -> list[LearnedRule]:
    """An ordered decision list of routing rules learned from ``observations``.

    For every topic (and each of its parent topics) × territory (and each
    territory it lies in, but ``skip_territories`` — the region itself) the
    history names, the executor most of those appeals went to becomes a
    candidate rule, if at least ``min_support`` appeals support it. The
    order is: topic × territory (deepest first), topic-only rules whose
    executor is ``regional`` (a ministry answers wherever the appeal is
    from), territory-only rules, then the other topic-only rules (what is
    left — mostly appeals naming no place). Rules that decide no appeal of
    the history differently from the rules after them are dropped.

    ``administrations`` maps a territory to its own administration (from
    the executors' titles): a territory the history gives no territory-only
    rule gets one to it, after the learned territory-only rules — an appeal
    from a district the archive rarely saw still goes to that district.
    Its ``support`` counts the history's appeals located there that went to
    it (possibly none). Without ``fallbacks`` the last group (topic-only
    rules to non-regional executors) is left out: something else — an
    executor model asked after the rules — decides those appeals.
    """
    obs = list(observations)
    tchains = _chains(topic_parents)
    pchains = _chains(territory_parents)
    skip = set(skip_territories)
    stats: dict[tuple[str | None, str | None], Counter[str]] = {}
    for o in obs:
        topics: list[str | None] = [*tchains.get(o.topic, (o.topic,)), None]
        places: list[str | None] = [None]
        if o.territory is not None:
            places = [t for t in pchains.get(o.territory, (o.territory,)) if t not in skip]
            places.append(None)
        for k in topics:
            for p in places:
                if k is None and p is None:
                    continue
                stats.setdefault((k, p), Counter())[o.executor] += 1

    def depth(chains: Mapping[str, tuple[str, ...]], key: str | None) -> int:
        return len(chains.get(key, (key,))) if key is not None else 0

    tiers: list[list[tuple[tuple[int, ...], LearnedRule]]] = [[], [], [], []]
    for (k, p), counter in stats.items():
        executor, support = max(counter.items(), key=lambda kv: (kv[1], kv[0]))
        if support < min_support:
            continue
        rule = LearnedRule(
            (k,) if k else (), (p,) if p else (), executor, support, sum(counter.values())
        )
        order = (-depth(tchains, k), -depth(pchains, p), -support)
        if k is not None and p is not None:
            tiers[0].append(((-depth(pchains, p), -depth(tchains, k), -support), rule))
        elif p is None and regional(executor):
            tiers[1].append((order, rule))
        elif k is None:
            tiers[2].append(((-depth(pchains, p), -support), rule))
        elif fallbacks:
            tiers[3].append((order, rule))
    ordered = [
        r
        for tier in tiers
        for _, r in sorted(tier, key=lambda e: (e[0], e[1].topics, e[1].territories))
    ]
    kept = _prune(ordered, obs, tchains, pchains)
    if not administrations:
        return kept
    covered = {r.territories[0] for r in kept if r.territories and not r.topics}
    defaults = []
    for territory, executor in sorted(administrations.items()):
        if territory in covered or territory in skip:
            continue
        counter = stats.get((None, territory), Counter())
        defaults.append(
            LearnedRule(
                (),
                (territory,),
                executor,
                counter[executor],
                sum(counter.values()),
                fallback=True,
            )
        )
    defaults.sort(key=lambda r: (-depth(pchains, r.territories[0]), r.territories))
    at = next(
        (
            i
            for i, r in enumerate(kept)
            if r.topics and not r.territories and not regional(r.executor)
        ),
        len(kept),
    )
    return [*kept[:at], *defaults, *kept[at:]]


def _prune(
    rules: list[LearnedRule],
    obs: Sequence[Observation],
    tchains: Mapping[str, tuple[str, ...]],
    pchains: Mapping[str, tuple[str, ...]],
) -> list[LearnedRule]:
    """Drop rules whose appeals the later rules would send to the same executor."""

    def matches(rule: LearnedRule, o: Observation) -> bool:
        if rule.topics and not set(rule.topics) & set(tchains.get(o.topic, (o.topic,))):
            return False
        if rule.territories:
            if o.territory is None:
                return False
            if not set(rule.territories) & set(pchains.get(o.territory, (o.territory,))):
                return False
        return True

    hits = [[i for i, r in enumerate(rules) if matches(r, o)] for o in obs]
    alive = [True] * len(rules)
    for i, rule in enumerate(rules):
        claimed = 0
        same = True
        for row in hits:
            first = next((j for j in row if alive[j]), None)
            if first != i:
                continue
            claimed += 1
            after = next((j for j in row if j > i and alive[j]), None)
            if after is None or rules[after].executor != rule.executor:
                same = False
                break
        if claimed == 0 or same:
            alive[i] = False
    return [r for r, keep in zip(rules, alive, strict=True) if keep]
