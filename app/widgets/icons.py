"""Transport icons drawn with QPainter, so they are crisp at any size and follow the theme."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPixmap

_CANVAS = 64  # icons are drawn on a 64 x 64 grid and scaled by Qt


class MediaIcon(Enum):
    PLAY = "play"
    PAUSE = "pause"
    STEP_FORWARD = "step-forward"
    STEP_BACKWARD = "step-backward"
    JUMP_FORWARD = "jump-forward"
    JUMP_BACKWARD = "jump-backward"


def _triangle(left: float, top: float, right: float, bottom: float) -> QPainterPath:
    """A right-pointing triangle in the box."""
    path = QPainterPath(QPointF(left, top))
    path.lineTo(right, (top + bottom) / 2)
    path.lineTo(left, bottom)
    path.closeSubpath()
    return path


def _bar(left: float, top: float, width: float, height: float) -> QPainterPath:
    path = QPainterPath()
    path.addRoundedRect(QRectF(left, top, width, height), 2.5, 2.5)
    return path


def _shape(kind: MediaIcon) -> tuple[QPainterPath, bool]:
    """The icon's outline on the canvas, pointing right, and whether to mirror it."""
    path = QPainterPath()
    mirrored = kind in (MediaIcon.STEP_BACKWARD, MediaIcon.JUMP_BACKWARD)
    if kind is MediaIcon.PLAY:
        path.addPath(_triangle(20, 14, 50, 50))
    elif kind is MediaIcon.PAUSE:
        path.addPath(_bar(18, 15, 10, 34))
        path.addPath(_bar(36, 15, 10, 34))
    elif kind in (MediaIcon.STEP_FORWARD, MediaIcon.STEP_BACKWARD):
        path.addPath(_triangle(17, 17, 40, 47))
        path.addPath(_bar(41, 17, 7, 30))
    else:  # jump: two triangles
        path.addPath(_triangle(12, 19, 32, 45))
        path.addPath(_triangle(32, 19, 52, 45))
    return path, mirrored


def media_icon(kind: MediaIcon, color: QColor | str, disabled: QColor | str = "#5c6068") -> QIcon:
    """A transport icon in `color`, greyed to `disabled` for the disabled state."""
    icon = QIcon()
    for mode, tint in ((QIcon.Mode.Normal, color), (QIcon.Mode.Disabled, disabled)):
        for scale in (1, 2):
            icon.addPixmap(_render(kind, QColor(tint), _CANVAS * scale // 2), mode)
    return icon


def _render(kind: MediaIcon, color: QColor, size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    path, mirrored = _shape(kind)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / _CANVAS, size / _CANVAS)
    if mirrored:
        painter.translate(_CANVAS, 0)
        painter.scale(-1, 1)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawPath(path)
    painter.end()
    return pixmap
