"""Labelling in the main window: marking segments with I and O, classes, undo, autosave and
reopening, moved videos, broken files, export and import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QMessageBox,
    QPushButton,
)
from videogen import write_video

import app.controllers.label_project as label_project
from app.main_window import MainWindow
from app.widgets.class_chooser import ClassChooserDialog
from stmanet.data.project import LabelProject, LabelSegment, read_project

WAIT_MS = 5000


@pytest.fixture(autouse=True)
def _draft_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The untitled project's draft lives in the test's folder, not the user's data folder."""
    draft = tmp_path / "data" / "untitled-labels.json"
    monkeypatch.setattr(label_project, "draft_path", lambda: draft)
    return draft


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A 100-frame clip of this test's own (the tests move and rename it)."""
    folder = tmp_path / "project" / "videos"
    folder.mkdir(parents=True)
    return write_video(folder / "drill.mp4", 100)


def open_paused(qtbot, window: MainWindow, path: Path) -> None:
    window.open_path(path)
    player = window.player
    qtbot.waitUntil(lambda: player.source_info() is not None
                    and player.source_info().name == path.name
                    and player.current_index() >= 0, timeout=WAIT_MS)
    player.pause()


def show_frame(qtbot, window: MainWindow, frame: int) -> None:
    window.player.seek(frame)
    qtbot.waitUntil(lambda: window.player.current_index() == frame, timeout=WAIT_MS)


def label_with_keys(qtbot, window: MainWindow, first: int, last: int, typed: str | None) -> None:
    """I at `first`, O at `last`, then type a class (None: take the default) and Enter."""
    lab = window.labelling
    show_frame(qtbot, window, first)
    qtbot.keyClick(window.player.view, Qt.Key.Key_I)
    assert lab.marks() == (first, None)
    show_frame(qtbot, window, last)
    qtbot.keyClick(window.player.view, Qt.Key.Key_O)
    qtbot.waitUntil(lambda: lab.class_dialog() is not None, timeout=WAIT_MS)
    dialog = lab.class_dialog()
    line = dialog.combo.lineEdit()
    if typed is not None:
        line.selectAll()
        qtbot.keyClicks(line, typed)
    qtbot.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: lab.class_dialog() is None, timeout=WAIT_MS)


def fresh_window(qtbot, settings: QSettings) -> MainWindow:
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=WAIT_MS)  # its shortcuts work
    return win


def test_label_with_the_keyboard_then_reopen_in_a_fresh_window(
    qtbot, window, video, tmp_path, settings
):
    lab = window.labelling
    project_file = tmp_path / "project" / "labels.json"
    assert lab.new_project(project_file)
    assert read_project(project_file).segments == ()
    open_paused(qtbot, window, video)

    label_with_keys(qtbot, window, 10, 30, "squats")
    label_with_keys(qtbot, window, 50, 70, "lunges")  # a new class, typed
    label_with_keys(qtbot, window, 80, 90, None)  # the last class used is the default
    expected = (
        LabelSegment(video, 10, 31, "squats"),  # O marks the last frame: end is exclusive
        LabelSegment(video, 50, 71, "lunges"),
        LabelSegment(video, 80, 91, "lunges"),
    )
    assert lab.project.segments == expected
    assert lab.project.classes == ("squats", "lunges")
    assert lab.marks() == (None, None)
    # drawn on the strip by class, listed in the table
    assert [(s.start, s.end, s.label) for s in lab.strip.segments()] == [
        (10, 31, "squats"), (50, 71, "lunges"), (80, 91, "lunges")]
    assert lab.strip.segments()[1].color == lab.strip.segments()[2].color
    assert lab.strip.segments()[0].color != lab.strip.segments()[1].color
    model = lab.panel.model
    assert model.rowCount() == 3
    assert [model.index(0, c).data() for c in range(5)] == ["drill.mp4", "squats", "10", "30",
                                                            "0.84 s"]

    # saved by itself a moment later, and shown in the status bar
    assert lab.status_text() == "Labels: labels.json •"
    qtbot.waitUntil(lambda: not lab.has_unsaved_changes(), timeout=WAIT_MS)
    assert lab.status_text() == "Labels: labels.json"
    stored = json.loads(project_file.read_text())
    assert stored["segments"][0] == {"video": "videos/drill.mp4", "start_frame": 10,
                                     "end_frame": 31, "label": "squats"}

    window.close()
    again = fresh_window(qtbot, settings)
    assert again.labelling.project_path == project_file
    assert again.labelling.project.segments == expected
    assert again.labelling.panel.model.rowCount() == 3
    again.close()


def test_a_pending_range_is_shown_and_cancelling_keeps_it(qtbot, window, video):
    lab = window.labelling
    open_paused(qtbot, window, video)
    show_frame(qtbot, window, 40)
    lab.mark_out()  # O first: waits for I
    assert lab.strip.marks() == (None, 40)
    show_frame(qtbot, window, 60)
    lab.mark_in()  # after the out mark: starts over from here
    assert lab.marks() == (60, None)
    assert lab.class_dialog() is None
    show_frame(qtbot, window, 75)
    lab.mark_out()
    qtbot.waitUntil(lambda: lab.class_dialog() is not None, timeout=WAIT_MS)
    assert "drill.mp4: frames 60–75 (0.64 s)" in lab.class_dialog().description()
    lab.class_dialog().reject()
    qtbot.waitUntil(lambda: lab.class_dialog() is None, timeout=WAIT_MS)
    assert lab.project.segments == ()
    assert lab.strip.marks() == (60, 75)  # still there: press O again, or Esc
    qtbot.keyClick(window.player.view, Qt.Key.Key_Escape)
    assert lab.marks() == (None, None)


def test_every_edit_can_be_undone_and_redone(qtbot, window, video, monkeypatch):
    lab = window.labelling
    stack = lab.undo_stack
    a = lab.add_segment(video, 0, 10, "jump")
    b = lab.add_segment(video, 20, 30, "squat")
    c = lab.add_segment(video, 40, 50, "squat")
    states = [lab.project.state()]
    assert lab.set_segment_class(b, "jump")
    states.append(lab.project.state())
    assert lab.rename_class("jump", "jumping jacks")
    states.append(lab.project.state())
    assert lab.merge_class("squat", "jumping jacks")
    states.append(lab.project.state())
    assert lab.add_class("rest")
    states.append(lab.project.state())
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    assert lab.delete_class("jumping jacks")
    states.append(lab.project.state())
    assert lab.project.segments == () and lab.project.classes == ("rest",)
    assert stack.count() == 3 + 5
    assert {a.label, c.label} == {"jump", "squat"}

    view = window.player.view
    for state in reversed(states[:-1]):  # Ctrl+Z walks back through every edit
        qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert lab.project.state() == state
    for state in states[1:]:  # Ctrl+Shift+Z walks forward again
        qtbot.keyClick(view, Qt.Key.Key_Z,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        assert lab.project.state() == state
    assert lab.undo_action.text() == "&Undo Delete class jumping jacks"

    # deleting rows from the table with the Delete key is one edit too
    for _ in range(5):
        stack.undo()
    assert len(lab.project) == 3
    lab.dock.raise_()
    table = lab.panel.table
    model = lab.panel.model
    lab.panel.select_segments([model.segment_at(0), model.segment_at(2)])
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert [s.start_frame for s in lab.project.segments] == [20]
    stack.undo()
    assert len(lab.project) == 3


def test_classes_are_renamed_merged_and_deleted_from_the_panel(
    qtbot, window, video, dialogs, monkeypatch
):
    lab = window.labelling
    for start, label in [(0, "jump"), (20, "jump"), (40, "squat"), (60, "lunge")]:
        lab.add_segment(video, start, start + 10, label)
    panel = lab.panel
    buttons = {b.text(): b for b in panel.findChildren(QPushButton)}

    monkeypatch.setattr(QInputDialog, "getText",
                        lambda *args, **kwargs: ("jumping jacks", True))
    panel.select_class("jump")
    buttons["Rename…"].click()
    assert lab.project.classes == ("jumping jacks", "squat", "lunge")
    assert lab.project.class_counts()["jumping jacks"] == 2
    assert panel.class_list.item(0).text() == "jumping jacks  ·  2 segments"

    offered = {}

    def pick(parent, title, label, items, *args, **kwargs):
        offered["items"] = list(items)
        return "squat", True

    monkeypatch.setattr(QInputDialog, "getItem", pick)
    panel.select_class("lunge")
    buttons["Merge into…"].click()
    assert offered["items"] == ["jumping jacks", "squat"]
    assert lab.project.class_counts() == {"jumping jacks": 2, "squat": 2}

    panel.select_class("jumping jacks")
    buttons["Delete…"].click()  # asks first; the recorded answer is No
    assert dialogs[-1].kind == "question"
    assert "2 segments go with it" in dialogs[-1].text
    assert lab.project.class_counts() == {"jumping jacks": 2, "squat": 2}
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    buttons["Delete…"].click()
    assert lab.project.classes == ("squat",)
    assert [s.start_frame for s in lab.project.segments] == [40, 60]


def test_a_torn_save_is_never_what_the_app_finds(
    qtbot, window, video, tmp_path, settings, dialogs, monkeypatch
):
    lab = window.labelling
    project_file = tmp_path / "project" / "labels.json"
    lab.new_project(project_file)
    lab.add_segment(video, 0, 10, "serve")
    assert lab.save_project()
    good = project_file.read_bytes()

    real_write_text = Path.write_text

    def torn(self: Path, text: str, *args: object, **kwargs: object) -> int:
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)  # half of it...
        raise OSError(28, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(Path, "write_text", torn)
    lab.add_segment(video, 20, 30, "serve")
    qtbot.waitUntil(lambda: any(d.title == "Cannot save the labels" for d in dialogs),
                    timeout=WAIT_MS)
    assert "No space left on device" in dialogs[-1].text
    assert lab.has_unsaved_changes()
    assert lab.status_text() == "Labels: labels.json •"
    assert project_file.read_bytes() == good
    # a process killed mid-write leaves its temporary file behind: it is not the project
    real_write_text(project_file.parent / ".labels.json.x1y2z3.tmp", '{"version": 1, "clas')
    window.close()  # closing tries again, and fails again
    assert project_file.read_bytes() == good
    monkeypatch.undo()

    again = fresh_window(qtbot, settings)
    assert again.labelling.project.segments == (LabelSegment(video, 0, 10, "serve"),)
    again.close()


def test_a_moved_video_is_asked_for_and_never_dropped(
    qtbot, window, video, tmp_path, settings, dialogs, monkeypatch
):
    lab = window.labelling
    project_file = tmp_path / "project" / "labels.json"
    other = write_video(video.parent / "warm-up.mp4", 30)
    lab.new_project(project_file)
    lab.add_segment(video, 0, 10, "serve")
    lab.add_segment(video, 20, 30, "volley")
    lab.add_segment(other, 5, 15, "serve")
    assert lab.save_project()
    window.close()

    moved = tmp_path / "moved"
    shutil.move(video.parent, moved)
    saved = project_file.read_bytes()

    # at start: no dialog, the segments stay, the panel says what is missing
    win = fresh_window(qtbot, settings)
    lab = win.labelling
    assert len(lab.project) == 3
    assert "2 videos of this project cannot be found" in lab.panel.missing_text()
    assert [d.title for d in dialogs] == []

    # cancelling the question changes nothing
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: ("", ""))
    assert lab.locate_missing_videos() == 0
    assert len(lab.project) == 3
    assert not lab.has_unsaved_changes()
    win.close()
    assert project_file.read_bytes() == saved

    # opening the project asks where the video is; its neighbour is found with it
    asked = []

    def choose(parent, caption, directory, filter):
        asked.append(caption)
        return str(moved / "drill.mp4"), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    win = fresh_window(qtbot, settings)
    lab = win.labelling
    assert lab.open_project(project_file)
    assert len(asked) == 1 and "drill.mp4" in asked[0]
    assert {s.video for s in lab.project.segments} == {moved / "drill.mp4",
                                                       moved / "warm-up.mp4"}
    assert len(lab.project) == 3
    assert lab.panel.missing_text() == ""
    qtbot.waitUntil(lambda: not lab.has_unsaved_changes(), timeout=WAIT_MS)
    assert len(read_project(project_file)) == 3
    lab.undo_stack.undo()  # locating is an edit like any other
    assert len(lab.project.missing_videos()) == 2
    win.close()


def test_a_malformed_project_file_gives_an_error_naming_it(
    qtbot, window, video, tmp_path, settings, dialogs
):
    lab = window.labelling
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "classes": ["serve"],\n "segments": [{"video": ')
    lab.add_segment(video, 0, 10, "serve")
    before = lab.project.state()
    assert not lab.open_project(broken)
    assert dialogs[-1].title == "Cannot open the label project"
    assert str(broken) in dialogs[-1].text and ":2:" in dialogs[-1].text
    assert lab.project.state() == before  # the project in use stays

    # a broken file the app should reopen at start: told once the window is up, left alone
    settings.setValue("labels/project", str(broken))
    content = broken.read_bytes()
    window.close()
    dialogs.clear()
    win = fresh_window(qtbot, settings)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert dialogs[0].title == "Cannot reopen the label project"
    assert str(broken) in dialogs[0].text
    win.labelling.add_segment(video, 50, 60, "volley")
    win.close()
    assert broken.read_bytes() == content


def test_an_untitled_project_is_kept_as_a_draft_until_saved(
    qtbot, window, video, tmp_path, settings, _draft_in_tmp, monkeypatch
):
    lab = window.labelling
    assert lab.project_path is None
    assert lab.status_text() == "Labels: untitled"
    lab.add_segment(video, 0, 10, "serve")
    qtbot.waitUntil(lambda: not lab.has_unsaved_changes(), timeout=WAIT_MS)
    assert len(read_project(_draft_in_tmp)) == 1
    window.close()

    win = fresh_window(qtbot, settings)
    assert win.labelling.project_path is None
    assert len(win.labelling.project) == 1
    target = tmp_path / "saved"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    qtbot.keyClick(win.player.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert win.labelling.project_path == tmp_path / "saved.json"
    assert len(read_project(tmp_path / "saved.json")) == 1
    assert not _draft_in_tmp.exists()
    assert win.labelling.status_text() == "Labels: saved.json"
    win.close()


def test_export_to_class_folders_and_import_back(qtbot, window, video, tmp_path):
    lab = window.labelling
    assert lab.new_project(tmp_path / "labels.json")
    lab.add_segment(video, 0, 12, "jumping jacks")
    lab.add_segment(video, 20, 40, "squats")
    lab.add_segment(video, 60, 75, "jumping jacks")
    out = tmp_path / "dataset"
    job = lab.export_to(out)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: lab.current_job() is None, timeout=WAIT_MS)
    assert sorted(p.name for p in (out / "jumping jacks").iterdir()) == [
        "drill_000000-000011.mp4", "drill_000060-000074.mp4"]
    assert "Exported 3 clips" in window.statusBar().currentMessage()

    # a fresh project imports the export back: one whole-clip segment per file
    assert lab.new_project(tmp_path / "imported.json")
    job = lab.import_from("folder", out)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: len(lab.project) == 3, timeout=WAIT_MS)
    assert lab.project.classes == ("jumping jacks", "squats")
    assert sorted(s.frame_count for s in lab.project.segments) == [12, 15, 20]
    assert all(s.video.parent.parent == out for s in lab.project.segments)
    lab.undo_stack.undo()  # the whole import is one edit
    assert len(lab.project) == 0 and lab.project.classes == ()


def test_ucf_lists_export_from_the_menu(qtbot, window, video, tmp_path, monkeypatch):
    lab = window.labelling
    for start, label in [(0, "high knees"), (20, "high knees"), (40, "squats"), (60, "squats")]:
        lab.add_segment(video, start, start + 10, label)
    chosen = tmp_path / "exports"
    (chosen / "old stuff").mkdir(parents=True)  # not empty: a new folder goes inside
    monkeypatch.setattr(QInputDialog, "getInt", lambda *args, **kwargs: (50, True))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *args, **kwargs: str(chosen))
    lab.export_ucf_action.trigger()
    job = lab.current_job()
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    lists = chosen / "labels-dataset" / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_text().splitlines() == ["1 high_knees", "2 squats"]
    assert len((lists / "testlist01.txt").read_text().splitlines()) == 2
    assert len((lists / "trainlist01.txt").read_text().splitlines()) == 2


def test_the_project_menus_and_keys_are_there(window):
    lab = window.labelling
    file_menu = window.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    for action in (lab.new_project_action, lab.open_project_action, lab.save_project_action):
        assert action.text() in texts
    assert lab.save_project_action.shortcut().toString() == "Ctrl+S"
    assert texts.index(lab.save_project_action.text()) < texts.index(window.quit_action.text())
    assert lab.mark_in_action.shortcut().toString() == "I"
    assert lab.mark_out_action.shortcut().toString() == "O"
    assert lab.undo_action.shortcut().toString() == "Ctrl+Z"
    assert lab.redo_action.shortcut().toString() == "Ctrl+Shift+Z"
    assert window.menuBar().actions()[1].text() == "&Edit"
    assert lab.dock.objectName() == "labelsDock"
    assert isinstance(QApplication.instance(), QApplication)
    assert LabelProject  # the engine model is what the app keeps


def test_double_click_jumps_to_a_segment_and_the_class_is_edited_in_the_table(
    qtbot, window, video, tmp_path
):
    lab = window.labelling
    other = write_video(video.parent / "warm-up.mp4", 60)
    lab.add_segment(video, 40, 50, "squats")
    lab.add_segment(other, 25, 35, "lunges")
    open_paused(qtbot, window, video)
    lab.dock.raise_()
    table, model = lab.panel.table, lab.panel.model
    assert [model.index(r, 0).data() for r in range(2)] == ["drill.mp4", "warm-up.mp4"]

    def double_click(row: int) -> None:
        rect = table.visualRect(model.index(row, 2))
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    double_click(0)  # the video on screen: a seek
    qtbot.waitUntil(lambda: window.player.current_index() == 40, timeout=WAIT_MS)
    double_click(1)  # another video: opened, then the segment's first frame
    qtbot.waitUntil(lambda: window.player.source_info().name == "warm-up.mp4"
                    and window.player.current_index() >= 25, timeout=WAIT_MS)
    assert [(s.start, s.label) for s in lab.strip.segments()] == [(25, "lunges")]

    # the class column edits the class (one undoable edit)
    assert model.setData(model.index(1, model.CLASS), "squats")
    assert lab.project.class_counts() == {"squats": 2, "lunges": 0}
    lab.undo_stack.undo()
    assert lab.project.class_counts() == {"squats": 1, "lunges": 1}


def test_class_names_read_as_words_and_the_project_keeps_the_real_ones(qtbot, window, video):
    lab = window.labelling
    lab.add_segment(video, 10, 20, "jumping_jacks")
    lab.add_segment(video, 40, 50, "push_ups")
    open_paused(qtbot, window, video)
    panel, model = lab.panel, lab.panel.model
    listed = [panel.class_list.item(n).text() for n in range(panel.class_list.count())]
    assert [text.split("  ·  ")[0] for text in listed] == ["jumping jacks", "push ups"]
    shown = [model.index(r, model.CLASS).data() for r in range(model.rowCount())]
    assert shown == ["jumping jacks", "push ups"]
    assert model.index(0, model.CLASS).data(Qt.ItemDataRole.EditRole) == "jumping_jacks"
    assert "<b>push ups</b>" in lab.strip.tooltip_at(QPointF(lab.strip.x_of(45), 10))
    assert model.setData(model.index(0, model.CLASS), "push_ups")  # edits use the real name
    assert lab.project.class_counts() == {"jumping_jacks": 0, "push_ups": 2}

    chooser = ClassChooserDialog(["jumping_jacks", "push_ups"], "push_ups", "frames 1–9")
    qtbot.addWidget(chooser)
    assert chooser.combo.currentText() == "push ups"
    assert chooser.chosen_class() == "push_ups"
    chooser.combo.setEditText("jumping jacks")  # typed as read: the existing class
    assert chooser.chosen_class() == "jumping_jacks"
