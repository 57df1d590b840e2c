"""Which frames of a video make a clip: pure functions on frame indices.

Indices are 0-based and relative to the start of the video (or of a segment inside it); the
caller adds the segment's first frame. A window of `window` consecutive source frames keeps
every `stride`-th one.

Windows never wrap around: a video is covered by windows that lie inside it, the last one
ending at the video's last frame, and a video shorter than one window gives one window whose
missing frames repeat the video's last frame. (Wrapping to the start would put the first
action into the last window.) Only training clips of short videos loop from their start, the
paper's rule: a training clip holds one action, so its loop shows that action again.
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

    Each row is start, start + stride, ... < start + window; positions past the video's end
    repeat its last frame (num_frames - 1).
    """
    _check_positive("num_frames", num_frames)
    _check_positive("window", window)
    _check_positive("stride", stride)
    starts_arr = np.asarray(starts, dtype=np.int64).reshape(-1, 1)
    offsets = np.arange(0, window, stride, dtype=np.int64).reshape(1, -1)
    return np.minimum(starts_arr + offsets, num_frames - 1)


def window_starts(num_frames: int, window: int, hop: int) -> np.ndarray:
    """First frames of sliding windows over a video of `num_frames` frames: 0, hop, 2 hop, ...
    while the window fits, then one more ending at the video's last frame (start
    num_frames - window) when frames after the last fitting window are left uncovered.

    Every frame lies in at least one window and no window reaches past the video's end. A
    video shorter than one window gives the one window [0]. Int64 array, ascending.
    """
    _check_positive("num_frames", num_frames)
    _check_positive("window", window)
    _check_positive("hop", hop)
    if num_frames <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, num_frames - window + 1, hop, dtype=np.int64)
    last = num_frames - window
    if starts[-1] < last:
        starts = np.append(starts, np.int64(last))
    return starts


def window_ends(starts: np.ndarray, num_frames: int, window: int) -> np.ndarray:
    """Exclusive last frames of the windows beginning at `starts` (cut at the video's end)."""
    return np.minimum(np.asarray(starts, dtype=np.int64) + window, num_frames)


def train_indices(num_frames: int, spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """Training clip: a random run of spec.window consecutive frames, every
    spec.frame_stride-th kept; int64 (spec.frames,). A video shorter than a window loops
    from its start (the paper's rule; the clip shows its one action again)."""
    _check_positive("num_frames", num_frames)
    start = int(rng.integers(0, num_frames - spec.window + 1)) if num_frames > spec.window else 0
    return (start + np.arange(0, spec.window, spec.frame_stride, dtype=np.int64)) % num_frames


def center_indices(num_frames: int, spec: InputSpec) -> np.ndarray:
    """One deterministic clip from the middle of the video; int64 (spec.frames,). A video
    shorter than a window repeats its last frame, as in the test protocol."""
    _check_positive("num_frames", num_frames)
    start = max(0, (num_frames - spec.window) // 2)
    return window_indices([start], num_frames, spec.window, spec.frame_stride)[0]


def test_indices(num_frames: int, spec: InputSpec) -> np.ndarray:
    """Test protocol: the video cut into consecutive, non-overlapping spec.window-frame
    windows, every spec.frame_stride-th frame kept; int64 (N, spec.frames).

    Frames left after the last whole window are covered by one more window ending at the
    video's last frame (it overlaps the one before); a video shorter than one window gives one
    window completed by repeating its last frame.
    """
    starts = window_starts(num_frames, spec.window, spec.window)
    return window_indices(starts, num_frames, spec.window, spec.frame_stride)


test_indices.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
