"""Word lists: the TOML lexicons moderation reads, matched by word, lemma or pattern.

:func:`load_lexicon` reads a bundled lexicon (``tsur/data/lexicon/*.toml``:
advertising markers, signs of a real appeal, thanks, greetings, news and
flood words, obscene roots) or a file of the same shape; :class:`Phrases`
is one group of such a file — exact word forms, lemma phrases and regular
expressions — and says which of them occur in a text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs

from tsur.errors import ConfigError
from tsur.text.normalize import Lemmatizer, Text, normalize

__all__ = ["PhraseIndex", "Phrases", "compile_patterns", "load_lexicon", "string_list"]

K = TypeVar("K")


def load_lexicon(name_or_path: str | Path) -> dict[str, Any]:
    """Read a lexicon: a bundled name (``"obscene"``, ``"spam"`` …) or a TOML path.

    Raises :class:`~tsur.errors.ConfigError` when the file is missing or not
    valid TOML.
    """
    if isinstance(name_or_path, Path) or str(name_or_path).endswith(".toml"):
        path = Path(name_or_path)
        label = str(path)
        try:
            raw = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read lexicon: {exc}", path=label) from exc
    else:
        ref = resources.files("tsur") / "data" / "lexicon" / f"{name_or_path}.toml"
        label = f"tsur/data/lexicon/{name_or_path}.toml"
        if not ref.is_file():
            raise ConfigError(f"no bundled lexicon named {name_or_path!r}", path=label)
        raw = ref.read_text("utf-8")
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"lexicon is not valid TOML: {exc}", path=label) from exc


def compile_patterns(
    patterns: Iterable[str], *, path: str, key: str
) -> tuple[re.Pattern[str], ...]:
    """Compile a lexicon's regular expressions; a broken one is a ConfigError."""
    out = []
    problems = []
    for i, p in enumerate(patterns):
        try:
            out.append(re.compile(p))
        except re.error as exc:
            problems.append((f"{key}[{i}]", f"bad regular expression {p!r}: {exc}"))
    if problems:
        raise ConfigError("lexicon has invalid patterns", path=path, problems=problems)
    return tuple(out)


def string_list(data: Mapping[str, Any], key: str, *, path: str, where: str) -> list[str]:
    """``data[key]`` as a list of strings (empty if absent); anything else is a ConfigError."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            "lexicon has a malformed list",
            path=path,
            problems=[(f"{where}.{key}", "list of strings")],
        )
    return value


@attrs.frozen
class Phrases:
    """One group of a lexicon: exact words, lemma phrases and patterns."""

    forms: frozenset[str] = frozenset()
    lemmas: frozenset[str] = frozenset()
    sequences: Mapping[str, tuple[tuple[str, ...], ...]] = attrs.field(factory=dict)  # by 1st lemma
    patterns: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], lemmatizer: Lemmatizer, *, path: str, where: str
    ) -> Phrases:
        """Build from a TOML table with optional ``forms``, ``phrases``, ``patterns``."""
        forms = {normalize(f).strip() for f in string_list(table, "forms", path=path, where=where)}
        lemmas: set[str] = set()
        seqs: dict[str, list[tuple[str, ...]]] = {}
        for p in string_list(table, "phrases", path=path, where=where):
            lem = lemmatizer.phrase(p)
            if len(lem) == 1:
                lemmas.add(lem[0])
            elif lem and lem not in seqs.get(lem[0], []):
                seqs.setdefault(lem[0], []).append(lem)
        patterns = compile_patterns(
            string_list(table, "patterns", path=path, where=where),
            path=path,
            key=f"{where}.patterns",
        )
        by_first = {k: tuple(v) for k, v in seqs.items()}
        return cls(frozenset(forms), frozenset(lemmas), by_first, patterns)

    def hits(self, text: Text, lowered: str) -> list[str]:
        """What of this group occurs in ``text`` (``lowered`` is the raw text in lower case)."""
        out = sorted(self.forms.intersection(text.token_set))
        out += sorted(self.lemmas & text.lemma_set)
        for first in sorted(f for f in text.lemma_set if f in self.sequences):
            out += [" ".join(s) for s in self.sequences[first] if text.contains(s)]
        out += self.pattern_hits(lowered)
        return out

    def pattern_hits(self, lowered: str) -> list[str]:
        """What of this group's patterns matches ``lowered``, in the patterns' order."""
        # one search per pattern: a pattern that starts with a character or a class
        # is scanned for in C; an alternation of them would be tried at every position
        return [m.group().strip() for p in self.patterns if (m := p.search(lowered))]


class PhraseIndex(Generic[K]):
    """Many :class:`Phrases` groups matched in one pass over a text.

    ``index.hits(text, lowered)[key]`` is ``groups[key].hits(text, lowered)``
    for every key, but each distinct word and lemma of the text is looked
    up once whatever the number of groups.
    """

    def __init__(self, groups: Mapping[K, Phrases]) -> None:
        self.groups = dict(groups)
        self._forms: dict[str, list[K]] = {}
        self._lemmas: dict[str, list[K]] = {}
        # by their first two lemmas: (group, order in the group's own reading, phrase)
        self._sequences: dict[tuple[str, str], list[tuple[K, tuple[str, int], tuple[str, ...]]]]
        self._sequences = {}
        for key, group in self.groups.items():
            for form in group.forms:
                self._forms.setdefault(form, []).append(key)
            for lemma in group.lemmas:
                self._lemmas.setdefault(lemma, []).append(key)
            for first, seqs in group.sequences.items():
                for i, seq in enumerate(seqs):
                    entry = (key, (first, i), seq)
                    self._sequences.setdefault((seq[0], seq[1]), []).append(entry)
        self._patterned = [(key, g) for key, g in self.groups.items() if g.patterns]
        # sets, not dicts: a set intersected with a set walks the smaller of the two
        self._form_keys = frozenset(self._forms)
        self._lemma_keys = frozenset(self._lemmas)
        self._sequence_keys = frozenset(self._sequences)

    def hits(self, text: Text, lowered: str) -> dict[K, list[str]]:
        """Each group's hits in ``text`` (``lowered``: the raw text in lower case)."""
        forms: dict[K, list[str]] = {}
        for form in text.token_set & self._form_keys:
            for key in self._forms[form]:
                forms.setdefault(key, []).append(form)
        lemmas: dict[K, list[str]] = {}
        for lemma in text.lemma_set & self._lemma_keys:
            for key in self._lemmas[lemma]:
                lemmas.setdefault(key, []).append(lemma)
        phrases: dict[K, list[tuple[tuple[str, int], str]]] = {}
        for pair in text.bigrams & self._sequence_keys:
            for key, order, seq in self._sequences[pair]:
                if len(seq) == 2 or text.contains(seq):
                    phrases.setdefault(key, []).append((order, " ".join(seq)))
        out: dict[K, list[str]] = {}
        for key in self.groups:
            hits = sorted(forms.get(key, ()))
            hits += sorted(lemmas.get(key, ()))
            if key in phrases:
                hits += [phrase for _, phrase in sorted(phrases[key], key=_order)]
            out[key] = hits
        for key, group in self._patterned:
            out[key] += group.pattern_hits(lowered)
        return out


def _order(item: tuple[tuple[str, int], str]) -> tuple[str, int]:
    return item[0]
