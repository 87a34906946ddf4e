"""A worker process for the concurrency tests: waits for a start signal, then runs.

Usage: python worker_script.py DB CONFIG GO_FILE DELAY_SECONDS
Prints ``processed N`` when done. A classifier that sleeps ``DELAY`` per
message makes the run long enough to interleave workers or to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tsur import Engine, hookimpl


class Slow:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def classify(self, message: Any, text: Any) -> None:
        time.sleep(self.delay)


def main() -> None:
    db, config, go, delay = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])

    class Plugin:
        @hookimpl
        def register_classifiers(self, register: Any) -> None:
            register("slow", Slow(delay))

    engine = Engine.from_config(config, db=db, entry_points=False, plugins=[Plugin()])
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    report = engine.run(batch_size=10)
    print(f"processed {report.processed}", flush=True)
    engine.close()


if __name__ == "__main__":
    main()
