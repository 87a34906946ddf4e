"""What every route gets from the application: the engine, the lifecycle, the caller.

:func:`principal` authenticates a request by its API key — ``Authorization:
Bearer <key>`` or ``X-API-Key: <key>`` — and counts it against the key's
rate; :func:`needs` turns a :class:`~tsur.roles.Right` into a dependency
that refuses (403) a key whose role lacks it. Failed authentications are
counted per client address too, so keys cannot be guessed at speed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

import attrs
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tsur.access import Principal, authenticate, require
from tsur.config import ServerConfig
from tsur.errors import AccessDenied, TooManyRequests
from tsur.lifecycle import Lifecycle
from tsur.pipeline import Engine
from tsur.roles import Right

__all__ = ["RateLimiter", "ServerState", "needs", "principal", "state"]


class RateLimiter:
    """Token buckets, one per name (a key id, a client address), refilled each minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, per_minute: int) -> float:
        """Take one token; 0.0 if granted, else the seconds until one is free."""
        rate = per_minute / 60.0
        now = self._clock()
        with self._lock:
            if len(self._buckets) > 100_000:  # forget the idle (refilled) ones rather than grow
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            tokens, last = self._buckets.get(name, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / rate


@attrs.define
class ServerState:
    """What the application holds for its routes (``app.state.tsur``)."""

    engine: Engine
    lifecycle: Lifecycle
    settings: ServerConfig
    limiter: RateLimiter = attrs.field(factory=RateLimiter)
    #: serialises processing a request's messages in-line (``process_inline``)
    processing: threading.Lock = attrs.field(factory=threading.Lock)


def state(request: Request) -> ServerState:
    """The application's :class:`ServerState`."""
    found: ServerState = request.app.state.tsur
    return found


_bearer = HTTPBearer(auto_error=False, description="an API key issued by `tsur keys add`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key")


def client_address(request: Request) -> str:
    """The peer's address, for per-address limits."""
    return request.client.host if request.client else "-"


def admit(request: Request, token: str | None) -> Principal:
    """Authenticate ``token`` and count the request: the principal, or AccessDenied."""
    st = state(request)
    address = client_address(request)
    try:
        who = authenticate(st.engine.repository, token)
    except AccessDenied:
        wait = st.limiter.take(f"fail:{address}", st.settings.auth_failures_per_minute)
        if wait:
            raise TooManyRequests("too many failed logins; wait", retry_after=wait) from None
        raise
    return count(request, who)


def count(request: Request, who: Principal) -> Principal:
    """Count a request against its key's rate and record who made it (for the access log)."""
    wait = state(request).limiter.take(f"key:{who.key_id}", who.rate)
    if wait:
        raise TooManyRequests(f"over {who.rate} requests a minute for this key", retry_after=wait)
    request.scope.setdefault("state", {})["principal"] = who
    return who


def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The caller, by the API key of the request (401 without a valid one, or with two)."""
    token = bearer.credentials if bearer is not None else header
    if bearer is not None and header is not None and header != bearer.credentials:
        token = None  # which one counts is not a guess to make: neither does
    return admit(request, token)


def needs(right: Right) -> Callable[..., Principal]:
    """A dependency: the caller, if its role has ``right`` (403 otherwise)."""

    def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        require(who, right)
        return who

    dependency.__name__ = f"needs_{right.value}"
    return dependency


def retry_after(exc: TooManyRequests) -> dict[str, Any]:
    """The headers of a 429 answer."""
    return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
