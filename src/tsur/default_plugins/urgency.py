"""Urgency classifier: puts threats to life and health on the accelerated track.

Registered as the classifier ``"urgency"``. It has no opinion on the topic
(``topic=None``, ``confidence=0.0``), so it never sways the topic vote; the
engine takes the most pressing urgency any classifier reports, so an
``urgent`` or ``quick`` answer here sets the incident's track. The patterns
are the bundled :mod:`tsur.text.urgency` file, compiled once per process.

A region with patterns of its own switches this one off
(``pipeline.disabled_plugins = ["urgency"]``) and registers
``UrgencyClassifier(UrgencyDetector.from_files("my-patterns.toml"))`` from
its plugin under another name.
"""

from __future__ import annotations

import json
from datetime import tzinfo
from functools import lru_cache
from typing import Any

from tsur.context import Context
from tsur.domain import Classification, Message, Urgency
from tsur.hookspecs import hookimpl
from tsur.protocols import Register
from tsur.region import Region
from tsur.text.normalize import Lemmatizer, Text
from tsur.text.urgency import IndoorNorms, UrgencyDetector

__all__ = ["UrgencyClassifier"]


class UrgencyClassifier:
    """Adapts an :class:`~tsur.text.urgency.UrgencyDetector` to the classifier interface."""

    def __init__(
        self,
        detector: UrgencyDetector,
        norms: IndoorNorms | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        self.detector = detector
        self.norms = norms or IndoorNorms()
        self.tz = tz

    def classify(self, message: Message, text: Text) -> Classification | None:
        """``urgent`` or ``quick`` with the matched phrases; None for a normal message.

        The message's time, in the region's zone, decides whether the heating
        season is on and whether the night's allowance applies.
        """
        at = message.created_at.astimezone(self.tz) if self.tz else message.created_at
        result = self.detector.detect(text, at=at, norms=self.norms)
        if result.level is Urgency.NORMAL:
            return None
        return Classification(
            topic=None,
            confidence=0.0,
            urgency=result.level,
            evidence=result.evidence,
            classifier="urgency",
        )


def region_rules(region: Region) -> dict[str, Any]:
    """The region's ``urgent_keywords`` and ``quick_keywords`` as one-part pattern rules.

    Going through the detector gives the region's own words the same care as
    the bundled patterns: «люк закрыли» or «не искрит» is no emergency.
    """
    rules: list[dict[str, Any]] = []
    for topic in region.topics.values():
        for level, words in (("urgent", topic.urgent_keywords), ("quick", topic.quick_keywords)):
            for i, phrase in enumerate(words, 1):
                rules.append(
                    {
                        "id": f"region.{topic.id}.{level}{i}"[:64],
                        "level": level,
                        "label": phrase,
                        "parts": [[phrase]],
                    }
                )
    return {"version": 1, "rules": rules}


@lru_cache(maxsize=8)
def _detector_for(lemmatizer: Lemmatizer, data: str) -> UrgencyDetector:
    """The bundled patterns plus the region's rules (``data``, JSON), compiled once per
    lemmatiser: an engine's components lemmatise with the engine's lemmatiser."""
    if not data:
        return UrgencyDetector.from_files(lemmatizer=lemmatizer)
    return UrgencyDetector.from_mapping(json.loads(data), lemmatizer=lemmatizer)


@hookimpl
def register_classifiers(register: Register, context: Context) -> None:
    """Register the urgency classifier: bundled patterns plus the region's keywords."""
    data = region_rules(context.region)
    blob = json.dumps(data, ensure_ascii=False, sort_keys=True) if data["rules"] else ""
    info = context.region.config.region
    norms = IndoorNorms.for_climate(info.coldest_five_days, info.heating_season)
    detector = _detector_for(context.lemmatizer, blob)
    register("urgency", UrgencyClassifier(detector, norms, context.region.calendar.tz))
