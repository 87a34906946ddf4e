"""Which open incident a new message belongs to: places, numbered objects, words.

A message about the same problem as an open incident joins it instead of
making a new one: the same street and house; the same numbered object
(school № 77, bus route 41) in the same topic family; or, within one
topic, enough shared content words. Two known and different places
(another house, another school) are two problems however alike the words.
A reply in the same thread joins without any of this (the store finds it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import attrs

from tsur.grouping.candidates import OpenCandidate
from tsur.grouping.places import QUALIFIER_KEYS, SPELLED_ORDINALS, informative
from tsur.text.russian import decimal

__all__ = [
    "GENERIC_WORDS",
    "SAME_PROBLEM_WORD",
    "GroupMatch",
    "Joined",
    "best_match",
    "match_candidate",
]

#: the keys of an address, not objects of their own (a street's name and kind only tell
#: two streets apart)
_ADDRESS_KEYS = frozenset({"street", "house", "crossing"}) | QUALIFIER_KEYS
#: numbered objects whose key is not a Russian word (how a curator reads them)
_OBJECT_NAMES = {"route": "маршрут", "stop": "остановка"}


@attrs.frozen
class GroupMatch:
    """Why a message joins a candidate incident, and how strongly."""

    score: float
    reason: str


#: Words every report of a house, a school or a bus says: not what the problem is.
GENERIC_WORDS = frozenset(
    [
        "дом",
        "подъезд",
        "квартира",
        "этаж",
        "житель",
        "жилец",
        "заявитель",
        "заявительница",
        "сообщать",
        "просить",
        "прошу",
        "день",
        "неделя",
        "сегодня",
        "вчера",
        "ук",
        "управляющий",
        "управляйка",
        "компания",
        "организация",
        "здравствуйте",
        "добрый",
        "адрес",
        "мкд",
        "автобус",
        "маршрут",
        "остановка",
        "школа",
        "ребенок",
        "дети",
        "человек",
        "люди",
        "работать",
        "нет",
        "уже",
        "опять",
        "снова",
        "второй",
        "третий",
        "пассажир",
        "далее",
    ]
)


#: one word of the problem said as a noun, an adverb or an adjective: «вечером», «вечерние
#: рейсы» and «после 7 вечера» all say when the bus is missing
SAME_PROBLEM_WORD = {
    "вечером": "вечер",
    "вечерний": "вечер",
    "утром": "утро",
    "утренний": "утро",
    "ночью": "ночь",
    "ночной": "ночь",
}


def _problem_words(words: frozenset[str], places: Mapping[str, str]) -> frozenset[str]:
    """The words that say what the problem is: no generic words, numbers or place names.

    Forms of one word (:data:`SAME_PROBLEM_WORD`) count as that word.
    """
    named = {w for v in places.values() for w in v.replace("+", " ").split()}
    return frozenset(
        SAME_PROBLEM_WORD.get(w, w)
        for w in words
        if w not in GENERIC_WORDS
        and w not in named
        and not w[:1].isdigit()
        and w not in SPELLED_ORDINALS  # «пятый этаж», «третий день»: a number
    )


def match_candidate(
    mine: Mapping[str, str],
    words: frozenset[str],
    theirs: Mapping[str, str],
    their_words: frozenset[str],
    *,
    same_topic: bool,
    threshold: float,
    address_only: bool = False,
    close_topic: bool = False,
) -> GroupMatch | None:
    """Whether a message (``mine``, ``words``) belongs to a candidate incident.

    ``address_only``: only the same street and house will do (a message that
    names no town, compared with incidents of the whole region).
    ``close_topic``: the incident's topic is one the classifiers nearly gave
    the message (:func:`~tsur.grouping.close_topics`): at one place, as good
    as the same subtopic; words alone never join across subtopics.

    Two known and different places (another house, school, route, crossroads
    or stop) are two problems. Otherwise, in order: the same street and
    house, the same crossroads, the same numbered object or stop, each with
    the same subtopic or two problem words in common (:data:`GENERIC_WORDS`
    do not count); the same street with a house on at most one side, in the
    same subtopic; else, in the same subtopic, enough words in common.
    """
    shared = set(mine) & set(theirs)
    if any(mine[k] != theirs[k] for k in shared):
        return None  # another house, another school, another route: another problem
    if _crossing_apart(mine, theirs) or _crossing_apart(theirs, mine):
        return None
    common = len(words & their_words)
    # One place may have several problems (a roof and the heating of one house):
    # a place match needs the same subtopic or some words of the problem in common.
    problem = _problem_words(words, mine) & _problem_words(their_words, theirs)
    # a house has many problems (a lift, the heating, the roof): two words of the
    # problem in common; a route, a school or a crossroads fewer: one
    related = same_topic or close_topic or len(problem) >= 2
    if "street" in shared and "house" in shared and related:
        return GroupMatch(2.0, f"тот же адрес ({mine['street']} {mine['house']})")
    if address_only:
        return None
    if "crossing" in shared and related:
        return GroupMatch(1.8, f"тот же перекрёсток ({mine['crossing'].replace('+', ' и ')})")
    # a bus route or a school has problems of its own too (a rude driver, the evening
    # timetable): a topic the classifiers only nearly chose needs a word of the problem
    related = same_topic or len(problem) >= 1
    objects = sorted(k for k in shared if k not in _ADDRESS_KEYS)
    if objects and related:
        what = ", ".join(f"{_OBJECT_NAMES.get(k, k)} {mine[k]}" for k in objects)
        return GroupMatch(1.5, f"тот же объект: {what}")
    if "street" in shared and (same_topic or close_topic):
        return GroupMatch(1.2, f"та же улица ({mine['street']}) и та же тема")
    if not same_topic:
        return None
    # Cosine of the two word sets: symmetric, so a short message is not
    # "contained" in a long one by a few generic words.
    score = common / math.sqrt(max(1, len(words)) * max(1, len(their_words)))
    if common >= 3 and score >= threshold:
        return GroupMatch(score, f"та же тема и территория, тексты совпадают на {decimal(score)}")
    return None


def _crossing_apart(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """A crossroads on one side, a street not on it on the other: two places."""
    crossing, street = a.get("crossing"), b.get("street")
    return bool(crossing and street and "crossing" not in b and street not in crossing.split("+"))


@attrs.frozen
class Joined:
    """The open incident a message joins, why, and what the incident learns from it.

    ``places`` and ``words`` are the incident's new place keys and words when
    the message adds to them (a house number, new words), else None: later
    reports can then match what it taught.
    """

    incident_id: int
    reason: str
    places: Mapping[str, str] | None = None
    words: frozenset[str] | None = None


def best_match(
    places: Mapping[str, str],
    words: frozenset[str],
    topic: str | None,
    candidates: Iterable[OpenCandidate],
    *,
    threshold: float,
    address_only: bool = False,
    close: frozenset[str] = frozenset(),
) -> Joined | None:
    """The candidate a message (on ``topic``, naming ``places``) joins best, if any.

    ``topic`` None: the classifiers gave none; only a shared place with a word
    of the problem in common can join.

    ``address_only``: the message names no territory; only an incident at the
    same street and house can be its own. ``close``: the topics the
    classifiers nearly chose (an incident of one of them matches by place as
    if of the same topic).
    """
    best: tuple[float, OpenCandidate, str] | None = None
    for c in candidates:
        found = match_candidate(
            places,
            words,
            c.places,
            c.words,
            same_topic=c.topic == topic,
            threshold=threshold,
            address_only=address_only,
            close_topic=c.topic in close,
        )
        if found is not None and (best is None or found.score > best[0]):
            best = (found.score, c, found.reason)
    if best is None:
        return None
    _, c, why = best
    merged = {**places, **c.places}
    # the incident keeps the most informative of its messages' words (a fixed number)
    kept = informative(c.words | words, generic=GENERIC_WORDS)
    return Joined(
        c.id,
        why,
        places=merged if merged != dict(c.places) else None,
        words=kept if kept != c.words else None,
    )
