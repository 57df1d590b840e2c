"""`stmanet-app --self-test` from source, and `stmanet-app train ...` handed to the trainer.

The model here always answers "squats" (its classifier's bias says so), so the expected
timeline it must match is known without training; the video is made the way the demo video
is, with stmanet.data.synthetic.render_sequence.
"""

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import dispatch, launch
from app.main import main
from stmanet import bundled
from stmanet.engine.timeline import ExpectedTimeline, TimelineSegment

CLASSES = ["jumping_jacks", "squats", "arm_circles", "high_knees", "lunges", "walking"]
TINY_INPUT = {"frames": 8, "frame_stride": 2, "size": 32}  # 16-frame windows


def make_constant_model(path: Path, label: str) -> Path:
    """A tiny ST-MANet whose answer is `label` whatever it sees."""
    import torch

    from stmanet.config import InputSpec
    from stmanet.engine.checkpoint import CheckpointMetadata, provenance, save_checkpoint
    from stmanet.models import create_model

    torch.manual_seed(0)
    model = create_model("stmanet_r10", len(CLASSES), width=0.125)
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.zero_()
        model.head.fc.bias[CLASSES.index(label)] = 8.0
    metadata = CheckpointMetadata(model.config, CLASSES, InputSpec(**TINY_INPUT),
                                  provenance("test", note=f"always {label}"))
    return save_checkpoint(path, model, metadata)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("self-test")


@pytest.fixture(scope="module")
def squats_model(folder: Path) -> Path:
    return make_constant_model(folder / "squats.safetensors", "squats")


@pytest.fixture(scope="module")
def drill_video(folder: Path) -> Path:
    """4 s of squats then 2 s of squats again (two segments), 160 x 120 at 25 fps, with its
    expected timeline beside it (drill.json)."""
    from stmanet.data.synthetic import render_sequence, write_video

    frames, segments = render_sequence([("squats", 4.0), ("squats", 2.0)], seed=3)
    video = write_video(folder / "drill.mp4", frames)
    ExpectedTimeline(25.0, len(frames), [TimelineSegment(s.drill, s.start_frame, s.end_frame)
                                         for s in segments]).save(folder / "drill.json")
    return video


def video_with_expectation(folder: Path, name: str, source: Path,
                           expected: dict[str, object] | None) -> Path:
    """A copy of `source` named `name`, with `expected` as its timeline file (if given)."""
    video = folder / name
    video.write_bytes(source.read_bytes())
    if expected is not None:
        ExpectedTimeline.from_dict(expected).save(video.with_suffix(".json"))
    return video


@pytest.fixture
def no_shipped_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation without the demo model and video (wherever it looks)."""
    monkeypatch.setattr(bundled, "_SOURCE_TREE", tmp_path / "empty" / "resources")
    monkeypatch.setattr(bundled, "_package_root", lambda: None)
    monkeypatch.delattr(sys, "frozen", raising=False)


def self_test(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--self-test", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_self_test_passes_and_prints_the_timeline(qapp, capsys, squats_model, drill_video):
    code, out, err = self_test(capsys, "--model", str(squats_model), "--video",
                               str(drill_video))
    assert code == 0, err
    assert "window: built and drawn offscreen" in out
    assert "first prediction:" in out
    timeline = out[out.index("predicted timeline:"):].splitlines()
    # 10 windows: 9 every 16 frames and one ending at the last frame (134-150)
    assert "0.00-   6.00 s  frames     0-  150  squats" in timeline[1]
    assert "expected squats             predicted squats (6/6 windows)" in out
    assert "timeline matches: 2 of 2 segments checked" in out
    assert out.rstrip().splitlines()[-1].startswith("self-test passed")
    assert "FAILED" not in err


def test_self_test_without_an_expected_timeline_only_prints_the_prediction(
        qapp, capsys, folder, squats_model, drill_video):
    video = video_with_expectation(folder, "plain.mp4", drill_video, None)
    code, out, _ = self_test(capsys, "--model", str(squats_model), "--video", str(video))
    assert code == 0
    assert "expected timeline: none (plain.json is not beside the video)" in out


def test_a_mismatching_timeline_fails_and_shows_both(qapp, capsys, folder, squats_model,
                                                     drill_video):
    video = video_with_expectation(folder, "mismatch.mp4", drill_video, {
        "fps": 25.0, "frames": 150,
        "segments": [{"label": "squats", "start_frame": 0, "end_frame": 100},
                     {"label": "lunges", "start_frame": 100, "end_frame": 150}]})
    code, out, err = self_test(capsys, "--model", str(squats_model), "--video", str(video))
    assert code == 1
    assert "frames     0-  150  squats" in out  # the prediction ...
    assert "expected lunges" in out and "MISMATCH" in out  # ... and the expectation
    assert ("self-test FAILED: the predicted timeline does not match mismatch.json in 1 of 2 "
            "segments (frames 100-150: expected lunges, predicted squats)") in err
    assert "Traceback" not in err


def test_an_expected_timeline_of_another_video_fails(qapp, capsys, folder, squats_model,
                                                     drill_video):
    video = video_with_expectation(folder, "other.mp4", drill_video, {
        "fps": 25.0, "frames": 300,
        "segments": [{"label": "squats", "start_frame": 0, "end_frame": 300}]})
    code, _, err = self_test(capsys, "--model", str(squats_model), "--video", str(video))
    assert code == 1
    assert "describes a video of 300 frames, but the video holds 150" in err


def test_an_expected_label_the_model_does_not_know_fails(qapp, capsys, folder, squats_model,
                                                         drill_video):
    video = video_with_expectation(folder, "unknown.mp4", drill_video, {
        "fps": 25.0, "frames": 150,
        "segments": [{"label": "cartwheels", "start_frame": 0, "end_frame": 150}]})
    code, _, err = self_test(capsys, "--model", str(squats_model), "--video", str(video))
    assert code == 1
    assert "expects 'cartwheels', which the model does not know" in err


def test_without_a_shipped_demo_model_it_fails_saying_the_model_is_missing(
        capsys, no_shipped_files):
    code, _, err = self_test(capsys)
    assert code == 1
    assert err.startswith("self-test FAILED: no demo model: resources/models/demo.safetensors "
                          "is not installed (looked in: ")
    assert "--model FILE" in err
    assert "Traceback" not in err


def test_without_a_shipped_demo_video_it_fails_saying_the_video_is_missing(
        capsys, no_shipped_files, squats_model):
    code, _, err = self_test(capsys, "--model", str(squats_model))
    assert code == 1
    assert "no demo video: resources/videos/demo.mp4 is not installed" in err


def test_a_model_file_that_is_not_there_fails(capsys, tmp_path, drill_video):
    code, _, err = self_test(capsys, "--model", str(tmp_path / "gone.safetensors"),
                             "--video", str(drill_video))
    assert code == 1
    assert f"the model file {tmp_path / 'gone.safetensors'} does not exist" in err


def test_an_unreadable_video_fails_with_the_reason(qapp, capsys, squats_model, corrupt_file):
    code, _, err = self_test(capsys, "--model", str(squats_model), "--video",
                             str(corrupt_file))
    assert code == 1
    assert f"self-test FAILED: {corrupt_file}: cannot be opened as a video" in err
    assert "Traceback" not in err


def test_a_damaged_model_fails_with_the_reason(qapp, capsys, tmp_path, drill_video):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(os.urandom(500))
    code, _, err = self_test(capsys, "--model", str(broken), "--video", str(drill_video))
    assert code == 1
    assert f"self-test FAILED: {broken}:" in err


def test_self_test_runs_as_a_program_from_source(tmp_path, squats_model, drill_video):
    """`python -m app --self-test ...`: the same entry point as the bundle's."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    result = subprocess.run(
        [sys.executable, "-m", "app", "--self-test", "--model", str(squats_model),
         "--video", str(drill_video)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "frozen: no" in result.stdout
    assert "timeline matches: 2 of 2 segments checked" in result.stdout


def test_train_is_handed_to_the_trainer_command_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: stmanet-app train")
    assert "--data DATA" in out and "--progress {auto,json,bar,none}" in out


def test_engine_command_errors_come_back_as_an_exit_status(capsys, tmp_path):
    code = main(["predict", str(tmp_path / "missing.mp4"), "--checkpoint",
                 str(tmp_path / "missing.safetensors")])
    assert code == 2
    assert capsys.readouterr().err.startswith("stmanet-app predict: error:")


def test_only_stmanet_commands_leave_the_window_out():
    assert dispatch.engine_command(["train", "--data", "folder:x"])
    assert dispatch.engine_command(["predict", "clip.mp4"])
    assert not dispatch.engine_command(["clip.mp4"])
    assert not dispatch.engine_command(["--model", "train"])
    assert not dispatch.engine_command([])


def test_freeze_support_comes_before_anything_else(monkeypatch, capsys):
    calls: list[str] = []
    monkeypatch.setattr(multiprocessing, "freeze_support", lambda: calls.append("freeze"))
    monkeypatch.setattr(dispatch, "run_without_window",
                        lambda argv: calls.append(f"dispatch {argv}") or 0)
    assert launch.main(["models"]) == 0
    assert main(["models"]) == 0
    assert calls == ["freeze", "dispatch ['models']"] * 2
