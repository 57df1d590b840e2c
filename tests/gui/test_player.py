"""The player as a coach uses it: keys, slider, speed, and a picture that keeps time."""

import logging
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget
from videogen import frame_number, qimage_to_rgb, write_video

from app.widgets.player import SPEEDS, PlayerWidget, format_time

WAIT_MS = 5000

log = logging.getLogger(__name__)


def shown_number(player: PlayerWidget) -> int:
    image = player.view.frame()
    assert image is not None
    return frame_number(image)


def open_paused(qtbot, player: PlayerWidget, path: Path) -> None:
    """Open `path` and stop on its first frame."""
    player.open_file(path)
    qtbot.waitUntil(lambda: player.current_index() >= 0, timeout=WAIT_MS)
    player.pause()
    player.seek(0)
    qtbot.waitUntil(lambda: player.current_index() == 0, timeout=WAIT_MS)


def press(qtbot, player: PlayerWidget, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(player.view, key, modifier)


def wait_for_frame(qtbot, player: PlayerWidget, index: int) -> None:
    qtbot.waitUntil(lambda: player.current_index() == index, timeout=WAIT_MS)
    assert shown_number(player) == index


def test_opening_a_video_shows_its_frames_and_plays(qtbot, player, clip):
    with qtbot.waitSignal(player.opened, timeout=WAIT_MS) as opened:
        player.open_file(clip)
    assert opened.args[0].frame_count == 100
    qtbot.waitUntil(lambda: player.current_index() >= 5, timeout=WAIT_MS)  # it plays
    assert player.is_playing()
    assert shown_number(player) == player.current_index()


def test_space_plays_and_pauses(qtbot, player, clip):
    open_paused(qtbot, player, clip)
    press(qtbot, player, Qt.Key.Key_Space)
    assert player.is_playing()
    qtbot.waitUntil(lambda: player.current_index() >= 3, timeout=WAIT_MS)

    press(qtbot, player, Qt.Key.Key_Space)
    assert not player.is_playing()
    qtbot.wait(50)  # let an answer already on its way arrive
    stopped_at = player.current_index()
    qtbot.wait(250)
    assert player.current_index() == stopped_at
    assert shown_number(player) == stopped_at


def test_arrow_keys_step_by_frames_and_seconds(qtbot, player, clip):
    open_paused(qtbot, player, clip)
    for _ in range(3):
        press(qtbot, player, Qt.Key.Key_Right)
    wait_for_frame(qtbot, player, 3)
    press(qtbot, player, Qt.Key.Key_Left)
    wait_for_frame(qtbot, player, 2)
    press(qtbot, player, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    wait_for_frame(qtbot, player, 27)  # one second at 25 fps
    press(qtbot, player, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    wait_for_frame(qtbot, player, 2)
    press(qtbot, player, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    wait_for_frame(qtbot, player, 0)  # clamped at the start
    assert not player.is_playing()
    assert player.position_text() == "00:00.00 / 00:04.00  frame 0 / 100"


def test_home_and_end_show_the_first_and_last_frame(qtbot, player, clip):
    open_paused(qtbot, player, clip)
    press(qtbot, player, Qt.Key.Key_End)
    wait_for_frame(qtbot, player, 99)
    assert player.position_text().endswith("frame 99 / 100")
    press(qtbot, player, Qt.Key.Key_Home)
    wait_for_frame(qtbot, player, 0)
    player.play()
    qtbot.waitUntil(lambda: player.current_index() > 3, timeout=WAIT_MS)
    press(qtbot, player, Qt.Key.Key_End)  # a playing video stops on its last frame
    wait_for_frame(qtbot, player, 99)
    assert not player.is_playing()


def test_what_is_painted_is_the_requested_frame(qtbot, player, clip):
    open_paused(qtbot, player, clip)
    player.seek(77)
    wait_for_frame(qtbot, player, 77)
    player.view.resize(400, 400)  # taller than the picture: bars above and below
    rect = player.view.frame_rect()
    assert rect == QRectF(0, 50, 400, 300)

    painted = player.view.grab().toImage()
    background = painted.pixelColor(200, 20)
    assert background == QColor("#0e0f11")
    inside = qimage_to_rgb(painted.copy(rect.toRect()))
    assert frame_number(inside) == 77
    assert player.position_text() == "00:03.08 / 00:04.00  frame 77 / 100"


def test_seek_lands_on_the_frame_and_playing_continues_from_there(qtbot, player, clip):
    open_paused(qtbot, player, clip)
    player.seek(60)
    wait_for_frame(qtbot, player, 60)
    player.seek(12)
    wait_for_frame(qtbot, player, 12)
    player.play()
    qtbot.waitUntil(lambda: player.current_index() > 14, timeout=WAIT_MS)
    assert 12 < player.current_index() < 40


def test_clicking_the_slider_jumps_there(qtbot, player, clip):
    open_paused(qtbot, player, clip)
    slider = player._seek_slider
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() // 2, 9))
    qtbot.waitUntil(lambda: 40 <= player.current_index() <= 60, timeout=WAIT_MS)
    assert shown_number(player) == player.current_index()


def test_dragging_the_slider_shows_frames_on_the_way(qtbot, player, clip):
    player.open_file(clip)
    qtbot.waitUntil(player.is_playing, timeout=WAIT_MS)
    slider = player._seek_slider
    shown: list[int] = []
    player.frameShown.connect(shown.append)

    slider.setSliderDown(True)  # what a press on the handle does
    assert not player.is_playing()
    for value in range(10, 91, 10):
        slider.setSliderPosition(value)  # what dragging does: emits sliderMoved
        qtbot.wait(15)
    qtbot.waitUntil(lambda: player.current_index() == 90, timeout=WAIT_MS)
    assert len([i for i in shown if 10 <= i < 90]) >= 3  # the picture followed the handle
    slider.setSliderDown(False)
    assert player.is_playing()  # it was playing before the drag
    assert shown_number(player) >= 90


def test_speed_changes_the_playback_rate(qtbot, player, clip):
    open_paused(qtbot, player, clip)

    def rate_at(speed: float) -> float:
        player.set_speed(speed)
        player.seek(0)
        qtbot.waitUntil(lambda: player.current_index() == 0, timeout=WAIT_MS)
        player.play()
        start = time.monotonic()
        qtbot.wait(800)
        frames, elapsed = player.current_index(), time.monotonic() - start
        player.pause()
        return frames / elapsed

    slow, fast = rate_at(0.5), rate_at(2.0)
    assert slow == pytest.approx(12.5, rel=0.35)
    assert fast == pytest.approx(50.0, rel=0.35)
    assert fast / slow > 2.5


def test_bracket_keys_step_through_the_speeds(qtbot, player, clip):
    open_paused(qtbot, player, clip)
    press(qtbot, player, Qt.Key.Key_BracketRight)
    assert player.speed() == 1.5
    assert player._speed_combo.currentText() == "1.5×"
    for _ in range(10):
        press(qtbot, player, Qt.Key.Key_BracketLeft)
    assert player.speed() == SPEEDS[0] == 0.25
    player._speed_combo.setCurrentIndex(SPEEDS.index(2.0))
    assert player.speed() == 2.0


def test_keys_typed_into_a_text_field_stay_there(qtbot, clip):
    # A panel with a text field (a label name, later) next to the player.
    host = QWidget()
    qtbot.addWidget(host)
    player = PlayerWidget(host)
    field = QLineEdit(host)
    layout = QVBoxLayout(host)
    layout.addWidget(player)
    layout.addWidget(field)
    host.show()
    qtbot.waitExposed(host)
    host.activateWindow()
    try:
        open_paused(qtbot, player, clip)
        player.seek(10)
        wait_for_frame(qtbot, player, 10)
        field.setFocus()
        qtbot.keyClicks(field, "a b")
        qtbot.keyClick(field, Qt.Key.Key_Left)
        qtbot.keyClick(field, Qt.Key.Key_Space)
        assert field.text() == "a  b"
        assert not player.is_playing()
        assert player.current_index() == 10

        qtbot.mouseClick(player.view, Qt.MouseButton.LeftButton)  # back to the picture
        qtbot.keyClick(player.view, Qt.Key.Key_Right)
        wait_for_frame(qtbot, player, 11)
    finally:
        player.shutdown()


def test_the_gui_thread_keeps_serving_events_during_playback(qtbot, player, tmp_path,
                                                              stall_meter):
    # Bigger frames at 2x a high frame rate: the decoder has work to do, and skips.
    video = write_video(tmp_path / "busy.mp4", 200, fps=50.0, width=640, height=360)
    player.resize(1280, 760)
    open_paused(qtbot, player, video)

    stall_meter.start()
    player.set_speed(2.0)
    started = time.perf_counter()
    player.play()
    qtbot.wait(1500)
    elapsed = time.perf_counter() - started
    index = player.current_index()
    stall_ms = stall_meter.stop()

    log.info("longest event-loop stall during playback: %d ms", stall_ms)
    assert stall_ms < 250, f"the GUI thread stalled for {stall_ms} ms"
    expected = elapsed * 50.0 * 2.0  # where the clock says playback should be
    assert index == pytest.approx(expected, abs=25)  # in step with the clock, not drifting
    assert shown_number(player) == index % 256


def test_overlay_painter_draws_over_the_picture(qtbot, player, clip):
    calls: list[tuple[QRectF, int]] = []

    def mark(painter: QPainter, rect: QRectF, index: int) -> None:
        calls.append((QRectF(rect), index))
        painter.fillRect(QRectF(rect.right() - 30, rect.bottom() - 30, 20, 20), QColor("red"))

    player.set_overlay(mark)
    open_paused(qtbot, player, clip)
    image = player.view.grab().toImage()
    rect, index = calls[-1]
    assert index == 0
    assert rect == player.view.frame_rect()
    assert image.pixelColor(int(rect.right() - 20), int(rect.bottom() - 20)) == QColor("red")


def test_time_format():
    assert format_time(12.4) == "00:12.40"
    assert format_time(65.0) == "01:05.00"
    assert format_time(3723.456) == "1:02:03.46"
