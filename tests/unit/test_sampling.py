"""Clip sampling on frame indices, and the crop / flip / normalise transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stmanet.config import InputSpec
from stmanet.data import sampling, transforms
from stmanet.data.transforms import CropBox

SPEC = InputSpec()  # 32 frames, stride 2: 64-frame windows, 112 x 112


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- sampling ----------------------------------------------------------------------------------


def test_train_indices_are_a_strided_run_inside_the_video() -> None:
    starts = set()
    for seed in range(50):
        idx = sampling.train_indices(200, SPEC, rng(seed))
        assert idx.shape == (32,) and idx.dtype == np.int64
        assert (np.diff(idx) == 2).all()
        assert idx[0] >= 0 and idx[-1] <= 199 - 1  # the window's last frame (idx + 1) fits
        starts.add(int(idx[0]))
    assert len(starts) > 20  # the start is random
    assert min(starts) >= 0 and max(starts) <= 200 - 64


def test_train_indices_are_deterministic_under_a_seed() -> None:
    a = sampling.train_indices(500, SPEC, rng(7))
    b = sampling.train_indices(500, SPEC, rng(7))
    c = sampling.train_indices(500, SPEC, rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_short_training_clips_loop_from_their_start() -> None:
    idx = sampling.train_indices(20, SPEC, rng())
    np.testing.assert_array_equal(idx, np.arange(0, 64, 2) % 20)
    np.testing.assert_array_equal(sampling.train_indices(64, SPEC, rng()), np.arange(0, 64, 2))


def test_short_videos_are_completed_with_their_last_frame_for_prediction() -> None:
    np.testing.assert_array_equal(sampling.center_indices(1, SPEC), np.zeros(32, dtype=np.int64))
    idx = sampling.test_indices(20, SPEC)
    assert idx.shape == (1, 32)
    np.testing.assert_array_equal(idx[0], np.minimum(np.arange(0, 64, 2), 19))


def test_center_indices_take_the_middle_window() -> None:
    idx = sampling.center_indices(100, SPEC)
    np.testing.assert_array_equal(idx, np.arange(18, 18 + 64, 2))


@pytest.mark.parametrize(
    ("num_frames", "expected_starts"),
    [
        (64, [0]),
        (128, [0, 64]),
        (129, [0, 64, 65]),  # one frame left: a last window ends at the last frame
        (159, [0, 64, 95]),
        (200, [0, 64, 128, 136]),
        (10, [0]),  # shorter than a window: one window, its last frame repeated
    ],
)
def test_test_indices_cut_consecutive_windows(num_frames: int, expected_starts: list[int]) -> None:
    idx = sampling.test_indices(num_frames, SPEC)
    assert idx.shape == (len(expected_starts), 32)
    expected = np.minimum(np.array(expected_starts)[:, None] + np.arange(0, 64, 2)[None, :],
                          num_frames - 1)
    np.testing.assert_array_equal(idx, expected)
    assert idx.max() < num_frames


@pytest.mark.parametrize("num_frames", [65, 100, 127, 1250])
@pytest.mark.parametrize("hop", [1, 16, 64])
def test_windows_never_wrap_and_the_last_ends_at_the_last_frame(num_frames, hop) -> None:
    starts = sampling.window_starts(num_frames, 64, hop)
    idx = sampling.window_indices(starts, num_frames, 64, 2)
    assert (np.diff(idx, axis=1) == 2).all()  # every window runs forward, never back to 0
    assert starts[-1] + 64 == num_frames
    ends = sampling.window_ends(starts, num_frames, 64)
    covered = np.zeros(num_frames, bool)
    for a, b in zip(starts, ends, strict=True):
        covered[a:b] = True
    assert covered.all()
    assert (np.diff(starts) <= hop).all() and (np.diff(starts) > 0).all()


def test_the_demo_video_s_last_window_holds_only_its_last_frames() -> None:
    """1250 frames, 32-frame windows every 16: the last window was 1232-1250 completed from
    frames 0-13 (jumping jacks at the end of a side-bends video); now it is 1218-1250."""
    spec = InputSpec(frames=16, frame_stride=2, size=64)
    starts = sampling.window_starts(1250, spec.window, 16)
    assert starts[-2:].tolist() == [1216, 1218]
    last = sampling.window_indices(starts[-1:], 1250, spec.window, spec.frame_stride)[0]
    np.testing.assert_array_equal(last, np.arange(1218, 1250, 2))


def test_window_starts_for_sliding_windows() -> None:
    np.testing.assert_array_equal(sampling.window_starts(100, 64, 16), [0, 16, 32, 36])
    np.testing.assert_array_equal(sampling.window_starts(96, 64, 16), [0, 16, 32])
    np.testing.assert_array_equal(sampling.window_starts(30, 64, 16), [0])
    with pytest.raises(ValueError):
        sampling.window_starts(0, 64, 16)
    with pytest.raises(ValueError):
        sampling.window_starts(100, 64, 0)


def test_window_indices_stride_and_repeat_the_last_frame_past_the_end() -> None:
    idx = sampling.window_indices([0, 5], 8, 6, 3)
    np.testing.assert_array_equal(idx, [[0, 3], [5, 7]])


# --- transforms --------------------------------------------------------------------------------


def test_random_crop_boxes_stay_in_bounds_and_in_scale() -> None:
    heights, widths, flips = [], [], []
    for seed in range(300):
        box = transforms.random_crop_box(120, 160, rng(seed))
        box.check_inside(120, 160)
        assert 60 <= box.height <= 120 and 60 <= box.width <= 120
        heights.append(box.height)
        widths.append(box.width)
        flips.append(box.flip)
    assert min(heights) < 66 and max(heights) > 114  # the whole 0.5-1.0 range is used
    assert heights != widths  # drawn independently
    assert 0.35 < np.mean(flips) < 0.65


def test_center_crop_is_the_centred_square_of_the_shorter_side() -> None:
    assert transforms.center_crop_box(120, 160) == CropBox(0, 20, 120, 120, False)
    assert transforms.center_crop_box(161, 90) == CropBox(35, 0, 90, 90, False)


def _gradient_clip(frames: int = 4, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames whose red channel grows left to right and green top to bottom; blue = frame."""
    clip = np.zeros((frames, height, width, 3), dtype=np.uint8)
    clip[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, None, :]
    clip[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[None, :, None]
    clip[..., 2] = (np.arange(frames, dtype=np.uint8) * 40)[:, None, None]
    return clip


def test_crop_resize_takes_the_box_and_flips_every_frame_alike() -> None:
    clip = _gradient_clip()
    box = CropBox(top=8, left=10, height=30, width=40, flip=False)
    out = transforms.crop_resize(clip, box, 20)
    assert out.shape == (4, 20, 20, 3) and out.dtype == np.uint8
    # The crop's corners: red runs from column 10 to 49, green from row 8 to 37.
    assert abs(int(out[0, 0, 0, 0]) - int(clip[0, 8, 10, 0])) <= 8
    assert abs(int(out[0, -1, -1, 1]) - int(clip[0, 37, 49, 1])) <= 8
    flipped = transforms.crop_resize(clip, CropBox(8, 10, 30, 40, True), 20)
    np.testing.assert_array_equal(flipped, out[:, :, ::-1])
    for t in range(4):  # each frame keeps its own content (blue) and the same geometry
        assert (flipped[t, ..., 2] == t * 40).all()
        np.testing.assert_array_equal(flipped[t, ..., :2], flipped[0, ..., :2])
    with pytest.raises(ValueError):
        transforms.crop_resize(clip, CropBox(30, 0, 30, 30), 20)


def test_train_transform_output_and_determinism() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (32, 120, 160, 3), dtype=np.uint8)
    a = transforms.train_transform(frames, SPEC, rng(3))
    b = transforms.train_transform(frames, SPEC, rng(3))
    c = transforms.train_transform(frames, SPEC, rng(4))
    assert a.shape == (3, 32, 112, 112) and a.dtype == torch.float32 and a.is_contiguous()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_normalisation_uses_the_spec_mean_and_std() -> None:
    spec = InputSpec(size=16)
    frames = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    frames[..., 1] = 255
    out = transforms.test_transform(frames, spec)
    assert out.shape == (3, 2, 16, 16)
    mean, std = torch.tensor(spec.mean), torch.tensor(spec.std)
    torch.testing.assert_close(out[:, 0, 0, 0], torch.tensor([0.0, 1.0, 0.0]).sub(mean).div(std))
    # Undoing the normalisation gives the pixels back in [0, 1].
    back = out * std.view(3, 1, 1, 1) + mean.view(3, 1, 1, 1)
    assert back.min() >= -1e-5 and back.max() <= 1 + 1e-5


def test_test_transform_is_a_centre_crop() -> None:
    spec = InputSpec(size=48)
    clip = _gradient_clip(frames=2, height=48, width=96)  # centre square: columns 24..71
    out = transforms.test_transform(clip, spec)
    pixels = out * torch.tensor(spec.std).view(3, 1, 1, 1) + torch.tensor(spec.mean).view(
        3, 1, 1, 1
    )
    red = (pixels[0, 0] * 255).round()
    assert abs(float(red[0, 0]) - float(clip[0, 0, 24, 0])) <= 1
    assert abs(float(red[0, -1]) - float(clip[0, 0, 71, 0])) <= 1


@pytest.mark.parametrize(("height", "width"), [(49, 65), (121, 67), (112, 112), (7, 9)])
def test_any_frame_size_gives_the_clip_size(height: int, width: int) -> None:
    frames = np.random.default_rng(2).integers(0, 256, (3, height, width, 3), dtype=np.uint8)
    for seed in range(5):
        assert transforms.train_transform(frames, SPEC, rng(seed)).shape == (3, 3, 112, 112)
    assert transforms.test_transform(frames, SPEC).shape == (3, 3, 112, 112)
