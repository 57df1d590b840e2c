"""Turning decoded frames into the network's input: crop, resize, flip, normalise.

Every frame of a clip gets the same crop and the same flip. Frames go in as RGB uint8
(T, H, W, 3) and the clip comes out as float32 (3, T, S, S), scaled to [0, 1] and normalised
with the InputSpec's mean and std.

Resizing is one cv2.resize per frame: on 3-channel images OpenCV's optimised paths beat one
call on the frames stacked along the channel axis (measured: 0.9 ms vs 3.5 ms for 32 frames
at 160x120). Normalisation and layout change are done once for the whole clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from stmanet.config import InputSpec

MIN_CROP_SCALE = 0.5
MAX_CROP_SCALE = 1.0
FLIP_PROBABILITY = 0.5


@dataclass(frozen=True)
class CropBox:
    """A crop inside a frame, in pixels, and whether to mirror it left-right afterwards."""

    top: int
    left: int
    height: int
    width: int
    flip: bool = False

    def check_inside(self, frame_height: int, frame_width: int) -> None:
        if (
            self.top < 0
            or self.left < 0
            or self.height < 1
            or self.width < 1
            or self.top + self.height > frame_height
            or self.left + self.width > frame_width
        ):
            raise ValueError(f"{self} does not fit in a {frame_width}x{frame_height} frame")


def random_crop_box(
    frame_height: int,
    frame_width: int,
    rng: np.random.Generator,
    *,
    min_scale: float = MIN_CROP_SCALE,
    max_scale: float = MAX_CROP_SCALE,
    flip_probability: float = FLIP_PROBABILITY,
) -> CropBox:
    """Training crop: height and width each drawn independently from
    [min_scale, max_scale] x the frame's shorter side, placed at random; a random flip."""
    short = min(frame_height, frame_width)
    lo = max(1, math.ceil(min_scale * short))
    hi = max(lo, math.floor(max_scale * short))
    height = int(rng.integers(lo, hi + 1))
    width = int(rng.integers(lo, hi + 1))
    top = int(rng.integers(0, frame_height - height + 1))
    left = int(rng.integers(0, frame_width - width + 1))
    flip = bool(rng.random() < flip_probability)
    return CropBox(top, left, height, width, flip)


def center_crop_box(frame_height: int, frame_width: int) -> CropBox:
    """Test crop: the centred square whose side is the frame's shorter side."""
    side = min(frame_height, frame_width)
    return CropBox((frame_height - side) // 2, (frame_width - side) // 2, side, side, False)


def crop_resize(frames: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Crop every frame of (T, H, W, 3) uint8 with `box`, resize to (size, size), flip if the
    box says so; returns uint8 (T, size, size, 3). INTER_AREA when shrinking in both
    directions, INTER_LINEAR otherwise."""
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {frames.shape}")
    box.check_inside(frames.shape[1], frames.shape[2])
    shrinking = box.height >= size and box.width >= size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    crops = frames[:, box.top : box.top + box.height, box.left : box.left + box.width]
    out = np.empty((frames.shape[0], size, size, 3), dtype=np.uint8)
    for t in range(frames.shape[0]):
        if (box.height, box.width) == (size, size):
            out[t] = crops[t]
        else:
            cv2.resize(crops[t], (size, size), dst=out[t], interpolation=interpolation)
        if box.flip:
            cv2.flip(out[t], 1, dst=out[t])
    return out


def to_tensor(
    frames: np.ndarray, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
    """RGB uint8 (T, S, S, 3) -> float32 (3, T, S, S), (x / 255 - mean) / std per channel."""
    clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)  # (3, T, S, S)
    clip = clip.to(torch.float32, memory_format=torch.contiguous_format)
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=torch.float32).view(3, 1, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std, strict=True)], dtype=torch.float32)
    return clip.mul_(scale).sub_(shift.view(3, 1, 1, 1))


def train_transform(frames: np.ndarray, spec: InputSpec, rng: np.random.Generator, *,
                    min_crop: float = MIN_CROP_SCALE) -> torch.Tensor:
    """Training: one random crop and flip for the whole clip; float32 (3, T, S, S).

    min_crop: the smallest crop side as a share of the frame's shorter side (the paper: 0.5).
    """
    box = random_crop_box(frames.shape[1], frames.shape[2], rng, min_scale=min_crop)
    return to_tensor(crop_resize(frames, box, spec.size), spec.mean, spec.std)


def test_transform(frames: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """Test: centre crop of the shorter side, resized; float32 (3, T, S, S)."""
    box = center_crop_box(frames.shape[1], frames.shape[2])
    return to_tensor(crop_resize(frames, box, spec.size), spec.mean, spec.std)


test_transform.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
