"""The run page of the fine-tuning dialog: watch a run train, and see what came out.

A progress bar with the time left, live loss and accuracy curves, and at the end the
validation accuracy, which epoch's model was kept and why (with a plain warning when too few
windows were kept aside for that choice to be sure), per-class accuracy and the confusion
matrix, or why the run stopped, with the buttons that act on the run (Cancel, Continue
training, Use this model, New run…).

`RunPage` is a part of `FineTuneDialog` (app/widgets/finetune_dialog.py), mixed into it: its
widgets are the dialog's own attributes (`dialog.use_button`, `dialog.curves`, …), and its
buttons emit the dialog's signals.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.names import display_name
from app.services.results import rough_threshold
from app.services.training_runs import RunResults
from app.theme import ACCENT, RAISED, TEXT
from app.widgets.finetune_settings import PROBLEM_COLOR
from app.widgets.training_charts import ConfusionView, TrainingCurves
from stmanet.engine.events import (
    EpochEnded,
    Event,
    RunCancelled,
    RunFinished,
    RunStarted,
    StepProgress,
    ValidationProgress,
    format_duration,
)

PROGRESS_STEPS = 1000


def unknowns_line(results: RunResults) -> str:
    """A line on the model's "not a known action": that it cannot tell (its statistics
    failed or were cancelled), or that its threshold was set on few kept-aside clips; ""
    when there is nothing to warn of."""
    if results.model_path is None:
        return ""
    if results.openset is None:
        return ("This model cannot tell footage of none of its actions: everything gets one "
                "of its names.")
    rough = rough_threshold(results.openset)
    if rough is None:
        return ""
    rate = results.openset.get("known_rate")
    planned = f"the {rate:.0%} planned" if isinstance(rate, int | float) else "planned"
    if rough.training:
        return (f"\u201cNot a known action\u201d is decided by a threshold set on the "
                f"{rough.clips} clips it trained on ({rough.fewest} of the action with fewest), "
                f"as none were kept aside, so on new footage far more or fewer of your actions "
                f"may be called unknown than {planned}. Keep {rough.enough} or more clips per "
                "action aside (Validation) to set it.")
    return (f"\u201cNot a known action\u201d is decided by a threshold set on "
            f"{rough.clips} kept-aside clips ({rough.fewest} of the action with fewest), so "
            f"on new footage a few points more or fewer of your actions may be called unknown "
            f"than {planned}. {rough.enough} or more kept-aside clips per action set it "
            "closer.")


def _percent(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value * 100:.0f}%"


class RunPage:
    """The run page's widgets and behaviour, part of FineTuneDialog."""

    def _build_run_page(self) -> QWidget:
        self._total_epochs = 1
        page = QWidget()
        self._run_heading = QLabel()
        self._run_heading.setObjectName("panelHeading")
        self._run_caption = QLabel()
        self._run_caption.setObjectName("panelCaption")
        self._run_caption.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, PROGRESS_STEPS)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedHeight(8)
        self.progress_bar.setStyleSheet(
            f"QProgressBar {{ background: {RAISED}; border: none; border-radius: 4px; }}"
            f"QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}")
        self.progress_label = QLabel("Starting…")
        self.progress_label.setObjectName("panelHeading")
        self.status_label = QLabel()
        self.curves = TrainingCurves()

        self.result_label = QLabel()
        self.result_label.setObjectName("resultHeadline")
        self.result_label.setStyleSheet(f"font-size: 15px; font-weight: 600; color: {TEXT};")
        self.result_label.setWordWrap(True)
        self.kept_label = QLabel()
        self.kept_label.setObjectName("panelCaption")
        self.kept_label.setWordWrap(True)
        self.kept_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.noisy_label = QLabel()
        self.noisy_label.setWordWrap(True)
        self.noisy_label.setStyleSheet(f"color: {PROBLEM_COLOR};")
        self.unknowns_label = QLabel()
        self.unknowns_label.setObjectName("panelCaption")
        self.unknowns_label.setWordWrap(True)
        self.per_class_table = QTableWidget(0, 3)
        self.per_class_table.setHorizontalHeaderLabels(["Action", "Clips", "Accuracy"])
        self.per_class_table.verticalHeader().setVisible(False)
        self.per_class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.per_class_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.confusion = ConfusionView()
        self.saved_label = QLabel()
        self.saved_label.setObjectName("panelCaption")
        self.saved_label.setWordWrap(True)
        self.saved_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        tables = QHBoxLayout()
        tables.addWidget(self.per_class_table, 1)
        tables.addWidget(self.confusion, 1)
        self._results = QWidget()
        results_layout = QVBoxLayout(self._results)
        results_layout.setContentsMargins(0, 4, 0, 0)
        results_layout.addWidget(self.result_label)
        results_layout.addWidget(self.kept_label)
        results_layout.addWidget(self.noisy_label)
        results_layout.addWidget(self.unknowns_label)
        results_layout.addLayout(tables, 1)
        results_layout.addWidget(self.saved_label)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_view = QPlainTextEdit()
        self.details_view.setReadOnly(True)
        self.details_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = self.details_view.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.details_view.setFont(font)
        message_page = QWidget()
        message_layout = QVBoxLayout(message_page)
        message_layout.setContentsMargins(0, 4, 0, 0)
        message_layout.addWidget(self.message_label)
        message_layout.addWidget(self.details_view, 1)
        self._placeholder = QLabel("When training ends, its results show here: the accuracy "
                                   "on the kept-aside clips, for each action, and which "
                                   "actions the model mixes up.")
        self._placeholder.setObjectName("panelCaption")
        self._placeholder.setWordWrap(True)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # one area under the curves, so that they keep their size (drawing a figure anew is
        # slow) whatever shows below them
        self._below = QStackedWidget()
        for widget in (self._placeholder, self._results, message_page):
            self._below.addWidget(widget)

        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel)
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.useModelRequested)
        self.continue_button = QPushButton("Continue training")
        self.continue_button.clicked.connect(self.continueRequested)
        self.again_button = QPushButton("New run…")
        self.again_button.clicked.connect(self.newRunRequested)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.again_button)
        buttons.addStretch(1)
        for button in (self.cancel_button, self.continue_button, self.close_button,
                       self.use_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._run_heading)
        layout.addWidget(self._run_caption)
        progress_row = QHBoxLayout()
        progress_row.setSpacing(12)
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.progress_label)
        layout.addLayout(progress_row)
        layout.addWidget(self.status_label)
        layout.addWidget(self.curves, 4)
        layout.addWidget(self._below, 5)
        layout.addLayout(buttons)
        self.curves.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        return page

    def show_running(self, heading: str, *, epochs: int = 1, classes: int = 2,
                     resumed: bool = False) -> None:
        """Switch to the run page for a run that is starting."""
        self._pages.setCurrentIndex(1)
        self._run_heading.setText(heading)
        self._run_caption.setText("Starting the training program…")
        self._total_epochs = max(1, epochs)
        if not resumed:
            self.curves.reset(epochs, classes)
            self.progress_bar.setValue(0)
        self._set_progress_text("Starting…")
        self.status_label.setText("")
        self._below.setCurrentWidget(self._placeholder)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.cancel_button.show()
        for button in (self.use_button, self.continue_button, self.again_button):
            button.hide()

    def show_history(self, heading: str, *, epochs: int, history: list[EpochEnded],
                     caption: str = "", classes: int = 2) -> None:
        """The run page for a run of an earlier session: its curves and progress so far
        (a run continued from its folder, or a finished one looked at again)."""
        self._pages.setCurrentIndex(1)
        self._run_heading.setText(heading)
        self._run_caption.setText(caption)
        self._total_epochs = max(1, epochs)
        self.curves.reset(epochs, classes)
        for event in history:
            self.curves.add_epoch(event)
        done = max((e.epoch for e in history), default=0)
        self._set_progress(done, 0, 1)
        self.status_label.setText("")

    def on_event(self, event: Event) -> None:
        """Show one progress event of the training process."""
        if isinstance(event, RunStarted):
            self._total_epochs = max(1, event.total_epochs)
            self.curves.set_total_epochs(self._total_epochs)
            device = "the GPU" if event.device.startswith("cuda") else "the CPU"
            self._run_caption.setText(
                f"On {device}: {len(event.classes)} actions, {event.train_clips} clips to "
                f"learn from, {event.val_clips} kept aside to measure the model.")
            self._set_progress(event.start_epoch, 0, 1)
        elif isinstance(event, StepProgress):
            self.curves.add_step(event)
            self._set_progress(event.epoch - 1, event.step, event.steps)
            loss = "–" if event.loss is None else f"{event.loss:.3f}"
            left = format_duration(event.eta_s)
            self.status_label.setText(
                f"Step {event.step} of {event.steps} · loss {loss} · accuracy "
                f"{_percent(event.accuracy)} · about {left} left")
        elif isinstance(event, ValidationProgress):
            self.status_label.setText(f"Measuring on the kept-aside clips: {event.done} of "
                                      f"{event.total}")
        elif isinstance(event, EpochEnded):
            self.curves.add_epoch(event)
            self._set_progress(event.epoch, 0, 1)
            val = "" if event.val_acc is None else f", validation {_percent(event.val_acc)}"
            self.status_label.setText(f"Epoch {event.epoch} done: training "
                                      f"{_percent(event.train_acc)}{val}")
        elif isinstance(event, RunFinished):
            self.progress_bar.setValue(PROGRESS_STEPS)
        elif isinstance(event, RunCancelled):
            self.status_label.setText("Stopped; the state is saved.")

    def _set_progress(self, epochs_done: int, step: int, steps: int) -> None:
        share = (epochs_done + step / max(1, steps)) / self._total_epochs
        self.progress_bar.setValue(round(min(1.0, share) * PROGRESS_STEPS))
        percent = f"{min(1.0, share) * 100:.0f}%"
        shown = min(self._total_epochs, epochs_done + (1 if step else 0)) or 1
        self._set_progress_text(f"Epoch {shown} of {self._total_epochs}  ·  {percent}")

    def progress_text(self) -> str:
        return self.progress_label.text()

    def _set_progress_text(self, text: str) -> None:
        self.progress_label.setText(text)

    def _on_cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.status_label.setText("Stopping after the current step and saving the state…")
        self.cancelRequested.emit()

    def _run_ended(self) -> None:
        self.cancel_button.hide()
        self.again_button.show()
        self.curves.flush()

    def show_results(self, results: RunResults, saved_as: Path | None) -> None:
        """The run finished: its validation results and where the model was saved."""
        self._run_ended()
        self.progress_bar.setValue(PROGRESS_STEPS)
        self._set_progress_text("Done")
        self.status_label.setText("")
        if results.val_accuracy is None:
            self.result_label.setText("Training finished. No clips were kept aside, so how "
                                      "well the model does is not known.")
        else:
            self.result_label.setText(
                f"Validation accuracy: {_percent(results.val_accuracy)}  "
                f"({results.val_clips} kept-aside clips)")
        self._show_selection(results)
        self.unknowns_label.setText(unknowns_line(results) if saved_as else "")
        self.unknowns_label.setVisible(bool(self.unknowns_label.text()))
        clips = results.class_clips()
        self.per_class_table.setRowCount(len(results.class_names))
        for row, name in enumerate(results.class_names):
            accuracy = results.per_class.get(name)
            cells = (display_name(name), str(clips.get(name, 0)), _percent(accuracy))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if col == 2 and accuracy is not None and accuracy < 0.5:
                    item.setForeground(QColor(PROBLEM_COLOR))
                self.per_class_table.setItem(row, col, item)
        has_matrix = bool(results.confusion)
        self.per_class_table.setVisible(has_matrix)
        self.confusion.setVisible(has_matrix)
        if has_matrix:
            self.confusion.set_matrix(results.confusion, results.class_names)
        self.saved_label.setText(f"Saved in the project's folder as {saved_as.parent.name}/"
                                 f"{saved_as.name}" if saved_as else "")
        self.saved_label.setToolTip(str(saved_as) if saved_as else "")
        self._below.setCurrentWidget(self._results)
        self.use_button.setVisible(saved_as is not None)
        self.use_button.setEnabled(True)
        self.use_button.setText("Use this model")
        self.use_button.setDefault(True)

    def _show_selection(self, results: RunResults) -> None:
        """Which epoch's model the run kept and why; a plain warning when the trainer found
        too few validation windows for a sure choice."""
        epoch = results.kept_epoch
        last = (results.selection or {}).get("last_epoch") or len(results.history)
        if epoch is None:
            self.kept_label.setText("")
        else:
            of = f" of {last}" if last else ""
            reason = results.selection_reason
            self.kept_label.setText(f"Kept the model of epoch {epoch}{of}"
                                    + (f": {reason}." if reason else "."))
        self.kept_label.setVisible(epoch is not None)
        windows = results.validation_windows
        if results.noisy_choice and windows:
            self.noisy_label.setText(
                f"Only {windows} windows were kept aside to measure the model, so which epoch "
                f"is best is a noisy choice: one window more or less right moves the accuracy "
                f"by {100 / windows:.0f} points. Label more segments, or keep a larger share "
                "aside, for a surer choice.")
        else:
            self.noisy_label.setText("")
        self.noisy_label.setVisible(bool(self.noisy_label.text()))

    def unknowns_text(self) -> str:
        """What the dialog says about telling footage of none of the model's actions."""
        label = self.unknowns_label
        return label.text() if label.isVisibleTo(self) else ""

    def kept_text(self) -> str:
        """What the dialog says about the kept epoch (and, with few windows, its warning)."""
        return " ".join(label.text() for label in (self.kept_label, self.noisy_label)
                        if label.isVisibleTo(self) and label.text())

    def per_class_rows(self) -> list[tuple[str, str, str]]:
        table = self.per_class_table
        return [tuple(table.item(r, c).text() for c in range(3))  # type: ignore[misc]
                for r in range(table.rowCount())]

    def show_model_in_use(self) -> None:
        self.use_button.setEnabled(False)
        self.use_button.setText("In use")

    def show_cancelled(self, message: str, *, can_continue: bool) -> None:
        self._run_ended()
        self._set_progress_text(
            f"Cancelled at {self.progress_bar.value() * 100 / PROGRESS_STEPS:.0f}%")
        self.status_label.setText("")
        text = message
        if can_continue:
            text += " Its state is saved: Continue training picks it up where it stopped."
        self._show_message(text, "")
        self.continue_button.setVisible(can_continue)

    def show_failed(self, message: str, details: str) -> None:
        self._run_ended()
        self._set_progress_text("Stopped")
        self.status_label.setText("")
        self._show_message(f"Training failed. {message}", details)

    def _show_message(self, text: str, details: str) -> None:
        self.message_label.setText(text)
        self._below.setCurrentIndex(2)
        self.details_view.setPlainText(details)
        self.details_view.setVisible(bool(details))
        if details:
            bar = self.details_view.verticalScrollBar()
            bar.setValue(bar.maximum())

    def message_text(self) -> str:
        return self.message_label.text() if self._below.currentIndex() == 2 else ""

    def details_text(self) -> str:
        return self.details_view.toPlainText()
