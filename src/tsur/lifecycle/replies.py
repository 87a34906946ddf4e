"""Posting answers back to citizens on the channel they wrote in.

Every message of an incident has an author; each distinct author (or
thread, when the channel gives no author id) gets the answer once, on the
message's own source. The adapter is built the way every adapter is
(:func:`tsur.adapters.build_adapter`: by the source's kind, or its
``options.adapter``), then asked to ``reply``.

Nothing is lost silently: a source without an adapter, an adapter that
cannot be built, one that raises or one that returns no id of a posted
answer all give a :class:`Delivery` with ``delivered=False`` and the
reason, which the lifecycle records in the history and reports to the
curator.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from tsur.adapters import adapter_kind, build_adapter
from tsur.domain import Incident, Message, Reply
from tsur.errors import AdapterError, TsurError

if TYPE_CHECKING:
    from tsur.pipeline import Engine

__all__ = ["Delivery", "ReplyChannel"]

log = logging.getLogger("tsur.lifecycle.replies")

#: The reason recorded when posting is switched off (``Lifecycle(post_replies=False)``).
SWITCHED_OFF = "ответы в каналы заявителей отключены"

_MAX_MESSAGES = 10_000


@attrs.frozen
class Delivery:
    """The outcome of posting one answer to one citizen."""

    source: str | None
    message_id: int | None
    delivered: bool
    external_reply_id: str | None = None
    reason: str | None = None
    retryable: bool = False


class ReplyChannel:
    """Builds source adapters on demand (once per source) and posts replies through them.

    ``adapter_options`` adds runtime objects per source id, e.g. an
    ``httpx.Client`` for tests (``{"vk-samara": {"client": client}}``).
    With ``enabled=False`` nothing is posted (a demo, a dry run): every
    answer is kept as not delivered, with that reason.
    """

    def __init__(
        self,
        engine: Engine,
        adapter_options: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        enabled: bool = True,
    ) -> None:
        self.engine = engine
        self.enabled = enabled
        self.adapter_options = {k: dict(v) for k, v in (adapter_options or {}).items()}
        self._adapters: dict[str, Any] = {}

    def close(self) -> None:
        """Close adapters that hold resources (an HTTP client, a file)."""
        for adapter in self._adapters.values():
            close = getattr(adapter, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # closing must not hide the real work's outcome
                    log.warning("closing an adapter failed: %s", exc)
        self._adapters.clear()

    def recipients(self, incident: Incident) -> list[tuple[int | None, Message | None]]:
        """The citizens' messages to answer: one per author (or thread), oldest first."""
        if incident.id is None:
            return [(None, None)]
        stored = self.engine.repository.messages(incident_id=incident.id, limit=_MAX_MESSAGES)
        out: list[tuple[int | None, Message | None]] = []
        seen: set[tuple[str, str]] = set()
        for sm in reversed(stored):
            m = sm.message
            who = (m.author.id if m.author and m.author.id else None) or (
                m.thread_id or m.parent_id or m.external_id
            )
            key = (m.source, who)
            if key in seen:
                continue
            seen.add(key)
            out.append((sm.id, m))
        return out or [(None, None)]

    def post(
        self, incident: Incident, kind: str, text: str, *, author: str | None
    ) -> list[Delivery]:
        """Post ``text`` to every citizen of ``incident``; one :class:`Delivery` each."""
        assert incident.id is not None
        out = []
        for message_id, m in self.recipients(incident):
            source = m.source if m is not None else incident.source
            reply = Reply(
                incident_id=incident.id,
                source=source or "",
                text=text,
                kind=kind,
                in_reply_to=m.external_id if m is not None else None,
                thread_id=(m.thread_id or m.parent_id) if m is not None else None,
                author=author,
            )
            out.append(self._post_one(source, message_id, reply))
        return out

    def _post_one(self, source_id: str | None, message_id: int | None, reply: Reply) -> Delivery:
        def failed(reason: str, retryable: bool = False) -> Delivery:
            log.warning("answer to incident %d not delivered: %s", reply.incident_id, reason)
            return Delivery(source_id, message_id, False, None, reason, retryable)

        if not self.enabled:  # a deliberate choice (tests, the demo): not worth a warning
            log.info("answer to incident %d not posted (switched off)", reply.incident_id)
            return Delivery(
                source_id,
                message_id,
                False,
                None,
                SWITCHED_OFF,
                False,
            )
        if source_id is None:
            return failed("the incident has no source to answer on")
        source = self.engine.region.sources.get(source_id)
        if source is None:
            return failed(f"source {source_id!r} is not configured in the region")
        adapter = self._adapters.get(source_id)
        if adapter is None:
            name = adapter_kind(source)
            if name not in self.engine.components.source_adapters:
                return failed(f"no source adapter for kind {name!r} can reply on {source_id!r}")
            try:
                adapter = build_adapter(
                    self.engine.components,
                    self.engine.context,
                    source,
                    **self.adapter_options.get(source_id, {}),
                )
            except Exception as exc:  # a plugin's constructor: any failure is a reason
                return failed(f"adapter {name!r} could not start: {type(exc).__name__}: {exc}")
            if not callable(getattr(adapter, "reply", None)):
                return failed(f"adapter {name!r} has no reply() method")
            self._adapters[source_id] = adapter
        try:
            external_id = adapter.reply(reply)
        except AdapterError as exc:
            return failed(f"{type(exc).__name__}: {exc}", exc.retryable)
        except TsurError as exc:
            return failed(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a plugin's bug must not lose the answer's record
            return failed(f"{type(exc).__name__}: {exc}", True)
        if external_id is None:
            return failed(f"the {source.kind!r} adapter posted nothing (returned no reply id)")
        return Delivery(source_id, message_id, True, str(external_id))
