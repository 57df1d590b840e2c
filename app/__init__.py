"""ST-MANet Coach, the desktop program (see docs/architecture.md)."""

import time

PROCESS_STARTED = time.perf_counter()
"""The clock when Python first ran our code (this package is imported before any of its
modules): the self-test's 'start-up' point."""
