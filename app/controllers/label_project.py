"""The label project in use: its content, its undo history, its file and the untitled draft.

`ProjectKeeper` holds one `LabelProject` (stmanet.data.project, the file the trainer reads).
Every change is an undoable edit (`edit`) on a QUndoStack, and is saved by itself a moment
later (atomically: a crash mid-save leaves the previous save). A project that has no file yet
is kept as a draft in the program's data folder and reopened at the next start; otherwise the
last project is reopened. New, Open, Save and Save as ask for files here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.services.labels import load_draft, write_draft
from stmanet.data.project import LabelProject, ProjectState, normalize_video_path
from stmanet.errors import DatasetError, STMANetError

log = logging.getLogger(__name__)

ErrorPresenter = Callable[[str, str], None]
MessageShower = Callable[[str, int], None]

AUTOSAVE_MS = 800
"""A change is written this long after the last edit (a burst of edits is one write)."""
PROJECT_FILTER = "Label projects (*.json);;All files (*)"
DRAFT_NAME = "untitled-labels.json"
KEY_PROJECT = "labels/project"
KEY_DIRECTORY = "paths/last_project_directory"

# What reading a project file may raise besides our own errors: a file that vanished or cannot
# be read, JSON the parser gives up on (nested too deeply, too large)
UNREADABLE_PROJECT = (STMANetError, OSError, ValueError, RecursionError, MemoryError)


def unreadable_reason(exc: BaseException, path: Path) -> str:
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


def with_json_suffix(path: Path) -> Path:
    return path if path.suffix.lower() == ".json" else path.with_name(path.name + ".json")


@dataclass(frozen=True)
class ProjectStatus:
    """How the project in use is named in the status bar and on the Labels panel."""

    text: str  # the status-bar field: "Labels: drills.json •"
    tooltip: str  # its tooltip: the file, and whether something is not saved yet
    title: str  # the panel's heading: "drills", "Untitled project"
    title_tooltip: str  # the heading's tooltip: the file


class ProjectEdit(QUndoCommand):
    """One edit of the project, as the content before and after it."""

    def __init__(self, keeper: ProjectKeeper, text: str, before: ProjectState,
                 after: ProjectState) -> None:
        super().__init__(text)
        self._keeper = keeper
        self._before, self._after = before, after

    def redo(self) -> None:
        self._keeper.restore(self._after)

    def undo(self) -> None:
        self._keeper.restore(self._before)


class ProjectKeeper(QObject):
    """Signals: replaced(): another project is in use (opened, new, reopened at start);
    changed(): its content changed (an edit, undo, redo) or it has another file (saved as);
    saved(Path): the project (or the untitled project's draft) was written there;
    statusChanged(): what `status()` says changed (unsaved changes, a failed save).

    `video_folder()` gives the folder of the video on screen, if any: file dialogs start there
    when no project folder is known yet."""

    replaced = Signal()
    changed = Signal()
    saved = Signal(object)
    statusChanged = Signal()

    def __init__(self, dialog_parent: QWidget, settings: QSettings,
                 present_error: ErrorPresenter, show_message: MessageShower,
                 video_folder: Callable[[], Path | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._widget = dialog_parent
        self._settings = settings
        self._present_error = present_error
        self._show_message = show_message
        self._video_folder = video_folder
        self._project = LabelProject()
        self._stack = QUndoStack(self)
        self._save_error: str | None = None
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.flush)
        self._stack.indexChanged.connect(self._on_stack_changed)
        self._stack.cleanChanged.connect(self._on_clean_changed)

    @property
    def project(self) -> LabelProject:
        return self._project

    @property
    def undo_stack(self) -> QUndoStack:
        return self._stack

    def has_unsaved_changes(self) -> bool:
        return not self._stack.isClean()

    def status(self) -> ProjectStatus:
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
        note = ("\nNot saved: " + self._save_error if self._save_error else
                "\nUnsaved changes are written in a moment" if unsaved else "")
        title = path.stem if path is not None else "Untitled project"
        return ProjectStatus(f"Labels: {name}{mark}", tooltip + note, title, tooltip)

    def start_directory(self) -> Path:
        """Where file dialogs start: the last project's folder, else the video's, else the
        user's documents."""
        folder = str(self._settings.value(KEY_DIRECTORY, "", type=str))
        if folder and Path(folder).is_dir():
            return Path(folder)
        video_folder = self._video_folder()
        if video_folder is not None:
            return video_folder
        return Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation))

    # --- edits ---------------------------------------------------------------------------

    def edit(self, text: str, mutate: Callable[[LabelProject], Any]) -> bool:
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

    def restore(self, state: ProjectState) -> None:
        """Put the project's content back to `state` (undo and redo)."""
        self._project.restore(state)
        self.changed.emit()

    def _on_clean_changed(self, _clean: bool) -> None:
        self.statusChanged.emit()

    def _on_stack_changed(self, _index: int) -> None:
        if not self._stack.isClean():
            self._autosave_timer.start()
        self.statusChanged.emit()

    # --- files ---------------------------------------------------------------------------

    def new(self, path: Path | str | None = None) -> bool:
        """Start an empty project in a new file (asked for when not given)."""
        if path is None:
            start = self.start_directory() / "labels.json"
            file, _ = QFileDialog.getSaveFileName(self._widget, "New label project", str(start),
                                                  PROJECT_FILTER)
            if not file:
                return False
            path = with_json_suffix(Path(file))
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
        self._use(project)
        self._show_message(f"New label project {project.path.name}", 4000)
        return True

    def open(self, path: Path | str | None = None) -> bool:
        """Open a project file (asked for when not given); the one in use is saved first."""
        if path is None:
            file, _ = QFileDialog.getOpenFileName(self._widget, "Open label project",
                                                  str(self.start_directory()), PROJECT_FILTER)
            if not file:
                return False
            path = Path(file)
        path = Path(path)
        self.flush()  # (the file may be the one in use: read what was last changed)
        try:
            project = LabelProject.load(path)
        except UNREADABLE_PROJECT as exc:
            self._present_error("Cannot open the label project", unreadable_reason(exc, path))
            return False
        if not self._leave_untitled():
            return False
        self._use(project)
        return True

    def save(self) -> bool:
        """Save now (Ctrl+S); an untitled project asks for a file."""
        if self._project.path is None:
            return self.save_as()
        return self._write(explicit=True)

    def save_as(self, path: Path | str | None = None) -> bool:
        """Save the project to another file (asked for when not given) and keep working there;
        videos under its folder are stored relative to it."""
        if path is None:
            current = self._project.path
            start = current if current is not None else self.start_directory() / "labels.json"
            file, _ = QFileDialog.getSaveFileName(self._widget, "Save label project as",
                                                  str(start), PROJECT_FILTER)
            if not file:
                return False
            path = with_json_suffix(Path(file))
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
        self._remember()
        self._show_message(f"Saved {Path(path).name}", 4000)
        self.saved.emit(Path(path))
        self.changed.emit()  # its file changed
        return True

    def flush(self) -> bool:
        """Write unsaved changes now (autosave, closing); True when nothing is left unsaved."""
        self._autosave_timer.stop()
        if self._stack.isClean():
            return True
        return self._write(explicit=False)

    def reopen_at_start(self) -> None:
        """The last project, or the draft of an untitled one. A project that cannot be read is
        forgotten (the next start does not try it again) and told once the window is up;
        nothing is changed on disk."""
        last = str(self._settings.value(KEY_PROJECT, "", type=str))
        if last:
            try:
                project = LabelProject.load(Path(last))
            except UNREADABLE_PROJECT as exc:
                log.warning("the last label project cannot be opened: %s",
                            unreadable_reason(exc, Path(last)))
                self._settings.remove(KEY_PROJECT)
                message = (f"{unreadable_reason(exc, Path(last))}\n\nThe file was left as it "
                           "is. Open it again once it is fixed (File ▸ Open label project…), "
                           "or start a new project.")
                QTimer.singleShot(0, self, lambda: self._present_error(
                    "Cannot reopen the label project", message))
            else:
                self._use(project, remember=False)
                return
        draft = draft_path()
        if draft.is_file():
            try:
                project = load_draft(draft)
            except UNREADABLE_PROJECT as exc:
                log.warning("the draft label project cannot be read: %s",
                            unreadable_reason(exc, draft))
                message = (f"{unreadable_reason(exc, draft)}\n\nThe labels of the untitled "
                           "project could not be read back; the file was left as it is.")
                QTimer.singleShot(0, self, lambda: self._present_error(
                    "Cannot reopen the untitled labels", message))
                return
            self._use(project, remember=False)

    def _use(self, project: LabelProject, *, remember: bool = True) -> None:
        self._project = project
        self._stack.clear()
        self._stack.setClean()
        self._save_error = None
        if remember:
            self._remember()
        self.replaced.emit()

    def _remember(self) -> None:
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
            self._widget, "Keep the untitled labels?",
            f"The untitled project holds {count} segment{'s' * (count != 1)} in "
            f"{len(project.classes)} class{'es' * (len(project.classes) != 1)} and has no "
            "file yet. Save it as a project first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_as()
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
            self.statusChanged.emit()
            return False
        self._save_error = None
        self._stack.setClean()
        if explicit:
            self._show_message(f"Saved {target.name}", 3000)
        self.saved.emit(target)
        self.statusChanged.emit()
        return True
