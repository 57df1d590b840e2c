"""Lining two videos up: which frame of video B goes with each frame of video A.

Four ways, each giving an `Alignment` (a monotone map from A's frames to B's, through anchor
pairs; outside the anchors both play at their own pace):

- `by_offset(frames)`: B runs a fixed number of frames ahead of A (a coach's own offset);
- `by_action_start(segments_a, segments_b)`: the first frame of the same recognised action
  in each video (per-frame segments of a whole-video analysis, engine/segmentation.py);
- `by_reps(reps_a, reps_b)`: repetition k of A against repetition k of B, start and end
  (the counter's times, engine/reps.py), so a student slower than the model stays in step
  rep by rep;
- `by_dtw(features_a, features_b)`: dynamic time warping of per-frame feature sequences
  (`frame_embeddings`, or any (T, D) features), within a band around the diagonal, where
  the counter finds no repetitions.

Frames are 0-based in each video's own numbering; the two videos may differ in frame rate
(`rate` = fps_b / fps_a is the slope outside the anchors). numpy only, no Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stmanet.errors import ConfigError

MODES = ("offset", "action", "reps", "dtw")

DTW_BAND = 0.25
"""Half-width of the band DTW searches, as a share of the longer sequence (beyond the
difference in length), around the diagonal from the first frames to the last."""

DTW_MAX_STEPS = 600
"""Longer sequences are subsampled evenly to this many steps before warping (a 600 x 600
cost matrix is a few milliseconds)."""


@dataclass(frozen=True)
class Alignment:
    """A map from frames of A to frames of B through `anchors` (a_frame, b_frame) pairs,
    increasing in both; straight lines between them, slope `rate` outside them.

    `mode` is one of MODES, `detail` says in words what was lined up (e.g. "start of
    squats"), `cost` is DTW's mean cost per step (cosine distance, 0-2) or None."""

    mode: str
    anchors: np.ndarray  # (N, 2) float64, N >= 1
    rate: float = 1.0  # fps_b / fps_a
    detail: str = ""
    cost: float | None = None
    reps: tuple[int, int] = (0, 0)  # repetitions paired (by_reps): of A, of B
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown alignment mode {self.mode!r}; choose from "
                              f"{', '.join(MODES)}")
        anchors = np.asarray(self.anchors, dtype=np.float64).reshape(-1, 2)
        if len(anchors) == 0:
            raise ConfigError("an alignment needs at least one pair of frames")
        object.__setattr__(self, "anchors", anchors)

    # --- the map ---------------------------------------------------------------------

    def b_of(self, a: float | np.ndarray) -> float | np.ndarray:
        """The frame of B (fractional) that goes with frame `a` of A."""
        xa, xb = self.anchors[:, 0], self.anchors[:, 1]
        a_arr = np.asarray(a, dtype=np.float64)
        inside = np.interp(a_arr, xa, xb)
        before = xb[0] + (a_arr - xa[0]) * self.rate
        after = xb[-1] + (a_arr - xa[-1]) * self.rate
        out = np.where(a_arr < xa[0], before, np.where(a_arr > xa[-1], after, inside))
        return float(out) if out.ndim == 0 else out

    def a_of(self, b: float | np.ndarray) -> float | np.ndarray:
        """The frame of A that goes with frame `b` of B (the inverse of `b_of`)."""
        xa, xb = self.anchors[:, 0], self.anchors[:, 1]
        b_arr = np.asarray(b, dtype=np.float64)
        inside = np.interp(b_arr, xb, xa)
        before = xa[0] + (b_arr - xb[0]) / self.rate
        after = xa[-1] + (b_arr - xb[-1]) / self.rate
        out = np.where(b_arr < xb[0], before, np.where(b_arr > xb[-1], after, inside))
        return float(out) if out.ndim == 0 else out

    def b_frame(self, a: int) -> int:
        """`b_of` rounded to a frame."""
        return round(float(self.b_of(a)))

    @property
    def offset(self) -> float:
        """Frames of B ahead of A at the first anchor (b - a)."""
        return float(self.anchors[0, 1] - self.anchors[0, 0])

    @property
    def tempo_ratio(self) -> float:
        """How many frames B takes over what A does in one, across the anchors (1.0: the
        same pace; 2.0: B takes twice as long); the frame-rate ratio with a single anchor."""
        (a0, b0), (a1, b1) = self.anchors[0], self.anchors[-1]
        return float((b1 - b0) / (a1 - a0)) if a1 - a0 > 0 else self.rate

    @property
    def time_ratio(self) -> float:
        """`tempo_ratio` in time, not frames: how many seconds B takes over what A does in
        one (the same repetitions at 30 and 60 fps: 1.0)."""
        return self.tempo_ratio / self.rate

    def shifted(self, frames: float) -> Alignment:
        """The same alignment with B moved `frames` later against A (a nudge)."""
        moved = self.anchors.copy()
        moved[:, 1] += frames
        return replace(self, anchors=moved)

    def marks(self, limit: int = 24) -> list[tuple[int, int]]:
        """Pairs of aligned frames to draw on both timelines: every anchor, or `limit`
        of them evenly spread."""
        anchors = self.anchors
        if len(anchors) > limit:
            anchors = anchors[np.linspace(0, len(anchors) - 1, limit).round().astype(int)]
        return [(round(a), round(b)) for a, b in anchors]


def by_offset(frames: float, *, rate: float = 1.0) -> Alignment:
    """B's frame `frames` goes with A's frame 0, both at their own pace from there."""
    return Alignment("offset", np.array([[0.0, float(frames)]]), rate=rate,
                     detail=f"{frames:+.0f} frames")


# ------------------------------------------------------------------------------ by action


def _bounds(segment: Any) -> tuple[str, int, int]:
    if isinstance(segment, dict):
        return str(segment["label"]), int(segment["start_frame"]), int(segment["end_frame"])
    if isinstance(segment, (tuple, list)):
        label, start, end = segment
        return str(label), int(start), int(end)
    return str(segment.label), int(segment.start_frame), int(segment.end_frame)


def joined_segments(segments: Sequence[Any], max_gap: int) -> list[tuple[str, int, int]]:
    """(label, start, end) of `segments` in order of start, two of the same action that follow
    each other with at most `max_gap` frames between them (footage the model did not know,
    left out) joined into one: an action the model lost for a moment, as a slower
    performance than it was taught may make it, stays one stretch to line up and count."""
    joined: list[tuple[str, int, int]] = []
    for label, start, end in sorted((_bounds(s) for s in segments), key=lambda s: s[1]):
        if joined and joined[-1][0] == label and start - joined[-1][2] <= max_gap:
            joined[-1] = (label, joined[-1][1], max(end, joined[-1][2]))
        else:
            joined.append((label, start, end))
    return joined


def common_action(segments_a: Sequence[Any], segments_b: Sequence[Any],
                  action: str | None = None) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """The action to line up and its first (start, end) in each video: `action` when given,
    else of the actions both show (`common_actions`) the one they show longest. Segments are
    (label, start, end) tuples, mappings or objects with label, start_frame and end_frame."""
    first_a, first_b = _first_segments(segments_a), _first_segments(segments_b)
    if action is not None:
        for name, first in (("A", first_a), ("B", first_b)):
            if action not in first:
                raise ConfigError(f"video {name} shows no {action!r}")
        return action, first_a[action], first_b[action]
    shared = common_actions(segments_a, segments_b)
    if not shared:
        raise ConfigError("the two videos show no action in common")
    label = shared[0]
    return label, first_a[label], first_b[label]


def _first_segments(segments: Sequence[Any]) -> dict[str, tuple[int, int]]:
    first: dict[str, tuple[int, int]] = {}
    for label, start, end in sorted((_bounds(s) for s in segments), key=lambda s: s[1]):
        first.setdefault(label, (start, end))
    return first


def common_actions(segments_a: Sequence[Any], segments_b: Sequence[Any]) -> list[str]:
    """The actions both videos show, the one with the most frames in both first (ties: the
    one A shows first)."""
    frames: dict[str, list[int]] = {}
    for side, segments in enumerate((segments_a, segments_b)):
        for label, start, end in sorted((_bounds(s) for s in segments), key=lambda s: s[1]):
            frames.setdefault(label, [0, 0])[side] += end - start
    order = list(_first_segments(segments_a))
    shared = [label for label in order if all(frames[label])]
    return sorted(shared, key=lambda label: (-min(frames[label]), order.index(label)))


def by_action_start(segments_a: Sequence[Any], segments_b: Sequence[Any], *,
                    action: str | None = None, rate: float = 1.0) -> Alignment:
    """The first frame of the same action in both (`common_action`)."""
    label, (start_a, _), (start_b, _) = common_action(segments_a, segments_b, action)
    return Alignment("action", np.array([[start_a, start_b]], dtype=np.float64), rate=rate,
                     detail=f"start of {label}", extra={"action": label})


# -------------------------------------------------------------------------------- by reps


def by_reps(reps_a: Sequence[tuple[float, float]], reps_b: Sequence[tuple[float, float]],
            fps_a: float, fps_b: float, *, features_a: np.ndarray | None = None,
            features_b: np.ndarray | None = None, detail: str = "") -> Alignment:
    """Repetition k of A with repetition k of B: each one's start and end (seconds) is an
    anchor, so between them the two are stretched to the same phase. Needs at least one
    repetition in each.

    The counter starts a repetition wherever its reference cycle starts, which need not be
    the same moment of the movement in both videos, and it may see a first part-repetition
    in one and not the other. With both videos' per-frame `features_`, B's repetitions are
    moved to the same moment as A's (`_rep_phase`: a shift of less than half a repetition,
    and pairing A's k with B's k-1, k or k+1, whichever makes the paired frames most
    alike)."""
    if fps_a <= 0 or fps_b <= 0:
        raise ConfigError(f"frame rates must be positive, got {fps_a} and {fps_b}")
    if not reps_a or not reps_b:
        raise ConfigError("repetitions were not counted in both videos")
    frames_a = np.asarray(reps_a, dtype=np.float64).reshape(-1, 2) * fps_a
    frames_b = np.asarray(reps_b, dtype=np.float64).reshape(-1, 2) * fps_b
    pairing, shift = 0, 0.0
    if features_a is not None and features_b is not None:
        pairing, shift = _rep_phase(frames_a, frames_b, features_a, features_b)
    points: list[tuple[float, float]] = []
    paired = 0
    for k, (sa, ea) in enumerate(frames_a):
        if not 0 <= k + pairing < len(frames_b):
            continue
        sb, eb = frames_b[k + pairing]
        points += [(sa, sb + shift), (ea, eb + shift)]
        paired += 1
    if not points:
        raise ConfigError("no repetition of one video could be paired with the other's")
    anchors = _monotone(np.array(points, dtype=np.float64))
    return Alignment("reps", anchors, rate=fps_b / fps_a,
                     detail=detail or f"{paired} repetitions paired",
                     reps=(len(reps_a), len(reps_b)),
                     extra={"pairing": pairing, "shift": shift, "paired": paired})


REP_SAMPLES = 16
"""Frames sampled from each repetition when comparing the phase of two videos' repetitions."""


def _rep_phase(frames_a: np.ndarray, frames_b: np.ndarray, features_a: np.ndarray,
               features_b: np.ndarray) -> tuple[int, float]:
    """(j, shift): pair A's repetition k with B's k + j, B's moved `shift` frames, where
    the paired repetitions' frames (REP_SAMPLES from each, at the same share of the
    repetition) are most alike (cosine distance of the centred features). A repeating
    movement looks alike one repetition later, so what comes a repetition before the first
    pair and after the last one is compared too: that is what tells k from k + 1."""
    ua, ub = _unit_centred(features_a), _unit_centred(features_b)
    period = float(np.median(frames_b[:, 1] - frames_b[:, 0]))
    reach = max(1, int(period // 2))
    share = (np.arange(REP_SAMPLES) + 0.5) / REP_SAMPLES

    def spans(frames: np.ndarray, ks: list[int]) -> np.ndarray:
        first, last = frames[ks[0]], frames[ks[-1]]
        before = (first[0] - (first[1] - first[0]), first[0])
        after = (last[1], last[1] + (last[1] - last[0]))
        return np.array([before, *(frames[k] for k in ks), after])

    best: tuple[float, int, float] | None = None
    for pairing in (-1, 0, 1):
        ks = [k for k in range(len(frames_a)) if 0 <= k + pairing < len(frames_b)]
        if not ks:
            continue
        span_a = spans(frames_a, ks)
        span_b = spans(frames_b, [k + pairing for k in ks])
        at_a = (span_a[:, :1] + share * (span_a[:, 1:] - span_a[:, :1])).ravel()
        at_b = (span_b[:, :1] + share * (span_b[:, 1:] - span_b[:, :1])).ravel()
        inside_a = (at_a >= 0) & (at_a <= len(ua) - 1)
        rows_a = ua[np.clip(np.round(at_a).astype(int), 0, len(ua) - 1)]
        for shift in range(-reach, reach + 1):
            moved = at_b + shift
            inside = inside_a & (moved >= 0) & (moved <= len(ub) - 1)
            if not inside.any():
                continue
            rows_b = ub[np.clip(np.round(moved).astype(int), 0, len(ub) - 1)]
            cost = float(np.mean(1.0 - np.sum(rows_a[inside] * rows_b[inside], axis=1)))
            if best is None or cost < best[0]:
                best = (cost, pairing, float(shift))
    if best is None:
        return 0, 0.0
    return best[1], best[2]


def _monotone(points: np.ndarray) -> np.ndarray:
    """Anchors sorted by A's frame, keeping only those that move forward in both."""
    points = points[np.argsort(points[:, 0], kind="stable")]
    kept = [points[0]]
    for a, b in points[1:]:
        if a > kept[-1][0] and b > kept[-1][1]:
            kept.append(np.array([a, b]))
    return np.array(kept)


# --------------------------------------------------------------------------------- by DTW


def _unit_centred(features: np.ndarray) -> np.ndarray:
    """Each video's features less their mean over the video (what stays the same - the
    room, the clothes - drops out), scaled to unit length per frame (float32)."""
    x = np.asarray(features, dtype=np.float32)
    x = x - x.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-9)


def dtw_path(features_a: np.ndarray, features_b: np.ndarray, *, band: float = DTW_BAND
             ) -> tuple[np.ndarray, float]:
    """Dynamic time warping of (N, D) against (M, D): the path as (K, 2) index pairs from
    (0, 0) to (N-1, M-1), and its mean cost per step. The cost of a pair is the cosine
    distance of the centred features (`_unit_centred`); the path stays within `band` x
    max(N, M) frames of the straight line between the corners. Each row of the accumulated
    cost is one vectorised step (a horizontal run is a running minimum)."""
    fa, fb = np.asarray(features_a), np.asarray(features_b)
    if fa.ndim != 2 or fb.ndim != 2 or fa.shape[1] != fb.shape[1]:
        raise ConfigError(f"features must be (T, D) with the same D, got {fa.shape} and "
                          f"{fb.shape}")
    n, m = len(fa), len(fb)
    if n < 2 or m < 2:
        raise ConfigError("warping needs at least two frames of each video")
    cost = 1.0 - _unit_centred(fa) @ _unit_centred(fb).T  # (n, m), 0-2
    width = max(1.0, band * max(n, m))
    centre = np.arange(n) * (m - 1) / (n - 1)
    cols = np.arange(m)
    outside = np.abs(cols[None, :] - centre[:, None]) > width
    cost = np.where(outside, np.inf, cost)
    acc = np.full((n, m), np.inf)
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        above = acc[i - 1]
        diagonal = np.concatenate([[np.inf], above[:-1]])
        best = np.minimum(above, diagonal) + cost[i]
        running = np.cumsum(np.where(np.isfinite(cost[i]), cost[i], 0.0))
        with np.errstate(invalid="ignore"):
            row = running + np.minimum.accumulate(best - running)
        acc[i] = np.where(np.isfinite(cost[i]), row, np.inf)
    if not np.isfinite(acc[-1, -1]):
        raise ConfigError("no warping path within the band; widen it")
    i, j = n - 1, m - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        steps = []
        if i > 0 and j > 0:
            steps.append((acc[i - 1, j - 1], i - 1, j - 1))
        if i > 0:
            steps.append((acc[i - 1, j], i - 1, j))
        if j > 0:
            steps.append((acc[i, j - 1], i, j - 1))
        _, i, j = min(steps, key=lambda s: s[0])
        path.append((i, j))
    path_array = np.array(path[::-1], dtype=np.int64)
    return path_array, float(acc[-1, -1] / len(path_array))


def by_dtw(features_a: np.ndarray, features_b: np.ndarray, *, rate: float = 1.0,
           span_a: tuple[int, int] | None = None, span_b: tuple[int, int] | None = None,
           band: float = DTW_BAND, max_steps: int = DTW_MAX_STEPS,
           detail: str = "") -> Alignment:
    """Warp A's frames onto B's by `dtw_path` over the frames [start, end) of `span_a` and
    `span_b` (default: all), each subsampled to at most `max_steps`; the anchors are the path
    (each A frame with the middle of the B frames it is paired with), in the videos' frames."""
    fa, fb = np.asarray(features_a), np.asarray(features_b)
    sa0, sa1 = span_a or (0, len(fa))
    sb0, sb1 = span_b or (0, len(fb))
    if not (0 <= sa0 < sa1 <= len(fa) and 0 <= sb0 < sb1 <= len(fb)):
        raise ConfigError(f"frames {sa0}-{sa1} and {sb0}-{sb1} do not lie within the videos "
                          f"({len(fa)} and {len(fb)} frames)")
    index_a = _even_steps(sa0, sa1, max_steps)
    index_b = _even_steps(sb0, sb1, max_steps)
    path, cost = dtw_path(fa[index_a], fb[index_b], band=band)
    a_frames = index_a[path[:, 0]].astype(np.float64)
    b_frames = index_b[path[:, 1]].astype(np.float64)
    unique_a = np.unique(a_frames)
    middle_b = np.array([b_frames[a_frames == a].mean() for a in unique_a])
    anchors = _monotone(np.column_stack([unique_a, middle_b]))
    return Alignment("dtw", anchors, rate=rate, cost=cost,
                     detail=detail or "per-frame features warped")


def _even_steps(start: int, end: int, limit: int) -> np.ndarray:
    count = end - start
    if count <= limit:
        return np.arange(start, end)
    return np.unique(np.linspace(start, end - 1, limit).round().astype(np.int64))
