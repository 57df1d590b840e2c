"""The two sides of a comparison (app/controllers/compare.py): what is known of each video
(`CompareSide`), and what the readout says in a coach's words (the action and confidence of a
side at the aligned moment, how the two videos are lined up)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from app.names import display_name
from app.services.compare import Alignment, VideoStudy, compared_segments, study_video
from app.services.jobs import BackgroundJob
from app.services.results import AnalysisResult, PredictionTrack, WindowResult
from app.widgets.compare_view import ComparePane
from app.widgets.player import PlayerWidget


class CompareSide:
    """What the controller knows of one side."""

    def __init__(self, pane: ComparePane) -> None:
        self.pane = pane
        self.path: Path | None = None
        self.analysis: AnalysisResult | None = None
        self.track = PredictionTrack()
        self.study: VideoStudy | None = None
        self.job: BackgroundJob | None = None

    @property
    def player(self) -> PlayerWidget:
        return self.pane.player

    def fps(self) -> float:
        info = self.player.source_info()
        return info.fps if info is not None else 25.0

    def frame_count(self) -> int:
        info = self.player.source_info()
        return (info.frame_count or 1) if info is not None else 1

    def segments(self) -> list[tuple[str, int, int]] | None:
        timeline = None if self.analysis is None else self.analysis.timeline
        if timeline is None:
            return None
        return compared_segments(timeline, self.fps())

    def start_study(self, parent: QObject, done: Callable[[], None],
                    failed: Callable[[str], None]) -> None:
        """Embed this side's frames and count its repetitions (`study_video`, by the
        segments of its analysis) in a BackgroundJob, replacing one under way: `done()`
        once `study` is set, `failed(message)` on an error. A replaced job answers nothing."""
        if self.path is None:
            return
        self.stop_study()
        path, segments = self.path, self.segments()
        job = BackgroundJob(lambda progress, cancelled: study_video(
            path, segments, progress=progress, cancelled=cancelled), "compare-study", parent)
        self.job = job

        def finished(study: object) -> None:
            if self.job is job and isinstance(study, VideoStudy):
                self.study, self.job = study, None
                done()

        def stopped(message: str) -> None:
            if self.job is job:
                self.job = None
                failed(message)

        job.finished.connect(finished)
        job.failed.connect(stopped)
        job.start()

    def stop_study(self) -> None:
        """Cancel the study under way (its answer is for a video being replaced)."""
        if self.job is not None:
            self.job.cancel()
            self.job = None


def action_text(result: WindowResult | None, *, analysed: bool) -> str:
    """'Action: jumping jacks 97%', or why there is none."""
    if result is None:
        return "Action: —" if analysed else "Action: not analysed yet"
    named = f"{display_name(result.label)} {result.score * 100:.0f}%"
    if result.unknown:
        return f"Action: not a known action (nearest: {named})"
    return f"Action: {named}"


def sync_text(alignment: Alignment, a_frame: int, b_frame: int, nudge: int, fps_a: float,
              fps_b: float) -> str:
    """How the videos are lined up, B's offset from A in seconds at the frames on screen
    (each video's frame over its own frame rate), how much longer B takes in time (with more
    than one aligned moment; `Alignment.time_ratio`) and the frames moved by hand."""
    label = alignment.extra.get("action")
    where = f" of {display_name(label)}" if label else ""
    if alignment.mode == "action":
        text = f"Lined up at the start{where}"
    elif alignment.mode == "reps":
        paired = alignment.extra.get("paired", min(alignment.reps))
        text = (f"Lined up repetition by repetition{where} ({paired} paired; counted "
                f"A {alignment.reps[0]}, B {alignment.reps[1]})")
    elif alignment.mode == "dtw":
        text = f"Lined up by the movement{where} (DTW: repetitions not counted)"
    else:
        seconds = alignment.offset / fps_b
        text = f"Lined up by a time offset ({alignment.offset:+.0f} frames, {seconds:+.2f} s)"
    text += f" · B is {b_frame / fps_b - a_frame / fps_a:+.2f} s from A here"
    if len(alignment.anchors) > 1:
        text += f" · B takes {alignment.time_ratio:.2f}× A's time"
    if nudge:
        text += f" · moved by hand {nudge:+d}"
    return text
