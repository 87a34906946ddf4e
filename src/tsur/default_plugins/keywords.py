"""Keyword classifier: topic lemmas from the region file, seasonal sets by month.

Each keyword (a word or a phrase) is lemmatised once; a message scores a
point per single-word keyword and two per phrase found in its lemmas. A
subtopic inherits its parent's score, so the most specific topic with
evidence wins. A topic's ``urgent_keywords`` and ``quick_keywords`` count as
its keywords too; the urgency they signal is decided by the ``urgency``
classifier (:mod:`tsur.default_plugins.urgency`), which knows negation and
fixed problems («люк закрыли»).
"""

from __future__ import annotations

from collections import defaultdict

from tsur.context import Context
from tsur.domain import Classification, Message
from tsur.hookspecs import hookimpl
from tsur.protocols import Register
from tsur.region import Region
from tsur.text.normalize import Lemmatizer, Text

__all__ = ["KeywordClassifier"]

Phrase = tuple[str, ...]


class KeywordClassifier:
    """Scores topics by keyword lemmas found in a message.

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
            for p in map(lem.phrase, t.keywords):
                if p:
                    self.index[p[0]].append((p, t.id, None))
            for s in t.seasonal:
                months = s.months
                for p in map(lem.phrase, s.keywords):
                    if p:
                        self.index[p[0]].append((p, t.id, months))
            for p in map(lem.phrase, [*t.urgent_keywords, *t.quick_keywords]):
                if p:
                    self.index[p[0]].append((p, t.id, None))

    def classify(self, message: Message, text: Text) -> Classification | None:
        """Topic, confidence and evidence for ``message`` (None without evidence)."""
        month = message.created_at.astimezone(self.tz).month
        own: dict[str, float] = defaultdict(float)
        evidence: dict[str, list[str]] = defaultdict(list)
        index = self.index
        for lemma in text.lemma_set:
            for p, topic, months in index.get(lemma, ()):
                if months is not None and month not in months:
                    continue
                if len(p) == 1 or text.contains(p):
                    own[topic] += 2.0 if len(p) > 1 else 1.0
                    evidence[topic].append(" ".join(p))
        if not own:
            return None
        chains = self._chains
        # A topic's score is its own plus its ancestors'; ties go to the deeper topic.
        scores = {t: sum(own.get(a, 0.0) for a in chains[t]) for t in own}
        best = max(sorted(scores), key=lambda t: (scores[t], len(chains[t])))
        root = chains[best][-1]
        by_root: dict[str, float] = defaultdict(float)
        for t, v in own.items():
            by_root[chains[t][-1]] += v
        share = by_root[root] / sum(by_root.values())
        strength = min(1.0, scores[best] / 3.0)
        words = [w for t in reversed(chains[best]) for w in sorted(evidence.get(t, []))]
        return Classification(
            topic=best,
            confidence=round(share * (0.5 + 0.5 * strength), 4),
            evidence=tuple(dict.fromkeys(words)),
        )


@hookimpl
def register_classifiers(register: Register, context: Context) -> None:
    """Register the keyword classifier built from the region's topics."""
    register("keywords", KeywordClassifier(context.region, context.lemmatizer))
