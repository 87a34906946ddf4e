"""What the store finds for a message to be grouped against.

The store answers one :class:`Lookup` per message with :class:`Candidates`:
the open incident of the thread the message replies in, open incidents of
the same topic family in the same municipality, and resolved or closed
ones the message may repeat. It only finds them; :mod:`tsur.grouping`
decides which one, if any, the message belongs to.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from tsur.analysis import Analysis
from tsur.domain import Status
from tsur.grouping.places import OBJECT_WORDS
from tsur.region import Region

__all__ = [
    "Candidates",
    "ClosedCandidate",
    "Lookup",
    "OpenCandidate",
    "close_topics",
    "has_address",
    "lookup_for",
    "object_topics",
]


#: a runner-up topic with at least this share of the winner's confidence is a close one
CLOSE_SHARE = 0.5


def close_topics(analysis: Analysis) -> frozenset[str]:
    """The topics the classifiers nearly chose instead of the message's own.

    Runner-ups with at least :data:`CLOSE_SHARE` of the winner's confidence
    («с потолка льёт» is a roof or the management company): an open incident
    of one of them at the same place may be the same problem. None when a
    source gave the topic.
    """
    c = analysis.classification
    if analysis.message.topic is not None or c is None or c.topic is None:
        return frozenset()
    return frozenset(t for t, conf in c.alternatives if conf >= CLOSE_SHARE * c.confidence)


#: the topics named by each kind of numbered object, per region (computed once)
_OBJECT_TOPICS: weakref.WeakKeyDictionary[Region, dict[str, tuple[str, ...]]] = (
    weakref.WeakKeyDictionary()
)


def object_topics(region: Region, places: Mapping[str, str]) -> tuple[str, ...]:
    """The topic families of the numbered objects ``places`` name (none for a street).

    A bus route belongs to the families whose topics list «автобус» or
    «маршрут» among their keywords, a school to those that list «школа»: the
    region's own topic tree says where an object's problems are filed. A
    message the classifiers gave no topic is looked up there (and joins only
    an incident at the same object, about the same problem).
    """
    found = _OBJECT_TOPICS.get(region)
    if found is None:
        found = {}
        for kind, names in OBJECT_WORDS.items():
            named = [
                t.id for t in region.topics.values() if names & {k.lower() for k in t.keywords}
            ]
            found[kind] = tuple(dict.fromkeys(f for t in named for f in region.family(t)))
        _OBJECT_TOPICS[region] = found
    return tuple(dict.fromkeys(t for k in sorted(places) for t in found.get(k, ())))


def has_address(places: Mapping[str, str]) -> bool:
    """Whether ``places`` name a street and a house: an address of its own."""
    return "street" in places and "house" in places


@attrs.frozen
class Lookup:
    """What to look for around one message.

    ``refs`` are the external ids it replies to (its parent and thread, on
    ``source``); ``topics`` every topic of its topic family (the
    direction its topic belongs to; without a topic, the families of the
    numbered objects it names, :func:`object_topics`, else empty) and
    ``territories`` every territory of its municipality (open incidents created since
    ``open_since``); ``author``, ``territory`` and ``places`` find the
    resolved incidents it may repeat (changed since ``closed_since``).
    """

    source: str
    refs: tuple[str, ...]
    author: str | None
    topics: tuple[str, ...]
    territory: str | None
    territories: tuple[str, ...]
    places: Mapping[str, str]
    open_since: datetime
    closed_since: datetime
    open_until: datetime | None = None
    #: the message's own topic: incidents of other topics of the family can only
    #: match by a shared place (None: every topic of ``topics`` is looked at alike)
    topic: str | None = None


@attrs.frozen
class OpenCandidate:
    """An open incident a new message might join."""

    id: int
    status: Status
    topic: str | None
    created_at: datetime
    places: Mapping[str, str] = attrs.field(factory=dict)
    words: frozenset[str] = frozenset()


@attrs.frozen
class ClosedCandidate:
    """A resolved or closed incident a new message might repeat.

    ``in_thread``: one of its messages is what the new one replies to;
    ``same_author``: the same citizen wrote one of its messages on the same
    source.
    """

    id: int
    status: Status
    topic: str | None
    territory: str | None
    executor: str | None
    sla_policy: str | None
    places: Mapping[str, str] = attrs.field(factory=dict)
    in_thread: bool = False
    same_author: bool = False


@attrs.frozen
class Candidates:
    """Everything the store found for one :class:`Lookup`."""

    thread: int | None = None
    #: the executor of the thread's incident when the lookup was made
    thread_executor: str | None = None
    open: tuple[OpenCandidate, ...] = ()
    closed: tuple[ClosedCandidate, ...] = ()

    def without(self, incident_id: int) -> Candidates:
        """The same candidates less a closed one (another worker changed it meanwhile)."""
        return attrs.evolve(self, closed=tuple(c for c in self.closed if c.id != incident_id))


def lookup_for(analysis: Analysis, region: Region) -> Lookup:
    """What the store must find around the message of ``analysis``.

    Open incidents are looked for in the message's municipality within
    ``pipeline.group_window_days`` of it, before or after (a message read late
    or out of order joins neither last month's incident nor next month's);
    resolved ones changed within
    ``lifecycle.reopen_window_days``. A message that names no territory
    but a street and a house («Ворошилова, 12») is looked up in the whole
    region: it can join an open incident at that address
    (:func:`~tsur.grouping.best_match` with ``address_only``).
    """
    m = analysis.message
    topic, territory = analysis.topic, analysis.territory
    cfg = region.config
    return Lookup(
        source=m.source,
        refs=tuple(r for r in (m.parent_id, m.thread_id) if r),
        author=m.author.id if m.author and m.author.id else None,
        topics=tuple(
            dict.fromkeys(t for k in (topic, *close_topics(analysis)) for t in region.family(k))
        )
        if topic is not None
        else object_topics(region, analysis.places),
        territory=territory,
        territories=region.same_municipality(territory)
        if territory
        else tuple(region.territories)
        if has_address(analysis.places)
        else (),
        places=analysis.places,
        open_since=m.created_at - timedelta(days=cfg.pipeline.group_window_days),
        closed_since=m.created_at - timedelta(days=cfg.lifecycle.reopen_window_days),
        open_until=m.created_at + timedelta(days=cfg.pipeline.group_window_days),
        topic=topic,
    )
