"""Waiting in GUI tests for work that takes long (a whole-video analysis, lining two videos
up), with Qt's events processed meanwhile."""

import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication


def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Process events until `condition()` holds; TimeoutError after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout_s:.0f} s")
        QCoreApplication.processEvents()
        time.sleep(0.01)
