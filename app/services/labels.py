"""What the app adds to the engine's label projects (stmanet.data.project, shared with the
trainer): the untitled project's draft, and a video's frame rate for the durations the
Labels panel shows."""

from __future__ import annotations

import math
from pathlib import Path

import cv2

from stmanet.data.decode import opencv_filename
from stmanet.data.project import LabelProject
from stmanet.errors import STMANetError
from stmanet.fileio import atomic_write_text


def write_draft(project: LabelProject, path: Path) -> None:
    """Keep an untitled project in `path` (atomically, videos as absolute paths) without
    making `path` the project's file."""
    atomic_write_text(path, project.to_json(base=None))


def load_draft(path: Path) -> LabelProject:
    """An untitled project kept by `write_draft` (it has no file of its own)."""
    project = LabelProject.load(path)
    project.path = None
    return project


def read_fps(path: Path) -> float | None:
    """The frame rate a video file reports (quick: no frame is decoded); None when it cannot
    be opened or reports none."""
    try:
        with opencv_filename(path) as name:
            capture = cv2.VideoCapture(name)
    except STMANetError:
        return None
    try:
        if not capture.isOpened():
            return None
        fps = float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return fps if math.isfinite(fps) and 1.0 <= fps <= 1000.0 else None
