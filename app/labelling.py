"""Labelling in the main window: label projects, marking segments, classes, undo, autosave,
export and import.

`LabellingController` keeps one label project (`stmanet.data.project.LabelProject`, the
file the trainer reads) and joins it to the player. I and O mark the first and the last frame
of an action at the frame on screen; a small dialog then asks for its class (the last one
used is the default; a new name adds a class). It adds a Labels dock (the segments and the
classes), a labels strip under the prediction timeline, project entries in the File menu, an
Edit menu (undo, redo, marks) and a status-bar field naming the project.

Every change is an undoable edit on a QUndoStack, and is saved by itself a moment later
(atomically: a crash mid-save leaves the previous save). A project that has no file yet is
kept as a draft in the program's data folder and reopened at the next start; otherwise the
last project is reopened. Videos that moved are never dropped from a project: the user is
asked where they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QSettings, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressDialog,
)

from app.names import display_name
from app.services.export import BackgroundJob
from app.services.labels import (
    DatasetError,
    ExportedDataset,
    ImportedLabels,
    LabelProject,
    LabelSegment,
    ProjectState,
    STMANetError,
    export_dataset,
    import_dataset,
    load_draft,
    normalize_video_path,
    read_fps,
    write_draft,
)
from app.services.video_source import SourceInfo
from app.widgets.dialogs import job_progress_dialog
from app.widgets.label_strip import LabelStrip, StripSegment
from app.widgets.labels_panel import ClassChooserDialog, LabelsPanel
from app.widgets.overlay import class_color

if TYPE_CHECKING:
    from app.main_window import MainWindow

log = logging.getLogger(__name__)

AUTOSAVE_MS = 800
"""A change is written this long after the last edit (a burst of edits is one write)."""
PROJECT_FILTER = "Label projects (*.json);;All files (*)"
DRAFT_NAME = "untitled-labels.json"
FPS_READS_PER_TURN = 16
DEFAULT_TEST_SHARE = 20  # percent of each class's clips in a UCF-style test list
KEY_PROJECT = "labels/project"
KEY_LAST_CLASS = "labels/last_class"
KEY_DIRECTORY = "paths/last_project_directory"


# What reading a project file may raise besides our own errors: a file that vanished or cannot
# be read, JSON the parser gives up on (nested too deeply, too large)
UNREADABLE_PROJECT = (STMANetError, OSError, ValueError, RecursionError, MemoryError)


def _reason(exc: BaseException, path: Path) -> str:
    """One line naming the file: our errors name it already; others are given its name."""
    if isinstance(exc, STMANetError):
        return str(exc)
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    kind = type(exc).__name__
    return f"{path}: cannot be read ({kind}: {detail})" if detail else \
        f"{path}: cannot be read ({kind})"


def draft_path() -> Path:
    """Where a project that has no file of its own yet is kept between runs."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(folder) / DRAFT_NAME


class ProjectEdit(QUndoCommand):
    """One edit of the project, as the content before and after it."""

    def __init__(self, controller: LabellingController, text: str, before: ProjectState,
                 after: ProjectState) -> None:
        super().__init__(text)
        self._controller = controller
        self._before, self._after = before, after

    def redo(self) -> None:
        self._controller._restore(self._after)

    def undo(self) -> None:
        self._controller._restore(self._before)


class LabellingController(QObject):
    """Signals: projectChanged(): the project's content or its file changed (an edit, undo,
    another project opened, saved under another name); saved(Path): the project (or the
    untitled project's draft) was written there."""

    projectChanged = Signal()
    saved = Signal(object)

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

        self._project = LabelProject()
        self._stack = QUndoStack(self)
        self._source: SourceInfo | None = None
        self._open_video: Path | None = None  # the file on screen, as a project keeps it
        self._fps: dict[Path, float] = {}
        self._resolved: dict[Path, Path] = {}
        self._mark_in: int | None = None
        self._mark_out: int | None = None
        self._marks_video: Path | None = None
        self._dialog: ClassChooserDialog | None = None
        self._jump: tuple[Path, int] | None = None
        self._last_class = str(settings.value(KEY_LAST_CLASS, "", type=str))
        self._save_error: str | None = None
        self._job: BackgroundJob | None = None
        self._job_dialog: QProgressDialog | None = None

        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.flush)
        self._fps_timer = QTimer(self)
        self._fps_timer.setSingleShot(True)
        self._fps_timer.setInterval(0)
        self._fps_timer.timeout.connect(self._refresh)

        self._build_panels()
        self._create_actions()
        self._create_menus()
        self._status_label = QLabel()
        self._status_label.setMinimumWidth(1)  # gives way in a narrow window
        self._window.statusBar().addPermanentWidget(self._status_label)
        self._connect()
        self._reopen_at_start()
        self._marks_changed()
        self._refresh()

    # --- parts other code (and tests) use ------------------------------------------------

    @property
    def project(self) -> LabelProject:
        return self._project

    @property
    def project_path(self) -> Path | None:
        """The project's file; None while it is an untitled draft."""
        return self._project.path

    @property
    def undo_stack(self) -> QUndoStack:
        return self._stack

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
        return self._dialog

    def marks(self) -> tuple[int | None, int | None]:
        """(in, out) frames marked on the open video, not yet a segment."""
        return self._mark_in, self._mark_out

    def status_text(self) -> str:
        return self._status_label.text()

    def has_unsaved_changes(self) -> bool:
        return not self._stack.isClean()

    def current_job(self) -> BackgroundJob | None:
        return self._job

    # --- projects ------------------------------------------------------------------------

    def new_project(self, path: Path | str | None = None) -> bool:
        """Start an empty project in a new file (asked for when not given)."""
        if path is None:
            start = self._start_directory() / "labels.json"
            file, _ = QFileDialog.getSaveFileName(self._window, "New label project", str(start),
                                                  PROJECT_FILTER)
            if not file:
                return False
            path = self._with_suffix(Path(file))
        current = self._project.path
        if current is not None and normalize_video_path(current) == normalize_video_path(path):
            self._present_error("That is the project in use",
                                f"{path} holds the labels you are working on: choose another "
                                "name for the new project.")
            return False
        if not self._leave_untitled():
            return False
        self.flush()
        project = LabelProject(path=Path(path))
        try:
            project.save()
        except OSError as exc:
            self._present_error("Cannot create the label project", f"{path}: {exc.strerror or exc}")
            return False
        self._use_project(project)
        self._window.statusBar().showMessage(f"New label project {project.path.name}", 4000)
        return True

    def open_project(self, path: Path | str | None = None) -> bool:
        """Open a project file (asked for when not given); the one in use is saved first. When
        some of its videos have moved, asks where they are."""
        if path is None:
            file, _ = QFileDialog.getOpenFileName(self._window, "Open label project",
                                                  str(self._start_directory()), PROJECT_FILTER)
            if not file:
                return False
            path = Path(file)
        path = Path(path)
        self.flush()  # (the file may be the one in use: read what was last changed)
        try:
            project = LabelProject.load(path)
        except UNREADABLE_PROJECT as exc:
            self._present_error("Cannot open the label project", _reason(exc, path))
            return False
        if not self._leave_untitled():
            return False
        self._use_project(project)
        self._show_dock()
        self._window.statusBar().showMessage(
            f"Opened {path.name}: {len(project)} segments in {len(project.classes)} classes",
            4000)
        if project.missing_videos():
            self.locate_missing_videos()
        return True

    def save_project(self) -> bool:
        """Save now (Ctrl+S); an untitled project asks for a file."""
        if self._project.path is None:
            return self.save_project_as()
        return self._write(explicit=True)

    def save_project_as(self, path: Path | str | None = None) -> bool:
        """Save the project to another file (asked for when not given) and keep working there;
        videos under its folder are stored relative to it."""
        if path is None:
            current = self._project.path
            start = current if current is not None else self._start_directory() / "labels.json"
            file, _ = QFileDialog.getSaveFileName(self._window, "Save label project as",
                                                  str(start), PROJECT_FILTER)
            if not file:
                return False
            path = self._with_suffix(Path(file))
        was_untitled = self._project.path is None
        previous = self._project.path
        try:
            self._project.save(Path(path))
        except OSError as exc:
            self._project.path = previous
            self._present_error("Cannot save the labels", f"{path}: {exc.strerror or exc}")
            return False
        if was_untitled:
            self._discard_draft()
        self._stack.setClean()
        self._remember_project()
        self._window.statusBar().showMessage(f"Saved {Path(path).name}", 4000)
        self.saved.emit(Path(path))
        self._refresh()
        self.projectChanged.emit()  # its file changed
        return True

    def flush(self) -> bool:
        """Write unsaved changes now (autosave, closing); True when nothing is left unsaved."""
        self._autosave_timer.stop()
        if self._stack.isClean():
            return True
        return self._write(explicit=False)

    def shutdown(self) -> None:
        """Save what is unsaved and stop a running export or import (the window closes)."""
        self.flush()
        if self._job is not None:
            self._job.cancel()
            self._job.wait(10.0)

    # --- marking segments ----------------------------------------------------------------

    def mark_in(self) -> None:
        """I: the frame on screen is the first of a segment."""
        frame = self._markable_frame()
        if frame is None:
            return
        self._mark_in = frame
        if self._mark_out is not None and self._mark_out < frame:
            self._mark_out = None
        self._marks_changed()
        if self._mark_out is not None:
            self._ask_class()
        else:
            self._window.statusBar().showMessage(
                f"In at frame {frame}: press O at the last frame of the action", 5000)

    def mark_out(self) -> None:
        """O: the frame on screen is the last of a segment."""
        frame = self._markable_frame()
        if frame is None:
            return
        self._mark_out = frame
        if self._mark_in is not None and self._mark_in > frame:
            self._mark_in = None
        self._marks_changed()
        if self._mark_in is not None:
            self._ask_class()
        else:
            self._window.statusBar().showMessage(
                f"Out at frame {frame}: press I at the first frame of the action", 5000)

    def clear_marks(self) -> None:
        self._mark_in = self._mark_out = None
        self._marks_changed()

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

        self._edit(f"Add segment ({label.strip()})", mutate)
        if not added:
            return None  # the user has been told why
        segment = added[0]  # (new, or the same segment labelled before)
        self._panel.select_segments([segment])
        return segment

    # --- segment and class edits (each one undoable) -------------------------------------

    def delete_segments(self, segments: Sequence[LabelSegment]) -> int:
        segments = list(segments)
        count = len(segments)
        done = self._edit(f"Delete {count} segment{'s' * (count != 1)}",
                          lambda p: p.remove_segments(segments))
        return count if done else 0

    def set_segment_class(self, segment: LabelSegment, label: str) -> bool:
        return self._edit(f"Change class to {label}", lambda p: p.set_label(segment, label))

    def add_class(self, name: str) -> bool:
        return self._edit(f"Add class {name.strip()}", lambda p: p.add_class(name))

    def rename_class(self, old: str, new: str) -> bool:
        ok = self._edit(f"Rename class {old}", lambda p: p.rename_class(old, new))
        if ok and self._last_class == old:
            self._set_last_class(new.strip())
        return ok

    def merge_class(self, source: str, target: str) -> bool:
        """The segments of `source` become `target`'s and `source` goes."""
        ok = self._edit(f"Merge {source} into {target}",
                        lambda p: p.merge_classes(source, target))
        if ok and self._last_class == source:
            self._set_last_class(target)
        return ok

    def delete_class(self, name: str, *, confirm: bool = True) -> bool:
        """Delete a class and its segments; asks first (saying how many segments go)."""
        count = self._project.class_counts().get(name, 0)
        if confirm:
            what = (f"its {count} segment{'s' * (count != 1)} go with it" if count
                    else "it has no segments")
            answer = QMessageBox.question(
                self._window, "Delete class",
                f"Delete the class “{name}”? {what[0].upper()}{what[1:]}.\n\n"
                "Edit ▸ Undo (Ctrl+Z) brings it back.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self._edit(f"Delete class {name}", lambda p: p.delete_class(name))

    # --- moved videos --------------------------------------------------------------------

    def locate_missing_videos(self) -> int:
        """Ask where each missing video is now; how many videos were found. Cancelling
        stops asking; the segments of videos not found are kept as they are."""
        found = 0
        for video in self._project.missing_videos():
            if video.is_file() or video not in self._project.videos():
                continue  # found with a sibling already
            new = self._ask_for_video(video)
            if new is None:
                break
            found += self.relocate_video(video, new)
        return found

    def relocate_video(self, old: Path, new: Path) -> int:
        """Point `old`'s segments at `new`, and the other missing videos that sit beside
        `new` under their own names at theirs (one undoable edit); how many videos moved."""
        moves = [(old, new)]
        for other in self._project.missing_videos():
            beside = new.parent / other.name
            if other != old and beside.is_file():
                moves.append((other, beside))

        def mutate(project: LabelProject) -> None:
            for before, after in moves:
                project.relocate(before, after)

        count = len(moves)
        text = f"Locate {old.name}" if count == 1 else f"Locate {count} videos"
        if not self._edit(text, mutate):
            return 0
        self._window.statusBar().showMessage(
            f"Found {count} video{'s' * (count != 1)} in {new.parent}", 5000)
        return count

    def go_to_segment(self, segment: LabelSegment) -> None:
        """Show the segment's first frame (opening its video when another one is on screen);
        a video that moved is asked for first."""
        video = segment.video
        if not video.is_file():
            new = self._ask_for_video(video)
            if new is None or not self.relocate_video(video, new):
                return
            video = normalize_video_path(new)
        if self._is_open(video):
            self._player.seek(segment.start_frame)
            return
        self._jump = (video, segment.start_frame)
        self._window.open_path(video)

    # --- export and import ---------------------------------------------------------------

    def export_to(self, folder: Path | str, *, ucf_lists: bool = False,
                  test_share: float = DEFAULT_TEST_SHARE / 100) -> BackgroundJob | None:
        """Export the project as a folder-per-class data set in `folder` (with UCF-101 style
        split lists when asked) in the background."""
        if not self._project.segments:
            self._present_error("Nothing to export", "The project has no labelled segment yet.")
            return None
        missing = self._project.missing_videos()
        if missing:
            self._present_error(
                "Videos not found",
                f"{len(missing)} video{'s' * (len(missing) > 1)} of the project cannot be "
                f"found (for example {missing[0]}). Locate them before exporting.")
            return None
        snapshot = LabelProject(self._project.classes, self._project.segments)
        target = Path(folder)
        return self._run_job(
            lambda progress, cancelled: export_dataset(
                snapshot, target, ucf_lists=ucf_lists, test_share=test_share,
                progress=progress, cancelled=cancelled),
            f"Cutting {len(snapshot)} clips into {target.name}…", "Export",
            "Cannot export the labels", self._on_exported)

    def import_from(self, kind: str, folder: Path | str) -> BackgroundJob | None:
        """Add a data set's videos as segments covering each whole video, in the background
        (kind: "folder" or "ucf101"); one undoable edit when done."""
        root = Path(folder)
        return self._run_job(
            lambda progress, cancelled: import_dataset(kind, root, progress=progress,
                                                       cancelled=cancelled),
            f"Reading the videos of {root.name}…", "Import", "Cannot import the data set",
            lambda result: self._on_imported(result, root))

    # --- construction --------------------------------------------------------------------

    def _build_panels(self) -> None:
        self._panel = LabelsPanel()
        self._dock = self._window.new_panel("Labels", "labelsDock", self._panel)
        self._window.add_panel(self._dock, Qt.DockWidgetArea.RightDockWidgetArea)
        self._strip = LabelStrip()
        self._window.recognition.add_timeline_row(self._strip)

    def _create_actions(self) -> None:
        window = self._window

        def action(text: str, slot: Callable[[], object],
                   keys: Sequence[QKeySequence | str] = ()) -> QAction:
            act = QAction(text, window)
            if keys:
                act.setShortcuts([QKeySequence(k) for k in keys])
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _=False: slot())
            return act

        self.new_project_action = action("&New label project…", self.new_project)
        self.open_project_action = action("Open label &project…", self.open_project)
        self.save_project_action = action("&Save label project", self.save_project, ["Ctrl+S"])
        self.save_project_as_action = action("Save label project &as…", self.save_project_as,
                                             ["Ctrl+Shift+S"])
        self.export_folder_action = action("Folder per class…",
                                           lambda: self._choose_export(ucf_lists=False))
        self.export_ucf_action = action("Folder per class with UCF-101 lists…",
                                        lambda: self._choose_export(ucf_lists=True))
        self.import_folder_action = action("Folder per class…",
                                           lambda: self._choose_import("folder"))
        self.import_ucf_action = action("UCF-101 style (classInd.txt, split lists)…",
                                        lambda: self._choose_import("ucf101"))

        self.undo_action = self._stack.createUndoAction(window, "&Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = self._stack.createRedoAction(window, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for act in (self.undo_action, self.redo_action):
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(act)
        self.mark_in_action = action("Mark &in", self.mark_in, [Qt.Key.Key_I])
        self.mark_out_action = action("Mark &out", self.mark_out, [Qt.Key.Key_O])
        self.clear_marks_action = action("&Clear marks", self.clear_marks, [Qt.Key.Key_Escape])
        self.add_class_action = action("Add &class…", self._ask_new_class)
        self.locate_action = action("&Locate missing videos…", self.locate_missing_videos)
        for act in (self.save_project_action, self.save_project_as_action, self.mark_in_action,
                    self.mark_out_action, self.clear_marks_action):
            window.addAction(act)  # shortcuts work with the menu bar hidden (full screen)

    def _create_menus(self) -> None:
        bar = self._window.menuBar()
        file_menu = self._window.quit_action.parent()
        for top in bar.actions():
            menu = top.menu()
            if isinstance(menu, QMenu) and self._window.quit_action in menu.actions():
                file_menu = menu
                break
        if not isinstance(file_menu, QMenu):  # pragma: no cover - the window always has one
            file_menu = bar.addMenu("&File")
        actions = file_menu.actions()
        quit_at = actions.index(self._window.quit_action)
        before = actions[quit_at - 1] if quit_at > 0 and actions[quit_at - 1].isSeparator() \
            else self._window.quit_action
        file_menu.insertSeparator(before)
        for act in (self.new_project_action, self.open_project_action,
                    self.save_project_action, self.save_project_as_action):
            file_menu.insertAction(before, act)
        import_menu = QMenu("&Import labels", file_menu)
        import_menu.addActions([self.import_folder_action, self.import_ucf_action])
        export_menu = QMenu("&Export labels as data set", file_menu)
        export_menu.addActions([self.export_folder_action, self.export_ucf_action])
        file_menu.insertMenu(before, import_menu)
        file_menu.insertMenu(before, export_menu)
        self.import_menu, self.export_menu = import_menu, export_menu

        edit_menu = QMenu("&Edit", bar)
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
        menus = bar.actions()
        after_file = menus[1] if len(menus) > 1 else None
        if after_file is not None:
            bar.insertMenu(after_file, edit_menu)
        else:  # pragma: no cover
            bar.addMenu(edit_menu)
        self.edit_menu = edit_menu

    def _connect(self) -> None:
        player, panel = self._player, self._panel
        player.opened.connect(self._on_source_opened)
        player.openFailed.connect(self._on_open_failed)
        player.playbackFailed.connect(self._on_playback_failed)
        player.frameShown.connect(self._on_frame_shown)
        self._strip.seekRequested.connect(player.seek)
        self._strip.segmentClicked.connect(self._on_strip_segment_clicked)
        self._stack.indexChanged.connect(self._on_stack_changed)
        self._stack.cleanChanged.connect(self._on_clean_changed)
        panel.segmentActivated.connect(self.go_to_segment)
        panel.segmentsDeleteRequested.connect(self.delete_segments)
        panel.labelEdited.connect(self.set_segment_class)
        panel.addClassRequested.connect(self._ask_new_class)
        panel.renameClassRequested.connect(self._ask_rename)
        panel.mergeClassRequested.connect(self._ask_merge)
        panel.deleteClassRequested.connect(self.delete_class)
        panel.locateRequested.connect(self.locate_missing_videos)
        panel.onlyOpenVideoChanged.connect(self._on_only_open_video_changed)
        self._window.installEventFilter(self)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.flush)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Close:
            self.shutdown()
        return super().eventFilter(watched, event)

    # --- the project in use --------------------------------------------------------------

    def _reopen_at_start(self) -> None:
        """The last project, or the draft of an untitled one. A project that cannot be read is
        forgotten (the next start does not try it again) and told once the window is up;
        nothing is changed on disk."""
        last = str(self._settings.value(KEY_PROJECT, "", type=str))
        if last:
            try:
                project = LabelProject.load(Path(last))
            except UNREADABLE_PROJECT as exc:
                log.warning("the last label project cannot be opened: %s",
                            _reason(exc, Path(last)))
                self._settings.remove(KEY_PROJECT)
                message = (f"{_reason(exc, Path(last))}\n\nThe file was left as it is. Open "
                           "it again once it is fixed (File ▸ Open label project…), or start "
                           "a new project.")
                QTimer.singleShot(0, self, lambda: self._present_error(
                    "Cannot reopen the label project", message))
            else:
                self._use_project(project, remember=False)
                return
        draft = draft_path()
        if draft.is_file():
            try:
                project = load_draft(draft)
            except UNREADABLE_PROJECT as exc:
                log.warning("the draft label project cannot be read: %s", _reason(exc, draft))
                message = (f"{_reason(exc, draft)}\n\nThe labels of the untitled project "
                           "could not be read back; the file was left as it is.")
                QTimer.singleShot(0, self, lambda: self._present_error(
                    "Cannot reopen the untitled labels", message))
                return
            self._use_project(project, remember=False)

    def _use_project(self, project: LabelProject, *, remember: bool = True) -> None:
        self._project = project
        self._stack.clear()
        self._stack.setClean()
        self._save_error = None
        self._mark_in = self._mark_out = None
        if remember:
            self._remember_project()
        self._marks_changed()
        self._refresh()
        self.projectChanged.emit()

    def _remember_project(self) -> None:
        path = self._project.path
        if path is not None:
            self._settings.setValue(KEY_PROJECT, str(normalize_video_path(path)))
            self._settings.setValue(KEY_DIRECTORY, str(normalize_video_path(path).parent))
        else:
            self._settings.remove(KEY_PROJECT)

    def _leave_untitled(self) -> bool:
        """Before another project replaces an untitled one that holds labels: save it, throw
        it away, or stay (False)."""
        project = self._project
        if project.path is not None or (not project.segments and not project.classes):
            return True
        count = len(project)
        answer = QMessageBox.question(
            self._window, "Keep the untitled labels?",
            f"The untitled project holds {count} segment{'s' * (count != 1)} in "
            f"{len(project.classes)} class{'es' * (len(project.classes) != 1)} and has no "
            "file yet. Save it as a project first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project_as()
        if answer == QMessageBox.StandardButton.Discard:
            self._autosave_timer.stop()
            self._discard_draft()
            self._stack.clear()
            return True
        return False

    @staticmethod
    def _discard_draft() -> None:
        try:
            draft_path().unlink(missing_ok=True)
        except OSError as exc:  # pragma: no cover - a read-only data folder
            log.warning("cannot remove the draft labels: %s", exc)

    def _write(self, *, explicit: bool) -> bool:
        project = self._project
        target = project.path if project.path is not None else draft_path()
        try:
            if project.path is not None:
                project.save()
            else:
                write_draft(project, target)
        except (OSError, STMANetError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            message = (f"The labels could not be written to {target}: {reason}.\n\n"
                       "They are still here; the file keeps its previous save. Free some "
                       "space or choose another place with File ▸ Save label project as….")
            log.error("cannot save the labels to %s: %s", target, reason)
            if explicit or message != self._save_error:
                self._save_error = message
                self._present_error("Cannot save the labels", message)
            self._update_status()
            return False
        self._save_error = None
        self._stack.setClean()
        if explicit:
            self._window.statusBar().showMessage(f"Saved {target.name}", 3000)
        self.saved.emit(target)
        self._update_status()
        return True

    # --- edits ---------------------------------------------------------------------------

    def _edit(self, text: str, mutate: Callable[[LabelProject], Any]) -> bool:
        """Apply `mutate` to the project as one undoable edit; False when it failed (the
        user is told why) or changed nothing."""
        before = self._project.state()
        try:
            mutate(self._project)
        except DatasetError as exc:
            self._project.restore(before)
            self._present_error("Cannot change the labels", exc.reason)
            return False
        after = self._project.state()
        self._project.restore(before)
        if after == before:
            return False
        self._stack.push(ProjectEdit(self, text, before, after))  # applies it
        return True

    def _restore(self, state: ProjectState) -> None:
        self._project.restore(state)
        self._refresh()
        self.projectChanged.emit()

    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_status()

    def _on_only_open_video_changed(self, _on: bool) -> None:
        self._refresh()

    def _on_stack_changed(self, _index: int) -> None:
        if not self._stack.isClean():
            self._autosave_timer.start()
        self._update_status()

    # --- the player ----------------------------------------------------------------------

    def _on_source_opened(self, info: SourceInfo) -> None:
        self._source = info
        self._open_video = None if info.is_live else normalize_video_path(info.location)
        if self._open_video is not None:
            self._fps[self._open_video] = info.fps
        if self._marks_video != self._open_video:
            self._mark_in = self._mark_out = None
        self._strip.set_source(None if info.is_live else info.frame_count, info.fps)
        self._marks_changed()
        self._refresh()

    def _on_open_failed(self, _message: str) -> None:
        self._jump = None

    def _on_playback_failed(self, _message: str) -> None:
        if self._player.source_info() is None:
            self._source = None
            self._open_video = None
            self._strip.set_source(None, 25.0)
            self._refresh()

    def _on_frame_shown(self, index: int) -> None:
        self._strip.set_position(index)
        jump = self._jump
        if jump is not None and self._is_open(jump[0]):
            self._jump = None
            self._player.seek(jump[1])

    def _on_strip_segment_clicked(self, position: int) -> None:
        segments = self._open_segments()
        if 0 <= position < len(segments):
            self._panel.select_segments([segments[position]])

    def _is_open(self, video: Path) -> bool:
        current = self._open_video
        if current is None:
            return False
        if video == current:
            return True
        return self._resolve(video) == self._resolve(current)

    def _resolve(self, path: Path) -> Path:
        if path not in self._resolved:
            try:
                self._resolved[path] = path.resolve()
            except OSError:  # pragma: no cover
                self._resolved[path] = path
        return self._resolved[path]

    def _open_segments(self) -> list[LabelSegment]:
        if self._open_video is None:
            return []
        return sorted((s for s in self._project.segments if self._is_open(s.video)),
                      key=lambda s: (s.start_frame, s.end_frame))

    def _markable_frame(self) -> int | None:
        info = self._player.source_info()
        if info is None or info.is_live or self._open_video is None:
            self._window.statusBar().showMessage(
                "Open a video file to label it (cameras and streams cannot be labelled)", 4000)
            return None
        frame = self._player.current_index()
        if frame < 0:
            return None
        if self._marks_video != self._open_video:
            self._mark_in = self._mark_out = None
            self._marks_video = self._open_video
        self._show_dock()
        return frame

    def _show_dock(self) -> None:
        """Bring the Labels tab to the front (it shares its place with the Attention view)."""
        if not self._dock.isHidden():
            self._dock.raise_()

    def _marks_changed(self) -> None:
        self._strip.set_marks(self._mark_in, self._mark_out)
        self.clear_marks_action.setEnabled(self._mark_in is not None
                                           or self._mark_out is not None)

    def _ask_class(self) -> None:
        if self._dialog is not None:
            self._dialog.raise_()
            self._dialog.activateWindow()
            return
        video, first, last = self._marks_video, self._mark_in, self._mark_out
        if video is None or first is None or last is None:
            return
        self._player.pause()
        classes = self._project.classes
        default = self._last_class if self._last_class in classes or not classes \
            else classes[0]
        fps = self._fps.get(video, 0.0)
        seconds = f" ({(last + 1 - first) / fps:.2f} s)" if fps else ""
        what = f"{video.name}: frames {first}–{last}{seconds}. Which action is it?"
        dialog = ClassChooserDialog(classes, default, what, self._window)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self._dialog = dialog

        def finished(result: int) -> None:
            if self._dialog is not dialog:
                return  # told twice
            self._dialog = None
            dialog.deleteLater()
            self._window.activateWindow()  # I and O work at once again
            if result == ClassChooserDialog.DialogCode.Accepted:
                self._on_class_chosen(video, first, last, dialog.chosen_class())

        dialog.finished.connect(finished)
        dialog.open()

    def _on_class_chosen(self, video: Path, first: int, last: int, label: str) -> None:
        segment = self.add_segment(video, first, last + 1, label)
        if segment is None:
            return
        self._set_last_class(segment.label)
        self._mark_in = self._mark_out = None
        self._marks_changed()
        self._window.statusBar().showMessage(
            f"Labelled frames {first}–{last} as {display_name(segment.label)}", 4000)

    def _set_last_class(self, name: str) -> None:
        self._last_class = name
        self._settings.setValue(KEY_LAST_CLASS, name)

    # --- asking the user -----------------------------------------------------------------

    def _start_directory(self) -> Path:
        folder = str(self._settings.value(KEY_DIRECTORY, "", type=str))
        if folder and Path(folder).is_dir():
            return Path(folder)
        if self._open_video is not None:
            return self._open_video.parent
        return Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation))

    @staticmethod
    def _with_suffix(path: Path) -> Path:
        return path if path.suffix.lower() == ".json" else path.with_name(path.name + ".json")

    def _ask_for_video(self, video: Path) -> Path | None:
        from app.main_window import video_file_filter  # the window module imports this one

        start = video.parent
        while not start.is_dir() and start != start.parent:
            start = start.parent
        file, _ = QFileDialog.getOpenFileName(
            self._window, f"Where is {video.name} now? (it was in {video.parent})",
            str(start / video.name), video_file_filter())
        return Path(file) if file else None

    def _ask_new_class(self) -> None:
        name, ok = QInputDialog.getText(self._window, "Add class", "Name of the new class:")
        if ok and name.strip():
            self.add_class(name)

    def _ask_rename(self, name: str) -> None:
        new, ok = QInputDialog.getText(self._window, "Rename class",
                                       f"New name for “{name}”:", QLineEdit.EchoMode.Normal,
                                       name)
        if ok and new.strip() and new.strip() != name:
            self.rename_class(name, new)

    def _ask_merge(self, name: str) -> None:
        others = [c for c in self._project.classes if c != name]
        if not others:
            return
        count = self._project.class_counts().get(name, 0)
        target, ok = QInputDialog.getItem(
            self._window, "Merge class",
            f"Give the {count} segment{'s' * (count != 1)} of “{name}” to:", others, 0, False)
        if ok and target:
            self.merge_class(name, target)

    def _choose_export(self, *, ucf_lists: bool) -> None:
        share = DEFAULT_TEST_SHARE
        if ucf_lists:
            share, ok = QInputDialog.getInt(
                self._window, "UCF-101 style lists",
                "Share of each class's clips in the test list (%):", DEFAULT_TEST_SHARE, 0, 90)
            if not ok:
                return
        folder = QFileDialog.getExistingDirectory(self._window, "Export labels into folder",
                                                  str(self._start_directory()))
        if not folder:
            return
        target = Path(folder)
        if any(target.iterdir()):  # keep what is there: export into a new folder inside
            stem = self._project.path.stem if self._project.path is not None else "labels"
            base = target / f"{stem}-dataset"
            target, n = base, 1
            while target.exists():
                n += 1
                target = base.with_name(f"{base.name}-{n}")
        self.export_to(target, ucf_lists=ucf_lists, test_share=share / 100)

    def _choose_import(self, kind: str) -> None:
        caption = ("Import a folder of class folders" if kind == "folder"
                   else "Import a UCF-101 style data set (the folder of class folders)")
        folder = QFileDialog.getExistingDirectory(self._window, caption,
                                                  str(self._start_directory()))
        if folder:
            self.import_from(kind, Path(folder))

    # --- background jobs -----------------------------------------------------------------

    def _run_job(self, work: Callable[..., object], text: str, title: str,
                 failure_title: str, done: Callable[[Any], None]) -> BackgroundJob | None:
        if self._job is not None:
            self._present_error(f"{title} running",
                                "Wait for the running export or import to finish, or cancel "
                                "it.")
            return None
        job = BackgroundJob(work, name=title.lower(), parent=self)

        def ended() -> None:
            self._job, self._job_dialog = None, None

        dialog = job_progress_dialog(job, self._window, title=title, text=text,
                                     min_duration_ms=400, on_end=ended)

        def failed(message: str) -> None:
            self._present_error(failure_title, message)

        def cancelled() -> None:
            self._window.statusBar().showMessage(f"{title} cancelled; nothing was changed",
                                                 4000)

        job.finished.connect(done)
        job.failed.connect(failed)
        job.cancelled.connect(cancelled)
        self._job, self._job_dialog = job, dialog
        job.start()
        return job

    def _on_exported(self, result: object) -> None:
        if not isinstance(result, ExportedDataset):  # pragma: no cover
            return
        lists = " with UCF-101 lists" if result.train_list is not None else ""
        self._window.statusBar().showMessage(
            f"Exported {result.clip_count} clips{lists} to {result.folder}", 8000)
        self._settings.setValue("paths/last_export_directory", str(result.folder.parent))

    def _on_imported(self, result: object, root: Path) -> None:
        if not isinstance(result, ImportedLabels):  # pragma: no cover
            return
        counts: list[tuple[int, int]] = []
        self._edit(f"Import {root.name}",
                   lambda p: counts.append(p.add_imported(result)))
        classes, segments = counts[0] if counts else (0, 0)
        skipped = (f"; {len(result.skipped)} unreadable videos left out"
                   if result.skipped else "")
        self._window.statusBar().showMessage(
            f"Imported {segments} segments and {classes} new classes from {root.name}"
            f"{skipped}", 8000)
        if result.skipped:
            log.warning("import of %s left out: %s", root,
                        "; ".join(f"{s.path}: {s.reason}" for s in result.skipped[:10]))

    # --- showing it ----------------------------------------------------------------------

    def _refresh(self) -> None:
        project = self._project
        missing = project.missing_videos()
        self._learn_frame_rates(missing)
        shown = (self._open_segments() if self._panel.only_open_video()
                 else list(project.segments))
        self._panel.set_content(shown, project.classes, project.class_counts(), self._fps,
                                missing, total=len(project))
        self._strip.set_segments([
            StripSegment(s.start_frame, s.end_frame, s.label,
                         class_color(project.class_index(s.label)))
            for s in self._open_segments()])
        self._update_status()

    def _learn_frame_rates(self, missing: list[Path]) -> None:
        """Frame rates for the durations in the table: a few videos at a time (each one is
        opened), the rest on the next turn of the event loop."""
        unknown = [v for v in self._project.videos() if v not in self._fps and v not in missing]
        for video in unknown[:FPS_READS_PER_TURN]:
            self._fps[video] = read_fps(video) or 0.0
        if len(unknown) > FPS_READS_PER_TURN and not self._fps_timer.isActive():
            self._fps_timer.start()

    def _update_status(self) -> None:
        path = self._project.path
        unsaved = not self._stack.isClean()
        if path is None:
            name = "untitled"
            tooltip = ("An untitled label project, kept as a draft until you save it "
                       "(File ▸ Save label project)")
        else:
            name = path.name
            tooltip = str(path)
        mark = " •" if unsaved or self._save_error else ""
        self._status_label.setText(f"Labels: {name}{mark}")
        self._status_label.setToolTip(
            tooltip + ("\nNot saved: " + self._save_error if self._save_error else
                       "\nUnsaved changes are written in a moment" if unsaved else ""))
        title = path.stem if path is not None else "Untitled project"
        self._panel.set_project_title(title, tooltip)
