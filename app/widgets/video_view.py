"""The picture of the video player: the current frame, letterboxed, and what is drawn over it.

An overlay (`OverlayPainter`, e.g. the recognition badge and heatmap of
app/widgets/overlay.py) is called after every frame is painted; one that fails is switched
off, so the picture carries on without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import theme
from app.widgets.fonts import derived_font

log = logging.getLogger(__name__)

OverlayPainter = Callable[[QPainter, QRectF, int], None]
"""Draws over the picture: (painter, the rectangle the frame fills, the frame's number).
The painter is in widget coordinates; its state is saved and restored around the call."""


class VideoView(QWidget):
    """Paints the current frame letterboxed on a dark background, then the overlay."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._index = -1
        self._overlay: OverlayPainter | None = None
        self._placeholder = ""
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        # Clicking the picture takes the focus away from any text field, so the player's
        # keys work again.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def set_frame(self, image: QImage | None, index: int = -1) -> None:
        self._image = image
        self._index = index
        self.update()

    def frame(self) -> QImage | None:
        """The picture on screen, at the source's resolution."""
        return self._image

    def frame_index(self) -> int:
        """The number of the frame on screen; -1 for none."""
        return self._index if self._image is not None else -1

    def frame_rect(self) -> QRectF:
        """Where the frame is drawn, in widget coordinates (empty when there is none)."""
        if self._image is None or self._image.isNull():
            return QRectF()
        scale = min(self.width() / self._image.width(), self.height() / self._image.height())
        width, height = self._image.width() * scale, self._image.height() * scale
        return QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)

    def set_overlay(self, painter: OverlayPainter | None) -> None:
        """Draw `painter` over every frame (None removes it)."""
        self._overlay = painter
        self.update()

    def set_placeholder_text(self, text: str) -> None:
        """Shown in the middle while there is no frame."""
        self._placeholder = text
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(theme.VIDEO_BACKGROUND))
        if self._image is None or self._image.isNull():
            self._paint_placeholder(painter)
            painter.end()
            return
        target = self.frame_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self._image)
        if self._overlay is not None:
            painter.save()
            try:
                self._overlay(painter, target, self._index)
            except Exception:  # a faulty overlay must not take the picture with it
                log.exception("the video overlay failed and has been switched off")
                self._overlay = None
            painter.restore()
        painter.end()

    def _paint_placeholder(self, painter: QPainter) -> None:
        if not self._placeholder:
            return
        painter.setFont(derived_font(self.font(), point_scale=1.25))
        painter.setPen(QColor(theme.TEXT_MUTED))
        area = self.rect().adjusted(24, 24, -24, -24)
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         self._placeholder)
