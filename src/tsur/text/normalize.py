"""Normalisation of social-network Russian and cached lemmatisation.

``normalize(raw)`` cleans markup (VK mentions ``[id1|Имя]``, URLs, hashtags,
emoji), folds ``ё`` to ``е``, repairs Latin look-alike letters inside
Cyrillic words, squeezes letters repeated for emphasis and lower-cases.
:class:`Lemmatizer` wraps pymorphy3 behind a dict cache: lemmatisation is
the hot path and a region's vocabulary is small, so almost every lookup is
a cache hit after the first few hundred messages.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "STOP_WORDS",
    "Lemmatizer",
    "Text",
    "get_lemmatizer",
    "normalize",
    "plain_mentions",
    "tokenize",
]

_VK_MENTION = re.compile(r"\[(?:id|club|public|event)\d{1,20}\|([^\]]{0,200})\]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")
_HASHTAG = re.compile(r"#(\w+)")
_REPEATS = re.compile(r"([а-яa-z])\1{2,}")
_TOKEN = re.compile(r"[а-яa-z0-9]+(?:-[а-яa-z0-9]+)*")
_CYR = re.compile(r"[а-я]")
_LAT = re.compile(r"[a-z]")

# Latin letters that look like Cyrillic ones, as spammers and fast typists use them.
_LOOKALIKE = str.maketrans(
    {
        "a": "а",
        "b": "в",
        "c": "с",
        "e": "е",
        "h": "н",
        "k": "к",
        "m": "м",
        "o": "о",
        "p": "р",
        "t": "т",
        "x": "х",
        "y": "у",
        "u": "и",
        "r": "г",
    }
)

#: Words that carry no topic (prepositions, pronouns, particles, politeness).
STOP_WORDS: frozenset[str] = frozenset(
    [
        "а",
        "без",
        "более",
        "бы",
        "был",
        "была",
        "были",
        "было",
        "быть",
        "в",
        "вам",
        "вас",
        "весь",
        "во",
        "вот",
        "все",
        "всего",
        "всех",
        "вы",
        "где",
        "да",
        "даже",
        "для",
        "до",
        "его",
        "ее",
        "ей",
        "ему",
        "если",
        "есть",
        "еще",
        "же",
        "за",
        "здесь",
        "и",
        "из",
        "или",
        "им",
        "их",
        "к",
        "как",
        "какой",
        "когда",
        "кто",
        "ли",
        "либо",
        "мы",
        "на",
        "над",
        "надо",
        "наш",
        "не",
        "него",
        "нее",
        "нет",
        "ни",
        "них",
        "но",
        "ну",
        "о",
        "об",
        "однако",
        "он",
        "она",
        "они",
        "оно",
        "от",
        "очень",
        "по",
        "под",
        "после",
        "при",
        "про",
        "с",
        "со",
        "так",
        "также",
        "такой",
        "там",
        "те",
        "тем",
        "то",
        "того",
        "тоже",
        "той",
        "только",
        "том",
        "тот",
        "тут",
        "ты",
        "у",
        "уже",
        "хотя",
        "чем",
        "что",
        "чтобы",
        "чье",
        "эта",
        "эти",
        "это",
        "этот",
        "я",
        "мой",
        "свой",
        "который",
        "этого",
        "этой",
        "сам",
        "себя",
        "меня",
        "мне",
        "нам",
        "нас",
        "вами",
        "ваш",
        "уважаемый",
        "здравствовать",
        "добрый",
        "день",
        "спасибо",
        "пожалуйста",
        "просить",
        "помочь",
        "почему",
        "сегодня",
        "вчера",
        "уж",
        "ли",
        "бы",
        "ведь",
        "вообще",
        "просто",
        "всё",
        "ещё",
        "можно",
        "нужно",
    ]
)


#: Word forms pymorphy3 reads as a rarer word than citizens mean («ямы» → «ям»,
#: a coaching inn); in appeals they are almost always the common noun.
LEMMA_OVERRIDES: dict[str, str] = {
    "ямы": "яма",
    "ям": "яма",
    "ямами": "яма",
    "ямах": "яма",
    "ямам": "яма",
    "люков": "люк",
    "проводов": "провод",
    "иву": "ива",
    "ивы": "ива",
    "кочки": "кочка",
    "кочек": "кочка",
    "стоков": "сток",
}


def plain_mentions(raw: str) -> str:
    """VK mention markup as the reader sees it: ``[club1|Администрация]`` → «Администрация»."""
    return _VK_MENTION.sub(r"\1", raw) if "[" in raw else raw


def normalize(raw: str) -> str:
    """Clean a raw message into lower-case plain words (see module docstring)."""
    text = raw
    # Cheap membership tests skip the regular expressions most texts do not need.
    if "[" in text:
        text = _VK_MENTION.sub(r"\1", text)
    if "://" in text or "www." in text or "WWW." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub(r"\1", text)
    text = text.lower().replace("ё", "е")
    return _REPEATS.sub(r"\1", text)


def _fix_mixed(token: str) -> str:
    if _LAT.search(token) and _CYR.search(token):
        return token.translate(_LOOKALIKE)
    return token


def tokenize(normalized: str) -> list[str]:
    """Split normalised text into word tokens, repairing mixed-script words."""
    tokens = _TOKEN.findall(normalized)
    if _LAT.search(normalized) is None:
        return tokens
    return [_fix_mixed(t) for t in tokens]


class Lemmatizer:
    """pymorphy3 lemmatisation with an unbounded per-word cache.

    Thread-safe for reads; the cache only grows with distinct words
    (a region sees tens of thousands, a few MB).
    """

    def __init__(self) -> None:
        import pymorphy3

        self._morph = pymorphy3.MorphAnalyzer(lang="ru")
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def cache_size(self) -> int:
        """Number of distinct words seen so far."""
        return len(self._cache)

    def lemma(self, word: str) -> str:
        """Dictionary form of one lower-case word."""
        try:
            return self._cache[word]
        except KeyError:
            pass
        if word.isdigit() or not _CYR.search(word):
            lemma = word
        elif word in LEMMA_OVERRIDES:
            lemma = LEMMA_OVERRIDES[word]
        else:
            lemma = self._morph.parse(word)[0].normal_form.replace("ё", "е")
        with self._lock:
            self._cache[word] = lemma
        return lemma

    def lemmas(self, tokens: Iterable[str]) -> list[str]:
        """Dictionary forms of ``tokens``, in order."""
        cache = self._cache
        out = []
        for t in tokens:
            lem = cache.get(t)
            out.append(lem if lem is not None else self.lemma(t))
        return out

    def phrase(self, phrase: str) -> tuple[str, ...]:
        """Lemmas of a keyword phrase as written in a config file."""
        return tuple(self.lemmas(tokenize(normalize(phrase))))


@functools.lru_cache(maxsize=1)
def get_lemmatizer() -> Lemmatizer:
    """The process-wide lemmatizer (created on first use, ~0.1 s)."""
    return Lemmatizer()


@attrs.frozen
class Text:
    """A message's text as the pipeline sees it."""

    original: str
    tokens: tuple[str, ...]
    lemmas: tuple[str, ...]

    @functools.cached_property
    def lemma_set(self) -> frozenset[str]:
        """Distinct lemmas."""
        return frozenset(self.lemmas)

    @functools.cached_property
    def token_set(self) -> frozenset[str]:
        """Distinct tokens."""
        return frozenset(self.tokens)

    @functools.cached_property
    def bigrams(self) -> frozenset[tuple[str, str]]:
        """Distinct pairs of neighbouring lemmas: most phrases are two words long."""
        lem = self.lemmas
        return frozenset(itertools.pairwise(lem))

    @functools.cached_property
    def content_lemmas(self) -> frozenset[str]:
        """Distinct lemmas minus stop words and one-letter tokens."""
        return frozenset(x for x in self.lemmas if x not in STOP_WORDS and len(x) > 1)

    @classmethod
    def from_raw(cls, raw: str, lemmatizer: Lemmatizer | None = None) -> Text:
        """Normalise, tokenise and lemmatise ``raw``."""
        lem = lemmatizer or get_lemmatizer()
        tokens = tokenize(normalize(raw))
        return cls(original=raw, tokens=tuple(tokens), lemmas=tuple(lem.lemmas(tokens)))

    def contains(self, phrase: Sequence[str]) -> bool:
        """Whether the lemma sequence ``phrase`` occurs contiguously."""
        n = len(phrase)
        if n == 0:
            return False
        if n == 1:
            return phrase[0] in self.lemma_set
        bigrams = self.bigrams
        if (phrase[0], phrase[1]) not in bigrams:
            return False
        if n == 2:
            return True
        if any((phrase[i], phrase[i + 1]) not in bigrams for i in range(1, n - 1)):
            return False
        lem = self.lemmas
        target = tuple(phrase)
        return any(lem[i : i + n] == target for i in self.positions[phrase[0]])

    @functools.cached_property
    def positions(self) -> dict[str, list[int]]:
        """Where each lemma occurs (indices into ``lemmas``)."""
        out: dict[str, list[int]] = {}
        for i, lemma in enumerate(self.lemmas):
            out.setdefault(lemma, []).append(i)
        return out

    def positions_of_token(self, token: str) -> int | None:
        """Where the token ``token`` first occurs (an index into ``tokens`` and ``lemmas``)."""
        try:
            return self.tokens.index(token)
        except ValueError:
            return None
