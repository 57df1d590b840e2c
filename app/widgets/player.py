"""The coach's video player: the picture, the transport controls and their shortcuts.

`PlayerWidget` owns the playback: the actions and their shortcuts, the clock, and the
requests to the decoder (app/services/video_source.py). The picture is a `VideoView`
(app/widgets/video_view.py); the controls under it are a `TransportBar`
(app/widgets/transport.py).

Timing: while a file plays, a wall clock decides which frame should be on screen
(frame = where the clock started + elapsed seconds x fps x speed). A precise timer looks at
the clock and asks the decoder for that frame. At most one request is in flight; when decoding
falls behind real time, the next request simply names a later frame and the decoder skips
forward to it, so the picture keeps time with the clock instead of drifting. Scrubbing uses the
same rule: the slider's newest position is asked for as soon as the decoder is free, which
throttles it to what the decoder can deliver. Live sources are pulled as fast as they deliver.

Frame numbers are 0-based decode order, as everywhere in the program; frame k is shown at
k / fps seconds.

This module is a little over 500 lines on purpose: what is left is `PlayerWidget`'s playback,
one state machine (the frame on screen, the one request in flight, the frame wanted next,
the clock, playing or not) whose methods nearly all read and write the same few fields to
keep the rule above; split over modules, that rule could no longer be read in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import theme
from app.services.frames import SourceInfo
from app.services.video_source import VideoSource
from app.widgets.icons import MediaIcon, media_icon
from app.widgets.transport import TransportBar
from app.widgets.video_view import OverlayPainter, VideoView

log = logging.getLogger(__name__)

SPEEDS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
JUMP_SECONDS = 1.0


def format_time(seconds: float) -> str:
    """'MM:SS.cc', or 'H:MM:SS.cc' from one hour on."""
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6_000)
    secs, centis = divmod(rest, 100)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"
    return f"{minutes:02d}:{secs:02d}.{centis:02d}"


class PlayerWidget(QWidget):
    """The picture with its transport bar.

    Signals:
      opened(SourceInfo): a new source replaced the old one (its first frame follows).
      openFailed(str): a source could not be opened; the previous one carries on.
      playbackFailed(str): the open source stopped delivering (a camera unplugged, a stream
        dropped, a decoder error).
      frameShown(int): the frame with this number is now on screen.
      playingChanged(bool), speedChanged(float), ended().
    """

    opened = Signal(object)
    openFailed = Signal(str)
    playbackFailed = Signal(str)
    frameShown = Signal(int)
    playingChanged = Signal(bool)
    speedChanged = Signal(float)
    ended = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        source: VideoSource | None = None,
        autoplay: bool = True,
    ) -> None:
        super().__init__(parent)
        self._source = source if source is not None else VideoSource(self)
        self._autoplay = autoplay

        self._info: SourceInfo | None = None
        self._current = -1  # the frame on screen
        self._pending: int | None = None  # asked of the decoder, not answered yet
        self._wanted: int | None = None  # to ask for as soon as the decoder is free
        self._opening = False
        self._playing = False
        self._play_when_shown = False
        self._resume_after_scrub = False
        self._speed = 1.0
        self._clock = QElapsedTimer()
        self._clock_origin = 0  # the frame the clock started from

        self._tick_timer = QTimer(self)
        self._tick_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick_timer.timeout.connect(self._on_tick)

        self._create_actions()
        self._build()
        self._source.opened.connect(self._on_opened)
        self._source.frameDecoded.connect(self._on_frame_decoded)
        self._source.failed.connect(self._on_failed)
        self._source.ended.connect(self._on_source_ended)
        self._update_controls()
        self._update_position()

    # --- construction --------------------------------------------------------------------

    def _create_actions(self) -> None:
        def action(text: str, keys: QKeySequence | str, slot: Callable[[], None]) -> QAction:
            act = QAction(text, self)
            act.setShortcut(QKeySequence(keys))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setToolTip(f"{text} ({act.shortcut().toString(QKeySequence.NativeText)})")
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        icon = theme.TEXT
        self.play_action = action("Play", Qt.Key.Key_Space, self.toggle_playback)
        self.step_backward_action = action("Previous frame", Qt.Key.Key_Left, lambda: self.step(-1))
        self.step_forward_action = action("Next frame", Qt.Key.Key_Right, lambda: self.step(1))
        self.jump_backward_action = action(
            "Back 1 s", QKeySequence(Qt.Modifier.SHIFT | Qt.Key.Key_Left), self.jump_backward
        )
        self.jump_forward_action = action(
            "Forward 1 s", QKeySequence(Qt.Modifier.SHIFT | Qt.Key.Key_Right), self.jump_forward
        )
        self.first_frame_action = action("First frame", Qt.Key.Key_Home, self.first_frame)
        self.last_frame_action = action("Last frame", Qt.Key.Key_End, self.last_frame)
        self.slower_action = action("Slower", "[", self.slower)
        self.faster_action = action("Faster", "]", self.faster)
        self.step_backward_action.setIcon(media_icon(MediaIcon.STEP_BACKWARD, icon))
        self.step_forward_action.setIcon(media_icon(MediaIcon.STEP_FORWARD, icon))
        self.jump_backward_action.setIcon(media_icon(MediaIcon.JUMP_BACKWARD, icon))
        self.jump_forward_action.setIcon(media_icon(MediaIcon.JUMP_FORWARD, icon))
        self._play_icon = media_icon(MediaIcon.PLAY, "#0b0c0d")
        self._pause_icon = media_icon(MediaIcon.PAUSE, "#0b0c0d")
        self.play_action.setIcon(self._play_icon)
        for act in (self.step_backward_action, self.step_forward_action):
            act.setAutoRepeat(True)
        for act in self.playback_actions():
            act.setIconVisibleInMenu(False)  # the shortcut column says enough

    def playback_actions(self) -> list[QAction]:
        """The transport's actions in menu order: play, six moves, two speeds."""
        return [
            self.play_action,
            self.step_backward_action,
            self.step_forward_action,
            self.jump_backward_action,
            self.jump_forward_action,
            self.first_frame_action,
            self.last_frame_action,
            self.slower_action,
            self.faster_action,
        ]

    def _build(self) -> None:
        self._view = VideoView(self)
        self._view.set_placeholder_text("Open a video (Ctrl+O) or drop a file here")

        self._transport = TransportBar(
            [self.jump_backward_action, self.step_backward_action, self.play_action,
             self.step_forward_action, self.jump_forward_action], SPEEDS, self)
        # the controls the player keeps up to date
        self._seek_slider = self._transport.seek_slider
        self._time_label = self._transport.time_label
        self._frame_label = self._transport.frame_label
        self._live_badge = self._transport.live_badge
        self._speed_caption = self._transport.speed_caption
        self._speed_combo = self._transport.speed_combo
        self._seek_slider.sliderPressed.connect(self._on_scrub_started)
        self._seek_slider.sliderMoved.connect(self._on_scrubbed)
        self._seek_slider.sliderReleased.connect(self._on_scrub_finished)
        self._speed_combo.currentIndexChanged.connect(
            lambda i: self.set_speed(SPEEDS[i]) if i >= 0 else None
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._view, 1)
        layout.addWidget(self._transport)

    # --- what other code reads -----------------------------------------------------------

    @property
    def view(self) -> VideoView:
        return self._view

    @property
    def video_source(self) -> VideoSource:
        """The decoder; `video_source.recent_frames(n)` gives the newest decoded frames."""
        return self._source

    def source_info(self) -> SourceInfo | None:
        return self._info

    def current_index(self) -> int:
        """The number of the frame on screen; -1 while there is none."""
        return self._current

    def is_playing(self) -> bool:
        return self._playing

    def is_opening(self) -> bool:
        return self._opening

    def speed(self) -> float:
        return self._speed

    def position_text(self) -> str:
        """What the transport shows, e.g. '00:12.40 / 01:05.00  frame 310 / 1625'."""
        return f"{self._time_label.text()}  {self._frame_label.text()}".strip()

    def set_overlay(self, painter: OverlayPainter | None) -> None:
        """Draw over the picture; see OverlayPainter. Call view.update() to repaint."""
        self._view.set_overlay(painter)

    # --- opening -------------------------------------------------------------------------

    def open_file(self, path: Path | str) -> None:
        self._begin_open()
        self._source.open_file(str(path))

    def open_camera(self, index: int) -> None:
        self._begin_open()
        self._source.open_camera(index)

    def open_stream(self, url: str) -> None:
        self._begin_open()
        self._source.open_stream(url)

    def _begin_open(self) -> None:
        # Frames still on their way belong to the old source; they are dropped until the
        # decoder answers the open (answers arrive in the order of the requests).
        self._opening = True
        self._wanted = None

    def _on_opened(self, info: SourceInfo) -> None:
        self._opening = False
        self._set_playing(False)
        self._info = info
        self._current = -1
        self._pending = None
        self._wanted = None
        self._play_when_shown = self._autoplay
        with QSignalBlocker(self._seek_slider):
            self._seek_slider.setRange(0, max(0, (info.frame_count or 1) - 1))
            self._seek_slider.setValue(0)
        self._live_badge.setVisible(info.is_live)
        self._update_controls()
        self.opened.emit(info)
        self._request(0)

    def _on_failed(self, message: str) -> None:
        if self._opening:
            self._opening = False
            log.warning("could not open: %s", message)
            if self._playing and self._info is not None:
                self._restart_clock(max(self._current, 0))
                if self._info.is_live:
                    self._wanted = self._current + 1
            self._dispatch()
            self.openFailed.emit(message)
            return
        self._pending = None
        log.warning("playback failed: %s", message)
        self._set_playing(False)
        if self._info is not None and self._info.is_live:
            self._info = None  # the decoder has let the source go
            self._live_badge.hide()
        self._update_controls()
        self.playbackFailed.emit(message)

    # --- playback ------------------------------------------------------------------------

    def play(self) -> None:
        if self._info is None or self._playing:
            return
        if self._info.is_live:
            self._set_playing(True)
            self._request(self._current + 1)
            return
        origin = self._target_index()
        if origin >= self._last_index():
            origin = 0  # played to the end: start again
            self._request(0)
        self._set_playing(True)
        self._restart_clock(max(origin, 0))

    def pause(self) -> None:
        self._set_playing(False)

    def toggle_playback(self) -> None:
        if self._playing:
            self.pause()
        else:
            self.play()

    def step(self, frames: int) -> None:
        """Pause and move by `frames` (negative: back)."""
        if self._info is None or self._info.is_live:
            return
        self.pause()
        self._request(self._clamp(self._target_index() + frames))

    def first_frame(self) -> None:
        """Pause on the first frame."""
        self.step(-self._target_index())

    def last_frame(self) -> None:
        """Pause on the last frame."""
        self.step(self._last_index() - self._target_index())

    def jump(self, seconds: float) -> None:
        """Move by `seconds`; playback carries on if it was running."""
        if self._info is None or self._info.is_live:
            return
        self.seek(self._target_index() + round(seconds * self._info.fps))

    def jump_forward(self) -> None:
        self.jump(JUMP_SECONDS)

    def jump_backward(self) -> None:
        self.jump(-JUMP_SECONDS)

    def seek(self, index: int) -> None:
        """Show frame `index` (clamped to the video); playback carries on from there."""
        if self._info is None or self._info.is_live:
            return
        index = self._clamp(index)
        self._request(index)
        if self._playing:
            self._restart_clock(index)

    def set_speed(self, speed: float) -> None:
        """Playback speed; snapped to the nearest of SPEEDS."""
        speed = min(SPEEDS, key=lambda s: abs(s - speed))
        if speed == self._speed:
            return
        self._speed = speed
        with QSignalBlocker(self._speed_combo):
            self._speed_combo.setCurrentIndex(SPEEDS.index(speed))
        if self._playing and self._info is not None and not self._info.is_live:
            self._restart_clock(self._target_index())
        self.speedChanged.emit(speed)

    def faster(self) -> None:
        self._step_speed(1)

    def slower(self) -> None:
        self._step_speed(-1)

    def _step_speed(self, direction: int) -> None:
        if self._info is not None and self._info.is_live:
            return
        position = SPEEDS.index(self._speed) + direction
        if 0 <= position < len(SPEEDS):
            self.set_speed(SPEEDS[position])

    def shutdown(self) -> None:
        """Stop playback and the decoder thread (the window calls this when it closes)."""
        self._set_playing(False)
        self._source.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- the clock -----------------------------------------------------------------------

    def _set_playing(self, playing: bool) -> None:
        if playing == self._playing:
            return
        self._playing = playing
        if playing and self._info is not None and not self._info.is_live:
            self._tick_timer.start(self._tick_interval_ms())
        else:
            self._tick_timer.stop()
        self.play_action.setText("Pause" if playing else "Play")
        self.play_action.setToolTip(f"{self.play_action.text()} (Space)")
        self.play_action.setIcon(self._pause_icon if playing else self._play_icon)
        self.playingChanged.emit(playing)

    def _tick_interval_ms(self) -> int:
        # Look at the clock twice per frame period, so a frame is never late by a whole period.
        assert self._info is not None
        return max(4, round(1000.0 / (self._info.fps * self._speed) / 2))

    def _restart_clock(self, origin: int) -> None:
        self._clock_origin = origin
        self._clock.restart()
        if self._tick_timer.isActive():
            self._tick_timer.setInterval(self._tick_interval_ms())

    def _on_tick(self) -> None:
        if not self._playing or self._opening or self._info is None or self._info.is_live:
            return
        elapsed = self._clock.elapsed() / 1000.0
        target = self._clock_origin + int(elapsed * self._info.fps * self._speed)
        last = self._last_index()
        if target > last:
            if self._current >= last and self._pending is None and self._wanted is None:
                self._reach_end()
                return
            target = last
        if self._pending is None and self._wanted is None and target > self._current:
            self._request(target)

    def _reach_end(self) -> None:
        self._set_playing(False)
        if self._current < self._last_index():
            self._request(self._last_index())
        self.ended.emit()

    # --- talking to the decoder ----------------------------------------------------------

    def _request(self, index: int) -> None:
        self._wanted = index
        self._dispatch()

    def _dispatch(self) -> None:
        """Send the wanted request if the decoder is free (one request in flight at most)."""
        if self._pending is not None or self._wanted is None:
            return
        if self._opening or self._info is None:
            return
        target, self._wanted = self._wanted, None
        if self._info.is_live:
            self._pending = target
            self._source.read_next()
            return
        target = self._clamp(target)
        if target == self._current:
            return
        self._pending = target
        self._source.seek(target)

    def _on_frame_decoded(self, index: int, image: QImage) -> None:
        self._pending = None
        if self._opening or self._info is None:
            return  # the answer to a request made for the previous source
        self._current = index
        self._view.set_frame(image, index)
        self._update_position()
        self.frameShown.emit(index)
        if self._play_when_shown:
            self._play_when_shown = False
            self.play()
        if self._playing and self._info.is_live and self._wanted is None:
            self._wanted = index + 1
        self._dispatch()

    def _on_source_ended(self) -> None:
        asked, self._pending = self._pending, None
        if self._opening or self._info is None:
            return
        count = self._info.frame_count
        if asked is not None and count is not None and 0 < asked < count:
            # The file promised more frames than decode: believe the decoder.
            log.info("%s: only %d of %d frames decode", self._info.name, asked, count)
            self._info = replace(self._info, frame_count=asked)
            with QSignalBlocker(self._seek_slider):
                self._seek_slider.setMaximum(asked - 1)
            self._update_position()
        self._wanted = None
        self._reach_end()

    # --- scrubbing -----------------------------------------------------------------------

    def _on_scrub_started(self) -> None:
        self._resume_after_scrub = self._playing
        self.pause()

    def _on_scrubbed(self, value: int) -> None:
        self._request(value)

    def _on_scrub_finished(self) -> None:
        self._request(self._seek_slider.value())
        if self._resume_after_scrub:
            self._resume_after_scrub = False
            self.play()

    # --- internals -------------------------------------------------------------------------

    def _target_index(self) -> int:
        """The frame that is, or is about to be, on screen."""
        for index in (self._wanted, self._pending):
            if index is not None:
                return index
        return max(self._current, 0)

    def _last_index(self) -> int:
        if self._info is None or self._info.frame_count is None:
            return max(self._current, 0)
        return max(0, self._info.frame_count - 1)

    def _clamp(self, index: int) -> int:
        return min(max(0, index), self._last_index())

    def _update_controls(self) -> None:
        has_source = self._info is not None
        seekable = has_source and self._info is not None and not self._info.is_live
        self.play_action.setEnabled(has_source)
        for act in (
            self.step_backward_action,
            self.step_forward_action,
            self.jump_backward_action,
            self.jump_forward_action,
            self.first_frame_action,
            self.last_frame_action,
            self.slower_action,
            self.faster_action,
        ):
            act.setEnabled(seekable)
        self._seek_slider.setEnabled(seekable)
        self._speed_combo.setEnabled(seekable)
        self._speed_caption.setEnabled(seekable)
        self._time_label.setEnabled(has_source)

    def _update_position(self) -> None:
        info, index = self._info, max(self._current, 0)
        if info is None:
            self._time_label.setText(f"{format_time(0)} / {format_time(0)}")
            self._frame_label.setText("")
            return
        if info.frame_count is None:
            self._time_label.setText(format_time(info.time_of(index)))
            self._frame_label.setText(f"frame {index}")
            return
        self._time_label.setText(
            f"{format_time(info.time_of(index))} / {format_time(info.duration or 0.0)}"
        )
        self._frame_label.setText(f"frame {index} / {info.frame_count}")
        if not self._seek_slider.isSliderDown():
            with QSignalBlocker(self._seek_slider):
                self._seek_slider.setValue(index)
