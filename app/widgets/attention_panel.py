"""The attention panel: which stages' spatial attention the heatmap shows, how strongly, and
where a clicked place looks.

Four tiles show the mean spatial attention of stages 2-5 for the window on screen, each at
its own resolution (28 x 28 down to 4 x 4 for a 112-pixel input); clicking a tile toggles
whether that stage is part of the heatmap over the picture (several are blended). With a
place chosen on the picture, the heatmap shows that place's row of the spatial attention
matrix A_s for the "Clicked place" stage instead: where that place attends.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.services.results import STAGES, UNTRAINED_ATTENTION_NOTE, WindowResult
from app.widgets.fonts import derived_font
from app.widgets.overlay import OverlayOptions, heatmap_rgba, normalised, rgba_to_qimage

TILE_HEIGHT = 70


class StageTile(QWidget):
    """One stage's mean spatial map, its size, and a checked state (part of the heatmap)."""

    toggled = Signal(int, bool)

    def __init__(self, stage: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = stage
        self._map: np.ndarray | None = None
        self._checked = False
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(TILE_HEIGHT)
        self.setMinimumWidth(120)
        self.setToolTip(f"Stage {stage}: click to show or hide it in the heatmap")

    def sizeHint(self) -> QSize:
        return QSize(136, TILE_HEIGHT)

    def set_map(self, attention: np.ndarray | None) -> None:
        self._map = attention
        self.update()

    def attention_map(self) -> np.ndarray | None:
        return self._map

    def is_checked(self) -> bool:
        return self._checked

    def set_checked(self, checked: bool) -> None:
        if checked != self._checked:
            self._checked = checked
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._checked = not self._checked
            self.update()
            self.toggled.emit(self.stage, self._checked)
            event.accept()
            return
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        painter.setPen(QPen(QColor(theme.ACCENT if self._checked else theme.BORDER),
                            2 if self._checked else 1))
        painter.setBrush(QColor(theme.RAISED if self._checked else theme.PANEL))
        painter.drawRoundedRect(frame, 6, 6)
        side = frame.height() - 12
        square = QRectF(frame.left() + 6, frame.top() + 6, side, side)
        if self._map is None:
            painter.setPen(QPen(QColor(theme.BORDER), 1, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(square)
        else:
            painter.fillRect(square, QColor(theme.VIDEO_BACKGROUND))
            image = rgba_to_qimage(heatmap_rgba(normalised(self._map), 1.0))
            painter.drawImage(square, image)  # not smoothed: the tile shows the real grid
        left = square.right() + 8
        width = frame.right() - left - 4
        painter.setFont(derived_font(self.font(), weight=QFont.Weight.DemiBold))
        painter.setPen(QColor(theme.TEXT if self._checked else theme.TEXT_MUTED))
        painter.drawText(QRectF(left, square.top(), width, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"Stage {self.stage}")
        painter.setFont(self.font())
        painter.setPen(QColor(theme.TEXT_MUTED))
        size = "—" if self._map is None else f"{self._map.shape[0]} × {self._map.shape[1]}"
        painter.drawText(QRectF(left, square.top() + 18, width, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, size)
        if self._checked:
            painter.setPen(QColor(theme.ACCENT))
            painter.drawText(QRectF(left, square.bottom() - 18, width, 18),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "shown")
        painter.end()


class AttentionPanel(QWidget):
    """Signals: optionsChanged(OverlayOptions)."""

    optionsChanged = Signal(object)

    def __init__(self, options: OverlayOptions | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._options = options or OverlayOptions()
        self._result: WindowResult | None = None

        self._heatmap_check = QCheckBox("Heatmap over the picture", self)
        self._heatmap_check.toggled.connect(self._on_heatmap_toggled)
        self._opacity = QSlider(Qt.Orientation.Horizontal, self)
        self._opacity.setRange(5, 100)
        self._opacity.setToolTip("Opacity of the heatmap")
        self._opacity.valueChanged.connect(self._on_opacity_changed)
        self._opacity_label = QLabel(self)
        self._opacity_label.setMinimumWidth(36)

        self._tiles = [StageTile(stage, self) for stage in STAGES]
        for tile in self._tiles:
            tile.toggled.connect(self._on_tile_toggled)

        self._point_stage = QComboBox(self)
        for stage in STAGES:
            self._point_stage.addItem(f"Stage {stage}", stage)
        self._point_stage.currentIndexChanged.connect(self._on_point_stage_changed)
        self._clear_point = QPushButton("Clear", self)
        self._clear_point.clicked.connect(self.clear_point)
        self._point_hint = QLabel(self)
        self._point_hint.setObjectName("panelCaption")
        self._point_hint.setWordWrap(True)

        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity", self))
        opacity_row.addWidget(self._opacity, 1)
        opacity_row.addWidget(self._opacity_label)
        tiles = QGridLayout()
        tiles.setSpacing(6)
        for n, tile in enumerate(self._tiles):
            tiles.addWidget(tile, n // 2, n % 2)
        point_row = QHBoxLayout()
        point_row.addWidget(QLabel("Clicked place:", self))
        point_row.addWidget(self._point_stage, 1)
        point_row.addWidget(self._clear_point)

        self._untrained_note = QLabel(UNTRAINED_ATTENTION_NOTE, self)
        self._untrained_note.setObjectName("attentionNote")
        self._untrained_note.setWordWrap(True)
        self._untrained_note.setStyleSheet("color: #e6d05a;")
        self._untrained_note.hide()

        caption = QLabel("Spatial attention per stage (click to blend into the heatmap)", self)
        caption.setObjectName("panelCaption")
        caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(8)
        layout.addWidget(self._untrained_note)
        layout.addWidget(self._heatmap_check)
        layout.addLayout(opacity_row)
        layout.addWidget(caption)
        layout.addLayout(tiles)
        layout.addLayout(point_row)
        layout.addWidget(self._point_hint)
        layout.addStretch(1)
        self._show_options()

    # --- options -------------------------------------------------------------------------

    def options(self) -> OverlayOptions:
        return self._options

    def set_options(self, options: OverlayOptions) -> None:
        self._options = options
        self._show_options()
        self.optionsChanged.emit(options)

    def _change(self, **changes: object) -> None:
        self._options = replace(self._options, **changes)  # type: ignore[arg-type]
        self._show_options()
        self.optionsChanged.emit(self._options)

    def _show_options(self) -> None:
        options = self._options
        for widget in (self._heatmap_check, self._opacity, self._point_stage):
            widget.blockSignals(True)
        self._heatmap_check.setChecked(options.show_heatmap)
        self._opacity.setValue(round(options.opacity * 100))
        self._opacity_label.setText(f"{round(options.opacity * 100)}%")
        self._point_stage.setCurrentIndex(
            STAGES.index(options.point_stage) if options.point_stage in STAGES else 1
        )
        for widget in (self._heatmap_check, self._opacity, self._point_stage):
            widget.blockSignals(False)
        for tile in self._tiles:
            tile.set_checked(tile.stage in options.stages)
        self._clear_point.setEnabled(options.point is not None)
        if options.point is None:
            self._point_hint.setText(
                "Click a place on the picture to see where it attends."
            )
        else:
            self._point_hint.setText(
                f"Showing where the clicked place attends at stage {options.point_stage}."
            )

    def set_point(self, point: tuple[float, float] | None) -> None:
        self._change(point=point)

    def clear_point(self) -> None:
        self._change(point=None)

    def _on_heatmap_toggled(self, on: bool) -> None:
        self._change(show_heatmap=on)

    def _on_opacity_changed(self, value: int) -> None:
        self._change(opacity=value / 100)

    def _on_point_stage_changed(self, index: int) -> None:
        if index >= 0:
            self._change(point_stage=STAGES[index])

    def _on_tile_toggled(self, stage: int, checked: bool) -> None:
        stages = set(self._options.stages)
        if checked:
            stages.add(stage)
        else:
            stages.discard(stage)
        self._change(stages=tuple(sorted(stages)), show_heatmap=True if checked else
                     self._options.show_heatmap)

    # --- the window on screen ------------------------------------------------------------

    def set_attention_trained(self, trained: bool) -> None:
        """Whether the model's attention ever learnt: when not, a plain note says the maps
        show nothing yet (they are flat, not where the network looked)."""
        self._untrained_note.setVisible(not trained)

    def note(self) -> str:
        """The note over the maps ("" when the maps mean something)."""
        return "" if self._untrained_note.isHidden() else self._untrained_note.text()

    def set_result(self, result: WindowResult | None) -> None:
        if result is self._result:
            return
        self._result = result
        for tile in self._tiles:
            tile.set_map(None if result is None else result.spatial_map(tile.stage))

    def stage_maps(self) -> list[np.ndarray | None]:
        """The maps the four tiles show, stages 2-5."""
        return [tile.attention_map() for tile in self._tiles]

    def tiles(self) -> list[StageTile]:
        return list(self._tiles)
