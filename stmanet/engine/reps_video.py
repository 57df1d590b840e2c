"""Counting the repetitions of a video file: its frames, its segments, the counts on file.

`count_video` decodes a video once into frame embeddings (stmanet.engine.reps) and counts each
segment. The segments come from a file (`read_timeline`: an expected timeline such as
`stmanet sequence` writes, or the predictions of `stmanet predict -o`), from a model's
predictions made in the same pass over the frames (`predict_and_count`), or are the whole
video. Footage that is not a known action is not counted; its stretches are kept
(`VideoCounts.unknown`) and shown beside the counts. `write_counts` writes the counts as CSV
(a row per segment) or JSON (with the time of every repetition).
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
    # stretches (start frame, end frame exclusive) not a known action: left out, not counted
    unknown: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"video": printable_path(self.path), "fps": self.fps, "frames": self.frames,
                "segments_from": self.source,
                "segments": [s.to_dict() for s in self.segments],
                "not_known": [{"start_frame": a, "end_frame": b,
                               "start_s": round(a / self.fps, 3),
                               "end_s": round(b / self.fps, 3)} for a, b in self.unknown]}

    def rows(self) -> list[tuple[int, SegmentCount | tuple[int, int]]]:
        """The counted segments and the stretches not a known action, in time order."""
        return sorted([(s.start_frame, s) for s in self.segments]
                      + [(a, (a, b)) for a, b in self.unknown], key=lambda r: r[0])


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


Segments = list[tuple[str | None, int, int]]  # (label, start frame, end frame exclusive)


def read_timeline(path: Path | str) -> tuple[Segments, list[tuple[int, int]]]:
    """(label, start_frame, end_frame) of the segments in a file: an expected timeline
    ({"segments": [{"label", "start_frame", "end_frame"}, ...]}, as `stmanet sequence`
    writes), the segments of `stmanet predict --segments` (NAME.segments.csv or .json), or
    predictions of `stmanet predict -o` (JSON or CSV), whose consecutive windows with the
    same label make one segment. Footage "not a known action" (segments with known false,
    runs of such windows, an expected timeline's segments labelled `other`) is left out: it
    is no drill to count; its (start, end) stretches come second."""
    from stmanet.engine.inference import WindowPrediction
    from stmanet.engine.segmentation import OTHER_LABEL
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
                return _split([(r["label"], int(r["start_frame"]), int(r["end_frame"]),
                                r.get("known") != "0") for r in rows])
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
            return _split([(str(s["label"]) if s.get("label") is not None else None,
                            int(s["start_frame"]), int(s["end_frame"]),
                            s.get("known", s.get("label") != OTHER_LABEL) is not False)
                           for s in data["segments"]])
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


def _split(rows: Sequence[tuple[str | None, int, int, bool]]
           ) -> tuple[Segments, list[tuple[int, int]]]:
    """(label, start, end, known) rows as the known segments and the unknown stretches."""
    return ([(label, a, b) for label, a, b, known in rows if known],
            [(a, b) for _, a, b, known in rows if not known])


def _known(text: str | None) -> bool | None:
    """A prediction CSV's known column: "1", "0", or empty (the model cannot tell)."""
    return None if text in (None, "") else text == "1"


_UNKNOWN = "\0not a known action"  # the label of a window not a known action, in runs


def _window_segments(windows: Sequence[Any]) -> tuple[Segments, list[tuple[int, int]]]:
    """Runs of windows with the same top label (windows not a known action make runs of
    their own, the stretches returned second), each from its first window's start to the
    next run's start (the last to its end), so that segments never overlap."""
    from dataclasses import replace

    from stmanet.engine.timeline import predicted_segments

    marked = [replace(w, labels=[_UNKNOWN]) if w.known is False else w for w in windows]
    runs = predicted_segments(sorted(marked, key=lambda w: w.start_frame))
    rows = []
    for i, run in enumerate(runs):
        end = runs[i + 1].start_frame if i + 1 < len(runs) else run.end_frame
        if end > run.start_frame:
            rows.append((run.label, run.start_frame, end, run.label != _UNKNOWN))
    return _split(rows)


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
                on_progress: Progress | None = None,
                unknown: Sequence[tuple[int, int]] = ()) -> VideoCounts:
    """Count each segment of a video (default: the whole video, one segment, no label);
    `unknown`: the stretches not a known action, kept (within the frames) to be shown."""
    emb, fps = embed_video(path, on_progress)
    where = source or printable_path(path)
    kept = _within(unknown, len(emb))
    counts: list[SegmentCount] = []
    if segments is None or segments or not kept:  # else all of it is not a known action
        bounds = _fit(segments, len(emb), where) if segments is not None else None
        counts = count_reps(emb, fps, bounds, settings=settings)
    return VideoCounts(Path(path), fps, len(emb), counts, source or "whole video", kept)


def _within(stretches: Iterable[tuple[int, int]], frames: int) -> tuple[tuple[int, int], ...]:
    return tuple((a, min(b, frames)) for a, b in stretches if a < min(b, frames))


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
    every = action_runs(result.labels, result.unknown)
    runs = [(result.class_names[v], a, b) for v, a, b in every if v is not None]
    unknown = _within(((a, b) for v, a, b in every if v is None), len(emb))
    counts = (count_reps(emb, info.fps, _fit(runs, len(emb), printable_path(path)),
                         settings=settings) if runs else [])
    return prediction, VideoCounts(Path(path), info.fps, len(emb), counts,
                                   "model predictions", unknown), emb


CSV_FIELDS = ("video", "label", "start_frame", "end_frame", "start_s", "end_s", "reps",
              "reps_per_min", "pace_cv", "period_s", "periodicity", "reason", "rep_times")


NOT_KNOWN = "not a known action"


def count_rows(videos: Sequence[VideoCounts]) -> list[dict[str, Any]]:
    """A CSV row per counted segment and per stretch not a known action (label "other",
    no count), in time order."""
    from stmanet.engine.segmentation import OTHER_LABEL

    rows = []
    for video in videos:
        for _, s in video.rows():
            if isinstance(s, tuple):
                a, b = s
                rows.append({"video": printable_path(video.path), "label": OTHER_LABEL,
                             "start_frame": a, "end_frame": b,
                             "start_s": round(a / video.fps, 3),
                             "end_s": round(b / video.fps, 3), "reason": NOT_KNOWN})
                continue
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
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, restval="")
    writer.writeheader()
    writer.writerows(count_rows(videos))
    atomic_write_text(path, buffer.getvalue())
    return path


def counts_text(video: VideoCounts) -> str:
    """A table of one video's counts for a terminal."""
    lines = [f"{printable_path(video.path)}: {len(video.segments)} segment(s), from "
             f"{video.source}"]
    if video.unknown:
        seconds = sum(b - a for a, b in video.unknown) / video.fps
        lines[0] += f"; {seconds:.1f} s not a known action, not counted"
    for _, s in video.rows():
        if isinstance(s, tuple):
            lines.append(f"  {s[0] / video.fps:7.2f}-{s[1] / video.fps:7.2f} s  "
                         f"{NOT_KNOWN.upper()}")
            continue
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
