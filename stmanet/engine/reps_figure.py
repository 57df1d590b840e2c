"""The figure rather than the background: for counting walking, jogging and running.

Gaits are often filmed by a camera that follows the athlete: the figure stays in the picture
while the background (a wall, cones, the floor's edge) scrolls past. Its texture then weighs
in the frame embeddings (stmanet.engine.reps.frame_embedding, small pictures of the frame's
edges) as much as the legs do, and it comes back at its own period, not the step's, so that
consecutive cycles of the picture are alike only where the two periods meet.

`figure_only(embeddings)` gives each frame's embedding picture with the pixels that move
with the background weighted down. The horizontal speed of every pixel over the segment
comes from the brightness-constancy equation, least squares over all its frames (the change
of a pixel from one frame to the next against the picture's slope across it): where the
background scrolls it moves at the camera's speed, where the figure is it stays near 0 (the
limbs swing both ways). A pixel's weight is 1 - |speed| / (half the background's speed, the
90th percentile over the picture), clipped to 0-1 and blurred. Where nothing scrolls (a fixed
camera: that speed under `MIN_SPEED`, or less than `MIN_AREA` of the picture moving at half
of it) the embeddings are returned as they are. Two products over the segment's pictures and
two small blurs: a few milliseconds for a segment of a thousand frames.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_SPEED = 0.1
"""Background speed (embedding-picture pixels a frame, 90th percentile of all pixels) under
which nothing is taken to scroll."""

MAX_PAIRS = 256
"""Pairs of consecutive frames the speeds are measured over, at most (evenly spaced)."""

MIN_AREA = 0.3
"""Share of the picture that must move at half that speed or more for a scrolling background."""


def picture_shape(dims: int, embeddings: np.ndarray, side: int) -> tuple[int, int] | None:
    """(height, width) of the embedding pictures of `dims` values, `side` pixels on the
    longer side: a landscape or a portrait picture, whichever has neighbouring pixels more
    alike (a picture is smooth, a wrongly folded one is not). None if `dims` is no such
    picture."""
    if dims % side or dims // side > side or dims < 4 * side:
        return None
    other = dims // side
    shapes = [(other, side)] if other == side else [(other, side), (side, other)]
    if len(shapes) == 1:
        return shapes[0]
    sample = np.asarray(embeddings[:: max(1, len(embeddings) // 16)], dtype=np.float32)

    def smooth(shape: tuple[int, int]) -> float:
        pics = sample.reshape(len(sample), *shape)
        a = pics[:, 1:, :].ravel() @ pics[:, :-1, :].ravel()
        b = pics[:, :, 1:].ravel() @ pics[:, :, :-1].ravel()
        return float(a + b)

    return max(shapes, key=smooth)


def background_weights(pictures: np.ndarray, *, blur: float = 1.5) -> np.ndarray | None:
    """(H, W) weights 0-1 of pixels that do not move with a scrolling background, from
    pictures (T, H, W); None where the background does not scroll (see the module text).
    At most MAX_PAIRS pairs of consecutive frames, evenly spaced, are looked at."""
    if len(pictures) < 3:
        return None
    p = np.asarray(pictures, dtype=np.float32)
    first = np.unique(np.linspace(0, len(p) - 2, min(MAX_PAIRS, len(p) - 1)).astype(int))
    a, b = p[first], p[first + 1]
    slope = np.zeros_like(a)  # across the picture, at the middle of the two frames
    slope[:, :, 1:-1] = 0.25 * (a[:, :, 2:] - a[:, :, :-2] + b[:, :, 2:] - b[:, :, :-2])
    change, slope = (b - a).reshape(len(a), -1), slope.reshape(len(a), -1)
    num = np.einsum("ij,ij->j", change, slope).reshape(p.shape[1:])
    den = np.einsum("ij,ij->j", slope, slope).reshape(p.shape[1:])
    num, den = (cv2.GaussianBlur(x, (0, 0), blur) for x in (num, den))
    speed = np.abs(num / (den + 1e-9))
    top = float(np.percentile(speed, 90))
    if top < MIN_SPEED or float(np.mean(speed > 0.5 * top)) < MIN_AREA:
        return None
    weights = np.clip(1.0 - speed / (0.5 * top), 0.0, 1.0)
    return cv2.GaussianBlur(weights, (0, 0), blur)


def figure_only(embeddings: np.ndarray, side: int) -> np.ndarray:
    """Embeddings (T, D) with the pixels of a scrolling background weighted down, or as they
    are where nothing scrolls or D is no picture of `side` pixels on its longer side."""
    shape = picture_shape(embeddings.shape[1], embeddings, side)
    if shape is None:
        return embeddings
    pictures = embeddings.reshape(len(embeddings), *shape)
    weights = background_weights(pictures)
    if weights is None:
        return embeddings
    return (pictures * weights[None].astype(np.float32)).reshape(len(embeddings), -1)
