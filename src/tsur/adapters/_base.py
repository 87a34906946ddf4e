"""What every built-in adapter shares: validated options, time zone, an HTTP channel.

An adapter is built as ``Adapter(source, config, **options)``: the keyword
options override ``source.options`` (the ``[[sources]] options`` table) and
are validated by the adapter's :class:`AdapterOptions` model, so a typo in a
region file is a :class:`~tsur.errors.ConfigError` naming the key. Secrets
can be given indirectly: ``access_token_env = "VK_TOKEN"`` reads the
environment variable instead of writing the token into the file.

Runtime objects are separate keyword arguments, never read from the file:
``client`` / ``async_client`` (httpx clients, e.g. with a MockTransport),
``retry`` (:class:`~tsur.adapters._http.RetryPolicy`), ``limiter`` and
``sleep`` (used by both, so tests never wait).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from tsur.config import RegionConfig
from tsur.domain import Message, Reply, Source
from tsur.errors import ConfigError
from tsur.typing import FetchResult

from ._http import HttpChannel, RateLimiter, RetryPolicy
from ._payload import region_tz

__all__ = ["AdapterOptions", "BaseAdapter", "HttpAdapter", "option_fields", "secret"]

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
                value = os.environ.get(var)
                if value is None:
                    raise ValueError(f"{env_key}: environment variable {var!r} is not set")
                data[name] = value
        return data


def secret(value: SecretStr | None) -> str | None:
    """The plain text of a secret option (or None)."""
    return value.get_secret_value() if value is not None else None


def parse_options(model: type[_O], source: Source, overrides: Mapping[str, Any]) -> _O:
    """Validate ``source.options`` updated by ``overrides``; errors name each key."""
    merged = {**source.options, **overrides}
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            problems.append((f"options.{loc}" if loc else "options", _msg(err["msg"])))
        raise ConfigError(
            f"source {source.id!r} (kind {source.kind!r}): invalid options", problems=problems
        ) from None


def _msg(text: str) -> str:
    return text.removeprefix("Value error, ")


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
    """Common constructor and lifecycle of the built-in adapters."""

    kind: ClassVar[str] = ""
    options_model: ClassVar[type[AdapterOptions]] = AdapterOptions

    def __init__(self, source: Source, config: RegionConfig | None = None, **options: Any) -> None:
        self.source = source
        self.config = config
        self.tz: tzinfo = region_tz(config)
        self.opts = parse_options(self.options_model, source, options)

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
    """An adapter that talks HTTP through an :class:`~tsur.adapters._http.HttpChannel`."""

    def __init__(
        self,
        source: Source,
        config: RegionConfig | None = None,
        *,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(source, config, **options)
        #: wall-clock time (for date windows and timestamps); tests freeze it
        self.now = now or (lambda: datetime.now(UTC))
        self._sleep = sleep or time.sleep
        self._async_sleep = async_sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        if retry is None:
            retry = RetryPolicy(sleep=self._sleep, async_sleep=self._async_sleep)
        self.channel = HttpChannel(
            source.id,
            decode=self._decode,
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

    def _decode(self, response: httpx.Response, request: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Close the HTTP client if the adapter built it."""
        self.channel.close()
