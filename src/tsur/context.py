"""What a plugin is given: :class:`Context`.

Every ``register_*`` hook receives a context next to its ``register``
callback. It holds what the built-in plugins use themselves — the region
(:class:`~tsur.Region`: territories, topics, executors, calendars), the
engine's lemmatiser (so that a text is lemmatised once, by the lemmatiser
the engine was given), the clock, the repository when there is one — and
the plugin's own settings: the ``[plugins.NAME]`` table of the region file,
validated by the pydantic model the plugin declared with
``register_settings``::

    class Settings(pydantic.BaseModel):
        url: str
        min_words: int = 3

    @tsur.hookimpl
    def register_settings(register):
        register("city_feed", Settings)

    @tsur.hookimpl
    def register_routers(register, context):
        register("city", CityRouter(context.region, context.settings))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from tsur.region import Region
from tsur.text.normalize import Lemmatizer, Text

if TYPE_CHECKING:
    from tsur.config import RegionConfig
    from tsur.store.base import Repository

__all__ = ["Clock", "Context", "preview_mode", "previewing", "utcnow"]

#: A function returning the current (timezone-aware) time; tests pass a fixed one.
Clock = Callable[[], datetime]

_PREVIEW: ContextVar[bool] = ContextVar("tsur_preview", default=False)


def previewing() -> bool:
    """Whether the engine is only previewing a message (:meth:`tsur.Engine.preview`).

    A component that remembers what it sees (a repeat tracker, a rate
    counter) reads it and remembers nothing then: a preview must not
    change what a real run decides.
    """
    return _PREVIEW.get()


@contextlib.contextmanager
def preview_mode() -> Iterator[None]:
    """Within the block, :func:`previewing` is true (in this thread or task only)."""
    token = _PREVIEW.set(True)
    try:
        yield
    finally:
        _PREVIEW.reset(token)


def utcnow() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


@attrs.frozen
class Context:
    """The engine's runtime, as a plugin sees it.

    ``settings`` is the validated ``[plugins.NAME]`` table of the plugin
    the context was given to (None when the plugin declared none, or
    declared one the region file leaves out and that cannot be empty);
    ``plugin`` is that plugin's name. ``repository`` is None where a
    command works without a database (``tsur parse``, ``tsur sources``).
    """

    region: Region
    lemmatizer: Lemmatizer
    clock: Clock = utcnow
    repository: Repository | None = None
    settings: Any = None
    plugin: str = ""

    @property
    def config(self) -> RegionConfig:
        """The validated region file the region was built from."""
        return self.region.config

    def text(self, raw: str) -> Text:
        """``raw`` normalised and lemmatised with the engine's lemmatiser."""
        return Text.from_raw(raw, self.lemmatizer)
