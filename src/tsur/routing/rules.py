"""Built-in routers: the region's ordered rules, then executors declaring the topic.

``[[routing]]`` rules are tried in file order; the first whose conditions
all hold (topic or a subtopic, territory or inside it, urgency, source)
and whose target exists wins. A rule naming ``executor_kind`` resolves to
the executor of that kind for the incident's territory, walking up from a
settlement to its district; if there is none, the next rule is tried.
"""

from __future__ import annotations

from tsur.config import RegionConfig
from tsur.domain import Incident, RouteDecision
from tsur.hookspecs import hookimpl
from tsur.routing.executors import ExecutorDirectory
from tsur.typing import Register

__all__ = ["RuleRouter", "TopicExecutorRouter"]


class RuleRouter:
    """Routes by the region's ``[[routing]]`` rules."""

    def __init__(self, config: RegionConfig, directory: ExecutorDirectory | None = None) -> None:
        self.rules = config.routing
        self.dir = directory or ExecutorDirectory(config)

    def route(self, incident: Incident, config: RegionConfig) -> RouteDecision | None:
        """The executor chosen by the first matching rule."""
        topics = set(self.dir.topic_chain(incident.topic))
        territories = set(self.dir.territory_chain(incident.territory))
        for i, rule in enumerate(self.rules):
            if rule.topics and not topics.intersection(rule.topics):
                continue
            if rule.territories and not territories.intersection(rule.territories):
                continue
            if rule.urgency and incident.urgency not in rule.urgency:
                continue
            if rule.sources and incident.source not in rule.sources:
                continue
            if rule.executor is not None:
                return RouteDecision(rule.executor, f"rule {i + 1} «{rule.name}»")
            assert rule.executor_kind is not None
            ex = self.dir.for_territory(rule.executor_kind, incident.territory)
            if ex is not None:
                return RouteDecision(
                    ex.id, f"rule {i + 1} «{rule.name}»: {rule.executor_kind} of {ex.territory}"
                )
        return None


class TopicExecutorRouter:
    """Fallback: the executor whose territory and declared topics fit best."""

    def __init__(self, config: RegionConfig, directory: ExecutorDirectory | None = None) -> None:
        self.dir = directory or ExecutorDirectory(config)

    def route(self, incident: Incident, config: RegionConfig) -> RouteDecision | None:
        """An executor declaring the topic, preferring the nearest territory."""
        if incident.topic is None:
            return None
        topics = self.dir.topic_chain(incident.topic)
        territories: list[str | None] = [*self.dir.territory_chain(incident.territory), None]
        for tp in topics:
            for terr in territories:
                for e in self.dir.executors.values():
                    if tp in e.topics and e.territory == terr:
                        return RouteDecision(e.id, f"executor declares topic {tp}")
        return None


@hookimpl
def register_routers(register: Register, config: RegionConfig) -> None:
    """Register the rule router and the topic-declaration fallback."""
    directory = ExecutorDirectory(config)
    register("rules", RuleRouter(config, directory), priority=100)
    register("topic-executors", TopicExecutorRouter(config, directory), priority=0)
