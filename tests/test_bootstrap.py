"""``tsur region bootstrap``: a region drafted from a labelled history loads and routes.

The archive here is synthetic: three municipalities (two districts and a
town), three local topics answered by each municipality's administration,
and health answered by a regional committee wherever the appeal is from.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tsur.cli import main
from tsur.config import load_region
from tsur.default_plugins.bootstrap import (
    draft_region,
    guillemets,
    plural,
    read_archive,
    support_comment,
)
from tsur.domain import Message
from tsur.errors import IngestError
from tsur.ml.model import TextModel
from tsur.routing.learn import (
    LearnedRule,
    LearnedRules,
    Observation,
    executor_kind,
    is_common_word,
    learn_rules,
    places_in_name,
    slug,
    unique_slug,
)

pytest.importorskip("sklearn")

ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: where (as the text says it) → the administration that answers there
PLACES = {
    "в Курском районе": "Администрация Курского района",
    "в Льговском районе": "Администрация Льговского района",
    "в Железногорске": "Администрация г. Железногорска",
}
PROBLEMS = {
    "Дороги": [
        "на дороге огромная яма, асфальт разбит",
        "дорогу не ремонтируют, ямы по колено",
        "разбитый асфальт на дороге у остановки, ямы",
    ],
    "Освещение": [
        "не горят фонари на улице, темно вечером",
        "уличное освещение не работает, фонари погасли",
        "фонарь у дома не горит уже месяц",
    ],
    "Мусор": [
        "не вывозят мусор, контейнеры переполнены",
        "мусорные контейнеры не вывозят неделю",
        "свалка мусора у контейнерной площадки",
    ],
}
HEALTH = [
    "в поликлинике нет врача терапевта, запись на месяц вперёд",
    "врач в поликлинике не принимает, очередь к терапевту",
    "в больнице нет лекарств, врачи не помогают",
]
MINISTRY = "Комитет здравоохранения Курской области"


def archive_rows() -> list[dict[str, str]]:
    rows = []
    for where, executor in PLACES.items():
        for topic, texts in PROBLEMS.items():
            for text in texts:
                rows.append(
                    {
                        "Текст": f"{where.capitalize()} {text}",
                        "Тема": topic,
                        "Группа": "Городская среда",
                        "Исполнитель": executor,
                    }
                )
        for text in HEALTH:
            rows.append(
                {
                    "Текст": f"{where.capitalize()} {text}",
                    "Тема": "Здравоохранение",
                    "Группа": "Здоровье",
                    "Исполнитель": MINISTRY,
                }
            )
    for text in ("В деревне Большие Угоны не горят фонари", "В д. Большие Угоны нет освещения"):
        rows.append(
            {
                "Текст": text,
                "Тема": "Освещение",
                "Группа": "Городская среда",
                "Исполнитель": "Администрация Льговского района",
            }
        )
    return rows


def write(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or ["Текст", "Тема", "Группа", "Исполнитель"]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def read(path: Path, group: bool = True) -> object:
    return read_archive(
        path,
        text_column="Текст",
        topic_column="Тема",
        executor_column="Исполнитель",
        group_column="Группа" if group else None,
    )


# the executor's territory from its name: genitive → nominative ---------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Администрация Курского района", [("Курский район", "municipal_district")]),
        ("Администрация Льговского района", [("Льговский район", "municipal_district")]),
        ("Администрация г. Железногорска", [("Железногорск", "city_okrug")]),
        ("Администрация города Курчатова", [("Курчатов", "city_okrug")]),
        ("Администрация г. Обояни", [("Обоянь", "city_okrug")]),  # a feminine noun
        ("Администрация города Льгов", [("Льгов", "city_okrug")]),  # already nominative
        ("Администрация города Щигры", [("Щигры", "city_okrug")]),  # plural only
        ("Администрация города Старого Оскола", [("Старый Оскол", "city_okrug")]),
        ("Администрация поселка Кшенский", [("Кшенский", "urban_settlement")]),
        (
            "Администрация Клюквинского сельсовета Курского района",
            [
                ("Клюквинский сельсовет", "rural_settlement"),
                ("Курский район", "municipal_district"),
            ],
        ),
        (
            "Администрация Центрального округа города Курска",
            [("Центральный округ", "city_district"), ("Курск", "city_okrug")],
        ),
        (
            "Администрация Большесолдатского муниципального района",
            [("Большесолдатский район", "municipal_district")],
        ),
        ("Администрация Хомутовского района", [("Хомутовский район", "municipal_district")]),
        ("Комитет здравоохранения Курской области", [("Курская область", "region")]),
        ("ООО «УК Сейм»", []),
        ("Ответственный ПМИ", []),
    ],
)
def test_territories_are_read_from_executor_names(
    name: str, expected: list[tuple[str, str]]
) -> None:
    assert [(p.name, p.kind) for p in places_in_name(name)] == expected


def test_a_district_keeps_its_adjective_for_the_locator() -> None:
    (place,) = places_in_name("Администрация Льговского района")
    assert place.adjective == "льговский"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Администрация Курского района", "district_administration"),
        ("Администрация города Курска", "municipal_administration"),
        ("Комитет здравоохранения Курской области", "ministry"),
        ("Государственная жилищная инспекция Курской области", "regional_agency"),
        ("ООО «УК Сейм»", "management_company"),
        ("Ответственный ПМИ", "other"),
    ],
)
def test_executor_kind_follows_the_name(name: str, kind: str) -> None:
    assert executor_kind(name) == kind


def test_ids_are_transliterated_and_valid() -> None:
    assert slug("Администрация Курского района") == "administratsiya-kurskogo-rayona"
    assert slug("Щигры") == "shchigry"
    assert ID.match(slug("«»!!!")) and len(slug("Комитет " * 40)) <= 48
    taken: set[str] = set()
    assert unique_slug("Курск", taken) == "kursk"
    assert unique_slug("Курск", taken) == "kursk-2"


def test_only_uncommon_words_may_name_a_village() -> None:
    assert is_common_word("Искра") and is_common_word("Северный")
    assert not is_common_word("Глебово") and not is_common_word("Волобуево")


# learning rules ------------------------------------------------------------------------
def test_rules_send_a_ministry_topic_anywhere_and_local_topics_by_territory() -> None:
    obs = [
        *(Observation("roads", place, f"adm-{place}") for place in ("a", "b") for _ in range(3)),
        *(Observation("health", place, "minzdrav") for place in ("a", "b", None) for _ in range(2)),
        *(Observation("roads", None, "adm-a") for _ in range(2)),
    ]
    rules = learn_rules(
        obs,
        topic_parents={"roads": None, "health": None},
        territory_parents={"root": None, "a": "root", "b": "root", "c": "root"},
        regional={"minzdrav"}.__contains__,
        skip_territories={"root"},
        administrations={"a": "adm-a", "b": "adm-b", "c": "adm-c"},
    )
    router = LearnedRules(
        rules,
        {"roads": None, "health": None},
        {"root": None, "a": "root", "b": "root", "c": "root"},
    )

    def executor(topic: str, territory: str | None) -> str | None:
        rule = router.route(topic, territory)
        return rule.executor if rule else None

    assert executor("roads", "b") == "adm-b"
    assert executor("health", "b") == "minzdrav"
    assert executor("health", "c") == "minzdrav"  # regional: wherever it is from
    assert executor("roads", "c") == "adm-c"  # unseen place: its own administration
    assert [r.fallback for r in rules if r.executor == "adm-c"] == [True]
    assert not any(r.fallback for r in rules if r.executor == "minzdrav")
    assert executor("roads", None) == "adm-a"  # unlocated: what the history did
    assert all(r.support <= r.total for r in rules)


# the draft ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def drafted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("draft")
    archive = read(write(folder / "history.csv", archive_rows()))
    draft = draft_region(archive, model_file="region.topics.npz")
    draft.write(folder / "region.toml")
    return folder / "region.toml"


def test_a_village_named_in_the_texts_lies_in_the_district_that_answered(drafted: Path) -> None:
    config = load_region(drafted)
    by_name = {t.name: t for t in config.territories}
    village = by_name["Большие Угоны"]
    assert village.kind == "settlement"
    assert village.parent == by_name["Льговский район"].id


def test_the_draft_loads_with_russian_names_and_valid_ids(drafted: Path) -> None:
    config = load_region(drafted)
    names = {t.name for t in config.territories}
    assert {"Курская область", "Курский район", "Льговский район", "Железногорск"} <= names
    executors = {e.name: e for e in config.executors}
    assert executors["Администрация Льговского района"].kind == "district_administration"
    assert executors[MINISTRY].territory == config.region.territory
    for section in (config.territories, config.topics, config.executors):
        assert all(ID.match(item.id) for item in section)
    topics = {t.name: t for t in config.topics}
    assert topics["Дороги"].parent is not None  # under its group
    assert {"яма", "асфальт"} & set(topics["Дороги"].keywords)
    assert [m.target for m in config.models] == ["topic"]
    assert (drafted.parent / config.models[0].path).is_file()
    text = drafted.read_text("utf-8")
    blocks = text.split("[[routing]]")[:-1]  # what precedes each rule
    assert all(
        re.search(
            r"# ((проверьте: )?\d+ из \d+ обращени[йя]|своя администрация территории)[^\n]*\n$",
            b,
        )
        for b in blocks
    )  # every rule says its support


@pytest.mark.parametrize(
    ("text", "executor"),
    [
        ("В Льговском районе на дороге яма, асфальт разбит", "Администрация Льговского района"),
        ("В Железногорске не горят фонари во дворе", "Администрация г. Железногорска"),
        ("В Курском районе контейнеры с мусором не вывозят", "Администрация Курского района"),
        ("В Льговском районе в поликлинике нет врача", MINISTRY),
        ("В д. Большие Угоны опять не горят фонари", "Администрация Льговского района"),
    ],
)
def test_the_engine_routes_with_the_draft_unchanged(
    drafted: Path, text: str, executor: str
) -> None:
    from tsur import Engine

    engine = Engine.from_config(drafted, db=":memory:")
    try:
        message = Message(
            source="archive",
            external_id="1",
            text=text,
            created_at=datetime(2026, 3, 3, 10, tzinfo=UTC),
        )
        _, outcome = engine.preview(message, now=message.created_at)
        assert outcome.incident is not None
        assert engine.region.executor_name(outcome.incident.executor) == executor
    finally:
        engine.close()


def test_an_executor_model_routes_what_the_rules_leave(tmp_path: Path) -> None:
    from tsur import Engine

    archive = read(write(tmp_path / "history.csv", archive_rows()))
    draft = draft_region(archive, executor_model_file="executors.npz")
    config = draft.write(tmp_path / "region.toml")
    assert [(m.target, m.priority) for m in config.models if m.target == "executor"] == [
        ("executor", 90)
    ]
    # no topic-only rule to a municipality: those appeals are the model's
    territory = {e.id: e.territory for e in config.executors}
    topic_only = [r for r in config.routing if not r.territories]
    assert topic_only and all(territory[r.executor] == config.region.territory for r in topic_only)
    engine = Engine.from_config(tmp_path / "region.toml", db=":memory:")
    try:
        at = datetime(2026, 3, 3, 10, tzinfo=UTC)
        for text, expected in (
            (
                "Фонари на улице не горят",
                {
                    "Администрация Курского района",
                    "Администрация Льговского района",
                    "Администрация г. Железногорска",
                },
            ),
            ("В поликлинике нет врача", {MINISTRY}),
        ):
            message = Message(source="archive", external_id=text, text=text, created_at=at)
            _, outcome = engine.preview(message, now=at)
            assert outcome.incident is not None
            assert engine.region.executor_name(outcome.incident.executor) in expected
    finally:
        engine.close()


# hostile archives -------------------------------------------------------------------------
def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", archive_rows(), ["Текст", "Тема", "Группа"])
    with pytest.raises(IngestError, match=r"'Исполнитель'.*columns are: 'Текст', 'Тема'"):
        read(path)


def test_text_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", archive_rows())
    lines = path.read_bytes().split(b"\n")
    lines[3] = "Плохая строка".encode("cp1251")
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(IngestError, match=r"a\.csv:4: not utf-8 text"):
        read(path)


def test_an_archive_in_cp1251_is_read_when_its_encoding_is_given(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(write(tmp_path / "u.csv", archive_rows()).read_text("utf-8").encode("cp1251"))
    with pytest.raises(IngestError, match="--encoding cp1251"):
        read(path)
    archive = read_archive(
        path,
        text_column="Текст",
        topic_column="Тема",
        executor_column="Исполнитель",
        encoding="cp1251",
    )
    assert archive.rows[0].executor == "Администрация Курского района"


def test_a_huge_field_is_refused_with_its_line(tmp_path: Path) -> None:
    rows = archive_rows()
    rows[1]["Текст"] = "я" * 1_100_000
    path = write(tmp_path / "a.csv", rows)
    with pytest.raises(IngestError, match=r"a\.csv:3: not a readable CSV"):
        read(path)


def test_rows_without_text_or_labels_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = archive_rows()
    rows[0]["Текст"] = "  "
    rows[1]["Исполнитель"] = ""
    rows[2]["Тема"] = ""
    archive = read(write(tmp_path / "a.csv", rows))
    assert archive.skipped == 3  # type: ignore[attr-defined]
    assert len(archive.rows) == len(rows) - 3  # type: ignore[attr-defined]


def test_quotes_and_control_characters_in_labels_still_make_a_loadable_file(
    tmp_path: Path,
) -> None:
    rows = archive_rows()
    for row in rows:
        if row["Тема"] == "Мусор":
            row["Тема"] = 'Мусор "на улице" \\ и \x7f «во дворе»'
        if row["Исполнитель"] == MINISTRY:
            row["Исполнитель"] = 'ООО "Здоровье\\ \x7f'  # a quote left open stays as written
    draft = draft_region(read(write(tmp_path / "a.csv", rows)))
    config = draft.write(tmp_path / "region.toml")
    assert 'ООО "Здоровье\\ \x7f' in {e.name for e in config.executors}
    assert any(t.name.startswith('Мусор "на улице"') for t in config.topics)


def test_an_empty_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(IngestError, match="empty"):
        read(path)


# the command ---------------------------------------------------------------------------------
def bootstrap_argv(
    history: Path | str, out: Path | str, *extra: str, executor: str = "Исполнитель"
) -> list[str]:
    return [
        "region",
        "bootstrap",
        str(history),
        "--text-column",
        "Текст",
        "--topic-column",
        "Тема",
        "--executor-column",
        executor,
        "--out",
        str(out),
        *extra,
    ]


def test_the_command_drafts_a_file_that_tsur_config_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = archive_rows()
    rows[0]["Исполнитель"] = ""
    history = write(tmp_path / "history.csv", rows)
    out = tmp_path / "out" / "region.toml"
    argv = bootstrap_argv(history, out)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "пропущено строк без текста или меток: 1" in printed
    assert out.is_file() and (out.parent / "region.topics.npz").is_file()
    assert main(["config", "--config", str(out)]) == 0
    capsys.readouterr()
    config = load_region(out)
    assert (config.region.name, config.region.code) == ("Курская область", "00")
    assert main([*argv, "--force", "--region-name", "Тестовая область", "--code", "46"]) == 0
    config = load_region(out)
    assert (config.region.name, config.region.code) == ("Тестовая область", "46")
    capsys.readouterr()
    assert main(argv) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err


def test_the_command_names_a_missing_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write(tmp_path / "history.csv", archive_rows())
    code = main(bootstrap_argv(history, tmp_path / "r.toml", executor="Кто"))
    assert code == 2
    assert "no column 'Кто'" in capsys.readouterr().err
    assert not (tmp_path / "r.toml").exists()


def test_an_out_file_that_is_not_toml_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write(tmp_path / "history.csv", archive_rows())
    out = tmp_path / "x" / "region.yaml"
    assert main(bootstrap_argv(history, out)) == 2
    assert ".toml" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_draft_refuses_to_write_toml_into_another_kind_of_file(tmp_path: Path) -> None:
    from tsur.errors import ConfigError

    draft = draft_region(read(write(tmp_path / "h.csv", archive_rows())))
    with pytest.raises(ConfigError, match=r"\.toml"):
        draft.write(tmp_path / "region.yml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone"),
        (["--timezone", "../etc"], "--timezone"),
        (["--min-support", "0"], "--min-support"),
        (["--min-topic-rows", "0"], "--min-topic-rows"),
    ],
)
def test_bad_options_are_refused_before_the_archive_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    # the archive does not exist: the option is what the command complains about
    code = main(bootstrap_argv(tmp_path / "missing.csv", tmp_path / "r.toml", *extra))
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "missing.csv" not in err
    assert not (tmp_path / "r.toml").exists()


# what the draft says, in Russian -------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "form"),
    [
        (1, "обращения"),
        (2, "обращений"),
        (4, "обращений"),
        (5, "обращений"),
        (11, "обращений"),
        (12, "обращений"),
        (21, "обращения"),
        (101, "обращения"),
        (111, "обращений"),
    ],
)
def test_after_iz_the_noun_is_genitive_singular_only_after_one(n: int, form: str) -> None:
    assert plural(n, "обращения", "обращений", "обращений") == form


def test_numbers_agree_with_nouns_in_the_nominative() -> None:
    forms = ("тема", "темы", "тем")
    assert [plural(n, *forms) for n in (1, 3, 5, 11, 14, 22, 25)] == [
        "тема",
        "темы",
        "тем",
        "тем",
        "тем",
        "темы",
        "тем",
    ]


def test_support_comments_agree_and_flag_weak_rules() -> None:
    assert support_comment(LearnedRule((), ("a",), "x", 1, 1)) == "1 из 1 обращения (100%)"
    assert support_comment(LearnedRule(("t",), (), "x", 15, 21)) == "15 из 21 обращения (71%)"
    assert support_comment(LearnedRule(("t",), (), "x", 3, 5)) == "3 из 5 обращений (60%)"
    weak = support_comment(LearnedRule(("t",), (), "x", 3, 10))
    assert weak.startswith("проверьте: 3 из 10 обращений")
    assert not support_comment(LearnedRule(("t",), (), "x", 4, 10)).startswith("проверьте")


def test_a_fallback_to_the_territorys_administration_says_so() -> None:
    unseen = support_comment(LearnedRule((), ("a",), "adm", 0, 0, fallback=True))
    seen = support_comment(LearnedRule((), ("a",), "adm", 0, 1, fallback=True))
    for text in (unseen, seen):
        assert text.startswith("своя администрация территории")
        assert not text.startswith(("0 из", "проверьте"))
    assert "0 из 1 обращения" in seen


def test_a_cut_id_ends_on_a_word_that_means_something() -> None:
    long_names = [
        "Министерство промышленности, торговли и предпринимательства Курской области",
        "Главное управление по делам ГО и ЧС при администрации Курской области",
    ]
    for name in long_names:
        for n in (30, 40, 48):
            s = slug(name, n)
            assert len(s) <= n and ID.match(s)
            assert s.split("-")[-1] not in {"i", "pri", "po", "v", "na"}, s
    assert slug(long_names[0], 40) == "ministerstvo-promyshlennosti-torgovli"
    taken: set[str] = set()
    ids = [unique_slug(long_names[0], taken) for _ in range(3)]
    assert len(set(ids)) == 3 and all(ID.match(i) and len(i) <= 48 for i in ids)


@pytest.fixture(scope="module")
def numbered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A draft of an archive whose groups are bare numbers and whose texts name streets."""
    folder = tmp_path_factory.mktemp("numbered")
    rows = archive_rows()
    for i, row in enumerate(rows):
        row["Группа"] = {"Городская среда": "3", "Здоровье": "7"}[row["Группа"]]
        if row["Тема"] == "Дороги":
            row["Текст"] += ", ул. Пушкина 63а, qгкод" if i % 2 else ", ул. Карла Маркса 5"
    draft = draft_region(read(write(folder / "history.csv", rows)))
    draft.write(folder / "region.toml")
    return folder / "region.toml"


def test_a_numbered_group_is_named_neutrally_with_its_topics_in_a_comment(
    numbered: Path,
) -> None:
    config = load_region(numbered)
    groups = {t.name: t for t in config.topics if t.parent is None}
    assert {"Группа 3", "Группа 7"} <= groups.keys()
    assert not any("…" in t.name for t in config.topics)
    text = numbered.read_text("utf-8")
    before = text.split(f'[[topics]]\nid = "{groups["Группа 3"].id}"')[0]
    comment = before.rstrip("\n").rsplit("\n", 1)[-1]
    assert comment.startswith("# ")
    assert "3 темы, 29 обращений" in comment
    assert "«Освещение» (11)" in comment and "«Дороги» (9)" in comment
    assert "название" in comment


def test_keywords_leave_out_streets_numbers_and_latin(numbered: Path) -> None:
    config = load_region(numbered)
    words = [w for t in config.topics for w in t.keywords]
    assert words
    assert all(re.fullmatch(r"[а-яё-]+", w) for w in words), words
    assert not {"пушкин", "карл", "карла", "маркс"} & set(words), words


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("ООО `УК Сейм`", "ООО «УК Сейм»"),
        ('МУП "Водоканал", г. Курск', "МУП «Водоканал», г. Курск"),
        ("АО “Квадра”", "АО «Квадра»"),
        ("АО „Квадра“", "АО «Квадра»"),
        ("ООО `Сейм", "ООО `Сейм"),  # not balanced: as written
        ('ООО "УК "Дом""', 'ООО "УК "Дом""'),  # nested: as written
        ("ООО «УК»", "ООО «УК»"),
    ],
)
def test_executor_names_get_guillemets_where_their_quotes_pair_up(written: str, shown: str) -> None:
    assert guillemets(written) == shown


def test_the_draft_shows_executor_names_with_guillemets(tmp_path: Path) -> None:
    rows = archive_rows()
    for row in rows:
        if row["Исполнитель"] == MINISTRY:
            row["Исполнитель"] = "ООО `Здоровье`"
    draft = draft_region(read(write(tmp_path / "a.csv", rows)))
    config = draft.write(tmp_path / "region.toml")
    assert "ООО «Здоровье»" in {e.name for e in config.executors}
    assert "`Здоровье`" not in tmp_path.joinpath("region.toml").read_text("utf-8")
    assert "ООО `Здоровье`" in draft.executor_ids  # still keyed by the archive's spelling


# hostile archives and output paths -----------------------------------------------------------
def with_executor(name: str) -> list[dict[str, str]]:
    rows = archive_rows()
    for r in rows:
        if r["Исполнитель"] == MINISTRY:
            r["Исполнитель"] = name
    return rows


def test_a_title_repeating_its_district_is_one_district(tmp_path: Path) -> None:
    """«… Курского района» said twice or a thousand times names one district, not a district
    inside itself (and not a recursion as deep as the title is long)."""
    for repeats in (3, 1200):
        name = "Администрация " + "Курского района " * repeats
        draft = draft_region(read(write(tmp_path / f"a{repeats}.csv", with_executor(name))))
        config = draft.write(tmp_path / str(repeats) / "region.toml")
        names = {t.id: t.name for t in config.territories}
        assert sum(1 for t in config.territories if t.name == "Курский район") == 1
        assert all(t.parent is None or names[t.parent] != t.name for t in config.territories)


@pytest.mark.parametrize("group", ["²", "①", "9" * 5000])
def test_a_group_named_by_an_odd_number_still_drafts(tmp_path: Path, group: str) -> None:
    rows = archive_rows()
    for r in rows:
        if r["Группа"] == rows[0]["Группа"]:
            r["Группа"] = group
    draft_region(read(write(tmp_path / "a.csv", rows))).write(tmp_path / "r.toml")
    load_region(tmp_path / "r.toml")


PII = ". Пишет Пупкин Василий Петрович, тел. 8 917 123-45-67, vasya.pupkin@mail.ru"


def test_personal_data_of_the_archive_reaches_neither_the_file_nor_the_model(
    tmp_path: Path,
) -> None:
    """A region file is reviewed, committed and shared; a model file keeps words of its texts.
    A citizen who signs every appeal must leave no name, phone or e-mail in either."""
    rows = archive_rows()
    for r in rows:
        r["Текст"] += PII
    draft = draft_region(read(write(tmp_path / "a.csv", rows)))
    draft.write(tmp_path / "r.toml")
    text = (tmp_path / "r.toml").read_text("utf-8").lower()
    model = TextModel.load(tmp_path / draft.model_file)
    for leaked in ("пупкин", "василий", "петрович", "123-45-67", "917", "vasya", "фио"):
        assert leaked not in text, leaked
    assert not [f for f in model.features if any(s in f for s in ("пупкин", "василий", "917"))]


def test_no_draft_is_written_through_a_symbolic_link(tmp_path: Path) -> None:
    history = write(tmp_path / "h.csv", archive_rows())
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    # a dangling link where the region file goes, a link to a file where the model goes
    (tmp_path / "out" / "region.toml").symlink_to(outside / "victim.conf")
    assert main(bootstrap_argv(history, tmp_path / "out" / "region.toml", "--force")) == 2
    assert not (outside / "victim.conf").exists()
    (tmp_path / "out" / "region.toml").unlink()
    (outside / "important.cfg").write_text("keep me")
    (tmp_path / "out" / "region.topics.npz").symlink_to(outside / "important.cfg")
    assert main(bootstrap_argv(history, tmp_path / "out" / "region.toml", "--force")) == 2
    assert (outside / "important.cfg").read_text() == "keep me"
    assert not (tmp_path / "out" / "region.toml").exists()


def test_a_model_beside_out_is_not_overwritten_without_force(tmp_path: Path) -> None:
    history = write(tmp_path / "h.csv", archive_rows())
    precious = tmp_path / "region.topics.npz"
    precious.write_bytes(b"last year's model")
    assert main(bootstrap_argv(history, tmp_path / "region.toml")) == 2
    assert precious.read_bytes() == b"last year's model"
    assert not (tmp_path / "region.toml").exists()
    assert main(bootstrap_argv(history, tmp_path / "region.toml", "--force")) == 0
    assert TextModel.load(precious).labels
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, put in place


def test_out_as_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    history = write(tmp_path / "h.csv", archive_rows())
    (tmp_path / "o.toml").mkdir()
    assert main(bootstrap_argv(history, tmp_path / "o.toml", "--force")) == 2
    assert set(tmp_path.iterdir()) == {history, tmp_path / "o.toml"}
