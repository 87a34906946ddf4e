"""NATS JetStream: messages that municipal centres or other systems publish to a broker.

A regional deployment often gathers appeals from many municipal systems;
with a broker in between, each publishes tsur wire records (the JSON of
:class:`tsur.wire.MessageIn`, one per NATS message) to a JetStream stream,
and the region pulls them through a durable consumer. A NATS message is
acknowledged only after it is stored: :func:`tsur.intake.collect` commits
the page, then calls :meth:`JetStreamAdapter.committed`, which acknowledges
the page's messages and waits for the server to confirm. A collector that
dies before that leaves them unacknowledged, JetStream delivers them again
after ``ack_wait``, and storing them again changes nothing (messages are
unique per source and external id). An unreadable record is kept in the
rejected input with its reason and acknowledged too: it is not lost, and it
does not come back forever.

Needs ``pip install 'tsur[nats]'`` (nats-py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs
from pydantic import Field, SecretStr

from tsur.context import Context
from tsur.domain import Message, Source
from tsur.errors import AdapterError, ConfigError, IngestError, PayloadError, raw_text
from tsur.wire import parse_record

from ._base import AdapterOptions, BaseAdapter, secret
from ._payload import FetchBatch, RejectedItem

__all__ = ["JetStreamAdapter", "JetStreamOptions"]


class JetStreamOptions(AdapterOptions):
    """Options of a ``nats`` source."""

    secret_fields: ClassVar[tuple[str, ...]] = ("token", "password")

    servers: list[str] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"],
        description="NATS servers (nats:// or tls://)",
    )
    stream: str = Field(description="the JetStream stream")
    subject: str = Field(description="the subject filter, e.g. tsur.appeals.>")
    durable: str | None = Field(
        default=None, description="durable consumer name (default: tsur-<source id>)"
    )
    batch: int = Field(default=100, ge=1, le=10_000, description="messages per fetch")
    wait: float = Field(default=2.0, gt=0, le=60, description="seconds a fetch waits for messages")
    ack_wait: float = Field(
        default=60.0,
        gt=0,
        description="seconds before an unacknowledged message is delivered again",
    )
    connect_timeout: float = Field(default=5.0, gt=0, le=120, description="seconds")
    user: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = Field(default=None, description="or token_env: its variable")
    credentials: str | None = Field(default=None, description="a .creds file (NKey/JWT)")
    ca_file: str | None = Field(
        default=None, description="CA bundle for tls:// servers (the system's by default)"
    )


class JetStreamAdapter(BaseAdapter):
    """A pull consumer on a JetStream stream; see the module's description.

    ``fetch`` returns the records of up to ``batch`` messages (waiting at
    most ``wait`` seconds for the first); ``more`` is True when the batch
    came full. The cursor is the stream sequence of the page's last message
    (for the log: JetStream keeps the consumer's position itself).
    """

    kind: ClassVar[str] = "nats"
    options_model: ClassVar[type[AdapterOptions]] = JetStreamOptions
    opts: JetStreamOptions

    def __init__(self, source: Source, context: Context | None = None) -> None:
        super().__init__(source, context)
        try:
            import nats  # the optional dependency, needed only by this source
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"source {source.id!r}: the nats adapter needs nats-py: pip install 'tsur[nats]'"
            ) from exc
        self._nats = nats
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._sub: Any = None
        self._unacked: list[Any] = []

    # connection ----------------------------------------------------------------
    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    async def _subscribe(self) -> Any:
        if self._sub is not None:
            return self._sub
        o = self.opts
        kwargs: dict[str, Any] = {
            "servers": o.servers,
            "allow_reconnect": False,
            "connect_timeout": o.connect_timeout,
            "max_reconnect_attempts": 1,  # each server tried once: the next collect tries again
        }
        if any(s.startswith("tls://") for s in o.servers):
            kwargs["tls"] = ssl.create_default_context(cafile=o.ca_file)
        if o.user:
            kwargs["user"] = o.user
            kwargs["password"] = secret(o.password)
        if o.token is not None:
            kwargs["token"] = secret(o.token)
        if o.credentials:
            kwargs["user_credentials"] = o.credentials
        self._nc = await self._nats.connect(**kwargs)
        js = self._nc.jetstream()
        config = self._nats.js.api.ConsumerConfig(
            durable_name=o.durable or f"tsur-{self.source.id}",
            ack_policy=self._nats.js.api.AckPolicy.EXPLICIT,
            ack_wait=o.ack_wait,
            filter_subject=o.subject,
        )
        self._sub = await js.pull_subscribe(
            o.subject, durable=config.durable_name, stream=o.stream, config=config
        )
        return self._sub

    async def _fetch(self) -> list[Any]:
        sub = await self._subscribe()
        try:
            return list(await sub.fetch(self.opts.batch, timeout=self.opts.wait))
        except (self._nats.errors.TimeoutError, TimeoutError):  # nothing came within `wait`
            return []

    def _fail(self, what: str, exc: Exception) -> AdapterError:
        self._drop()
        return AdapterError(f"{what}: {type(exc).__name__}: {exc}", source=self.source.id)

    def _drop(self) -> None:
        nc, self._nc, self._sub = self._nc, None, None
        self._unacked = []  # never acknowledged: JetStream delivers them again
        if nc is not None:
            with contextlib.suppress(Exception):  # the connection is gone already
                self._run(nc.close())

    # the adapter ---------------------------------------------------------------
    def fetch(self, cursor: str | None) -> FetchBatch:
        """The records of the next messages of the consumer; unreadable ones apart."""
        if self._unacked:
            raise AdapterError(
                "the previous page was not committed: its messages are delivered again "
                "after ack_wait",
                source=self.source.id,
            )
        try:
            msgs = self._run(self._fetch())
        except (OSError, self._nats.errors.Error) as exc:
            raise self._fail("cannot fetch from NATS", exc) from exc
        messages: list[Message] = []
        rejected: list[RejectedItem] = []
        last = cursor
        for m in msgs:
            last = str(m.metadata.sequence.stream)
            raw = raw_text(bytes(m.data))
            try:
                messages.extend(self.parse(m.data))
            except (PayloadError, IngestError) as exc:  # kept with its reason, not lost
                rejected.append(RejectedItem(raw, f"{m.subject} #{last}: {exc}"))
        self._unacked = msgs
        more = len(msgs) >= self.opts.batch
        return FetchBatch(messages, last, more=more, rejected=rejected)

    def committed(self, cursor: str | None) -> None:
        """The last page is stored: acknowledge its messages, confirmed by the server."""
        msgs, self._unacked = self._unacked, []

        async def ack() -> None:
            for m in msgs:
                await m.ack_sync()

        try:
            self._run(ack())
        except (OSError, self._nats.errors.Error) as exc:
            # stored but not acknowledged: delivered again, and stored again as nothing new
            raise self._fail("cannot acknowledge to NATS", exc) from exc

    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """One wire record (JSON object) as a message of this source."""
        if isinstance(payload, Mapping):
            record = payload
        else:
            try:
                record = json.loads(payload)
            except (ValueError, RecursionError) as exc:
                raise PayloadError(f"not JSON: {exc}", raw=payload) from exc
            if not isinstance(record, Mapping):
                raise PayloadError("a record must be a JSON object", raw=payload)
        record = {**record, "source": self.source.id}
        try:
            message = parse_record(record)
        except IngestError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:  # a value the domain refuses
            raise PayloadError(f"unreadable record: {exc}", raw=payload) from exc
        return [attrs.evolve(message, source=self.source.id)]

    def close(self) -> None:
        """Close the connection (unacknowledged messages come again) and the loop."""
        self._drop()
        self._loop.close()
