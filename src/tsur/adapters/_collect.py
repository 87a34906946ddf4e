"""Building a configured source's adapter and collecting from it with a persisted cursor.

:func:`collect` is the polling loop an application (or ``tsur collect``)
runs for one source::

    report = tsur.adapters.collect(engine, "vk-samara")

Each page is fetched with the cursor saved in the repository, ingested, and
only then is the new cursor saved: a restart continues where the last
committed page ended, never skipping anything; at worst one page whose
cursor was not yet saved is read again, which is harmless because ingest is
idempotent on ``(source, external_id)``. Unreadable payloads and items are
kept with their reasons in the rejected-input store.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from tsur.context import Context
from tsur.domain import Source
from tsur.errors import (
    AdapterError,
    ConfigError,
    IngestError,
    PayloadError,
    TsurError,
    UnknownSource,
)

from ._base import ADAPTER_KEY, option_fields
from ._payload import FetchBatch

if TYPE_CHECKING:
    from tsur.components import Components
    from tsur.protocols import EngineView

__all__ = [
    "CollectReport",
    "adapter_kind",
    "build_adapter",
    "collect",
    "describe_factory",
    "make_adapter",
    "retry_rejected",
]

log = logging.getLogger("tsur.adapters")


def adapter_kind(source: Source) -> str:
    """The adapter a source uses: ``options.adapter`` if given, else its ``kind``.

    ``options.adapter`` lets a source keep a descriptive kind (``"hotline"``)
    while being read by a generic adapter (``"csv"``).
    """
    chosen = source.options.get(ADAPTER_KEY)
    return str(chosen) if chosen else source.kind


def _accepted(factory: Any, runtime: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The runtime objects ``factory`` declares a parameter for, and those it does not."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}, sorted(runtime)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(runtime), []
    named = {
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    return {k: v for k, v in runtime.items() if k in named}, sorted(set(runtime) - named)


_ADAPTER_METHODS = ("fetch", "parse", "reply")


def build_adapter(
    components: Components,
    context: Context,
    source: Source,
    *,
    kind: str | None = None,
    **runtime: Any,
) -> Any:
    """Build ``source``'s adapter: ``factory(source, context, **runtime)``.

    ``kind`` overrides :func:`adapter_kind`. The factory gets ``context``
    with the settings of the plugin that registered it, and ``runtime``
    objects (``client=``, ``sleep=`` …); one it has no parameter for is an
    :class:`~tsur.errors.AdapterError` (a mistyped ``clinet=`` must not
    leave the adapter on the real network). A factory that fails on the
    source's options raises a :class:`~tsur.errors.ConfigError` naming the
    source; any other failure, or a result with none of ``fetch()``,
    ``parse()`` and ``reply()``, an :class:`~tsur.errors.AdapterError`.
    """
    kind = kind or adapter_kind(source)
    registered = components.source_adapters.get(kind)
    if registered is None:
        known = ", ".join(sorted(components.source_adapters)) or "none"
        raise AdapterError(
            f"no adapter for kind {kind!r}; installed adapters: {known} (is the plugin that "
            "provides it installed? or set options.adapter to one of these)",
            source=source.id,
        )
    factory = registered.component
    ctx = attrs.evolve(
        context, settings=components.settings.get(registered.plugin), plugin=registered.plugin
    )
    accepted, unused = _accepted(factory, runtime)
    if unused:
        raise AdapterError(
            f"the adapter of kind {kind!r} (plugin {registered.plugin!r}) takes no "
            f"{', '.join(n + '=' for n in unused)}",
            source=source.id,
        )
    try:
        adapter = factory(source, ctx, **accepted)
    except TsurError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"source {source.id!r} (kind {kind!r}): the adapter cannot be built: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise AdapterError(
            f"the adapter of kind {kind!r} (plugin {registered.plugin!r}) failed to start: "
            f"{type(exc).__name__}: {exc}",
            source=source.id,
        ) from exc
    if not any(callable(getattr(adapter, m, None)) for m in _ADAPTER_METHODS):
        raise AdapterError(
            f"the factory of kind {kind!r} (plugin {registered.plugin!r}) returned "
            f"{type(adapter).__name__}, which has none of fetch(), parse(), reply()",
            source=source.id,
        )
    return adapter


def make_adapter(
    engine: EngineView, source_id: str, *, kind: str | None = None, **runtime: Any
) -> Any:
    """The adapter of a configured source, built by its registered factory.

    ``runtime`` objects are passed to the factory as well (``client=``, ``sleep=`` …).
    """
    source = engine.region.sources.get(source_id)
    if source is None:
        raise UnknownSource(source_id, sorted(engine.region.sources))
    return build_adapter(engine.components, engine.context, source, kind=kind, **runtime)


@attrs.define
class CollectReport:
    """What one :func:`collect` run did, page by page."""

    source: str
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    cursor: str | None = None
    reasons: list[str] = attrs.field(factory=list)


def collect(
    engine: EngineView,
    source_id: str,
    *,
    adapter: Any = None,
    max_pages: int | None = None,
    progress: Callable[[CollectReport], None] | None = None,
    **runtime: Any,
) -> CollectReport:
    """Fetch everything new from ``source_id`` and ingest it, saving the cursor per page.

    Pages are fetched while the adapter says there is ``more`` (at most
    ``max_pages``). The cursor is saved only after a page's messages are
    committed. An unreadable page is kept in the rejected-input store and
    its :class:`~tsur.errors.AdapterError` raised, leaving the cursor where
    it was; unreadable items of a readable page are kept and skipped.
    """
    own = adapter is None
    if adapter is None:
        adapter = make_adapter(engine, source_id, **runtime)
    if not callable(getattr(adapter, "fetch", None)):
        if own and callable(getattr(adapter, "close", None)):
            adapter.close()
        raise AdapterError(
            "its adapter cannot be polled (it has no fetch()): messages of this source "
            "are pushed to 'tsur serve' or ingested from files",
            source=source_id,
        )
    repo = engine.repository
    origin = f"collect:{source_id}"
    report = CollectReport(source_id, cursor=repo.get_cursor(source_id))
    try:
        while max_pages is None or report.pages < max_pages:
            cursor = repo.get_cursor(source_id)
            try:
                result = adapter.fetch(cursor)
            except PayloadError as exc:
                repo.record_rejected_input(origin, None, exc.raw, str(exc), at=engine.clock())
                report.rejected += 1
                report.reasons.append(str(exc))
                raise
            except TsurError:
                raise
            except Exception as exc:  # a plugin adapter's bug: named, the cursor stays
                raise AdapterError(
                    f"fetch failed: {type(exc).__name__}: {exc}", source=source_id
                ) from exc
            foreign = {m.source for m in result.messages} - {source_id}
            if foreign:
                raise AdapterError(
                    f"adapter returned messages of source {sorted(foreign)[0]!r}",
                    source=source_id,
                )
            ingested = engine.ingest(result.messages, origin=origin)
            for item in result.rejected if isinstance(result, FetchBatch) else ():
                repo.record_rejected_input(
                    origin, item.line, item.raw, item.reason, at=engine.clock()
                )
                report.reasons.append(item.reason)
                report.rejected += 1
            repo.set_cursor(source_id, result.cursor, at=engine.clock())
            report.pages += 1
            report.fetched += len(result.messages)
            report.inserted += ingested.inserted
            report.duplicates += ingested.duplicates
            report.rejected += len(ingested.errors)
            report.reasons.extend(str(e) for e in ingested.errors)
            report.cursor = result.cursor
            log.info(
                "%s: page %d, %d fetched, %d new, cursor %s",
                source_id,
                report.pages,
                len(result.messages),
                ingested.inserted,
                result.cursor,
            )
            if progress is not None:
                progress(report)
            if not result.more:
                break
            if result.cursor == cursor and not result.messages:
                raise AdapterError(
                    f"the adapter reports more to fetch but its cursor stays at {cursor!r}",
                    source=source_id,
                )
    finally:
        if own and hasattr(adapter, "close"):
            adapter.close()
    return report


def retry_rejected(
    engine: EngineView, source_id: str, *, adapter: Any = None, **runtime: Any
) -> CollectReport:
    """Read again what ``source_id`` delivered and was kept as unreadable.

    After a fix (an adapter upgrade, a corrected option such as a date
    format) each record collected or pushed for the source is parsed again;
    those that now give messages are ingested and marked resolved, the
    others stay. Returns the counts (``fetched`` = records read again).
    """
    own = adapter is None
    if adapter is None:
        adapter = make_adapter(engine, source_id, **runtime)
    repo = engine.repository
    origins = {f"collect:{source_id}", f"webhook:{source_id}"}
    report = CollectReport(source_id)
    try:
        for rec in repo.rejected_inputs():
            if rec.origin not in origins:
                continue
            report.fetched += 1
            try:
                messages = list(adapter.parse(rec.raw))
            except (AdapterError, IngestError) as exc:
                report.rejected += 1
                report.reasons.append(f"#{rec.id}: {exc}")
                continue
            ingested = engine.ingest(messages, origin=rec.origin)
            report.inserted += ingested.inserted
            report.duplicates += ingested.duplicates
            if ingested.errors:
                report.rejected += 1
                report.reasons.extend(f"#{rec.id}: {e}" for e in ingested.errors)
                continue
            repo.resolve_rejected_input([rec.id], at=engine.clock())
    finally:
        if own and hasattr(adapter, "close"):
            adapter.close()
    return report


def describe_factory(factory: Any) -> Mapping[str, Any]:
    """Summary and region-file keys of an adapter factory (for ``tsur sources``).

    The keys come from the factory's ``options_model``; a factory without one
    documents its options in its docstring, and none are listed.
    """
    own = factory.__dict__.get("__doc__") if isinstance(factory, type) else factory.__doc__
    doc = inspect.cleandoc(own) if own else ""  # a base class's text does not describe it
    model = getattr(factory, "options_model", None)
    options = option_fields(model) if model is not None else []
    return {"summary": doc.splitlines()[0] if doc else "", "options": options}
