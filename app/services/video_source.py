"""Decoding video off the GUI thread.

`VideoDecodeWorker` owns the `cv2.VideoCapture` and lives in its own `QThread`; the GUI talks
to it only through queued signal/slot connections, so a slow decoder, a camera that takes a
second to answer or a stream that times out never freezes the window. `VideoSource` is the
object the GUI holds: it starts the thread, forwards requests to the worker and re-emits the
worker's signals on the GUI thread. What a source is (`SourceInfo`) and the ring of recent
frames the worker fills live in `frames.py`.

The protocol is request/reply: the GUI asks for a frame (`read_next`, `seek`) and receives it
through `frameDecoded`. Each request produces exactly one reply (`frameDecoded`, `ended` or
`failed`), so a client that keeps at most one request in flight can never build a backlog.

Frame numbers are decode order, 0-based, as in `stmanet.data.decode`; frames are RGB.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from app.services.frames import (
    RING_CAPACITY,
    RING_SHORT_SIDE,
    STREAM_SCHEMES,
    FrameRingBuffer,
    SourceInfo,
    SourceKind,
    is_stream_url,
    rgb_to_qimage,
    sane_fps,
)
from stmanet.data.decode import all_frames_stored, opencv_filename
from stmanet.errors import STMANetError

log = logging.getLogger(__name__)

FORWARD_DECODE_LIMIT = 48
"""A target at most this many frames ahead is reached by decoding forward (always exact and
cheaper than a seek for short distances); anything else seeks first."""

SEEK_BACKOFFS = (0, 16, 64, 256)
"""When the container cannot land exactly on a frame, ask for a position this many frames
earlier and decode forward from there; after the last one, decode from the start."""

STREAM_TIMEOUT_MS = 8000
"""How long a network stream may take to connect, or to deliver the next picture."""


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


_F = TypeVar("_F", bound=Callable[..., None])


def _reports_decoder_errors(method: _F) -> _F:
    """Turn an OpenCV exception inside a worker slot into a `failed` signal."""

    @functools.wraps(method)
    def wrapper(self: VideoDecodeWorker, *args: object) -> None:
        try:
            method(self, *args)
        except cv2.error as exc:
            log.exception("decoder error")
            self.failed.emit(f"The video decoder reported an error: {exc}")

    return wrapper  # type: ignore[return-value]


class VideoDecodeWorker(QObject):
    """Owns the capture; every slot runs on the decoder thread.

    Signals (all delivered queued to GUI-thread receivers):
      opened(SourceInfo): a new source replaced the previous one; no frame is sent with it.
      frameDecoded(int, QImage): frame number and its picture, answering read_next or seek.
      failed(str): a message a user can act on; after a failed open, the previous source
        stays open and usable.
      ended(): the requested frame lies past the end of the file.
    """

    opened = Signal(object)
    frameDecoded = Signal(int, QImage)
    failed = Signal(str)
    ended = Signal()

    def __init__(self, frames: FrameRingBuffer) -> None:
        super().__init__()
        self._frames = frames
        self._cap: cv2.VideoCapture | None = None
        self._info: SourceInfo | None = None
        self._next: int | None = None  # number of the frame the next read returns; None: unknown
        self._peeked: np.ndarray | None = None  # a live source's first frame, read to test it

    # --- opening -------------------------------------------------------------------------

    @Slot(str)
    @_reports_decoder_errors
    def open_file(self, path: str) -> None:
        file = Path(path).expanduser()
        if not file.exists():
            self.failed.emit(f"The file {file} does not exist.")
            return
        if file.is_dir():
            self.failed.emit(f"{file} is a folder, not a video file.")
            return
        if file.stat().st_size == 0:
            self.failed.emit(f"The file {file.name} is empty (0 bytes).")
            return
        cap = self._capture_file(file)
        unreadable = (
            f"{file.name} could not be opened as a video. The file may be damaged or "
            "incomplete, or be in a format this program cannot decode."
        )
        if cap is None:
            self.failed.emit(unreadable)
            return
        first = self._read_raw(cap)
        if first is None:
            cap.release()
            self.failed.emit(unreadable)
            return
        count = self._checked_frame_count(cap, file)
        if count < 1 or not self._rewind_capture(cap):
            cap.release()  # the container cannot go back: start again from a fresh capture
            if count < 1:
                count = self._count_by_decoding(file)
            cap = self._capture_file(file)
            if cap is None or count < 1:
                self.failed.emit(unreadable)
                return
        height, width = first.shape[:2]
        info = SourceInfo(
            kind=SourceKind.FILE,
            name=file.name,
            location=str(file.resolve()),
            fps=sane_fps(cap.get(cv2.CAP_PROP_FPS)),
            frame_count=count,
            width=int(width),
            height=int(height),
        )
        self._install(cap, info, next_index=0)

    @Slot(int)
    @_reports_decoder_errors
    def open_camera(self, index: int) -> None:
        cap = cv2.VideoCapture(int(index))
        first = self._read_raw(cap) if cap.isOpened() else None
        if first is None:
            cap.release()
            self.failed.emit(
                f"No camera answers at index {index}. Check that it is plugged in and not in "
                "use by another program, or try another index."
            )
            return
        self._install_live(cap, SourceKind.CAMERA, f"Camera {index}", str(index), first)

    @Slot(str)
    @_reports_decoder_errors
    def open_stream(self, url: str) -> None:
        url = url.strip()
        if not is_stream_url(url):
            self.failed.emit(
                f"{url!r} is not a stream address. Use a URL starting with "
                + ", ".join(f"{s}://" for s in STREAM_SCHEMES[:4])
                + " or similar."
            )
            return
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
        ]  # fmt: skip
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        first = self._read_raw(cap) if cap.isOpened() else None
        if first is None:
            cap.release()
            self.failed.emit(
                f"Could not receive video from {url}. Check the address and the network, and "
                "that the camera or server is streaming."
            )
            return
        self._install_live(cap, SourceKind.STREAM, url, url, first)

    def _install_live(
        self, cap: cv2.VideoCapture, kind: SourceKind, name: str, location: str, first: np.ndarray
    ) -> None:
        height, width = first.shape[:2]
        info = SourceInfo(
            kind=kind,
            name=name,
            location=location,
            fps=sane_fps(cap.get(cv2.CAP_PROP_FPS)),
            frame_count=None,
            width=int(width),
            height=int(height),
        )
        self._install(cap, info, next_index=0)
        self._peeked = first  # handed out by the first read: frame 0

    def _install(self, cap: cv2.VideoCapture, info: SourceInfo, next_index: int) -> None:
        self._release()
        self._cap, self._info, self._next = cap, info, next_index
        self._frames.clear()
        log.info(
            "opened %s %s: %dx%d, %.3f fps, %s frames",
            info.kind.value, info.name, info.width, info.height, info.fps,
            "live" if info.frame_count is None else info.frame_count,
        )  # fmt: skip
        self.opened.emit(info)

    @staticmethod
    def _capture_file(file: Path) -> cv2.VideoCapture | None:
        try:
            with opencv_filename(file) as name:
                cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
                if not cap.isOpened():
                    cap.release()
                    cap = cv2.VideoCapture(name)
        except STMANetError:
            return None
        if not cap.isOpened():
            cap.release()
            return None
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1.0)  # upright, as the engine reads it
        return cap

    @staticmethod
    def _read_raw(cap: cv2.VideoCapture) -> np.ndarray | None:
        ok, frame = cap.read()
        return frame if ok and frame is not None else None

    @staticmethod
    def _checked_frame_count(cap: cv2.VideoCapture, file: Path) -> int:
        """The number of frames that decode, with the first one already read.

        The container's claim is believed when the file holds a packet for each claimed
        frame (read without decoding); otherwise (a truncated or mislabelled file, where a
        seek to the claimed last frame can still "succeed" on a stale frame) the frames are
        counted by decoding them."""
        claimed = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        if math.isfinite(claimed) and claimed >= 1:
            if all_frames_stored(file, int(claimed)):
                return int(claimed)
            log.warning("%s claims %d frames but holds fewer: counting them", file.name,
                        int(claimed))
        if not VideoDecodeWorker._rewind_capture(cap):
            return 0  # the caller counts on a fresh capture
        count = 0
        while cap.grab():
            count += 1
        return count

    @classmethod
    def _count_by_decoding(cls, file: Path) -> int:
        cap = cls._capture_file(file)
        if cap is None:
            return 0
        count = 0
        while cap.grab():
            count += 1
        cap.release()
        return count

    @staticmethod
    def _rewind_capture(cap: cv2.VideoCapture) -> bool:
        return bool(cap.set(cv2.CAP_PROP_POS_FRAMES, 0)) and cap.get(cv2.CAP_PROP_POS_FRAMES) == 0

    # --- reading -------------------------------------------------------------------------

    @Slot()
    @_reports_decoder_errors
    def read_next(self) -> None:
        """Decode the frame after the last one and send it."""
        if self._cap is None or self._info is None:
            self.failed.emit("No video is open.")
            return
        if self._next is None:  # position lost (after running into the end): find it again
            self.ended.emit()
            return
        self._decode_and_send()

    @Slot(int)
    @_reports_decoder_errors
    def seek(self, index: int) -> None:
        """Decode frame `index` exactly and send it; the next read continues after it.

        Close targets ahead are reached by decoding forward; others by asking the container
        for the nearest earlier position, checking where it really landed with
        CAP_PROP_POS_FRAMES, and decoding forward from there."""
        if self._cap is None or self._info is None:
            self.failed.emit("No video is open.")
            return
        if self._info.is_live:
            self._decode_and_send()  # nothing to seek in: hand out the newest picture
            return
        index = max(0, int(index))
        if not self._position_at(index):
            self._next = None
            self.ended.emit()
            return
        self._decode_and_send()

    @Slot()
    def close(self) -> None:
        """Release the source; a new open may follow."""
        self._release()

    def release(self) -> None:
        """Release the capture (from any thread once the decoder thread has stopped)."""
        self._release()

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._info, self._next = None, None, None
        self._peeked = None
        self._frames.clear()

    def _position_at(self, target: int) -> bool:
        """Make `target` the next frame a read returns; False when it lies past the end."""
        assert self._cap is not None
        if self._next is not None and self._next <= target <= self._next + FORWARD_DECODE_LIMIT:
            return self._grab_until(target)
        self._frames.clear()  # a jump: the recent frames no longer lead up to this one
        for backoff in SEEK_BACKOFFS:
            start = max(0, target - backoff)
            if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(start)):
                continue
            landed = self._cap.get(cv2.CAP_PROP_POS_FRAMES)
            if math.isfinite(landed) and 0 <= landed <= target:
                self._next = int(landed)
                if landed != start:
                    log.debug("asked for frame %d, landed on %d", start, int(landed))
                return self._grab_until(target)
            log.debug("seek to %d landed on %s; backing off", start, landed)
            if start == 0:
                break
        if not self._reopen_at_start():
            return False
        return self._grab_until(target)

    def _reopen_at_start(self) -> bool:
        assert self._info is not None
        if self._cap is not None and self._rewind_capture(self._cap):
            self._next = 0
            return True
        cap = self._capture_file(Path(self._info.location))
        if cap is None:
            return False
        if self._cap is not None:
            self._cap.release()
        self._cap, self._next = cap, 0
        return True

    def _grab_until(self, target: int) -> bool:
        assert self._cap is not None and self._next is not None
        while self._next < target:
            if not self._cap.grab():
                return False
            self._next += 1
        return True

    def _decode_and_send(self) -> None:
        assert self._cap is not None and self._info is not None and self._next is not None
        frame = self._peeked if self._peeked is not None else self._read_raw(self._cap)
        self._peeked = None
        if frame is None:
            if self._info.is_live:
                what = "The camera" if self._info.kind is SourceKind.CAMERA else "The stream"
                message = f"{what} {self._info.name} stopped sending pictures."
                self._release()
                self.failed.emit(message)
            else:
                self._next = None
                self.ended.emit()
            return
        index = self._next
        self._next += 1
        rgb = _to_rgb(frame)
        image = rgb_to_qimage(rgb)
        self._frames.push(index, rgb)
        self.frameDecoded.emit(index, image)


class VideoSource(QObject):
    """The GUI's handle on a decoder thread. Create, use and shut down on the GUI thread.

    Requests (`open_file`, `open_camera`, `open_stream`, `read_next`, `seek`, `close`) return
    at once; the answers arrive as the signals below, re-emitted on the GUI thread:
      opened(SourceInfo), frameDecoded(int, QImage), failed(str), ended().
    `recent_frames` may be called from any thread.
    """

    opened = Signal(object)
    frameDecoded = Signal(int, QImage)
    failed = Signal(str)
    ended = Signal()

    _fileOpenRequested = Signal(str)
    _cameraOpenRequested = Signal(int)
    _streamOpenRequested = Signal(str)
    _nextRequested = Signal()
    _seekRequested = Signal(int)
    _closeRequested = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        buffer_capacity: int = RING_CAPACITY,
        buffer_short_side: int | None = RING_SHORT_SIDE,
    ) -> None:
        super().__init__(parent)
        self._frames = FrameRingBuffer(buffer_capacity, buffer_short_side)
        self._thread = QThread()
        self._thread.setObjectName("video-decoder")
        self._worker = VideoDecodeWorker(self._frames)
        self._worker.moveToThread(self._thread)

        queued = Qt.ConnectionType.QueuedConnection
        self._fileOpenRequested.connect(self._worker.open_file, queued)
        self._cameraOpenRequested.connect(self._worker.open_camera, queued)
        self._streamOpenRequested.connect(self._worker.open_stream, queued)
        self._nextRequested.connect(self._worker.read_next, queued)
        self._seekRequested.connect(self._worker.seek, queued)
        self._closeRequested.connect(self._worker.close, queued)

        self._worker.opened.connect(self.opened, queued)
        self._worker.frameDecoded.connect(self.frameDecoded, queued)
        self._worker.failed.connect(self.failed, queued)
        self._worker.ended.connect(self.ended, queued)
        # Should this object be deleted without shutdown(), stop the thread first: destroying
        # a running QThread aborts the process.
        self.destroyed.connect(functools.partial(_stop_thread, self._thread, self._worker))
        self._thread.start()

    def open_file(self, path: Path | str) -> None:
        self._fileOpenRequested.emit(str(path))

    def open_camera(self, index: int) -> None:
        self._cameraOpenRequested.emit(int(index))

    def open_stream(self, url: str) -> None:
        self._streamOpenRequested.emit(url)

    def read_next(self) -> None:
        self._nextRequested.emit()

    def seek(self, index: int) -> None:
        self._seekRequested.emit(int(index))

    def close(self) -> None:
        self._closeRequested.emit()

    def recent_frames(self, count: int) -> list[tuple[int, np.ndarray]]:
        """Up to `count` of the newest decoded (index, RGB frame) pairs, oldest first. Frames
        are read-only and shrunk to a shorter side of `buffer_short_side` pixels."""
        return self._frames.recent(count)

    @property
    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the decoder thread and release the source; True when the thread stopped.

        Waits for a request in progress (a stream connecting gives up after
        STREAM_TIMEOUT_MS)."""
        if not self._thread.isRunning():
            self._worker.release()
            return True
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self._worker.release()
        else:
            # Destroying a running QThread aborts the process: keep it until it finishes.
            log.warning("the video decoder did not stop within %d ms", timeout_ms)
            _STRANDED.append((self._thread, self._worker))
            self._thread.finished.connect(self._worker.release)
        return bool(stopped)


_STRANDED: list[tuple[QThread, VideoDecodeWorker]] = []


def _stop_thread(thread: QThread, worker: VideoDecodeWorker, *_: object) -> None:
    if not shiboken6.isValid(thread):  # Qt already deleted it with its parent: nothing runs
        if shiboken6.isValid(worker):
            worker.release()
        return
    if thread.isRunning():
        log.debug("stopping a decoder thread left running")
        thread.quit()
        if not thread.wait(10_000):
            _STRANDED.append((thread, worker))
            return
    worker.release()
