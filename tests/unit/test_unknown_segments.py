"""Segments of a per-frame result where some footage is "not a known action": such
stretches are segments of their own ("other") wherever segments are shown or written, and
no sliver of an action is left between them (engine/segmentation.py `told_unknown`)."""

import csv
import json

import numpy as np
import pytest

from stmanet.engine.segmentation import (
    OTHER_LABEL,
    timeline_from_windows,
    told_unknown,
    write_segments,
)

NAMES = ["squats", "walking"]


def test_a_few_frames_of_an_action_beside_unknown_footage_count_as_unknown():
    labels = np.repeat([0, 1, 0], [30, 3, 30])  # 3 frames of walking inside squats
    unknown = np.zeros(63, dtype=bool)
    unknown[20:30] = unknown[33:45] = True  # the windows' verdicts leave them between
    told = told_unknown(labels, unknown, sliver_frames=8)
    assert np.flatnonzero(told).tolist() == list(range(20, 45))  # one stretch
    # at a stretch's edge too, and a run as long as the sliver limit stays
    labels = np.repeat([0, 1, 2], [40, 10, 30])
    unknown = np.zeros(80, dtype=bool)
    unknown[0:37] = unknown[50:60] = True
    told = told_unknown(labels, unknown, sliver_frames=8)
    assert np.flatnonzero(told).tolist() == list(range(0, 40)) + list(range(50, 60))
    assert told_unknown(labels, unknown, sliver_frames=0).tolist() == unknown.tolist()
    assert not told_unknown(labels, np.zeros(0, dtype=bool), 8).any()  # frames past: known


def scene(window: int = 16, hop: int = 4, frames: int = 96):
    """Squats for 48 frames, then walking; the windows starting at frame 60 or later are
    "not a known action"."""
    starts = np.arange(0, frames - window + 1, hop)
    ends = starts + window
    scores = np.array([[0.9, 0.1] if s + window / 2 < 48 else [0.1, 0.9] for s in starts])
    return starts, ends, scores, [bool(s < 60) for s in starts]


def test_unknown_footage_is_a_segment_of_its_own_in_every_form(tmp_path):
    starts, ends, scores, known = scene()
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96, known=known)
    assert [s.label for s in timeline.segments] == ["squats", "walking"]  # the actions
    assert timeline.sliver_frames == 8  # half a window: the windows cannot tell less
    told = timeline.told_segments()
    assert [(s.label, s.known) for s in told] == [("squats", True), ("walking", True),
                                                  (OTHER_LABEL, False)]
    assert told[-1].end_frame == 96 and told[-1].start_frame == told[1].end_frame
    # frames 60-75: three unknown windows, one known; from 72 on every window is unknown
    assert 66 <= told[-1].start_frame <= 72
    assert timeline.seconds_per_action()[OTHER_LABEL] == pytest.approx(told[-1].frames / 25)
    assert "NOT A KNOWN ACTION" in timeline.to_text()
    rows = list(csv.DictReader(write_segments(tmp_path / "a.csv", [("a.mp4", timeline)]).open()))
    assert [(r["label"], r["known"]) for r in rows] == [("squats", "1"), ("walking", "1"),
                                                         ("other", "0")]
    assert rows[-1]["mean_score"] == "" and float(rows[0]["mean_score"]) > 0.5
    doc = json.loads(write_segments(tmp_path / "a.json", [("a.mp4", timeline)]).read_text())
    last = doc["timelines"][0]["segments"][-1]
    assert last["known"] is False and last["mean_score"] is None
    assert OTHER_LABEL in doc["timelines"][0]["seconds"]


def test_a_model_that_cannot_tell_gives_the_segments_as_before(tmp_path):
    starts, ends, scores, known = scene()
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96,
                                     known=[None] * len(known))
    assert timeline.unknown is None and timeline.told_segments() == timeline.segments
    rows = list(csv.DictReader(write_segments(tmp_path / "a.csv", [("a.mp4", timeline)]).open()))
    assert [(r["label"], r["known"]) for r in rows] == [("squats", ""), ("walking", "")]
    doc = json.loads(write_segments(tmp_path / "a.json", [("a.mp4", timeline)]).read_text())
    assert "known" not in doc["timelines"][0]["segments"][0]


def test_a_stored_result_rebuilt_from_its_windows_keeps_its_stretches_of_unknown_footage():
    """A result file keeps its segments as placed on the frames (refined), "not a known
    action" as action None; rebuilt from its windows (the app reopening a cached analysis),
    the same segments come back, even where a sliver folded into unknown footage in the file
    would be an action in the windows' own per-frame result."""
    starts, ends, scores, known = scene()
    plain = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96, known=known)
    told = plain.told_segments()
    moved = told[-1].start_frame - 6  # as if the file's unknown stretch began 6 frames earlier
    stored = [("squats", told[0].start_frame, told[0].end_frame),
              ("walking", told[1].start_frame, moved), (None, moved, 96)]
    rebuilt = plain.with_segments(stored)
    assert [(None if s.known is False else s.label, s.start_frame, s.end_frame)
            for s in rebuilt.told_segments()] == stored


def test_count_takes_the_segments_predict_writes_and_leaves_unknown_footage_out(tmp_path):
    from stmanet.engine.reps_video import read_timeline

    starts, ends, scores, known = scene()
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96, known=known)
    told = timeline.told_segments()
    expected = [(s.label, s.start_frame, s.end_frame) for s in told if s.known]
    stretches = [(s.start_frame, s.end_frame) for s in told if not s.known]
    assert stretches
    for suffix in (".csv", ".json"):  # `stmanet predict --segments` files
        path = write_segments(tmp_path / f"v.segments{suffix}", [("v.mp4", timeline)])
        assert read_timeline(path) == (expected, stretches)
    # predictions (windows): a run of windows not a known action is no segment, and the
    # known run before it does not stretch over it
    rows = ["video,start_frame,end_frame,start_s,end_s,label_1,score_1,known",
            "v.mp4,0,16,0,0.64,squats,0.9,1", "v.mp4,16,32,0.64,1.28,squats,0.9,1",
            "v.mp4,32,48,1.28,1.92,walking,0.8,0", "v.mp4,48,64,1.92,2.56,walking,0.9,1"]
    windows = tmp_path / "w.csv"
    windows.write_text("\n".join(rows) + "\n")
    assert read_timeline(windows) == ([("squats", 0, 32), ("walking", 48, 64)], [(32, 48)])
