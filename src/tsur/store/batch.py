"""A batch of claimed messages and the writes that complete it, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from tsur.domain import Event, Incident, Status
from tsur.store import schema
from tsur.store.base import Batch, ClaimedMessage, GroupCandidate
from tsur.store.rows import (
    INC,
    E,
    M,
    dialect_insert,
    event_values,
    incident_values,
    notification_row,
)
from tsur.typing import Notification

__all__ = ["SqlBatch"]


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
        self._notes: list[tuple[Notification, str | None]] = []
        self._attached: dict[int, int] = {}
        self._learned: dict[int, dict[str, str]] = {}
        self._any_done: bool | None = None
        self._seen: dict[tuple[str, str], int] = {}  # (source, external id) → incident
        self._keys = {c.id: c.message.key for c in messages}

    def real_id(self, incident_id: int) -> int:
        """The stored id of an incident (provisional ids are negative until flushed)."""
        return self.id_map.get(incident_id, incident_id)

    def group_candidates(
        self, *, topic: str | None, territories: Sequence[str], since: datetime
    ) -> list[GroupCandidate]:
        open_statuses = [s.value for s in Status if s.is_open]
        cols = (
            INC.c.id,
            INC.c.status,
            INC.c.signature,
            INC.c.address_key,
            INC.c.created_at,
            INC.c.topic,
        )
        if topic is None:
            topic_match: sa.ColumnElement[bool] = INC.c.topic.is_(None)
        else:
            topic_match = sa.or_(INC.c.topic == topic, INC.c.topic.startswith(topic + "."))
        q = (
            sa.select(*cols)
            .where(
                topic_match,
                INC.c.territory.in_(list(territories)),
                INC.c.created_at >= since,
                INC.c.status.in_(open_statuses),
            )
            .order_by(INC.c.id.desc())
            .limit(200)
        )
        found = [
            GroupCandidate(
                id=r.id,
                status=Status(r.status),
                signature=frozenset(r.signature.split()),
                address_key=r.address_key,
                created_at=r.created_at,
                topic=r.topic,
            )
            for r in self.conn.execute(q)
        ]
        for i, row in enumerate(self._new):
            t = row["topic"]
            same = t == topic or (topic is not None and t is not None and t.startswith(topic + "."))
            if same and row["territory"] in territories and row["created_at"] >= since:
                found.append(
                    GroupCandidate(
                        -(i + 1),
                        Status(row["status"]),
                        frozenset(row["signature"].split()),
                        row["address_key"],
                        row["created_at"],
                        t,
                    )
                )
        return found

    def incident_of_message(self, source: str, external_ids: Sequence[str]) -> int | None:
        if not external_ids:
            return None
        for ext in external_ids:
            if (source, ext) in self._seen:
                return self._seen[(source, ext)]
        open_statuses = [s.value for s in Status if s.is_open]
        q = (
            sa.select(M.c.incident_id)
            .join(INC, INC.c.id == M.c.incident_id)
            .where(
                M.c.source == source,
                M.c.external_id.in_(list(external_ids)),
                INC.c.status.in_(open_statuses),
            )
            .limit(1)
        )
        return self.conn.execute(q).scalar()

    def reopen_candidates(
        self,
        *,
        source: str,
        author_id: str | None,
        refs: Sequence[str],
        topic: str | None,
        territory: str | None,
        address_key: str | None,
        since: datetime,
    ) -> list[tuple[GroupCandidate, str]]:
        done = [Status.RESOLVED.value, Status.CLOSED.value]
        if self._any_done is None:  # once per batch: usually there is nothing to reopen
            q0 = sa.select(INC.c.id).where(INC.c.status.in_(done)).limit(1)
            self._any_done = self.conn.execute(q0).first() is not None
        if not self._any_done:
            return []
        cols = (
            INC.c.id,
            INC.c.status,
            INC.c.signature,
            INC.c.address_key,
            INC.c.created_at,
            INC.c.topic,
            INC.c.executor,
            INC.c.sla_policy,
        )
        found: list[tuple[Any, str]] = []
        base = sa.select(*cols).where(INC.c.status.in_(done), INC.c.updated_at >= since)
        if refs:
            q = base.join(M, M.c.incident_id == INC.c.id).where(
                M.c.source == source, M.c.external_id.in_(list(refs))
            )
            found += [(r, "reply in the thread of a closed incident") for r in self.conn.execute(q)]
        root = topic.split(".")[0] if topic else None
        in_family = (
            sa.or_(INC.c.topic == root, INC.c.topic.startswith(f"{root}.")) if root else sa.false()
        )
        if author_id and root:
            q = base.join(M, M.c.incident_id == INC.c.id).where(
                M.c.source == source,
                M.c.payload["author"]["id"].as_string() == author_id,
                in_family,
                INC.c.territory == territory if territory else sa.true(),
            )
            found += [(r, "the same citizen writes again") for r in self.conn.execute(q)]
        if address_key and root and territory:
            q = base.where(
                in_family, INC.c.territory == territory, INC.c.address_key == address_key
            )
            found += [(r, "the same problem at the same address") for r in self.conn.execute(q)]
        out: list[tuple[GroupCandidate, str]] = []
        seen: set[int] = set()
        for r, why in found:
            if r.id in seen:
                continue
            seen.add(r.id)
            out.append(
                (
                    GroupCandidate(
                        r.id,
                        Status(r.status),
                        frozenset(r.signature.split()),
                        r.address_key,
                        r.created_at,
                        r.topic,
                        r.executor,
                        r.sla_policy,
                    ),
                    why,
                )
            )
        return out

    def reopen(
        self,
        incident_id: int,
        message_id: int,
        events: Sequence[Event],
        *,
        resolution_due: datetime | None,
    ) -> bool:
        done = [Status.RESOLVED.value, Status.CLOSED.value]
        values: dict[str, Any] = {
            "status": Status.REOPENED.value,
            "message_count": INC.c.message_count + 1,
            "updated_at": self.now,
        }
        if resolution_due is not None:
            values["resolution_due"] = resolution_due
        changed = self.conn.execute(
            INC.update().where(INC.c.id == incident_id, INC.c.status.in_(done)).values(**values)
        ).rowcount
        if not changed:
            return False  # someone else reopened or changed it meanwhile
        self._events.extend(event_values(incident_id, ev) for ev in events)
        return True

    def create_incident(
        self, incident: Incident, message_id: int, *, signature: str, address_key: str | None
    ) -> int:
        values = incident_values(incident, self.now)
        values.update(
            created_at=incident.created_at,
            signature=signature,
            address_key=address_key,
            message_count=1,
        )
        self._new.append(values)
        self._new_objects.append(incident)
        provisional = -len(self._new)
        self._events.extend(event_values(provisional, ev) for ev in incident.history)
        return provisional

    def attach(
        self,
        incident_id: int,
        message_id: int,
        events: Sequence[Event],
        *,
        address_key: str | None = None,
        signature: str | None = None,
    ) -> None:
        learned = {
            k: v
            for k, v in (("address_key", address_key), ("signature", signature))
            if v is not None
        }
        if incident_id < 0:
            row = self._new[-incident_id - 1]
            row["message_count"] += 1
            row.update(learned)
        else:
            self._attached[incident_id] = self._attached.get(incident_id, 0) + 1
            if learned:
                self._learned.setdefault(incident_id, {}).update(learned)
        self._events.extend(event_values(incident_id, ev) for ev in events)

    def _update(
        self,
        message_id: int,
        status: str,
        *,
        incident_id: int | None = None,
        stage: str | None = None,
        error: str | None = None,
        moderation: Any = None,
        attempt: bool = True,
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
                "att": 1 if attempt else 0,
            }
        )

    def done(self, message_id: int, incident_id: int | None, moderation: Any = None) -> None:
        if incident_id is not None:
            self._seen[self._keys[message_id]] = incident_id
        self._update(message_id, "done", incident_id=incident_id, moderation=moderation)

    def reject(self, message_id: int, reason: str, moderation: Any = None) -> None:
        self._update(message_id, "rejected", stage="moderate", error=reason, moderation=moderation)

    def fail(self, message_id: int, stage: str, reason: str) -> None:
        self._update(message_id, "failed", stage=stage, error=reason)

    def notify(self, notification: Notification, dedup_key: str | None = None) -> None:
        self._notes.append((notification, dedup_key))

    def flush(self) -> None:
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
            rows = []
            for note, key in self._notes:
                inc = real(note.incident_id)
                rows.append(
                    notification_row(
                        attrs.evolve(note, incident_id=inc),
                        key or f"{note.kind}:{inc}:{','.join(note.recipients)}",
                    )
                )
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
                    attempts=M.c.attempts + sa.bindparam("att"),
                ),
                self._updates,
            )
