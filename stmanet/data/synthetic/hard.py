"""The hard suite (`stmanet synth OUT --suite hard`): footage in which attention should matter.

The plain drills are told apart from almost any single frame of a clean room, so every
ablation row learns them. The hard suite keeps the same figures, drills, rooms and camera
(body.py, drills.py, scene.py, render.py) and adds what each attention module is for:

For spatial attention (the athlete has to be found in the picture), in every clip:

- 1-3 distractor figures, smaller (further back) and behind the athlete, each doing another
  drill than the athlete's class, drifting slowly along the floor;
- a foreground pole or net moving across the picture in front of the athlete;
- a camera that pans, shakes and zooms in or out (the athlete always stays in the picture);
- light that dims or brightens over the clip, falls off to one side and flickers a little.

For temporal attention (classes whose frames look alike and differ only in order or rhythm):

    squat_then_jump / jump_then_squat   the same squats and jumping jacks, halves swapped: both
                                        classes of clip i show the same frames of the athlete
    squats_slow / squats_fast           squats at 0.28-0.38 vs 0.75-0.95 repetitions per second
    jacks_steady / jacks_pause          jumping jacks, steady vs a 1.0-1.4 s pause in the middle

and five drills of the plain set as spatial classes (arm_circles, high_knees, lunges,
side_bends, push_ups; squats and jumping jacks are left out as classes of their own because
the temporal classes are made of them). The athlete is the largest figure, drawn in front of
the distractors; only the foreground pole or net may cover part of it (`HardClip.visible`,
measured on the pixels, says how much stays visible).

Everything is drawn from generators seeded with (seed, class, index): the same arguments give
byte-identical frames. The folder layout is that of `generate_dataset`
(OUT/<class>/<class>_<seed>_<i>.mp4 and OUT/classes.txt), which `stmanet train --data
folder:OUT` reads.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stmanet.data.synthetic.body import _CONTACT, _hsv, _sample_body, _sample_look, _stack_joints
from stmanet.data.synthetic.dataset import write_class_clips
from stmanet.data.synthetic.drills import _SPECS, _sample_motion, _sample_yaw
from stmanet.data.synthetic.render import _check_size, _draw_figure, _render_timed, _yaw
from stmanet.data.synthetic.scene import _Camera
from stmanet.data.synthetic.tempo import _Tempo, _warp
from stmanet.errors import ConfigError

log = logging.getLogger(__name__)

SPATIAL = ("arm_circles", "high_knees", "lunges", "side_bends", "push_ups")
ORDER = ("squat_then_jump", "jump_then_squat")
RHYTHM = ("squats_slow", "squats_fast", "jacks_steady", "jacks_pause")
HARD_CLASSES: tuple[str, ...] = SPATIAL + ORDER + RHYTHM
"""Class names of the hard suite, in the order of its classes.txt."""

# The drills each class is made of (distractors do none of these).
_DRILLS_OF = {**{c: (c,) for c in SPATIAL},
              **{c: ("squats", "jumping_jacks") for c in ORDER},
              "squats_slow": ("squats",), "squats_fast": ("squats",),
              "jacks_steady": ("jumping_jacks",), "jacks_pause": ("jumping_jacks",)}
_DISTRACTOR_DRILLS = ("jumping_jacks", "squats", "arm_circles", "high_knees", "lunges",
                      "side_bends", "push_ups")
_RATE = {"squats_slow": (0.28, 0.38), "squats_fast": (0.75, 0.95),
         "jacks_steady": (1.0, 1.3), "jacks_pause": (1.0, 1.3)}


@dataclass(frozen=True)
class HardClip:
    frames: np.ndarray  # (N, H, W, 3) uint8 BGR
    boxes: np.ndarray  # (N, 4) the athlete's x0, y0, x1, y1 in the final pixels
    visible: np.ndarray  # (N,) share of the athlete's pixels not covered by the foreground


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([k % (1 << 63) for k in keys]))


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def check_hard_class(name: str) -> None:
    if name not in HARD_CLASSES:
        raise ConfigError(f"unknown class {name!r} of the hard suite; known: "
                          f"{', '.join(HARD_CLASSES)}")


# --------------------------------------------------------------------------------------------
# Clutter around the athlete


class _Distractor:
    """A smaller figure behind the athlete doing another drill, drifting along the floor."""

    def __init__(self, rng: np.random.Generator, drills: Sequence[str], n: int, fps: float,
                 width: int, height: int) -> None:
        drill = str(rng.choice(list(drills)))
        body = _sample_body(rng)
        self.body, self.look = body, _sample_look(rng, ((128, 128, 128),))
        motion = _sample_motion(drill, rng)
        warp = _warp(drill, motion, None, n, fps)
        points = _stack_joints(_SPECS[drill].pose(warp.tau, body, warp.motion).joints)
        points[..., 1] -= points[:, _CONTACT, 1].min(axis=1, keepdims=True)
        points = _yaw(points, np.full(n, _sample_yaw(drill, rng, 1 if rng.uniform() < .5 else -1)))
        camera = _Camera(pitch=math.radians(rng.uniform(3, 12)), distance=6.0)
        self.u, self.v, self.depth = camera.project(points)
        _, self.v_ground, _ = camera.project(np.zeros(3))
        self.depth_share = rng.uniform(0.35, 0.75)  # where between the wall and the athlete
        self.x0 = rng.uniform(0.05, 0.95) * width
        self.drift = rng.uniform(-0.04, 0.04) * width / fps  # pixels per frame
        self.width, self.height = width, height
        self.scale, self.foot = 0.4 * height, 0.7 * height

    def place(self, horizon: float, floor: float, scale: float) -> None:
        """Stand on the floor between the wall (`horizon`) and the athlete's feet (`floor`),
        smaller the further back (the floor seen in perspective)."""
        self.foot = horizon + self.depth_share * max(floor - horizon, 0.0)
        self.scale = max(scale * self.depth_share, 0.2 * self.height)

    def draw(self, i: int, img: np.ndarray) -> None:
        x = (self.x0 + self.drift * i) % (self.width * 1.2) - 0.1 * self.width
        xy = np.stack([x + self.scale * self.u[i],
                       self.foot + self.scale * (self.v[i] - self.v_ground)], -1)
        _draw_figure(img, xy, self.depth[i], self.scale, self.body, self.look, None, 0.0)


class _Clutter:
    """The layers of one hard clip: distractors behind the athlete, a pole or a net in front.

    Frame `offset + i` of the clip is frame i of the current `_render_timed` call, so that a
    clip made of two renders (the order classes) has one continuous clutter.
    """

    def __init__(self, rng: np.random.Generator, athlete_drills: Sequence[str], n: int,
                 fps: float, width: int, height: int) -> None:
        others = [d for d in _DISTRACTOR_DRILLS if d not in athlete_drills]
        self.distractors = [_Distractor(rng, others, n, fps, width, height)
                            for _ in range(int(rng.integers(1, 4)))]
        self.kind = "net" if rng.uniform() < 0.4 else "pole"
        self.color = tuple(float(c) for c in _hsv(rng.uniform(), rng.uniform(0, 0.8),
                                                  rng.uniform(0.1, 0.9)))
        self.band = width * (rng.uniform(0.025, 0.04) if self.kind == "pole"
                             else rng.uniform(0.2, 0.3))
        start, end = rng.uniform(-0.1, 1.1, 2) * width
        self.x = np.linspace(start, end, n)
        self.mesh = int(rng.integers(4, 7))  # net: pixels between strings
        self.offset = 0
        self.mirror = False
        self.placed = False
        self.boxes = np.zeros((n, 4))
        self.visible = np.ones(n)
        self._under: np.ndarray | None = None

    def setup(self, mirror: bool, horizon: float, floor: float, scale: float) -> None:
        self.mirror = mirror
        if not self.placed:  # the first part of an order clip places them for the clip
            for d in self.distractors:
                d.place(horizon, floor, scale)
            self.placed = True

    def behind(self, i: int, img: np.ndarray) -> None:
        for d in self.distractors:
            d.draw(self.offset + i, img)
        self._under = img.copy()

    def front(self, i: int, img: np.ndarray, xy: np.ndarray) -> None:
        assert self._under is not None
        j = self.offset + i
        athlete = np.any(img != self._under, axis=2)
        drawn = img.copy()
        x0, x1 = self.x[j] - self.band / 2, self.x[j] + self.band / 2
        c0, c1 = max(0, math.floor(x0)), min(img.shape[1], math.ceil(x1))
        if c1 > c0:
            if self.kind == "pole":
                img[:, c0:c1] = self.color
            else:
                img[::self.mesh, c0:c1] = self.color
                img[:, c0:c1:self.mesh] = self.color
        covered = np.any(img != drawn, axis=2) & athlete
        self.visible[j] = 1.0 - covered.sum() / max(int(athlete.sum()), 1)
        ys, xs = np.nonzero(athlete)
        if xs.size:
            self.boxes[j] = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        else:
            self.boxes[j] = xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()


def _camera_and_light(frames: np.ndarray, boxes: np.ndarray, rng: np.random.Generator,
                      fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Pan, shake and zoom into the finished frames, and change the light. The zoom is 1 or
    more and the picture always covers the frame; the athlete (`boxes`) stays inside it.
    Returns the frames and the boxes moved with them."""
    n, height, width = frames.shape[:3]
    bw = float((boxes[:, 2] - boxes[:, 0]).max())
    bh = float((boxes[:, 3] - boxes[:, 1]).max())
    zoom_cap = max(1.0, min(1.4, width / max(bw, 1.0), height / max(bh, 1.0)))
    z_end = rng.uniform(1.0, zoom_cap)
    zoom = np.linspace(1.0, z_end, n) if rng.uniform() < 0.5 else np.linspace(z_end, 1.0, n)
    t = np.arange(n) / fps
    pan = rng.uniform(0.03, 0.08) * width * np.sin(2 * math.pi * t / rng.uniform(3, 8)
                                                   + rng.uniform(0, 2 * math.pi))
    shake = rng.normal(0.0, rng.uniform(0.3, 1.5), (n, 2))
    gain = np.exp(np.linspace(0, rng.uniform(-0.6, 0.25), n))
    gain *= 1 + rng.uniform(0, 0.08) * np.sin(2 * math.pi * rng.uniform(1.5, 4) * t)
    side = np.linspace(1.0, rng.uniform(0.5, 0.9), width, dtype=np.float32)
    if rng.uniform() < 0.5:
        side = side[::-1]

    def offset(want: float, k: float, a: float, b: float, size: int) -> float:
        # the picture covers [0, size] and the athlete's [a, b] stays inside it
        lo, hi = max(size - k * size, -k * a), min(0.0, size - k * b)
        return float(np.clip(want, lo, hi)) if lo <= hi else (lo + hi) / 2

    out = np.empty_like(frames)
    moved = np.empty_like(boxes)
    for i in range(n):
        k = float(zoom[i])
        x0, y0, x1, y1 = boxes[i]
        bx = offset((1 - k) * (x0 + x1) / 2 + pan[i] + shake[i, 0], k, x0, x1, width)
        by = offset((1 - k) * (y0 + y1) / 2 + shake[i, 1], k, y0, y1, height)
        m = np.array([[k, 0.0, bx], [0.0, k, by]])
        img = cv2.warpAffine(frames[i], m, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        lit = img.astype(np.float32) * (gain[i] * side)[None, :, None]
        out[i] = np.clip(lit, 0, 255).astype(np.uint8)
        moved[i] = [k * x0 + bx, k * y0 + by, k * x1 + bx, k * y1 + by]
    return out, moved


# --------------------------------------------------------------------------------------------
# Clips


def _fixed_tempo(name: str, rng: np.random.Generator) -> Callable[[str, float], _Tempo]:
    lo, hi = _RATE[name]
    target = float(rng.uniform(lo, hi))
    pauses = ((0.5, float(rng.uniform(1.0, 1.4))),) if name == "jacks_pause" else ()
    return lambda drill, rate: _Tempo(target / rate, 0.0, 0.0, 5.0, 0.0, pauses)


def render_hard_clip(name: str, *, seed: int, frames: int = 96, fps: float = 25.0,
                     size: tuple[int, int] = (160, 120), index: int = 0,
                     clutter: bool = True) -> HardClip:
    """Clip `index` of the hard suite's class `name`. `clutter=False`: the athlete alone in
    a still room (no distractors, foreground, camera motion or light change), to look at or
    to compare the order classes on."""
    check_hard_class(name)
    if frames < 2:
        raise ConfigError(f"a clip of the hard suite needs at least 2 frames, got {frames}")
    if fps <= 0:
        raise ConfigError(f"frame rate must be positive, got {fps}")
    width, height = _check_size(size)
    layers = (_Clutter(_rng(seed, _key(name), index, _key("clutter")), _DRILLS_OF[name],
                       frames, fps, width, height) if clutter else None)
    if name in ORDER:  # the same two parts in both classes, in either order
        half = frames // 2
        parts = [("squats", half), ("jumping_jacks", frames - half)]
        if name == "jump_then_squat":
            parts.reverse()
        videos = []
        for drill, count in parts:
            # one seed for both parts: a drill takes as many draws as another, so the room,
            # figure, look, mirror and camera of the two parts are the same
            rng = _rng(seed, _key("squat_jump"), index)
            if layers is not None:
                layers.offset = sum(len(v) for v in videos)
            videos.append(_render_timed([(drill, count)], rng, fps, (width, height), None,
                                        layers)[0])
        video = np.concatenate(videos)
    else:
        rng = _rng(seed, _key(name), index)
        tempo = _fixed_tempo(name, _rng(seed, _key(name), index, _key("tempo"))) \
            if name in RHYTHM else None
        video = _render_timed([(_DRILLS_OF[name][0], frames)], rng, fps, (width, height),
                              tempo, layers)[0]
    if layers is None:
        return HardClip(video, np.zeros((frames, 4)), np.ones(frames))
    boxes = layers.boxes.copy()
    if layers.mirror:
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    video, boxes = _camera_and_light(video, boxes, _rng(seed, _key(name), index, _key("camera")),
                                     fps)
    return HardClip(video, boxes, layers.visible.copy())



# --------------------------------------------------------------------------------------------
# Files


def _write_hard_clip(out: Path, name: str, seed: int, index: int, frames: int, fps: float,
                     size: tuple[int, int]) -> Path:
    from stmanet.data.synthetic.dataset import write_video

    clip = render_hard_clip(name, seed=seed, frames=frames, fps=fps, size=size, index=index)
    return write_video(out / name / f"{name}_{seed}_{index}.mp4", clip.frames, fps)


def generate_hard_dataset(out_dir: Path | str, *, clips_per_class: int, seed: int,
                          frames: int = 96, fps: float = 25.0,
                          size: tuple[int, int] = (160, 120),
                          classes: Sequence[str] = HARD_CLASSES,
                          progress: Callable[[int, int], None] | None = None,
                          workers: int = 1) -> Path:
    """Write the hard suite as a folder-per-class data set (the layout of
    `generate_dataset`): out_dir/<class>/<class>_<seed>_<i>.mp4 and out_dir/classes.txt.
    Clip i of a class is `render_hard_clip(name, seed=seed, index=i, ...)`, the same for any
    number of `workers`."""
    classes = list(classes)
    if not classes:
        raise ConfigError("no classes to generate")
    for name in classes:
        check_hard_class(name)
    out = write_class_clips(out_dir, classes, clips_per_class, workers, progress,
                            _write_hard_clip, seed, frames, fps, size)
    log.info("hard suite: %d classes x %d clips in %s", len(classes), clips_per_class, out)
    return out


def example_grid(path: Path | str, *, classes: Sequence[str] = HARD_CLASSES, seed: int = 0,
                 columns: int = 4, frames: int = 96, size: tuple[int, int] = (160, 120),
                 index: int = 0) -> Path:
    """Write a PNG of clip `index` of each class (one row each, its name on the left) at
    `columns` evenly spaced frames, for the documentation."""
    height = _check_size(size)[1]
    label_w = 120
    rows = []
    for name in classes:
        clip = render_hard_clip(name, seed=seed, frames=frames, size=size, index=index)
        picks = np.linspace(0, frames - 1, columns).round().astype(int)
        label = np.full((height, label_w, 3), 255, np.uint8)
        cv2.putText(label, name, (4, height // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 0), 1, cv2.LINE_AA)
        gap = np.full((height, 2, 3), 255, np.uint8)
        cells = [label]
        for k in picks:
            cells += [clip.frames[k], gap]
        rows.append(np.concatenate(cells, axis=1))
        rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
    path = Path(path)
    if not cv2.imwrite(str(path), np.concatenate(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise ConfigError(f"{path}: cannot write the PNG")
    return path
