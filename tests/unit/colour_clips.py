"""Tiny videos for tests that train: a square of a class's colour moving over a tinted,
noisy background."""

from pathlib import Path

import cv2
import numpy as np


def write_clip(path: Path, colour: tuple[int, int, int], rng: np.random.Generator,
               frames: int = 24) -> Path:
    """A tinted, noisy background with a square of the class colour moving across it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = 48, 40
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    tint = 0.35 * np.array(colour) + rng.uniform(40, 90)
    x0, y0, v = rng.integers(0, 30), rng.integers(0, 25), rng.uniform(-2, 2)
    for k in range(frames):
        img = np.clip(tint + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
        x = int(x0 + v * k) % (w - 14)
        img[y0:y0 + 14, x:x + 14] = colour
        writer.write(img)
    writer.release()
    return path
