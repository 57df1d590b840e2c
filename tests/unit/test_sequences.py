"""Random test sequences: `stmanet sequence --random N --count M` and their timelines."""

import itertools
import json

import pytest

from stmanet.cli import main
from stmanet.data.synthetic import DRILLS
from stmanet.data.synthetic.dataset import REST_LABEL
from stmanet.data.synthetic.sequences import numbered_path, parse_plan, random_plan
from stmanet.engine.segmentation import OTHER_LABEL
from stmanet.engine.timeline import ExpectedTimeline
from stmanet.errors import ConfigError


def test_a_random_plan_shuffles_the_drills_with_durations_in_range():
    plan = random_plan(10, seed=5)
    assert sorted(d for d, _ in plan) == sorted(DRILLS)  # each once before any repeats
    assert all(2.0 <= s <= 15.0 for _, s in plan)
    assert plan == random_plan(10, seed=5)
    assert plan != random_plan(10, seed=5, index=1) != random_plan(10, seed=6)
    lengths = {s for i in range(20) for _, s in random_plan(10, seed=1, index=i)}
    assert min(lengths) < 3.0 and max(lengths) > 14.0 and len(lengths) > 100


def test_a_long_plan_repeats_drills_but_never_one_twice_in_a_row():
    for index in range(30):
        plan = random_plan(25, seed=2, index=index, drills=["squats", "lunges", "walking"])
        assert all(a[0] != b[0] for a, b in itertools.pairwise(plan))
    short = random_plan(4, seed=2, min_seconds=1, max_seconds=1.5)
    assert all(1.0 <= s <= 1.5 for _, s in short)


def test_bad_plans_are_refused():
    with pytest.raises(ConfigError, match="at least one drill"):
        random_plan(0, seed=1)
    with pytest.raises(ConfigError, match="minimum <= maximum"):
        random_plan(3, seed=1, min_seconds=5, max_seconds=2)
    with pytest.raises(ConfigError, match="expected DRILL:SECONDS"):
        parse_plan("squats:5,lunges")
    assert parse_plan("squats:5, lunges:2.5") == [("squats", 5.0), ("lunges", 2.5)]


def test_several_sequences_are_numbered():
    assert numbered_path("out/seq.mp4", 3, 1).name == "seq.mp4"
    assert numbered_path("out/seq.mp4", 3, 50).name == "seq-003.mp4"
    assert numbered_path("out/seq.mp4", 3, 5000).name == "seq-0003.mp4"


def test_sequence_command_writes_random_sequences_with_their_timelines(tmp_path, capsys):
    out = tmp_path / "seq.mp4"
    assert main(["sequence", str(out), "--random", "3", "--count", "2", "--seed", "9",
                 "--min-seconds", "0.4", "--max-seconds", "0.8", "--size", "64x48"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("3 drills") == 2
    first, second = (ExpectedTimeline.load(tmp_path / f"seq-00{i}.json") for i in (0, 1))
    for timeline, i in ((first, 0), (second, 1)):
        plan = random_plan(3, seed=9, index=i, min_seconds=0.4, max_seconds=0.8)
        assert [s.label for s in timeline.segments] == [d for d, _ in plan]
        assert [s.end_frame - s.start_frame for s in timeline.segments] == [
            round(sec * 25) for _, sec in plan]
        assert timeline.segments[-1].end_frame == timeline.frames
        assert (tmp_path / f"seq-00{i}.mp4").stat().st_size > 0
    assert json.loads((tmp_path / "seq-000.json").read_text())["fps"] == 25.0


def test_sequence_command_needs_one_way_to_choose_the_drills(tmp_path, capsys):
    out = str(tmp_path / "seq.mp4")
    assert main(["sequence", out]) == 2
    assert "either --drills" in capsys.readouterr().err
    assert main(["sequence", out, "--drills", "squats:1", "--random", "2"]) == 2
    assert main(["sequence", out, "--drills", "squats:1", "--count", "2"]) == 2
    assert "use it with --random" in capsys.readouterr().err


def test_a_plan_may_rest_between_drills():
    plain = random_plan(4, seed=5)
    rested = random_plan(4, seed=5, rests=(2.0, 4.0))
    assert rested[::2] == plain  # the same drills for the same length, a rest between each two
    assert [d for d, _ in rested[1::2]] == ["idle"] * 3
    assert all(2.0 <= s <= 4.0 for _, s in rested[1::2])
    with pytest.raises(ConfigError, match="shortest <= longest"):
        random_plan(3, seed=1, rests=(4.0, 2.0))
    with pytest.raises(ConfigError, match="between two drills"):
        random_plan(1, seed=1, rests=(2.0, 4.0))
    assert REST_LABEL == OTHER_LABEL  # the label a model that tells unknowns shows there


def test_a_rest_is_footage_of_no_drill_in_the_timeline(tmp_path, capsys):
    """The figure stands at rest between drills: the timeline labels that stretch `other`,
    as a model that tells unknown footage should show it, with nothing to count."""
    out = tmp_path / "rest.mp4"
    assert main(["sequence", str(out), "--drills", "squats:0.8,idle:0.6,walking:0.8",
                 "--size", "64x48"]) == 0
    assert "2 drills, 1 rest;" in capsys.readouterr().out
    segments = json.loads(out.with_suffix(".json").read_text())["segments"]
    assert [(s["label"], s["start_frame"], s["end_frame"]) for s in segments] == [
        ("squats", 0, 20), ("other", 20, 35), ("walking", 35, 55)]
    assert segments[1]["reps"] == 0 and segments[1]["rep_times"] == []
    drawn = tmp_path / "drawn.mp4"
    assert main(["sequence", str(drawn), "--random", "3", "--rests", "0.4-0.8", "--seed", "9",
                 "--min-seconds", "0.4", "--max-seconds", "0.8", "--size", "64x48"]) == 0
    assert "3 drills, 2 rests;" in capsys.readouterr().out
    labels = [s.label for s in ExpectedTimeline.load(drawn.with_suffix(".json")).segments]
    assert labels[1::2] == ["other", "other"] and "other" not in labels[::2]


def test_rests_are_asked_for_in_one_way(tmp_path, capsys):
    out = str(tmp_path / "seq.mp4")
    assert main(["sequence", out, "--drills", "squats:1", "--rests", "1-2"]) == 2
    assert "list the rests as idle:SECONDS" in capsys.readouterr().err
    assert main(["sequence", out, "--drills", "squats:1,nap:2"]) == 2
    assert "unknown drill 'nap'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sequence", out, "--random", "3", "--rests", "1-inf"])
    assert "need 0 < MIN <= MAX" in capsys.readouterr().err
    assert main(["sequence", out, "--drills", "squats:1,idle:0"]) == 2
    assert "a rest needs a positive duration" in capsys.readouterr().err
