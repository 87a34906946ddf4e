"""The ``tsur`` command: every subcommand comes from a plugin's ``register_commands``.

The built-in commands are ordinary plugins too (``tsur.default_plugins.commands``
and its siblings). Every command takes ``--db`` (a SQLite path or a
PostgreSQL URL; env ``TSUR_DB``), ``--config`` (a region file; env
``TSUR_CONFIG``; the bundled example region when absent) and ``-v``.

``main(argv, pm=...)`` runs the command line with a given plugin manager;
every command then uses that same manager, through :func:`open_engine`.
Only here is logging configured (to standard error): the library itself
only logs.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import pluggy
from rich.console import Console
from rich.text import Text as RichText

from tsur._version import __version__
from tsur.console import (
    DEFAULT_DB,
    StopSignals,
    fmt_time,
    open_engine,
    run_summary,
    run_with_progress,
    terminal_text,
)
from tsur.errors import PluginError, TsurError
from tsur.plugins import add_plugins, call_each, make_plugin_manager

__all__ = [
    "COMMAND_PLUGINS",
    "DEFAULT_DB",
    "build_parser",
    "fmt_time",
    "main",
    "open_engine",
    "run_summary",
    "run_with_progress",
]

#: The modules of tsur's own commands, registered as plugins by :func:`build_parser`.
COMMAND_PLUGINS: tuple[str, ...] = (
    "tsur.default_plugins.commands",
    "tsur.default_plugins.source_commands",
    "tsur.default_plugins.lifecycle_commands",
    "tsur.default_plugins.report_commands",
    "tsur.default_plugins.model_commands",
    "tsur.default_plugins.classify_command",
    "tsur.default_plugins.serve",
    "tsur.default_plugins.keys_commands",
    "tsur.default_plugins.region_commands",
)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (tests replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_HANDLER = _Stderr()
_HANDLER.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))


def _configure_logging(verbose: int) -> None:
    """Render tsur's log records on standard error: warnings, ``-v`` info, ``-vv`` debug."""
    root = logging.getLogger("tsur")
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))


def _leading_verbosity(words: Sequence[str]) -> int:
    """How many ``-v`` come before the command (``tsur -vv run``)."""
    count = 0
    for word in words:
        if word == "--verbose":
            count += 1
        elif len(word) > 1 and word.startswith("-") and set(word[1:]) == {"v"}:
            count += len(word) - 1
        else:
            break
    return count


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--db",
        default=None,
        help=f"SQLite file or postgresql:// URL (env TSUR_DB; default {DEFAULT_DB}, "
        "for 'tsur demo' tsur-demo.db)",
    )
    p.add_argument(
        "--config",
        default=os.environ.get("TSUR_CONFIG"),
        help="region file, TOML or YAML (env TSUR_CONFIG; default: bundled Samara oblast)",
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    return p


def build_parser(pm: pluggy.PluginManager | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``tsur``, with every plugin's commands from ``pm``.

    tsur's own commands (:data:`COMMAND_PLUGINS`) are added to ``pm`` unless
    ``TSUR_DISABLE_PLUGINS`` names them.
    """
    pm = pm or make_plugin_manager()
    add_plugins(
        pm,
        [importlib.import_module(name) for name in COMMAND_PLUGINS if not pm.is_blocked(name)],
    )
    common = _common()
    parser = argparse.ArgumentParser(
        prog="tsur",
        description="tsur: turn citizens' messages into classified, located, routed and "
        "tracked incidents.",
        epilog="Start with 'tsur demo'. Each command has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"tsur {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        dest="verbose_before",
        help="more log output, before or after the command (-vv: debug)",
    )
    parser.set_defaults(pm=pm)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def kwargs(plugin: str) -> dict[str, Any]:
        def add_command(
            name: str, *, help: str, description: str | None = None
        ) -> argparse.ArgumentParser:
            if name in sub.choices:
                raise PluginError(f"command {name!r} already exists", plugin=plugin)
            parser: argparse.ArgumentParser = sub.add_parser(
                name, parents=[common], help=help, description=description or help
            )
            return parser

        return {"add_command": add_command}

    call_each(pm, "register_commands", kwargs)
    return parser


def main(argv: Sequence[str] | None = None, *, pm: pluggy.PluginManager | None = None) -> int:
    """Entry point of the ``tsur`` console script (``pm``: the plugin manager to use).

    SIGTERM and SIGINT are kept from the start (:class:`~tsur.console.StopSignals`):
    a command that stops gracefully sets ``graceful_stop`` in its parser's
    defaults and takes them over from ``args.stop_signals``; for every other
    command they act as usual once its handler starts.
    """
    early = StopSignals().install()  # before plugins, region, models and the database
    try:
        return _main(argv, pm, early)
    finally:
        early.release()


def _main(argv: Sequence[str] | None, pm: pluggy.PluginManager | None, early: StopSignals) -> int:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    words = list(sys.argv[1:] if argv is None else argv)
    leading = list(itertools.takewhile(lambda w: w.startswith("-"), words))
    if "--version" in leading:  # answered before plugins load: a broken one cannot stop it
        print(f"tsur {__version__}")
        return 0
    _configure_logging(_leading_verbosity(words))  # so that building the parser is logged too
    try:
        parser = build_parser(pm)
    except TsurError as exc:
        err.print(RichText("error: ", style="red") + RichText(terminal_text(exc)))
        return 2
    args = parser.parse_args(words)
    _configure_logging(args.verbose + args.verbose_before)
    console = Console(highlight=False, soft_wrap=True)
    handler = getattr(args, "func", None)
    if not callable(handler):
        err.print(
            RichText("error: ", style="red")
            + RichText(
                f"command {args.command!r} has no handler: its plugin must call "
                "parser.set_defaults(func=...)"
            )
        )
        return 2
    args.stop_signals = early
    try:
        if not getattr(args, "graceful_stop", False):
            early.release()
        code = handler(args, console)
        if code is None:
            return 0
        if isinstance(code, bool) or not isinstance(code, int):
            raise PluginError(f"command {args.command!r} returned {code!r}, not an exit status")
        return code
    except TsurError as exc:
        err.print(RichText("error: ", style="red") + RichText(terminal_text(exc)))
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        err.print("interrupted; nothing is lost: run 'tsur run' to continue")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
