"""Timelines scored as temporal action segmentation is (stmanet/engine/timeline_eval.py), and
the command-line tools around them: `stmanet evaluate-timeline`, `stmanet predict --segments`."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from stmanet.cli import main
from stmanet.engine.segmentation import timeline_from_windows
from stmanet.engine.timeline import ExpectedTimeline, TimelineSegment
from stmanet.engine.timeline_eval import (
    TimelineSummary,
    edit_score,
    f1_from_counts,
    find_pairs,
    label_runs,
    levenshtein,
    overlap_counts,
    score_timeline,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAMES = ["squats", "lunges", "walking"]


def expected(*segments: tuple[str, int, int], frames: int = 100) -> ExpectedTimeline:
    return ExpectedTimeline(25.0, frames, [TimelineSegment(*s) for s in segments])


def timeline_of(labels: list[int], fps: float = 25.0):
    """A per-frame result whose frames carry these labels (one window per frame)."""
    n = len(labels)
    scores = np.full((n, 3), 0.05)
    scores[np.arange(n), labels] = 0.9
    return timeline_from_windows(np.arange(n), np.arange(n) + 1, scores, NAMES, fps, n,
                                 smoothing="none")


def test_levenshtein_and_the_edit_score_of_ms_tcn():
    assert levenshtein("abc", "abc") == 0 and levenshtein("abc", "axc") == 1
    assert levenshtein("abc", "ab") == 1 and levenshtein("", "ab") == 2
    runs = [("a", 0, 10), ("b", 10, 20), ("a", 20, 22), ("c", 22, 30)]
    truth = [("a", 0, 10), ("b", 10, 22), ("c", 22, 30)]
    assert edit_score(runs, truth) == pytest.approx(1 - 1 / 4)  # one stray segment in four
    assert edit_score(truth, truth) == 1.0


def test_f1_counts_a_segment_once_and_by_overlap():
    truth = [("a", 0, 100), ("b", 100, 200)]
    predicted = [("a", 0, 60), ("a", 60, 100), ("b", 100, 190), ("c", 190, 200)]
    # a 0-60 matches (IoU 0.6); a 60-100 finds the same expected segment taken: false positive
    assert overlap_counts(predicted, truth, 0.5) == (2, 2, 0)
    assert overlap_counts(predicted, truth, 0.95) == (0, 4, 2)
    assert f1_from_counts(2, 2, 0) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert f1_from_counts(0, 0, 0) == 0.0


def test_a_shifted_boundary_costs_its_frames_but_not_the_edit_score():
    truth = expected(("squats", 0, 50), ("walking", 50, 100))
    result = score_timeline(timeline_of([0] * 55 + [2] * 45), truth)
    assert result.frame_accuracy == pytest.approx(0.95)
    assert result.edit == 1.0 and result.f1 == {10: 1.0, 25: 1.0, 50: 1.0}
    assert result.seconds == {"squats": (pytest.approx(2.2), 2.0),
                              "walking": (pytest.approx(1.8), 2.0)}
    assert not result.absent_in_segments


def test_a_drill_the_video_does_not_show_is_named():
    truth = expected(("squats", 0, 50), ("walking", 50, 100))
    result = score_timeline(timeline_of([0] * 45 + [1] * 10 + [2] * 45), truth,
                            window_labels=["squats", "lunges"])
    assert result.absent_in_segments == ["lunges"] and result.absent_in_windows == ["lunges"]
    assert result.edit == pytest.approx(2 / 3)
    assert result.predicted_segments == 3 and result.expected_segments == 2


def test_frames_that_are_not_a_known_action_are_scored_as_a_user_sees_them():
    """The frames the timeline shows as not a known action count as `other`: wrong inside a
    drill, right in a stretch the expected timeline labels other (a rest), and no drill
    named there."""
    n = 100
    scores = np.full((n, 3), 0.05)
    scores[:, 0] = 0.9  # every frame named squats
    known = [f < 60 for f in range(n)]  # from frame 60 on not a known action
    timeline = timeline_from_windows(np.arange(n), np.arange(n) + 1, scores, NAMES, 25.0, n,
                                     smoothing="none", known=known)
    assert timeline.told_label_names()[59:61] == ["squats", "other"]
    drills = score_timeline(timeline, expected(("squats", 0, 100)))
    assert drills.frame_accuracy == pytest.approx(0.6)
    assert drills.seconds["other"] == (pytest.approx(40 / 25), 0.0)
    rested = score_timeline(timeline, expected(("squats", 0, 60), ("other", 60, 100)),
                            window_labels=["squats"])
    assert rested.frame_accuracy == 1.0 and rested.edit == 1.0
    assert rested.absent_in_segments == [] and rested.absent_in_windows == []


def test_frames_outside_every_expected_segment_are_not_scored():
    truth = expected(("squats", 0, 40), ("walking", 60, 100))
    result = score_timeline(timeline_of([1] * 50 + [2] * 50), truth)
    assert result.frames == 80 and result.frame_accuracy == pytest.approx(40 / 80)


def test_labels_match_across_spaces_hyphens_and_case():
    truth = expected(("Squats", 0, 50), ("walking", 50, 100))
    assert score_timeline(timeline_of([0] * 50 + [2] * 50), truth).frame_accuracy == 1.0
    assert label_runs(["a", "a", None, "b"]) == [("a", 0, 2), ("b", 3, 4)]


def test_several_videos_report_the_mean_and_pooled_f1():
    truth = expected(("squats", 0, 50), ("walking", 50, 100))
    good = score_timeline(timeline_of([0] * 50 + [2] * 50), truth, video="good.mp4")
    split = score_timeline(timeline_of([0] * 20 + [1] * 10 + [0] * 20 + [2] * 50), truth,
                           video="split.mp4")
    summary = TimelineSummary([good, split])
    assert summary.frame_accuracy == pytest.approx((1.0 + 0.9) / 2)
    assert summary.edit == pytest.approx((1.0 + 0.5) / 2)
    # pooled: tp 2 + 1 (walking), fp 0 + 3, fn 0 + 1
    assert summary.f1[50] == pytest.approx(f1_from_counts(3, 3, 1))
    text = summary.to_text()
    assert "good.mp4" in text and "split.mp4" in text and "mean" in text
    assert "named but not in the video: lunges" in text
    assert json.loads(json.dumps(summary.to_dict()))["videos"] == 2


def test_pairs_come_from_video_and_json_a_video_alone_or_a_folder(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.mp4").write_bytes(b"x")
    (tmp_path / "other.json").write_text("{}")
    (tmp_path / "no_timeline.mp4").write_bytes(b"x")
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert find_pairs([str(a)]) == [(a, tmp_path / "a.json")]
    assert find_pairs([str(b), str(tmp_path / "other.json"), str(a)]) == [
        (b, tmp_path / "other.json"), (a, tmp_path / "a.json")]
    assert find_pairs([str(tmp_path)]) == [(a, tmp_path / "a.json")]
    from stmanet.errors import ConfigError

    with pytest.raises(ConfigError, match=r"b\.json: no expected timeline for"):
        find_pairs([str(b)])
    with pytest.raises(ConfigError, match="must follow its video"):
        find_pairs([str(tmp_path / "other.json")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no video with an expected timeline"):
        find_pairs([str(empty)])


@pytest.fixture(scope="module")
def short_sequence(tmp_path_factory) -> Path:
    """Squats then walking, 3 s each, small: a video the demo model knows."""
    out = tmp_path_factory.mktemp("seq") / "two.mp4"
    assert main(["sequence", str(out), "--drills", "squats:3,walking:3", "--seed", "4",
                 "--size", "160x120"]) == 0
    return out


def test_evaluate_timeline_scores_a_video_against_its_timeline(short_sequence, tmp_path,
                                                                capsys):
    out = tmp_path / "scores.json"
    assert main(["evaluate-timeline", str(short_sequence),
                 str(short_sequence.with_suffix(".json")), "-o", str(out),
                 "--progress", "none"]) == 0
    printed = capsys.readouterr().out
    assert "frame acc" in printed and "squats" in printed and "walking" in printed
    scores = json.loads(out.read_text())
    video = scores["per_video"][0]
    assert video["frames"] == 150 and video["expected_segments"] == 2
    assert scores["frame_accuracy"] > 0.8 and scores["edit"] == 1.0
    assert set(video["seconds"]) == {"squats", "walking"}


def test_evaluate_timeline_refuses_what_it_cannot_score(short_sequence, tmp_path, capsys):
    assert main(["evaluate-timeline", str(short_sequence), "-o", str(tmp_path / "s.txt")]) == 2
    assert "name it .json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fps": 25, "frames": 150, "segments": [
        {"label": "cartwheels", "start_frame": 0, "end_frame": 150}]}))
    assert main(["evaluate-timeline", str(short_sequence), str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "does not know cartwheels" in err


def test_predict_writes_segments_beside_the_windows(short_sequence, tmp_path, capsys):
    out = tmp_path / "two.csv"
    assert main(["predict", str(short_sequence), "-o", str(out), "--segments",
                 "--progress", "none"]) == 0
    printed = capsys.readouterr().out
    assert "segments (viterbi smoothing) written to" in printed
    windows = list(csv.DictReader(out.open()))
    assert [int(w["start_frame"]) for w in windows[:3]] == [0, 8, 16]  # a quarter window
    assert windows[-1]["end_frame"] == "150"
    segments = list(csv.DictReader((tmp_path / "two.segments.csv").open()))
    assert [s["label"] for s in segments] == ["squats", "walking"]
    assert segments[0]["start_frame"] == "0" and segments[-1]["end_frame"] == "150"
    assert 0.5 < float(segments[0]["mean_score"]) <= 1.0


def test_changes_are_placed_on_the_frames_unless_told_not_to(short_sequence, tmp_path,
                                                            capsys):
    change = 75  # squats, then walking from frame 75 (3 s each)
    found = {}
    for flags in ([], ["--no-refine"]):
        out = tmp_path / f"scores{len(flags)}.json"
        assert main(["predict", str(short_sequence), "-o", str(out), "--segments",
                     "--progress", "none", *flags]) == 0
        written = json.loads(out.with_name(f"{out.stem}.segments.json").read_text())
        segments = written["timelines"][0]["segments"]
        assert [s["label"] for s in segments] == ["squats", "walking"]
        found[bool(flags)] = segments[1]["start_frame"]
    capsys.readouterr()
    assert abs(found[False] - change) <= abs(found[True] - change)
    assert abs(found[False] - change) <= 3


@pytest.mark.parametrize(("flags", "message"), [
    (["--smoothing", "median", "--median-frames", "8"], "odd number of frames"),
    (["--switch-penalty", "-1"], "0 or more, not -1"),
])
def test_bad_smoothing_settings_are_refused_before_predicting(short_sequence, capsys, flags,
                                                              message):
    for command in (["predict", "--segments"], ["evaluate-timeline"]):
        assert main([*command, str(short_sequence), *flags]) == 2
        assert message in capsys.readouterr().err


def test_predict_prints_segments_without_an_output_file(short_sequence, capsys):
    assert main(["predict", str(short_sequence), "--segments", "--smoothing", "median",
                 "--progress", "none"]) == 0
    printed = capsys.readouterr().out
    assert "segments (median smoothing):" in printed and "seconds: squats" in printed


def test_a_rest_between_drills_is_shown_as_footage_of_no_known_action(tmp_path, capsys):
    """The demo model on squats, a rest (the figure standing at rest) and walking: the rest
    is shown as not a known action, no drill is named for it, and the timeline matches; a
    threshold far out calls everything known, so the rest gets a drill's name."""
    video = tmp_path / "rest.mp4"
    assert main(["sequence", str(video), "--drills", "squats:3,idle:3,walking:3", "--seed", "5",
                 "--size", "160x120"]) == 0
    out = tmp_path / "scores.json"
    assert main(["evaluate-timeline", str(video), "-o", str(out), "--progress", "none"]) == 0
    result = json.loads(out.read_text())["per_video"][0]
    assert result["frame_accuracy"] > 0.9 and result["edit"] == 1.0
    assert abs(result["seconds"]["other"]["predicted"] - 3.0) < 0.5
    assert result["seconds"]["other"]["expected"] == 3.0
    assert result["absent_in_segments"] == [] and result["absent_in_windows"] == []
    other = result["seconds"]["other"]["predicted"]
    assert main(["evaluate-timeline", str(video), "-o", str(out), "--progress", "none",
                 "--sensitivity", "high"]) == 0
    high = json.loads(out.read_text())["per_video"][0]
    assert high["seconds"]["other"]["predicted"] >= other  # calls more footage unknown
    assert main(["evaluate-timeline", str(video), "-o", str(out), "--progress", "none",
                 "--novelty-threshold", "1e9"]) == 0
    result = json.loads(out.read_text())["per_video"][0]
    assert "other" not in {k for k, v in result["seconds"].items() if v["predicted"] > 0}
    assert result["frame_accuracy"] < 0.7
    capsys.readouterr()


def test_the_demo_video_s_timeline_has_its_ten_drills_in_order(capsys, tmp_path):
    """Frames 1232-1250 used to be completed from the video's start, so the last window said
    jumping jacks and the summary per drill gave jumping jacks 6.6 s and side bends 3.7 s."""
    from stmanet.bundled import bundled_demo_video

    demo = bundled_demo_video()
    out = tmp_path / "demo.json"
    assert main(["evaluate-timeline", str(demo), "-o", str(out), "--progress", "none"]) == 0
    video = json.loads(out.read_text())["per_video"][0]
    assert video["absent_in_segments"] == [] and video["absent_in_windows"] == []
    assert video["edit"] == 1.0 and video["predicted_segments"] == 10
    assert video["frame_accuracy"] > 0.92
    for drill in ("jumping_jacks", "side_bends"):
        assert abs(video["seconds"][drill]["predicted"] - 5.0) < 0.5
    for seconds in video["seconds"].values():
        assert abs(seconds["predicted"] - seconds["expected"]) < 1.0
