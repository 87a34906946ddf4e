"""Citizens' ratings and reopening.

A rating (1–5, a comment, «решено / не решено») is kept as a ``rating``
event. On a resolved or closed incident a score at or below
``lifecycle.low_rating``, or «не решено», reopens it — back to the same
executor with a new resolution term, which counts against the executor in
the KPIs — as long as the rating comes within ``reopen_window_days`` of
the resolution; a later low rating is reported to the curator instead. A
good rating closes a resolved incident.

The citizen's comment and the reason given for returning an answer are
masked (:func:`~tsur.text.masking.mask_citizen_text`: personal data and
obscene words, cut to 20 000 characters) before they are recorded, so
neither the history, the API, exports nor notifications ever hold them
unmasked; tsur keeps no unmasked copy of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from tsur.domain import Incident, Notification, Status
from tsur.errors import IllegalTransition, InvalidRequest, TsurError
from tsur.lifecycle.core import LifecycleCore
from tsur.lifecycle.state import lifecycle_state
from tsur.sla.deadlines import due
from tsur.text.masking import mask_citizen_text

__all__ = ["rate", "reopen", "resolved_at"]


def resolved_at(incident: Incident) -> datetime | None:
    """When the incident was last resolved (its last status event to RESOLVED)."""
    for ev in reversed(incident.history):
        if ev.to_status is Status.RESOLVED:
            return ev.at
    return None


def _check_rating(
    incident_id: int, score: Any, comment: Any, resolved: Any
) -> tuple[int, str | None, bool | None]:
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidRequest(
            f"a rating is a whole number 1–5, got {score!r}", incident_id=incident_id
        )
    if comment is not None and not isinstance(comment, str):
        raise InvalidRequest(f"a comment must be text, got {comment!r}", incident_id=incident_id)
    if resolved is not None and not isinstance(resolved, bool):
        raise InvalidRequest(
            f"'resolved' must be true, false or absent, got {resolved!r}", incident_id=incident_id
        )
    masked = mask_citizen_text(comment.strip()) if comment and comment.strip() else None
    return score, masked, resolved


def rate(
    life: LifecycleCore,
    incident_id: int,
    score: int,
    comment: str | None = None,
    resolved: bool | None = None,
    *,
    actor: str = "citizen",
    ref: str | None = None,
) -> Incident:
    """Record the citizen's rating; reopen on a low one, close a resolved incident on a good one.

    ``ref`` names the rating where a channel delivers it (a portal's status
    callback): a rating whose ``ref`` is already in the history is not
    recorded again, so a callback delivered twice counts once.
    """
    score, comment, resolved = _check_rating(incident_id, score, comment, resolved)
    now = life.now()
    low_limit = life.config.lifecycle.low_rating
    window = timedelta(days=life.config.lifecycle.reopen_window_days)
    outcome = "recorded"
    with life.repository.update_incident(incident_id) as inc:
        if ref is not None and any(
            e.kind == "rating" and e.data.get("ref") == ref for e in inc.history
        ):
            return inc
        answered = inc.status in (Status.RESOLVED, Status.CLOSED) or (
            inc.first_response_at is not None and inc.status.is_open
        )
        if not answered:
            raise InvalidRequest(
                f"there is no answer to rate yet (status {inc.status.value})",
                incident_id=incident_id,
            )
        low = score <= low_limit or resolved is False
        inc.record(
            "rating",
            at=now,
            actor=actor,
            reason=f"оценка {score}" + (" — не решено" if resolved is False else ""),
            data={"score": score, "comment": comment, "resolved": resolved}
            | ({"ref": ref} if ref is not None else {}),
        )
        state = lifecycle_state(inc)
        state.setdefault("ratings", []).append({"score": score, "at": life.iso(now)})
        if inc.status in (Status.RESOLVED, Status.CLOSED):
            if low:
                when = resolved_at(inc) or inc.created_at
                if now - when <= window:
                    why = "заявитель: не решено" if resolved is False else f"низкая оценка {score}"
                    _reopen_locked(life, inc, now, actor, why)
                    outcome = "reopened"
                else:
                    outcome = "late_low"
            elif inc.status is Status.RESOLVED:
                inc.transition(
                    Status.CLOSED, at=now, actor=actor, reason=f"заявитель оценил ответ на {score}"
                )
        elif low:
            outcome = "low_open"
    if outcome == "reopened":
        return _after_reopen(life, inc, now)
    if outcome in ("late_low", "low_open"):
        to = life.region.curator if outcome == "late_low" else inc.executor
        life.queue(
            Notification(
                kind="low_rating",
                incident_id=incident_id,
                at=now,
                recipients=tuple(r for r in (to, inc.executor) if r),
                text=f"Низкая оценка заявителя ({score}) по обращению № {incident_id}"
                + (f": {comment}" if comment else ""),
                data={"score": score, "resolved": resolved, "reopened": False},
                key=f"low_rating:{incident_id}:{now.isoformat()}",
            )
        )
    return inc


def reopen(
    life: LifecycleCore, incident_id: int, reason: str, *, actor: str = "citizen"
) -> Incident:
    """RESOLVED/CLOSED → REOPENED with the same executor and a new term; tell both sides."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest(
            "the reason of reopening must be a non-empty text", incident_id=incident_id
        )
    reason = mask_citizen_text(reason.strip())
    now = life.now()
    with life.repository.update_incident(incident_id) as inc:
        if inc.status not in (Status.RESOLVED, Status.CLOSED):
            raise IllegalTransition(inc.status.value, Status.REOPENED.value, incident_id=inc.id)
        _reopen_locked(life, inc, now, actor, reason)
    return _after_reopen(life, inc, now)


def _reopen_locked(
    life: LifecycleCore, inc: Incident, now: datetime, actor: str, reason: str
) -> None:
    inc.transition(
        Status.REOPENED, at=now, actor=actor, reason=reason, data={"executor": inc.executor}
    )
    state = lifecycle_state(inc)
    state["reopened"] = int(state.get("reopened", 0)) + 1
    policy = life.policy_of(inc)
    if policy is not None and policy.resolution is not None:
        new_due = due(life.calendar_of(inc), now, policy.resolution)
        life.set_deadlines(
            inc, now, actor, f"доработка после возврата: {reason}", resolution_due=new_due
        )


def _after_reopen(life: LifecycleCore, inc: Incident, now: datetime) -> Incident:
    assert inc.id is not None
    life.queue(
        Notification(
            kind="reopened",
            incident_id=inc.id,
            at=now,
            recipients=tuple(r for r in (inc.executor,) if r),
            text=f"Обращение № {inc.id} возвращено на доработку заявителем",
            data={"resolution_due": life.iso(inc.resolution_due)},
            key=f"reopened:{inc.id}:{now.isoformat()}",
        )
    )
    text = life.render_answer("reopened", inc, due_at=inc.resolution_due)
    return life.post_answer(inc, "intermediate", text, actor="tsur", notice="reopened")


def rate_from_channel(
    life: LifecycleCore, source_id: str, events: Iterable[Any]
) -> list[tuple[str, Incident | None, str]]:
    """Ratings a channel pushed with its status callbacks, recorded on their incidents.

    Each event with an ``appeal_id`` and a ``rating`` or ``resolved`` (a
    ПОС ``closed`` status) is the rating of the incident that the message
    ``(source_id, appeal_id)`` belongs to; an ``incident_id`` in the event
    is not trusted. Returns, per rating event, the appeal id, the incident
    (None when it cannot be rated) and what happened: ``rated``,
    ``no_incident`` (unknown appeal, or not yet processed) or the reason the
    rating was refused. Delivered twice, a rating counts once (``ref``).
    """
    done: list[tuple[str, Incident | None, str]] = []
    for event in events:
        appeal = getattr(event, "appeal_id", None)
        score = getattr(event, "rating", None)
        resolved = getattr(event, "resolved", None)
        if appeal is None or (score is None and resolved is None):
            continue
        stored = life.repository.message_by_key(source_id, str(appeal))
        incident_id = stored.incident_id if stored is not None else None
        if incident_id is None:
            done.append((str(appeal), None, "no_incident"))
            continue
        at = getattr(event, "at", None)
        ref = f"{source_id}:{appeal}:{at.isoformat() if at is not None else ''}"
        if score is None:  # «не решено» without a score is the lowest one
            score = 1 if resolved is False else 5
        try:
            inc = rate(
                life,
                incident_id,
                int(score),
                getattr(event, "rating_comment", None),
                resolved,
                actor=f"citizen:{source_id}",
                ref=ref,
            )
        except TsurError as exc:
            done.append((str(appeal), None, str(exc)))
            continue
        done.append((str(appeal), inc, "rated"))
    return done
