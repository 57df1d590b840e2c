"""Comparing two videos side by side (File ▸ Compare videos…): `CompareController`.

It opens a video on each side of a `CompareView` (app/widgets/compare_view.py), analyses both
with the model in use (a `RecognitionService` of its own, the same whole-video analysis as
the main window's, one video after the other), reads every frame's embedding and the
repetition counts (app/services/compare.py, a `BackgroundJob` per video), and keeps the two
in step: A's frame is the clock, B shows the frame the alignment pairs with it
(stmanet.engine.align through `align_videos`), plus the frames a coach nudged B by.

Playing runs one clock (app/controllers/compare_clock.py) that asks both players for their
frame as the player's own scrubbing does, so neither drifts from the other.

Opening another video on a side drops whatever was under way for the one it replaces: its
analysis is cancelled, and an answer that still comes is for another file and is not used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSignalBlocker
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.controllers.compare_clock import CompareClock
from app.controllers.compare_sides import CompareSide, action_text, sync_text
from app.controllers.jobs import JobRunner
from app.controllers.recognition_export import overlay_renderer
from app.names import display_name
from app.services.compare import (
    SYNC_MODES,
    Alignment,
    align_videos,
    by_offset,
    shared_actions,
    tempo_text,
)
from app.services.compare_export import export_side_by_side
from app.services.jobs import BackgroundJob
from app.services.recognition_service import RecognitionService
from app.services.results import AnalysisResult, PredictionTrack, attention_note
from app.video_files import video_file_filter
from app.widgets.compare_view import CompareView
from app.widgets.overlay import OverlayOptions, heatmap_image, maps_for, paint_recognition
from app.widgets.player import format_time
from app.widgets.timeline import frame_stretches
from stmanet.errors import STMANetError

ErrorPresenter = Callable[[str, str], None]
SIDES = ("A", "B")


class CompareController(QObject):
    """The comparison window and its two videos. `model_path`: the model to recognise with
    (None: the view still compares by offset and by repetitions)."""

    def __init__(self, model_path: Path | str | None = None, *,
                 present_error: ErrorPresenter | None = None,
                 parent_widget: QWidget | None = None) -> None:
        super().__init__(parent_widget)
        self.view = CompareView(parent_widget)
        self.view.set_modes(SYNC_MODES)
        self._present_error = present_error or self._show_error
        self._sides = {"A": CompareSide(self.view.pane_a), "B": CompareSide(self.view.pane_b)}
        self._options = OverlayOptions()
        self._alignment: Alignment = by_offset(0)
        self._nudge = 0  # frames B was moved by hand on top of the alignment
        self._align_job: BackgroundJob | None = None
        self._position = 0  # A's frame: the clock
        self._clock = CompareClock(lambda: self._sides["A"].fps(),
                                   lambda: self._sides["A"].frame_count() - 1, self)
        self._clock.ticked.connect(self._on_tick)
        self._clock.playingChanged.connect(self.view.set_playing)
        self._closed = False
        self._queue: list[str] = []  # sides waiting for an analysis
        self._analyse_when_open = False  # asked for while a video was still opening
        self.jobs = JobRunner(self.view, self._present_error,
                              lambda text, _ms: self._status(text),
                              busy_text="An export of the comparison is being written.",
                              cancelled_note="nothing was written", min_duration_ms=300,
                              parent=self)
        self.jobs.changed.connect(self._update_controls)
        self.last_export: Path | None = None

        self.service = RecognitionService(parent=self)
        self.service.finished.connect(self._on_analysed)
        self.service.analysisFailed.connect(self._on_analysis_failed)
        self.service.cancelled.connect(lambda _result: self._analysis_dropped())
        self.service.progressed.connect(
            lambda done, total: self._status(f"Analysing {self._queue[0] if self._queue else ''}"
                                             f"… {done} of {total} windows"))
        if model_path is not None:
            self.service.load_model(model_path)

        view = self.view
        view.play_action.triggered.connect(self.toggle_playback)
        view.step_forward_action.triggered.connect(lambda: self.step(1))
        view.step_backward_action.triggered.connect(lambda: self.step(-1))
        view.jump_forward_action.triggered.connect(lambda: self.jump(1.0))
        view.jump_backward_action.triggered.connect(lambda: self.jump(-1.0))
        view.transport.seek_slider.valueChanged.connect(self.seek)
        view.transport.speed_combo.currentIndexChanged.connect(
            lambda i: self._clock.set_speed(float(view.transport.speed_combo.itemData(i) or 1.0),
                                            self._position))
        view.mode_combo.currentIndexChanged.connect(lambda _: self.realign())
        view.action_combo.currentIndexChanged.connect(lambda _: self.realign())
        view.offset_spin.valueChanged.connect(  # the others keep their own alignment
            lambda _: self.realign() if view.mode() == "offset" else None)
        view.analyse_button.clicked.connect(self.analyse)
        view.export_button.clicked.connect(self.choose_export_file)
        view.closed.connect(self.shutdown)
        for side, state in self._sides.items():
            pane = state.pane
            pane.openRequested.connect(lambda s=side: self._choose_video(s))
            pane.nudged.connect(lambda frames, s=side: self.nudge(s, frames))
            pane.player.opened.connect(lambda info, s=side: self._on_opened(s))
            pane.player.openFailed.connect(
                lambda message, s=side: self._on_open_failed(s, message))
            pane.player.frameShown.connect(lambda index, s=side: self._on_frame_shown(s, index))
            pane.player.set_overlay(lambda painter, rect, index, s=side:
                                    self._paint_overlay(s, painter, rect, index))
            pane.timeline.seekRequested.connect(lambda frame, s=side: self._on_timeline_seek(s,
                                                                                      frame))
        self._update_controls()

    # --- what tests and the window read --------------------------------------------------

    def side(self, name: str) -> CompareSide:
        return self._sides[name]

    @property
    def alignment(self) -> Alignment:
        return self._alignment

    def position(self) -> int:
        return self._position

    def b_frame(self, a: int | None = None) -> int:
        """B's frame that goes with A's frame `a` (default: the one on screen)."""
        a = self._position if a is None else a
        return self._alignment.b_frame(a) + self._nudge

    def b_frames(self, count: int) -> np.ndarray:
        """`b_frame` of A's frames 0 to count - 1, all at once (int64)."""
        mapped = np.asarray(self._alignment.b_of(np.arange(count, dtype=np.float64)))
        return np.round(mapped).astype(np.int64).reshape(-1) + self._nudge

    def is_playing(self) -> bool:
        return self._clock.is_playing()

    def is_busy(self) -> bool:
        """An analysis, a study or a new alignment is under way."""
        return (bool(self._queue) or self._align_job is not None
                or any(s.job is not None for s in self._sides.values()))

    # --- opening and analysing -----------------------------------------------------------

    def open_videos(self, path_a: Path | str, path_b: Path | str) -> None:
        self.open_video("A", path_a)
        self.open_video("B", path_b)

    def open_video(self, side: str, path: Path | str) -> None:
        state = self._sides[side]
        if self._queue and self._queue[0] == side and self.service.is_analysing():
            self.service.cancel_analysis()  # it analyses the video this one replaces
        state.stop_study()
        state.path, state.analysis, state.study = Path(path), None, None
        state.track = PredictionTrack()
        self._fill_actions()
        state.pane.title.setText(f"{side}: {Path(path).name}")
        state.player.open_file(path)

    def _choose_video(self, side: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self.view, f"Open video {side}", "",
                                              video_file_filter())
        if path:
            self.open_video(side, path)

    def _on_opened(self, side: str) -> None:
        state = self._sides[side]
        info = state.player.source_info()
        state.pane.timeline.set_source(info.frame_count if info else None,
                                       info.fps if info else 25.0, seekable=True)
        state.pane.timeline.set_track(state.track, self._class_names())
        state.pane.timeline.set_frame_result(None)
        if side == "A":
            with QSignalBlocker(self.view.transport.seek_slider):
                self.view.transport.seek_slider.setRange(0, max(0, state.frame_count() - 1))
        self._study(side)
        self._position = 0
        self._show()
        self._update_controls()
        if self._analyse_when_open and not self._opening():
            self._analyse_when_open = False
            self.analyse()

    def _on_open_failed(self, side: str, message: str) -> None:
        self._analyse_when_open = False  # what was asked for cannot happen now
        self._present_error(f"Cannot open video {side}", message)

    def _opening(self) -> list[str]:
        """Sides whose video was asked for and is not open yet."""
        return [s for s in SIDES if self._sides[s].player.is_opening()]

    def _class_names(self) -> list[str]:
        model = self.service.model
        return list(model.class_names) if model is not None else []

    def analyse(self) -> bool:
        """Analyse both videos with the model, one after the other; False when it cannot
        start (no model, a video missing, already analysing)."""
        if self.service.model is None:
            if self.service.when_loaded("compare", self.analyse):
                self._status("Analysing once the model has loaded…")
                return True
            self._present_error("No model", "Open a model in the main window first: "
                                "Model ▸ Open model…")
            return False
        if self._queue:
            return False
        if self._opening():  # e.g. videos given on the command line, still opening
            self._analyse_when_open = True
            self._status("Analysing once the videos are open…")
            return True
        missing = [s for s in SIDES if self._sides[s].player.source_info() is None]
        if missing:
            self._present_error("Nothing to analyse", f"Open video {missing[0]} first.")
            return False
        self._queue = list(SIDES)
        self._analyse_next()
        return True

    def _analyse_next(self) -> None:
        self._update_controls()
        if not self._queue:
            self._status("Both videos analysed")
            return
        state = self._sides[self._queue[0]]
        assert state.path is not None
        self.service.analyse(state.path)

    def _on_analysed(self, result: AnalysisResult) -> None:
        if not self._queue:
            return
        side = self._queue[0]
        state = self._sides[side]
        if state.path is None or Path(result.path).resolve() != state.path.resolve():
            self._analysis_dropped()  # of a video since replaced on that side
            return
        self._queue.pop(0)
        state.analysis = result
        state.track = PredictionTrack(result.windows)
        timeline = state.pane.timeline
        timeline.set_track(state.track, list(result.class_names))
        if result.timeline is not None:
            timeline.set_frame_result(frame_stretches(result.timeline))
        self._study(side)  # count the repetitions of each recognised segment
        self._analyse_next()
        self._fill_actions()
        self.realign()

    def _analysis_dropped(self) -> None:
        """The analysis under way was of a video no longer open: on to the next side."""
        if self._queue:
            self._queue.pop(0)
            self._analyse_next()

    def _fill_actions(self) -> None:
        actions = shared_actions(self._sides["A"].segments(), self._sides["B"].segments())
        combo = self.view.action_combo
        with QSignalBlocker(combo):
            combo.clear()
            for label in actions:
                combo.addItem(display_name(label), label)
        combo.setEnabled(bool(actions))

    def _on_analysis_failed(self, message: str) -> None:
        side = self._queue[0] if self._queue else "?"
        self._queue = []
        self._update_controls()
        self._present_error(f"Analysis of video {side} failed", message)

    def _study(self, side: str) -> None:
        def studied() -> None:
            self.realign()
            self._update_controls()

        self._sides[side].start_study(self, studied, lambda message: self._present_error(
            f"Cannot read video {side}", message))

    # --- lining up -------------------------------------------------------------------------

    def realign(self) -> None:
        """Line the videos up by the chosen mode: a time offset at once, the others in a
        background job (warping and pairing repetitions take a moment on long videos). A
        mode that cannot be used yet says why in the status line and keeps the previous
        alignment."""
        a, b = self._sides["A"], self._sides["B"]
        mode = self.view.mode()
        if self._align_job is not None:
            self._align_job.cancel()  # its answer is for an older choice
            self._align_job = None
        arguments = dict(offset=self.view.offset_spin.value(), fps_a=a.fps(), fps_b=b.fps(),
                         segments_a=a.segments(), segments_b=b.segments(), study_a=a.study,
                         study_b=b.study, action=self.view.action_combo.currentData())
        if mode == "offset":
            try:
                self._use_alignment(align_videos(mode, **arguments))
            except STMANetError as exc:
                self._cannot_align(str(exc))
            return
        job = BackgroundJob(lambda _progress, _cancelled: align_videos(mode, **arguments),
                            "compare-align", self)
        self._align_job = job
        self._status("Lining up…")

        def finished(alignment: object) -> None:
            if self._align_job is job and isinstance(alignment, Alignment):
                self._align_job = None
                self._use_alignment(alignment)

        def failed(message: str) -> None:
            if self._align_job is job:
                self._align_job = None
                self._cannot_align(message)

        job.finished.connect(finished)
        job.failed.connect(failed)
        job.start()

    def _use_alignment(self, alignment: Alignment) -> None:
        self._alignment, self._nudge = alignment, 0
        self._status("")
        self._show()

    def _cannot_align(self, message: str) -> None:
        self._status(message)
        self._update_readout()

    def nudge(self, side: str, frames: int) -> None:
        """Move one side alone by `frames`: B's frames move against A's (the offset); moving
        A keeps B where it is."""
        self.pause()
        b_now = self.b_frame()
        if side == "A":
            self._position = self._clamp(self._position + frames)
            frames = b_now - self.b_frame()
        if self.view.mode() == "offset":
            self.view.offset_spin.setValue(self.view.offset_spin.value() + frames)
        else:
            self._nudge += frames
        self._show()

    # --- the clock -------------------------------------------------------------------------

    def toggle_playback(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self._sides["A"].player.source_info() is None or self.is_playing():
            return
        if self._position >= self._sides["A"].frame_count() - 1:
            self._position = 0
        self._clock.play(self._position)

    def pause(self) -> None:
        self._clock.pause()

    def step(self, frames: int) -> None:
        """Pause, and move both by `frames` of A."""
        self.pause()
        self.seek(self._position + frames)

    def jump(self, seconds: float) -> None:
        self.seek(self._position + round(seconds * self._sides["A"].fps()))

    def seek(self, frame: int) -> None:
        """A's frame `frame` (clamped), B's aligned one beside it."""
        self._position = self._clamp(frame)
        if self.is_playing():
            self._clock.restart(self._position)
        self._show()

    def _on_tick(self, frame: int) -> None:
        self._position = frame
        self._show()

    def _clamp(self, frame: int) -> int:
        return min(max(0, int(frame)), self._sides["A"].frame_count() - 1)

    def _on_timeline_seek(self, side: str, frame: int) -> None:
        if side == "A":
            self.seek(frame)
        else:
            self.seek(round(float(self._alignment.a_of(frame - self._nudge))))

    # --- showing ---------------------------------------------------------------------------

    def _show(self) -> None:
        a, b = self._sides["A"], self._sides["B"]
        if a.player.source_info() is not None:
            a.player.seek(self._position)
        if b.player.source_info() is not None:
            b.player.seek(self.b_frame())
        with QSignalBlocker(self.view.transport.seek_slider):
            self.view.transport.seek_slider.setValue(self._position)
        fps = a.fps()
        self.view.transport.time_label.setText(
            f"{format_time(self._position / fps)} / {format_time(a.frame_count() / fps)}")
        self.view.transport.frame_label.setText(f"frame {self._position} / {a.frame_count()}")
        self._update_marks()
        self._update_readout()

    def _on_frame_shown(self, side: str, index: int) -> None:
        state = self._sides[side]
        state.pane.timeline.set_position(index)
        state.pane.timeline.set_current(state.track.at(index))
        state.pane.position.setText(f"frame {index}")
        self._update_readout()

    def _paint_overlay(self, side: str, painter, rect, index: int) -> None:
        paint_recognition(painter, rect, self._sides[side].track.at(index), self._options,
                          attention_note=attention_note(self.service.model))

    def _update_marks(self) -> None:
        marks = self._alignment.marks()
        a_anchor, b_anchor = marks[0] if marks else (None, None)
        self._sides["A"].pane.timeline.set_marks([m[0] for m in marks], a_anchor)
        self._sides["B"].pane.timeline.set_marks(
            [m[1] + self._nudge for m in marks],
            None if b_anchor is None else b_anchor + self._nudge)

    def _update_readout(self) -> None:
        readout = self.view.readout
        note = attention_note(self.service.model)  # in place of heatmaps, as in the window
        for side, frame in (("A", self._position), ("B", self.b_frame())):
            state = self._sides[side]
            result = state.track.at(frame)
            count = None if state.study is None else state.study.count_at(
                min(max(frame, 0), state.study.frames - 1))
            heatmap = None if result is None or note else heatmap_image(
                maps_for(result, self._options), self._options.opacity)
            readout.show_side(side, action_text(result, analysed=state.analysis is not None),
                              tempo_text(count), state.player.view.frame(), heatmap,
                              attention_note=note if result else "")
        readout.sync_label.setText(sync_text(
            self._alignment, self._position, self.b_frame(), self._nudge,
            self._sides["A"].fps(), self._sides["B"].fps()))

    def _status(self, text: str) -> None:
        self.view.status.setText(text)

    def _update_controls(self) -> None:
        both = all(s.player.source_info() is not None for s in self._sides.values())
        self.view.analyse_button.setEnabled(both and not self._queue)
        self.view.export_button.setEnabled(both and not self.jobs.is_busy())

    # --- export ------------------------------------------------------------------------------

    def export(self, path: Path | str) -> BackgroundJob | None:
        """Write the comparison as one side-by-side H.264 video, in step as on screen (a
        progress dialog with Cancel; a cancel leaves no file)."""
        a, b = self._sides["A"], self._sides["B"]
        if a.path is None or b.path is None:
            self._present_error("Nothing to export", "Open a video on each side first.")
            return None
        b_frames = self.b_frames(a.frame_count())
        note = attention_note(self.service.model)
        render_a = overlay_renderer(a.track.windows, self._options, attention_note=note)
        render_b = overlay_renderer(b.track.windows, self._options, attention_note=note)
        source_a, source_b, target = a.path, b.path, Path(path)

        def finished(result: object) -> None:
            self.last_export = Path(str(result))
            self._status(f"Exported {target.name}")

        job = self.jobs.run(lambda progress, cancelled: export_side_by_side(
            source_a, source_b, target, b_frames, render_a, render_b, progress=progress,
            cancelled=cancelled), title="Export", text=f"Writing {target.name}…",
            failure_title="Export failed", done=finished)
        self._update_controls()
        return job

    def choose_export_file(self) -> None:
        a = self._sides["A"].path
        start = str(a.with_name(f"{a.stem} compared.mp4")) if a is not None else ""
        path, _ = QFileDialog.getSaveFileName(self.view, "Export the comparison", start,
                                              "MP4 video (*.mp4)")
        if path:
            self.export(path if path.lower().endswith(".mp4") else path + ".mp4")

    # --- closing ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the clock, the jobs, both decoders and the model's thread (the window
        calls this when it closes, the main window at quit); then the window and this
        controller are let go. Once only."""
        if self._closed:
            return
        self._closed = True
        self.pause()
        jobs = self.findChildren(BackgroundJob)  # also studies replaced by newer ones
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.wait(10.0)  # the jobs' signals go with this controller
        for state in self._sides.values():
            state.player.shutdown()
        self.jobs.shutdown()
        self.service.shutdown()
        self.view.deleteLater()
        self.deleteLater()

    def _show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self.view, title, message)
