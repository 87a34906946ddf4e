"""The adapter toolkit: validated options, the region's time zone, an HTTP channel.

Built-in and third-party adapters are made the same way. An adapter is
built as ``Adapter(source, context, **runtime)``:

- ``source.options`` (the ``[[sources]] options`` table) is validated by the
  adapter's :class:`AdapterOptions` model (``options_model``), so a typo in
  a region file is a :class:`~tsur.errors.ConfigError` naming the source
  and the key, and ``tsur sources`` lists the keys. Secrets are given
  indirectly: ``access_token_env = "VK_TOKEN"`` reads the environment
  variable instead of writing the token into the file.
- ``context`` (:class:`~tsur.Context`) gives the region (its time zone,
  topics), the clock and the repository.
- ``runtime`` are objects given in code, never read from the file:
  :class:`HttpAdapter` takes ``client`` / ``async_client`` (httpx clients,
  e.g. with a MockTransport), ``retry`` (:class:`RetryPolicy`),
  ``limiter`` and ``sleep`` (so tests never wait).

:class:`HttpAdapter` sends every request through an
:class:`~tsur.adapters.HttpChannel`: client-side rate limits, retries with
backoff that honour ``Retry-After``, httpx errors turned into
:class:`~tsur.errors.AdapterError`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from tsur.config import validation_problems
from tsur.context import Context
from tsur.domain import FetchResult, Message, Reply, Source
from tsur.errors import ConfigError
from tsur.security import env_secret

from ._http import ApiRequest, HttpChannel, RateLimiter, RetryPolicy, http_error
from ._payload import load_json

__all__ = [
    "ADAPTER_KEY",
    "AdapterOptions",
    "BaseAdapter",
    "HttpAdapter",
    "option_fields",
    "parse_options",
    "secret",
]

_O = TypeVar("_O", bound="AdapterOptions")

#: The options key that picks an adapter for a source whose kind names none.
ADAPTER_KEY = "adapter"


class AdapterOptions(BaseModel):
    """Base of every adapter's options model: unknown keys are errors.

    ``secret_fields`` may also be given as ``<name>_env``: the name of an
    environment variable holding the value.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_env(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = {k: v for k, v in data.items() if k != ADAPTER_KEY}
        for name in cls.secret_fields:
            env_key = f"{name}_env"
            if env_key not in data:
                continue
            var = str(data.pop(env_key))
            if data.get(name) is None:
                try:
                    data[name] = env_secret(var, env_key)
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
        return data


def secret(value: SecretStr | None) -> str | None:
    """The plain text of a secret option (or None)."""
    return value.get_secret_value() if value is not None else None


def parse_options(model: type[_O], source: Source) -> _O:
    """``source.options`` validated by ``model``; errors name the source and each key."""
    try:
        return model.model_validate(dict(source.options))
    except ValidationError as exc:
        raise ConfigError(
            f"source {source.id!r} (kind {source.kind!r}): invalid options",
            problems=validation_problems(exc, prefix="options"),
        ) from None


def _type_name(ann: Any) -> str:
    name = ann.__name__ if isinstance(ann, type) else str(ann)
    name = re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", name)  # drop module paths
    if name.startswith("Optional[") and name.endswith("]"):
        name = name[len("Optional[") : -1] + " | None"
    return name.replace("SecretStr", "str")  # a secret is a string in the region file


def option_fields(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The config keys of an options model: name, type, required, default, description."""
    secrets = getattr(model, "secret_fields", ())
    out = []
    for name, field in model.model_fields.items():
        type_name = _type_name(field.annotation)
        item: dict[str, Any] = {
            "name": name,
            "type": type_name,
            "required": field.is_required(),
            "description": field.description or "",
        }
        if not field.is_required():
            default = field.get_default(call_default_factory=True)
            item["default"] = default if isinstance(default, str | int | float | bool) else None
        if name in secrets:
            item["secret"] = True
            item["env"] = f"{name}_env"
        out.append(item)
    return out


class BaseAdapter:
    """Common constructor and lifecycle of adapters: subclass it and set ``options_model``.

    ``self.opts`` is the validated options, ``self.tz`` the region's time
    zone (UTC without a context), ``self.context`` what the engine gave.
    """

    kind: ClassVar[str] = ""
    options_model: ClassVar[type[AdapterOptions]] = AdapterOptions

    def __init__(self, source: Source, context: Context | None = None) -> None:
        self.source = source
        self.context = context
        self.tz: tzinfo = context.region.calendar.tz if context is not None else UTC
        self.opts = parse_options(self.options_model, source)

    def fetch(self, cursor: str | None) -> FetchResult:
        """Nothing to collect by default: the channel pushes (webhook) or is a file."""
        return FetchResult([], cursor, False)

    def parse(self, payload: bytes | str | Mapping[str, Any]) -> Iterable[Message]:
        """Messages in one payload."""
        raise NotImplementedError

    def reply(self, reply: Reply) -> str | None:
        """Post an answer; None when the channel takes none."""
        raise NotImplementedError

    def close(self) -> None:
        """Release network resources the adapter owns."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class HttpAdapter(BaseAdapter):
    """An adapter that talks HTTP through a :class:`tsur.adapters.HttpChannel`."""

    def __init__(
        self,
        source: Source,
        context: Context | None = None,
        *,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(source, context)
        #: wall-clock time (for date windows and timestamps): the engine's clock by default
        self.now = now or (context.clock if context is not None else lambda: datetime.now(UTC))
        self._sleep = sleep or time.sleep
        self._async_sleep = async_sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        if retry is None:
            retry = RetryPolicy(sleep=self._sleep, async_sleep=self._async_sleep)
        self.channel = HttpChannel(
            source.id,
            decode=self.decode,
            client=client,
            async_client=async_client,
            limiter=limiter if limiter is not None else self._default_limiter(),
            retry=retry,
            timeout=float(getattr(self.opts, "timeout", 20.0)),
        )

    def _limiter(self, limits: Mapping[str, Any]) -> RateLimiter:
        return RateLimiter(
            limits, clock=self._clock, sleep=self._sleep, async_sleep=self._async_sleep
        )

    def _default_limiter(self) -> RateLimiter | None:
        return None

    def decode(self, response: httpx.Response, request: ApiRequest) -> Any:
        """The API's answer to ``request``: its JSON (None for an empty 2xx body).

        A non-2xx answer is an :class:`~tsur.errors.AdapterError` (a 429 a
        :class:`~tsur.errors.RateLimited` with ``retry_after``; 5xx retryable),
        an HTML error page or a truncated body a clear error naming the call.
        Override it for APIs that put errors in a 200 body.
        """
        if response.status_code >= 300:
            raise http_error(response, request, source=self.source.id)
        if not response.content.strip():
            return None
        return load_json(response.content, source=self.source.id, what=request.label)

    def send(self, request: ApiRequest) -> Any:
        """Send one request through the channel (limits, retries); its decoded answer."""
        return self.channel.send(request)

    def close(self) -> None:
        """Close the HTTP client if the adapter built it."""
        self.channel.close()
