"""The main window: the player in the middle, menus, status bar, docks for the panels.

Panels (recognition results, attention view, labeller, training) are QDockWidgets added with
`MainWindow.add_panel`; their place and visibility are saved with the window's layout, and
each one's show/hide toggle appears in the View menu.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QMimeData,
    QSettings,
    QSignalBlocker,
    QSize,
    QStandardPaths,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from app.labelling import LabellingController
from app.recognition import RecognitionController
from app.services.video_source import STREAM_SCHEMES, SourceInfo, SourceKind, is_stream_url
from app.training import FineTuneController
from app.widgets.player import PlayerWidget, format_time
from app.widgets.wheel import scroll_past_controls

log = logging.getLogger(__name__)

APP_NAME = "ST-MANet Coach"
ORGANIZATION_NAME = "ST-MANet"

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
    ".3gp", ".mts", ".m2ts", ".ts", ".ogv",
)  # fmt: skip
MAX_RECENT_FILES = 8
DEFAULT_SIZE = QSize(1180, 760)
"""The window's size at first start, where the screen has room for it."""
SCREEN_SHARE = 0.92
"""At most this share of the screen's available width and height for a window that was too
large (first start on a small or scaled screen, or a layout saved on a larger screen)."""

ErrorPresenter = Callable[[str, str], None]
"""Shows (title, message) to the user."""


SIDE_SHARE = 0.4
"""At most this share of the window's width for the right-hand panels at first start."""
TAB_BAR_HEIGHT = 32


def panel_height(dock: QDockWidget) -> int:
    """The height a panel needs to show its contents whole, its title bar included."""
    content = dock.widget()
    if isinstance(content, QScrollArea) and content.widget() is not None:
        content = content.widget()
    title = dock.titleBarWidget()
    return content.sizeHint().height() + (title.sizeHint().height() if title else 28)


def panel_width(dock: QDockWidget) -> int:
    """The width a panel needs, a vertical scroll bar's width included."""
    content = dock.widget()
    extra = 0
    if isinstance(content, QScrollArea) and content.widget() is not None:
        extra = content.verticalScrollBar().sizeHint().width()
        content = content.widget()
    return max(content.minimumSizeHint().width(), content.sizeHint().width()) + extra + 4


def plain_text(text: str) -> str:
    """A menu text without its mnemonic markers and trailing dots: "&Open video…" -> "Open
    video"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…. ")


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def video_file_filter() -> str:
    patterns = " ".join(f"*{suffix}" for suffix in VIDEO_SUFFIXES)
    return f"Videos ({patterns});;All files (*)"


def app_version() -> str:
    try:
        return metadata.version("stmanet-coach")
    except metadata.PackageNotFoundError:
        return "development version"


class RecentFiles:
    """The most recently opened files, newest first, kept in QSettings."""

    KEY = "recent/files"

    def __init__(self, settings: QSettings, limit: int = MAX_RECENT_FILES) -> None:
        self._settings = settings
        self._limit = limit

    def paths(self) -> list[Path]:
        values = self._settings.value(self.KEY, [], type=list)
        return [Path(str(v)) for v in values if v][: self._limit]

    def add(self, path: Path) -> None:
        path = Path(path)
        self._store([path, *[p for p in self.paths() if p != path]])

    def remove(self, path: Path) -> None:
        self._store([p for p in self.paths() if p != Path(path)])

    def remove_missing(self) -> list[Path]:
        """Forget the files that no longer exist; returns them."""
        paths = self.paths()
        missing = [p for p in paths if not p.exists()]
        self._store([p for p in paths if p.exists()])
        return missing

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[Path]) -> None:
        self._settings.setValue(self.KEY, [str(p) for p in paths[: self._limit]])
        self._settings.sync()


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
        self._recognition = RecognitionController(self, self._settings, self._present_error)
        self.labelling = LabellingController(self, self._settings, self._present_error)
        self.training = FineTuneController(self, self._settings, self._present_error)
        self.training.follow_projects(self.labelling)

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

    def new_panel(self, title: str, name: str, widget: QWidget, *, scroll: bool = True
                  ) -> QDockWidget:
        """A movable, closable, floatable dock holding `widget`, its place saved under
        `name`; `scroll`: inside a scroll area, so that a small window squeezes the panel,
        not the video, and the wheel over a control there scrolls the panel unless the
        control has focus. Add it with `add_panel`."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:
            area = QScrollArea(dock)
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
            area.setWidget(widget)
            scroll_past_controls(widget)
            dock.setWidget(area)
        else:
            dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        return dock

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
        start = str(self._settings.value("paths/last_directory", "", type=str))
        if not start or not Path(start).is_dir():
            start = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
        file, _ = QFileDialog.getOpenFileName(self, "Open video", start, video_file_filter())
        if file:
            self.open_path(Path(file))

    def _choose_camera(self) -> None:
        index, ok = QInputDialog.getInt(
            self, "Open camera", "Camera number (0 is the first camera):", 0, 0, 99
        )
        if ok:
            self.open_camera(index)

    def _choose_stream(self) -> None:
        last = str(self._settings.value("paths/last_stream", "", type=str))
        url, ok = QInputDialog.getText(
            self,
            "Open stream",
            "Stream address (rtsp://, http://, …):",
            QLineEdit.EchoMode.Normal,
            last,
        )
        url = url.strip()
        if not ok or not url:
            return
        if not is_stream_url(url):
            schemes = ", ".join(f"{s}://" for s in STREAM_SCHEMES[:6])
            self._present_error(
                "Not a stream address",
                f"“{url}” is not a stream address. It should start with one of {schemes}.",
            )
            return
        self._settings.setValue("paths/last_stream", url)
        self.open_stream(url)

    def _open_recent(self, path: Path) -> None:
        if not path.exists():
            self._recent.remove(path)
            self._rebuild_recent_menu()
            self._present_error(
                "File not found",
                f"{path} can no longer be found. It has been removed from the recent files.",
            )
            return
        self.open_path(path)

    def _on_opened(self, info: SourceInfo) -> None:
        self.statusBar().showMessage(f"Opened {info.name}", 4000)
        self.setWindowTitle(f"{info.name} — {APP_NAME}")
        if info.kind is SourceKind.FILE:
            path = Path(info.location)
            self._recent.add(path)
            self._settings.setValue("paths/last_directory", str(path.parent))
            self._rebuild_recent_menu()
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
        self._recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addAction(self.open_camera_action)
        file_menu.addAction(self.open_stream_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._rebuild_recent_menu()

        playback_menu = bar.addMenu("&Playback")
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

    def _rebuild_recent_menu(self) -> None:
        menu = self._recent_menu
        menu.clear()
        paths = self._recent.paths()
        missing = False
        for number, path in enumerate(paths, start=1):
            exists = path.exists()
            missing |= not exists
            label = path.name if exists else f"{path.name} (missing)"
            act = menu.addAction(f"&{number}  {label}")
            act.setData(str(path))
            act.setToolTip(str(path))
            act.setStatusTip(str(path))
            act.setEnabled(exists)
            act.triggered.connect(lambda _=False, p=path: self._open_recent(p))
        if not paths:
            menu.addAction("No recent files").setEnabled(False)
            return
        menu.addSeparator()
        if missing:
            menu.addAction("Remove missing files", self._remove_missing_recent)
        menu.addAction("Clear list", self._clear_recent)

    def _remove_missing_recent(self) -> None:
        gone = self._recent.remove_missing()
        self._rebuild_recent_menu()
        if gone:
            self.statusBar().showMessage(
                f"Removed {len(gone)} missing file{'s' * (len(gone) > 1)} from the recent list",
                4000,
            )

    def _clear_recent(self) -> None:
        self._recent.clear()
        self._rebuild_recent_menu()

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
        rows: list[tuple[str, str, str]] = []
        seen: set[int] = set()

        def keys_of(act: QAction) -> str:
            return " or ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                               for k in act.shortcuts() if not k.isEmpty())

        def add(menu_title: str, act: QAction) -> None:
            if id(act) in seen or act.isSeparator():
                return
            seen.add(id(act))
            keys = keys_of(act)
            if keys:
                rows.append((menu_title, plain_text(act.text()), keys))

        def walk(menu: QMenu, title: str) -> None:
            for act in menu.actions():
                sub_menu = act.menu()
                if isinstance(sub_menu, QMenu):
                    walk(sub_menu, f"{title} › {plain_text(sub_menu.title())}")
                else:
                    add(title, act)

        for top in self.menuBar().actions():
            menu = top.menu()
            if isinstance(menu, QMenu):
                walk(menu, plain_text(menu.title()))
        for act in self.findChildren(QAction):
            add("Other", act)
        return rows

    def _show_shortcuts(self) -> None:
        rows, last_menu = [], None
        for menu, text, keys in self.shortcut_rows():
            if menu != last_menu:
                rows.append(f"<tr><td colspan=2 style='padding-top:8px'><b>{escape(menu)}"
                            "</b></td></tr>")
                last_menu = menu
            rows.append(f"<tr><td style='padding-left:8px'>{escape(text)}</td>"
                        f"<td style='padding-left:16px'><b>{escape(keys)}</b></td></tr>")
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{''.join(rows)}</table>")

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<h3>{APP_NAME}</h3><p>Version {app_version()}</p>"
            "<p>Recognises physical-education drills in training video with the "
            "ST-MANet network, and lets coaches review footage frame by frame.</p>",
        )

    # --- drag and drop -------------------------------------------------------------------

    @staticmethod
    def _dropped_video(mime: QMimeData) -> Path | None:
        for url in mime.urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if is_video_file(path):
                    return path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_video(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._dropped_video(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_video(event.mimeData())
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
        """The panels' first layout, made to show their contents whole: the first right-hand
        panel (recognition) on top at the height its contents need, the others as tabs below
        it, the first of them in front; on a screen too small for that, every right-hand
        panel a tab, the first in front. The right-hand column is as wide as its widest
        panel needs, within `SIDE_SHARE` of the window."""
        panels = [d for d in self._side_panels
                  if self.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea
                  and not d.isFloating() and not d.isHidden()]
        if not panels:
            return
        first, rest = panels[0], panels[1:]
        needed = [panel_height(d) for d in panels]
        column = self.height() - self.menuBar().height() - (
            self.statusBar().height() if self.statusBar().isVisible() else 0)
        stacked = bool(rest) and needed[0] + needed[1] + TAB_BAR_HEIGHT <= column
        if stacked:
            for dock in rest[1:]:
                self.tabifyDockWidget(rest[0], dock)
            rest[0].raise_()
            self.resizeDocks([first, rest[0]], [needed[0], max(1, column - needed[0])],
                             Qt.Orientation.Vertical)
        else:
            for dock in rest:
                self.tabifyDockWidget(first, dock)
            first.raise_()
        width = max(panel_width(d) for d in panels)
        self.resizeDocks([first], [min(width, round(self.width() * SIDE_SHARE))],
                         Qt.Orientation.Horizontal)

    def fit_to_screen(self, *, center: bool = False) -> None:
        """Keep the window, its frame included, inside the available area of its screen:
        shrink it (to at most `SCREEN_SHARE` of that area) and move it in where it does not
        fit, or `center` it."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None or self.isMaximized() or self.isFullScreen():
            return
        available = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w = frame.width() - self.width()
        extra_h = frame.height() - self.height()
        if not center and available.contains(frame):
            return
        width = min(self.width(), round(available.width() * SCREEN_SHARE) - extra_w)
        height = min(self.height(), round(available.height() * SCREEN_SHARE) - extra_h)
        self.resize(max(width, 1), max(height, 1))
        frame = self.frameGeometry()
        if center or not available.contains(frame):
            frame.moveCenter(available.center())
            self.move(frame.topLeft())

    def save_layout(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        self._settings.sync()

    def shutdown(self) -> None:
        """Stop the decoder and recognition threads (when the window closes or the program
        quits)."""
        self._player.shutdown()
        self._recognition.shutdown()
        self.training.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.training.confirm_quit(self):  # a fine-tune runs: stop it, or stay
            event.ignore()
            return
        self.save_layout()
        self.shutdown()
        super().closeEvent(event)
