"""The «отписка» check on real-looking answers of executors, and the answer templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsur import ConfigError
from tsur.lifecycle import AnswerChecker, AnswerTemplates, check_answer

#: Concrete answers, by the rule: an action done with its date or time, an action planned
#: with a real date and who does it, a refusal with its basis, a forwarding with the body
#: and the date.
CONCRETE = [
    "Ваше обращение рассмотрено. Яма на ул. Мира у дома 5 заделана 20.11.2026 литым асфальтом.",
    "Замена ламп уличного освещения на Приморском бульваре будет выполнена МУП «Горсвет» до "
    "25.11.2026.",
    "Контейнерная площадка по ул. Ленина, 12 очищена, мусор вывезен 18.11.2026.",
    "Подача горячей воды восстановлена в 14:30 после устранения порыва на сети.",
    "Ремонт кровли дома включён в краткосрочный план капитального ремонта на 2027 год, работы "
    "выполнит региональный оператор.",
    "Работы по ремонту лифта выполнит подрядчик ООО «Лифт-Сервис» в течение 3 рабочих дней.",
    "Перерасчёт платы за отопление за октябрь произведён 12.11.2026, сумма отражена в квитанции.",
    "Маршрут № 41 с 01.12.2026 будет обслуживаться двумя дополнительными автобусами МП «ТПАТП».",
    "В соответствии с п. 3.2 Правил благоустройства г.о. Самара уборка придомовой территории — "
    "обязанность управляющей компании; обращение направлено в ООО «Жилсервис».",
    "Вопрос не входит в полномочия администрации района. Обращение направлено 12.11.2026 в "
    "министерство транспорта Самарской области для рассмотрения по существу.",
    "Установка искусственной неровности невозможна: согласно ГОСТ Р 52605-2006 неровности не "
    "устраиваются на дорогах, по которым проходят маршруты общественного транспорта.",
    "Температура воздуха в квартире по замеру 19.11.2026 составила +21 °C, что соответствует "
    "СанПиН 1.2.3685-21.",
    "Снег с тротуаров по ул. Ново-Садовой убран 19.11.2026, проведена подсыпка "
    "противогололёдным материалом.",
    "Открытый люк на пересечении улиц Мира и Ленина закрыт крышкой 17.11.",
    "Освещение во дворе дома 12 по ул. Гагарина восстановлено 18.11.2026: заменены 3 светильника.",
    "График движения автобусов маршрута 41 скорректирован с 23 ноября, интервал 15 минут.",
    "Вывоз мусора с площадки по ул. Садовой, 4 осуществлён 18.11.2026 в 10:40, площадка убрана.",
    "Ямочный ремонт дороги по ул. Луговой выполнит МБУ «Дорожное хозяйство» в мае 2027 года по "
    "программе БКД.",
    "Участок дороги не является муниципальной собственностью и находится в ведении ГКУ "
    "«Управление автомобильных дорог»; обращение направлено в ГКУ «Управление автомобильных "
    "дорог».",
    "Лекарственный препарат поступил в аптеку 20.11.2026, выдача по рецепту организована.",
    "Задолженность по заработной плате выплачена работникам 16.11.2026 в полном объёме.",
    "Протечка кровли над квартирой 45 устранена 18.11, покрытие заменено на площади 12 м².",
    "Бригада РСО отремонтировала теплотрассу, подача тепла возобновлена сегодня в 16:00.",
    # a lawful forwarding: not the administration's, whose it is, forwarded there, when
    "Содержание дороги не входит в полномочия администрации района, находится в ведении ГКУ "
    "«Управление автомобильных дорог», обращение направлено туда 12.11.2026.",
]

#: Formal non-answers, the dates and numbers that do not make one concrete among them.
OTPISKI = [
    "Ваше обращение рассмотрено.",
    "Информация принята к сведению.",
    "Ваше обращение будет рассмотрено в плановом порядке.",
    "Ремонт дороги будет выполнен по мере финансирования.",
    "Ваше обращение направлено для рассмотрения.",
    "Обращение направлено в соответствующую службу.",
    "Работы будут выполнены в ближайшее время.",
    "Вопрос находится на контроле администрации.",
    "Приняты исчерпывающие меры, ситуация на контроле.",
    "Ваша заявка передана в работу ответственным лицам.",
    "Благоустройство двора будет рассмотрено при наличии финансирования.",
    "Замена лифта будет произведена в порядке очередности.",
    "Ямочный ремонт будет проведён в весенне-летний период.",
    "С управляющей компанией проведена разъяснительная работа.",
    "Даны поручения ответственным службам.",
    "Вопрос не входит в компетенцию администрации района.",
    "Проведено обследование, ремонт будет выполнен по мере поступления денежных средств.",
    "Заявка принята, работа по данному вопросу ведется.",
    "Спасибо за обращение! Ждите.",
    "Яма засыпана щебнем. Асфальтирование будет выполнено по мере финансирования.",
    "Ремонт не выполнен из-за погодных условий.",
    "Ок",
    # the appeal's own date and number, «сегодня», a meeting's time are no action's date
    "Ваше обращение от 12.11.2026 рассмотрено, информация принята к сведению.",
    "Ваше обращение № 4512 от 10.11.2026 рассмотрено. Меры будут приняты.",
    "Ваше обращение рассмотрено сегодня, вопрос находится на контроле.",
    "В 10:00 состоялось совещание с управляющей компанией, вопрос обсуждён.",
    # a «не» two words back
    "Работы не были выполнены из-за отсутствия подрядчика.",
    "Течь на вводе пока так и не устранена, ждём запчасти.",
    # done without a date, planned without who, forwarded without the date
    "Аварийное дерево во дворе дома № 7 спилено, порубочные остатки вывезены.",
    "Замена ламп уличного освещения будет выполнена до 25.11.2026.",
    "Ваше обращение направлено в ГЖИ Самарской области.",
    # a law is a refusal's basis, not a seal on any answer; a clause of the appeal is no norm
    "Ваше обращение рассмотрено в соответствии с Федеральным законом № 59-ФЗ. Вопрос находится "
    "на контроле.",
    "Обращение рассмотрено в порядке ст. 12 Федерального закона № 59-ФЗ, меры будут приняты.",
    "По п. 1 Вашего обращения информация принята к сведению.",
    # a negation after the verb, a meeting's date, a year for a day, a watcher for a doer
    "Ремонт произведен не будет 14.11.2026.",
    "Вопрос будет рассмотрен на совещании 20.11.2026, ремонт будет выполнен позднее.",
    "Ремонт подъезда выполнен в 2026 году.",
    "Ремонт кровли будет выполнен до 25.11.2026. Администрация района держит вопрос на контроле.",
]


@pytest.mark.parametrize("text", CONCRETE, ids=[f"concrete-{i}" for i in range(len(CONCRETE))])
def test_concrete_answers_pass(text: str) -> None:
    verdict = check_answer(text)
    assert verdict.accepted, verdict.reasons
    assert verdict.evidence  # it says what made the answer concrete


@pytest.mark.parametrize("text", OTPISKI, ids=[f"otpiska-{i}" for i in range(len(OTPISKI))])
def test_formal_non_answers_are_rejected_with_reasons(text: str) -> None:
    verdict = check_answer(text)
    assert not verdict.accepted
    assert verdict.reasons


def test_reasons_name_what_is_wrong() -> None:
    assert check_answer("Ваше обращение рассмотрено.").reasons == (
        "нет конкретного действия, срока или обоснованного отказа",
        "шаблонная фраза «обращение рассмотрено»",
    )
    assert check_answer("Ремонт дороги будет выполнен по мере финансирования.").reasons == (
        "нет конкретного действия, срока или обоснованного отказа",
        "«по мере финансирования» без конкретного срока",
        "обещание без срока или без исполнителя: «будет выполнен»",
    )
    assert "«направлено» без указания, куда и кому, и без даты" in (
        check_answer("Ваше обращение направлено для рассмотрения.").reasons
    )
    assert (
        "«в ближайшее время» — это не срок"
        in check_answer("Работы будут выполнены в ближайшее время.").reasons
    )
    assert (
        "отказ по компетенции без указания, куда направлено обращение"
        in check_answer("Вопрос не входит в компетенцию администрации района.").reasons
    )
    assert "действие без даты: «спилено»" in check_answer("Дерево во дворе спилено.").reasons
    assert "действие не выполнено: «не выполнены»" in (
        check_answer("Работы не были выполнены из-за дождя.").reasons
    )
    assert check_answer("Ок").reasons == ("слишком короткий ответ",)
    # one dated action makes the answer concrete, whatever else it leaves open
    assert check_answer(
        "Яма засыпана щебнем 20.11.2026. Асфальтирование — по мере финансирования."
    ).accepted


def test_an_intermediate_answer_must_name_a_term() -> None:
    taken = "Ваше обращение № 12 взято в работу. Исполнитель: Теплосеть. Срок: до 06.11.2026 09:15."
    assert check_answer(taken, kind="intermediate").accepted
    assert not check_answer(taken).accepted  # a term is not yet a final answer
    assert not check_answer("Ваше обращение взято в работу.", kind="intermediate").accepted


def test_region_phrases_reject_even_concrete_answers() -> None:
    checker = AnswerChecker(["В рабочем порядке", "  "])
    verdict = checker.check("Яму заделает МБУ «Дорожник» в рабочем порядке до 30.11.2026.")
    assert verdict.reasons == ("недопустимая формулировка: «в рабочем порядке»",)
    assert checker.check("Вопрос решён 30.11.2026: яма заделана.").accepted


def test_yo_and_case_do_not_matter() -> None:
    assert check_answer("ЗАМЕНЁН СВЕТИЛЬНИК У ПОДЪЕЗДА № 2 20.11.2026.").accepted
    assert not check_answer("ИНФОРМАЦИЯ ПРИНЯТА К СВЕДЕНИЮ.").accepted


# templates ------------------------------------------------------------------------------------
def test_templates_fall_back_along_the_topic_tree() -> None:
    t = AnswerTemplates.load()
    heating = t.render(
        "intermediate",
        ["zhkh.heating", "zhkh"],
        id=7,
        executor="Теплосеть",
        term="до 20.11.2026 18:00",
    )
    assert heating.startswith("Здравствуйте! Ваше обращение № 7 об отоплении взято в работу.")
    assert "Исполнитель: Теплосеть." in heating and "Срок: до 20.11.2026 18:00." in heating
    roof = t.render("intermediate", ["zhkh.roof", "zhkh"], id=8, executor="УК", term="до …")
    assert "по вопросу ЖКХ" in roof  # the parent's template
    other = t.render("intermediate", ["trade"], id=9, executor="Минпром", term="до …")
    assert other.startswith("Здравствуйте! Ваше обращение № 9 взято в работу.")
    ext = t.render("extension", [], id=1, executor="X", due="11.01.2027 18:00", reason="R")
    assert "продлён до 11.01.2027 18:00" in ext and "59-ФЗ" in ext and "Причина: R." in ext
    assert "—" in t.render("forward", [], id=1)  # missing values are visible, not «None»
    with pytest.raises(ValueError, match="unknown template kind"):
        t.render("final", [])


def test_bad_template_files_are_refused_with_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "answers.toml"
    bad.write_text(
        '[default]\nintermediate = "№ {id}, срок {deadline}"\nforward = "{id}"\n'
        '[topics.roads]\nfinal = "x"\n',
        "utf-8",
    )
    with pytest.raises(ConfigError) as err:
        AnswerTemplates.load(bad)
    problems = dict(err.value.problems)
    assert problems["default.extension"] == "missing"
    assert problems["default.reopened"] == "missing"
    assert "unknown placeholder(s) ['deadline']" in problems["default.intermediate"]
    assert problems['topics."roads".final'].startswith("unknown template kind")
    bad.write_text("[default\n", "utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        AnswerTemplates.load(bad)
    with pytest.raises(ConfigError, match="cannot read templates"):
        AnswerTemplates.load(tmp_path / "absent.toml")


# the labelled set ---------------------------------------------------------------------------
LABELLED = Path(__file__).parent / "data" / "answers_labelled.csv"


def scores(split: str) -> dict[str, float]:
    """Precision and recall of refusing evasive answers on one half of the labelled set."""
    import csv

    with LABELLED.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split]
    tp = fp = fn = 0
    for r in rows:
        refused = not check_answer(r["text"]).accepted
        evasive = r["label"] == "evasive"
        tp += refused and evasive
        fp += refused and not evasive
        fn += evasive and not refused
    return {"precision": tp / (tp + fp), "recall": tp / (tp + fn), "n": len(rows)}


def test_the_check_on_the_labelled_answers() -> None:
    """Written by hand from the rule, half frozen before the rules were tuned on the other
    half (tests/data/answers_labelled.README.md). The frozen half's figures were measured
    once and are held here so that they cannot quietly get worse."""
    dev, frozen = scores("dev"), scores("frozen")
    assert dev["n"] >= 80 and frozen["n"] >= 80
    assert dev["precision"] >= 0.95 and dev["recall"] >= 0.95
    assert frozen["precision"] >= 0.93 and frozen["recall"] >= 0.9


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюя .,;:!?«»№-0123456789", max_size=400))
def test_any_text_gets_a_verdict(text: str) -> None:
    verdict = check_answer(text)
    assert verdict.accepted or verdict.reasons


@pytest.mark.parametrize(
    "hostile",
    [
        "ооо «" * 10000,
        "ООО «Ромашка» направлено " * 5000,
        "п. 3.2 " * 20000,
        "ул. Мира. " * 20000,
        "12.11.2026 " * 10000,
        "не " * 30000 + "выполнено 12.11.2026",
        "обращение " * 10000 + "от 12.11.2026",
        "будет " * 20000 + "выполнен",
        "работа по " * 10000,
        "не можем " * 10000 + "ст. 12",
    ],
    ids=[
        "org",
        "redirect",
        "clause",
        "abbrev",
        "dates",
        "negation",
        "appeal",
        "future",
        "filler",
        "refusal",
    ],
)
def test_hostile_answers_are_read_in_linear_time(hostile: str) -> None:
    """An answer is read up to its first 20 000 characters and each regex is bounded:
    100 KB of repetition is checked at once (quadratic scans of these took seconds to
    minutes)."""
    verdict = check_answer(hostile, kind="intermediate")
    assert verdict.accepted or verdict.reasons
