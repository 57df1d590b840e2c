"""The fine-tuning dialog: choose how to train, watch it train, see what came out.

Two pages. Settings: what the project holds (and what stands in the way of training), the
model to start from, what to train, epochs, learning rate, batch size, validation share,
device, and free-text extra `stmanet train` flags. Run: a progress bar with the time left,
live loss and accuracy curves, and at the end the validation accuracy, per-class accuracy
and the confusion matrix, or why the run stopped. The dialog only shows and asks; the
FineTuneController (app/training.py) runs the training process and stores the model.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.names import display_name
from app.services.training import (
    FREEZE_CHOICES,
    BaseModel,
    EpochEnded,
    Event,
    ProjectCheck,
    RunCancelled,
    RunFinished,
    RunResults,
    RunStarted,
    StepProgress,
    ValidationProgress,
    format_duration,
    kinetics_depth,
)
from app.theme import ACCENT, BORDER, PANEL, RAISED, TEXT, TEXT_MUTED

VAL_COLOR = "#6aa9ff"
PROBLEM_COLOR = "#ff8a7a"
PROGRESS_STEPS = 1000
KINETICS_FILTER = "Kinetics weights of Hara et al. (*.pth);;All files (*)"
DEVICE_NAMES = {"auto": "Automatic (the GPU when there is one)", "cpu": "CPU",
                "cuda": "CUDA GPU"}


@dataclass(frozen=True)
class FormValues:
    """What the settings page holds."""

    base: BaseModel
    freeze: str
    epochs: int
    lr: float
    batch_size: int
    val_share: float
    device: str
    name: str
    extra: tuple[str, ...]


def _percent(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value * 100:.0f}%"


def _style_axes(ax, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, fontsize=9, loc="left")
    ax.tick_params(colors=TEXT_MUTED, labelsize=8)
    for spine in ax.spines.values():
        spine.set_color(BORDER)
    ax.grid(True, color=BORDER, linewidth=0.6)
    ax.set_xlabel("epoch", color=TEXT_MUTED, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


class TrainingCurves(FigureCanvasQTAgg):
    """Loss and accuracy per epoch, training and validation, plus the running training
    values within the epoch under way.

    A full matplotlib draw takes a tenth of a second or more on a slow CPU, so the axes are
    drawn only when their scale changes (or the widget is resized); new points redraw just
    the lines over the saved background (blitting), at most every REDRAW_MS."""

    REDRAW_MS = 500

    def __init__(self, parent: QWidget | None = None) -> None:
        self._figure = Figure(figsize=(6.4, 2.4), dpi=100, facecolor=PANEL)
        super().__init__(self._figure)
        self.setParent(parent)
        self.setMinimumHeight(190)
        self._loss_ax, self._acc_ax = self._figure.subplots(1, 2)
        self._figure.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.86, wspace=0.22)
        for ax, title in ((self._loss_ax, "Loss"), (self._acc_ax, "Accuracy")):
            _style_axes(ax, title)
        self._acc_ax.set_ylim(0, 1.02)
        self._acc_ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        faint = {"color": ACCENT, "alpha": 0.35, "linewidth": 1, "animated": True}
        train = {"color": ACCENT, "marker": "o", "markersize": 3, "linewidth": 1.5,
                 "animated": True}
        val = {**train, "color": VAL_COLOR}
        self._lines = {
            "loss_steps": self._loss_ax.plot([], [], **faint)[0],
            "acc_steps": self._acc_ax.plot([], [], **faint)[0],
            "loss_train": self._loss_ax.plot([], [], label="training", **train)[0],
            "acc_train": self._acc_ax.plot([], [], label="training", **train)[0],
            "loss_val": self._loss_ax.plot([], [], label="validation", **val)[0],
            "acc_val": self._acc_ax.plot([], [], label="validation", **val)[0],
        }
        legend = self._figure.legend(
            handles=[self._lines["acc_train"], self._lines["acc_val"]], loc="upper right",
            ncols=2, fontsize=8, frameon=False, bbox_to_anchor=(0.99, 1.0))
        for text in legend.get_texts():
            text.set_color(TEXT_MUTED)
        self._backgrounds: dict[object, object] | None = None
        self.mpl_connect("draw_event", self._on_full_draw)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.REDRAW_MS)
        self._timer.timeout.connect(self._update_lines)
        self.full_draws = 0  # how often the whole figure was drawn (tests watch it)
        self.reset(1)

    def reset(self, epochs: int, classes: int = 2) -> None:
        """Empty curves for a run of `epochs` epochs over `classes` classes."""
        self.steps: list[tuple[float, float | None, float]] = []  # (x, loss, accuracy)
        self.epochs: list[EpochEnded] = []
        # a classifier starts near a loss of ln(classes): room above that, so the axes
        # (a full draw) seldom have to change
        self._loss_top = round(1.5 * math.log(max(2, classes)) + 0.3, 1)
        self._loss_ax.set_ylim(0, self._loss_top)
        self._total = 0
        self.set_total_epochs(epochs)

    def set_total_epochs(self, epochs: int) -> None:
        if max(1, epochs) == self._total:
            return
        self._total = max(1, epochs)
        for ax in (self._loss_ax, self._acc_ax):
            ax.set_xlim(0, self._total)
        self._set_data()
        self._backgrounds = None
        self.draw_idle()

    def add_step(self, event: StepProgress) -> None:
        x = event.epoch - 1 + event.step / max(1, event.steps)
        self.steps.append((x, event.loss, event.accuracy))
        self._schedule()

    def add_epoch(self, event: EpochEnded) -> None:
        self.epochs = [e for e in self.epochs if e.epoch != event.epoch] + [event]
        self.flush()  # once an epoch: show it at once

    def flush(self) -> None:
        """Draw what has come in now (the run ended)."""
        self._timer.stop()
        self._update_lines()

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _set_data(self) -> bool:
        """Give the lines their points; True when the loss axis had to grow."""
        def values(items: list, get) -> list[float]:
            return [math.nan if get(i) is None else float(get(i)) for i in items]

        xs = [s[0] for s in self.steps]
        step_loss = values(self.steps, lambda s: s[1])
        self._lines["loss_steps"].set_data(xs, step_loss)
        self._lines["acc_steps"].set_data(xs, values(self.steps, lambda s: s[2]))
        epochs = [e.epoch for e in self.epochs]
        train_loss = values(self.epochs, lambda e: e.train_loss)
        val_loss = values(self.epochs, lambda e: e.val_loss)
        self._lines["loss_train"].set_data(epochs, train_loss)
        self._lines["acc_train"].set_data(epochs, values(self.epochs, lambda e: e.train_acc))
        self._lines["loss_val"].set_data(epochs, val_loss)
        self._lines["acc_val"].set_data(epochs, values(self.epochs, lambda e: e.val_acc))
        # the training loss sets the scale; a validation loss far above it (an untrained
        # classifier's first epochs) runs off the top rather than flattening the rest
        train_high = max((v for v in step_loss + train_loss if math.isfinite(v)), default=0.0)
        highest = max((v for v in [*step_loss, *train_loss, *val_loss]
                       if math.isfinite(v) and v <= 3 * train_high), default=0.0)
        if highest > self._loss_top:
            self._loss_top = highest * 1.3
            self._loss_ax.set_ylim(0, self._loss_top)
            return True
        return False

    def _on_full_draw(self, _event: object) -> None:
        self.full_draws += 1
        self._backgrounds = {ax: self.copy_from_bbox(ax.bbox)
                             for ax in (self._loss_ax, self._acc_ax)}
        self._draw_lines()

    def _draw_lines(self) -> None:
        for line in self._lines.values():
            line.axes.draw_artist(line)

    def _update_lines(self) -> None:
        rescaled = self._set_data()
        if rescaled or self._backgrounds is None:
            self.draw_idle()  # the axes change: a full draw, then the lines over it
            return
        for background in self._backgrounds.values():
            self.restore_region(background)
        self._draw_lines()
        for ax in self._backgrounds:
            self.blit(ax.bbox)


class ConfusionView(FigureCanvasQTAgg):
    """The confusion matrix: rows the true action, columns the predicted one; each cell's
    count, coloured by its share of the row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self._figure = Figure(figsize=(3.2, 2.8), dpi=100, facecolor=PANEL,
                              layout="constrained")
        super().__init__(self._figure)
        self.setParent(parent)
        self.setMinimumSize(260, 220)
        self.matrix: list[list[int]] = []
        self.class_names: list[str] = []
        self._colors = LinearSegmentedColormap.from_list("share", [RAISED, ACCENT])

    def set_matrix(self, matrix: list[list[int]], class_names: list[str]) -> None:
        self.matrix, self.class_names = matrix, class_names
        self._figure.clear()
        ax = self._figure.add_subplot(1, 1, 1)
        ax.set_facecolor(PANEL)
        k = len(class_names)
        if k:
            rows = [sum(r) or 1 for r in matrix]
            shares = [[v / rows[i] for v in row] for i, row in enumerate(matrix)]
            ax.imshow(shares, cmap=self._colors, vmin=0.0, vmax=1.0)
            names = [display_name(n) for n in class_names]
            short = [n if len(n) <= 14 else n[:13] + "…" for n in names]
            font = 8 if k <= 8 else 6
            ax.set_xticks(range(k), labels=short, rotation=30, ha="right", fontsize=font,
                          color=TEXT_MUTED)
            ax.set_yticks(range(k), labels=short, fontsize=font, color=TEXT_MUTED)
            if k <= 15:
                for i in range(k):
                    for j in range(k):
                        ax.text(j, i, str(matrix[i][j]), ha="center", va="center",
                                fontsize=9 if k <= 8 else 7,
                                color="#0b0c0d" if shares[i][j] > 0.5 else TEXT)
            ax.set_xlabel("predicted", color=TEXT_MUTED, fontsize=8)
            ax.set_ylabel("true action", color=TEXT_MUTED, fontsize=8)
            for spine in ax.spines.values():
                spine.set_color(BORDER)
            ax.tick_params(length=0)
        self.draw_idle()


class FineTuneDialog(QDialog):
    """Signals: trainRequested(FormValues), cancelRequested(), continueRequested(),
    useModelRequested(), newRunRequested(): the controller acts on them.

    Not modal: closing it only hides it, a run goes on, and Train ▸ Fine-tune on project…
    shows it again."""

    trainRequested = Signal(object)
    cancelRequested = Signal()
    continueRequested = Signal()
    useModelRequested = Signal()
    newRunRequested = Signal()

    def __init__(self, bases: list[BaseModel], devices: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fineTuneDialog")
        self.setWindowTitle("Fine-tune on project")
        self.setModal(False)
        self.resize(860, 680)
        self._check: ProjectCheck | None = None
        self._total_epochs = 1
        self._last_base = 0
        self._auto_name = ""

        self._pages = QStackedWidget(self)
        self._pages.addWidget(self._build_settings_page(bases, devices))
        self._pages.addWidget(self._build_run_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addWidget(self._pages)

    # --- settings page -------------------------------------------------------------------

    def _build_settings_page(self, bases: list[BaseModel], devices: list[str]) -> QWidget:
        page = QWidget()
        self._project_heading = QLabel()
        self._project_heading.setObjectName("panelHeading")
        self._data_summary = QLabel()
        self._data_summary.setWordWrap(True)
        self._problems = QLabel()
        self._problems.setObjectName("dataProblems")
        self._problems.setWordWrap(True)
        self._problems.setStyleSheet(f"color: {PROBLEM_COLOR};")
        self._notes = QLabel()
        self._notes.setObjectName("panelCaption")
        self._notes.setWordWrap(True)

        self.base_combo = QComboBox()
        self._kinetics: BaseModel | None = None  # the .pth chosen, kept in the list
        self.freeze_combo = QComboBox()
        for value, (label, _) in FREEZE_CHOICES.items():
            self.freeze_combo.addItem(label, value)
        self.freeze_combo.setCurrentIndex(list(FREEZE_CHOICES).index("early"))
        self._freeze_help = QLabel()
        self._freeze_help.setObjectName("panelCaption")
        self._freeze_help.setWordWrap(True)
        self.freeze_combo.currentIndexChanged.connect(self._update_freeze_help)

        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setValue(15)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 1.0)
        self.lr_spin.setSingleStep(0.0005)
        self.lr_spin.setValue(0.002)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(2, 512)  # training needs batches of two or more clips
        self.batch_spin.setValue(8)
        self.val_spin = QSpinBox()
        self.val_spin.setRange(0, 50)
        self.val_spin.setValue(20)
        self.val_spin.setSuffix(" %")
        self.device_combo = QComboBox()
        for device in devices:
            self.device_combo.addItem(DEVICE_NAMES.get(device, device), device)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("a name for the new model")
        self.extra_edit = QLineEdit()
        self.extra_edit.setPlaceholderText("more `stmanet train` flags, e.g. --min-crop 0.8")
        self.extra_edit.setToolTip("Passed to `stmanet train` as they are; see "
                                   "`stmanet train --help`.")

        for field in (self.epochs_spin, self.lr_spin, self.batch_spin, self.val_spin):
            field.setMinimumWidth(90)
            field.setMaximumWidth(120)
        for field in (self.base_combo, self.freeze_combo, self.device_combo):
            field.setMinimumWidth(360)
            field.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.name_edit.setMaximumWidth(360)

        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(8)
        form.addRow("Start from", self.base_combo)
        form.addRow("Train", self.freeze_combo)
        form.addRow("", self._freeze_help)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Batch size", self.batch_spin)
        val_row = QHBoxLayout()
        val_row.setSpacing(8)
        val_row.addWidget(self.val_spin)
        val_caption = QLabel("of each action's segments, kept aside to measure the model")
        val_caption.setObjectName("panelCaption")
        val_row.addWidget(val_caption, 1)
        form.addRow("Validation", val_row)
        form.addRow("Device", self.device_combo)
        form.addRow("Model name", self.name_edit)
        form.addRow("Advanced", self.extra_edit)

        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self._on_train)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.train_button)

        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._project_heading)
        layout.addWidget(self._data_summary)
        layout.addWidget(self._problems)
        layout.addWidget(self._notes)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet(f"color: {BORDER};")
        layout.addWidget(line)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.set_bases(bases)
        self.base_combo.currentIndexChanged.connect(self._on_base_chosen)
        return page

    def set_project(self, project: Path, check: ProjectCheck) -> None:
        """Show what the project holds; Train is enabled only when it can be trained on."""
        self._check = check
        self.setWindowTitle(f"Fine-tune on {project.name}")
        self._project_heading.setText(f"Project: {project.name}")
        self._project_heading.setToolTip(str(project))
        if check.classes:
            counts = " · ".join(f"{display_name(name)} {check.counts.get(name, 0)}"
                                for name in check.classes)
            self._data_summary.setText(
                f"{len(check.classes)} actions, {check.segments} labelled segments: {counts}")
        else:
            self._data_summary.setText("")
        self._problems.setText("\n".join(f"• {p}" for p in check.problems))
        self._problems.setVisible(bool(check.problems))
        self._notes.setText("\n".join(check.notes))
        self._notes.setVisible(bool(check.notes))
        if self.name_edit.text() in ("", self._auto_name):  # the user's own name stays
            self.name_edit.setText(project.stem)
            self._auto_name = project.stem
        self._update_train_button()

    def problems_text(self) -> str:
        return self._problems.text() if self._problems.isVisible() else ""

    def notes_text(self) -> str:
        return self._notes.text() if self._notes.isVisible() else ""

    def set_bases(self, bases: list[BaseModel]) -> None:
        """The models a run can start from (a model file without a path is shown, but
        cannot be chosen); the choice stays when it is still offered."""
        chosen = self.base_combo.currentData()
        combo = self.base_combo
        combo.blockSignals(True)
        combo.clear()
        for base in [*bases, *([self._kinetics] if self._kinetics else [])]:
            combo.addItem(base.label, base)
            if base.kind == "model" and base.path is None:  # e.g. no demo model installed
                combo.model().item(combo.count() - 1).setEnabled(False)
        combo.addItem("Kinetics weights of Hara et al. (.pth)…", BaseModel("kinetics"))
        index = self._index_of(chosen) if chosen is not None else -1
        if index < 0:
            index = next(i for i in range(combo.count())
                         if combo.model().item(i).isEnabled())
        combo.setCurrentIndex(index)
        combo.blockSignals(False)
        self._on_base_chosen(index)

    def _index_of(self, base: BaseModel) -> int:
        return next((i for i in range(self.base_combo.count())
                     if self.base_combo.itemData(i) == base), -1)

    def select_base(self, kind: str, path: Path | None = None) -> bool:
        """Choose the starting point whose kind (and path) match; False when none does."""
        for i in range(self.base_combo.count()):
            base: BaseModel = self.base_combo.itemData(i)
            if base.kind == kind and (path is None or base.path == Path(path)):
                self.base_combo.setCurrentIndex(i)
                return True
        return False

    def current_base(self) -> BaseModel:
        return self.base_combo.currentData()

    def _on_base_chosen(self, index: int) -> None:
        base: BaseModel = self.base_combo.itemData(index)
        if base.kind == "kinetics" and base.path is None:
            file, _ = QFileDialog.getOpenFileName(self, "Kinetics weights (Hara et al.)", "",
                                                  KINETICS_FILTER)
            if not file:
                self.base_combo.setCurrentIndex(self._last_base)
                return
            path = Path(file)
            chosen = BaseModel("kinetics", path, f"Kinetics weights: {path.name}",
                               kinetics_depth(path) or 50)
            combo = self.base_combo
            combo.blockSignals(True)
            if self._kinetics is not None:  # one chosen .pth at a time
                combo.removeItem(self._index_of(self._kinetics))
                index = combo.count() - 1
            combo.insertItem(index, chosen.label, chosen)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)
            self._kinetics = chosen
            base = chosen
        self._last_base = index
        scratch = base.kind == "scratch"
        if scratch:
            self.freeze_combo.setCurrentIndex(list(FREEZE_CHOICES).index("none"))
        self.freeze_combo.setEnabled(not scratch)
        self._update_freeze_help()
        self._update_train_button()

    def _update_freeze_help(self) -> None:
        if self.current_base() is not None and self.current_base().kind == "scratch":
            self._freeze_help.setText("A new network learns everything from your clips: "
                                      "expect it to need many clips and epochs.")
            return
        value = self.freeze_combo.currentData()
        self._freeze_help.setText(FREEZE_CHOICES[value][1] if value in FREEZE_CHOICES else "")

    def _update_train_button(self) -> None:
        base = self.current_base()
        ready = self._check is not None and self._check.ok and base is not None and (
            base.kind == "scratch" or base.path is not None)
        self.train_button.setEnabled(bool(ready))

    def values(self) -> FormValues:
        return FormValues(
            base=self.current_base(), freeze=str(self.freeze_combo.currentData()),
            epochs=self.epochs_spin.value(), lr=self.lr_spin.value(),
            batch_size=self.batch_spin.value(), val_share=self.val_spin.value() / 100.0,
            device=str(self.device_combo.currentData()),
            name=self.name_edit.text().strip(), extra=tuple(self.extra_arguments()))

    def extra_arguments(self) -> list[str]:
        """The advanced field split as a shell would; ValueError for unbalanced quotes."""
        return shlex.split(self.extra_edit.text())

    def _on_train(self) -> None:
        try:
            self.extra_arguments()
        except ValueError as exc:
            self._problems.setText(f"• The advanced flags cannot be read: {exc}")
            self._problems.setVisible(True)
            return
        self.trainRequested.emit(self.values())

    # --- run page ------------------------------------------------------------------------

    def _build_run_page(self) -> QWidget:
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

    def show_settings(self) -> None:
        self._pages.setCurrentIndex(0)

    def on_settings_page(self) -> bool:
        return self._pages.currentIndex() == 0

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
            epoch = f", epoch {results.best_epoch}" if results.best_epoch else ""
            self.result_label.setText(
                f"Validation accuracy: {_percent(results.val_accuracy)}  "
                f"({results.val_clips} kept-aside clips{epoch})")
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
