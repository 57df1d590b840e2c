"""Timelines: which action when in a video, and checking predictions against an expected one.

An expected timeline is a JSON file beside its video (same stem, `.json`):

    {"fps": 25.0, "frames": 300,
     "segments": [{"label": "jumping jacks", "start_frame": 0, "end_frame": 100}, ...]}

`end_frame` is exclusive, as in `WindowPrediction` and `stmanet.data.synthetic.Segment`.

`compare_timeline` judges per-window predictions against it: for each expected segment, the
windows lying wholly inside it vote with their top label (`other` where the window is not a
known action: a segment labelled `other` is footage of no action the model knows), and the
segment matches when the expected label has more votes than any other. Windows that
straddle a boundary are left out (their clip holds two actions), and so is a window shorter
than `window_length` (a video shorter than one window: its clip repeats the last frame).

The per-frame result, and its scores against an expected timeline (frame accuracy, edit
score, F1@k, seconds per action), are in engine/segmentation.py and engine/timeline_eval.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stmanet.engine.inference import WindowPrediction
from stmanet.engine.segmentation import OTHER_LABEL
from stmanet.errors import ConfigError


@dataclass(frozen=True)
class TimelineSegment:
    """One action from `start_frame` to `end_frame` (exclusive)."""

    label: str
    start_frame: int
    end_frame: int

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start_frame": self.start_frame,
                "end_frame": self.end_frame}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimelineSegment:
        return cls(str(data["label"]), int(data["start_frame"]), int(data["end_frame"]))


@dataclass(frozen=True)
class ExpectedTimeline:
    """What a video is known to show, segment by segment."""

    fps: float
    frames: int
    segments: list[TimelineSegment]

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ConfigError(f"an expected timeline needs a positive frame count, not "
                              f"{self.frames}")
        previous_end = 0
        for s in self.segments:
            if not s.label:
                raise ConfigError("an expected timeline segment has an empty label")
            if not 0 <= s.start_frame < s.end_frame <= self.frames:
                raise ConfigError(f"segment {s.label!r} frames {s.start_frame}-{s.end_frame} "
                                  f"do not lie within the video's {self.frames} frames")
            if s.start_frame < previous_end:
                raise ConfigError(f"segment {s.label!r} starts at frame {s.start_frame}, "
                                  f"before the previous segment ends ({previous_end})")
            previous_end = s.end_frame
        if not self.segments:
            raise ConfigError("an expected timeline needs at least one segment")

    def to_dict(self) -> dict[str, Any]:
        return {"fps": self.fps, "frames": self.frames,
                "segments": [s.to_dict() for s in self.segments]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExpectedTimeline:
        try:
            return cls(float(data["fps"]), int(data["frames"]),
                       [TimelineSegment.from_dict(s) for s in data["segments"]])
        except (KeyError, TypeError, ValueError) as exc:
            missing = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ConfigError(f"not an expected timeline ({missing}); expected "
                              '{"fps": ..., "frames": ..., "segments": [{"label": ..., '
                              '"start_frame": ..., "end_frame": ...}, ...]}') from exc

    @classmethod
    def load(cls, path: Path | str) -> ExpectedTimeline:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ConfigError("not an expected timeline (a JSON object is needed)")
            return cls.from_dict(data)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ConfigError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def save(self, path: Path | str) -> Path:
        from stmanet.fileio import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return Path(path)


def expected_timeline_path(video: Path | str) -> Path:
    """Where a video's expected timeline sits: beside it, same stem, `.json`."""
    return Path(video).with_suffix(".json")


@dataclass(frozen=True)
class PredictedSegment:
    """Consecutive windows with the same top label, merged."""

    label: str
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    windows: int
    mean_score: float


def predicted_segments(windows: Sequence[WindowPrediction]) -> list[PredictedSegment]:
    """Runs of consecutive windows with the same top label, in order."""
    runs: list[list[WindowPrediction]] = []
    for window in windows:
        if runs and runs[-1][-1].label == window.label:
            runs[-1].append(window)
        else:
            runs.append([window])
    return [PredictedSegment(run[0].label, run[0].start_frame, run[-1].end_frame,
                             run[0].start_s, run[-1].end_s, len(run),
                             sum(w.score for w in run) / len(run)) for run in runs]


@dataclass(frozen=True)
class SegmentCheck:
    """How the windows wholly inside one expected segment voted."""

    expected: TimelineSegment
    votes: dict[str, int] = field(default_factory=dict)  # label as told -> windows

    @property
    def windows(self) -> int:
        return sum(self.votes.values())

    @property
    def checked(self) -> bool:
        """False when no whole window fits inside the segment."""
        return self.windows > 0

    @property
    def predicted(self) -> str | None:
        """The majority label (None when no window voted)."""
        if not self.votes:
            return None
        return Counter(self.votes).most_common(1)[0][0]

    @property
    def matches(self) -> bool:
        """The expected label has more votes than any other label."""
        if not self.checked:
            return False
        mine = self.votes.get(self.expected.label, 0)
        others = [n for label, n in self.votes.items() if label != self.expected.label]
        return mine > max(others, default=0)


def compare_timeline(windows: Sequence[WindowPrediction], expected: ExpectedTimeline,
                     window_length: int) -> list[SegmentCheck]:
    """One SegmentCheck per expected segment, from the windows that lie wholly inside it
    and are whole (`window_length` source frames long); a window that is not a known action
    votes OTHER_LABEL, the label of such footage in an expected timeline."""
    checks = []
    for segment in expected.segments:
        votes: Counter[str] = Counter(
            OTHER_LABEL if w.known is False else w.label for w in windows
            if segment.start_frame <= w.start_frame and w.end_frame <= segment.end_frame
            and w.end_frame - w.start_frame >= window_length)
        checks.append(SegmentCheck(segment, dict(votes)))
    return checks
