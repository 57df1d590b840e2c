"""Counting the repetitions of a video file: its frames, its segments, the counts on file.

`count_video` decodes a video once into frame embeddings (stmanet.engine.reps) and counts each
segment. The segments come from a file (`read_segments`: an expected timeline such as
`stmanet sequence` writes, or the predictions of `stmanet predict -o`), from a model's
predictions made in the same pass over the frames (`predict_and_count`), or are the whole
video. `write_counts` writes the counts as CSV (a row per segment) or JSON (with the time of
every repetition).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stmanet.engine.reps import CountSettings, SegmentCount, count_reps, frame_embedding
from stmanet.errors import ConfigError, VideoError, printable_path

Progress = Callable[[int, int], None]  # (frames done, frames in all)


@dataclass(frozen=True)
class VideoCounts:
    """The counted segments of one video."""

    path: Path
    fps: float
    frames: int  # frames decoded
    segments: list[SegmentCount]
    source: str  # where the segments came from: "whole video", a file, "model ..."

    def to_dict(self) -> dict[str, Any]:
        return {"video": printable_path(self.path), "fps": self.fps, "frames": self.frames,
                "segments_from": self.source,
                "segments": [s.to_dict() for s in self.segments]}


def _embedded(frames: Iterable[tuple[int, np.ndarray]], store: list[np.ndarray],
              total: int, on_progress: Progress | None) -> Iterator[tuple[int, np.ndarray]]:
    """Pass (index, frame) pairs through, keeping every frame's embedding in `store`."""
    for pos, frame in frames:
        store.append(frame_embedding(frame))
        if on_progress is not None and (pos % 50 == 0):
            on_progress(pos, total)
        yield pos, frame


def embed_video(path: Path | str, on_progress: Progress | None = None
                ) -> tuple[np.ndarray, float]:
    """Every frame of a video as an embedding (T, D), and its frame rate."""
    from stmanet.data.decode import iter_frames, probe

    info = probe(path)
    store: list[np.ndarray] = []
    for _ in _embedded(iter_frames(path), store, info.frame_count, on_progress):
        pass
    if not store:
        raise VideoError(path, "no frame could be decoded")
    return np.stack(store), info.fps


def read_segments(path: Path | str) -> list[tuple[str | None, int, int]]:
    """(label, start_frame, end_frame) of the segments in a file: an expected timeline
    ({"segments": [{"label", "start_frame", "end_frame"}, ...]}, as `stmanet sequence`
    writes), the segments of `stmanet predict --segments` (NAME.segments.csv or .json), or
    predictions of `stmanet predict -o` (JSON or CSV), whose consecutive windows with the
    same label make one segment. Footage "not a known action" (segments with known false,
    runs of such windows) is left out: it is no drill to count."""
    from stmanet.engine.inference import WindowPrediction
    from stmanet.fileio import read_text_file

    path = Path(path)
    text = read_text_file(path)
    try:
        if path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            videos = {r["video"] for r in rows}
            if len(videos) > 1:
                raise ValueError(f"it holds the predictions of {len(videos)} videos, not one")
            if rows and "label_1" not in rows[0] and "label" in rows[0]:  # predict --segments
                return [(r["label"], int(r["start_frame"]), int(r["end_frame"])) for r in rows
                        if r.get("known") != "0"]
            windows = [WindowPrediction(int(r["start_frame"]), int(r["end_frame"]),
                                        float(r["start_s"]), float(r["end_s"]),
                                        [r["label_1"]], [float(r["score_1"])],
                                        known=_known(r.get("known")))
                       for r in rows]
            return _window_segments(windows)
        data = json.loads(text)
        if isinstance(data, dict) and "timelines" in data:  # predict --segments
            timelines = data["timelines"]
            if len(timelines) != 1:
                raise ValueError(f"it holds the segments of {len(timelines)} videos, not one")
            data = timelines[0]
        if isinstance(data, dict) and "segments" in data:
            return [(str(s["label"]) if s.get("label") is not None else None,
                     int(s["start_frame"]), int(s["end_frame"])) for s in data["segments"]
                    if s.get("known") is not False]
        if isinstance(data, dict) and "predictions" in data:
            videos = data["predictions"]
            if len(videos) != 1:
                raise ValueError(f"it holds the predictions of {len(videos)} videos, not one")
            return _window_segments([WindowPrediction.from_dict(w)
                                     for w in videos[0]["windows"]])
        raise ValueError("neither a timeline (\"segments\") nor predictions (\"predictions\")")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        missing = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"{printable_path(path)}: not a timeline or predictions file "
                          f"({missing})") from exc


def _known(text: str | None) -> bool | None:
    """A prediction CSV's known column: "1", "0", or empty (the model cannot tell)."""
    return None if text in (None, "") else text == "1"


_UNKNOWN = "\0not a known action"  # the label of a window not a known action, in runs


def _window_segments(windows: Sequence[Any]) -> list[tuple[str | None, int, int]]:
    """Runs of windows with the same top label (windows not a known action make runs of
    their own, left out), each from its first window's start to the next run's start (the
    last to its end), so that segments never overlap."""
    from dataclasses import replace

    from stmanet.engine.timeline import predicted_segments

    marked = [replace(w, labels=[_UNKNOWN]) if w.known is False else w for w in windows]
    runs = predicted_segments(sorted(marked, key=lambda w: w.start_frame))
    out = []
    for i, run in enumerate(runs):
        end = runs[i + 1].start_frame if i + 1 < len(runs) else run.end_frame
        if end > run.start_frame and run.label != _UNKNOWN:
            out.append((run.label, run.start_frame, end))
    return out


def _fit(segments: Sequence[tuple[str | None, int, int]], frames: int, where: str
         ) -> list[tuple[str | None, int, int]]:
    """Segments cut to the frames that decoded; refused when none lies within them."""
    fitted = [(label, start, min(end, frames)) for label, start, end in segments
              if start < frames and start < end]
    if not fitted:
        raise ConfigError(f"{where}: no segment lies within the video's {frames} frames")
    return fitted


def count_video(path: Path | str, segments: Sequence[tuple[str | None, int, int]] | None = None,
                *, source: str = "", settings: CountSettings | None = None,
                on_progress: Progress | None = None) -> VideoCounts:
    """Count each segment of a video (default: the whole video, one segment, no label)."""
    emb, fps = embed_video(path, on_progress)
    where = source or printable_path(path)
    bounds = _fit(segments, len(emb), where) if segments is not None else None
    counts = count_reps(emb, fps, bounds, settings=settings)
    return VideoCounts(Path(path), fps, len(emb), counts, source or "whole video")


def predict_and_count(predictor: Any, path: Path | str, *, hop: int | None = None,
                      settings: CountSettings | None = None,
                      timeline: dict[str, Any] | None = None,
                      on_progress: Progress | None = None,
                      ) -> tuple[Any, VideoCounts, np.ndarray]:
    """A model's predictions on a video, the repetitions of each segment of its per-frame
    result, and every frame's embedding (T, D), from one decoding of the video.

    The segments are those the app and `stmanet predict --output-dir` count: the per-frame
    result (`segmentation.frame_timeline`, with `timeline`'s options: smoothing, switch
    penalty, weighting, refine ...; its changes placed on the frames), less the frames that
    are not a known action."""
    from stmanet.data.decode import iter_frames, probe
    from stmanet.engine.segmentation import action_runs, frame_timeline

    info = probe(path)
    store: list[np.ndarray] = []
    frames = _embedded(iter_frames(path), store, info.frame_count, None)
    prediction = predictor.predict_frames(frames, info.frame_count, info.fps, path=path,
                                          hop=hop, on_progress=on_progress)
    for _ in frames:  # the frames after the last window
        pass
    if not store:
        raise VideoError(path, "no frame could be decoded")
    emb = np.stack(store)
    result = frame_timeline(prediction, embeddings=emb, **(timeline or {}))
    runs = [(result.class_names[v], a, b) for v, a, b in action_runs(result.labels,
                                                                       result.unknown)
            if v is not None]
    if not runs:
        return prediction, VideoCounts(Path(path), info.fps, len(emb), [],
                                       "model predictions"), emb
    segments = _fit(runs, len(emb), printable_path(path))
    counts = count_reps(emb, info.fps, segments, settings=settings)
    return prediction, VideoCounts(Path(path), info.fps, len(emb), counts,
                                   "model predictions"), emb


CSV_FIELDS = ("video", "label", "start_frame", "end_frame", "start_s", "end_s", "reps",
              "reps_per_min", "pace_cv", "period_s", "periodicity", "reason", "rep_times")


def count_rows(videos: Sequence[VideoCounts]) -> list[dict[str, Any]]:
    rows = []
    for video in videos:
        for s in video.segments:
            d = s.to_dict()
            rows.append({"video": printable_path(video.path), "label": d["label"] or "",
                         **{k: d[k] for k in ("start_frame", "end_frame", "start_s", "end_s",
                                              "reps_per_min", "pace_cv", "period_s",
                                              "periodicity", "reason")},
                         "reps": "" if s.abstained else s.total,
                         "rep_times": " ".join(f"{t:.2f}" for t in s.rep_times)})
    return rows


def write_counts(path: Path | str, videos: Sequence[VideoCounts]) -> Path:
    """The counts to CSV (a row per segment, the repetition times space-separated) or JSON,
    chosen by the file's suffix; written atomically."""
    from stmanet.fileio import atomic_write_text

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        atomic_write_text(path, json.dumps({"videos": [v.to_dict() for v in videos]},
                                           indent=1) + "\n")
        return path
    if suffix != ".csv":
        raise ConfigError(f"{path}: choose a .csv or .json file for the counts")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(count_rows(videos))
    atomic_write_text(path, buffer.getvalue())
    return path


def counts_text(video: VideoCounts) -> str:
    """A table of one video's counts for a terminal."""
    lines = [f"{printable_path(video.path)}: {len(video.segments)} segment(s), from "
             f"{video.source}"]
    for s in video.segments:
        span = f"{s.start_s:7.2f}-{s.end_s:7.2f} s"
        name = (s.label or "-")[:16]
        if s.abstained:
            lines.append(f"  {span}  {name:16s}  not counted: {s.reason}")
        else:
            pace = f"{s.reps_per_min:6.1f}/min" if s.reps_per_min else "      -   "
            cv = f"{100 * s.pace_cv:4.1f}%" if s.pace_cv is not None else "   -"
            lines.append(f"  {span}  {name:16s}  {s.total:4d} reps  {pace}  "
                         f"pace varies {cv}")
    return "\n".join(lines)
