"""Drawing and rendering: the frames of one figure doing a plan of drills.

`_render` samples the scene, the figure and its look, poses the figure through each drill of
the plan (blending into each new drill), turns it towards or sideways to the camera, fits it
into the picture with a slow zoom, scrolls the background under a moving figure, and draws
every frame: background, cones, then the limbs and torso from far to near, with sensor noise
and an optional mirror. Everything is drawn from the generator it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import cv2
import numpy as np

from stmanet.data.synthetic.body import (
    _CONTACT,
    _J,
    _SIDES,
    Color,
    _Body,
    _Look,
    _sample_body,
    _sample_look,
    _stack_joints,
)
from stmanet.data.synthetic.drills import (
    _SPECS,
    _idle,
    _rad,
    _sample_motion,
    _sample_yaw,
    _smooth,
)
from stmanet.data.synthetic.scene import _background, _Camera, _sample_scene
from stmanet.data.synthetic.tempo import _Tempo, _warp
from stmanet.errors import ConfigError

REST = "idle"
"""In a plan (`_render_timed`, sequences), a stretch of the figure standing at rest between
drills, as the non-drill scene `idle` shows it (scenes.py): no drill, no repetition."""


class _Layers(Protocol):
    """What is drawn around the figure in each frame (hard.py)."""

    def setup(self, mirror: bool, horizon: float, floor: float, scale: float) -> None: ...

    def behind(self, i: int, img: np.ndarray) -> None: ...

    def front(self, i: int, img: np.ndarray, xy: np.ndarray) -> None: ...


_SUB = 4  # cv2 fractional bits: coordinates are drawn with 1/16 pixel precision
_ONE = 1 << _SUB


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


def _yaw(points: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return np.stack([x * c + z * s, y, -x * s + z * c], axis=-1)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if width < 16 or height < 16:
        raise ConfigError(f"frame size {width}x{height} is too small; use at least 16x16")
    return width, height


def _render(plan: Sequence[tuple[str, int]], rng: np.random.Generator, fps: float,
            size: tuple[int, int]) -> np.ndarray:
    """Frames (N, H, W, 3) BGR of one figure doing the drills of `plan` one after another."""
    return _render_timed(plan, rng, fps, size)[0]


def _render_timed(plan: Sequence[tuple[str, int]], rng: np.random.Generator, fps: float,
                  size: tuple[int, int], tempo: Callable[[str, float], _Tempo] | None = None,
                  layers: _Layers | None = None
                  ) -> tuple[np.ndarray, list[list[tuple[float, float]]]]:
    """`_render`, and the (start, end) of every repetition of each drill of `plan`, in
    seconds from that drill's first frame.

    With `tempo` each drill's pace varies (tempo.py): `tempo(drill, rate)` gives it, e.g.
    drawn from a generator of its own, so that the figure, the room and the camera are those
    of the same plan and `rng` at the plain pace.

    With `layers` (hard.py's clutter) `layers.behind(i, img)` draws onto frame i before the
    figure and `layers.front(i, img, xy)` after it (`xy` the figure's joints in pixels),
    both before the sensor noise and the mirror; `layers.setup(mirror, horizon, floor,
    scale)` is told the mirror, the wall's foot and the figure's (pixel rows) and its size.
    """
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
    reps: list[list[tuple[float, float]]] = []
    blend_frames = max(1, round(0.4 * fps))
    for drill, count in plan:
        if drill == REST:  # standing at rest, turned as the drill before left it
            points = _idle(np.arange(count) / fps, body, rng)
            lift, speed = np.zeros(count), np.zeros(count)
            yaw = np.full(count, yaws[-1][-1] if yaws else _rad(rng.uniform(-30, 30)))
            reps.append([])
        else:
            motion = _sample_motion(drill, rng)
            warp = _warp(drill, motion, None if tempo is None else tempo(drill, motion.rate),
                         count, fps)
            reps.append(warp.reps)
            pose = _SPECS[drill].pose(warp.tau, body, warp.motion)
            points = _stack_joints(pose.joints)
            lift = pose.lift.astype(np.float64)
            speed = (np.full(count, pose.speed) if warp.pace is None
                     else pose.speed * warp.pace)
            yaw = np.full(count, _sample_yaw(drill, rng, facing))
        points[..., 1] -= points[:, _CONTACT, 1].min(axis=1, keepdims=True)
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

    if layers is not None:
        _, ground_v, _ = camera.project(np.zeros(3))
        layers.setup(mirror, horizon, float(oy + scale * ground_v), scale)
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
        if layers is not None:
            layers.behind(i, img)
        _draw_figure(img, xy, depth[i], scale * k, body, look, far_tag, facing_x)
        if layers is not None:
            layers.front(i, img, xy)
        noise = rng.standard_normal((height, width, 3), dtype=np.float32) * scene.noise
        noisy = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        frames[i] = noisy[:, ::-1] if mirror else noisy
    return frames, reps
