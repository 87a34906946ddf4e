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
from functools import lru_cache
from typing import Any

from tsur.config import RegionConfig
from tsur.domain import Classification, Message, Urgency
from tsur.hookspecs import hookimpl
from tsur.text.normalize import Text
from tsur.text.urgency import UrgencyDetector, default_detector
from tsur.typing import Register

__all__ = ["UrgencyClassifier"]


class UrgencyClassifier:
    """Adapts an :class:`~tsur.text.urgency.UrgencyDetector` to the classifier interface."""

    def __init__(self, detector: UrgencyDetector | None = None) -> None:
        self.detector = detector or default_detector()

    def classify(self, message: Message, text: Text) -> Classification | None:
        """``urgent`` or ``quick`` with the matched phrases; None for a normal message."""
        result = self.detector.detect(text)
        if result.level is Urgency.NORMAL:
            return None
        return Classification(
            topic=None,
            confidence=0.0,
            urgency=result.level,
            evidence=result.evidence,
            classifier="urgency",
        )


def region_rules(config: RegionConfig) -> dict[str, Any]:
    """The region's ``urgent_keywords`` and ``quick_keywords`` as one-part pattern rules.

    Going through the detector gives the region's own words the same care as
    the bundled patterns: «люк закрыли» or «не искрит» is no emergency.
    """
    rules: list[dict[str, Any]] = []
    for topic in config.topics:
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
def _detector_for(key: str, data: str) -> UrgencyDetector:
    return UrgencyDetector.from_mapping(json.loads(data))


@hookimpl
def register_classifiers(register: Register, config: RegionConfig) -> None:
    """Register the urgency classifier: bundled patterns plus the region's keywords."""
    data = region_rules(config)
    if not data["rules"]:
        register("urgency", UrgencyClassifier())
        return
    blob = json.dumps(data, ensure_ascii=False, sort_keys=True)
    register("urgency", UrgencyClassifier(_detector_for(config.region.code, blob)))
