"""What an ingest and a processing run report: :class:`IngestReport`, :class:`RunReport`."""

from __future__ import annotations

import attrs

from tsur.decide import Outcome
from tsur.errors import IngestError

__all__ = ["IngestReport", "RunReport"]


@attrs.define
class IngestReport:
    """What an ingest did: new messages, known ones, and inputs that were refused."""

    inserted: int = 0
    duplicates: int = 0
    errors: list[IngestError] = attrs.field(factory=list)

    def __add__(self, other: IngestReport) -> IngestReport:
        return IngestReport(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.errors + other.errors,
        )


@attrs.define
class RunReport:
    """What a processing run did."""

    processed: int = 0
    created: int = 0
    merged: int = 0
    rejected: int = 0
    failed: int = 0
    triage: int = 0
    incident_ids: list[int] = attrs.field(factory=list)
    reopened: int = 0
    thanked: int = 0

    def count(self, outcome: Outcome, incident_id: int | None) -> None:
        """Add one message's outcome."""
        self.processed += 1
        if outcome.kind == "created":
            self.created += 1
            self.triage += int(outcome.triage)
        elif outcome.kind == "merged":
            self.merged += 1
        elif outcome.kind == "reopened":
            self.reopened += 1
        elif outcome.kind == "rejected":
            self.rejected += 1
        elif outcome.kind == "thanked":
            self.thanked += 1
        else:
            self.failed += 1
        if incident_id is not None:
            self.incident_ids.append(incident_id)

    def __add__(self, other: RunReport) -> RunReport:
        return RunReport(
            self.processed + other.processed,
            self.created + other.created,
            self.merged + other.merged,
            self.rejected + other.rejected,
            self.failed + other.failed,
            self.triage + other.triage,
            self.incident_ids + other.incident_ids,
            self.reopened + other.reopened,
            self.thanked + other.thanked,
        )
