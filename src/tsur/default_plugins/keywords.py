"""Keyword classifier: topic lemmas from the region file, seasonal sets by month.

Each keyword (a word or a phrase) is lemmatised once. How a message's
keywords are weighed:

- a word found scores 1, a phrase 2; each keyword counts once per topic
  however often it is written or listed; a seasonal keyword in its months
  weighs half as much again (``снег`` in January says more than in May);
- a keyword several topic families claim in the same message is shared
  among them (``каток`` is a rink for sport and, in winter, ice for roads:
  half a point each), so the rest of the message decides;
- a keyword that only names a landmark — the noun after «у», «возле»,
  «около», «рядом с», «напротив», «вдоль», «в районе» … — weighs half:
  «светофор у школы не работает» is about the traffic light, not the
  school. A place the problem is *in* («в подъезде», «во дворе») is not a
  landmark: it is often whose the problem is;
- the topic family with the most evidence wins, and inside it the most
  specific topic with evidence (a subtopic inherits its parent's score).

A topic's ``urgent_keywords`` and ``quick_keywords`` count as its keywords
too; the urgency they signal is decided by the ``urgency`` classifier
(:mod:`tsur.default_plugins.urgency`), which knows negation and fixed
problems («люк закрыли»).
"""

from __future__ import annotations

from collections import defaultdict

from tsur.context import Context
from tsur.domain import Classification, Message
from tsur.hookspecs import hookimpl
from tsur.protocols import Register
from tsur.region import Region
from tsur.text.normalize import Lemmatizer, Text

__all__ = ["LANDMARK_WORDS", "KeywordClassifier", "is_landmark"]

Phrase = tuple[str, ...]

#: Words after which a noun names a landmark near the problem, not the problem.
LANDMARK_WORDS = frozenset(
    """у возле около рядом напротив вблизи близ неподалеку неподалёку недалеко вдоль
    позади сзади перед напротив мимо район""".split()  # noqa: SIM905 (reads better as text)
)
#: Words that may stand between a landmark word and its noun («рядом с нашей школой»).
_BETWEEN = frozenset("с со от самый наш ваш их его ее этот тот свой мой весь".split())  # noqa: SIM905
_ADJECTIVE_LEMMA_ENDINGS = ("ый", "ий", "ой")
SEASONAL_WEIGHT = 1.5
LANDMARK_WEIGHT = 0.5
#: How many runner-up topics a classification lists.
MAX_ALTERNATIVES = 3


def is_landmark(text: Text, position: int) -> bool:
    """Whether the word at ``position`` names a landmark («у школы», «возле дома № 5»).

    Up to three words may stand between: «с»/«от», pronouns, numbers and
    adjectives («рядом с нашей 5-й школой»).
    """
    lemmas, tokens = text.lemmas, text.tokens
    i = position - 1
    skipped = 0
    while i >= 0 and skipped <= 3:
        lemma = lemmas[i]
        if lemma in LANDMARK_WORDS:
            return lemma != "район" or (i > 0 and lemmas[i - 1] == "в")
        if (
            lemma in _BETWEEN
            or any(ch.isdigit() for ch in tokens[i])
            or (lemma.endswith(_ADJECTIVE_LEMMA_ENDINGS) and lemma != tokens[i])
        ):
            i -= 1
            skipped += 1
            continue
        return False
    return False


class KeywordClassifier:
    """Scores topics by keyword lemmas found in a message (see the module's rules).

    Keywords are indexed by their first lemma, so a message costs one dict
    lookup per distinct lemma whatever the number of topics and keywords.
    """

    def __init__(self, region: Region, lemmatizer: Lemmatizer) -> None:
        lem = lemmatizer
        self.tz = region.calendar.tz
        self._chains = {t: region.topic_chain(t) for t in region.topics}
        # first lemma → [(phrase, topic, months or None)]
        self.index: dict[str, list[tuple[Phrase, str, frozenset[int] | None]]] = defaultdict(list)
        for t in region.topics.values():
            for p in map(lem.phrase, [*t.keywords, *t.urgent_keywords, *t.quick_keywords]):
                if p:
                    self.index[p[0]].append((p, t.id, None))
            for s in t.seasonal:
                months = s.months
                for p in map(lem.phrase, s.keywords):
                    if p:
                        self.index[p[0]].append((p, t.id, months))

        # One-word keywords by their lemma, longer ones by their first two lemmas:
        # a message costs two set intersections, then work only for what it holds.
        self._singles: dict[str, list[tuple[Phrase, str, frozenset[int] | None]]] = {}
        self._pairs: dict[tuple[str, str], list[tuple[Phrase, str, frozenset[int] | None]]] = {}
        for entries in self.index.values():
            for e in entries:
                if len(e[0]) == 1:
                    self._singles.setdefault(e[0][0], []).append(e)
                else:
                    self._pairs.setdefault((e[0][0], e[0][1]), []).append(e)
        self._single_keys = frozenset(self._singles)
        self._pair_keys = frozenset(self._pairs)

    def classify(self, message: Message, text: Text) -> Classification | None:
        """Topic, confidence and evidence for ``message`` (None without evidence)."""
        month = message.created_at.astimezone(self.tz).month
        chains = self._chains
        hits: dict[tuple[str, Phrase], float] = {}
        found = [e for lemma in text.lemma_set & self._single_keys for e in self._singles[lemma]]
        for pair in text.bigrams & self._pair_keys:
            found += [e for e in self._pairs[pair] if len(e[0]) == 2 or text.contains(e[0])]
        for p, topic, months in found:
            if months is not None and month not in months:
                continue
            weight = (2.0 if len(p) > 1 else 1.0) * (SEASONAL_WEIGHT if months is not None else 1.0)
            hits[(topic, p)] = max(hits.get((topic, p), 0.0), weight)
        if not hits:
            return None
        families: dict[Phrase, set[str]] = defaultdict(set)
        for topic, p in hits:
            families[p].add(chains[topic][-1])
        own: dict[str, float] = defaultdict(float)
        evidence: dict[str, list[str]] = defaultdict(list)
        landmarks: dict[str, bool] = {}
        for (topic, p), weight in hits.items():
            weight /= len(families[p])
            first = p[0]
            if first not in landmarks:
                where = (i for i, lemma in enumerate(text.lemmas) if lemma == first)
                landmarks[first] = all(is_landmark(text, i) for i in where)
            if landmarks[first]:
                weight *= LANDMARK_WEIGHT
            own[topic] += weight
            evidence[topic].append(" ".join(p))
        by_root: dict[str, float] = defaultdict(float)
        for t, v in own.items():
            by_root[chains[t][-1]] += v
        # A topic's score is its own plus its ancestors'. The family with the most
        # evidence wins, then the topic with the best score; ties go deeper.
        scores = {t: sum(own.get(a, 0.0) for a in chains[t]) for t in own}
        best = max(
            sorted(scores),
            key=lambda t: (by_root[chains[t][-1]], scores[t], len(chains[t])),
        )
        total = sum(by_root.values())

        def confidence(t: str) -> float:
            share = by_root[chains[t][-1]] / total
            return round(share * (0.5 + 0.5 * min(1.0, scores[t] / 3.0)), 4)

        # Runner-ups: the best topic of every other family, and other topics of this one.
        others = sorted(
            (t for t in scores if t not in chains[best]),  # not the winner nor its ancestors
            key=lambda t: (-by_root[chains[t][-1]], -scores[t], -len(chains[t]), t),
        )
        alternatives = [(t, confidence(t)) for t in others[:MAX_ALTERNATIVES]]
        words = [w for t in reversed(chains[best]) for w in sorted(evidence.get(t, []))]
        return Classification(
            topic=best,
            confidence=confidence(best),
            evidence=tuple(dict.fromkeys(words)),
            alternatives=sorted(alternatives, key=lambda a: -a[1]),
        )


@hookimpl
def register_classifiers(register: Register, context: Context) -> None:
    """Register the keyword classifier built from the region's topics."""
    register("keywords", KeywordClassifier(context.region, context.lemmatizer))
