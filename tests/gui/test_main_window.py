"""The main window: opening sources, errors that leave it usable, and what it remembers."""

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QScrollArea,
    QSlider,
    QWidget,
)
from videogen import frame_number

from app.main_window import MainWindow
from app.recent_files import MAX_RECENT_FILES
from app.video_files import video_file_filter

WAIT_MS = 5000


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stream_server(videos: Path) -> Iterator[str]:
    """A local HTTP server for the test videos: a network stream that runs dry at the end."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(videos))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def shows_frames_of(qtbot, window: MainWindow, name: str) -> None:
    player = window.player
    qtbot.waitUntil(
        lambda: (
            player.source_info() is not None
            and player.source_info().name == name
            and player.current_index() >= 0
        ),
        timeout=WAIT_MS,
    )
    assert frame_number(player.view.frame()) == player.current_index() % 256


def test_open_video_from_the_file_menu(qtbot, window, clip, monkeypatch):
    asked = {}

    def choose(parent, caption, directory, filter):
        asked["filter"] = filter
        return str(clip), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    window.open_action.trigger()
    shows_frames_of(qtbot, window, "drill.mp4")
    assert "*.mp4" in asked["filter"] and "*.mov" in asked["filter"]
    assert asked["filter"] == video_file_filter()
    assert window.windowTitle() == "drill.mp4 — ST-MANet Coach"

    qtbot.waitUntil(lambda: window.status_texts()["position"] != "", timeout=WAIT_MS)
    status = window.status_texts()
    assert status["source"] == "drill.mp4"
    assert status["resolution"] == "160 × 120"
    assert status["fps"] == "25.00 fps"
    assert status["position"].startswith("frame ")
    assert "/ 100" in status["position"]


def test_a_corrupt_file_gives_a_clear_message_and_the_window_stays_usable(
    qtbot, window, corrupt_file, clip, dialogs
):
    window.open_path(corrupt_file)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert dialogs[0].title == "Cannot open the video"
    assert "broken.mp4" in dialogs[0].text
    assert window.player.source_info() is None
    assert window.windowTitle() == "ST-MANet Coach"

    window.open_path(clip)
    shows_frames_of(qtbot, window, "drill.mp4")
    assert len(dialogs) == 1


def test_a_corrupt_file_does_not_stop_the_video_that_plays(
    qtbot, window, clip, corrupt_file, dialogs
):
    window.open_path(clip)
    shows_frames_of(qtbot, window, "drill.mp4")
    window.open_path(corrupt_file)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert window.player.is_playing()
    before = window.player.current_index()
    qtbot.waitUntil(lambda: window.player.current_index() > before + 2, timeout=WAIT_MS)
    assert window.player.source_info().name == "drill.mp4"
    assert window.recent_files.paths() == [clip.resolve()]


def test_a_missing_camera_is_reported(qtbot, window, monkeypatch, dialogs):
    monkeypatch.setattr(QInputDialog, "getInt", lambda *args, **kwargs: (57, True))
    window.open_camera_action.trigger()
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert dialogs[0].title == "Camera not available"
    assert "57" in dialogs[0].text
    assert window.player.source_info() is None


def test_stream_addresses_are_checked_and_a_dead_stream_is_reported(
    qtbot, window, monkeypatch, dialogs
):
    answers = iter([("not a url", True), ("http://127.0.0.1:9/live", True)])
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: next(answers))
    window.open_stream_action.trigger()
    assert dialogs[0].title == "Not a stream address"

    window.open_stream_action.trigger()
    qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=WAIT_MS)
    assert dialogs[1].title == "Stream not available"
    assert "http://127.0.0.1:9/live" in dialogs[1].text


def test_a_stream_plays_every_frame_as_it_comes_and_its_end_is_reported(
    qtbot, window, clip, stream_server, monkeypatch, dialogs
):
    url = f"{stream_server}/{clip.name}"
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: (url, True))
    shown: list[int] = []
    live_controls: dict[str, bool] = {}

    def on_opened(info) -> None:
        player = window.player
        live_controls.update(
            live=info.is_live and info.frame_count is None,
            step=player.step_forward_action.isEnabled(),
            slider=player._seek_slider.isEnabled(),
            badge=not player._live_badge.isHidden(),
            status=window.status_texts()["source"] == f"{url} (live)",
        )

    window.player.opened.connect(on_opened)
    window.player.frameShown.connect(shown.append)
    window.open_stream_action.trigger()
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)  # the stream runs dry

    assert live_controls == dict(live=True, step=False, slider=False, badge=True, status=True)
    assert shown == list(range(100))  # every frame, in order, none skipped
    assert frame_number(window.player.view.frame()) == 99
    assert dialogs[0].title == "Playback stopped"
    assert "stopped sending pictures" in dialogs[0].text
    assert window.status_texts()["source"] == "No source"

    window.open_path(clip)
    shows_frames_of(qtbot, window, "drill.mp4")


def test_dropping_a_video_file_opens_it(qtbot, window, clip):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    target = QPointF(300, 300)
    enter = QDragEnterEvent(  # a QPoint, as in C++ (with QtTest loaded no QPointF converts)
        target.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        target, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(window, drop)
    shows_frames_of(qtbot, window, "drill.mp4")

    text = QMimeData()
    text.setUrls([QUrl.fromLocalFile(str(clip.with_suffix(".txt")))])
    refused = QDragEnterEvent(
        target.toPoint(), Qt.DropAction.CopyAction, text, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(window, refused)
    assert not refused.isAccepted()


def test_recent_files_and_window_geometry_survive_a_restart(
    qtbot, settings_path, clip, other_clip, dialogs
):
    first = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    first.resize(740, 500)  # the offscreen screen is 800 x 600
    first.open_path(clip)
    shows_frames_of(qtbot, first, "drill.mp4")
    first.open_path(other_clip)
    shows_frames_of(qtbot, first, "warm-up.mp4")
    first.close()

    second = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    try:
        assert second.recent_files.paths() == [other_clip.resolve(), clip.resolve()]
        assert (second.width(), second.height()) == (740, 500)
        menu = second._recent_menu
        menu.aboutToShow.emit()
        labels = [a.text() for a in menu.actions() if a.data()]
        assert labels == ["&1  warm-up.mp4", "&2  drill.mp4"]
        next(a for a in menu.actions() if a.data() == str(clip.resolve())).trigger()
        second.show()
        shows_frames_of(qtbot, second, "drill.mp4")
    finally:
        second.close()


def test_missing_recent_files_are_greyed_and_removed_with_a_message(
    qtbot, window, tmp_path, clip, dialogs
):
    gone = tmp_path / "deleted.mp4"
    soon_gone = tmp_path / "moved.mp4"
    shutil.copy(clip, soon_gone)
    for path in (gone, soon_gone, clip):
        window.recent_files.add(path)
    menu = window._recent_menu
    menu.aboutToShow.emit()
    entries = {Path(a.data()): a for a in menu.actions() if a.data()}
    assert not entries[gone].isEnabled() and "(missing)" in entries[gone].text()
    assert entries[soon_gone].isEnabled() and entries[clip].isEnabled()

    soon_gone.unlink()  # disappears while the menu is open
    entries[soon_gone].trigger()
    assert dialogs[-1].title == "File not found"
    assert str(soon_gone) in dialogs[-1].text
    assert soon_gone not in window.recent_files.paths()
    assert window.player.source_info() is None

    next(a for a in menu.actions() if a.text() == "Remove missing files").trigger()
    assert window.recent_files.paths() == [clip]


def test_the_recent_list_keeps_the_newest_eight(window, tmp_path):
    paths = [tmp_path / f"clip{i}.mp4" for i in range(MAX_RECENT_FILES + 3)]
    for path in paths:
        window.recent_files.add(path)
    window.recent_files.add(paths[5])  # opened again: moves to the top, no duplicate
    kept = window.recent_files.paths()
    assert kept[0] == paths[5]
    assert len(kept) == MAX_RECENT_FILES == len(set(kept))


def test_panels_dock_and_their_place_is_remembered(qtbot, settings_path, dialogs):
    def make_window() -> tuple[MainWindow, QDockWidget]:
        win = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
        qtbot.addWidget(win)
        dock = QDockWidget("Recognition", win)
        dock.setObjectName("recognitionPanel")
        dock.setWidget(QLabel("results"))
        win.add_panel(dock)
        return win, dock

    first, dock = make_window()
    assert dock.toggleViewAction() in first.view_menu.actions()
    assert first.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    first.show()
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)  # the coach moves it
    first.close()

    second, dock = make_window()
    try:
        assert second.dockWidgetArea(dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    finally:
        second.close()


def test_help_menu_shows_about_and_the_shortcuts(window, dialogs):
    window.about_action.trigger()
    window.shortcuts_action.trigger()
    assert dialogs[0].kind == "about" and "ST-MANet Coach" in dialogs[0].text
    assert "Space" in dialogs[1].text and "Shift+Right" in dialogs[1].text
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&Playback", "&Model", "&Recognition", "&Train", "&View",
                      "&Help"]


def test_the_shortcuts_list_names_every_shortcut_the_window_answers(window, dialogs):
    rows = window.shortcut_rows()
    listed = {keys for _menu, _text, keys in rows}
    for act in window.findChildren(QAction):
        keys = " or ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                           for k in act.shortcuts() if not k.isEmpty())
        if keys:
            assert keys in listed, f"{act.text()!r} ({keys}) is missing from the list"
    by_text = {text: keys for _menu, text, keys in rows}
    assert by_text["Mark in"] == "I" and by_text["Mark out"] == "O"
    assert by_text["Undo"] == "Ctrl+Z" and by_text["Save label project"] == "Ctrl+S"
    assert all("&" not in text for _menu, text, _keys in rows)

    window.shortcuts_action.trigger()
    shown = dialogs[-1]
    assert shown.title == "Keyboard shortcuts"
    for _menu, text, keys in rows:
        assert text in shown.text and keys in shown.text


def test_the_playback_menu_lists_home_and_end(window):
    (playback,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&Playback"]
    entries = {a.text(): a.shortcut().toString() for a in playback.actions() if a.text()}
    assert entries["First frame"] == "Home"
    assert entries["Last frame"] == "End"


def wheel(widget: QWidget, notches: int) -> None:
    """`notches` of the mouse wheel (negative: towards the user) over the middle of
    `widget`, as the window system delivers them."""
    top = widget.window()
    QTest.wheelEvent(top.windowHandle(), QPointF(widget.mapTo(top, widget.rect().center())),
                     QPoint(0, 120 * notches))


def test_the_wheel_over_a_panels_controls_scrolls_the_panel(qtbot, window):
    """The stage box and the opacity slider of the Attention panel keep their values under a
    passing wheel, which scrolls the panel instead; once clicked, the wheel changes them."""
    dock = window.findChild(QDockWidget, "attentionDock")
    dock.setFloating(True)
    dock.resize(300, 160)
    area = dock.findChild(QScrollArea)
    bar = area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    stage_box, opacity = dock.findChild(QComboBox), dock.findChild(QSlider)
    values = {stage_box: stage_box.currentIndex, opacity: opacity.value}
    for control, value in values.items():
        assert control.focusPolicy() == Qt.FocusPolicy.StrongFocus
        area.ensureWidgetVisible(control)
        before, at_bottom = value(), bar.value() == bar.maximum()
        scrolled = bar.value()
        wheel(control, 1 if at_bottom else -1)
        assert value() == before
        assert bar.value() != scrolled

    area.ensureWidgetVisible(stage_box)
    stage_box.setFocus()
    qtbot.waitUntil(stage_box.hasFocus)
    index, scrolled = stage_box.currentIndex(), bar.value()
    wheel(stage_box, -1)
    assert stage_box.currentIndex() == index + 1
    assert bar.value() == scrolled
