"""The rhythm of a drill: the self-similarity of its frames as a picture.

Pixel (i, j) is how alike frames i and j look (the engine's frame embeddings, cosine
similarity: bright alike, dark unlike). A steady drill draws bright stripes parallel to the
diagonal, one cycle apart; a pause is a block; a change of tempo bends the stripes. The
playhead is marked by a cross through its row and column, and each counted repetition by a
tick along the top and left edges. It shows the segment at the playhead, or the whole video.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.services.counts import Rhythm
from app.widgets.overlay import rgba_to_qimage

PLACEHOLDER = "Analyse the whole video to see the rhythm of each drill"


def rhythm_rgba(matrix: np.ndarray) -> np.ndarray:
    """A self-similarity matrix (-1 to 1) as RGBA (the "magma" colours: dark unlike, bright
    alike), its contrast stretched between the 2nd and 99.5th percentiles."""
    values = np.asarray(matrix, dtype=np.float32)
    low, high = np.percentile(values, [2.0, 99.5]) if values.size else (0.0, 1.0)
    scaled = np.clip((values - low) / max(1e-6, float(high - low)), 0.0, 1.0)
    levels = np.round(scaled * 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_MAGMA), cv2.COLOR_BGR2RGB)
    return np.dstack([rgb, np.full(levels.shape, 255, np.uint8)])


class RhythmPicture(QWidget):
    """The matrix, square, with the playhead and the repetitions marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rhythm: Rhythm | None = None
        self._image: QImage | None = None
        self._frame = -1
        self._reps: list[int] = []
        self.placeholder = PLACEHOLDER  # what is said where there is no picture
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(280, 280)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    def set_rhythm(self, rhythm: Rhythm | None, rep_frames: Sequence[int] = ()) -> None:
        if rhythm is not self._rhythm:
            self._rhythm = rhythm
            self._image = None if rhythm is None else rgba_to_qimage(rhythm_rgba(rhythm.matrix))
        self._reps = list(rep_frames)
        self.update()

    def rhythm(self) -> Rhythm | None:
        return self._rhythm

    def set_frame(self, frame: int) -> None:
        if frame != self._frame:
            self._frame = frame
            self.update()

    def playhead(self) -> int | None:
        """The matrix row (and column) marked as the playhead; None when it lies outside."""
        return None if self._rhythm is None else self._rhythm.index_of(self._frame)

    def picture_rect(self) -> QRectF:
        side = max(1.0, min(self.width(), self.height()) - 2.0)
        return QRectF((self.width() - side) / 2, 1.0, side, side)

    def position_of(self, index: float) -> float:
        """Pixels from the picture's left (or top) edge to the middle of row `index`."""
        count = len(self._rhythm.frames) if self._rhythm is not None else 1
        return (index + 0.5) / count * self.picture_rect().width()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.picture_rect()
        if self._image is None or self._rhythm is None:
            painter.setPen(QColor(theme.TEXT_MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter
                             | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(rect, self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rows = self._rhythm.frames
        painter.setPen(QPen(QColor(255, 255, 255, 200), 1))
        for frame in self._reps:  # each repetition's end, along the top and the left edge
            index = self._rhythm.index_of(frame)
            if index is None:
                continue
            at = self.position_of(index)
            painter.drawLine(QPointF(rect.left() + at, rect.top()),
                             QPointF(rect.left() + at, rect.top() + 5))
            painter.drawLine(QPointF(rect.left(), rect.top() + at),
                             QPointF(rect.left() + 5, rect.top() + at))
        head = self.playhead()
        if head is not None and len(rows):
            at = self.position_of(head)
            painter.setPen(QPen(QColor(80, 200, 255, 170), 1.5))
            painter.drawLine(QPointF(rect.left() + at, rect.top()),
                             QPointF(rect.left() + at, rect.bottom()))
            painter.drawLine(QPointF(rect.left(), rect.top() + at),
                             QPointF(rect.right(), rect.top() + at))
        painter.end()


class RhythmView(QWidget):
    """A caption, the picture and a choice of scope: the drill at the playhead or the whole
    video. Signals: scopeChanged(bool): True for the whole video."""

    scopeChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(self)
        self.caption.setObjectName("panelCaption")
        self.caption.setWordWrap(True)
        self.picture = RhythmPicture(self)
        self.segment_button = QRadioButton("This drill", self)
        self.whole_button = QRadioButton("Whole video", self)
        self.segment_button.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.segment_button)
        group.addButton(self.whole_button)
        self.whole_button.toggled.connect(self.scopeChanged)
        choice = QHBoxLayout()
        choice.setContentsMargins(0, 0, 0, 0)
        choice.addWidget(self.segment_button)
        choice.addWidget(self.whole_button)
        choice.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(4)
        layout.addLayout(choice)
        layout.addWidget(self.caption)
        layout.addWidget(self.picture, 1)
        self.setToolTip("How alike every two frames look: bright stripes one cycle apart are a "
                        "steady rhythm; a block is a pause; bending stripes a change of pace. "
                        "The cross is the playhead, the white ticks the repetitions counted.")

    def whole_video(self) -> bool:
        return self.whole_button.isChecked()

    def set_rhythm(self, rhythm: Rhythm | None, caption: str,
                   rep_frames: Sequence[int] = (), placeholder: str = PLACEHOLDER) -> None:
        """Show `rhythm` under `caption`; `placeholder` is said where there is none."""
        self.picture.placeholder = placeholder
        self.picture.set_rhythm(rhythm, rep_frames)
        self.caption.setText(caption)

    def set_frame(self, frame: int) -> None:
        self.picture.set_frame(frame)
