"""The drills: how each one moves, the view it is filmed from and its range of pace.

Each drill is a pose function of time, the figure's body and a `_Motion` (rate, phase,
amplitude, handedness) that returns the joints over time, how far the lowest hand or foot is
lifted off the floor, and the ground speed. Walking, jogging and running share one gait pattern
whose stride, knee lift, arm swing, lean and flight grow with the cadence. `_SPECS` ties each
name of `DRILLS` to its view, its pace and its pose function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stmanet.data.synthetic.body import (
    _SIDES,
    Joints,
    _arm,
    _Body,
    _flat_foot,
    _hips,
    _ik,
    _leg,
    _limb_dir,
    _stack_joints,
    _standing,
    _straight_legs,
    _trunk,
    _unit,
    _upper_body,
)
from stmanet.errors import ConfigError

DRILLS: tuple[str, ...] = (
    "jumping_jacks",
    "squats",
    "arm_circles",
    "high_knees",
    "lunges",
    "walking",
    "jogging",
    "running",
    "push_ups",
    "side_bends",
)
"""Class names, in the order of a generated data set's classes.txt."""


_rad = math.radians


@dataclass(frozen=True)
class _Motion:
    """How one drill is done in one clip."""

    rate: float  # repetitions per second; steps per second for the gaits
    phase: float  # radians
    amp: float  # amplitude factor, about 1
    turn: int  # +1 / -1: a drill's handedness (circle direction, leading leg)


@dataclass(frozen=True)
class _Pose:
    joints: Joints
    lift: np.ndarray  # (T,) height of the lowest hand or foot above the floor
    speed: float  # ground speed in body heights per second; 0 on the spot


@dataclass(frozen=True)
class _DrillSpec:
    view: str  # "front" or "side"
    rate: tuple[float, float]  # repetitions (steps for the gaits) per second
    pose: Callable[[np.ndarray, _Body, _Motion], _Pose]
    rep_angle: float = 2 * math.pi  # pose phase of one repetition (pi: one step of a stride)
    max_rate: float = 1.0  # the fastest pace a body keeps up, for varied tempo (reps/s)
    pauses: bool = True  # a pause between repetitions looks natural (not while walking)


def _gait(hip: float, knee_stance: float, knee_swing: float, shoulder: float, elbow: float,
          lean: float, flight: float, stride_bonus: float
          ) -> Callable[[np.ndarray, _Body, _Motion], _Pose]:
    """A walking or running pattern; angles in degrees, `flight` in body heights."""

    def pose(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
        p = math.pi * m.rate * t + m.phase  # one stride (two steps) per 2*pi
        joints = _standing(t, body, lean=_rad(lean) * m.amp)
        amp = _rad(hip) * m.amp
        for side, tag in _SIDES:
            q = p if side > 0 else p + math.pi
            swing = np.clip(np.cos(q + 0.4), 0.0, None) ** 2  # knee folds in early swing
            thigh = amp * np.sin(q)
            shin = thigh - _rad(knee_stance) - _rad(knee_swing - knee_stance) * m.amp * swing
            foot = shin + math.pi / 2 - _rad(25) * swing
            _leg(joints, body, tag, _limb_dir(thigh, 0.03, side), _limb_dir(shin, 0.03, side),
                 _limb_dir(foot, 0.0, side))
            arm = -_rad(shoulder) * m.amp * np.sin(q) + _rad(3)
            fore = arm + _rad(elbow) + _rad(0.25 * elbow) * np.clip(-np.sin(q), 0.0, None)
            _arm(joints, body, tag, _limb_dir(arm, 0.08, side), _limb_dir(fore, 0.04, side))
        lift = flight * m.amp * np.sin(p) ** 2  # airborne while the legs are apart
        speed = 2 * body.leg * math.sin(amp) * m.rate * (1 + stride_bonus)
        return _Pose(joints, lift, speed)

    return pose


def _jumping_jacks(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
    p = 2 * math.pi * m.rate * t + m.phase
    spread = (1 - np.cos(p)) / 2  # 0: feet together, arms down; 1: apart, arms overhead
    landing = (1 - np.abs(np.sin(p))) ** 2
    joints = _standing(t, body)
    arm = np.radians(12 + 152 * spread)
    for side, tag in _SIDES:
        _arm(joints, body, tag, _limb_dir(0.08, arm, side),
             _limb_dir(0.08, arm + np.radians(12) * spread, side))
    _straight_legs(joints, body, t, 3 + 16 * spread * m.amp, 14 * landing)
    return _Pose(joints, 0.07 * m.amp * np.abs(np.sin(p)), 0.0)


def _arm_circles(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
    q = 2 * math.pi * m.rate * t + m.phase
    radius = 0.5 * m.amp
    joints = _standing(t, body)
    for side, tag in _SIDES:
        d = _unit(np.stack([np.full(t.shape, float(side)), radius * np.sin(q) + 0.08,
                            m.turn * radius * np.cos(q)], axis=-1))
        _arm(joints, body, tag, d, d)
    _straight_legs(joints, body, t, 7)
    return _Pose(joints, np.zeros(t.shape), 0.0)


def _side_bends(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
    p = 2 * math.pi * m.rate * t + m.phase
    bend = _rad(30) * m.amp * np.sin(p)
    joints = _standing(t, body, bend=bend, pelvis_x=-0.03 * np.sin(p))
    up, left = joints["_up"], joints["_left"]
    for side, tag in _SIDES:
        d = _unit(up * math.cos(_rad(12)) + left * (side * math.sin(_rad(12))))
        _arm(joints, body, tag, d, d)
    _straight_legs(joints, body, t, 9)
    return _Pose(joints, np.zeros(t.shape), 0.0)


def _high_knees(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
    p = math.pi * m.rate * t + m.phase
    joints = _standing(t, body, lean=-_rad(3))
    for side, tag in _SIDES:
        q = p if side > 0 else p + math.pi
        up = np.clip(np.sin(q), 0.0, None) ** 1.2
        thigh = np.radians(-4 + 96 * m.amp * up)
        shin = -_rad(8) - 0.08 * thigh
        foot = shin + math.pi / 2 - _rad(40) * up
        _leg(joints, body, tag, _limb_dir(thigh, 0.05, side), _limb_dir(shin, 0.05, side),
             _limb_dir(foot, 0.0, side))
        arm = -_rad(38) * m.amp * np.sin(q) + _rad(5)
        _arm(joints, body, tag, _limb_dir(arm, 0.1, side), _limb_dir(arm + _rad(80), 0.05, side))
    return _Pose(joints, 0.02 * np.cos(p) ** 2, 0.0)


def _feet_apart(body: _Body, t: np.ndarray, width: float) -> dict[int, np.ndarray]:
    return {side: np.tile([side * width, body.ankle_h, 0.0], (t.size, 1)) for side, _ in _SIDES}


def _squats(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
    p = 2 * math.pi * m.rate * t + m.phase
    depth = m.amp * (1 - np.cos(p)) / 2
    pelvis = np.zeros((t.size, 3))
    pelvis[:, 1] = body.ankle_h + body.leg * (0.985 - 0.45 * depth)
    pelvis[:, 2] = -0.16 * body.leg * depth
    up, left = _trunk(t, _rad(40) * depth)
    joints = _upper_body(body, pelvis, up, left)
    _hips(body, pelvis, joints)
    ankles = _feet_apart(body, t, body.hip_half * 1.4)
    for side, tag in _SIDES:
        knee, ankle = _ik(joints[f"hip_{tag}"], ankles[side], body.thigh, body.shin,
                          np.array([side * 0.3, 0.0, 1.0]))
        joints[f"knee_{tag}"], joints[f"ankle_{tag}"] = knee, ankle
        joints[f"toe_{tag}"] = ankle + _flat_foot(side, t) * body.foot
        arm = _limb_dir(np.radians(5 + 82 * depth), 0.12, side)
        _arm(joints, body, tag, arm, arm)
    return _Pose(joints, np.zeros(t.shape), 0.0)


def _lunges(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
    reps = m.rate * t + m.phase / (2 * math.pi)
    w = reps - np.floor(reps)  # position within one repetition
    lead = np.where(np.floor(reps).astype(np.int64) % 2 == 0, m.turn, -m.turn)
    out = _smooth(w / 0.2) - _smooth((w - 0.8) / 0.2)  # front foot out and back
    depth = np.sin(math.pi * np.clip((w - 0.2) / 0.6, 0.0, 1.0)) ** 2 * m.amp
    step_lift = 0.05 * (np.sin(math.pi * np.clip(w / 0.2, 0, 1))
                        + np.sin(math.pi * np.clip((w - 0.8) / 0.2, 0, 1)))
    stride = 0.5 * body.leg * 2 * out
    pelvis = np.zeros((t.size, 3))
    half = 0.5 * stride
    pelvis[:, 1] = (body.ankle_h + 0.98 * np.sqrt(np.maximum(body.leg ** 2 - half ** 2, 0))
                    - 0.34 * body.leg * depth)
    pelvis[:, 2] = half - 0.02
    up, left = _trunk(t)
    joints = _upper_body(body, pelvis, up, left)
    _hips(body, pelvis, joints)
    for side, tag in _SIDES:
        front = lead == side
        ankle = np.zeros((t.size, 3))
        ankle[:, 0] = side * body.hip_half
        ankle[:, 1] = body.ankle_h + np.where(front, step_lift, 0.06 * depth)
        ankle[:, 2] = np.where(front, stride, 0.0)
        knee, ankle = _ik(joints[f"hip_{tag}"], ankle, body.thigh, body.shin,
                          np.array([0.0, 0.0, 1.0]))
        joints[f"knee_{tag}"], joints[f"ankle_{tag}"] = knee, ankle
        rear_foot = _unit(np.array([0.0, -0.8, 0.6]))
        foot = np.where(front[:, None], _flat_foot(side, t, 0.1),
                        np.where(depth[:, None] > 0.02, rear_foot, _flat_foot(side, t, 0.1)))
        joints[f"toe_{tag}"] = ankle + _unit(foot) * body.foot
        hand = joints[f"hip_{tag}"] + np.array([side * 0.06, 0.04, 0.0])
        elbow, wrist = _ik(joints[f"shoulder_{tag}"], hand, body.upper_arm, body.forearm,
                           np.array([side * 1.0, 0.0, -0.5]))
        joints[f"elbow_{tag}"], joints[f"wrist_{tag}"] = elbow, wrist
    return _Pose(joints, np.zeros(t.shape), 0.0)


def _push_ups(t: np.ndarray, body: _Body, m: _Motion) -> _Pose:
    p = 2 * math.pi * m.rate * t + m.phase
    depth = np.clip(m.amp, 0.0, 1.1) * (1 - np.cos(p)) / 2
    wrist_y = 0.02
    high, low = wrist_y + body.arm * 0.96, wrist_y + body.arm * 0.38
    shoulder_y = high - depth * (high - low)
    ankle_y = 0.07
    length = body.leg + body.torso
    angle = np.arcsin(np.clip((shoulder_y - ankle_y) / length, -1, 1))
    along = np.stack([np.zeros(t.shape), np.sin(angle), np.cos(angle)], axis=-1)
    base = np.zeros((t.size, 3))
    base[:, 1] = ankle_y
    pelvis = base + along * body.leg
    left = np.broadcast_to(np.array([1.0, 0.0, 0.0]), (t.size, 3))
    joints = _upper_body(body, pelvis, along, left)
    joints["head"] = joints["neck"] + _unit(along + np.array([0.0, 0.45, 0.0])) * (
        body.neck + body.head_r)
    _hips(body, pelvis, joints)
    for side, tag in _SIDES:
        ankle = base + np.array([side * body.hip_half * 0.8, 0.0, 0.0])
        joints[f"ankle_{tag}"] = ankle
        joints[f"knee_{tag}"] = ankle + along * body.shin
        joints[f"toe_{tag}"] = ankle + _unit(np.array([0.0, -0.85, -0.5])) * body.foot
        shoulder = joints[f"shoulder_{tag}"]
        hand = shoulder * np.array([1.0, 0.0, 1.0]) + np.array([side * 0.03, wrist_y, 0.03])
        elbow, wrist = _ik(shoulder, hand, body.upper_arm, body.forearm,
                           np.array([side * 0.6, 0.0, -1.0]))
        joints[f"elbow_{tag}"], joints[f"wrist_{tag}"] = elbow, wrist
    return _Pose(joints, np.zeros(t.shape), 0.0)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


_STEP = math.pi  # the gaits and high knees: one repetition is one step, half a stride

_SPECS: dict[str, _DrillSpec] = {
    "jumping_jacks": _DrillSpec("front", (0.9, 1.4), _jumping_jacks, max_rate=2.2),
    "squats": _DrillSpec("side", (0.35, 0.6), _squats, max_rate=1.0),
    "arm_circles": _DrillSpec("front", (0.9, 1.6), _arm_circles, max_rate=2.5),
    "high_knees": _DrillSpec("side", (2.6, 3.4), _high_knees, _STEP, max_rate=5.0),
    "lunges": _DrillSpec("side", (0.35, 0.55), _lunges, max_rate=0.9),
    "walking": _DrillSpec("side", (1.6, 2.0), _gait(
        hip=22, knee_stance=6, knee_swing=58, shoulder=18, elbow=22, lean=2, flight=0.0,
        stride_bonus=0.0), _STEP, max_rate=3.0, pauses=False),
    "jogging": _DrillSpec("side", (2.6, 3.0), _gait(
        hip=27, knee_stance=16, knee_swing=85, shoulder=30, elbow=70, lean=5, flight=0.02,
        stride_bonus=0.15), _STEP, max_rate=4.0, pauses=False),
    "running": _DrillSpec("side", (3.6, 4.2), _gait(
        hip=36, knee_stance=22, knee_swing=110, shoulder=45, elbow=85, lean=9, flight=0.04,
        stride_bonus=0.3), _STEP, max_rate=5.0, pauses=False),
    "push_ups": _DrillSpec("side", (0.45, 0.8), _push_ups, max_rate=1.3),
    "side_bends": _DrillSpec("front", (0.3, 0.55), _side_bends, max_rate=0.8),
}
assert tuple(_SPECS) == DRILLS


def _idle(t: np.ndarray, body: _Body, rng: np.random.Generator) -> np.ndarray:
    """A figure at rest (T, J, 3): slow sway and weight shifts, arms hanging or on the hips (the
    `idle` footage of scenes.py, and a rest between drills in render.py)."""
    sway = rng.uniform(0.1, 0.35)  # sways per second: far slower than any drill
    phase = rng.uniform(0, 2 * math.pi)
    shift = 0.012 * np.sin(2 * math.pi * sway * t + phase) + 0.006 * np.sin(
        2 * math.pi * rng.uniform(0.05, 0.15) * t + rng.uniform(0, 2 * math.pi))
    lean = _rad(rng.uniform(-2, 4)) + _rad(1.0) * np.sin(2 * math.pi * sway * 0.7 * t + phase)
    joints = _standing(t, body, lean=lean, bend=-2.5 * shift, pelvis_x=shift)
    hands_on_hips = rng.uniform() < 0.35
    breathe = 0.03 * np.sin(2 * math.pi * rng.uniform(0.2, 0.35) * t + rng.uniform(0, 6.3))
    for side, tag in _SIDES:
        if hands_on_hips:
            hand = joints[f"hip_{tag}"] + np.array([side * 0.06, 0.04, 0.0])
            elbow, wrist = _ik(joints[f"shoulder_{tag}"], hand, body.upper_arm, body.forearm,
                               np.array([side * 1.0, 0.0, -0.5]))
            joints[f"elbow_{tag}"], joints[f"wrist_{tag}"] = elbow, wrist
        else:
            swing = _rad(rng.uniform(-6, 10)) + breathe
            _arm(joints, body, tag, _limb_dir(swing, 0.07 + breathe, side),
                 _limb_dir(swing + _rad(rng.uniform(5, 25)), 0.05, side))
    _straight_legs(joints, body, t, rng.uniform(3, 9), rng.uniform(0, 5))
    return _stack_joints(joints)


def _sample_motion(drill: str, rng: np.random.Generator) -> _Motion:
    lo, hi = _SPECS[drill].rate
    return _Motion(rate=float(rng.uniform(lo, hi)), phase=float(rng.uniform(0, 2 * math.pi)),
                   amp=float(rng.uniform(0.88, 1.12)), turn=1 if rng.uniform() < 0.5 else -1)


def _sample_yaw(drill: str, rng: np.random.Generator, facing: int) -> float:
    """Which way the figure turns: towards the camera, or sideways (`facing` picks the side)."""
    if _SPECS[drill].view == "front":
        return _rad(rng.uniform(-30, 30))
    return facing * _rad(rng.uniform(65, 90))


def _check_drill(drill: str, also: str = "") -> None:
    if drill not in _SPECS:
        raise ConfigError(f"unknown drill {drill!r}; known drills: {', '.join(DRILLS)}{also}")
