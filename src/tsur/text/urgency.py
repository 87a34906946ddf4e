"""Urgency detection: which messages go on the accelerated or the «быстрорешаемые» track.

A threat to life or health (an open manhole, a burst heating main, a power
cut in frost, a fallen tree on wires, gas, a collapse …) is ``urgent``; an
everyday problem a yard team fixes in a day (a broken bench, a dead lamp, an
overflowing bin …) is ``quick``; everything else is ``normal``.

The knowledge lives in a data file, ``tsur/data/urgency_patterns.toml``,
read once and compiled against the lemmatiser; a region extends it with
files of its own (:meth:`UrgencyDetector.from_files`). A *rule* is a list
of *parts*; each part lists alternative phrases written in ordinary Russian
(lemmatised on load, so any case form matches; ``=слово`` matches that exact
word form, ``<num>`` any number). A rule matches when one phrase of every
part occurs and consecutive parts are at most ``window`` words apart, in any
order: "люк" within 3 words of "открытый" or "без крышки".

A match does not count when

- a part is negated: a negator («не», «нет») stands right before it, with
  only filler words («быть», «уже» …) in between, or «перестать» right
  after it («не искрит», «газом не пахнет», «искрить перестало»);
- the problem is reported fixed near the match («люк закрыли», «свет дали»),
  unless the message says it is back or still there («опять», «до сих пор»);
- the message retells news or jokes («читала новость», «по телевизору»);
- one of the rule's own exclusions sits inside or beside the match
  («плановое отключение»).

An urgent rule may have a ``weight`` below 1: it then needs
*intensifiers* (children, a school, frost, boiling water, days without
service, a whole street …) whose bonuses bring it to the threshold; short
of it the match falls back to its ``fallback`` level.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import attrs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tsur.domain import Urgency
from tsur.errors import ConfigError
from tsur.text.normalize import Lemmatizer, Text, get_lemmatizer, normalize, tokenize

__all__ = [
    "COLD_CLIMATE",
    "CORNER_MIN",
    "INDOOR_MIN",
    "NIGHT_DROP",
    "IndoorNorms",
    "PatternFile",
    "UrgencyDetector",
    "UrgencyMatch",
    "UrgencyResult",
    "bundled_patterns_path",
    "default_detector",
    "indoor_temperature",
    "read_pattern_file",
    "temperature_norm",
]

#: Resource name of the bundled pattern file inside the ``tsur`` package.
BUNDLED_PATTERNS = "urgency_patterns.toml"

_NUMBER_WORDS = frozenset(
    {"один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять"}
    | {"несколько", "пара"}
)
# How many occurrences of one part are combined at most (keeps long texts cheap).
_MAX_OCCURRENCES = 12


# --------------------------------------------------------------------------- file format
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Phrase = Annotated[str, Field(min_length=1)]


class SettingsSpec(_Model):
    """``[settings]``: how matches are checked. A later file extends the lists."""

    window: int = Field(default=3, ge=0, le=30, description="words allowed between parts")
    threshold: float = Field(default=1.0, gt=0, description="score that makes a match urgent")
    negators: list[Phrase] = Field(default_factory=list, description="single words before a part")
    fillers: list[Phrase] = Field(default_factory=list, description="words a negator may skip")
    post_negators: list[Phrase] = Field(default_factory=list, description="words after a part")
    denied: list[Phrase] = Field(
        default_factory=list, description="danger words a denial cancels («угрозы нет»)"
    )
    denials: list[Phrase] = Field(
        default_factory=list, description="words denying a danger word, before or after it"
    )
    resolved: list[Phrase] = Field(default_factory=list, description="the problem is fixed")
    resolved_window: int = Field(default=8, ge=0, le=60)
    still: list[Phrase] = Field(default_factory=list, description="the problem is back or stays")
    reported: list[Phrase] = Field(default_factory=list, description="news, jokes, elsewhere")
    disable: list[str] = Field(default_factory=list, description="rule ids to switch off")


class IntensifierSpec(_Model):
    """``[[intensifiers]]``: words that make an urgent match more pressing."""

    name: str = Field(min_length=1)
    bonus: float = Field(gt=0, le=1)
    phrases: list[Phrase] = Field(min_length=1)


class RuleSpec(_Model):
    """``[[rules]]``: one kind of urgent or quick problem."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    level: Literal["urgent", "quick"]
    label: str = Field(min_length=1, description="what the rule finds, in Russian")
    parts: list[list[Phrase]] = Field(min_length=1)
    window: int | None = Field(default=None, ge=0, le=30)
    weight: float = Field(default=1.0, gt=0, le=1)
    fallback: Literal["quick", "normal"] = "normal"
    unless: list[Phrase] = Field(default_factory=list)
    unless_window: int = Field(default=1, ge=0, le=30)
    replace: bool = Field(default=False, description="replaces a rule of an earlier file")

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        if any(not alternatives for alternatives in self.parts):
            raise ValueError("every part needs at least one phrase")
        if self.level == "quick" and (self.weight != 1.0 or self.fallback != "normal"):
            raise ValueError("weight and fallback apply to urgent rules only")
        return self


class PatternFile(_Model):
    """One pattern file: settings, intensifiers and rules."""

    version: Literal[1] = 1
    settings: SettingsSpec = Field(default_factory=SettingsSpec)
    intensifiers: list[IntensifierSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        out.append((loc, err["msg"]))
    return out


def read_pattern_file(path: str | Path) -> PatternFile:
    """Read and validate one pattern file; problems raise :class:`ConfigError`."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read urgency patterns: {exc}", path=str(p)) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"urgency patterns are not valid TOML: {exc}", path=str(p)) from exc
    return _validate(data, str(p))


def _validate(data: Mapping[str, Any], origin: str) -> PatternFile:
    try:
        return PatternFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid urgency patterns", path=origin, problems=_problems(exc)) from exc


def bundled_patterns_path() -> Path:
    """Path of the pattern file shipped with tsur."""
    return Path(str(resources.files("tsur") / "data" / BUNDLED_PATTERNS))


@functools.lru_cache(maxsize=1)
def _bundled_file() -> PatternFile:
    return read_pattern_file(bundled_patterns_path())


# --------------------------------------------------------------------------- results
@attrs.frozen
class UrgencyMatch:
    """One rule found in a text; ``reason`` says why it was set aside, if it was."""

    rule: str
    label: str
    level: Urgency
    phrase: str  # the words of the text that matched
    start: int  # token positions, end exclusive
    end: int
    score: float = 1.0  # weight plus intensifier bonuses (urgent rules)
    reason: str | None = None


@attrs.frozen
class UrgencyResult:
    """The track a text belongs on and the words that put it there."""

    level: Urgency
    score: float
    evidence: tuple[str, ...] = ()
    matches: tuple[UrgencyMatch, ...] = ()
    cancelled: tuple[UrgencyMatch, ...] = ()
    intensifiers: tuple[str, ...] = ()

    @property
    def rules(self) -> tuple[str, ...]:
        """Ids of the rules that counted, in order of appearance."""
        return tuple(dict.fromkeys(m.rule for m in self.matches))


_NORMAL = UrgencyResult(Urgency.NORMAL, 0.0)


# --------------------------------------------------------------------------- compilation
# A word matcher: ("l", lemma) | ("t", exact token) | ("n", "") for any number.
Word = tuple[str, str]
Occurrence = tuple[int, int]  # start, end (exclusive)


@attrs.frozen
class _Rule:
    id: str
    label: str
    level: Urgency
    parts: tuple[tuple[int, ...], ...]  # phrase ids per part
    window: int
    weight: float
    fallback: Urgency
    unless: tuple[int, ...]
    unless_window: int


@attrs.frozen
class _Intensifier:
    name: str
    bonus: float
    phrases: tuple[int, ...]


def _invalid(origin: str | None, where: str, problem: str) -> ConfigError:
    return ConfigError("invalid urgency patterns", path=origin, problems=[(where, problem)])


def _merge(
    files: Sequence[tuple[str, PatternFile]],
) -> tuple[SettingsSpec, list[IntensifierSpec], list[RuleSpec]]:
    """Settings (lists extended, scalars overridden), intensifiers and rules of all files."""
    merged: dict[str, Any] = SettingsSpec().model_dump()
    intensifiers: dict[str, IntensifierSpec] = {}
    rules: dict[str, tuple[str, RuleSpec]] = {}
    disabled: set[str] = set()
    for origin, f in files:
        s = f.settings
        for key in s.model_fields_set:
            value = getattr(s, key)
            merged[key] = merged[key] + list(value) if isinstance(value, list) else value
        disabled.update(s.disable)
        for spec in f.intensifiers:
            old = intensifiers.get(spec.name)  # a known name: the later file adds phrases
            if old is not None:
                spec = spec.model_copy(update={"phrases": old.phrases + spec.phrases})
            intensifiers[spec.name] = spec
        for k, r in enumerate(f.rules):
            if r.id in rules and not r.replace:
                where = rules[r.id][0]
                raise _invalid(
                    origin,
                    f"rules[{k}].id",
                    f"rule {r.id!r} is already defined in {where}; "
                    "set replace = true to replace it",
                )
            if r.replace and r.id not in rules:
                raise _invalid(
                    origin, f"rules[{k}].replace", f"there is no rule {r.id!r} to replace"
                )
            rules[r.id] = (origin, r)
    unknown = sorted(disabled - set(rules))
    if unknown:
        raise _invalid(files[-1][0], "settings.disable", f"unknown rule {unknown[0]!r}")
    active = [r for _, r in rules.values() if r.id not in disabled]
    return SettingsSpec.model_validate(merged), list(intensifiers.values()), active


class UrgencyDetector:
    """Finds urgent and quick problems in lemmatised text (see the module docstring).

    ``files`` are ``(origin, PatternFile)`` pairs, later ones extending
    earlier ones; build it with :meth:`from_files` (or share the bundled
    one, :func:`default_detector`). :meth:`detect` is thread-safe.
    """

    def __init__(
        self, files: Sequence[tuple[str, PatternFile]], lemmatizer: Lemmatizer | None = None
    ) -> None:
        if not files:
            raise ConfigError("no urgency pattern files given")
        self._lem = lemmatizer or get_lemmatizer()
        settings, intensifiers, rules = _merge(files)
        self.window = settings.window
        self.threshold = settings.threshold
        self.resolved_window = settings.resolved_window
        self._phrases: list[tuple[Word, ...]] = []
        self._phrase_ids: dict[tuple[Word, ...], int] = {}
        # Each phrase is indexed by its most specific word (the longest), with its offset.
        self._by_lemma: dict[str, list[tuple[int, int]]] = {}
        self._by_token: dict[str, list[tuple[int, int]]] = {}
        self._by_number: list[tuple[int, int]] = []
        self._keys: list[Word] = []
        origin = files[-1][0]
        self.negators = self._single_words(settings.negators, "settings.negators", origin)
        self.fillers = self._single_words(settings.fillers, "settings.fillers", origin)
        self.post_negators = self._single_words(
            settings.post_negators, "settings.post_negators", origin
        )
        self.denied = self._single_words(settings.denied, "settings.denied", origin)
        self.denials = self._single_words(settings.denials, "settings.denials", origin)
        self._resolved = self._compile_all(settings.resolved)
        self._still = self._compile_all(settings.still)
        self._reported = self._compile_all(settings.reported)
        self._intensifiers = tuple(
            _Intensifier(i.name, i.bonus, self._compile_all(i.phrases)) for i in intensifiers
        )
        self._rules = tuple(
            _Rule(
                id=r.id,
                label=r.label,
                level=Urgency(r.level),
                parts=tuple(self._compile_all(alts) for alts in r.parts),
                window=self.window if r.window is None else r.window,
                weight=r.weight,
                fallback=Urgency(r.fallback),
                unless=self._compile_all(r.unless),
                unless_window=r.unless_window,
            )
            for r in rules
        )
        # Per rule and part, the key lemmas and key word forms of its phrases (None: a
        # phrase is keyed by a number, so the part cannot be ruled out in advance).
        self._gates = tuple(tuple(self._gate(part) for part in rule.parts) for rule in self._rules)
        # Each rule is looked up by the keys of its most specific part (the one whose
        # shortest key is longest): a text lacking all of them cannot match the rule.
        self._anchors: dict[str, list[int]] = {}
        self._unanchored: list[int] = []
        for ri, gates in enumerate(self._gates):
            known = [g for g in gates if g is not None]
            if len(known) < len(gates) or not known:
                self._unanchored.append(ri)
                continue
            anchor = max(reversed(known), key=lambda g: min(map(len, g[0] | g[1]), default=0))
            for key in anchor[0]:
                self._anchors.setdefault("l:" + key, []).append(ri)
            for key in anchor[1]:
                self._anchors.setdefault("t:" + key, []).append(ri)
        self._anchor_lemmas = frozenset(k[2:] for k in self._anchors if k[0] == "l")
        self._anchor_tokens = frozenset(k[2:] for k in self._anchors if k[0] == "t")
        self._part_sets = tuple(tuple(frozenset(part) for part in r.parts) for r in self._rules)
        # Lemma-only phrases compare as tuple slices; the others word by word.
        self._pure = tuple(
            tuple(v for _, v in p) if all(k == "l" for k, _ in p) else None for p in self._phrases
        )

    # construction -----------------------------------------------------------------
    @classmethod
    def from_files(
        cls,
        *paths: str | Path,
        bundled: bool = True,
        lemmatizer: Lemmatizer | None = None,
    ) -> UrgencyDetector:
        """A detector from the bundled patterns (unless ``bundled=False``) plus ``paths``.

        Later files extend the settings' lists and the intensifiers, add
        rules, replace rules marked ``replace = true`` and switch rules off
        with ``settings.disable``.
        """
        files: list[tuple[str, PatternFile]] = []
        if bundled:
            files.append((str(bundled_patterns_path()), _bundled_file()))
        files.extend((str(p), read_pattern_file(p)) for p in paths)
        return cls(files, lemmatizer)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        bundled: bool = True,
        lemmatizer: Lemmatizer | None = None,
    ) -> UrgencyDetector:
        """Like :meth:`from_files` with one pattern file given as parsed TOML data."""
        files: list[tuple[str, PatternFile]] = []
        if bundled:
            files.append((str(bundled_patterns_path()), _bundled_file()))
        files.append(("<mapping>", _validate(data, "<mapping>")))
        return cls(files, lemmatizer)

    def _compile(self, phrase: str) -> int:
        words: list[Word] = []
        for raw in phrase.split():
            if raw == "<num>":
                words.append(("n", ""))
            elif raw.startswith("="):
                words.extend(("t", t) for t in tokenize(normalize(raw[1:])))
            else:
                words.extend(("l", lemma) for lemma in self._lem.phrase(raw))
        if not words:
            raise ConfigError(f"urgency pattern {phrase!r} has no words")
        key = tuple(words)
        pid = self._phrase_ids.get(key)
        if pid is not None:
            return pid
        pid = len(self._phrases)
        self._phrases.append(key)
        self._phrase_ids[key] = pid
        offset = max(range(len(key)), key=lambda j: (key[j][0] != "n", len(key[j][1])))
        kind, value = key[offset]
        self._keys.append(key[offset])
        if kind == "l":
            self._by_lemma.setdefault(value, []).append((pid, offset))
        elif kind == "t":
            self._by_token.setdefault(value, []).append((pid, offset))
        else:
            self._by_number.append((pid, offset))
        return pid

    def _compile_all(self, phrases: Iterable[str]) -> tuple[int, ...]:
        return tuple(dict.fromkeys(self._compile(p) for p in phrases))

    def _single_words(self, words: Iterable[str], where: str, origin: str) -> frozenset[str]:
        out = set()
        for w in words:
            lemmas = self._lem.phrase(w)
            if len(lemmas) != 1:
                raise _invalid(origin, where, f"{w!r} must be a single word")
            out.add(lemmas[0])
        return frozenset(out)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Ids of the active rules, in file order."""
        return tuple(r.id for r in self._rules)

    # detection -----------------------------------------------------------------------
    def detect_raw(self, raw: str) -> UrgencyResult:
        """Detect urgency in a raw text (normalised and lemmatised here)."""
        return self.detect(Text.from_raw(raw, self._lem))

    def detect(
        self, text: Text, *, at: datetime | None = None, norms: IndoorNorms | None = None
    ) -> UrgencyResult:
        """The track of ``text``: ``urgent``, ``quick`` or ``normal``, with evidence.

        ``at`` is when it was written, in the region's local time (None: not
        known): outside ``norms.heating_months`` a cold dwelling is no
        emergency, and at night the indoor minimum is lower. ``norms``
        defaults to the sanitary minimums of a temperate climate.
        """
        when = (at, norms or IndoorNorms())
        lemma_set, token_set = text.lemma_set, text.token_set
        indices = set(self._unanchored)
        for key in self._anchor_lemmas & lemma_set:
            indices.update(self._anchors["l:" + key])
        for key in self._anchor_tokens & token_set:
            indices.update(self._anchors["t:" + key])
        gates = self._gates
        indices = {
            ri
            for ri in indices
            if all(
                g is None or not g[0].isdisjoint(lemma_set) or not g[1].isdisjoint(token_set)
                for g in gates[ri]
            )
        }
        if not indices:
            return self._norms(text, _NORMAL, *when)
        occ = self._occurrences(text)
        present = set(occ)
        candidates = [
            self._rules[ri]
            for ri in sorted(indices)
            if all(not part.isdisjoint(present) for part in self._part_sets[ri])
        ]
        if not candidates:
            return self._norms(text, _NORMAL, *when)
        scan = _Scan(self, text, occ)
        found: list[UrgencyMatch] = []
        cancelled: list[UrgencyMatch] = []
        for rule in candidates:
            m = scan.match(rule)
            if m is None:
                continue
            (cancelled if m.reason else found).append(m)
        return self._norms(text, self._decide(scan, found, cancelled), *when)

    def _norms(
        self, text: Text, result: UrgencyResult, at: datetime | None, norms: IndoorNorms
    ) -> UrgencyResult:
        """Weigh a reported indoor temperature against the sanitary norm.

        In the heating season, below it (+17 °C in a living room, +19 °C in a
        corner one) the message is urgent whoever lives there; at or above it a
        cold-dwelling match does not make it urgent, whoever lives there (a
        bedridden person at +19 °C is a matter for the heating company, not an
        emergency). Outside the season neither the temperature nor a complaint
        about heating is an emergency.
        """
        heating = [m for m in result.matches if _about_heating(m)]
        only_heating = bool(heating) and len(heating) == len(result.matches)
        if not norms.in_season(at):
            if result.level is Urgency.URGENT and only_heating:
                kept = tuple(attrs.evolve(m, reason="вне отопительного сезона") for m in heating)
                return UrgencyResult(Urgency.NORMAL, 0.0, cancelled=(*result.cancelled, *kept))
            return result
        value = indoor_temperature(text.original)
        if value is None:
            return result
        norm = norms.minimum(text.original, at)
        shown = f"+{value:g} °C в помещении"
        if value < norm:
            if result.level is Urgency.URGENT:
                return attrs.evolve(result, evidence=(*result.evidence, shown))
            m = UrgencyMatch(
                "indoor-temperature",
                f"ниже нормы СанПиН (+{norm:g} °C)",
                Urgency.URGENT,
                shown,
                0,
                0,
            )
            return UrgencyResult(Urgency.URGENT, 1.0, (shown,), (m,), result.cancelled)
        heating = [m for m in result.matches if m.rule in HEATING_RULES]
        only_heating = bool(heating) and len(heating) == len(result.matches)
        if result.level is Urgency.URGENT and only_heating:
            kept = tuple(
                attrs.evolve(m, reason=f"{shown}: не ниже нормы +{norm:g} °C") for m in heating
            )
            return UrgencyResult(Urgency.NORMAL, 0.0, cancelled=(*result.cancelled, *kept))
        return result

    def _gate(self, part: tuple[int, ...]) -> tuple[frozenset[str], frozenset[str]] | None:
        keys = [self._keys[pid] for pid in part]
        if any(kind == "n" for kind, _ in keys):
            return None
        lemma_keys = frozenset(v for kind, v in keys if kind == "l")
        return lemma_keys, frozenset(v for kind, v in keys if kind == "t")

    def _occurrences(self, text: Text) -> dict[int, list[Occurrence]]:
        occ: dict[int, list[Occurrence]] = {}
        lemmas, tokens = text.lemmas, text.tokens
        phrases, pure = self._phrases, self._pure
        by_lemma, by_token, by_number = self._by_lemma, self._by_token, self._by_number
        n = len(lemmas)
        for i in range(n):
            cands: Sequence[tuple[int, int]] | None = by_lemma.get(lemmas[i])
            extra = by_token.get(tokens[i])
            if extra:
                cands = [*(cands or ()), *extra]
            if by_number and (tokens[i].isdigit() or lemmas[i] in _NUMBER_WORDS):
                cands = [*(cands or ()), *by_number]
            if not cands:
                continue
            for pid, offset in cands:
                start = i - offset
                if start < 0:
                    continue
                lemma_words = pure[pid]
                if lemma_words is not None:
                    k = len(lemma_words)
                    if k == 1 or lemmas[start : start + k] == lemma_words:
                        occ.setdefault(pid, []).append((start, start + k))
                    continue
                p = phrases[pid]
                k = len(p)
                if start + k <= n and all(
                    _word_ok(p[j], lemmas[start + j], tokens[start + j]) for j in range(k)
                ):
                    occ.setdefault(pid, []).append((start, start + k))
        return occ

    def _decide(
        self, scan: _Scan, found: list[UrgencyMatch], cancelled: list[UrgencyMatch]
    ) -> UrgencyResult:
        bonus, boosters = scan.intensity()
        fallbacks = {r.id: r.fallback for r in self._rules}
        urgent: list[UrgencyMatch] = []
        quick: list[UrgencyMatch] = []
        below: list[UrgencyMatch] = []
        score = 0.0
        for m in found:
            if m.level is Urgency.QUICK:
                quick.append(m)
                continue
            m = attrs.evolve(m, score=round(min(2.0, m.score + bonus), 3))
            score = max(score, m.score)
            if m.score >= self.threshold:
                urgent.append(m)
            elif fallbacks[m.rule] is Urgency.QUICK:
                quick.append(m)
            else:
                below.append(attrs.evolve(m, reason=f"below threshold: {m.score:g}"))
        if urgent:
            level, used = Urgency.URGENT, urgent
            evidence = (*(m.phrase for m in urgent), *boosters)
        elif quick:
            level, used = Urgency.QUICK, quick
            evidence = tuple(m.phrase for m in quick)
        else:
            level, used, evidence = Urgency.NORMAL, [], ()
        return UrgencyResult(
            level=level,
            score=score,
            evidence=tuple(dict.fromkeys(evidence)),
            matches=tuple(used),
            cancelled=(*cancelled, *below),
            intensifiers=boosters if level is Urgency.URGENT else (),
        )


#: СанПиН 1.2.3685-21 (table 5.27): at least +18 °C in a living room, +20 °C in a corner room.
INDOOR_MIN = 18.0
CORNER_MIN = 20.0
#: Where the coldest five-day period is −31 °C or colder: +20 °C and +22 °C.
COLD_CLIMATE = -31.0
#: ПП РФ № 354, appendix 1 item 15: at night (00:00–05:00) up to 3 °C lower is normal.
NIGHT_DROP = 3.0


@attrs.frozen
class IndoorNorms:
    """The minimum indoor temperatures a region's dwellings are held to, and when.

    ``living``/``corner``: the minimum of a living room and of a corner room;
    ``night_drop``: how much lower is normal from 00:00 to 05:00;
    ``heating_months``: the heating season, outside which a cold dwelling and
    a complaint about heating are not urgent.
    """

    living: float = INDOOR_MIN
    corner: float = CORNER_MIN
    night_drop: float = NIGHT_DROP
    heating_months: frozenset[int] = frozenset({10, 11, 12, 1, 2, 3, 4})

    @classmethod
    def for_climate(
        cls, coldest_five_days: float | None, heating_months: Iterable[int] | None = None
    ) -> IndoorNorms:
        """The norms for a region whose coldest five-day period is ``coldest_five_days`` °C."""
        cold = coldest_five_days is not None and coldest_five_days <= COLD_CLIMATE
        months = frozenset(heating_months) if heating_months is not None else None
        return cls(
            INDOOR_MIN + 2 * cold,
            CORNER_MIN + 2 * cold,
            heating_months=months if months is not None else cls().heating_months,
        )

    def in_season(self, at: datetime | None) -> bool:
        """Whether ``at`` (local time; None: unknown) falls in the heating season."""
        return at is None or at.month in self.heating_months

    def minimum(self, text: str, at: datetime | None) -> float:
        """The minimum for the room ``text`` speaks of at ``at`` (local time)."""
        base = self.corner if "углов" in text.lower() else self.living
        night = at is not None and 0 <= at.hour < 5
        return base - self.night_drop if night else base


#: Rules about a cold dwelling: an indoor temperature that meets the norm cancels them.
HEATING_RULES = frozenset({"no-heat"})

_INDOOR_TEMPERATURE = re.compile(
    r"(?<![\w\-−–])(?:\+\s?(\d{1,2})(?:[.,](\d))?(?:\s*(?:°\s*с?|градус[а-я]*|гр\b))?|"
    r"(\d{1,2})(?:[.,](\d))?\s*(?:°\s*с?|градус[а-я]*))"
)
_INDOOR = re.compile(
    r"квартир|комнат|спальн|кухн|помещени|\bдома\b|в доме|класс|кабинет|садик|детск[а-я]* сад|"
    r"групп[еаы]|палат|батаре|радиатор|отоплен|холодн|мерзн|замерз"
)
_OUTDOOR = re.compile(
    r"на улице|за окном|снаружи|улиц[а-я]* температур|минус|мороз|вода в|горяч|угол|наклон|"
    r"теплоносител|подач[аеи]|обратк"
)


_HEATING_WORDS = re.compile(r"отоплен|тепл")


def _about_heating(m: UrgencyMatch) -> bool:
    """A match about a cold dwelling or the heating (not light, water or gas)."""
    return m.rule in HEATING_RULES or (
        m.rule.startswith("outage") and bool(_HEATING_WORDS.search(m.phrase))
    )


def indoor_temperature(text: str) -> float | None:
    """The lowest indoor temperature ``text`` reports («в квартире +15», «в комнате 16
    градусов»), or None. Outdoor ones («на улице −20», «минус») are not read."""
    t = text.lower().replace("ё", "е")
    found: list[float] = []
    for m in _INDOOR_TEMPERATURE.finditer(t):
        whole, frac = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        before, after = t[max(0, m.start() - 40) : m.start()], t[m.end() : m.end() + 30]
        if _OUTDOOR.search(before) or not (_INDOOR.search(before) or _INDOOR.search(after)):
            continue
        value = float(f"{whole}.{frac or 0}")
        if 0 < value < 40:
            found.append(value)
    return min(found) if found else None


def temperature_norm(
    text: str, norms: IndoorNorms | None = None, at: datetime | None = None
) -> float:
    """The sanitary minimum the text's room is held to (+20 °C for a corner room, else +18;
    ``norms`` for another climate, ``at`` for the night's allowance)."""
    return (norms or IndoorNorms()).minimum(text, at)


def _is_number(token: str, lemma: str) -> bool:
    return token.isdigit() or lemma in _NUMBER_WORDS


def _word_ok(word: Word, lemma: str, token: str) -> bool:
    kind, value = word
    if kind == "l":
        return lemma == value
    if kind == "t":
        return token == value
    return _is_number(token, lemma)


class _Scan:
    """Per-text state of one :meth:`UrgencyDetector.detect` call."""

    def __init__(self, det: UrgencyDetector, text: Text, occ: dict[int, list[Occurrence]]) -> None:
        self.det = det
        self.text = text
        self.occ = occ
        self.lemmas = text.lemmas
        self.tokens = text.tokens
        self._still: bool | None = None
        self._reported: tuple[str, ...] | None = None

    # markers ---------------------------------------------------------------------------
    def negated(self, start: int, end: int, covered: frozenset[int] = frozenset()) -> bool:
        """Whether the words at ``start:end`` are negated (see the module docstring)."""
        det, lemmas = self.det, self.lemmas
        j, skipped = start - 1, 0
        while j >= 0 and skipped < 2 and lemmas[j] in det.fillers and j not in covered:
            j -= 1
            skipped += 1
        if j >= 0 and j not in covered and lemmas[j] in det.negators:
            return True
        if end < len(lemmas) and end not in covered and lemmas[end] in det.post_negators:
            return True
        if lemmas[start] in det.denied:  # «угрозы жизни нет», «без угрозы», «никакой опасности»
            before = j >= 0 and lemmas[j] in det.denials
            k = end
            while k < len(lemmas) and k - end < 2 and lemmas[k] in det.fillers:
                k += 1
            return before or (k < len(lemmas) and lemmas[k] in det.denials)
        return False

    def _live(self, pids: Iterable[int]) -> list[Occurrence]:
        """Occurrences of marker phrases that are not themselves negated."""
        return [o for pid in pids for o in self.occ.get(pid, ()) if not self.negated(*o)]

    def still(self) -> bool:
        """Whether the text says the problem is back or still there."""
        if self._still is None:
            self._still = bool(self._live(self.det._still))
        return self._still

    def reported(self) -> tuple[str, ...]:
        """Words saying the text retells news, jokes or speaks of elsewhere."""
        if self._reported is None:
            self._reported = tuple(self.words(o) for o in self._live(self.det._reported))
        return self._reported

    def words(self, o: Occurrence) -> str:
        """The text's words at an occurrence."""
        return " ".join(self.tokens[o[0] : o[1]])

    def intensity(self) -> tuple[float, tuple[str, ...]]:
        """Total bonus of the intensifiers present and their words."""
        bonus, words = 0.0, []
        for it in self.det._intensifiers:
            live = self._live(it.phrases)
            if live:
                bonus += it.bonus
                words.append(self.words(min(live)))
        return bonus, tuple(dict.fromkeys(words))

    # rules -------------------------------------------------------------------------------
    def match(self, rule: _Rule) -> UrgencyMatch | None:
        """The first counting combination of ``rule``, else the first set aside, else None."""
        per_part: list[list[Occurrence]] = []
        for part in rule.parts:
            found = sorted({o for pid in part for o in self.occ.get(pid, ())})
            if not found:
                return None
            per_part.append(found[:_MAX_OCCURRENCES])
        first_cancelled: UrgencyMatch | None = None
        for combo in itertools.product(*per_part):
            spans = sorted(combo)
            if not _chained(spans, rule.window):
                continue
            m = self._judge(rule, spans)
            if m.reason is None:
                return m
            if first_cancelled is None:
                first_cancelled = m
        return first_cancelled

    def _judge(self, rule: _Rule, spans: list[Occurrence]) -> UrgencyMatch:
        start, end = spans[0][0], spans[-1][1]
        covered = frozenset(i for s, e in spans for i in range(s, e))
        if end - start <= 6:
            phrase = " ".join(self.tokens[start:end])
        else:
            phrase = " … ".join(self.words(o) for o in spans)
        m = UrgencyMatch(rule.id, rule.label, rule.level, phrase, start, end, rule.weight)
        for s, e in spans:
            if self.negated(s, e, covered):
                return attrs.evolve(m, reason=f"negated: {self.words((s, e))}")
        lo, hi = start - rule.unless_window, end + rule.unless_window
        for pid in rule.unless:
            for o in self.occ.get(pid, ()):
                if o[1] <= lo or o[0] >= hi or self.negated(*o, covered):
                    continue
                return attrs.evolve(m, reason=f"excluded: {self.words(o)}")
        reported = self.reported()
        if reported:
            return attrs.evolve(m, reason=f"reported: {reported[0]}")
        w = self.det.resolved_window
        for o in self._live(self.det._resolved):
            if o[1] > start - w and o[0] < end + w and not self.still():
                return attrs.evolve(m, reason=f"resolved: {self.words(o)}")
        return m


def _chained(spans: list[Occurrence], window: int) -> bool:
    """Whether sorted spans do not overlap and each is within ``window`` words of the last."""
    return all(e1 <= s2 <= e1 + window for (_, e1), (s2, _) in itertools.pairwise(spans))


@functools.lru_cache(maxsize=1)
def default_detector() -> UrgencyDetector:
    """The detector of the bundled patterns, built once per process."""
    return UrgencyDetector.from_files()
