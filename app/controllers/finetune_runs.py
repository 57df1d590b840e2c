"""Fine-tuning runs on disk, as the Train menu sees them: where a project's runs and models go,
which runs this program started and their Train ▸ Recent runs menu, a run's curves read back,
and a finished run's model copied into its project.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from app.services.training_plan import FineTuneSettings, train_arguments
from app.services.training_runs import (
    RunResults,
    RunState,
    StoredModel,
    find_stored_model,
    read_run_state,
    store_model,
)
from stmanet.engine.events import EpochEnded

log = logging.getLogger(__name__)

RUNS_FOLDER = "training-runs"
MODELS_FOLDER = "models"
RECENT_RUNS_KEY = "finetune/recent_runs"
RECENT_RUNS_KEPT = 8

FREEZE_TEXT = {"backbone": "the last layer", "early": "the last stages and the attention",
               "none": "everything"}


def epochs_from_metrics(rows: list[dict[str, Any]]) -> list[EpochEnded]:
    """A run folder's metrics rows as the events that drew them, for the curves."""
    events = []
    for row in rows:
        try:
            events.append(EpochEnded(
                int(row["epoch"]), row.get("train_loss"), float(row.get("train_acc") or 0.0),
                row.get("val_loss"), row.get("val_acc"), bool(row.get("best")),
                float(row.get("lr") or 0.0), float(row.get("seconds") or 0.0)))
        except (KeyError, TypeError, ValueError):
            continue
    return events


def safe_name(text: str) -> str:
    """A file-name-safe version of a model name."""
    name = re.sub(r"[^\w.-]+", "-", text.strip(), flags=re.UNICODE).strip("-.")
    return name[:60] or "model"


def run_about(settings: FineTuneSettings) -> dict[str, Any]:
    """How a run's model was made, for the report stored beside it in the project."""
    base = settings.base
    return {"project": str(settings.project),
            "base": {"kind": base.kind, "path": str(base.path) if base.path else None},
            "trained": FREEZE_TEXT.get(settings.freeze, settings.freeze),
            "command": ["stmanet", "train", *train_arguments(settings)]}


def finished_run_model(state: RunState, model_path: Path, results: RunResults) -> StoredModel:
    """A finished run's model (`model_path`, its `results`) as its project keeps it: found in
    the project's models/ folder, copied there now when it is missing, or else the model in
    the run folder itself."""
    stored = None
    if state.project is not None:
        models = state.project.parent / MODELS_FOLDER
        stored = find_stored_model(models, state.run_dir)
        if stored is None:  # e.g. the program ended before it copied the model
            try:
                stored = store_model(results, models, state.run_dir.name)
            except OSError as exc:
                log.warning("cannot copy %s into %s: %s", model_path, models, exc)
    if stored is None:
        stored = StoredModel(model_path, state.run_dir / "report.json")
    return stored


def fill_recent_menu(menu: QMenu, states: list[RunState], *, training: bool,
                     run_dir: Path | None, open_run: Callable[[Path], object]) -> None:
    """Train ▸ Recent runs: each run with its state, `open_run(folder)` when chosen. Only
    the run under way (`run_dir`, while `training`) can be chosen during a run; otherwise
    runs that can be continued or have finished."""
    menu.clear()
    for state in states:
        running = training and state.run_dir == run_dir
        if running:
            what = "running"
        elif state.can_continue:
            what = f"{state.describe()}, can be continued"
        else:
            what = state.describe()
        action = menu.addAction(f"{state.run_dir.name} — {what}")
        action.setToolTip(str(state.run_dir))
        action.setStatusTip(str(state.run_dir))
        action.setEnabled(running or (not training and (
            state.can_continue or state.status == "finished")))
        action.triggered.connect(lambda _=False, path=state.run_dir: open_run(path))
    if not states:
        menu.addAction("No runs yet").setEnabled(False)


class RecentRuns:
    """The run folders this program started, newest first, kept in QSettings."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def paths(self) -> list[Path]:
        value = self._settings.value(RECENT_RUNS_KEY, [])
        if isinstance(value, str):  # a list of one comes back as its item
            value = [value] if value else []
        return [Path(str(v)) for v in (value or [])]

    def states(self) -> list[RunState]:
        """Each run as its folder says now."""
        return [read_run_state(path) for path in self.paths()]

    def remember(self, run_dir: Path) -> None:
        paths = [run_dir, *(p for p in self.paths() if p != run_dir)]
        self._settings.setValue(RECENT_RUNS_KEY, [str(p) for p in paths[:RECENT_RUNS_KEPT]])
        self._settings.sync()
