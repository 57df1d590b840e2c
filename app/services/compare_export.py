"""The comparison as one video: both pictures side by side, each with its overlay burnt in,
in step as the comparison lines them up (H.264 MP4, the encoder settings and the
write-then-rename of app/services/export.py).

The first video sets the clock: the export has its frame count and frame rate; each of its
frames is put beside the second video's frame that the alignment pairs with it (the first or
last frame where the second has not started or has ended). Both are scaled to the same
height (the first's, at most MAX_HEIGHT) with a thin dark gap between them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from app.services.export import ExportError, FrameRenderer, frame_rate, write_h264
from app.services.jobs import CancelCheck, Progress
from stmanet.data.decode import iter_frames, probe
from stmanet.errors import STMANetError

log = logging.getLogger(__name__)

MAX_HEIGHT = 720
GAP = 8  # pixels between the two pictures
GAP_COLOUR = (18, 19, 21)


def _scaled(picture: np.ndarray, height: int) -> np.ndarray:
    h, w = picture.shape[:2]
    if h == height:
        return picture
    width = max(2, round(w * height / h))
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA if h > height
                      else cv2.INTER_LINEAR)


def side_by_side(left: np.ndarray, right: np.ndarray, height: int) -> np.ndarray:
    """Two RGB pictures at `height`, left and right of a GAP-pixel strip."""
    a, b = _scaled(left, height), _scaled(right, height)
    gap = np.empty((height, GAP, 3), dtype=np.uint8)
    gap[:] = GAP_COLOUR
    return np.ascontiguousarray(np.concatenate([a, gap, b], axis=1))


class _Follower:
    """The frames of a video in order, handing out frame `index` for indices that never go
    back (a monotone alignment); an index behind the last one read gets that one again."""

    def __init__(self, path: Path) -> None:
        self._frames: Iterator[tuple[int, np.ndarray]] = iter_frames(path)
        self._index, self._frame = -1, None

    def at(self, index: int) -> np.ndarray | None:
        while self._index < index:
            try:
                self._index, self._frame = next(self._frames)
            except StopIteration:
                break
        return self._frame


def export_side_by_side(source_a: Path, source_b: Path, destination: Path,
                        b_frames: Sequence[int], render_a: FrameRenderer,
                        render_b: FrameRenderer, *, progress: Progress | None = None,
                        cancelled: CancelCheck | None = None) -> Path:
    """Frame i of `source_a` beside frame `b_frames[i]` of `source_b` (the whole map at
    once, e.g. a numpy array; clamped to the video), each through its renderer, as an H.264
    MP4 at A's frame rate; written to a temporary file and renamed over `destination` when
    complete (a cancel or an error leaves nothing). Errors name the file."""
    source_a, source_b, destination = Path(source_a), Path(source_b), Path(destination)
    if destination.resolve() in (source_a.resolve(), source_b.resolve()):
        raise ExportError("Choose another file name: the export would overwrite a video.")
    try:
        info_a, info_b = probe(source_a), probe(source_b)
    except STMANetError as exc:
        raise ExportError(str(exc)) from exc
    rate = frame_rate(info_a.fps)
    last_b = max(0, info_b.frame_count - 1)
    wanted_b = np.clip(np.asarray(b_frames, dtype=np.int64).reshape(-1), 0, last_b)
    if len(wanted_b) == 0:
        raise ExportError(f"{source_a.name}: no frame of it is paired with {source_b.name}")
    height = min(MAX_HEIGHT, info_a.height) // 2 * 2
    follower = _Follower(source_b)

    def pictures() -> Iterator[np.ndarray]:
        for index, frame in iter_frames(source_a):
            wanted = int(wanted_b[min(index, len(wanted_b) - 1)])
            other = follower.at(wanted)
            right = render_b(other, wanted) if other is not None else np.zeros_like(frame)
            yield side_by_side(render_a(frame, index), right, height)

    written = write_h264(destination, pictures(), rate, info_a.frame_count, progress=progress,
                         cancelled=cancelled)
    log.info("wrote %s (%d frames side by side, H.264 at %s fps)", destination, written, rate)
    return destination
