"""Every hook tsur calls, in one place.

A plugin is a module (or object) with functions decorated by
:data:`tsur.hookimpl` and named like the specs below. Each ``register_*``
hook receives a ``register`` callback and a :class:`~tsur.Context`, and
calls ``register`` once per component it adds::

    import tsur

    @tsur.hookimpl
    def register_classifiers(register, context):
        register("my-model", MyClassifier(context.region, context.lemmatizer), weight=2.0)

``register(name, component, *, priority=0, weight=1.0)``: ``name`` must be
unique per kind (a duplicate is a :class:`~tsur.errors.PluginError` naming
both plugins); ``priority`` orders components where the first answer wins
(higher first); ``weight`` scales a classifier's vote. The context holds
the region, the engine's lemmatiser and clock, the repository and the
plugin's own validated settings (``register_settings``).

Every hook is called through pluggy, one plugin at a time (so that each
contribution is checked and attributed to its plugin): ``pm.trace``,
``add_hookcall_monitoring`` and hook wrappers see every call.

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
- watchers: **all apply**. Every watcher's notifications are queued on
  each tick (once per key).
- source adapters, report renderers: **by name**. The caller chooses.

The components' interfaces are the Protocols in :mod:`tsur.protocols`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tsur.context import Context
    from tsur.protocols import Register, RegisterSettings

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "tsur"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_settings(register: RegisterSettings) -> None:
    """Declare the plugin's settings: the ``[plugins.NAME]`` table of the region file.

    ``register(name, model)`` with a pydantic model class. The table is
    validated by ``model`` when an engine starts (errors name the file and
    the key, ``plugins.NAME.key``, like every configuration error), and the
    instance is ``context.settings`` in the plugin's other hooks. A plugin
    declares at most one table; a name another plugin declared is a
    :class:`~tsur.errors.PluginError`; a table no plugin declares is a
    :class:`~tsur.errors.ConfigError`.
    """


@hookspec
def register_source_adapters(register: Register, context: Context) -> None:
    """Register source adapter factories by source kind.

    ``register(kind, factory)`` where ``factory(source, context, **runtime)``
    returns a :class:`~tsur.protocols.SourceAdapter` for one configured
    source of that ``kind`` (``"vk"``, ``"telegram"``, ``"jsonl"`` …). An
    adapter fetches new messages since a cursor, parses pushed webhook
    payloads and posts replies. A factory with an ``options_model`` (a
    :class:`tsur.adapters.AdapterOptions` subclass) has the source's
    ``options`` validated by it: a mistake is a
    :class:`~tsur.errors.ConfigError` naming the source and the key.
    """


@hookspec
def register_classifiers(register: Register, context: Context) -> None:
    """Register topic classifiers.

    ``register(name, classifier, weight=1.0)``; a classifier's
    ``classify(message, text)`` returns a :class:`~tsur.domain.Classification`
    or ``None`` when it has no opinion. Answers are combined by weighted vote.
    """


@hookspec
def register_locators(register: Register, context: Context) -> None:
    """Register territory locators.

    ``register(name, locator, priority=0)``; ``locate(message, text)``
    returns a :class:`~tsur.domain.Location` or ``None``. The first answer in
    descending priority wins.
    """


@hookspec
def register_routers(register: Register, context: Context) -> None:
    """Register routers that pick the executor of a new incident.

    ``register(name, router, priority=0)``; ``route(incident, analysis)``
    returns a :class:`~tsur.domain.RouteDecision` or ``None``; ``analysis``
    is the message as the reading stages saw it (:class:`~tsur.Analysis`).
    The first answer in descending priority wins; the region's curator is
    the fallback.
    """


@hookspec
def register_moderation_filters(register: Register, context: Context) -> None:
    """Register moderation filters (spam, not-an-appeal, obscenity, personal data).

    ``register(name, filter, priority=0)``; ``check(message, text)`` returns
    a list of :class:`~tsur.domain.ModerationVerdict` (empty when fine). All
    filters run; any ``reject`` rejects the message with its reason.
    """


@hookspec
def register_notifiers(register: Register, context: Context) -> None:
    """Register notifiers that tell people about incidents.

    ``register(name, notifier)``; ``notify(notification)`` receives every
    :class:`~tsur.domain.Notification` (routed, warned, escalated …). All
    notifiers receive everything; a notifier that raises gets the
    notification again later (:class:`~tsur.delivery.DeliveryPolicy`), at
    least once: repeats share ``Notification.dedup_key``.
    """


@hookspec
def register_watchers(register: Register, context: Context) -> None:
    """Register watchers the tick asks about the whole region.

    ``register(name, watcher)``; ``watch(now)`` returns
    :class:`~tsur.domain.Notification` objects to queue, each with a ``key``
    that makes it once-only (the built-in ``systemic`` watcher reports a
    topic surging in a municipality once per week).
    """


@hookspec
def register_report_renderers(register: Register, context: Context) -> None:
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
    :func:`tsur.console.open_engine` opens the engine the command line asks for
    (its database, region and plugins). A name already taken is a
    :class:`~tsur.errors.PluginError`.
    """


@hookspec
def prepare_engine(engine: Any) -> None:
    """Adjust a freshly built :class:`~tsur.Engine` before it processes anything.

    Called once per engine, after every component is registered; a plugin
    can, for example, add context to log records or warm a model.
    """
