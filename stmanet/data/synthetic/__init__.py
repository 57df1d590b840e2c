"""Procedural drill videos: articulated figures doing physical-education drills.

The project's demo and test data. Each clip shows one figure (head, torso, upper and lower arms
and legs drawn as thick rounded limbs) doing one drill; everything a camera would vary is
randomised per clip, and everything is a pure function of the seed, so the same seed always
gives byte-identical frames.

How a clip is made:

1. A pose function gives the 3D joint positions of the drill over time, in units of body height
   (x to the figure's left, y up, z forward). Walking, jogging, running and high knees are
   driven by joint angles; squats, lunges and push-ups place hands and feet and solve the limbs
   in between with two-segment inverse kinematics. The lowest hand or foot is put on the floor
   in every frame, so bobbing and flight phases come out of the leg geometry.
2. The figure is turned to face the camera (front-view drills) or to show its side (side-view
   drills), then seen by a camera with a random height (pitch), distance (slight perspective),
   placement, size and a slow zoom. The whole picture may be mirrored.
3. The background is a wall (plain, gradient, soft pattern or panels) above a floor with a
   floor line, optionally a lane of training cones, and a little sensor noise on top.

The drills, with the view they are filmed from and their pace:

    jumping_jacks  front  0.9-1.4 jumps/s    arms overhead and feet apart with a hop
    squats         side   0.35-0.6 reps/s    hips back and down, arms reaching forward
    arm_circles    front  0.9-1.6 circles/s  arms out to the sides, hands circling
    high_knees     side   2.6-3.4 steps/s    on the spot, thighs up to the horizontal
    lunges         side   0.35-0.55 reps/s   step forward, back knee down, hands on hips
    walking        side   1.6-2.0 steps/s
    jogging        side   2.6-3.0 steps/s
    running        side   3.6-4.2 steps/s
    push_ups       side   0.45-0.8 reps/s    body straight, elbows bending
    side_bends     front  0.3-0.55 bends/s   arms overhead, trunk bending left and right

Walking, jogging and running are done on the spot under a tracking camera: the figure stays
where the camera keeps it while the wall and the cones scroll past at the figure's ground
speed. The three gaits differ mainly in rhythm: cadences (steps per second) are drawn from
non-overlapping ranges (walking 1.6-2.0, jogging 2.6-3.0, running 3.6-4.2), and stride
amplitude, knee lift, arm swing and elbow bend, trunk lean and the bounce of a flight phase
grow with the cadence, as they do in people.
"""

from __future__ import annotations

import colorsys
import logging
import math
import os
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from stmanet.data.decode import opencv_filename
from stmanet.errors import ConfigError, STMANetError, printable_path
from stmanet.fileio import atomic_write_text

log = logging.getLogger(__name__)

__all__ = [
    "DRILLS",
    "Segment",
    "generate_dataset",
    "render_clip",
    "render_sequence",
    "write_video",
]

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

Joints = dict[str, np.ndarray]  # joint name -> (T, 3) positions in body heights
Color = tuple[int, int, int]  # BGR

_SIDES = ((1, "l"), (-1, "r"))  # +x is the figure's left
_SUB = 4  # cv2 fractional bits: coordinates are drawn with 1/16 pixel precision
_ONE = 1 << _SUB


@dataclass(frozen=True)
class Segment:
    """One drill of a rendered sequence: frames `start_frame` to `end_frame` (exclusive).

    A segment's first few frames blend from the previous drill's last pose into the new one.
    """

    drill: str
    start_frame: int
    end_frame: int

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.start_frame

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        return cls(drill=str(data["drill"]), start_frame=int(data["start_frame"]),
                   end_frame=int(data["end_frame"]))


# --------------------------------------------------------------------------------------------
# The figure


@dataclass(frozen=True)
class _Body:
    """Segment lengths and limb widths, in body heights (a standing figure is about 1 tall)."""

    ankle_h: float
    shin: float
    thigh: float
    hip_half: float
    torso: float
    shoulder_half: float
    upper_arm: float
    forearm: float
    neck: float
    head_r: float
    foot: float
    leg_w: float
    arm_w: float
    torso_w: float

    @property
    def leg(self) -> float:
        return self.thigh + self.shin

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm


@dataclass(frozen=True)
class _Look:
    skin: Color
    hair: Color
    shirt: Color
    trousers: Color
    shoes: Color
    long_sleeves: bool
    long_trousers: bool


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


def _sample_body(rng: np.random.Generator) -> _Body:
    leg = rng.uniform(0.92, 1.08)
    arm = rng.uniform(0.92, 1.08)
    trunk = rng.uniform(0.92, 1.08)
    width = rng.uniform(0.85, 1.2)
    build = rng.uniform(0.8, 1.25)
    return _Body(
        ankle_h=0.045,
        shin=0.245 * leg,
        thigh=0.245 * leg,
        hip_half=0.055 * width,
        torso=0.29 * trunk,
        shoulder_half=0.1 * width,
        upper_arm=0.165 * arm,
        forearm=0.16 * arm,
        neck=0.035 * trunk,
        head_r=0.062 * rng.uniform(0.9, 1.15),
        foot=0.075,
        leg_w=0.055 * build,
        arm_w=0.042 * build,
        torso_w=0.115 * build * rng.uniform(0.9, 1.15),
    )


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(float(h) % 1.0, min(max(float(s), 0.0), 1.0),
                                  min(max(float(v), 0.0), 1.0))
    return round(b * 255), round(g * 255), round(r * 255)


def _distance(a: Color, b: Color) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


_SKIN = ((189, 224, 255), (160, 200, 240), (130, 175, 225), (100, 145, 198), (70, 110, 160),
         (45, 75, 115))
_HAIR = ((25, 25, 30), (35, 55, 95), (90, 170, 215), (150, 150, 155), (40, 70, 150))


def _jitter(rng: np.random.Generator, color: Color, amount: float) -> Color:
    shifted = np.clip(np.asarray(color) + rng.uniform(-amount, amount, 3), 0, 255)
    return tuple(int(c) for c in np.rint(shifted))  # type: ignore[return-value]


def _sample_look(rng: np.random.Generator, avoid: Sequence[Color]) -> _Look:
    """Clothes and skin; the clothes are kept apart in colour from the background `avoid`."""
    skin = _jitter(rng, _SKIN[rng.integers(len(_SKIN))], 10)
    hair = _jitter(rng, _HAIR[rng.integers(len(_HAIR))], 8)
    best: tuple[float, Color, Color] | None = None
    for _ in range(30):
        shirt = _hsv(rng.uniform(), rng.uniform(0.4, 1.0), rng.uniform(0.35, 0.95))
        trousers = _hsv(rng.uniform(), rng.uniform(0.1, 0.8), rng.uniform(0.15, 0.75))
        margin = min(_distance(c, a) for c in (shirt, trousers) for a in avoid)
        if best is None or margin > best[0]:
            best = (margin, shirt, trousers)
        if margin > 80:
            break
    assert best is not None
    shoes = (235, 235, 235) if rng.uniform() < 0.4 else _hsv(rng.uniform(), 0.4, 0.2)
    return _Look(skin=skin, hair=hair, shirt=best[1], trousers=best[2], shoes=shoes,
                 long_sleeves=bool(rng.uniform() < 0.5), long_trousers=bool(rng.uniform() < 0.5))


# --------------------------------------------------------------------------------------------
# Kinematics: vectorised over time, angles in radians


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _limb_dir(flex: np.ndarray | float, abd: np.ndarray | float, side: int) -> np.ndarray:
    """Unit direction of a limb hanging down, swung forward by `flex` and out by `abd`."""
    flex, abd = np.broadcast_arrays(np.asarray(flex, dtype=np.float64),
                                    np.asarray(abd, dtype=np.float64))
    return np.stack([side * np.sin(abd), -np.cos(abd) * np.cos(flex),
                     np.cos(abd) * np.sin(flex)], axis=-1)


def _ik(root: np.ndarray, target: np.ndarray, l1: float, l2: float,
        pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle and end joint of a two-segment limb from `root` reaching for `target`.

    The limb bends towards `pole`; a target out of reach is reached for in its direction.
    """
    delta = target - root
    dist = np.linalg.norm(delta, axis=-1, keepdims=True)
    axis = delta / np.maximum(dist, 1e-9)
    reach = np.clip(dist, abs(l1 - l2) + 1e-4, (l1 + l2) * 0.9999)
    along = (l1 * l1 - l2 * l2 + reach * reach) / (2 * reach)
    height = np.sqrt(np.maximum(l1 * l1 - along * along, 0.0))
    pole = np.broadcast_to(pole, delta.shape)
    bend = _unit(pole - np.sum(pole * axis, axis=-1, keepdims=True) * axis)
    return root + axis * along + bend * height, root + axis * reach


def _trunk(t: np.ndarray, lean: np.ndarray | float = 0.0,
           bend: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Up and left unit vectors of a trunk leaning forward by `lean`, bent left by `bend`."""
    lean = np.broadcast_to(np.asarray(lean, dtype=np.float64), t.shape)
    bend = np.broadcast_to(np.asarray(bend, dtype=np.float64), t.shape)
    up = _unit(np.stack([np.sin(bend), np.cos(bend) * np.cos(lean),
                         np.cos(bend) * np.sin(lean)], axis=-1))
    x = np.array([1.0, 0.0, 0.0])
    left = _unit(x - np.sum(up * x, axis=-1, keepdims=True) * up)
    return up, left


def _upper_body(body: _Body, pelvis: np.ndarray, up: np.ndarray, left: np.ndarray) -> Joints:
    neck = pelvis + up * body.torso
    joints = {"pelvis": pelvis, "neck": neck, "head": neck + up * (body.neck + body.head_r)}
    for side, tag in _SIDES:
        joints[f"shoulder_{tag}"] = neck - up * 0.025 + left * (side * body.shoulder_half)
    return joints


def _hips(body: _Body, pelvis: np.ndarray, joints: Joints) -> None:
    for side, tag in _SIDES:
        joints[f"hip_{tag}"] = pelvis + np.array([side * body.hip_half, 0.0, 0.0])


def _chain(joints: Joints, start: str, names: Sequence[str], dirs: Sequence[np.ndarray],
           lengths: Sequence[float]) -> None:
    point = joints[start]
    for name, direction, length in zip(names, dirs, lengths, strict=True):
        point = point + direction * length
        joints[name] = point


def _standing(t: np.ndarray, body: _Body, *, lean: np.ndarray | float = 0.0,
              bend: np.ndarray | float = 0.0, pelvis_x: np.ndarray | float = 0.0) -> Joints:
    pelvis = np.zeros((t.size, 3))
    pelvis[:, 0] = pelvis_x
    up, left = _trunk(t, lean, bend)
    joints = _upper_body(body, pelvis, up, left)
    joints["_up"], joints["_left"] = up, left  # dropped before drawing
    _hips(body, pelvis, joints)
    return joints


def _arm(joints: Joints, body: _Body, tag: str, upper: np.ndarray, fore: np.ndarray) -> None:
    _chain(joints, f"shoulder_{tag}", (f"elbow_{tag}", f"wrist_{tag}"), (upper, fore),
           (body.upper_arm, body.forearm))


def _leg(joints: Joints, body: _Body, tag: str, thigh: np.ndarray, shin: np.ndarray,
         foot: np.ndarray) -> None:
    _chain(joints, f"hip_{tag}", (f"knee_{tag}", f"ankle_{tag}", f"toe_{tag}"),
           (thigh, shin, foot), (body.thigh, body.shin, body.foot))


def _flat_foot(side: int, t: np.ndarray, out: float = 0.2) -> np.ndarray:
    return np.broadcast_to(_unit(np.array([side * out, -0.12, 1.0])), (t.size, 3))


def _straight_legs(joints: Joints, body: _Body, t: np.ndarray, abd_deg: np.ndarray | float,
                   knee_deg: np.ndarray | float = 0.0) -> None:
    abd, knee = np.radians(abd_deg), np.radians(knee_deg)
    for side, tag in _SIDES:
        _leg(joints, body, tag, _limb_dir(knee, abd, side), _limb_dir(-knee, abd, side),
             _flat_foot(side, t, 0.35))


_rad = math.radians


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


_SPECS: dict[str, _DrillSpec] = {
    "jumping_jacks": _DrillSpec("front", (0.9, 1.4), _jumping_jacks),
    "squats": _DrillSpec("side", (0.35, 0.6), _squats),
    "arm_circles": _DrillSpec("front", (0.9, 1.6), _arm_circles),
    "high_knees": _DrillSpec("side", (2.6, 3.4), _high_knees),
    "lunges": _DrillSpec("side", (0.35, 0.55), _lunges),
    "walking": _DrillSpec("side", (1.6, 2.0), _gait(
        hip=22, knee_stance=6, knee_swing=58, shoulder=18, elbow=22, lean=2, flight=0.0,
        stride_bonus=0.0)),
    "jogging": _DrillSpec("side", (2.6, 3.0), _gait(
        hip=27, knee_stance=16, knee_swing=85, shoulder=30, elbow=70, lean=5, flight=0.02,
        stride_bonus=0.15)),
    "running": _DrillSpec("side", (3.6, 4.2), _gait(
        hip=36, knee_stance=22, knee_swing=110, shoulder=45, elbow=85, lean=9, flight=0.04,
        stride_bonus=0.3)),
    "push_ups": _DrillSpec("side", (0.45, 0.8), _push_ups),
    "side_bends": _DrillSpec("front", (0.3, 0.55), _side_bends),
}
assert tuple(_SPECS) == DRILLS


def _sample_motion(drill: str, rng: np.random.Generator) -> _Motion:
    lo, hi = _SPECS[drill].rate
    return _Motion(rate=float(rng.uniform(lo, hi)), phase=float(rng.uniform(0, 2 * math.pi)),
                   amp=float(rng.uniform(0.88, 1.12)), turn=1 if rng.uniform() < 0.5 else -1)


def _sample_yaw(drill: str, rng: np.random.Generator, facing: int) -> float:
    """Which way the figure turns: towards the camera, or sideways (`facing` picks the side)."""
    if _SPECS[drill].view == "front":
        return _rad(rng.uniform(-30, 30))
    return facing * _rad(rng.uniform(65, 90))


# --------------------------------------------------------------------------------------------
# Camera and scene

_JOINTS = ("pelvis", "neck", "head",
           "shoulder_l", "elbow_l", "wrist_l", "hip_l", "knee_l", "ankle_l", "toe_l",
           "shoulder_r", "elbow_r", "wrist_r", "hip_r", "knee_r", "ankle_r", "toe_r")
_J = {name: i for i, name in enumerate(_JOINTS)}
_CONTACT = [_J[n] for n in ("ankle_l", "toe_l", "wrist_l", "ankle_r", "toe_r", "wrist_r")]


@dataclass(frozen=True)
class _Camera:
    pitch: float  # radians, looking down
    distance: float  # body heights; perspective strength
    target_y: float = 0.5

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(…, 3) world points -> image u, v (body heights, v down) and depth towards camera."""
        x, y, z = points[..., 0], points[..., 1] - self.target_y, points[..., 2]
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        yc = y * cp - z * sp
        zc = y * sp + z * cp
        f = self.distance / (self.distance - zc)
        return x * f, -yc * f, zc


@dataclass(frozen=True)
class _Scene:
    wall_style: str
    wall: Color
    wall2: Color
    floor: Color
    floor2: Color
    line: Color
    wall_depth: float  # body heights behind the figure
    grain: float
    cones: bool
    cone: Color
    cone_depth: float
    noise: float  # sensor noise, grey levels

    @property
    def main_colors(self) -> tuple[Color, ...]:
        return self.wall, self.wall2, self.floor


def _sample_scene(rng: np.random.Generator) -> _Scene:
    hue = rng.uniform()
    wall = _hsv(hue, rng.uniform(0.0, 0.5), rng.uniform(0.45, 0.95))
    wall2 = _hsv(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.0, 0.5), rng.uniform(0.3, 0.95))
    floor_hue = rng.uniform(0.03, 0.12) if rng.uniform() < 0.5 else rng.uniform()
    floor = _hsv(floor_hue, rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.8))
    floor2 = _jitter(rng, floor, 25)
    line = (240, 240, 240) if rng.uniform() < 0.6 else _hsv(rng.uniform(), 0.7, 0.3)
    wall_depth = float(rng.uniform(0.5, 2.0))
    return _Scene(
        wall_style=str(rng.choice(["plain", "gradient", "pattern", "panels"])),
        wall=wall, wall2=wall2, floor=floor, floor2=floor2, line=line,
        wall_depth=wall_depth, grain=float(rng.uniform(0.0, 4.0)),
        cones=bool(rng.uniform() < 0.75),
        cone=_hsv(rng.choice([0.02, 0.08, 0.14, 0.6, 0.33]), 0.85, 0.95),
        cone_depth=float(rng.uniform(0.3, wall_depth - 0.1)),
        noise=float(rng.uniform(1.0, 4.0)),
    )


def _background(rng: np.random.Generator, scene: _Scene, width: int, height: int,
                horizon: float) -> np.ndarray:
    """Wall above `horizon` (a pixel row), floor below; periodic along x for scrolling."""
    ys = np.arange(height, dtype=np.float32)[:, None, None]
    xs = np.arange(width, dtype=np.float32)[None, :, None]
    wall = np.asarray(scene.wall, np.float32)
    wall2 = np.asarray(scene.wall2, np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[:] = wall
    if scene.wall_style == "gradient":
        a = np.clip(ys / max(horizon, 1.0), 0, 1)
        img[:] = wall2 * (1 - a) + wall * a
    elif scene.wall_style == "pattern":
        pattern = np.zeros((height, width, 1), np.float32)
        for _ in range(5):
            kx = rng.integers(1, 6) * max(width // 160, 1)  # whole periods across the canvas
            ky = rng.uniform(0.5, 4.0)
            phase = rng.uniform(0, 2 * math.pi)
            pattern += np.cos(2 * math.pi * (kx * xs / width + ky * ys / height) + phase)
        a = np.clip(0.5 + 0.12 * pattern, 0, 1)
        img[:] = wall * (1 - a) + wall2 * a
    if scene.wall_style == "panels":
        panels = int(rng.integers(3, 7)) * max(width // 160, 1)
        for i in range(panels):
            x = round(i * width / panels)
            cv2.line(img, (x, 0), (x, int(horizon)), tuple(float(c) for c in wall2), 1)
        rail = int(horizon * rng.uniform(0.3, 0.7))
        cv2.line(img, (0, rail), (width - 1, rail), tuple(float(c) for c in wall2), 2)
    floor = np.asarray(scene.floor, np.float32)
    floor2 = np.asarray(scene.floor2, np.float32)
    row = math.ceil(horizon)
    if row < height:
        a = np.linspace(0, 1, height - row, dtype=np.float32)[:, None, None]
        img[row:] = floor * (1 - a) + floor2 * a
    cv2.line(img, (0, round(horizon)), (width - 1, round(horizon)),
             tuple(float(c) for c in scene.line), 1, cv2.LINE_AA)
    if scene.grain > 0:
        img += rng.standard_normal((height, width, 1), dtype=np.float32) * scene.grain
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Drawing


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return round(float(xy[0]) * _ONE), round(float(xy[1]) * _ONE)


def _shade(color: Color, factor: float) -> Color:
    return tuple(int(c * factor) for c in color)  # type: ignore[return-value]


def _line(img: np.ndarray, a: np.ndarray, b: np.ndarray, color: Color, width: float) -> None:
    cv2.line(img, _pt(a), _pt(b), color, max(1, round(width)), cv2.LINE_AA, _SUB)


def _disc(img: np.ndarray, c: np.ndarray, radius: float, color: Color) -> None:
    cv2.circle(img, _pt(c), max(_ONE, round(radius * _ONE)), color, -1, cv2.LINE_AA, _SUB)


def _draw_figure(img: np.ndarray, xy: np.ndarray, depth: np.ndarray, scale: float, body: _Body,
                 look: _Look, far_tag: str | None, facing_x: float) -> None:
    """Draw one pose: `xy` (J, 2) pixel positions, `depth` (J,) towards the camera."""
    j = _J
    items: list[tuple[float, int, Callable[[], None]]] = []
    leg_w, arm_w, torso_w = body.leg_w * scale, body.arm_w * scale, body.torso_w * scale

    for _side, tag in _SIDES:
        f = 0.72 if tag == far_tag else 1.0
        shirt, trousers = _shade(look.shirt, f), _shade(look.trousers, f)
        skin = _shade(look.skin, f)
        fore = shirt if look.long_sleeves else skin
        shin = trousers if look.long_trousers else skin
        shoes = _shade(look.shoes, f)
        s, e, w = j[f"shoulder_{tag}"], j[f"elbow_{tag}"], j[f"wrist_{tag}"]
        h, k, a, o = j[f"hip_{tag}"], j[f"knee_{tag}"], j[f"ankle_{tag}"], j[f"toe_{tag}"]

        def arm(s=s, e=e, w=w, shirt=shirt, fore=fore, skin=skin) -> None:
            _line(img, xy[s], xy[e], shirt, arm_w)
            _line(img, xy[e], xy[w], fore, arm_w * 0.9)
            _disc(img, xy[w], arm_w * 0.55, skin)

        def leg(h=h, k=k, a=a, o=o, trousers=trousers, shin=shin, shoes=shoes) -> None:
            _line(img, xy[h], xy[k], trousers, leg_w)
            _line(img, xy[k], xy[a], shin, leg_w * 0.9)
            _line(img, xy[a], xy[o], shoes, leg_w * 0.75)

        items.append((float(depth[[s, e, w]].mean()), 2, arm))
        items.append((float(depth[[h, k, a]].mean()), 1, leg))

    def torso() -> None:
        quad = np.stack([xy[j["shoulder_l"]], xy[j["shoulder_r"]], xy[j["hip_r"]],
                         xy[j["hip_l"]]])
        cv2.fillPoly(img, [np.round(quad * _ONE).astype(np.int32)], look.shirt, cv2.LINE_AA,
                     _SUB)
        _line(img, xy[j["shoulder_l"]], xy[j["shoulder_r"]], look.shirt, arm_w)
        pelvis, neck = xy[j["pelvis"]], xy[j["neck"]]
        _line(img, neck, pelvis * 0.85 + neck * 0.15, look.shirt, torso_w)
        _line(img, xy[j["hip_l"]], xy[j["hip_r"]], look.trousers, leg_w)
        _line(img, pelvis, pelvis * 0.85 + neck * 0.15, look.trousers, torso_w * 0.95)
        head = xy[j["head"]]
        radius = body.head_r * scale
        _line(img, neck, head, look.skin, arm_w)
        _disc(img, head, radius, look.hair)
        face = head + np.array([facing_x * 0.3, 0.22]) * radius
        _disc(img, face, radius * 0.86, look.skin)

    items.append((float(depth[[j["neck"], j["pelvis"]]].mean()), 3, torso))
    items.sort(key=lambda item: (item[0], item[1]))
    for _, _, draw in items:
        draw()


def _draw_cone(img: np.ndarray, base: np.ndarray, width: float, height: float,
               color: Color) -> None:
    x, y = base
    tri = np.array([[x - width / 2, y], [x + width / 2, y], [x, y - height]])
    cv2.fillConvexPoly(img, np.round(tri * _ONE).astype(np.int32), color, cv2.LINE_AA, _SUB)
    _line(img, np.array([x - width * 0.6, y]), np.array([x + width * 0.6, y]),
          _shade(color, 0.6), max(1.0, height * 0.12))


# --------------------------------------------------------------------------------------------
# Rendering


def _stack_joints(joints: Joints) -> np.ndarray:
    return np.stack([joints[name] for name in _JOINTS], axis=1)  # (T, J, 3)


def _yaw(points: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return np.stack([x * c + z * s, y, -x * s + z * c], axis=-1)


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([k % (1 << 63) for k in keys]))


def _drill_key(drill: str) -> int:
    return zlib.crc32(drill.encode("utf-8"))


def _check_drill(drill: str) -> None:
    if drill not in _SPECS:
        raise ConfigError(f"unknown drill {drill!r}; known drills: {', '.join(DRILLS)}")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if width < 16 or height < 16:
        raise ConfigError(f"frame size {width}x{height} is too small; use at least 16x16")
    return width, height


def _render(plan: Sequence[tuple[str, int]], rng: np.random.Generator, fps: float,
            size: tuple[int, int]) -> np.ndarray:
    """Frames (N, H, W, 3) BGR of one figure doing the drills of `plan` one after another."""
    width, height = _check_size(size)
    if fps <= 0:
        raise ConfigError(f"frame rate must be positive, got {fps}")
    scene = _sample_scene(rng)
    body = _sample_body(rng)
    look = _sample_look(rng, scene.main_colors)
    facing = 1 if rng.uniform() < 0.5 else -1
    mirror = bool(rng.uniform() < 0.5)

    # Poses, one segment after another, blending into each new drill.
    poses, lifts, speeds, yaws = [], [], [], []
    blend_frames = max(1, round(0.4 * fps))
    for drill, count in plan:
        t = np.arange(count, dtype=np.float64) / fps
        motion = _sample_motion(drill, rng)
        pose = _SPECS[drill].pose(t, body, motion)
        points = _stack_joints(pose.joints)
        points[..., 1] -= points[:, _CONTACT, 1].min(axis=1, keepdims=True)
        lift = pose.lift.astype(np.float64)
        speed = np.full(count, pose.speed)
        yaw = np.full(count, _sample_yaw(drill, rng, facing))
        if poses:
            n = min(blend_frames, max(count // 3, 1))
            a = _smooth((np.arange(n) + 1.0) / (n + 1))
            a3 = a[:, None, None]
            points[:n] = poses[-1][-1] * (1 - a3) + points[:n] * a3
            lift[:n] = lifts[-1][-1] * (1 - a) + lift[:n] * a
            speed[:n] = speeds[-1][-1] * (1 - a) + speed[:n] * a
            yaw[:n] = yaws[-1][-1] * (1 - a) + yaw[:n] * a
        poses.append(points)
        lifts.append(lift)
        speeds.append(speed)
        yaws.append(yaw)
    points = np.concatenate(poses)  # (N, J, 3)
    lift = np.concatenate(lifts)
    yaw = np.concatenate(yaws)
    points[..., 1] -= points[:, _CONTACT, 1].min(axis=1, keepdims=True)
    points[..., 1] += lift[:, None] + body.leg_w / 2
    points = _yaw(points, yaw)
    n_frames = points.shape[0]
    travel = np.cumsum(np.concatenate(speeds) * np.sin(yaw)) / fps  # along image x

    camera = _Camera(pitch=_rad(rng.uniform(3, 18)), distance=float(rng.uniform(3.5, 8.0)))
    u, v, depth = camera.project(points)  # (N, J)

    # Size and place the figure so that it stays in the picture through a slow zoom.
    margin = body.head_r + body.leg_w
    u0, u1 = u.min() - margin, u.max() + margin
    v0, v1 = v.min() - margin, v.max() + margin
    zoom_max = float(rng.uniform(1.0, 1.15))
    fit = min((height - 4) / ((v1 - v0) * zoom_max), (width - 4) / ((u1 - u0) * zoom_max))
    scale = min(0.97 * fit, height * rng.uniform(0.6, 0.9))
    half_w, half_h = scale * (u1 - u0) / 2 * zoom_max, scale * (v1 - v0) / 2 * zoom_max
    cx = rng.uniform(half_w + 2, max(width - half_w - 2, half_w + 2))
    cy = rng.uniform(half_h + 2, max(height - half_h - 2, half_h + 2))
    ox, oy = cx - scale * (u0 + u1) / 2, cy - scale * (v0 + v1) / 2
    ramp = np.linspace(0.0, 1.0, n_frames)
    if rng.uniform() < 0.5:
        ramp = ramp[::-1]
    zoom = 1 + (zoom_max - 1) * ramp

    def to_pixels(uu: np.ndarray, vv: np.ndarray, k: float) -> np.ndarray:
        return np.stack([cx + k * (ox + scale * uu - cx), cy + k * (oy + scale * vv - cy)], -1)

    # Background: wall and floor, scrolled by the camera that follows a moving figure.
    _, horizon_v, _ = camera.project(np.array([0.0, 0.0, -scene.wall_depth]))
    horizon = float(oy + scale * horizon_v)
    moving = bool(np.any(np.abs(travel) > 1e-6))
    canvas_w = width * 4 if moving else width
    canvas = _background(rng, scene, canvas_w, height, horizon)
    parallax = camera.distance / (camera.distance + scene.wall_depth)

    cones_x = np.zeros(0)
    if scene.cones:
        reach = width / scale + 2.0
        lo = min(0.0, float(travel.min())) - reach
        hi = max(0.0, float(travel.max())) + reach
        gaps = rng.uniform(1.0, 2.2, int((hi - lo) / 1.0) + 2)
        cones_x = lo + rng.uniform(0, 1) + np.cumsum(gaps)
        cones_x = cones_x[cones_x < hi]

    far_tag: str | None = None
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    hip_depth = depth[:, _J["hip_l"]].mean() - depth[:, _J["hip_r"]].mean()
    if abs(hip_depth) > 0.03:
        far_tag = "r" if hip_depth > 0 else "l"
    for i in range(n_frames):
        k = float(zoom[i])
        shift = scale * travel[i] * parallax
        # dst -> src: zoom about (cx, cy), then scroll along the wall
        m = np.array([[1 / k, 0, cx - cx / k + shift], [0, 1 / k, cy - cy / k]])
        img = cv2.warpAffine(canvas, m, (width, height), flags=cv2.INTER_LINEAR
                             | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_WRAP)
        if cones_x.size:
            world = np.zeros((cones_x.size, 3))
            world[:, 0] = cones_x - travel[i]
            world[:, 2] = -scene.cone_depth
            cu, cv_, _ = camera.project(world)
            base = to_pixels(cu, cv_, k)
            size_px = scale * k * camera.distance / (camera.distance + scene.cone_depth)
            for b in base:
                if -10 < b[0] < width + 10:
                    _draw_cone(img, b, 0.07 * size_px, 0.1 * size_px, scene.cone)
        xy = to_pixels(u[i], v[i], k)
        facing_x = float(np.sin(yaw[i]))
        _draw_figure(img, xy, depth[i], scale * k, body, look, far_tag, facing_x)
        noise = rng.standard_normal((height, width, 3), dtype=np.float32) * scene.noise
        noisy = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        frames[i] = noisy[:, ::-1] if mirror else noisy
    return frames


def render_clip(drill: str, *, seed: int, frames: int = 96, fps: float = 25.0,
                size: tuple[int, int] = (160, 120), index: int = 0) -> np.ndarray:
    """Render one clip of `drill` as uint8 frames (N, H, W, 3) in BGR order.

    `size` is (width, height). The figure, clothes, background, camera, speed within the
    drill's range, phase and mirroring are drawn from a generator seeded with (seed, drill,
    index): the same arguments always give byte-identical frames, and different seeds or
    indices give different clips.
    """
    _check_drill(drill)
    if frames < 1:
        raise ConfigError(f"a clip needs at least one frame, got {frames}")
    rng = _rng(seed, _drill_key(drill), index)
    return _render([(drill, int(frames))], rng, fps, size)


def render_sequence(drills_with_seconds: Sequence[tuple[str, float]], *, seed: int,
                    fps: float = 25.0, size: tuple[int, int] = (160, 120)
                    ) -> tuple[np.ndarray, list[Segment]]:
    """Render one figure doing several drills one after another, for a demo with a timeline.

    Returns the frames (N, H, W, 3) BGR and one `Segment` per drill, covering the frames
    without gaps. Each segment lasts round(seconds * fps) frames (at least one); its first
    0.4 s blend from the previous drill's last pose.
    """
    if not drills_with_seconds:
        raise ConfigError("a sequence needs at least one drill")
    plan: list[tuple[str, int]] = []
    segments: list[Segment] = []
    start = 0
    for drill, seconds in drills_with_seconds:
        _check_drill(drill)
        if seconds <= 0:
            raise ConfigError(f"drill {drill!r} needs a positive duration, got {seconds} s")
        count = max(1, round(seconds * fps))
        plan.append((drill, count))
        segments.append(Segment(drill, start, start + count))
        start += count
    rng = _rng(seed, _drill_key("sequence"), len(plan))
    return _render(plan, rng, fps, size), segments


# --------------------------------------------------------------------------------------------
# Files


def write_video(path: Path | str, frames: np.ndarray | Sequence[np.ndarray],
                fps: float = 25.0) -> Path:
    """Write BGR uint8 frames (N, H, W, 3) to an MPEG-4 (mp4v) file, atomically.

    The video is written to a temporary file beside `path` and renamed over it only when
    complete, so a crash never leaves a half-written file under the real name.
    """
    path = Path(path)
    if len(frames) == 0:
        raise ConfigError("no frames to write")
    first = np.asarray(frames[0])
    if first.ndim != 3 or first.shape[2] != 3:
        raise ConfigError(f"frames must be (H, W, 3) BGR images, got shape {first.shape}")
    height, width = first.shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{printable_path(path.stem)}.",
                                    suffix=printable_path(path.suffix) or ".mp4", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with opencv_filename(tmp, write=True) as name:
            writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                     (width, height))
        if not writer.isOpened():
            raise STMANetError(f"{path}: cannot open an mp4v video writer in this OpenCV build")
        try:
            for frame in frames:
                frame = np.asarray(frame)
                if frame.shape != first.shape or frame.dtype != np.uint8:
                    raise ConfigError(f"all frames must be uint8 of shape {first.shape}, "
                                      f"got {frame.dtype} {frame.shape}")
                writer.write(np.ascontiguousarray(frame))
        finally:
            writer.release()
        if tmp.stat().st_size == 0:
            raise STMANetError(f"{path}: the video writer produced an empty file")
        tmp.chmod(0o644)  # mkstemp makes it private; a data set is meant to be shared
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_clip(out: Path, drill: str, seed: int, index: int, frames: int, fps: float,
                size: tuple[int, int]) -> Path:
    """Render clip `index` of `drill` and write it to out/<drill>/<drill>_<seed>_<index>.mp4
    (a module-level function, so worker processes can run it)."""
    clip = render_clip(drill, seed=seed, frames=frames, fps=fps, size=size, index=index)
    return write_video(out / drill / f"{drill}_{seed}_{index}.mp4", clip, fps)


def generate_dataset(out_dir: Path | str, *, clips_per_class: int, seed: int, frames: int = 96,
                     fps: float = 25.0, size: tuple[int, int] = (160, 120),
                     drills: Sequence[str] = DRILLS,
                     progress: Callable[[int, int], None] | None = None,
                     workers: int = 1) -> Path:
    """Write a folder-per-class data set of drill clips and return its folder.

    Layout: out_dir/<drill>/<drill>_<seed>_<i>.mp4 for i in 0..clips_per_class-1, plus
    out_dir/classes.txt naming the drills one per line, in the order given. Clip i of a drill
    is `render_clip(drill, seed=seed, index=i, ...)`, so the files do not depend on `workers`
    (processes rendering clips side by side). `progress(done, total)` is called after every
    clip, in the order clips finish.
    """
    drills = list(drills)
    if not drills:
        raise ConfigError("no drills to generate")
    for drill in drills:
        _check_drill(drill)
    if len(set(drills)) != len(drills):
        raise ConfigError(f"drills listed twice: {', '.join(drills)}")
    if clips_per_class < 1:
        raise ConfigError(f"clips per class must be at least 1, got {clips_per_class}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(drill, i) for drill in drills for i in range(clips_per_class)]
    total = len(jobs)
    if workers == 1:
        for done, (drill, i) in enumerate(jobs, 1):
            _write_clip(out, drill, seed, i, frames, fps, size)
            if progress is not None:
                progress(done, total)
    else:
        import concurrent.futures
        import multiprocessing

        # spawn: a fresh interpreter per worker, safe in a process that holds threads (the app)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(_write_clip, out, drill, seed, i, frames, fps, size)
                       for drill, i in jobs]
            try:
                for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                    future.result()
                    if progress is not None:
                        progress(done, total)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    atomic_write_text(out / "classes.txt", "".join(f"{d}\n" for d in drills))
    log.info("synthetic data set: %d drills x %d clips in %s", len(drills), clips_per_class, out)
    return out
