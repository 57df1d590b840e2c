"""The repetitions of a whole-video analysis in the window: the Recognition panel's table of
drills and the Rhythm dock.

`RepsViews` follows `LiveResults`: when a whole-video analysis ends it lists each segment of
the per-frame result with its repetitions, repetitions per minute and evenness of pace
(app/widgets/reps_panel.py), and shows the self-similarity picture (app/widgets/
rhythm_view.py) of the drill at the playhead or of the whole video, with the playhead marked.
Counts read from a batch analysis's result file have no pictures: the Rhythm dock says so
(`RepCounts.no_rhythm`).
The counting itself ran on the recognition worker's thread (app/services/counting.py); the
badge's running count and the timeline's ticks are drawn by `LiveResults`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QVBoxLayout, QWidget

from app.controllers.live import LiveResults
from app.names import display_name
from app.services.counts import RepCounts, Rhythm
from app.widgets.player import PlayerWidget, format_time
from app.widgets.reps_panel import PLACEHOLDER, RepsTable
from app.widgets.rhythm_view import PLACEHOLDER as RHYTHM_PLACEHOLDER
from app.widgets.rhythm_view import RhythmView


class PanelHost(Protocol):
    """Where the Rhythm dock goes (the recognition window)."""

    def new_panel(self, title: str, name: str, widget: QWidget, *,
                  scroll: bool = True) -> QDockWidget: ...

    def add_panel(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> None: ...


class RepsViews(QObject):
    """Its widgets: `table` (in the Recognition panel, under `heading`) and `rhythm` (the
    Rhythm dock's contents, `dock`)."""

    def __init__(self, live: LiveResults, player: PlayerWidget,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live = live
        self._player = player
        self._shown: tuple[object, ...] | None = None
        self.heading = QLabel("Repetitions")
        self.table = RepsTable()
        self.note = QLabel(PLACEHOLDER)
        self.note.setObjectName("panelCaption")
        self.note.setWordWrap(True)
        self.rhythm = RhythmView()
        self.dock: QDockWidget | None = None
        section = QWidget()
        layout = QVBoxLayout(section)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        live.panel.add_section(self.heading, section)

        live.analysisChanged.connect(self.update_views)
        player.frameShown.connect(self.frame_shown)
        self.table.segmentChosen.connect(player.seek)
        self.rhythm.scopeChanged.connect(lambda _: self.frame_shown(player.current_index()))
        self.update_views()

    def add_dock(self, window: PanelHost) -> None:
        """The Rhythm dock, on the right."""
        self.dock = window.new_panel("Rhythm", "rhythmDock", self.rhythm)
        window.add_panel(self.dock, Qt.DockWidgetArea.RightDockWidgetArea)

    def counts(self) -> RepCounts | None:
        analysis = self._live.analysis
        return analysis.reps if analysis is not None and analysis.reps else None

    def update_views(self) -> None:
        """A whole-video analysis ended, or the answers were reset."""
        counts = self.counts()
        segments = counts.segments if counts is not None else []
        self.table.set_segments(segments, self._live.class_names())
        self.table.setVisible(bool(segments))
        counted = [s for s in segments if s.counted]
        if counts is None:
            self.heading.setText("Repetitions")
            self.note.setText(PLACEHOLDER)
        else:
            total = sum(int(s.total or 0) for s in counted)
            self.heading.setText(f"Repetitions · {total} in {len(counted)} of "
                                 f"{len(segments)} drills")
            self.note.setText("Pace: how even the time between repetitions was (a dash: "
                              "too few to tell). Hover over a row for more, or for why a "
                              "drill was not counted.")
        self._shown = None
        self.frame_shown(self._player.current_index())

    def frame_shown(self, frame: int) -> None:
        self.table.set_current_frame(frame)
        self.rhythm.set_frame(frame)
        counts = self.counts()
        if counts is None:
            self._show(None, None, "")
            return
        if counts.no_rhythm:  # counts without pictures (a result file's)
            self._show(("none", id(counts)), None, counts.no_rhythm,
                       placeholder=counts.no_rhythm)
            return
        if self.rhythm.whole_video():
            self._show(("whole", id(counts)), counts.whole, "The whole video",
                       counts.rep_frames())
            return
        segment = counts.at(frame)
        if segment is None:
            return  # keep the last drill's picture between drills
        index = counts.segments.index(segment)
        picture = counts.rhythms[index] if index < len(counts.rhythms) else None
        span = f"{format_time(segment.start_s)}–{format_time(segment.end_s)}"
        told = (f"{segment.total} reps" if segment.counted
                else f"not counted: {segment.reason}")
        self._show((index, id(counts)), picture,
                   f"{display_name(segment.label)} · {span} · {told}", segment.rep_frames)

    def _show(self, key: tuple[object, ...] | None, picture: Rhythm | None, caption: str,
              rep_frames: Sequence[int] = (), placeholder: str = RHYTHM_PLACEHOLDER) -> None:
        if key == self._shown and key is not None:
            return
        self._shown = key
        self.rhythm.set_rhythm(picture, caption, rep_frames, placeholder)
