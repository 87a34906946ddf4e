"""Built-in moderation filters: flood, advertising, "not an appeal", masking.

Registered through :func:`register_moderation_filters` as four filters a
region can switch off one by one with ``[pipeline] disabled_plugins``:

``flood`` (priority 30)
    rejects messages with no words to act on («+», «ап», «👍👍👍», «....»)
    unless they carry attachments, and the same text repeated by the same
    author within a short window (``"flood: no words to act on"``,
    ``"flood: repeated message"``).
``spam`` (20)
    rejects advertising (``"advertising or spam"``) when its markers
    outweigh the signs of a real complaint: «заплатили 2 500 рублей, а
    мусор не вывозят» mentions money and stays an appeal.
``not-an-appeal`` (10)
    recognises thanks and praise that ask for nothing («Спасибо,
    отремонтировали дорогу», «Начали ремонт кровли. Ну наконец-то»): a
    ``thanks`` verdict (``"благодарность"``) — no incident is made, the
    thanks is credited to the executor it concerns; rejects greetings and
    congratulations (``"not an appeal: greetings"``) and reposted news
    (``"not an appeal: news repost"``). «Спасибо, но яма так и не
    заделана» is an appeal; so is any question.
``masking`` (0)
    one ``mask`` verdict whose text has personal data replaced («[телефон]»,
    «[e-mail]», «[паспорт]», «[СНИЛС]», «[ИНН]», «[карта]», «[ФИО]»,
    «[квартира]», «[дата рождения]») and obscene
    words masked («х**»); the reason lists what was masked. Obscenity is
    never a reason to reject: a rude citizen still has a real problem. From
    ``abuse_threshold`` obscene words on, a ``flag`` sends the incident to
    a curator first. Both maskers live in one filter so that their work
    composes into a single summary text; to switch off one of them, list
    ``"personal-data"`` or ``"obscenity"`` in ``disabled_plugins``.

The filters decide on :class:`Signals` that :class:`Lexicons` reads from
a message with the word lists in ``tsur/data/lexicon/`` (``spam.toml``,
``appeal.toml``, ``not_appeal.toml``; the region's topic keywords count as
what appeals are about). :class:`SignalReader` reads each message once for
all three deciding filters.

Repeats are found by a :class:`RepeatTracker` kept in memory by each
engine: the last ``per_author`` texts of up to ``max_authors`` authors
(least recently active forgotten first), compared by normalised words
within ``window`` of the messages' own creation times. Separate worker
processes do not share it, so a repeat split between two workers passes;
that costs a duplicate incident, never a lost appeal.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from pydantic import BaseModel, ConfigDict, Field

from tsur.context import Context, previewing
from tsur.domain import Message, ModerationVerdict
from tsur.errors import ConfigError
from tsur.hookspecs import hookimpl
from tsur.protocols import Register, RegisterSettings
from tsur.region import Region
from tsur.text.lexicon import PhraseIndex, Phrases, compile_patterns, load_lexicon, string_list
from tsur.text.masking import ObsceneLexicon, default_obscene_lexicon, mask_text
from tsur.text.normalize import Lemmatizer, Text, normalize, tokenize
from tsur.text.russian import plural

__all__ = [
    "FloodFilter",
    "Lexicons",
    "MaskingFilter",
    "ModerationSettings",
    "NotAppealFilter",
    "RepeatTracker",
    "SignalReader",
    "Signals",
    "SpamFilter",
    "filters",
    "region_topic_words",
]

log = logging.getLogger("tsur.moderation")

NO_WORDS = "флуд: ни одного слова по существу"
REPEATED = "флуд: повтор того же сообщения"
SPAM = "реклама или спам"
THANKS = "благодарность"
GREETINGS = "не обращение: приветствие или поздравление"
NEWS = "не обращение: репост новости"

_KIND_LABELS = {
    "phone": ("телефон", "телефона", "телефонов"),
    "email": ("адрес почты", "адреса почты", "адресов почты"),
    "passport": ("номер паспорта", "номера паспорта", "номеров паспорта"),
    "snils": ("СНИЛС", "СНИЛС", "СНИЛС"),
    "inn": ("ИНН", "ИНН", "ИНН"),
    "card": ("номер карты", "номера карты", "номеров карт"),
    "name": ("ФИО", "ФИО", "ФИО"),
    "address": ("номер квартиры", "номера квартиры", "номеров квартир"),
    "birthdate": ("дата рождения", "даты рождения", "дат рождения"),
    "obscene": ("нецензурное слово", "нецензурных слова", "нецензурных слов"),
}

#: The groups of the appeal and not-an-appeal lexicons a message is read for.
_GROUPS = (
    "request",
    "failure",
    "persistence",
    "contrast",
    "trouble",
    "topic",
    "person",
    "thanks",
    "greetings",
)
_IMPERATIVE_ENDINGS = ("ите", "йте", "ьте", "итесь", "йтесь", "ьтесь")
_VERB_LEMMA_ENDINGS = ("ть", "ться", "ти", "чь", "тись")
_HASHTAG = re.compile(r"#(\w+)")
_LINK = re.compile(r"https?://|www\.", re.I)


@attrs.frozen
class Signals:
    """What a message shows: advertising, signs of an appeal, thanks, news, flood.

    Each field lists the evidence found (empty when none).
    """

    words: int  # words that carry something (flood and reaction words excluded)
    tokens: int
    ad: float  # summed weights of advertising markers
    ad_evidence: tuple[str, ...]
    request: tuple[str, ...]
    failure: tuple[str, ...]
    persistence: tuple[str, ...]
    question: bool
    contrast: tuple[str, ...]
    trouble: tuple[str, ...]
    topic: tuple[str, ...]
    person: tuple[str, ...]
    thanks: tuple[str, ...]
    resolution: tuple[str, ...]
    greetings: tuple[str, ...]
    news: tuple[str, ...]

    @property
    def complaint(self) -> float:
        """Weight of the signs of a real appeal, set against advertising."""
        return (
            2.0 * bool(self.request)
            + 2.0 * bool(self.failure)
            + 2.0 * bool(self.persistence)
            + 1.0 * self.question
            + min(0.5 * len(set(self.trouble + self.topic)), 1.5)
        )

    @property
    def objection(self) -> tuple[str, ...]:
        """Evidence that a thankful or festive message still asks for something."""
        q = ("?",) if self.question else ()
        return self.request + self.failure + self.persistence + self.contrast + q


class Lexicons:
    """The moderation vocabularies, lemmatised once: spam, appeal, not-an-appeal.

    ``extra_topics`` adds what appeals are about (a region's topic keywords).
    ``directory`` replaces the bundled ``tsur/data/lexicon`` with a folder
    holding files of the same names.
    """

    def __init__(
        self,
        lemmatizer: Lemmatizer,
        *,
        extra_topics: Iterable[str] = (),
        directory: str | Path | None = None,
    ) -> None:
        lem = lemmatizer
        where = ""

        def load(name: str) -> dict[str, Any]:
            nonlocal where
            path = None if directory is None else Path(directory) / f"{name}.toml"
            where = str(path) if path else f"tsur/data/lexicon/{name}.toml"
            return load_lexicon(path or name)

        def table(data: Mapping[str, Any], key: str) -> dict[str, Any]:
            value = data.get(key, {})
            if not isinstance(value, dict):
                raise ConfigError("lexicon: malformed table", path=where, problems=[(key, "table")])
            return value

        def group(data: Mapping[str, Any], key: str) -> Phrases:
            return Phrases.from_table(table(data, key), lem, path=where, where=key)

        def strings(data: Mapping[str, Any], key: str, section: str) -> list[str]:
            return string_list(data, key, path=where, where=section)

        def lemmas(data: Mapping[str, Any], key: str, section: str) -> frozenset[str]:
            return frozenset(lem.lemma(normalize(w)) for w in strings(data, key, section))

        spam = load("spam")
        self.spam_threshold = float(spam.get("threshold", 2.0))
        self.spam = [
            (
                float(m.get("weight", 1.0)),
                Phrases.from_table(m, lem, path=where, where=f"marker[{i}]"),
            )
            for i, m in enumerate(spam.get("marker", []))
        ]
        appeal = load("appeal")
        self.request = group(appeal, "request")
        self.ad_imperatives = frozenset(
            strings(table(appeal, "request"), "ad_imperatives", "request")
        )
        failure = table(appeal, "failure")
        self.negations = frozenset(strings(failure, "negations", "failure"))
        self.harmless_after_negation = lemmas(failure, "harmless_after_negation", "failure")
        self.failure = group(appeal, "failure")
        self.persistence = group(appeal, "persistence")
        self.contrast = group(appeal, "contrast")
        self.sarcasm = compile_patterns(
            strings(table(appeal, "contrast"), "sarcasm_patterns", "contrast"),
            path=where,
            key="contrast.sarcasm_patterns",
        )
        self.trouble = group(appeal, "trouble")
        topic = table(appeal, "topic")
        topic = {**topic, "phrases": [*strings(topic, "phrases", "topic"), *extra_topics]}
        self.topic = Phrases.from_table(topic, lem, path=where, where="topic")
        self.person = group(appeal, "person")

        na = load("not_appeal")
        self.thanks = group(na, "thanks")
        self.resolution = lemmas(table(na, "thanks"), "resolution", "thanks")
        self.thanks_max_words = int(table(na, "thanks").get("max_words", 40))
        self.greetings = group(na, "greetings")
        self.greetings_max_words = int(table(na, "greetings").get("max_words", 25))
        news = table(na, "news")
        self.news_starts = tuple(
            tuple(tokenize(normalize(s))) for s in strings(news, "starts", "news")
        )
        self.news_hashtags = frozenset(normalize(h) for h in strings(news, "hashtags", "news"))
        self.announcements = lemmas(news, "announcements", "news")
        self.max_headline_words = int(news.get("max_headline_words", 30))
        self.min_hashtags = int(news.get("min_hashtags", 3))
        flood = table(na, "flood")
        self.flood_words = frozenset(normalize(f) for f in strings(flood, "forms", "flood"))
        self.flood_patterns = compile_patterns(
            strings(flood, "patterns", "flood"), path=where, key="flood.patterns"
        )

        self._is_flood_word = functools.lru_cache(maxsize=65536)(self._flood_word)
        groups: dict[str | int, Phrases] = dict(enumerate(g for _, g in self.spam))
        for name in _GROUPS:
            groups[name] = getattr(self, name)
        self._index = PhraseIndex(groups)

    def _flood_word(self, token: str) -> bool:
        if not token.isalpha() and not any(ch.isalpha() for ch in token):
            return True
        return token in self.flood_words or any(p.search(token) for p in self.flood_patterns)

    def read(self, raw: str, text: Text) -> Signals:
        """The signals of one message (``text`` is its normalised form)."""
        lowered = raw.lower().replace("ё", "е")
        words = len(text.tokens) - sum(map(self._is_flood_word, text.tokens))
        ad = 0.0
        ad_evidence: list[str] = []
        found = self._index.hits(text, lowered)
        for i, (weight, _) in enumerate(self.spam):
            hits = [h for h in dict.fromkeys(found[i]) if h not in ad_evidence]
            ad += weight * len(hits)
            ad_evidence.extend(hits)
        request = found["request"]
        for tok, lem in zip(text.tokens, text.lemmas, strict=True):
            if (
                tok.endswith(_IMPERATIVE_ENDINGS)
                and lem.endswith(_VERB_LEMMA_ENDINGS)
                and tok != lem
                and tok not in self.ad_imperatives
            ):
                request.append(tok)
        failure = found["failure"]
        toks, lems = text.tokens, text.lemmas
        for i, tok in enumerate(toks):
            if tok in self.negations:
                nxt = lems[i + 1] if i + 1 < len(lems) else ""
                if tok not in ("не", "ни") or (nxt and nxt not in self.harmless_after_negation):
                    failure.append(f"{tok} {toks[i + 1]}" if i + 1 < len(toks) else tok)
        contrast = found["contrast"]
        contrast += [m.group() for p in self.sarcasm if (m := p.search(lowered))]
        return Signals(
            words=words,
            tokens=len(text.tokens),
            ad=ad,
            ad_evidence=tuple(ad_evidence),
            request=tuple(request),
            failure=tuple(failure),
            persistence=tuple(found["persistence"]),
            question="?" in raw and words > 0,
            contrast=tuple(contrast),
            trouble=tuple(found["trouble"]),
            topic=tuple(found["topic"]),
            person=tuple(found["person"]),
            thanks=tuple(found["thanks"]),
            resolution=tuple(sorted(self.resolution & text.lemma_set)),
            greetings=tuple(found["greetings"]),
            news=tuple(self._news(raw, text)),
        )

    def _news(self, raw: str, text: Text) -> list[str]:
        out = []
        toks = text.tokens
        for start in self.news_starts:
            if toks[: len(start)] == start:
                out.append("starts with «" + " ".join(start) + "»")
                break
        tags = [normalize(t) for t in _HASHTAG.findall(raw)]
        if any(t in self.news_hashtags for t in tags):
            out.append("news hashtag")
        elif len(tags) >= self.min_hashtags:
            out.append(f"{len(tags)} hashtags")
        if (
            _LINK.search(raw)
            and len(toks) <= self.max_headline_words
            and not self.announcements.isdisjoint(text.lemma_set)
        ):
            out.append("headline with a link")
        return out


class SignalReader:
    """Reads a message's :class:`Signals` once for all filters.

    The filters run one after another on the same message, so the last
    reading is kept and reused.
    """

    def __init__(self, lexicons: Lexicons) -> None:
        self.lexicons = lexicons
        self._last: tuple[tuple[str, str, str], Signals] | None = None
        self._lock = threading.Lock()

    def read(self, message: Message, text: Text) -> Signals:
        """The signals of ``message``."""
        key = (message.source, message.external_id, text.original)
        with self._lock:
            last = self._last
        if last is not None and last[0] == key:
            return last[1]
        signals = self.lexicons.read(message.text, text)
        with self._lock:
            self._last = (key, signals)
        return signals


class RepeatTracker:
    """Remembers what each author wrote recently, to spot the same text again.

    In memory and bounded: ``max_authors`` authors, ``per_author`` texts
    each. Messages are compared by their normalised words and their own
    ``created_at``, so messages processed out of order within the window
    are still caught; the same message seen twice (a re-run) is not a
    repeat of itself.
    """

    def __init__(
        self,
        window: timedelta = timedelta(minutes=10),
        *,
        max_authors: int = 10_000,
        per_author: int = 20,
    ) -> None:
        if window <= timedelta(0) or max_authors < 1 or per_author < 1:
            raise ValueError("window, max_authors and per_author must be positive")
        self.window = window
        self.max_authors = max_authors
        self.per_author = per_author
        self._recent: OrderedDict[tuple[str, str], list[tuple[str, datetime, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._recent)

    def repeat_of(self, message: Message, fingerprint: str) -> str | None:
        """The external id of an earlier message this one repeats, else None; remembers it
        (not while the engine only previews a message)."""
        author = message.author.id if message.author else None
        if not author or not fingerprint:
            return None
        key = (message.source, author)
        at = message.created_at
        with self._lock:
            items = self._recent.pop(key, [])
            items = [i for i in items if abs(i[1] - at) <= self.window]
            match = next(
                (ext for fp, _, ext in items if fp == fingerprint and ext != message.external_id),
                None,
            )
            remember = not previewing() and all(ext != message.external_id for _, _, ext in items)
            if match is None and remember:
                items.append((fingerprint, at, message.external_id))
                del items[: -self.per_author]
            self._recent[key] = items
            while len(self._recent) > self.max_authors:
                self._recent.popitem(last=False)
        return match


class FloodFilter:
    """Rejects messages without words to act on, and repeats of the same text."""

    def __init__(self, reader: SignalReader, tracker: RepeatTracker | None = None) -> None:
        self.reader = reader
        self.tracker = tracker

    def check(self, message: Message, text: Text) -> Sequence[ModerationVerdict]:
        """A ``reject`` verdict for flood, else nothing."""
        signals = self.reader.read(message, text)
        if signals.words == 0:
            if message.attachments:
                return []
            return [ModerationVerdict("reject", NO_WORDS)]
        if self.tracker is not None:
            earlier = self.tracker.repeat_of(message, " ".join(text.tokens))
            if earlier is not None:
                log.debug("%s repeats %s by the same author", message.external_id, earlier)
                return [ModerationVerdict("reject", REPEATED)]
        return []


class SpamFilter:
    """Rejects advertising whose markers outweigh the signs of a real complaint."""

    def __init__(self, reader: SignalReader) -> None:
        self.reader = reader

    def check(self, message: Message, text: Text) -> Sequence[ModerationVerdict]:
        """A ``reject`` verdict for advertising, else nothing."""
        s = self.reader.read(message, text)
        if s.ad >= self.reader.lexicons.spam_threshold and s.ad > s.complaint:
            log.debug("advertising %.1f outweighs complaint %.1f", s.ad, s.complaint)
            return [ModerationVerdict("reject", SPAM)]
        return []


class NotAppealFilter:
    """Recognises thanks (a ``thanks`` verdict); rejects greetings and reposted news."""

    def __init__(self, reader: SignalReader) -> None:
        self.reader = reader

    def check(self, message: Message, text: Text) -> Sequence[ModerationVerdict]:
        """A ``thanks`` verdict for gratitude, a ``reject`` one for a non-appeal, else nothing."""
        s = self.reader.read(message, text)
        lex = self.reader.lexicons
        if s.words == 0 or s.objection:
            return []
        if s.thanks and s.tokens <= lex.thanks_max_words and (s.resolution or not s.trouble):
            return [ModerationVerdict("thanks", THANKS)]
        about = s.trouble + s.topic
        if s.greetings and not about and s.tokens <= lex.greetings_max_words:
            return [ModerationVerdict("reject", GREETINGS)]
        strong = any(n.startswith("starts with") or n == "news hashtag" for n in s.news)
        # A headline with a link, or a pile of hashtags, is news only when no
        # citizen speaks and nothing is wrong.
        headline = "headline with a link" in s.news and not s.trouble
        hashtags = any(n.endswith(" hashtags") for n in s.news) and not about
        if strong or (not s.person and (headline or hashtags)):
            log.debug("news repost: %d signs", len(s.news))
            return [ModerationVerdict("reject", NEWS)]
        return []


class MaskingFilter:
    """Masks personal data and obscene words in one verdict; flags heavy abuse."""

    def __init__(
        self,
        *,
        personal_data: bool = True,
        obscenity: bool = True,
        abuse_threshold: int = 3,
        lexicon: ObsceneLexicon | None = None,
    ) -> None:
        self.personal_data = personal_data
        self.obscenity = obscenity
        self.abuse_threshold = abuse_threshold
        self.lexicon = lexicon or (default_obscene_lexicon() if obscenity else None)

    def check(self, message: Message, text: Text) -> Sequence[ModerationVerdict]:
        """A ``mask`` verdict when something was masked, and a ``flag`` for heavy abuse."""
        masked = mask_text(
            message.text,
            personal_data=self.personal_data,
            obscenity=self.obscenity,
            lexicon=self.lexicon,
        )
        if not masked.spans:
            return []
        counts = masked.counts()
        parts = []
        for kind, forms in _KIND_LABELS.items():
            n = counts.get(kind, 0)
            if n:
                parts.append(f"{n} {plural(n, *forms)}")
        out = [ModerationVerdict("mask", "скрыто: " + ", ".join(parts), masked_text=masked.text)]
        obscene = counts.get("obscene", 0)
        if self.abuse_threshold > 0 and obscene >= self.abuse_threshold:
            words = plural(obscene, *_KIND_LABELS["obscene"])
            out.append(ModerationVerdict("flag", f"грубая лексика: {obscene} {words}"))
        return out


def region_topic_words(region: Region) -> list[str]:
    """Every keyword of the region's topics, for the signals of what appeals are about."""
    words: list[str] = []
    for topic in region.topics.values():
        words += [*topic.keywords, *topic.urgent_keywords, *topic.quick_keywords]
        for seasonal in topic.seasonal:
            words += seasonal.keywords
    return list(dict.fromkeys(words))


class ModerationSettings(BaseModel):
    """``[plugins.moderation]``: thresholds of the built-in filters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    abuse_threshold: int = Field(
        default=3,
        ge=0,
        le=1000,
        description="obscene words from which a curator looks first (0: never)",
    )
    repeat_window_minutes: float = Field(
        default=10,
        gt=0,
        le=7 * 24 * 60,
        description="the same text by the same author this soon is flood (at most a week)",
    )


def filters(
    context: Context, settings: ModerationSettings | None = None
) -> list[tuple[str, object, int]]:
    """The built-in filters with their priorities, as ``register_moderation_filters`` adds them."""
    s = settings or ModerationSettings()
    off = set(context.config.pipeline.disabled_plugins)
    reader = SignalReader(
        Lexicons(context.lemmatizer, extra_topics=region_topic_words(context.region))
    )
    return [
        (
            "flood",
            FloodFilter(reader, RepeatTracker(timedelta(minutes=s.repeat_window_minutes))),
            30,
        ),
        ("spam", SpamFilter(reader), 20),
        ("not-an-appeal", NotAppealFilter(reader), 10),
        (
            "masking",
            MaskingFilter(
                personal_data="personal-data" not in off,
                obscenity="obscenity" not in off,
                abuse_threshold=s.abuse_threshold,
            ),
            0,
        ),
    ]


@hookimpl
def register_settings(register: RegisterSettings) -> None:
    """Declare ``[plugins.moderation]``."""
    register("moderation", ModerationSettings)


@hookimpl
def register_moderation_filters(register: Register, context: Context) -> None:
    """Register the flood, spam, not-an-appeal and masking filters."""
    for name, component, priority in filters(context, context.settings):
        register(name, component, priority=priority)
