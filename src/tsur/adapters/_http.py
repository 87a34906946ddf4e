"""HTTP toolkit shared by the source adapters: clients, retries, rate limits, errors.

Every adapter talks to its API through an :class:`HttpChannel`, which

- sends through an injected :class:`httpx.Client` (or :class:`httpx.AsyncClient`),
  one the adapter builds with :func:`make_client` otherwise (timeouts, connection
  reuse, ``User-Agent: tsur/<version>``);
- waits for a slot of a client-side :class:`RateLimiter` before each request, so
  the API's published limits are never exceeded;
- retries with exponential backoff and jitter (tenacity) on network errors and
  on answers that ask to slow down, honouring ``retry_after``;
- turns every httpx exception into :class:`~tsur.errors.AdapterError` (or
  :class:`~tsur.errors.RateLimited`) with the original chained.

Sleeping is injectable everywhere (``sleep=``) so tests never wait.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import attrs
import httpx
import tenacity

from tsur._version import __version__
from tsur.errors import AdapterError, RateLimited

__all__ = [
    "USER_AGENT",
    "ApiRequest",
    "HttpChannel",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "http_error",
    "make_async_client",
    "make_client",
    "retry_after_seconds",
    "snippet",
]

log = logging.getLogger("tsur.adapters")

T = TypeVar("T")
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]
Decoder = Callable[[httpx.Response, "ApiRequest"], Any]


#: The ``User-Agent`` every adapter sends.
USER_AGENT = f"tsur/{__version__}"


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


def make_client(
    *,
    timeout: float = 20.0,
    transport: httpx.BaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """An :class:`httpx.Client` for one adapter: keep-alive pool, timeouts, our user agent."""
    return httpx.Client(
        timeout=_timeout(timeout),
        transport=transport,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
    )


def make_async_client(
    *,
    timeout: float = 20.0,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """The asynchronous twin of :func:`make_client`."""
    return httpx.AsyncClient(
        timeout=_timeout(timeout),
        transport=transport,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
    )


def snippet(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@attrs.frozen
class ApiRequest:
    """One API call, described as data so sync and async paths share everything else.

    ``what`` names the call in errors (``"wall.get"``); ``rate_keys`` are the
    per-key limits it counts against (``"chat:42"``), besides the global ones.
    """

    method: str
    url: str
    what: str = ""
    params: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None  # a body sent as is (signed payloads)
    headers: Mapping[str, str] | None = None
    rate_keys: tuple[str, ...] = ()
    timeout: float | None = None  # overrides the client's (long polling)

    @property
    def label(self) -> str:
        """How errors name this call."""
        return self.what or f"{self.method} {self.url.split('?')[0]}"


def http_error(response: httpx.Response, request: ApiRequest, *, source: str) -> AdapterError:
    """The tsur error for a non-success HTTP answer without a more specific body."""
    status = response.status_code
    body = snippet(response.text) if response.content else "empty body"
    if status == 429:
        return RateLimited(
            f"{request.label}: HTTP 429 Too Many Requests",
            source=source,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    return AdapterError(
        f"{request.label}: HTTP {status}: {body}",
        source=source,
        retryable=status >= 500 or status == 408,
    )


@attrs.frozen
class RateLimit:
    """At most ``count`` requests in any window of ``per`` seconds."""

    count: int = attrs.field(validator=attrs.validators.gt(0))
    per: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))


class RateLimiter:
    """Client-side limits: global ones and per-key ones (a chat, a wall).

    ``limits`` maps a key class to its limits: ``"*"`` applies to every
    request; ``"chat"`` applies separately to each key ``"chat:<id>"`` a
    request names. Slots are booked in the future, so concurrent callers
    queue up instead of bursting. ``clock`` (monotonic seconds) and
    ``sleep`` are injectable.
    """

    def __init__(
        self,
        limits: Mapping[str, Sequence[RateLimit]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
        async_sleep: AsyncSleep = asyncio.sleep,
    ) -> None:
        self.limits = {k: tuple(v) for k, v in limits.items()}
        self.clock = clock
        self.sleep = sleep
        self.async_sleep = async_sleep
        self._windows: dict[tuple[str, int], deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def per_second(cls, rate: float, **kwargs: Any) -> RateLimiter:
        """A single global limit of ``rate`` requests per second (fractions allowed)."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        if rate >= 1:
            return cls({"*": [RateLimit(int(rate), 1.0)]}, **kwargs)
        return cls({"*": [RateLimit(1, 1.0 / rate)]}, **kwargs)

    def reserve(self, keys: Sequence[str] = ()) -> float:
        """Book the earliest slot allowed for a request naming ``keys``; seconds to wait."""
        buckets: list[tuple[str, Sequence[RateLimit]]] = [("*", self.limits.get("*", ()))]
        for key in keys:
            kind = key.split(":", 1)[0]
            if kind in self.limits and kind != "*":
                buckets.append((key, self.limits[kind]))
        with self._lock:
            now = self.clock()
            at = now
            for key, limits in buckets:
                for i, limit in enumerate(limits):
                    window = self._windows.get((key, i))
                    if window is not None and len(window) >= limit.count:
                        at = max(at, window[0] + limit.per)
            for key, limits in buckets:
                for i, limit in enumerate(limits):
                    window = self._windows.setdefault((key, i), deque(maxlen=limit.count))
                    window.append(at)
            self._prune(now)
            return at - now

    def _prune(self, now: float) -> None:
        if len(self._windows) < 1024:
            return
        longest = max((lim.per for ls in self.limits.values() for lim in ls), default=0.0)
        stale = [k for k, w in self._windows.items() if k[0] != "*" and w and w[-1] < now - longest]
        for k in stale:
            del self._windows[k]

    def wait(self, keys: Sequence[str] = ()) -> float:
        """Sleep until a slot is free; returns the seconds waited."""
        delay = self.reserve(keys)
        if delay > 0:
            self.sleep(delay)
        return delay

    async def await_slot(self, keys: Sequence[str] = ()) -> float:
        """Asynchronously wait until a slot is free; returns the seconds waited."""
        delay = self.reserve(keys)
        if delay > 0:
            await self.async_sleep(delay)
        return delay


@attrs.frozen
class RetryPolicy:
    """Retries with exponential backoff and jitter for errors marked ``retryable``.

    A :class:`~tsur.errors.RateLimited` error's ``retry_after`` is honoured
    (the wait is at least that long); a pause longer than
    ``max_retry_after`` is not waited out: the error is raised at once so the
    caller can come back later.
    """

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0
    sleep: Sleep = time.sleep
    async_sleep: AsyncSleep = asyncio.sleep

    def _retryable(self, exc: BaseException) -> bool:
        if not isinstance(exc, AdapterError) or not exc.retryable:
            return False
        after = getattr(exc, "retry_after", None)
        return after is None or after <= self.max_retry_after

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exponential: float = self.wait_initial * 2.0 ** (state.attempt_number - 1)
        backoff = min(self.wait_max, exponential) + random.uniform(0, self.jitter)
        exc = state.outcome.exception() if state.outcome is not None else None
        after = getattr(exc, "retry_after", None)
        return max(backoff, float(after)) if after is not None else backoff

    def _log(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else None
        log.warning(
            "attempt %d of %d failed, retrying in %.1f s: %s",
            state.attempt_number,
            self.attempts,
            wait,
            exc,
        )

    def _options(self) -> dict[str, Any]:
        return {
            "stop": tenacity.stop_after_attempt(self.attempts),
            "wait": self._wait,
            "retry": tenacity.retry_if_exception(self._retryable),
            "before_sleep": self._log,
            "reraise": True,
        }

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` until it succeeds, fails for good, or the attempts run out."""
        retrying = tenacity.Retrying(sleep=self.sleep, **self._options())
        return retrying(fn)

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Asynchronous :meth:`call`."""
        retrying = tenacity.AsyncRetrying(sleep=self.async_sleep, **self._options())
        return await retrying(fn)


class HttpChannel:
    """Sends :class:`ApiRequest`\\ s with rate limiting, retries and error mapping.

    ``decode(response, request)`` turns an answer into the API's result or
    raises the adapter's error; it sees every answer, success or not, since
    APIs put errors in bodies (VK answers HTTP 200 with an ``error``).
    """

    def __init__(
        self,
        source: str,
        *,
        decode: Decoder,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.source = source
        self.decode = decode
        self._own_client = client is None
        self.client = client if client is not None else make_client(timeout=timeout)
        self.async_client = async_client
        self.limiter = limiter
        self.retry = retry or RetryPolicy()

    def _kwargs(self, req: ApiRequest, client_headers: httpx.Headers) -> dict[str, Any]:
        headers = dict(req.headers or {})
        if client_headers.get("user-agent", "").startswith("python-httpx"):
            headers.setdefault("User-Agent", USER_AGENT)
        kwargs: dict[str, Any] = {"headers": headers}
        if req.params is not None:
            kwargs["params"] = {k: v for k, v in req.params.items() if v is not None}
        if req.data is not None:
            kwargs["data"] = {k: v for k, v in req.data.items() if v is not None}
        if req.json is not None:
            kwargs["json"] = req.json
        if req.content is not None:
            kwargs["content"] = req.content
        if req.timeout is not None:
            kwargs["timeout"] = _timeout(req.timeout)
        return kwargs

    def _transport_error(self, req: ApiRequest, exc: Exception) -> AdapterError:
        retryable = isinstance(exc, httpx.TransportError)
        what = type(exc).__name__
        return AdapterError(f"{req.label}: {what}: {exc}", source=self.source, retryable=retryable)

    def send(self, req: ApiRequest) -> Any:
        """Make the call (waiting for a rate-limit slot, retrying); the decoded result."""

        def once() -> Any:
            if self.limiter is not None:
                self.limiter.wait(req.rate_keys)
            try:
                response = self.client.request(
                    req.method, req.url, **self._kwargs(req, self.client.headers)
                )
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                raise self._transport_error(req, exc) from exc
            return self.decode(response, req)

        return self.retry.call(once)

    async def asend(self, req: ApiRequest) -> Any:
        """Asynchronous :meth:`send` through the injected :class:`httpx.AsyncClient`."""
        client = self.async_client
        if client is None:
            raise AdapterError(
                "no httpx.AsyncClient was given to this adapter (async_client=…)",
                source=self.source,
            )

        async def once() -> Any:
            if self.limiter is not None:
                await self.limiter.await_slot(req.rate_keys)
            try:
                response = await client.request(
                    req.method, req.url, **self._kwargs(req, client.headers)
                )
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                raise self._transport_error(req, exc) from exc
            return self.decode(response, req)

        return await self.retry.acall(once)

    def close(self) -> None:
        """Close the client if this channel built it."""
        if self._own_client:
            self.client.close()
