"""The answers for the source on screen, and everything that shows them.

`LiveResults` keeps the answers in a `PredictionTrack` (live answers as they come, or a
whole-file analysis) and on every frame shows the one that describes it: in the badge and
heatmap over the picture (with the running repetition count after a whole-video analysis),
the top-5 bars, the timeline (with a tick per repetition) and the attention panel. It keeps the
overlay options (saved in the settings: UI state only), the place clicked on the picture (whose
answer then needs its full spatial maps, asked for from the service), and the session totals
of the Recognition panel.

Once a whole-file analysis ends, its per-frame result (`AnalysisResult.timeline`: the action
at every frame, smoothed) is what the timeline's strip draws and what the session totals
count; live answers and an analysis under way are counted by their windows.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRectF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter

from app.services.frames import SourceInfo
from app.services.recognition_service import RecognitionService
from app.services.results import (
    OTHER,
    OTHER_LABEL,
    STAGES,
    ActionTime,
    AnalysisResult,
    PredictionTrack,
    WindowResult,
    action_seconds,
    attention_note,
    timeline_seconds,
)
from app.widgets.attention_panel import AttentionPanel
from app.widgets.overlay import (
    OverlayOptions,
    class_color,
    crop_rect,
    heatmap_image,
    maps_for,
    paint_recognition,
)
from app.widgets.player import PlayerWidget
from app.widgets.predictions_panel import PredictionsPanel
from app.widgets.timeline import PredictionTimeline, frame_stretches

SESSION_UPDATE_MS = 400
"""The session totals follow new answers in batches, at most this often."""
TIMELINE_UPDATE_MS = 200
"""The timeline strip is repainted this often while an analysis adds windows."""


def load_options(settings: QSettings) -> OverlayOptions:
    s = settings
    default = OverlayOptions()
    stages_text = str(s.value("overlay/stages", ",".join(map(str, default.stages)), type=str))
    stages = tuple(sorted({int(t) for t in stages_text.split(",")
                           if t.strip().isdigit() and int(t) in STAGES}))
    point_stage = int(s.value("overlay/point_stage", default.point_stage, type=int))
    opacity = float(s.value("overlay/opacity", default.opacity, type=float))
    return OverlayOptions(
        show_badge=bool(s.value("overlay/show_badge", default.show_badge, type=bool)),
        show_heatmap=bool(s.value("overlay/show_heatmap", default.show_heatmap, type=bool)),
        opacity=min(1.0, max(0.05, opacity)),
        stages=stages,
        point_stage=point_stage if point_stage in STAGES else default.point_stage,
    )


def save_options(settings: QSettings, options: OverlayOptions) -> None:
    s, o = settings, options
    s.setValue("overlay/show_badge", o.show_badge)
    s.setValue("overlay/show_heatmap", o.show_heatmap)
    s.setValue("overlay/opacity", round(o.opacity, 3))
    s.setValue("overlay/stages", ",".join(map(str, o.stages)))
    s.setValue("overlay/point_stage", o.point_stage)


class LiveResults(QObject):
    """The answers and their views: `panel` (top-5 and session), `attention`, `timeline`.

    Signals: predictionShown(WindowResult): the answer on screen changed;
    optionsChanged(OverlayOptions): the overlay options changed; analysisChanged(): a
    whole-video analysis began or ended, or the answers were reset."""

    predictionShown = Signal(object)
    optionsChanged = Signal(object)
    analysisChanged = Signal()

    def __init__(self, player: PlayerWidget, service: RecognitionService, settings: QSettings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._player = player
        self._service = service
        self._settings = settings
        self._options = load_options(settings)
        self._source: SourceInfo | None = None
        self._track = PredictionTrack()
        self._analysis: AnalysisResult | None = None
        self._shown: WindowResult | None = None
        self._rows_holder: WindowResult | None = None
        self._detail_pending = False
        self._heatmap_key: tuple[object, ...] | None = None
        self._heatmap: QImage | None = None

        self.panel = PredictionsPanel()
        self.attention = AttentionPanel(self._options)
        self.timeline = PredictionTimeline()
        self.timeline.set_stages(self._options.stages or STAGES)

        self._session_timer = QTimer(self)
        self._session_timer.setSingleShot(True)
        self._session_timer.setInterval(SESSION_UPDATE_MS)
        self._session_timer.timeout.connect(self._update_session)
        self._timeline_timer = QTimer(self)
        self._timeline_timer.setSingleShot(True)
        self._timeline_timer.setInterval(TIMELINE_UPDATE_MS)
        self._timeline_timer.timeout.connect(self._timeline_changed)

        self.attention.optionsChanged.connect(self.set_options)
        self.timeline.seekRequested.connect(player.seek)

    def attach_to_player(self) -> None:
        """Paint the overlay on the picture and take clicks on it."""
        self._player.set_overlay(self._paint_overlay)
        self._player.view.installEventFilter(self)

    @property
    def source(self) -> SourceInfo | None:
        return self._source

    @property
    def track(self) -> PredictionTrack:
        return self._track

    @property
    def analysis(self) -> AnalysisResult | None:
        """The last whole-file analysis (complete, or cut short), if any."""
        return self._analysis

    @property
    def options(self) -> OverlayOptions:
        return self._options

    def shown_result(self) -> WindowResult | None:
        return self._shown

    def class_names(self) -> list[str]:
        info = self._service.model
        return list(info.class_names) if info is not None else []

    # --- the source ----------------------------------------------------------------------

    def open_source(self, info: SourceInfo) -> None:
        """Another source is on screen (its answers are reset by the caller)."""
        self._source = info
        # A place clicked on the last video means nothing on this one.
        self.set_options(replace(self._options, point=None,
                                 point_stage=OverlayOptions().point_stage))

    def close_source(self) -> None:
        self._source = None

    def frame_shown(self, index: int) -> None:
        self.timeline.set_position(index)
        self._service.frame_shown(index)
        self.refresh()

    # --- answers -------------------------------------------------------------------------

    def reset(self) -> None:
        """No answer yet (another source, another model)."""
        self._track = PredictionTrack()
        self._analysis = None
        self._rows_holder = None
        self._detail_pending = False
        self.timeline.set_track(self._track, self.class_names())
        self._session_timer.start()
        self.refresh(force=True)
        self.analysisChanged.emit()

    def add_live(self, result: WindowResult) -> None:
        self._keep_rows(result)
        self._track.add(result)
        self.timeline.invalidate()
        if len(self._track) == 1:
            self._update_session()  # the first answer shows at once; later ones in batches
        else:
            self._session_timer.start()
        self.refresh()

    def add_detail(self, result: WindowResult) -> None:
        """The answer on screen again, with its full spatial maps."""
        self._detail_pending = False
        self._keep_rows(result)
        replaced = self._track.add(result)
        if replaced is not None:  # run alone now: keep the verdict it had among its neighbours
            result.known, result.novelty = replaced.known, replaced.novelty
        self.timeline.invalidate()
        self._session_timer.start()
        self.refresh(force=True)

    def begin_analysis(self) -> None:
        """A whole-file analysis starts: its windows replace the live answers."""
        self._track = PredictionTrack()
        self._analysis = None
        self._drop_rows_holder()
        self.timeline.set_track(self._track, self.class_names())
        self._session_timer.start()
        self.analysisChanged.emit()

    def add_analysed(self, windows: list[WindowResult]) -> None:
        self._track.extend(windows)
        if not self._timeline_timer.isActive():  # repaint the strip a few times a second
            self._timeline_timer.start()
        self.refresh()

    def end_analysis(self, result: AnalysisResult) -> None:
        """The analysis ended (finished, or cancelled with what it had done): the strip and
        the session totals follow its per-frame result."""
        self._analysis = result
        self._track = PredictionTrack(result.windows)
        self._timeline_timer.stop()
        self.timeline.set_track(self._track, self.class_names())
        timeline = result.timeline
        if timeline is not None:
            self.timeline.set_frame_result(frame_stretches(timeline))
        counted = [r for r in result.reps.segments if r.counted] if result.reps else []
        self.timeline.set_rep_frames(
            result.reps.rep_frames() if result.reps else [],
            [(r.start_frame, r.end_frame, f"{r.total} reps"
              + (f", {r.reps_per_min:.0f}/min" if r.reps_per_min else "")
              + (f", pace {r.evenness}" if r.evenness else "")) for r in counted])
        self._session_timer.stop()
        self._update_session()
        self.analysisChanged.emit()

    def current_analysis(self) -> AnalysisResult | None:
        """The whole-file analysis, or one made of the live answers so far; None without
        answers."""
        if self._analysis is not None and self._analysis.windows:
            return self._analysis
        info, model = self._source, self._service.model
        if info is None or model is None or not self._track:
            return None
        windows = [w.without_rows() for w in self._track]
        stacked = [w.all_scores for w in windows if w.all_scores is not None]
        return AnalysisResult(
            path=Path(info.location), fps=info.fps,
            frame_count=info.frame_count or max(w.end_frame for w in windows),
            hop=self._service.hop, window=model.window, class_names=list(model.class_names),
            windows=windows, complete=False,
            scores=np.mean(stacked, axis=0) if stacked else None)

    def session_summary(self) -> list[ActionTime]:
        """Seconds per action over the frames that have an answer: of the per-frame result
        after a whole-file analysis, else of the windows' answers."""
        info = self._source
        if info is None or not self._track:
            return []
        if self._analysis is not None and self._analysis.timeline is not None:
            timeline = self._analysis.timeline
            return timeline_seconds(timeline, timeline.unknown)
        count = info.frame_count
        if count is None:
            count = max(w.end_frame for w in self._track)
        return action_seconds(self._track, count, info.fps, self.class_names())

    def _timeline_changed(self) -> None:
        self.timeline.invalidate()
        self._session_timer.start()

    def summary_scope(self) -> str:
        """The stretch of video the session totals cover when it is a whole-video analysis's
        per-frame result: "whole video", or "part analysed" after a cancel; else ""."""
        analysis = self._analysis
        if analysis is None or analysis.timeline is None:
            return ""
        return "whole video" if analysis.complete else "part analysed"

    def summary_basis(self) -> str:
        """What the session totals count, in a few words."""
        scope = self.summary_scope()
        if scope:
            return f"every frame of the {scope}, smoothed"
        if self._service.is_analysing():
            return "the windows analysed so far"
        return "the windows seen while playing"

    def _update_session(self) -> None:
        names = self.class_names()
        colors = {name: class_color(i) for i, name in enumerate(names)}
        colors.setdefault(OTHER_LABEL, class_color(OTHER))
        self.panel.set_session(self.session_summary(), colors, scope=self.summary_scope(),
                               basis=self.summary_basis())

    def _keep_rows(self, result: WindowResult) -> None:
        """Only one answer keeps its full spatial maps (they can be megabytes): this one."""
        if result.spatial_rows is None:
            return
        self._drop_rows_holder()
        self._rows_holder = result

    def _drop_rows_holder(self) -> None:
        holder = self._rows_holder
        self._rows_holder = None
        if holder is not None and holder.spatial_rows is not None:
            holder.spatial_rows = None  # the track keeps the same object, now lighter

    # --- showing the answer on screen ----------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Show the answer for the frame on screen everywhere."""
        index = self._player.current_index()
        result = self._track.at(index) if index >= 0 else None
        if result is self._shown and not force:
            return
        self._shown = result
        self.panel.set_result(result)
        self.attention.set_result(result)
        self.timeline.set_current(result)
        self._player.view.update()
        self._want_detail()
        if result is not None:
            self.predictionShown.emit(result)

    def _want_detail(self) -> None:
        """With a place chosen on the picture, the answer on screen needs its full maps."""
        result, info = self._shown, self._source
        if (self._options.point is None or result is None or result.has_rows
                or self._detail_pending or info is None or info.is_live
                or info.frame_count is None or self._service.is_analysing()):
            return
        self._detail_pending = True
        self._service.predict_detail(info.location, result.start_frame, info.frame_count,
                                     info.fps)

    # --- overlay and options -------------------------------------------------------------

    def set_options(self, options: OverlayOptions) -> None:
        if options == self._options:
            return
        self._options = options
        save_options(self._settings, options)
        if self.attention.options() != options:
            self.attention.set_options(options)
        self.optionsChanged.emit(options)
        self.timeline.set_stages(options.stages or STAGES)
        self._player.view.update()
        self._want_detail()

    def _paint_overlay(self, painter: QPainter, frame_rect: QRectF, index: int) -> None:
        result = self._track.at(index) if self._track else None
        if result is None:
            return
        heatmap = None
        note = self.attention_note()
        if self._options.show_heatmap and not note:
            key = (id(result), result.has_rows, self._options.stages, self._options.point,
                   self._options.point_stage, self._options.opacity)
            if key != self._heatmap_key:
                self._heatmap_key = key
                self._heatmap = heatmap_image(maps_for(result, self._options),
                                              self._options.opacity)
            heatmap = self._heatmap
        paint_recognition(painter, frame_rect, result, self._options, heatmap=heatmap,
                          base_font=self._player.view.font(), attention_note=note,
                          count=self.rep_text(index))

    def rep_text(self, frame: int) -> str:
        """The running repetition count at `frame` ("rep 7/20"), where the segment there was
        counted after a whole-video analysis; else ""."""
        reps = self._analysis.reps if self._analysis is not None else None
        return reps.badge_text(frame) if reps else ""

    def attention_note(self) -> str:
        """What the heatmap says instead of maps when the model's attention never learnt."""
        return attention_note(self._service.model)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self._player.view and event.type() == QEvent.Type.MouseButtonPress
                and isinstance(event, QMouseEvent)
                and event.button() == Qt.MouseButton.LeftButton):
            self.point_at(event.position().x(), event.position().y())
        return super().eventFilter(watched, event)

    def point_at(self, x: float, y: float) -> None:
        """A click on the picture at widget position (x, y): choose that place (inside the
        network's crop) or forget the chosen one (outside)."""
        frame = self._player.view.frame_rect()
        if frame.isEmpty() or self._service.model is None:
            return
        square = crop_rect(frame)
        if square.contains(x, y):
            point = ((x - square.left()) / square.width(), (y - square.top()) / square.height())
            self.set_options(replace(self._options, point=point, show_heatmap=True))
        elif self._options.point is not None:
            self.set_options(replace(self._options, point=None))
