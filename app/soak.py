"""`stmanet-app VIDEO --soak SECONDS --report FILE`: the real program, playing for a while.

Plays the video over and over with live recognition for SECONDS, then writes what happened
(frames shown, windows predicted, loops, errors, and how `None`'s reference count moved) as
JSON to FILE and quits: exit status 0 when frames were shown, windows predicted and nothing
failed, else 1. The test suite runs it for over a minute, as a coach's session would, because
short runs hide faults that need time (a binding that loses a reference per call, a queue that
grows, a thread that stalls).
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from app.binding_check import none_can_be_counted

if TYPE_CHECKING:
    from app.main_window import MainWindow

log = logging.getLogger(__name__)


@dataclass
class SoakReport:
    """What a soak run saw; written as JSON."""

    seconds: float = 0.0
    frames_shown: int = 0
    windows_predicted: int = 0
    loops: int = 0
    errors: list[str] = field(default_factory=list)
    none_refcount_change: int | None = None
    """sys.getrefcount(None) at the end minus at the start (None where it is immortal)."""
    python: str = platform.python_version()
    pyside6: str = pyside_version

    def passed(self) -> bool:
        return self.frames_shown > 0 and self.windows_predicted > 0 and not self.errors


class SoakRun(QObject):
    """Counts what `window` shows while its video plays in a loop, for `seconds`."""

    def __init__(self, window: MainWindow, seconds: float, report_path: Path | None) -> None:
        super().__init__(window)
        self._window = window
        self._seconds = seconds
        self._path = report_path
        self.report = SoakReport()
        self._started = 0.0
        self._refs_at_start = sys.getrefcount(None)
        player, service = window.player, window.recognition.service
        player.opened.connect(self._on_opened)
        player.frameShown.connect(self._on_frame)
        player.ended.connect(self._on_ended)
        player.openFailed.connect(self.record_error)
        player.playbackFailed.connect(self.record_error)
        service.predicted.connect(self._on_predicted)
        service.failed.connect(self.record_error)
        service.modelLoadFailed.connect(self.record_error)
        self._stop = QTimer(self)
        self._stop.setSingleShot(True)
        self._stop.timeout.connect(self.finish)

    def _on_opened(self, _info: object) -> None:
        if not self._started:
            self._started = time.monotonic()
            self._stop.start(round(self._seconds * 1000))
            log.info("soak: playing for %.0f s", self._seconds)
            self._window.player.play()

    def _on_frame(self, _index: int) -> None:
        self.report.frames_shown += 1

    def _on_predicted(self, _result: object) -> None:
        self.report.windows_predicted += 1

    def _on_ended(self) -> None:
        self.report.loops += 1
        QTimer.singleShot(0, self._window.player.play)  # from the end, play starts again at 0

    def record_error(self, message: str) -> None:
        log.error("soak: %s", message)
        self.report.errors.append(message)
        if not self._started:  # nothing will play: stop now
            QTimer.singleShot(0, self.finish)

    def finish(self) -> None:
        report = self.report
        report.seconds = round(time.monotonic() - self._started, 2) if self._started else 0.0
        if none_can_be_counted():
            report.none_refcount_change = sys.getrefcount(None) - self._refs_at_start
        text = json.dumps(asdict(report), indent=1)
        log.info("soak: %s", text.replace("\n", ""))
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._path.write_text(text + "\n", encoding="utf-8")
        QApplication.exit(0 if report.passed() else 1)
