"""The places a message names, and the words that say what its problem is.

Place keys are read from the lemmatised text and the address field:
``{"street": "революционный", "house": "13", "школа": "77", "route": "41"}``
— a street (after a marker such as «ул.», «проспект», or a capitalised
word right before a house number), a house, numbered objects (school
№ 77, polyclinic № 3, bus route 41). :class:`Places` holds what a region
adds: its place names, which say where and not what, are kept out of the
words compared between reports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tsur.region import Region
from tsur.text.normalize import STOP_WORDS, Lemmatizer, Text

__all__ = ["ADDRESS_WORDS", "Places", "place_keys"]

#: Words of addresses («ул.», «дом», «район» …): they say where, not what.
ADDRESS_WORDS = frozenset(
    [
        "ул",
        "улица",
        "д",
        "дом",
        "кв",
        "квартира",
        "г",
        "город",
        "гор",
        "р-н",
        "район",
        "п",
        "пос",
        "поселок",
        "село",
        "с",
        "деревня",
        "дер",
        "пр",
        "проспект",
        "пр-т",
        "шоссе",
        "ш",
        "бульвар",
        "б-р",
        "переулок",
        "пер",
        "область",
        "обл",
        "микрорайон",
        "мкр",
    ]
)

#: The most words of a message (or an incident) compared between reports.
MAX_WORDS = 60

_STREET_MARKERS = frozenset(
    [
        "ул",
        "улица",
        "проспект",
        "пр",
        "пр-т",
        "пр-кт",
        "шоссе",
        "бульвар",
        "б-р",
        "переулок",
        "пер",
        "проезд",
        "площадь",
        "набережная",
        "наб",
        "микрорайон",
        "мкр",
        "ш",
    ]
)
_HOUSE_MARKERS = frozenset({"дом", "д"})
# Words that are never a street's name, next to a marker («бульвар после снегопада»).
_NOT_STREETS = STOP_WORDS | frozenset(
    ["после", "до", "перед", "за", "из", "от", "к", "по", "при", "через", "между"]
)
_SKIP = frozenset(
    ["в", "во", "у", "на", "около", "возле", "напротив", "район", "районе", "рядом", "с", "со", "№"]
)
# Numbered objects, by lemma; transport words share one key: «автобус 41» is «маршрут 41».
_OBJECTS = {
    "школа": "школа",
    "лицей": "школа",
    "гимназия": "школа",
    "сад": "сад",
    "садик": "сад",
    "детсад": "сад",
    "поликлиника": "поликлиника",
    "больница": "больница",
    "амбулатория": "поликлиника",
    "автобус": "route",
    "маршрут": "route",
    "маршрутка": "route",
    "троллейбус": "route",
    "трамвай": "route",
    "корпус": "корпус",
    "котельная": "котельная",
    "подстанция": "подстанция",
    "мфц": "мфц",
}


def _is_number(token: str) -> bool:
    return bool(token) and token[0].isdigit() and len(token) <= 6


def _is_word(token: str) -> bool:
    return (
        bool(token)
        and not token[0].isdigit()
        and any(c.isalpha() for c in token)
        and token not in _NOT_STREETS
    )


def _ordinal(token: str) -> str | None:
    """«124», «6-я», «26-й», «50-го» → the number; None otherwise."""
    head = token.split("-", 1)[0]
    return head if head.isdigit() and len(head) <= 4 else None


def _next_number(tokens: Sequence[str], start: int, limit: int = 4) -> str | None:
    for t in tokens[start : start + limit]:
        if _is_number(t):
            return t
        if t not in _SKIP and t not in _HOUSE_MARKERS and not t.startswith("район"):
            return None
    return None


def place_keys(
    text: Text, address: Text | None = None, *, not_streets: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Street, house and numbered objects named in ``text`` (the address wins).

    Without a street marker («ул.», «проспект» …), a capitalised word right
    before a house number («на Ново-Садовой 20», «Щорса, 86») is read as the
    street, unless its lemma is in ``not_streets`` (the region's place
    names) or a stop word, or the number is followed by a unit («5 дней»).
    """
    keys: dict[str, str] = {}
    for source in (text, address):
        if source is None:
            continue
        found = _scan(source.tokens, source.lemmas)
        if "street" not in found:
            found.update(_bare_address(source, not_streets))
        if source is address:
            keys.update(found)
        else:
            for k, v in found.items():
                keys.setdefault(k, v)
    return keys


# A number followed by one of these is an amount, not a house.
_UNITS = [
    "год",
    "лет",
    "час",
    "мин",
    "сек",
    "руб",
    "рубл",
    "коп",
    "тыс",
    "млн",
    "процент",
    "раз",
    "дн",
    "сут",
    "недел",
    "месяц",
    "мес",
    "кв",
    "этаж",
    "человек",
    "градус",
    "метр",
    "км",
    "см",
    "кг",
    "литр",
    "шт",
    "штук",
]
_BARE = re.compile(
    r"(?<![\w.])([А-ЯЁ][а-яё]+(?:-[А-ЯЁа-яё][а-яё]+)?)\s*,?\s+(?:д\.\s*|дом\s+)?"
    r"(\d{1,4}[а-яА-Я]?)(?![\w])(?!\s*(?:" + "|".join(_UNITS) + r"))"
)


def _bare_address(text: Text, not_streets: frozenset[str]) -> dict[str, str]:
    for m in _BARE.finditer(text.original):
        word = m.group(1).lower().replace("ё", "е")
        at = text.positions_of_token(word)
        lemma = text.lemmas[at] if at is not None else word
        if lemma in not_streets or lemma in STOP_WORDS or word in STOP_WORDS:
            continue
        return {"street": lemma, "house": m.group(2).lower()}
    return {}


def _scan(tokens: Sequence[str], lemmas: Sequence[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    n = len(tokens)
    for i, lemma in enumerate(lemmas):
        tok = tokens[i]
        if tok in _STREET_MARKERS or lemma in _STREET_MARKERS:
            street = None
            nxt = tokens[i + 1] if i + 1 < n else ""
            if _is_word(nxt) and nxt not in _SKIP and nxt not in _HOUSE_MARKERS:
                street = lemmas[i + 1]
                after = i + 2
            elif i > 0 and _is_word(tokens[i - 1]) and tokens[i - 1] not in _SKIP:
                street = lemmas[i - 1]  # «Московское шоссе», «Приморский бульвар»
                after = i + 1
            if street and "street" not in keys:
                keys["street"] = street
                house = _next_number(tokens, after)
                if house:
                    keys.setdefault("house", house)
        elif tok in _HOUSE_MARKERS or lemma in _HOUSE_MARKERS:
            house = _next_number(tokens, i + 1, 2)
            if house:
                keys.setdefault("house", house)
        elif lemma in _OBJECTS:
            number = _next_number(tokens, i + 1, 2)
            if number is None and i > 0:
                number = _ordinal(tokens[i - 1])  # «в 124 школе», «26-й маршрут»
            if number:
                keys.setdefault(_OBJECTS[lemma], number)
    return keys


class Places:
    """A region's reading of places: its place names, and the keys and words of a text.

    Built once per region and lemmatiser; :meth:`keys` and :meth:`words`
    are what the engine stores with an analysis and compares between
    reports.
    """

    def __init__(self, region: Region, lemmatizer: Lemmatizer) -> None:
        names = set(ADDRESS_WORDS)
        for t in region.territories.values():
            for name in (t.name, *t.variants):
                names.update(lemmatizer.phrase(name))
        #: lemmas of the region's place names and of address words
        self.place_lemmas = frozenset(names)

    def keys(self, text: Text, address: Text | None = None) -> dict[str, str]:
        """The places ``text`` and ``address`` name (street, house, numbered objects)."""
        return place_keys(text, address, not_streets=self.place_lemmas)

    def words(self, text: Text) -> frozenset[str]:
        """The content words that say what the problem is (place names left out)."""
        return frozenset(sorted(text.content_lemmas - self.place_lemmas)[:MAX_WORDS])
