"""``python -m tsur`` runs the ``tsur`` command."""

import sys

from tsur.cli import main

sys.exit(main())
