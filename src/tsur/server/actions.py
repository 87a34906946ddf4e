"""The work API's actions on an incident: take, answer, forward, extend, rate.

Every action — these and a curator's corrections (:mod:`tsur.server.curation`)
— is a ``POST`` under ``/api/v1/incidents/{id}/…`` that calls one
:class:`~tsur.lifecycle.Lifecycle` method — the lifecycle decides and
writes, the route only admits the caller and reads its body — and answers
with the incident as it is afterwards (:class:`IncidentDetail`). The caller's
actor (``role:name``) signs every change in the incident's history.

Who may act:

- the executor's actions (take, answer, forward, extend) need the
  :attr:`~tsur.roles.Right.WORK` right, a curator's (rate, confirm, reassign,
  merge, split, correct) :attr:`~tsur.roles.Right.CURATE`: a key without it gets
  403 on any incident, before the incident is looked at;
- an incident outside the key's scope — another municipality's for a
  municipal curator, one not routed to its organisation for an executor —
  is 404, like one that does not exist; so is any of the duplicates to
  merge;
- a municipal curator places incidents only within its municipality: a
  correction or split naming a territory outside it is 403 (a region
  curator moves an incident between municipalities).

Bodies are strict: unknown fields, wrong types and texts over their limits
are 422. The lifecycle's refusals keep their meaning: a state the action
does not apply to is 409 (``illegal_transition``, ``extension_refused``), an
«отписка» 422 with its ``reasons`` (``answer_rejected``), a missing photo
422 (``photo_required``), any other wrong argument 422 (``invalid_request``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from tsur.access import Principal
from tsur.domain import Incident
from tsur.errors import InvalidRequest
from tsur.roles import Right
from tsur.server.deps import ServerState, needs
from tsur.server.errors import ErrorOut
from tsur.server.models import IncidentDetail
from tsur.server.work import IncidentId, State, detail_of, visible_incident

__all__ = [
    "AnswerBody",
    "ExtendBody",
    "ForwardBody",
    "RatingBody",
    "StrictBody",
    "act",
    "error_responses",
    "known_executor",
    "router",
]

router = APIRouter(prefix="/api/v1", tags=["actions"])

Worker = Annotated[Principal, Depends(needs(Right.WORK))]
Curator = Annotated[Principal, Depends(needs(Right.CURATE))]

#: The longest answer a citizen is sent (a final answer with its grounds fits easily).
MAX_ANSWER = 20_000
#: The longest reason or comment.
MAX_REASON = 2_000


def _whole(value: Any) -> Any:
    """A whole number written as a float (``5.0``) as the integer JSON Schema takes it for."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A positive id in a body; as JSON Schema has an integer, ``5.0`` is 5 (but no text, no
#: true/false). At most 2**53 - 1, the largest integer every JSON reader keeps exactly.
Id = Annotated[int, Field(ge=1, le=2**53 - 1), BeforeValidator(_whole)]
Ref = Annotated[
    str,
    Field(max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="a region file's id"),
]
Reason = Annotated[
    str,
    Field(min_length=1, max_length=MAX_REASON, pattern=r"\S", description="why (in the history)"),
]
PhotoUrl = Annotated[
    str, Field(min_length=8, max_length=2048, pattern=r"^https?://[!-~]+$", description="a photo")
]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of an action's error answers ``codes``."""
    text = {
        403: "the key's role may not do this, or (a municipal curator) not there",
        404: "no such incident within the key's scope",
        409: "the incident's state does not allow it (illegal_transition, extension_refused)",
        422: "a wrong body (invalid_request), an «отписка» (answer_rejected, with reasons) "
        "or a missing photo (photo_required)",
    }
    return {c: {"model": ErrorOut, "description": text[c]} for c in codes}


class StrictBody(BaseModel):
    """A request body: unknown fields and wrong types refused, texts stripped."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class AnswerBody(StrictBody):
    """An answer to the citizen: intermediate (default) or final, with photos of the work."""

    model_config = ConfigDict(
        json_schema_extra={  # a final answer has its text (the validator below, as schema)
            "if": {"properties": {"final": {"const": True}}, "required": ["final"]},
            "then": {"properties": {"text": {"type": "string"}}, "required": ["text"]},
        }
    )

    text: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_ANSWER,
        pattern=r"\S",
        description="the answer; an intermediate one without it uses the topic's template",
    )
    final: bool = Field(False, description="the final answer: checked for «отписка», resolves")
    photos: list[PhotoUrl] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _final_needs_text(self) -> Self:
        if self.final and self.text is None:
            raise ValueError("a final answer needs its text")
        return self


class ForwardBody(StrictBody):
    """Forward to the competent executor (59-ФЗ art. 8 p. 3); the citizen is told why."""

    to_executor: Ref
    reason: Reason


class ExtendBody(StrictBody):
    """Extend a written appeal's term once (59-ФЗ art. 12 p. 2), by at most 30 days."""

    days: Annotated[int, Field(ge=1, le=30), BeforeValidator(_whole)] = 30
    reason: Reason


class RatingBody(StrictBody):
    """A citizen's rating taken by a curator (by phone, say); a low one reopens."""

    score: Annotated[int, Field(ge=1, le=5), BeforeValidator(_whole)]
    comment: str | None = Field(None, max_length=MAX_REASON)
    resolved: bool | None = Field(None, description="the citizen's «решено / не решено»")


# helpers -----------------------------------------------------------------------------
def known_executor(st: ServerState, executor: str) -> str:
    """``executor`` if the region has it; InvalidRequest (422) otherwise."""
    if executor not in st.engine.region.executors:
        raise InvalidRequest(f"the region has no executor {executor!r}")
    return executor


async def act(
    st: ServerState,
    who: Principal,
    incident_id: int,
    action: Callable[[], Incident],
    *,
    also_visible: tuple[int, ...] = (),
) -> IncidentDetail:
    """Check the incident (and ``also_visible``) are within the key's scope, then run
    ``action`` — which checks its body's ids itself, so that a foreign incident is 404
    whatever the body says — in the threadpool, and show the incident it returns."""

    def run() -> IncidentDetail:
        visible_incident(st, who, incident_id)
        for other in also_visible:
            visible_incident(st, who, other)
        return detail_of(st, action(), masked=who.masked)

    return await run_in_threadpool(run)


# the executor's actions --------------------------------------------------------------
@router.post(
    "/incidents/{incident_id}/take",
    response_model=IncidentDetail,
    summary="Take into work",
    responses=error_responses(403, 404, 409),
)
async def take(incident_id: IncidentId, who: Worker, st: State) -> IncidentDetail:
    """ROUTED or REOPENED → IN_PROGRESS (nothing is sent to the citizen)."""
    return await act(
        st, who, incident_id, lambda: st.lifecycle.take_in_work(incident_id, actor=who.actor)
    )


@router.post(
    "/incidents/{incident_id}/answer",
    response_model=IncidentDetail,
    summary="Answer the citizen",
    responses=error_responses(403, 404, 409, 422),
)
async def answer(
    incident_id: IncidentId, body: AnswerBody, who: Worker, st: State
) -> IncidentDetail:
    """Give an intermediate answer (the final term is set from it) or, with ``final``, the
    final one, which resolves the incident.

    Either is checked for «отписка» first: a formal non-answer is refused (422,
    ``answer_rejected``, with ``reasons``), kept in the history and does not
    count as a response. A topic that needs photo confirmation refuses a final
    answer without a photo (given here or before): 422, ``photo_required``.
    """
    life = st.lifecycle

    def run() -> Incident:
        if body.final:
            assert body.text is not None
            return life.answer_final(incident_id, body.text, actor=who.actor, photos=body.photos)
        inc = life.answer_intermediate(incident_id, body.text, actor=who.actor)
        if body.photos:
            inc = life.attach_photos(incident_id, body.photos, actor=who.actor)
        return inc

    return await act(st, who, incident_id, run)


@router.post(
    "/incidents/{incident_id}/forward",
    response_model=IncidentDetail,
    summary="Forward to the competent executor",
    responses=error_responses(403, 404, 409, 422),
)
async def forward(
    incident_id: IncidentId, body: ForwardBody, who: Worker, st: State
) -> IncidentDetail:
    """Re-route to another executor with the reason, and tell the citizen (59-ФЗ art. 8).

    A written appeal forwarded later than 7 days after registration is
    flagged ``late`` in the ``forwarded`` event and the curator is told. An
    executor's key no longer sees the incident afterwards.
    """
    return await act(
        st,
        who,
        incident_id,
        lambda: st.lifecycle.forward(
            incident_id, known_executor(st, body.to_executor), body.reason, actor=who.actor
        ),
    )


@router.post(
    "/incidents/{incident_id}/extend",
    response_model=IncidentDetail,
    summary="Extend a written appeal's term (59-ФЗ)",
    responses=error_responses(403, 404, 409, 422),
)
async def extend(
    incident_id: IncidentId, body: ExtendBody, who: Worker, st: State
) -> IncidentDetail:
    """Extend the term of an open written appeal once, by ``days`` (at most 30), and tell
    the citizen; a second extension, an appeal that is not written or whose term has
    ended is 409 (``extension_refused``)."""
    return await act(
        st,
        who,
        incident_id,
        lambda: st.lifecycle.extend_59fz(incident_id, body.reason, days=body.days, actor=who.actor),
    )


# the curator's actions ---------------------------------------------------------------
@router.post(
    "/incidents/{incident_id}/rating",
    response_model=IncidentDetail,
    summary="Record a citizen's rating",
    responses=error_responses(403, 404, 409, 422),
)
async def rating(
    incident_id: IncidentId, body: RatingBody, who: Curator, st: State
) -> IncidentDetail:
    """Record the rating a citizen gave a curator (by phone, at a reception).

    A low score (or ``resolved: false``) on a resolved incident reopens it; a
    good one closes it. An incident without any answer yet cannot be rated
    (422). The comment is masked before it is kept.
    """
    return await act(
        st,
        who,
        incident_id,
        lambda: st.lifecycle.rate(
            incident_id, body.score, body.comment, body.resolved, actor=who.actor
        ),
    )
