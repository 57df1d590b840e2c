"""Fine-tuning from the app: what a run folder holds, read from its files.

`read_run_state` says whether a run finished, can be continued or is lost (Train ▸ Recent
runs); `resume_settings` rebuilds the dialog's description of a run from its config;
`read_run_results` reads a finished run's validation report, which epoch it kept and why
(stmanet/engine/selection.py, as the trainer wrote it into report.json), and its history;
`store_model`
copies a run's model into the project's models folder with its report beside it, and
`find_stored_model` finds that copy again.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.services.training_plan import DEFAULT_INPUT, BaseModel, FineTuneSettings, kinetics_depth
from stmanet.errors import STMANetError
from stmanet.fileio import atomic_path, atomic_write_text

log = logging.getLogger(__name__)


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
    best_epoch: int | None = None  # the kept epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[str, Any] | None = None
    """Which epoch the run kept and why, as the trainer wrote it (Selection.to_dict(): epoch,
    reason, val_windows, noisy, best_epoch, last_epoch, ...); None from a trainer that did
    not say."""
    openset: dict[str, Any] | None = None
    """The model file's open-set statistics (their JSON part: score, threshold, calibration);
    None when the model cannot tell footage of none of its actions."""

    @property
    def kept_epoch(self) -> int | None:
        epoch = (self.selection or {}).get("epoch")
        return int(epoch) if isinstance(epoch, int) else self.best_epoch

    @property
    def selection_reason(self) -> str:
        return str((self.selection or {}).get("reason") or "")

    @property
    def noisy_choice(self) -> bool:
        """True when the trainer found too few validation windows for a sure choice."""
        return bool((self.selection or {}).get("noisy"))

    @property
    def validation_windows(self) -> int:
        return int((self.selection or {}).get("val_windows") or 0)

    def class_clips(self) -> dict[str, int]:
        """Validation clips per class (the confusion matrix's row sums)."""
        return {name: int(sum(row)) for name, row in zip(self.class_names, self.confusion,
                                                          strict=False)}


def read_run_results(run_dir: Path, model_path: Path | None = None) -> RunResults:
    """The run folder's report.json (the kept model on the validation clips, and which epoch
    was kept and why) and metrics."""
    from stmanet.engine.metrics import ClassificationReport, MetricsLog
    from stmanet.engine.openset import read_openset_header
    from stmanet.engine.selection import choose_epoch

    run_dir = Path(run_dir)
    results = RunResults(run_dir, model_path, history=MetricsLog(run_dir).read())
    if model_path is not None:
        results.openset = read_openset_header(model_path)
    path = run_dir / "report.json"
    try:
        report = ClassificationReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:  # no validation data: the last epoch's model is the run's
        chosen = choose_epoch(results.history)
        results.selection = chosen.to_dict() if chosen is not None else None
        return results
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
    selection = report.extra.get("selection")
    results.selection = dict(selection) if isinstance(selection, dict) else None
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
        "selection": results.selection,
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
