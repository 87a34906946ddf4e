"""Routing: which executor answers for an incident."""

from tsur.routing.executors import ExecutorDirectory
from tsur.routing.rules import RuleRouter, TopicExecutorRouter

__all__ = ["ExecutorDirectory", "RuleRouter", "TopicExecutorRouter"]
