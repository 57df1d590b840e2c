"""Repetition counts as the window shows them: plain dataclasses, no Qt, no engine.

`SegmentReps` is one segment of a whole-video analysis with its count (or the reason there is
none), made from the engine's `SegmentCount` by app/services/counting.py; `RepCounts` holds
those of one video and answers the questions the views ask: the running count at a frame
(the badge), the frame of every repetition (the timeline's ticks), per-action totals (the
session summary). Widgets import this module freely.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EVEN_CV = 0.10
"""A pace whose intervals vary by less than this (coefficient of variation) is "even"."""
UNEVEN_CV = 0.20
"""... by this or more "uneven"; in between "fairly even"."""


def evenness(cv: float | None) -> str:
    """The pace's evenness in a word: "even", "fairly even", "uneven", or "" (under three
    repetitions, no spread to tell)."""
    if cv is None:
        return ""
    if cv < EVEN_CV:
        return "even"
    return "fairly even" if cv < UNEVEN_CV else "uneven"


@dataclass(frozen=True)
class SegmentReps:
    """The repetitions of frames start_frame to end_frame (exclusive) of a video.

    `total` is None where the counter abstained (`reason` says why). `rep_frames`: the frame
    at which each repetition ended; `pace_cv`: the coefficient of variation of the intervals
    between repetitions (0: perfectly even)."""

    label: str
    start_frame: int
    end_frame: int
    fps: float
    total: int | None = None
    rep_frames: tuple[int, ...] = ()
    reps_per_min: float | None = None
    pace_cv: float | None = None
    reason: str = ""

    @property
    def counted(self) -> bool:
        return self.total is not None

    @property
    def start_s(self) -> float:
        return self.start_frame / self.fps

    @property
    def end_s(self) -> float:
        return self.end_frame / self.fps

    def covers(self, frame: int) -> bool:
        return self.start_frame <= frame < self.end_frame

    def count_at(self, frame: int) -> int:
        """Repetitions finished by `frame` (a running count)."""
        return bisect.bisect_right(self.rep_frames, frame)

    @property
    def evenness(self) -> str:
        return evenness(self.pace_cv)


@dataclass(frozen=True)
class ActionReps:
    """Repetitions of one action over a video (the session summary's reps column)."""

    label: str
    reps: int
    segments: int  # segments of the action that were counted
    not_counted: int  # segments of it where the counter abstained


@dataclass(frozen=True)
class Rhythm:
    """The self-similarity of frames `frames` (sorted video frame numbers) of the stretch
    start_frame..end_frame: `matrix[i, j]` the cosine similarity of frames[i] and frames[j],
    -1 to 1 (float16: only drawn)."""

    matrix: np.ndarray
    frames: np.ndarray
    start_frame: int
    end_frame: int

    def index_of(self, frame: int) -> int | None:
        """The row nearest to video frame `frame`; None outside the stretch."""
        if not self.start_frame <= frame < self.end_frame or not len(self.frames):
            return None
        i = int(np.searchsorted(self.frames, frame))
        if i >= len(self.frames) or (i > 0 and frame - self.frames[i - 1] < self.frames[i] - frame):
            i -= 1
        return i


@dataclass
class RepCounts:
    """The counted segments of one video, in order, what counting them took, and the
    self-similarity pictures of each segment (`rhythms`, in the same order) and of the
    whole video (`whole`), or why there are none (`no_rhythm`)."""

    segments: list[SegmentReps] = field(default_factory=list)
    seconds: float = 0.0  # embedding every frame and counting, on the worker thread
    rhythms: list[Rhythm | None] = field(default_factory=list)
    whole: Rhythm | None = None
    no_rhythm: str = ""
    """Why there are no self-similarity pictures at all, when so (counts read from a
    result file keep none): what the Rhythm dock says instead."""

    def __bool__(self) -> bool:
        return bool(self.segments)

    def at(self, frame: int) -> SegmentReps | None:
        """The segment holding `frame`, if any."""
        starts = [s.start_frame for s in self.segments]
        i = bisect.bisect_right(starts, frame) - 1
        if i >= 0 and self.segments[i].covers(frame):
            return self.segments[i]
        return None

    def badge_text(self, frame: int) -> str:
        """What the badge adds at `frame`: "rep 7/20" in a counted segment, else ""."""
        segment = self.at(frame)
        if segment is None or not segment.counted:
            return ""
        return f"rep {segment.count_at(frame)}/{segment.total}"

    def rep_frames(self) -> list[int]:
        """The frame each counted repetition ended at, over the whole video."""
        return [f for s in self.segments if s.counted for f in s.rep_frames]

    def per_action(self, labels: Sequence[str] | None = None) -> dict[str, ActionReps]:
        """Repetitions per action; `labels` (optional) the order of the actions."""
        out: dict[str, ActionReps] = {}
        for s in self.segments:
            row = out.get(s.label, ActionReps(s.label, 0, 0, 0))
            if s.counted:
                row = ActionReps(s.label, row.reps + int(s.total or 0), row.segments + 1,
                                 row.not_counted)
            else:
                row = ActionReps(s.label, row.reps, row.segments, row.not_counted + 1)
            out[s.label] = row
        if labels is not None:
            return {name: out[name] for name in labels if name in out}
        return out


def segment_reps(label: str, count: Any, fps: float) -> SegmentReps:
    """A `SegmentReps` from the engine's SegmentCount (read by its attributes)."""
    total = count.total
    times = np.asarray(count.rep_times, dtype=np.float64)
    frames = tuple(int(f) for f in np.round(times * fps).astype(np.int64)) if total else ()
    return SegmentReps(label=label, start_frame=int(count.start_frame),
                       end_frame=int(count.end_frame), fps=fps, total=total,
                       rep_frames=frames, reps_per_min=count.reps_per_min,
                       pace_cv=count.pace_cv, reason=str(count.reason))
