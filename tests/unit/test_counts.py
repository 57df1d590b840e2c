"""The repetition counts the window shows (app/services/counts.py): the badge's running
count, no count where the counter abstained, totals per action, the pace in words, and the
playhead's row of a rhythm picture."""

from types import SimpleNamespace

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


def test_the_segments_file_leaves_the_count_empty_where_the_counter_abstained(tmp_path):
    import csv
    from pathlib import Path

    from app.services.export import REP_COLUMNS, write_counted_segments
    from app.services.results import AnalysisResult
    from stmanet.engine.segmentation import FrameSegment

    segments = [FrameSegment("squats", 0, 100, 0.0, 4.0, 0.9, True),
                FrameSegment("lunges", 100, 150, 4.0, 6.0, 0.8, True),
                FrameSegment("other", 150, 175, 6.0, 7.0, 0.0, False)]
    timeline = SimpleNamespace(told_segments=lambda: segments)
    counts = RepCounts([
        SegmentReps("squats", 0, 100, 25.0, total=3, rep_frames=(20, 50, 80),
                    reps_per_min=60.0, pace_cv=0.15),
        SegmentReps("lunges", 100, 150, 25.0, reason="hardly anything moves")])
    analysis = AnalysisResult(Path("drill.mp4"), 25.0, 150, 8, 32, ["squats", "lunges"], [],
                              True, timeline=timeline, reps=counts)
    target = write_counted_segments(tmp_path / "drill.segments.csv", analysis)
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[-len(REP_COLUMNS):] == list(REP_COLUMNS)
    assert [(r["label"], r["known"], r["reps"], r["pace"], r["not_counted"]) for r in rows] == [
        ("squats", "1", "3", "fairly even", ""), ("lunges", "1", "", "", "hardly anything moves"),
        ("other", "0", "", "", "")]  # footage of no known action: nothing counted
    assert rows[0]["rep_times"] == "0.80 2.00 3.20" and rows[0]["reps_per_min"] == "60.0"


def test_stretches_that_are_not_a_known_action_are_not_counted():
    from app.services.counting import count_segments
    from stmanet.engine.segmentation import FrameTimeline, segments_from_labels

    names = ["squats", "running", "lunges"]
    labels = np.repeat([0, 1, 2], 100)
    scores = np.ones((300, 3), dtype=np.float32)
    timeline = FrameTimeline(names, 25.0, scores, labels,
                             segments_from_labels(labels, scores, names, 25.0))
    unknown = np.zeros(280, dtype=bool)  # 280 frames embedded: the last 20 are not counted
    unknown[40:60] = True  # inside the first segment
    unknown[100:200] = True  # the whole second segment
    embeddings = np.random.default_rng(0).random((280, 16), dtype=np.float32)

    def counted(mask):
        reps = count_segments(embeddings, 25.0, timeline, unknown=mask)
        return [(s.label, s.start_frame, s.end_frame) for s in reps.segments]

    assert counted(unknown) == [("squats", 0, 40), ("squats", 60, 100), ("lunges", 200, 280)]
    assert counted(None) == [("squats", 0, 100), ("running", 100, 200), ("lunges", 200, 280)]
    assert count_segments(embeddings, 25.0, None).segments == []
