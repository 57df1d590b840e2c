"""The one way a controller runs a job off the GUI thread with progress and Cancel.

`JobRunner` runs one `BackgroundJob` (app.services.jobs) at a time: a second one is refused
with a message; a window-modal progress dialog follows the job and its Cancel cancels it;
a failure is shown as an error, a cancel as a status-bar message. The labeller's data-set
export and import run through one, the recognition exports through another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app.services.jobs import BackgroundJob, CancelCheck, Progress
from app.widgets.dialogs import job_progress_dialog

ErrorPresenter = Callable[[str, str], None]
"""Shows (title, message) to the user."""
MessageShower = Callable[[str, int], None]
"""Shows a status-bar message for so many milliseconds."""
Work = Callable[[Progress, CancelCheck], Any]

CANCELLED_MESSAGE_MS = 4000


class JobRunner(QObject):
    """One job at a time, with a progress dialog over `parent_widget`.

    `busy_text`: what the user is told when a job is asked for while one runs (under the
    title "<title> running"); `cancelled_note`: what a cancel left ("nothing was written");
    `min_duration_ms`: a job shorter than this shows no dialog.

    Signals: changed(): a job started or ended (before its outcome is handled).
    """

    changed = Signal()

    def __init__(self, parent_widget: QWidget, present_error: ErrorPresenter,
                 show_message: MessageShower, *, busy_text: str, cancelled_note: str,
                 min_duration_ms: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._widget = parent_widget
        self._present_error = present_error
        self._show_message = show_message
        self._busy_text = busy_text
        self._cancelled_note = cancelled_note
        self._min_duration_ms = min_duration_ms
        self._job: BackgroundJob | None = None

    def current(self) -> BackgroundJob | None:
        """The job running now, if any."""
        return self._job

    def is_busy(self) -> bool:
        return self._job is not None

    def run(self, work: Work, *, title: str, text: str, failure_title: str,
            done: Callable[[Any], None]) -> BackgroundJob | None:
        """Start `work(progress, cancelled)` on its own thread; `done(result)` on the GUI
        thread when it finishes. None (and the user told why) while another job runs."""
        if self._job is not None:
            self._present_error(f"{title} running", self._busy_text)
            return None
        job = BackgroundJob(work, name=title.lower(), parent=self)

        def ended() -> None:
            self._job = None
            self.changed.emit()

        job_progress_dialog(job, self._widget, title=title, text=text,
                            min_duration_ms=self._min_duration_ms, on_end=ended)

        def failed(message: str) -> None:
            self._present_error(failure_title, message)

        def cancelled() -> None:
            self._show_message(f"{title} cancelled; {self._cancelled_note}",
                               CANCELLED_MESSAGE_MS)

        job.finished.connect(done)
        job.failed.connect(failed)
        job.cancelled.connect(cancelled)
        self._job = job
        job.start()
        self.changed.emit()
        return job

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel the running job and wait (at most `timeout_s`) until it has stopped."""
        if self._job is not None:
            self._job.cancel()
            self._job.wait(timeout_s)
