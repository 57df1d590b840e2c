"""Dialogs of the recognition features: the model's details, the session summary, the
progress of a background job, and a yes-or-cancel question."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
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
from app.services.counts import ActionReps
from app.services.results import ActionTime, ModelInfo
from app.widgets.overlay import class_color
from app.widgets.player import format_time

if TYPE_CHECKING:
    from app.services.jobs import BackgroundJob


def ask(parent: QWidget | None, title: str, text: str, accept: str, *, details: str = "",
        reject: str | None = None, accept_by_default: bool = True) -> bool:
    """A question with two buttons, `accept` and `reject` (Cancel when None); True when
    `accept` was clicked. Enter answers the default (`accept`, unless `accept_by_default` is
    off), Escape answers `reject`."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    if details:
        box.setInformativeText(details)
    accept_button = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
    reject_button = (box.addButton(QMessageBox.StandardButton.Cancel) if reject is None
                     else box.addButton(reject, QMessageBox.ButtonRole.RejectRole))
    box.setDefaultButton(accept_button if accept_by_default else reject_button)
    box.setEscapeButton(reject_button)
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


def _channels(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.3f}" for v in values) + " (R / G / B)" if values else "—"


def _made(provenance: dict[str, Any]) -> str:
    """How a model was made, in words: trained (from what, on what), imported, …"""
    source = str(provenance.get("source", ""))
    if source == "train":
        init = (provenance.get("origin") or {}).get("init", "")
        text = {"scratch": "Trained from scratch", "": "Trained"}.get(
            str(init), f"Fine-tuned from {init}")
        epoch = provenance.get("epoch")
        if epoch is not None:
            text += f", {epoch} epochs"
        data = (provenance.get("data") or {}).get("train")
        return f"{text} on {data}" if data else text
    if source.startswith("hara-import:"):
        return f"Imported from {source.split(':', 1)[1]}"
    return source or "—"


def _when(provenance: dict[str, Any]) -> str:
    created = provenance.get("created")
    try:
        stamp = datetime.fromisoformat(str(created))
    except ValueError:
        return str(created) if created else "—"
    return stamp.astimezone().strftime("%d %B %Y, %H:%M")


def _accuracy(report: dict[str, Any] | None) -> str:
    if not report or report.get("top1") is None:
        return "not recorded"
    text = f"{report['top1'] * 100:.1f}% top-1"
    if report.get("top5") is not None:
        text += f", {report['top5'] * 100:.1f}% top-5"
    clips = report.get("count") or report.get("videos")
    where = report.get("data")
    if clips:
        text += f" on {clips} videos"
    if where:
        text += f" of {where}"
    return text


SCORE_WORDS = {
    "mahalanobis+relative+softmax": "how far from its training footage or between its "
                                    "actions, and how unsure it is",
    "mahalanobis+softmax": "how far from its training footage, and how unsure it is",
    "mahalanobis": "how far from its training footage",
    "energy": "energy of its scores", "max_logit": "its top raw score",
    "max_softmax": "how unsure it is",
}


def _unknowns(info: ModelInfo) -> str:
    """Whether the model tells footage of actions it does not know, and its threshold."""
    if not info.can_tell_unknowns:
        return ("cannot tell: it carries no open-set statistics, so everything gets one of "
                "its classes")
    stats = info.open_set or {}
    threshold, score = stats.get("threshold"), stats.get("score")
    told = f"yes: novelty over {threshold:.3g}" if isinstance(threshold, int | float) else "yes"
    if score:
        told += f" ({SCORE_WORDS.get(score, score)})"
    if stats.get("mirror"):
        told += ", each window judged with its mirror image (two passes of the network)"
        if stats.get("trail"):
            told += " and together with the window before it"
    elif stats.get("trail"):
        told += ", each window judged together with the window before it"
    rate = stats.get("known_rate")
    if isinstance(rate, int | float):
        calibration = stats.get("calibration") or {}
        subset = str(calibration.get("subset") or "validation")
        windows = "validation" if subset == "validation" else "training"
        # a threshold with a margin, not on training windows scored in sample
        if isinstance(calibration.get("confidence"), float) and "in sample" not in subset:
            told += (f", set on its {windows} windows so that {rate * 100:.0f}% of new footage "
                     f"of its actions is known")
        else:
            told += f", set so that {rate * 100:.0f}% of its {windows} windows are known"
        if (rough := info.rough_threshold) is not None:
            off = "far" if rough.training else "a few points"
            told += (f" (on only {rough.clips} clips, {rough.fewest} of the action with "
                     f"fewest: on new footage the share may be {off} off)")
    return told + f"; sensitivity {info.sensitivity} (Recognition menu)"


def model_info_html(info: ModelInfo) -> str:
    """The model's details as an HTML table: the model, its input, where it came from."""
    prov = info.provenance

    def section(title: str) -> str:
        return (f"<tr><td colspan='2' style='padding-top:10px'><b>{html.escape(title)}</b>"
                "</td></tr>")

    def row(key: str, value: object) -> str:
        return (f"<tr><td style='padding-right:14px; color:gray'>{html.escape(key)}</td>"
                f"<td>{html.escape(str(value))}</td></tr>")

    rows = [
        section("Model"),
        row("Variant", info.variant or "—"),
        row("Network", info.architecture),
        row("Size", f"{info.parameters / 1e6:.2f} M parameters"),
        row("Runs on", info.device_name),
        row("File", info.path),
        section("Input"),
        row("Frames", f"{info.frames}, one in {info.frame_stride} of a {info.window}-frame "
                      "window"),
        row("Crop", f"{info.size} × {info.size} pixels, from the centre"),
        row("Mean", _channels(info.mean)),
        row("Std", _channels(info.std)),
        section("What it can tell"),
        row("Unknown actions", _unknowns(info)),
        row("Attention", "trained: the maps show where it looked" if info.attention_trained
            else "never trained: its maps show nothing yet"),
        section("Provenance"),
        row("Made", _made(prov)),
        row("When", _when(prov)),
        row("Accuracy", _accuracy(info.report)),
    ]
    if prov.get("stmanet_version"):
        rows.append(row("Made with", f"stmanet {prov['stmanet_version']}"))
    if prov.get("note"):
        rows.append(row("Note", prov["note"]))
    return f"<table cellspacing='0' cellpadding='2'>{''.join(rows)}</table>"


class ModelInfoDialog(QDialog):
    """What a checkpoint is: the model, its input, where it came from, and its classes."""

    def __init__(self, info: ModelInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {info.name}")
        self.resize(560, 600)
        self.details = QLabel(model_info_html(info), self)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.classes = QListWidget(self)
        self.classes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for index, name in enumerate(info.class_names):
            QListWidgetItem(color_icon(class_color(index)), display_name(name), self.classes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.addWidget(self.details)
        layout.addWidget(QLabel(f"<b>Classes</b>: {len(info.class_names)} actions", self))
        layout.addWidget(self.classes, 1)
        layout.addWidget(buttons)


def _reps_text(reps: ActionReps | None) -> str:
    """An action's repetitions in the summary: the count, "—" where none was counted."""
    if reps is None or not reps.segments:
        return "—"
    return str(reps.reps) + (f" (+{reps.not_counted} not counted)" if reps.not_counted else "")


class SessionSummaryDialog(QDialog):
    """Time spent per action, longest first, and what it counts (`basis`: the per-frame
    result of a whole-video analysis, or the windows seen), with the repetitions counted per
    action after a whole-video analysis (`reps`); exportable as CSV."""

    def __init__(self, rows: Sequence[ActionTime], class_colors: dict[str, QColor], *,
                 source: str, covered_s: float, duration_s: float | None,
                 basis: str = "", export: Callable[[], None] | None = None,
                 reps: Mapping[str, ActionReps] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Session summary: {source}")
        self.resize(460, 420)
        self.rows = list(rows)
        self.table = QTableWidget(len(self.rows), 4 if reps else 3, self)
        self.table.setHorizontalHeaderLabels(["Action", "Time", "Share", "Reps"][
            :self.table.columnCount()])
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
            if reps:
                self.table.setItem(n, 3, QTableWidgetItem(_reps_text(reps.get(row.label))))
        where = f"{format_time(covered_s)} with predictions"
        if duration_s is not None:
            where += f" of {format_time(duration_s)}"
        if basis and self.rows:
            where += f", counted over {basis}"
        self.caption = caption = QLabel(where, self)
        caption.setWordWrap(True)
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
