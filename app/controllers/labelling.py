"""Labelling in the main window: label projects, marking segments, classes, undo, autosave,
export and import.

`LabellingController` is the labeller's one door for the window and the tests. It adds a
Labels dock (the segments and the classes), a labels strip under the prediction timeline,
project entries in the File menu, an Edit menu (undo, redo, marks) and a status-bar field
naming the project, and joins its parts:

- `ProjectKeeper` (label_project.py): the project in use, its undoable edits, its file and
  draft, autosave;
- `ProjectVideos` (label_videos.py): the video on screen, the I/O marks and the class
  question, jumping to a segment, videos that moved;
- `DataSetTransfer` (label_transfer.py): export and import of data sets in the background.

It reaches the window only through `LabellingWindow`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QWidget,
)

from app.controllers.label_project import ProjectKeeper
from app.controllers.label_transfer import DEFAULT_TEST_SHARE, DataSetTransfer
from app.controllers.label_videos import ProjectVideos
from app.services.jobs import BackgroundJob
from app.services.labels import read_fps
from app.widgets.class_chooser import ClassChooserDialog
from app.widgets.label_strip import LabelStrip, StripSegment
from app.widgets.labels_panel import LabelsPanel
from app.widgets.overlay import class_color
from app.widgets.player import PlayerWidget
from stmanet.data.project import LabelProject, LabelSegment, normalize_video_path

log = logging.getLogger(__name__)

FPS_READS_PER_TURN = 16


class LabellingWindow(Protocol):
    """What the labeller needs from the window."""

    @property
    def player(self) -> PlayerWidget: ...

    @property
    def dialog_parent(self) -> QWidget:
        """The window: the parent of dialogs and actions."""

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        """A status-bar message."""

    def add_status_field(self, field: QWidget) -> None: ...

    def new_panel(self, title: str, name: str, widget: QWidget, *,
                  scroll: bool = True) -> QDockWidget: ...

    def add_panel(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> None: ...

    def add_timeline_row(self, widget: QWidget) -> None:
        """A row right above the prediction timeline, spanning the same frames."""

    def add_file_entries(self, entries: Sequence[QAction | QMenu]) -> None:
        """Entries of the File menu, in a group above Quit."""

    def add_edit_menu(self, menu: QMenu) -> None:
        """The Edit menu, right after the File menu."""

    def add_shortcuts(self, actions: Sequence[QAction]) -> None:
        """Actions whose keys work anywhere in the window, also with the menu bar hidden."""

    def open_path(self, path: Path | str) -> None: ...


class LabellingController(QObject):
    """Signals: projectChanged(): the project's content or its file changed (an edit, undo,
    another project opened, saved under another name); saved(Path): the project (or the
    untitled project's draft) was written there."""

    projectChanged = Signal()
    saved = Signal(object)

    def __init__(self, window: LabellingWindow, settings: QSettings,
                 present_error: Callable[[str, str], None]) -> None:
        super().__init__(window.dialog_parent)
        self._window = window
        self._present_error = present_error
        widget = window.dialog_parent

        self._keeper = ProjectKeeper(widget, settings, present_error, window.show_message,
                                     video_folder=self._video_folder, parent=self)
        self._fps_timer = QTimer(self)
        self._fps_timer.setSingleShot(True)
        self._fps_timer.setInterval(0)
        self._fps_timer.timeout.connect(self._refresh)

        self._panel = LabelsPanel()
        self._dock = window.new_panel("Labels", "labelsDock", self._panel)
        window.add_panel(self._dock, Qt.DockWidgetArea.RightDockWidgetArea)
        self._strip = LabelStrip()
        window.add_timeline_row(self._strip)
        self._videos = ProjectVideos(
            window.player, self._strip, self._keeper, widget, settings, window.show_message,
            add_segment=self.add_segment, show_dock=self._show_dock,
            open_path=window.open_path, parent=self)
        self._transfer = DataSetTransfer(self._keeper, widget, settings, present_error,
                                         window.show_message, parent=self)
        self._create_actions()
        self._create_menus()
        self._status_label = QLabel()
        self._status_label.setMinimumWidth(1)  # gives way in a narrow window
        window.add_status_field(self._status_label)
        self._connect()
        self._keeper.reopen_at_start()
        self._marks_changed()
        self._refresh()

    # --- parts other code (and tests) use ------------------------------------------------

    @property
    def project(self) -> LabelProject:
        return self._keeper.project

    @property
    def project_path(self) -> Path | None:
        """The project's file; None while it is an untitled draft."""
        return self._keeper.project.path

    @property
    def undo_stack(self) -> QUndoStack:
        return self._keeper.undo_stack

    @property
    def panel(self) -> LabelsPanel:
        return self._panel

    @property
    def strip(self) -> LabelStrip:
        return self._strip

    @property
    def dock(self) -> QDockWidget:
        return self._dock

    def class_dialog(self) -> ClassChooserDialog | None:
        """The open 'which class?' dialog, if any."""
        return self._videos.class_dialog()

    def marks(self) -> tuple[int | None, int | None]:
        """(in, out) frames marked on the open video, not yet a segment."""
        return self._videos.marks()

    def status_text(self) -> str:
        return self._status_label.text()

    def has_unsaved_changes(self) -> bool:
        return self._keeper.has_unsaved_changes()

    def current_job(self) -> BackgroundJob | None:
        """The export or import running now, if any."""
        return self._transfer.jobs.current()

    # --- projects ------------------------------------------------------------------------

    def new_project(self, path: Path | str | None = None) -> bool:
        """Start an empty project in a new file (asked for when not given)."""
        return self._keeper.new(path)

    def open_project(self, path: Path | str | None = None) -> bool:
        """Open a project file (asked for when not given); the one in use is saved first. When
        some of its videos have moved, asks where they are."""
        if not self._keeper.open(path):
            return False
        project = self._keeper.project
        self._show_dock()
        name = project.path.name if project.path is not None else ""
        self._window.show_message(
            f"Opened {name}: {len(project)} segments in {len(project.classes)} classes", 4000)
        if project.missing_videos():
            self.locate_missing_videos()
        return True

    def save_project(self) -> bool:
        """Save now (Ctrl+S); an untitled project asks for a file."""
        return self._keeper.save()

    def save_project_as(self, path: Path | str | None = None) -> bool:
        """Save the project to another file (asked for when not given) and keep working there;
        videos under its folder are stored relative to it."""
        return self._keeper.save_as(path)

    def flush(self) -> bool:
        """Write unsaved changes now (autosave, closing); True when nothing is left unsaved."""
        return self._keeper.flush()

    def shutdown(self) -> None:
        """Save what is unsaved and stop a running export or import (the window closes)."""
        self.flush()
        self._transfer.jobs.shutdown()

    # --- marking segments ----------------------------------------------------------------

    def mark_in(self) -> None:
        """I: the frame on screen is the first of a segment."""
        self._videos.mark_in()

    def mark_out(self) -> None:
        """O: the frame on screen is the last of a segment."""
        self._videos.mark_out()

    def clear_marks(self) -> None:
        self._videos.clear_marks()

    def add_segment(self, video: Path | str, start_frame: int, end_frame: int,
                    label: str) -> LabelSegment | None:
        """Label frames start_frame <= frame < end_frame of `video` with class `label` (added
        to the project when new); the segment, or None when it could not be added."""
        added: list[LabelSegment] = []

        def mutate(project: LabelProject) -> None:
            name = project.ensure_class(label)
            segment = LabelSegment(normalize_video_path(video), start_frame, end_frame, name)
            project.add_segment(segment)
            added.append(segment)

        self._keeper.edit(f"Add segment ({label.strip()})", mutate)
        if not added:
            return None  # the user has been told why
        segment = added[0]  # (new, or the same segment labelled before)
        self._panel.select_segments([segment])
        return segment

    # --- segment and class edits (each one undoable) -------------------------------------

    def delete_segments(self, segments: Sequence[LabelSegment]) -> int:
        segments = list(segments)
        count = len(segments)
        done = self._keeper.edit(f"Delete {count} segment{'s' * (count != 1)}",
                                 lambda p: p.remove_segments(segments))
        return count if done else 0

    def set_segment_class(self, segment: LabelSegment, label: str) -> bool:
        return self._keeper.edit(f"Change class to {label}",
                                 lambda p: p.set_label(segment, label))

    def add_class(self, name: str) -> bool:
        return self._keeper.edit(f"Add class {name.strip()}", lambda p: p.add_class(name))

    def rename_class(self, old: str, new: str) -> bool:
        ok = self._keeper.edit(f"Rename class {old}", lambda p: p.rename_class(old, new))
        if ok and self._videos.last_class == old:
            self._videos.set_last_class(new.strip())
        return ok

    def merge_class(self, source: str, target: str) -> bool:
        """The segments of `source` become `target`'s and `source` goes."""
        ok = self._keeper.edit(f"Merge {source} into {target}",
                               lambda p: p.merge_classes(source, target))
        if ok and self._videos.last_class == source:
            self._videos.set_last_class(target)
        return ok

    def delete_class(self, name: str, *, confirm: bool = True) -> bool:
        """Delete a class and its segments; asks first (saying how many segments go)."""
        count = self.project.class_counts().get(name, 0)
        if confirm:
            what = (f"its {count} segment{'s' * (count != 1)} go with it" if count
                    else "it has no segments")
            answer = QMessageBox.question(
                self._window.dialog_parent, "Delete class",
                f"Delete the class “{name}”? {what[0].upper()}{what[1:]}.\n\n"
                "Edit ▸ Undo (Ctrl+Z) brings it back.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self._keeper.edit(f"Delete class {name}", lambda p: p.delete_class(name))

    def _ask_new_class(self) -> None:
        name, ok = QInputDialog.getText(self._window.dialog_parent, "Add class",
                                        "Name of the new class:")
        if ok and name.strip():
            self.add_class(name)

    def _ask_rename(self, name: str) -> None:
        new, ok = QInputDialog.getText(self._window.dialog_parent, "Rename class",
                                       f"New name for “{name}”:", QLineEdit.EchoMode.Normal,
                                       name)
        if ok and new.strip() and new.strip() != name:
            self.rename_class(name, new)

    def _ask_merge(self, name: str) -> None:
        others = [c for c in self.project.classes if c != name]
        if not others:
            return
        count = self.project.class_counts().get(name, 0)
        target, ok = QInputDialog.getItem(
            self._window.dialog_parent, "Merge class",
            f"Give the {count} segment{'s' * (count != 1)} of “{name}” to:", others, 0, False)
        if ok and target:
            self.merge_class(name, target)

    # --- moved videos, export and import -------------------------------------------------

    def locate_missing_videos(self) -> int:
        """Ask where each missing video is now; how many videos were found. Cancelling
        stops asking; the segments of videos not found are kept as they are."""
        return self._videos.locate_missing_videos()

    def relocate_video(self, old: Path, new: Path) -> int:
        """Point `old`'s segments at `new`, and the other missing videos beside `new` at
        theirs (one undoable edit); how many videos moved."""
        return self._videos.relocate_video(old, new)

    def go_to_segment(self, segment: LabelSegment) -> None:
        """Show the segment's first frame (opening its video when another one is on screen);
        a video that moved is asked for first."""
        self._videos.go_to_segment(segment)

    def export_to(self, folder: Path | str, *, ucf_lists: bool = False,
                  test_share: float = DEFAULT_TEST_SHARE / 100) -> BackgroundJob | None:
        """Export the project as a folder-per-class data set in `folder` (with UCF-101 style
        split lists when asked) in the background."""
        return self._transfer.export_to(folder, ucf_lists=ucf_lists, test_share=test_share)

    def import_from(self, kind: str, folder: Path | str) -> BackgroundJob | None:
        """Add a data set's videos as segments covering each whole video, in the background
        (kind: "folder" or "ucf101"); one undoable edit when done."""
        return self._transfer.import_from(kind, folder)

    # --- construction --------------------------------------------------------------------

    def _create_actions(self) -> None:
        widget = self._window.dialog_parent

        def action(text: str, slot: Callable[[], object],
                   keys: Sequence[QKeySequence | str] = ()) -> QAction:
            act = QAction(text, widget)
            if keys:
                act.setShortcuts([QKeySequence(k) for k in keys])
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _=False: slot())
            return act

        transfer = self._transfer
        self.new_project_action = action("&New label project…", self.new_project)
        self.open_project_action = action("Open label &project…", self.open_project)
        self.save_project_action = action("&Save label project", self.save_project, ["Ctrl+S"])
        self.save_project_as_action = action("Save label project &as…", self.save_project_as,
                                             ["Ctrl+Shift+S"])
        self.export_folder_action = action("Folder per class…",
                                           lambda: transfer.choose_export(ucf_lists=False))
        self.export_ucf_action = action("Folder per class with UCF-101 lists…",
                                        lambda: transfer.choose_export(ucf_lists=True))
        self.import_folder_action = action("Folder per class…",
                                           lambda: transfer.choose_import("folder"))
        self.import_ucf_action = action("UCF-101 style (classInd.txt, split lists)…",
                                        lambda: transfer.choose_import("ucf101"))

        stack = self._keeper.undo_stack
        self.undo_action = stack.createUndoAction(widget, "&Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = stack.createRedoAction(widget, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for act in (self.undo_action, self.redo_action):
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._window.add_shortcuts([self.undo_action, self.redo_action])
        self.mark_in_action = action("Mark &in", self.mark_in, [Qt.Key.Key_I])
        self.mark_out_action = action("Mark &out", self.mark_out, [Qt.Key.Key_O])
        self.clear_marks_action = action("&Clear marks", self.clear_marks, [Qt.Key.Key_Escape])
        self.add_class_action = action("Add &class…", self._ask_new_class)
        self.locate_action = action("&Locate missing videos…", self.locate_missing_videos)
        # shortcuts work with the menu bar hidden (full screen)
        self._window.add_shortcuts([self.save_project_action, self.save_project_as_action,
                                    self.mark_in_action, self.mark_out_action,
                                    self.clear_marks_action])

    def _create_menus(self) -> None:
        widget = self._window.dialog_parent
        import_menu = QMenu("&Import labels", widget)
        import_menu.addActions([self.import_folder_action, self.import_ucf_action])
        export_menu = QMenu("&Export labels as data set", widget)
        export_menu.addActions([self.export_folder_action, self.export_ucf_action])
        self._window.add_file_entries([
            self.new_project_action, self.open_project_action, self.save_project_action,
            self.save_project_as_action, import_menu, export_menu])
        self.import_menu, self.export_menu = import_menu, export_menu

        edit_menu = QMenu("&Edit", widget)
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.mark_in_action)
        edit_menu.addAction(self.mark_out_action)
        edit_menu.addAction(self.clear_marks_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self._panel.delete_segments_action)
        edit_menu.addAction(self.add_class_action)
        edit_menu.addAction(self.locate_action)
        self._window.add_edit_menu(edit_menu)
        self.edit_menu = edit_menu

    def _connect(self) -> None:
        keeper, videos, panel = self._keeper, self._videos, self._panel
        keeper.replaced.connect(self._on_project_replaced)
        keeper.changed.connect(self._on_project_changed)
        keeper.saved.connect(self.saved)
        keeper.statusChanged.connect(self._update_status)
        videos.marksChanged.connect(self._marks_changed)
        videos.videoChanged.connect(self._refresh)
        self._strip.seekRequested.connect(self._window.player.seek)
        self._strip.segmentClicked.connect(self._on_strip_segment_clicked)
        panel.segmentActivated.connect(self.go_to_segment)
        panel.segmentsDeleteRequested.connect(self.delete_segments)
        panel.labelEdited.connect(self.set_segment_class)
        panel.addClassRequested.connect(self._ask_new_class)
        panel.renameClassRequested.connect(self._ask_rename)
        panel.mergeClassRequested.connect(self._ask_merge)
        panel.deleteClassRequested.connect(self.delete_class)
        panel.locateRequested.connect(self.locate_missing_videos)
        panel.onlyOpenVideoChanged.connect(self._on_only_open_video_changed)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.flush)

    # --- showing it ----------------------------------------------------------------------

    def _on_project_replaced(self) -> None:
        self._videos.forget_marks()
        self._marks_changed()
        self._refresh()
        self.projectChanged.emit()

    def _on_project_changed(self) -> None:
        self._refresh()
        self.projectChanged.emit()

    def _on_only_open_video_changed(self, _on: bool) -> None:
        self._refresh()

    def _video_folder(self) -> Path | None:
        video = self._videos.open_video
        return video.parent if video is not None else None

    def _show_dock(self) -> None:
        """Bring the Labels tab to the front (it shares its place with the Attention view)."""
        if not self._dock.isHidden():
            self._dock.raise_()

    def _marks_changed(self) -> None:
        mark_in, mark_out = self._videos.marks()
        self._strip.set_marks(mark_in, mark_out)
        self.clear_marks_action.setEnabled(mark_in is not None or mark_out is not None)

    def _on_strip_segment_clicked(self, position: int) -> None:
        segments = self._videos.open_segments()
        if 0 <= position < len(segments):
            self._panel.select_segments([segments[position]])

    def _refresh(self) -> None:
        project = self.project
        missing = project.missing_videos()
        self._learn_frame_rates(missing)
        open_segments = self._videos.open_segments()
        shown = open_segments if self._panel.only_open_video() else list(project.segments)
        self._panel.set_content(shown, project.classes, project.class_counts(),
                                self._videos.frame_rates, missing, total=len(project))
        self._strip.set_segments([
            StripSegment(s.start_frame, s.end_frame, s.label,
                         class_color(project.class_index(s.label)))
            for s in open_segments])
        self._update_status()

    def _learn_frame_rates(self, missing: list[Path]) -> None:
        """Frame rates for the durations in the table: a few videos at a time (each one is
        opened), the rest on the next turn of the event loop."""
        fps = self._videos.frame_rates
        unknown = [v for v in self.project.videos() if v not in fps and v not in missing]
        for video in unknown[:FPS_READS_PER_TURN]:
            fps[video] = read_fps(video) or 0.0
        if len(unknown) > FPS_READS_PER_TURN and not self._fps_timer.isActive():
            self._fps_timer.start()

    def _update_status(self) -> None:
        status = self._keeper.status()
        self._status_label.setText(status.text)
        self._status_label.setToolTip(status.tooltip)
        self._panel.set_project_title(status.title, status.title_tooltip)
