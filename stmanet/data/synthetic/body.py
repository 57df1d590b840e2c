"""The figure: its proportions, its clothes and skin, its joints and the limb kinematics.

A figure is a `_Body` (segment lengths and limb widths in body heights, a standing figure being
about 1 tall) and a `_Look` (skin, hair and clothes colours). Poses are dicts of joint name to
(T, 3) positions, x to the figure's left, y up, z forward; the helpers here build them limb by
limb, vectorised over time, from joint angles or, with two-segment inverse kinematics, from
where a hand or foot should be. The colour helpers are shared with the scene.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Joints = dict[str, np.ndarray]  # joint name -> (T, 3) positions in body heights
Color = tuple[int, int, int]  # BGR

_SIDES = ((1, "l"), (-1, "r"))  # +x is the figure's left


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


# --------------------------------------------------------------------------------------------
# Joint order of a pose stacked into one array (T, J, 3)

_JOINTS = ("pelvis", "neck", "head",
           "shoulder_l", "elbow_l", "wrist_l", "hip_l", "knee_l", "ankle_l", "toe_l",
           "shoulder_r", "elbow_r", "wrist_r", "hip_r", "knee_r", "ankle_r", "toe_r")
_J = {name: i for i, name in enumerate(_JOINTS)}
_CONTACT = [_J[n] for n in ("ankle_l", "toe_l", "wrist_l", "ankle_r", "toe_r", "wrist_r")]


def _stack_joints(joints: Joints) -> np.ndarray:
    return np.stack([joints[name] for name in _JOINTS], axis=1)  # (T, J, 3)
