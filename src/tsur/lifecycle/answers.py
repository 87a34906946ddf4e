"""Answers to citizens: templates per topic and the «отписка» check.

A final answer is **concrete** when it names at least one of (the rule a
ЦУР checks answers by):

- an action **done**, with a real date or time of completion («яма
  заделана 14.11.2026», «подача тепла восстановлена в 18:30»);
- an action **planned**, with a real date or period **and who does it**
  («ремонт выполнит ООО «Кровля-Сервис» до 25.11.2026», «включено в
  программу капитального ремонта на 2027 год, работы выполнит …»);
- a **lawful refusal with its basis**: a refusal with a law, regulation or
  norm named (article, clause with its act), or the owner or holder of the
  property — a law cited without a refusal is the basis of nothing;
- a **forwarding** to a named competent body, with the date.

Everything else is an «отписка», however official: «рассмотрено»,
«принято к сведению», «на контроле», «меры будут приняты», «по мере
финансирования», promises without a date or without who. Dates that are
not an action's do not make an answer concrete: the appeal's own date or
number, its registration, the deadline of the answer itself, «сегодня», a
meeting's time, a letter's date. A negated action is no action done
(«работы не были выполнены», «течь не устранена», «произведен не будет»),
a thing done is dated by a day, a month or a time (not a year alone), and
who does a planned thing is named in its sentence or next to it; procedural
steps — an inspection, a check, a meeting, «рекомендовано» — are not the
action asked for, even when dated.

The check is rules, not a model: bounded regular expressions over each
sentence of the lower-cased text with «ё» read as «е», the first
:data:`MAX_ANSWER` characters of it. A region adds its own forbidden
phrases (``lifecycle.forbidden_phrases``); any of them rejects an answer
outright. An intermediate answer (``kind="intermediate"``) must at least
say by when: a real term.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from tsur.errors import ConfigError

__all__ = [
    "MAX_ANSWER",
    "AnswerCheck",
    "AnswerChecker",
    "AnswerTemplates",
    "check_answer",
    "format_due",
    "normalize_answer",
    "sentences",
]


#: How much of an answer is read (an official answer is a page or two; the rest is ignored).
MAX_ANSWER = 20_000


def normalize_answer(text: str) -> str:
    """Lower case, «ё» as «е», one space between words, no guillemets' padding."""
    text = text.replace("\u00a0", " ").lower().replace("ё", "е")
    return re.sub(r"\s+", " ", text).strip()


#: Abbreviations a sentence does not end at («ул. Мира», «д. 5», «2026 г. силами»).
_ABBREVIATIONS = frozenset(
    (
        *("ул", "д", "г", "гг", "пр", "просп", "п", "пос", "пгт", "с", "ст", "ч", "кв", "им"),
        *("т", "р", "руб", "тыс", "млн", "обл", "мкр", "пер", "пл", "наб", "корп", "стр"),
        *("вх", "исх", "рф", "др", "см", "тел"),
    )
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[А-ЯЁA-Z«\"(№\d])|\n+")


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences (normalised), not at «ул.», «д.», «г.» and the like."""
    out: list[list[str]] = []
    previous = ""
    for piece in _SENTENCE_END.split(text.strip()):
        piece = piece.strip()
        if not piece:
            continue
        word = previous[-12:].rsplit(None, 1)[-1] if previous else ""
        if out and word.endswith(".") and word[:-1].lower().lstrip("(«") in _ABBREVIATIONS:
            out[-1].append(piece)
        else:
            out.append([piece])
        previous = piece
    return [normalize_answer(" ".join(parts)) for parts in out]


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_MONTH = r"(?:январ|феврал|март|апрел|ма[йяе]|июн|июл|август|сентябр|октябр|ноябр|декабр)[а-я]*"
_WEEKDAY = (
    r"(?:понедельник[а-я]*|вторник[а-я]*|сред[аыу]|четверг[а-я]*|пятниц[аыу]|суббот[аыу]|"
    r"воскресень[ея])"
)
_NUMWORD = (
    r"(?:\d+|одн[а-я]*|дв[а-я]*|тр[а-я]*|четыр[а-я]*|пят[а-я]*|шест[а-я]*|сем[а-я]*|"
    r"восьм[а-я]*|десят[а-я]*|пятнадцат[а-я]*|тридцат[а-я]*)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON = r"(?:0?[1-9]|1[0-2])"

#: A calendar date: «14.11.2026», «14.11», «14 ноября 2026 г.» (not a clause «п. 3.2»).
DATE = _rx(
    rf"(?<![\d.])(?<!п\. )(?<!ст\. )(?<!ч\. )(?<!пункт )(?<!№ ){_DAY}\.{_MON}(?:\.(?:20)?\d\d)?"
    r"(?![\d]|\.\d)",
    rf"\b{_DAY}\s+{_MONTH}(?:\s+20\d\d)?",
)
#: A period of a plan: «в мае 2027 года», «на 2 квартал 2027 года», «на 2027 год».
PERIOD = _rx(
    rf"\b(?:в|на|до|к|с|до конца|к концу|в течение|в конце|в начале|в середине)\s+"
    rf"{_MONTH}\s+(?:20\d\d|текущего|этого|следующего)",
    r"\b(?:[1-4]|i{1,3}|iv)[ -]?(?:м|ом|й|го)?\s*(?:квартал|полугоди)[а-я]*\s+20\d\d",
    r"\b(?:в|на|до|к|до конца)\s+20\d\d\s*(?:г\b|год)",
    r"\bв\s+20\d\d\s*году",
)
_YEAR_ONLY = re.compile(
    r"(?:в|на|до|к|до конца)\s+20\d\d\s*(?:г\b\.?|год[а-я]*)?|в\s+20\d\d\s*году"
)
#: A term from now: «в течение 3 рабочих дней», «до пятницы».
RELATIVE = _rx(
    rf"\bв течение\s+(?:{_NUMWORD}\s+)?(?:рабоч[а-я]+\s+)?"
    r"(?:дн|день|суток|сутки|недел|месяц|час)",
    rf"\b(?:до|в|во)\s+{_WEEKDAY}\b",
)
#: A time of day: «в 18:30».
TIME = re.compile(r"(?<![\d:])(?:[01]?\d|2[0-3])[:.][0-5]\d(?![\d])")
#: Words that sound like a term but are not one.
VAGUE_TERMS: Mapping[str, str] = {
    r"в ближайшее время": "в ближайшее время",
    r"в (?:кратчайшие|возможно короткие|максимально короткие) сроки": "в кратчайшие сроки",
    r"в (?:установленные|разумные) сроки|в установленный срок": "в установленные сроки",
    r"по возможности|при возможности|при наличии возможности": "по возможности",
    r"в (?:весенне-летний|летний|осенний|весенний|зимний) период": "в … период (без года)",
    r"\b(?:сегодня|с сегодняшнего дня|завтра)\b": "«сегодня» — это не дата",
}

#: Where a date is the appeal's, a letter's or the answer's own, not an action's.
_NOT_ACTION_DATE = re.compile(
    r"(?:обращени|заявк|письм|запрос|жалоб|сообщени|вх|исх|№|номер)[^.;]{0,40}?\bот\s*$|"
    r"\bот\s*$|"
    r"(?:совещани|заседани|встреч|собрани|комисси)[а-я]*\s+(?:[^\s]+\s+){0,2}$|"
    r"(?:поступивш|поступил|зарегистрирован|получен|направленн)[а-я]*\s+(?:[^\s]+\s+){0,3}$|"
    r"(?:ответ[а-я]*\s+(?:будет\s+)?(?:дан|направлен|подготовлен)[а-я]*|срок\s+рассмотрения"
    r"[^.;]{0,30}?)\s+(?:до\s+)?$"
)

_NOT = re.compile(r"(?:\bне|\bни)(?:\s+\S+){0,2}\s*$")
#: «ремонт произведен не будет», «выполнен не был»: the negation after the verb.
_NOT_AFTER = re.compile(r"\s+не\s+(?:будет|будут|был|была|было|были)\b")
_PART = r"[аоы]?"  # short participle endings: -н, -на, -но, -ны
_DONE_STEMS = (
    r"выполнен",
    r"заменен",
    r"отремонтирован",
    r"вывезен",
    r"устранен",
    r"восстановлен",
    r"установлен(?!о,? что)",
    r"очищен",
    r"убран",
    r"ликвидирован",
    r"заделан",
    r"засыпан",
    r"заасфальтирован",
    r"подключен",
    r"возобновлен",
    r"демонтирован",
    r"смонтирован",
    r"спилен",
    r"(?:по|о)крашен",
    r"промыт",
    r"опрессован",
    r"запущен",
    r"налажен",
    r"расчищен",
    r"откачан",
    r"прочищен",
    r"исправлен",
    r"пересчитан",
    r"выплачен",
    r"начислен",
    r"посыпан",
    r"завершен",
    r"сделан",
    r"отловлен",
    r"отрегулирован",
    r"эвакуирован",
    r"укреплен",
    r"включен",
    r"закрыт",
    r"изменен",
    r"скорректирован",
    r"обработан",
    r"организован",
    r"выдан",
    r"поступил",
    r"нанесен",
)
#: Completed actions: «выполнено», «заменён», «отремонтирована», «вывезен» …
DONE = _rx(
    *(rf"\b{stem}{_PART}\b" for stem in _DONE_STEMS),
    r"\b(?:выполнил|заменил|отремонтировал|вывезл|устранил|восстановил|установил|убрал|"
    r"заделал|засыпал|подключил|спилил|покрасил|расчистил|откачал|прочистил|исправил|"
    r"выплатил|сделал|завершил|включил|закрыл|запустил)[аио]?\b",
    r"\b(?:произвед|провед)[е]н[аоы]?\s+"
    r"(?:(?!разъяснительн|профилактическ|организационн|необходим|соответствующ|рабоч)[а-я]+\s+)?"
    r"(?:ремонт|замен|работ(?!а с)|очистк|"
    r"уборк|покос|обрезк|опиловк|промывк|опрессовк|дезинфекц|дератизац|дезинсекц|отлов|"
    r"вывоз|подсыпк|отсыпк|грейдирован|асфальтирован|восстановлени|перерасчет|демонтаж|"
    r"монтаж|прочистк|откачк|покраск|посыпк|обработк)",
    r"\bосуществлен[аоы]?\s+(?:вывоз|ремонт|замен|подключ|уборк|покос|очистк|подвоз)",
    r"\b(?:перерасчет|ремонт|замена|уборка|вывоз|покос|очистка|обрезка|подключение)\s+"
    r"(?:(?!(?:не|будет|будут|планируется|может|могут)\s)[^\s.;!?]+\s+){0,5}"
    r"(?:произвед|выполн|провед|осуществл)[е]н",
    r"\bприведен[аоы]?\s+в\s+(?:норм|порядок|надлежащ|соответстви)",
    r"\bработы\s+(?:по\s+[а-я]+\s+)?(?:выполнены|завершены|проведены)",
)
#: Words that turn a completed-action form into a promise («будет заменена»).
FUTURE = re.compile(
    r"\b(?:будет|будут|буду|планируется|планируются|запланирован[аоы]?|предполагается|"
    r"должн[аоы]?\s+быть|могут\s+быть|может\s+быть)\s+(?:[^\s.;!?]+\s+){0,4}$"
)
#: Planned work: «будет выполнено», «выполнит», «включено в план на …», «приступит».
PLANNED = _rx(
    r"\b(?:будет|будут)\s+(?:[^\s.;!?]+\s+){0,3}?(?:выполнен|проведен|заменен|отремонтирован|"
    r"установлен|восстановлен|произведен|осуществлен|организован|обеспечен|устранен|вывезен|"
    r"возобновлен|подключен|обслуживат|начат|завершен|очищен|убран|спилен|заасфальтирован)",
    r"\b(?:выполнит|выполнят|проведет|проведут|заменит|заменят|отремонтирует|отремонтируют|"
    r"установит|установят|восстановит|восстановят|приступит|приступят|устранит|устранят|"
    r"вывезет|вывезут|обеспечит|обеспечат|осуществит|осуществят|произведет|произведут|"
    r"завершит|завершат|начнет|начнут|заделает|заделают|уберет|уберут|спилит|спилят|"
    r"покрасит|покрасят|заасфальтирует|заасфальтируют|очистит|очистят|подключит|подключат|"
    r"закроет|закроют|демонтирует|демонтируют|смонтирует|смонтируют|отремонтирует)\b",
    r"\bзапланирован[аоы]?\b",
    r"\bпланируется\b",
    r"\b(?:включен|предусмотрен)[аоы]?\s+(?:в\s+)?(?:[^\s.;!?]+\s+){0,3}?"
    r"(?:план|программ|перечень|график|титул|контракт|договор)",
    r"\bсрок[а-я]*\s+(?:завершения|окончания|выполнения)\s+работ",
)
#: A reference to a law or norm.
LAW = _rx(
    r"\b\d+\s*-\s*фз\b",
    r"\bфедеральн[а-я]*\s+закон",
    r"\bзакон[а-я]*\s+(?:российской федерации|рф|[а-я]+\s+области|[а-я]+ края|от\s+\d|№)",
    r"\bст\.\s*\d+",
    r"\bстать[а-я]*\s+\d+",
    # a clause («п. 3», «ч. 2») is a norm's only with the act it belongs to nearby, not
    # «п. 1 Вашего обращения»
    r"\b(?:п\.|пункт[а-я]*|ч\.|част[а-я]*)\s*\d+(?:\.\d+)*[^.;]{0,60}?"
    r"(?:закон|кодекс|постановлени|правил|санпин|фз\b|приказ|ст\.|стать|регламент)",
    r"\bкодекс",
    r"\b(?:жк|гк|коап|тк|нк|зк|бк|грк)\s+рф\b",
    r"\b(?:санпин|снип|гост(?:\s+р)?|сп)\s*[\d.]+",
    r"\bпостановлени[а-я]*\s+(?:правительства|администрации|главы|губернатора|№)",
    r"\bпп\s+рф\b",
    r"\bправил[а-я]*\s+(?:благоустройства|предоставления|содержания|пользования|дорожного)",
    r"\bприказ[а-я]*\s+(?:мин[а-я]+|министерства|№)",
    r"\bрешени[а-я]*\s+(?:суда|думы|собрания)",
)
#: A refusal: what a basis (a law, the owner) is the basis of.
REFUSAL = _rx(
    r"\bотказ",
    r"\bне\s+(?:можем|может|могут|представляется|будет|будут|подлежит|подлежат|предусмотрен|"
    r"является|являются|имеется|входит|входят|относится|относятся)",
    # «не производится», «не выдаётся», «не предоставляется»: a thing not done, by rule
    r"\bне\s+[а-я]+(?:ется|ются|ится|ятся|атся)\b",
    r"\bневозможн",
    r"\bоснований\s+(?:для\s+[а-я ]{1,60}?)?(?:нет|не\s+имеется|отсутству)",
    r"\bотсутству[а-я]*\s+основани",
    r"\bзапрещен",
    r"\bне\s+уполномочен",
    # whose duty it is, or a finding that the norm is met
    r"\bобязанност",
    r"\bсоответству[а-я]*\s+(?:установленным\s+)?(?:требовани|норм|санпин|гост|сп\b|правил)",
    r"\bне\s+превышает",
)
#: «не входит в полномочия», «находится в ведении …».
COMPETENCE = _rx(
    r"\bне\s+(?:входит|входят|относится|относятся)\s+(?:в|к)\s+(?:полномочи|компетенци|"
    r"ведени|обязанност)",
    r"\bвне\s+(?:полномочий|компетенции)",
    r"\bне\s+(?:является|являются)\s+(?:собственник|балансодержател|муниципальн|"
    r"ответственн)",
)
#: The owner or holder of the property, which the refusal rests on.
OWNER = _rx(
    r"\b(?:находится|находятся|состоит|состоят)\s+(?:в\s+ведении|на\s+балансе|"
    r"в\s+собственности|в\s+оперативном\s+управлении|в\s+хозяйственном\s+ведении)",
    r"\bсобственник[а-я]*\s*(?:[-—:]|является|являются)",
    r"\bпринадлежит\s+собственникам",
    r"\bвходит\s+в\s+(?:обязанности|состав\s+общего\s+имущества)",
    r"\b(?:относится|относятся)\s+к\s+(?:компетенции|ведению|полномочиям)\s+",
)
_REDIRECT = re.compile(
    r"\b(?:направлен|перенаправлен|передан|переадресован|направил|перенаправил|переадресовал)"
    r"[аоы]?\b"
)
_ORG = re.compile(
    r"\b(?:(?:министерств|администрац|департамент|управлени|комитет|инспекц|госжил|прокуратур|"
    r"роспотребнадзор|ростехнадзор|росреестр|полици|фонд|управляющ|теплосет|водоканал|энерго|"
    r"россет|газпром|газораспредел|регоператор|региональн[а-я]* оператор|перевозчик|суд|"
    r"служб|отдел|центр|учреждени|больниц|поликлиник|минздрав|минтранс|минстро|"
    r"минэнерго|минобр|минсоц|правительств|подрядчик|подрядн[а-я]* организац|бригад|"
    r"жэу|жэк|гибдд|мвд|мчс|оп №|ооо|оао|ао|пао|зао|муп|мп|гуп|гку|гбу|мбу|мку|мау|мбдоу|мбоу|"
    r"ук|тсж|жск|мфц|сфр|гжи)[а-я]*)(?![а-я])"
)
_VAGUE_ORG = re.compile(
    r"\b(?:соответствующ|компетентн|ответственн|профильн|уполномоченн|заинтересованн)[а-я]*"
    r"\s+(?:[а-я]+\s+)?$"
)
_THERE = re.compile(r"\b(?:туда|им|ему|в их адрес|в его адрес|по принадлежности в)\b")

#: Empty phrases: harmless next to substance, the whole answer without it.
FILLERS: Mapping[str, str] = {
    r"(?:ваше |данное )?обращение[^.;]{0,60}?рассмотрено": "«обращение рассмотрено»",
    r"рассмотрел[аио]?\s+ваше обращение": "«обращение рассмотрено»",
    r"принят[аоы]? к сведению": "«принято к сведению»",
    r"(?:находится|находятся|поставлен[аоы]?|взят[аоы]?|оставлен[аоы]?|держ[иа]т"
    r"(?:\s+[а-я]+)?) на контрол": "«на контроле»",
    r"(?:будут |были )?приняты (?:все )?(?:необходимые |исчерпывающие )?меры": "«приняты меры»",
    r"меры (?:будут |были )?приняты": "«меры приняты»",
    r"работа (?:по [а-я ]{1,60}?)?(?:ведется|проводится)": "«работа ведется»",
    r"вопрос (?:прорабатывается|изучается)|ситуация изучается": "«вопрос прорабатывается»",
    r"будет рассмотрен[аоы]?": "«будет рассмотрено»",
    r"(?:проведена|проводится) разъяснительная работа": "«проведена разъяснительная работа»",
    r"(?:даны|дано) (?:соответствующие )?(?:поручени|указани)": "«даны поручения»",
    r"доведена? до сведения": "«доведено до сведения»",
    r"рекомендовано": "«рекомендовано»",
}

#: Conditions that defer the work indefinitely.
CONDITIONAL: Mapping[str, str] = {
    r"по мере (?:финансирования|поступления (?:денежных )?(?:средств|финансирования)|"
    r"выделения (?:денежных )?средств)": "«по мере финансирования»",
    r"при (?:наличии|поступлении|выделении) (?:финансирования|денежных средств|средств|"
    r"лимитов)": "«при наличии финансирования»",
    r"после (?:выделения|поступления) (?:денежных )?средств": "«после выделения средств»",
    r"в плановом порядке": "«в плановом порядке»",
    r"в порядке (?:общей )?очередности": "«в порядке очередности»",
}


@attrs.frozen
class AnswerCheck:
    """The verdict on one answer: accepted or not, why, and what made it concrete."""

    accepted: bool
    reasons: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


def _action_dates(sentence: str) -> list[str]:
    """Dates, periods and times in ``sentence`` that can be an action's."""
    found = []
    for rx in (DATE, PERIOD, RELATIVE):
        for m in rx.finditer(sentence):
            if not _NOT_ACTION_DATE.search(sentence[max(0, m.start() - 60) : m.start()]):
                found.append(m.group(0))
    return found


def _done(sentence: str) -> tuple[list[str], list[str]]:
    """Completed actions in ``sentence``, and those negated («не выполнены»); promised
    ones («будет выполнен») are neither."""
    done, negated = [], []
    for m in DONE.finditer(sentence):
        if FUTURE.search(sentence[max(0, m.start() - 60) : m.start()]):
            continue
        if _NOT.search(sentence[max(0, m.start() - 40) : m.start()]) or _NOT_AFTER.match(
            sentence, m.end()
        ):
            negated.append(m.group(0))
        else:
            done.append(m.group(0))
    return done, negated


class AnswerChecker:
    """Checks answers; ``forbidden_phrases`` reject an answer outright."""

    def __init__(self, forbidden_phrases: Iterable[str] = (), *, min_length: int = 15) -> None:
        self.forbidden = [normalize_answer(p) for p in forbidden_phrases if p.strip()]
        self.min_length = min_length

    def check(self, text: str, *, kind: str = "final") -> AnswerCheck:
        """Whether ``text`` is an acceptable answer (see the module docstring).

        ``kind="intermediate"``: an answer that says the work is taken up must
        at least name a real term; a concrete final answer passes as well.
        """
        text = text[:MAX_ANSWER]
        t = normalize_answer(text)
        if len(t) < self.min_length:
            return AnswerCheck(False, ("слишком короткий ответ",))
        reasons: list[str] = [
            f"недопустимая формулировка: «{phrase}»" for phrase in self.forbidden if phrase in t
        ]
        evidence: list[str] = []
        parts = sentences(text) or [t]
        orgs = [
            m.group(0)
            for m in _ORG.finditer(t)
            if not _VAGUE_ORG.search(t[max(0, m.start() - 60) : m.start()])
        ]
        # who does a planned thing: an organisation named in that sentence or next to it,
        # not one that merely keeps the matter «на контроле»
        named_in = [
            [
                m.group(0)
                for m in _ORG.finditer(part)
                if not _VAGUE_ORG.search(part[max(0, m.start() - 60) : m.start()])
            ]
            for part in parts
        ]
        filler = [any(re.search(p, part) for p in FILLERS) for part in parts]
        promises: list[str] = []
        negated: list[str] = []
        undated_done: list[str] = []
        unaddressed: list[str] = []
        dated_terms: list[str] = []
        for i, s in enumerate(parts):
            dates = _action_dates(s)
            times = [m.group(0) for m in TIME.finditer(s)] if not _meeting(s) else []
            done, not_done = _done(s)
            negated += not_done
            planned = [m.group(0) for m in PLANNED.finditer(s)]
            dated_terms += dates
            # a thing done is dated by a day, a month or a time, not by a year alone
            when_done = [d for d in dates if not _YEAR_ONLY.fullmatch(d)] or times
            if done and when_done:
                evidence += [f"действие: {x}" for x in done]
                evidence += [f"дата: {x}" for x in when_done]
            elif done:
                undated_done += done
            if planned:
                doers = named_in[i] + [
                    o
                    for j in (i - 1, i + 1)
                    if 0 <= j < len(parts) and not filler[j]
                    for o in named_in[j]
                ]
                if dates and doers:
                    evidence += [f"план: {x}" for x in planned]
                    evidence += [f"срок: {x}" for x in dates]
                else:
                    promises += planned
            redirect = _REDIRECT.search(s)
            if redirect:
                tail = s[redirect.end() :]
                named = [
                    m.group(0)
                    for m in _ORG.finditer(s)
                    if not _VAGUE_ORG.search(s[max(0, m.start() - 60) : m.start()])
                ] or (orgs if _THERE.search(tail) else [])
                if named and dates:
                    evidence += [f"адресат: {named[0]}", f"дата: {dates[0]}"]
                else:
                    unaddressed.append(redirect.group(0))
        owners = [m.group(0) for m in OWNER.finditer(t)] if orgs else []
        # a law is the basis of a refusal, not a seal on any answer («рассмотрено в
        # соответствии с 59-ФЗ»)
        refused = bool(owners or COMPETENCE.search(t) or REFUSAL.search(t))
        laws = [m.group(0) for m in LAW.finditer(t)] if refused else []
        evidence += [f"основание: {x}" for x in [*laws, *owners]]
        concrete = bool(evidence)
        if kind == "intermediate" and not concrete and dated_terms:
            concrete = True
            evidence += [f"срок: {x}" for x in dated_terms]
        if not concrete:
            reasons.append("нет конкретного действия, срока или обоснованного отказа")
            if COMPETENCE.search(t):
                reasons.append("отказ по компетенции без указания, куда направлено обращение")
            reasons += [f"«{x}» без указания, куда и кому, и без даты" for x in unaddressed]
            reasons += [f"действие без даты: «{x}»" for x in dict.fromkeys(undated_done)]
            reasons += [f"действие не выполнено: «не {x}»" for x in dict.fromkeys(negated)]
            for pattern, label in CONDITIONAL.items():
                if re.search(pattern, t):
                    reasons.append(f"{label} без конкретного срока")
            for pattern, label in VAGUE_TERMS.items():
                if re.search(pattern, t):
                    reasons.append(f"«{label}» — это не срок" if "«" not in label else label)
            reasons += [
                f"обещание без срока или без исполнителя: «{p}»" for p in dict.fromkeys(promises)
            ]
            for pattern, label in FILLERS.items():
                if re.search(pattern, t):
                    reasons.append(f"шаблонная фраза {label}")
        return AnswerCheck(
            not reasons, tuple(dict.fromkeys(reasons)), tuple(dict.fromkeys(evidence))
        )


_MEETING = re.compile(
    r"\b(?:совещани|встреч|заседани|выезд|выехал|осмотр|обследовани|проверк|прием|созвон)"
)


def _meeting(sentence: str) -> bool:
    """A sentence about a meeting or a visit: its times are not an action's."""
    return bool(_MEETING.search(sentence))


def check_answer(
    text: str, forbidden_phrases: Iterable[str] = (), *, kind: str = "final"
) -> AnswerCheck:
    """Check one answer with the built-in rules plus ``forbidden_phrases``."""
    return AnswerChecker(forbidden_phrases).check(text, kind=kind)


# templates ----------------------------------------------------------------------------
_MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


def format_due(when: datetime | None, tz: tzinfo, *, words: bool = False) -> str:
    """A deadline as a citizen reads it: ``25.11.2026 18:00`` (``words``: «25 ноября 2026 г.»)."""
    if when is None:
        return "—"
    local = when.astimezone(tz)
    if words:
        month = _MONTHS_GENITIVE[local.month - 1]
        return f"{local.day} {month} {local.year} г. {local:%H:%M}"
    return f"{local:%d.%m.%Y %H:%M}"


#: Placeholders a template may use.
PLACEHOLDERS = frozenset({"id", "executor", "due", "term", "topic", "reason", "address"})
#: Kinds of templates and whether every topic needs one (the default must have all).
TEMPLATE_KINDS = ("intermediate", "extension", "forward", "reopened")


class AnswerTemplates:
    """Russian answer templates by topic, falling back along the topic tree to ``default``.

    The file (``tsur/data/templates/answers.toml`` by default) has a
    ``[default]`` table with every kind (``intermediate``, ``extension``,
    ``forward``, ``reopened``) and ``[topics."<id>"]`` tables overriding
    some kinds for a topic and its subtopics. Templates use ``{id}``,
    ``{executor}``, ``{due}``, ``{term}``, ``{topic}``, ``{reason}`` and
    ``{address}``; anything else is a :class:`~tsur.errors.ConfigError`
    when the file is loaded.
    """

    def __init__(
        self, default: Mapping[str, str], topics: Mapping[str, Mapping[str, str]], *, origin: str
    ) -> None:
        problems: list[tuple[str, str]] = []
        for kind in TEMPLATE_KINDS:
            if kind not in default:
                problems.append((f"default.{kind}", "missing"))
        for where, table in [("default", default)] + [
            (f'topics."{k}"', v) for k, v in topics.items()
        ]:
            for kind, text in table.items():
                problems.extend(_template_problems(f"{where}.{kind}", kind, text))
        if problems:
            raise ConfigError(f"{origin}: invalid answer templates", path=origin, problems=problems)
        self.default = dict(default)
        self.topics = {k: dict(v) for k, v in topics.items()}
        self.origin = origin

    @classmethod
    def load(cls, path: str | Path | None = None) -> AnswerTemplates:
        """Read templates from ``path`` (None: the bundled Russian templates)."""
        if path is None:
            ref = resources.files("tsur") / "data" / "templates" / "answers.toml"
            origin, raw = "tsur/data/templates/answers.toml", ref.read_text("utf-8")
        else:
            origin = str(path)
            try:
                raw = Path(path).read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read templates: {exc}", path=origin) from exc
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{origin}: not valid TOML: {exc}", path=origin) from exc
        default = data.get("default")
        topics = data.get("topics", {})
        if not isinstance(default, dict) or not isinstance(topics, dict):
            raise ConfigError(
                f'{origin}: expected a [default] table and [topics."<id>"] tables', path=origin
            )
        return cls(default, topics, origin=origin)

    def template(self, kind: str, topic_chain: Sequence[str]) -> str:
        """The template of ``kind`` for the first topic of ``topic_chain`` that has one."""
        if kind not in TEMPLATE_KINDS:
            raise ValueError(f"unknown template kind {kind!r}; known: {', '.join(TEMPLATE_KINDS)}")
        for topic in topic_chain:
            text = self.topics.get(topic, {}).get(kind)
            if text:
                return text
        return self.default[kind]

    def render(self, kind: str, topic_chain: Sequence[str], **values: Any) -> str:
        """Fill the template of ``kind``; missing values become «—»."""
        text = self.template(kind, topic_chain)
        filled = {k: ("—" if values.get(k) in (None, "") else str(values[k])) for k in PLACEHOLDERS}
        return " ".join(text.format_map(filled).split())


def _template_problems(where: str, kind: str, text: object) -> list[tuple[str, str]]:
    if kind not in TEMPLATE_KINDS:
        return [(where, f"unknown template kind; known: {', '.join(TEMPLATE_KINDS)}")]
    if not isinstance(text, str) or not text.strip():
        return [(where, "must be a non-empty string")]
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        return [(where, f"bad braces: {exc}")]
    unknown = sorted(f for f in fields if f not in PLACEHOLDERS)
    if unknown:
        return [(where, f"unknown placeholder(s) {unknown}; use {sorted(PLACEHOLDERS)}")]
    return []
