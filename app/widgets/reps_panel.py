"""The repetitions of each drill of a whole-video analysis, for the Recognition panel: a row
per segment with the action, its repetitions, repetitions per minute and how even the pace
was ("even", "fairly even", "uneven": the coefficient of variation of the intervals between
repetitions, app/services/counts.py). A segment the counter did not count shows a dash, and
why in its tooltip. Clicking a row asks to go to the segment's start; the segment at the
playhead is highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.names import display_name
from app.services.counts import SegmentReps
from app.widgets.dialogs import color_icon
from app.widgets.overlay import class_color
from app.widgets.player import format_time

COLUMNS = ("Action", "Reps", "/min", "Pace")
ROW_HEIGHT = 22
MAX_VISIBLE_ROWS = 10
PLACEHOLDER = "Analyse the whole video to count repetitions"


def row_texts(segment: SegmentReps) -> tuple[str, str, str, str]:
    """What a segment's row shows: action, reps, reps per minute, evenness of the pace."""
    if not segment.counted:
        return display_name(segment.label), "—", "", "not counted"
    rate = f"{segment.reps_per_min:.0f}" if segment.reps_per_min else ""
    return (display_name(segment.label), str(segment.total), rate,
            segment.evenness or "—")


class RepsTable(QTableWidget):
    """Signals: segmentChosen(int): the user clicked the row of the segment starting there."""

    segmentChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self._segments: list[SegmentReps] = []
        self._class_index: dict[str, int] = {}
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setShowGrid(False)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.cellClicked.connect(self._on_clicked)
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(280, self.height())

    def set_segments(self, segments: Sequence[SegmentReps], class_names: Sequence[str]) -> None:
        self._segments = list(segments)
        self._class_index = {name: i for i, name in enumerate(class_names)}
        self.clearContents()
        self.setRowCount(len(self._segments))
        for n, segment in enumerate(self._segments):
            texts = row_texts(segment)
            tip = (f"{display_name(segment.label)}, {format_time(segment.start_s)}–"
                   f"{format_time(segment.end_s)}")
            if segment.counted:
                if segment.pace_cv is not None:
                    tip += (f"\nthe time between repetitions varies by "
                            f"{segment.pace_cv * 100:.0f}%")
            else:
                tip += f"\nnot counted: {segment.reason}"
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(n, column, item)
            self.item(n, 0).setIcon(color_icon(class_color(
                self._class_index.get(segment.label, -1))))
        self._fit()

    def rows(self) -> list[tuple[str, ...]]:
        """What the rows show, top to bottom."""
        return [tuple(self.item(n, c).text() for c in range(self.columnCount()))
                for n in range(self.rowCount())]

    def set_current_frame(self, frame: int) -> None:
        """Highlight the segment at the playhead."""
        for n, segment in enumerate(self._segments):
            if segment.covers(frame):
                if self.currentRow() != n:
                    self.selectRow(n)
                return
        self.clearSelection()

    def _fit(self) -> None:
        rows = min(max(1, self.rowCount()), MAX_VISIBLE_ROWS)
        self.setFixedHeight(self.horizontalHeader().sizeHint().height() + rows * ROW_HEIGHT + 4)

    def _on_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._segments):
            self.segmentChosen.emit(self._segments[row].start_frame)
