"""The settings page of the fine-tuning dialog: what the project holds, and how to train.

What the project holds (and what stands in the way of training), the model to start from,
what to train, epochs, learning rate, batch size, validation share, device, a name for the
model, whether it tells unknown actions with each window's mirror image, and free-text extra
`stmanet train` flags; Train hands them over as `FormValues`.

`SettingsPage` is a part of `FineTuneDialog` (app/widgets/finetune_dialog.py), mixed into it:
its widgets are the dialog's own attributes (`dialog.train_button`, `dialog.base_combo`, …),
and Train emits the dialog's `trainRequested`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.names import display_name
from app.services.training_plan import FREEZE_CHOICES, BaseModel, ProjectCheck, kinetics_depth
from app.theme import BORDER

PROBLEM_COLOR = "#ff8a7a"
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
    mirror: bool = True  # unknown actions told with each window's mirror image


class SettingsPage:
    """The settings page's widgets and behaviour, part of FineTuneDialog."""

    def _build_settings_page(self, bases: list[BaseModel], devices: list[str]) -> QWidget:
        self._check: ProjectCheck | None = None
        self._last_base = 0
        self._auto_name = ""
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
        self.mirror_check = QCheckBox("Also look at the footage flipped left to right")
        self.mirror_check.setChecked(True)
        self.mirror_check.setToolTip("Unticked, the new model looks at the footage once "
                                     "(stmanet train --no-openset-mirror).")
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
        mirror_caption = QLabel("Better at spotting movements that are none of your actions; "
                                "analysing takes up to twice as long.")
        mirror_caption.setObjectName("panelCaption")
        mirror_caption.setWordWrap(True)
        form.addRow("Unknown actions", self.mirror_check)
        form.addRow("", mirror_caption)
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
            name=self.name_edit.text().strip(), extra=tuple(self.extra_arguments()),
            mirror=self.mirror_check.isChecked())

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
