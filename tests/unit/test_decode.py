"""Decoding: real frame counts, frame order, rotation, and broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from stmanet.data import decode
from stmanet.data.decode import VideoInfo, iter_frames, probe, read_frames
from stmanet.errors import STMANetError, VideoError

WIDTH, HEIGHT = 64, 48


def write_video(
    path: Path, frames: int, *, width: int = WIDTH, height: int = HEIGHT, fourcc: str = "mp4v"
) -> Path:
    """A video whose frame k shows its own number: top half (k % 16), bottom half (k // 16)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height))
    assert writer.isOpened()
    for k in range(frames):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[: height // 2] = (k % 16) * 16 + 8
        frame[height // 2 :] = (k // 16) * 16 + 8
        writer.write(frame)
    writer.release()
    return path


def frame_numbers(frames: np.ndarray) -> list[int]:
    """Read back the numbers that write_video painted into each frame."""
    h = frames.shape[1]
    low = np.round((frames[:, 2 : h // 2 - 2].mean(axis=(1, 2, 3)) - 8) / 16)
    high = np.round((frames[:, h // 2 + 2 : -2].mean(axis=(1, 2, 3)) - 8) / 16)
    return (high * 16 + low).astype(int).tolist()


# --- mp4 surgery: what phones and editors write, made from cv2's output ------------------------


def _boxes(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Top-level mp4 boxes: type -> (offset, size)."""
    boxes, i = {}, 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size < 8:
            break
        boxes[kind] = (i, size)
        i += size
    return boxes


def moov_first(data: bytes) -> bytes:
    """Move the index (moov) before the media data, as 'fast start' files have it, so that a
    cut file still opens and promises frames it no longer holds."""
    boxes = _boxes(data)
    (fi, fs), (mi, ms), (di, ds) = boxes[b"ftyp"], boxes[b"moov"], boxes[b"mdat"]
    moov = bytearray(data[mi : mi + ms])
    j = moov.index(b"stco")
    shift = (fs + ms) - di  # where mdat starts now minus where it started
    (entries,) = struct.unpack(">I", moov[j + 8 : j + 12])
    for e in range(entries):
        o = j + 12 + 4 * e
        (offset,) = struct.unpack(">I", moov[o : o + 4])
        moov[o : o + 4] = struct.pack(">I", offset + shift)
    return data[fi : fi + fs] + bytes(moov) + data[di : di + ds]


def rotated_90(data: bytes) -> bytes:
    """Set the track's display matrix to a 90-degree clockwise rotation (a phone held
    upright)."""
    out = bytearray(data)
    j = out.index(b"tkhd")
    version = out[j + 4]
    matrix_at = j + 8 + (20 if version == 0 else 32) + 16
    matrix = (0, 0x10000, 0, (-0x10000) & 0xFFFFFFFF, 0, 0, 0, 0, 0x40000000)
    out[matrix_at : matrix_at + 36] = struct.pack(">9I", *matrix)
    return bytes(out)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    good = write_video(root / "good.mp4", 120, width=65, height=49)  # odd size asked for
    data = good.read_bytes()
    fast = moov_first(data)
    out = {"good": good}
    out["faststart"] = root / "faststart.mp4"
    out["faststart"].write_bytes(fast)
    out["truncated"] = root / "truncated.mp4"  # opens, promises 120 frames, holds fewer
    out["truncated"].write_bytes(fast[: len(fast) * 6 // 10])
    out["cut_index"] = root / "cut_index.mp4"  # index at the end was cut off: does not open
    out["cut_index"].write_bytes(data[: len(data) // 2])
    out["rotated"] = root / "rotated.mp4"
    marked = root / "marked.mp4"
    writer = cv2.VideoWriter(str(marked), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (WIDTH, HEIGHT))
    for _ in range(5):
        frame = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        frame[:16, :16] = 255  # a white square in the top-left corner
        writer.write(frame)
    writer.release()
    out["marked"] = marked
    out["rotated"].write_bytes(rotated_90(marked.read_bytes()))
    mjpeg = write_video(root / "mjpeg.avi", 90, fourcc="MJPG")
    out["truncated_avi"] = root / "truncated.avi"
    out["truncated_avi"].write_bytes(mjpeg.read_bytes()[: mjpeg.stat().st_size // 3])
    out["short"] = write_video(root / "short.mp4", 10)
    out["empty"] = root / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["noise"] = root / "noise.mp4"
    out["noise"].write_bytes(np.random.default_rng(0).bytes(4096))
    out["missing"] = root / "missing.mp4"
    return out


def test_probe_reports_what_the_file_holds(videos: dict[str, Path]) -> None:
    info = probe(videos["good"])
    assert isinstance(info, VideoInfo)
    assert info.frame_count == 120
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (64, 48)  # mp4v rounds odd sizes down to even
    assert info.rotation == 0
    assert not info.truncated
    assert info.duration == pytest.approx(120 / 25)


def test_probe_counts_frames_when_the_header_lies(videos: dict[str, Path]) -> None:
    info = probe(videos["truncated"])
    assert info.claimed_frame_count == 120
    assert 0 < info.frame_count < 120
    assert info.truncated
    frames = read_frames(videos["truncated"], range(info.frame_count), beyond_end="error")
    # The last frame may be cut in half (the decoder conceals what is missing).
    assert frame_numbers(frames[:-1]) == list(range(info.frame_count - 1))

    avi = probe(videos["truncated_avi"])
    assert avi.claimed_frame_count == 90
    assert 0 < avi.frame_count < 90


def test_frames_come_back_in_decode_order_with_repeats(videos: dict[str, Path]) -> None:
    wanted = [5, 0, 5, 119, 64, 3, 70]
    frames = read_frames(videos["good"], wanted)
    assert frames.shape == (len(wanted), 48, 64, 3)
    assert frames.dtype == np.uint8
    assert frame_numbers(frames) == wanted


def test_seeking_gives_the_same_frames_as_decoding_from_the_start(
    videos: dict[str, Path],
) -> None:
    wanted = list(range(decode.SEEK_MIN_FRAMES + 2, 118, 3))
    seeked = read_frames(videos["faststart"], wanted)
    decoded = read_frames(videos["faststart"], wanted, seek=False)
    assert frame_numbers(seeked) == wanted
    np.testing.assert_array_equal(seeked, decoded)


def test_frames_are_rgb(tmp_path: Path) -> None:
    path = tmp_path / "red.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (32, 32))
    for _ in range(3):
        writer.write(np.full((32, 32, 3), (0, 0, 255), dtype=np.uint8))  # red, in BGR
    writer.release()
    pixel = read_frames(path, [1])[0, 16, 16].astype(int)
    assert pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


def test_rotation_metadata_is_applied_exactly_once(videos: dict[str, Path]) -> None:
    info = probe(videos["rotated"])
    assert info.rotation == 90
    assert (info.width, info.height) == (HEIGHT, WIDTH)
    frame = read_frames(videos["rotated"], [0])[0]
    assert frame.shape == (WIDTH, HEIGHT, 3)  # upright: taller than wide
    bright = frame[..., 0] > 128
    # 90 degrees clockwise carries the top-left square to the top-right corner.
    assert bright[:12, -12:].all()
    assert not bright[-12:, :].any() and not bright[:, :12].any()
    # Rotating by hand (when the backend does not) gives the same picture.
    with decode._Capture(videos["rotated"], backend_rotation=False) as cap:
        by_hand = cap.read()
    assert by_hand is not None
    np.testing.assert_array_equal(by_hand, frame)
    with decode._Capture(videos["marked"]) as cap:
        plain = cap.read()
    assert plain is not None and plain.shape == (HEIGHT, WIDTH, 3)


def test_frames_past_the_end_loop_or_raise(videos: dict[str, Path]) -> None:
    real = probe(videos["truncated"]).frame_count
    frames = read_frames(videos["truncated"], [0, real - 2, real, real + 5, 119])
    assert frame_numbers(frames) == [0, real - 2, 0, 5, 119 % real]
    with pytest.raises(VideoError, match=r"only \d+ frames decode") as caught:
        read_frames(videos["truncated"], [119], beyond_end="error")
    assert caught.value.path == videos["truncated"]
    short = read_frames(videos["short"], np.arange(0, 24, 2))
    assert frame_numbers(short) == [k % 10 for k in range(0, 24, 2)]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing", "not found"),
        ("empty", "empty"),
        ("noise", "cannot be opened"),
        ("cut_index", "cannot be opened"),
    ],
)
def test_unreadable_files_raise_video_error_naming_file_and_reason(
    videos: dict[str, Path], name: str, reason: str
) -> None:
    for call in (lambda p: probe(p), lambda p: read_frames(p, [0])):
        with pytest.raises(VideoError, match=reason) as caught:
            call(videos[name])
        assert isinstance(caught.value, STMANetError)
        assert caught.value.path == videos[name]
        assert str(videos[name]) in str(caught.value)


def test_a_folder_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="folder"):
        probe(tmp_path)


def test_bad_index_arguments(videos: dict[str, Path]) -> None:
    with pytest.raises(ValueError):
        read_frames(videos["good"], [])
    with pytest.raises(ValueError):
        read_frames(videos["good"], [-1])


def test_iter_frames_streams_a_range(videos: dict[str, Path]) -> None:
    got = list(iter_frames(videos["good"], start=decode.SEEK_MIN_FRAMES + 1, end=117))
    numbers = [i for i, _ in got]
    assert numbers == list(range(decode.SEEK_MIN_FRAMES + 1, 117))
    assert frame_numbers(np.stack([f for _, f in got])) == numbers
    real = probe(videos["truncated"]).frame_count
    assert [i for i, _ in iter_frames(videos["truncated"], start=10)][-1] == real - 1
    with pytest.raises(VideoError):
        list(iter_frames(videos["truncated"], start=real + 3))


def test_fps_and_rotation_metadata_are_sanitised() -> None:
    assert decode._sane_fps(float("nan")) == decode.DEFAULT_FPS
    assert decode._sane_fps(0.0) == decode.DEFAULT_FPS
    assert decode._sane_fps(90000.0) == decode.DEFAULT_FPS
    assert decode._sane_fps(29.97) == pytest.approx(29.97)
    assert decode._rotation_from_meta(-2147483648.0) == 0  # OpenCV's "no rotation known"
    assert decode._rotation_from_meta(-90.0) == 270
    assert decode._rotation_from_meta(180.0) == 180
