"""What a command of the ``tsur`` command line uses: :func:`open_engine` and the
shared ways of showing a run.

A plugin's command (``register_commands``) imports these, as tsur's own
commands do; the command line itself (:mod:`tsur.cli`) sits above them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tsur.errors import StorageError
from tsur.pipeline import Engine
from tsur.runs import RunReport

__all__ = [
    "ACTOR_LABELS",
    "DEFAULT_DB",
    "EVENT_LABELS",
    "MESSAGE_STATES",
    "STAGE_LABELS",
    "StopSignals",
    "event_label",
    "fmt_time",
    "instant",
    "markup_text",
    "open_engine",
    "period_hint",
    "progress_callback",
    "run_summary",
    "run_with_progress",
    "stage_progress",
    "terminal_text",
]


class StopSignals:
    """SIGTERM and SIGINT that come before a command is ready to stop gracefully.

    ``tsur`` installs this first thing (:meth:`install`), before it loads the
    plugins, the region and the models and connects to the database: a
    signal that comes meanwhile is kept, not acted on. A command that stops
    gracefully (``tsur worker``) installs its own handler and takes the kept
    signals over (:meth:`take`); for every other command :meth:`release`
    puts the previous handlers back and delivers a kept signal as if it came
    then (by default SIGTERM ends the process, SIGINT is a
    :class:`KeyboardInterrupt`). A signal the process was told to ignore
    (``SIG_IGN``, as SIGINT for a job started in the background) stays ignored.
    Outside the main thread, where Python cannot handle signals, it does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.pending: list[int] = []
        self._previous: dict[int, Any] = {}

    def install(self) -> StopSignals:
        """Keep SIGTERM and SIGINT from now on (until :meth:`take` or :meth:`release`)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in self.SIGNALS:
            previous = signal.getsignal(signum)
            if previous is not signal.SIG_IGN and previous is not None:  # None: not Python's
                self._previous[signum] = signal.signal(signum, self._keep)
        return self

    def _keep(self, signum: int, _frame: object) -> None:
        self.pending.append(signum)

    def take(self) -> list[int]:
        """The signals kept so far, forgotten here: the caller has its own handler now."""
        taken, self.pending = self.pending, []
        return taken

    def release(self) -> None:
        """Put the previous handlers back and deliver a signal kept meanwhile."""
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            if signal.getsignal(signum) == self._keep:
                signal.signal(signum, handler)
        pending = self.take()
        if pending:
            signal.raise_signal(pending[0])


#: The SQLite file commands use without ``--db`` or ``TSUR_DB``.
DEFAULT_DB = "tsur.db"

#: History event kinds as a curator reads them (a status change shows its statuses).
EVENT_LABELS = {
    "received": "получено",
    "located": "место",
    "deadlines": "сроки",
    "message_added": "ещё сообщение",
    "reply": "ответ заявителю",
    "answer_rejected": "ответ отклонён",
    "warning": "предупреждение о сроке",
    "overdue": "просрочка",
    "escalated": "эскалация",
    "extended": "продление срока",
    "forwarded": "переадресация",
    "photo": "фото",
    "rating": "оценка",
    "gratitude": "благодарность",
    "confirmed": "подтверждено куратором",
    "corrected": "исправлено куратором",
    "reassigned": "передано другому исполнителю",
    "merged": "объединение",
    "split": "выделение",
}

#: Pipeline stages as a curator reads them (where a message failed or was refused).
STAGE_LABELS = {
    "normalise": "чтение текста",
    "moderate": "модерация",
    "classify": "тема",
    "locate": "место",
    "group": "адреса и объекты",
    "route": "маршрутизация",
    "decide": "решение",
    "process": "обработка",
}

#: Actors of history events that are not executors or components.
ACTOR_LABELS = {"citizen": "заявитель", "curator": "куратор"}

#: Processing states of stored messages.
MESSAGE_STATES = {
    "pending": "ожидают обработки",
    "processing": "в обработке",
    "done": "обработано",
    "thanked": "благодарность",
    "failed": "с ошибкой",
    "rejected": "отклонено модерацией",
}


#: What a terminal acts on rather than shows: C0 controls but tab and newline (ESC starts
#: sequences that clear the screen or retitle the window, CR overwrites a line), DEL, C1
#: controls, and the bidirectional overrides and isolates that reorder what is shown.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(value: object) -> str:
    """``value`` as text that only shows on a terminal: its control characters removed.

    Use it for anything that came from outside (a citizen's text, an
    external id, a reason that quotes either) when printing without markup
    (``markup=False`` or inside a ``rich.text.Text``).
    """
    return _CONTROLS.sub("", str(value))


def markup_text(value: object) -> str:
    """:func:`terminal_text` with rich markup escaped: safe inside a markup string or a
    table cell (``[/]`` in a message shows as it is and breaks nothing)."""
    return escape(terminal_text(value))


def instant(text: str) -> datetime:
    """An ISO 8601 date-time with a UTC offset: the argparse ``type`` of ``--now`` and ``--at``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time, e.g. 2026-11-20T18:00:00+04:00"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +04:00")
    if not 1970 <= value.year <= 2100:
        raise argparse.ArgumentTypeError(f"{text!r} is outside 1970–2100")
    return value


def period_hint(engine: Engine) -> str:
    """What to try when a period has nothing: the month of the latest incident."""
    latest = engine.repository.incidents(limit=1)
    if not latest:
        return "в базе нет инцидентов"
    month = latest[0].created_at.astimezone(engine.region.calendar.tz)
    return f"последние инциденты — за {month:%m.%Y}: --period {month:%Y-%m}"


def event_label(kind: str) -> str:
    """A history event's kind in Russian (a plugin's own kind as it is)."""
    return EVENT_LABELS.get(kind, kind)


def open_engine(args: argparse.Namespace, *, create: bool = True, **kwargs: Any) -> Engine:
    """The engine a command line asks for: its ``--db``, ``--config`` and plugin manager.

    With ``create=False`` (commands that only read, or only work on what is
    stored) nothing is created: a mistyped ``--db`` must not answer
    "0 incidents", nor add tsur's tables to another application's database.
    """
    db = args.db if args.db is not None else os.environ.get("TSUR_DB", DEFAULT_DB)
    if not str(db).strip():
        raise StorageError("--db (or TSUR_DB) is empty: give a SQLite file or a database URL")
    kwargs.setdefault("plugin_manager", getattr(args, "pm", None))
    return Engine.from_config(args.config, db=db, existing=not create, **kwargs)


@contextlib.contextmanager
def progress_callback(
    console: Console, label: str, *, quiet: bool = False, transient: bool = False
) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar labelled ``label``, or None.

    The bar is drawn on a terminal (or with ``TSUR_PROGRESS=1``) unless
    ``quiet``; ``transient`` bars disappear when the work is done.
    """
    if quiet or (not console.is_terminal and os.environ.get("TSUR_PROGRESS") != "1"):
        yield None
        return
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def stage_progress(
    console: Console, labels: Mapping[str, str] | None = None
) -> tuple[Progress, Callable[[str, int, int], None]]:
    """A transient progress display with one bar per stage, and its ``progress(stage, done,
    total)`` callback (the one :func:`tsur.ml.train_model` takes); ``labels`` name the
    stages as the user reads them (the stage's own name otherwise). Use the display as a
    context manager around the work."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, Any] = {}
    names = labels or {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(names.get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def run_with_progress(
    engine: Engine, console: Console, *, quiet: bool = False, **kw: Any
) -> RunReport:
    """``engine.run(**kw)`` with a progress bar on a terminal (or with ``TSUR_PROGRESS=1``)."""
    with progress_callback(console, "обработка", quiet=quiet) as update:
        return engine.run(progress=update, **kw)


def run_summary(r: RunReport) -> str:
    """One line on what a processing run did."""
    return (
        f"обработано {r.processed}: новых инцидентов {r.created} (на разбор куратору "
        f"{r.triage}), добавлено к существующим {r.merged}, возвращено в работу "
        f"{r.reopened}, благодарностей {r.thanked}, отклонено модерацией {r.rejected}, "
        f"с ошибкой {r.failed}"
    )


def fmt_time(when: datetime | None, tz: tzinfo) -> str:
    """``20.11 18:00`` in the region's time zone; «—» for None."""
    return when.astimezone(tz).strftime("%d.%m %H:%M") if when else "—"
