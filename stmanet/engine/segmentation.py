"""Per-frame results: which action at every frame of a video, from overlapping windows.

The network answers per window; a timeline needs an answer per frame. Four steps:

1. `frame_scores`: every frame gets the mean of the softmax scores of the windows that cover
   it, each weighted by how near the frame is to the window's middle (a triangle; or the
   plain mean, `weighting="uniform"`). With windows that overlap (a hop smaller than the
   window), a frame near a change of action is judged by several windows, most of them on
   its own side of the change, and mostly by those centred near it.
2. Smoothing that favours few changes, chosen by `smoothing`:
   - "viterbi" (the default): the label sequence that maximises the sum over frames of
     log(score of the frame's label) minus `switch_penalty` for every change of label. A run
     of another label survives only when its frames' evidence outweighs the two changes it
     costs (a run of L frames whose label is r log-units likelier than the surrounding one
     survives when L * r > 2 * switch_penalty).
   - "median": each class's per-frame score curve through a running median of
     `median_frames` frames, then the best class per frame.
   - "none": the best class per frame.
3. Given every frame's embedding (the counter's small picture of the frame's edges), each
   change of label is moved to where the frames stop resembling the action before it
   (`stmanet.engine.boundaries.refine_changes`, within half a window of where the windows
   put it; `refine=False` leaves it there). The windows alone place changes late.
4. `segments_from_labels`: runs of one label as `FrameSegment`s (start frame, end frame
   exclusive, action, mean score: the mean over the run's frames of that action's per-frame
   score).

Given each window's verdict of a model that tells unknown footage (known or not), the frames
most of whose windows are "not a known action" are kept beside the labels
(`FrameTimeline.unknown`, `told_unknown`) and cut out of the actions as segments of their own
wherever segments are shown or written (`FrameTimeline.told_segments`, `action_runs`).

`timeline_from_windows` does all four from plain arrays (window starts, ends and scores), the
form a caller that collected windows itself (the app's analysis) has at hand;
`frame_timeline` does it for a `VideoPrediction`. Which smoothing, penalty and hop are the
defaults, and why, is measured in docs/training.md ("Timelines").
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stmanet.errors import ConfigError, printable_path

if TYPE_CHECKING:
    from stmanet.engine.inference import VideoPrediction

SMOOTHING = ("viterbi", "median", "none")
DEFAULT_SMOOTHING = "viterbi"
DEFAULT_SWITCH_PENALTY = 40.0
"""Log-units a change of label costs (Viterbi); measured in docs/training.md."""
DEFAULT_MEDIAN_FRAMES = 75
"""Frames of the running median (odd; 3 s at 25 fps): the best of 25, 49 and 75 measured in
docs/training.md. A run of one action shorter than half of it (1.5 s) cannot survive it."""
WEIGHTINGS = ("centre", "uniform")
DEFAULT_WEIGHTING = "centre"
"""How the windows covering a frame are averaged (frame_scores); measured in
docs/training.md."""
CENTRE_SLOPE = 0.5
"""With "centre" weighting a window counts for a frame at its end half as much as for its
middle frame; 0.5 and 0.75 measured alike, 1 (down to nothing at the ends) kept more stray
segments (docs/training.md)."""
DEFAULT_HOP_FRACTION = 4
"""Per-frame results take a window every window / 4 frames unless a hop is given."""

_FLOOR = 1e-8  # the smallest score a log is taken of
OTHER_LABEL = "other"
"""The label of a stretch "not a known action" in segments (`FrameTimeline.told_segments`)."""


def default_hop(window: int) -> int:
    """Source frames between window starts for a per-frame result: a quarter window."""
    return max(1, window // DEFAULT_HOP_FRACTION)


@dataclass(frozen=True)
class FrameSegment:
    """One action from `start_frame` to `end_frame` (exclusive) of the per-frame result."""

    label: str
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    mean_score: float
    # False: a stretch "not a known action" (label OTHER_LABEL, no score); True: an action the
    # model knows; None: the model cannot tell (FrameTimeline.told_segments)
    known: bool | None = None

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start_frame": self.start_frame,
                "end_frame": self.end_frame, "start_s": round(self.start_s, 4),
                "end_s": round(self.end_s, 4),
                "mean_score": None if self.known is False else round(self.mean_score, 6),
                **({} if self.known is None else {"known": self.known})}


@dataclass
class FrameTimeline:
    """The per-frame result of one video.

    scores: (N, K) float32, each frame's mean softmax over the windows covering it (before
    smoothing); labels: (N,) int64 class indices after smoothing; segments: the runs of
    `labels`, in order, covering all N frames.
    """

    class_names: list[str]
    fps: float
    scores: np.ndarray
    labels: np.ndarray
    segments: list[FrameSegment]
    smoothing: str = DEFAULT_SMOOTHING
    refined: bool = False
    """Whether the changes were placed on the frames' embeddings (step 3 of the module)."""
    mostly_unknown: np.ndarray | None = None
    """(N,) bool: the frames most of whose windows are "not a known action" (`unknown_mask`);
    None: the model cannot tell, or no verdicts were given."""
    sliver_frames: int = 0
    """Runs of an action shorter than this beside such frames count as not known too."""

    @functools.cached_property
    def unknown(self) -> np.ndarray | None:
        """(N,) bool: the frames "not a known action" (`told_unknown`, made once); None where
        the model cannot tell."""
        if self.mostly_unknown is None:
            return None
        return told_unknown(self.labels, self.mostly_unknown, self.sliver_frames)

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])

    def label_names(self) -> list[str]:
        """The action at every frame, by name."""
        return [self.class_names[i] for i in self.labels.tolist()]

    def told_label_names(self) -> list[str]:
        """The action at every frame, by name, as a user is shown it: OTHER_LABEL on the
        frames that are not a known action (`unknown`)."""
        names = self.label_names()
        unknown = self.unknown
        if unknown is None:
            return names
        return [OTHER_LABEL if i < unknown.size and unknown[i] else name
                for i, name in enumerate(names)]

    def told_segments(self) -> list[FrameSegment]:
        """The segments with the stretches "not a known action" cut out of the actions as
        segments of their own (label OTHER_LABEL, known False): what a user is shown and
        given. Without verdicts (`unknown` None) the segments as they are."""
        unknown = self.unknown
        if unknown is None:
            return list(self.segments)
        out = []
        for label, a, b in action_runs(self.labels, unknown):
            if label is None:
                out.append(FrameSegment(OTHER_LABEL, a, b, a / self.fps, b / self.fps, 0.0,
                                        False))
            else:
                out.append(FrameSegment(self.class_names[label], a, b, a / self.fps,
                                        b / self.fps, float(np.mean(self.scores[a:b, label])),
                                        True))
        return out

    def seconds_per_action(self) -> dict[str, float]:
        """Seconds of the video given to each action (only actions that occur), and to
        OTHER_LABEL where frames are "not a known action"."""
        out: dict[str, float] = {}
        for s in self.told_segments():
            out[s.label] = out.get(s.label, 0.0) + s.frames / self.fps
        return out

    def to_text(self) -> str:
        """The segments as a table, one line each, and the seconds per action."""
        lines = []
        for s in self.told_segments():
            what = "NOT A KNOWN ACTION" if s.known is False else f"{s.label} {s.mean_score:.3f}"
            lines.append(f"  {s.start_s:8.2f}-{s.end_s:8.2f} s  frames {s.start_frame:6d}-"
                         f"{s.end_frame:6d}  {what}")
        seconds = self.seconds_per_action()
        lines.append("  seconds: " + ", ".join(f"{label} {seconds[label]:.2f}"
                                               for label in sorted(seconds)))
        return "\n".join(lines)

    def with_segments(self, segments: Sequence[tuple[str | None, int, int]]) -> FrameTimeline:
        """This result with the frames of `segments` (label, start, end) labelled as they say
        (labels it does not know left as they are; None: "not a known action", where this
        result has verdicts), marked refined: how a stored result whose changes were placed
        on the frames is rebuilt from its windows."""
        index = {name: i for i, name in enumerate(self.class_names)}
        labels = self.labels.copy()
        unknown = None if self.mostly_unknown is None else self.mostly_unknown.copy()
        for label, start, end in segments:
            if label in index:
                labels[max(0, start):max(0, end)] = index[label]
            elif label is None and unknown is not None:
                unknown[max(0, start):max(0, end)] = True
        return FrameTimeline(self.class_names, self.fps, self.scores, labels,
                             segments_from_labels(labels, self.scores, self.class_names,
                                                  self.fps), self.smoothing, True,
                             unknown, self.sliver_frames)

    def to_dict(self) -> dict[str, Any]:
        return {"fps": self.fps, "num_frames": self.num_frames, "smoothing": self.smoothing,
                "segments": [s.to_dict() for s in self.told_segments()],
                "seconds": {k: round(v, 4) for k, v in self.seconds_per_action().items()}}


# ------------------------------------------------------------------------------ steps

def frame_scores(starts: Sequence[int] | np.ndarray, ends: Sequence[int] | np.ndarray,
                 window_scores: np.ndarray, num_frames: int | None = None, *,
                 weighting: str = DEFAULT_WEIGHTING) -> np.ndarray:
    """(N, K) float32: each frame's weighted mean of the scores of the windows covering it.

    Window w covers frames starts[w] <= f < ends[w]. `weighting` (one of WEIGHTINGS):
    "centre" weighs window w at frame f by 1 - CENTRE_SLOPE * |f - c| / (L / 2), where c is
    the window's middle frame and L its length (1 at the middle, about 0.5 at either end), so
    a frame leans on the windows centred near it; "uniform" takes the plain mean.
    `num_frames` defaults to the last window's end. Frames no window covers (after a
    cancelled analysis, or between windows with a hop larger than the window) take the
    scores of the nearest covered frame.
    """
    starts_a = np.asarray(starts, dtype=np.int64).reshape(-1)
    ends_a = np.asarray(ends, dtype=np.int64).reshape(-1)
    scores = np.asarray(window_scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != starts_a.shape[0] or \
            ends_a.shape != starts_a.shape:
        raise ValueError(f"need one (start, end, scores) per window; got {starts_a.shape[0]} "
                         f"starts, {ends_a.shape[0]} ends, scores of shape {scores.shape}")
    if starts_a.size == 0:
        raise ValueError("no windows to make a per-frame result from")
    if np.any(ends_a <= starts_a) or np.any(starts_a < 0):
        raise ValueError("every window needs 0 <= start < end")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of "
                         f"{', '.join(WEIGHTINGS)}")
    n = int(ends_a.max()) if num_frames is None else int(num_frames)
    if n < 1:
        raise ValueError(f"num_frames must be at least 1, got {n}")
    k = scores.shape[1]
    # every (window, frame) pair, frames past num_frames left out
    lengths = ends_a - starts_a
    window_of = np.repeat(np.arange(starts_a.size), lengths)
    offset = np.arange(window_of.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    frame = starts_a[window_of] + offset
    if weighting == "centre":
        half = lengths[window_of] / 2.0
        weight = 1.0 - CENTRE_SLOPE * np.abs(offset + 0.5 - half) / half
    else:
        weight = np.ones(frame.size)
    inside = frame < n
    frame, window_of, weight = frame[inside], window_of[inside], weight[inside]
    total = np.stack([np.bincount(frame, weights=weight * scores[window_of, c], minlength=n)
                      for c in range(k)], axis=1)
    weight_sum = np.bincount(frame, weights=weight, minlength=n)
    covered = weight_sum > 0
    if not covered.any():
        raise ValueError(f"no window covers any of the {n} frames")
    out = np.zeros((n, k))
    out[covered] = total[covered] / weight_sum[covered, None]
    if not covered.all():  # nearest covered frame
        idx = np.flatnonzero(covered)
        pos = np.searchsorted(idx, np.arange(n))
        left = idx[np.clip(pos - 1, 0, idx.size - 1)]
        right = idx[np.clip(pos, 0, idx.size - 1)]
        frames = np.arange(n)
        nearest = np.where(np.abs(frames - left) <= np.abs(right - frames), left, right)
        out = out[nearest]
    return out.astype(np.float32)


def viterbi_labels(scores: np.ndarray, switch_penalty: float) -> np.ndarray:
    """(N,) int64: the labels maximising sum_t log scores[t, y_t] - switch_penalty * changes.

    Ties go to the lower class index, and to staying over changing."""
    if switch_penalty < 0:
        raise ValueError(f"switch_penalty must be >= 0, got {switch_penalty}")
    logp = np.log(np.maximum(np.asarray(scores, dtype=np.float64), _FLOOR))
    n, k = logp.shape
    best = logp[0].copy()
    came_from = np.empty((n, k), dtype=np.int64)  # the previous frame's label
    came_from[0] = np.arange(k)
    stay = np.arange(k)
    for t in range(1, n):
        leader = int(np.argmax(best))
        switch = best[leader] - switch_penalty
        moves = best < switch  # strictly better to come from the leader
        came_from[t] = np.where(moves, leader, stay)
        best = np.where(moves, switch, best) + logp[t]
    labels = np.empty(n, dtype=np.int64)
    labels[-1] = int(np.argmax(best))
    for t in range(n - 1, 0, -1):
        labels[t - 1] = came_from[t, labels[t]]
    return labels


def median_labels(scores: np.ndarray, median_frames: int) -> np.ndarray:
    """(N,) int64: the best class per frame after a running median of `median_frames` frames
    (odd; the ends repeat the first and last frames) over each class's score curve."""
    if median_frames < 1 or median_frames % 2 == 0:
        raise ValueError(f"median_frames must be an odd number >= 1, got {median_frames}")
    s = np.asarray(scores, dtype=np.float32)
    if median_frames > 1:
        half = median_frames // 2
        padded = np.concatenate([np.repeat(s[:1], half, 0), s, np.repeat(s[-1:], half, 0)])
        view = np.lib.stride_tricks.sliding_window_view(padded, median_frames, axis=0)
        s = np.median(view, axis=-1)
    return np.argmax(s, axis=1).astype(np.int64)


def check_smoothing(smoothing: str, switch_penalty: float, median_frames: int,
                    weighting: str = DEFAULT_WEIGHTING) -> None:
    """ConfigError unless the smoothing, its settings and the weighting of windows can be
    used (checked before a long prediction, not after)."""
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting of windows {weighting!r}; choose one of "
                          f"{', '.join(WEIGHTINGS)}")
    if smoothing not in SMOOTHING:
        raise ConfigError(f"unknown smoothing {smoothing!r}; choose one of "
                          f"{', '.join(SMOOTHING)}")
    if smoothing == "viterbi" and not switch_penalty >= 0:
        raise ConfigError(f"the switch penalty must be 0 or more, not {switch_penalty:g}")
    if smoothing == "median" and (median_frames < 1 or median_frames % 2 == 0):
        raise ConfigError(f"the running median needs an odd number of frames (1 or more), "
                          f"not {median_frames}")


def smooth_labels(scores: np.ndarray, smoothing: str = DEFAULT_SMOOTHING, *,
                  switch_penalty: float = DEFAULT_SWITCH_PENALTY,
                  median_frames: int = DEFAULT_MEDIAN_FRAMES) -> np.ndarray:
    """(N,) int64 labels of per-frame scores (N, K) under one of SMOOTHING."""
    check_smoothing(smoothing, switch_penalty, median_frames)
    if smoothing == "viterbi":
        return viterbi_labels(scores, switch_penalty)
    if smoothing == "median":
        return median_labels(scores, median_frames)
    return np.argmax(scores, axis=1).astype(np.int64)


def _runs(labels: np.ndarray) -> list[tuple[int, int]]:
    """(start, end exclusive) of each run of one value in `labels`, in order."""
    if labels.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(labels)) + 1
    return list(itertools.pairwise([0, *cuts.tolist(), int(labels.size)]))


def unknown_mask(starts: np.ndarray, ends: np.ndarray, known: Sequence[bool | None],
                 frames: int) -> np.ndarray | None:
    """(frames,) bool: frames covered by more "not a known action" windows than known ones
    (the app's rule); None when the model cannot tell."""
    if not known or any(k is None for k in known):
        return None
    balance = np.zeros(frames + 1, dtype=np.int64)
    for a, b, k in zip(starts, ends, known, strict=True):
        a, b = max(0, int(a)), min(frames, int(b))
        if b > a:
            step = -1 if k else 1
            balance[a] += step
            balance[b] -= step
    return np.cumsum(balance[:-1]) > 0


def told_unknown(labels: np.ndarray, unknown: np.ndarray, sliver_frames: int) -> np.ndarray:
    """(N,) bool: `unknown` (frames "not a known action", `unknown_mask`; frames past its end
    count as known) with every run of an action shorter than `sliver_frames` that touches
    such frames added to them. The verdicts come from whole windows while the actions'
    changes are placed to the frame, so where the two nearly meet a few frames of an action
    would be left between stretches of unknown footage, or at their edge: slivers the
    windows cannot tell anything about."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.zeros(labels.size, dtype=bool)
    part = np.asarray(unknown, dtype=bool)[:labels.size]
    out[:part.size] = part
    while sliver_frames > 1:
        marked = np.where(out, -1, labels)
        runs = _runs(marked)
        slivers = [(a, b) for i, (a, b) in enumerate(runs)
                   if marked[a] >= 0 and b - a < sliver_frames
                   and ((i > 0 and marked[runs[i - 1][0]] < 0)
                        or (i + 1 < len(runs) and marked[runs[i + 1][0]] < 0))]
        if not slivers:
            break
        for a, b in slivers:
            out[a:b] = True
    return out


def action_runs(labels: np.ndarray, unknown: np.ndarray | None
                ) -> list[tuple[int | None, int, int]]:
    """The segments of a per-frame result: (class index, start, end exclusive) of each run
    of one action in `labels`, in order, covering every frame. The frames set in `unknown`
    (`FrameTimeline.unknown`: not a known action; frames past its end count as known; None:
    the model cannot tell) are left out of the actions: a stretch of them cuts an action's
    run in two and is a run of its own, index None, however many actions it spans.

    The one rule for segments shown and written (`FrameTimeline.told_segments`), the batch
    results (engine/video_result.py), `stmanet count --model` (reps_video) and the app's
    repetition counts (app/services/counting.py); the last two count only the runs with an
    index."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    if unknown is not None:
        part = np.asarray(unknown, dtype=bool)[: labels.size]
        labels[: part.size][part] = -1
    return [(None if labels[a] < 0 else int(labels[a]), a, b) for a, b in _runs(labels)]


def segments_from_labels(labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str],
                         fps: float) -> list[FrameSegment]:
    """Runs of one label, in order, with times and the mean per-frame score of the label."""
    labels = np.asarray(labels, dtype=np.int64)
    fps = fps if fps > 0 else 25.0
    out = []
    for a, b in _runs(labels):
        label = int(labels[a])
        out.append(FrameSegment(class_names[label], a, b, a / fps, b / fps,
                                float(np.mean(scores[a:b, label]))))
    return out


# ------------------------------------------------------------------------ entry points

def timeline_from_windows(starts: Sequence[int] | np.ndarray, ends: Sequence[int] | np.ndarray,
                          window_scores: np.ndarray, class_names: Sequence[str], fps: float,
                          num_frames: int | None = None, *,
                          smoothing: str = DEFAULT_SMOOTHING,
                          switch_penalty: float = DEFAULT_SWITCH_PENALTY,
                          median_frames: int = DEFAULT_MEDIAN_FRAMES,
                          weighting: str = DEFAULT_WEIGHTING,
                          embeddings: np.ndarray | None = None,
                          refine: bool = True,
                          known: Sequence[bool | None] | None = None) -> FrameTimeline:
    """The per-frame result from windows: start and end frames (end exclusive), their softmax
    scores over all classes (W, K) in `class_names` order, the video's frame rate and length
    (default: the last window's end). With `embeddings` (one `reps.frame_embedding` a frame,
    at least num_frames of them) and `refine`, the changes are placed on them (step 3). With
    each window's `known` (None for a model that cannot tell), the frames most of whose
    windows are "not a known action" are marked (`FrameTimeline.unknown`, `told_unknown`:
    no run of an action under half a window beside them)."""
    from stmanet.engine.boundaries import default_radius, reference_frames, refine_changes

    scores = frame_scores(starts, ends, window_scores, num_frames, weighting=weighting)
    if scores.shape[1] != len(class_names):
        raise ValueError(f"scores over {scores.shape[1]} classes, {len(class_names)} names")
    labels = smooth_labels(scores, smoothing, switch_penalty=switch_penalty,
                           median_frames=median_frames)
    n = labels.shape[0]
    window = int(np.median(np.asarray(ends) - np.asarray(starts)))
    refined = refine and embeddings is not None and len(embeddings) >= n
    if refined:
        labels = refine_changes(labels, np.asarray(embeddings)[:n],
                                radius=default_radius(window), reference=reference_frames(fps))
    other = (None if known is None else
             unknown_mask(np.asarray(starts), np.asarray(ends), list(known), n))
    return FrameTimeline(list(class_names), fps if fps > 0 else 25.0, scores, labels,
                         segments_from_labels(labels, scores, class_names, fps), smoothing,
                         refined, other, max(1, window // 2))


def frame_timeline(prediction: VideoPrediction, *, smoothing: str = DEFAULT_SMOOTHING,
                   switch_penalty: float = DEFAULT_SWITCH_PENALTY,
                   median_frames: int = DEFAULT_MEDIAN_FRAMES,
                   weighting: str = DEFAULT_WEIGHTING,
                   embeddings: np.ndarray | None = None,
                   refine: bool = True) -> FrameTimeline:
    """The per-frame result of a `Predictor.predict` answer (`embeddings`, `refine`: as for
    `timeline_from_windows`)."""
    if prediction.window_scores is None or not prediction.windows:
        raise ValueError(f"{printable_path(prediction.path)}: no window scores to make a "
                         "per-frame result from")
    return timeline_from_windows(
        [w.start_frame for w in prediction.windows], [w.end_frame for w in prediction.windows],
        prediction.window_scores, prediction.class_names, prediction.fps,
        prediction.num_frames, smoothing=smoothing, switch_penalty=switch_penalty,
        median_frames=median_frames, weighting=weighting, embeddings=embeddings,
        refine=refine, known=[w.known for w in prediction.windows])


# ------------------------------------------------------------------------------ files

def segments_path(windows_path: Path | str) -> Path:
    """Where `stmanet predict --segments` writes the segments beside the windows file:
    windows.csv -> windows.segments.csv."""
    path = Path(windows_path)
    return path.with_name(f"{path.stem}.segments{path.suffix}")


SEGMENT_COLUMNS = ("video", "start_frame", "end_frame", "start_s", "end_s", "label",
                   "mean_score", "known")
"""The columns of a segments CSV file (`write_segments`)."""


def segment_row(video: Path | str, s: FrameSegment) -> list[Any]:
    """One segment as a row of SEGMENT_COLUMNS: a stretch "not a known action" has no mean
    score and known 0; known is empty where the model cannot tell."""
    return [printable_path(Path(video)), s.start_frame, s.end_frame, f"{s.start_s:.3f}",
            f"{s.end_s:.3f}", s.label, "" if s.known is False else f"{s.mean_score:.6f}",
            "" if s.known is None else int(s.known)]


def write_segments(path: Path | str, timelines: Sequence[tuple[Path | str, FrameTimeline]]
                   ) -> Path:
    """Per-segment tables of videos to CSV or JSON, chosen by the file's suffix.

    CSV: one row per segment: video, start_frame, end_frame, start_s, end_s, label,
    mean_score, known. JSON: {"timelines": [{"video": ..., "fps": ..., "num_frames": ...,
    "smoothing": ..., "segments": [...], "seconds": {action: seconds}}, ...]}. A stretch "not
    a known action" is a segment of its own, label OTHER_LABEL, known 0 (false), no mean
    score; `known` is empty (left out) where the model cannot tell.
    """
    from stmanet.fileio import atomic_write_text

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        document = {"timelines": [{"video": str(video), **t.to_dict()}
                                  for video, t in timelines]}
        atomic_write_text(path, json.dumps(document, indent=1) + "\n")
        return path
    if suffix != ".csv":
        raise ConfigError(f"{path}: choose a .csv or .json file for the segments")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SEGMENT_COLUMNS)
    for video, t in timelines:
        for s in t.told_segments():
            writer.writerow(segment_row(video, s))
    atomic_write_text(path, buffer.getvalue())
    return path
