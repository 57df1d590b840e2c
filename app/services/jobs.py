"""A job off the GUI thread: `BackgroundJob` runs `work(progress, cancelled)` in a Python
thread and reports back on the GUI thread (progress, a result, a failure, or a cancel).

Exports (app.services.export) and the labeller's data-set export and import run this way;
app.controllers.jobs.JobRunner shows them with a progress dialog, one at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import cv2
from PySide6.QtCore import QObject, Qt, Signal

from stmanet.errors import Cancelled, STMANetError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class JobError(Exception):
    """A job that could not be done; the message says why, for the user."""


def unexpected_message(exc: BaseException) -> str:
    """One line for the user about an exception no job expects: its kind and first line."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if len(detail) > 200:
        detail = detail[:199] + "…"
    return f"An unexpected error stopped it ({detail}); the log has the details."


class BackgroundJob(QObject):
    """Runs `work(progress, cancelled)` in a Python thread.

    Signals (on the thread that made the job, the GUI thread): progressed(done, total),
    finished(result), failed(message), cancelled(). `work` calls `progress(done, total)` as it
    goes and checks `cancelled()`; raising Cancelled ends it as cancelled. The errors a user
    can act on (STMANetError, JobError, OSError, OpenCV's, ValueError) end it as failed, with
    their message; any other exception (a RuntimeError such as running out of memory, a bug)
    also ends it as failed, with a one-line message naming its kind (`unexpected_message`),
    its traceback in the log, so that a progress dialog never waits forever.
    """

    progressed = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    _progress = Signal(int, int)
    _finished = Signal(object)
    _failed = Signal(str)
    _cancelled = Signal()

    def __init__(self, work: Callable[[Progress, CancelCheck], Any], name: str = "export",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._work = work
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        queued = Qt.ConnectionType.QueuedConnection
        self._progress.connect(self.progressed, queued)
        self._finished.connect(self.finished, queued)
        self._failed.connect(self.failed, queued)
        self._cancelled.connect(self.cancelled, queued)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job ends; True when it did."""
        if self._thread.ident is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            result = self._work(self._progress.emit, self._cancel.is_set)
        except Cancelled:
            self._cancelled.emit()
        except (STMANetError, JobError, OSError, cv2.error, ValueError) as exc:
            log.exception("%s failed", self._thread.name)
            self._failed.emit(str(exc))
        except Exception as exc:  # a job must always end with an outcome
            log.exception("%s failed unexpectedly", self._thread.name)
            self._failed.emit(unexpected_message(exc))
        else:
            self._finished.emit(result)
