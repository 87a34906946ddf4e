"""Built-in routers: the region's ordered rules, then executors declaring the topic.

``[[routing]]`` rules are tried in file order; the first whose conditions
all hold (topic or a subtopic, territory or inside it, urgency, source)
and whose target exists wins. A rule naming ``executor_kind`` resolves to
the executor of that kind for the incident's territory, walking up from a
settlement to its district; if there is none, the next rule is tried.
"""

from __future__ import annotations

from collections.abc import Sequence

from tsur.analysis import Analysis
from tsur.config import RoutingRule
from tsur.domain import Incident, RouteDecision
from tsur.region import Region

__all__ = ["RuleRouter", "TopicExecutorRouter"]


class RuleRouter:
    """Routes by the region's ``[[routing]]`` rules (``rules``: the region's by default)."""

    def __init__(self, region: Region, rules: Sequence[RoutingRule] | None = None) -> None:
        self.region = region
        self.rules = tuple(region.config.routing if rules is None else rules)
        self._by_topic: dict[str | None, tuple[int, ...]] = {}

    def _for_topic(self, topic: str | None) -> tuple[int, ...]:
        """The rules whose topics let ``topic`` through, in order (worked out once per topic)."""
        found = self._by_topic.get(topic)
        if found is None:
            in_topic = self.region.in_topic
            found = tuple(
                i for i, r in enumerate(self.rules) if not r.topics or in_topic(topic, r.topics)
            )
            self._by_topic[topic] = found
        return found

    def route(self, incident: Incident, analysis: Analysis | None = None) -> RouteDecision | None:
        """The executor chosen by the first matching rule."""
        region = self.region
        for i in self._for_topic(incident.topic):
            rule = self.rules[i]
            if rule.territories and not region.in_territory(incident.territory, rule.territories):
                continue
            if rule.urgency and incident.urgency not in rule.urgency:
                continue
            if rule.sources and incident.source not in rule.sources:
                continue
            if rule.executor is not None:
                return RouteDecision(rule.executor, f"правило {i + 1} «{rule.name}»")
            assert rule.executor_kind is not None
            ex = region.executor_for(rule.executor_kind, incident.territory)
            if ex is not None:
                return RouteDecision(
                    ex.id,
                    f"правило {i + 1} «{rule.name}»: {ex.name} "
                    f"({region.territory_name(ex.territory)})",
                )
        return None


class TopicExecutorRouter:
    """Fallback: the executor whose territory and declared topics fit best."""

    def __init__(self, region: Region) -> None:
        self.region = region

    def route(self, incident: Incident, analysis: Analysis | None = None) -> RouteDecision | None:
        """An executor declaring the topic, preferring the nearest territory."""
        if incident.topic is None:
            return None
        region = self.region
        territories: list[str | None] = [*region.territory_chain(incident.territory), None]
        for tp in region.topic_chain(incident.topic):
            for terr in territories:
                for e in region.executors.values():
                    if tp in e.topics and e.territory == terr:
                        return RouteDecision(
                            e.id, f"исполнитель отвечает за тему «{region.topic_name(tp)}»"
                        )
        return None
