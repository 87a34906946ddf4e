"""Learning from curators: the store's curated history read back as labelled examples.

The lifecycle is the one writer of a curator's work — ``confirmed`` (the
engine's labels approved), ``corrected`` (topic, territory), ``reassigned``
(executor), ``merged`` and ``split`` events, each signed by the curator —
and this module is its one reader. It turns the
incidents' history into what a model learns from:

- :func:`labelled_examples` — ``(text, label)`` pairs, one per appeal message
  of an incident, the label being the incident's topic or executor as it
  stands now. A curator's label overrides the engine's and the latest
  correction wins, because each correction changes the incident itself; the
  history only tells where the label came from (:attr:`LabelledExample.origin`).
  Messages of thanks are left out, and so
  are labels of incidents still waiting for a curator that no curator set
  (only the engine's guess), rejected incidents, and the curator's own queue as an
  executor (the fallback, no executor's label).
- :func:`duplicate_pairs` — pairs of messages a curator said are one problem
  (``merge``) or two (``split``); the latest word on a pair wins.

Texts are always masked (:func:`training_text`): personal data never
reaches a model file, whatever moderation recorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs

from tsur.domain import Event, Incident, Status
from tsur.errors import InvalidRequest
from tsur.lifecycle.core import LifecycleCore
from tsur.store.base import StoredMessage
from tsur.text.masking import masked_stored_text

__all__ = [
    "CURATION_EVENTS",
    "TARGETS",
    "DuplicatePair",
    "LabelledExample",
    "duplicate_pairs",
    "labelled_examples",
    "training_text",
]

#: What a model can learn to predict from the curated history.
TARGETS = ("topic", "executor")
#: The history events in which a curator confirms or corrects the engine's work.
CURATION_EVENTS = ("confirmed", "corrected", "reassigned", "merged", "split")
#: Where a label comes from: a curator changed it, a curator handled the incident
#: and left it as it was, or nobody but the engine ever set it.
Origin = Literal["corrected", "confirmed", "engine"]
#: Incidents whose labels are only the engine's guess until a curator handles them.
_GUESSES = frozenset({Status.NEW, Status.TRIAGE})
#: Message statuses whose texts are not about the incident's problem (a thanks).
_NOT_AN_APPEAL = frozenset({"thanked"})
#: A large page: every stored message of a kind at once.
_ALL = 2**31 - 1


@attrs.frozen
class LabelledExample:
    """One appeal message with the label its incident has now.

    ``origin`` is ``"corrected"`` when a curator set this label (a topic
    corrected, an executor reassigned, a topic given when splitting),
    ``"confirmed"`` when a curator handled the incident and kept the
    engine's label (confirmed it, or changed something else), ``"engine"``
    when only the engine ever set it.
    ``at`` is when the label was last set by a curator (else when the
    incident was created).
    """

    text: str
    label: str
    incident_id: int
    message_id: int
    origin: Origin
    at: datetime

    @property
    def curated(self) -> bool:
        """Whether a curator corrected or confirmed the label."""
        return self.origin != "engine"


@attrs.frozen
class DuplicatePair:
    """Two messages a curator judged: one problem (``duplicate``) or two.

    A merge pairs the first moved message of each duplicate with the first
    message the target had of its own; a split pairs the first message split
    off with the first message that stayed.
    """

    left_message_id: int
    right_message_id: int
    left_text: str
    right_text: str
    duplicate: bool
    left_incident_id: int
    right_incident_id: int
    actor: str
    at: datetime


def _check_target(target: Any) -> str:
    if target not in TARGETS:
        raise InvalidRequest(f"the target is one of {', '.join(TARGETS)}, not {target!r}")
    return str(target)


def _check_since(since: Any) -> datetime | None:
    if since is not None and (
        not isinstance(since, datetime) or since.tzinfo is None or since.utcoffset() is None
    ):
        raise InvalidRequest(f"'since' must be a date-time with a UTC offset, got {since!r}")
    return since


def training_text(sm: StoredMessage) -> str:
    """The text of a stored message a model may learn from: masked as it may be shown
    (:func:`~tsur.text.masking.masked_stored_text`). A model file keeps words of its
    texts, so no personal data may reach one, whatever moderation recorded."""
    return masked_stored_text(sm.message.text, sm.moderation)


def _is_appeal(sm: StoredMessage) -> bool:
    return sm.status not in _NOT_AN_APPEAL and bool(training_text(sm).strip())


def _curation(life: LifecycleCore) -> dict[int, list[Event]]:
    """The curators' events per incident, oldest first."""
    out: dict[int, list[Event]] = defaultdict(list)
    for incident_id, ev in life.repository.events_of_kind(list(CURATION_EVENTS)):
        out[incident_id].append(ev)
    return out


def _origin(target: str, events: Sequence[Event], inc: Incident) -> tuple[Origin, datetime]:
    """Where the incident's ``target`` label came from, and when a curator last set it."""
    changed: datetime | None = None
    touched: datetime | None = None
    for ev in events:
        touched = ev.at
        if target == "topic":
            if (ev.kind == "corrected" and "topic" in ev.data) or (
                ev.kind == "split" and ev.data.get("topic") and "from" in ev.data
            ):
                changed = ev.at
        elif ev.kind == "reassigned":
            changed = ev.at
    if changed is not None:
        return "corrected", changed
    if touched is not None:
        return "confirmed", touched
    return "engine", inc.created_at


def labelled_examples(
    life: LifecycleCore,
    target: str = "topic",
    *,
    since: datetime | None = None,
    curated_only: bool = False,
) -> list[LabelledExample]:
    """``(text, label)`` examples from the store's incidents; see :mod:`.learning`.

    ``target`` is ``"topic"`` or ``"executor"``. ``since`` keeps the incidents
    created at or after it and those a curator worked on at or after it;
    ``curated_only`` keeps only labels a curator corrected or confirmed.
    Oldest incident first, its messages in order.
    """
    target = _check_target(target)
    since = _check_since(since)
    curation = _curation(life)
    by_incident: dict[int, list[StoredMessage]] = defaultdict(list)
    for sm in life.repository.messages(status="done", limit=_ALL):
        if sm.incident_id is not None and _is_appeal(sm):
            by_incident[sm.incident_id].append(sm)
    out: list[LabelledExample] = []
    for inc in sorted(life.repository.incidents(limit=None), key=lambda i: i.id or 0):
        if inc.id is None or inc.id not in by_incident:
            continue
        label = inc.topic if target == "topic" else inc.executor
        if label is None or inc.status is Status.REJECTED:
            continue
        if target == "executor" and label == life.region.curator:
            continue
        events = curation.get(inc.id, [])
        origin, at = _origin(target, events, inc)
        if origin == "engine" and inc.status in _GUESSES:
            continue
        if curated_only and origin == "engine":
            continue
        if since is not None and inc.created_at < since and not any(e.at >= since for e in events):
            continue
        out.extend(
            LabelledExample(
                text=training_text(sm),
                label=label,
                incident_id=inc.id,
                message_id=sm.id,
                origin=origin,
                at=at,
            )
            for sm in sorted(by_incident[inc.id], key=lambda s: s.id)
        )
    return out


def _first(ids: Iterable[int], messages: dict[int, StoredMessage]) -> StoredMessage | None:
    found = [messages[i] for i in ids if i in messages and _is_appeal(messages[i])]
    return min(found, key=lambda s: s.id) if found else None


def duplicate_pairs(life: LifecycleCore, since: datetime | None = None) -> list[DuplicatePair]:
    """Message pairs a curator merged (duplicates) or split (not duplicates), oldest first.

    ``since`` keeps the judgements made at or after it; when a curator
    judged a pair twice (merged, then split apart) only the latest counts.
    """
    found = life.repository.events_of_kind(["merged", "split"], since=_check_since(since))
    # each judgement: (incident moved from/into, its moved messages, the other incident)
    judged: list[tuple[Event, int, list[int], int, bool]] = []
    for incident_id, ev in found:
        moved = [int(m) for m in ev.data.get("message_ids", [])]
        if ev.kind == "merged" and "into" in ev.data:
            judged.append((ev, incident_id, moved, int(ev.data["into"]), True))
        elif ev.kind == "split" and "from" in ev.data:
            judged.append((ev, incident_id, moved, int(ev.data["from"]), False))
    others = sorted({j[3] for j in judged})
    members: dict[int, list[int]] = defaultdict(list)
    for sm in life.repository.messages(status="done", limit=_ALL):
        if sm.incident_id in set(others):
            members[sm.incident_id].append(sm.id)
    wanted = {m for j in judged for m in j[2]} | {m for ids in members.values() for m in ids}
    messages = {sm.id: sm for sm in life.repository.messages_by_id(sorted(wanted))}
    latest: dict[frozenset[int], DuplicatePair] = {}
    for ev, incident_id, moved, other, duplicate in judged:
        left = _first(moved, messages)
        right = _first((m for m in members.get(other, []) if m not in set(moved)), messages)
        if left is None or right is None:
            continue
        pair = DuplicatePair(
            left_message_id=left.id,
            right_message_id=right.id,
            left_text=training_text(left),
            right_text=training_text(right),
            duplicate=duplicate,
            left_incident_id=incident_id,
            right_incident_id=other,
            actor=ev.actor,
            at=ev.at,
        )
        key = frozenset((left.id, right.id))
        latest.pop(key, None)  # re-insert: the latest judgement, in time order
        latest[key] = pair
    return list(latest.values())
