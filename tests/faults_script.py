"""``tsur`` in a process whose files may not grow past a limit: a full disk, as SQLite sees it.

Usage: python faults_script.py MAX_FILE_BYTES -- TSUR-ARGUMENTS...
A write past the limit fails with EFBIG (the signal it would raise is
ignored), which SQLite reports as "database or disk is full".
"""

from __future__ import annotations

import resource
import signal
import sys

from tsur.cli import main

if __name__ == "__main__":
    limit = int(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.exit(main(sys.argv[sys.argv.index("--") + 1 :]))
