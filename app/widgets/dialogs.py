"""Dialogs of the recognition features: the model's details, the session summary, the
progress of a background job, and a yes-or-cancel question."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.names import display_name
from app.services.results import ActionTime, ModelInfo
from app.widgets.overlay import class_color
from app.widgets.player import format_time

if TYPE_CHECKING:
    from app.services.export import BackgroundJob


def ask(parent: QWidget, title: str, text: str, accept: str, *, details: str = "") -> bool:
    """A question with two buttons, `accept` and Cancel; True when `accept` was clicked."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    if details:
        box.setInformativeText(details)
    accept_button = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(accept_button)
    box.exec()
    return box.clickedButton() is accept_button


def job_progress_dialog(job: BackgroundJob, parent: QWidget, *, title: str, text: str,
                        min_duration_ms: int, on_end: Callable[[], None]) -> QProgressDialog:
    """A window-modal progress dialog that follows `job`: its bar fills as the job reports,
    its Cancel cancels the job, and it closes itself when the job finishes, fails or is
    cancelled, calling `on_end()` then. Connect the job's outcome handlers after this call:
    they run after the dialog is gone."""
    dialog = QProgressDialog(text, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(min_duration_ms)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(job.cancel)

    def progressed(done: int, total: int) -> None:
        if dialog.maximum() != total:
            dialog.setMaximum(total)
        dialog.setValue(done)

    def ended(*_: object) -> None:
        dialog.canceled.disconnect(job.cancel)
        dialog.close()
        dialog.deleteLater()
        on_end()

    job.progressed.connect(progressed)
    for outcome in (job.finished, job.failed, job.cancelled):
        outcome.connect(ended)
    return dialog


def color_icon(color: QColor, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(color)
    return QIcon(pixmap)


def _provenance_text(provenance: dict[str, object]) -> str:
    rows = []
    for key, value in provenance.items():
        shown = value if isinstance(value, str | int | float) else json.dumps(value)
        rows.append(f"<tr><td style='padding-right:12px'>{html.escape(str(key))}</td>"
                    f"<td>{html.escape(str(shown))}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else "—"


class ModelInfoDialog(QDialog):
    """What a checkpoint is: architecture, input, where it came from, and its classes."""

    def __init__(self, info: ModelInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {info.name}")
        self.resize(520, 560)
        form = QFormLayout()
        form.addRow("File", self._selectable(str(info.path)))
        form.addRow("Network", QLabel(info.architecture))
        form.addRow("Parameters", QLabel(f"{info.parameters / 1e6:.2f} M"))
        form.addRow("Input", QLabel(
            f"{info.frames} frames, one in {info.frame_stride} of a {info.window}-frame window; "
            f"{info.size} × {info.size} centre crop"))
        form.addRow("Device", QLabel(info.device_name))
        provenance = QLabel(_provenance_text(info.provenance))
        provenance.setWordWrap(True)
        form.addRow("Provenance", provenance)
        if info.report:
            accuracy = {k: v for k, v in info.report.items()
                        if k in ("top1", "top5", "videos", "protocol")}
            form.addRow("Evaluation", QLabel(_provenance_text(accuracy)))

        self.classes = QListWidget(self)
        self.classes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for index, name in enumerate(info.class_names):
            QListWidgetItem(color_icon(class_color(index)), display_name(name), self.classes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel(f"{len(info.class_names)} actions", self))
        layout.addWidget(self.classes, 1)
        layout.addWidget(buttons)

    @staticmethod
    def _selectable(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label


class SessionSummaryDialog(QDialog):
    """Time spent per action in the analysed windows, longest first; exportable as CSV."""

    def __init__(self, rows: Sequence[ActionTime], class_colors: dict[str, QColor], *,
                 source: str, covered_s: float, duration_s: float | None,
                 export: Callable[[], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Session summary: {source}")
        self.resize(460, 420)
        self.rows = list(rows)
        self.table = QTableWidget(len(self.rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Action", "Time", "Share"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for n, row in enumerate(self.rows):
            name = QTableWidgetItem(display_name(row.label))
            name.setIcon(color_icon(class_colors.get(row.label, QColor("#888888"))))
            self.table.setItem(n, 0, name)
            self.table.setItem(n, 1, QTableWidgetItem(f"{row.seconds:.1f} s"))
            self.table.setItem(n, 2, QTableWidgetItem(f"{row.share * 100:.0f}%"))
        where = f"{format_time(covered_s)} with predictions"
        if duration_s is not None:
            where += f" of {format_time(duration_s)}"
        caption = QLabel(where, self)
        caption.setObjectName("panelCaption")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        self.export_button: QPushButton | None = None
        if export is not None:
            self.export_button = buttons.addButton("Export CSV…",
                                                   QDialogButtonBox.ButtonRole.ActionRole)
            self.export_button.clicked.connect(export)
            self.export_button.setEnabled(bool(self.rows))
        layout = QVBoxLayout(self)
        if not self.rows:
            layout.addWidget(QLabel("No predictions yet: play the video or analyse it "
                                    "(Recognition ▸ Analyse whole video).", self))
        layout.addWidget(self.table, 1)
        layout.addWidget(caption)
        layout.addWidget(buttons)
