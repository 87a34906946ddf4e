"""Several incidents locked in one transaction while messages move between them.

A curator merging duplicates or splitting an incident changes which
incident each message belongs to: the messages' ``incident_id``, the
incidents' ``message_count`` and (for a split) a new incident, all in one
transaction with the incidents' events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from tsur.domain import Incident
from tsur.store.aggregates import Tracker
from tsur.store.base import Regrouping
from tsur.store.rows import INC, E, M, encode_places, event_values, incident_values

__all__ = ["SqlRegrouping"]


class SqlRegrouping(Regrouping):
    """The SQL side of :class:`~tsur.store.base.Regrouping` on one open transaction."""

    def __init__(self, conn: sa.Connection, incidents: list[Incident], tracker: Tracker) -> None:
        self.conn = conn
        self.tracker = tracker
        self._incidents: dict[int, Incident] = {}
        self._known: dict[int, int] = {}
        self._owner: dict[int, int] = {}
        self._new: list[int] = []
        for inc in incidents:
            assert inc.id is not None
            self._incidents[inc.id] = inc
            self._known[inc.id] = len(inc.history)
            self._owner.update((mid, inc.id) for mid in inc.message_ids)

    @property
    def incidents(self) -> Mapping[int, Incident]:
        return self._incidents

    def add(
        self,
        incident: Incident,
        *,
        places: Mapping[str, str] | None = None,
        words: frozenset[str] | None = None,
    ) -> Incident:
        if incident.id is not None or incident.message_ids:
            raise ValueError("a new incident has no id and no messages yet")
        values = incident_values(incident, _now(incident))
        values.update(
            created_at=incident.created_at,
            signature=" ".join(sorted(words or ())),
            address_key=encode_places(places or {}),
            message_count=0,
        )
        new_id = int(
            self.conn.execute(INC.insert().values(**values).returning(INC.c.id)).scalar_one()
        )
        incident.id = new_id
        self._incidents[new_id] = incident
        self._known[new_id] = 0
        self._new.append(new_id)
        return incident

    def move_messages(self, message_ids: Sequence[int], to: int) -> None:
        target = self._incidents.get(to)
        if target is None:
            raise ValueError(f"incident {to} is not among the locked ones")
        moving = sorted(set(message_ids))
        strangers = [mid for mid in moving if mid not in self._owner]
        if strangers:
            raise ValueError(f"messages {strangers} belong to none of the locked incidents")
        by_source: dict[int, list[int]] = {}
        for mid in moving:
            if self._owner[mid] != to:
                by_source.setdefault(self._owner[mid], []).append(mid)
        for source_id, mids in sorted(by_source.items()):
            # only processed messages count in message_count (a thanks does not)
            counted = int(
                self.conn.execute(
                    sa.select(sa.func.count()).where(M.c.id.in_(mids), M.c.status == "done")
                ).scalar_one()
            )
            self.conn.execute(M.update().where(M.c.id.in_(mids)).values(incident_id=to))
            if counted:
                for iid, delta in ((source_id, -counted), (to, counted)):
                    self.conn.execute(
                        INC.update()
                        .where(INC.c.id == iid)
                        .values(message_count=INC.c.message_count + delta)
                    )
            source = self._incidents[source_id]
            gone = set(mids)
            source.message_ids = [m for m in source.message_ids if m not in gone]
            target.message_ids = sorted({*target.message_ids, *mids})
            self._owner.update((mid, to) for mid in mids)

    def save(self) -> None:
        """Write every incident of the set and its new events (the transaction commits after)."""
        for iid in sorted(self._incidents):
            inc = self._incidents[iid]
            new = inc.history[self._known[iid] :]
            when = new[-1].at if new else datetime.now(UTC)
            self.conn.execute(
                INC.update().where(INC.c.id == iid).values(**incident_values(inc, when))
            )
            if new:
                self.conn.execute(E.insert(), [event_values(iid, ev) for ev in new])
        self.tracker.commit(self._new)


def _now(inc: Incident) -> datetime:
    """When the incident changed last: its last event, else now."""
    return inc.history[-1].at if inc.history else datetime.now(UTC)
