"""Recognition in the main window: the model, the overlay, the panels, analysis and exports.

`RecognitionController` joins the player to the recognition service. It keeps the answers for
the source on screen in a `PredictionTrack` (live answers as they come, or a whole-file
analysis), and on every frame shows the answer that describes it: in the badge over the
picture, the top-5 bars, the timeline and the attention panel. It adds the Model and
Recognition menus, three docks (Recognition, Attention, Timeline), status-bar fields for the
model, the device and the inference latency, and keeps the overlay options, the device and
the hop in the settings (UI state only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRectF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence, QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services.devices import available_devices, default_device, device_name
from app.services.export import (
    BackgroundJob,
    default_export_folder,
    export_overlay_video,
    export_predictions,
    export_summary,
)
from app.services.recognition_service import DEFAULT_HOP, RecognitionService
from app.services.results import (
    STAGES,
    ActionTime,
    AnalysisResult,
    ModelInfo,
    PredictionTrack,
    WindowResult,
    action_seconds,
)
from app.services.video_source import SourceInfo, rgb_to_qimage
from app.widgets.attention_panel import AttentionPanel
from app.widgets.dialogs import (
    ModelInfoDialog,
    SessionSummaryDialog,
    ask,
    job_progress_dialog,
)
from app.widgets.overlay import (
    OverlayOptions,
    class_color,
    crop_rect,
    heatmap_image,
    maps_for,
    paint_recognition,
)
from app.widgets.predictions_panel import PredictionsPanel
from app.widgets.timeline import PredictionTimeline, TimelineLegend

if TYPE_CHECKING:
    from app.main_window import MainWindow

log = logging.getLogger(__name__)

HOPS = (4, 8, 16, 32, 64)
MODEL_FILTER = "ST-MANet models (*.safetensors);;PyTorch checkpoints (*.pth *.pt);;All files (*)"
EMPTY_STATE = (
    "Open a video (Ctrl+O) or drop a file here\n\n"
    "To recognise drills, open a model too: Model ▸ Open model… (Ctrl+M)"
)
READY_STATE = "Open a video (Ctrl+O) or drop a file here"
ANALYSE_FIRST = "Analyse the whole video first?"


def _qimage_to_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = image.height(), image.width(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def overlay_renderer(
    windows: list[WindowResult], options: OverlayOptions
) -> Callable[[np.ndarray, int], np.ndarray]:
    """A frame renderer for the video export: paints the overlay of `windows` on RGB frames.

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
                          if options.show_heatmap else None)
        painter = QPainter(image)
        paint_recognition(painter, QRectF(image.rect()), result, options, heatmap=cache[key])
        painter.end()
        return _qimage_to_rgb(image)

    return render


class RecognitionController(QObject):
    """Signals: predictionShown(WindowResult): the answer on screen changed."""

    predictionShown = Signal(object)

    def __init__(
        self,
        window: MainWindow,
        settings: QSettings,
        present_error: Callable[[str, str], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._player = window.player
        self._settings = settings
        self._present_error = present_error

        device = str(settings.value("recognition/device", default_device(), type=str))
        hop = int(settings.value("recognition/hop", DEFAULT_HOP, type=int))
        self._service = RecognitionService(
            self._player.video_source.recent_frames, self,
            device=device if device in available_devices() else default_device(),
            hop=hop if hop in HOPS else DEFAULT_HOP,
        )  # fmt: skip
        self._options = self._load_options()
        self._source: SourceInfo | None = None
        self._track = PredictionTrack()
        self._analysis: AnalysisResult | None = None
        self._shown: WindowResult | None = None
        self._rows_holder: WindowResult | None = None
        self._detail_pending = False
        self._chosen_model: Path | None = None
        self._heatmap_key: tuple[object, ...] | None = None
        self._heatmap: QImage | None = None
        self._job: BackgroundJob | None = None
        self._job_dialog: QProgressDialog | None = None
        self._track_model: tuple[Path, tuple[str, ...]] | None = None
        self._summary_dialog: SessionSummaryDialog | None = None
        self._after_analysis: Callable[[], object] | None = None

        self._session_timer = QTimer(self)
        self._session_timer.setSingleShot(True)
        self._session_timer.setInterval(400)
        self._session_timer.timeout.connect(self._update_session)

        self._timeline_timer = QTimer(self)
        self._timeline_timer.setSingleShot(True)
        self._timeline_timer.setInterval(200)
        self._timeline_timer.timeout.connect(self._timeline_changed)

        self._build_panels()
        self._create_actions()
        self._create_menus()
        self._create_status_fields()
        self._connect()
        self._player.set_overlay(self._paint_overlay)
        self._player.view.installEventFilter(self)
        self._player.view.set_placeholder_text(EMPTY_STATE)
        self._update_actions()

    # --- parts other code (and tests) use ------------------------------------------------

    @property
    def service(self) -> RecognitionService:
        return self._service

    @property
    def track(self) -> PredictionTrack:
        return self._track

    @property
    def analysis(self) -> AnalysisResult | None:
        return self._analysis

    @property
    def timeline(self) -> PredictionTimeline:
        return self._timeline

    @property
    def predictions_panel(self) -> PredictionsPanel:
        return self._panel

    @property
    def attention_panel(self) -> AttentionPanel:
        return self._attention

    @property
    def options(self) -> OverlayOptions:
        return self._options

    @property
    def model(self) -> ModelInfo | None:
        return self._service.model

    def shown_result(self) -> WindowResult | None:
        """The answer describing the frame on screen."""
        return self._shown

    def current_job(self) -> BackgroundJob | None:
        return self._job

    def status_texts(self) -> dict[str, str]:
        return {
            "model": self._model_label.text(),
            "device": self._device_label.text(),
            "latency": self._latency_label.text(),
        }

    def add_timeline_row(self, widget: QWidget) -> None:
        """Put `widget` (e.g. the labels strip) right above the prediction timeline, in its
        dock: a row spanning the same frames sits next to the predicted strip."""
        self._timeline_layout.insertWidget(self._timeline_layout.indexOf(self._timeline),
                                           widget)

    def load_model(self, path: Path | str, *, remember: bool = True) -> None:
        """Load a checkpoint in the background; an error dialog tells when it cannot be used,
        and the model in use stays. `remember`: load it again at the next start."""
        path = Path(path).expanduser()
        self._chosen_model = path if remember else None
        self._window.statusBar().showMessage(f"Loading model {path.name}…")
        self._service.load_model(path)

    def analyse(self) -> bool:
        """Analyse every window of the open file; False when there is nothing to analyse."""
        info = self._source
        if info is None or info.is_live:
            self._present_error("Nothing to analyse",
                                "Open a video file first: live sources cannot be analysed "
                                "in advance.")
            return False
        if self._service.model is None:
            self._present_error("No model", "Open a model first: Model ▸ Open model…")
            return False
        if self._service.is_analysing():
            return False
        self._track = PredictionTrack()
        self._analysis = None
        self._drop_rows_holder()
        self._timeline.set_track(self._track, self._class_names())
        self._session_timer.start()
        self._service.set_live_enabled(False)
        self._service.analyse(Path(info.location))
        self._refresh()
        return True

    def cancel_analysis(self) -> None:
        self._service.cancel_analysis()

    def ask(self, title: str, text: str, accept: str, details: str = "") -> bool:
        """Ask the user; True when they click `accept` (the other button is Cancel). Tests
        replace this method to answer."""
        return ask(self._window, title, text, accept, details=details)

    def export_predictions(self, path: Path | str) -> BackgroundJob | None:
        """Write the per-window predictions (CSV or JSON by suffix) in the background.

        With no prediction yet, offers to analyse the whole file first and exports when the
        analysis ends (None is returned then)."""
        target = Path(path)
        analysis = self._current_analysis()
        if analysis is None:
            self._analyse_first(target, lambda: self.export_predictions(target))
            return None
        return self._run_job(
            lambda progress, cancelled: export_predictions(
                target, analysis, progress=progress, cancelled=cancelled),
            f"Writing {target.name}…", "Cannot export the predictions")

    def export_video(self, path: Path | str) -> BackgroundJob | None:
        """Write the open file with the overlay burnt in (H.264 MP4) in the background.

        With no prediction yet, offers to analyse the whole file first and exports when the
        analysis ends (None is returned then)."""
        info = self._source
        if info is None or info.is_live:
            self._present_error("Nothing to export", "Open a video file first.")
            return None
        source, target = Path(info.location), Path(path)
        if not self._track:
            self._analyse_first(target, lambda: self.export_video(target))
            return None
        render = overlay_renderer(self._track.windows, self._options)
        return self._run_job(
            lambda progress, cancelled: export_overlay_video(
                source, target, render, progress=progress, cancelled=cancelled),
            f"Writing {target.name}…", "Cannot export the video")

    def _analyse_first(self, target: Path, export: Callable[[], object]) -> None:
        """No prediction to export: offer to analyse the whole file, then run `export`."""
        info = self._source
        if info is None or info.is_live:
            self._present_error("Nothing to export", "There are no predictions yet: let the "
                                "model watch the video first.")
            return
        if self._service.model is None:
            self._present_error("Nothing to export", "There are no predictions yet: open a "
                                "model (Model ▸ Open model…), then analyse the video.")
            return
        if self._service.is_analysing():
            self._after_analysis = export
            self._window.statusBar().showMessage(
                f"{target.name} is written when the analysis ends", 5000)
            return
        if not self.ask("Export", ANALYSE_FIRST, "Analyse",
                        f"There are no predictions to export yet. {info.name} is analysed "
                        f"first, then {target.name} is written."):
            return
        if self.analyse():
            self._after_analysis = export

    def session_summary(self) -> list[ActionTime]:
        """Seconds per action over the frames that have an answer."""
        info = self._source
        if info is None or not self._track:
            return []
        count = info.frame_count
        if count is None:
            count = max(w.end_frame for w in self._track)
        return action_seconds(self._track, count, info.fps, self._class_names())

    def shutdown(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job.wait(10.0)
        self._service.shutdown()

    # --- construction --------------------------------------------------------------------

    def _load_options(self) -> OverlayOptions:
        s = self._settings
        default = OverlayOptions()
        stages_text = str(s.value("overlay/stages", ",".join(map(str, default.stages)), type=str))
        stages = tuple(sorted({int(t) for t in stages_text.split(",")
                               if t.strip().isdigit() and int(t) in STAGES}))
        point_stage = int(s.value("overlay/point_stage", default.point_stage, type=int))
        opacity = float(s.value("overlay/opacity", default.opacity, type=float))
        return OverlayOptions(
            show_badge=bool(s.value("overlay/show_badge", default.show_badge, type=bool)),
            show_heatmap=bool(s.value("overlay/show_heatmap", default.show_heatmap, type=bool)),
            opacity=min(1.0, max(0.05, opacity)),
            stages=stages,
            point_stage=point_stage if point_stage in STAGES else default.point_stage,
        )

    def _save_options(self) -> None:
        s, o = self._settings, self._options
        s.setValue("overlay/show_badge", o.show_badge)
        s.setValue("overlay/show_heatmap", o.show_heatmap)
        s.setValue("overlay/opacity", round(o.opacity, 3))
        s.setValue("overlay/stages", ",".join(map(str, o.stages)))
        s.setValue("overlay/point_stage", o.point_stage)

    def _build_panels(self) -> None:
        window = self._window
        window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        window.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self._panel = PredictionsPanel()
        self._attention = AttentionPanel(self._options)
        self._timeline = PredictionTimeline()
        self._timeline.set_stages(self._options.stages or STAGES)

        timeline_box = QWidget()
        timeline_box.setObjectName("timelinePanel")
        self._analysis_caption = QLabel()
        self._analysis_caption.setObjectName("panelCaption")
        self._analysis_progress = QProgressBar()
        self._analysis_progress.setObjectName("analysisProgress")
        self._analysis_progress.setMaximumWidth(220)
        self._analysis_progress.setTextVisible(False)
        self._analysis_progress.hide()
        self._analyse_button = QPushButton("Analyse whole video")
        self._analyse_button.clicked.connect(self._on_analyse_button)
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 14, 0)
        footer.setSpacing(8)
        footer.addWidget(TimelineLegend(self._timeline), 1)
        footer.addWidget(self._analysis_caption)
        footer.addWidget(self._analysis_progress)
        footer.addWidget(self._analyse_button)
        box_layout = self._timeline_layout = QVBoxLayout(timeline_box)
        box_layout.setContentsMargins(0, 2, 0, 6)
        box_layout.setSpacing(2)
        box_layout.addWidget(self._timeline)
        box_layout.addLayout(footer)

        self._recognition_dock = window.new_panel("Recognition", "recognitionDock", self._panel)
        self._attention_dock = window.new_panel("Attention", "attentionDock", self._attention)
        self._timeline_dock = window.new_panel("Timeline", "timelineDock", timeline_box,
                                               scroll=False)
        window.add_panel(self._recognition_dock, Qt.DockWidgetArea.RightDockWidgetArea)
        window.add_panel(self._attention_dock, Qt.DockWidgetArea.RightDockWidgetArea)
        window.add_panel(self._timeline_dock, Qt.DockWidgetArea.BottomDockWidgetArea)

    def _create_actions(self) -> None:
        window = self._window
        self.open_model_action = QAction("&Open model…", window)
        self.open_model_action.setShortcut(QKeySequence("Ctrl+M"))
        self.open_model_action.triggered.connect(self._choose_model)
        self.model_info_action = QAction("Model &information…", window)
        self.model_info_action.triggered.connect(self.show_model_info)

        self._device_group = QActionGroup(window)
        self._device_group.setExclusive(True)
        self.device_actions: dict[str, QAction] = {}
        usable = available_devices()
        for device in ("cpu", "cuda"):
            text = device_name(device) if device in usable else "CUDA (no CUDA GPU found)"
            act = QAction(text, window)
            act.setCheckable(True)
            act.setEnabled(device in usable)
            act.setChecked(device == self._service.device)
            act.triggered.connect(lambda _=False, d=device: self.set_device(d))
            self._device_group.addAction(act)
            self.device_actions[device] = act

        self.analyse_action = QAction("&Analyse whole video", window)
        self.analyse_action.setShortcut(QKeySequence("Ctrl+R"))
        self.analyse_action.triggered.connect(self.analyse)
        self.cancel_analysis_action = QAction("&Cancel analysis", window)
        self.cancel_analysis_action.triggered.connect(self.cancel_analysis)
        self._hop_group = QActionGroup(window)
        self.hop_actions: dict[int, QAction] = {}
        for hop in HOPS:
            act = QAction(f"Every {hop} frames", window)
            act.setCheckable(True)
            act.setChecked(hop == self._service.hop)
            act.triggered.connect(lambda _=False, h=hop: self.set_hop(h))
            self._hop_group.addAction(act)
            self.hop_actions[hop] = act
        self.show_badge_action = QAction("Show action &badge", window)
        self.show_badge_action.setCheckable(True)
        self.show_badge_action.setChecked(self._options.show_badge)
        self.show_badge_action.toggled.connect(
            lambda on: self._set_options(replace(self._options, show_badge=on)))
        self.show_heatmap_action = QAction("Show attention &heatmap", window)
        self.show_heatmap_action.setCheckable(True)
        self.show_heatmap_action.setChecked(self._options.show_heatmap)
        self.show_heatmap_action.toggled.connect(
            lambda on: self._set_options(replace(self._options, show_heatmap=on)))
        self.export_predictions_action = QAction("Export &predictions (CSV / JSON)…", window)
        self.export_predictions_action.triggered.connect(self._choose_predictions_file)
        self.export_video_action = QAction("Export video with &overlay (H.264 MP4)…", window)
        self.export_video_action.triggered.connect(self._choose_video_file)
        self.summary_action = QAction("Session &summary…", window)
        self.summary_action.triggered.connect(self.show_summary)

    def _create_menus(self) -> None:
        bar = self._window.menuBar()
        before = self._window.view_menu.menuAction()
        model_menu = QMenu("&Model", bar)
        model_menu.addAction(self.open_model_action)
        model_menu.addAction(self.model_info_action)
        model_menu.addSeparator()
        device_menu = model_menu.addMenu("&Device")
        for act in self.device_actions.values():
            device_menu.addAction(act)
        bar.insertMenu(before, model_menu)

        menu = QMenu("&Recognition", bar)
        menu.addAction(self.analyse_action)
        menu.addAction(self.cancel_analysis_action)
        hop_menu = menu.addMenu("Live &prediction")
        for act in self.hop_actions.values():
            hop_menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.show_badge_action)
        menu.addAction(self.show_heatmap_action)
        menu.addSeparator()
        menu.addAction(self.summary_action)
        menu.addAction(self.export_predictions_action)
        menu.addAction(self.export_video_action)
        bar.insertMenu(before, menu)
        self.model_menu, self.recognition_menu = model_menu, menu

    def _create_status_fields(self) -> None:
        bar = self._window.statusBar()
        self._model_label = QLabel()
        self._device_label = QLabel(device_name(self._service.device))
        self._latency_label = QLabel()
        for label in (self._model_label, self._device_label, self._latency_label):
            bar.addPermanentWidget(label)
        self._model_label.hide()
        self._latency_label.hide()
        self._device_label.setToolTip("Where the model runs (Model ▸ Device)")

    def _connect(self) -> None:
        player, service = self._player, self._service
        player.opened.connect(self._on_source_opened)
        player.frameShown.connect(self._on_frame_shown)
        player.playbackFailed.connect(self._on_playback_failed)
        service.modelChanged.connect(self._on_model_changed)
        service.modelLoadFailed.connect(self._on_model_failed)
        service.predicted.connect(self._on_predicted)
        service.failed.connect(lambda message: self._present_error("Recognition failed",
                                                                   message))
        service.windowsAnalysed.connect(self._on_windows_analysed)
        service.progressed.connect(self._on_progressed)
        service.finished.connect(self._on_analysis_finished)
        service.cancelled.connect(self._on_analysis_cancelled)
        service.analysisFailed.connect(self._on_analysis_failed)
        service.detailed.connect(self._on_detailed)
        service.busyChanged.connect(lambda _: self._update_actions())
        self._attention.optionsChanged.connect(self._set_options)
        self._timeline.seekRequested.connect(self._player.seek)

    # --- user actions --------------------------------------------------------------------

    def _choose_model(self) -> None:
        start = str(self._settings.value("paths/last_model_directory", "", type=str))
        file, _ = QFileDialog.getOpenFileName(self._window, "Open model", start, MODEL_FILTER)
        if file:
            self._settings.setValue("paths/last_model_directory", str(Path(file).parent))
            self.load_model(Path(file))

    def show_model_info(self) -> None:
        info = self._service.model
        if info is None:
            self._present_error("No model", "No model is loaded. Open one with Model ▸ Open "
                                "model…")
            return
        ModelInfoDialog(info, self._window).exec()

    def set_device(self, device: str) -> None:
        self._settings.setValue("recognition/device", device)
        self._service.set_device(device)
        self._device_label.setText(device_name(device))

    def set_hop(self, hop: int) -> None:
        self._settings.setValue("recognition/hop", int(hop))
        self._service.set_hop(hop)
        if hop in self.hop_actions:
            self.hop_actions[hop].setChecked(True)

    def _on_analyse_button(self) -> None:
        if self._service.is_analysing():
            self.cancel_analysis()
        else:
            self.analyse()

    def _default_export_path(self, suffix: str) -> Path:
        """The video's name + `suffix`, in the last export folder or the user's videos
        (documents, home) folder."""
        info = self._source
        stem = Path(info.location).stem if info is not None and not info.is_live else "live"
        last = str(self._settings.value("paths/last_export_directory", "", type=str))
        return default_export_folder(last) / f"{stem}{suffix}"

    def _choose_predictions_file(self) -> None:
        start = self._default_export_path("-predictions.csv")
        file, chosen = QFileDialog.getSaveFileName(
            self._window, "Export predictions", str(start), "CSV (*.csv);;JSON (*.json)")
        if not file:
            return
        path = Path(file)
        if path.suffix.lower() not in (".csv", ".json"):
            path = path.with_suffix(".json" if "json" in chosen.lower() else ".csv")
        self._settings.setValue("paths/last_export_directory", str(path.parent))
        self.export_predictions(path)

    def _choose_video_file(self) -> None:
        start = self._default_export_path("-recognised.mp4")
        file, _ = QFileDialog.getSaveFileName(self._window, "Export video with overlay",
                                              str(start), "MPEG-4 video (*.mp4)")
        if not file:
            return
        path = Path(file)
        if path.suffix.lower() != ".mp4":
            path = path.with_suffix(".mp4")
        self._settings.setValue("paths/last_export_directory", str(path.parent))
        self.export_video(path)

    def show_summary(self) -> SessionSummaryDialog:
        rows = self.session_summary()
        info = self._source
        names = self._class_names()
        colors = {name: class_color(i) for i, name in enumerate(names)}
        covered = sum(r.seconds for r in rows)
        dialog = SessionSummaryDialog(
            rows, colors, source=info.name if info else "no video", covered_s=covered,
            duration_s=info.duration if info else None,
            export=lambda: self._choose_summary_file(rows), parent=self._window)
        dialog.setModal(True)
        dialog.show()
        self._summary_dialog = dialog
        return dialog

    def _choose_summary_file(self, rows: list[ActionTime]) -> None:
        start = self._default_export_path("-summary.csv")
        file, _ = QFileDialog.getSaveFileName(self._window, "Export session summary",
                                              str(start), "CSV (*.csv)")
        if not file:
            return
        try:
            export_summary(Path(file), rows, video=self._source.location if self._source
                           else "")
        except OSError as exc:
            self._present_error("Cannot export the summary", str(exc))
            return
        self._window.statusBar().showMessage(f"Saved {Path(file).name}", 4000)

    # --- background jobs -----------------------------------------------------------------

    def _run_job(self, work: Callable[..., object], text: str, failure_title: str
                 ) -> BackgroundJob | None:
        if self._job_dialog is not None:
            self._present_error("Export running", "Wait for the running export to finish, "
                                "or cancel it.")
            return None
        job = BackgroundJob(work, parent=self)

        def ended() -> None:
            self._job_dialog = None
            self._update_actions()

        dialog = job_progress_dialog(job, self._window, title="Export", text=text,
                                     min_duration_ms=300, on_end=ended)

        def finished(path: object) -> None:
            self._window.statusBar().showMessage(f"Saved {Path(str(path)).name}", 5000)

        def failed(message: str) -> None:
            self._present_error(failure_title, message)

        def cancelled() -> None:
            self._window.statusBar().showMessage("Export cancelled; nothing was written", 4000)

        job.finished.connect(finished)
        job.failed.connect(failed)
        job.cancelled.connect(cancelled)
        self._job, self._job_dialog = job, dialog
        job.start()
        self._update_actions()
        return job

    # --- answers from the service --------------------------------------------------------

    def _on_model_changed(self, info: ModelInfo) -> None:
        previous = self._track_model
        self._track_model = (info.path, info.class_names)
        if previous != self._track_model:
            self._reset_results()
        if self._chosen_model is not None and self._chosen_model == info.path:
            self._settings.setValue("model/last_checkpoint", str(info.path.resolve()))
            self._chosen_model = None
        self._panel.set_model(info)
        self._model_label.setText(info.name)
        self._model_label.setToolTip(f"{info.architecture}\n{info.path}")
        self._model_label.show()
        self._device_label.setText(info.device_name)
        if info.device in self.device_actions:
            self.device_actions[info.device].setChecked(True)
        self._player.view.set_placeholder_text(READY_STATE)
        self._window.statusBar().showMessage(
            f"Model {info.name} ready on {info.device_name}: {len(info.class_names)} actions",
            4000)
        self._update_actions()
        if self._player.current_index() >= 0:
            self._service.frame_shown(self._player.current_index())

    def _on_model_failed(self, message: str) -> None:
        self._chosen_model = None
        self._window.statusBar().clearMessage()
        info = self._service.model
        if info is not None:
            self._device_label.setText(info.device_name)
            if info.device in self.device_actions:
                self.device_actions[info.device].setChecked(True)
        self._present_error("Cannot load the model", message)

    def _on_predicted(self, result: WindowResult) -> None:
        self._keep_rows(result)
        self._track.add(result)
        self._latency_label.setText(f"{result.latency_ms:.0f} ms")
        self._latency_label.setToolTip("Time the last live prediction took")
        self._latency_label.show()
        self._timeline.invalidate()
        if len(self._track) == 1:
            self._update_session()  # the first answer shows at once; later ones in batches
        else:
            self._session_timer.start()
        self._refresh()

    def _on_windows_analysed(self, windows: list[WindowResult]) -> None:
        self._track.extend(windows)
        if not self._timeline_timer.isActive():  # repaint the strip a few times a second
            self._timeline_timer.start()
        self._refresh()

    def _on_progressed(self, done: int, total: int) -> None:
        self._analysis_progress.setMaximum(max(1, total))
        self._analysis_progress.setValue(done)
        self._analysis_caption.setText(f"Analysing… {done} of {total} windows")

    def _on_analysis_finished(self, result: AnalysisResult) -> None:
        self._analysis = result
        self._track = PredictionTrack(result.windows)
        self._timeline_timer.stop()
        self._timeline.set_track(self._track, self._class_names())
        self._analysis_caption.setText(
            f"Analysed: {len(result.windows)} windows, every {result.hop} frames")
        self._session_timer.stop()
        self._update_session()
        self._window.statusBar().showMessage(f"Analysed {result.path.name}", 4000)
        self._update_actions()
        self._refresh(force=True)
        export, self._after_analysis = self._after_analysis, None
        if export is None:
            return
        if result.windows:
            export()
        else:
            self._present_error("Nothing to export", f"{result.path.name} is shorter than one "
                                "window of the model: there is no prediction to export.")

    def _on_analysis_cancelled(self, result: AnalysisResult) -> None:
        if self._after_analysis is not None:
            self._after_analysis = None
            self._window.statusBar().showMessage("Analysis cancelled; nothing was exported",
                                                 4000)
        self._analysis = result
        self._track = PredictionTrack(result.windows)
        self._timeline_timer.stop()
        self._timeline.set_track(self._track, self._class_names())
        self._service.set_live_enabled(True)
        self._analysis_caption.setText(
            f"Analysis cancelled after {len(result.windows)} windows")
        self._session_timer.stop()
        self._update_session()
        self._update_actions()
        self._refresh(force=True)

    def _on_analysis_failed(self, message: str) -> None:
        self._after_analysis = None
        self._service.set_live_enabled(True)
        self._analysis_caption.setText("")
        self._update_actions()
        self._present_error("Analysis failed", message)

    def _on_detailed(self, result: WindowResult) -> None:
        self._detail_pending = False
        self._keep_rows(result)
        self._track.add(result)
        self._timeline.invalidate()
        self._session_timer.start()
        self._refresh(force=True)

    # --- the player ----------------------------------------------------------------------

    def _on_source_opened(self, info: SourceInfo) -> None:
        self._source = info
        # A place clicked on the last video means nothing on this one.
        self._set_options(replace(self._options, point=None,
                                  point_stage=OverlayOptions().point_stage))
        self._service.set_source(info)
        self._service.set_live_enabled(True)
        self._reset_results()
        self._timeline.set_source(info.frame_count, info.fps, seekable=not info.is_live)
        self._update_actions()

    def _on_playback_failed(self, _message: str) -> None:
        if self._player.source_info() is None:
            self._source = None
            self._service.set_source(None)
            self._reset_results()
            self._update_actions()

    def _on_frame_shown(self, index: int) -> None:
        self._timeline.set_position(index)
        self._service.frame_shown(index)
        self._refresh()

    def _reset_results(self) -> None:
        self._after_analysis = None
        self._track = PredictionTrack()
        self._analysis = None
        self._rows_holder = None
        self._detail_pending = False
        self._timeline.set_track(self._track, self._class_names())
        self._session_timer.start()
        self._analysis_caption.setText("")
        self._refresh(force=True)

    def _timeline_changed(self) -> None:
        self._timeline.invalidate()
        self._session_timer.start()

    def _update_session(self) -> None:
        names = self._class_names()
        colors = {name: class_color(i) for i, name in enumerate(names)}
        self._panel.set_session(self.session_summary(), colors)

    def _class_names(self) -> list[str]:
        info = self._service.model
        return list(info.class_names) if info is not None else []

    def _keep_rows(self, result: WindowResult) -> None:
        """Only one answer keeps its full spatial maps (they can be megabytes): this one."""
        if result.spatial_rows is None:
            return
        self._drop_rows_holder()
        self._rows_holder = result

    def _drop_rows_holder(self) -> None:
        holder = self._rows_holder
        self._rows_holder = None
        if holder is not None and holder.spatial_rows is not None:
            holder.spatial_rows = None  # the track keeps the same object, now lighter

    def _refresh(self, *, force: bool = False) -> None:
        """Show the answer for the frame on screen everywhere."""
        index = self._player.current_index()
        result = self._track.at(index) if index >= 0 else None
        if result is self._shown and not force:
            return
        self._shown = result
        self._panel.set_result(result)
        self._attention.set_result(result)
        self._timeline.set_current(result)
        self._player.view.update()
        self._want_detail()
        if result is not None:
            self.predictionShown.emit(result)

    def _want_detail(self) -> None:
        """With a place chosen on the picture, the answer on screen needs its full maps."""
        result, info = self._shown, self._source
        if (self._options.point is None or result is None or result.has_rows
                or self._detail_pending or info is None or info.is_live
                or info.frame_count is None or self._service.is_analysing()):
            return
        self._detail_pending = True
        self._service.predict_detail(info.location, result.start_frame, info.frame_count,
                                     info.fps)

    # --- overlay and options -------------------------------------------------------------

    def _set_options(self, options: OverlayOptions) -> None:
        if options == self._options:
            return
        self._options = options
        self._save_options()
        if self._attention.options() != options:
            self._attention.set_options(options)
        self.show_badge_action.setChecked(options.show_badge)
        self.show_heatmap_action.setChecked(options.show_heatmap)
        self._timeline.set_stages(options.stages or STAGES)
        self._player.view.update()
        self._want_detail()

    def _paint_overlay(self, painter: QPainter, frame_rect: QRectF, index: int) -> None:
        result = self._track.at(index) if self._track else None
        if result is None:
            return
        heatmap = None
        if self._options.show_heatmap:
            key = (id(result), result.has_rows, self._options.stages, self._options.point,
                   self._options.point_stage, self._options.opacity)
            if key != self._heatmap_key:
                self._heatmap_key = key
                self._heatmap = heatmap_image(maps_for(result, self._options),
                                              self._options.opacity)
            heatmap = self._heatmap
        paint_recognition(painter, frame_rect, result, self._options, heatmap=heatmap,
                          base_font=self._player.view.font())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self._player.view and event.type() == QEvent.Type.MouseButtonPress
                and isinstance(event, QMouseEvent)
                and event.button() == Qt.MouseButton.LeftButton):
            self.point_at(event.position().x(), event.position().y())
        return super().eventFilter(watched, event)

    def point_at(self, x: float, y: float) -> None:
        """A click on the picture at widget position (x, y): choose that place (inside the
        network's crop) or forget the chosen one (outside)."""
        frame = self._player.view.frame_rect()
        if frame.isEmpty() or self._service.model is None:
            return
        square = crop_rect(frame)
        if square.contains(x, y):
            point = ((x - square.left()) / square.width(), (y - square.top()) / square.height())
            self._set_options(replace(self._options, point=point, show_heatmap=True))
        elif self._options.point is not None:
            self._set_options(replace(self._options, point=None))

    # --- state of the actions ------------------------------------------------------------

    def _current_analysis(self) -> AnalysisResult | None:
        if self._analysis is not None and self._analysis.windows:
            return self._analysis
        info, model = self._source, self._service.model
        if info is None or model is None or not self._track:
            return None
        windows = [w.without_rows() for w in self._track]
        stacked = [w.all_scores for w in windows if w.all_scores is not None]
        return AnalysisResult(
            path=Path(info.location), fps=info.fps,
            frame_count=info.frame_count or max(w.end_frame for w in windows),
            hop=self._service.hop, window=model.window, class_names=list(model.class_names),
            windows=windows, complete=False,
            scores=np.mean(stacked, axis=0) if stacked else None)

    def _update_actions(self) -> None:
        has_model = self._service.model is not None
        info = self._source
        is_file = info is not None and not info.is_live
        analysing = self._service.is_analysing()
        exporting = self._job_dialog is not None
        self.model_info_action.setEnabled(has_model)
        self.analyse_action.setEnabled(has_model and is_file and not analysing)
        self.cancel_analysis_action.setEnabled(analysing)
        self.export_predictions_action.setEnabled(not exporting)
        self.export_video_action.setEnabled(is_file and not exporting)
        self._analyse_button.setEnabled(has_model and is_file)
        self._analyse_button.setText("Cancel" if analysing else "Analyse whole video")
        self._analysis_progress.setVisible(analysing)
        if analysing:
            self._analysis_progress.setValue(0)
            self._analysis_caption.setText("Analysing…")
