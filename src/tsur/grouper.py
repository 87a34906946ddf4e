"""Grouping within the pipeline: which incident a new message joins or reopens.

:mod:`tsur.grouping` reads places and compares two reports; the
:class:`Grouper` here asks the store for candidates (open incidents of the
same topic family in the same municipality, recently resolved ones the
message repeats), picks the best, and says what the message teaches the
incident.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tsur.config import RegionConfig
from tsur.domain import ENGINE_ACTOR as ACTOR
from tsur.domain import Incident, Message, Status
from tsur.grouping import decode_keys, encode_keys, match_candidate, place_keys
from tsur.sla.executors import ExecutorCalendars, due
from tsur.store.base import Batch, ClaimedMessage, GroupCandidate
from tsur.text.normalize import Lemmatizer, Text
from tsur.typing import Notification

__all__ = ["Grouper"]


_ADDRESS_WORDS = frozenset(
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


_MUNICIPAL = frozenset({"city_okrug", "municipal_district", "municipal_okrug"})


def _places_by_municipality(config: RegionConfig) -> dict[str, tuple[str, ...]]:
    """Each territory → every territory of its municipality (itself only above one)."""
    parent = {t.id: t.parent for t in config.territories}
    kind = {t.id: t.kind for t in config.territories}

    def municipality(tid: str) -> str | None:
        node: str | None = tid
        while node is not None:
            if kind[node] in _MUNICIPAL:
                return node
            node = parent[node]
        return None

    members: dict[str, list[str]] = {}
    for t in config.territories:
        muni = municipality(t.id)
        if muni is not None:
            members.setdefault(muni, []).append(t.id)
    return {
        t.id: tuple(members[m]) if (m := municipality(t.id)) else (t.id,)
        for t in config.territories
    }


class Grouper:
    """Finds the incident a message belongs to, or the resolved one it reopens."""

    def __init__(
        self, config: RegionConfig, lemmatizer: Lemmatizer, calendars: ExecutorCalendars
    ) -> None:
        self.config = config
        self.calendars = calendars
        self.policies = {p.id: p for p in config.sla}
        # Places are compared at the municipality's level: a city district's
        # report and a report naming only the city may be one problem.
        self.same_place = _places_by_municipality(config)
        # Place names and address words say where, not what: keep them out of
        # the word signature used to spot duplicates.
        places = set(_ADDRESS_WORDS)
        for t in config.territories:
            for name in (t.name, *t.variants):
                places.update(lemmatizer.phrase(name))
        self.place_lemmas = frozenset(places)

    def signature(self, text: Text) -> str:
        """The words of a message that say what its problem is (stored with an incident)."""
        return " ".join(sorted(text.content_lemmas - self.place_lemmas)[:60])

    def keys(self, text: Text, address: Text | None) -> dict[str, str]:
        """The places a message names (street, house, numbered objects)."""
        return place_keys(text, address, not_streets=self.place_lemmas)

    def find(
        self,
        batch: Batch,
        m: Message,
        topic: str | None,
        territory: str | None,
        text: Text,
        keys: dict[str, str],
    ) -> tuple[int, str, dict[str, str]] | None:
        """The open incident ``m`` belongs to, why, and what it adds to its picture."""
        refs = [r for r in (m.parent_id, m.thread_id) if r]
        if refs:
            inc_id = batch.incident_of_message(m.source, refs)
            if inc_id is not None:
                return inc_id, "reply in the same thread", {}
        if topic is None or territory is None:
            return None
        window = timedelta(days=self.config.pipeline.group_window_days)
        root = topic.split(".")[0]
        words = text.content_lemmas - self.place_lemmas
        best: tuple[float, GroupCandidate, str] | None = None
        for c in batch.group_candidates(
            topic=root, territories=self.same_place[territory], since=m.created_at - window
        ):
            if c.created_at > m.created_at + window:
                continue
            found = match_candidate(
                keys,
                words,
                decode_keys(c.address_key),
                c.signature,
                same_topic=c.topic == topic,
                threshold=self.config.pipeline.group_similarity,
            )
            if found is not None and (best is None or found.score > best[0]):
                best = (found.score, c, found.reason)
        if best is None:
            return None
        _, c, why = best
        # What the new report adds (a house number, new words) stays with the
        # incident, so that later reports can match it too.
        learned: dict[str, str] = {}
        merged = {**keys, **decode_keys(c.address_key)}
        if merged and encode_keys(merged) != c.address_key:
            learned["address_key"] = encode_keys(merged) or ""
        more = words - c.signature
        if more and len(c.signature) < 60:
            learned["signature"] = " ".join(sorted(c.signature | more)[:60])
        return c.id, why, learned

    def reopen(
        self,
        batch: Batch,
        cm: ClaimedMessage,
        topic: str | None,
        territory: str | None,
        akey: str | None,
        now: datetime,
        moderation: Any,
    ) -> int | None:
        """Reopen a recently resolved incident the message repeats; its id, or None."""
        m = cm.message
        window = timedelta(days=self.config.lifecycle.reopen_window_days)
        keys = decode_keys(akey)
        candidates = batch.reopen_candidates(
            source=m.source,
            author_id=m.author.id if m.author and m.author.id else None,
            refs=[r for r in (m.parent_id, m.thread_id) if r],
            topic=topic,
            territory=territory,
            address_key=akey if {"street", "house"} <= set(keys) else None,
            since=m.created_at - window,
        )
        for c, why in candidates:
            policy = self.policies.get(c.sla_policy or "")
            calendar = self.calendars.for_executor(c.executor)
            resolution_due = due(calendar, m.created_at, policy.resolution) if policy else None
            inc = Incident(status=c.status, created_at=c.created_at, id=c.id)
            inc.record(
                "message_added",
                at=now,
                actor=ACTOR,
                reason=why,
                data={"message_id": cm.id, "source": m.source, "external_id": m.external_id},
            )
            inc.transition(
                Status.REOPENED,
                at=now,
                actor=ACTOR,
                reason=f"повторное сообщение: {why}",
                data={"message_id": cm.id, "executor": c.executor},
            )
            if resolution_due is not None:
                inc.record(
                    "deadlines",
                    at=now,
                    actor=ACTOR,
                    reason="reopened",
                    data={"resolution_due": resolution_due.isoformat()},
                )
            if not batch.reopen(c.id, cm.id, inc.history, resolution_due=resolution_due):
                continue
            batch.done(cm.id, c.id, moderation)
            batch.notify(
                Notification(
                    kind="reopened",
                    incident_id=c.id,
                    at=now,
                    recipients=(c.executor or self.config.region.curator,),
                    text=f"Обращение №{c.id} возвращено в работу: {why}",
                    data={"message_id": cm.id},
                ),
                dedup_key=f"reopened:{c.id}:{cm.id}",
            )
            return c.id
        return None
