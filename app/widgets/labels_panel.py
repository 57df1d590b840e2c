"""The Labels panel: the labelled segments of the project (a table) and its classes (a list).
The small dialog that asks which class a marked range shows is in class_chooser.py.

The panel only shows and asks: every change goes out as a signal, and the labelling
controller makes it (as an undoable edit) and hands the panel the new content.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.names import display_name
from app.widgets.overlay import class_color
from app.widgets.player import format_time

if TYPE_CHECKING:
    from stmanet.data.project import LabelSegment

ModelIndex = QModelIndex | QPersistentModelIndex


def color_chip(color: QColor, size: int = 10) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(0, 0, size, size, 3, 3)
    painter.end()
    return QIcon(pixmap)


class SegmentTableModel(QAbstractTableModel):
    """The segments, sorted by video and first frame.

    Signals: labelEdited(LabelSegment, str): the user picked another class in the table."""

    COLUMNS = ("Video", "Class", "Start", "End", "Duration")
    VIDEO, CLASS, START, END, DURATION = range(5)
    labelEdited = Signal(object, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[LabelSegment] = []
        self._classes: tuple[str, ...] = ()
        self._fps: dict[Path, float] = {}
        self._missing: set[Path] = set()

    def set_content(self, segments: Sequence[LabelSegment], classes: Sequence[str],
                    fps: dict[Path, float], missing: set[Path]) -> None:
        self.beginResetModel()
        self._rows = sorted(segments, key=lambda s: (s.video.name.lower(), str(s.video),
                                                     s.start_frame, s.end_frame, s.label))
        self._classes = tuple(classes)
        self._fps = dict(fps)
        self._missing = set(missing)
        self.endResetModel()

    def classes(self) -> tuple[str, ...]:
        return self._classes

    def segment_at(self, row: int) -> LabelSegment:
        return self._rows[row]

    def row_of(self, segment: LabelSegment) -> int:
        try:
            return self._rows.index(segment)
        except ValueError:
            return -1

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {self.START: "First frame of the segment",
                    self.END: "Last frame of the segment",
                    self.CLASS: "Click a selected class to change it"}.get(section)
        return None

    def _seconds(self, segment: LabelSegment, frame: int) -> str:
        fps = self._fps.get(segment.video)
        return format_time(frame / fps) if fps else ""

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        segment = self._rows[index.row()]
        column = index.column()
        missing = segment.video in self._missing
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if column == self.VIDEO:
                return segment.video.name
            if column == self.CLASS:  # edited as the project's name, read as words
                return (segment.label if role == Qt.ItemDataRole.EditRole
                        else display_name(segment.label))
            if column == self.START:
                return str(segment.start_frame)
            if column == self.END:
                return str(segment.last_frame)
            fps = self._fps.get(segment.video)
            if fps:
                return f"{segment.frame_count / fps:.2f} s"
            return f"{segment.frame_count} fr"
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.VIDEO:
                where = str(segment.video)
                return f"{where}\nnot found: moved or deleted?" if missing else where
            start, end = (self._seconds(segment, segment.start_frame),
                          self._seconds(segment, segment.end_frame))
            times = f" ({start}–{end})" if start else ""
            return (f"{display_name(segment.label)}: "
                    f"frames {segment.start_frame}–{segment.last_frame}, "
                    f"{segment.frame_count} frames{times}")
        if role == Qt.ItemDataRole.DecorationRole and column == self.CLASS:
            return color_chip(class_color(self._class_index(segment.label)))
        if role == Qt.ItemDataRole.ForegroundRole and missing:
            return QColor("#e07a6f")
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= self.START:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _class_index(self, label: str) -> int:
        try:
            return self._classes.index(label)
        except ValueError:
            return -1

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == self.CLASS:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: ModelIndex, value: object,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if (role != Qt.ItemDataRole.EditRole or not index.isValid()
                or index.column() != self.CLASS):
            return False
        label = str(value)
        segment = self._rows[index.row()]
        if label == segment.label or label not in self._classes:
            return False
        self.labelEdited.emit(segment, label)  # the controller edits, then refreshes us
        return True


class ClassDelegate(QStyledItemDelegate):
    """Edits the class of a segment with a list of the project's classes."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: ModelIndex) -> QWidget:
        combo = QComboBox(parent)
        model = index.model()
        classes = model.classes() if isinstance(model, SegmentTableModel) else ()
        for k, name in enumerate(classes):
            combo.addItem(color_chip(class_color(k)), display_name(name), name)
        return combo

    def setEditorData(self, editor: QWidget, index: ModelIndex) -> None:
        if isinstance(editor, QComboBox):
            editor.setCurrentIndex(editor.findData(str(index.data(Qt.ItemDataRole.EditRole))))
            editor.showPopup()

    def setModelData(self, editor: QWidget, model: QAbstractTableModel,
                     index: ModelIndex) -> None:
        if isinstance(editor, QComboBox) and editor.currentIndex() >= 0:
            model.setData(index, str(editor.currentData()), Qt.ItemDataRole.EditRole)


class LabelsPanel(QWidget):
    """Signals (requests; the controller acts on them):
      segmentActivated(LabelSegment): show this segment in the player (double-click, Enter);
      segmentsDeleteRequested(list[LabelSegment]): delete these (Delete key);
      labelEdited(LabelSegment, str): give this segment that class;
      addClassRequested(), renameClassRequested(str), mergeClassRequested(str),
      deleteClassRequested(str): class list buttons;
      locateRequested(): find the videos that moved;
      onlyOpenVideoChanged(bool).
    """

    segmentActivated = Signal(object)
    segmentsDeleteRequested = Signal(list)
    labelEdited = Signal(object, str)
    addClassRequested = Signal()
    renameClassRequested = Signal(str)
    mergeClassRequested = Signal(str)
    deleteClassRequested = Signal(str)
    locateRequested = Signal()
    onlyOpenVideoChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labelsPanel")
        self._model = SegmentTableModel(self)
        self._model.labelEdited.connect(self.labelEdited)

        self._project_label = QLabel("Untitled project")
        self._project_label.setObjectName("panelHeading")
        self._project_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self._summary_label = QLabel()
        self._summary_label.setObjectName("panelCaption")

        self._missing_banner = QFrame()
        self._missing_banner.setObjectName("missingBanner")
        self._missing_text = QLabel()
        self._missing_text.setWordWrap(True)
        self._locate_button = QPushButton("Locate…")
        self._locate_button.clicked.connect(self.locateRequested)
        banner_layout = QHBoxLayout(self._missing_banner)
        banner_layout.setContentsMargins(8, 6, 8, 6)
        banner_layout.addWidget(self._missing_text, 1)
        banner_layout.addWidget(self._locate_button)
        self._missing_banner.setStyleSheet(
            "QFrame#missingBanner { background: #3a2826; border: 1px solid #6b3a34;"
            " border-radius: 5px; }")
        self._missing_banner.hide()

        self._only_open = QCheckBox("Only the open video")
        self._only_open.toggled.connect(self.onlyOpenVideoChanged)

        self._table = QTableView()
        self._table.setObjectName("segmentTable")
        self._table.setModel(self._model)
        self._table.setItemDelegateForColumn(SegmentTableModel.CLASS, ClassDelegate(self._table))
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.SelectedClicked
                                    | QAbstractItemView.EditTrigger.EditKeyPressed)
        self._table.setAlternatingRowColors(True)
        self._table.setShowGrid(False)
        self._table.setWordWrap(False)
        self._table.verticalHeader().hide()
        self._table.verticalHeader().setDefaultSectionSize(24)
        header = self._table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(SegmentTableModel.VIDEO, QHeaderView.ResizeMode.Stretch)
        for column in (SegmentTableModel.CLASS, SegmentTableModel.START, SegmentTableModel.END,
                       SegmentTableModel.DURATION):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self._table.doubleClicked.connect(self._on_double_clicked)
        self._table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._table.customContextMenuRequested.connect(self._table_menu)

        self.delete_segments_action = QAction("Delete segment", self._table)
        self.delete_segments_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Delete),
                                                  QKeySequence(Qt.Key.Key_Backspace)])
        self.delete_segments_action.setShortcutContext(
            Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.delete_segments_action.triggered.connect(self._delete_selected)
        self._table.addAction(self.delete_segments_action)
        self.go_to_action = QAction("Go to segment", self._table)
        self.go_to_action.setShortcuts([QKeySequence(Qt.Key.Key_Return),
                                        QKeySequence(Qt.Key.Key_Enter)])
        self.go_to_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.go_to_action.triggered.connect(self._go_to_current)
        self._table.addAction(self.go_to_action)

        self._hint = QLabel("Open a video, press I at the first frame of an action and O at its "
                            "last, then pick its class.")
        self._hint.setObjectName("panelCaption")
        self._hint.setWordWrap(True)

        self._class_list = QListWidget()
        self._class_list.setObjectName("classList")
        self._class_list.setIconSize(QSize(10, 10))
        self._class_list.setMinimumHeight(5 * self._class_list.fontMetrics().height() + 12)
        self._class_list.currentRowChanged.connect(self._on_class_row_changed)
        self._class_list.itemDoubleClicked.connect(self._on_class_double_clicked)
        self._add_button = QPushButton("Add…")
        self._rename_button = QPushButton("Rename…")
        self._merge_button = QPushButton("Merge into…")
        self._delete_button = QPushButton("Delete…")
        self._add_button.clicked.connect(self.addClassRequested)
        self._rename_button.clicked.connect(lambda: self._emit_for_class(
            self.renameClassRequested))
        self._merge_button.clicked.connect(lambda: self._emit_for_class(
            self.mergeClassRequested))
        self._delete_button.clicked.connect(lambda: self._emit_for_class(
            self.deleteClassRequested))

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(6)
        title_row = QHBoxLayout()
        title_row.addWidget(self._project_label, 1)
        title_row.addWidget(self._summary_label)
        top_layout.addLayout(title_row)
        top_layout.addWidget(self._missing_banner)
        top_layout.addWidget(self._table, 1)
        top_layout.addWidget(self._hint)
        top_layout.addWidget(self._only_open)

        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 4, 0, 0)
        bottom_layout.setSpacing(6)
        caption = QLabel("Classes")
        caption.setObjectName("panelHeading")
        bottom_layout.addWidget(caption)
        bottom_layout.addWidget(self._class_list, 1)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for button in (self._add_button, self._rename_button, self._merge_button,
                       self._delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        bottom_layout.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(splitter)
        self._update_buttons()

    # --- what the controller and tests use -----------------------------------------------

    @property
    def table(self) -> QTableView:
        return self._table

    @property
    def model(self) -> SegmentTableModel:
        return self._model

    @property
    def class_list(self) -> QListWidget:
        return self._class_list

    def set_project_title(self, title: str, tooltip: str) -> None:
        self._project_label.setText(title)
        self._project_label.setToolTip(tooltip)

    def set_content(self, segments: Sequence[LabelSegment], classes: Sequence[str],
                    counts: dict[str, int], fps: dict[Path, float], missing: list[Path],
                    *, total: int) -> None:
        """Show these segments (all of the project's, or the open video's) and classes."""
        selected = self.selected_segments()
        self._model.set_content(segments, classes, fps, set(missing))
        self.select_segments(selected)
        current = self.current_class()
        self._class_list.clear()
        for k, name in enumerate(classes):
            count = counts.get(name, 0)
            item = QListWidgetItem(color_chip(class_color(k)),
                                   f"{display_name(name)}  ·  {count} segment"
                                   f"{'s' * (count != 1)}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self._class_list.addItem(item)
            if name == current:
                self._class_list.setCurrentItem(item)
        shown = len(segments)
        self._summary_label.setText(
            f"{total} segment{'s' * (total != 1)}" if shown == total
            else f"{shown} of {total} segments")
        self._hint.setVisible(total == 0)
        if missing:
            names = ", ".join(p.name for p in missing[:3]) + (" …" if len(missing) > 3 else "")
            self._missing_text.setText(
                f"{len(missing)} video{'s' * (len(missing) > 1)} of this project cannot be "
                f"found: {names}")
        self._missing_banner.setVisible(bool(missing))
        self._update_buttons()

    def only_open_video(self) -> bool:
        return self._only_open.isChecked()

    def missing_text(self) -> str:
        return self._missing_text.text() if self._missing_banner.isVisibleTo(self) else ""

    def selected_segments(self) -> list[LabelSegment]:
        rows = sorted({index.row() for index in self._table.selectionModel().selectedRows()})
        return [self._model.segment_at(row) for row in rows]

    def select_segments(self, segments: Sequence[LabelSegment]) -> None:
        selection = QItemSelection()
        last = -1
        for segment in segments:
            row = self._model.row_of(segment)
            if row >= 0:
                selection.select(self._model.index(row, 0),
                                 self._model.index(row, self._model.columnCount() - 1))
                last = row
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QItemSelectionModel.SelectionFlag.Rows)
        self._table.selectionModel().select(selection, flags)
        if last >= 0:
            self._table.selectionModel().setCurrentIndex(
                self._model.index(last, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
            self._table.scrollTo(self._model.index(last, 0))

    def current_class(self) -> str:
        item = self._class_list.currentItem()
        return self._item_class(item) if item is not None else ""

    def select_class(self, name: str) -> None:
        for row in range(self._class_list.count()):
            if self._item_class(self._class_list.item(row)) == name:
                self._class_list.setCurrentRow(row)
                return

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _item_class(item: QListWidgetItem) -> str:
        return str(item.data(Qt.ItemDataRole.UserRole))

    def _emit_for_class(self, signal: Signal) -> None:
        name = self.current_class()
        if name:
            signal.emit(name)  # type: ignore[attr-defined]

    def _on_class_row_changed(self, _row: int) -> None:
        self._update_buttons()

    def _on_class_double_clicked(self, item: QListWidgetItem) -> None:
        self.renameClassRequested.emit(self._item_class(item))

    def _update_buttons(self) -> None:
        has_class = bool(self.current_class())
        self._rename_button.setEnabled(has_class)
        self._delete_button.setEnabled(has_class)
        self._merge_button.setEnabled(has_class and self._class_list.count() > 1)

    def _on_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.segmentActivated.emit(self._model.segment_at(index.row()))

    def _go_to_current(self) -> None:
        self._on_double_clicked(self._table.currentIndex())

    def _delete_selected(self) -> None:
        segments = self.selected_segments()
        if segments:
            self.segmentsDeleteRequested.emit(segments)

    def _table_menu(self, pos: QPoint) -> None:
        index = self._table.indexAt(pos)
        if not index.isValid():
            return
        menu = QMenu(self)
        menu.addAction(self.go_to_action)
        menu.addSeparator()
        menu.addAction(self.delete_segments_action)
        menu.exec(self._table.viewport().mapToGlobal(pos))
