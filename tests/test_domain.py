from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tsur import TRANSITIONS, IllegalTransition, Incident, Message, Status, Urgency

NOW = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


def test_happy_path_through_the_state_machine_records_every_step() -> None:
    inc = Incident(status=Status.NEW, created_at=NOW)
    path = [
        Status.CLASSIFIED,
        Status.ROUTED,
        Status.IN_PROGRESS,
        Status.ANSWERED_INTERMEDIATE,
        Status.RESOLVED,
        Status.CLOSED,
        Status.REOPENED,
        Status.RESOLVED,
    ]
    for target in path:
        inc.transition(target, at=NOW, actor="curator", reason=f"to {target}")
    assert inc.status is Status.RESOLVED
    assert [e.to_status for e in inc.history] == path
    assert [e.from_status for e in inc.history] == [Status.NEW, *path[:-1]]
    assert all(e.actor == "curator" and e.kind == "status" for e in inc.history)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Status.NEW, Status.RESOLVED),
        (Status.CLOSED, Status.ROUTED),
        (Status.REJECTED, Status.ROUTED),
        (Status.NEW, Status.CLOSED),
    ],
)
def test_illegal_transition_raises_and_changes_nothing(start: Status, target: Status) -> None:
    inc = Incident(status=start, created_at=NOW, id=7)
    with pytest.raises(IllegalTransition) as info:
        inc.transition(target, at=NOW, actor="x")
    assert info.value.current == start.value
    assert info.value.target == target.value
    assert "incident 7" in str(info.value)
    assert inc.status is start
    assert inc.history == []


def test_every_status_has_transitions_and_terminal_ones_can_only_reopen() -> None:
    assert set(TRANSITIONS) == set(Status)
    for s in (Status.CLOSED, Status.REJECTED, Status.DUPLICATE):
        assert TRANSITIONS[s] == {Status.REOPENED}


def test_open_statuses_map_onto_open311_open_and_closed() -> None:
    assert {s for s in Status if not s.is_open} == {
        Status.RESOLVED,
        Status.CLOSED,
        Status.REJECTED,
        Status.DUPLICATE,
    }


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Message(source="vk", external_id="1", text="x", created_at=datetime(2026, 1, 1))


def test_overdue_considers_first_response_and_resolution() -> None:
    inc = Incident(
        status=Status.ROUTED,
        created_at=NOW,
        first_response_due=datetime(2026, 11, 16, 8, tzinfo=UTC),
        resolution_due=datetime(2026, 11, 20, 8, tzinfo=UTC),
    )
    assert not inc.is_overdue(datetime(2026, 11, 16, 7, tzinfo=UTC))
    assert inc.is_overdue(datetime(2026, 11, 16, 9, tzinfo=UTC))
    inc.first_response_at = datetime(2026, 11, 16, 7, tzinfo=UTC)
    assert not inc.is_overdue(datetime(2026, 11, 16, 9, tzinfo=UTC))
    assert inc.is_overdue(datetime(2026, 11, 21, tzinfo=UTC))
    inc.status = Status.RESOLVED
    assert not inc.is_overdue(datetime(2026, 11, 21, tzinfo=UTC))


def test_urgency_rank_orders_tracks() -> None:
    assert Urgency.URGENT.rank > Urgency.QUICK.rank > Urgency.NORMAL.rank
