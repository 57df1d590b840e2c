"""Lining two videos up (stmanet.engine.align) on generated drills whose true offset and
tempo ratio are known.

Video B is video A's drill filmed slower and later: the same plan and seed rendered at
TEMPO x the frame rate and played at the plain one (every movement takes TEMPO times as
long), after a longer first drill (its second drill starts later). So B's frame that goes
with A's frame a in the second drill is start_b + TEMPO x (a - start_a), exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from stmanet.data.synthetic import render_sequence
from stmanet.engine import align
from stmanet.engine.reps import count_reps, frame_embeddings
from stmanet.errors import ConfigError

FPS = 25.0
TEMPO = 1.25


def drill_pair(seed: int = 3, tempo: float = TEMPO):
    """(frames A, segments A, frames B, segments B) as the module text says."""
    a, seg_a = render_sequence([("squats", 2.0), ("jumping_jacks", 6.0)], seed=seed,
                               size=(128, 96))
    b, seg_b = render_sequence([("squats", 2.8), ("jumping_jacks", 6.0)], seed=seed,
                               fps=FPS * tempo, size=(128, 96))
    return a, seg_a, b, seg_b


@pytest.fixture(scope="module")
def pair():
    a, seg_a, b, seg_b = drill_pair()
    return frame_embeddings(a), seg_a, frame_embeddings(b), seg_b


def truth(seg_a, seg_b):
    start_a, start_b = seg_a[1].start_frame, seg_b[1].start_frame
    return lambda frames: start_b + TEMPO * (np.asarray(frames, float) - start_a)


def test_by_offset_moves_b_by_the_frames_and_a_nudge_adds_to_them():
    alignment = align.by_offset(12)
    assert alignment.b_frame(0) == 12 and alignment.b_frame(100) == 112
    nudged = alignment.shifted(-3)
    assert nudged.b_frame(100) == 109 and nudged.offset == 9
    assert alignment.a_of(112) == pytest.approx(100)


def test_the_time_ratio_is_in_seconds_whatever_the_frame_rates():
    """The same repetitions filmed at 30 and at 60 fps: B takes twice the frames, the same
    time; the tempo ratio is in frames, the time ratio in seconds."""
    reps = [(0.5, 1.5), (1.5, 2.5), (2.5, 3.5)]
    same = align.by_reps(reps, reps, 30.0, 60.0)
    assert same.tempo_ratio == pytest.approx(2.0) and same.time_ratio == pytest.approx(1.0)
    slower = align.by_reps(reps, [(a * TEMPO, b * TEMPO) for a, b in reps], 30.0, 60.0)
    assert slower.time_ratio == pytest.approx(TEMPO)
    assert align.by_offset(5, rate=2.0).time_ratio == pytest.approx(1.0)


def test_by_action_start_pairs_the_first_frames_of_the_longest_shared_action(pair):
    _, seg_a, _, seg_b = pair
    segments_a = [(s.drill, s.start_frame, s.end_frame) for s in seg_a]
    segments_b = [(s.drill, s.start_frame, s.end_frame) for s in seg_b]
    assert align.common_actions(segments_a, segments_b) == ["jumping_jacks", "squats"]
    alignment = align.by_action_start(segments_a, segments_b)
    true_offset = seg_b[1].start_frame - seg_a[1].start_frame
    assert abs(alignment.offset - true_offset) <= 2
    assert alignment.detail == "start of jumping_jacks"
    assert align.by_action_start(segments_a, segments_b, action="squats").offset == 0
    with pytest.raises(ConfigError, match="no 'lunges'"):
        align.by_action_start(segments_a, segments_b, action="lunges")
    with pytest.raises(ConfigError, match="no action in common"):
        align.by_action_start([("squats", 0, 10)], [("lunges", 0, 10)])


def test_an_action_the_model_lost_for_a_moment_is_lined_up_whole():
    # a slower performance: squats 117-208, a moment of no known action, squats again
    lost = [("jumping_jacks", 0, 117), ("squats", 224, 312), ("squats", 117, 208)]
    joined = align.joined_segments(lost, max_gap=50)
    assert joined == [("jumping_jacks", 0, 117), ("squats", 117, 312)]
    whole = [("jumping_jacks", 0, 117), ("squats", 117, 312)]
    assert align.by_action_start(joined, whole, action="squats").offset == 0
    _, span, _ = align.common_action(joined, whole, "squats")
    assert span == (117, 312)
    # too long a pause, or another action between, keeps them apart
    assert len(align.joined_segments(lost, max_gap=10)) == 3
    between = [("squats", 0, 100), ("lunges", 100, 150), ("squats", 160, 300)]
    assert align.joined_segments(between, max_gap=50) == between


def test_by_reps_keeps_each_repetition_in_step(pair):
    emb_a, seg_a, emb_b, seg_b = pair
    count_a = count_reps(emb_a, FPS, [("jumping_jacks", seg_a[1].start_frame, len(emb_a))])[0]
    count_b = count_reps(emb_b, FPS, [("jumping_jacks", seg_b[1].start_frame, len(emb_b))])[0]
    assert count_a.total and count_b.total
    alignment = align.by_reps(list(zip(count_a.rep_starts, count_a.rep_times, strict=True)),
                              list(zip(count_b.rep_starts, count_b.rep_times,
                                       strict=True)), FPS, FPS,
                              features_a=emb_a, features_b=emb_b)
    frames = np.arange(alignment.anchors[0, 0], alignment.anchors[-1, 0])
    error = np.abs(alignment.b_of(frames) - truth(seg_a, seg_b)(frames))
    print(f"\nby repetitions: {len(alignment.anchors)} anchors, error mean "
          f"{error.mean():.2f} max {error.max():.2f} frames, tempo ratio "
          f"{alignment.tempo_ratio:.3f} (true {TEMPO})")
    assert error.mean() <= 2.0
    assert alignment.tempo_ratio == pytest.approx(TEMPO, rel=0.1)
    with pytest.raises(ConfigError, match="not counted in both"):
        align.by_reps([], [(0.0, 1.0)], FPS, FPS)


def test_by_reps_pairs_the_same_moment_when_the_counter_starts_elsewhere(pair):
    """B's repetitions as the counter might give them: starting half a repetition late and
    with one more part-repetition in front; the features put them back in step."""
    emb_a, seg_a, emb_b, seg_b = pair
    reps_a = [(a, b) for a, b in seg_a[1].rep_times]
    true_b = [(a * TEMPO, b * TEMPO) for a, b in seg_b[1].rep_times]  # rendered slower
    half = (true_b[1][1] - true_b[1][0]) / 2
    late = [(a + half, b + half) for a, b in true_b]
    counted_b = [(late[0][0] - 2 * half, late[0][0]), *late]
    plain = align.by_reps(reps_a, counted_b, FPS, FPS)
    fixed = align.by_reps(reps_a, counted_b, FPS, FPS, features_a=emb_a, features_b=emb_b)
    frames = np.arange(fixed.anchors[0, 0], fixed.anchors[-1, 0])
    plain_error = np.abs(plain.b_of(frames) - truth(seg_a, seg_b)(frames)).mean()
    fixed_error = np.abs(fixed.b_of(frames) - truth(seg_a, seg_b)(frames)).mean()
    print(f"\nrepetitions counted elsewhere: error {plain_error:.1f} frames as counted, "
          f"{fixed_error:.2f} after pairing by the movement")
    assert fixed.extra["pairing"] == 1 and plain_error > 10 and fixed_error <= 1.5


@pytest.mark.parametrize("tempo", [1.0, TEMPO, 1.6])
def test_dtw_follows_the_movement_within_a_frame_or_two(tempo):
    a, seg_a, b, seg_b = drill_pair(seed=5, tempo=tempo)
    emb_a, emb_b = frame_embeddings(a), frame_embeddings(b)
    start_a, start_b = seg_a[1].start_frame, seg_b[1].start_frame
    alignment = align.by_dtw(emb_a, emb_b, span_a=(start_a, len(emb_a)),
                             span_b=(start_b, len(emb_b)))
    frames = np.arange(start_a + 10, len(emb_a) - 10)  # the ends of a warp are loose
    error = np.abs(alignment.b_of(frames) - (start_b + tempo * (frames - start_a)))
    print(f"\nDTW at tempo {tempo}: phase error mean {error.mean():.2f} max "
          f"{error.max():.2f} frames, cost {alignment.cost:.3f}")
    assert error.mean() <= 1.0 and error.max() <= 2.0
    assert alignment.tempo_ratio == pytest.approx(tempo, rel=0.05)


def test_dtw_path_is_monotone_and_bad_inputs_say_why():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8))
    path, cost = align.dtw_path(x, x)
    assert (np.diff(path, axis=0) >= 0).all() and tuple(path[0]) == (0, 0)
    assert (path[:, 0] == path[:, 1]).all() and cost == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ConfigError, match="same D"):
        align.dtw_path(x, x[:, :4])
    with pytest.raises(ConfigError, match="at least two frames"):
        align.dtw_path(x[:1], x)
    with pytest.raises(ConfigError, match="do not lie within"):
        align.by_dtw(x, x, span_a=(0, 99))
    with pytest.raises(ConfigError, match="unknown alignment mode"):
        align.Alignment("phase", np.zeros((1, 2)))
