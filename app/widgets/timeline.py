"""The prediction timeline under the player.

Three bands, painted:
  - the strip: the whole video, coloured by the action predicted for each stretch (a stable
    colour per class; neutral grey, "other", where the model said "not a known action"),
    with the window on screen outlined and a playhead; click or drag to seek; hover for the
    action, its confidence and its frames. The stretches are those of
    the windows (live answers, an analysis under way) until a whole-video analysis hands
    over its per-frame result (`set_frame_result`): then they are its smoothed segments,
    frame-accurate, the last one reaching the last frame analysed, with a small tick where
    each counted repetition ends (`set_rep_frames`);
  - the magnifier: the window on screen spread over the full width, with its temporal
    attention per stage as steps (each weight covers its share of the window's source
    frames; 1.0 on the scale is an even spread);
  - the legend: the actions that appear, with their colours.
A live source has no end: the strip then shows the last LIVE_SPAN_S seconds.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, NamedTuple

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
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app import theme
from app.names import display_name
from app.services.results import OTHER, OTHER_LABEL, PredictionTrack, WindowResult
from app.widgets.fonts import derived_font
from app.widgets.overlay import STAGE_COLORS, class_color
from app.widgets.player import format_time

LIVE_SPAN_S = 30.0
MARGIN_X = 14  # as the player's seek slider, so the two line up
STRIP_TOP, STRIP_HEIGHT = 6, 18
LENS_GAP, LENS_HEIGHT = 10, 46
LEGEND_HEIGHT = 22


class Stretch(NamedTuple):
    """Frames [first, end) of the strip in one colour: the action there and its score (a
    window's confidence, or a per-frame segment's mean score)."""

    first: int
    end: int
    class_index: int
    label: str
    score: float


def frame_stretches(timeline: Any) -> list[Stretch]:
    """The stretches of a per-frame result (the engine's FrameTimeline) as the strip draws
    them: each drill's segments, and the footage not a known action as "other"
    (`told_segments`)."""
    index = {name: i for i, name in enumerate(timeline.class_names)}
    return [Stretch(s.start_frame, s.end_frame, OTHER, OTHER_LABEL, s.mean_score)
            if s.known is False else
            Stretch(s.start_frame, s.end_frame, index.get(s.label, -1), s.label, s.mean_score)
            for s in timeline.told_segments()]


def show_tooltip(widget: QWidget, event: QHelpEvent, text: str) -> None:
    """Answer a tooltip request on a strip: show `text`, or nothing where it is empty."""
    if text:
        QToolTip.showText(event.globalPos(), text, widget)
    else:
        QToolTip.hideText()
        event.ignore()


class PredictionTimeline(QWidget):
    """Signals: seekRequested(int): the user clicked or dragged to this frame."""

    seekRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._track = PredictionTrack()
        self._class_names: list[str] = []
        self._frame_count: int | None = None
        self._fps = 25.0
        self._position = -1
        self._current: WindowResult | None = None
        self._stages: tuple[int, ...] = (2, 3, 4, 5)
        self._segments: list[Stretch] | None = None
        self._segments_range: tuple[int, int] | None = None
        self._frame_result: list[Stretch] | None = None
        self._rep_frames: list[int] = []
        self._rep_notes: list[tuple[int, int, str]] = []
        self._seekable = False
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self._height())
        self.setMinimumWidth(200)

    @staticmethod
    def _height() -> int:
        return STRIP_TOP + STRIP_HEIGHT + LENS_GAP + LENS_HEIGHT + 4

    def sizeHint(self) -> QSize:
        return QSize(900, self._height())

    # --- what it shows -------------------------------------------------------------------

    def set_source(self, frame_count: int | None, fps: float, *, seekable: bool) -> None:
        self._frame_count = frame_count
        self._fps = fps if fps > 0 else 25.0
        self._seekable = seekable
        self._position = -1
        self._current = None
        self._frame_result = None
        self._rep_frames, self._rep_notes = [], []
        self.invalidate()

    def set_track(self, track: PredictionTrack, class_names: list[str]) -> None:
        """The windows to draw (the per-frame result, if any, is dropped)."""
        self._track = track
        self._class_names = list(class_names)
        self._frame_result = None
        self._rep_frames, self._rep_notes = [], []
        self.invalidate()

    def set_frame_result(self, stretches: Sequence[Stretch] | None) -> None:
        """The per-frame result of a whole-video analysis (its segments, in order): the strip
        draws these instead of the windows; None: the windows again."""
        self._frame_result = None if stretches is None else list(stretches)
        self.invalidate()

    def set_rep_frames(self, frames: Sequence[int],
                       notes: Sequence[tuple[int, int, str]] = ()) -> None:
        """The frames where counted repetitions end: a tick on the strip for each; `notes`:
        (first, end, text) of each counted stretch, which hovering there adds ("18 reps")."""
        self._rep_frames = sorted(int(f) for f in frames)
        self._rep_notes = list(notes)
        self.update()

    def rep_note(self, frame: int) -> str:
        """What the tooltip says of the repetitions at `frame` ("" where none were counted)."""
        return next((text for first, end, text in self._rep_notes if first <= frame < end), "")

    def rep_ticks(self) -> list[float]:
        """Where the strip draws a repetition's tick (x, widget pixels), left to right."""
        first, end = self._axis()
        return [self.x_of(f + 0.5) for f in self._rep_frames if first <= f < end]

    def has_frame_result(self) -> bool:
        return self._frame_result is not None

    trackChanged = Signal()

    def invalidate(self) -> None:
        """The track changed: recompute the coloured stretches."""
        self._segments = None
        self.update()
        self.trackChanged.emit()

    def set_position(self, frame: int) -> None:
        if frame != self._position:
            self._position = frame
            self.update()

    def set_current(self, result: WindowResult | None) -> None:
        if result is not self._current:
            self._current = result
            self.update()

    def set_stages(self, stages: tuple[int, ...]) -> None:
        self._stages = tuple(stages)
        self.update()

    def segments(self) -> list[Stretch]:
        """The coloured stretches on the strip, in order."""
        first, end = self._axis()
        if self._segments is None or self._segments_range != (first, end):
            if self._frame_result is not None:
                self._segments = [s for s in self._frame_result
                                  if s.end > first and s.first < end]
            else:
                self._segments = [
                    Stretch(a, b, OTHER, OTHER_LABEL, result.score) if result.unknown
                    else Stretch(a, b, result.class_index, result.label, result.score)
                    for a, b, result in (self._track.segments(end, first)
                                         if self._track else [])]
            self._segments_range = (first, end)
        return self._segments

    def legend(self) -> list[tuple[str, int, int]]:
        """(label, class index, frames) of the actions on the strip, most frames first."""
        frames: dict[int, int] = {}
        names: dict[int, str] = {}
        for stretch in self.segments():
            index = stretch.class_index
            frames[index] = frames.get(index, 0) + stretch.end - stretch.first
            names[index] = stretch.label
        order = sorted(frames, key=lambda i: (-frames[i], names[i]))
        return [(names[i], i, frames[i]) for i in order]

    def stretch_at(self, frame: int) -> Stretch | None:
        """The stretch of the strip over `frame`, if any."""
        stretches = self.segments()
        at = bisect.bisect_right([s.first for s in stretches], frame) - 1
        if at >= 0 and stretches[at].first <= frame < stretches[at].end:
            return stretches[at]
        return None

    # --- geometry ------------------------------------------------------------------------

    def _axis(self) -> tuple[int, int]:
        """The frames the strip spans: [first, end)."""
        if self._frame_count is not None:
            return 0, max(1, self._frame_count)
        span = max(1, round(LIVE_SPAN_S * self._fps))
        end = max(span, self._position + 1)
        return end - span, end

    def _strip_rect(self) -> QRectF:
        return QRectF(MARGIN_X, STRIP_TOP, max(1.0, self.width() - 2 * MARGIN_X), STRIP_HEIGHT)

    def _lens_rect(self) -> QRectF:
        strip = self._strip_rect()
        return QRectF(strip.left(), strip.bottom() + LENS_GAP, strip.width(), LENS_HEIGHT)

    def x_of(self, frame: float) -> float:
        first, end = self._axis()
        strip = self._strip_rect()
        return strip.left() + (frame - first) / (end - first) * strip.width()

    def frame_at(self, x: float) -> int:
        first, end = self._axis()
        strip = self._strip_rect()
        fraction = min(1.0, max(0.0, (x - strip.left()) / strip.width()))
        return min(end - 1, first + int(fraction * (end - first)))

    # --- painting ------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_strip(painter)
        self._paint_lens(painter)
        painter.end()

    def _paint_strip(self, painter: QPainter) -> None:
        strip = self._strip_rect()
        path = QPainterPath()
        path.addRoundedRect(strip, 4, 4)
        painter.fillPath(path, QColor(theme.RAISED))
        painter.save()
        painter.setClipPath(path)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # no seams
        for stretch in self.segments():
            left, right = round(self.x_of(stretch.first)), round(self.x_of(stretch.end))
            color = class_color(stretch.class_index)
            painter.fillRect(QRectF(left, strip.top(), max(1, right - left), strip.height()),
                             color)
        ticks = self.rep_ticks()
        if ticks:  # a short dark notch at the strip's foot where each repetition ends
            painter.setPen(QPen(QColor(0, 0, 0, 150), 1))
            for x in ticks:
                painter.drawLine(QPointF(round(x) + 0.5, strip.bottom() - 6),
                                 QPointF(round(x) + 0.5, strip.bottom()))
        painter.restore()
        current = self._current
        if current is not None:
            box = QRectF(self.x_of(current.start_frame), strip.top() - 1,
                         max(2.0, self.x_of(current.end_frame) - self.x_of(current.start_frame)),
                         strip.height() + 2)
            painter.setPen(QPen(QColor("#ffffff"), 1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box, 2, 2)
        if self._position >= 0:
            x = self.x_of(self._position + 0.5)
            painter.setPen(QPen(QColor("#ffffff"), 2))
            painter.drawLine(QPointF(x, strip.top() - 4), QPointF(x, strip.bottom() + 4))

    def _paint_lens(self, painter: QPainter) -> None:
        lens = self._lens_rect()
        strip = self._strip_rect()
        current = self._current
        small = derived_font(self.font(), point_scale=0.85, min_point_size=7.0)
        painter.setFont(small)
        metrics = QFontMetricsF(small)
        background = QPainterPath()
        background.addRoundedRect(lens, 4, 4)
        painter.fillPath(background, QColor(theme.PANEL).darker(112))
        if current is None:
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(lens, Qt.AlignmentFlag.AlignCenter,
                             "Temporal attention of the window on screen appears here")
            return
        # the window's span on the strip, opened out onto the lens
        left, right = self.x_of(current.start_frame), self.x_of(current.end_frame)
        funnel = QPolygonF([QPointF(left, strip.bottom() + 1), QPointF(right, strip.bottom() + 1),
                            QPointF(lens.right(), lens.top()), QPointF(lens.left(), lens.top())])
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255, 18))
        painter.drawPolygon(funnel)

        plot = lens.adjusted(8, 16, -8, -6)
        curves = []
        for stage in self._stages:
            spans = current.temporal_spans(stage)
            if spans:
                curves.append((stage, [(a, b, w * len(spans)) for a, b, w in spans]))
        top_value = max([2.0, *(v for _, spans in curves for _, _, v in spans)])

        def lens_x(frame: float) -> float:
            return plot.left() + (frame - current.start_frame) / current.length * plot.width()

        def lens_y(value: float) -> float:
            return plot.bottom() - value / top_value * plot.height()

        painter.setPen(QPen(QColor(255, 255, 255, 50), 1, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(plot.left(), lens_y(1.0)), QPointF(plot.right(), lens_y(1.0)))
        for stage, spans in curves:
            color = QColor(STAGE_COLORS.get(stage, theme.TEXT))
            points: list[QPointF] = []
            for a, b, value in spans:
                points += [QPointF(lens_x(a), lens_y(value)), QPointF(lens_x(b), lens_y(value))]
            painter.setPen(QPen(color, 1.8))
            painter.drawPolyline(points)
        if current.covers(self._position):
            x = lens_x(self._position + 0.5)
            painter.setPen(QPen(QColor(255, 255, 255, 150), 1))
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))

        # captions: what this is, where it is, which colour is which stage
        painter.setPen(QColor(theme.TEXT_MUTED))
        caption = (f"Temporal attention · frames {current.start_frame}–{current.end_frame - 1}"
                   f" · {format_time(current.start_s)}–{format_time(current.end_s)}")
        painter.drawText(QPointF(lens.left() + 8, lens.top() + 2 + metrics.ascent()), caption)
        x = lens.right() - 8
        for stage, _ in reversed(curves):
            text = f"stage {stage}"
            width = metrics.horizontalAdvance(text)
            x -= width
            painter.setPen(QColor(STAGE_COLORS.get(stage, theme.TEXT)))
            painter.drawText(QPointF(x, lens.top() + 2 + metrics.ascent()), text)
            x -= 12
        if not curves:
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter,
                             "This model has no temporal attention")

    # --- the mouse -----------------------------------------------------------------------

    def _on_strip(self, pos: QPointF) -> bool:
        strip = self._strip_rect().adjusted(-MARGIN_X, -STRIP_TOP, MARGIN_X, 4)
        return strip.contains(pos)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if (event.button() == Qt.MouseButton.LeftButton and self._seekable
                and self._on_strip(event.position())):
            self.seekRequested.emit(self.frame_at(event.position().x()))
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton and self._seekable:
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
        """What hovering at `pos` tells: the action there, its confidence, its frames."""
        if not self._on_strip(pos):
            return ""
        frame = self.frame_at(pos.x())
        where = f"{format_time(frame / self._fps)} · frame {frame}"
        if self._frame_result is not None:
            stretch = self.stretch_at(frame)
            if stretch is None:
                return f"{where}\nnot analysed"
            seconds = (stretch.end - stretch.first) / self._fps
            reps = self.rep_note(frame)
            return (f"<b>{display_name(stretch.label)}</b> {seconds:.1f} s, "
                    f"{format_time(stretch.first / self._fps)}–"
                    f"{format_time(stretch.end / self._fps)}<br>"
                    f"<span style='color:{theme.TEXT_MUTED}'>frames {stretch.first}–"
                    f"{stretch.end - 1} · mean score {stretch.score * 100:.0f}% · per frame, "
                    f"smoothed</span><br>{reps + '<br>' if reps else ''}{where}")
        result = self._track.at(frame) if self._track else None
        if result is None:
            return f"{where}\nno prediction here"
        ranked = "\n".join(
            f"{display_name(label)}  {score * 100:.0f}%"
            for label, score in zip(result.labels[1:3], result.scores[1:3], strict=False)
        )
        return (f"<b>{display_name(result.label)}</b> {result.score * 100:.0f}%<br>"
                f"<span style='color:{theme.TEXT_MUTED}'>{ranked.replace(chr(10), '<br>')}"
                f"</span><br>{where} (window {result.start_frame}–{result.end_frame - 1})")


class TimelineLegend(QWidget):
    """The actions on a timeline's strip, with their colours, most frequent first."""

    def __init__(self, timeline: PredictionTimeline, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._timeline = timeline
        timeline.trackChanged.connect(self.update)
        timeline.trackChanged.connect(self._say_all)
        self.setFixedHeight(LEGEND_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def entries(self) -> list[tuple[str, int, int]]:
        """What the legend shows: (class name as displayed, class index, frames)."""
        return [(display_name(label), index, frames)
                for label, index, frames in self._timeline.legend()]

    def layout(self) -> tuple[list[tuple[str, int, float, float]], int]:
        """The entries that fit the width, as (label, class index, x, width), and how many
        are left out (said as "+N more" at the end)."""
        metrics = QFontMetricsF(self.font())
        entries = self.entries()
        placed: list[tuple[str, int, float, float]] = []
        x = float(MARGIN_X)
        for n, (label, index, _) in enumerate(entries):
            width = metrics.horizontalAdvance(label) + 14 + 16
            rest = len(entries) - n - 1
            room = self.width() - 4 - (metrics.horizontalAdvance(f"+{rest} more") if rest else 0)
            if x + width > room:
                return placed, len(entries) - n
            placed.append((label, index, x, width))
            x += width
        return placed, 0

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = QFontMetricsF(self.font())
        x = float(MARGIN_X)
        entries = self.entries()
        if not entries:
            painter.setPen(QColor(theme.TEXT_MUTED))
            text = metrics.elidedText(
                "Predictions fill the strip as the video plays, or all at once with "
                "Analyse whole video", Qt.TextElideMode.ElideRight, self.width() - 2 * x)
            painter.drawText(QRectF(x, 0, self.width() - 2 * x, LEGEND_HEIGHT),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            painter.end()
            return
        placed, hidden = self.layout()
        for label, index, x, width in placed:
            chip = QRectF(x, LEGEND_HEIGHT / 2 - 5, 10, 10)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(class_color(index))
            painter.drawRoundedRect(chip, 3, 3)
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(QRectF(x + 14, 0, width, LEGEND_HEIGHT),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
        if hidden:
            x = placed[-1][2] + placed[-1][3] if placed else float(MARGIN_X)
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(QRectF(x, 0, self.width() - x, LEGEND_HEIGHT),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             f"+{hidden} more")
        painter.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._say_all()

    def _say_all(self) -> None:
        """Where some actions do not fit, the tooltip names them all."""
        hidden = self.layout()[1]
        self.setToolTip(", ".join(label for label, _, _ in self.entries()) if hidden else "")
