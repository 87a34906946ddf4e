"""Masking of citizens' texts: personal data and obscene words.

No lemmatisation: regular expressions with bounded quantifiers (linear in
the length of the text) over the text folded by :func:`fold` — NFKC,
Unicode dashes as «-», format characters dropped — with every match mapped
back to the citizen's own characters.

- :func:`find_personal_data` / :func:`mask_personal_data`: phone numbers
  in the usual Russian formats (also inside links to messengers and
  diallers), e-mail addresses, passport series and numbers (next to
  «паспорт», «серия»), СНИЛС and a person's ИНН (checksums; or the word
  «СНИЛС»/«ИНН» next to them), bank card numbers (Luhn, or a card's shape,
  prefix or the word «карта»), full names, birth dates, and the flat of a
  named person. Each becomes a Russian token such as «[телефон]». House
  numbers, dates, sums, years, route numbers, hotlines and organisations'
  numbers are left alone.
- :class:`ObsceneLexicon`: Russian obscene words in any inflected or
  derived form, written with Latin look-alike letters, transliterated, or
  already half-hidden with asterisks («бл**», «х*р»), masked as «х**»
  (the first letter kept).
- :func:`mask_text` applies both, personal data first, and reports what it
  replaced.

The built-in ``masking`` moderation filter
(:mod:`tsur.default_plugins.moderation`) applies :func:`mask_text`; anything
else that lets citizens' words leave the engine uses it too.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from tsur.errors import ConfigError
from tsur.text.lexicon import compile_patterns, load_lexicon, string_list

__all__ = [
    "MAX_TEXT_CHARS",
    "PII_TOKENS",
    "Masked",
    "ObsceneLexicon",
    "Span",
    "apply_spans",
    "default_obscene_lexicon",
    "find_personal_data",
    "fold",
    "inn_valid",
    "luhn_valid",
    "mask_citizen_text",
    "mask_personal_data",
    "mask_text",
    "masked_stored_text",
    "snils_valid",
]

#: The longest citizen's text tsur reads (some ten pages); the rest is cut.
MAX_TEXT_CHARS = 20_000

#: Replacement token of each kind of personal data.
PII_TOKENS: Mapping[str, str] = {
    "phone": "[телефон]",
    "email": "[e-mail]",
    "passport": "[паспорт]",
    "snils": "[СНИЛС]",
    "inn": "[ИНН]",
    "card": "[карта]",
    "name": "[ФИО]",
    "address": "[квартира]",
    "birthdate": "[дата рождения]",
}


# spans ------------------------------------------------------------------------
@attrs.frozen
class Span:
    """A piece of text to replace: ``text[start:end]`` becomes ``replacement``."""

    start: int
    end: int
    kind: str  # "phone", "email", "passport", "snils", "inn", "card", "obscene"
    replacement: str


@attrs.frozen
class Masked:
    """A masked text and what was replaced in it (spans refer to the input)."""

    text: str
    spans: tuple[Span, ...] = ()

    def counts(self) -> dict[str, int]:
        """How many spans of each kind were replaced."""
        return dict(Counter(s.kind for s in self.spans))


def apply_spans(text: str, spans: Iterable[Span]) -> str:
    """Replace non-overlapping ``spans`` in ``text``."""
    out = []
    pos = 0
    for s in sorted(spans, key=lambda s: s.start):
        if s.start < pos:
            raise ValueError(f"overlapping spans at {s.start}")
        out.append(text[pos : s.start])
        out.append(s.replacement)
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


# personal data ------------------------------------------------------------------
def luhn_valid(digits: str) -> bool:
    """Whether a card number passes the Luhn check."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def snils_valid(digits: str) -> bool:
    """Whether an 11-digit СНИЛС has a correct control number.

    Numbers up to 001-001-998, which the Pension Fund issued without a
    control number, are not accepted: they look like anything.
    """
    if len(digits) != 11 or not digits.isdigit() or int(digits[:9]) <= 1001998:
        return False
    s = sum(int(d) * (9 - i) for i, d in enumerate(digits[:9]))
    control = s if s < 100 else (0 if s in (100, 101) else s % 101)
    return (0 if control == 100 else control) == int(digits[9:])


_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _inn_digit(digits: str, weights: Sequence[int]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_valid(digits: str) -> bool:
    """Whether a 10-digit (organisation) or 12-digit (person) ИНН has correct control digits."""
    if not digits.isdigit() or int(digits) == 0:
        return False
    if len(digits) == 10:
        return _inn_digit(digits, _INN10) == int(digits[9])
    if len(digits) == 12:
        return _inn_digit(digits, _INN11) == int(digits[10]) and _inn_digit(digits, _INN12) == int(
            digits[11]
        )
    return False


#: Links: the rest of a link is never masked (its digits are ids, not phones).
_URL = re.compile(
    r"(?:https?://|www\.)\S{1,2000}"
    r"|(?<![\w-])[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.(?:ru|рф|com|me|org|net)/\S{0,2000}",
    re.I,
)
#: A phone inside a link to a messenger or a dialler: «wa.me/7927…», «tel:+7…», «phone=7…».
_LINK_PHONE = re.compile(
    r"(?:wa\.me/|t\.me/|tel:|callto:|[?&](?:phone|number|tel)=)((?:\+|%2b)?[78]\d{10})(?!\d)", re.I
)
_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[a-zа-я]{2,24}", re.I
)
_SEP = r"[\s\-.()/,_]{0,3}"
_PHONE = re.compile(rf"(?<![\w+])(?:\+\s?7|8|7)(?:{_SEP}\d){{10}}(?!\d)")
_MOBILE = re.compile(r"(?<![\w+\-])\(?9\d\d\)?(?:[\s\-.]{0,2}\d){7}(?![\d\-])")
_LOCAL = re.compile(r"(?<![\w\-.,])\d{3}-\d{2}-\d{2}(?![\w\-])")
_LOCAL_LOOSE = re.compile(r"(?<![\w\-.,])\d{1,3}(?:[\s-]\d{2}){2}(?![\w\-])")
_PASSPORT = re.compile(r"(?<![\w\-])\d{2}\s?\d{2}\s{0,3}(?:№|номер|n)?\s{0,3}\d{6}(?![\w\-])", re.I)
_SNILS = re.compile(r"(?<![\w\-])\d{3}([- ./]?)\d{3}\1\d{3}[- ./]?\d{2}(?![\w\-])")
_LONG = re.compile(r"(?<![\w\-])(?:\d{12}|\d{10})(?![\w\-])")
_CARD = re.compile(r"(?<![\w\-.,/])\d(?:[ ./-]?\d){12,18}(?![\w\-])")
_PHONE_CONTEXT = re.compile(r"\b(?:тел|звон|номер|моб|сот\.|т\.)", re.I)
#: Numbers of public services: a hotline, a duty desk, a dispatcher, a call centre.
_SERVICE_CONTEXT = re.compile(
    r"горяч\w{0,4}\s{1,3}лини|еддс|дежурн|диспетчер|довери|справочн|колл-?центр|\b(?:112|122)\b",
    re.I,
)
_TOLL_FREE = re.compile(r"(?:\+\s?7|8)[\s\-.()]{0,3}80\d")
#: Numbers named as something else: an order, a contract, an account, a register.
_OTHER_NUMBER_CONTEXT = re.compile(
    r"огрн|кпп|окпо|октмо|бик|р/с|к/с|счет|счёт|кадастр|заявк|договор|обращени|платеж|платёж"
    r"|идентификатор|индекс|квитанц|показани|№",
    re.I,
)
_CARD_CONTEXT = re.compile(r"карт|card|visa|виза|мир\b|maestro|master", re.I)
#: Issuer prefixes of cards issued in Russia: МИР 2200–2204, Visa 4, Mastercard 51–55, 2221–2720.
_CARD_PREFIX = re.compile(r"220[0-4]|4|5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)")
_DIGIT_OR_AT = re.compile(r"[\d@]")
_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"(?:19|20)\d\d")  # every birth date names its year
#: What every birth date :data:`_BIRTH_DATE` reads says beside the date: «г. р.» after
#: a year, «рождения», «родился», «д. р.».
_BIRTH_HINT = re.compile(r"рожд|родил|д\.\s{0,2}р|(?:19|20)\d\d\s{0,3}г\.?\s{0,2}р", re.I)
#: What every phone in a link (:data:`_LINK_PHONE`) is preceded by, in lower case.
_LINK_PHONE_MARKERS = ("wa.me/", "t.me/", "tel:", "callto:", "phone=", "number=", "tel=")
_MONEY_GROUPS = re.compile(r"\d{1,3}(?: \d{3})+")
_PASSPORT_CONTEXT = re.compile(r"паспорт|сери[яиюей]|сер\.", re.I)
_SNILS_CONTEXT = re.compile(r"снилс|страхов\w{0,6} номер", re.I)
_INN_CONTEXT = re.compile(r"\bинн\b", re.I)
_NAME_WORD = r"[А-ЯЁ][а-яё]{1,30}(?:-[А-ЯЁ][а-яё]{1,30})?"
_PATRONYMIC = r"[А-ЯЁ][а-яё]{1,20}(?:вич|вна|ична|инична|ьич)"
#: A full name: «Иванова Мария Петровна», «Мария Петровна Иванова», «Иванова М. П.».
_FULL_NAME = re.compile(
    rf"(?<![\w-])(?:{_NAME_WORD}\s{{1,3}}{_NAME_WORD}\s{{1,3}}{_PATRONYMIC}"
    rf"|{_NAME_WORD}\s{{1,3}}{_PATRONYMIC}\s{{1,3}}{_NAME_WORD}"
    rf"|{_NAME_WORD}\s{{1,3}}[А-ЯЁ]\.\s{{0,2}}[А-ЯЁ]\.)(?![\w-])"
)
#: The flat of an address: masked only where a person is named in the same text.
_FLAT = re.compile(r"(?<![\w-])(?:кв\.?|квартир[аеуы])\s{0,3}№?\s{0,2}\d{1,4}(?![\d])", re.I)
_MONTHS = r"(?:январ|феврал|март|апрел|ма[йя]|июн|июл|август|сентябр|октябр|ноябр|декабр)[а-я]{0,3}"
_DATE = (
    rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-](?:19|20)\d\d"
    rf"|\d{{1,2}}\s{{1,3}}{_MONTHS}\s{{1,3}}(?:19|20)\d\d)"
)
#: A birth date: «12.03.1948 г.р.», «1985 г.р.», «дата рождения 05.11.1939», «родился 17 июля 1962».
_BIRTH_DATE = re.compile(
    rf"(?:{_DATE}|(?<!\d)(?:19|20)\d\d)\s{{0,3}}(?:г\.?\s{{0,2}}р\.?|года\s{{1,3}}рождения)"
    rf"|(?:дата\s{{1,3}}рождения|д\.\s{{0,2}}р\.|родил(?:ся|ась))[:\s]{{1,4}}"
    rf"(?:{_DATE}|(?:19|20)\d\d)(?:\s{{0,3}}(?:года|г\.))?",
    re.I,
)
#: Hyphens and dashes that stand for «-» in a number (U+2010–U+2015, minus, small/full-width).
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
#: Characters NFKC would change but the patterns need as they are.
_KEEP = frozenset("№")


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _DASHES:
        return "-"
    if ch in _KEEP:
        return ch
    if unicodedata.category(ch) == "Cf":
        return ""
    return unicodedata.normalize("NFKC", ch)


#: Any character outside ASCII, the Cyrillic block and the usual Russian punctuation
#: (each of them one :func:`fold` keeps as it is).
_MAY_FOLD = re.compile(
    "[^"
    + re.escape(
        "".join(
            ch
            for ch in map(chr, [*range(128), *range(0x400, 0x500), *map(ord, "«»„“”’…")])
            if _fold_char(ch) == ch
        )
    )
    + "]"
)


def fold(text: str) -> tuple[str, Sequence[int]]:
    """``text`` as the patterns read it, and where each of its characters came from.

    NFKC-normalised character by character (full-width digits and letters
    become ASCII, a no-break space a space), Unicode hyphens and dashes
    become «-», format characters (Unicode category Cf: zero-width spaces,
    joiners, soft hyphens, direction marks) are dropped. ``index[i]`` is the
    position in ``text`` of the folded character ``i``; ``index[-1]`` is
    ``len(text)``.
    """
    if _MAY_FOLD.search(text) is None:  # ASCII, Cyrillic, «»: most texts, no copy made
        return text, range(len(text) + 1)
    changed = {ch: f for ch in set(text) if (f := _fold_char(ch)) != ch}
    if not changed:
        return text, range(len(text) + 1)
    if all(len(f) == 1 for f in changed.values()):  # a dash, a no-break space: same length
        return text.translate({ord(ch): f for ch, f in changed.items()}), range(len(text) + 1)
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = ch if ch < "\x80" else _fold_char(ch)
        out.append(folded)
        index.extend([i] * len(folded))
    index.append(len(text))
    return "".join(out), index


def _context(text: str, start: int, rx: re.Pattern[str], width: int) -> bool:
    return rx.search(text, max(0, start - width), start) is not None


def _card_groups_ok(raw: str) -> bool:
    groups = [g for g in re.split(r"[ -]", raw) if g]
    if len(groups) == 1:
        return True
    sizes = [len(g) for g in groups]
    if sizes in ([4, 6, 4], [4, 6, 5]):
        return True
    return all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _card_shaped(raw: str, digits: str) -> bool:
    """16–19 digits written as a card is printed: groups of four (4-4-4-4, 4-4-4-4-3)."""
    sizes = [len(g) for g in re.split(r"[ -]", raw) if g]
    return len(digits) >= 16 and len(sizes) >= 4 and all(n == 4 for n in sizes[:4])


def _is_card(text: str, m: re.Match[str]) -> bool:
    """A bank card number, its check digit right or mistyped.

    A number of 13–19 digits is a card when it passes the Luhn check in a
    card's grouping; or, whatever its check digit, when it is printed as a
    card (groups of four, 16–19 digits), follows the word «карта» (or
    Visa, МИР …), or is 16 solid digits starting with the prefix of a card
    issued in Russia (МИР 2200–2204, Visa 4, Mastercard 51–55, 2221–2720).
    A number named as something else («счёт», «договор», «ОГРН», «№» …)
    is not a card unless the word «карта» is nearer.
    """
    raw = m.group()
    digits = re.sub(r"\D", "", raw)
    if not 13 <= len(digits) <= 19:
        return False
    named_card = _context(text, m.start(), _CARD_CONTEXT, 40)
    if _context(text, m.start(), _OTHER_NUMBER_CONTEXT, 25) and not _context(
        text, m.start(), _CARD_CONTEXT, 25
    ):
        return False
    if _card_groups_ok(raw) and luhn_valid(digits):
        return True
    if _card_shaped(raw, digits) or named_card:
        return True
    return len(digits) == 16 and raw.isdigit() and _CARD_PREFIX.match(digits) is not None


def find_personal_data(text: str) -> list[Span]:
    """Personal data in ``text`` as non-overlapping spans, in order.

    The text is read folded (:func:`fold`: NFKC, Unicode dashes as «-»,
    zero-width and other format characters dropped), so «8‑927‑123‑45‑67»,
    full-width digits and a number with zero-width spaces inside are found;
    the spans refer to ``text`` itself, so masking keeps every other
    character as the citizen wrote it.

    Where two readings overlap the more specific wins: a number next to
    «СНИЛС», «паспорт» or «ИНН» is that document; otherwise a card number
    (:func:`_is_card`), a phone number, a person's ИНН (12 digits, valid),
    a valid СНИЛС, in that order. Digits inside links are left alone except
    a phone in a link to a messenger or a dialler («wa.me/7927…», «tel:»).
    A full name («Иванова Мария Петровна», «Иванова М. П.») and a birth
    date are masked; so is a flat number («кв. 15») in a text that names a
    person. Numbers of public services (112, a hotline, 8-800 …) are not
    personal data.
    """
    if _DIGIT_OR_AT.search(text) is None and _FULL_NAME.search(text) is None:
        return []
    folded, index = fold(text)
    found: list[tuple[int, int, int, str]] = []  # (priority, start, end, kind)

    def add(prio: int, m: re.Match[str], kind: str, group: int = 0) -> None:
        found.append((prio, m.start(group), m.end(group), kind))

    links = [m.span() for m in _URL.finditer(folded)] if _may_link(folded) else []
    if "@" in folded:
        for m in _EMAIL.finditer(folded):
            add(100, m, "email")
    digits = len(_DIGIT.findall(folded))
    if digits >= 4:
        _find_numbers(folded, digits, add)
    names = list(_FULL_NAME.finditer(folded))
    for m in names:
        add(30, m, "name")
    if names:
        for m in _FLAT.finditer(folded):
            add(30, m, "address")

    taken: list[tuple[int, int]] = []
    spans: list[Span] = []
    for prio, start, end, kind in sorted(found, key=lambda f: (-f[0], f[1])):
        if kind != "email" and prio < 300 and any(start < e and s < end for s, e in links):
            continue  # digits inside a link are ids, not phones (an address is an address)
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        # back to the citizen's own characters: the first and the last one of the match
        spans.append(Span(index[start], index[end - 1] + 1, kind, PII_TOKENS[kind]))
    return sorted(spans, key=lambda s: s.start)


def _may_link(text: str) -> bool:
    """Whether ``text`` may hold a link: every form :data:`_URL` reads has «/» or «www.»."""
    return "/" in text or "www." in text.lower()


def _find_numbers(folded: str, digits: int, add: Callable[..., None]) -> None:
    """Phones, cards, documents and birth dates in ``folded``, each given to ``add``.

    ``digits`` is how many digits the text holds: a pattern that needs more
    (ten for a phone or a document, seven for a local number, five for a
    loosely written one, a four-digit year for a birth date) is not tried.
    """
    if _YEAR.search(folded) and _BIRTH_HINT.search(folded):
        for m in _BIRTH_DATE.finditer(folded):
            add(95, m, "birthdate")
    if digits >= 5:
        _find_local(folded, digits, add)
    if digits < 10:
        return
    lowered = folded.lower()
    if any(marker in lowered for marker in _LINK_PHONE_MARKERS):
        for m in _LINK_PHONE.finditer(folded):
            add(300, m, "phone", 1)
    for m in _SNILS.finditer(folded):
        number = re.sub(r"\D", "", m.group())
        if _context(folded, m.start(), _SNILS_CONTEXT, 30):
            add(90, m, "snils")
        elif m.group(1) and snils_valid(number):
            add(65, m, "snils")
        elif snils_valid(number):
            add(35, m, "snils")
    for m in _PASSPORT.finditer(folded):
        if _context(folded, m.start(), _PASSPORT_CONTEXT, 40):
            add(85, m, "passport")
    for m in _LONG.finditer(folded):
        if _context(folded, m.start(), _INN_CONTEXT, 15):
            add(80, m, "inn")
        elif len(m.group()) == 12 and inn_valid(m.group()):
            add(40, m, "inn")  # a person's ИНН; ten digits are an organisation's
    for m in _CARD.finditer(folded):
        if _is_card(folded, m):
            add(70, m, "card")
    for m in _PHONE.finditer(folded):
        raw = m.group()
        if raw.startswith("7") and not re.match(r"7[\s\-.(]{0,3}9", raw):
            continue  # a bare 7 starts a phone only before a mobile code
        # 79 000 000 000 is a sum
        if not _MONEY_GROUPS.fullmatch(raw) and not _is_service(folded, m):
            add(60, m, "phone")
    for m in _MOBILE.finditer(folded):
        if not _MONEY_GROUPS.fullmatch(m.group()):
            add(55, m, "phone")


def _is_service(folded: str, m: re.Match[str]) -> bool:
    """A number of a public service: toll-free, or named as a hotline, a duty desk …"""
    return bool(_TOLL_FREE.match(m.group()) or _context(folded, m.start(), _SERVICE_CONTEXT, 30))


def _find_local(folded: str, digits: int, add: Callable[..., None]) -> None:
    """Local phone numbers («22-33-44», «123-45-67») in ``folded``."""
    if digits >= 7:
        for m in _LOCAL.finditer(folded):
            if not _is_service(folded, m):
                add(50, m, "phone")
    for m in _LOCAL_LOOSE.finditer(folded):
        if _context(folded, m.start(), _PHONE_CONTEXT, 30) and not _is_service(folded, m):
            add(45, m, "phone")


def mask_personal_data(text: str) -> str:
    """``text`` with personal data replaced by «[телефон]», «[e-mail]», «[СНИЛС]» …"""
    spans = find_personal_data(text)
    return apply_spans(text, spans) if spans else text


# obscenity ------------------------------------------------------------------------
# Latin letters and digits that stand in for Cyrillic ones inside a Cyrillic word.
_LOOKALIKE = str.maketrans("abcehkmnoprtuxyi0364@", "авсенкмпоргтихуиозбча")
_TRANSLIT_MULTI = (
    ("shch", "щ"), ("sch", "щ"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("kh", "х"),
    ("ts", "ц"), ("ya", "я"), ("ja", "я"), ("yu", "ю"), ("ju", "ю"), ("yo", "е"),
    ("jo", "е"), ("ye", "е"),
)  # fmt: skip
_TRANSLIT = str.maketrans("abcdefghijklmnopqrstuvwxz'036", "абцдефгхийклмнопкрстуввхзьозб")
_WORD = re.compile(r"(?:[^\W_]|\*)+")
_WORD_OR_STAR = re.compile(r"[\w*]+")  # the same words, faster, in a text without «_»
_SQUEEZE = re.compile(r"(\w)\1+")
_LAT_OR_DIGIT = re.compile(r"[a-z\d]")
_CYR = re.compile(r"[а-я]")
_LAT = re.compile(r"[a-z]")


def _translit(word: str) -> str:
    for a, b in _TRANSLIT_MULTI:
        word = word.replace(a, b)
    word = re.sub(r"(?<=[аеиоуыэюяaeiou])y", "й", word)
    return word.replace("y", "ы").translate(_TRANSLIT)


def _readings(word: str) -> list[str]:
    """The Cyrillic readings of one word, normalised as the lexicon expects."""
    w = word.lower().replace("ё", "е")
    if _CYR.search(w):
        if _LAT_OR_DIGIT.search(w):
            mapped = w.translate(_LOOKALIKE)
            forms = [mapped, _translit(w)] if _LAT.search(mapped) else [mapped]
        else:
            forms = [w]
    elif _LAT.search(w):
        forms = [w.translate(_LOOKALIKE), _translit(w)]
    else:
        return []
    return [_squeezed(f) for f in forms]


def _squeezed(word: str) -> str:
    """``word`` with every run of one letter made one letter («ссука» → «сука»)."""
    return word if _SQUEEZE.search(word) is None else _SQUEEZE.sub(_first_group, word)


def _first_group(m: re.Match[str]) -> str:
    return m.group(1)


@attrs.frozen
class _Root:
    name: str
    patterns: tuple[re.Pattern[str], ...]
    exceptions: tuple[re.Pattern[str], ...]

    def matches(self, reading: str) -> bool:
        return any(p.search(reading) for p in self.patterns) and not any(
            e.search(reading) for e in self.exceptions
        )


class ObsceneLexicon:
    """Finds and masks obscene words; built from ``tsur/data/lexicon/obscene.toml``.

    Each distinct word is judged once and remembered (a bounded cache), so
    masking costs one dictionary lookup per word on a warm cache.
    """

    def __init__(
        self, roots: Sequence[_Root], latin_exceptions: Iterable[str] = (), cache_size: int = 65536
    ) -> None:
        self.roots = tuple(roots)
        self.latin_exceptions = frozenset(w.lower() for w in latin_exceptions)
        self._judge = functools.lru_cache(maxsize=cache_size)(self._judge_word)
        # One alternation of every root pattern: most words match none, and one
        # search in C rules them out before the roots are tried one by one.
        flags = {p.flags for r in self.roots for p in r.patterns}
        self._any_root: re.Pattern[str] | None = None
        if len(flags) == 1:
            alternation = "|".join(f"(?:{p.pattern})" for r in self.roots for p in r.patterns)
            self._any_root = re.compile(alternation, flags.pop())

    @classmethod
    def load(cls, path: str | Path | None = None) -> ObsceneLexicon:
        """The bundled lexicon, or the TOML file at ``path`` (same format)."""
        data = load_lexicon(path if path is not None else "obscene")
        label = str(path) if path is not None else "tsur/data/lexicon/obscene.toml"
        roots = []
        problems = []
        for i, entry in enumerate(data.get("root", [])):
            if not isinstance(entry, dict) or not entry.get("patterns"):
                problems.append((f"root[{i}]", "needs a name and a non-empty list of patterns"))
                continue
            where = f"root[{i}]"
            patterns = string_list(entry, "patterns", path=label, where=where)
            exceptions = string_list(entry, "exceptions", path=label, where=where)
            roots.append(
                _Root(
                    str(entry.get("name", f"root {i}")),
                    compile_patterns(patterns, path=label, key=f"{where}.patterns"),
                    compile_patterns(exceptions, path=label, key=f"{where}.exceptions"),
                )
            )
        if problems or not roots:
            raise ConfigError(
                "obscene lexicon is incomplete", path=label, problems=problems or [("", "no roots")]
            )
        return cls(roots, string_list(data, "latin_exceptions", path=label, where="lexicon"))

    def _judge_word(self, word: str) -> str | None:
        if "*" in word:
            return "*" if _self_censored(word) else None
        if not _CYR.search(word) and word.lower() in self.latin_exceptions:
            return None
        any_root = self._any_root
        for reading in _readings(word):
            if any_root is not None and any_root.search(reading) is None:
                continue
            for root in self.roots:
                if root.matches(reading):
                    return root.name
        return None

    def root_of(self, word: str) -> str | None:
        """The root family an obscene ``word`` belongs to (``"*"`` if self-censored), else None."""
        return self._judge(word)

    def is_obscene(self, word: str) -> bool:
        """Whether ``word`` is obscene."""
        return self._judge(word) is not None

    def find(self, text: str, *, skip: Sequence[tuple[int, int]] = ()) -> list[Span]:
        """Obscene words in ``text`` as spans masked «х**»; links and e-mails are skipped."""
        # Each distinct word is judged once (and remembered across texts): a
        # clean text costs one pass of the word pattern and a lookup per word.
        judge = self._judge
        words = (_WORD if "_" in text else _WORD_OR_STAR).findall(text)
        if not any(judge(w) is not None for w in set(words) if _judged(w)):
            return []
        protected = list(skip) + [m.span() for m in _URL.finditer(text)]
        if "@" in text:
            protected += [m.span() for m in _EMAIL.finditer(text)]
        spans = []
        for m in _WORD.finditer(text):
            word = m.group()
            if not _judged(word) or judge(word) is None:
                continue
            start, end = m.span()
            if any(start < e and s < end for s, e in protected):
                continue
            spans.append(Span(start, end, "obscene", word[0] + "*" * (len(word) - 1)))
        return spans

    def mask(self, text: str) -> Masked:
        """``text`` with every obscene word masked."""
        spans = self.find(text)
        return Masked(apply_spans(text, spans), tuple(spans))


def _judged(word: str) -> bool:
    """Whether ``word`` is long enough to judge: three letters, or any with an asterisk."""
    return len(word) >= 3 or "*" in word


def _self_censored(word: str) -> bool:
    """«бл**», «х*р», «п***ц»: letters with asterisks inside or at the end.

    A single trailing asterisk after a whole word («стоимость*») is a
    footnote mark, not a hidden word.
    """
    if not word[0].isalpha() or not any(ch.isalpha() for ch in word):
        return False
    stars = word.count("*")
    letters = len(word) - stars
    return not (stars == 1 and word.endswith("*") and letters >= 4)


@functools.lru_cache(maxsize=1)
def default_obscene_lexicon() -> ObsceneLexicon:
    """The bundled obscene lexicon, loaded once per process."""
    return ObsceneLexicon.load()


def mask_text(
    text: str,
    *,
    personal_data: bool = True,
    obscenity: bool = True,
    lexicon: ObsceneLexicon | None = None,
) -> Masked:
    """Mask personal data, then obscene words; spans refer to ``text``."""
    spans: list[Span] = find_personal_data(text) if personal_data else []
    if obscenity:
        lex = lexicon or default_obscene_lexicon()
        spans += lex.find(text, skip=[(s.start, s.end) for s in spans])
    if not spans:
        return Masked(text)
    spans.sort(key=lambda s: s.start)
    return Masked(apply_spans(text, spans), tuple(spans))


def mask_citizen_text(text: str) -> str:
    """A citizen's words as they may be stored for display or leave the engine.

    Cut to :data:`MAX_TEXT_CHARS`, personal data and obscene words masked:
    for what citizens write outside a message (a rating's comment, the
    reason they give for returning an answer).
    """
    return mask_text(text[:MAX_TEXT_CHARS]).text


def masked_stored_text(text: str, verdicts: Any) -> str:
    """A stored message's text as it may be shown or learnt from.

    ``verdicts`` are the moderation verdicts stored with the message (dicts
    with ``action`` and ``masked_text``). The last ``mask`` verdict's text is
    taken (a length cut comes before the masking filter's verdict, and its
    text is the raw cut), or the text itself when there is none; either is
    masked once more here, so that a region that switched the masking
    filter off, or a message read before masking was recorded, still gives
    no personal data away.
    """
    masks = [
        v["masked_text"]
        for v in (verdicts if isinstance(verdicts, list) else ())
        if isinstance(v, dict)
        and v.get("action") == "mask"
        and isinstance(v.get("masked_text"), str)
    ]
    return mask_citizen_text(masks[-1] if masks else text)
