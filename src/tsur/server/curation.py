"""The work API's curator corrections: confirm, reassign, merge, split, correct.

``POST /api/v1/incidents/{id}/confirm|reassign|merge|split|correct`` call the
:class:`~tsur.lifecycle.Lifecycle` methods of the same names and answer
with the incident as it is afterwards (the new incident, 201, for a
split), signed with the key's actor. They need the
:attr:`~tsur.roles.Right.CURATE` right (a region or municipal curator);
scopes work as for every action (:mod:`tsur.server.actions`): an incident —
or a duplicate to merge — outside the key's scope is 404, and a municipal
curator may name only territories within its municipality (403 otherwise).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response
from pydantic import Field

from tsur.access import Principal, incident_scope
from tsur.domain import Incident
from tsur.errors import AccessDenied, InvalidRequest
from tsur.roles import Right
from tsur.server.actions import (
    MAX_REASON,
    Id,
    Reason,
    Ref,
    StrictBody,
    act,
    error_responses,
    known_executor,
)
from tsur.server.deps import ServerState, needs
from tsur.server.models import IncidentDetail
from tsur.server.work import IncidentId, State

__all__ = [
    "ConfirmBody",
    "CorrectBody",
    "MergeBody",
    "ReassignBody",
    "SplitBody",
    "check_place",
    "router",
]

router = APIRouter(prefix="/api/v1", tags=["actions"])

Curator = Annotated[Principal, Depends(needs(Right.CURATE))]


class ConfirmBody(StrictBody):
    """Approve the engine's topic and territory; the incident goes to its proposed executor
    (or to ``executor``)."""

    executor: Ref | None = Field(None, description="send it to this executor instead")
    note: str = Field("", max_length=MAX_REASON, description="kept in the history")


class ReassignBody(StrictBody):
    """Give the incident to another executor (the citizen is not told; the term stays)."""

    to_executor: Ref
    reason: Reason


class MergeBody(StrictBody):
    """Merge duplicates of one problem into this incident."""

    duplicates: list[Id] = Field(min_length=1, max_length=100)
    reason: str = Field("", max_length=MAX_REASON)


class SplitBody(StrictBody):
    """Move some messages (another problem) to a new incident, routed again."""

    message_ids: list[Id] = Field(min_length=1, max_length=1000)
    reason: Reason
    topic: Ref | None = None
    territory: Ref | None = None


class CorrectBody(StrictBody):
    """Correct the topic or territory; ``reroute`` asks the routers again."""

    topic: Ref | None = None
    territory: Ref | None = None
    reason: str = Field("", max_length=MAX_REASON)
    reroute: bool = False


def check_place(st: ServerState, who: Principal, topic: str | None, territory: str | None) -> None:
    """A topic and territory the region knows (:class:`InvalidRequest`, 422), a territory
    within the key's scope (:class:`AccessDenied`, 403: a municipal curator places
    incidents only within its municipality)."""
    region = st.engine.region
    if topic is not None and topic not in region.topics:
        raise InvalidRequest(f"the region has no topic {topic!r}")
    if territory is None:
        return
    if territory not in region.territories:
        raise InvalidRequest(f"the region has no territory {territory!r}")
    allowed = incident_scope(who, region).territories
    if allowed is not None and territory not in allowed:
        raise AccessDenied(
            f"a {who.role.value} key places incidents only within its municipality "
            f"({who.scope}); ask the region's curator to move it"
        )


@router.post(
    "/incidents/{incident_id}/confirm",
    response_model=IncidentDetail,
    summary="Confirm the engine's classification",
    responses=error_responses(403, 404, 409, 422),
)
async def confirm(
    incident_id: IncidentId,
    who: Curator,
    st: State,
    body: Annotated[ConfirmBody | None, Body()] = None,
) -> IncidentDetail:
    """The engine was right: the incident keeps its topic and territory (a ``confirmed``
    event, confidence 1: the models learn from these) and goes out of triage to its
    proposed executor, or to ``executor`` (a reassignment too). The body may be left out.

    An incident routed and not yet confirmed can be confirmed as well; one in any other
    status is 409. One already confirmed, without a topic, or with no executor to go to
    (name one) is 422, as is an unknown executor.
    """
    given = body or ConfirmBody()

    def run() -> Incident:
        to = known_executor(st, given.executor) if given.executor is not None else None
        return st.lifecycle.confirm(
            incident_id, actor=who.actor, executor=to, note=given.note or None
        )

    return await act(st, who, incident_id, run)


@router.post(
    "/incidents/{incident_id}/reassign",
    response_model=IncidentDetail,
    summary="Give to another executor",
    responses=error_responses(403, 404, 409, 422),
)
async def reassign(
    incident_id: IncidentId, body: ReassignBody, who: Curator, st: State
) -> IncidentDetail:
    """Give an open incident to another executor (out of triage, or a wrong assignment).

    Unlike a forward the citizen is not told and a written appeal keeps its
    term; the new executor is notified. An incident that is closed or not yet
    classified is 409.
    """
    return await act(
        st,
        who,
        incident_id,
        lambda: st.lifecycle.reassign(
            incident_id, known_executor(st, body.to_executor), body.reason, actor=who.actor
        ),
    )


@router.post(
    "/incidents/{incident_id}/merge",
    response_model=IncidentDetail,
    summary="Merge duplicates into this incident",
    responses=error_responses(403, 404, 409, 422),
)
async def merge(
    incident_id: IncidentId, body: MergeBody, who: Curator, st: State
) -> IncidentDetail:
    """Merge ``duplicates`` into this incident: their messages move here (so the final
    answer reaches every citizen once) and each becomes ``duplicate``.

    Every duplicate must be within the key's scope too (404 otherwise).
    Duplicates in an unrelated territory, a written appeal into one that is
    not, the incident itself among them are 422; a closed one is 409.
    """
    return await act(
        st,
        who,
        incident_id,
        lambda: st.lifecycle.merge(
            incident_id, body.duplicates, actor=who.actor, reason=body.reason
        ),
        also_visible=tuple(body.duplicates),
    )


@router.post(
    "/incidents/{incident_id}/split",
    response_model=IncidentDetail,
    status_code=201,
    summary="Split messages off into a new incident",
    responses=error_responses(403, 404, 409, 422),
)
async def split(
    incident_id: IncidentId, body: SplitBody, who: Curator, st: State, response: Response
) -> IncidentDetail:
    """Move ``message_ids`` (another problem) to a new incident and answer with the new one
    (201, its address in ``Location``); it is routed again, with its own terms.

    The new incident keeps this one's topic and territory unless given. Messages
    that are not this incident's, or all of them, are 422.
    """

    def run() -> Incident:
        check_place(st, who, body.topic, body.territory)
        return st.lifecycle.split(
            incident_id,
            body.message_ids,
            actor=who.actor,
            reason=body.reason,
            topic=body.topic,
            territory=body.territory,
        )

    new = await act(st, who, incident_id, run)
    response.headers["Location"] = f"/api/v1/incidents/{new.id}"
    return new


@router.post(
    "/incidents/{incident_id}/correct",
    response_model=IncidentDetail,
    summary="Correct the topic or territory",
    responses=error_responses(403, 404, 409, 422),
)
async def correct(
    incident_id: IncidentId, body: CorrectBody, who: Curator, st: State
) -> IncidentDetail:
    """Correct the incident's topic or territory (a ``corrected`` event with old and new: the
    models learn from these); with ``reroute`` the routers pick the executor again.

    Neither given, or neither changed, is 422; ``reroute`` on a closed incident 409.
    """

    def run() -> Incident:
        check_place(st, who, body.topic, body.territory)
        return st.lifecycle.correct(
            incident_id,
            actor=who.actor,
            topic=body.topic,
            territory=body.territory,
            reason=body.reason,
            reroute=body.reroute,
        )

    return await act(st, who, incident_id, run)
