"""``tsur`` in its own process with a notifier that records every delivery in a file.

Usage: python fault_worker_script.py RECORD_FILE DIE_AFTER -- TSUR-ARGUMENTS...

Every notification the process delivers is appended to RECORD_FILE as one
line ``<pid> <unix time> <dedup_key>`` (an append of one short line: a process killed
at any point leaves whole lines only). With DIE_AFTER > 0 the process
kills itself (SIGKILL, nothing flushed or rolled back) right after
recording that many deliveries: a death between delivering a notice and
recording in the outbox that it was delivered. Exits with the command's
status.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from tsur import Notification, hookimpl
from tsur.cli import main
from tsur.plugins import make_plugin_manager


class Recorder:
    """A notifier that appends ``<pid> <unix time> <dedup_key>`` per delivery to a file."""

    def __init__(self, path: str, die_after: int = 0) -> None:
        self.path = path
        self.die_after = die_after
        self.delivered = 0
        self._fd: int | None = None

    def notify(self, notification: Notification) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        line = f"{os.getpid()} {time.time():.3f} {notification.dedup_key}\n"
        os.write(self._fd, line.encode())
        self.delivered += 1
        if self.die_after and self.delivered >= self.die_after:
            os.kill(os.getpid(), signal.SIGKILL)


class RecorderPlugin:
    """Registers :class:`Recorder` as the notifier ``recorder``."""

    def __init__(self, path: str, die_after: int = 0) -> None:
        self.recorder = Recorder(path, die_after)

    @hookimpl
    def register_notifiers(self, register: Any) -> None:
        register("recorder", self.recorder)


if __name__ == "__main__":
    record, die_after = sys.argv[1], int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    plugin = RecorderPlugin(record, die_after)
    sys.exit(main(argv, pm=make_plugin_manager(entry_points=False, plugins=[plugin])))
