"""Counting repetitions: how many, when each ended, at what pace and how evenly.

`count_reps(frames or embeddings, fps, segments)` gives one `SegmentCount` per segment (a
stretch of frames, usually one drill of a timeline): the number of repetitions, the time each
one ended, repetitions per minute, the coefficient of variation of their durations (the pace's
evenness) - or no count and the reason, where the movement does not repeat.

How (stmanet.engine.periodicity holds the numerical steps; docs/reps.md says why and what it
measures):

1. Each frame becomes a small picture of its edges (`frame_embedding`: 48 pixels on the
   longer side, a difference of Gaussians), a quarter of a millisecond a frame. The
   recognition network's features are not used: they are trained to say the same drill at
   every moment of it, the opposite of what counting needs, and come once per window.
2. Frames where nothing moves (pauses, a held pose) are set aside, so that a pause neither
   counts as movement nor breaks the rhythm on either side of it; a slow trend (zoom, light)
   is taken off.
3. The temporal self-similarity of the remaining frames (cosine similarity of the centred
   pictures, as in RepNet's TSM; for walking, jogging and running with the pixels that move
   with a scrolling background weighted down, stmanet.engine.reps_figure.figure_only) gives,
   for every frame, the period of the movement around it:
   the shortest lag at which the movement comes back (periodicity.local_periods). How alike
   consecutive cycles are decides whether anything repeats.
4. A reference cycle is taken where one cycle best matches the next, and every frame is
   aligned to a frame of it by dynamic programming (periodicity.align_to_cycle). The count is
   the number of cycles the path goes round, so tempo changes are followed frame by frame and
   each cycle is matched whole; a repetition ends at the frame where the path completes it.
5. Walking, jogging, running and high knees count steps (STEPPED): their cycle is a stride
   of two steps unless the frame-to-frame change says it is one (`_stride_energy`), or, for
   walking, jogging and running, that it holds three or more (`_steps_in_cycle`: then every
   frame is aligned again to a cycle of one stride); lunges
   count each leg's (ALTERNATING); for other drills a cycle whose halves are alike holds two
   repetitions (`_halves_alike`).

A segment is not counted (`abstained`, with a `reason`) when hardly anything moves, when no
period is found, when consecutive cycles are not alike enough, or when fewer than two
repetitions are seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from stmanet.engine.blas_threads import single_blas_thread
from stmanet.engine.periodicity import (
    align_to_cycle,
    local_autocorrelation,
    local_periods,
    similarity_band,
    unit_rows,
)
from stmanet.engine.reps_figure import figure_only
from stmanet.errors import ConfigError

EMBED_SIDE = 48
"""Pixels on the longer side of a frame's embedding picture."""

EMBED_BLUR = (0.7, 1.5)
"""The picture is blurred by the first standard deviation (pixels of that picture) and less
its blur by the second: a difference of Gaussians, which keeps the edges of the figure, not
the smooth shading of walls and floors, nor pixel noise and the shimmer of edges that a zoom
moves across the pixel grid."""

STEPPED = frozenset({"walking", "jogging", "running", "high_knees"})
"""Drills counted in steps, a step of either leg: see the module text."""

GAITS = frozenset({"walking", "jogging", "running"})
"""Of those, the ones whose picture change repeats every step (in high knees the far knee is
hidden behind the body, so it does not)."""

MAX_STEPS_IN_CYCLE = 16
"""The most steps a gait's cycle is looked at for (_steps_in_cycle)."""

ALTERNATING = frozenset({"lunges"})
"""Other drills done on alternate legs, each leg's counted: see the module text."""


@dataclass(frozen=True)
class CountSettings:
    """The counter's thresholds (chosen on generated drills of a seed kept for tuning)."""

    min_motion: float = 0.1  # the pictures change by less than this share in 0.2 s:
    # nothing moves but noise and the camera (see _motion_share)
    still: float = 0.15  # a frame is still when it moves less than this share of the busy
    # frames' movement (the 90th percentile)
    near_best: float = 0.7  # the period is the shortest lag this close to the best one
    min_similarity: float = 0.35  # consecutive cycles at least this alike, or abstain
    min_reps: float = 2.0  # fewer repetitions than this: abstain (one is no repetition)
    max_period_s: float = 8.0  # slower movements are not counted
    min_window_s: float = 1.0  # the least time the local period is measured over
    stay: float = 1.0  # alignment cost of standing still in the reference cycle
    skip: float = 1.0  # alignment cost per reference frame skipped
    halves_alike: float = 0.1  # a cycle whose halves are this alike holds two repetitions
    alternate_energy: float = 0.3  # lunges: as stride_energy, a cycle of a lunge on each leg
    near_best_steps: float = 0.5  # the same for walking, jogging, running, high knees
    stride_energy: float = 0.5  # their cycle is a single step when the picture change is
    # less alike at half the cycle than at the whole by more than this (_stride_energy),
    max_step_rate: float = 6.0  # or when as a stride it would mean more steps a second
    # than anyone makes
    steps_in_cycle: float = 0.45  # a gait's cycle holds k >= 3 steps when the picture
    # change is this alike (at a peak) a k-th of it later (_steps_in_cycle)


@dataclass(frozen=True)
class SegmentCount:
    """The repetitions of one segment of a video (frames start_frame to end_frame, exclusive).

    Times are seconds from the start of the video. `total` is None when the counter
    abstained; `reason` says why. The pace is measured from one repetition's end to the next,
    pauses included: `reps_per_min` is 60 over the mean of those intervals, `period_s` their
    median and `pace_cv`, the evenness of the pace, their coefficient of variation (standard
    deviation / mean; 0 is a perfectly even pace; None with fewer than three repetitions).
    Repetitions counted because most of one was seen when the segment ended are left out
    of the pace.
    """

    start_frame: int
    end_frame: int
    fps: float
    label: str | None = None
    total: int | None = None
    rep_times: tuple[float, ...] = ()  # the end of each repetition
    rep_starts: tuple[float, ...] = ()  # the start of each repetition
    reps_per_min: float | None = None
    pace_cv: float | None = None
    period_s: float | None = None
    periodicity: float = 0.0  # how alike consecutive cycles are (cosine similarity, <= 1)
    reason: str = ""

    @property
    def abstained(self) -> bool:
        return self.total is None

    @property
    def start_s(self) -> float:
        return self.start_frame / self.fps

    @property
    def end_s(self) -> float:
        return self.end_frame / self.fps

    def count_at(self, seconds: float) -> int:
        """Repetitions finished by `seconds` (a running count for a player)."""
        return int(np.searchsorted(np.asarray(self.rep_times), seconds, side="right"))

    def durations(self) -> np.ndarray:
        """Seconds from each repetition's end to the next one's (the first: from its start)."""
        if not self.rep_times:
            return np.zeros(0)
        return np.diff(np.concatenate([[self.rep_starts[0]], self.rep_times]))

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None, digits: int = 3) -> float | None:
            return None if x is None else round(float(x), digits)

        return {"label": self.label, "start_frame": self.start_frame,
                "end_frame": self.end_frame, "start_s": r(self.start_s),
                "end_s": r(self.end_s), "reps": self.total, "abstained": self.abstained,
                "reason": self.reason, "reps_per_min": r(self.reps_per_min, 2),
                "pace_cv": r(self.pace_cv, 4), "period_s": r(self.period_s),
                "periodicity": r(self.periodicity, 4),
                "rep_times": [r(t) for t in self.rep_times],
                "rep_starts": [r(t) for t in self.rep_starts]}


# ------------------------------------------------------------------------------ embeddings

def frame_embedding(frame: np.ndarray) -> np.ndarray:
    """One frame (H, W, 3) in any channel order, or a grey one (H, W), as a small picture of
    its edges, flattened (float32): halved (cv2.pyrDown) while at least twice EMBED_SIDE,
    shrunk with area averaging to EMBED_SIDE pixels on the longer side, the mean of its
    channels, then a difference of Gaussians (EMBED_BLUR). A quarter of a millisecond for a
    320 x 240 frame on the development CPU."""
    frame = np.asarray(frame)
    if frame.ndim not in (2, 3) or min(frame.shape[:2]) < 1:
        raise ConfigError(f"a frame must be (H, W) or (H, W, C), got shape {frame.shape}")
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    h, w = frame.shape[:2]
    small = frame
    while max(small.shape[:2]) >= 2 * EMBED_SIDE:
        small = cv2.pyrDown(small)
    scale = EMBED_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(cv2.resize(small, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
    if small.ndim == 3:
        small = small.mean(axis=2)
    fine, coarse = (cv2.GaussianBlur(small, (0, 0), sigma) for sigma in EMBED_BLUR)
    return (fine - coarse).reshape(-1)


def frame_embeddings(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """`frame_embedding` of every frame: (T, D) float32."""
    if len(frames) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([frame_embedding(f) for f in frames])


def self_similarity(embeddings: np.ndarray, *, max_frames: int | None = None) -> np.ndarray:
    """The temporal self-similarity matrix (T, T) float32 of embeddings (T, D): cosine
    similarity of the centred embeddings, -1 to 1. With `max_frames`, evenly spaced frames
    only (for a picture of a long segment)."""
    emb = np.asarray(embeddings, dtype=np.float32)
    if max_frames is not None and len(emb) > max_frames:
        emb = emb[np.linspace(0, len(emb) - 1, max_frames).round().astype(int)]
    unit = unit_rows(emb)
    with single_blas_thread():
        return unit @ unit.T


# ------------------------------------------------------------------------------ counting

@dataclass
class _Analysis:
    """What the counter found in one segment (kept whole for tuning and tests)."""

    moving: np.ndarray  # (T,) bool
    motion: float = 0.0  # _motion_share
    period: float = 0.0  # median local period, frames of movement
    periodicity: float = 0.0
    cycle_length: int = 0
    cycles: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per moving frame
    per_cycle: int = 1  # repetitions per cycle
    reason: str = ""

    @property
    def reps(self) -> float:
        return float(self.cycles[-1]) * self.per_cycle if self.cycles.size else 0.0


def _still_frames(emb: np.ndarray, share: float) -> np.ndarray:
    moves = np.linalg.norm(np.diff(emb, axis=0), axis=1)
    if moves.size == 0:
        return np.ones(len(emb), dtype=bool)
    moves = np.concatenate([moves[:1], moves])
    busy = float(np.percentile(moves, 90))
    return moves <= share * busy


def _motion_share(emb: np.ndarray, fps: float) -> float:
    """How much the pictures change over a fifth of a second, as a share of what they show:
    the 90th percentile over the segment of the change of 3-frame averages (which leave
    sensor noise out), over the median size of a picture."""
    lag = max(1, round(0.2 * fps))
    if len(emb) < lag + 4:
        return 0.0
    sums = np.cumsum(np.concatenate([np.zeros((1, emb.shape[1]), np.float64), emb]), axis=0)
    smooth = (sums[3:] - sums[:-3]) / 3
    change = np.linalg.norm(smooth[lag:] - smooth[:-lag], axis=1)
    size = float(np.median(np.linalg.norm(smooth, axis=1)))
    return float(np.percentile(change, 90)) / size if size > 0 else 0.0


def _detrended(emb: np.ndarray) -> np.ndarray:
    """Embeddings less a quadratic trend per dimension over the segment: a slow zoom, a
    camera creeping or light changing alter every frame a little more than the last and
    would otherwise outweigh a small movement (arms circling, say)."""
    t = np.linspace(-1.0, 1.0, len(emb))
    basis, _ = np.linalg.qr(np.stack([np.ones_like(t), t, t * t], axis=1))
    basis = basis.astype(np.float32)
    return emb - basis @ (basis.T @ emb)


def _change_autocorr(emb: np.ndarray, length: int) -> Callable[[float], float] | None:
    """How alike the frame-to-frame change of the pictures is to itself `lag` frames later
    (the best of the two whole lags around it), after taking off its running mean over two
    cycles of `length` frames. Which leg moves does not matter to the change, nor does a
    background scrolling past at an even speed. None for fewer than three cycles."""
    change = np.linalg.norm(np.diff(emb, axis=0), axis=1).astype(np.float64)
    width = 2 * length + 1
    if len(change) < 3 * length:
        return None  # under three cycles: too little to tell
    change -= np.convolve(change, np.ones(width) / width, mode="same")

    def at(lag: int) -> float:
        a, b = change[:-lag], change[lag:]
        denom = math.sqrt(float(a @ a) * float(b @ b))
        return float(a @ b) / denom if denom > 0 else 0.0

    def near(lag: float) -> float:
        return max(at(max(1, math.floor(lag))), at(max(1, math.ceil(lag))))

    return near


def _stride_energy(emb: np.ndarray, length: int) -> float:
    """Whether a gait's cycle of `length` frames is a stride or a single step: the change's
    autocorrelation (_change_autocorr) at half the cycle less that at the whole cycle. Near 0
    or above, the change repeats every half cycle, a step of each leg; well below, half a
    cycle is half a step (legs apart against legs passing), and the cycle is one step. NaN
    for fewer than three cycles."""
    near = _change_autocorr(emb, length)
    if near is None:
        return float("nan")
    return near(length / 2) - near(length)


def _steps_in_cycle(emb: np.ndarray, length: int, fps: float, settings: CountSettings) -> int:
    """How many steps a gait's cycle of `length` frames holds where that is 3 or more (up to
    MAX_STEPS_IN_CYCLE), else 0: the most steps k such that the frame-to-frame change is as
    alike as `settings.steps_in_cycle` length / k frames later, more alike there than at 0.7
    and 1.4 times that lag (a peak, not the slope of one), at no more than
    `settings.max_step_rate` steps a second. A background that scrolls past under a tracking
    camera can repeat every few strides and outweigh the legs in the self-similarity; the
    frame-to-frame change still repeats every step."""
    near = _change_autocorr(emb, length)
    if near is None:
        return 0
    most = min(MAX_STEPS_IN_CYCLE, math.floor(length * settings.max_step_rate / fps))
    for steps in range(most, 2, -1):
        lag = length / steps
        alike = near(lag)
        if alike >= settings.steps_in_cycle and alike >= near(0.7 * lag) and \
                alike >= near(1.4 * lag):
            return steps
    return 0


def _halves_alike(template: np.ndarray) -> float:
    """How alike the two halves of a cycle are: the mean similarity of the template to itself
    shifted round by 0.4-0.6 of its length, at the best such shift."""
    length = len(template)
    best = -1.0
    for shift in range(max(1, math.floor(0.4 * length)), math.ceil(0.6 * length) + 1):
        other = np.roll(template, -shift, axis=0)
        best = max(best, float(np.mean(np.sum(template * other, axis=1))))
    return best


def _analyse(emb: np.ndarray, fps: float, label: str | None,
             settings: CountSettings) -> _Analysis:
    still = _still_frames(emb, settings.still)
    result = _Analysis(moving=~still)
    moving = emb[~still]
    n = len(moving)
    result.motion = _motion_share(emb, fps)
    if n < 8 or n < 0.1 * len(emb) or result.motion < settings.min_motion:
        result.reason = "hardly anything moves"
        return result
    max_lag = min(n // 2, round(settings.max_period_s * fps))
    if max_lag < 3:
        result.reason = "too short to see a repetition"
        return result
    # the self-similarity of the figure, not of a background a tracking camera scrolls past
    seen = figure_only(emb, EMBED_SIDE)[~still] if label in GAITS else moving
    unit = unit_rows(_detrended(seen))
    band = similarity_band(unit, max_lag)
    autocorr = local_autocorrelation(band, max(3, round(settings.min_window_s * fps)))
    near_best = settings.near_best_steps if label in STEPPED else settings.near_best
    periods = local_periods(autocorr, near_best=near_best)
    found = periods[periods > 0]
    if found.size < 0.5 * n:
        result.reason = "no period found: the movement does not repeat, or not twice"
        return result
    period = int(np.median(found))
    result.period = float(period)
    rows = np.arange(n)[periods > 0]
    result.periodicity = float(np.median(autocorr[rows, periods[periods > 0]]))
    if result.periodicity < settings.min_similarity:
        result.reason = (f"the movement does not repeat closely enough (similarity of "
                         f"consecutive cycles {result.periodicity:.2f})")
        return result

    # The reference cycle: where one cycle matches the next best; its own local period.
    if n < 2 * period + 1:
        result.reason = "fewer than two repetitions"
        return result
    next_cycle = np.nan_to_num(band[: n - period, period], nan=-1.0)
    sums = np.concatenate([[0.0], np.cumsum(next_cycle, dtype=np.float64)])
    starts = np.arange(0, n - 2 * period + 1)
    start = int(starts[np.argmax(sums[starts + period] - sums[starts])])
    # its length: the best lag near the median period where the reference cycle lies
    around = autocorr[min(n - 1, start + period)]
    lo, hi = max(2, math.floor(0.7 * period)), min(len(around) - 1, math.ceil(1.4 * period))
    near = around[lo:hi + 1]
    length = lo + int(np.nanargmax(near)) if np.isfinite(near).any() else period
    length = max(2, min(length, n - start))
    template = unit[start:start + length]
    alignment = align_to_cycle(unit @ template.T, stay=settings.stay, skip=settings.skip)
    result.cycle_length = length
    result.cycles = alignment.cycles
    steps = _steps_in_cycle(moving, length, fps, settings) if label in GAITS else 0
    if steps:  # the cycle found holds several steps: align to one stride instead
        length = max(2, min(round(2 * length / steps), n - start))
        template = unit[start:start + length]
        alignment = align_to_cycle(unit @ template.T, stay=settings.stay, skip=settings.skip)
        result.cycle_length = length
        result.cycles = alignment.cycles
        result.per_cycle = 2
    elif label in STEPPED:
        energy = _stride_energy(moving, length) if label in GAITS else float("nan")
        if not energy <= -settings.stride_energy and 2 * fps / length <= settings.max_step_rate:
            result.per_cycle = 2  # a stride: a step of each leg
    elif label in ALTERNATING:
        energy = _stride_energy(moving, length)
        if (energy > -settings.alternate_energy if math.isfinite(energy)
                else _halves_alike(template) >= settings.halves_alike):
            result.per_cycle = 2  # a lunge on each leg
    elif _halves_alike(template) >= settings.halves_alike:
        result.per_cycle = 2  # two repetitions (a lunge on each leg, say) made one cycle
    if round(result.reps) < settings.min_reps:
        result.reason = "fewer than two repetitions"
    return result


def _count(emb: np.ndarray, fps: float, start_frame: int, label: str | None,
           settings: CountSettings) -> SegmentCount:
    end_frame = start_frame + len(emb)
    a = _analyse(emb, fps, label, settings)
    if a.reason:
        return SegmentCount(start_frame, end_frame, fps, label, periodicity=a.periodicity,
                            reason=a.reason)
    frames = start_frame + np.flatnonzero(a.moving)  # video frame of each moving frame
    done = a.cycles * a.per_cycle  # repetitions done at each moving frame
    total = round(float(done[-1]))
    ends, starts = [], []
    for k in range(1, total + 1):
        reached = np.flatnonzero(done >= k - 1e-9)
        end = int(frames[reached[0]]) if reached.size else int(frames[-1])
        begun = np.flatnonzero(done > k - 1 + 1e-9)
        start = int(frames[begun[0]]) - 1 if begun.size else end
        ends.append(end / fps)
        starts.append(max(start, start_frame) / fps)
    whole = ends[:max(1, math.floor(float(done[-1]) + 1e-9))]
    intervals = np.diff(whole) if len(whole) > 1 else np.diff([starts[0], ends[0]])
    mean = float(intervals.mean())
    return SegmentCount(
        start_frame, end_frame, fps, label, total=total, rep_times=tuple(ends),
        rep_starts=tuple(starts), reps_per_min=60.0 / mean if mean > 0 else None,
        pace_cv=float(intervals.std() / mean) if mean > 0 and len(intervals) > 1 else None,
        period_s=float(np.median(intervals)), periodicity=a.periodicity)


def _segment_bounds(segment: Any, n: int) -> tuple[str | None, int, int]:
    """(label, start, end) of a segment given as (start, end), (label, start, end), a mapping
    or an object with start_frame / end_frame and label or drill."""
    if isinstance(segment, Mapping):
        label = segment.get("label", segment.get("drill"))
        start, end = segment["start_frame"], segment["end_frame"]
    elif isinstance(segment, tuple | list):
        label, start, end = (None, *segment) if len(segment) == 2 else segment
    else:
        label = getattr(segment, "label", getattr(segment, "drill", None))
        start, end = segment.start_frame, segment.end_frame
    start, end = int(start), int(end)
    if not 0 <= start < end <= n:
        raise ConfigError(f"segment frames {start}-{end} do not lie within the {n} frames")
    return (None if label is None else str(label)), start, end


def count_reps(data: np.ndarray | Sequence[np.ndarray], fps: float,
               segments: Sequence[Any] | None = None, *,
               settings: CountSettings | None = None) -> list[SegmentCount]:
    """Count the repetitions of each segment of a video.

    `data`: the frames (T, H, W, 3) or (T, H, W), or their `frame_embeddings` (T, D) (kept
    from a player, say). `segments`: (start_frame, end_frame) or (label, start, end) tuples,
    mappings or objects with start_frame, end_frame and label (a timeline's segments, the
    generator's); default one segment of all frames. A label in ALTERNATING counts steps
    (one leg's lunges) rather than strides.
    """
    if not fps or fps <= 0 or not math.isfinite(fps):
        raise ConfigError(f"the frame rate must be positive, got {fps}")
    array = np.asarray(data) if not isinstance(data, np.ndarray) else data
    if array.ndim == 2 and array.dtype != np.uint8:
        emb = array.astype(np.float32)
    elif array.ndim in (3, 4):
        emb = frame_embeddings(array)
    else:
        raise ConfigError("expected frames (T, H, W[, C]) or embeddings (T, D), got an "
                          f"array of shape {array.shape}")
    if len(emb) == 0:
        raise ConfigError("no frames to count repetitions in")
    settings = settings or CountSettings()
    bounds = [_segment_bounds(s, len(emb)) for s in segments] if segments is not None else [
        (None, 0, len(emb))]
    with single_blas_thread():  # small products: threads cost more than they bring
        return [_count(emb[start:end], fps, start, label, settings)
                for label, start, end in bounds]
