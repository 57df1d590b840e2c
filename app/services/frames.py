"""What a video source delivers: its description (`SourceInfo`) and its frames.

`FrameRingBuffer` keeps the newest decoded frames for the recognition worker; `rgb_to_qimage`
turns a frame into a picture. The decoder that fills both is `video_source.py`.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np
from PySide6.QtGui import QImage

DEFAULT_FPS = 25.0
"""Frame rate assumed when the container reports none (0, NaN) or an absurd one."""

MIN_FPS, MAX_FPS = 1.0, 1000.0

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")

RING_CAPACITY = 128
"""Frames kept for the recognition worker: two 64-frame windows."""

RING_SHORT_SIDE = 256
"""Frames kept in the ring are shrunk to this shorter side (the network reads 112-pixel crops);
128 full-HD frames would otherwise hold 800 MB."""


class SourceKind(str, Enum):
    """Where the pictures come from."""

    FILE = "file"
    CAMERA = "camera"
    STREAM = "stream"


@dataclass(frozen=True)
class SourceInfo:
    """What an opened source delivers. Frame numbers run from 0 to frame_count - 1."""

    kind: SourceKind
    name: str  # what the user reads: the file name, "Camera 0", the URL
    location: str  # what was opened: the file's absolute path, the camera index, the URL
    fps: float  # frames per second; DEFAULT_FPS when the source reports none
    frame_count: int | None  # None for live sources (camera, stream)
    width: int
    height: int

    @property
    def is_live(self) -> bool:
        """Cameras and streams: no seeking, no end, frames arrive at their own pace."""
        return self.kind is not SourceKind.FILE

    @property
    def duration(self) -> float | None:
        """Seconds, or None for a live source."""
        return None if self.frame_count is None else self.frame_count / self.fps

    def time_of(self, index: int) -> float:
        """Seconds from the start at which frame `index` is shown."""
        return index / self.fps


def sane_fps(value: float) -> float:
    """`value` when it is a believable frame rate, else DEFAULT_FPS."""
    if not math.isfinite(value) or not MIN_FPS <= value <= MAX_FPS:
        return DEFAULT_FPS
    return float(value)


def is_stream_url(text: str) -> bool:
    """True when `text` looks like a URL of a network stream OpenCV can read."""
    scheme, sep, rest = text.strip().partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES and bool(rest)


class FrameRingBuffer:
    """The last decoded frames with their numbers, safe to read from any thread.

    The decoder thread pushes; the recognition worker reads windows with `recent`. Numbers
    increase along the buffer but may have gaps where playback skipped frames to keep time;
    the buffer is emptied whenever the source changes or playback jumps.
    """

    def __init__(self, capacity: int = RING_CAPACITY, short_side: int | None = RING_SHORT_SIDE):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.short_side = short_side
        self._frames: deque[tuple[int, np.ndarray]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def push(self, index: int, frame: np.ndarray) -> None:
        """Keep `frame` (RGB uint8, H x W x 3) as frame number `index`; the array is not copied
        unless it has to be shrunk, and is made read-only."""
        height, width = frame.shape[:2]
        short = min(height, width)
        if self.short_side is not None and short > self.short_side:
            scale = self.short_side / short
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frame.flags.writeable = False
        with self._lock:
            if self._frames and index <= self._frames[-1][0]:
                self._frames.clear()  # went backwards: the old frames no longer lead here
            self._frames.append((index, frame))

    def recent(self, count: int) -> list[tuple[int, np.ndarray]]:
        """Up to `count` of the newest (index, frame) pairs, oldest first."""
        if count <= 0:
            return []
        with self._lock:
            n = len(self._frames)
            return [self._frames[i] for i in range(max(0, n - count), n)]

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage holding its own copy of an RGB uint8 (H, W, 3) array."""
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, rgb.strides[0], QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer, which may go away
