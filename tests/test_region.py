"""The region's domain view: built once from the region file, with its look-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from tsur import Duration, Incident, Region, RegionConfig, Status, Urgency, parse_duration
from tsur.config import region_from_mapping
from tsur.sla.deadlines import deadlines_for, due, policy_for


@pytest.fixture(scope="module")
def region(small_region: RegionConfig) -> Region:
    return Region.from_config(small_region)


def test_the_domain_objects_are_frozen_copies_of_the_file(
    region: Region, small_region: RegionConfig
) -> None:
    assert set(region.territories) == {t.id for t in small_region.territories}
    gorod = region.territories["gorod"]
    assert (gorod.name, gorod.kind, gorod.population) == ("Тольятти", "city_okrug", 680000)
    assert gorod.center is not None and gorod.center.lat == pytest.approx(53.51)
    heating = region.topics["zhkh.heating"]
    assert heating.parent == "zhkh" and heating.seasonal[0].months == frozenset({11, 12, 1, 2, 3})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        heating.name = "x"  # type: ignore[misc]
    assert region.sources["portal"].kind == "webhook"
    assert [p.id for p in region.sla] == [p.id for p in small_region.sla]  # in file order


def test_topic_and_territory_chains(region: Region) -> None:
    assert region.topic_chain("zhkh.heating") == ("zhkh.heating", "zhkh")
    assert region.topic_chain(None) == () and region.topic_chain("space") == ("space",)
    assert region.direction_of("zhkh.heating") == "zhkh"
    assert region.in_topic("zhkh.heating", ["zhkh"]) and not region.in_topic("roads", ["zhkh"])
    assert region.territory_chain("smyshlyaevka") == ("smyshlyaevka", "volzhsky", "oblast")
    assert region.in_territory("smyshlyaevka", ["volzhsky"])
    assert region.municipality_of("smyshlyaevka") == "volzhsky"
    assert region.municipality_of("gorod") == "gorod"
    assert region.municipality_of("oblast") is None and region.municipality_of("nowhere") is None
    assert set(region.same_municipality("smyshlyaevka")) == {"volzhsky", "smyshlyaevka"}
    assert region.same_municipality("oblast") == ("oblast",)
    assert [t.id for t in region.municipalities] == ["gorod", "sela", "volzhsky"]
    assert region.depth("smyshlyaevka") == 2


def test_a_topic_family_follows_the_parents_not_the_spelling_of_ids(
    small_region: RegionConfig,
) -> None:
    region = Region.from_config(small_region)
    assert region.family("zhkh.heating") == region.family("zhkh") == ("zhkh", "zhkh.heating")
    assert region.family("roads") == ("roads",) and region.family(None) == ()
    # ids that do not share a prefix: the parent decides
    topics = [t.model_dump() for t in small_region.topics]
    for t in topics:
        if t["id"] == "zhkh.heating":
            t["id"] = "teplo"
    odd = small_region.model_copy(
        update={"topics": [type(small_region.topics[0]).model_validate(t) for t in topics]}
    )
    odd_region = Region.from_config(odd)
    assert odd_region.family("teplo") == ("teplo", "zhkh")
    assert odd_region.family("zhkh") == ("teplo", "zhkh")


def test_executors_and_the_chain_of_command(region: Region) -> None:
    adm = region.executor_for("district_administration", "smyshlyaevka")  # walks up
    assert adm is not None and adm.id == "adm-volzhsky"
    assert region.executor_for("carrier", "sela") is None
    vice = region.executor_for_topic("deputy_governor", "zhkh.heating")
    assert vice is not None and vice.id == "vice-zhkh"
    assert region.executor_name("nobody") == "nobody" and region.executor_name(None) == "—"


def test_an_executor_with_own_hours_has_its_own_calendar(small_region: RegionConfig) -> None:
    data = small_region.model_dump(mode="json")
    for e in data["executors"]:
        if e["id"] == "teplo":
            e["working_hours"] = ["08:00", "20:00"]
    data["plugins"] = {}
    region = Region.from_config(region_from_mapping(data))
    teplo = region.calendar_for("teplo")
    assert teplo is not region.calendar and teplo.lunch is None and teplo.hours_per_day == 12
    assert region.calendar_for("adm-gorod") is region.calendar
    assert region.calendar_for(None) is region.calendar


def test_one_deadline_function_for_every_kind_of_span(region: Region) -> None:
    cal = region.calendar
    friday = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)  # 17:30 in Samara
    # half an hour left on Friday, half an hour on Monday morning: 09:30 in Samara
    assert due(cal, friday, parse_duration("1 working hour")) == datetime(
        2026, 11, 23, 5, 30, tzinfo=UTC
    )
    assert due(cal, friday, Duration(2, "hours")) == friday + timedelta(hours=2)
    assert due(cal, friday, Duration(90, "minutes")) == friday + timedelta(minutes=90)
    assert due(cal, friday, None) is None


def test_policies_match_in_order_and_the_executors_own_wins(region: Region) -> None:
    inc = Incident(Status.NEW, datetime(2026, 11, 16, 6, 0, tzinfo=UTC), source="vk")
    urgent = attrs.evolve(inc, urgency=Urgency.URGENT)
    assert policy_for(region, urgent).id == "urgent"  # type: ignore[union-attr]
    assert policy_for(region, inc).id == "default"  # type: ignore[union-attr]
    written = attrs.evolve(inc, source="written")
    assert policy_for(region, written).id == "written-59fz"  # type: ignore[union-attr]
    d = deadlines_for(region, urgent, urgent.created_at)
    assert d is not None and d.policy == "urgent"
    assert d.first_response_due is not None and d.first_response_due > urgent.created_at
