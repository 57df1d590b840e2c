"""The two sides of a comparison (app/controllers/compare.py): what is known of each video
(`CompareSide`), and what the readout says in a coach's words (the action and confidence of a
side at the aligned moment, how the two videos are lined up)."""

from __future__ import annotations

from pathlib import Path

from app.names import display_name
from app.services.compare import Alignment, VideoStudy
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
        return [(s.label, s.start_frame, s.end_frame) for s in timeline.segments]


def action_text(result: WindowResult | None, *, analysed: bool) -> str:
    """'Action: jumping jacks 97%', or why there is none."""
    if result is None:
        return "Action: —" if analysed else "Action: not analysed yet"
    unknown = " (not a known action)" if result.unknown else ""
    return f"Action: {display_name(result.label)} {result.score * 100:.0f}%{unknown}"


def sync_text(alignment: Alignment, offset_here: int, nudge: int, fps_b: float) -> str:
    """How the videos are lined up, B's offset from A at the frame on screen, how much
    longer B takes (with more than one aligned moment) and the frames moved by hand."""
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
    text += f" · B is {offset_here:+d} frames from A here"
    if len(alignment.anchors) > 1:
        text += f" · B takes {alignment.tempo_ratio:.2f}× A's time"
    if nudge:
        text += f" · moved by hand {nudge:+d}"
    return text
