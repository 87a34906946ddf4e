"""Which router's answer counts: the first one, by priority; the curator otherwise."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from tsur.analysis import Analysis
from tsur.components import Registered
from tsur.domain import Incident, RouteDecision
from tsur.errors import ProcessingError
from tsur.region import Region
from tsur.stages import expect, run_stage

__all__ = ["choose_route"]


def choose_route(
    routers: Sequence[Registered], region: Region, incident: Incident, analysis: Analysis
) -> RouteDecision:
    """The first router's answer, in the order given (descending priority).

    No answer sends the incident to the region's curator. A router that
    fails, answers with something else than a
    :class:`~tsur.domain.RouteDecision` or names an executor the region
    lacks raises a :class:`~tsur.errors.ProcessingError` at stage
    ``route``.
    """
    return run_stage("route", _choose, routers, region, incident, analysis)


def _choose(
    routers: Sequence[Registered], region: Region, incident: Incident, analysis: Analysis
) -> RouteDecision:
    for reg in routers:
        d: RouteDecision | None = reg.component.route(incident, analysis)
        if d is None:
            continue
        expect(d, RouteDecision, "router", reg.name)
        if d.executor not in region.executors:
            raise ProcessingError(
                f"router {reg.name!r} chose unknown executor {d.executor!r}", stage="route"
            )
        return attrs.evolve(d, router=d.router or reg.name)
    return RouteDecision(region.curator, "ни одно правило не подошло: кураторам", "fallback")
