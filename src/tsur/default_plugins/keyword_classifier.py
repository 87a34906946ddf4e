"""Keyword classifier: topic lemmas from the region file, seasonal sets by month.

Each keyword (a word or a phrase) is lemmatised once; a message scores a
point per single-word keyword and two per phrase found in its lemmas. A
subtopic inherits its parent's score, so the most specific topic with
evidence wins. Urgency comes from the topics' ``urgent_keywords`` and
``quick_keywords``, searched in every message whatever its topic.
"""

from __future__ import annotations

from collections import defaultdict
from zoneinfo import ZoneInfo

from tsur.config import RegionConfig
from tsur.domain import Classification, Message, Urgency
from tsur.hookspecs import hookimpl
from tsur.text.normalize import Lemmatizer, Text, get_lemmatizer
from tsur.typing import Register

__all__ = ["KeywordClassifier"]

Phrase = tuple[str, ...]


class KeywordClassifier:
    """Scores topics by keyword lemmas found in a message."""

    def __init__(self, config: RegionConfig, lemmatizer: Lemmatizer | None = None) -> None:
        lem = lemmatizer or get_lemmatizer()
        self.tz = ZoneInfo(config.region.timezone)
        self.parents = {t.id: t.parent for t in config.topics}
        self.always: dict[str, list[Phrase]] = defaultdict(list)
        self.seasonal: dict[int, dict[str, list[Phrase]]] = defaultdict(lambda: defaultdict(list))
        self.urgent: list[tuple[Phrase, str]] = []
        self.quick: list[tuple[Phrase, str]] = []
        for t in config.topics:
            self.always[t.id].extend(p for p in map(lem.phrase, t.keywords) if p)
            for s in t.seasonal:
                for month in s.months:
                    self.seasonal[month][t.id].extend(p for p in map(lem.phrase, s.keywords) if p)
            self.urgent.extend((p, t.id) for p in map(lem.phrase, t.urgent_keywords) if p)
            self.quick.extend((p, t.id) for p in map(lem.phrase, t.quick_keywords) if p)

    def _chain(self, topic: str) -> list[str]:
        out = []
        node: str | None = topic
        while node is not None:
            out.append(node)
            node = self.parents.get(node)
        return out

    def classify(self, message: Message, text: Text) -> Classification | None:
        """Topic, confidence, urgency and evidence for ``message`` (None without evidence)."""
        month = message.created_at.astimezone(self.tz).month
        own: dict[str, float] = defaultdict(float)
        evidence: dict[str, list[str]] = defaultdict(list)
        for table in (self.always, self.seasonal.get(month, {})):
            for topic, phrases in table.items():
                for p in phrases:
                    if text.contains(p):
                        own[topic] += 2.0 if len(p) > 1 else 1.0
                        evidence[topic].append(" ".join(p))
        urgency = self._urgency(text, evidence)
        if not own:
            if urgency is None:
                return None
            return Classification(None, 0.0, urgency, tuple(evidence.get("*urgency*", ())))
        # A topic's score is its own plus its ancestors'; ties go to the deeper topic.
        scores = {t: sum(own.get(a, 0.0) for a in self._chain(t)) for t in own}
        best = max(scores, key=lambda t: (scores[t], len(self._chain(t))))
        root = self._chain(best)[-1]
        by_root: dict[str, float] = defaultdict(float)
        for t, v in own.items():
            by_root[self._chain(t)[-1]] += v
        share = by_root[root] / sum(by_root.values())
        strength = min(1.0, scores[best] / 3.0)
        words = [w for t in self._chain(best) for w in evidence.get(t, [])]
        words += evidence.get("*urgency*", [])
        return Classification(
            topic=best,
            confidence=round(share * (0.5 + 0.5 * strength), 4),
            urgency=urgency,
            evidence=tuple(dict.fromkeys(words)),
        )

    def _urgency(self, text: Text, evidence: dict[str, list[str]]) -> Urgency | None:
        for table, level in ((self.urgent, Urgency.URGENT), (self.quick, Urgency.QUICK)):
            hits = [" ".join(p) for p, _topic in table if text.contains(p)]
            if hits:
                evidence["*urgency*"].extend(hits)
                return level
        return None


@hookimpl
def register_classifiers(register: Register, config: RegionConfig) -> None:
    """Register the keyword classifier built from the region's topics."""
    register("keywords", KeywordClassifier(config))
