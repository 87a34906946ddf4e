from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tsur import ConfigError, load_region, parse_duration
from tsur.config import region_from_mapping

from .conftest import SMALL_REGION


def _small() -> dict[str, Any]:
    return tomllib.loads(SMALL_REGION.read_text("utf-8"))


def test_bundled_region_is_samara_with_all_municipalities() -> None:
    cfg = load_region()
    kinds: dict[str, list[str]] = {}
    for t in cfg.territories:
        kinds.setdefault(t.kind, []).append(t.name)
    assert cfg.region.name == "Самарская область"
    assert cfg.region.timezone == "Europe/Samara"
    assert len(kinds["city_okrug"]) == 10
    assert len(kinds["municipal_district"]) == 27
    assert {"Самара", "Тольятти", "Сызрань"} <= set(kinds["city_okrug"])
    main = {"zhkh", "social", "education", "roads", "transport", "health", "energy", "waste"}
    assert main <= {t.id for t in cfg.topics}
    executor_kinds = {e.kind for e in cfg.executors}
    assert {
        "municipal_administration",
        "ministry",
        "management_company",
        "utility",
        "carrier",
        "deputy_governor",
        "governor",
        "curator",
    } <= executor_kinds
    # every municipality has an administration
    admin_of = {
        e.territory
        for e in cfg.executors
        if e.kind in {"municipal_administration", "district_administration"}
    }
    municipalities = {
        t.id for t in cfg.territories if t.kind in {"city_okrug", "municipal_district"}
    }
    assert municipalities <= admin_of


def test_bundled_sla_follows_the_regulations() -> None:
    cfg = load_region()
    policies = {p.id: p for p in cfg.sla}
    default = cfg.sla[-1]
    assert not (default.topics or default.urgency or default.sources)
    assert str(default.first_response) == "8 working hours"
    written = next(p for p in cfg.sla if "written" in p.sources)
    assert str(written.resolution) == "30 days"
    urgent = next(p for p in cfg.sla if "urgent" in p.urgency)
    assert urgent.first_response is not None and default.first_response is not None
    # the urgent track: 2 hours on the clock against 8 working hours
    assert str(urgent.first_response) == "2 hours" and not urgent.first_response.working
    assert [s.level for s in cfg.escalation.ladder][-2:] == ["deputy_governor", "governor"]
    assert policies


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="region file not found") as info:
        load_region(tmp_path / "nope.toml")
    assert info.value.path == str(tmp_path / "nope.toml")


def test_toml_syntax_error_names_file_and_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[region]\nname = \n", "utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML.*line 2"):
        load_region(bad)


def test_wrong_values_are_reported_with_key_paths_all_at_once() -> None:
    data = _small()
    data["executors"][4]["kind"] = "mayor"
    data["sla"][0]["first_response"] = "soon"
    data["region"]["timezone"] = "Mars/Olympus"
    with pytest.raises(ConfigError) as info:
        region_from_mapping(data, origin="region.toml")
    paths = dict(info.value.problems)
    assert "executors[4].kind" in paths
    assert (
        "sla[0].first_response" in paths
        and "cannot read duration 'soon'" in paths["sla[0].first_response"]
    )
    assert "unknown time zone 'Mars/Olympus'" in paths["region.timezone"]
    assert str(info.value).startswith("region.toml: invalid region configuration (3 problem(s))")


def test_dangling_references_and_cycles_are_caught() -> None:
    data = _small()
    data["executors"][4]["territory"] = "atlantis"
    data["routing"][0]["executor"] = "nobody"
    data["territories"][0]["parent"] = "gorod"  # oblast → gorod → oblast
    with pytest.raises(ConfigError) as info:
        region_from_mapping(data, origin="r.toml")
    problems = dict(info.value.problems)
    assert problems["executors[4].territory"] == "unknown territory 'atlantis'"
    assert problems["routing[0].executor"] == "unknown executor 'nobody'"
    assert any("loops back" in msg for msg in problems.values())


def test_duplicate_ids_are_refused() -> None:
    data = _small()
    data["topics"].append(dict(data["topics"][0]))
    with pytest.raises(ConfigError, match="duplicate id 'zhkh'"):
        region_from_mapping(data)


def test_routing_rule_needs_exactly_one_target() -> None:
    data = _small()
    data["routing"][0]["executor_kind"] = "utility"
    with pytest.raises(ConfigError, match="exactly one of 'executor' or 'executor_kind'"):
        region_from_mapping(data)


@pytest.mark.parametrize(
    ("text", "unit", "amount"),
    [
        ("8 working hours", "working_hours", 8),
        ("8wh", "working_hours", 8),
        ("7 working days", "working_days", 7),
        ("30 days", "days", 30),
        ("4h", "hours", 4),
        ("1 day", "days", 1),
        ("90 minutes", "minutes", 90),
    ],
)
def test_durations(text: str, unit: str, amount: float) -> None:
    d = parse_duration(text)
    assert (d.unit, d.amount) == (unit, amount)


@pytest.mark.parametrize("text", ["", "0 days", "eight hours", "8 weeks"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_yaml_region_without_pyyaml_or_with_it(tmp_path: Path) -> None:
    yml = tmp_path / "r.yaml"
    yml.write_text("region: [", "utf-8")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="PyYAML"):
            load_region(yml)
    else:
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_region(yml)
