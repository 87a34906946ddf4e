"""Reading a message: the stages that need no storage.

:class:`Reader` normalises and lemmatises the text once (with the engine's
lemmatiser), asks every moderation filter, classifier and locator the
plugins registered, and reads the places the message names: an
:class:`~tsur.analysis.Analysis`. The engine's :meth:`~tsur.Engine.analyse`
is this; a failing stage raises a :class:`~tsur.errors.ProcessingError`
naming it.

A message's text is read up to :data:`MAX_TEXT_CHARS` characters (20 000,
some ten pages: no appeal is longer, and every stage then costs a bounded
time). A longer text is cut before moderation and every other stage; the
cut is the first verdict, a ``mask`` of the ``length`` filter whose reason
gives both lengths, so the shortened text is what leaves the engine and the
message's stored verdicts say it was cut. The message as received stays
whole in the store of raw messages.
"""

from __future__ import annotations

from collections import defaultdict

import attrs

from tsur.analysis import Analysis
from tsur.components import Components
from tsur.domain import Classification, Location, Message, ModerationVerdict, Urgency
from tsur.errors import ProcessingError, UnknownTerritory
from tsur.grouping import Places
from tsur.region import Region
from tsur.stages import expect, run_stage
from tsur.text.masking import MAX_TEXT_CHARS
from tsur.text.normalize import Lemmatizer, Text

__all__ = ["MAX_TEXT_CHARS", "Reader", "cap_text"]


def cap_text(message: Message) -> tuple[Message, ModerationVerdict | None]:
    """``message`` with its text cut to :data:`MAX_TEXT_CHARS`, and the verdict recording the cut.

    A text that fits is returned as it is, with no verdict.
    """
    n = len(message.text)
    if n <= MAX_TEXT_CHARS:
        return message, None
    cut = message.text[:MAX_TEXT_CHARS]
    verdict = ModerationVerdict(
        "mask",
        f"текст сокращён до {MAX_TEXT_CHARS} знаков из {n}",
        masked_text=cut,
        filter="length",
    )
    return attrs.evolve(message, text=cut), verdict


class Reader:
    """The reading stages over the components the plugins registered."""

    def __init__(self, region: Region, components: Components, lemmatizer: Lemmatizer) -> None:
        self.region = region
        self.components = components
        self.lemmatizer = lemmatizer
        self.places = Places(region, lemmatizer)

    def analyse(self, message: Message) -> Analysis:
        """Run the reading stages (no storage): moderation, topic, urgency, territory, places.

        A message a filter rejects is not classified or located. Raises
        :class:`~tsur.errors.ProcessingError` (with the stage) when a stage
        fails or names a topic or territory the region lacks.
        """
        message, cut = cap_text(message)
        text = run_stage("normalise", Text.from_raw, message.text, self.lemmatizer)
        verdicts = tuple(run_stage("moderate", self.moderate, message, text))
        if cut is not None:
            verdicts = (cut, *verdicts)
        if any(v.action == "reject" for v in verdicts):
            return Analysis(message, text, verdicts)
        cls = run_stage("classify", self.classify, message, text)
        if message.topic is not None and message.topic not in self.region.topics:
            raise ProcessingError(f"unknown topic {message.topic!r}", stage="classify")
        loc = run_stage("locate", self.locate, message, text)
        if loc is not None and loc.territory not in self.region.territories:
            raise UnknownTerritory(loc.territory)
        address = (
            run_stage("normalise", Text.from_raw, message.address, self.lemmatizer)
            if message.address
            else None
        )
        places = run_stage("group", self.places.keys, text, address, loc.territory if loc else None)
        return Analysis(
            message,
            text,
            verdicts,
            cls,
            loc,
            address,
            places,
            self.places.words(text),
        )

    def moderate(self, message: Message, text: Text) -> list[ModerationVerdict]:
        """All moderation filters' verdicts on ``message``."""
        out: list[ModerationVerdict] = []
        for reg in self.components.moderation_filters:
            for v in reg.component.check(message, text) or ():
                expect(v, ModerationVerdict, "moderation filter", reg.name)
                out.append(attrs.evolve(v, filter=v.filter or reg.name))
                if v.action == "mask" and v.masked_text is not None:
                    # Masks compose: the filters after this one read the masked text,
                    # so the last mask hides what every earlier one hid.
                    message = attrs.evolve(message, text=v.masked_text)
                    text = Text.from_raw(v.masked_text, self.lemmatizer)
        return out

    def classify(self, message: Message, text: Text) -> Classification | None:
        """Combine every classifier's answer by weighted vote.

        The topic with the most weighted confidence wins. Runner-ups — the
        other topics voted for and each classifier's own alternatives — are
        listed with their weighted confidence; ``evidence`` is what decided the
        topic. Urgency is the highest any classifier gave, and
        ``urgency_evidence`` the words of those that only judged urgency.
        """
        votes: dict[str, float] = defaultdict(float)
        weight_total = 0.0
        evidence: dict[str, list[str]] = defaultdict(list)
        voters: dict[str, list[str]] = defaultdict(list)
        runner_up: dict[str, float] = defaultdict(float)  # alternatives, shown, never deciding
        urgency: Urgency | None = None
        urgency_evidence: list[str] = []
        opinions: list[tuple[str, bool]] = []  # (topic, may it be acted on alone)
        for reg in self.components.classifiers:
            c = reg.component.classify(message, text)
            if c is None:
                continue
            expect(c, Classification, "classifier", reg.name)
            if c.urgency is not None and (urgency is None or c.urgency.rank > urgency.rank):
                urgency = c.urgency
            if c.topic is None:
                urgency_evidence.extend(c.evidence)
                continue
            if c.topic not in self.region.topics:
                raise ProcessingError(
                    f"classifier {reg.name!r} returned unknown topic {c.topic!r}", stage="classify"
                )
            if c.auto is not None:
                opinions.append((c.topic, c.auto))
            votes[c.topic] += c.confidence * reg.weight
            weight_total += reg.weight
            evidence[c.topic].extend(c.evidence)
            voters[c.topic].append(reg.name)
            for topic, confidence in c.alternatives:
                if topic in self.region.topics:
                    runner_up[topic] += confidence * reg.weight
        if not votes:
            if urgency is None:
                return None
            return Classification(None, 0.0, urgency, urgency_evidence=urgency_evidence)
        best = max(votes, key=lambda t: votes[t])
        for topic, v in votes.items():
            runner_up[topic] += v
        alternatives = sorted(
            ((t, round(v / weight_total, 4)) for t, v in runner_up.items() if t != best),
            key=lambda a: (-a[1], a[0]),
        )
        return Classification(
            topic=best,
            confidence=round(votes[best] / weight_total, 4),
            urgency=urgency,
            evidence=tuple(dict.fromkeys(evidence[best])),
            classifier="+".join(voters[best]),
            alternatives=alternatives[:3],
            urgency_evidence=tuple(dict.fromkeys(urgency_evidence)),
            auto=_alone(best, opinions),
        )

    def locate(self, message: Message, text: Text) -> Location | None:
        """The first locator's answer, in descending priority."""
        for reg in self.components.locators:
            loc: Location | None = reg.component.locate(message, text)
            if loc is not None:
                expect(loc, Location, "locator", reg.name)
                return attrs.evolve(loc, locator=loc.locator or reg.name)
        return None


def _alone(best: str, opinions: list[tuple[str, bool]]) -> bool | None:
    """May the winning topic be acted on without a curator, by the calibrated voters?

    No opinion: None. Otherwise only when every calibrated voter for it says
    so and none is as sure of another topic.
    """
    if not opinions:
        return None
    for_best = [ok for topic, ok in opinions if topic == best]
    against = any(ok for topic, ok in opinions if topic != best)
    return bool(for_best) and all(for_best) and not against
