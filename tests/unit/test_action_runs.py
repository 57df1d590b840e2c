"""The segments a video's per-frame result is cut into once the frames that are not a known
action are left out (engine/segmentation.py `action_runs`): the same segments in the app's
repetition counts, `stmanet count --model` and the batch results of `stmanet predict
--output-dir`."""

import numpy as np

from stmanet.engine.segmentation import action_runs, unknown_mask


def test_a_stretch_not_a_known_action_cuts_a_segment_and_is_one_segment_of_its_own():
    labels = np.repeat([0, 1, 2], 10)  # squats, running, lunges: 10 frames each
    unknown = np.zeros(30, dtype=bool)
    unknown[3:5] = True  # inside squats
    unknown[8:14] = True  # the end of squats and the start of running: one stretch
    unknown[20:30] = True  # all of lunges
    assert action_runs(labels, unknown) == [(0, 0, 3), (None, 3, 5), (0, 5, 8), (None, 8, 14),
                                            (1, 14, 20), (None, 20, 30)]
    # the known segments, as the repetitions are counted
    assert [r for r in action_runs(labels, unknown) if r[0] is not None] == [
        (0, 0, 3), (0, 5, 8), (1, 14, 20)]


def test_without_unknown_frames_the_segments_are_the_runs_of_one_action():
    labels = np.array([2, 2, 0, 0, 0, 2])
    expected = [(2, 0, 2), (0, 2, 5), (2, 5, 6)]
    assert action_runs(labels, None) == expected  # a model that cannot tell
    assert action_runs(labels, np.zeros(6, dtype=bool)) == expected
    assert action_runs(np.zeros(0, dtype=np.int64), None) == []
    assert all(type(x) is int for run in action_runs(labels, None) for x in run)  # JSON-able


def test_a_mask_of_another_length_covers_the_frames_it_has():
    labels = np.zeros(6, dtype=np.int64)
    # longer (the frames embedded outnumber the per-frame result's): the rest is ignored
    assert action_runs(labels, np.array([0, 0, 1, 0, 0, 0, 1, 1], dtype=bool)) == [
        (0, 0, 2), (None, 2, 3), (0, 3, 6)]
    # shorter: the frames past it count as known
    assert action_runs(labels, np.array([1, 1], dtype=bool)) == [(None, 0, 2), (0, 2, 6)]
    assert list(labels) == [0] * 6  # the labels are left as they were


def test_frames_most_of_whose_windows_are_unknown_are_left_out():
    labels = np.repeat([0, 1], 20)
    starts, ends = np.array([0, 10, 20]), np.array([20, 30, 40])
    other = unknown_mask(starts, ends, [True, False, False], 40)
    # frames 10-19: one known window, one unknown (a tie stays known); 20-39 unknown
    assert action_runs(labels, other) == [(0, 0, 20), (None, 20, 40)]
    assert unknown_mask(starts, ends, [True, None, False], 40) is None
    assert action_runs(labels, None) == [(0, 0, 20), (1, 20, 40)]
