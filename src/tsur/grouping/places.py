"""The places a message names, and the words that say what its problem is.

Place keys are read from the lemmatised text and the address field:
``{"street": "революционный", "house": "13", "школа": "77", "route": "41"}``
— a street (after a marker such as «ул.», «проспект», or a capitalised
word right before a house number), a house, numbered objects (school
№ 77, polyclinic № 3, bus route 41). :class:`Places` holds what a region
adds: its place names, which say where and not what, are kept out of the
words compared between reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tsur.region import Region
from tsur.text.normalize import STOP_WORDS, Lemmatizer, Text

__all__ = ["ADDRESS_WORDS", "QUALIFIER_KEYS", "Places", "place_keys"]

#: Place keys that only tell two places apart (a street's other name words and its kind):
#: never a place of their own, never a reason to compare a message with an incident.
QUALIFIER_KEYS = frozenset({"street_name", "street_kind"})

#: Words of addresses («ул.», «дом», «район» …): they say where, not what.
ADDRESS_WORDS = frozenset(
    [
        "ул",
        "улица",
        "д",
        "дом",
        "кв",
        "квартира",
        "г",
        "город",
        "гор",
        "р-н",
        "район",
        "п",
        "пос",
        "поселок",
        "село",
        "с",
        "деревня",
        "дер",
        "пр",
        "проспект",
        "пр-т",
        "шоссе",
        "ш",
        "бульвар",
        "б-р",
        "переулок",
        "пер",
        "область",
        "обл",
        "микрорайон",
        "мкр",
    ]
)

#: The most words of a message (or an incident) compared between reports.
MAX_WORDS = 60


def informative(
    words: Iterable[str], limit: int = MAX_WORDS, generic: frozenset[str] = frozenset()
) -> frozenset[str]:
    """At most ``limit`` of ``words``, the ones that say most about a problem.

    When there are more, numbers and ``generic`` words go first, then the
    shortest words: a long lemma («водоотведение», «мусоропровод») is
    rarer, and tells one problem from another better than «быть» or «год».
    Ties go by the alphabet, so the choice never depends on the order.
    """
    kept = frozenset(words)
    if len(kept) <= limit:
        return kept
    ranked = sorted(kept, key=lambda w: (w[:1].isdigit() or w in generic, -len(w), w))
    return frozenset(ranked[:limit])


_STREET_MARKERS = frozenset(
    [
        "ул",
        "улица",
        "проспект",
        "пр",
        "пр-т",
        "пр-кт",
        "просп",
        "шоссе",
        "бульвар",
        "б-р",
        "бул",
        "переулок",
        "пер",
        "проезд",
        "площадь",
        "пл",
        "набережная",
        "наб",
        "микрорайон",
        "мкр",
        "ш",
        "тракт",
        "аллея",
        "тупик",
    ]
)
#: Markers of a side street: «пер. Ленина» is not «пр. Ленина» (a prospekt) nor «ул. Ленина».
_SIDE_STREET_MARKERS = frozenset(["переулок", "пер", "проезд", "тупик"])
_HOUSE_MARKERS = frozenset({"дом", "д"})
_BLOCK_MARKERS = frozenset({"корп", "корпус", "к", "строение", "стр"})
_CROSSING_MARKERS = frozenset({"перекресток", "пересечение", "угол"})
_STOP_MARKERS = frozenset({"остановка", "ост", "остановочный"})
# Words that are never a street's name, next to a marker («бульвар после снегопада»).
_NOT_STREETS = STOP_WORDS | frozenset(
    ["после", "до", "перед", "за", "из", "от", "к", "по", "при", "через", "между", "около"]
)
_SKIP = frozenset(
    ["в", "во", "у", "на", "около", "возле", "напротив", "район", "районе", "рядом", "с", "со", "№"]
)
# Numbered objects, by lemma; transport words share one key: «автобус 41» is «маршрут 41».
_OBJECTS = {
    "школа": "школа",
    "сош": "школа",
    "оош": "школа",
    "лицей": "школа",
    "гимназия": "школа",
    "сад": "сад",
    "садик": "сад",
    "детсад": "сад",
    "доу": "сад",
    "мдоу": "сад",
    "поликлиника": "поликлиника",
    "больница": "больница",
    "амбулатория": "поликлиника",
    "автобус": "route",
    "маршрут": "route",
    "маршрутка": "route",
    "троллейбус": "route",
    "трамвай": "route",
    "котельная": "котельная",
    "подстанция": "подстанция",
    "мфц": "мфц",
}
#: how citizens call a bus route by its number: «девятка не ходит», «ждём пятёрку»
_ROUTE_NICKNAMES = {
    "двойка": "2",
    "тройка": "3",
    "четверка": "4",
    "пятерка": "5",
    "шестерка": "6",
    "семерка": "7",
    "восьмерка": "8",
    "девятка": "9",
    "десятка": "10",
}
_UNIT_ORDINALS = [
    "первый",
    "второй",
    "третий",
    "четвертый",
    "пятый",
    "шестой",
    "седьмой",
    "восьмой",
    "девятый",
    "десятый",
    "одиннадцатый",
    "двенадцатый",
    "тринадцатый",
    "четырнадцатый",
    "пятнадцатый",
    "шестнадцатый",
    "семнадцатый",
    "восемнадцатый",
    "девятнадцатый",
]
_TENS = [
    "двадцать",
    "тридцать",
    "сорок",
    "пятьдесят",
    "шестьдесят",
    "семьдесят",
    "восемьдесят",
    "девяносто",
]
_TENS_ORDINALS = [
    "двадцатый",
    "тридцатый",
    "сороковой",
    "пятидесятый",
    "шестидесятый",
    "семидесятый",
    "восьмидесятый",
    "девяностый",
]
#: spelled ordinals, by lemma: «пятидесятый» → 50; «двадцать шестой» adds the tens
SPELLED_ORDINALS = {
    **{w: i + 1 for i, w in enumerate(_UNIT_ORDINALS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS_ORDINALS)},
}
_SPELLED_TENS = {w: 20 + 10 * i for i, w in enumerate(_TENS)}
#: words that may name a route by themselves («девятка», «на пятидесятом»)
_BARE_ROUTE_WORDS = frozenset(_ROUTE_NICKNAMES) | frozenset(SPELLED_ORDINALS)
#: words that say a message is about a bus: a bare «50-го» or «девятка» is then a route
_TRANSPORT_WORDS = frozenset(
    [
        "автобус",
        "маршрут",
        "маршрутка",
        "троллейбус",
        "трамвай",
        "остановка",
        "рейс",
        "ходить",
        "приходить",
        "прийти",
        "ездить",
        "водитель",
        "перевозчик",
        "расписание",
    ]
)
#: the words that name each kind of numbered object (``route``: «автобус», «маршрут» …)
OBJECT_WORDS: dict[str, frozenset[str]] = {
    kind: frozenset(w for w, k in _OBJECTS.items() if k == kind) for kind in set(_OBJECTS.values())
}
# Parts of a building or a trip: «подъезд 2», «этаж 9» are never a street and a house.
_NOT_A_STREET_BEFORE_NUMBER = frozenset(
    [
        *_OBJECTS,
        *_HOUSE_MARKERS,
        *_BLOCK_MARKERS,
        *_CROSSING_MARKERS,
        "подъезд",
        "этаж",
        "квартира",
        "кв",
        "кабинет",
        "палата",
        "группа",
        "класс",
        "рейс",
        "номер",
        "остановка",
        "линия",
        "участок",
        "квартал",
        "палец",
        "улица",
        "телефон",
        "тел",
        "заявка",
        "обращение",
        "пункт",
        "статья",
        "мкд",
        "сообщение",
        "ноябрь",
        "октябрь",
        "декабрь",
        "январь",
        "февраль",
        "март",
        "апрель",
        "май",
        "июнь",
        "июль",
        "август",
        "сентябрь",
    ]
)
# A number followed by one of these is an amount, not a house.
_UNITS = (
    "год",
    "лет",
    "дне",
    "дня",
    "днях",
    "час",
    "мин",
    "сек",
    "руб",
    "рубл",
    "коп",
    "тыс",
    "млн",
    "процент",
    "раз",
    "день",
    "сут",
    "недел",
    "месяц",
    "мес",
    "этаж",
    "человек",
    "чел",
    "градус",
    "метр",
    "литр",
    "штук",
    "подъезд",
    "ноябр",
    "октябр",
    "декабр",
    "январ",
    "феврал",
    "март",
    "апрел",
    "июн",
    "июл",
    "август",
    "сентябр",
    "утра",
    "вечера",
    "ночи",
)

_SHORT_UNITS = frozenset(
    {"р", "м", "г", "гр", "ч", "т", "мая", "май", "км", "см", "кг", "шт", "мм", "л", "мин"}
)


def _is_unit(token: str) -> bool:
    """Whether ``token`` after a number makes it an amount («5 дней», «14 тыс», «15 мая»)."""
    return token in _SHORT_UNITS or token.startswith(_UNITS)


#: one token of the place reader: a word (hyphens inside), a number, or one sign
_PLACE_TOKEN = re.compile(r"[а-яёА-ЯЁa-zA-Z0-9]+(?:-[а-яёА-ЯЁa-zA-Z0-9]+)*|[^\w\s]")
_HOUSE = re.compile(r"\d{1,4}(?:[а-я]|к\d{1,2})?")
_SEPARATORS = frozenset({"и", "с", "/", "-", "–", "—", "x", "х"})
_QUOTES = frozenset({"«", "»", '"', "'", "“", "”", "„"})


def _is_number(token: str) -> bool:
    return bool(token) and token[0].isdigit() and len(token) <= 6


def _is_word(token: str) -> bool:
    return (
        bool(token)
        and not token[0].isdigit()
        and any(c.isalpha() for c in token)
        and token not in _NOT_STREETS
    )


def _ordinal(token: str) -> str | None:
    """«124», «6-я», «26-й», «50-го» → the number; None otherwise."""
    head = token.split("-", 1)[0]
    return head if head.isdigit() and len(head) <= 4 else None


class _Tok:
    """One token of the place reader: lower-cased, its lemma, and whether capitalised."""

    __slots__ = ("cap", "lemma", "low", "number", "word")

    def __init__(self, low: str, lemma: str, cap: bool) -> None:
        self.low = low
        self.lemma = lemma
        self.cap = cap
        self.word = low[0].isalpha()
        self.number = low[0].isdigit()


def _tokens(text: Text) -> list[_Tok]:
    lemma_of = dict(zip(text.tokens, text.lemmas, strict=False))
    get = lemma_of.get
    out: list[_Tok] = []
    for raw in _PLACE_TOKEN.findall(text.original):
        low = raw.lower()
        if "ё" in low:
            low = low.replace("ё", "е")
        out.append(_Tok(low, get(low, low), raw[0].isupper()))
    return out


def place_keys(
    text: Text,
    address: Text | None = None,
    *,
    not_streets: frozenset[str] = frozenset(),
    streets: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Street, house, crossroads, stop and numbered objects named in ``text`` (the address wins).

    Keys: ``street`` (the lemma of the last word of the street's name:
    «ул. Льва Яшина» and «Яшина 7» are both ``яшин``), ``street_name`` and
    ``street_kind`` when the text says them (the name's other words, «лев»;
    «переулок» or «улица» by the marker: two streets that differ in either
    are two places), ``house`` («5»,
    «86а», «12/1», «5к2» for «д. 5 корп. 2»), ``crossing`` (the two streets
    of «пересечение X и Y» or «X/Y», sorted, joined by «+»), ``stop`` (a bus
    stop's name), and numbered objects (``школа``, ``сад``, ``поликлиника``,
    ``route`` …). Without a street marker («ул.», «проспект» …), a
    capitalised word right before a house number («на Ново-Садовой 20»,
    «Щорса, 86») is read as the street, unless its lemma is in
    ``not_streets`` (the region's town names) or a stop word, or the number
    is followed by a unit («5 дней»); «на Революционной», «по Мира» with no
    number name a street without a house. ``streets``: the town's known
    streets (street keys); when given, a street without a marker must be one
    of them, and one named anywhere, capitalised, is read when nothing
    better is.
    """
    keys: dict[str, str] = {}
    for source in (text, address):
        if source is None:
            continue
        found = _read(_tokens(source), not_streets, streets)
        if source is address:
            keys.update(found)
        else:
            for k, v in found.items():
                keys.setdefault(k, v)
    return keys


def _street_word(t: _Tok, not_streets: frozenset[str]) -> bool:
    """Whether ``t`` can be a word of a street's name."""
    return (
        t.word
        and _is_word(t.low)
        and t.low not in _SKIP
        and t.lemma not in not_streets
        and t.lemma not in _STREET_MARKERS
        and t.low not in _STREET_MARKERS
        and t.lemma not in _NOT_A_STREET_BEFORE_NUMBER
        and t.lemma not in STOP_WORDS
    )


def _name(
    toks: Sequence[_Tok], j: int, not_streets: frozenset[str], *, capital: bool = False
) -> tuple[str, int] | None:
    """A street's name starting at ``j``: (the lemma of its last word, the index after it).

    «Ленина», «Льва Яшина», «40 лет Победы», «Ново-Садовой»: the first word
    may be lower-case, the next ones must be capitalised (so «улица Кирова
    снег» is «Кирова»); at most four tokens.
    """
    n = len(toks)
    while j < n and toks[j].low in {".", "№"}:
        j += 1
    last: str | None = None
    years = False
    k = j
    while k < n and k - j < 4:
        t = toks[k]
        if t.number and k == j and k + 1 < n and toks[k + 1].lemma in {"год", "лет", "летие"}:
            k += 2  # «40 лет Победы»: the next word must be capitalised
            years = True
            continue
        if _street_word(t, not_streets) and (t.cap or (last is None and not years and not capital)):
            last = t.lemma
            k += 1
            continue
        break
    if last is None:
        return None
    return last, k


def _qualified(keys: dict[str, str], toks: Sequence[_Tok], j: int, k: int, marker: str) -> None:
    """Set ``street_name`` and ``street_kind`` of the street named by ``toks[j:k]``.

    ``street_name``: the words of the name before its last one («Льва
    Толстого» → «лев»), so that «ул. Льва Толстого» and «ул. Алексея
    Толстого» are two streets while «ул. Толстого» may be either.
    ``street_kind``: «переулок» for a side street («пер.», «проезд»,
    «тупик»), «улица» for any other marker, so that «пер. Ленина» and
    «пр. Ленина» are two streets. A key is set only when the text says it;
    a message that does not is compatible with both.
    """
    words = [t.lemma for t in toks[j : k - 1] if t.word and not t.number and t.cap]
    if words:
        keys.setdefault("street_name", " ".join(words))
    if marker:
        keys.setdefault("street_kind", "переулок" if marker in _SIDE_STREET_MARKERS else "улица")


def _house(toks: Sequence[_Tok], j: int, limit: int = 4) -> tuple[str, int] | None:
    """A house number at ``j`` (after «,», «д.», «дом», «№»): «5», «86а», «12/1», «5к2»."""
    n = len(toks)
    k = j
    while k < n and k - j < limit:
        t = toks[k]
        if t.number:
            break
        if t.low in {",", ".", "№", ":"} or t.low in _HOUSE_MARKERS:
            k += 1
            continue
        return None
    else:
        return None
    if k >= n or not _HOUSE.fullmatch(toks[k].low):
        return None
    if k + 1 < n and _is_unit(toks[k + 1].low):
        return None
    if k + 1 < n and toks[k + 1].low == "-":
        return None  # «12-15 градусов», «6-я», a range
    house = toks[k].low
    k += 1
    # a letter apart («86 А»), a fraction («12/1»), a block («корп. 2», «к2»)
    if k + 1 < n and toks[k].low == "/" and toks[k + 1].number and len(toks[k + 1].low) <= 3:
        house += "/" + toks[k + 1].low
        k += 2
    elif k < n and toks[k].low in {"а", "б", "в", "г"} and house.isdigit() and toks[k].cap:
        house += toks[k].low
        k += 1
    m = k
    while m < n and toks[m].low in {",", "."}:
        m += 1
    if m + 1 < n and toks[m].low in _BLOCK_MARKERS:
        b = m + 1
        while b < n and toks[b].low == ".":
            b += 1
        if b < n and toks[b].number and len(toks[b].low) <= 2:
            house += "к" + toks[b].low
            k = b + 1
    return house, k


def _crossing(toks: Sequence[_Tok], j: int, not_streets: frozenset[str]) -> tuple[str, int] | None:
    """«X и Y», «X – Y», «X/Y», «ул. X и ул. Y» from ``j``: the two names sorted, joined."""
    n = len(toks)
    while j < n and (toks[j].low in _STREET_MARKERS or toks[j].low in {".", "улиц"}):
        j += 1
    first = _name(toks, j, not_streets)
    if first is None:
        return None
    a, k = first
    if k >= n or toks[k].low not in _SEPARATORS:
        return None
    k += 1
    marked = k < n and toks[k].low in _STREET_MARKERS
    while k < n and (toks[k].low in _STREET_MARKERS or toks[k].low == "."):
        k += 1
    second = _name(toks, k, not_streets, capital=not marked)
    if second is None or second[0] == a:
        return None
    b, k = second
    return "+".join(sorted((a, b))), k


def _stop_name(toks: Sequence[_Tok], j: int) -> str | None:
    """A bus stop's name after «остановка»: in quotes, or capitalised words."""
    n = len(toks)
    quoted = j < n and toks[j].low in _QUOTES
    if quoted:
        j += 1
    words: list[str] = []
    k = j
    while k < n and len(words) < 3:
        t = toks[k]
        if not t.word or (t.lemma in STOP_WORDS and not quoted):
            break
        if not quoted and not words and not t.cap:
            break
        words.append(t.lemma)
        k += 1
    return " ".join(words) if words else None


def _read(
    toks: Sequence[_Tok], not_streets: frozenset[str], streets: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Every place key of one text, read left to right; the first of each kind wins."""
    keys: dict[str, str] = {}
    n = len(toks)
    loose: str | None = None  # «на Революционной»: a street with no house, if none better
    bare: str | None = None  # «девятка», «50-го», «на пятидесятом»: a route, if none better
    i = 0
    while i < n:
        t = toks[i]
        low, lemma = t.low, t.lemma
        if bare is None and (lemma in _BARE_ROUTE_WORDS or (t.number and "-" in low)):
            bare = _bare_route(toks, i)
        if lemma in _CROSSING_MARKERS:
            found = _crossing(toks, i + 1, not_streets)
            if found is not None:
                keys.setdefault("crossing", found[0])
                i = found[1]
                continue
        if low in _STREET_MARKERS or lemma in _STREET_MARKERS:
            street: tuple[str, int] | None = None
            prev = toks[i - 1] if i > 0 else None
            before = (
                prev is not None
                and _street_word(prev, not_streets)
                and prev.lemma.endswith(("ый", "ий", "ой"))
            )
            if not before:
                street = _name(toks, i + 1, not_streets)
            if street is None and prev is not None and _street_word(prev, not_streets):
                street = (prev.lemma, i + 1)  # «Московское шоссе», «Приморский бульвар»
            if street is not None:
                k = street[1]
                if k < n and toks[k].low in _SEPARATORS and "crossing" not in keys:
                    marked = k + 1 < n and toks[k + 1].low in _STREET_MARKERS
                    other = _name(toks, k + 1 + marked, not_streets, capital=not marked)
                    if other is not None and other[0] != street[0]:
                        keys["crossing"] = "+".join(sorted((street[0], other[0])))
                        i = other[1]
                        continue
                if "street" not in keys:
                    keys["street"] = street[0]
                    marker = low if low in _STREET_MARKERS else lemma
                    _qualified(keys, toks, i + 1, k, marker)
                    house = _house(toks, k)
                    if house is not None:
                        keys.setdefault("house", house[0])
                        i = house[1]
                        continue
                i = max(i + 1, k)
                continue
        elif low in _HOUSE_MARKERS or lemma in _HOUSE_MARKERS:
            house = _house(toks, i + 1, 3)
            if house is not None:
                keys.setdefault("house", house[0])
                k = house[1]
                # «дом 5 по Ленина», «дома № 202 по ул. Ленинской»
                if k + 1 < n and toks[k].low == "по" and "street" not in keys:
                    marker = toks[k + 1].low if toks[k + 1].low in _STREET_MARKERS else ""
                    start = k + 2 if marker else k + 1
                    if marker:
                        street = _name(toks, start, not_streets)
                    else:
                        street = _name(toks, start, not_streets) if toks[k + 1].cap else None
                    if street is not None:
                        keys["street"] = street[0]
                        _qualified(keys, toks, start, street[1], marker)
                        i = street[1]
                        continue
                i = k
                continue
        elif lemma in _OBJECTS or low in _OBJECTS:
            kind = _OBJECTS.get(lemma) or _OBJECTS[low]
            number = None
            j = i + 1
            while j < n and j - i <= 2 and toks[j].low in {"№", ".", ":"}:
                j += 1
            if j < n and toks[j].number and j - i <= 2:
                number = _ordinal(toks[j].low)
            if number is None and i > 0 and toks[i - 1].number:
                number = _ordinal(toks[i - 1].low)  # «в 124 школе», «26-й маршрут»
            if number is None and i > 0:
                number = _spelled(toks, i - 1)  # «пятидесятый автобус», «двадцать шестой маршрут»
            if number:
                keys.setdefault(kind, number)
        elif lemma in _STOP_MARKERS or low in _STOP_MARKERS:
            name = _stop_name(toks, i + 1)
            if name:
                keys.setdefault("stop", name)
        elif low == "д" and i + 2 < n and toks[i + 1].low == "/" and toks[i + 2].low == "с":
            house = _house(toks, i + 3, 2)
            if house is not None:
                keys.setdefault("сад", house[0])
        elif t.word and (t.cap or low in {"на", "по"}) and "street" not in keys:
            # a bare address: «Ленинская 202», «Солнечной,53», «АВТОСТРОИТЕЛЕЙ 68»
            known = not streets or lemma in streets
            if t.cap and known and _street_word(t, not_streets) and i + 1 < n:
                house = _house(toks, i + 1, 3)
                if house is not None and not (i > 0 and toks[i - 1].low in _OBJECTS):
                    nxt = toks[i + 1]
                    if nxt.number or nxt.low in {",", "д", "дом", "."}:
                        keys["street"] = lemma
                        keys.setdefault("house", house[0])
                        i = house[1]
                        continue
            if (
                t.cap
                and loose is None
                and i + 2 < n
                and toks[i + 1].low == "от"
                and (toks[i + 2].cap or toks[i + 2].low in _STREET_MARKERS)
                and _street_word(t, not_streets)
                and (not streets or lemma in streets)
            ):
                loose = lemma  # «Революционная от Юбилейной до 40 лет Победы»
            if streets and loose is None and t.cap and lemma in streets:
                loose = lemma  # a known street, named anywhere
            if low in {"на", "по"} and i + 1 < n and loose is None:
                nxt = toks[i + 1]
                if (
                    nxt.cap
                    and _street_word(nxt, not_streets)
                    and (not streets or nxt.lemma in streets)
                ):
                    loose = nxt.lemma
            if t.cap and i + 2 < n and toks[i + 1].low == "/":
                found = _crossing(toks, i, not_streets)
                if found is not None:
                    keys.setdefault("crossing", found[0])
                    i = found[1]
                    continue
        elif t.number and i + 3 < n and toks[i + 1].lemma in {"год", "лет"}:
            found = _crossing(toks, i, not_streets)  # «40 лет Победы/Юбилейная»
            if found is not None:
                keys.setdefault("crossing", found[0])
                i = found[1]
                continue
        i += 1
    if "street" not in keys and "crossing" not in keys and loose is not None:
        keys["street"] = loose
    if bare is not None and "route" not in keys and any(t.lemma in _TRANSPORT_WORDS for t in toks):
        keys["route"] = bare
    return keys


def _spelled(toks: Sequence[_Tok], i: int) -> str | None:
    """The number of a spelled ordinal ending at ``i``: «пятидесятый» 50, «двадцать шестой» 26."""
    value = SPELLED_ORDINALS.get(toks[i].lemma)
    if value is None:
        return None
    if value < 10 and i > 0 and toks[i - 1].lemma in _SPELLED_TENS:
        value += _SPELLED_TENS[toks[i - 1].lemma]
    return str(value)


#: words that may follow a bare route number: «50-го опять нет», «девятка снова не пришла»
_AFTER_ROUTE = STOP_WORDS | frozenset(["опять", "снова", "вообще", "сегодня", "утром", "вечером"])
#: before a bare number, a date or a time («с 15-го», «до 20-го»), not a route
_NOT_ROUTE_BEFORE = frozenset(["с", "со", "до", "по", "к", "от", "после", "перед", "за"])


def _bare_route(toks: Sequence[_Tok], i: int) -> str | None:
    """A route named with no «автобус» or «маршрут» at ``i``, if it is one.

    «Девятка не ходит», «ждём пятёрку»: a number's nickname. «50-го опять
    нет», «уехала на пятидесятом.»: an ordinal that qualifies no word after
    it (the end, a sign or a stop word follow; «5-й день», «на первом этаже»
    are no routes) and, spelled, follows «на» or «в». The caller keeps it
    only when the message speaks of buses.
    """
    t = toks[i]
    nickname = _ROUTE_NICKNAMES.get(t.lemma)
    if nickname is not None:
        return nickname
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if nxt is not None and nxt.word and nxt.low not in _AFTER_ROUTE:
        return None  # «5-й день», «первый рейс»: the number of something else
    if t.number:
        prev = toks[i - 1].low if i > 0 else ""
        return None if prev in _NOT_ROUTE_BEFORE else _ordinal(t.low)
    number = _spelled(toks, i)
    start = i - 1 if number is not None and int(number) > 20 and number[-1] != "0" else i
    if start > 0 and toks[start - 1].low in {"на", "в"}:
        return number
    return None


class Places:
    """A region's reading of places: its place names, and the keys and words of a text.

    Built once per region and lemmatiser; :meth:`keys` and :meth:`words`
    are what the engine stores with an analysis and compares between
    reports.
    """

    def __init__(self, region: Region, lemmatizer: Lemmatizer) -> None:
        names = set(ADDRESS_WORDS) | set(_ROUTE_NICKNAMES)  # «девятка» names a route
        towns: set[str] = set()
        for t in region.territories.values():
            for name in (t.name, *t.variants):
                phrase = lemmatizer.phrase(name)
                names.update(phrase)
                # «Самара 5» is no address, «Ленинская 5» and «Самарская 5» are
                if len(phrase) == 1 and not phrase[0].endswith(("ый", "ий", "ой")):
                    towns.add(phrase[0])
        #: lemmas of the region's place names and of address words
        self.place_lemmas = frozenset(names)
        #: one-word town names, never read as a street
        self.towns = frozenset(towns)
        #: the known streets of each municipality (``pipeline.streets``), as street keys
        self.streets: dict[str, frozenset[str]] = {}
        for mid, listed in region.config.pipeline.streets.items():
            keys: set[str] = set()
            for name in listed:
                words = [w for w in lemmatizer.phrase(name) if w not in _STREET_MARKERS]
                words = [w for w in words if not w[:1].isdigit() and w not in {"год", "лет"}]
                if words:
                    keys.add(words[-1])
            self.streets[mid] = frozenset(keys)
        self.region = region

    def keys(
        self, text: Text, address: Text | None = None, territory: str | None = None
    ) -> dict[str, str]:
        """The places ``text`` and ``address`` name (street, house, numbered objects).

        In a municipality with a list of streets (``pipeline.streets``), a
        street without a marker is read only among them, and a known street
        named with no house («Революционная от Юбилейной до …») is read too.
        """
        mid = self.region.municipality_of(territory) if territory else None
        streets = self.streets.get(mid, frozenset()) if mid else frozenset()
        return place_keys(text, address, not_streets=self.towns, streets=streets)

    def words(self, text: Text) -> frozenset[str]:
        """The content words that say what the problem is (place names left out)."""
        return informative(text.content_lemmas - self.place_lemmas)
