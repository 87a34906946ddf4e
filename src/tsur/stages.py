"""Running one stage of the pipeline on one message, and checking what it returns.

A stage is a component's call (a classifier's, a router's …) or the
engine's own step. Whatever goes wrong in it becomes a
:class:`~tsur.errors.ProcessingError` naming the stage, so that the message
fails alone, with a reason, and can be re-run; a database error is passed
on untouched (it belongs to the batch, which is re-run as a whole).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tsur.errors import ProcessingError, TsurError

__all__ = ["DB_ERRORS", "expect", "run_stage"]

_T = TypeVar("_T")

try:  # database errors raised inside a stage belong to the batch, not the message
    from sqlalchemy.exc import DBAPIError as _DBAPIError

    #: Exceptions that are the database's, not the message's.
    DB_ERRORS: tuple[type[BaseException], ...] = (_DBAPIError,)
except ImportError:  # pragma: no cover
    DB_ERRORS = ()


def run_stage(name: str, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)``; a failure that is not a :class:`~tsur.errors.TsurError` becomes a
    :class:`~tsur.errors.ProcessingError` naming the stage ``name``."""
    try:
        return fn(*args)
    except ProcessingError as exc:
        if exc.stage is None:
            exc.stage = name
        raise
    except TsurError:
        raise
    except DB_ERRORS:
        raise
    except Exception as exc:
        raise ProcessingError(f"{type(exc).__name__}: {exc}", stage=name) from exc


def expect(value: object, cls: type, role: str, name: str) -> None:
    """A component's answer must be of its type (whose own checks then hold)."""
    if not isinstance(value, cls):
        raise ProcessingError(
            f"{role} {name!r} returned {type(value).__name__}, not a {cls.__name__}"
        )
