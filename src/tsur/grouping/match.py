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
from tsur.grouping.places import MAX_WORDS
from tsur.text.russian import decimal

__all__ = ["GroupMatch", "Joined", "best_match", "match_candidate"]

#: numbered objects whose key is not a Russian word (how a curator reads them)
_OBJECT_NAMES = {"route": "маршрут"}


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
        return GroupMatch(2.0, f"тот же адрес ({mine['street']} {mine['house']})")
    objects = sorted(k for k in shared if k not in {"street", "house"})
    if objects and related:
        what = ", ".join(f"{_OBJECT_NAMES.get(k, k)} {mine[k]}" for k in objects)
        return GroupMatch(1.5, f"тот же объект: {what}")
    if not same_topic:
        return None
    # Cosine of the two word sets: symmetric, so a short message is not
    # "contained" in a long one by a few generic words.
    score = common / math.sqrt(max(1, len(words)) * max(1, len(their_words)))
    if common >= 3 and score >= threshold:
        return GroupMatch(score, f"та же тема и территория, тексты совпадают на {decimal(score)}")
    return None


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
    topic: str,
    candidates: Iterable[OpenCandidate],
    *,
    threshold: float,
) -> Joined | None:
    """The candidate a message (on ``topic``, naming ``places``) joins best, if any."""
    best: tuple[float, OpenCandidate, str] | None = None
    for c in candidates:
        found = match_candidate(
            places, words, c.places, c.words, same_topic=c.topic == topic, threshold=threshold
        )
        if found is not None and (best is None or found.score > best[0]):
            best = (found.score, c, found.reason)
    if best is None:
        return None
    _, c, why = best
    merged = {**places, **c.places}
    more = words - c.words
    return Joined(
        c.id,
        why,
        places=merged if merged != dict(c.places) else None,
        words=frozenset(sorted(c.words | more)[:MAX_WORDS])
        if more and len(c.words) < MAX_WORDS
        else None,
    )
