"""Which SLA policy applies to an incident, and the deadlines it sets."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from tsur.config import Duration, RegionConfig, SLAConfig
from tsur.domain import Incident
from tsur.sla.calendar import WorkingCalendar

__all__ = ["Deadlines", "SLAResolver"]


@attrs.frozen
class Deadlines:
    """Deadlines computed for an incident under one policy."""

    policy: str
    first_response_due: datetime | None
    resolution_due: datetime | None


class SLAResolver:
    """Matches incidents to the region's SLA policies and computes deadlines.

    An executor's own policy (``executors[].sla``) overrides the region's
    rules; otherwise the first matching ``[[sla]]`` entry wins.
    """

    def __init__(self, config: RegionConfig, calendar: WorkingCalendar) -> None:
        self.config = config
        self.calendar = calendar
        self._policies = {p.id: p for p in config.sla}
        self._executors = {e.id: e for e in config.executors}
        self._sources = {s.id: s for s in config.sources}
        parents = {t.id: t.parent for t in config.topics}
        self._topic_chain: dict[str, set[str]] = {}
        for tid in parents:
            chain: set[str] = set()
            node: str | None = tid
            while node is not None:
                chain.add(node)
                node = parents.get(node)
            self._topic_chain[tid] = chain

    def policy_for(self, incident: Incident) -> SLAConfig | None:
        """The policy that applies to ``incident``, or None if the region has none."""
        ex = self._executors.get(incident.executor or "")
        if ex is not None and ex.sla is not None:
            return self._policies[ex.sla]
        topics = self._topic_chain.get(incident.topic or "", set())
        source = self._sources.get(incident.source or "")
        for p in self.config.sla:
            if p.topics and not topics.intersection(p.topics):
                continue
            if p.urgency and incident.urgency not in p.urgency:
                continue
            if p.sources and incident.source not in p.sources:
                continue
            if p.source_kinds and (source is None or source.kind not in p.source_kinds):
                continue
            if p.executor_kinds and (ex is None or ex.kind not in p.executor_kinds):
                continue
            return p
        return None

    def due(self, start: datetime, span: Duration | None) -> datetime | None:
        """``start`` plus ``span`` on the calendar (working or plain time)."""
        if span is None:
            return None
        if span.unit == "working_hours":
            return self.calendar.add(start, timedelta(hours=span.amount))
        if span.unit == "working_days":
            return self.calendar.add(
                start, timedelta(hours=span.amount * self.calendar.hours_per_day)
            )
        if span.unit == "days":
            return self.calendar.add_calendar_days(start, span.amount)
        return start + span.as_timedelta()

    def deadlines(self, incident: Incident, start: datetime) -> Deadlines | None:
        """Deadlines for ``incident`` counted from ``start`` (None without a policy)."""
        p = self.policy_for(incident)
        if p is None:
            return None
        return Deadlines(p.id, self.due(start, p.first_response), self.due(start, p.resolution))
