"""Reading frames out of video files with OpenCV.

Frames are numbered in decode order: frame k is the k-th picture the decoder hands out, which
is what a variable-frame-rate video needs (its timestamps are not evenly spaced). Container
metadata is not trusted: `probe` checks the promised frame count and counts the frames itself
when the promise is broken. Every frame comes back as RGB, rotated upright once according to
the container's rotation metadata.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np

from stmanet.errors import VideoError, printable_path

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0
"""Frame rate assumed when a file reports none or an absurd one."""

MIN_FPS, MAX_FPS = 1.0, 1000.0

SEEK_MIN_FRAMES = 50
"""Frames before the first wanted one are skipped by decoding unless there are at least this
many; then the reader seeks once. Decoding a few dozen small frames is cheaper than a seek and
always exact, while seeking by frame number is approximate on variable-frame-rate files."""

_MAX_CLAIMED_FRAMES = 50_000_000  # metadata beyond this is garbage, not a video

_ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}

BeyondEnd = Literal["loop", "error"]


@dataclass(frozen=True)
class VideoInfo:
    """What a video file really holds (checked, not just read from its header)."""

    path: Path
    frame_count: int  # frames that actually decode
    fps: float  # average frame rate; DEFAULT_FPS when the file reports none
    width: int  # as displayed, after rotation
    height: int
    rotation: int  # degrees clockwise from the container metadata: 0, 90, 180 or 270
    claimed_frame_count: int = -1  # what the container said; -1 when it said nothing usable

    @property
    def duration(self) -> float:
        """Seconds, from the frame count and the (average) frame rate."""
        return self.frame_count / self.fps

    @property
    def truncated(self) -> bool:
        """True when the container promised more frames than decode."""
        return self.claimed_frame_count > self.frame_count


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def opencv_filename(path: Path | str, *, write: bool = False) -> Iterator[str]:
    """A name for `path` that OpenCV can open, valid inside the `with` block.

    OpenCV takes file names as UTF-8 text, and a name that is not valid UTF-8 (bytes such as
    0xff in a Linux file name, which Python holds as lone surrogates) crashes it. Such a file
    is opened here and handed over as /proc/self/fd/N; a file to be written is named through
    its opened folder (/proc/self/fd/N/name), so its own name must be UTF-8. Where there is no
    /proc, VideoError asks for the file to be renamed.
    """
    path = Path(path)
    text = str(path)
    if _is_utf8(text):
        yield text
        return
    if write and not _is_utf8(path.name):
        raise VideoError(path, "cannot write a video under a name that is not valid UTF-8")
    if not Path("/proc/self/fd").is_dir():
        raise VideoError(path, "the file name is not valid UTF-8 and cannot be opened here: "
                         "rename the file")
    try:
        if write:
            fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        else:
            fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise VideoError(path, f"cannot be opened: {exc.strerror}") from exc
    try:
        yield f"/proc/self/fd/{fd}/{path.name}" if write else f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _sane_fps(value: float) -> float:
    if not math.isfinite(value) or not MIN_FPS <= value <= MAX_FPS:
        return DEFAULT_FPS
    return float(value)


def _rotation_from_meta(value: float) -> int:
    """The container's rotation as 0, 90, 180 or 270 (OpenCV reports garbage when it has none)."""
    if not math.isfinite(value) or abs(value) > 3600:
        return 0
    return round(value / 90.0) * 90 % 360


class _Capture:
    """An opened cv2.VideoCapture that hands out upright RGB frames.

    Rotation: OpenCV's FFmpeg backend rotates frames itself when CAP_PROP_ORIENTATION_AUTO is
    on (its default). We switch it on explicitly and read the switch back; only when the
    backend cannot do it do we rotate by hand, so a frame is never rotated twice.
    """

    def __init__(self, path: Path | str, *, backend_rotation: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(self.path, "file not found")
        if self.path.is_dir():
            raise VideoError(self.path, "is a folder, not a video file")
        if self.path.stat().st_size == 0:
            raise VideoError(self.path, "file is empty (0 bytes)")
        try:
            with opencv_filename(self.path) as name:
                cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
                if not cap.isOpened():
                    cap = cv2.VideoCapture(name)
        except cv2.error as exc:
            raise VideoError(self.path, f"cannot be opened: {exc}") from exc
        if not cap.isOpened():
            raise VideoError(
                self.path,
                "cannot be opened as a video (unknown format, or a damaged or truncated file)",
            )
        self._cap = cap
        self.rotation = _rotation_from_meta(cap.get(cv2.CAP_PROP_ORIENTATION_META))
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1.0 if backend_rotation else 0.0)
        backend_rotates = cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1.0
        self._manual_rotation = 0 if backend_rotates else self.rotation

    def __enter__(self) -> _Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        self._cap.release()

    def get(self, prop: int) -> float:
        return float(self._cap.get(prop))

    def seek(self, frame: int) -> bool:
        try:
            return bool(self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(frame)))
        except cv2.error:
            return False

    def grab(self) -> bool:
        try:
            return bool(self._cap.grab())
        except cv2.error as exc:
            raise VideoError(self.path, f"decoder failed: {exc}") from exc

    def retrieve(self) -> np.ndarray | None:
        """The frame last grabbed as upright RGB uint8 (H, W, 3), or None."""
        try:
            ok, frame = self._cap.retrieve()
        except cv2.error as exc:
            raise VideoError(self.path, f"decoder failed: {exc}") from exc
        if not ok or frame is None:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
        else:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if self._manual_rotation:
            frame = cv2.rotate(frame, _ROTATE_CODES[self._manual_rotation])
        return frame

    def read(self) -> np.ndarray | None:
        return self.retrieve() if self.grab() else None


def all_frames_stored(path: Path, claimed: int) -> bool:
    """Whether the file holds the data of all `claimed` frames: its video packets, read
    without decoding them (a few milliseconds for a long video), are as many. A truncated
    file's index still promises every frame, but its packets stop where its data does."""
    try:
        with opencv_filename(path) as name, av.open(name) as container:
            stream = container.streams.video[0]
            stored = sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, IndexError, OSError, ValueError):
        return False
    return stored == claimed


def probe(path: Path | str) -> VideoInfo:
    """Open a video, check what it holds and return its VideoInfo.

    The claimed frame count is taken when the file holds a packet for every claimed frame;
    otherwise (a truncated file, a container that does not say) the frames are counted by
    decoding them (a seek is no proof: in a truncated file a seek to the claimed last frame
    can succeed on a stale frame).
    Raises VideoError for missing, empty or unreadable files and for files in which no frame
    decodes.
    """
    path = Path(path)
    with _Capture(path) as cap:
        claimed = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        claimed_count = (
            int(claimed) if math.isfinite(claimed) and 0 < claimed < _MAX_CLAIMED_FRAMES else -1
        )
        fps = _sane_fps(cap.get(cv2.CAP_PROP_FPS))
        first = cap.read()
        if first is None:
            raise VideoError(path, "no frame could be decoded (empty or damaged video stream)")
        height, width = first.shape[:2]
        rotation = cap.rotation
        if claimed_count > 0 and all_frames_stored(path, claimed_count):
            count = claimed_count
        else:
            # Counted by decoding: a seek past the real end of a truncated file can
            # "succeed" and hand out a stale frame, so the promised last frame is no proof.
            count = 1
            while cap.grab():
                count += 1
    if claimed_count > 0 and count != claimed_count:
        log.warning("%s: the file claims %d frames but %d decode", printable_path(path),
                    claimed_count, count)
    if count < 1:
        raise VideoError(path, "no frame could be decoded (empty or damaged video stream)")
    return VideoInfo(
        path=path,
        frame_count=count,
        fps=fps,
        width=int(width),
        height=int(height),
        rotation=rotation,
        claimed_frame_count=claimed_count,
    )


def _decode_sorted(
    path: Path, wanted: np.ndarray, *, seek: bool
) -> tuple[dict[int, np.ndarray], int | None, bool]:
    """Decode the frames numbered `wanted` (sorted, unique) in one sequential pass.

    Returns (frames by index, the video's frame count if the pass ran into the end else None,
    whether the pass began with a seek).
    """
    frames: dict[int, np.ndarray] = {}
    end: int | None = None
    with _Capture(path) as cap:
        pos = 0
        first = int(wanted[0])
        seeked = seek and first >= SEEK_MIN_FRAMES and cap.seek(first)
        if seeked:
            pos = first
        k = 0  # next entry of `wanted`
        last = int(wanted[-1])
        while pos <= last:
            if not cap.grab():
                end = pos
                break
            if pos == wanted[k]:
                frame = cap.retrieve()
                if frame is None:
                    end = pos
                    break
                frames[pos] = frame
                k += 1
            pos += 1
    return frames, end, seeked


def read_frames(
    path: Path | str,
    indices: Sequence[int] | np.ndarray,
    *,
    beyond_end: BeyondEnd = "loop",
    seek: bool = True,
) -> np.ndarray:
    """The frames numbered `indices` (decode order, 0-based) as RGB uint8 (N, H, W, 3).

    Indices may repeat and come in any order; each frame is decoded once, in one sequential
    pass that seeks at most once. Indices past the real end of the video (a file holding fewer
    frames than it claims) are looped from the start in "loop" mode (index i becomes
    i mod frame count) and raise VideoError in "error" mode. Raises VideoError when no frame
    decodes at all. `seek=False` decodes from the first frame, never seeking.
    """
    path = Path(path)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("no frame indices given")
    if (idx < 0).any():
        raise ValueError(f"frame indices must be >= 0, got {int(idx.min())}")
    wanted = np.unique(idx)
    frames, end, seeked = _decode_sorted(path, wanted, seek=seek)
    if not frames and seeked:
        # The seek went past the real end: count from the start instead.
        frames, end, _ = _decode_sorted(path, wanted, seek=False)
    if len(frames) < wanted.size:
        if end is None or end == 0:
            raise VideoError(path, "no frame could be decoded (empty or damaged video stream)")
        if beyond_end == "error":
            missing = int(wanted[~np.isin(wanted, list(frames))][0])
            raise VideoError(path, f"frame {missing} was asked for but only {end} frames decode")
        log.debug("%s: only %d frames decode; looping indices past the end", path, end)
        idx = idx % end
        extra = np.setdiff1d(np.unique(idx), np.fromiter(frames, dtype=np.int64))
        if extra.size:
            more, _, _ = _decode_sorted(path, extra, seek=False)
            frames.update(more)
        if not np.isin(idx, list(frames)).all():
            raise VideoError(path, "frames decode inconsistently between two passes")
    return _stack(frames, idx)


def _stack(frames: dict[int, np.ndarray], idx: np.ndarray) -> np.ndarray:
    first = frames[int(idx[0])]
    height, width = first.shape[:2]
    out = np.empty((idx.size, height, width, 3), dtype=np.uint8)
    for n, i in enumerate(idx.tolist()):
        frame = frames[i]
        if frame.shape[:2] != (height, width):  # the stream changed size mid-way
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        out[n] = frame
    return out


def iter_frames(
    path: Path | str, *, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, RGB frame) for frames start <= index < end, decoded sequentially.

    For long videos that do not fit in memory at once. Stops early at the real end of the
    file; raises VideoError if not a single frame decodes.
    """
    path = Path(path)
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    with _Capture(path) as cap:
        pos = 0
        if start >= SEEK_MIN_FRAMES and cap.seek(start):
            pos = start
        yielded = False
        while end is None or pos < end:
            if pos < start:
                ok = cap.grab()
                frame = None
            else:
                frame = cap.read()
                ok = frame is not None
            if not ok:
                break
            if frame is not None:
                yielded = True
                yield pos, frame
            pos += 1
    if not yielded and (end is None or end > start):
        raise VideoError(path, f"no frame could be decoded from frame {start} on")
