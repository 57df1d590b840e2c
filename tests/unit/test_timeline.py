"""Expected timelines (demo.json beside demo.mp4) and the majority check of predictions."""

import json

import pytest

from stmanet.engine.inference import WindowPrediction
from stmanet.engine.timeline import (
    ExpectedTimeline,
    TimelineSegment,
    compare_timeline,
    expected_timeline_path,
    predicted_segments,
)
from stmanet.errors import ConfigError

WINDOW = 16


def windows(*labels: str, window: int = WINDOW, frames: int | None = None,
            fps: float = 25.0) -> list[WindowPrediction]:
    """Consecutive windows with these top labels; the last one cut at `frames`."""
    out = []
    for i, label in enumerate(labels):
        start = i * window
        end = start + window if frames is None else min(start + window, frames)
        out.append(WindowPrediction(start, end, start / fps, end / fps, [label, "other"],
                                    [0.9, 0.1]))
    return out


def timeline(*segments: tuple[str, int, int], frames: int = 96) -> ExpectedTimeline:
    return ExpectedTimeline(25.0, frames, [TimelineSegment(*s) for s in segments])


def test_expected_timeline_round_trips_through_its_json_file(tmp_path):
    expected = timeline(("squats", 0, 48), ("lunges", 48, 96))
    path = expected.save(tmp_path / "demo.json")
    assert json.loads(path.read_text()) == {
        "fps": 25.0, "frames": 96,
        "segments": [{"label": "squats", "start_frame": 0, "end_frame": 48},
                     {"label": "lunges", "start_frame": 48, "end_frame": 96}]}
    assert ExpectedTimeline.load(path) == expected


def test_the_expected_timeline_sits_beside_its_video(tmp_path):
    assert expected_timeline_path(tmp_path / "demo.mp4") == tmp_path / "demo.json"


@pytest.mark.parametrize(("text", "reason"), [
    ("{not json", "Expecting property name"),
    ("[1, 2]", "a JSON object is needed"),
    ('{"fps": 25, "frames": 96}', "no 'segments'"),
    ('{"fps": 25, "frames": 96, "segments": []}', "at least one segment"),
    ('{"fps": 25, "frames": 96, "segments": [{"label": "a", "start_frame": 0, '
     '"end_frame": 120}]}', "do not lie within the video's 96 frames"),
    ('{"fps": 25, "frames": 96, "segments": [{"label": "a", "start_frame": 0, '
     '"end_frame": 50}, {"label": "b", "start_frame": 40, "end_frame": 96}]}',
     "before the previous segment ends"),
])
def test_a_malformed_expected_timeline_is_refused_with_file_and_reason(tmp_path, text, reason):
    path = tmp_path / "demo.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        ExpectedTimeline.load(path)
    assert str(path) in str(caught.value)
    assert reason in str(caught.value)


def test_consecutive_windows_with_one_label_merge_into_a_segment():
    merged = predicted_segments(windows("squats", "squats", "lunges", "squats"))
    assert [(s.label, s.start_frame, s.end_frame, s.windows) for s in merged] == [
        ("squats", 0, 32, 2), ("lunges", 32, 48, 1), ("squats", 48, 64, 1)]
    assert merged[0].start_s == 0.0 and merged[0].end_s == pytest.approx(32 / 25)


def test_each_segment_takes_the_majority_of_the_windows_wholly_inside_it():
    # segments 0-40 and 40-96; window 32-48 straddles the boundary and is ignored
    preds = windows("squats", "squats", "jumping_jacks", "lunges", "lunges", "squats")
    checks = compare_timeline(preds, timeline(("squats", 0, 40), ("lunges", 40, 96)), WINDOW)
    assert [c.votes for c in checks] == [{"squats": 2}, {"lunges": 2, "squats": 1}]
    assert all(c.matches for c in checks)
    assert checks[1].predicted == "lunges"


def test_a_segment_whose_majority_is_another_label_does_not_match():
    preds = windows("squats", "squats", "squats", "lunges", "squats", "squats")
    checks = compare_timeline(preds, timeline(("squats", 0, 48), ("lunges", 48, 96)), WINDOW)
    assert checks[0].matches
    assert not checks[1].matches and checks[1].predicted == "squats"


def test_a_tie_is_not_a_match():
    preds = windows("squats", "lunges")
    (check,) = compare_timeline(preds, timeline(("squats", 0, 32), frames=32), WINDOW)
    assert check.windows == 2 and not check.matches


def test_segments_shorter_than_a_window_and_partial_windows_are_not_checked():
    # a window shorter than the window length (its clip repeats a frame): left out
    preds = windows("squats", "squats", "lunges", frames=40)
    checks = compare_timeline(preds, timeline(("squats", 0, 30), ("lunges", 30, 40),
                                              frames=40), WINDOW)
    assert checks[0].votes == {"squats": 1}
    assert not checks[1].checked and not checks[1].matches and checks[1].predicted is None


def test_a_window_that_is_not_a_known_action_votes_other():
    """An expected segment labelled other (a rest: footage of no drill) matches when most of
    its windows are not a known action, whatever the classifier named them."""
    preds = windows("squats", "squats", "lunges", "lunges", "lunges", "squats")
    for w in preds[2:5]:
        w.known = False
    checks = compare_timeline(preds, timeline(("squats", 0, 32), ("other", 32, 80),
                                              ("squats", 80, 96)), WINDOW)
    assert [c.votes for c in checks] == [{"squats": 2}, {"other": 3}, {"squats": 1}]
    assert all(c.matches for c in checks)
