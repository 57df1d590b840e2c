"""The repetition counts the window shows (app/services/counts.py): the badge's running
count, no count where the counter abstained, totals per action, the pace in words, and the
playhead's row of a rhythm picture."""

import numpy as np

from app.services.counts import RepCounts, Rhythm, SegmentReps, evenness


def test_the_running_count_and_none_where_the_counter_abstained():
    counts = RepCounts([
        SegmentReps("squats", 0, 100, 25.0, total=3, rep_frames=(20, 50, 80),
                    reps_per_min=60.0, pace_cv=0.02),
        SegmentReps("lunges", 100, 150, 25.0, reason="hardly anything moves"),
        SegmentReps("squats", 150, 200, 25.0, total=2, rep_frames=(170, 190)),
    ])
    assert [counts.badge_text(f) for f in (0, 19, 20, 79, 80, 99)] == [
        "rep 0/3", "rep 0/3", "rep 1/3", "rep 2/3", "rep 3/3", "rep 3/3"]
    assert counts.badge_text(120) == ""  # abstained: no count, not "rep 0/0"
    assert counts.badge_text(200) == ""  # past the last segment
    assert counts.rep_frames() == [20, 50, 80, 170, 190]
    totals = counts.per_action()
    assert (totals["squats"].reps, totals["squats"].segments) == (5, 2)
    assert (totals["lunges"].reps, totals["lunges"].not_counted) == (0, 1)


def test_the_pace_in_words():
    assert [evenness(cv) for cv in (None, 0.0, 0.099, 0.1, 0.19, 0.2, 0.5)] == [
        "", "even", "even", "fairly even", "fairly even", "uneven", "uneven"]


def test_a_rhythm_picture_marks_the_row_nearest_the_playhead():
    rhythm = Rhythm(np.eye(4, dtype=np.float16), np.array([10, 20, 30, 40]), 10, 45)
    assert [rhythm.index_of(f) for f in (9, 10, 14, 16, 40, 44, 45)] == [
        None, 0, 0, 1, 3, 3, None]
