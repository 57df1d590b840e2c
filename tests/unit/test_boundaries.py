"""Changes of action placed on the frames' embeddings (stmanet/engine/boundaries.py)."""

import itertools

import numpy as np
import pytest

from stmanet.engine.boundaries import default_radius, reference_frames, refine_changes
from stmanet.engine.segmentation import timeline_from_windows

NAMES = ["squats", "lunges", "walking"]
WINDOW, HOP = 32, 8


def movement(rng: np.random.Generator, frames: int, period: float, dim: int = 64
             ) -> np.ndarray:
    """A repeating movement: a loop through `dim`-dimensional space every `period` frames."""
    basis = rng.normal(size=(4, dim))
    phase = 2 * np.pi * np.arange(frames) / period
    loop = np.stack([np.cos(phase), np.sin(phase), np.cos(2 * phase), np.sin(2 * phase)], 1)
    return loop @ basis + 3 * rng.normal(size=dim) + 0.05 * rng.normal(size=(frames, dim))


def workout(changes: list[int], frames: int, seed: int = 0, blend: int = 10) -> np.ndarray:
    """Embeddings of drills that change at `changes`; each new drill starts with `blend`
    frames moving from the last pose of the one before into it (as the generated videos do,
    the blend counted as the new drill)."""
    rng = np.random.default_rng(seed)
    bounds = [0, *changes, frames]
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        part = movement(rng, b - a, period=14 + 5 * i)
        if parts:
            w = ((np.arange(blend) + 1.0) / (blend + 1))[:, None]
            part[:blend] = parts[-1][-1] * (1 - w) + part[:blend] * w
        parts.append(part)
    return np.concatenate(parts).astype(np.float32)


def late_windows(truth: np.ndarray, late_by: int):
    """Windows every HOP frames whose scores name the action of the frame `late_by` frames
    before their middle: the windows' answer changes `late_by` frames after the truth."""
    starts = np.arange(0, truth.size - WINDOW + 1, HOP)
    ends = starts + WINDOW
    middle = np.clip(starts + WINDOW // 2 - late_by, 0, truth.size - 1)
    scores = np.full((starts.size, len(NAMES)), 0.05)
    scores[np.arange(starts.size), truth[middle]] = 0.9
    return starts, ends, scores


def truth_of(changes: list[int], frames: int, labels: list[int]) -> np.ndarray:
    out = np.empty(frames, dtype=np.int64)
    for a, b, label in zip([0, *changes], [*changes, frames], labels, strict=True):
        out[a:b] = label
    return out


def change_frames(labels: np.ndarray) -> list[int]:
    return (np.flatnonzero(np.diff(labels)) + 1).tolist()


def test_a_change_the_windows_place_late_is_moved_to_where_the_movement_changes():
    changes, frames = [300, 620], 900
    truth = truth_of(changes, frames, [0, 1, 2])
    emb = workout(changes, frames)
    starts, ends, scores = late_windows(truth, late_by=11)
    plain = timeline_from_windows(starts, ends, scores, NAMES, 25.0, frames)
    refined = timeline_from_windows(starts, ends, scores, NAMES, 25.0, frames, embeddings=emb)
    assert not plain.refined and refined.refined
    late = [c - t for c, t in zip(change_frames(plain.labels), changes, strict=True)]
    assert min(late) >= 6  # the windows alone: late
    moved = [c - t for c, t in zip(change_frames(refined.labels), changes, strict=True)]
    assert all(abs(d) <= 2 for d in moved), moved
    assert [s.label for s in refined.segments] == ["squats", "lunges", "walking"]
    assert (refined.labels == truth).mean() > (plain.labels == truth).mean()


def test_refine_false_leaves_the_changes_where_the_windows_put_them():
    changes, frames = [300], 600
    truth = truth_of(changes, frames, [0, 2])
    starts, ends, scores = late_windows(truth, late_by=11)
    plain = timeline_from_windows(starts, ends, scores, NAMES, 25.0, frames)
    off = timeline_from_windows(starts, ends, scores, NAMES, 25.0, frames,
                                embeddings=workout(changes, frames), refine=False)
    assert not off.refined
    np.testing.assert_array_equal(off.labels, plain.labels)


def test_a_change_that_is_already_right_stays_put():
    changes, frames = [250, 520], 800
    truth = truth_of(changes, frames, [1, 0, 1])
    out = refine_changes(truth, workout(changes, frames, seed=3), radius=16, reference=150)
    assert all(abs(c - t) <= 1 for c, t in zip(change_frames(out), changes, strict=True))
    assert len(change_frames(out)) == 2


def test_no_segment_is_added_or_removed_and_short_ones_are_left_alone():
    frames = 400
    labels = truth_of([100, 106, 300], frames, [0, 1, 0, 2])  # a 6-frame run of lunges
    emb = workout([100, 300], frames, seed=5)
    out = refine_changes(labels, emb, radius=16, reference=150)
    assert len(change_frames(out)) == 3
    np.testing.assert_array_equal(out[95:112], labels[95:112])  # too short for a reference
    assert [int(out[i]) for i in (0, 103, 200, 399)] == [0, 1, 0, 2]


def test_embeddings_must_cover_every_frame():
    with pytest.raises(ValueError, match="one embedding per frame"):
        refine_changes(np.zeros(50, dtype=np.int64), np.zeros((40, 8)), radius=16,
                       reference=150)


def test_too_few_embeddings_leave_the_per_frame_result_unrefined():
    changes, frames = [300], 600
    truth = truth_of(changes, frames, [0, 2])
    starts, ends, scores = late_windows(truth, late_by=11)
    short = workout(changes, frames)[:500]  # a cancelled analysis, say
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, frames,
                                     embeddings=short)
    assert not timeline.refined


def test_the_search_spans_half_a_window_and_the_reference_six_seconds():
    assert default_radius(32) == 16
    assert reference_frames(25.0) == 150
    assert reference_frames(0.0) == 150  # an unknown frame rate is taken as 25


def test_a_stored_result_gets_its_placed_changes_back_from_its_segments():
    """A result file keeps the windows and the segments; the app rebuilds the per-frame
    result from the windows and takes the changes from the segments."""
    changes, frames = [300, 620], 900
    truth = truth_of(changes, frames, [0, 1, 2])
    starts, ends, scores = late_windows(truth, late_by=11)
    plain = timeline_from_windows(starts, ends, scores, NAMES, 25.0, frames)
    stored = [("squats", 0, 300), ("lunges", 300, 620), (None, 620, 640),
              ("walking", 640, 900)]
    restored = plain.with_segments(stored)
    assert restored.refined
    assert [(s.label, s.start_frame) for s in restored.segments] == [
        ("squats", 0), ("lunges", 300), ("walking", plain.segments[2].start_frame)]
    np.testing.assert_array_equal(restored.labels[:620], truth[:620])


@pytest.mark.parametrize("short", [15, 16, 17, 20])
def test_a_short_segment_pulled_from_both_sides_keeps_a_frame(short):
    """Both changes of a short segment may move towards its middle; they never meet there, so
    the segment (and the order of actions) stays."""
    rng = np.random.default_rng(short)
    a, b, c = rng.normal(size=(3, 64))

    def held(pose, n):
        return pose + 0.05 * rng.normal(size=(n, 64))

    labels = truth_of([100, 100 + short], 200 + short, [0, 1, 0])
    middle = 100 + short // 2
    for pictures in (np.concatenate([held(a, middle), held(c, 100 + short - middle),
                                     held(a, 100)]),
                     np.concatenate([held(a, middle), held(b, 100 + short - middle),
                                     held(a, 100)])):
        out = refine_changes(labels, pictures, radius=short // 2, reference=150)
        assert len(change_frames(out)) == 2, short
        assert [int(out[0]), int(out[-1])] == [0, 0] and 1 in out
