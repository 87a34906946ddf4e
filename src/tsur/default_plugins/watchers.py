"""Built-in watcher ``systemic``: a topic surging in a municipality, told to the curator.

On every tick it compares the last week of every municipality × topic with
the eight weeks before (:func:`tsur.analytics.find_spikes`) and tells the
region's curator once per spike and week, with the incidents behind it.
It needs the SQL store; without one it registers nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from tsur.analytics import Analytics, find_spikes
from tsur.context import Context
from tsur.domain import Notification
from tsur.hookspecs import hookimpl
from tsur.protocols import Register
from tsur.region import Region
from tsur.store.base import Repository

__all__ = ["SystemicWatcher", "register_watchers"]


class SystemicWatcher:
    """Tells the curator, once per spike, about a topic surging in a municipality."""

    def __init__(self, region: Region, repository: Repository) -> None:
        self.region = region
        self.repository = repository

    def watch(self, now: datetime) -> Iterator[Notification]:
        """A ``systemic`` notification for each spike in the week before ``now``."""
        for s in find_spikes(Analytics(self.repository, self.region), now):
            ids = list(s.incident_ids)
            week = s.window_start.date().isoformat()
            yield Notification(
                kind="systemic",
                incident_id=ids[0] if ids else 0,
                at=now,
                recipients=(self.region.curator,),
                text=(
                    f"Системная проблема: {s.label} — {s.municipality_name}, "
                    f"{s.count} обращений за неделю (обычно {s.mean:.1f})"
                ),
                data={
                    "municipality": s.municipality,
                    "topic": s.topic,
                    "count": s.count,
                    "incidents": ids,
                    "p_value": s.p_value,
                },
                key=f"systemic:{s.municipality}:{s.topic}:{week}",
            )


@hookimpl
def register_watchers(register: Register, context: Context) -> None:
    """Register the systemic-problem watcher when the engine has a store."""
    if context.repository is not None:
        register("systemic", SystemicWatcher(context.region, context.repository))
