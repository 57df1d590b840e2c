"""The camera and the room the figure is filmed in.

`_Camera` projects world points (body heights) onto the image with a pitch and a slight
perspective. `_Scene` is the room: a wall (plain, gradient, soft pattern or panels) above a
floor with a floor line, optionally a lane of training cones, and the sensor noise on top;
`_background` paints the wall and floor once, periodic along x so that a tracking camera can
scroll it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from stmanet.data.synthetic.body import Color, _hsv, _jitter


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
