"""Built-in routers: ``rules`` (priority 100, the region's ``[[routing]]``) and
``topic-executors`` (0, an executor declaring the topic, nearest territory first).

Trained executor models (``[[models]]`` with ``target = "executor"``) come
from :mod:`tsur.default_plugins.models` at their own priority.
"""

from __future__ import annotations

from tsur.context import Context
from tsur.hookspecs import hookimpl
from tsur.protocols import Register
from tsur.routing import RuleRouter, TopicExecutorRouter

__all__ = ["register_routers"]


@hookimpl
def register_routers(register: Register, context: Context) -> None:
    """Register the rule router and the topic-declaration fallback."""
    register("rules", RuleRouter(context.region), priority=100)
    register("topic-executors", TopicExecutorRouter(context.region), priority=0)
