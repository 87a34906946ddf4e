"""The records analytics queries return: plain, frozen, JSON-friendly."""

from __future__ import annotations

from datetime import date, datetime

import attrs

__all__ = [
    "ChannelShare",
    "IncidentPoint",
    "MunicipalityStats",
    "Problem",
    "Spike",
    "TrendPoint",
]


@attrs.frozen
class MunicipalityStats:
    """Figures of one municipality for a period (its settlements included)."""

    id: str | None
    name: str
    kind: str | None
    population: int | None
    count: int
    per_10k: float | None
    overdue: int
    overdue_share: float | None
    urgent: int
    open: int
    answered: int
    answered_on_time: int
    on_time_share: float | None
    messages: int
    lat: float | None = None
    lon: float | None = None


@attrs.frozen
class Problem:
    """A topic's count in a period and in the period before."""

    topic: str
    label: str
    direction: str | None
    count: int
    previous: int
    change: int
    change_pct: float | None  # None when the previous period had none
    share: float  # of all incidents with a topic in the area, this period
    municipality: str | None = None
    municipality_name: str | None = None


@attrs.frozen
class TrendPoint:
    """Incidents of one series (a direction, a topic, or all) in one time bucket."""

    bucket: date
    series: str
    count: int


@attrs.frozen
class Spike:
    """A systemic problem: a topic surging in one municipality.

    ``count`` incidents in the last ``window_days`` against ``baseline``
    (weekly counts of the weeks before, most recent first); flagged when
    ``count ≥ min_count``, ``count > mean + k·sd`` and the Poisson
    probability of so many at the baseline rate, ``p_value``, is below alpha.
    """

    municipality: str
    municipality_name: str
    topic: str
    label: str
    count: int
    baseline: tuple[int, ...]
    mean: float
    sd: float
    expected: float
    ratio: float
    p_value: float
    window_start: datetime
    window_end: datetime
    incident_ids: tuple[int, ...]


@attrs.frozen
class ChannelShare:
    """Incidents that came through one kind of channel."""

    kind: str
    sources: tuple[str, ...]
    count: int
    share: float


@attrs.frozen
class IncidentPoint:
    """A geotagged incident for the point map."""

    id: int
    lat: float
    lon: float
    topic: str | None
    label: str
    municipality: str | None
    status: str
    urgency: str
    overdue: bool
    created_at: datetime
