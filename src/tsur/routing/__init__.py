"""Routing: which executor answers for an incident."""

from tsur.routing.rules import RuleRouter, TopicExecutorRouter

__all__ = ["RuleRouter", "TopicExecutorRouter"]
