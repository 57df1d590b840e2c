"""The dialogs that ask what to open: a video file (starting in the last folder used), a
camera number, a stream address (checked, remembered)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QWidget

from app.services.frames import STREAM_SCHEMES, is_stream_url
from app.video_files import video_file_filter

ErrorPresenter = Callable[[str, str], None]  # (title, message)


def ask_for_video(parent: QWidget, settings: QSettings, title: str = "Open video"
                  ) -> Path | None:
    """A video file chosen by the user, or None; the dialog starts in the last folder a video
    was opened from (else the Videos folder)."""
    start = str(settings.value("paths/last_directory", "", type=str))
    if not start or not Path(start).is_dir():
        start = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    file, _ = QFileDialog.getOpenFileName(parent, title, start, video_file_filter())
    return Path(file) if file else None


def ask_for_camera(parent: QWidget) -> int | None:
    index, ok = QInputDialog.getInt(
        parent, "Open camera", "Camera number (0 is the first camera):", 0, 0, 99
    )
    return index if ok else None


def ask_for_stream(parent: QWidget, settings: QSettings, present_error: ErrorPresenter
                   ) -> str | None:
    """A stream address (rtsp://, http://, ...), remembered for next time; an address of no
    known scheme is refused with a message and gives None."""
    last = str(settings.value("paths/last_stream", "", type=str))
    url, ok = QInputDialog.getText(parent, "Open stream", "Stream address (rtsp://, http://, …):",
                                   QLineEdit.EchoMode.Normal, last)
    url = url.strip()
    if not ok or not url:
        return None
    if not is_stream_url(url):
        schemes = ", ".join(f"{s}://" for s in STREAM_SCHEMES[:6])
        present_error("Not a stream address",
                      f"“{url}” is not a stream address. It should start with one of {schemes}.")
        return None
    settings.setValue("paths/last_stream", url)
    return url
