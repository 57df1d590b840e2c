"""The video player's transport bar: the seek slider, the step, jump and play buttons, the
time and frame shown, the LIVE badge and the speed choice.

`TransportBar` only lays the controls out; `PlayerWidget` (app/widgets/player.py) owns the
actions behind the buttons, connects the slider and the speed choice, and keeps the labels
up to date.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QAction, QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProxyStyle,
    QSlider,
    QStyle,
    QStyleHintReturn,
    QStyleOption,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.widgets.fonts import derived_font


def speed_text(speed: float) -> str:
    return f"{speed:g}×"


class _JumpToClickStyle(QProxyStyle):
    """A click on the slider's groove moves the handle there (instead of by a page)."""

    def styleHint(
        self,
        hint: QStyle.StyleHint,
        option: QStyleOption | None = None,
        widget: QWidget | None = None,
        returnData: QStyleHintReturn | None = None,
    ) -> int:
        if hint == QStyle.StyleHint.SH_Slider_AbsoluteSetButtons:
            return Qt.MouseButton.LeftButton.value
        return super().styleHint(hint, option, widget, returnData)


class SeekSlider(QSlider):
    """The timeline's slider: frame numbers, click-to-jump, drag to scrub."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._style = _JumpToClickStyle(QApplication.style().name())
        self._style.setParent(self)
        self.setStyle(self._style)
        self.setObjectName("seekSlider")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setTracking(True)
        self.setRange(0, 0)


class SpeedComboBox(QComboBox):
    """A combo box that draws its own small chevron (the theme hides the style's arrow)."""

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = theme.TEXT_MUTED if self.isEnabled() else theme.TEXT_DISABLED
        painter.setPen(QPen(QColor(color), 1.6))
        x, y = self.width() - 14.0, self.height() / 2.0
        painter.drawPolyline([QPointF(x - 4, y - 2), QPointF(x, y + 2), QPointF(x + 4, y - 2)])
        painter.end()


class TransportBar(QFrame):
    """The controls under the picture, in two rows: the seek slider; then the buttons of
    `moves` (jump back, step back, play, step forward, jump forward: the player's actions),
    the time and frame labels, the LIVE badge (hidden), and the speed choice over `speeds`
    (set to 1x)."""

    def __init__(self, moves: Sequence[QAction], speeds: Sequence[float],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transportBar")
        self.seek_slider = SeekSlider(self)

        def tool_button(act: QAction, size: int = 34) -> QToolButton:
            button = QToolButton(self)
            button.setDefaultAction(act)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setFixedSize(size, size)
            button.setIconSize(QSize(20, 20))
            button.setAutoRaise(True)
            return button

        jump_backward, step_backward, play, step_forward, jump_forward = moves
        self.play_button = tool_button(play, 38)
        self.play_button.setObjectName("playButton")
        buttons_before = [tool_button(jump_backward), tool_button(step_backward)]
        buttons_after = [tool_button(step_forward), tool_button(jump_forward)]

        self.time_label = QLabel(self)
        self.time_label.setObjectName("timeLabel")
        self.frame_label = QLabel(self)
        self.frame_label.setObjectName("frameLabel")
        # digits of equal width: the label stays put
        digits = derived_font(self.font(), tabular_digits=True)
        self.time_label.setFont(digits)
        self.frame_label.setFont(digits)
        self.live_badge = QLabel("LIVE", self)
        self.live_badge.setObjectName("liveBadge")
        self.live_badge.hide()

        self.speed_caption = QLabel("Speed", self)
        self.speed_caption.setObjectName("speedCaption")
        self.speed_combo = SpeedComboBox(self)
        self.speed_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.speed_combo.setToolTip("Playback speed ([ slower, ] faster)")
        for speed in speeds:
            self.speed_combo.addItem(speed_text(speed), speed)
        self.speed_combo.setCurrentIndex(list(speeds).index(1.0))
        # never narrower than its longest entry, whatever room the row has: the text and the
        # arrow the style sheet pads for (20 px right, 8 px left) and the border
        longest = max(self.fontMetrics().horizontalAdvance(speed_text(s)) for s in speeds)
        self.speed_combo.setMinimumWidth(longest + 36)

        controls = QHBoxLayout()
        controls.setContentsMargins(10, 2, 14, 8)
        controls.setSpacing(4)
        for button in buttons_before:
            controls.addWidget(button)
        controls.addSpacing(2)
        controls.addWidget(self.play_button)
        controls.addSpacing(2)
        for button in buttons_after:
            controls.addWidget(button)
        controls.addSpacing(14)
        controls.addWidget(self.time_label)
        controls.addSpacing(12)
        controls.addWidget(self.frame_label)
        controls.addSpacing(8)
        controls.addWidget(self.live_badge)
        controls.addStretch(1)
        controls.addWidget(self.speed_caption)
        controls.addSpacing(6)
        controls.addWidget(self.speed_combo)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        slider_row = QHBoxLayout()
        slider_row.setContentsMargins(14, 8, 14, 0)
        slider_row.addWidget(self.seek_slider)
        layout.addLayout(slider_row)
        layout.addLayout(controls)
