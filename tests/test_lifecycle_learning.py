"""Every curator correction is feedback: the curated history read back as labelled examples."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tsur.errors import InvalidRequest
from tsur.lifecycle import Lifecycle
from tsur.lifecycle.learning import training_text

from .conftest import FrozenClock
from .helpers import msg
from .test_lifecycle import life_region, make_life, new_incident
from .test_lifecycle_curator import msg_in_thread

ROAD = "Сызрань, ул. Мира, 5: яма на дороге, асфальт разбит"
BUS = "Тольятти, ул. Мира, 5: автобус 12 не ходит по расписанию"


@pytest.fixture
def life(db_url: str, clock: FrozenClock) -> Iterator[Lifecycle]:
    """A lifecycle on SQLite and on PostgreSQL."""
    lc = make_life(db_url, clock)
    try:
        yield lc
    finally:
        lc.close()
        lc.engine.close()


def labels(life: Lifecycle, target: str = "topic", **kw: object) -> dict[str, tuple[str, str]]:
    """text → (label, origin) of every example."""
    return {e.text: (e.label, e.origin) for e in life.labelled_examples(target, **kw)}  # type: ignore[arg-type]


def test_a_corrected_topic_overrides_the_engines_and_the_latest_correction_wins(
    life: Lifecycle,
) -> None:
    road = new_incident(life, ROAD, ext="r")
    bus = new_incident(life, BUS, ext="b")
    assert road.id and bus.id and (road.topic, bus.topic) == ("roads", "transport")
    assert labels(life) == {ROAD: ("roads", "engine"), BUS: ("transport", "engine")}
    life.correct(bus.id, actor="cur", topic="roads")
    life.correct(bus.id, actor="cur", topic="zhkh.heating")
    assert labels(life)[BUS] == ("zhkh.heating", "corrected")
    # a territory corrected: the curator saw the topic and kept it
    life.correct(road.id, actor="cur", territory="gorod")
    assert labels(life)[ROAD] == ("roads", "confirmed")
    assert labels(life, curated_only=True).keys() == {ROAD, BUS}


def test_a_reassigned_executor_is_the_executor_label(life: Lifecycle) -> None:
    road = new_incident(life, ROAD)
    assert road.id and road.executor == "adm-sela"
    assert labels(life, "executor") == {ROAD: ("adm-sela", "engine")}
    life.reassign(road.id, "duty", "дорога областная", actor="cur")
    assert labels(life, "executor") == {ROAD: ("duty", "corrected")}
    # the topic was not touched by the reassignment, only confirmed
    assert labels(life) == {ROAD: ("roads", "confirmed")}


def test_triage_thanks_and_masked_personal_data(life: Lifecycle) -> None:
    unclear = new_incident(life, "что-то непонятное", ext="x")
    assert unclear.status.value == "triage"
    first = new_incident(life, ROAD, ext="s1")
    life.engine.process([msg_in_thread("s2", "Спасибо!")])
    heat = new_incident(life, "Тольятти, ул. Мира, 7: нет отопления, звоните +7 917 123-45-67")
    assert first.id and heat.id and heat.topic == "zhkh.heating"
    found = labels(life)
    assert found == {
        ROAD: ("roads", "engine"),
        # the model learns the masked text: no phone number reaches a model file
        "Тольятти, ул. Мира, 7: нет отопления, звоните [телефон]": ("zhkh.heating", "engine"),
    }
    assert labels(life, "executor").keys() == found.keys()  # the curator's queue is no label
    # once the curator has decided, the triaged incident teaches
    assert unclear.id
    life.correct(unclear.id, actor="cur", topic="roads")  # still in triage, but labelled
    assert life.engine.incident(unclear.id).status.value == "triage"
    assert labels(life)["что-то непонятное"] == ("roads", "corrected")
    life.correct(unclear.id, actor="cur", territory="sela", reroute=True)
    assert labels(life, "executor")["что-то непонятное"] == ("adm-sela", "corrected")


def test_a_confirmation_makes_the_engines_labels_the_curators(
    life: Lifecycle, clock: FrozenClock
) -> None:
    road = new_incident(life, ROAD, ext="r")
    pothole = "яма на дороге, асфальт разбит"  # no town: triage, the curators' queue
    unsure = new_incident(life, pothole, ext="u")
    assert road.id and unsure.id and unsure.status.value == "triage" and unsure.topic == "roads"
    assert labels(life) == {ROAD: ("roads", "engine")}  # a guess in triage teaches nothing
    assert labels(life, curated_only=True) == {}
    clock.now = datetime(2026, 12, 2, tzinfo=UTC)
    life.confirm(road.id, actor="cur")
    life.confirm(unsure.id, actor="cur", executor="adm-sela")
    assert labels(life) == {ROAD: ("roads", "confirmed"), pothole: ("roads", "confirmed")}
    # the executor the curator named for the triaged one is a correction of the engine's
    assert labels(life, "executor") == {
        ROAD: ("adm-sela", "confirmed"),
        pothole: ("adm-sela", "corrected"),
    }
    assert labels(life, curated_only=True).keys() == {ROAD, pothole}
    assert {e.at for e in life.labelled_examples(since=datetime(2026, 12, 1, tzinfo=UTC))} == {
        clock.now
    }


def test_merge_and_split_give_labels_and_duplicate_pairs(life: Lifecycle) -> None:
    a = new_incident(life, ROAD, ext="a")
    other = "Сызрань, ул. Ленина, 9: яма на дороге, асфальт провалился"
    b = new_incident(life, other, ext="b")
    assert a.id and b.id
    life.merge(a.id, [b.id], actor="cur", reason="одна яма")
    (pair,) = life.duplicate_pairs()
    assert (pair.left_text, pair.right_text, pair.duplicate) == (other, ROAD, True)
    assert (pair.left_incident_id, pair.right_incident_id, pair.actor) == (b.id, a.id, "cur")
    # the merged message now carries the target's label, confirmed by the curator
    assert labels(life) == {ROAD: ("roads", "confirmed"), other: ("roads", "confirmed")}
    # the curator changes their mind: split apart, with its own topic — the latest word wins
    merged = life.engine.incident(a.id)
    new = life.split(
        a.id, [merged.message_ids[1]], actor="cur", reason="разные ямы", topic="zhkh.heating"
    )
    (pair,) = life.duplicate_pairs()
    assert (pair.left_text, pair.right_text, pair.duplicate) == (other, ROAD, False)
    assert (pair.left_incident_id, pair.right_incident_id) == (new.id, a.id)
    assert labels(life)[other] == ("zhkh.heating", "corrected")
    later = datetime(2030, 1, 1, tzinfo=UTC)
    assert life.duplicate_pairs(since=later) == []


def test_split_of_a_thread_pairs_two_problems(life: Lifecycle) -> None:
    first = new_incident(life, ROAD, ext="s1")
    heat = "И ещё в доме на ул. Мира, 5 нет отопления, батареи холодные"
    life.engine.process([msg_in_thread("s2", heat)])
    inc = life.engine.incident(first.id)  # type: ignore[arg-type]
    assert inc.id and len(inc.message_ids) == 2
    # before the split the thread's reply carries the road label
    assert labels(life)[heat] == ("roads", "engine")
    life.split(inc.id, [inc.message_ids[1]], actor="cur", reason="другая проблема")
    (pair,) = life.duplicate_pairs()
    assert (pair.left_text, pair.right_text, pair.duplicate) == (heat, ROAD, False)
    assert labels(life)[ROAD] == ("roads", "confirmed")


def test_since_and_hostile_inputs(life: Lifecycle, clock: FrozenClock) -> None:
    assert life.labelled_examples() == [] and life.duplicate_pairs() == []  # an empty store
    bus = new_incident(life, BUS, ext="b")
    assert bus.id
    later = datetime(2026, 12, 1, tzinfo=UTC)
    assert life.labelled_examples(since=later) == []
    clock.now = datetime(2026, 12, 2, tzinfo=UTC)
    life.correct(bus.id, actor="cur", topic="roads")
    # an old incident a curator corrected after `since` counts
    assert labels(life, since=later) == {BUS: ("roads", "corrected")}
    (ex,) = life.labelled_examples(since=later)
    assert ex.at == clock.now and ex.curated and ex.incident_id == bus.id
    for bad in ("nope", None, 5):
        with pytest.raises(InvalidRequest, match="target"):
            life.labelled_examples(bad)  # type: ignore[arg-type]
    for when in (datetime(2026, 12, 1), "2026-12-01"):  # no offset; not a date-time
        with pytest.raises(InvalidRequest, match="UTC offset"):
            life.labelled_examples(since=when)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest, match="UTC offset"):
            life.duplicate_pairs(since=when)  # type: ignore[arg-type]
    # a message that comes later into the same incident shares its label
    life.engine.process([msg("c", "ещё про автобус 12", parent_id="b")])
    assert labels(life)["ещё про автобус 12"] == ("roads", "corrected")


# personal data never reaches a model ----------------------------------------------------------
CLOCK = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)
SIGNED = "Тольятти, ул. Мира, {n}: нет отопления. Иванов Пётр Сергеевич, тел. +7 917 123-45-67."


def test_a_long_appeal_is_learnt_masked_not_from_its_raw_cut(tmp_path: Path) -> None:
    """A text over the reading limit is cut first, then masked: the cut alone is no mask."""
    life = make_life(str(tmp_path / "t.db"), FrozenClock(CLOCK))
    try:
        pad = " Батареи холодные, в квартире очень холодно." * 500  # > 20 000 characters
        new_incident(life, SIGNED.format(n=7) + pad, ext="a")
        new_incident(life, "Сызрань, ул. Мира, 5: яма на дороге, асфальт разбит", ext="c")
        texts = [e.text for e in life.labelled_examples("topic")]
        assert texts and not any("917" in t or "Иванов" in t for t in texts)
        assert any("[телефон]" in t for t in texts), texts[0][:200]
    finally:
        life.close()
        life.engine.close()


def test_without_the_masking_filter_training_texts_are_still_masked(tmp_path: Path) -> None:
    region = life_region(
        pipeline=lambda d: d.setdefault("pipeline", {}).update(disabled_plugins=["masking"])
    )
    life = make_life(str(tmp_path / "t.db"), FrozenClock(CLOCK), region=region)
    try:
        new_incident(life, SIGNED.format(n=7), ext="a")
        (sm,) = life.engine.repository.messages(limit=10)
        assert "+7 917" in sm.message.text  # stored as written
        assert "917" not in training_text(sm) and "Мира" in training_text(sm)
    finally:
        life.close()
        life.engine.close()
