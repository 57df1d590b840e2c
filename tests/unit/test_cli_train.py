"""`stmanet train | evaluate | predict | import-hara` end to end on generated videos."""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from colour_clips import write_clip
from safetensors.torch import load_file

from stmanet.cli import main
from stmanet.engine.checkpoint import load_checkpoint, read_metadata, save_hara_format
from stmanet.engine.events import EpochEnded, RunCancelled, RunFinished, event_from_json
from stmanet.engine.trainer import DIGEST_DIR_ENV, parameter_digest
from stmanet.models import ResNet3D

COLOURS = {"red": (40, 40, 220), "green": (40, 200, 40), "blue": (220, 60, 40)}  # BGR
TINY = ["--model", "stmanet_r10", "--set", "width=0.125", "--frames", "4", "--size", "32",
        "--batch-size", "6", "--workers", "0", "--device", "cpu", "--lr", "0.01"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")



def make_folder(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        for i in range(per_class):
            write_clip(root / name / f"{name}_{seed}_{i}.mp4", colour, rng)
    return root


@pytest.fixture(scope="module")
def drills(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    return make_folder(root / "train", 8, seed=1), make_folder(root / "test", 3, seed=2)


@pytest.fixture(scope="module")
def trained(drills, tmp_path_factory) -> tuple[Path, list[dict]]:
    """A model trained by `stmanet train --progress json`; its run folder and events."""
    run = tmp_path_factory.mktemp("runs") / "colours"
    train, test = drills
    out = tmp_path_factory.mktemp("out") / "stdout.txt"
    with open(out, "w") as stdout:
        old, sys.stdout = sys.stdout, stdout
        try:
            code = main(["train", "--data", f"folder:{train}", "--val-data", f"folder:{test}",
                         *TINY, "--epochs", "5", "--output", str(run), "--progress", "json"])
        finally:
            sys.stdout = old
    assert code == 0
    return run, [json.loads(line) for line in out.read_text().splitlines()]


def test_cli_training_learns_and_reports_json_lines(trained):
    run, events = trained
    types = [e["type"] for e in events]
    assert types[0] == "RunStarted" and types[-1] == "RunFinished"
    assert events[0]["classes"] == sorted(COLOURS) and events[0]["train_clips"] == 24
    epochs = [e for e in events if e["type"] == "EpochEnded"]
    assert len(epochs) == 5
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert max(e["val_acc"] for e in epochs) >= 0.66  # chance: 1/3
    finished = event_from_json(json.dumps(events[-1]))
    assert isinstance(finished, RunFinished) and Path(finished.model_path).exists()
    config = json.loads((run / "config.json").read_text())
    assert config["model_overrides"] == {"width": 0.125} and config["epochs"] == 5


def test_evaluate_writes_report_confusion_matrix_and_per_video_rows(trained, drills, tmp_path,
                                                                    capsys):
    run, _ = trained
    out = tmp_path / "eval"
    assert main(["evaluate", str(run / "best.safetensors"), "--data", f"folder:{drills[1]}",
                 "--output-dir", str(out), "--workers", "0", "--device", "cpu",
                 "--save-model", str(tmp_path / "evaluated.safetensors")]) == 0
    report = json.loads((out / "report.json").read_text())
    embedded = read_metadata(tmp_path / "evaluated.safetensors")  # the report travels along
    assert embedded.report["top1"] == report["top1"]
    assert embedded.report["per_class"] == report["per_class"]
    assert embedded.class_names == load_checkpoint(run / "best.safetensors").metadata.class_names
    assert report["count"] == 9 and set(report["per_class"]) == set(COLOURS)
    assert 0.0 <= report["top1"] <= report["top5"] == 1.0  # 3 classes: top-5 is everything
    rows = list(csv.reader((out / "confusion.csv").open()))
    assert rows[0][1:] == sorted(COLOURS) and sum(int(v) for r in rows[1:] for v in r[1:]) == 9
    assert (out / "confusion.png").stat().st_size > 1000
    assert len((out / "per_video.csv").read_text().splitlines()) == 10
    assert "top-1" in capsys.readouterr().out


def test_predict_writes_csv_and_json_by_suffix(trained, drills, tmp_path):
    run, _ = trained
    video = next((drills[1] / "red").glob("*.mp4"))
    model = str(run / "best.safetensors")
    assert main(["predict", str(video), "--checkpoint", model, "-o", str(tmp_path / "p.csv"),
                 "--device", "cpu", "--progress", "none"]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    # 24 frames in 8-frame windows: 3 windows; 3 classes: 3 labels per window
    assert [(r["start_frame"], r["end_frame"]) for r in rows] == [("0", "8"), ("8", "16"),
                                                                   ("16", "24")]
    assert list(rows[0]) == ["video", "start_frame", "end_frame", "start_s", "end_s", "known",
                             "novelty", "label_1", "score_1", "label_2", "score_2", "label_3",
                             "score_3"]
    assert rows[1]["start_s"] == "0.320"
    assert main(["predict", str(video), str(video), "--checkpoint", model, "--hop", "4",
                 "-o", str(tmp_path / "p.json"), "--device", "cpu"]) == 0
    doc = json.loads((tmp_path / "p.json").read_text())["predictions"]
    # hop 4: windows start at 0, 4, ..., 16; the last ends at frame 24, none past the end
    assert len(doc) == 2 and len(doc[0]["windows"]) == 5 and doc[0]["hop"] == 4
    assert doc[0]["windows"][-1]["end_frame"] == 24


def test_trained_models_carry_open_set_statistics(trained):
    run, events = trained
    report = events[-1]["report"]["openset"]
    assert report["score"] == "mahalanobis+relative+softmax" and report["known_rate"] == 0.95
    assert report["calibration"]["subset"] == "validation"
    assert report["calibration"]["windows"] == 9 * 3  # 24-frame clips, 8-frame windows
    # 3 validation clips a class: the report (and the log) say the threshold is rough
    assert report["calibration"]["fewest_clips"] == 3
    assert "set on 9 validation clips, 3 of the class with fewest" in report["note"]
    assert any(e["type"] == "TaskProgress" and e["task"] == "open-set statistics"
               for e in events)
    for name in ("best", "final"):
        stats = load_checkpoint(run / f"{name}.safetensors").openset
        assert stats is not None and stats.fit["windows"] == 24 * 3
        assert stats.calibration["data"] == report["calibration"]["data"]


def test_predict_says_which_windows_are_no_known_action(trained, drills, tmp_path, capsys):
    run, _ = trained
    video = next((drills[1] / "green").glob("*.mp4"))
    model = str(run / "best.safetensors")
    threshold = load_checkpoint(run / "best.safetensors").openset.threshold
    assert main(["predict", str(video), "--checkpoint", model, "-o", str(tmp_path / "p.csv"),
                 "--device", "cpu"]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert all(r["known"] == str(int(float(r["novelty"]) <= threshold)) for r in rows)
    assert main(["predict", str(video), "--checkpoint", model, "-o", str(tmp_path / "q.csv"),
                 "--device", "cpu", "--novelty-threshold=-1e9"]) == 0  # under any score
    assert {r["known"] for r in csv.DictReader((tmp_path / "q.csv").open())} == {"0"}
    assert "3 of them not a known action (novelty over -1e+09)" in capsys.readouterr().out
    # the per-frame segments say so too: one stretch "other", no action's name or score
    assert main(["predict", str(video), "--checkpoint", model, "-o", str(tmp_path / "s.csv"),
                 "--device", "cpu", "--novelty-threshold=-1e9", "--segments"]) == 0
    segments = list(csv.DictReader((tmp_path / "s.segments.csv").open()))
    assert [(r["label"], r["known"], r["mean_score"]) for r in segments] == [("other", "0", "")]
    assert main(["predict", str(video), "--checkpoint", model, "-o", str(tmp_path / "p.json"),
                 "--device", "cpu", "--sensitivity", "high"]) == 0
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["model"]["can_tell_unknowns"] and doc["model"]["attention"] == "trained"
    assert doc["model"]["open_set"]["model_threshold"] == threshold
    assert doc["model"]["open_set"]["mirror"] is True  # train fits them with mirror images
    assert doc["model"]["open_set"]["threshold"] <= threshold  # high: readier to say unknown
    assert {"known", "novelty"} <= set(doc["predictions"][0]["windows"][0])
    assert main(["predict", str(video), "--checkpoint", model, "--device", "cpu"]) == 0
    assert f"windows not a known action: novelty over {threshold:.3g})" in capsys.readouterr().out


def test_evaluate_scores_footage_of_unknown_actions(trained, drills, tmp_path, capsys):
    run, _ = trained
    unknown = tmp_path / "unknown"
    rng = np.random.default_rng(7)
    for i in range(3):
        write_clip(unknown / "yellow" / f"{i}.mp4", (40, 220, 230), rng)
    out = tmp_path / "eval"
    assert main(["evaluate", str(run / "best.safetensors"), "--data", f"folder:{drills[1]}",
                 "--open-set", f"folder:{unknown}", "--output-dir", str(out), "--workers", "0",
                 "--device", "cpu"]) == 0
    report = json.loads((out / "openset.json").read_text())
    assert (report["known_windows"], report["unknown_windows"]) == (27, 9)
    assert 0.0 <= report["auroc"] <= 1.0 and set(report["unknown_per_class"]) == {"yellow"}
    assert report["top1_windows_open"] <= report["top1_windows"]
    assert report["mirror"] is True  # the trained model's statistics: with mirror images
    assert report["trail"] == 0.0  # and each window alone
    # the known windows kept during the evaluation are those the statistics score: the same
    # figures as from windows collected apart with their mirror images
    from stmanet.data.sources import load_source
    from stmanet.engine.openset_eval import open_set_report
    from stmanet.engine.openset_windows import collect_windows

    loaded = load_checkpoint(run / "best.safetensors")
    parts = (loaded.model, loaded.metadata.input, loaded.metadata.class_names)
    direct = open_set_report(
        loaded.openset, loaded.model,
        collect_windows(*parts, load_source("folder", drills[1]), mirror=True),
        collect_windows(*parts, load_source("folder", unknown), mirror=True),
        list(loaded.metadata.class_names))
    assert (report["auroc"], report["known_kept"], report["unknown_caught"]) == pytest.approx(
        (direct.auroc, direct.known_kept, direct.unknown_caught))
    said = capsys.readouterr().out
    assert "unknown windows caught" in said
    assert "(each window averaged with its mirror image)" in said
    assert main(["evaluate", str(run / "best.safetensors"), "--data", f"folder:{drills[1]}",
                 "--open-set", f"folder:{drills[1]}", "--output-dir", str(out), "--workers",
                 "0", "--device", "cpu"]) == 2
    assert "the open-set data holds class(es) the model knows" in capsys.readouterr().err
    # at another sensitivity: the report's threshold is the one that keeps 99% known
    assert main(["evaluate", str(run / "best.safetensors"), "--data", f"folder:{drills[1]}",
                 "--open-set", f"folder:{unknown}", "--output-dir", str(out), "--workers", "0",
                 "--device", "cpu", "--sensitivity", "low"]) == 0
    low = json.loads((out / "openset.json").read_text())
    assert low["threshold"] == pytest.approx(loaded.openset.threshold_for_sensitivity("low"))
    assert low["known_kept"] >= report["known_kept"]
    assert main(["evaluate", str(run / "best.safetensors"), "--data", f"folder:{drills[1]}",
                 "--sensitivity", "high"]) == 2
    assert "give --open-set" in capsys.readouterr().err


def test_a_model_without_statistics_gets_them_from_evaluate(trained, drills, tmp_path,
                                                            capsys):
    from stmanet.engine.checkpoint import save_checkpoint

    run, _ = trained
    best = load_checkpoint(run / "best.safetensors")
    old = save_checkpoint(tmp_path / "old.safetensors", best.model, best.metadata)
    video = str(next((drills[1] / "red").glob("*.mp4")))
    assert main(["predict", video, "--checkpoint", str(old), "-o", str(tmp_path / "p.csv"),
                 "--device", "cpu"]) == 0
    assert "cannot tell footage of its actions from anything else" in capsys.readouterr().err
    assert {r["known"] for r in csv.DictReader((tmp_path / "p.csv").open())} == {""}
    assert main(["predict", video, "--checkpoint", str(old), "--novelty-threshold", "2"]) == 2
    err = capsys.readouterr().err
    assert "old.safetensors: the model carries no open-set statistics" in err
    assert len(err.strip().splitlines()) == 1  # one line, naming the file
    (tmp_path / "t.json").write_text("{}")  # refused before the timeline is read
    for command in (["count", video], ["evaluate-timeline", video, str(tmp_path / "t.json")]):
        assert main([*command, "--checkpoint", str(old), "--sensitivity", "high"]) == 2
        assert "the model carries no open-set statistics" in capsys.readouterr().err
    out = tmp_path / "eval"
    assert main(["evaluate", str(old), "--data", f"folder:{drills[1]}", "--open-set",
                 f"folder:{drills[0]}", "--output-dir", str(out), "--workers", "0"]) == 2
    assert "fit them with --openset-data" in capsys.readouterr().err
    refit = tmp_path / "refit.safetensors"
    assert main(["evaluate", str(old), "--data", f"folder:{drills[1]}", "--openset-data",
                 f"folder:{drills[0]}", "--output-dir", str(out), "--workers", "0",
                 "--device", "cpu", "--save-model", str(refit)]) == 0
    assert "open-set statistics (mahalanobis): fitted on 72 windows" in capsys.readouterr().out
    stats = load_checkpoint(refit).openset
    assert stats.calibration["subset"].startswith("training, out of fold")
    assert stats.mirror  # by default every window averaged with its mirror image
    alone = tmp_path / "alone.safetensors"
    assert main(["evaluate", str(old), "--data", f"folder:{drills[1]}", "--openset-data",
                 f"folder:{drills[0]}", "--no-openset-mirror", "--output-dir", str(out),
                 "--workers", "0", "--device", "cpu", "--save-model", str(alone)]) == 0
    assert not load_checkpoint(alone).openset.mirror
    capsys.readouterr()
    assert main(["evaluate", str(old), "--data", f"folder:{drills[1]}", "--no-openset-mirror",
                 "--output-dir", str(out), "--workers", "0"]) == 2
    assert "--no-openset-mirror goes with --openset-data" in capsys.readouterr().err
    # same data, same class means: compared as the distances between them (the whitened
    # space's axes are arbitrary where the shrunk covariance has equal eigenvalues)
    torch.testing.assert_close(stats.means @ stats.means.T,
                               best.openset.means @ best.openset.means.T, rtol=1e-4, atol=1e-3)
    # `stmanet openset`: the statistics alone, into the file itself; nothing else changes
    before = load_file(str(old))
    assert main(["openset", str(old), "--data", f"folder:{drills[0]}", "--val-data",
                 f"folder:{drills[1]}", "--workers", "0", "--device", "cpu",
                 "--progress", "none"]) == 0
    said = capsys.readouterr()
    assert "threshold" in said.out
    assert "it now predicts every window averaged with its mirror image" in said.out
    # three validation clips a class: the threshold is rough, and the command says so
    assert "warning: the novelty threshold was set on 9 validation clips, 3 of" in said.err
    after = load_file(str(old))
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert read_metadata(old) == best.metadata
    assert load_checkpoint(old).openset.threshold == pytest.approx(best.openset.threshold,
                                                                   rel=1e-4)  # rounding
    # --score picks another score (here the one before the relative distance), or refuses one
    # that needs validation clips without them
    earlier = tmp_path / "earlier.safetensors"
    assert main(["openset", str(old), "--data", f"folder:{drills[0]}", "--val-data",
                 f"folder:{drills[1]}", "--score", "mahalanobis+softmax", "-o", str(earlier),
                 "--workers", "0", "--device", "cpu", "--progress", "none"]) == 0
    assert load_checkpoint(earlier).openset.score == "mahalanobis+softmax"
    # --no-mirror: every window judged alone, as in files fitted before
    capsys.readouterr()
    single = tmp_path / "single.safetensors"
    assert main(["openset", str(old), "--data", f"folder:{drills[0]}", "--val-data",
                 f"folder:{drills[1]}", "--no-mirror", "-o", str(single), "--workers", "0",
                 "--device", "cpu", "--progress", "none"]) == 0
    assert "mirror" not in capsys.readouterr().out
    assert load_checkpoint(old).openset.mirror and not load_checkpoint(single).openset.mirror
    capsys.readouterr()
    assert main(["openset", str(old), "--data", f"folder:{drills[0]}", "--score",
                 "mahalanobis+softmax", "-o", str(earlier), "--workers", "0",
                 "--device", "cpu", "--progress", "none"]) == 2
    assert "needs validation data" in capsys.readouterr().err


def test_the_openset_commands_score_choices_are_the_programs():
    from stmanet.cli.training import OPENSET_SCORES
    from stmanet.engine.openset import SCORES

    assert sorted(OPENSET_SCORES) == sorted(("auto", *SCORES))


@pytest.mark.parametrize("command", [["predict", "v.mp4"],
                                     ["evaluate", "m.safetensors", "--data", "folder:d"]])
@pytest.mark.parametrize("value", ["nan", "inf", "abc", ""])
def test_a_novelty_threshold_must_be_a_finite_number(command, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*command, "--novelty-threshold", value])
    assert stopped.value.code == 2
    assert "argument --novelty-threshold: expected a" in capsys.readouterr().err


def test_predict_without_a_model_says_what_to_do(monkeypatch, tmp_path, capsys):
    import stmanet.engine.inference as inference

    monkeypatch.setattr(inference, "bundled_demo_model", lambda: None)
    assert main(["predict", str(tmp_path / "a.mp4")]) == 2
    assert "no --checkpoint given and no demo model" in capsys.readouterr().err


def test_import_hara_writes_a_model_file(tmp_path, capsys):
    backbone = ResNet3D(10, width=0.125, num_classes=400)
    save_hara_format(tmp_path / "r3d10_K.pth", backbone)
    (tmp_path / "classes.txt").write_text("1 squats\n2 lunges\n")
    out = tmp_path / "imported.safetensors"
    assert main(["import-hara", str(tmp_path / "r3d10_K.pth"), "--model", "stmanet_r10",
                 "--set", "width=0.125", "--classes", str(tmp_path / "classes.txt"),
                 "-o", str(out), "--frames", "16"]) == 0
    loaded = load_checkpoint(out)
    assert loaded.metadata.class_names == ["squats", "lunges"]
    assert loaded.metadata.input.frames == 16
    assert torch.equal(loaded.model.backbone.conv1.weight, backbone.conv1.weight)
    assert main(["import-hara", str(tmp_path / "r3d10_K.pth"), "--model", "stmanet_r50",
                 "--classes", "a,b", "-o", str(out)]) == 2
    assert "choose a matching model" in capsys.readouterr().err


def test_train_fine_tunes_from_hara_weights_with_a_frozen_backbone(tmp_path, drills):
    save_hara_format(tmp_path / "k.pth", ResNet3D(10, width=0.125, num_classes=400))
    run = tmp_path / "ft"
    assert main(["train", "--data", f"folder:{drills[1]}", *TINY, "--epochs", "1",
                 "--hara", str(tmp_path / "k.pth"), "--freeze", "head", "--output", str(run),
                 "--progress", "none"]) == 0
    model = load_checkpoint(run / "final.safetensors")
    assert model.metadata.provenance["origin"]["init"] == "hara"
    assert model.metadata.provenance["config"]["freeze"] == "head"


def test_train_can_fit_statistics_that_judge_each_window_alone(tmp_path, drills):
    """--no-openset-mirror: one pass of the network a window where the model predicts."""
    run = tmp_path / "alone"
    assert main(["train", "--data", f"folder:{drills[1]}", *TINY, "--epochs", "1",
                 "--no-openset-mirror", "--output", str(run), "--progress", "none"]) == 0
    stats = load_checkpoint(run / "final.safetensors").openset
    assert stats is not None and stats.mirror is False
    assert json.loads((run / "config.json").read_text())["openset_mirror"] is False
    # what a user of the model sees: its predictions tell unknowns, each window judged alone
    video = next((drills[1] / "red").glob("*.mp4"))
    assert main(["predict", str(video), "--checkpoint", str(run / "final.safetensors"),
                 "-o", str(tmp_path / "p.json"), "--device", "cpu"]) == 0
    model = json.loads((tmp_path / "p.json").read_text())["model"]
    assert model["can_tell_unknowns"] and model["open_set"]["mirror"] is False


def test_fine_tuning_trains_and_saves_with_the_init_models_input_spec(tmp_path, drills,
                                                                      monkeypatch):
    """--init: the clips are normalised with the init model's mean/std (not Kinetics'), its
    frames and stride are taken unless given, and the saved model says exactly that."""
    from stmanet.config import InputSpec
    from stmanet.data import clips
    from stmanet.engine.checkpoint import CheckpointMetadata, save_checkpoint
    from stmanet.models import create_model

    init_spec = InputSpec(frames=4, frame_stride=3, size=48, mean=(0.9, 0.1, 0.5),
                          std=(0.05, 0.5, 2.0))
    source = create_model("stmanet_r10", 3, width=0.125)
    init = save_checkpoint(tmp_path / "init.safetensors", source,
                           CheckpointMetadata(source.config, list(COLOURS), init_spec))
    used: list[InputSpec] = []  # the specs the data pipeline was built with

    class RecordingClipDataset(clips.ClipDataset):
        def __init__(self, index, spec, *args, **kwargs) -> None:
            used.append(spec)
            super().__init__(index, spec, *args, **kwargs)

    monkeypatch.setattr(clips, "ClipDataset", RecordingClipDataset)
    run = tmp_path / "ft"
    assert main(["train", "--data", f"folder:{drills[1]}", "--init", str(init), "--size", "32",
                 "--batch-size", "6", "--workers", "0", "--device", "cpu", "--epochs", "1",
                 "--output", str(run), "--progress", "none"]) == 0
    expected = InputSpec(frames=4, frame_stride=3, size=32,  # --size given: it wins
                         mean=init_spec.mean, std=init_spec.std)
    assert used and all(spec == expected for spec in used)
    saved = json.loads((run / "config.json").read_text())
    assert (saved["frames"], saved["frame_stride"], saved["size"]) == (4, 3, 32)
    assert tuple(saved["mean"]) == init_spec.mean and tuple(saved["std"]) == init_spec.std
    assert read_metadata(run / "final.safetensors").input == expected


def test_resume_refuses_changed_settings(trained, capsys):
    run, _ = trained
    assert main(["train", "--resume", str(run), "--lr", "0.1"]) == 2
    assert "only --epochs, --workers and --device may change" in capsys.readouterr().err


def _cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stmanet", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                            **kwargs)


def test_sigterm_stops_with_a_checkpoint_and_resume_matches_an_uninterrupted_run(drills,
                                                                                 tmp_path):
    train = ["train", "--data", f"folder:{drills[0]}", *TINY, "--epochs", "3", "--lr-step", "2"]
    assert main([*train, "--output", str(tmp_path / "whole"), "--progress", "none"]) == 0

    run = tmp_path / "stopped"
    proc = _cli(*train, "--output", str(run), "--progress", "json")
    events = []
    for line in proc.stdout:
        events.append(event_from_json(line))
        if isinstance(events[-1], EpochEnded):
            proc.send_signal(signal.SIGTERM)  # what the app's Cancel button does
            break
    events += [event_from_json(line) for line in proc.stdout]
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, stderr
    assert "resume with `stmanet train --resume" in stderr
    cancelled = events[-1]
    assert isinstance(cancelled, RunCancelled) and Path(cancelled.checkpoint).exists()
    torch.load(cancelled.checkpoint, weights_only=True)
    assert not (run / "final.safetensors").exists()

    resumed = _cli("train", "--resume", str(run), "--progress", "none")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    a = load_file(str(tmp_path / "whole" / "final.safetensors"))
    b = load_file(str(run / "final.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_two_process_torchrun_keeps_the_replicas_identical(drills, tmp_path):
    digests = tmp_path / "digests"
    run = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
         "-m", "stmanet", "train", "--data", f"folder:{drills[0]}", "--val-data",
         f"folder:{drills[1]}", *TINY, "--epochs", "2", "--output", str(run),
         "--progress", "json"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, DIGEST_DIR_ENV: str(digests), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [event_from_json(line) for line in proc.stdout.splitlines()]
    started = events[0]
    assert started.world_size == 2 and started.steps_per_epoch == 2  # 24 clips / 2 / 6
    assert sum(isinstance(e, EpochEnded) for e in events) == 2  # rank 0 reports alone
    rank0 = (digests / "rank0.sha256").read_text()
    rank1 = (digests / "rank1.sha256").read_text()
    assert rank0 == rank1
    saved = load_checkpoint(run / "final.safetensors")
    assert parameter_digest(saved.model) + "\n" == rank0


def test_a_failing_run_reports_why_on_the_json_channel(tmp_path, capsys):
    assert main(["train", "--data", f"folder:{tmp_path / 'missing'}", "--progress", "json",
                 "--output", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    failed = event_from_json(captured.out.strip().splitlines()[-1])
    assert type(failed).__name__ == "RunFailed" and "not found" in failed.message
    assert "error:" in captured.err
