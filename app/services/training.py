"""Fine-tuning from the app: what to run, whether the project is ready, and the process.

Training runs as the same `stmanet train` command a user would type, in a separate process
(`trainer_command`), with `--progress json`: `TrainingProcess` reads its stdout line by line
into progress events (stmanet.engine.events), keeps the last lines of its stderr, and reports
how it ended. A crash or an out-of-memory in training ends that process, never the window.
Cancel sends SIGTERM; the trainer then finishes its step, writes its resume checkpoint and
exits with 143.

This module and app/services/inference_worker.py are the only app code that imports stmanet.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from stmanet.engine.events import (
    CheckpointSaved,
    EpochEnded,
    Event,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunStarted,
    StepProgress,
    ValidationProgress,
    event_from_json,
    format_duration,
)
from stmanet.errors import STMANetError
from stmanet.fileio import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

__all__ = [
    "FREEZE_CHOICES",
    "MIN_SEGMENTS_PER_CLASS",
    "BaseModel",
    "CheckpointSaved",
    "EpochEnded",
    "Event",
    "FineTuneSettings",
    "ProjectCheck",
    "RunCancelled",
    "RunFailed",
    "RunFinished",
    "RunResults",
    "RunStarted",
    "RunState",
    "StepProgress",
    "StoredModel",
    "TrainingOutcome",
    "TrainingProcess",
    "ValidationProgress",
    "check_project",
    "default_workers",
    "find_stored_model",
    "format_duration",
    "kinetics_depth",
    "model_input",
    "read_run_results",
    "read_run_state",
    "resume_settings",
    "store_model",
    "train_arguments",
    "trainer_command",
    "training_devices",
]

MIN_SEGMENTS_PER_CLASS = 3
"""With fewer, a class cannot give clips to both training and validation and be learnt."""

FEW_SEGMENTS_PER_CLASS = 10
"""Below this the model will be rough: worth saying, not a reason to refuse."""

FREEZE_CHOICES: dict[str, tuple[str, str]] = {
    "backbone": ("The last layer only",
                 "Fastest. The network keeps what it knows and only learns your action names. "
                 "Good with a few clips per action."),
    "early": ("The last stages and the attention",
              "The usual choice: the early layers (edges, simple motion) stay fixed."),
    "none": ("Everything",
             "Slowest; needs the most clips, or the model forgets what it knew."),
}
"""--freeze value: (what the user reads, a longer explanation)."""

STDERR_LINES_KEPT = 200
CANCEL_GRACE_MS = 60_000
"""After Cancel, how long the trainer may take to finish its step and write its checkpoint
before it is stopped by force."""

QUIT_GRACE_MS = 30_000
"""When the program quits during a run: how long the trainer may take to save its state
before it is stopped by force (the window waits that long at most)."""

SCRATCH_MODEL = "stmanet_r18_lite"
DEFAULT_INPUT = (16, 2, 112)  # frames, frame stride, crop size for a model without its own


# --------------------------------------------------------------------------- the command

def trainer_command(arguments: Sequence[str]) -> list[str]:
    """The program and arguments that run `stmanet train ARGUMENTS`.

    From source (or an installed package): this Python with `-m stmanet train`. In a frozen
    bundle (PyInstaller) there is no Python to run a module with: the bundle launches its own
    executable with `train` as the first argument, and app/main.py must dispatch that to
    stmanet.cli.main(["train", ...]) before it builds any window (it does, through
    app.launch.run_without_window).
    """
    if getattr(sys, "frozen", False):
        return [sys.executable, "train", *arguments]
    return [sys.executable, "-m", "stmanet", "train", *arguments]


def training_devices() -> list[str]:
    """Devices a run can use: auto and cpu always, cuda when a CUDA GPU is there."""
    import torch

    return ["auto", "cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@dataclass(frozen=True)
class BaseModel:
    """What a run starts from.

    kind: "model" (an ST-MANet .safetensors: the demo model, the model in use, any file;
    --init), "kinetics" (Hara et al.'s Kinetics .pth; --hara with the ResNet of the same
    depth) or "scratch" (no pretrained weights)."""

    kind: str
    path: Path | None = None
    label: str = ""
    depth: int | None = None  # kinetics: the 3D ResNet depth of the .pth

    @property
    def model_name(self) -> str:
        if self.kind == "kinetics":
            return f"stmanet_r{self.depth or 50}"
        return SCRATCH_MODEL


def kinetics_depth(path: Path) -> int | None:
    """The ResNet depth a Hara et al. file name tells (r3d50_K_200ep.pth -> 50), if any."""
    match = re.search(r"r(?:3d)?(10|18|34|50|101)(?!\d)", path.name.lower())
    return int(match.group(1)) if match else None


def model_input(path: Path) -> tuple[int, int, int] | None:
    """(frames, frame stride, crop size) an ST-MANet model file was trained with, read from
    its header (the weights are not loaded); None when the file cannot say."""
    from stmanet.engine.checkpoint import read_metadata

    try:
        spec = read_metadata(path).input
    except (STMANetError, OSError, ValueError):
        return None
    return spec.frames, spec.frame_stride, spec.size


@dataclass(frozen=True)
class FineTuneSettings:
    """One fine-tuning run as the dialog describes it; `train_arguments` turns it into
    `stmanet train` flags."""

    project: Path
    base: BaseModel
    run_dir: Path
    freeze: str = "early"
    epochs: int = 15
    lr: float = 0.002
    batch_size: int = 8
    val_share: float = 0.2
    device: str = "auto"
    input: tuple[int, int, int] = DEFAULT_INPUT  # frames, frame stride, size
    workers: int = 1
    extra: tuple[str, ...] = ()  # further `stmanet train` flags, written by the user


def default_workers() -> int:
    """Video-decoding processes: leave the window and the training process a core each."""
    return max(0, min(4, (os.cpu_count() or 1) - 2))


def train_arguments(settings: FineTuneSettings) -> list[str]:
    """`stmanet train` flags for `settings`. AdamW with a cosine schedule: on a few hundred
    clips of one's own it learns in far fewer epochs than the paper's SGD recipe."""
    s = settings
    frames, stride, size = s.input
    args = ["--data", f"project:{s.project}", "--val-share", f"{s.val_share:g}",
            "--epochs", str(s.epochs), "--lr", f"{s.lr:g}", "--batch-size", str(s.batch_size),
            "--optimizer", "adamw", "--schedule", "cosine", "--weight-decay", "0.01",
            "--frames", str(frames), "--frame-stride", str(stride), "--size", str(size),
            "--device", s.device, "--workers", str(s.workers)]
    base = s.base
    if base.kind == "model" and base.path is not None:
        args += ["--init", str(base.path), "--freeze", s.freeze]
    elif base.kind == "kinetics" and base.path is not None:
        args += ["--hara", str(base.path), "--model", base.model_name, "--freeze", s.freeze]
    else:  # nothing pretrained to keep
        args += ["--model", base.model_name, "--freeze", "none"]
    # the user's own flags may change any of the above, but not where the run goes or how
    # it reports
    return [*args, *s.extra, "--output", str(s.run_dir), "--progress", "json"]


# ----------------------------------------------------------------------- is there enough

@dataclass(frozen=True)
class ProjectCheck:
    """Whether a label project has enough to train on. `problems` block training; `notes`
    are worth knowing. Both are plain sentences for the user."""

    project: Path
    classes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # usable segments per class
    missing_videos: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def segments(self) -> int:
        return sum(self.counts.values())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def check_project(project: Path, *,
                  min_segments: int = MIN_SEGMENTS_PER_CLASS) -> ProjectCheck:
    """Read the label project as the trainer will (`project:FILE`) and say, in plain words,
    what stands in the way of training: too few segments of a class, a single class, videos
    that cannot be found."""
    from stmanet.data.sources import load_source

    project = Path(project)
    try:
        index = load_source("project", project)
    except STMANetError as exc:
        text = str(exc)
        if "none of the" in text and "exist" in text:
            text = ("None of the project's videos can be found. Were they moved or renamed? "
                    f"({exc})")
        elif "no labelled segment" in text or "has no classes" in text:
            text = "Nothing is labelled yet: mark segments of each action in the videos first."
        return ProjectCheck(project, problems=[text])
    classes = list(index.class_names)
    counts = dict(zip(classes, index.class_counts(), strict=True))
    missing = [s.path for s in index.skipped]
    problems: list[str] = []
    notes: list[str] = []
    if missing:
        shown = ", ".join(p.name for p in missing[:3]) + (" …" if len(missing) > 3 else "")
        notes.append(f"{_plural(len(missing), 'video')} of the project cannot be found "
                     f"({shown}); their segments are left out.")
    used = [name for name in classes if counts[name] > 0]
    left_out = " that can be used" if missing else ""
    if len(used) < 2:
        only = f" (only “{used[0]}” has segments{left_out})" if used else ""
        problems.append("A model learns to tell actions apart, so it needs at least two: "
                        f"label segments of a second action{only}.")
    for name in classes:
        n = counts[name]
        if n == 0 and len(used) >= 2:
            problems.append(f"“{name}” has no labelled segments{left_out}: label at least "
                            f"{min_segments}, or remove the action from the project.")
        elif 0 < n < min_segments:
            problems.append(f"“{name}” has only {_plural(n, 'segment')}{left_out}: label at "
                            f"least {min_segments}, so that some can be kept aside to check "
                            "the model.")
    if not problems:
        fewest = min(counts[name] for name in used)
        if fewest < FEW_SEGMENTS_PER_CLASS:
            notes.append(f"With {fewest}–{max(counts.values())} segments per action the "
                         "model will be rough; ten or more per action, from different "
                         "videos, work much better.")
    return ProjectCheck(project, classes, counts, missing, problems, notes)


# ------------------------------------------------------------------------------ results

@dataclass
class RunResults:
    """What a finished run reports: the best model's validation results and the history."""

    run_dir: Path
    model_path: Path | None
    class_names: list[str] = field(default_factory=list)
    val_accuracy: float | None = None
    per_class: dict[str, float | None] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)  # rows: true class
    val_clips: int = 0
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def class_clips(self) -> dict[str, int]:
        """Validation clips per class (the confusion matrix's row sums)."""
        return {name: int(sum(row)) for name, row in zip(self.class_names, self.confusion,
                                                          strict=False)}


def read_run_results(run_dir: Path, model_path: Path | None = None) -> RunResults:
    """The run folder's report.json (best model on the validation clips) and metrics."""
    from stmanet.engine.metrics import ClassificationReport, MetricsLog

    run_dir = Path(run_dir)
    results = RunResults(run_dir, model_path, history=MetricsLog(run_dir).read())
    path = run_dir / "report.json"
    try:
        report = ClassificationReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return results  # no validation data: nothing to report
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return results
    results.class_names = list(report.class_names)
    results.val_accuracy = report.top1
    results.per_class = dict(report.per_class)
    results.confusion = [list(map(int, row)) for row in report.confusion]
    results.val_clips = report.count
    epoch = report.extra.get("epoch")
    results.best_epoch = int(epoch) if isinstance(epoch, int) else None
    return results


@dataclass(frozen=True)
class StoredModel:
    model: Path
    report: Path


def store_model(results: RunResults, models_dir: Path, name: str, *,
                about: dict[str, Any] | None = None) -> StoredModel:
    """Copy the run's model into `models_dir` as NAME.safetensors with NAME.report.json
    beside it (validation results, history, where it came from). Earlier models stay; a
    name in use gets a number."""
    if results.model_path is None:
        raise STMANetError("the run produced no model to keep")
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"{name}.safetensors"
    number = 2
    while target.exists():
        target = models_dir / f"{name}-{number}.safetensors"
        number += 1
    with atomic_path(target) as tmp:
        shutil.copyfile(results.model_path, tmp)
    report = {
        "model": target.name,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "run_dir": str(results.run_dir),
        "validation": None if results.val_accuracy is None else {
            "accuracy": results.val_accuracy, "clips": results.val_clips,
            "best_epoch": results.best_epoch, "class_names": results.class_names,
            "per_class": results.per_class, "confusion": results.confusion},
        "history": results.history,
        **(about or {}),
    }
    report_path = target.with_name(target.name.removesuffix(".safetensors") + ".report.json")
    atomic_write_text(report_path, json.dumps(report, indent=1) + "\n")
    return StoredModel(target, report_path)


# ----------------------------------------------------------------------- a run's folder

RUN_FINISHED = "finished"
RUN_STOPPED = "stopped"
RUN_UNSAVED = "unsaved"
RUN_MISSING = "missing"


@dataclass(frozen=True)
class RunState:
    """Where a run folder stands, read from its files (see stmanet/engine/trainer.py).

    status: "finished" (the trainer wrote its final model), "stopped" (a resume checkpoint
    and no final model: `stmanet train --resume` continues it), "unsaved" (the run ended
    before it saved any state: it cannot be continued) or "missing" (no run folder there)."""

    run_dir: Path
    status: str
    epochs_done: int = 0
    total_epochs: int = 0
    best_accuracy: float | None = None  # on the kept-aside clips
    model_path: Path | None = None  # finished runs: the model the run gives
    project: Path | None = None  # the label project it trains on
    config: dict[str, Any] = field(default_factory=dict)  # the resolved TrainConfig

    @property
    def can_continue(self) -> bool:
        return self.status == RUN_STOPPED

    def describe(self) -> str:
        """The state in a few words, e.g. "stopped at epoch 3 of 8"."""
        if self.status == RUN_FINISHED:
            accuracy = ("" if self.best_accuracy is None
                        else f", {self.best_accuracy * 100:.0f}% validation accuracy")
            return f"finished{accuracy}"
        if self.status == RUN_STOPPED:
            return f"stopped at epoch {self.epochs_done} of {self.total_epochs}"
        if self.status == RUN_UNSAVED:
            return "stopped before it saved anything"
        return "missing"


def read_run_state(run_dir: Path) -> RunState:
    """What `run_dir` holds: finished, stopped (can be continued), unsaved or missing. Reads
    only the small files (config, metrics, report), never the checkpoint."""
    from stmanet.engine.metrics import MetricsLog
    from stmanet.engine.trainer import (
        BEST_MODEL,
        CONFIG_FILE,
        FINAL_MODEL,
        RESUME_FILE,
        VALIDATION_REPORT,
    )

    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RunState(run_dir, RUN_MISSING)
    if not isinstance(config, dict):
        return RunState(run_dir, RUN_MISSING)
    data = str(config.get("data") or "")
    project = Path(data.removeprefix("project:")) if data.startswith("project:") else None
    history = MetricsLog(run_dir).read()
    accuracies = [row["val_acc"] for row in history
                  if isinstance(row.get("val_acc"), int | float)]
    best = max(accuracies) if accuracies else None
    total = int(config.get("epochs") or 0)
    common = {"epochs_done": len(history), "total_epochs": total, "best_accuracy": best,
              "project": project, "config": config}
    final = run_dir / FINAL_MODEL
    if final.exists():
        try:
            report = json.loads((run_dir / VALIDATION_REPORT).read_text(encoding="utf-8"))
            common["best_accuracy"] = float(report["top1"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        best_model = run_dir / BEST_MODEL
        model = best_model if best_model.exists() and config.get("keep_best", True) else final
        return RunState(run_dir, RUN_FINISHED, model_path=model, **common)
    if (run_dir / RESUME_FILE).exists():
        return RunState(run_dir, RUN_STOPPED, **common)
    return RunState(run_dir, RUN_UNSAVED, **common)


def resume_settings(state: RunState) -> FineTuneSettings | None:
    """The dialog's description of a run, rebuilt from its resolved config (None when the
    run does not train on a label project)."""
    c = state.config
    if state.project is None or not c:
        return None
    if c.get("init"):
        base = BaseModel("model", Path(c["init"]), f"Model: {Path(c['init']).name}")
    elif c.get("hara"):
        path = Path(c["hara"])
        base = BaseModel("kinetics", path, f"Kinetics weights: {path.name}",
                         kinetics_depth(path) or 50)
    else:
        base = BaseModel("scratch", None, "A new network (no pretrained weights)")
    try:
        return FineTuneSettings(
            project=state.project, base=base, run_dir=state.run_dir,
            freeze=str(c.get("freeze", "none")), epochs=int(c.get("epochs", 1)),
            lr=float(c.get("lr", 0.002)), batch_size=int(c.get("batch_size", 8)),
            val_share=float(c.get("val_share", 0.0)), device=str(c.get("device", "auto")),
            input=(int(c.get("frames", DEFAULT_INPUT[0])),
                   int(c.get("frame_stride", DEFAULT_INPUT[1])),
                   int(c.get("size", DEFAULT_INPUT[2]))),
            workers=int(c.get("workers", 1)))
    except (TypeError, ValueError):
        return None


def find_stored_model(models_dir: Path, run_dir: Path) -> StoredModel | None:
    """The copy `store_model` made of `run_dir`'s model in `models_dir`, if there is one."""
    for report in sorted(models_dir.glob(f"{run_dir.name}*.report.json")):
        try:
            about = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(about, dict):
            continue
        model = models_dir / str(about.get("model", ""))
        if Path(str(about.get("run_dir"))) == Path(run_dir) and model.is_file():
            return StoredModel(model, report)
    return None


# ------------------------------------------------------------------------------ process

@dataclass
class TrainingOutcome:
    """How a training process ended.

    status: "finished" (a model was written), "cancelled" (stopped on request; the resume
    checkpoint, if any, is kept) or "failed" (`message` says why, `details` holds the last
    lines the trainer wrote to stderr)."""

    status: str
    run_dir: Path
    exit_code: int | None = None
    message: str = ""
    details: str = ""
    model_path: Path | None = None
    checkpoint: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)


class TrainingProcess(QObject):
    """Runs one `stmanet train --progress json` at a time in a QProcess.

    Signals: started(); eventReceived(Event) for each progress line; finished /
    cancelled / failed (TrainingOutcome) once, when the process has ended."""

    started = Signal()
    eventReceived = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._run_dir = Path()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._stderr_lines: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self._events: list[Event] = []
        self._cancel_requested = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._force_stop)
        self.cancel_grace_ms = CANCEL_GRACE_MS
        self.quit_grace_ms = QUIT_GRACE_MS

    # --- what other code uses ------------------------------------------------------------

    def is_running(self) -> bool:
        return self._process is not None

    @property
    def run_dir(self) -> Path:
        return self._run_dir

    @property
    def events(self) -> list[Event]:
        """Every event of the current (or last) run, in order."""
        return list(self._events)

    def stderr_tail(self, lines: int = 20) -> list[str]:
        return list(self._stderr_lines)[-lines:]

    def start(self, command: Sequence[str], run_dir: Path) -> None:
        """Start `command` (a `trainer_command(...)`) writing into `run_dir`."""
        if self._process is not None:
            raise RuntimeError("a training process is already running")
        self._run_dir = Path(run_dir)
        self._stdout.clear()
        self._stderr.clear()
        self._stderr_lines.clear()
        self._events = []
        self._cancel_requested = False
        process = QProcess(self)
        process.setProgram(command[0])
        process.setArguments(list(command[1:]))
        process.setProcessEnvironment(self._environment())
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        log.info("training: %s", " ".join(command))
        process.start()
        self.started.emit()

    def cancel(self) -> None:
        """Ask the trainer to stop after its current step (SIGTERM): it writes its resume
        checkpoint, then exits. Stopped by force after `cancel_grace_ms`."""
        process = self._process
        if process is None or self._cancel_requested:
            return
        self._cancel_requested = True
        log.info("training: cancel requested")
        # On Windows terminate() reaches only programs with a window; the timer below then
        # stops a console trainer by force, keeping the checkpoint of its last epoch.
        process.terminate()
        self._kill_timer.start(self.cancel_grace_ms)

    def stop_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Cancel, and wait until the trainer has written its resume checkpoint and exited
        (events keep being served meanwhile: the window still paints). Stopped by force after
        `timeout_ms` (default `quit_grace_ms`), keeping the checkpoint of its last finished
        epoch. True when it stopped on its own."""
        if self._process is None:
            return True
        timeout_ms = self.quit_grace_ms if timeout_ms is None else timeout_ms
        loop = QEventLoop()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        ended = (self.finished, self.cancelled, self.failed)
        for signal in ended:
            signal.connect(loop.quit)
        try:
            self.cancel()
            if self._process is not None:
                timer.start(timeout_ms)
                loop.exec()
        finally:
            timer.stop()
            for signal in ended:
                signal.disconnect(loop.quit)
        process = self._process
        if process is None:
            return True
        log.warning("training did not stop within %d s: stopping it by force",
                    timeout_ms // 1000)
        process.kill()
        process.waitForFinished(5000)  # finished() runs _on_finished before this returns
        return False

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Stop a running trainer (the window is closing): it keeps its checkpoint."""
        process = self._process
        if process is None:
            return
        self._cancel_requested = True
        process.terminate()
        if not process.waitForFinished(wait_ms):
            process.kill()
            process.waitForFinished(2000)

    # --- the process's output ------------------------------------------------------------

    def _environment(self) -> QProcessEnvironment:
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        if not env.contains("OMP_NUM_THREADS"):
            # one core stays with the window (and live recognition); more threads than
            # cores slow torch down many times over
            env.insert("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
        if not getattr(sys, "frozen", False):  # `-m stmanet` also from an uninstalled checkout
            import stmanet

            root = str(Path(stmanet.__file__).resolve().parent.parent)
            current = env.value("PYTHONPATH", "")
            env.insert("PYTHONPATH", os.pathsep.join(p for p in (root, current) if p))
        return env

    @staticmethod
    def _lines(buffer: bytearray, data: bytes, final: bool = False) -> list[str]:
        buffer.extend(data)
        if final:
            text, rest = bytes(buffer), b""
        else:
            cut = buffer.rfind(b"\n")
            if cut < 0:
                return []
            text, rest = bytes(buffer[: cut + 1]), bytes(buffer[cut + 1:])
        buffer[:] = rest
        return [line.rstrip("\r") for line in text.decode("utf-8", "replace").split("\n")
                if line.strip()]

    def _read_stdout(self, final: bool = False) -> None:
        if self._process is None:
            return
        data = bytes(self._process.readAllStandardOutput().data())
        for line in self._lines(self._stdout, data, final):
            try:
                event = event_from_json(line)
            except (ValueError, TypeError):
                self._stderr_lines.append(line)  # not an event: keep it with the log lines
                continue
            self._events.append(event)
            self.eventReceived.emit(event)

    def _read_stderr(self, final: bool = False) -> None:
        if self._process is None:
            return
        data = bytes(self._process.readAllStandardError().data())
        for line in self._lines(self._stderr, data, final):
            self._stderr_lines.append(line)
            log.debug("trainer: %s", line)

    def _force_stop(self) -> None:
        if self._process is not None:
            log.warning("training did not stop within %d s of Cancel: stopping it by force",
                        self.cancel_grace_ms // 1000)
            self._process.kill()

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart or self._process is None:
            return  # crashes and the like also end in finished(), handled there
        message = self._process.errorString()
        self._end()
        self.failed.emit(TrainingOutcome(
            "failed", self._run_dir, None,
            f"The training program could not be started: {message}"))

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout(final=True)
        self._read_stderr(final=True)
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        self._end()
        outcome = self._outcome(None if crashed else exit_code, crashed)
        log.info("training ended: %s (exit %s)", outcome.status, outcome.exit_code)
        {"finished": self.finished, "cancelled": self.cancelled,
         "failed": self.failed}[outcome.status].emit(outcome)

    def _end(self) -> None:
        self._kill_timer.stop()
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()

    def _last(self, kind: type[Event]) -> Any:
        return next((e for e in reversed(self._events) if isinstance(e, kind)), None)

    def _outcome(self, exit_code: int | None, crashed: bool) -> TrainingOutcome:
        details = "\n".join(self.stderr_tail())
        done: RunFinished | None = self._last(RunFinished)
        if done is not None and exit_code == 0:
            return TrainingOutcome("finished", self._run_dir, 0, "",
                                   details, Path(done.model_path), report=dict(done.report))
        stopped: RunCancelled | None = self._last(RunCancelled)
        resume = self._run_dir / "checkpoint.pt"
        if self._cancel_requested and (stopped is not None or crashed or exit_code in (130, 143)):
            if stopped is not None:
                message = "Training was cancelled."
                checkpoint = Path(stopped.checkpoint) if stopped.checkpoint else None
            else:
                message = ("Training was stopped before it could save its state"
                           + ("; the checkpoint of its last finished epoch is kept."
                              if resume.exists() else "."))
                checkpoint = resume if resume.exists() else None
            return TrainingOutcome("cancelled", self._run_dir, exit_code, message, details,
                                   checkpoint=checkpoint)
        failed: RunFailed | None = self._last(RunFailed)
        if failed is not None:
            message = failed.message
        elif crashed:
            message = "The training process crashed."
        elif exit_code == 0:
            message = "The training process ended without writing a model."
        else:
            message = f"The training process stopped with exit code {exit_code}."
        if any(line.startswith("Traceback (most recent call last)")
               for line in self._stderr_lines) and failed is None:
            last = next((line for line in reversed(self._stderr_lines) if line.strip()), "")
            message += f" The last error was: {last.strip()}"
        return TrainingOutcome("failed", self._run_dir, exit_code, message, details,
                               checkpoint=resume if resume.exists() else None)
