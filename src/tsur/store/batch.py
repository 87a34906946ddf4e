"""A batch of claimed messages and the writes that complete it, in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from tsur.domain import Incident, Notification, Status
from tsur.store import bulk, schema
from tsur.store.aggregates import Tracker
from tsur.store.base import Batch, ClaimedMessage
from tsur.store.lookup import BatchLookup, CandidateCache
from tsur.store.rows import (
    INC,
    E,
    M,
    dialect_insert,
    encode_places,
    event_values,
    incident_values,
    notification_row,
)

if TYPE_CHECKING:
    from tsur.decide import Outcome

__all__ = ["SqlBatch"]

_DONE = [Status.RESOLVED.value, Status.CLOSED.value]


class SqlBatch(BatchLookup, Batch):
    """Writes of one batch, buffered and written in bulk when the batch ends.

    What the batch reads before deciding — the candidates around a message,
    including the incidents the batch itself made — is :class:`BatchLookup`'s;
    :meth:`apply` is the one writer.

    New incidents get provisional negative ids until :meth:`flush` inserts
    them all at once; every reference (events, messages, notifications,
    later messages joining them) is translated to the real id then.

    With ``bulk`` (the default) the candidates of all messages are read
    ahead at once (:meth:`BatchLookup.prefetch`), and the flush writes each
    table in one round trip: on PostgreSQL by ``COPY`` and array statements
    (:mod:`tsur.store.bulk`), on SQLite by one ``executemany`` per table with
    the new incidents' ids assigned up front. Without it every table is
    written with portable SQLAlchemy statements. Both store the same rows
    with the same ids.
    """

    def __init__(
        self,
        conn: sa.Connection,
        messages: list[ClaimedMessage],
        now: datetime,
        *,
        bulk: bool = True,
        cache: CandidateCache | None = None,
        aggregates: bool = True,
    ) -> None:
        super().__init__(conn, prefetch=bulk, cache=cache)
        #: keeps the daily aggregates in step with the incidents this batch writes
        self.tracker = Tracker(conn, enabled=aggregates)
        self.messages = messages
        self.now = now
        self.bulk = bulk
        self.id_map: dict[int, int] = {}
        self._new_objects: list[Incident] = []
        self._events: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._notes: list[Notification] = []
        self._attached: dict[int, int] = {}
        self._keys = {c.id: c.message.key for c in messages}

    def real_id(self, incident_id: int) -> int:
        """The stored id of an incident (provisional ids are negative until flushed)."""
        return self.id_map.get(incident_id, incident_id)

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
        if outcome.kind == "thanked":
            if outcome.incident_id is not None:
                self._events.extend(event_values(outcome.incident_id, ev) for ev in outcome.events)
            self._update(
                mid,
                "thanked",
                incident_id=outcome.incident_id,
                moderation=verdicts,
                thanks=outcome.executor,
            )
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
        provisional = self._add_new(values)
        self._new_objects.append(incident)
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
        self.tracker.before([outcome.incident_id])
        changed = self.conn.execute(
            INC.update()
            .where(INC.c.id == outcome.incident_id, INC.c.status.in_(_DONE))
            .values(**values)
        ).rowcount
        if changed:
            self.forget()  # what was read ahead may name it as resolved, or miss it as open
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
        thanks: str | None = None,
    ) -> None:
        self._updates.append(
            {
                "mid": message_id,
                "st": status,
                "inc": incident_id,
                "stage": stage,
                "err": error,
                "mod": moderation,
                "thx": thanks,
                "at": self.now,
            }
        )

    def flush(self) -> None:
        """Write everything the batch collected (the transaction commits after)."""
        touched = set(self._attached) | {
            int(ev["incident_id"]) for ev in self._events if ev["incident_id"] > 0
        }
        self.tracker.before(touched)
        new_ids: list[int] = []
        if self._new:
            ids = self._insert_incidents()
            new_ids = ids
            for i, (new_id, obj) in enumerate(zip(ids, self._new_objects, strict=True)):
                self.id_map[-(i + 1)] = new_id
                obj.id = new_id
        real = self.real_id
        if self._attached:
            self._count_attached()
        if self._events:
            for ev in self._events:
                ev["incident_id"] = real(ev["incident_id"])
            if self.bulk and self.dialect == "postgresql":
                bulk.copy_rows(self.conn, E, list(self._events[0]), self._events)
            else:
                self.conn.execute(E.insert(), self._events)
        if self._notes:
            rows = [
                notification_row(attrs.evolve(n, incident_id=real(n.incident_id)))
                for n in self._notes
            ]
            if self.bulk and self.dialect == "postgresql":
                bulk.insert_skipping_conflicts(
                    self.conn, schema.notifications, list(rows[0]), rows, ["dedup_key"]
                )
            else:
                stmt = dialect_insert(self.dialect, schema.notifications).on_conflict_do_nothing(
                    index_elements=["dedup_key"]
                )
                self.conn.execute(stmt, rows)
        if self._updates:
            for u in self._updates:
                if u["inc"] is not None:
                    u["inc"] = real(u["inc"])
            self._mark_messages()
        self.tracker.commit(new_ids)

    def _insert_incidents(self) -> list[int]:
        """Insert the batch's new incidents in order; their ids."""
        if not self.bulk:
            stmt = INC.insert().returning(INC.c.id, sort_by_parameter_order=True)
            return [int(i) for i in self.conn.execute(stmt, self._new).scalars()]
        n = len(self._new)
        if self.dialect == "postgresql":
            ids = bulk.next_ids(self.conn, INC, n)
        else:
            # SQLite gives a new row the highest id plus one, and this transaction holds
            # the write lock: the ids the inserts would get, known before inserting
            top = self.conn.execute(sa.select(sa.func.max(INC.c.id))).scalar()
            ids = list(range(int(top or 0) + 1, int(top or 0) + 1 + n))
        rows = [{"id": new_id, **values} for new_id, values in zip(ids, self._new, strict=True)]
        if self.dialect == "postgresql":
            bulk.copy_rows(self.conn, INC, list(rows[0]), rows)
        else:
            self.conn.execute(INC.insert(), rows)
        return ids

    def _count_attached(self) -> None:
        """Count the messages that joined stored incidents and store what they taught."""
        # Counts are applied in id order, so concurrent workers lock incidents
        # in the same order and do not deadlock each other.
        if not self.bulk:
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
            return
        params = []
        for incident_id in sorted(self._attached):
            learned = self._learned.get(incident_id, {})
            params.append(
                {
                    "iid": incident_id,
                    "n": self._attached[incident_id],
                    "now": self.now,
                    "set_ak": "address_key" in learned,
                    "ak": learned.get("address_key"),
                    "set_sig": "signature" in learned,
                    "sig": learned.get("signature"),
                }
            )
        # one statement for all, executed in the order given (a pipeline on PostgreSQL)
        self.conn.execute(_COUNT_ATTACHED, params)

    def _mark_messages(self) -> None:
        """Store each message's outcome and count its attempt."""
        mids = [u["mid"] for u in self._updates]
        if self.bulk and self.dialect == "postgresql" and len(set(mids)) == len(mids):
            rows = [
                {
                    "id": u["mid"],
                    "status": u["st"],
                    "incident_id": u["inc"],
                    "error_stage": u["stage"],
                    "error": u["err"],
                    "moderation": u["mod"],
                    "thanks_executor": u["thx"],
                    "processed_at": u["at"],
                }
                for u in self._updates
            ]
            bulk.update_rows(self.conn, M, "id", list(rows[0])[1:], rows, increment="attempts")
            return
        self.conn.execute(
            M.update()
            .where(M.c.id == sa.bindparam("mid"))
            .values(
                status=sa.bindparam("st"),
                incident_id=sa.bindparam("inc"),
                error_stage=sa.bindparam("stage"),
                error=sa.bindparam("err"),
                moderation=sa.bindparam("mod", type_=sa.JSON),
                thanks_executor=sa.bindparam("thx"),
                processed_at=sa.bindparam("at", type_=schema.UTCDateTime),
                attempts=M.c.attempts + 1,
            ),
            self._updates,
        )


#: The count and what was learned of one stored incident messages joined (executemany).
_COUNT_ATTACHED = (
    INC.update()
    .where(INC.c.id == sa.bindparam("iid"))
    .values(
        message_count=INC.c.message_count + sa.bindparam("n", type_=sa.Integer),
        updated_at=sa.bindparam("now", type_=schema.UTCDateTime),
        address_key=sa.case(
            (sa.bindparam("set_ak", type_=sa.Boolean), sa.bindparam("ak", type_=sa.String)),
            else_=INC.c.address_key,
        ),
        signature=sa.case(
            (sa.bindparam("set_sig", type_=sa.Boolean), sa.bindparam("sig", type_=sa.String)),
            else_=INC.c.signature,
        ),
    )
)
