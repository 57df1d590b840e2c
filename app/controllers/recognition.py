"""Recognition in the main window: the model, the overlay, the panels, analysis and exports.

`RecognitionController` is recognition's one door for the window and the tests. It owns the
recognition service (the model on its worker thread), adds the Model and Recognition menus,
four docks (Recognition, Attention, Rhythm, Timeline) and status-bar fields for the model,
the device and the inference latency, keeps the device, the hop and the unknown-action
sensitivity in the settings (UI state only), and joins its parts (a little over 500 lines:
the Model and Recognition menus and their actions stay together in this one module):

- `LiveResults` (live.py): the answers for the source on screen and what shows them (badge,
  heatmap, top-5, timeline, attention, session totals), the overlay options;
- `WholeVideoAnalysis` (analysis.py): Analyse whole video, with progress and Cancel;
- `RecognitionExports` (recognition_export.py): predictions, the overlay video, the session
  summary;
- `RepsViews` (reps.py): the repetitions of each drill and the Rhythm dock.

It reaches the window only through `RecognitionWindow`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from app.controllers.analysis import WholeVideoAnalysis
from app.controllers.live import LiveResults
from app.controllers.recognition_export import RecognitionExports
from app.controllers.reps import RepsViews
from app.services.devices import available_devices, default_device, device_name
from app.services.frames import SourceInfo
from app.services.jobs import BackgroundJob
from app.services.recognition_service import DEFAULT_HOP, RecognitionService
from app.services.results import (
    SENSITIVITY_LEVELS,
    SENSITIVITY_NAMES,
    ActionTime,
    AnalysisResult,
    ModelInfo,
    PredictionTrack,
    WindowResult,
)
from app.widgets.attention_panel import AttentionPanel
from app.widgets.dialogs import ModelInfoDialog, SessionSummaryDialog, ask
from app.widgets.overlay import OverlayOptions
from app.widgets.player import PlayerWidget
from app.widgets.predictions_panel import PredictionsPanel
from app.widgets.timeline import PredictionTimeline, TimelineLegend

log = logging.getLogger(__name__)

HOPS = (4, 8, 16, 32, 64)
NO_UNKNOWNS_TIP = ("This model carries no open-set statistics, so it cannot tell footage of "
                   "actions it does not know")
MODEL_FILTER = "ST-MANet models (*.safetensors);;PyTorch checkpoints (*.pth *.pt);;All files (*)"
EMPTY_STATE = (
    "Open a video (Ctrl+O) or drop a file here\n\n"
    "To recognise drills, open a model too: Model ▸ Open model… (Ctrl+M)"
)
READY_STATE = "Open a video (Ctrl+O) or drop a file here"


class RecognitionWindow(Protocol):
    """What recognition needs from the window."""

    @property
    def player(self) -> PlayerWidget: ...

    @property
    def dialog_parent(self) -> QWidget:
        """The window: the parent of dialogs and actions."""

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        """A status-bar message."""

    def clear_message(self) -> None: ...

    def add_status_field(self, field: QWidget) -> None: ...

    def add_menu(self, menu: QMenu) -> None:
        """A menu of the menu bar, before View."""

    def new_panel(self, title: str, name: str, widget: QWidget, *,
                  scroll: bool = True) -> QDockWidget: ...

    def add_panel(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> None: ...


class RecognitionController(QObject):
    """Signals: predictionShown(WindowResult): the answer on screen changed."""

    predictionShown = Signal(object)

    def __init__(self, window: RecognitionWindow, settings: QSettings,
                 present_error: Callable[[str, str], None]) -> None:
        super().__init__(window.dialog_parent)
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
        level = str(settings.value("recognition/sensitivity", "normal", type=str))
        self._service.set_sensitivity(level if level in SENSITIVITY_LEVELS else "normal")
        self._chosen_model: Path | None = None
        self._track_model: tuple[Path, tuple[str, ...]] | None = None
        self._live = LiveResults(self._player, self._service, settings, parent=self)
        self._analysis = WholeVideoAnalysis(self._live, self._service, present_error,
                                            window.show_message, parent=self)
        self._exports = RecognitionExports(
            self._live, self._analysis, self._service, window.dialog_parent, settings,
            present_error, window.show_message,
            lambda title, text, accept, details: self.ask(title, text, accept, details),
            parent=self)

        self._build_panels()
        self.reps = RepsViews(self._live, self._player, parent=self)
        self.reps.add_dock(window)
        self._create_actions()
        self._create_menus()
        self._create_status_fields()
        self._connect()
        self._live.attach_to_player()
        self._player.view.set_placeholder_text(EMPTY_STATE)
        self._update_actions()

    # --- parts other code (and tests) use ------------------------------------------------

    @property
    def service(self) -> RecognitionService:
        return self._service

    @property
    def track(self) -> PredictionTrack:
        return self._live.track

    @property
    def analysis(self) -> AnalysisResult | None:
        return self._live.analysis

    @property
    def timeline(self) -> PredictionTimeline:
        return self._live.timeline

    @property
    def predictions_panel(self) -> PredictionsPanel:
        return self._live.panel

    @property
    def attention_panel(self) -> AttentionPanel:
        return self._live.attention

    @property
    def options(self) -> OverlayOptions:
        return self._live.options

    @property
    def model(self) -> ModelInfo | None:
        return self._service.model

    def shown_result(self) -> WindowResult | None:
        """The answer describing the frame on screen."""
        return self._live.shown_result()

    def current_job(self) -> BackgroundJob | None:
        """The export running now, if any."""
        return self._exports.jobs.current()

    def status_texts(self) -> dict[str, str]:
        return {
            "model": self._model_label.text(),
            "device": self._device_label.text(),
            "latency": self._latency_label.text(),
        }

    def add_timeline_row(self, widget: QWidget) -> None:
        """Put `widget` (e.g. the labels strip) right above the prediction timeline, in its
        dock: a row spanning the same frames sits next to the predicted strip."""
        self._timeline_layout.insertWidget(self._timeline_layout.indexOf(self.timeline),
                                           widget)

    def load_model(self, path: Path | str, *, remember: bool = True) -> None:
        """Load a checkpoint in the background; an error dialog tells when it cannot be used,
        and the model in use stays. `remember`: load it again at the next start."""
        path = Path(path).expanduser()
        self._chosen_model = path if remember else None
        self._window.show_message(f"Loading model {path.name}…")
        self._service.load_model(path)

    def analyse(self) -> bool:
        """Analyse every window of the open file; False when there is nothing to analyse."""
        return self._analysis.analyse()

    def show_analysis(self, result: AnalysisResult) -> None:
        """Show a whole-video result made elsewhere (File ▸ Analyse videos' cache) as if the
        open video had just been analysed."""
        self._service.set_live_enabled(False)  # as after Analyse whole video
        self._live.end_analysis(result)
        self._live.refresh(force=True)
        self._update_actions()

    def cancel_analysis(self) -> None:
        self._analysis.cancel()

    def ask(self, title: str, text: str, accept: str, details: str = "") -> bool:
        """Ask the user; True when they click `accept` (the other button is Cancel). Tests
        replace this method to answer."""
        return ask(self._window.dialog_parent, title, text, accept, details=details)

    def export_predictions(self, path: Path | str) -> BackgroundJob | None:
        """Write the per-window predictions (CSV or JSON by suffix) in the background; with
        no prediction yet, offers to analyse the whole file first (None is returned then)."""
        return self._exports.export_predictions(path)

    def export_video(self, path: Path | str) -> BackgroundJob | None:
        """Write the open file with the overlay burnt in (H.264 MP4) in the background; with
        no prediction yet, offers to analyse the whole file first (None is returned then)."""
        return self._exports.export_video(path)

    def session_summary(self) -> list[ActionTime]:
        """Seconds per action over the frames that have an answer."""
        return self._live.session_summary()

    def show_summary(self) -> SessionSummaryDialog:
        return self._exports.show_summary()

    def set_options(self, options: OverlayOptions) -> None:
        """The overlay options (badge, heatmap, stages, the place clicked, opacity)."""
        self._live.set_options(options)

    def point_at(self, x: float, y: float) -> None:
        """A click on the picture at widget position (x, y): choose that place (inside the
        network's crop) or forget the chosen one (outside)."""
        self._live.point_at(x, y)

    def reset_results(self) -> None:
        """Forget every answer for the source on screen (another source or model)."""
        self._analysis.forget()
        self._live.reset()

    def show_model_info(self) -> None:
        info = self._service.model
        if info is None:
            self._present_error("No model", "No model is loaded. Open one with Model ▸ Open "
                                "model…")
            return
        ModelInfoDialog(info, self._window.dialog_parent).exec()

    def set_device(self, device: str) -> None:
        self._settings.setValue("recognition/device", device)
        self._service.set_device(device)
        self._device_label.setText(device_name(device))

    def set_hop(self, hop: int) -> None:
        self._settings.setValue("recognition/hop", int(hop))
        self._service.set_hop(hop)
        if hop in self.hop_actions:
            self.hop_actions[hop].setChecked(True)

    def set_sensitivity(self, level: str) -> None:
        """How readily footage is called "not a known action" (remembered)."""
        self._settings.setValue("recognition/sensitivity", level)
        self._service.set_sensitivity(level)
        self.sensitivity_actions[level].setChecked(True)

    def _update_sensitivity(self, info: ModelInfo | None) -> None:
        able = info is not None and info.can_tell_unknowns
        for act in self.sensitivity_actions.values():
            act.setEnabled(able)
        self.sensitivity_menu.setEnabled(able)
        self.sensitivity_menu.menuAction().setToolTip(
            "" if able else NO_UNKNOWNS_TIP if info is not None else "Open a model first")

    def shutdown(self) -> None:
        self._exports.jobs.shutdown()
        self._service.shutdown()

    # --- construction --------------------------------------------------------------------

    def _build_panels(self) -> None:
        window, live, analysis = self._window, self._live, self._analysis
        timeline_box = QWidget()
        timeline_box.setObjectName("timelinePanel")
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 14, 0)
        footer.setSpacing(8)
        footer.addWidget(TimelineLegend(live.timeline), 1)
        footer.addWidget(analysis.caption)
        footer.addWidget(analysis.progress)
        footer.addWidget(analysis.button)
        box_layout = self._timeline_layout = QVBoxLayout(timeline_box)
        box_layout.setContentsMargins(0, 2, 0, 6)
        box_layout.setSpacing(2)
        box_layout.addWidget(live.timeline)
        box_layout.addLayout(footer)

        self._recognition_dock = window.new_panel("Recognition", "recognitionDock", live.panel)
        self._attention_dock = window.new_panel("Attention", "attentionDock", live.attention)
        self._timeline_dock = window.new_panel("Timeline", "timelineDock", timeline_box,
                                               scroll=False)
        window.add_panel(self._recognition_dock, Qt.DockWidgetArea.RightDockWidgetArea)
        window.add_panel(self._attention_dock, Qt.DockWidgetArea.RightDockWidgetArea)
        window.add_panel(self._timeline_dock, Qt.DockWidgetArea.BottomDockWidgetArea)

    def _create_actions(self) -> None:
        owner = self._window.dialog_parent
        exports = self._exports
        self.open_model_action = QAction("&Open model…", owner)
        self.open_model_action.setShortcut(QKeySequence("Ctrl+M"))
        self.open_model_action.triggered.connect(self._choose_model)
        self.model_info_action = QAction("Model &information…", owner)
        self.model_info_action.triggered.connect(self.show_model_info)

        self._device_group = QActionGroup(owner)
        self._device_group.setExclusive(True)
        self.device_actions: dict[str, QAction] = {}
        usable = available_devices()
        for device in ("cpu", "cuda"):
            text = device_name(device) if device in usable else "CUDA (no CUDA GPU found)"
            act = QAction(text, owner)
            act.setCheckable(True)
            act.setEnabled(device in usable)
            act.setChecked(device == self._service.device)
            act.triggered.connect(lambda _=False, d=device: self.set_device(d))
            self._device_group.addAction(act)
            self.device_actions[device] = act

        self.analyse_action = QAction("&Analyse whole video", owner)
        self.analyse_action.setShortcut(QKeySequence("Ctrl+R"))
        self.analyse_action.triggered.connect(self.analyse)
        self.cancel_analysis_action = QAction("&Cancel analysis", owner)
        self.cancel_analysis_action.triggered.connect(self.cancel_analysis)
        self._hop_group = QActionGroup(owner)
        self.hop_actions: dict[int, QAction] = {}
        for hop in HOPS:
            act = QAction(f"Every {hop} frames", owner)
            act.setCheckable(True)
            act.setChecked(hop == self._service.hop)
            act.triggered.connect(lambda _=False, h=hop: self.set_hop(h))
            self._hop_group.addAction(act)
            self.hop_actions[hop] = act
        self._sensitivity_group = QActionGroup(owner)
        self.sensitivity_actions: dict[str, QAction] = {}
        for level in SENSITIVITY_LEVELS:
            act = QAction(SENSITIVITY_NAMES[level], owner)
            act.setCheckable(True)
            act.setChecked(level == self._service.sensitivity)
            act.triggered.connect(lambda _=False, v=level: self.set_sensitivity(v))
            self._sensitivity_group.addAction(act)
            self.sensitivity_actions[level] = act
        self.show_badge_action = QAction("Show action &badge", owner)
        self.show_badge_action.setCheckable(True)
        self.show_badge_action.setChecked(self.options.show_badge)
        self.show_badge_action.toggled.connect(
            lambda on: self.set_options(replace(self.options, show_badge=on)))
        self.show_heatmap_action = QAction("Show attention &heatmap", owner)
        self.show_heatmap_action.setCheckable(True)
        self.show_heatmap_action.setChecked(self.options.show_heatmap)
        self.show_heatmap_action.toggled.connect(
            lambda on: self.set_options(replace(self.options, show_heatmap=on)))
        self.export_predictions_action = QAction("Export &predictions (CSV / JSON)…", owner)
        self.export_predictions_action.triggered.connect(exports.choose_predictions_file)
        self.export_video_action = QAction("Export video with &overlay (H.264 MP4)…", owner)
        self.export_video_action.triggered.connect(exports.choose_video_file)
        self.summary_action = QAction("Session &summary…", owner)
        self.summary_action.triggered.connect(self.show_summary)

    def _create_menus(self) -> None:
        owner = self._window.dialog_parent
        model_menu = QMenu("&Model", owner)
        model_menu.addAction(self.open_model_action)
        model_menu.addAction(self.model_info_action)
        model_menu.addSeparator()
        device_menu = model_menu.addMenu("&Device")
        for act in self.device_actions.values():
            device_menu.addAction(act)
        self._window.add_menu(model_menu)

        menu = QMenu("&Recognition", owner)
        menu.addAction(self.analyse_action)
        menu.addAction(self.cancel_analysis_action)
        hop_menu = menu.addMenu("Live &prediction")
        for act in self.hop_actions.values():
            hop_menu.addAction(act)
        menu.setToolTipsVisible(True)
        self.sensitivity_menu = menu.addMenu("Unknown-action &sensitivity")
        for act in self.sensitivity_actions.values():
            self.sensitivity_menu.addAction(act)
        self._update_sensitivity(None)
        menu.addSeparator()
        menu.addAction(self.show_badge_action)
        menu.addAction(self.show_heatmap_action)
        menu.addSeparator()
        menu.addAction(self.summary_action)
        menu.addAction(self.export_predictions_action)
        menu.addAction(self.export_video_action)
        self._window.add_menu(menu)
        self.model_menu, self.recognition_menu = model_menu, menu

    def _create_status_fields(self) -> None:
        self._model_label = QLabel()
        self._device_label = QLabel(device_name(self._service.device))
        self._latency_label = QLabel()
        for label in (self._model_label, self._device_label, self._latency_label):
            self._window.add_status_field(label)
        self._model_label.hide()
        self._latency_label.hide()
        self._device_label.setToolTip("Where the model runs (Model ▸ Device)")

    def _connect(self) -> None:
        player, service, live = self._player, self._service, self._live
        player.opened.connect(self._on_source_opened)
        player.frameShown.connect(live.frame_shown)
        player.playbackFailed.connect(self._on_playback_failed)
        service.modelChanged.connect(self._on_model_changed)
        service.modelLoadFailed.connect(self._on_model_failed)
        service.modelLoadStarted.connect(lambda _path: self._update_actions())
        service.predicted.connect(self._on_predicted)
        service.failed.connect(lambda message: self._present_error("Recognition failed",
                                                                   message))
        service.detailed.connect(live.add_detail)
        service.busyChanged.connect(lambda _: self._update_actions())
        live.predictionShown.connect(self.predictionShown)
        live.optionsChanged.connect(self._on_options_changed)
        self._analysis.changed.connect(self._update_actions)
        self._exports.jobs.changed.connect(self._update_actions)

    # --- answers from the service and the player -----------------------------------------

    def _choose_model(self) -> None:
        start = str(self._settings.value("paths/last_model_directory", "", type=str))
        file, _ = QFileDialog.getOpenFileName(self._window.dialog_parent, "Open model", start,
                                              MODEL_FILTER)
        if file:
            self._settings.setValue("paths/last_model_directory", str(Path(file).parent))
            self.load_model(Path(file))

    def _on_model_changed(self, info: ModelInfo) -> None:
        previous = self._track_model
        self._track_model = (info.path, info.class_names)
        if previous != self._track_model:
            self.reset_results()
        if self._chosen_model is not None and self._chosen_model == info.path:
            self._settings.setValue("model/last_checkpoint", str(info.path.resolve()))
            self._chosen_model = None
        self._live.panel.set_model(info)
        self._live.attention.set_attention_trained(info.attention_trained)
        self._update_sensitivity(info)
        self._model_label.setText(info.name)
        self._model_label.setToolTip(f"{info.architecture}\n{info.path}")
        self._model_label.show()
        self._device_label.setText(info.device_name)
        if info.device in self.device_actions:
            self.device_actions[info.device].setChecked(True)
        self._player.view.set_placeholder_text(READY_STATE)
        self._window.show_message(
            f"Model {info.name} ready on {info.device_name}: {len(info.class_names)} actions",
            4000)
        self._update_actions()
        if self._player.current_index() >= 0:
            self._service.frame_shown(self._player.current_index())

    def _on_model_failed(self, message: str) -> None:
        self._chosen_model = None
        self._window.clear_message()
        info = self._service.model
        if info is not None:
            self._device_label.setText(info.device_name)
            if info.device in self.device_actions:
                self.device_actions[info.device].setChecked(True)
        self._update_actions()
        self._present_error("Cannot load the model", message)

    def _on_predicted(self, result: WindowResult) -> None:
        self._latency_label.setText(f"{result.latency_ms:.0f} ms")
        self._latency_label.setToolTip("Time the last live prediction took")
        self._latency_label.show()
        self._live.add_live(result)

    def _on_source_opened(self, info: SourceInfo) -> None:
        self._live.open_source(info)
        self._service.set_source(info)
        self._service.set_live_enabled(True)
        self.reset_results()
        self.timeline.set_source(info.frame_count, info.fps, seekable=not info.is_live)
        self._update_actions()

    def _on_playback_failed(self, _message: str) -> None:
        if self._player.source_info() is None:
            self._live.close_source()
            self._service.set_source(None)
            self.reset_results()
            self._update_actions()

    def _on_options_changed(self, options: OverlayOptions) -> None:
        self.show_badge_action.setChecked(options.show_badge)
        self.show_heatmap_action.setChecked(options.show_heatmap)

    def _update_actions(self) -> None:
        has_model = self._service.model is not None
        info = self._live.source
        is_file = info is not None and not info.is_live
        analysing = self._service.is_analysing()
        exporting = self._exports.jobs.is_busy()
        # while the first model loads, an analysis asked for starts once it is in
        can_analyse = (has_model or self._service.is_loading()) and is_file
        self.model_info_action.setEnabled(has_model)
        self.analyse_action.setEnabled(can_analyse and not analysing)
        self.cancel_analysis_action.setEnabled(analysing)
        self.export_predictions_action.setEnabled(not exporting)
        self.export_video_action.setEnabled(is_file and not exporting)
        self._analysis.update_footer(can_analyse=can_analyse)
