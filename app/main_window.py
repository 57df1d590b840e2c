"""The main window: the player in the middle, menus, status bar, docks for the panels.

Panels (recognition results, attention view, labeller, training) are QDockWidgets added with
`MainWindow.add_panel`; their place and visibility are saved with the window's layout, and
each one's show/hide toggle appears in the View menu.

The window builds the controllers (app/controllers/) and hands each one itself: it has what
their doors (`RecognitionWindow`, `LabellingWindow`, `FineTuneWindow`) name, the player, the
panels, menus, status bar and messages, and nothing else of it is theirs to use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QSettings,
    QSignalBlocker,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QWidget,
)

from app.controllers.batch import BatchController
from app.controllers.compare import CompareController
from app.controllers.finetune import FineTuneController
from app.controllers.labelling import LabellingController
from app.controllers.recognition import RecognitionController
from app.open_dialogs import ask_for_camera, ask_for_stream, ask_for_video
from app.recent_files import RecentFiles, RecentFilesMenu
from app.services.frames import SourceInfo, SourceKind
from app.shortcuts import shortcut_rows, shortcuts_table
from app.version import app_version
from app.video_files import dropped_video
from app.widgets.player import PlayerWidget, format_time
from app.window_layout import DEFAULT_SIZE, arrange_panels, fit_to_screen, new_dock

log = logging.getLogger(__name__)

APP_NAME = "ST-MANet Coach"
ORGANIZATION_NAME = "ST-MANet"

ErrorPresenter = Callable[[str, str], None]
"""Shows (title, message) to the user."""


class MainWindow(QMainWindow):
    """The program's window. `settings` holds UI state only (layout, recent files)."""

    def __init__(
        self,
        settings: QSettings | None = None,
        *,
        error_presenter: ErrorPresenter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings if settings is not None else QSettings()
        self._recent = RecentFiles(self._settings)
        self._present_error = error_presenter or self._show_error_dialog
        self._state_before_full_screen = Qt.WindowState.WindowNoState
        self._side_panels: list[QDockWidget] = []  # right-hand panels, in the order added
        self._opening_what = "video"
        self._comparisons: set[CompareController] = set()  # open comparison windows

        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        self._player = PlayerWidget(self)
        self.setCentralWidget(self._player)

        self._create_actions()
        self._create_menus()
        self._create_status_bar()
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self._recognition = RecognitionController(self, self._settings, self._present_error)
        self.labelling = LabellingController(self, self._settings, self._present_error)
        self.finetune = FineTuneController(self, self._settings, self._present_error,
                                           self._recognition)
        self.finetune.follow_projects(self.labelling)
        self.batch = BatchController(self, self._recognition, self.labelling, self._settings,
                                     self._present_error)

        self._player.opened.connect(self._on_opened)
        self._player.openFailed.connect(self._on_open_failed)
        self._player.playbackFailed.connect(self._on_playback_failed)
        self._player.frameShown.connect(self._on_frame_shown)
        self._restore_layout()

    # --- parts other code uses -----------------------------------------------------------

    @property
    def player(self) -> PlayerWidget:
        return self._player

    @property
    def recognition(self) -> RecognitionController:
        """The model, the overlay, the recognition panels, analysis and exports."""
        return self._recognition

    @property
    def recent_files(self) -> RecentFiles:
        return self._recent

    @property
    def view_menu(self) -> QMenu:
        return self._view_menu

    # --- what the controllers use (their doors: app/controllers/) -----------------------

    @property
    def dialog_parent(self) -> QWidget:
        """The parent of the controllers' dialogs and actions."""
        return self

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def clear_message(self) -> None:
        self.statusBar().clearMessage()

    def add_status_field(self, field: QWidget) -> None:
        """A permanent field of the status bar, after those there."""
        self.statusBar().addPermanentWidget(field)

    def add_menu(self, menu: QMenu) -> None:
        """A menu of the menu bar, before View."""
        self.menuBar().insertMenu(self._view_menu.menuAction(), menu)

    def add_edit_menu(self, menu: QMenu) -> None:
        """The Edit menu, right after the File menu."""
        self.menuBar().insertMenu(self._playback_menu.menuAction(), menu)

    def add_file_entries(self, entries: Sequence[QAction | QMenu]) -> None:
        """Entries of the File menu, in a group of their own above Quit."""
        menu, before = self._file_menu, self._quit_separator
        menu.insertSeparator(before)
        for entry in entries:
            if isinstance(entry, QMenu):
                menu.insertMenu(before, entry)
            else:
                menu.insertAction(before, entry)

    def add_shortcuts(self, actions: Sequence[QAction]) -> None:
        """Actions whose keys work anywhere in the window, also in full screen with the menu
        bar hidden."""
        self.addActions(list(actions))

    def add_timeline_row(self, widget: QWidget) -> None:
        """A row right above the prediction timeline, spanning the same frames."""
        self._recognition.add_timeline_row(widget)

    def new_panel(self, title: str, name: str, widget: QWidget, *, scroll: bool = True
                  ) -> QDockWidget:
        """A movable, closable, floatable dock holding `widget`, its place saved under
        `name`; `scroll`: inside a scroll area, so that a small window squeezes the panel,
        not the video, and the wheel over a control there scrolls the panel unless the
        control has focus. Add it with `add_panel`."""
        return new_dock(self, title, name, widget, scroll=scroll)

    def add_panel(
        self,
        dock: QDockWidget,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
    ) -> None:
        """Add a panel as a dock. It needs a stable objectName, under which its place is
        saved; a saved place wins over `area`. Its toggle goes into the View menu."""
        if not dock.objectName():
            raise ValueError("a panel needs an objectName to save its place")
        if not self.restoreDockWidget(dock):
            self.addDockWidget(area, dock)
        if area == Qt.DockWidgetArea.RightDockWidgetArea:
            self._side_panels.append(dock)
        self._view_menu.insertAction(self._panels_end, dock.toggleViewAction())
        self._panels_end.setVisible(True)

    # --- opening -------------------------------------------------------------------------

    def open_path(self, path: Path | str) -> None:
        path = Path(path).expanduser()
        self._opening_what = "video"
        self._comparisons: set[CompareController] = set()  # open comparison windows
        log.info("opening %s", path)
        self.statusBar().showMessage(f"Opening {path.name}…")
        self._player.open_file(path)

    def open_camera(self, index: int) -> None:
        self._opening_what = "camera"
        self.statusBar().showMessage(f"Connecting to camera {index}…")
        self._player.open_camera(index)

    def open_stream(self, url: str) -> None:
        self._opening_what = "stream"
        self.statusBar().showMessage(f"Connecting to {url}…")
        self._player.open_stream(url)

    def _choose_video(self) -> None:
        path = ask_for_video(self, self._settings)
        if path is not None:
            self.open_path(path)

    def open_comparison(self) -> CompareController:
        """File ▸ Compare videos…: two videos side by side, with the model in use."""
        model = self._recognition.service.model
        compare = CompareController(None if model is None else model.path,
                                    present_error=self._present_error, parent_widget=self)
        self._comparisons.add(compare)  # stopped at quit; let go when its window closes
        compare.view.closed.connect(lambda: self._comparisons.discard(compare))
        compare.view.resize(1600, 1000)
        compare.view.show()
        return compare

    def _choose_camera(self) -> None:
        index = ask_for_camera(self)
        if index is not None:
            self.open_camera(index)

    def _choose_stream(self) -> None:
        url = ask_for_stream(self, self._settings, self._present_error)
        if url is not None:
            self.open_stream(url)

    def _on_opened(self, info: SourceInfo) -> None:
        self.statusBar().showMessage(f"Opened {info.name}", 4000)
        self.setWindowTitle(f"{info.name} — {APP_NAME}")
        if info.kind is SourceKind.FILE:
            path = Path(info.location)
            self._recent.add(path)
            self._settings.setValue("paths/last_directory", str(path.parent))
            self._recent_entries.rebuild()
        self._show_status(self._source_label, info.name + (" (live)" if info.is_live else ""))
        self._source_label.setToolTip(info.location)
        self._show_status(self._resolution_label, f"{info.width} × {info.height}")
        self._show_status(self._fps_label, f"{info.fps:.2f} fps")
        self._show_status(self._position_label, "")

    def _on_open_failed(self, message: str) -> None:
        self.statusBar().clearMessage()
        titles = {
            "video": "Cannot open the video",
            "camera": "Camera not available",
            "stream": "Stream not available",
        }
        self._present_error(titles.get(self._opening_what, "Cannot open"), message)

    def _on_playback_failed(self, message: str) -> None:
        if self._player.source_info() is None:  # a live source that went away
            self._show_status(self._source_label, "No source")
            self._source_label.setToolTip("")
            for label in (self._resolution_label, self._fps_label, self._position_label):
                self._show_status(label, "")
            self.setWindowTitle(APP_NAME)
        self._present_error("Playback stopped", message)

    def _on_frame_shown(self, index: int) -> None:
        info = self._player.source_info()
        if info is None:
            return
        if info.frame_count is None:
            text = f"frame {index}  ·  {format_time(info.time_of(index))}"
        else:
            text = f"frame {index} / {info.frame_count}  ·  {format_time(info.time_of(index))}"
        self._show_status(self._position_label, text)

    def _show_error_dialog(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    # --- actions and menus ---------------------------------------------------------------

    def _create_actions(self) -> None:
        self.open_action = QAction("&Open video…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._choose_video)
        self.open_camera_action = QAction("Open &camera…", self)
        self.open_camera_action.triggered.connect(self._choose_camera)
        self.open_stream_action = QAction("Open &stream URL…", self)
        self.open_stream_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_stream_action.triggered.connect(self._choose_stream)
        self.compare_action = QAction("Co&mpare videos…", self)
        self.compare_action.triggered.connect(self.open_comparison)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))  # Cmd+Q on macOS
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)

        self.full_screen_action = QAction("&Full screen", self)
        self.full_screen_action.setCheckable(True)
        self.full_screen_action.setShortcuts(
            QKeySequence.keyBindings(QKeySequence.StandardKey.FullScreen)
            or [QKeySequence(Qt.Key.Key_F11)]
        )
        self.full_screen_action.toggled.connect(self._set_full_screen)
        self.status_bar_action = QAction("&Status bar", self)
        self.status_bar_action.setCheckable(True)
        self.status_bar_action.setChecked(True)
        self.status_bar_action.toggled.connect(lambda on: self.statusBar().setVisible(on))

        self.shortcuts_action = QAction("&Keyboard shortcuts", self)
        self.shortcuts_action.triggered.connect(self._show_shortcuts)
        self.about_action = QAction(f"&About {APP_NAME}", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self._show_about)

    def _create_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self._recent_menu = file_menu.addMenu("Open &recent")
        self._recent_entries = RecentFilesMenu(self._recent_menu, self._recent, self.open_path,
                                               self._present_error, self.show_message)
        file_menu.addAction(self.open_camera_action)
        file_menu.addAction(self.open_stream_action)
        file_menu.addAction(self.compare_action)
        self._quit_separator = file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._file_menu = file_menu

        playback_menu = self._playback_menu = bar.addMenu("&Playback")
        actions = self._player.playback_actions()
        playback_menu.addActions(actions[:1])
        playback_menu.addSeparator()
        playback_menu.addActions(actions[1:7])
        playback_menu.addSeparator()
        playback_menu.addActions(actions[7:])

        self._view_menu = bar.addMenu("&View")
        self._view_menu.addAction(self.full_screen_action)
        self._view_menu.addAction(self.status_bar_action)
        self._view_menu.addSeparator()
        # Panel toggles go above this (invisible until the first panel arrives).
        self._panels_end = self._view_menu.addSeparator()
        self._panels_end.setVisible(False)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addSeparator()
        help_menu.addAction(self.about_action)

    def _create_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self._source_label = QLabel("No source")
        self._resolution_label = QLabel()
        self._fps_label = QLabel()
        self._position_label = QLabel()
        for label in (
            self._source_label,
            self._resolution_label,
            self._fps_label,
            self._position_label,
        ):
            bar.addPermanentWidget(label)
            label.setVisible(bool(label.text()))

    @staticmethod
    def _show_status(label: QLabel, text: str) -> None:
        label.setText(text)
        label.setVisible(bool(text))

    def status_texts(self) -> dict[str, str]:
        """What the status bar shows: source, resolution, fps, position."""
        return {
            "source": self._source_label.text(),
            "resolution": self._resolution_label.text(),
            "fps": self._fps_label.text(),
            "position": self._position_label.text(),
        }

    def _set_full_screen(self, on: bool) -> None:
        if on == self.isFullScreen():
            return
        if on:
            self._state_before_full_screen = self.windowState()
            self.setWindowState(self.windowState() | Qt.WindowState.WindowFullScreen)
        else:
            # back to what it was: maximised stays maximised, a normal window keeps its place
            self.setWindowState(self._state_before_full_screen
                                & ~Qt.WindowState.WindowFullScreen)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:
            # full screen left some other way (the window manager, Esc in a dialog)
            with QSignalBlocker(self.full_screen_action):
                self.full_screen_action.setChecked(self.isFullScreen())

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """Every keyboard shortcut the window answers, read off its actions: (menu, what it
        does, keys), in menu order, then those of actions in no menu."""
        return shortcut_rows(self)

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", shortcuts_table(self.shortcut_rows()))

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<h3>{APP_NAME}</h3><p>Version {app_version()}</p>"
            "<p>Recognises physical-education drills in training video with the "
            "ST-MANet network, and lets coaches review footage frame by frame.</p>",
        )

    # --- drag and drop -------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_video(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_video(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = dropped_video(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(path)

    # --- window state --------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self._settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(DEFAULT_SIZE)
            self.fit_to_screen(center=True)
        else:
            self.fit_to_screen()  # saved on a larger screen, or at a smaller scale factor
        state = self._settings.value("window/state")
        if state is None or not self.restoreState(state):
            QTimer.singleShot(0, self, self.arrange_panels)  # once every panel is in

    def arrange_panels(self) -> None:
        """The panels' first layout, made to show their contents whole (see
        app.window_layout.arrange_panels)."""
        arrange_panels(self, self._side_panels)

    def fit_to_screen(self, *, center: bool = False) -> None:
        """Keep the window, its frame included, inside the available area of its screen
        (see app.window_layout.fit_to_screen), or `center` it there."""
        fit_to_screen(self, center=center)

    def save_layout(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        self._settings.sync()

    def shutdown(self) -> None:
        """Stop the decoder and recognition threads, and every open comparison's (when the
        window closes or the program quits)."""
        for compare in list(self._comparisons):
            compare.shutdown()
        self._comparisons.clear()
        self._player.shutdown()
        self._recognition.shutdown()
        self.finetune.shutdown()
        self.batch.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        # the labels are saved, and a running export or import stopped, first of all (as
        # soon as the window is asked to close)
        self.labelling.shutdown()
        if not self.finetune.confirm_quit(self):  # a fine-tune runs: stop it, or stay
            event.ignore()
            return
        self.save_layout()
        self.shutdown()
        super().closeEvent(event)
