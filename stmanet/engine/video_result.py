"""What a whole-video analysis keeps for a report: one result per video.

`analyse_video` decodes a video once and gives, in a plain JSON-able dict (`VideoResult`):

- the per-frame result (engine/segmentation.py) cut into segments; frames most of whose
  covering windows are "not a known action" (a model with open-set statistics) form segments
  of their own with `action` None;
- seconds per action, seconds not a known action (None when the model cannot tell);
- the repetitions of every known segment (engine/reps.py; `reps` None where the counter
  abstains, e.g. nothing periodic) with their pace;
- a key frame per segment (the middle of the window that was surest of the segment's action)
  and, for the segment's key window, the network's spatial attention map (stage 4, as the
  app's heatmap, or the nearest stage that has one), so that a report can draw a heatmap
  without running the model again;
- every window's scores, so that the per-frame result can be redrawn without the model;
- the model (file name, SHA-256, name, accuracy when the file records one) and the video's
  size and modification time, which tell whether a result on file is still the video's.

The file format is described in docs/reports.md; `RESULT_VERSION` changes when it does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stmanet.engine import segmentation as seg
from stmanet.fileio import file_sha256

RESULT_FORMAT = "stmanet-video-result"
RESULT_VERSION = 1
UNKNOWN_LABEL = "not a known action"

Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class AnalysisSettings:
    """How videos are analysed; a result made with other settings is made again."""

    hop: int | None = None  # None: a quarter window (segmentation.default_hop)
    smoothing: str = seg.DEFAULT_SMOOTHING
    switch_penalty: float = seg.DEFAULT_SWITCH_PENALTY
    median_frames: int = seg.DEFAULT_MEDIAN_FRAMES
    weighting: str = seg.DEFAULT_WEIGHTING
    refine: bool = True  # changes placed on the frames' embeddings (engine.boundaries)
    novelty_threshold: float | None = None
    sensitivity: str | None = None
    batch_size: int | None = None  # None: 1 on a CPU, 8 on a GPU (inference.default_batch_size)
    backend: str = "torch"  # or "openvino" (engine/openvino_backend.py)
    ir: str | None = None  # an OpenVINO file of the model (`stmanet export --format openvino`)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("batch_size")  # does not change the numbers
        if data["backend"] == "torch" and data["ir"] is None:
            del data["backend"], data["ir"]  # results of the model itself, as before
        return data


def model_identity(path: Path | str) -> dict[str, Any]:
    """The model file as a result names it: file name, SHA-256, the network's name and the
    accuracy its file records (top-1 on which data), when it does."""
    from stmanet.engine.checkpoint import read_metadata

    path = Path(path)
    meta = read_metadata(path)
    report = meta.report or {}
    accuracy = None
    if isinstance(report.get("top1"), (int, float)):
        accuracy = {"top1": float(report["top1"]),
                    "top5": float(report["top5"]) if isinstance(report.get("top5"),
                                                                (int, float)) else None,
                    "videos": report.get("count"), "data": report.get("data"),
                    "subset": report.get("subset")}
    return {"file": path.name, "sha256": file_sha256(path),
            "name": str(meta.provenance.get("model_name") or f"stmanet_r{meta.model.depth}"),
            "classes": list(meta.class_names), "accuracy": accuracy}


def video_identity(path: Path | str) -> dict[str, Any]:
    """The video as a result names it: its absolute path, size and modification time."""
    path = Path(path)
    st = path.stat()
    return {"path": str(path.resolve()), "name": path.name, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}


def _key_window(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray,
                novelty: list[float | None], a: int, b: int, label: int | None) -> int:
    """The window that best shows frames [a, b): most of it inside, the surest of `label`
    (for a stretch not a known action: the most novel)."""
    inside = np.minimum(ends, b) - np.maximum(starts, a)
    length = np.maximum(1, ends - starts)
    candidates = np.flatnonzero(inside >= 0.5 * np.minimum(length, b - a))
    if candidates.size == 0:
        candidates = np.asarray([int(np.argmax(inside))])
    if label is None:
        values = np.asarray([novelty[i] or 0.0 for i in candidates])
    else:
        values = scores[candidates, label]
    return int(candidates[int(np.argmax(values))])


HEATMAP_STAGE = 4
"""The stage whose spatial attention a report shows (the app's heatmap default)."""


def _stage_map(maps: list[np.ndarray | None] | None) -> tuple[int, np.ndarray] | None:
    """(stage, map) of HEATMAP_STAGE, or of the nearest stage that has a map."""
    found = {stage: m for stage, m in zip((2, 3, 4, 5), maps or [], strict=False)
             if m is not None}
    if not found:
        return None
    stage = min(found, key=lambda st: (abs(st - HEATMAP_STAGE), st))
    return stage, found[stage]


def analyse_video(predictor: Any, path: Path | str, settings: AnalysisSettings, *,
                  model: dict[str, Any], on_progress: Progress | None = None,
                  should_cancel: CancelCheck | None = None) -> dict[str, Any]:
    """One video's result (see the module's docstring); `model` is `model_identity` of the
    predictor's file. The predictor must have been made with attention=True for heatmaps."""
    from stmanet.data.decode import iter_frames, probe
    from stmanet.engine.reps import count_reps, frame_embedding

    path = Path(path)
    identity = video_identity(path)
    info = probe(path)
    embeddings: list[np.ndarray] = []

    def frames():
        for pos, frame in iter_frames(path):
            embeddings.append(frame_embedding(frame))
            yield pos, frame

    stream = frames()
    hop = settings.hop or seg.default_hop(predictor.spec.window)
    prediction = predictor.predict_frames(stream, info.frame_count, info.fps, path=path,
                                          hop=hop, on_progress=on_progress,
                                          should_cancel=should_cancel)
    for _ in stream:  # the frames after the last window, for the counter
        pass
    timeline = seg.frame_timeline(prediction, smoothing=settings.smoothing,
                                  switch_penalty=settings.switch_penalty,
                                  median_frames=settings.median_frames,
                                  weighting=settings.weighting,
                                  embeddings=np.stack(embeddings) if embeddings else None,
                                  refine=settings.refine)
    fps = timeline.fps
    n = timeline.num_frames
    windows = prediction.windows
    starts = np.asarray([w.start_frame for w in windows], dtype=np.int64)
    ends = np.asarray([w.end_frame for w in windows], dtype=np.int64)
    scores = np.asarray(prediction.window_scores, dtype=np.float64)
    known = [w.known for w in windows]
    novelty = [w.novelty for w in windows]
    other = timeline.unknown
    segments: list[dict[str, Any]] = []
    for value, a, b in seg.action_runs(timeline.labels, other):
        action = None if value is None else timeline.class_names[value]
        key = _key_window(starts, ends, scores, novelty, a, b, value)
        w = windows[key]
        attention = _stage_map(w.spatial_attention)
        segments.append({
            "action": action, "start_frame": a, "end_frame": b,
            "start_s": round(a / fps, 4), "end_s": round(b / fps, 4),
            "seconds": round((b - a) / fps, 4),
            "mean_score": (round(float(np.mean(timeline.scores[a:b, value])), 6)
                           if value is not None else None),
            "key_frame": int(min(b - 1, max(a, (w.start_frame + w.end_frame) // 2))),
            "key_window": [w.start_frame, w.end_frame],
            "attention": (None if attention is None else
                          np.round(attention[1].astype(np.float64), 5).tolist()),
            "attention_stage": None if attention is None else attention[0],
            "reps": None})
    decoded = min(len(embeddings), n)
    counted = [s for s in segments if s["action"] is not None and s["start_frame"] < decoded]
    if counted and decoded:
        emb = np.stack(embeddings[:decoded])
        results = count_reps(emb, fps, [(s["action"], s["start_frame"],
                                         min(s["end_frame"], decoded)) for s in counted])
        for s, c in zip(counted, results, strict=True):
            d = c.to_dict()
            s["reps"] = {k: d[k] for k in ("reps", "reason", "reps_per_min", "pace_cv",
                                           "period_s", "rep_times")}
    seconds: dict[str, float] = {}
    for s in segments:
        if s["action"] is not None:
            seconds[s["action"]] = seconds.get(s["action"], 0.0) + (s["end_frame"] -
                                                                    s["start_frame"]) / fps
    return {
        "format": RESULT_FORMAT, "version": RESULT_VERSION,
        "video": identity, "model": model, "settings": settings.to_dict(),
        "fps": fps, "num_frames": n, "duration_s": round(n / fps, 4),
        "class_names": list(timeline.class_names),
        "can_tell_unknowns": other is not None,
        "novelty_threshold": predictor.novelty_threshold,
        "attention": predictor.attention_status,
        "segments": segments,
        "seconds": {k: round(v, 4) for k, v in sorted(seconds.items())},
        "unknown_s": None if other is None else round(int(other.sum()) / fps, 4),
        "windows": {"hop": hop, "window": predictor.spec.window,
                    "starts": starts.tolist(), "ends": ends.tolist(),
                    "scores": np.round(scores, 5).tolist(),
                    "known": known, "novelty": [None if v is None else round(float(v), 5)
                                                for v in novelty]},
    }


def is_current(result: dict[str, Any], video: Path | str, model: dict[str, Any],
               settings: AnalysisSettings) -> bool:
    """Whether a result on file is still that of `video` analysed by `model` with
    `settings` (same format version, model file, settings, video size and time)."""
    try:
        ident = result["video"]
        st = os.stat(video)
        return (result.get("format") == RESULT_FORMAT
                and result.get("version") == RESULT_VERSION
                and result["model"]["sha256"] == model["sha256"]
                and result["settings"] == settings.to_dict()
                and ident["size"] == st.st_size and ident["mtime_ns"] == st.st_mtime_ns)
    except (KeyError, TypeError, OSError):
        return False
