"""The small dialog that asks which class a marked range shows (after I and O)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app.names import display_name
from app.widgets.labels_panel import color_chip
from app.widgets.overlay import class_color


class ClassChooserDialog(QDialog):
    """Which class does the marked range show? An editable list of the project's classes:
    pick one, or type a new name to add a class."""

    def __init__(self, classes: Sequence[str], default: str, what: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("classChooser")
        self.setWindowTitle("Label segment")
        self._classes = list(classes)
        self._combo = QComboBox()
        self._combo.setEditable(True)
        self._combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self._combo.setMinimumWidth(240)
        for k, name in enumerate(classes):
            self._combo.addItem(color_chip(class_color(k)), display_name(name), name)
        at = self._combo.findData(default)
        if at >= 0:
            self._combo.setCurrentIndex(at)  # (the line edit alone would fall back on Enter)
        else:
            self._combo.setEditText(default)
        line = self._combo.lineEdit()
        line.setPlaceholderText("Class name")
        line.selectAll()
        line.returnPressed.connect(self._accept_if_named)  # Enter adds, typed or not
        self._note = QLabel()
        self._note.setObjectName("panelCaption")
        self._combo.editTextChanged.connect(self._update)
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                         | QDialogButtonBox.StandardButton.Cancel)
        self._buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add segment")
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        self._what = QLabel(what)
        layout = QVBoxLayout(self)
        layout.addWidget(self._what)
        layout.addWidget(self._combo)
        layout.addWidget(self._note)
        layout.addWidget(self._buttons)
        self._combo.setFocus()
        self._update()

    @property
    def combo(self) -> QComboBox:
        return self._combo

    def description(self) -> str:
        """What the dialog asks about: the video and the marked frames."""
        return self._what.text()

    def chosen_class(self) -> str:
        """The project's name of the class picked, or the new name typed."""
        text = self._combo.currentText().strip()
        for name in self._classes:
            if text in (name, display_name(name)):
                return name
        return text

    def _accept_if_named(self) -> None:
        if self.chosen_class() and self.isVisible():
            self.accept()

    def _update(self) -> None:
        name = self.chosen_class()
        ok = self._buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(name))
        if name and name not in self._classes:
            self._note.setText(f"“{name}” is a new class: it will be added to the project.")
        elif not self._classes:
            self._note.setText("Type a class name: the project has no classes yet.")
        else:
            self._note.setText("Pick a class, or type a new name.")
