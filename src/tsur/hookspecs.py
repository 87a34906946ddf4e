"""Every hook tsur calls, in one place.

A plugin is a module (or object) with functions decorated by
:data:`tsur.hookimpl` and named like the specs below. Each ``register_*``
hook receives a ``register`` callback and calls it once per component it
adds::

    import tsur

    @tsur.hookimpl
    def register_classifiers(register, config):
        register("my-model", MyClassifier(), weight=2.0)

``register(name, component, *, priority=0, weight=1.0)``: ``name`` must be
unique per kind (a duplicate is a :class:`~tsur.errors.PluginError` naming
both plugins); ``priority`` orders components where the first answer wins
(higher first); ``weight`` scales a classifier's vote.

How answers combine (see docs/plugins.md):

- classifiers: **weighted vote**. Each classifier's confidence × weight is
  summed per topic; the best topic wins, and its confidence is that sum
  divided by the total weight of the classifiers that named a topic;
  urgency is the most pressing any classifier reported.
- locators, routers: **first answer by priority**. Components are asked in
  descending priority; the first non-``None`` answer wins.
- moderation filters: **all apply**. Any ``reject`` rejects; the text that
  leaves the engine is the last ``mask`` verdict's text (a masking filter
  composes all the masks it applies); every verdict is recorded.
- notifiers: **fan-out**. Every notifier receives every notification; one
  failing notifier is logged and does not stop the others.
- source adapters, report renderers: **by name**. The caller chooses.

The components' interfaces are the Protocols in :mod:`tsur.typing`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tsur.config import RegionConfig
    from tsur.typing import Register

__all__ = ["hookimpl", "hookspec"]

PROJECT_NAME = "tsur"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_source_adapters(register: Register, config: RegionConfig) -> None:
    """Register source adapter factories by source kind.

    ``register(kind, factory)`` where ``factory(source, config, **options)``
    returns a :class:`~tsur.typing.SourceAdapter` for one configured source
    of that ``kind`` (``"vk"``, ``"telegram"``, ``"jsonl"`` …). An adapter
    fetches new messages since a cursor, parses pushed webhook payloads and
    posts replies.
    """


@hookspec
def register_classifiers(register: Register, config: RegionConfig) -> None:
    """Register topic classifiers.

    ``register(name, classifier, weight=1.0)``; a classifier's
    ``classify(message, text)`` returns a :class:`~tsur.domain.Classification`
    or ``None`` when it has no opinion. Answers are combined by weighted vote.
    """


@hookspec
def register_locators(register: Register, config: RegionConfig) -> None:
    """Register territory locators.

    ``register(name, locator, priority=0)``; ``locate(message, text)``
    returns a :class:`~tsur.domain.Location` or ``None``. The first answer in
    descending priority wins.
    """


@hookspec
def register_routers(register: Register, config: RegionConfig) -> None:
    """Register routers that pick the executor of an incident.

    ``register(name, router, priority=0)``; ``route(incident, config)``
    returns a :class:`~tsur.domain.RouteDecision` or ``None``. The first
    answer in descending priority wins; the region's curator is the fallback.
    """


@hookspec
def register_moderation_filters(register: Register, config: RegionConfig) -> None:
    """Register moderation filters (spam, not-an-appeal, obscenity, personal data).

    ``register(name, filter, priority=0)``; ``check(message, text)`` returns
    a list of :class:`~tsur.domain.ModerationVerdict` (empty when fine). All
    filters run; any ``reject`` rejects the message with its reason.
    """


@hookspec
def register_notifiers(register: Register, config: RegionConfig) -> None:
    """Register notifiers that tell people about incidents.

    ``register(name, notifier)``; ``notify(notification)`` receives every
    :class:`~tsur.typing.Notification` (routed, warned, escalated …). All
    notifiers receive everything; failures are logged, never fatal.
    """


@hookspec
def register_report_renderers(register: Register, config: RegionConfig) -> None:
    """Register report renderers by format name.

    ``register(format, renderer)``; ``render(report)`` turns a report (a
    mapping of figures) into ``bytes`` of that format (``"json"``, ``"csv"``,
    ``"html"`` …).
    """


@hookspec
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add subcommands to the ``tsur`` command line.

    ``add_command(name, help=..., description=...)`` returns an
    :class:`argparse.ArgumentParser` that already has ``--db``,
    ``--config`` and ``-v``; add arguments and
    ``set_defaults(func=handler)`` where ``handler(args, console) -> int``
    returns the exit status (``console`` is a :class:`rich.console.Console`).
    A name already taken is a :class:`~tsur.errors.PluginError`.
    """


@hookspec
def prepare_engine(engine: Any) -> None:
    """Adjust a freshly built :class:`~tsur.Engine` before it processes anything.

    Called once per engine, after every component is registered; a plugin
    can, for example, add context to log records or warm a model.
    """
