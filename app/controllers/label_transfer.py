"""A label project to and from data sets, in the background: File ▸ Export labels as data set
(a folder per class, optionally with UCF-101 style split lists) and File ▸ Import labels
(a folder of class folders, or a UCF-101 style set; one undoable edit when done).

Both run through a `JobRunner` (one at a time, with progress and Cancel) over
stmanet.data.project_datasets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from app.controllers.jobs import JobRunner
from app.controllers.label_project import ProjectKeeper
from app.services.jobs import BackgroundJob
from stmanet.data.project import ImportedLabels, LabelProject
from stmanet.data.project_datasets import ExportedDataset, export_dataset, import_dataset

log = logging.getLogger(__name__)

ErrorPresenter = Callable[[str, str], None]
MessageShower = Callable[[str, int], None]

DEFAULT_TEST_SHARE = 20  # percent of each class's clips in a UCF-style test list


class DataSetTransfer(QObject):
    """Exports the project in use as a data set and imports data sets into it."""

    def __init__(self, keeper: ProjectKeeper, dialog_parent: QWidget, settings: QSettings,
                 present_error: ErrorPresenter, show_message: MessageShower,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._keeper = keeper
        self._widget = dialog_parent
        self._settings = settings
        self._present_error = present_error
        self._show_message = show_message
        self.jobs = JobRunner(
            dialog_parent, present_error, show_message,
            busy_text="Wait for the running export or import to finish, or cancel it.",
            cancelled_note="nothing was changed", min_duration_ms=400, parent=self)

    def export_to(self, folder: Path | str, *, ucf_lists: bool = False,
                  test_share: float = DEFAULT_TEST_SHARE / 100) -> BackgroundJob | None:
        """Export the project as a folder-per-class data set in `folder` (with UCF-101 style
        split lists when asked) in the background."""
        project = self._keeper.project
        if not project.segments:
            self._present_error("Nothing to export", "The project has no labelled segment yet.")
            return None
        missing = project.missing_videos()
        if missing:
            self._present_error(
                "Videos not found",
                f"{len(missing)} video{'s' * (len(missing) > 1)} of the project cannot be "
                f"found (for example {missing[0]}). Locate them before exporting.")
            return None
        snapshot = LabelProject(project.classes, project.segments)
        target = Path(folder)
        return self.jobs.run(
            lambda progress, cancelled: export_dataset(
                snapshot, target, ucf_lists=ucf_lists, test_share=test_share,
                progress=progress, cancelled=cancelled),
            title="Export", text=f"Cutting {len(snapshot)} clips into {target.name}…",
            failure_title="Cannot export the labels", done=self._on_exported)

    def import_from(self, kind: str, folder: Path | str) -> BackgroundJob | None:
        """Add a data set's videos as segments covering each whole video, in the background
        (kind: "folder" or "ucf101"); one undoable edit when done."""
        root = Path(folder)
        return self.jobs.run(
            lambda progress, cancelled: import_dataset(kind, root, progress=progress,
                                                       cancelled=cancelled),
            title="Import", text=f"Reading the videos of {root.name}…",
            failure_title="Cannot import the data set",
            done=lambda result: self._on_imported(result, root))

    def choose_export(self, *, ucf_lists: bool) -> None:
        """Ask for the test share (with UCF-101 lists) and the folder, then export."""
        share = DEFAULT_TEST_SHARE
        if ucf_lists:
            share, ok = QInputDialog.getInt(
                self._widget, "UCF-101 style lists",
                "Share of each class's clips in the test list (%):", DEFAULT_TEST_SHARE, 0, 90)
            if not ok:
                return
        folder = QFileDialog.getExistingDirectory(self._widget, "Export labels into folder",
                                                  str(self._keeper.start_directory()))
        if not folder:
            return
        target = Path(folder)
        if any(target.iterdir()):  # keep what is there: export into a new folder inside
            path = self._keeper.project.path
            stem = path.stem if path is not None else "labels"
            base = target / f"{stem}-dataset"
            target, n = base, 1
            while target.exists():
                n += 1
                target = base.with_name(f"{base.name}-{n}")
        self.export_to(target, ucf_lists=ucf_lists, test_share=share / 100)

    def choose_import(self, kind: str) -> None:
        """Ask for the data set's folder, then import it."""
        caption = ("Import a folder of class folders" if kind == "folder"
                   else "Import a UCF-101 style data set (the folder of class folders)")
        folder = QFileDialog.getExistingDirectory(self._widget, caption,
                                                  str(self._keeper.start_directory()))
        if folder:
            self.import_from(kind, Path(folder))

    def _on_exported(self, result: object) -> None:
        if not isinstance(result, ExportedDataset):  # pragma: no cover
            return
        lists = " with UCF-101 lists" if result.train_list is not None else ""
        self._show_message(f"Exported {result.clip_count} clips{lists} to {result.folder}", 8000)
        self._settings.setValue("paths/last_export_directory", str(result.folder.parent))

    def _on_imported(self, result: object, root: Path) -> None:
        if not isinstance(result, ImportedLabels):  # pragma: no cover
            return
        counts: list[tuple[int, int]] = []
        self._keeper.edit(f"Import {root.name}",
                          lambda p: counts.append(p.add_imported(result)))
        classes, segments = counts[0] if counts else (0, 0)
        skipped = (f"; {len(result.skipped)} unreadable videos left out"
                   if result.skipped else "")
        self._show_message(
            f"Imported {segments} segments and {classes} new classes from {root.name}"
            f"{skipped}", 8000)
        if result.skipped:
            log.warning("import of %s left out: %s", root,
                        "; ".join(f"{s.path}: {s.reason}" for s in result.skipped[:10]))
