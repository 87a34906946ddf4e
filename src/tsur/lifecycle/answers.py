"""Answers to citizens: templates per topic and the «отписка» check.

A final answer must say what was done or by when (a date, a term, a
completed action: «заменён», «вывезен», «до 25.11», «в течение 3 дней»), or
refuse with a reason (a law or norm, «не входит в полномочия … направлено
в …»). Formal non-answers — «Ваше обращение рассмотрено», «информация
принята к сведению», «в плановом порядке», «по мере финансирования»
without a term, «обращение направлено» without saying where — are
rejected with the reasons, in Russian, for the executor to read.

The check is rules, not a model: regular expressions over the lower-cased
text with «ё» read as «е». A region adds its own forbidden phrases
(``lifecycle.forbidden_phrases``); any of them rejects an answer outright.
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
    "AnswerCheck",
    "AnswerChecker",
    "AnswerTemplates",
    "check_answer",
    "format_due",
    "normalize_answer",
]


def normalize_answer(text: str) -> str:
    """Lower case, «ё» as «е», one space between words, no guillemets' padding."""
    text = text.replace("\u00a0", " ").lower().replace("ё", "е")
    return re.sub(r"\s+", " ", text).strip()


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
_DATE = r"(?:0?[1-9]|[12]\d|3[01])[./](?:0?[1-9]|1[0-2])"

#: A concrete date or term: «до 25.11», «25 ноября», «в течение 3 дней», «в срок до».
TERM = _rx(
    rf"\b{_DATE}[./](?:\d{{4}}|\d{{2}})\b",
    r"(?<!п\. )(?<!ст\. )(?<!ч\. )(?<![\d.])(?:0[1-9]|[12]\d|3[01])\.(?:0[1-9]|1[0-2])(?![\d])",
    rf"\b(?:до|к|с|по|на|от|не позднее)\s+{_DATE}\b",
    rf"\b(?:0?[1-9]|[12]\d|3[01])\s+{_MONTH}",
    rf"\b(?:до конца|к концу|в конце|в начале|в середине|в течение|до)\s+{_MONTH}",
    rf"\bв\s+{_MONTH}\s+(?:20\d\d|текущего|этого|следующего)",
    r"\b(?:в|на|до|к)\s+20\d\d\s*(?:г\b|год)",
    r"\b(?:в|до конца|к концу)\s+(?:[1-4]|i{1,3}|iv)[ -]?(?:м|ом)?\s*(?:квартал|полугоди)",
    rf"\bв течение\s+(?:{_NUMWORD}\s+)?(?:рабоч[а-я]+\s+)?"
    r"(?:дн|день|суток|сутки|недел|месяц|час|год)",
    r"\bв срок до\b",
    r"\bне позднее\b",
    r"\bсрок[а-я]*(?:\s+(?:исполнения|выполнения|устранения|ремонта|проведения|работ))?"
    r"\s*[-—:]?\s*до\b",
    r"\b(?:сегодня|завтра|послезавтра)\b",
    r"\bдо конца (?:дня|недели|месяца|года|текущей недели|текущего месяца|текущего года)\b",
    rf"\b(?:до|в|во)\s+{_WEEKDAY}\b",
    r"\b(?:с|до|в)\s+(?:[01]?\d|2[0-3])[:.][0-5]\d\b",
)

#: Words that sound like a term but are not one.
VAGUE_TERMS: Mapping[str, str] = {
    r"в ближайшее время": "в ближайшее время",
    r"в кратчайшие сроки": "в кратчайшие сроки",
    r"в (?:установленные|разумные|максимально короткие) сроки": "в установленные сроки",
    r"по возможности|при возможности|при наличии возможности": "по возможности",
    r"в (?:весенне-летний|летний|осенний|весенний|зимний) период": "в … период (без года)",
}

_NEG = r"(?<!\bне )"
_PART = r"[аоы]?"  # short participle endings: -н, -на, -но, -ны
#: Completed actions: «выполнено», «заменён», «отремонтирована», «вывезен» …
DONE = _rx(
    *(
        _NEG + rf"\b{stem}{_PART}\b"
        for stem in (
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
        )
    ),
    _NEG + r"\b(?:выполнил|заменил|отремонтировал|вывезл|устранил|восстановил|установил|убрал|"
    r"заделал|засыпал|подключил|спилил|покрасил|расчистил|откачал|прочистил|исправил|"
    r"выплатил|сделал|завершил)[аи]?\b",
    _NEG + r"\b(?:произвед|провед)[е]н[аоы]?\s+"
    r"(?:(?!разъяснительн|профилактическ|организационн|необходим|соответствующ)[а-я]+\s+)?"
    r"(?:ремонт|замен|работ|очистк|"
    r"уборк|покос|обрезк|опиловк|промывк|опрессовк|дезинфекц|дератизац|дезинсекц|отлов|"
    r"вывоз|подсыпк|отсыпк|грейдирован|асфальтирован|восстановлени|перерасчет|демонтаж|"
    r"монтаж|прочистк|откачк|покраск|посыпк|обработк)",
    _NEG + r"\bосуществлен[аоы]?\s+(?:вывоз|ремонт|замен|подключ|уборк|покос|очистк|подвоз)",
    r"(?<!обращение )(?<!вопрос )(?<!заявка )\bзакрыт[аоы]?\s+(?:крышк|решетк|огражден|люк)",
    r"\b(?:люк|колодец|крышк[а-я]*)\s+(?:был[аи]?\s+)?закрыт",
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

#: A reference to a law or norm.
LAW = _rx(
    r"\b\d+\s*-\s*фз\b",
    r"\bфедеральн[а-я]*\s+закон",
    r"\bзакон[а-я]*\s+(?:российской федерации|рф|[а-я]+\s+области|[а-я]+ края|от\s+\d|№)",
    r"\bст\.\s*\d+",
    r"\bстать[а-я]*\s+\d+",
    r"\bп\.\s*\d+",
    r"\bпункт[а-я]*\s+\d+",
    r"\bч\.\s*\d+",
    r"\bкодекс",
    r"\b(?:жк|гк|коап|тк|нк|зк|бк)\s+рф\b",
    r"\b(?:санпин|снип|гост(?:\s+р)?|сп)\s*[\d.]+",
    r"\bпостановлени[а-я]*\s+(?:правительства|администрации|главы|губернатора|№)",
    r"\bправил[а-я]*\s+(?:благоустройства|предоставления|содержания|пользования|дорожного)",
    r"\bприказ[а-я]*\s+(?:мин[а-я]+|министерства|№)",
    r"\bрешени[а-я]*\s+(?:суда|думы|собрания)",
)

#: «не входит в полномочия», «находится в ведении …».
COMPETENCE = _rx(
    r"\bне\s+(?:входит|относится)\s+(?:в|к)\s+(?:полномочи|компетенци|ведени|обязанност)",
    r"\bвне\s+(?:полномочий|компетенции)",
    r"\bне\s+(?:является|являются)\s+(?:собственник|балансодержател|муниципальн|"
    r"ответственн)",
    r"\b(?:находится|находятся|состоит|состоят)\s+(?:в\s+ведении|на\s+балансе|в\s+собственности)",
)

_REDIRECT = re.compile(
    r"\b(?:направлен|перенаправлен|передан|переадресован)[аоы]?\b((?:\s+[^\s.;!?]+){0,8})"
)
_ORG = re.compile(
    r"\b(?:(?:министерств|администрац|департамент|управлени|комитет|инспекц|прокуратур|"
    r"роспотребнадзор|ростехнадзор|росреестр|полици|фонд|управляющ|теплосет|водоканал|энерго|"
    r"россет|газпром|газораспредел|регоператор|региональн[а-я]* оператор|перевозчик|суд|"
    r"служб|отдел|центр|учреждени|больниц|поликлиник|школ|минздрав|минтранс|минстро|"
    r"минэнерго|минобр|минсоц|правительств)[а-я]*|(?:ооо|оао|ао|пао|зао|муп|гуп|гку|гбу|мбу|"
    r"мку|ук|тсж|жск|мфц|сфр|гжи|мчс|мвд|гибдд|гаи)\b)"
)
_VAGUE_ORG = re.compile(
    r"\b(?:соответствующ|компетентн|ответственн|профильн|уполномоченн|заинтересованн)[а-я]*\s*$"
)
_QUOTED = re.compile(r"«[^»]{2,}»|\"[^\"]{2,}\"")

#: Empty phrases: harmless next to substance, the whole answer without it.
FILLERS: Mapping[str, str] = {
    r"(?:ваше |данное )?обращение рассмотрено": "«обращение рассмотрено»",
    r"принят[аоы]? к сведению": "«принято к сведению»",
    r"(?:находится|находятся|поставлен[аоы]?|взят[аоы]?) на контрол": "«на контроле»",
    r"(?:будут |были )?приняты (?:все )?(?:необходимые |исчерпывающие )?меры": "«приняты меры»",
    r"меры (?:будут |были )?приняты": "«меры приняты»",
    r"работа (?:по [а-я ]+)?(?:ведется|проводится)": "«работа ведется»",
    r"вопрос (?:прорабатывается|изучается)": "«вопрос прорабатывается»",
    r"будет рассмотрен[аоы]?": "«будет рассмотрено»",
    r"(?:проведена|проводится) разъяснительная работа": "«проведена разъяснительная работа»",
    r"(?:даны|дано) (?:соответствующие )?поручени": "«даны поручения»",
}

#: Conditions that defer the work indefinitely: rejected unless a term is given.
CONDITIONAL: Mapping[str, str] = {
    r"по мере (?:финансирования|поступления (?:денежных )?средств|выделения (?:денежных )?"
    r"средств)": "«по мере финансирования»",
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


class AnswerChecker:
    """Checks final answers; ``forbidden_phrases`` reject an answer outright."""

    def __init__(self, forbidden_phrases: Iterable[str] = (), *, min_length: int = 15) -> None:
        self.forbidden = [normalize_answer(p) for p in forbidden_phrases if p.strip()]
        self.min_length = min_length

    def check(self, text: str) -> AnswerCheck:
        """Whether ``text`` is an acceptable final answer (see the module docstring)."""
        t = normalize_answer(text)
        reasons: list[str] = []
        evidence: list[str] = []
        if len(t) < self.min_length:
            return AnswerCheck(False, ("слишком короткий ответ",))
        for phrase in self.forbidden:
            if phrase in t:
                reasons.append(f"недопустимая формулировка: «{phrase}»")

        terms = [m.group(0) for m in TERM.finditer(t)]
        evidence.extend(f"срок: {x}" for x in terms)
        done, promises = [], []
        for m in DONE.finditer(t):
            if FUTURE.search(t[max(0, m.start() - 60) : m.start()]):
                promises.append(m.group(0))
            else:
                done.append(m.group(0))
        evidence.extend(f"действие: {x}" for x in done)
        laws = [m.group(0) for m in LAW.finditer(t)]
        evidence.extend(f"основание: {x}" for x in laws)
        competence = [m.group(0) for m in COMPETENCE.finditer(t)]
        addressed, unaddressed = [], []
        for m in _REDIRECT.finditer(t):
            who = _addressee(m.group(1))
            if who:
                addressed.append(who)
            else:
                unaddressed.append(m.group(0).strip())
        evidence.extend(f"адресат: {x}" for x in addressed)
        justified = bool(laws) or bool(addressed)
        if competence and not addressed and not laws:
            reasons.append("отказ по компетенции без указания, куда направлено обращение")

        for pattern, label in CONDITIONAL.items():
            if re.search(pattern, t) and not terms:
                reasons.append(f"{label} без конкретного срока")

        concrete = bool(terms or done or justified)
        if not concrete:
            reasons.append("нет конкретного действия, срока или обоснованного отказа")
            reasons.extend(
                f"«{phrase}» без указания, куда и кому" for phrase in dict.fromkeys(unaddressed)
            )
            for pattern, label in VAGUE_TERMS.items():
                if re.search(pattern, t):
                    reasons.append(f"«{label}» — это не срок")
            reasons.extend(
                f"обещание без срока: «{p}»" for p in dict.fromkeys(promises) if p not in done
            )
            for pattern, label in FILLERS.items():
                if re.search(pattern, t):
                    reasons.append(f"шаблонная фраза {label}")
        return AnswerCheck(not reasons, tuple(dict.fromkeys(reasons)), tuple(evidence))


def _addressee(tail: str) -> str | None:
    """The organisation named after «направлено», or None if it is vague or absent."""
    quoted = _QUOTED.search(tail)
    for m in _ORG.finditer(tail):
        if _VAGUE_ORG.search(tail[: m.start()]):
            continue
        return tail[m.start() :].strip()
    if quoted and not _VAGUE_ORG.search(tail[: quoted.start()]):
        return quoted.group(0)
    return None


def check_answer(text: str, forbidden_phrases: Iterable[str] = ()) -> AnswerCheck:
    """Check one final answer with the built-in rules plus ``forbidden_phrases``."""
    return AnswerChecker(forbidden_phrases).check(text)


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
