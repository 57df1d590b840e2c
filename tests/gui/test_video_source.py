"""The decoder thread: what it opens, which frame it hands out, and how it fails."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from videogen import frame_number

from app.services.frames import (
    DEFAULT_FPS,
    FrameRingBuffer,
    SourceInfo,
    SourceKind,
    is_stream_url,
    sane_fps,
)
from app.services.video_source import VideoSource

WAIT_MS = 5000


@pytest.fixture
def source(qtbot) -> Iterator[VideoSource]:
    src = VideoSource()
    yield src
    assert src.shutdown()
    assert not src.is_running


def open_clip(qtbot, source: VideoSource, path: Path) -> SourceInfo:
    with qtbot.waitSignal(source.opened, timeout=WAIT_MS) as blocker:
        source.open_file(path)
    return blocker.args[0]


def decoded(qtbot, source: VideoSource, request) -> tuple[int, int]:
    """(index the decoder reported, number read from the picture) for one request."""
    with qtbot.waitSignal(source.frameDecoded, timeout=WAIT_MS) as blocker:
        request()
    index, image = blocker.args
    assert (image.width(), image.height()) == (160, 120)
    return index, frame_number(image)


def test_open_reports_what_the_file_holds(qtbot, source, clip):
    info = open_clip(qtbot, source, clip)
    assert info == SourceInfo(
        kind=SourceKind.FILE,
        name="drill.mp4",
        location=str(clip.resolve()),
        fps=25.0,
        frame_count=100,
        width=160,
        height=120,
    )
    assert not info.is_live
    assert info.duration == pytest.approx(4.0)


def test_seek_lands_on_the_exact_frame_forwards_and_backwards(qtbot, source, clip):
    open_clip(qtbot, source, clip)
    for target in (37, 5, 99, 0, 64, 63, 90):
        assert decoded(qtbot, source, lambda t=target: source.seek(t)) == (target, target)


def test_read_next_continues_after_a_seek_and_fills_the_ring_buffer(qtbot, source, clip):
    open_clip(qtbot, source, clip)
    assert decoded(qtbot, source, lambda: source.seek(10)) == (10, 10)
    for expected in range(11, 16):
        assert decoded(qtbot, source, source.read_next) == (expected, expected)

    recent = source.recent_frames(4)
    assert [index for index, _ in recent] == [12, 13, 14, 15]
    for index, frame in recent:
        assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
        assert frame_number(frame) == index  # RGB content of that very frame
        assert not frame.flags.writeable
    assert len(source.recent_frames(500)) == 6


def test_reading_past_the_end_reports_ended(qtbot, source, clip):
    open_clip(qtbot, source, clip)
    assert decoded(qtbot, source, lambda: source.seek(99)) == (99, 99)
    with qtbot.waitSignal(source.ended, timeout=WAIT_MS):
        source.read_next()
    assert decoded(qtbot, source, lambda: source.seek(3)) == (3, 3)  # still usable


@pytest.mark.parametrize(
    ("what", "words"),
    [
        ("corrupt", ["broken.mp4", "could not be opened as a video"]),
        ("missing", ["does not exist"]),
        ("camera", ["No camera", "index 57"]),
        ("stream", ["Could not receive video", "http://127.0.0.1:9/live"]),
    ],
)
def test_sources_that_cannot_open_fail_with_a_message(qtbot, source, corrupt_file, what, words):
    requests = {
        "corrupt": lambda: source.open_file(corrupt_file),
        "missing": lambda: source.open_file(corrupt_file.with_name("nowhere.mp4")),
        "camera": lambda: source.open_camera(57),
        "stream": lambda: source.open_stream("http://127.0.0.1:9/live"),
    }
    with qtbot.waitSignal(source.failed, timeout=WAIT_MS) as blocker:
        requests[what]()
    message = blocker.args[0]
    for word in words:
        assert word in message


def test_a_failed_open_leaves_the_previous_video_open(qtbot, source, clip, corrupt_file):
    open_clip(qtbot, source, clip)
    with qtbot.waitSignal(source.failed, timeout=WAIT_MS):
        source.open_file(corrupt_file)
    assert decoded(qtbot, source, lambda: source.seek(42)) == (42, 42)


def test_ring_buffer_keeps_the_newest_frames_in_order_and_shrinks_big_ones():
    ring = FrameRingBuffer(capacity=128, short_side=256)
    small = np.zeros((120, 160, 3), np.uint8)
    for index in range(200):
        ring.push(index, small)
    frames = ring.recent(64)
    assert [i for i, _ in frames] == list(range(136, 200))
    assert len(ring) == 128

    ring.push(300, np.zeros((1080, 1920, 3), np.uint8))
    assert ring.recent(1)[0][1].shape == (256, 455, 3)

    ring.push(5, small)  # playback went back: older frames no longer lead up to it
    assert [i for i, _ in ring.recent(10)] == [5]


def test_frame_rate_and_url_checks():
    assert sane_fps(0.0) == DEFAULT_FPS
    assert sane_fps(float("nan")) == DEFAULT_FPS
    assert sane_fps(29.97) == 29.97
    assert is_stream_url("rtsp://10.0.0.2:554/cam")
    assert is_stream_url("HTTP://example.org/live.m3u8")
    assert not is_stream_url("C:/videos/drill.mp4")
    assert not is_stream_url("ftp://example.org/x")


def test_a_truncated_file_is_as_long_as_what_decodes(qtbot, source, truncated):
    """The index of a cut H.264 file (written index first) still promises every frame; the
    player's length is the frames that decode, not the promise."""
    path, decodable = truncated
    info = open_clip(qtbot, source, path)
    assert info.frame_count == decodable
