"""The pace of a drill within a clip, and the time of every repetition.

A drill's pose function is a function of time. At its plain pace the figure is posed at the
clip's own clock, from a random point of the cycle; `_warp` then only reports when each
repetition began and ended. With a varied tempo (`_Tempo`, drawn by `_sample_tempo`) the pose
function is fed a warped clock instead, so the same pose functions repeat at a varying pace:

- the clip's pace is the drill's drawn rate times a factor between 0.5 and 2 (log-uniform),
  no faster than the drill's `max_rate` (the fastest pace a body keeps up);
- within the clip the pace drifts linearly and swings slowly, by at most 20% either way;
- drills that have a resting pose may pause in it for 0.4-1.2 s between two repetitions;
- the set starts in the drill's starting pose (phase 0) and, after the last repetition that
  fits in the clip, the figure holds that pose to the end: a set of whole repetitions.

A repetition is one cycle of the drill's pose function from its starting pose (feet together,
standing, arms down, top of a push-up; a bend to each side for side bends; a whole circle for
arm circles), and one step (half a stride) for walking, jogging, running and high knees. At
the plain pace a clip starts and ends anywhere in a repetition: the repetitions reported are
those of which at least half lies in the clip (the middle of it), with their start and end cut
to the clip, as someone counting along would count them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from stmanet.data.synthetic.drills import _SPECS, _Motion

MAX_DRIFT = 0.2
"""The pace within a clip stays within this share of the clip's mean pace."""

TEMPO_RANGE = (0.5, 2.0)
"""The factor on a drill's drawn rate between clips (log-uniform), capped by its max_rate."""


@dataclass(frozen=True)
class _Tempo:
    """How the pace of one drill varies within one clip."""

    factor: float  # times the drill's drawn rate
    drift: float  # pace goes linearly from 1 - drift to 1 + drift over the clip
    wobble: float  # and swings by +-wobble (|drift| + wobble <= MAX_DRIFT)
    wobble_period: float  # seconds
    wobble_phase: float  # radians
    pauses: tuple[tuple[float, float], ...] = ()  # (where in the set 0-1, seconds)

    def to_dict(self) -> dict[str, object]:
        return {"factor": round(self.factor, 4), "drift": round(self.drift, 4),
                "wobble": round(self.wobble, 4), "wobble_period_s": round(self.wobble_period, 3),
                "pauses_s": [round(seconds, 3) for _, seconds in self.pauses]}


def _sample_tempo(drill: str, rate: float, rng: np.random.Generator) -> _Tempo:
    spec = _SPECS[drill]
    lo, hi = TEMPO_RANGE
    factor = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
    factor = min(factor, spec.max_rate / rate)
    drift = float(rng.uniform(-0.15, 0.15))
    wobble = float(rng.uniform(0.0, MAX_DRIFT - abs(drift)))
    period = float(rng.uniform(3.0, 8.0))
    phase = float(rng.uniform(0.0, 2 * math.pi))
    pauses: list[tuple[float, float]] = []
    if spec.pauses:
        for _ in range(int(rng.choice(3, p=[0.4, 0.4, 0.2]))):
            pauses.append((float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.4, 1.2))))
    return _Tempo(factor, drift, wobble, period, phase, tuple(pauses))


@dataclass(frozen=True)
class _Warp:
    """A drill's clock for each frame of one segment, and its whole repetitions."""

    motion: _Motion  # the motion to pose with (phase 0 under a varied tempo)
    tau: np.ndarray  # (T,) the drill's clock at each frame, seconds
    pace: np.ndarray | None  # (T,) d tau / dt (0 while paused or holding); None: plain pace
    reps: list[tuple[float, float]]  # (start, end) of each repetition, seconds from the
    # segment's first frame


def _warp(drill: str, motion: _Motion, tempo: _Tempo | None, count: int,
          fps: float) -> _Warp:
    """Where in the drill each of `count` frames is, and when its repetitions begin and end."""
    t = np.arange(count, dtype=np.float64) / fps
    last = (count - 1) / fps + 1e-9  # a repetition ends in the clip if it ends by its last frame
    per_rep = _SPECS[drill].rep_angle
    if tempo is None:  # the plain pace: the pose at the clip's own clock
        offset = motion.phase / per_rep  # repetitions done at time 0
        reps = []
        for k in range(math.floor(offset) + 1, math.ceil(motion.rate * last + offset) + 1):
            start, end = (k - 1 - offset) / motion.rate, (k - offset) / motion.rate
            if 0.0 <= (start + end) / 2 <= last:  # at least half of it is in the clip
                reps.append((max(start, 0.0), min(end, last)))
        return _Warp(motion, t, None, reps)

    motion = replace(motion, phase=0.0)
    duration = max(last, 1e-6)

    def drill_time(u: np.ndarray) -> np.ndarray:  # the integral of the pace over active time
        w = 2 * math.pi / tempo.wobble_period
        return tempo.factor * (u + tempo.drift * (u * u / duration - u)
                               + tempo.wobble / w * (math.cos(tempo.wobble_phase)
                                                     - np.cos(w * u + tempo.wobble_phase)))

    def pace_at(u: np.ndarray) -> np.ndarray:
        w = 2 * math.pi / tempo.wobble_period
        return tempo.factor * (1 + tempo.drift * (2 * u / duration - 1)
                               + tempo.wobble * np.sin(w * u + tempo.wobble_phase))

    # Active time u (the clock with the pauses taken out) at which each repetition ends.
    grid = np.linspace(0.0, duration, max(2, int(duration * fps * 20)) + 1)
    done = motion.rate * drill_time(grid)  # repetitions done, increasing
    ends_u = np.interp(np.arange(1, math.floor(done[-1]) + 1), done, grid)
    planned = len(ends_u)
    pause_after: dict[int, float] = {}
    for where, seconds in tempo.pauses:
        k = min(max(1, round(where * planned)), planned - 1)
        if k >= 1:
            pause_after[k] = pause_after.get(k, 0.0) + seconds
    # Clock time: repetitions end later by the pauses before them; keep those that fit.
    reps: list[tuple[float, float]] = []
    knots_t, knots_u = [0.0], [0.0]
    paused = 0.0
    start = 0.0
    for k, end_u in enumerate(ends_u, 1):
        end = float(end_u) + paused
        if end > last:
            break
        reps.append((start, end))
        knots_t.append(end)
        knots_u.append(float(end_u))
        if k in pause_after:
            paused += pause_after[k]
            knots_t.append(end + pause_after[k])
            knots_u.append(float(end_u))
        start = knots_t[-1]
    if reps:  # hold the starting pose after the last whole repetition
        knots_t.append(max(last, knots_t[-1]) + 1.0)
        knots_u.append(knots_u[-1])
    else:  # not one repetition fits: the figure moves through part of one
        knots_t.append(last + 1.0)
        knots_u.append(last + 1.0)
    u = np.interp(t, knots_t, knots_u)
    moving = np.interp(t + 0.5 / fps, knots_t, knots_u) > u + 1e-9
    pace = np.where(moving, pace_at(u), 0.0)
    return _Warp(motion, drill_time(u), pace, reps)
