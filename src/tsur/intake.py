"""What comes in from the sources: polling with a saved cursor, pushed requests,
and reading again what could not be read.

:func:`collect` is the polling loop an application (or ``tsur collect``)
runs for one source::

    from tsur.intake import collect

    report = collect(engine, "vk-samara")

Each page is fetched with the cursor saved in the repository, ingested, and
only then is the new cursor saved: a restart continues where the last
committed page ended, never skipping anything; at worst one page whose
cursor was not yet saved is read again, which is harmless because ingest is
idempotent on ``(source, external_id)``. Unreadable payloads and items are
kept with their reasons in the rejected-input store.

An HTTP layer (the API, a small WSGI app) calls :func:`receive_webhook` with
the raw body and headers of a request and answers with the returned status
and body: the request is verified through the source's adapter, parsed, its
messages ingested (a re-delivered event is stored once), and an unreadable
body kept with its reason.

These functions drive an adapter and the engine; the adapters themselves
(:mod:`tsur.adapters`) know nothing of the engine.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from tsur.adapters import FetchBatch, WebhookReceiver, adapter_kind, make_adapter, parse_options
from tsur.errors import (
    AdapterError,
    ConfigError,
    IngestError,
    PayloadError,
    TsurError,
    UnknownSource,
    WebhookAuthError,
    raw_text,
)
from tsur.pipeline import Engine
from tsur.runs import IngestReport

__all__ = [
    "CollectReport",
    "WebhookResult",
    "check_webhook_sources",
    "collect",
    "receive_webhook",
    "retry_rejected",
]

log = logging.getLogger("tsur.intake")


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
    engine: Engine,
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
            committed = getattr(adapter, "committed", None)
            if callable(committed):  # a broker's adapter acknowledges what is now stored
                committed(result.cursor)
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
    engine: Engine, source_id: str, *, adapter: Any = None, **runtime: Any
) -> CollectReport:
    """Read again what ``source_id`` delivered and was kept as unreadable.

    After a fix (an adapter upgrade, a corrected option such as a date
    format) each record collected or pushed for the source is parsed again;
    those that now give messages are ingested and marked resolved, the
    others stay. A pushed body is read again only if it was verified when
    it came (a body kept without verification, by an older tsur, stays
    where it is). Returns the counts (``fetched`` = records read again).
    """
    own = adapter is None
    if adapter is None:
        adapter = make_adapter(engine, source_id, **runtime)
    repo = engine.repository
    collected, pushed = f"collect:{source_id}", f"webhook:{source_id}"
    report = CollectReport(source_id)
    try:
        for rec in repo.rejected_inputs():
            if rec.origin != collected and rec.origin != pushed:
                continue
            if rec.origin == pushed and not rec.verified:
                log.warning(
                    "%s: kept body #%d was never verified: not read again", source_id, rec.id
                )
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


@attrs.frozen
class WebhookResult:
    """The HTTP answer to give, and what the request brought."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    report: IngestReport | None = None
    events: Sequence[Any] = ()


def _kept_answer(adapter: Any, otherwise: WebhookResult) -> WebhookResult:
    """What to answer for a verified body that was kept unread."""
    answer = getattr(adapter, "unreadable_answer", None)
    if isinstance(answer, tuple) and len(answer) == 2:
        return WebhookResult(int(answer[0]), str(answer[1]))
    return otherwise


def receive_webhook(
    engine: Engine,
    source_id: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    adapter: Any = None,
) -> WebhookResult:
    """Handle one pushed request for ``source_id``: verify, then parse and ingest.

    The adapter must be a :class:`~tsur.adapters.WebhookReceiver`; a source
    whose adapter takes no pushed requests (e-mail, RSS, CSV …) answers 404.
    Its ``verify_webhook`` sees the raw body first: a request that fails it
    — or makes it raise anything at all — is answered 403 (415 for a body
    not declared JSON), logged, and nothing of it is stored. A verified
    body that cannot be read is kept, marked verified, and answered 400
    with the reason (or the adapter's ``unreadable_answer``: VK and
    Telegram are told it arrived, so they neither suspend the server nor
    drop what follows); otherwise 200. ``adapter`` defaults to the one
    configured for the source (:func:`~tsur.adapters.make_adapter`).
    """
    own = adapter is None
    if adapter is None:
        try:
            adapter = make_adapter(engine, source_id)
        except UnknownSource:
            raise
        except TsurError as exc:  # a source that cannot be set up verifies nothing
            log.error("webhook for %s refused: its adapter cannot be built: %s", source_id, exc)
            return WebhookResult(403, "forbidden")
    origin = f"webhook:{source_id}"
    try:
        if not isinstance(adapter, WebhookReceiver):
            log.warning("webhook for %s refused: its adapter takes no pushed requests", source_id)
            refusal = {"error": f"source {source_id!r} takes no pushed requests"}
            return WebhookResult(404, json.dumps(refusal), "application/json")
        try:
            adapter.verify_webhook(body, headers)
        except WebhookAuthError as exc:
            log.warning("webhook for %s refused: %s", source_id, exc)
            return WebhookResult(exc.status, "forbidden" if exc.status == 403 else str(exc))
        except Exception as exc:  # a verifier that fails is a request not verified
            log.error(
                "webhook for %s refused: verification failed: %s: %s",
                source_id,
                type(exc).__name__,
                exc,
            )
            return WebhookResult(403, "forbidden")
        try:
            payload = adapter.receive_webhook(body, headers)
        except WebhookAuthError as exc:
            log.warning("webhook for %s refused: %s", source_id, exc)
            return WebhookResult(exc.status, "forbidden" if exc.status == 403 else str(exc))
        except (AdapterError, IngestError, ValueError, TypeError, RecursionError) as exc:
            # the whole body, as it came: what retry_rejected reads again
            engine.repository.record_rejected_input(
                origin, None, raw_text(body), str(exc), at=engine.clock(), verified=True
            )
            log.warning("webhook for %s unreadable, kept: %s", source_id, exc)
            return _kept_answer(adapter, WebhookResult(400, str(exc)))
        except Exception as exc:  # the adapter's own bug: the body is kept, the sender told
            reason = f"the adapter failed: {type(exc).__name__}: {exc}"
            engine.repository.record_rejected_input(
                origin, None, raw_text(body), reason, at=engine.clock(), verified=True
            )
            log.error("webhook for %s: %s (body kept)", source_id, reason)
            return _kept_answer(
                adapter, WebhookResult(500, "the adapter failed; the request is kept")
            )
        foreign = [m.source for m in payload.messages if m.source != source_id]
        if foreign:
            raise AdapterError(
                f"adapter returned messages of source {foreign[0]!r} for {source_id!r}",
                source=source_id,
            )
        report = engine.ingest(payload.messages, origin=origin)
    finally:
        if own and hasattr(adapter, "close"):
            adapter.close()
    if payload.response is not None:
        text, ctype = payload.response, "text/plain; charset=utf-8"
    else:
        summary = {
            "ok": True,
            "inserted": report.inserted,
            "duplicates": report.duplicates,
            "refused": [str(e) for e in report.errors],
        }
        text, ctype = json.dumps(summary, ensure_ascii=False), "application/json"
    return WebhookResult(200, text, ctype, report, tuple(payload.events))


def check_webhook_sources(engine: Engine) -> list[str]:
    """Check every source's options before pushed requests are served; the warnings.

    Invalid options (a push source without ``secret_env``, ``secret`` or
    ``insecure = true`` among them) are a :class:`~tsur.errors.ConfigError`
    naming each source. The warnings, one line each, name the sources that
    take pushed requests without verification (``insecure = true``) and
    the environment variables named by ``*_env`` that are not set (their
    requests are refused until they are).
    """
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    for i, source in enumerate(engine.region.sources.values()):
        registered = engine.components.source_adapters.get(adapter_kind(source))
        model = getattr(registered.component, "options_model", None) if registered else None
        if model is None:
            continue
        try:
            opts = parse_options(model, source)
        except ConfigError as exc:
            problems.extend(
                (f"sources[{i}].{loc}", f"{msg} (source {source.id!r})")
                for loc, msg in exc.problems
            )
            continue
        if getattr(opts, "insecure", False) is True:
            warnings.append(
                f"source {source.id!r}: insecure = true: its pushed requests are taken "
                "WITHOUT any verification; for local testing only"
            )
        for name in type(opts).model_fields:
            variable = getattr(opts, name) if name.endswith("_env") else None
            if isinstance(variable, str) and not os.environ.get(variable):
                warnings.append(
                    f"source {source.id!r}: options.{name}: environment variable "
                    f"{variable!r} is not set: its pushed requests are refused"
                )
    if problems:
        raise ConfigError(
            f"{engine.config.origin}: invalid source options ({len(problems)} problem(s))",
            path=engine.config.origin,
            problems=problems,
        )
    for line in warnings:
        log.warning("%s", line)
    return warnings
