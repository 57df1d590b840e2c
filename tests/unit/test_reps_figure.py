"""The figure rather than a background that a tracking camera scrolls past (gait counting)."""

import numpy as np

from stmanet.engine.reps import EMBED_SIDE, count_reps
from stmanet.engine.reps_figure import background_weights, figure_only, picture_shape

FPS = 25.0
H, W = 36, 48


def _texture(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A wall pattern that repeats every 12 pixels along x."""
    return np.sin(2 * np.pi * x / 12.0) * np.cos(2 * np.pi * y / 9.0)


def _pictures(frames: int, speed: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Pictures (T, H, W) of a figure standing in the middle (columns 20-27) whose legs
    swing with a period of `step` frames, over a wall scrolling `speed` pixels a frame; and
    the figure's mask."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    figure = (x >= 20) & (x < 28)
    out = np.empty((frames, H, W), np.float32)
    for t in range(frames):
        wall = _texture(x + speed * t, y)
        swing = np.sin(2 * np.pi * t / step)
        body = np.exp(-((x - 24) ** 2) / 4.0) * (y < 20)
        legs = np.exp(-((x - 24 - 2.5 * swing) ** 2) / 2.0) * (y >= 20)
        out[t] = np.where(figure, 2.0 * (body + legs), wall)
    return out, figure


def test_pixels_scrolling_with_the_background_are_weighted_down():
    pictures, _ = _pictures(200, speed=1.0, step=9.0)
    weights = background_weights(pictures)
    assert weights is not None and weights.shape == (H, W)
    assert weights[:, 22:26].mean() > 0.8  # the figure (the blur runs into its edges)
    assert weights[:, :12].mean() < 0.2 and weights[:, 36:].mean() < 0.2


def test_a_fixed_camera_leaves_the_embeddings_as_they_are():
    pictures, _ = _pictures(200, speed=0.0, step=9.0)
    assert background_weights(pictures) is None
    flat = pictures.reshape(len(pictures), -1)
    assert figure_only(flat, EMBED_SIDE) is flat


def test_the_picture_shape_is_found_from_the_embeddings():
    pictures, _ = _pictures(20, speed=1.0, step=9.0)
    assert picture_shape(H * W, pictures.reshape(20, -1), EMBED_SIDE) == (H, W)
    portrait = np.ascontiguousarray(pictures.transpose(0, 2, 1)).reshape(20, -1)
    assert picture_shape(H * W, portrait, EMBED_SIDE) == (W, H)
    assert picture_shape(40, np.zeros((3, 40)), EMBED_SIDE) is None  # not a picture


def test_a_gait_under_a_dominant_scrolling_wall_is_counted_in_steps():
    # the wall repeats every 12 frames (12 pixels at a pixel a frame), the steps every 9:
    # the whole picture comes back only every 36 frames (4 steps) and the wall outweighs the
    # legs; with the wall weighted down the legs' stride of two steps is the cycle
    pictures, _ = _pictures(400, speed=1.0, step=18.0)  # a stride (both legs) of 18 frames
    rng = np.random.default_rng(0)
    pictures += 0.05 * rng.standard_normal(pictures.shape).astype(np.float32)
    emb = pictures.reshape(len(pictures), -1)
    (counted,) = count_reps(emb, FPS, [("walking", 0, len(emb))])
    steps = 2 * 400 / 18.0  # 44.4
    assert counted.total is not None and abs(counted.total - steps) <= 1, counted
