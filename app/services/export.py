"""Exports: per-window predictions (CSV / JSON), the video with the overlay burnt in (MP4),
and the session summary (CSV). Each runs as a `BackgroundJob` with progress and a cancel
flag, and each file is written to a temporary file in the destination folder and renamed
over the destination only when complete: a crash or a cancel never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from app.services.results import ActionTime, AnalysisResult
from stmanet.data.decode import iter_frames, probe
from stmanet.engine.events import Cancelled
from stmanet.engine.inference import VideoPrediction, WindowPrediction, write_predictions
from stmanet.errors import STMANetError
from stmanet.fileio import atomic_write_text

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
FrameRenderer = Callable[[np.ndarray, int], np.ndarray]
"""(RGB frame, frame number) -> the RGB frame with the overlay painted on it."""

PREDICTION_SUFFIXES = (".csv", ".json")


class ExportError(Exception):
    """An export that could not be written; the message says why."""


class BackgroundJob(QObject):
    """Runs `work(progress, cancelled)` in a Python thread.

    Signals (on the thread that made the job, the GUI thread): progressed(done, total),
    finished(result), failed(message), cancelled(). `work` calls `progress(done, total)` as it
    goes and checks `cancelled()`; raising Cancelled ends it as cancelled.
    """

    progressed = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    _progress = Signal(int, int)
    _finished = Signal(object)
    _failed = Signal(str)
    _cancelled = Signal()

    def __init__(self, work: Callable[[Progress, CancelCheck], Any], name: str = "export",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._work = work
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        queued = Qt.ConnectionType.QueuedConnection
        self._progress.connect(self.progressed, queued)
        self._finished.connect(self.finished, queued)
        self._failed.connect(self.failed, queued)
        self._cancelled.connect(self.cancelled, queued)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job ends; True when it did."""
        if self._thread.ident is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            result = self._work(self._progress.emit, self._cancel.is_set)
        except Cancelled:
            self._cancelled.emit()
        except (STMANetError, ExportError, OSError, cv2.error, ValueError) as exc:
            log.exception("export failed")
            self._failed.emit(str(exc))
        else:
            self._finished.emit(result)


def _check(cancelled: CancelCheck) -> None:
    if cancelled():
        raise Cancelled("export cancelled")


# --------------------------------------------------------------------------- predictions


def video_prediction(analysis: AnalysisResult) -> VideoPrediction:
    """The engine's record of an analysis (rebuilt from the windows when it was cut short)."""
    if analysis.complete and isinstance(analysis.engine_result, VideoPrediction):
        return analysis.engine_result
    windows = [
        WindowPrediction(w.start_frame, w.end_frame, w.start_s, w.end_s, list(w.labels),
                         list(w.scores), w.spatial or None, w.temporal or None)
        for w in analysis.windows
    ]
    scores = analysis.scores
    if scores is None:
        scores = np.zeros(len(analysis.class_names), dtype=np.float32)
    return VideoPrediction(analysis.path, analysis.fps, analysis.frame_count,
                           list(analysis.class_names), windows, np.asarray(scores),
                           hop=analysis.hop, window=analysis.window)


def export_predictions(path: Path, analysis: AnalysisResult, *, attention: bool = False,
                       progress: Progress | None = None,
                       cancelled: CancelCheck | None = None) -> Path:
    """Per-window predictions to CSV or JSON (by the suffix), written atomically."""
    path = Path(path)
    if path.suffix.lower() not in PREDICTION_SUFFIXES:
        raise ExportError(f"{path.name}: choose a .csv or .json file for the predictions.")
    if not analysis.windows:
        raise ExportError("There are no predictions to export yet.")
    if progress is not None:
        progress(0, 1)
    if cancelled is not None:
        _check(cancelled)
    write_predictions(path, [video_prediction(analysis)], attention=attention)
    if progress is not None:
        progress(1, 1)
    return path


# --------------------------------------------------------------------------------- video


def _temporary_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the suffix: OpenCV picks the container from it
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".mp4",
                                dir=path.parent)
    os.close(fd)
    return Path(name)


def export_overlay_video(source: Path, destination: Path, render: FrameRenderer, *,
                         progress: Progress | None = None,
                         cancelled: CancelCheck | None = None) -> Path:
    """Every frame of `source` with `render`'s overlay, as an MPEG-4 (mp4v) file at the
    source's frame rate and size."""
    source, destination = Path(source), Path(destination)
    if destination.resolve() == source.resolve():
        raise ExportError("Choose another file name: the export would overwrite the video.")
    info = probe(source)
    total = info.frame_count
    step = max(1, total // 200)
    tmp = _temporary_beside(destination)
    try:
        writer: cv2.VideoWriter | None = None
        written = 0
        try:
            for index, frame in iter_frames(source):
                if cancelled is not None and index % 4 == 0:
                    _check(cancelled)
                picture = render(frame, index)
                if writer is None:
                    height, width = picture.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                             float(info.fps), (width, height))
                    if not writer.isOpened():
                        raise ExportError(f"{destination.name}: this system cannot write "
                                          "MPEG-4 video (no mp4v encoder).")
                writer.write(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
                written += 1
                if progress is not None and (written % step == 0 or written == total):
                    progress(written, total)
        finally:
            if writer is not None:
                writer.release()
        if written == 0 or tmp.stat().st_size == 0:
            raise ExportError(f"{destination.name}: no frame could be written.")
        tmp.chmod(0o644)
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s (%d frames)", destination, written)
    return destination


# ------------------------------------------------------------------------------- summary


def summary_csv(rows: Sequence[ActionTime], *, video: str = "") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["video", "action", "seconds", "share"])
    for row in rows:
        writer.writerow([video, row.label, f"{row.seconds:.2f}", f"{row.share:.4f}"])
    return buffer.getvalue()


def export_summary(path: Path, rows: Sequence[ActionTime], *, video: str = "") -> Path:
    """Seconds per action as CSV (video, action, seconds, share), written atomically."""
    path = Path(path)
    atomic_write_text(path, summary_csv(rows, video=video))
    return path
