"""``tsur worker`` in its own process, with a classifier slow enough to be caught mid-run.

Usage: python worker_cli_script.py DELAY_SECONDS -- TSUR-ARGUMENTS...
Exits with the command's status.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tsur import hookimpl
from tsur.cli import main
from tsur.plugins import make_plugin_manager


class Slow:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def classify(self, message: Any, text: Any) -> None:
        time.sleep(self.delay)


class Plugin:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    @hookimpl
    def register_classifiers(self, register: Any) -> None:
        register("slow", Slow(self.delay))


if __name__ == "__main__":
    delay = float(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    sys.exit(main(argv, pm=make_plugin_manager(entry_points=False, plugins=[Plugin(delay)])))
