"""The labels strip under the prediction timeline: the labelled segments of the video on
screen, coloured by class, and the range being marked (I / O).

It spans the same frames as the timeline's strip, with the same margins, so a label sits
under the predictions for the same frames. Click or drag to seek; hover for the segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetricsF,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import theme
from app.names import display_name
from app.widgets.fonts import derived_font
from app.widgets.player import format_time
from app.widgets.timeline import MARGIN_X, show_tooltip

BAND_TOP, BAND_HEIGHT = 3, 18
MARK_COLOR = "#ffd166"


@dataclass(frozen=True)
class StripSegment:
    """A labelled stretch to draw: frames [start, end), its class and colour."""

    start: int
    end: int
    label: str
    color: QColor


class LabelStrip(QWidget):
    """Signals: seekRequested(int): the user clicked or dragged to this frame;
    segmentClicked(int): the user clicked the segment at this position in `segments()`."""

    seekRequested = Signal(int)
    segmentClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._segments: list[StripSegment] = []
        self._frame_count: int | None = None
        self._fps = 25.0
        self._position = -1
        self._mark_in: int | None = None
        self._mark_out: int | None = None
        self.setObjectName("labelStrip")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(BAND_TOP + BAND_HEIGHT + 3)
        self.setMinimumWidth(200)

    def sizeHint(self) -> QSize:
        return QSize(900, self.height())

    # --- what it shows -------------------------------------------------------------------

    def set_source(self, frame_count: int | None, fps: float) -> None:
        """The video on screen (frame_count None: nothing to label, e.g. a live source)."""
        self._frame_count = frame_count
        self._fps = fps if fps > 0 else 25.0
        self._position = -1
        self.update()

    def set_segments(self, segments: list[StripSegment]) -> None:
        self._segments = sorted(segments, key=lambda s: (s.start, s.end))
        self.update()

    def segments(self) -> list[StripSegment]:
        return list(self._segments)

    def set_marks(self, mark_in: int | None, mark_out: int | None) -> None:
        self._mark_in, self._mark_out = mark_in, mark_out
        self.update()

    def marks(self) -> tuple[int | None, int | None]:
        return self._mark_in, self._mark_out

    def set_position(self, frame: int) -> None:
        if frame != self._position:
            self._position = frame
            self.update()

    # --- geometry ------------------------------------------------------------------------

    def _band(self) -> QRectF:
        return QRectF(MARGIN_X, BAND_TOP, max(1.0, self.width() - 2 * MARGIN_X), BAND_HEIGHT)

    def x_of(self, frame: float) -> float:
        band = self._band()
        count = max(1, self._frame_count or 1)
        return band.left() + frame / count * band.width()

    def frame_at(self, x: float) -> int:
        band = self._band()
        count = max(1, self._frame_count or 1)
        fraction = min(1.0, max(0.0, (x - band.left()) / band.width()))
        return min(count - 1, int(fraction * count))

    def segment_at(self, frame: int) -> int:
        """The position in `segments()` of the (last drawn) segment over `frame`; -1: none."""
        found = -1
        for k, segment in enumerate(self._segments):
            if segment.start <= frame < segment.end:
                found = k
        return found

    # --- painting ------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        band = self._band()
        path = QPainterPath()
        path.addRoundedRect(band, 4, 4)
        painter.fillPath(path, QColor(theme.PANEL).darker(115))
        small = derived_font(self.font(), point_scale=0.85, min_point_size=7.0)
        painter.setFont(small)
        metrics = QFontMetricsF(small)
        if self._frame_count is None:
            painter.end()
            return

        painter.save()
        painter.setClipPath(path)
        for segment in self._segments:
            left, right = self.x_of(segment.start), self.x_of(segment.end)
            box = QRectF(left, band.top(), max(2.0, right - left), band.height())
            painter.fillRect(box, segment.color)
            painter.setPen(QPen(QColor(0, 0, 0, 90), 1))
            painter.drawLine(QPointF(box.left() + 0.5, box.top()),
                             QPointF(box.left() + 0.5, box.bottom()))
            text_box = box.adjusted(4, 0, -3, 0)
            if text_box.width() > 18:
                text = metrics.elidedText(display_name(segment.label), Qt.TextElideMode.ElideRight,
                                          text_box.width())
                painter.setPen(QColor("#101114"))
                painter.drawText(text_box, Qt.AlignmentFlag.AlignVCenter
                                 | Qt.AlignmentFlag.AlignLeft, text)
        painter.restore()

        if not self._segments and self._mark_in is None and self._mark_out is None:
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(band.adjusted(8, 0, -8, 0),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             "Labels: I marks in, O marks out")
        self._paint_marks(painter, band)
        if self._position >= 0:
            x = self.x_of(self._position + 0.5)
            painter.setPen(QPen(QColor("#ffffff"), 2))
            painter.drawLine(QPointF(x, band.top() - 2), QPointF(x, band.bottom() + 2))
        painter.end()

    def _paint_marks(self, painter: QPainter, band: QRectF) -> None:
        mark_in, mark_out = self._mark_in, self._mark_out
        if mark_in is None and mark_out is None:
            return
        color = QColor(MARK_COLOR)
        first = mark_in if mark_in is not None else mark_out
        last = mark_out if mark_out is not None else max(first or 0, self._position)
        assert first is not None
        if mark_in is not None and mark_out is None and self._position < mark_in:
            last = mark_in
        left, right = self.x_of(first), self.x_of(last + 1)
        fill = QColor(color)
        fill.setAlpha(70)
        box = QRectF(left, band.top(), max(2.0, right - left), band.height())
        painter.fillRect(box, fill)
        pen = QPen(color, 1.5)
        if mark_in is None or mark_out is None:
            pen.setStyle(Qt.PenStyle.DashLine)  # still open at one end
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(box.adjusted(0.75, 0.75, -0.75, -0.75))
        for frame, at_left in ((mark_in, True), (mark_out, False)):
            if frame is None:
                continue
            x = self.x_of(frame) if at_left else self.x_of(frame + 1)
            painter.setPen(QPen(color, 2.5))
            painter.drawLine(QPointF(x, band.top() - 2), QPointF(x, band.bottom() + 2))

    # --- the mouse -----------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._frame_count is not None:
            frame = self.frame_at(event.position().x())
            self.seekRequested.emit(frame)
            hit = self.segment_at(frame)
            if hit >= 0:
                self.segmentClicked.emit(hit)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton and self._frame_count is not None:
            self.seekRequested.emit(self.frame_at(event.position().x()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def event(self, event: object) -> bool:
        if isinstance(event, QHelpEvent):
            show_tooltip(self, event, self.tooltip_at(QPointF(event.pos())))
            return True
        return super().event(event)  # type: ignore[arg-type]

    def tooltip_at(self, pos: QPointF) -> str:
        if self._frame_count is None:
            return ""
        frame = self.frame_at(pos.x())
        hit = self.segment_at(frame)
        if hit < 0:
            return f"{format_time(frame / self._fps)} · frame {frame}\nno label here"
        segment = self._segments[hit]
        return (f"<b>{display_name(segment.label)}</b><br>"
                f"frames {segment.start}–{segment.end - 1} · "
                f"{format_time(segment.start / self._fps)}–{format_time(segment.end / self._fps)}"
                f" ({(segment.end - segment.start) / self._fps:.2f} s)")
