"""When a new message reopens a resolved incident instead of making a new one.

A citizen who writes again about a problem that was declared solved is
saying it is not: the incident goes back to its executor
(``resolved``/``closed`` → ``reopened``) with a new resolution term. A
message repeats a resolved incident, within ``lifecycle.reopen_window_days``
of its last change, when

1. it replies in the thread of one of the incident's messages;
2. the same citizen writes again on the same source about the same topic
   family (in the same territory, when the message's is known);
3. it names the same street and house, in the same topic family and
   territory.

The first rule that holds gives the reason; candidates are tried in that
order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from tsur.domain import Status
from tsur.grouping.candidates import ClosedCandidate
from tsur.grouping.places import QUALIFIER_KEYS

__all__ = ["REASONS", "reopen_reason", "reopen_target", "same_place"]

#: Why a message reopens an incident, strongest first (as the history says it).
REASONS = {
    "thread": "ответ в переписке по закрытому обращению",
    "author": "тот же заявитель пишет снова",
    "address": "та же проблема по тому же адресу",
}

_DONE = (Status.RESOLVED, Status.CLOSED)


def same_place(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """The same place: the same keys with the same values, except that a qualifier
    (:data:`~tsur.grouping.places.QUALIFIER_KEYS`, «Льва» of «ул. Льва Толстого») one side
    does not say agrees with either."""
    core = {k for k in (*a, *b) if k not in QUALIFIER_KEYS}
    if any(a.get(k) != b.get(k) for k in core):
        return False
    return all(a[k] == b[k] for k in QUALIFIER_KEYS if k in a and k in b)


def reopen_reason(
    c: ClosedCandidate,
    *,
    family: Collection[str],
    territory: str | None,
    places: Mapping[str, str],
) -> str | None:
    """Why a message reopens ``c``; None if it does not.

    ``family`` is every topic of the message's topic family
    (:meth:`tsur.Region.family`; empty without a topic), ``territory`` and
    ``places`` where it is and what it names.
    """
    if c.status not in _DONE:
        return None
    if c.in_thread:
        return REASONS["thread"]
    if c.topic not in family:
        return None
    if c.same_author and (territory is None or c.territory == territory):
        return REASONS["author"]
    if (
        territory is not None
        and c.territory == territory
        and {"street", "house"} <= set(places)
        and same_place(c.places, places)
    ):
        return REASONS["address"]
    return None


def reopen_target(
    candidates: Iterable[ClosedCandidate],
    *,
    family: Collection[str],
    territory: str | None,
    places: Mapping[str, str],
) -> tuple[ClosedCandidate, str] | None:
    """The resolved incident a message reopens and why: the strongest rule first."""
    found: list[tuple[int, ClosedCandidate, str]] = []
    order = list(REASONS.values())
    for c in candidates:
        why = reopen_reason(c, family=family, territory=territory, places=places)
        if why is not None:
            found.append((order.index(why), c, why))
    if not found:
        return None
    _, c, why = min(found, key=lambda f: f[0])
    return c, why
