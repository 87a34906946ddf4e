"""Territory from the text, a geotag and the source, on the bundled region."""

from __future__ import annotations

from typing import Any

import pytest

from tsur import Engine, GeoPoint, Text, open_repository
from tsur.default_plugins.locators import demonyms

from .helpers import msg


@pytest.fixture(scope="module")
def engine(bundled_region: Any) -> Engine:
    return Engine(bundled_region, open_repository(":memory:"), entry_points=False)


@pytest.mark.parametrize(
    ("text", "territory"),
    [
        ("В Тольятти опять не вывезли мусор", "tolyatti"),
        ("Тольяттинцы, у кого тоже нет горячей воды?", "tolyatti"),
        ("Сызранцы жалуются на автобусы", "syzran"),
        ("нет света в Новокуйбышевске второй день", "novokuybyshevsk"),
        ("Жигулевск, улица Морквашинская — яма", "zhigulevsk"),
        ("Красноглинский район Самары: не чистят снег", "samara-krasnoglinsky"),
        ("В Самарской области снова подорожал проезд", "samara-oblast"),
    ],
)
def test_toponyms_in_any_form(engine: Engine, text: str, territory: str) -> None:
    m = msg("1", text)
    loc = engine.locate(m, Text.from_raw(text))
    assert loc is not None and loc.territory == territory, loc


def test_the_deepest_territory_named_wins(engine: Engine) -> None:
    text = "Самарская область, Волжский район, пгт Смышляевка: прорвало трубу"
    loc = engine.locate(msg("1", text), Text.from_raw(text))
    assert loc is not None
    assert engine.region.territories[loc.territory].kind == "urban_settlement"
    assert "смышляевка" in " ".join(loc.evidence)


def test_a_geotag_locates_a_message_without_place_names(engine: Engine) -> None:
    m = msg("1", "Не работает светофор на перекрёстке", geo=GeoPoint(53.51, 49.41))
    loc = engine.locate(m, Text.from_raw(m.text))
    assert loc is not None and loc.territory == "tolyatti" and loc.locator == "geotag"


def test_a_city_group_lends_its_territory(bundled_region: Any) -> None:
    sources = [
        s.model_copy(update={"territory": "syzran"}) if s.id == "vk" else s
        for s in bundled_region.sources
    ]
    cfg = bundled_region.model_copy(update={"sources": sources})
    eng = Engine(cfg, open_repository(":memory:"), entry_points=False)
    m = msg("1", "Опять не пришла маршрутка, стоим полчаса")
    loc = eng.locate(m, Text.from_raw(m.text))
    assert loc is not None and (loc.territory, loc.locator) == ("syzran", "source")
    # the text still wins over the group's default
    m2 = msg("2", "В Тольятти не пришла маршрутка")
    assert eng.locate(m2, Text.from_raw(m2.text)).territory == "tolyatti"  # type: ignore[union-attr]


def test_demonyms() -> None:
    assert demonyms("Самара") == ["самарец"]
    assert "тольяттинец" in demonyms("Тольятти")
    assert demonyms("Новокуйбышевск") == ["новокуйбышевец"]
    assert demonyms("Отрадный") == [] and demonyms("Бор") == []


def test_a_geotag_inside_a_district_boundary(engine: Engine) -> None:
    # far from every centre, inside Большеглушицкий район by OpenStreetMap's boundary
    m = msg("1", "Дорогу замело, не проехать", geo=GeoPoint(52.5, 50.6))
    loc = engine.locate(m, Text.from_raw(m.text))
    assert loc is not None
    assert (loc.territory, loc.evidence) == (
        "bolsheglushitsky-rayon",
        ("геометка внутри границы муниципалитета",),
    )
