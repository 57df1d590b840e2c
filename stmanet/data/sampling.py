"""Which frames of a video make a clip: pure functions on frame indices.

Indices are 0-based and relative to the start of the video (or of a segment inside it); the
caller adds the segment's first frame. A window of `window` consecutive source frames keeps
every `stride`-th one. Positions past the end of the video wrap to its start, so a video
shorter than a window loops (the paper's rule for short videos).
"""

from __future__ import annotations

import numpy as np

from stmanet.config import InputSpec


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def window_indices(
    starts: np.ndarray | list[int], num_frames: int, window: int, stride: int = 1
) -> np.ndarray:
    """Frame indices of windows beginning at `starts`: int64 (len(starts), ceil(window / stride)).

    Each row is start, start + stride, ... < start + window, wrapped modulo `num_frames`.
    """
    _check_positive("num_frames", num_frames)
    _check_positive("window", window)
    _check_positive("stride", stride)
    starts_arr = np.asarray(starts, dtype=np.int64).reshape(-1, 1)
    offsets = np.arange(0, window, stride, dtype=np.int64).reshape(1, -1)
    return (starts_arr + offsets) % num_frames


def window_starts(num_frames: int, window: int, hop: int, *, min_fill: float = 1.0) -> np.ndarray:
    """First frames of sliding windows 0, hop, 2 hop, ... over a video of `num_frames` frames.

    A window is kept while at least `min_fill` of it (a fraction of `window`) lies inside the
    video: 1.0 keeps only whole windows, 0.5 also a last window that is at least half full.
    The first window is always kept, however short the video. Int64 array, ascending.
    """
    _check_positive("num_frames", num_frames)
    _check_positive("window", window)
    _check_positive("hop", hop)
    if not 0.0 < min_fill <= 1.0:
        raise ValueError(f"min_fill must be in (0, 1], got {min_fill}")
    needed = min_fill * window
    starts = np.arange(0, num_frames, hop, dtype=np.int64)
    keep = (num_frames - starts) >= needed - 1e-9
    keep[0] = True
    return starts[keep]


def train_indices(num_frames: int, spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """Training clip: a random run of spec.window consecutive frames, every
    spec.frame_stride-th kept; int64 (spec.frames,). Short videos loop from their start."""
    _check_positive("num_frames", num_frames)
    start = int(rng.integers(0, num_frames - spec.window + 1)) if num_frames > spec.window else 0
    return window_indices([start], num_frames, spec.window, spec.frame_stride)[0]


def center_indices(num_frames: int, spec: InputSpec) -> np.ndarray:
    """One deterministic clip from the middle of the video (for quick validation);
    int64 (spec.frames,). Short videos loop from their start."""
    _check_positive("num_frames", num_frames)
    start = max(0, (num_frames - spec.window) // 2)
    return window_indices([start], num_frames, spec.window, spec.frame_stride)[0]


def test_indices(num_frames: int, spec: InputSpec) -> np.ndarray:
    """Test protocol: the video cut into consecutive, non-overlapping spec.window-frame
    windows, every spec.frame_stride-th frame kept; int64 (N, spec.frames).

    A last partial window is kept if at least half full and completed by repeating frames
    from the start of the video; a video shorter than one window gives one looped window.
    """
    starts = window_starts(num_frames, spec.window, spec.window, min_fill=0.5)
    return window_indices(starts, num_frames, spec.window, spec.frame_stride)


test_indices.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
