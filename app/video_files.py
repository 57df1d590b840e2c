"""Which files the program offers and accepts as videos (open dialogs, drag and drop)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
    ".3gp", ".mts", ".m2ts", ".ts", ".ogv",
)  # fmt: skip


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def video_file_filter() -> str:
    """The filter of a file dialog that asks for a video."""
    patterns = " ".join(f"*{suffix}" for suffix in VIDEO_SUFFIXES)
    return f"Videos ({patterns});;All files (*)"


def dropped_video(mime: QMimeData) -> Path | None:
    """The first local video file among the files dropped, if any."""
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if is_video_file(path):
                return path
    return None
