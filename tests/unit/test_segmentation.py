"""Per-frame results from overlapping windows (stmanet/engine/segmentation.py)."""

import csv
import json

import numpy as np
import pytest

from stmanet.engine.segmentation import (
    FrameSegment,
    check_smoothing,
    default_hop,
    frame_scores,
    median_labels,
    segments_from_labels,
    segments_path,
    timeline_from_windows,
    viterbi_labels,
    write_segments,
)
from stmanet.errors import ConfigError

NAMES = ["squats", "lunges", "walking"]


def one_hot(labels: list[int], confidence: float = 0.9) -> np.ndarray:
    out = np.full((len(labels), len(NAMES)), (1 - confidence) / (len(NAMES) - 1))
    out[np.arange(len(labels)), labels] = confidence
    return out


def test_each_frame_averages_the_windows_covering_it():
    scores = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # windows 0-4, 2-6 and 4-8 over 8 frames
    got = frame_scores([0, 2, 4], [4, 6, 8], scores, 8, weighting="uniform")
    np.testing.assert_allclose(got[0], [1, 0, 0])
    np.testing.assert_allclose(got[3], [0.5, 0.5, 0])  # windows 0-4 and 2-6
    np.testing.assert_allclose(got[5], [0, 0.5, 0.5])
    np.testing.assert_allclose(got[7], [0, 0, 1])
    assert got.dtype == np.float32 and got.shape == (8, 3)


def test_by_default_a_frame_leans_on_the_windows_centred_near_it():
    scores = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    got = frame_scores([0, 2, 4], [4, 6, 8], scores, 8)
    # frame 3: the last frame of window 0-4 (1.5 frames from its middle: weight 1 - 0.5 *
    # 1.5 / 2 = 0.625), next to the middle of window 2-6 (0.5 frames: weight 0.875)
    np.testing.assert_allclose(got[3], [0.625 / 1.5, 0.875 / 1.5, 0], rtol=1e-6)
    np.testing.assert_allclose(got[2], [0.875 / 1.5, 0.625 / 1.5, 0], rtol=1e-6)
    np.testing.assert_allclose(got[0], [1, 0, 0])
    with pytest.raises(ValueError, match="unknown weighting"):
        frame_scores([0], [4], scores[:1], weighting="gauss")
    with pytest.raises(ConfigError, match="unknown weighting of windows 'gauss'"):
        check_smoothing("viterbi", 40.0, 75, "gauss")


def fair_windows(change: int, window: int = 32, hop: int = 8, frames: int = 160):
    """Squats then walking from frame `change`; each window's scores are the shares of its
    frames showing each drill (a window that sees both in equal parts hesitates)."""
    starts = np.arange(0, frames - window + 1, hop)
    ends = starts + window
    walking = np.clip(ends - change, 0, window) / window
    scores = np.stack([1 - walking, np.zeros_like(walking), walking], axis=1) * 0.98 + 0.01
    return starts, ends, scores


@pytest.mark.parametrize("change", [51, 52, 53, 54, 93])
def test_centre_weighting_puts_a_change_between_window_starts_near_where_it_is(change):
    starts, ends, scores = fair_windows(change)
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 160)
    assert [s.label for s in timeline.segments] == ["squats", "walking"]
    assert abs(timeline.segments[1].start_frame - change) <= 2
    # the plain mean is the same for every frame between two window starts (every 8
    # frames), so it cannot tell where in those 8 frames the change is
    block = slice(change // 8 * 8, change // 8 * 8 + 8)
    uniform = frame_scores(starts, ends, scores, 160, weighting="uniform")
    assert np.ptp(uniform[block], axis=0).max() == 0
    assert (np.diff(timeline.scores[block, 2]) > 0).all()  # walking rises frame by frame


def test_frames_no_window_covers_take_the_nearest_covered_frame():
    got = frame_scores([0, 6], [2, 8], np.eye(3)[:2], 10)
    np.testing.assert_allclose(got[2], got[1])  # after the first window
    np.testing.assert_allclose(got[5], got[6])  # nearer the second
    np.testing.assert_allclose(got[9], got[7])  # past the last window
    with pytest.raises(ValueError, match="one \\(start, end, scores\\) per window"):
        frame_scores([0], [2, 4], np.eye(3)[:2])
    with pytest.raises(ValueError, match="no windows"):
        frame_scores([], [], np.zeros((0, 3)))


def test_viterbi_drops_a_short_run_and_keeps_a_long_one():
    labels = [0] * 40 + [1] * 3 + [0] * 40 + [2] * 30
    scores = one_hot(labels)
    assert (viterbi_labels(scores, 0.0) == np.argmax(scores, 1)).all()  # no penalty: argmax
    smoothed = viterbi_labels(scores, 20.0)
    # 3 frames of lunges at log(0.9/0.05) = 2.9 each cannot pay two changes of 20
    assert smoothed.tolist() == [0] * 83 + [2] * 30


def test_median_drops_a_blip_shorter_than_half_the_filter():
    labels = [0] * 40 + [1] * 3 + [0] * 40 + [2] * 30
    assert median_labels(one_hot(labels), 9).tolist() == [0] * 83 + [2] * 30
    with pytest.raises(ValueError, match="odd"):
        median_labels(one_hot(labels), 8)


def test_segments_are_runs_with_times_and_mean_score():
    scores = one_hot([0, 0, 0, 1, 1])
    scores[1, 0] = 0.6
    segments = segments_from_labels(np.array([0, 0, 0, 1, 1]), scores, NAMES, fps=10.0)
    assert segments == [FrameSegment("squats", 0, 3, 0.0, 0.3, pytest.approx(0.8)),
                        FrameSegment("lunges", 3, 5, 0.3, 0.5, pytest.approx(0.9))]
    assert segments[0].frames == 3 and segments[1].seconds == pytest.approx(0.2)


def straddling_windows(window: int = 16, hop: int = 4, frames: int = 96):
    """Squats for 48 frames, then walking; every window that straddles the change (and
    holds both drills in about equal parts) names lunges, a drill in neither."""
    starts = np.arange(0, frames - window + 1, hop)
    ends = starts + window
    rows = []
    for s, e in zip(starts, ends, strict=True):
        squats = max(0, min(e, 48) - s)
        if abs(squats - window / 2) <= window / 4:
            rows.append([0.04, 0.92, 0.04])
        else:
            rows.append([0.96, 0.02, 0.02] if squats > window / 2 else [0.02, 0.02, 0.96])
    return starts, ends, np.array(rows)


@pytest.mark.parametrize("smoothing", ["viterbi", "median"])
def test_a_window_straddling_two_drills_does_not_name_a_third(smoothing):
    starts, ends, scores = straddling_windows()
    window_labels = {NAMES[i] for i in scores.argmax(1)}
    assert "lunges" in window_labels  # the windows do
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96, smoothing=smoothing)
    assert [s.label for s in timeline.segments] == ["squats", "walking"]
    assert abs(timeline.segments[1].start_frame - 48) <= 2
    assert sum(timeline.seconds_per_action().values()) == pytest.approx(96 / 25)
    assert timeline.label_names()[0] == "squats" and timeline.num_frames == 96


def test_without_smoothing_the_straddling_windows_leave_a_stray_segment():
    starts, ends, scores = straddling_windows()
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96, smoothing="none")
    assert "lunges" in [s.label for s in timeline.segments]
    with pytest.raises(ConfigError, match="unknown smoothing"):
        timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96, smoothing="mode")


def test_segment_tables_are_written_as_csv_and_json(tmp_path):
    starts, ends, scores = straddling_windows()
    timeline = timeline_from_windows(starts, ends, scores, NAMES, 25.0, 96)
    assert segments_path(tmp_path / "game.csv") == tmp_path / "game.segments.csv"
    path = write_segments(tmp_path / "game.segments.csv", [(tmp_path / "game.mp4", timeline)])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["video", "start_frame", "end_frame", "start_s", "end_s", "label",
                             "mean_score", "known"]
    assert [r["label"] for r in rows] == ["squats", "walking"]
    assert {r["known"] for r in rows} == {""}  # no verdicts given: cannot tell
    assert rows[0]["start_frame"] == "0" and rows[-1]["end_frame"] == "96"
    doc = json.loads(write_segments(tmp_path / "g.json", [("game.mp4", timeline)]).read_text())
    entry = doc["timelines"][0]
    assert entry["video"] == "game.mp4" and entry["smoothing"] == "viterbi"
    assert entry["segments"][1]["label"] == "walking"
    assert sum(entry["seconds"].values()) == pytest.approx(96 / 25)
    with pytest.raises(ConfigError, match=r"\.csv or \.json"):
        write_segments(tmp_path / "g.txt", [("game.mp4", timeline)])


def test_the_default_hop_is_a_quarter_window():
    assert default_hop(32) == 8 and default_hop(64) == 16 and default_hop(2) == 1
