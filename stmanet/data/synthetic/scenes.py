"""Footage that is no drill: the "none of my actions" test material of the open-set check.

A model trained on the drills must call these unknown. Each is drawn in the same rooms, with
the same figures and the same camera as the drills (`scene.py`, `body.py`, `render.py`), so
what sets them apart is what happens, not how it looks:

    idle          a figure standing at rest: swaying a little, shifting its weight, arms
                  hanging or hands on the hips; facing the camera or turned sideways
    walk_across   a figure walking through the picture under a fixed camera, entering on one
                  side and leaving on the other (the `walking` drill is done on the spot under
                  a camera that follows the figure)
    empty_scene   the room with nobody in it, under a fixed camera with a slow zoom
    camera_shake  a hand-held camera shaking over the empty room or over a figure at rest

`render_scene` is the entry point; `render_clip`, `generate_dataset` and `stmanet synth`
accept these names beside the drills' (`stmanet synth OUT --non-drills`). The same
(seed, name, index) always gives byte-identical frames.
"""

from __future__ import annotations

import math
import zlib

import cv2
import numpy as np

from stmanet.data.synthetic.body import (
    _CONTACT,
    _J,
    _Body,
    _sample_body,
    _sample_look,
    _stack_joints,
)
from stmanet.data.synthetic.drills import _SPECS, _idle, _Motion, _rad
from stmanet.data.synthetic.render import _check_size, _draw_cone, _draw_figure, _yaw
from stmanet.data.synthetic.scene import _background, _Camera, _sample_scene
from stmanet.errors import ConfigError

NON_DRILLS: tuple[str, ...] = ("idle", "walk_across", "empty_scene", "camera_shake")
"""Names of the scenes that are no drill, in the order `stmanet synth --non-drills` writes."""


def render_scene(name: str, *, seed: int, frames: int = 96, fps: float = 25.0,
                 size: tuple[int, int] = (160, 120), index: int = 0) -> np.ndarray:
    """Render clip `index` of the non-drill scene `name` as uint8 frames (N, H, W, 3), BGR.

    Everything is drawn from a generator seeded with (seed, name, index), as for a drill.
    """
    check_scene(name)
    if frames < 1:
        raise ConfigError(f"a clip needs at least one frame, got {frames}")
    if fps <= 0:
        raise ConfigError(f"frame rate must be positive, got {fps}")
    width, height = _check_size(size)
    key = zlib.crc32(name.encode("utf-8"))
    rng = np.random.default_rng(np.random.SeedSequence([k % (1 << 63)
                                                        for k in (seed, key, index)]))
    return _render_scene(name, int(frames), rng, float(fps), width, height)


def check_scene(name: str) -> None:
    if name not in NON_DRILLS:
        raise ConfigError(f"unknown non-drill scene {name!r}; known: {', '.join(NON_DRILLS)}")


# --------------------------------------------------------------------------------------------
# Poses


def _walk(t: np.ndarray, body: _Body, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The `walking` drill's gait at a stroll or a walk: joints (T, J, 3) and ground speed."""
    motion = _Motion(rate=float(rng.uniform(1.3, 1.9)), phase=float(rng.uniform(0, 6.3)),
                     amp=float(rng.uniform(0.85, 1.1)), turn=1)
    pose = _SPECS["walking"].pose(t, body, motion)
    return _stack_joints(pose.joints), float(pose.speed)


# --------------------------------------------------------------------------------------------
# Rendering


def _render_scene(name: str, n: int, rng: np.random.Generator, fps: float, width: int,
                  height: int) -> np.ndarray:
    scene = _sample_scene(rng)
    body = _sample_body(rng)
    look = _sample_look(rng, scene.main_colors)
    mirror = bool(rng.uniform() < 0.5)
    t = np.arange(n, dtype=np.float64) / fps
    camera = _Camera(pitch=_rad(rng.uniform(3, 18)), distance=float(rng.uniform(3.5, 8.0)))
    share = float(rng.uniform(0.45, 0.85))  # of the picture's height: the figure's size
    scale = height * share  # pixels per body height

    points: np.ndarray | None = None
    facing_x = 0.0  # which way the face is drawn turned
    if name == "idle" or (name == "camera_shake" and rng.uniform() < 0.5):
        points = _idle(t, body, rng)
        facing = 1 if rng.uniform() < 0.5 else -1
        yaw = _rad(rng.uniform(-30, 30)) if rng.uniform() < 0.5 else facing * _rad(
            rng.uniform(65, 90))
        points = _yaw(points, np.full(n, yaw))
        facing_x = math.sin(yaw)
    elif name == "walk_across":
        points, speed = _walk(t, body, rng)
        direction = 1 if rng.uniform() < 0.5 else -1
        yaw = direction * _rad(rng.uniform(75, 90))
        points = _yaw(points, np.full(n, yaw))
        facing_x = math.sin(yaw)
        travel = direction * speed * t  # body heights along x, the camera stays put
        # cross the middle of the picture half way through the clip, give or take
        travel -= travel[n // 2] + rng.uniform(-0.15, 0.15) * width / scale
        points[..., 0] += travel[:, None]
    if points is not None:
        points[..., 1] -= points[:, _CONTACT, 1].min(axis=1, keepdims=True)
        points[..., 1] += body.leg_w / 2

    # the floor's horizon and the figure's place: its feet low enough for its head to show
    _, horizon_v, _ = camera.project(np.array([0.0, 0.0, -scene.wall_depth]))
    _, floor_v, _ = camera.project(np.zeros(3))
    cx = width / 2 + rng.uniform(-0.15, 0.15) * width
    oy = height * rng.uniform(max(0.65, share + 0.08), 0.95) - scale * float(floor_v)
    horizon = float(oy + scale * horizon_v)
    canvas = _background(rng, scene, width, height, horizon)
    if scene.cones:
        gap = scale * rng.uniform(1.0, 2.2)
        size_px = scale * camera.distance / (camera.distance + scene.cone_depth)
        _, cone_v, _ = camera.project(np.array([0.0, 0.0, -scene.cone_depth]))
        x = rng.uniform(0, gap)
        while x < width:
            _draw_cone(canvas, np.array([x, oy + scale * cone_v]), 0.07 * size_px,
                       0.1 * size_px, scene.cone)
            x += gap

    zoom_max = float(rng.uniform(1.0, 1.15))
    zoom = 1 + (zoom_max - 1) * np.linspace(0.0, 1.0, n)
    if rng.uniform() < 0.5:
        zoom = zoom[::-1]
    shake = _shake(rng, n, fps, width) if name == "camera_shake" else None
    far_tag: str | None = None
    if points is not None:
        u, v, depth = camera.project(points)
        hip_depth = depth[:, _J["hip_l"]].mean() - depth[:, _J["hip_r"]].mean()
        if abs(hip_depth) > 0.03:
            far_tag = "r" if hip_depth > 0 else "l"

    frames = np.empty((n, height, width, 3), np.uint8)
    cy = height / 2
    for i in range(n):
        k = float(zoom[i])
        img = canvas.copy()
        if points is not None:
            xy = np.stack([cx + scale * u[i], oy + scale * v[i]], axis=-1)
            _draw_figure(img, xy, depth[i], scale, body, look, far_tag, facing_x)
        m = np.array([[k, 0.0, cx - k * cx], [0.0, k, cy - k * cy]])  # zoom about the centre
        if shake is not None:
            dx, dy, angle = shake[i]
            rot = cv2.getRotationMatrix2D((width / 2, height / 2), float(angle), 1.0)
            m = _compose(rot, m)
            m[:, 2] += (dx, dy)
        img = cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        noise = rng.standard_normal((height, width, 3), dtype=np.float32) * scene.noise
        noisy = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        frames[i] = noisy[:, ::-1] if mirror else noisy
    return frames


def _shake(rng: np.random.Generator, n: int, fps: float, width: int) -> np.ndarray:
    """(n, 3): x and y offsets in pixels and a rotation in degrees per frame, a hand-held
    camera's slow drift plus its jitter."""
    amount = width * rng.uniform(0.015, 0.05)
    drift = np.cumsum(rng.standard_normal((n, 3)), axis=0)
    size = max(1, min(n, round(0.4 * fps)))  # no longer than the clip
    kernel = np.hanning(size + 2)[1:-1]  # without its zero ends
    smooth = np.stack([np.convolve(drift[:, j], kernel / kernel.sum(), mode="same")
                       for j in range(3)], axis=1)
    smooth -= smooth.mean(axis=0)
    smooth /= np.maximum(np.abs(smooth).max(axis=0), 1e-9)
    jitter = rng.standard_normal((n, 3)) * 0.35
    out = (smooth + jitter) * np.array([amount, amount, rng.uniform(0.5, 2.5)])
    return out


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine map `a` after `b`."""
    a3 = np.vstack([a, [0.0, 0.0, 1.0]])
    b3 = np.vstack([b, [0.0, 0.0, 1.0]])
    return (a3 @ b3)[:2]
