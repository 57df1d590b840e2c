"""Exports: per-window predictions (CSV / JSON) with, after a whole-video analysis, its
per-frame result's segments beside them (NAME.segments.csv / .json, as `stmanet predict
--segments` writes them, with each segment's repetitions when they were counted), the video
with the overlay burnt in (H.264 MP4, encoded with PyAV's libx264) and the session summary
(CSV, with the repetitions per action when they were counted). Each runs as a
`BackgroundJob` (app.services.jobs) with progress and a cancel flag, and each file is written
to a temporary file in the destination folder and renamed over the destination only when
complete: a crash or a cancel never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PySide6.QtCore import QStandardPaths

import stmanet
from app.services.counts import ActionReps, SegmentReps
from app.services.jobs import CancelCheck, JobError, Progress
from app.services.results import ActionTime, AnalysisResult
from stmanet.bundled import frozen_root, search_roots
from stmanet.data.decode import iter_frames, probe
from stmanet.engine.inference import VideoPrediction, WindowPrediction
from stmanet.engine.prediction_files import write_predictions
from stmanet.engine.segmentation import (
    SEGMENT_COLUMNS,
    segment_row,
    segments_path,
    write_segments,
)
from stmanet.errors import Cancelled
from stmanet.fileio import atomic_write_text

log = logging.getLogger(__name__)

FrameRenderer = Callable[[np.ndarray, int], np.ndarray]
"""(RGB frame, frame number) -> the RGB frame with the overlay painted on it."""

PREDICTION_SUFFIXES = (".csv", ".json")


class ExportError(JobError):
    """An export that could not be written; the message says why."""


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
                         list(w.scores), w.spatial or None, w.temporal or None,
                         novelty=w.novelty, known=w.known)
        for w in analysis.windows
    ]
    scores = analysis.scores
    if scores is None:
        scores = np.zeros(len(analysis.class_names), dtype=np.float32)
    return VideoPrediction(analysis.path, analysis.fps, analysis.frame_count,
                           list(analysis.class_names), windows, np.asarray(scores),
                           hop=analysis.hop, window=analysis.window)


def prediction_files(path: Path, analysis: AnalysisResult) -> list[Path]:
    """The files `export_predictions(path, analysis)` writes: the windows, and the segments
    (`segments_path`: windows.csv -> windows.segments.csv) when there is a per-frame
    result."""
    path = Path(path)
    return [path] if analysis.timeline is None else [path, segments_path(path)]


def export_predictions(path: Path, analysis: AnalysisResult, *, attention: bool = False,
                       progress: Progress | None = None,
                       cancelled: CancelCheck | None = None) -> Path:
    """Per-window predictions to CSV or JSON (by the suffix), and the per-frame result's
    segments beside them in the same format when the analysis has one (one row per segment:
    video, start_frame, end_frame, start_s, end_s, label, mean_score, and with counted
    repetitions `REP_COLUMNS`); each file written atomically."""
    path = Path(path)
    if path.suffix.lower() not in PREDICTION_SUFFIXES:
        raise ExportError(f"{path.name}: choose a .csv or .json file for the predictions.")
    if not analysis.windows:
        raise ExportError("There are no predictions to export yet.")
    files = prediction_files(path, analysis)
    if progress is not None:
        progress(0, len(files))
    if cancelled is not None:
        _check(cancelled)
    write_predictions(path, [video_prediction(analysis)], attention=attention)
    if analysis.timeline is not None:
        if progress is not None:
            progress(1, len(files))
        if analysis.reps:
            write_counted_segments(files[1], analysis)
        else:
            write_segments(files[1], [(analysis.path, analysis.timeline)])
    if progress is not None:
        progress(len(files), len(files))
    return path


REP_COLUMNS = ("reps", "reps_per_min", "pace_cv", "pace", "not_counted", "rep_times")
"""What the segments file adds per segment when repetitions were counted: the count (empty
where the counter abstained, `not_counted` saying why), repetitions per minute, the
coefficient of variation of the intervals between them and its word ("even", "fairly even",
"uneven"), and the time (s) each repetition ended."""


def _rep_fields(reps: SegmentReps | None) -> dict[str, object]:
    if reps is None:
        return dict.fromkeys(REP_COLUMNS, None)
    return {"reps": reps.total,
            "reps_per_min": None if reps.reps_per_min is None else round(reps.reps_per_min, 2),
            "pace_cv": None if reps.pace_cv is None else round(reps.pace_cv, 4),
            "pace": reps.evenness, "not_counted": reps.reason,
            "rep_times": [round(f / reps.fps, 3) for f in reps.rep_frames]}


def write_counted_segments(path: Path, analysis: AnalysisResult) -> Path:
    """The per-frame result's segments as `write_segments` writes them (CSV or JSON by the
    suffix), each with its repetitions (`REP_COLUMNS`); atomically."""
    timeline, counts = analysis.timeline, analysis.reps
    assert timeline is not None and counts is not None
    found = {(r.start_frame, r.label): r for r in counts.segments}
    rows = [(s, found.get((s.start_frame, s.label)) if s.known is not False else None)
            for s in timeline.told_segments()]
    if path.suffix.lower() == ".json":
        document = {"video": str(analysis.path), **timeline.to_dict()}
        document["segments"] = [{**s.to_dict(), **_rep_fields(r)} for s, r in rows]
        document["reps"] = {a.label: a.reps for a in counts.per_action().values()
                            if a.segments}
        atomic_write_text(path, json.dumps({"timelines": [document]}, indent=1) + "\n")
        return path
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*SEGMENT_COLUMNS, *REP_COLUMNS])
    for s, r in rows:
        extra = _rep_fields(r)
        extra["rep_times"] = " ".join(f"{t:.2f}" for t in extra["rep_times"] or [])
        writer.writerow([*segment_row(analysis.path, s),
                         *("" if extra[k] is None else extra[k] for k in REP_COLUMNS)])
    atomic_write_text(path, buffer.getvalue())
    return path


# --------------------------------------------------------------------------------- video


# H.264 in yuv420p plays in browsers, on phones and on school platforms. "veryfast" encodes a
# 720p frame in about 15 ms on two cores ("medium": about 28 ms) for files of much the same size
# at this quality; crf 21 keeps the overlay's text sharp.
VIDEO_CODEC = "libx264"
VIDEO_PIXEL_FORMAT = "yuv420p"
VIDEO_PRESET = "veryfast"
VIDEO_CRF = 21
# the RGB -> YUV conversion (swscale's default) uses the BT.601 matrix; saying so in the stream
# makes every player turn it back into the same colours
_X264_PARAMS = "colormatrix=smpte170m"


def _temporary_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".mp4",
                                dir=path.parent)
    os.close(fd)
    return Path(name)


def frame_rate(fps: float) -> Fraction:
    """The frame rate as an exact fraction: 25 -> 25, 29.97002997... -> 30000/1001."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ExportError(f"the video reports no usable frame rate ({fps}).")
    return Fraction(fps).limit_denominator(1001)


def _even(picture: np.ndarray) -> np.ndarray:
    """yuv420p needs an even width and height: repeat the last row / column when odd."""
    height, width = picture.shape[:2]
    if height % 2 or width % 2:
        picture = np.pad(picture, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(picture)


class _H264Writer:
    """RGB frames into an H.264 MP4 at an exact frame rate (frame i at time i / rate)."""

    def __init__(self, path: Path, rate: Fraction, width: int, height: int) -> None:
        self._container = av.open(str(path), mode="w", format="mp4",
                                  options={"movflags": "+faststart"})
        try:
            stream = self._container.add_stream(VIDEO_CODEC, rate=rate)
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = VIDEO_PIXEL_FORMAT
            stream.options = {"preset": VIDEO_PRESET, "crf": str(VIDEO_CRF),
                              "x264-params": _X264_PARAMS}
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._time_base = 1 / rate
        self._count = 0

    def write(self, picture: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(_even(picture), format="rgb24")
        frame = frame.reformat(format=VIDEO_PIXEL_FORMAT)
        frame.pts, frame.time_base = self._count, self._time_base
        self._container.mux(self._stream.encode(frame))
        self._count += 1

    def finish(self) -> None:
        """Flush the encoder and write the index (moved to the front: +faststart)."""
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def abandon(self) -> None:
        """Close without flushing; the caller deletes the file."""
        with contextlib.suppress(av.FFmpegError, OSError):
            self._container.close()


def write_h264(destination: Path, pictures: Iterable[np.ndarray], rate: Fraction, total: int,
               *, progress: Progress | None = None,
               cancelled: CancelCheck | None = None) -> int:
    """Write `pictures` (RGB, one size) as an H.264 (yuv420p) MP4 at `rate`; returns how many.

    Written to a temporary file beside `destination` and renamed over it when complete; a
    cancel (Cancelled, checked every 4 pictures and at the end) or an error leaves no file
    behind. `total` is the expected count, for `progress`. Errors name the destination."""
    step = max(1, total // 200)
    try:
        tmp = _temporary_beside(destination)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "a file is in the way of its folder"
        raise ExportError(f"Cannot write {destination}: {reason}") from exc
    writer: _H264Writer | None = None
    written = 0
    try:
        for picture in pictures:
            if cancelled is not None and written % 4 == 0:
                _check(cancelled)
            if writer is None:
                height, width = picture.shape[:2]
                writer = _H264Writer(tmp, rate, width, height)
            writer.write(picture)
            written += 1
            if progress is not None and (written % step == 0 or written == total):
                progress(written, total)
        if writer is None:
            raise ExportError(f"{destination.name}: no frame could be written.")
        if cancelled is not None:
            _check(cancelled)
        done, writer = writer, None
        done.finish()
        tmp.chmod(0o644)
        os.replace(tmp, destination)
    except (av.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ExportError(f"Cannot write {destination}: {reason}") from exc
    finally:
        if writer is not None:
            writer.abandon()
        tmp.unlink(missing_ok=True)
    return written


def export_overlay_video(source: Path, destination: Path, render: FrameRenderer, *,
                         progress: Progress | None = None,
                         cancelled: CancelCheck | None = None) -> Path:
    """Every frame of `source` with `render`'s overlay, as an H.264 (yuv420p) MP4 at the
    source's frame rate and size (plus one pixel where a side is odd).

    Written to a temporary file beside `destination` and renamed over it when complete; a
    cancel (Cancelled) or an error leaves no file behind. Errors name the destination."""
    source, destination = Path(source), Path(destination)
    if destination.resolve() == source.resolve():
        raise ExportError("Choose another file name: the export would overwrite the video.")
    info = probe(source)
    rate = frame_rate(info.fps)
    pictures = (render(frame, index) for index, frame in iter_frames(source))
    written = write_h264(destination, pictures, rate, info.frame_count, progress=progress,
                         cancelled=cancelled)
    log.info("wrote %s (%d frames, H.264 at %s fps)", destination, written, rate)
    return destination


# ------------------------------------------------------------------------- where to save


def _installed_folders() -> list[Path]:
    """The folders of the installed program: its packages, its bundled resources and, when
    frozen, the whole bundle."""
    folders = [Path(__file__).resolve().parent.parent, Path(stmanet.__file__).resolve().parent,
               *search_roots()]
    frozen = frozen_root()
    if frozen is not None:
        folders.append(frozen.parent)
    return [folder.resolve() for folder in folders]


def is_inside_installation(folder: Path) -> bool:
    folder = Path(folder).resolve()
    return any(folder.is_relative_to(root) for root in _installed_folders())


def default_export_folder(last: str | Path | None = None) -> Path:
    """Where an export is offered: `last` (the folder of the last export) when it still
    exists, else the user's videos folder, else documents, else home; never a folder of the
    installed program (such as the one holding the bundled demo video)."""
    candidates = [Path(last)] if last else []
    for location in (QStandardPaths.StandardLocation.MoviesLocation,
                     QStandardPaths.StandardLocation.DocumentsLocation):
        found = QStandardPaths.writableLocation(location)
        if found:
            candidates.append(Path(found))
    for folder in candidates:
        if folder.is_dir() and not is_inside_installation(folder):
            return folder
    return Path.home()


# ------------------------------------------------------------------------------- summary


def summary_csv(rows: Sequence[ActionTime], *, video: str = "",
                reps: Mapping[str, ActionReps] | None = None) -> str:
    """With `reps` (repetitions per action of a whole-video analysis) a `reps` column: the
    action's counted repetitions, empty where none of its segments was counted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["video", "action", "seconds", "share", *(["reps"] if reps else [])])
    for row in rows:
        counted = reps.get(row.label) if reps else None
        extra = [] if not reps else [counted.reps if counted and counted.segments else ""]
        writer.writerow([video, row.label, f"{row.seconds:.2f}", f"{row.share:.4f}", *extra])
    return buffer.getvalue()


def export_summary(path: Path, rows: Sequence[ActionTime], *, video: str = "",
                   reps: Mapping[str, ActionReps] | None = None) -> Path:
    """Seconds per action as CSV (video, action, seconds, share, and with `reps` the
    repetitions counted per action), written atomically."""
    path = Path(path)
    atomic_write_text(path, summary_csv(rows, video=video, reps=reps))
    return path
