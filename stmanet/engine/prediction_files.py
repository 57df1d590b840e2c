"""Prediction files: per-window predictions as CSV or JSON (`stmanet predict -o`, the app's
export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stmanet.engine.inference import VideoPrediction, _novelty_value
from stmanet.errors import ConfigError, printable_path


def write_predictions(path: Path | str, predictions: list[VideoPrediction], *,
                      attention: bool = False, model: dict[str, Any] | None = None,
                      reps: list[Any] | None = None) -> Path:
    """Per-window predictions to CSV or JSON, chosen by the file's suffix.

    CSV: one row per window: video, start_frame, end_frame, start_s, end_s, known (1, 0, or
    empty when the model cannot tell), novelty, label_1, score_1, ..., label_k, score_k.
    JSON: {"model": `model` (Predictor.model_info), "predictions": one object per video (see
    VideoPrediction.to_dict), attention maps included when asked for}; with `reps` (one entry
    per video: the repetition counts of its segments, stmanet.engine.reps_video) each video's
    object gets them under "reps".
    """
    import csv
    import io
    import json

    from stmanet.fileio import atomic_write_text

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        document: dict[str, Any] = {} if model is None else {"model": model}
        document["predictions"] = [p.to_dict(attention=attention) for p in predictions]
        if reps is not None:
            for entry, counted in zip(document["predictions"], reps, strict=True):
                entry["reps"] = counted
        atomic_write_text(path, json.dumps(document, indent=1) + "\n")
        return path
    if suffix != ".csv":
        raise ConfigError(f"{path}: choose a .csv or .json file for the predictions")
    k = max((len(w.labels) for p in predictions for w in p.windows), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["video", "start_frame", "end_frame", "start_s", "end_s", "known", "novelty"]
    for i in range(1, k + 1):
        header += [f"label_{i}", f"score_{i}"]
    writer.writerow(header)
    for p in predictions:
        for w in p.windows:
            row: list[Any] = [printable_path(p.path), w.start_frame, w.end_frame,
                              f"{w.start_s:.3f}", f"{w.end_s:.3f}",
                              "" if w.known is None else int(w.known),
                              "" if _novelty_value(w.novelty) is None else f"{w.novelty:.6g}"]
            for label, score in zip(w.labels, w.scores, strict=True):
                row += [label, f"{score:.6f}"]
            writer.writerow(row)
    atomic_write_text(path, buffer.getvalue())
    return path
