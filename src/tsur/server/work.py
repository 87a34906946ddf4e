"""The work API under ``/api/v1``: incidents for curators, executors and analysts.

Every route needs an API key (:mod:`tsur.access`); a key sees only the
incidents within its scope — another municipality's or organisation's
incident is answered 404, exactly like one that does not exist, so ids
cannot be probed. Every action is signed in the incident's history with the
key's actor (``role:name``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from tsur.access import Principal, can_see, incident_scope, narrow
from tsur.domain import Incident, Status, Urgency
from tsur.errors import NotFound
from tsur.roles import Right
from tsur.server.deps import ServerState, needs, state
from tsur.server.models import IncidentDetail, IncidentPage, incident_detail, incident_out

__all__ = [
    "MAX_ID",
    "MAX_UNCERTAINTY_OFFSET",
    "IncidentId",
    "IncidentOrder",
    "State",
    "detail_of",
    "find_incidents",
    "router",
    "visible_incident",
]

router = APIRouter(prefix="/api/v1", tags=["work"])

Reader = Annotated[Principal, Depends(needs(Right.READ))]
State = Annotated[ServerState, Depends(state)]
#: The largest incident number (a signed 64-bit integer, as the stores keep it).
MAX_ID = 2**63 - 1
#: How deep the uncertainty order pages: a store sorts every matching incident for it,
#: so a page past the first 10,000 is empty (narrow the filters instead).
MAX_UNCERTAINTY_OFFSET = 10_000
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="the incident's number")]
#: How a list of incidents is ordered: the newest first, or the least certain
#: classification first (a curator's triage by what the models most need a word on).
IncidentOrder = Literal["newest", "uncertainty"]


def visible_incident(st: ServerState, who: Principal, incident_id: int) -> Incident:
    """The incident with its history if the principal may see it; NotFound otherwise."""
    if not 1 <= incident_id <= MAX_ID:
        raise NotFound("incident", incident_id)
    inc = st.engine.incident(incident_id)
    if not can_see(who, inc, st.engine.region):
        raise NotFound("incident", incident_id)
    return inc


def detail_of(st: ServerState, inc: Incident, *, masked: bool) -> IncidentDetail:
    """The incident with its messages (oldest first) and history, as the API shows it."""
    assert inc.id is not None
    messages = st.engine.repository.messages(incident_id=inc.id, limit=1000)
    return incident_detail(inc, list(reversed(messages)), masked=masked)


def find_incidents(
    st: ServerState,
    who: Principal,
    *,
    status: Sequence[Status] | None = None,
    urgency: Urgency | None = None,
    topic: str | None = None,
    territory: Sequence[str] | None = None,
    executor: str | None = None,
    overdue: bool = False,
    text: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
    order: IncidentOrder = "newest",
    offset: int = 0,
) -> tuple[list[Incident], int | None]:
    """A page of the incidents within the principal's scope matching every filter.

    Newest first, at most ``limit``; with the cursor of the next page (the
    ``before_id`` to ask for it; None on the last page). With
    ``order="uncertainty"`` the lowest classification confidence comes first
    (the oldest first among equals) and pages go by
    position: the cursor is the ``offset`` of the next page. ``topic`` takes its
    subtopics along, ``territory`` is narrowed to the scope, ``overdue``
    keeps open incidents past a term at the engine's clock, ``text`` is a
    substring of the summary or the address. An executor asking for another
    executor's incidents gets none. Raises NotFound for an unknown topic.
    The uncertainty order ends after :data:`MAX_UNCERTAINTY_OFFSET` incidents.
    """
    if order == "uncertainty":
        if offset >= MAX_UNCERTAINTY_OFFSET:
            return [], None
        limit = min(limit, MAX_UNCERTAINTY_OFFSET - offset)
    scope = incident_scope(who, st.engine.region)
    if scope.executor is not None and executor is not None and executor != scope.executor:
        return [], None
    if topic is not None and topic not in st.engine.region.topics:
        raise NotFound("topic", topic)
    found = st.engine.incidents(
        status=[s.value for s in status] if status else None,
        urgency=urgency.value if urgency else None,
        topic=topic,
        territory=narrow(scope, territory),
        executor=scope.executor or executor,
        overdue_at=st.engine.clock() if overdue else None,
        text=text,
        before_id=before_id if order == "newest" else None,
        limit=limit + 1,
        order=order,
        offset=offset if order == "uncertainty" else 0,
    )
    items = found[:limit]
    more = len(found) > limit and bool(items)
    if order == "uncertainty" and offset + len(items) >= MAX_UNCERTAINTY_OFFSET:
        more = False
    if not more:
        return items, None
    return items, offset + len(items) if order == "uncertainty" else items[-1].id


@router.get("/incidents", response_model=IncidentPage, summary="List and search incidents")
async def list_incidents(
    who: Reader,
    st: State,
    status: Annotated[list[Status] | None, Query(description="any of these statuses")] = None,
    urgency: Annotated[Urgency | None, Query()] = None,
    topic: Annotated[
        str | None, Query(max_length=64, description="a topic with its subtopics")
    ] = None,
    territory: Annotated[list[str] | None, Query(max_length=50)] = None,
    executor: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[bool, Query(description="only open incidents past a term")] = False,
    q: Annotated[
        str | None, Query(max_length=200, description="text in the summary or the address")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{0,17}$", description="next_cursor of a page")
    ] = None,
    order: Annotated[
        IncidentOrder,
        Query(
            description="newest: the newest first; uncertainty: the lowest classification "
            "confidence first (the oldest first among equals) — with status=triage, the "
            "curator's queue by what the models most need a word on; it lists the first "
            f"{MAX_UNCERTAINTY_OFFSET:,} incidents that match"
        ),
    ] = "newest",
) -> IncidentPage:
    """Incidents within the key's scope matching every filter, newest first, or the least
    certain classification first (``order=uncertainty``)."""
    items, after = await run_in_threadpool(
        lambda: find_incidents(
            st,
            who,
            status=status,
            urgency=urgency,
            topic=topic,
            territory=territory,
            executor=executor,
            overdue=overdue,
            text=q,
            limit=limit,
            before_id=int(cursor) if cursor and order == "newest" else None,
            order=order,
            offset=int(cursor) if cursor and order == "uncertainty" else 0,
        )
    )
    return IncidentPage(
        items=[incident_out(i) for i in items],
        next_cursor=str(after) if after is not None else None,
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    summary="One incident with its messages and history",
    responses={404: {"description": "no such incident within the key's scope"}},
)
async def get_incident(incident_id: IncidentId, who: Reader, st: State) -> IncidentDetail:
    """An incident with its messages and history (texts masked for an analyst)."""

    def load() -> IncidentDetail:
        return detail_of(st, visible_incident(st, who, incident_id), masked=who.masked)

    return await run_in_threadpool(load)
