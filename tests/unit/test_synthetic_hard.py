"""The hard suite: `stmanet synth OUT --suite hard` (stmanet.data.synthetic.hard)."""

import cv2
import numpy as np
import pytest

from stmanet.cli import main
from stmanet.data.synthetic.hard import (
    HARD_CLASSES,
    ORDER,
    example_grid,
    generate_hard_dataset,
    render_hard_clip,
)
from stmanet.errors import ConfigError

SIZE = (96, 72)


def test_synth_hard_writes_every_class_as_a_folder(tmp_path, capsys):
    out = tmp_path / "hard"
    assert main(["synth", str(out), "--suite", "hard", "--clips-per-class", "1", "--frames",
                 "32", "--size", "64x48"]) == 0
    assert (out / "classes.txt").read_text().split() == list(HARD_CLASSES)
    for name in HARD_CLASSES:
        (video,) = (out / name).glob("*.mp4")
        capture = cv2.VideoCapture(str(video))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 32
        ok, frame = capture.read()
        capture.release()
        assert ok and frame.shape == (48, 64, 3)
    assert "11 classes x 1 clips" in capsys.readouterr().out


def test_clips_are_the_same_for_the_same_seed_and_differ_between_clips():
    a = render_hard_clip("lunges", seed=3, frames=32, size=SIZE, index=1)
    b = render_hard_clip("lunges", seed=3, frames=32, size=SIZE, index=1)
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, render_hard_clip("lunges", seed=3, frames=32, size=SIZE,
                                                         index=2).frames)
    assert not np.array_equal(a.frames, render_hard_clip("lunges", seed=4, frames=32, size=SIZE,
                                                         index=1).frames)


def test_the_data_set_does_not_depend_on_the_number_of_workers(tmp_path):
    one = generate_hard_dataset(tmp_path / "one", clips_per_class=1, seed=0, frames=32,
                                size=(48, 36), classes=["jacks_pause", "push_ups"])
    two = generate_hard_dataset(tmp_path / "two", clips_per_class=1, seed=0, frames=32,
                                size=(48, 36), classes=["jacks_pause", "push_ups"], workers=2)
    for name in ("jacks_pause", "push_ups"):
        path = f"{name}/{name}_0_0.mp4"
        assert (one / path).read_bytes() == (two / path).read_bytes()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_order_classes_show_the_same_frames_in_another_order(index):
    first, second = (render_hard_clip(name, seed=0, frames=40, size=SIZE, index=index,
                                      clutter=False).frames for name in ORDER)
    assert sorted(f.tobytes() for f in first) == sorted(f.tobytes() for f in second)
    assert not np.array_equal(first, second)
    assert np.array_equal(first[:20], second[20:]) and np.array_equal(first[20:], second[:20])


def _longest_still_run(frames: np.ndarray, before: int) -> int:
    """Longest run of frames, ending before frame `before`, in which no pixel really moves."""
    moving = (np.abs(np.diff(frames.astype(np.int16), axis=0)).max(axis=3) > 40).sum(
        axis=(1, 2)) >= 5
    best = run = 0
    for m in moving[:before]:
        run = 0 if m else run + 1
        best = max(best, run)
    return best


@pytest.mark.parametrize("index", [0, 1, 2])
def test_the_pause_class_stops_in_the_middle_and_the_steady_one_does_not(index):
    pause, steady = (render_hard_clip(name, seed=0, frames=96, size=SIZE, index=index,
                                      clutter=False).frames
                     for name in ("jacks_pause", "jacks_steady"))
    assert _longest_still_run(pause, 72) >= 15  # 0.6 s of the 1.0-1.4 s pause at 25 fps
    assert _longest_still_run(steady, 72) <= 3


@pytest.mark.parametrize("name", HARD_CLASSES)
def test_the_athlete_stays_in_the_picture_and_mostly_visible(name):
    for index in range(3):
        clip = render_hard_clip(name, seed=0, frames=48, size=(160, 120), index=index)
        assert clip.visible.min() >= 0.4, (name, index, clip.visible.min())
        x0, y0, x1, y1 = clip.boxes.T
        assert x0.min() >= -0.5 and y0.min() >= -0.5
        assert x1.max() <= 160.5 and y1.max() <= 120.5


@pytest.mark.parametrize("flag", [["--drills", "squats"], ["--non-drills"], ["--tempo"],
                                  ["--reps"], ["--frames", "16"]])
def test_synth_hard_refuses_options_that_do_not_go_with_it(tmp_path, capsys, flag):
    assert main(["synth", str(tmp_path / "x"), "--suite", "hard", *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("stmanet synth: error: ") and flag[0] in err[-1]
    assert len([line for line in err if "error" in line]) == 1
    assert not (tmp_path / "x").exists()


def test_unknown_class_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: arm_circles"):
        render_hard_clip("squats", seed=0)


def test_example_grid_has_one_row_a_class(tmp_path):
    path = example_grid(tmp_path / "grid.png", classes=["squats_slow", "push_ups"], columns=3,
                        frames=32, size=(64, 48))
    image = cv2.imread(str(path))
    assert image.shape == (2 * (48 + 2), 120 + 3 * (64 + 2), 3)
