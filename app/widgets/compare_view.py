"""The comparison window: two videos side by side, one transport for both, and what differs.

Painting and layout only; app/controllers/compare.py opens the videos, keeps them in step
and fills the readout. Each side (`ComparePane`) is the program's own `PlayerWidget` (its
transport bar hidden: the shared one below moves both; its keys answer only inside the
pane) with the recognition overlay, and an `AlignedTimeline` (the prediction timeline with
the aligned moments marked). Under them the shared `TransportBar`, and `CompareReadout`:
each side's action and confidence at the aligned moment, its tempo, and its attention
heatmap at that moment (a model whose attention never learnt gets a note there instead).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QImage,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.services.results import UNTRAINED_ATTENTION_SHORT
from app.widgets.fonts import derived_font
from app.widgets.icons import MediaIcon, media_icon
from app.widgets.overlay import crop_rect, paint_heatmap, paint_note
from app.widgets.player import SPEEDS, PlayerWidget
from app.widgets.timeline import STRIP_HEIGHT, STRIP_TOP, PredictionTimeline
from app.widgets.transport import TransportBar

MARK_COLOR = "#f1c84e"
HEATMAP_SIDE = 132


class AlignedTimeline(PredictionTimeline):
    """The prediction timeline with the aligned moments as small ticks over the strip (the
    same k-th tick on both sides marks frames that go together) and the anchor of the
    alignment as a taller one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._marks: list[int] = []
        self._anchor: int | None = None

    def set_marks(self, frames: Sequence[int], anchor: int | None = None) -> None:
        self._marks = [int(f) for f in frames]
        self._anchor = anchor
        self.update()

    def marks(self) -> list[int]:
        return list(self._marks)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._marks and self._anchor is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        top, bottom = STRIP_TOP, STRIP_TOP + STRIP_HEIGHT
        painter.setPen(QPen(QColor(MARK_COLOR), 1.5))
        for frame in self._marks:
            x = self.x_of(frame + 0.5)
            painter.drawLine(QPointF(x, top - 4), QPointF(x, top + 5))
            painter.drawLine(QPointF(x, bottom - 5), QPointF(x, bottom + 4))
        if self._anchor is not None:
            x = self.x_of(self._anchor + 0.5)
            painter.setPen(QPen(QColor(MARK_COLOR), 2.5))
            painter.drawLine(QPointF(x, top - 6), QPointF(x, bottom + 6))
        painter.end()


class ComparePane(QFrame):
    """One side: a header (title, open, nudge one frame back / forward, position), the
    player and its timeline.

    Signals: openRequested(), nudged(int): move this side alone by that many frames."""

    openRequested = Signal()
    nudged = Signal(int)

    def __init__(self, side: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"comparePane{side}")
        self.side = side
        self.player = PlayerWidget(self, autoplay=False)
        self.player.view.set_placeholder_text(f"Open video {side}")
        # the shared transport and its keys move both: this player's own are put away
        for bar in self.player.findChildren(TransportBar):
            bar.hide()
        for act in self.player.playback_actions():
            act.setShortcuts([])

        self.title = QLabel(f"{side}: no video")
        self.title.setObjectName("panelTitle")
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.openRequested)
        self.nudge_back = QToolButton()
        self.nudge_back.setIcon(media_icon(MediaIcon.STEP_BACKWARD, theme.TEXT))
        self.nudge_back.setToolTip(f"Move {side} alone one frame back (sets the offset)")
        self.nudge_back.clicked.connect(lambda: self.nudged.emit(-1))
        self.nudge_forward = QToolButton()
        self.nudge_forward.setIcon(media_icon(MediaIcon.STEP_FORWARD, theme.TEXT))
        self.nudge_forward.setToolTip(f"Move {side} alone one frame forward (sets the offset)")
        self.nudge_forward.clicked.connect(lambda: self.nudged.emit(1))
        self.position = QLabel("")
        self.position.setObjectName("frameLabel")

        header = QHBoxLayout()
        header.setContentsMargins(8, 4, 8, 4)
        header.addWidget(self.title, 1)
        header.addWidget(self.position)
        header.addSpacing(8)
        header.addWidget(self.nudge_back)
        header.addWidget(self.nudge_forward)
        header.addWidget(self.open_button)

        self.timeline = AlignedTimeline(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.player, 1)
        layout.addWidget(self.timeline)


class CompareReadout(QFrame):
    """What differs at the aligned moment, one column per side: action and confidence,
    tempo, and the attention heatmap over the network's crop; and a line on how the two are
    lined up."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareReadout")
        grid = QGridLayout(self)
        grid.setContentsMargins(12, 6, 12, 8)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(4)
        self.sync_label = QLabel("")
        self.sync_label.setWordWrap(True)
        grid.addWidget(self.sync_label, 0, 0, 1, 5)
        self.action: dict[str, QLabel] = {}
        self.tempo: dict[str, QLabel] = {}
        self.heatmap: dict[str, QLabel] = {}
        for column, side in ((1, "A"), (3, "B")):
            caption = QLabel(side)
            caption.setObjectName("panelCaption")
            grid.addWidget(caption, 1, column - 1, 3, 1, Qt.AlignmentFlag.AlignTop)
            self.heatmap[side] = QLabel()
            self.heatmap[side].setFixedSize(HEATMAP_SIDE, HEATMAP_SIDE)
            self.heatmap[side].setStyleSheet(f"background: {theme.VIDEO_BACKGROUND};")
            self.heatmap[side].setToolTip(f"Where the network looks in {side} at this moment")
            self.action[side] = QLabel("—")
            self.action[side].setFont(derived_font(self.font(), point_scale=1.2,
                                                   weight=QFont.Weight.DemiBold))
            self.tempo[side] = QLabel("—")
            self.tempo[side].setFont(derived_font(self.font(), point_scale=1.1,
                                                  tabular_digits=True))
            text = QVBoxLayout()
            text.addWidget(self.action[side])
            text.addWidget(self.tempo[side])
            text.addStretch(1)
            row = QHBoxLayout()
            row.addWidget(self.heatmap[side])
            row.addLayout(text, 1)
            grid.addLayout(row, 1, column, 3, 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)

    def show_side(self, side: str, action: str, tempo: str, picture: QImage | None,
                  heatmap: QImage | None, attention_note: str = "") -> None:
        """One side's readout: its action text (with confidence), tempo text, and the
        network's crop of `picture` with `heatmap` over it (none: an empty square). With an
        `attention_note` (the model's attention never learnt) no heatmap: the square says
        so briefly (UNTRAINED_ATTENTION_SHORT), its tooltip gives the note in full."""
        self.action[side].setText(action)
        self.tempo[side].setText(f"Tempo: {tempo}")
        self.heatmap[side].setPixmap(_crop_with_heatmap(
            picture, None if attention_note else heatmap,
            UNTRAINED_ATTENTION_SHORT if attention_note else ""))
        self.heatmap[side].setToolTip(attention_note or
                                      f"Where the network looks in {side} at this moment")

    def texts(self, side: str) -> tuple[str, str]:
        return self.action[side].text(), self.tempo[side].text()


def _crop_with_heatmap(picture: QImage | None, heatmap: QImage | None,
                       note: str = "") -> QPixmap:
    canvas = QPixmap(HEATMAP_SIDE, HEATMAP_SIDE)
    canvas.fill(QColor(theme.VIDEO_BACKGROUND))
    if picture is None or picture.isNull():
        return canvas
    square = crop_rect(QRectF(picture.rect()))
    painter = QPainter(canvas)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    target = QRectF(0, 0, HEATMAP_SIDE, HEATMAP_SIDE)
    painter.drawImage(target, picture, square)
    if note:
        paint_note(painter, target, note)
    elif heatmap is not None:
        paint_heatmap(painter, target, heatmap)
    painter.end()
    return canvas


class CompareView(QWidget):
    """The comparison window: a row of choices (how to sync, the offset, analyse, export),
    the two panes, the shared transport and the readout. Its actions (`play_action`, the
    steps and jumps) have the player's keys within this window."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("compareView")
        self.setWindowTitle("Compare videos")
        self.pane_a, self.pane_b = ComparePane("A", self), ComparePane("B", self)

        def action(text: str, keys: QKeySequence | str, icon: MediaIcon) -> QAction:
            act = QAction(text, self)
            act.setShortcut(QKeySequence(keys))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setIcon(media_icon(icon, theme.TEXT))
            act.setToolTip(f"{text} both ({act.shortcut().toString()})")
            self.addAction(act)
            return act

        self.play_action = action("Play", Qt.Key.Key_Space, MediaIcon.PLAY)
        self.play_action.setIcon(media_icon(MediaIcon.PLAY, "#0b0c0d"))
        self.step_backward_action = action("Previous frame", Qt.Key.Key_Left,
                                           MediaIcon.STEP_BACKWARD)
        self.step_forward_action = action("Next frame", Qt.Key.Key_Right, MediaIcon.STEP_FORWARD)
        self.jump_backward_action = action(
            "Back 1 s", QKeySequence(Qt.Modifier.SHIFT | Qt.Key.Key_Left), MediaIcon.JUMP_BACKWARD)
        self.jump_forward_action = action(
            "Forward 1 s", QKeySequence(Qt.Modifier.SHIFT | Qt.Key.Key_Right),
            MediaIcon.JUMP_FORWARD)
        self.transport = TransportBar(
            [self.jump_backward_action, self.step_backward_action, self.play_action,
             self.step_forward_action, self.jump_forward_action], SPEEDS, self)

        self.mode_combo = QComboBox()
        self.mode_combo.setToolTip("How the two videos are lined up")
        self.action_combo = QComboBox()
        self.action_combo.setToolTip("The action to line up by (found in both by the model)")
        self.action_combo.setMinimumWidth(140)
        self.action_combo.setEnabled(False)
        self.offset_spin = QSpinBox()
        self.offset_spin.setRange(-100_000, 100_000)
        self.offset_spin.setSuffix(" frames")
        self.offset_spin.setToolTip("Frames of B ahead of A (B's frame shown with A's first)")
        self.analyse_button = QPushButton("Analyse both")
        self.analyse_button.setToolTip("Recognise the actions in both videos with the model")
        self.export_button = QPushButton("Export side by side…")
        self.status = QLabel("")
        self.status.setObjectName("panelCaption")

        choices = QHBoxLayout()
        choices.setContentsMargins(12, 8, 12, 4)
        choices.addWidget(QLabel("Sync by"))
        choices.addWidget(self.mode_combo)
        choices.addWidget(self.action_combo)
        choices.addSpacing(10)
        choices.addWidget(QLabel("Offset"))
        choices.addWidget(self.offset_spin)
        choices.addSpacing(10)
        choices.addWidget(self.analyse_button)
        choices.addWidget(self.status, 1)
        choices.addWidget(self.export_button)

        panes = QSplitter(Qt.Orientation.Horizontal)
        panes.addWidget(self.pane_a)
        panes.addWidget(self.pane_b)
        panes.setChildrenCollapsible(False)
        self.readout = CompareReadout(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(choices)
        layout.addWidget(panes, 1)
        layout.addWidget(self.transport)
        layout.addWidget(self.readout)

    def set_modes(self, modes: dict[str, str]) -> None:
        self.mode_combo.clear()
        for key, text in modes.items():
            self.mode_combo.addItem(text, key)

    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_playing(self, playing: bool) -> None:
        self.play_action.setText("Pause" if playing else "Play")
        self.play_action.setIcon(media_icon(MediaIcon.PAUSE if playing else MediaIcon.PLAY,
                                            "#0b0c0d"))

    def closeEvent(self, event: object) -> None:
        self.closed.emit()
        super().closeEvent(event)  # type: ignore[arg-type]
