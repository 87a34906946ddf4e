"""Which open incident a new message belongs to: places, numbered objects, words.

A message about the same problem as an open incident joins it instead of
making a new one: a reply in the same thread; the same street and house;
the same numbered object (school № 77, bus route 41) in the same topic
family; or, within one topic, enough shared content words. Two known and
different places (another house, another school) are two problems however
alike the words.

Place keys are read from the lemmatised text and the address:
``{"street": "революционный", "house": "13", "школа": "77", "route": "41"}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import attrs

from tsur.text.normalize import STOP_WORDS, Text, get_lemmatizer

__all__ = ["GroupMatch", "decode_keys", "encode_keys", "match_candidate", "place_keys"]

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
        lemma = get_lemmatizer().lemma(word)
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


def encode_keys(keys: Mapping[str, str]) -> str | None:
    """Keys as stored with an incident (``street=мир;house=5``), None when empty."""
    if not keys:
        return None
    return ";".join(f"{k}={v}" for k, v in sorted(keys.items()))[:200]


def decode_keys(stored: str | None) -> dict[str, str]:
    """The inverse of :func:`encode_keys`; unreadable parts are ignored."""
    out: dict[str, str] = {}
    for part in (stored or "").split(";"):
        k, sep, v = part.partition("=")
        if sep and k and v:
            out[k] = v
    return out


@attrs.frozen
class GroupMatch:
    """Why a message joins a candidate incident, and how strongly."""

    score: float
    reason: str


def match_candidate(
    mine: Mapping[str, str],
    words: frozenset[str],
    theirs: Mapping[str, str],
    their_words: frozenset[str],
    *,
    same_topic: bool,
    threshold: float,
) -> GroupMatch | None:
    """Whether a message (``mine``, ``words``) belongs to a candidate incident."""
    shared = set(mine) & set(theirs)
    if any(mine[k] != theirs[k] for k in shared):
        return None  # another house, another school, another route: another problem
    common = len(words & their_words)
    # One place may have several problems (a roof and the heating of one house):
    # a place match needs the same subtopic or some words of the problem in common.
    related = same_topic or common >= 2
    if "street" in shared and "house" in shared and related:
        return GroupMatch(2.0, f"same address ({mine['street']} {mine['house']})")
    objects = sorted(k for k in shared if k not in {"street", "house"})
    if objects and related:
        what = ", ".join(f"{k} {mine[k]}" for k in objects)
        return GroupMatch(1.5, f"same {what}")
    if not same_topic:
        return None
    # Cosine of the two word sets: symmetric, so a short message is not
    # "contained" in a long one by a few generic words.
    score = common / math.sqrt(max(1, len(words)) * max(1, len(their_words)))
    if common >= 3 and score >= threshold:
        return GroupMatch(score, f"same topic and territory, text overlap {score:.2f}")
    return None
