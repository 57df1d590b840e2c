"""What recognition writes out: the per-window predictions (CSV / JSON) and, after a
whole-video analysis, its per-frame segments beside them (with each one's repetitions), the
video with the overlay burnt in (H.264 MP4, the badge with the running count; where the
model's attention never learnt, the window's note in place of the heatmap), and the
session summary (a dialog, and its CSV; with repetitions per action after an analysis).

`RecognitionExports` runs the exports through a `JobRunner` (one at a time, with progress and
Cancel; app.services.export writes the files). With no prediction yet it offers to analyse the
whole file first and exports when the analysis ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSettings
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QWidget

from app.controllers.analysis import WholeVideoAnalysis
from app.controllers.jobs import JobRunner
from app.controllers.live import LiveResults
from app.services.counts import ActionReps, RepCounts
from app.services.export import (
    default_export_folder,
    export_overlay_video,
    export_predictions,
    export_summary,
    prediction_files,
)
from app.services.frames import rgb_to_qimage
from app.services.jobs import BackgroundJob
from app.services.recognition_service import RecognitionService
from app.services.results import ActionTime, PredictionTrack, WindowResult
from app.widgets.dialogs import SessionSummaryDialog
from app.widgets.overlay import (
    OverlayOptions,
    class_color,
    heatmap_image,
    maps_for,
    paint_recognition,
)

ErrorPresenter = Callable[[str, str], None]
MessageShower = Callable[[str, int], None]
Asker = Callable[[str, str, str, str], bool]
"""(title, text, accept button, details) -> True when the user accepts."""

ANALYSE_FIRST = "Analyse the whole video first?"


def _qimage_to_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = image.height(), image.width(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def overlay_renderer(
    windows: list[WindowResult], options: OverlayOptions, counts: RepCounts | None = None,
    *, attention_note: str = ""
) -> Callable[[np.ndarray, int], np.ndarray]:
    """A frame renderer for the video export: paints the overlay of `windows` on RGB frames
    (and the running repetition count of `counts` in the badge). With an `attention_note`
    (the model's attention never learnt: `LiveResults.attention_note`) the heatmap gives way
    to that note, as on screen.

    Uses only QImage and QPainter, so it may run on a worker thread."""
    track = PredictionTrack(w.without_rows() for w in windows)
    options = replace(options, point=None)
    cache: dict[int, QImage | None] = {}

    def render(frame: np.ndarray, index: int) -> np.ndarray:
        result = track.at(index)
        if result is None:
            return frame
        image = rgb_to_qimage(frame).convertToFormat(QImage.Format.Format_RGB32)
        key = id(result)
        if key not in cache:
            cache.clear()
            cache[key] = (heatmap_image(maps_for(result, options), options.opacity)
                          if options.show_heatmap and not attention_note else None)
        painter = QPainter(image)
        paint_recognition(painter, QRectF(image.rect()), result, options, heatmap=cache[key],
                          attention_note=attention_note,
                          count=counts.badge_text(index) if counts else "")
        painter.end()
        return _qimage_to_rgb(image)

    return render


class RecognitionExports(QObject):
    """`ask(title, text, accept, details)` asks the user a question (the controller's
    `ask`, which tests replace)."""

    def __init__(self, live: LiveResults, analysis: WholeVideoAnalysis,
                 service: RecognitionService, dialog_parent: QWidget, settings: QSettings,
                 present_error: ErrorPresenter, show_message: MessageShower, ask: Asker,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live = live
        self._analysis = analysis
        self._service = service
        self._widget = dialog_parent
        self._settings = settings
        self._present_error = present_error
        self._show_message = show_message
        self._ask = ask
        self._summary_dialog: SessionSummaryDialog | None = None
        self.jobs = JobRunner(dialog_parent, present_error, show_message,
                              busy_text="Wait for the running export to finish, or cancel it.",
                              cancelled_note="nothing was written", min_duration_ms=300,
                              parent=self)

    def export_predictions(self, path: Path | str) -> BackgroundJob | None:
        """Write the per-window predictions (CSV or JSON by suffix) in the background, and
        after a whole-video analysis its per-frame segments beside them (NAME.segments.csv
        or .json).

        With no prediction yet, offers to analyse the whole file first and exports when the
        analysis ends (None is returned then)."""
        target = Path(path)
        analysis = self._live.current_analysis()
        if analysis is None:
            self._analyse_first(target, lambda: self.export_predictions(target))
            return None
        names = " and ".join(f.name for f in prediction_files(target, analysis))
        return self._run(
            lambda progress, cancelled: export_predictions(
                target, analysis, progress=progress, cancelled=cancelled),
            f"Writing {names}…", "Cannot export the predictions", saved=f"Saved {names}")

    def export_video(self, path: Path | str) -> BackgroundJob | None:
        """Write the open file with the overlay burnt in (H.264 MP4) in the background.

        With no prediction yet, offers to analyse the whole file first and exports when the
        analysis ends (None is returned then)."""
        info = self._live.source
        if info is None or info.is_live:
            self._present_error("Nothing to export", "Open a video file first.")
            return None
        source, target = Path(info.location), Path(path)
        track = self._live.track
        if not track:
            self._analyse_first(target, lambda: self.export_video(target))
            return None
        analysis = self._live.analysis
        render = overlay_renderer(track.windows, self._live.options,
                                  analysis.reps if analysis is not None else None,
                                  attention_note=self._live.attention_note())
        return self._run(
            lambda progress, cancelled: export_overlay_video(
                source, target, render, progress=progress, cancelled=cancelled),
            f"Writing {target.name}…", "Cannot export the video")

    def _run(self, work: Callable[..., object], text: str, failure_title: str,
             saved: str = "") -> BackgroundJob | None:
        def finished(path: object) -> None:
            self._show_message(saved or f"Saved {Path(str(path)).name}", 5000)

        return self.jobs.run(work, title="Export", text=text, failure_title=failure_title,
                             done=finished)

    def _analyse_first(self, target: Path, export: Callable[[], object]) -> None:
        """No prediction to export: offer to analyse the whole file, then run `export`."""
        info = self._live.source
        if info is None or info.is_live:
            self._present_error("Nothing to export", "There are no predictions yet: let the "
                                "model watch the video first.")
            return
        if self._service.model is None:
            self._present_error("Nothing to export", "There are no predictions yet: open a "
                                "model (Model ▸ Open model…), then analyse the video.")
            return
        if self._analysis.is_running():
            self._analysis.run_after(export)
            self._show_message(f"{target.name} is written when the analysis ends", 5000)
            return
        if not self._ask("Export", ANALYSE_FIRST, "Analyse",
                         f"There are no predictions to export yet. {info.name} is analysed "
                         f"first, then {target.name} is written."):
            return
        if self._analysis.analyse():
            self._analysis.run_after(export)

    # --- asking for files ----------------------------------------------------------------

    def default_export_path(self, suffix: str) -> Path:
        """The video's name + `suffix`, in the last export folder or the user's videos
        (documents, home) folder."""
        info = self._live.source
        stem = Path(info.location).stem if info is not None and not info.is_live else "live"
        last = str(self._settings.value("paths/last_export_directory", "", type=str))
        return default_export_folder(last) / f"{stem}{suffix}"

    def choose_predictions_file(self) -> None:
        start = self.default_export_path("-predictions.csv")
        file, chosen = QFileDialog.getSaveFileName(
            self._widget, "Export predictions", str(start), "CSV (*.csv);;JSON (*.json)")
        if not file:
            return
        path = Path(file)
        if path.suffix.lower() not in (".csv", ".json"):
            path = path.with_suffix(".json" if "json" in chosen.lower() else ".csv")
        self._settings.setValue("paths/last_export_directory", str(path.parent))
        self.export_predictions(path)

    def choose_video_file(self) -> None:
        start = self.default_export_path("-recognised.mp4")
        file, _ = QFileDialog.getSaveFileName(self._widget, "Export video with overlay",
                                              str(start), "MPEG-4 video (*.mp4)")
        if not file:
            return
        path = Path(file)
        if path.suffix.lower() != ".mp4":
            path = path.with_suffix(".mp4")
        self._settings.setValue("paths/last_export_directory", str(path.parent))
        self.export_video(path)

    # --- the session summary -------------------------------------------------------------

    def show_summary(self) -> SessionSummaryDialog:
        rows = self._live.session_summary()
        info = self._live.source
        names = self._live.class_names()
        colors = {name: class_color(i) for i, name in enumerate(names)}
        covered = sum(r.seconds for r in rows)
        analysis = self._live.analysis
        reps = (analysis.reps.per_action() if analysis is not None and analysis.reps
                and self._live.summary_scope() else None)
        dialog = SessionSummaryDialog(
            rows, colors, source=info.name if info else "no video", covered_s=covered,
            duration_s=info.duration if info else None, basis=self._live.summary_basis(),
            export=lambda: self._choose_summary_file(rows, reps), reps=reps,
            parent=self._widget)
        dialog.setModal(True)
        dialog.show()
        self._summary_dialog = dialog
        return dialog

    def _choose_summary_file(self, rows: list[ActionTime],
                             reps: dict[str, ActionReps] | None = None) -> None:
        start = self.default_export_path("-summary.csv")
        file, _ = QFileDialog.getSaveFileName(self._widget, "Export session summary",
                                              str(start), "CSV (*.csv)")
        if not file:
            return
        source = self._live.source
        try:
            export_summary(Path(file), rows, video=source.location if source else "",
                           reps=reps)
        except OSError as exc:
            self._present_error("Cannot export the summary", str(exc))
            return
        self._show_message(f"Saved {Path(file).name}", 4000)
