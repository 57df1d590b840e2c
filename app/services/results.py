"""What recognition hands to the window: plain dataclasses with numpy arrays, no Qt, no torch.

`WindowResult` is the answer for one window of source frames; `PredictionTrack` holds the
answers for one video and decides which of them describes a given frame; `action_seconds`
sums the time spent per action over windows, `timeline_seconds` over the per-frame result of
a whole-video analysis (`AnalysisResult.timeline`). Widgets import this module freely: it
pulls in neither the engine nor Qt (the engine's `FrameTimeline` is named for the type
checker only).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from app.services.counts import RepCounts
    from stmanet.engine.segmentation import FrameTimeline

STAGES = (2, 3, 4, 5)
"""The network stages that carry attention maps, in the order of every per-stage list."""

SENSITIVITY_LEVELS = ("low", "normal", "high")
"""How readily footage is called "not a known action" (Predictor.set_sensitivity)."""
SENSITIVITY_NAMES = {"low": "Low: call less footage \u201cnot a known action\u201d",
                     "normal": "Normal", "high": "High: call more footage \u201cnot a known "
                                                 "action\u201d"}
"""The sensitivity levels as the Recognition menu names them."""
UNTRAINED_ATTENTION_NOTE = ("This model's attention was never trained: the maps show "
                            "nothing yet")
UNTRAINED_ATTENTION_SHORT = "Attention never trained: no heatmap"
"""The same, where a heatmap would be drawn in a small square (the comparison's readout)."""


@dataclass(frozen=True)
class ModelInfo:
    """The model the recognition worker holds, as the window shows it."""

    path: Path
    architecture: str  # e.g. "ST-MANet on a 3D ResNet-18 at width 0.5"
    class_names: tuple[str, ...]
    frames: int  # frames per clip the network sees
    frame_stride: int  # every n-th source frame is kept
    size: int  # square crop side, pixels
    parameters: int
    device: str  # "cpu", "cuda"
    device_name: str  # what the user reads, e.g. "CPU", "CUDA: NVIDIA H100"
    provenance: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    variant: str = ""  # the registry name, e.g. "stmanet_r10"
    mean: tuple[float, ...] = ()  # per RGB channel, subtracted before the network
    std: tuple[float, ...] = ()  # per RGB channel, divided by
    can_tell_unknowns: bool = False  # carries open-set statistics (known/novelty per window)
    attention_trained: bool = True  # False: the attention modules never learnt (maps are flat)
    sensitivity: str = "normal"  # "low", "normal", "high": where the novelty threshold sits
    notes: tuple[str, ...] = ()  # what a user should know about the model (engine's words)
    open_set: dict[str, Any] | None = None  # the statistics' score and threshold, if any

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def window(self) -> int:
        """Source frames one prediction covers."""
        return self.frames * self.frame_stride

    @property
    def rough_threshold(self) -> RoughThreshold | None:
        """Its novelty threshold was set on few validation clips (`rough_threshold`)."""
        return rough_threshold(self.open_set)


@dataclass(frozen=True)
class RoughThreshold:
    """A novelty threshold set on few validation clips: how many, and of the class with
    fewest (under `stmanet.engine.openset.FEW_CALIBRATION_CLIPS`, `enough` of them)."""

    clips: int | None
    fewest: int
    enough: int
    training: bool = False  # set without kept-aside clips, on the training clips themselves


def rough_threshold(open_set: dict[str, Any] | None) -> RoughThreshold | None:
    """From a model's open-set statistics (their JSON part, as `OpenSetStats.describe` or the
    file's header gives them): the few validation clips (or, without any, training clips)
    its threshold was set on, or None when they were enough or the statistics do not say."""
    from stmanet.engine.openset import FEW_CALIBRATION_CLIPS, few_clips, set_on_training

    calibration = (open_set or {}).get("calibration")
    fewest = few_clips(calibration) if isinstance(calibration, dict) else None
    if fewest is None:
        return None
    clips = calibration.get("clips")
    return RoughThreshold(clips if isinstance(clips, int) else None, fewest,
                          FEW_CALIBRATION_CLIPS, set_on_training(calibration))


def attention_note(model: ModelInfo | None) -> str:
    """`UNTRAINED_ATTENTION_NOTE` for a model whose attention never learnt (the heatmaps
    give way to it: the overlay, its video export, the comparison), else ""."""
    return UNTRAINED_ATTENTION_NOTE if model is not None and not model.attention_trained else ""


@dataclass
class WindowResult:
    """The network's answer for source frames start_frame <= i < end_frame.

    Per-stage lists hold stages 2-5 (None where the model has that module switched off):
    `spatial` the H_i x W_i mean over query rows of A_s (how much each place is attended
    to), `temporal` the T_i mean over rows of A_t, `spatial_rows` the full A_s matrices
    (H_i W_i x H_i W_i, row r: where place r attends) when the worker kept them.
    """

    start_frame: int
    end_frame: int  # exclusive
    labels: list[str]  # top-k, best first
    scores: list[float]  # softmax scores of `labels`
    label_indices: list[int]  # positions of `labels` in the model's class list
    fps: float
    spatial: list[np.ndarray | None] = field(default_factory=list)
    temporal: list[np.ndarray | None] = field(default_factory=list)
    latency_ms: float = 0.0
    all_scores: np.ndarray | None = None  # (K,) softmax over every class, when known
    frame_indices: tuple[int, ...] = ()  # the source frames the clip was made of
    spatial_rows: list[np.ndarray | None] | None = None
    origin: str = "live"  # "live", "analysis", "detail"
    known: bool | None = None  # False: "not a known action"; None: the model cannot tell
    novelty: float | None = None  # higher: less like the model's training footage

    @property
    def unknown(self) -> bool:
        """Whether the model called this window "not a known action"."""
        return self.known is False

    @property
    def label(self) -> str:
        return self.labels[0] if self.labels else ""

    @property
    def score(self) -> float:
        return self.scores[0] if self.scores else 0.0

    @property
    def class_index(self) -> int:
        return self.label_indices[0] if self.label_indices else -1

    @property
    def start_s(self) -> float:
        return self.start_frame / self.fps

    @property
    def end_s(self) -> float:
        return self.end_frame / self.fps

    @property
    def length(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def centre(self) -> float:
        return (self.start_frame + self.end_frame) / 2

    def covers(self, frame: int) -> bool:
        return self.start_frame <= frame < self.end_frame

    def stage_sizes(self) -> list[tuple[int, int, int]]:
        """(T_i, H_i, W_i) of stages 2-5, read off the maps (0 where a map is missing)."""
        sizes = []
        for index in range(len(STAGES)):
            s = self.spatial[index] if index < len(self.spatial) else None
            t = self.temporal[index] if index < len(self.temporal) else None
            height, width = (0, 0) if s is None else (int(s.shape[0]), int(s.shape[1]))
            sizes.append((0 if t is None else int(t.shape[0]), height, width))
        return sizes

    def spatial_map(self, stage: int) -> np.ndarray | None:
        index = STAGES.index(stage)
        return self.spatial[index] if index < len(self.spatial) else None

    def temporal_curve(self, stage: int) -> np.ndarray | None:
        index = STAGES.index(stage)
        return self.temporal[index] if index < len(self.temporal) else None

    @property
    def has_rows(self) -> bool:
        return self.spatial_rows is not None and any(r is not None for r in self.spatial_rows)

    def point_map(self, stage: int, x: float, y: float) -> np.ndarray | None:
        """Where the place at (x, y) attends at `stage`: its row of A_s as an H x W map.

        x and y are fractions (0-1) across the square crop the network saw. None when the
        full maps were not kept for this window or the stage has no spatial attention."""
        if self.spatial_rows is None:
            return None
        index = STAGES.index(stage)
        rows = self.spatial_rows[index] if index < len(self.spatial_rows) else None
        grid = self.spatial_map(stage)
        if rows is None or grid is None:
            return None
        height, width = grid.shape
        row = min(height - 1, max(0, int(y * height)))
        col = min(width - 1, max(0, int(x * width)))
        return np.asarray(rows[row * width + col], dtype=np.float32).reshape(height, width)

    def without_rows(self) -> WindowResult:
        return self if self.spatial_rows is None else replace(self, spatial_rows=None)

    def temporal_spans(self, stage: int) -> list[tuple[float, float, float]]:
        """(first source frame, end frame, weight) per time step of `stage`'s curve: the
        T_i weights share the window's source frames equally."""
        curve = self.temporal_curve(stage)
        if curve is None or curve.size == 0:
            return []
        step = self.length / curve.size
        return [
            (self.start_frame + k * step, self.start_frame + (k + 1) * step, float(weight))
            for k, weight in enumerate(curve.tolist())
        ]


@dataclass
class AnalysisResult:
    """Every window of a video file (or those done before a cancel)."""

    path: Path
    fps: float
    frame_count: int
    hop: int
    window: int
    class_names: list[str]
    windows: list[WindowResult]
    complete: bool
    scores: np.ndarray | None = None  # (K,) mean softmax over the windows, when known
    engine_result: Any = None  # the engine's own VideoPrediction, when the job completed
    timeline: FrameTimeline | None = None
    """The per-frame result (stmanet/engine/segmentation.py): the action at every frame,
    smoothed, and its segments; of the whole video, or of the frames analysed before a
    cancel. None when no window was done."""
    reps: RepCounts | None = None
    """The repetitions counted in each segment of `timeline` (app/services/counts.py)."""


class PredictionTrack:
    """The answers for one video, sorted by their first frame, and which one a frame shows.

    The answer for frame f is one whose window covers f, the one centred nearest to f when
    several overlap (ties: the later window). When none covers f, the one that most recently
    precedes it stands in, for at most its own length past its end (live answers arrive a
    little after their window; an answer is never stretched over frames far from it).
    Frames before the first window have no answer.
    """

    def __init__(self, windows: Iterable[WindowResult] = ()) -> None:
        self._windows: list[WindowResult] = []
        self._starts: list[int] = []
        self._longest = 0
        self.extend(windows)

    def __len__(self) -> int:
        return len(self._windows)

    def __iter__(self) -> Iterator[WindowResult]:
        return iter(self._windows)

    def __bool__(self) -> bool:
        return bool(self._windows)

    @property
    def windows(self) -> list[WindowResult]:
        return list(self._windows)

    def clear(self) -> None:
        self._windows.clear()
        self._starts.clear()
        self._longest = 0

    def add(self, result: WindowResult) -> WindowResult | None:
        """Insert a result; one with the same frames as an existing one replaces it (that one
        is returned)."""
        key = result.start_frame
        at = bisect.bisect_left(self._starts, key)
        while at < len(self._starts) and self._starts[at] == key:
            if self._windows[at].end_frame == result.end_frame:
                replaced, self._windows[at] = self._windows[at], result
                self._longest = max(self._longest, result.length)
                return replaced
            at += 1
        self._starts.insert(at, key)
        self._windows.insert(at, result)
        self._longest = max(self._longest, result.length)
        return None

    def extend(self, results: Iterable[WindowResult]) -> None:
        for result in results:
            self.add(result)

    def at(self, frame: int, *, stand_in: bool = True) -> WindowResult | None:
        """The answer for `frame`; `stand_in=False`: only a window that covers it."""
        if frame < 0 or not self._windows:
            return None
        last = bisect.bisect_right(self._starts, frame) - 1
        if last < 0:
            return None
        best: WindowResult | None = None
        best_distance = math.inf
        index = last
        while index >= 0 and self._starts[index] > frame - self._longest:
            window = self._windows[index]
            if window.covers(frame):
                distance = abs(window.centre - (frame + 0.5))
                if distance < best_distance:
                    best, best_distance = window, distance
            index -= 1
        if best is not None or not stand_in:
            return best
        preceding = max(
            self._windows[max(0, last - 64) : last + 1], key=lambda w: (w.end_frame, w.start_frame)
        )
        return preceding if frame < preceding.end_frame + preceding.length else None

    def segments(self, frame_count: int, first: int = 0) -> list[tuple[int, int, WindowResult]]:
        """Runs of frames [a, b) within first..frame_count covered by a window, with the
        answer they show (frames no window covers are left out).

        The answer can only change where a window starts or ends, or half-way between the
        centres of two overlapping windows; `at` is asked only there."""
        if frame_count <= first or not self._windows:
            return []
        marks = {first}
        lo = bisect.bisect_left(self._starts, first - self._longest)
        hi = bisect.bisect_left(self._starts, frame_count)
        windows = self._windows[lo:hi]
        for i, window in enumerate(windows):
            marks.add(window.start_frame)
            marks.add(window.end_frame)
            for other in windows[i + 1 : i + 9]:
                if other.start_frame >= window.end_frame:
                    break
                middle = (window.centre + other.centre) / 2
                marks.update((math.floor(middle) - 1, math.floor(middle), math.ceil(middle)))
        points = sorted(m for m in marks if first <= m < frame_count)
        runs: list[tuple[int, int, WindowResult]] = []
        for n, first in enumerate(points):
            end = points[n + 1] if n + 1 < len(points) else frame_count
            result = self.at(first, stand_in=False)
            if result is None:
                continue
            if runs and runs[-1][2] is result and runs[-1][1] == first:
                runs[-1] = (runs[-1][0], end, result)
            else:
                runs.append((first, end, result))
        return runs

    def labels_per_frame(self, frame_count: int) -> np.ndarray:
        """The class index at every frame 0..frame_count-1 of the window covering it
        (-1: no window covers it; OTHER: that window is "not a known action")."""
        out = np.full(max(0, frame_count), -1, dtype=np.int64)
        for first, end, result in self.segments(frame_count):
            out[first:end] = OTHER if result.unknown else result.class_index
        return out


OTHER = -2
"""The class index of frames whose answer is "not a known action" (`labels_per_frame`)."""
OTHER_LABEL = "other"
"""What a session summary calls the time spent on footage the model does not know."""


@dataclass(frozen=True)
class ActionTime:
    """Time one action was on screen in a session summary."""

    label: str
    seconds: float
    share: float  # of the time that has an answer


def action_seconds(
    track: PredictionTrack, frame_count: int, fps: float, class_names: Sequence[str]
) -> list[ActionTime]:
    """Seconds per action: every frame a window covers counts for the action its answer
    names; longest first."""
    if frame_count <= 0 or fps <= 0 or not track:
        return []
    labels = track.labels_per_frame(frame_count)
    answered = labels[(labels >= 0) | (labels == OTHER)]
    if answered.size == 0:
        return []
    return _rows(answered, class_names, fps)


def _rows(labels: np.ndarray, class_names: Sequence[str], fps: float) -> list[ActionTime]:
    """Seconds per class index (OTHER: "other") of per-frame labels; longest first."""
    total = float(labels.size)
    other = int(np.count_nonzero(labels == OTHER))
    counts = np.bincount(labels[labels >= 0], minlength=len(class_names))
    rows = [
        ActionTime(class_names[i], counts[i] / fps, counts[i] / total)
        for i in np.flatnonzero(counts)
    ]
    if other:
        rows.append(ActionTime(OTHER_LABEL, other / fps, other / total))
    rows.sort(key=lambda row: (-row.seconds, row.label))
    return rows


def timeline_seconds(timeline: FrameTimeline,
                     other: np.ndarray | None = None) -> list[ActionTime]:
    """Seconds per action of a per-frame result: every frame counts for its (smoothed)
    action, or for "other" where `other` (a per-frame bool mask, `FrameTimeline.unknown`) is set;
    longest first."""
    labels = np.asarray(timeline.labels, dtype=np.int64).copy()
    if labels.size == 0 or timeline.fps <= 0:
        return []
    if other is not None and other.size:
        n = min(labels.size, other.size)
        labels[:n][other[:n]] = OTHER
    return _rows(labels, timeline.class_names, timeline.fps)
