"""Grouping: which incident a new message belongs to, or which resolved one it reopens.

- :mod:`~tsur.grouping.places` reads the places a message names and the words
  that say what its problem is;
- :mod:`~tsur.grouping.candidates` is what the store finds around a message;
- :mod:`~tsur.grouping.match` picks the open incident it joins and what that
  incident learns;
- :mod:`~tsur.grouping.reopen` decides when it reopens a resolved one.

All of it is pure: no storage, no clock.
"""

from tsur.grouping.candidates import (
    Candidates,
    ClosedCandidate,
    Lookup,
    OpenCandidate,
    close_topics,
    has_address,
    lookup_for,
    object_topics,
)
from tsur.grouping.match import GENERIC_WORDS, GroupMatch, Joined, best_match, match_candidate
from tsur.grouping.places import ADDRESS_WORDS, Places, place_keys
from tsur.grouping.reopen import reopen_reason, reopen_target

__all__ = [
    "ADDRESS_WORDS",
    "GENERIC_WORDS",
    "Candidates",
    "ClosedCandidate",
    "GroupMatch",
    "Joined",
    "Lookup",
    "OpenCandidate",
    "Places",
    "best_match",
    "close_topics",
    "has_address",
    "lookup_for",
    "match_candidate",
    "object_topics",
    "place_keys",
    "reopen_reason",
    "reopen_target",
]
