"""Analysing a whole video: Recognition ▸ Analyse whole video, and the timeline's footer
(caption, progress bar, Analyse / Cancel button).

`WholeVideoAnalysis` asks the recognition service to analyse every window of the open file on
its worker thread (live answers pause meanwhile), hands the windows to `LiveResults` as they
come, and shows the progress. Something may wait for the analysis to end (`run_after`: an
export asked for before there was any prediction); it runs when the analysis finishes, and is
dropped when it is cancelled or fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from app.controllers.live import LiveResults
from app.services.recognition_service import RecognitionService
from app.services.results import AnalysisResult, WindowResult

ErrorPresenter = Callable[[str, str], None]
MessageShower = Callable[[str, int], None]


class WholeVideoAnalysis(QObject):
    """Its footer widgets: `caption`, `progress`, `button`.

    Signals: changed(): an analysis started or ended (the actions that depend on it change)."""

    changed = Signal()

    def __init__(self, live: LiveResults, service: RecognitionService,
                 present_error: ErrorPresenter, show_message: MessageShower,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live = live
        self._service = service
        self._present_error = present_error
        self._show_message = show_message
        self._after: Callable[[], object] | None = None

        self.caption = QLabel()
        self.caption.setObjectName("panelCaption")
        self.progress = QProgressBar()
        self.progress.setObjectName("analysisProgress")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.button = QPushButton("Analyse whole video")
        self.button.clicked.connect(self._on_button)

        service.windowsAnalysed.connect(self._on_windows_analysed)
        service.progressed.connect(self._on_progressed)
        service.finished.connect(self._on_finished)
        service.cancelled.connect(self._on_cancelled)
        service.analysisFailed.connect(self._on_failed)

    def is_running(self) -> bool:
        return self._service.is_analysing()

    def analyse(self) -> bool:
        """Analyse every window of the open file; False when there is nothing to analyse."""
        info = self._live.source
        if info is None or info.is_live:
            self._present_error("Nothing to analyse",
                                "Open a video file first: live sources cannot be analysed "
                                "in advance.")
            return False
        if self._service.model is None:
            if self._service.when_loaded("analyse whole video", self.analyse):
                self._show_message("Analysing once the model has loaded…", 5000)
                return True
            self._present_error("No model", "Open a model first: Model ▸ Open model…")
            return False
        if self._service.is_analysing():
            return False
        self._live.begin_analysis()
        self._service.set_live_enabled(False)
        self._service.analyse(Path(info.location))
        self._live.refresh()
        return True

    def cancel(self) -> None:
        self._service.cancel_analysis()

    def run_after(self, then: Callable[[], object]) -> None:
        """Run `then` when the analysis under way (or about to start) finishes."""
        self._after = then

    def forget(self) -> None:
        """Another source or model: what waited for an analysis waits no more."""
        self._after = None
        self._set_caption("")

    def update_footer(self, *, can_analyse: bool) -> None:
        analysing = self._service.is_analysing()
        self.button.setEnabled(can_analyse)
        self.button.setText("Cancel" if analysing else "Analyse whole video")
        self.progress.setVisible(analysing)
        if analysing:
            self.progress.setValue(0)
            self._set_caption("Analysing…")

    def _set_caption(self, text: str, tooltip: str = "") -> None:
        self.caption.setText(text)
        self.caption.setToolTip(tooltip)

    def _on_button(self) -> None:
        if self._service.is_analysing():
            self.cancel()
        else:
            self.analyse()

    def _on_windows_analysed(self, windows: list[WindowResult]) -> None:
        self._live.add_analysed(windows)

    def _on_progressed(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(1, total))
        self.progress.setValue(done)
        self._set_caption(f"Analysing… {done} of {total} windows")

    def _on_finished(self, result: AnalysisResult) -> None:
        self._live.end_analysis(result)
        count = 0 if result.timeline is None else len(result.timeline.told_segments())
        segments = f", {count} segment{'' if count == 1 else 's'}" if count else ""
        self._set_caption(
            f"Analysed: {len(result.windows)} windows{segments}",
            f"Windows of {result.window} frames, one every {result.hop} frames"
            + (f"; the action at every frame, smoothed, makes {count} segments" if count
               else ""))
        self._show_message(f"Analysed {result.path.name}", 4000)
        self.changed.emit()
        self._live.refresh(force=True)
        then, self._after = self._after, None
        if then is None:
            return
        if result.windows:
            then()
        else:
            self._present_error("Nothing to export", f"{result.path.name} is shorter than one "
                                "window of the model: there is no prediction to export.")

    def _on_cancelled(self, result: AnalysisResult) -> None:
        if self._after is not None:
            self._after = None
            self._show_message("Analysis cancelled; nothing was exported", 4000)
        self._live.end_analysis(result)
        self._service.set_live_enabled(True)
        self._set_caption(f"Analysis cancelled after {len(result.windows)} windows")
        self.changed.emit()
        self._live.refresh(force=True)

    def _on_failed(self, message: str) -> None:
        self._after = None
        self._service.set_live_enabled(True)
        self._set_caption("")
        self.changed.emit()
        self._present_error("Analysis failed", message)
