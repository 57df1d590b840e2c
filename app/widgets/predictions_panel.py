"""The recognition panel: the five most likely actions of the window on screen, as bars, the
time per action so far, and further sections between them (`add_section`: the repetitions
of each drill).

When the model says the window on screen is "not a known action", the heading says so and the
bars show the nearest classes, none of them picked out as the answer."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app import theme
from app.names import display_name
from app.services.results import OTHER, ActionTime, ModelInfo, WindowResult
from app.widgets.fonts import derived_font
from app.widgets.overlay import UNKNOWN_TEXT, class_color
from app.widgets.player import format_time

ROW_HEIGHT = 30


class TopPredictionsView(QWidget):
    """Horizontal bars: label on the left, the score as a bar in the class colour, percent."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: WindowResult | None = None
        self._placeholder = "No prediction yet"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(ROW_HEIGHT * 5 + 8)
        self.setMinimumWidth(220)

    def sizeHint(self) -> QSize:
        return QSize(280, ROW_HEIGHT * 5 + 8)

    def set_result(self, result: WindowResult | None) -> None:
        if result is self._result:
            return
        self._result = result
        self.update()

    def result(self) -> WindowResult | None:
        return self._result

    def set_placeholder_text(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def rows(self) -> list[tuple[str, float]]:
        """What the bars show: (class name as displayed, score), best first."""
        if self._result is None:
            return []
        return [(display_name(label), score) for label, score
                in zip(self._result.labels, self._result.scores, strict=False)][:5]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rows = self.rows()
        if not rows:
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            painter.end()
            return
        font = self.font()
        bold = derived_font(font, weight=QFont.Weight.DemiBold)
        digits = derived_font(font, tabular_digits=True)
        metrics = QFontMetricsF(font)
        percent_width = QFontMetricsF(digits).horizontalAdvance("100%") + 4
        assert self._result is not None
        indices = self._result.label_indices
        left, right = 4.0, self.width() - 4.0
        answer = not self._result.unknown  # else no bar is the answer: all drawn alike
        for n, (label, score) in enumerate(rows):
            top = 4 + n * ROW_HEIGHT
            text_rect = QRectF(left, top, right - left - percent_width - 6, 16)
            first = n == 0 and answer
            painter.setFont(bold if first else font)
            painter.setPen(QColor(theme.TEXT if first else theme.TEXT_MUTED))
            painter.drawText(
                text_rect,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                metrics.elidedText(label, Qt.TextElideMode.ElideRight, text_rect.width()),
            )
            painter.setFont(digits)
            painter.drawText(
                QRectF(right - percent_width, top, percent_width, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{score * 100:.0f}%",
            )
            track = QRectF(left, top + 18, right - left, 6)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(theme.RAISED))
            painter.drawRoundedRect(track, 3, 3)
            color = class_color(indices[n] if n < len(indices) else -1)
            if not answer:
                color = class_color(OTHER)
            if n > 0 or not answer:
                color.setAlphaF(0.75)
            filled = QRectF(track.left(), track.top(), max(6.0, track.width() * score), 6)
            painter.setBrush(color)
            painter.drawRoundedRect(filled, 3, 3)
        painter.end()


class SessionView(QWidget):
    """Time per action so far, longest first: a colour chip, the action, the seconds."""

    MAX_ROWS = 6

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ActionTime] = []
        self._colors: dict[str, QColor] = {}
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit()

    def set_rows(self, rows: list[ActionTime], colors: dict[str, QColor]) -> None:
        self._rows, self._colors = list(rows), dict(colors)
        self._fit()
        self.update()

    def rows(self) -> list[ActionTime]:
        return list(self._rows)

    def _fit(self) -> None:
        self.setFixedHeight(max(1, min(len(self._rows), self.MAX_ROWS)) * 22 + 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self._rows:
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(QRectF(4, 0, self.width() - 8, 22),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             "No predictions yet")
            painter.end()
            return
        digits = derived_font(self.font(), tabular_digits=True)
        metrics = QFontMetricsF(self.font())
        time_width = QFontMetricsF(digits).horizontalAdvance("000.0 s  100%") + 4
        for n, row in enumerate(self._rows[: self.MAX_ROWS]):
            top = 2 + n * 22
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._colors.get(row.label, QColor(theme.TEXT_MUTED)))
            painter.drawRoundedRect(QRectF(4, top + 6, 10, 10), 3, 3)
            painter.setPen(QColor(theme.TEXT))
            label_rect = QRectF(20, top, self.width() - 28 - time_width, 22)
            painter.setFont(self.font())
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(display_name(row.label),
                                                Qt.TextElideMode.ElideRight,
                                                label_rect.width()))
            painter.setFont(digits)
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(QRectF(self.width() - 4 - time_width, top, time_width, 22),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{row.seconds:.1f} s  {row.share * 100:3.0f}%")
        painter.end()


class PredictionsPanel(QWidget):
    """The dock's contents: the window on screen, its top-5 bars, the time per action so far,
    and the model's name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bars = TopPredictionsView(self)
        self._heading = QLabel("Top 5 actions", self)
        self._heading.setObjectName("panelHeading")
        self._caption = QLabel(self)
        self._caption.setObjectName("panelCaption")
        self._caption.setWordWrap(True)
        self._session_heading = QLabel("Time per action", self)
        self._session_heading.setObjectName("panelHeading")
        self._session = SessionView(self)
        self._model_label = QLabel(self)
        self._model_label.setObjectName("panelCaption")
        self._model_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(4)
        layout.addWidget(self._heading)
        layout.addWidget(self._caption)
        layout.addSpacing(2)
        layout.addWidget(self._bars)
        layout.addSpacing(8)
        self._sections_at = layout.count()  # where add_section puts its heading
        layout.addWidget(self._session_heading)
        layout.addWidget(self._session)
        layout.addSpacing(6)
        layout.addWidget(self._model_label)
        layout.addStretch(1)
        self._layout = layout
        self.set_model(None)
        self.set_result(None)

    @property
    def bars(self) -> TopPredictionsView:
        return self._bars

    def add_section(self, heading: QLabel, widget: QWidget) -> None:
        """A further section (its heading label, then `widget`) under the top five, above
        the time per action."""
        heading.setObjectName("panelHeading")
        for item in (heading, widget):
            self._layout.insertWidget(self._sections_at, item)
            self._sections_at += 1
        self._layout.insertSpacing(self._sections_at, 8)
        self._sections_at += 1

    def heading(self) -> str:
        """The top section's heading: "Top 5 actions", or "Not a known action · nearest 5"."""
        return self._heading.text()

    def set_model(self, info: ModelInfo | None) -> None:
        if info is None:
            self._model_label.setText("No model loaded: Model ▸ Open model…")
            self._bars.set_placeholder_text("No model")
        else:
            self._model_label.setText(
                f"{info.name} · {len(info.class_names)} actions · {info.device_name}"
            )
            self._model_label.setToolTip(f"{info.architecture}\n{info.path}")
            self._bars.set_placeholder_text("No prediction yet")

    def set_result(self, result: WindowResult | None) -> None:
        self._bars.set_result(result)
        unknown = result is not None and result.unknown
        self._heading.setText(f"{UNKNOWN_TEXT} · nearest 5" if unknown else "Top 5 actions")
        self._heading.setToolTip(
            "The model does not know what this window shows: the bars are the classes it "
            "comes nearest to, not an answer" if unknown else "")
        if result is None:
            self._caption.setText("of the window on screen")
            return
        self._caption.setText(
            f"Frames {result.start_frame}–{result.end_frame - 1} · "
            f"{format_time(result.start_s)}–{format_time(result.end_s)}"
            + (f" · {result.latency_ms:.0f} ms" if result.origin == "live" else "")
        )

    @property
    def session(self) -> SessionView:
        return self._session

    def set_session(self, rows: list[ActionTime], colors: dict[str, QColor], *,
                    scope: str = "", basis: str = "") -> None:
        """The time per action; `scope`, a word or two after the heading ("whole video"),
        and `basis`, what it counts, in its tooltip ("every frame of the whole video,
        smoothed")."""
        self._session.set_rows(rows, colors)
        self._session_heading.setText("Time per action" + (f" · {scope}" if scope else ""))
        tip = f"Counted over {basis}" if rows and basis else ""
        self._session_heading.setToolTip(tip)
        self._session.setToolTip(tip)

    def session_heading(self) -> str:
        return self._session_heading.text()

    def session_basis(self) -> str:
        return self._session.toolTip()
