"""The mouse wheel over a value control in a scrolling panel scrolls the panel.

A combo box, spin box or slider that changes its value under a passing wheel makes a panel
hard to scroll and changes settings by accident. `scroll_past_controls(panel)` makes such
controls take the wheel only once they have focus (a click or Tab gives it): without focus,
the wheel event goes on to the scroll area around them.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QScrollBar,
    QWidget,
)

_CONTROLS = (QComboBox, QAbstractSpinBox, QAbstractSlider)


class _WheelGuard(QObject):
    """Passes wheel events over an unfocused control on to its parents."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget)
                and not watched.hasFocus()):
            event.ignore()  # ignored and filtered: Qt offers it to the parent widget
            return True
        return super().eventFilter(watched, event)


def scroll_past_controls(panel: QWidget) -> None:
    """Combo boxes, spin boxes and sliders in `panel` (not scroll bars) take focus on a click
    or Tab and change their value under the wheel only while they have it."""
    guard = panel.findChild(_WheelGuard, options=Qt.FindChildOption.FindDirectChildrenOnly)
    if guard is None:
        guard = _WheelGuard(panel)
    for control in panel.findChildren(QWidget):
        if isinstance(control, _CONTROLS) and not isinstance(control, QScrollBar):
            control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            control.removeEventFilter(guard)
            control.installEventFilter(guard)
