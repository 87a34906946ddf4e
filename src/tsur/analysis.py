"""What the reading stages made of one message: :class:`Analysis`.

The engine reads a message once — normalises and lemmatises its text,
runs the moderation filters, the classifiers and the locators, and reads
the places it names — and hands the result to everything that decides
afterwards: grouping, the routers (``route(incident, analysis)``), the
decision that makes, joins or reopens an incident. Nothing is read twice.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from tsur.domain import (
    Classification,
    Location,
    Message,
    ModerationVerdict,
    Urgency,
)
from tsur.text.normalize import Text, plain_mentions

__all__ = ["Analysis"]


@attrs.frozen
class Analysis:
    """A message as the reading stages saw it.

    ``text`` is the normalised, lemmatised text (the engine's lemmatiser);
    ``verdicts`` every moderation filter's; ``classification`` the vote of
    the classifiers and ``location`` the locators' answer (None when nobody
    had one); ``address`` the message's address field, read the same way;
    ``places`` the place keys it names (``{"street": "мир", "house": "5"}``)
    and ``words`` the content words that say what the problem is (places
    left out), which grouping compares.
    """

    message: Message
    text: Text
    verdicts: tuple[ModerationVerdict, ...] = ()
    classification: Classification | None = None
    location: Location | None = None
    address: Text | None = None
    places: Mapping[str, str] = attrs.field(factory=dict)
    words: frozenset[str] = frozenset()

    @property
    def rejects(self) -> tuple[ModerationVerdict, ...]:
        """The ``reject`` verdicts (any of them keeps the message from becoming an incident)."""
        return tuple(v for v in self.verdicts if v.action == "reject")

    @property
    def thanks(self) -> tuple[ModerationVerdict, ...]:
        """The ``thanks`` verdicts: the message thanks and asks for nothing (no incident)."""
        return tuple(v for v in self.verdicts if v.action == "thanks")

    @property
    def flags(self) -> tuple[str, ...]:
        """Reasons of the ``flag`` verdicts (a curator looks first)."""
        return tuple(v.reason for v in self.verdicts if v.action == "flag")

    @property
    def masked_text(self) -> str:
        """The text that may leave the engine: the last ``mask`` verdict's, else the original."""
        masks = [
            v.masked_text for v in self.verdicts if v.action == "mask" and v.masked_text is not None
        ]
        return masks[-1] if masks else self.message.text

    @property
    def summary(self) -> str:
        """An incident's summary made from this message: the masked text on one line, mentions
        made plain, at most 300 characters."""
        return " ".join(plain_mentions(self.masked_text).split())[:300]

    @property
    def topic(self) -> str | None:
        """The topic: the one a structured source gave, else the classifiers'."""
        if self.message.topic is not None:
            return self.message.topic
        return self.classification.topic if self.classification else None

    @property
    def confidence(self) -> float:
        """How sure the topic is: 1 when the source gave it, else the vote's confidence."""
        if self.message.topic is not None:
            return 1.0
        return self.classification.confidence if self.classification else 0.0

    @property
    def territory(self) -> str | None:
        """The territory the locators found."""
        return self.location.territory if self.location else None

    @property
    def urgency(self) -> Urgency:
        """The most pressing track any classifier reported; normal otherwise."""
        c = self.classification
        return c.urgency if c is not None and c.urgency is not None else Urgency.NORMAL
