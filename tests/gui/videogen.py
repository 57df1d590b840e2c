"""Small generated videos whose frames carry their own number.

The top third of every frame is a row of eight black or white blocks: the frame number in
binary, least significant bit on the left. It survives MPEG-4 compression and scaling, so a
test can read which frame is really on screen, not just what a counter says.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtGui import QImage

BITS = 8
WHITE, BLACK = 235, 20


def make_frame(index: int, width: int = 160, height: int = 120) -> np.ndarray:
    """BGR frame number `index` (0 <= index < 256)."""
    if not 0 <= index < 2**BITS:
        raise ValueError(f"frame numbers run from 0 to {2**BITS - 1}")
    frame = np.empty((height, width, 3), dtype=np.uint8)
    band = height // 3
    # Below the code: a colour that drifts with time and a moving square, to look like video.
    frame[band:] = (60 + index % 120, 90, 160 - index % 100)
    x = (index * 3) % max(1, width - band)
    frame[band + band // 4 : band + band // 4 + band, x : x + band] = (40, 200, 240)
    block = width // BITS
    for bit in range(BITS):
        value = WHITE if (index >> bit) & 1 else BLACK
        frame[:band, bit * block : (bit + 1) * block] = value
    return frame


def write_video(
    path: Path, frames: int, *, fps: float = 25.0, width: int = 160, height: int = 120
) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    try:
        for index in range(frames):
            writer.write(make_frame(index % 2**BITS, width, height))
    finally:
        writer.release()
    return path


def qimage_to_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = image.height(), image.width(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def frame_number(picture: QImage | np.ndarray) -> int:
    """The number written into a frame (of any size: the code is read at relative places)."""
    rgb = qimage_to_rgb(picture) if isinstance(picture, QImage) else picture
    height, width = rgb.shape[:2]
    y = height // 6
    value = 0
    for bit in range(BITS):
        x = int((bit + 0.5) * width / BITS)
        patch = rgb[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]
        if patch.mean() > (WHITE + BLACK) / 2:
            value |= 1 << bit
    return value
