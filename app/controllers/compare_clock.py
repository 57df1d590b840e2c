"""The one clock of a comparison (app/controllers/compare.py): while playing, A's frame is
start + elapsed seconds x A's fps x speed, read every 15 ms, so both players are asked for
their frame from the same time and neither drifts from the other."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal


class CompareClock(QObject):
    """Plays A's frames from a start frame. `fps` and `last_frame` are read at each tick (the
    video on side A may change); `ticked(frame)` asks for a new frame; at the last frame it
    pauses (`playingChanged(False)`)."""

    ticked = Signal(int)
    playingChanged = Signal(bool)

    def __init__(self, fps: Callable[[], float], last_frame: Callable[[], int],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fps, self._last_frame = fps, last_frame
        self._playing = False
        self._speed = 1.0
        self._elapsed = QElapsedTimer()
        self._origin = 0
        self._tick = QTimer(self)
        self._tick.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick.setInterval(15)
        self._tick.timeout.connect(self._on_tick)
        self._frame = 0

    def is_playing(self) -> bool:
        return self._playing

    def play(self, frame: int) -> None:
        """Start playing from `frame`."""
        if self._playing:
            return
        self._playing = True
        self.restart(frame)
        self._tick.start()
        self.playingChanged.emit(True)

    def pause(self) -> None:
        if self._playing:
            self._playing = False
            self._tick.stop()
            self.playingChanged.emit(False)

    def restart(self, frame: int) -> None:
        """Count on from `frame` (after a seek or a change of speed)."""
        self._origin = self._frame = frame
        self._elapsed.restart()

    def set_speed(self, speed: float, frame: int) -> None:
        self._speed = speed
        if self._playing:
            self.restart(frame)

    def _on_tick(self) -> None:
        target = self._origin + int(self._elapsed.elapsed() / 1000.0 * self._fps()
                                    * self._speed)
        last = self._last_frame()
        if target >= last:
            self._frame = last
            self.ticked.emit(last)
            self.pause()
            return
        if target != self._frame:
            self._frame = target
            self.ticked.emit(target)
