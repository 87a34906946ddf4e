"""A batch of claimed messages and the writes that complete it, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from tsur.domain import Incident, Notification, Status
from tsur.grouping.candidates import Candidates, ClosedCandidate, Lookup, OpenCandidate
from tsur.store import schema
from tsur.store.base import Batch, ClaimedMessage
from tsur.store.rows import (
    INC,
    E,
    M,
    decode_places,
    dialect_insert,
    encode_places,
    event_values,
    incident_values,
    notification_row,
)

if TYPE_CHECKING:
    from tsur.decide import Outcome

__all__ = ["SqlBatch"]

_OPEN = [s.value for s in Status if s.is_open]
_DONE = [Status.RESOLVED.value, Status.CLOSED.value]
#: At most this many open incidents are compared with one message.
MAX_OPEN_CANDIDATES = 200


def _in_family(family: str) -> sa.ColumnElement[bool]:
    return sa.or_(INC.c.topic == family, INC.c.topic.startswith(family + "."))


class SqlBatch(Batch):
    """Writes of one batch, buffered and written in bulk when the batch ends.

    New incidents get provisional negative ids until :meth:`flush` inserts
    them all at once; every reference (events, messages, notifications,
    later messages joining them) is translated to the real id then.
    """

    def __init__(self, conn: sa.Connection, messages: list[ClaimedMessage], now: datetime) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.messages = messages
        self.now = now
        self.id_map: dict[int, int] = {}
        self._new: list[dict[str, Any]] = []  # incident rows; index i has provisional id -(i+1)
        self._new_objects: list[Incident] = []
        self._events: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._notes: list[Notification] = []
        self._attached: dict[int, int] = {}
        self._learned: dict[int, dict[str, str | None]] = {}
        self._any_done: bool | None = None
        self._seen: dict[tuple[str, str], int] = {}  # (source, external id) → incident
        self._keys = {c.id: c.message.key for c in messages}

    def real_id(self, incident_id: int) -> int:
        """The stored id of an incident (provisional ids are negative until flushed)."""
        return self.id_map.get(incident_id, incident_id)

    # reading -------------------------------------------------------------------------
    def candidates(self, lookup: Lookup) -> Candidates:
        return Candidates(
            thread=self._thread_incident(lookup.source, lookup.refs),
            open=tuple(self._open(lookup)),
            closed=tuple(self._closed(lookup)),
        )

    def _thread_incident(self, source: str, refs: Sequence[str]) -> int | None:
        if not refs:
            return None
        for ext in refs:
            if (source, ext) in self._seen:
                return self._seen[(source, ext)]
        q = (
            sa.select(M.c.incident_id)
            .join(INC, INC.c.id == M.c.incident_id)
            .where(
                M.c.source == source,
                M.c.external_id.in_(list(refs)),
                INC.c.status.in_(_OPEN),
            )
            .limit(1)
        )
        found: int | None = self.conn.execute(q).scalar()
        return found

    def _open(self, lookup: Lookup) -> list[OpenCandidate]:
        if lookup.family is None or not lookup.territories:
            return []
        territories = list(lookup.territories)
        q = (
            sa.select(
                INC.c.id,
                INC.c.status,
                INC.c.topic,
                INC.c.created_at,
                INC.c.address_key,
                INC.c.signature,
            )
            .where(
                _in_family(lookup.family),
                INC.c.territory.in_(territories),
                INC.c.created_at >= lookup.open_since,
                INC.c.status.in_(_OPEN),
            )
            .order_by(INC.c.id.desc())
            .limit(MAX_OPEN_CANDIDATES)
        )
        found = [
            OpenCandidate(
                r.id,
                Status(r.status),
                r.topic,
                r.created_at,
                decode_places(r.address_key),
                frozenset(r.signature.split()),
            )
            for r in self.conn.execute(q)
        ]
        family = lookup.family
        for i, row in enumerate(self._new):
            t = row["topic"]
            in_family = t is not None and (t == family or t.startswith(family + "."))
            if (
                in_family
                and row["territory"] in territories
                and row["created_at"] >= lookup.open_since
            ):
                found.append(
                    OpenCandidate(
                        -(i + 1),
                        Status(row["status"]),
                        t,
                        row["created_at"],
                        decode_places(row["address_key"]),
                        frozenset(row["signature"].split()),
                    )
                )
        return found

    def _closed(self, lookup: Lookup) -> list[ClosedCandidate]:
        if self._any_done is None:  # once per batch: usually there is nothing to reopen
            q0 = sa.select(INC.c.id).where(INC.c.status.in_(_DONE)).limit(1)
            self._any_done = self.conn.execute(q0).first() is not None
        if not self._any_done:
            return []
        cols = (
            INC.c.id,
            INC.c.status,
            INC.c.topic,
            INC.c.territory,
            INC.c.executor,
            INC.c.sla_policy,
            INC.c.address_key,
        )
        base = sa.select(*cols).where(
            INC.c.status.in_(_DONE), INC.c.updated_at >= lookup.closed_since
        )
        rows: dict[int, tuple[Any, set[str]]] = {}

        def add(query: sa.Select[Any], flag: str) -> None:
            for r in self.conn.execute(query):
                rows.setdefault(r.id, (r, set()))[1].add(flag)

        if lookup.refs:
            add(
                base.join(M, M.c.incident_id == INC.c.id).where(
                    M.c.source == lookup.source, M.c.external_id.in_(list(lookup.refs))
                ),
                "thread",
            )
        if lookup.author and lookup.family:
            add(
                base.join(M, M.c.incident_id == INC.c.id).where(
                    M.c.source == lookup.source,
                    M.c.payload["author"]["id"].as_string() == lookup.author,
                    _in_family(lookup.family),
                ),
                "author",
            )
        key = encode_places(lookup.places)
        if key and lookup.family and lookup.territory:
            add(
                base.where(
                    _in_family(lookup.family),
                    INC.c.territory == lookup.territory,
                    INC.c.address_key == key,
                ),
                "place",
            )
        return [
            ClosedCandidate(
                r.id,
                Status(r.status),
                r.topic,
                r.territory,
                r.executor,
                r.sla_policy,
                decode_places(r.address_key),
                in_thread="thread" in flags,
                same_author="author" in flags,
            )
            for r, flags in rows.values()
        ]

    # the one writer ------------------------------------------------------------------
    def apply(self, outcome: Outcome) -> int | None:
        mid = outcome.message_id
        verdicts = [attrs.asdict(v) for v in outcome.verdicts] or None
        if outcome.kind == "rejected":
            self._update(
                mid, "rejected", stage="moderate", error=outcome.reason, moderation=verdicts
            )
            return None
        if outcome.kind == "failed":
            self._update(mid, "failed", stage=outcome.stage, error=outcome.reason)
            return None
        if outcome.kind == "created":
            assert outcome.incident is not None
            incident_id = self._create(outcome)
        elif outcome.kind == "merged":
            assert outcome.incident_id is not None
            incident_id = outcome.incident_id
            self._attach(outcome)
        else:
            assert outcome.incident_id is not None
            incident_id = outcome.incident_id
            if not self._reopen(outcome):
                return None
        self._events.extend(event_values(incident_id, ev) for ev in outcome.events)
        for note in outcome.notifications:
            if outcome.kind == "created":
                note = attrs.evolve(note, incident_id=incident_id)
            self._notes.append(note)
        self._seen[self._keys[mid]] = incident_id
        self._update(mid, "done", incident_id=incident_id, moderation=verdicts)
        return incident_id

    def _create(self, outcome: Outcome) -> int:
        incident = outcome.incident
        assert incident is not None
        values = incident_values(incident, self.now)
        values.update(
            created_at=incident.created_at,
            signature=" ".join(sorted(outcome.words or ())),
            address_key=encode_places(outcome.places or {}),
            message_count=1,
        )
        self._new.append(values)
        self._new_objects.append(incident)
        provisional = -len(self._new)
        self._events.extend(event_values(provisional, ev) for ev in incident.history)
        return provisional

    def _attach(self, outcome: Outcome) -> None:
        incident_id = outcome.incident_id
        assert incident_id is not None
        learned: dict[str, str | None] = {}
        if outcome.places is not None:
            learned["address_key"] = encode_places(outcome.places)
        if outcome.words is not None:
            learned["signature"] = " ".join(sorted(outcome.words))
        if incident_id < 0:
            row = self._new[-incident_id - 1]
            row["message_count"] += 1
            row.update(learned)
        else:
            self._attached[incident_id] = self._attached.get(incident_id, 0) + 1
            if learned:
                self._learned.setdefault(incident_id, {}).update(learned)

    def _reopen(self, outcome: Outcome) -> bool:
        values: dict[str, Any] = {
            "status": Status.REOPENED.value,
            "message_count": INC.c.message_count + 1,
            "updated_at": self.now,
        }
        if outcome.resolution_due is not None:
            values["resolution_due"] = outcome.resolution_due
        changed = self.conn.execute(
            INC.update()
            .where(INC.c.id == outcome.incident_id, INC.c.status.in_(_DONE))
            .values(**values)
        ).rowcount
        return bool(changed)  # 0: someone else reopened or changed it meanwhile

    def _update(
        self,
        message_id: int,
        status: str,
        *,
        incident_id: int | None = None,
        stage: str | None = None,
        error: str | None = None,
        moderation: Any = None,
    ) -> None:
        self._updates.append(
            {
                "mid": message_id,
                "st": status,
                "inc": incident_id,
                "stage": stage,
                "err": error,
                "mod": moderation,
                "at": self.now,
            }
        )

    def flush(self) -> None:
        """Write everything the batch collected (the transaction commits after)."""
        if self._new:
            stmt = INC.insert().returning(INC.c.id, sort_by_parameter_order=True)
            ids = [int(i) for i in self.conn.execute(stmt, self._new).scalars()]
            for i, (new_id, obj) in enumerate(zip(ids, self._new_objects, strict=True)):
                self.id_map[-(i + 1)] = new_id
                obj.id = new_id
        real = self.real_id
        # Counts are applied in id order, so concurrent workers lock incidents
        # in the same order and do not deadlock each other.
        for incident_id in sorted(self._attached):
            self.conn.execute(
                INC.update()
                .where(INC.c.id == incident_id)
                .values(
                    message_count=INC.c.message_count + self._attached[incident_id],
                    updated_at=self.now,
                    **self._learned.get(incident_id, {}),
                )
            )
        if self._events:
            for ev in self._events:
                ev["incident_id"] = real(ev["incident_id"])
            self.conn.execute(E.insert(), self._events)
        if self._notes:
            rows = [
                notification_row(attrs.evolve(n, incident_id=real(n.incident_id)))
                for n in self._notes
            ]
            stmt = dialect_insert(self.dialect, schema.notifications).on_conflict_do_nothing(
                index_elements=["dedup_key"]
            )
            self.conn.execute(stmt, rows)
        if self._updates:
            for u in self._updates:
                if u["inc"] is not None:
                    u["inc"] = real(u["inc"])
            self.conn.execute(
                M.update()
                .where(M.c.id == sa.bindparam("mid"))
                .values(
                    status=sa.bindparam("st"),
                    incident_id=sa.bindparam("inc"),
                    error_stage=sa.bindparam("stage"),
                    error=sa.bindparam("err"),
                    moderation=sa.bindparam("mod", type_=sa.JSON),
                    processed_at=sa.bindparam("at", type_=schema.UTCDateTime),
                    attempts=M.c.attempts + 1,
                ),
                self._updates,
            )
