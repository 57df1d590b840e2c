"""Fine-tuning from the window: the dialog starts `stmanet train` in a separate process, shows
its progress, and the model it makes is saved in the project and recognises held-out clips;
Cancel stops cleanly with a checkpoint that training continues from; a crashing trainer is
reported with its last lines; too little data is explained before anything starts.

Two data sets, both generated. Three "scenes" (a moving ball on a red, green or blue wall)
that a tiny network with random weights tells apart in a few epochs (with this recipe,
trainer seeds 1-6 each recognised every part of three held-out videos; measured once, by
hand; the test uses seed 0). And drills,
labelled under a coach's own names, on which the demo model is fine-tuned (its last layer
only), checked on a held-out session of another athlete; that test needs the demo model.
A tiny network does not learn drills from scratch in test time (measured: 3 drills, 48
segments, some 270 steps of ST-MANet-10 at width 1/4 on 8 x 32 x 32 clips ended at 56% on its
training clips, 42% on kept-aside ones).
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_checkpoint
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.controllers.finetune import FineTuneController
from app.main_window import MainWindow
from app.services.training import TrainingProcess, trainer_command
from app.services.training_plan import BaseModel, FineTuneSettings, check_project, train_arguments
from app.services.training_runs import RunResults, read_run_state, store_model
from stmanet.bundled import bundled_demo_model
from stmanet.engine.events import EpochEnded, RunFinished, RunStarted, StepProgress
from stmanet.engine.trainer import load_resume_state

log = logging.getLogger(__name__)

SCENES = {"red_wall": (40, 40, 220), "green_wall": (60, 200, 60), "blue_wall": (220, 90, 40)}
CLIP_FRAMES = 48
TRAIN_MS = 180_000
WAIT_MS = 30_000


def scene_frames(bgr: tuple[int, int, int], seed: int,
                 frames: int = CLIP_FRAMES) -> Iterator[np.ndarray]:
    """64 x 48 BGR frames: a wall of the scene's colour (random brightness) and a white ball
    moving across it."""
    rng = np.random.default_rng(seed)
    width, height = 64, 48
    wall = (np.array(bgr, np.float32) / 255 * rng.uniform(150, 190) + rng.uniform(25, 40))
    x, y = rng.uniform(10, width - 10), rng.uniform(10, height - 10)
    vx, vy = rng.uniform(-1.5, 1.5, 2)
    for _ in range(frames):
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = wall.clip(0, 255).astype(np.uint8)
        x, y = (x + vx) % width, (y + vy) % height
        cv2.circle(frame, (int(x), int(y)), 8, (235, 235, 235), -1)
        yield frame


def write_frames(path: Path, frames: Iterable[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_project(path: Path, segments: list[dict], classes: list[str] | None = None) -> Path:
    data = {"version": 1, "classes": classes or list(SCENES), "segments": segments}
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> dict[str, list[Path]]:
    """Six clips per scene to label."""
    folder = tmp_path_factory.mktemp("scenes")
    return {name: [write_frames(folder / f"{name}_{i}.mp4", scene_frames(bgr, 100 * k + i))
                   for i in range(6)]
            for k, (name, bgr) in enumerate(SCENES.items())}


@pytest.fixture(scope="session")
def held_out(tmp_path_factory) -> Path:
    """A video no segment comes from: the three scenes in turn, CLIP_FRAMES frames each,
    each with a wall brightness and a ball of its own."""
    path = tmp_path_factory.mktemp("held-out") / "held-out.mp4"
    return write_frames(path, itertools.chain.from_iterable(
        scene_frames(bgr, 999 + k) for k, bgr in enumerate(SCENES.values())))


def labelled(clips: dict[str, list[Path]], per_clip: int = 2) -> list[dict]:
    """Segments covering each labelling clip (`per_clip` per clip)."""
    step = CLIP_FRAMES // per_clip
    return [{"video": str(path), "start_frame": s, "end_frame": s + step, "label": name}
            for name in SCENES for path in clips[name]
            for s in range(0, CLIP_FRAMES, step)]


@pytest.fixture
def project(tmp_path, scenes) -> Path:
    """A label project in its own folder: 12 segments of each of the three scenes."""
    folder = tmp_path / "gym"
    folder.mkdir()
    return write_project(folder / "labels.json", labelled(scenes))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """The model the window recognises with before fine-tuning: ST-MANet-10 at width 1/4 on
    8 frames of 32 x 32, random weights, six other classes."""
    return make_checkpoint(tmp_path_factory.mktemp("base") / "tiny-r10.safetensors",
                           width=0.25)


@pytest.fixture
def training(qtbot, window: MainWindow, tiny_base: Path) -> FineTuneController:
    with qtbot.waitSignal(window.recognition.service.modelChanged, timeout=WAIT_MS):
        window.recognition.load_model(tiny_base)
    return window.finetune


def open_dialog(training: FineTuneController, project: Path, *, epochs: int = 8,
                extra: str = ""):
    training.set_project(project)
    assert training.fine_tune_action.isEnabled()
    training.fine_tune_action.trigger()
    dialog = training.dialog
    assert dialog is not None and dialog.isVisible() and dialog.on_settings_page()
    dialog.freeze_combo.setCurrentIndex(dialog.freeze_combo.findData("none"))
    dialog.epochs_spin.setValue(epochs)
    dialog.lr_spin.setValue(0.005)
    dialog.batch_spin.setValue(6)
    dialog.val_spin.setValue(25)
    dialog.extra_edit.setText(extra)
    return dialog


def labels_by_part(qtbot, window: MainWindow, clip: Path,
                   parts: list[tuple[int, int]]) -> list[str]:
    """Analyse `clip` in the window; the commonest label of the windows centred in each
    part (start_frame, end_frame)."""
    recognition = window.recognition
    with qtbot.waitSignal(window.player.opened, timeout=WAIT_MS):
        window.open_path(clip)
    window.player.pause()
    with qtbot.waitSignal(recognition.service.finished, timeout=WAIT_MS):
        assert recognition.analyse()
    analysis = recognition.analysis
    assert analysis is not None and analysis.windows
    labels = []
    for start, end in parts:
        counts = Counter(w.labels[0] for w in analysis.windows
                         if start <= (w.start_frame + w.end_frame) // 2 < end)
        labels.append(counts.most_common(1)[0][0] if counts else "")
    return labels


# ------------------------------------------------------------------------------ the command


def test_the_trainer_is_this_python_from_source_and_the_bundle_itself_when_frozen(
        monkeypatch):
    assert trainer_command(["--epochs", "2"]) == [sys.executable, "-m", "stmanet", "train",
                                                  "--epochs", "2"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert trainer_command(["--epochs", "2"]) == [sys.executable, "train", "--epochs", "2"]


def test_the_dialogs_choices_become_train_flags(tmp_path):
    def flags(base: BaseModel, freeze: str = "early", extra: tuple[str, ...] = (),
              mirror: bool = True):
        settings = FineTuneSettings(project=tmp_path / "p.json", base=base,
                                    run_dir=tmp_path / "run", freeze=freeze, extra=extra,
                                    input=(8, 2, 32), openset_mirror=mirror)
        args = train_arguments(settings)
        return args, dict(zip(args[::2], args[1::2], strict=False))

    args, given = flags(BaseModel("model", tmp_path / "m.safetensors"), "backbone")
    assert given["--data"] == f"project:{tmp_path / 'p.json'}"
    assert given["--init"] == str(tmp_path / "m.safetensors") and given["--freeze"] == "backbone"
    assert (given["--frames"], given["--frame-stride"], given["--size"]) == ("8", "2", "32")
    assert args[-4:] == ["--output", str(tmp_path / "run"), "--progress", "json"]
    _, given = flags(BaseModel("kinetics", tmp_path / "r3d18_K_200ep.pth", depth=18))
    assert given["--hara"].endswith("r3d18_K_200ep.pth") and given["--model"] == "stmanet_r18"
    _, given = flags(BaseModel("scratch"), "backbone")  # nothing pretrained: train it all
    assert given["--freeze"] == "none" and "--init" not in given
    # the user's own flags come last but cannot move the run or its progress channel
    args, _ = flags(BaseModel("scratch"), extra=("--min-crop", "0.8", "--progress", "bar"))
    assert args.index("--min-crop") > args.index("--lr") and args[-2:] == ["--progress", "json"]
    # unknown actions: each window with its mirror image unless the box is unticked
    assert "--no-openset-mirror" not in args
    args, _ = flags(BaseModel("scratch"), mirror=False)
    assert "--no-openset-mirror" in args


def test_a_kept_model_never_replaces_an_earlier_one(tmp_path):
    source = tmp_path / "best.safetensors"
    source.write_bytes(b"weights")
    results = RunResults(tmp_path, source, ["a", "b"], 0.75, {"a": 1.0, "b": 0.5},
                         [[2, 0], [1, 1]], 4, 3, [{"epoch": 1}])
    first = store_model(results, tmp_path / "models", "20250101-120000_gym")
    second = store_model(results, tmp_path / "models", "20250101-120000_gym")
    assert first.model != second.model and first.model.exists() and second.model.exists()
    report = json.loads(first.report.read_text())
    assert report["validation"]["per_class"] == {"a": 1.0, "b": 0.5}
    assert report["validation"]["confusion"] == [[2, 0], [1, 1]]


def test_progress_lines_cut_across_reads_still_become_events(qtbot, tmp_path):
    process = TrainingProcess()
    line = RunStarted(3, 5, ["a", "b"], "cpu").to_json()
    code = (f"import sys, time; sys.stdout.write({line[:25]!r}); sys.stdout.flush(); "
            f"time.sleep(0.3); sys.stdout.write({line[25:]!r} + '\\nnot an event\\n')")
    events = []
    process.eventReceived.connect(events.append)
    with qtbot.waitSignal(process.failed, timeout=WAIT_MS) as ended:
        process.start([sys.executable, "-c", code], tmp_path)
    assert events == [RunStarted(3, 5, ["a", "b"], "cpu")]
    assert ended.args[0].message == "The training process ended without writing a model."
    assert "not an event" in ended.args[0].details


# --------------------------------------------------------------------------- too little data


def test_too_little_data_is_explained_and_training_cannot_start(qtbot, window, training,
                                                                 scenes, tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    red = [s for s in labelled(scenes) if s["label"] == "red_wall"]
    green = [s for s in labelled(scenes) if s["label"] == "green_wall"]

    one_class = write_project(folder / "one.json", red, ["red_wall"])
    dialog = open_dialog(training, one_class)
    assert "at least two" in dialog.problems_text()
    assert not dialog.train_button.isEnabled()

    two_green = write_project(folder / "few.json", red + green[:2], ["red_wall", "green_wall"])
    training.set_project(two_green)
    assert "“green_wall” has only 2 segments" in dialog.problems_text()
    assert not dialog.train_button.isEnabled()

    empty_class = write_project(folder / "empty.json", red + green)  # blue_wall: none
    training.set_project(empty_class)
    assert "“blue_wall” has no labelled segments" in dialog.problems_text()

    gone = folder / "gone.mp4"
    gone.write_bytes(b"")
    moved = [{**s, "video": str(gone)} if s["label"] == "green_wall" and
             s["video"] != str(scenes["green_wall"][0]) else s for s in red + green]
    missing = write_project(folder / "moved.json", moved, ["red_wall", "green_wall"])
    gone.unlink()
    training.set_project(missing)
    assert "1 video of the project cannot be found (gone.mp4)" in dialog.notes_text()
    assert "“green_wall” has only 2 segments that can be used" in dialog.problems_text()

    nowhere = write_project(folder / "nowhere.json", [{**s, "video": str(gone)} for s in red],
                            ["red_wall"])
    training.set_project(nowhere)
    assert "None of the project's videos can be found" in dialog.problems_text()
    assert not dialog.train_button.isEnabled()

    enough = write_project(folder / "enough.json", red + green, ["red_wall", "green_wall"])
    training.set_project(enough)
    assert dialog.problems_text() == "" and dialog.train_button.isEnabled()
    assert "will be rough" not in dialog.notes_text()  # 12 per class
    check = check_project(enough)
    assert check.ok and check.counts == {"red_wall": 12, "green_wall": 12}
    assert "come from one video" not in dialog.notes_text()

    first_video = str(scenes["green_wall"][0])
    green_once = [s for s in labelled(scenes, per_clip=4)
                  if s["label"] == "green_wall" and s["video"] == first_video]
    one_video = write_project(folder / "one-video.json", red + green_once,
                              ["red_wall", "green_wall"])
    training.set_project(one_video)
    assert dialog.problems_text() == "" and dialog.train_button.isEnabled()
    assert ("All the segments of “green_wall” come from one video, so none of it can be kept "
            "aside") in dialog.notes_text()


def test_the_train_menu_follows_the_label_project(qtbot, window, tmp_path, dialogs):
    action = window.finetune.fine_tune_action
    assert not action.isEnabled()  # an untitled draft: nothing to train on
    assert window.labelling.new_project(tmp_path / "labels.json")
    assert window.finetune.project == tmp_path / "labels.json" and action.isEnabled()
    action.trigger()  # an empty project: the dialog says why it cannot train
    assert "Nothing is labelled yet" in window.finetune.dialog.problems_text()


# ------------------------------------------------------------------------------ a whole run


def test_a_fine_tune_from_the_dialog_gives_a_model_that_recognises_held_out_clips(
        qtbot, window, training, project, held_out, stall_meter):
    """Pressing Train to a model in use: about 20 s on 2 cores."""
    dialog = open_dialog(training, project, epochs=8)
    assert dialog.current_base().path == window.recognition.model.path  # the model in use
    steps: list[StepProgress] = []
    epochs: list[EpochEnded] = []
    stalls: list[int] = []

    def watch(event) -> None:  # the event loop's longest stall while the trainer works
        if isinstance(event, StepProgress):
            if not steps:
                stall_meter.start()
            steps.append(event)
        elif isinstance(event, EpochEnded):
            epochs.append(event)
        elif isinstance(event, RunFinished):
            stalls.append(stall_meter.stop())

    training.process.eventReceived.connect(watch)
    started = time.perf_counter()
    with qtbot.waitSignal(training.process.finished, timeout=TRAIN_MS) as done:
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(steps), timeout=TRAIN_MS)
        assert "Epoch 1 of 8" in dialog.progress_text()
        assert "left" in dialog.status_label.text()
    trained_s = time.perf_counter() - started
    log.info("fine-tuning: %.1f s from Train to a saved model; longest stall %d ms",
             trained_s, stalls[0])
    assert stalls[0] < 500, f"the window stalled for {stalls[0]} ms during training"
    assert [e.epoch for e in epochs] == list(range(1, 9))
    assert len(dialog.curves.epochs) == 8 and dialog.curves.steps

    # the results: validation accuracy, per class, the confusion matrix, the saved model
    outcome = done.args[0]
    stored = training.stored_model
    assert stored is not None and stored.model.parent == project.parent / "models"
    assert stored.model.name.endswith("_labels.safetensors")
    report = json.loads(stored.report.read_text())
    validation = report["validation"]
    # 25% of 12 segments a scene, in whole videos of 2 segments: 2 videos, 4 segments a scene
    assert validation["class_names"] == list(SCENES) and validation["clips"] == 12
    assert "Validation accuracy" in dialog.result_label.text()
    assert [row[0] for row in dialog.per_class_rows()] == [s.replace("_", " ") for s in SCENES]
    assert [row[1] for row in dialog.per_class_rows()] == ["4", "4", "4"]
    assert dialog.confusion.matrix == validation["confusion"]
    assert sum(map(sum, dialog.confusion.matrix)) == 12
    # which epoch's model was kept, and why; 24 kept-aside windows: no warning
    kept = json.loads((outcome.run_dir / "report.json").read_text())["selection"]
    assert kept["val_windows"] == 24 and not kept["noisy"]
    assert dialog.kept_text() == f"Kept the model of epoch {kept['epoch']} of 8: {kept['reason']}."
    assert not dialog.noisy_label.isVisibleTo(dialog)
    # the model tells footage of none of its actions, by a threshold set on few clips
    assert ("threshold set on 12 kept-aside clips (4 of the action with fewest)"
            in dialog.unknowns_text())
    assert (outcome.run_dir / "checkpoint.pt").exists()  # the run folder stays, resumable
    assert outcome.run_dir.parent == project.parent / "training-runs"

    # "Use this model": the window recognises with it at once
    with qtbot.waitSignal(window.recognition.service.modelChanged, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    model = window.recognition.model
    assert model.path == stored.model and list(model.class_names) == list(SCENES)
    assert not dialog.use_button.isEnabled()
    thirds = [(k * CLIP_FRAMES, (k + 1) * CLIP_FRAMES) for k in range(3)]
    assert labels_by_part(qtbot, window, held_out, thirds) == list(SCENES)
    qtbot.mouseClick(dialog.again_button, Qt.MouseButton.LeftButton)  # a next run starts
    assert dialog.on_settings_page() and dialog.current_base().path == stored.model  # from it


def test_with_few_kept_aside_windows_the_dialog_says_the_kept_epoch_is_a_noisy_choice(
        qtbot, window, training, project):
    """10% kept aside: one video of each scene, 6 segments of 2 windows, 12 windows in all
    (fewer than 20); about 15 s on 2 cores."""
    dialog = open_dialog(training, project, epochs=3)
    dialog.val_spin.setValue(10)
    with qtbot.waitSignal(training.process.finished, timeout=TRAIN_MS) as done:
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    selection = json.loads((done.args[0].run_dir / "report.json").read_text())["selection"]
    assert selection["noisy"] and selection["val_windows"] == 12
    assert selection["last_epoch"] == 3
    text = dialog.kept_text()
    assert text.startswith(f"Kept the model of epoch {selection['epoch']} of 3: "
                           f"{selection['reason']}.")
    assert ("Only 12 windows were kept aside to measure the model, so which epoch is best is "
            "a noisy choice") in text
    assert dialog.noisy_label.isVisibleTo(dialog)
    # the copy kept in the project says the same
    assert json.loads(training.stored_model.report.read_text())["selection"] == selection


DRILL_NAMES = {"jumping_jacks": "star jumps", "squats": "squats", "arm_circles": "arm circles"}


@pytest.fixture(scope="session")
def drill_project(tmp_path_factory) -> Path:
    """Eight generated clips of each of three drills, labelled with a coach's own names."""
    from stmanet.data.synthetic import generate_dataset

    folder = tmp_path_factory.mktemp("drills")
    videos = generate_dataset(folder / "videos", clips_per_class=8, seed=5,
                              drills=list(DRILL_NAMES), frames=64)
    segments = [{"video": str(path), "start_frame": 0, "end_frame": 64,
                 "label": DRILL_NAMES[drill]}
                for drill in DRILL_NAMES for path in sorted((videos / drill).glob("*.mp4"))]
    return write_project(folder / "drills.json", segments, list(DRILL_NAMES.values()))


@pytest.fixture(scope="session")
def drill_session(tmp_path_factory) -> tuple[Path, list[tuple[int, int]]]:
    """A held-out video: another athlete doing the three drills in turn, 3 s each; and the
    frames of each drill (less the first 0.4 s, which blend from the drill before)."""
    from stmanet.data.synthetic import render_sequence, write_video

    frames, segments = render_sequence([(drill, 3.0) for drill in DRILL_NAMES], seed=11)
    path = write_video(tmp_path_factory.mktemp("session") / "session.mp4", frames)
    return path, [(s.start_frame + 10, s.end_frame) for s in segments]


@pytest.mark.skipif(bundled_demo_model() is None,
                    reason="the demo model (resources/models/demo.safetensors) is not installed")
def test_the_demo_model_fine_tuned_on_a_coachs_drills_recognises_a_held_out_session(
        qtbot, window, drill_project, drill_session):
    """The demo model, its last layer trained anew on three drills under the coach's names:
    about 15 s of training on 2 cores."""
    training = window.finetune
    training.set_project(drill_project)
    training.fine_tune_action.trigger()
    dialog = training.dialog
    assert dialog.current_base().path == bundled_demo_model()  # no other model in use
    dialog.freeze_combo.setCurrentIndex(dialog.freeze_combo.findData("backbone"))
    dialog.epochs_spin.setValue(5)
    dialog.lr_spin.setValue(0.005)
    dialog.val_spin.setValue(25)
    started = time.perf_counter()
    with qtbot.waitSignal(training.process.finished, timeout=TRAIN_MS):
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    log.info("fine-tuning the demo model: %.1f s from Train to a saved model",
             time.perf_counter() - started)
    with qtbot.waitSignal(window.recognition.service.modelChanged, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert list(window.recognition.model.class_names) == list(DRILL_NAMES.values())
    video, parts = drill_session
    assert labels_by_part(qtbot, window, video, parts) == list(DRILL_NAMES.values())


# -------------------------------------------------------------------------------- cancel


def test_cancel_stops_cleanly_and_training_continues_from_its_checkpoint(
        qtbot, window, training, project, stall_meter):
    dialog = open_dialog(training, project, epochs=200)
    events = []
    training.process.eventReceived.connect(events.append)
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    run_dir = training.run_dir
    qtbot.waitUntil(lambda: any(isinstance(e, EpochEnded) for e in events), timeout=TRAIN_MS)
    qtbot.waitUntil(lambda: isinstance(events[-1], StepProgress) and events[-1].epoch >= 2,
                    timeout=WAIT_MS)

    stall_meter.start()
    with qtbot.waitSignal(training.process.cancelled, timeout=WAIT_MS) as stopped:
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        assert dialog.cancel_button.text() == "Cancelling…"
    stall_ms = stall_meter.stop()
    assert stall_ms < 500, f"the window stalled for {stall_ms} ms while training stopped"
    outcome = stopped.args[0]
    assert outcome.exit_code == 143 and outcome.checkpoint == run_dir / "checkpoint.pt"
    assert "cancelled" in dialog.message_text() and dialog.continue_button.isVisible()
    state = load_resume_state(run_dir)  # a checkpoint the trainer can read back
    assert state["epoch"] >= 1 and state["class_names"] == list(SCENES)
    assert window.isVisible() and not training.is_training()
    assert training.fine_tune_action.isEnabled()

    # Continue picks the run up where it stopped
    events.clear()
    qtbot.mouseClick(dialog.continue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(isinstance(e, StepProgress) for e in events), timeout=WAIT_MS)
    resumed = next(e for e in events if isinstance(e, RunStarted))
    assert resumed.start_epoch == state["epoch"] and resumed.total_epochs == 200
    with qtbot.waitSignal(training.process.cancelled, timeout=WAIT_MS):
        training.cancel()


# ------------------------------------------------------------------ quitting, recent runs


def fake_run(run_dir: Path, project: Path, *, epochs: int, done: int) -> Path:
    """A run folder as the trainer leaves it after `done` of `epochs` epochs (no weights)."""
    from stmanet.config import TrainConfig
    from stmanet.engine.metrics import MetricsLog

    run_dir.mkdir(parents=True)
    config = TrainConfig(data=f"project:{project}", epochs=epochs, init="/models/base.st",
                         freeze="backbone", frames=8, size=32, output=str(run_dir))
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()), encoding="utf-8")
    log = MetricsLog(run_dir)
    for epoch in range(1, done + 1):
        log.append({"epoch": epoch, "lr": 0.001, "train_loss": 1.0 / epoch,
                    "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.4 + epoch / 20,
                    "best": True, "seconds": 1.0})
    (run_dir / "checkpoint.pt").write_bytes(b"resume state")
    return run_dir


def test_a_run_folders_state_is_read_from_its_files(tmp_path):
    project = tmp_path / "gym" / "labels.json"
    stopped = read_run_state(fake_run(tmp_path / "stopped", project, epochs=8, done=3))
    assert (stopped.status, stopped.epochs_done, stopped.total_epochs) == ("stopped", 3, 8)
    assert stopped.can_continue and stopped.project == project
    assert stopped.best_accuracy == pytest.approx(0.55)
    assert stopped.describe() == "stopped at epoch 3 of 8"

    finished_dir = fake_run(tmp_path / "finished", project, epochs=4, done=4)
    (finished_dir / "best.safetensors").write_bytes(b"best")
    (finished_dir / "final.safetensors").write_bytes(b"final")
    (finished_dir / "report.json").write_text(json.dumps({"top1": 0.875}), encoding="utf-8")
    finished = read_run_state(finished_dir)
    assert finished.status == "finished" and not finished.can_continue
    assert finished.model_path == finished_dir / "best.safetensors"
    assert finished.describe() == "finished, 88% validation accuracy"

    unsaved_dir = fake_run(tmp_path / "unsaved", project, epochs=4, done=0)
    (unsaved_dir / "checkpoint.pt").unlink()  # stopped in its first epoch, by force
    assert read_run_state(unsaved_dir).status == "unsaved"
    for gone in (tmp_path / "deleted", tmp_path / "gym"):  # no folder; not a run folder
        state = read_run_state(gone)
        assert state.status == "missing" and state.describe() == "missing"
        assert not state.can_continue


def test_quitting_during_a_fine_tune_asks_and_the_stopped_run_continues_after_a_restart(
        qtbot, window, training, project, settings_path, tiny_base, monkeypatch, dialogs):
    """About 15 s on 2 cores: part of a run, then the rest of it in a new window."""
    answers: list[bool] = []
    asked: list[str] = []

    def ask(parent, text: str) -> bool:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr("app.controllers.finetune.ask_stop_and_quit", ask)
    dialog = open_dialog(training, project, epochs=6)
    events = []
    training.process.eventReceived.connect(events.append)
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    run_dir = training.run_dir
    qtbot.waitUntil(lambda: isinstance(events[-1] if events else None, StepProgress)
                    and events[-1].epoch >= 2, timeout=TRAIN_MS)
    epoch = events[-1].epoch

    # "Keep working": the window stays and the run goes on
    answers.append(False)
    assert not window.close()
    assert asked == [f"A fine-tune is running (epoch {epoch} of 6). Stop it and quit? The "
                     "run is kept and can be continued later from Train > Recent runs."]
    assert window.isVisible() and training.is_training()
    seen = len(events)
    qtbot.waitUntil(lambda: len(events) > seen, timeout=WAIT_MS)

    # "Stop and quit": the trainer saves its state and the window closes
    answers.append(True)
    with qtbot.waitSignal(training.process.cancelled, timeout=WAIT_MS) as stopped:
        assert window.close()
    assert not window.isVisible() and not training.is_training()
    assert stopped.args[0].exit_code == 143  # stopped on request, not by force
    assert stopped.args[0].checkpoint == run_dir / "checkpoint.pt"
    resume_epoch = load_resume_state(run_dir)["epoch"]
    state = read_run_state(run_dir)
    assert state.status == "stopped" and state.total_epochs == 6
    assert 1 <= state.epochs_done == resume_epoch < 6
    assert not any(d.kind == "stop-and-quit" for d in dialogs)

    # the program again, with the same settings: Train ▸ Recent runs continues the run
    again = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    try:
        later = again.finetune
        assert later.recent_runs() == [state]
        later.update_recent_menu()
        actions = later.recent_menu.actions()
        assert [a.text() for a in actions] == [
            f"{run_dir.name} — stopped at epoch {resume_epoch} of 6, can be continued"]
        resumed = []
        later.process.eventReceived.connect(resumed.append)
        with qtbot.waitSignal(later.process.finished, timeout=TRAIN_MS):
            actions[0].trigger()
            later_dialog = later.dialog
            assert later_dialog.isVisible() and later.is_training()
            assert [e.epoch for e in later_dialog.curves.epochs] == \
                list(range(1, resume_epoch + 1))  # the curves so far, before it goes on
        started = next(e for e in resumed if isinstance(e, RunStarted))
        assert started.start_epoch == resume_epoch and started.total_epochs == 6
        assert [e.epoch for e in resumed if isinstance(e, EpochEnded)] == \
            list(range(resume_epoch + 1, 7))
        assert [e.epoch for e in later_dialog.curves.epochs] == list(range(1, 7))
        stored = later.stored_model
        assert stored is not None and stored.model.parent == project.parent / "models"
        assert "Validation accuracy" in later_dialog.result_label.text()

        finished = read_run_state(run_dir)
        assert finished.status == "finished" and finished.best_accuracy is not None
        later.update_recent_menu()
        action = later.recent_menu.actions()[0]
        assert action.text() == f"{run_dir.name} — {finished.describe()}"

        # a finished run chosen there offers its model
        later_dialog.close()
        action.trigger()
        assert later_dialog.isVisible() and later_dialog.use_button.isVisible()
        with qtbot.waitSignal(again.recognition.service.modelChanged, timeout=WAIT_MS):
            qtbot.mouseClick(later_dialog.use_button, Qt.MouseButton.LeftButton)
        assert again.recognition.model.path == stored.model
    finally:
        again.close()


@pytest.mark.parametrize("button, answer", [(None, False), ("Stop and quit", True)],
                         ids=["default", "stop"])
def test_the_quit_question_defaults_to_keep_working(qtbot, button, answer):
    from app.controllers.finetune import ask_stop_and_quit

    seen = []

    def reply() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, reply)
            return
        seen.append((box.text(), box.defaultButton().text(),
                     sorted(b.text() for b in box.buttons())))
        if button is None:  # Enter: the default button
            qtbot.keyClick(box, Qt.Key.Key_Return)
        else:
            next(b for b in box.buttons() if b.text() == button).click()

    QTimer.singleShot(0, reply)
    assert ask_stop_and_quit(None, "A fine-tune is running.") is answer
    assert seen == [("A fine-tune is running.", "Keep working",
                     ["Keep working", "Stop and quit"])]


def test_a_trainer_that_does_not_stop_is_stopped_by_force_when_quitting(
        qtbot, window, training, project, monkeypatch, dialogs):
    started = RunStarted(3, 5, list(SCENES), "cpu").to_json()
    code = (f"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            f"print({started!r}, flush=True); time.sleep(60)")
    monkeypatch.setattr("app.controllers.finetune.trainer_command",
                        lambda args: [sys.executable, "-c", code])
    dialog = open_dialog(training, project)
    with qtbot.waitSignal(training.process.eventReceived, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    training.process.quit_grace_ms = 500
    begun = time.perf_counter()
    assert window.close()
    assert time.perf_counter() - begun < 10 and not training.is_training()
    assert [d.kind for d in dialogs] == ["stop-and-quit"]
    assert "(epoch 1 of 3)" in dialogs[0].text


# -------------------------------------------------------------------------------- crashes


@pytest.mark.parametrize("code, message, last_line", [
    ("import sys; print('loading…', file=sys.stderr); print('boom', file=sys.stderr); "
     "sys.exit(3)", "stopped with exit code 3", "boom"),
    ("raise RuntimeError('out of memory, pretend')",
     "The last error was: RuntimeError: out of memory, pretend",
     "RuntimeError: out of memory, pretend"),
], ids=["exit-code", "traceback"])
def test_a_crashing_trainer_is_reported_with_its_last_lines(qtbot, window, training, project,
                                                             monkeypatch, code, message,
                                                             last_line):
    monkeypatch.setattr("app.controllers.finetune.trainer_command",
                        lambda args: [sys.executable, "-c", code])
    dialog = open_dialog(training, project)
    with qtbot.waitSignal(training.process.failed, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    assert message in dialog.message_text()
    assert dialog.details_text().splitlines()[-1] == last_line
    assert dialog.again_button.isVisible() and window.isVisible()
    qtbot.mouseClick(dialog.again_button, Qt.MouseButton.LeftButton)  # and try again
    assert dialog.on_settings_page() and dialog.train_button.isEnabled()


def test_the_dialogs_choices_are_there_again_next_time(qtbot, window, training, project,
                                                       settings_path, tiny_base,
                                                       monkeypatch):
    launched: list[list[str]] = []

    def command(args: list[str]) -> list[str]:
        launched.append(list(args))
        return [sys.executable, "-c", "raise SystemExit(1)"]

    monkeypatch.setattr("app.controllers.finetune.trainer_command", command)
    dialog = open_dialog(training, project, epochs=12)
    dialog.freeze_combo.setCurrentIndex(dialog.freeze_combo.findData("backbone"))
    assert dialog.mirror_check.isChecked()  # by default, unknowns told with mirror images
    dialog.mirror_check.setChecked(False)
    with qtbot.waitSignal(training.process.failed, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    assert "--no-openset-mirror" in launched[0]
    window.close()
    again = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    try:
        with qtbot.waitSignal(again.recognition.service.modelChanged, timeout=WAIT_MS):
            again.recognition.load_model(tiny_base)
        again.finetune.set_project(project)
        later = again.finetune.open_dialog()
        assert (later.epochs_spin.value(), later.lr_spin.value(), later.batch_spin.value(),
                later.val_spin.value()) == (12, 0.005, 6, 25)
        assert later.freeze_combo.currentData() == "backbone"
        assert not later.mirror_check.isChecked()
    finally:
        again.close()


def test_a_bad_kinetics_file_fails_in_the_trainer_and_says_why(qtbot, window, training,
                                                                project, tmp_path,
                                                                monkeypatch):
    bad = tmp_path / "r3d10_K_200ep.pth"
    bad.write_bytes(b"this is not a PyTorch file" * 10)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    dialog = open_dialog(training, project)
    dialog.base_combo.setCurrentIndex(dialog.base_combo.findText(
        "Kinetics weights of Hara et al. (.pth)…"))
    assert dialog.current_base() == BaseModel("kinetics", bad, f"Kinetics weights: {bad.name}",
                                              10)
    with qtbot.waitSignal(training.process.failed, timeout=TRAIN_MS) as failed:
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    assert failed.args[0].exit_code == 2
    assert bad.name in dialog.message_text()
    assert "stmanet train: error:" in dialog.details_text()


def test_the_results_say_when_a_model_cannot_tell_unknown_footage_or_its_threshold_is_rough(
        tmp_path):
    from app.services.training_runs import RunResults
    from app.widgets.finetune_run import unknowns_line

    model = tmp_path / "m.safetensors"
    assert unknowns_line(RunResults(tmp_path, None)) == ""  # no model: nothing to say
    assert "cannot tell footage of none of its actions" in unknowns_line(
        RunResults(tmp_path, model, openset=None))
    rough = {"known_rate": 0.95, "calibration": {"subset": "validation", "clips": 20,
                                                 "fewest_clips": 5}}
    text = unknowns_line(RunResults(tmp_path, model, openset=rough))
    assert "set on 20 kept-aside clips (5 of the action with fewest)" in text
    assert "than the 95% planned" in text and "30 or more" in text
    sure = {**rough, "calibration": {**rough["calibration"], "fewest_clips": 40}}
    assert unknowns_line(RunResults(tmp_path, model, openset=sure)) == ""
    from_training = {**rough, "calibration": {"subset": "training, out of fold"}}
    assert unknowns_line(RunResults(tmp_path, model, openset=from_training)) == ""  # says not
    # none kept aside (Validation 0%): set on the training clips themselves, and few of them
    few_trained = {**rough, "calibration": {"subset": "training, out of fold", "clips": 8,
                                            "fewest_clips": 2}}
    text = unknowns_line(RunResults(tmp_path, model, openset=few_trained))
    assert "set on the 8 clips it trained on (2 of the action with fewest)" in text
    assert "Keep 30 or more clips per action aside (Validation)" in text
