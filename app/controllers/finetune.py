"""Fine-tuning in the main window: the Train menu, the dialog, the training process, and
putting the new model to use.

`FineTuneController` is told the label project (`set_project`, or `follow_projects` to
track the labelling controller's), checks it before anything starts (too few segments of a
class, a single class, missing videos: said in plain words), runs `stmanet train` in a
separate process (app.services.training.TrainingProcess) with a run folder in the project's
`training-runs/`, and, once it finished, copies the model into the project's `models/` folder
with its report beside it (earlier models stay). "Use this model" swaps it into recognition
at once. It reaches the window only through `FineTuneWindow`, recognition through
`ModelInUse`, the labeller through `ProjectSource`.

The run folders it starts are remembered (QSettings, newest first): Train ▸ Recent runs shows
each with its state read from the folder, continues a stopped one (`stmanet train --resume`,
also after a restart of the program) and offers a finished one's model. Quitting during a
run asks first (`confirm_quit`): the run is stopped with its resume checkpoint, or the
window stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QSettings, Qt, Signal, SignalInstance
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QWidget

from app.controllers.finetune_choices import base_models, remember_choices, restore_choices
from app.controllers.finetune_runs import (
    MODELS_FOLDER,
    RUNS_FOLDER,
    RecentRuns,
    epochs_from_metrics,
    fill_recent_menu,
    finished_run_model,
    run_about,
    safe_name,
)
from app.services.results import ModelInfo
from app.services.training import TrainingOutcome, TrainingProcess, trainer_command
from app.services.training_plan import (
    BaseModel,
    FineTuneSettings,
    ProjectCheck,
    check_project,
    default_workers,
    model_input,
    train_arguments,
    training_devices,
)
from app.services.training_runs import (
    RunState,
    StoredModel,
    read_run_results,
    read_run_state,
    resume_settings,
    store_model,
)
from app.widgets.dialogs import ask
from stmanet.bundled import bundled_demo_model
from stmanet.engine.events import EpochEnded, Event, RunStarted, StepProgress, format_duration

if TYPE_CHECKING:
    from app.widgets.finetune_dialog import FineTuneDialog
    from app.widgets.finetune_settings import FormValues

log = logging.getLogger(__name__)


class FineTuneWindow(Protocol):
    """What fine-tuning needs from the window."""

    @property
    def dialog_parent(self) -> QWidget:
        """The window: the parent of dialogs and actions."""

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        """A status-bar message."""

    def add_status_field(self, field: QWidget) -> None: ...

    def add_menu(self, menu: QMenu) -> None:
        """A menu of the menu bar, before View."""


class ModelInUse(Protocol):
    """What fine-tuning needs from recognition: the model in use, and a way to swap it."""

    @property
    def model(self) -> ModelInfo | None: ...

    def load_model(self, path: Path | str, *, remember: bool = True) -> None: ...


class ProjectSource(Protocol):
    """What `follow_projects` needs: the labelling controller has it."""

    projectChanged: SignalInstance

    @property
    def project_path(self) -> Path | None: ...

    def flush(self) -> bool:
        """Write the project's unsaved edits now."""


def ask_stop_and_quit(parent: QWidget | None, text: str) -> bool:
    """Ask whether to stop the run and quit; True for "Stop and quit". ("Keep working" is
    the default, and what Escape answers.)"""
    return ask(parent, "Fine-tune running", text, "Stop and quit", reject="Keep working",
               accept_by_default=False)


class FineTuneController(QObject):
    """Signals: modelStored(StoredModel): a finished run's model was saved in the project."""

    modelStored = Signal(object)

    def __init__(
        self,
        window: FineTuneWindow,
        settings: QSettings,
        present_error: Callable[[str, str], None],
        recognition: ModelInUse,
    ) -> None:
        super().__init__(window.dialog_parent)
        self._window = window
        self._settings = settings
        self._present_error = present_error
        self._recognition = recognition
        self._recent = RecentRuns(settings)
        self._project: Path | None = None
        self._source: ProjectSource | None = None
        self._dialog: FineTuneDialog | None = None
        self._process = TrainingProcess(self)
        self._run: FineTuneSettings | None = None
        self._run_dir: Path | None = None
        self._run_name = ""
        self._stored: StoredModel | None = None
        self._check: ProjectCheck | None = None
        self._epochs = 0
        self._epoch = 0  # the epoch under way (1-based)
        self._stopping_to_quit = False

        self._process.eventReceived.connect(self._on_event)
        self._process.finished.connect(self._on_finished)
        self._process.cancelled.connect(self._on_cancelled)
        self._process.failed.connect(self._on_failed)

        owner = window.dialog_parent
        self.fine_tune_action = QAction("&Fine-tune on project…", owner)
        self.fine_tune_action.setStatusTip("Train the model on the segments labelled in the "
                                           "label project")
        self.fine_tune_action.triggered.connect(self.open_dialog)
        self.menu = QMenu("&Train", owner)
        self.menu.addAction(self.fine_tune_action)
        self.recent_menu = self.menu.addMenu("&Recent runs")
        self.recent_menu.setStatusTip("Continue a stopped run, or use a finished run's model")
        self.recent_menu.aboutToShow.connect(self.update_recent_menu)
        window.add_menu(self.menu)
        self._status_label = QLabel()
        self._status_label.hide()
        window.add_status_field(self._status_label)
        self._update_action()
        self.update_recent_menu()

    # --- parts other code (and tests) use ------------------------------------------------

    @property
    def project(self) -> Path | None:
        return self._project

    @property
    def process(self) -> TrainingProcess:
        return self._process

    @property
    def dialog(self) -> FineTuneDialog | None:
        return self._dialog

    @property
    def stored_model(self) -> StoredModel | None:
        """The model the last finished run saved in the project."""
        return self._stored

    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    def is_training(self) -> bool:
        return self._process.is_running()

    def set_project(self, path: Path | str | None) -> None:
        """The label project to train on (its JSON file), or None for none."""
        self._project = Path(path) if path else None
        self._update_action()
        if self._dialog is not None and self._dialog.isVisible() and \
                self._dialog.on_settings_page() and self._project is not None:
            self._refresh_check()

    def follow_projects(self, source: ProjectSource) -> None:
        """Keep to the project of `source` (the labelling controller) as it changes."""
        self._source = source
        source.projectChanged.connect(lambda: self.set_project(source.project_path))
        self.set_project(source.project_path)

    def open_dialog(self) -> FineTuneDialog | None:
        """Show the dialog: the run under way if there is one, else the settings for the
        current project."""
        if self._dialog is None:
            self._dialog = self._make_dialog()
        dialog = self._dialog
        if not self.is_training():
            if self._project is None:
                self._present_error("No label project",
                                    "Open or create a label project and label some segments "
                                    "first.")
                return None
            if dialog.on_settings_page() or self._run is None:
                self._new_run()
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def start(self, values: FormValues) -> bool:
        """Check the project once more and start a run with the dialog's values."""
        if self.is_training() or self._project is None or self._dialog is None:
            return False
        check = self._refresh_check()
        if not check.ok:
            return False
        remember_choices(self._settings, values)
        base = values.base
        if base.kind == "model" and base.path is not None:
            spec = model_input(base.path)
            if spec is None:
                self._present_error("Cannot start from this model",
                                    f"{base.path} is not a readable ST-MANet model file.")
                return False
        else:
            spec = None
        name = safe_name(values.name or self._project.stem)
        self._run_name = f"{time.strftime('%Y%m%d-%H%M%S')}_{name}"
        run_dir = self._project.parent / RUNS_FOLDER / self._run_name
        settings = FineTuneSettings(
            project=self._project, base=base, run_dir=run_dir, freeze=values.freeze,
            epochs=values.epochs, lr=values.lr, batch_size=values.batch_size,
            val_share=values.val_share, device=values.device, workers=default_workers(),
            extra=values.extra, openset_mirror=values.mirror,
            **({"input": spec} if spec else {}))
        return self._launch(settings, train_arguments(settings), resumed=False)

    def continue_training(self) -> bool:
        """Resume the last (cancelled) run from its checkpoint."""
        if self.is_training() or self._run is None or self._run_dir is None:
            return False
        if not (self._run_dir / "checkpoint.pt").exists():
            return False
        return self._launch(self._run, ["--resume", str(self._run_dir), "--progress", "json"],
                            resumed=True, start_epoch=self._epoch)

    def recent_runs(self) -> list[RunState]:
        """The runs this program started, newest first, each as its folder says now."""
        return self._recent.states()

    def open_run(self, run_dir: Path | str) -> bool:
        """A recent run chosen: a stopped one continues where it stopped (in the dialog,
        with its curves so far), a finished one shows its results and offers its model."""
        state = read_run_state(Path(run_dir))
        if self.is_training():
            if self._run_dir is not None and state.run_dir == self._run_dir:
                self.open_dialog()
                return True
            return False
        if state.can_continue:
            return self.continue_run(state)
        if state.status == "finished":
            return self._show_finished(state)
        why = ("is no longer there" if state.status == "missing"
               else "stopped before it saved anything to continue from")
        self._present_error("Cannot continue this run", f"The run {state.run_dir} {why}.")
        return False

    def continue_run(self, state: RunState) -> bool:
        """Continue a stopped run from its folder (`stmanet train --resume`)."""
        if self.is_training() or not state.can_continue:
            return False
        settings = resume_settings(state)
        if settings is None:
            self._present_error("Cannot continue this run",
                                f"{state.run_dir} is not a fine-tuning run of a label project.")
            return False
        if self._dialog is None:
            self._dialog = self._make_dialog()
        self._run_name = state.run_dir.name
        self._dialog.show_history(
            f"Fine-tuning on {settings.project.name}", epochs=settings.epochs,
            history=epochs_from_metrics(read_run_results(state.run_dir).history))
        self._launch(settings, ["--resume", str(state.run_dir), "--progress", "json"],
                     resumed=True, start_epoch=min(settings.epochs, state.epochs_done + 1))
        self._dialog.show()
        self._dialog.raise_()
        return True

    def update_recent_menu(self) -> None:
        """Train ▸ Recent runs: each remembered run with its state."""
        fill_recent_menu(self.recent_menu, self.recent_runs(), training=self.is_training(),
                         run_dir=self._run_dir, open_run=self.open_run)

    def confirm_quit(self, parent: QWidget | None = None,
                     ask: Callable[[QWidget | None, str], bool] | None = None) -> bool:
        """The window is asked to close: True when it may. During a run, ask (`ask`, by
        default `ask_stop_and_quit`) whether to stop it; if so, stop it and wait until it
        has saved its state (or was stopped by force) before answering."""
        if self._stopping_to_quit:
            return False  # closed again while the run stops: the first close goes on
        if not self.is_training():
            return True
        total = self._epochs or (self._run.epochs if self._run is not None else 0)
        epoch = max(1, min(self._epoch, total)) if total else max(1, self._epoch)
        text = (f"A fine-tune is running (epoch {epoch} of {total}). Stop it and quit? The "
                "run is kept and can be continued later from Train > Recent runs.")
        ask = ask or ask_stop_and_quit
        if not ask(parent if parent is not None else self._window.dialog_parent, text):
            return False
        self._stopping_to_quit = True
        self._show_status("Training: stopping and saving its state…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self._process.stop_and_wait()
        finally:
            QApplication.restoreOverrideCursor()
            self._stopping_to_quit = False
        return True

    def cancel(self) -> None:
        self._process.cancel()

    def use_model(self) -> bool:
        """Recognise with the model the last run saved, from now on."""
        if self._stored is None:
            return False
        self._recognition.load_model(self._stored.model)
        if self._dialog is not None:
            self._dialog.show_model_in_use()
        self._window.show_message(f"Recognising with {self._stored.model.name}", 5000)
        return True

    def shutdown(self) -> None:
        """The window is closing: stop a run (its checkpoint stays for Continue)."""
        self._process.shutdown()

    # --- inside --------------------------------------------------------------------------

    def _make_dialog(self) -> FineTuneDialog:
        # imported when first needed: matplotlib adds most of a second to the start-up
        from app.widgets.finetune_dialog import FineTuneDialog

        dialog = FineTuneDialog(self._bases(), training_devices(), self._window.dialog_parent)
        dialog.trainRequested.connect(self.start)
        dialog.cancelRequested.connect(self.cancel)
        dialog.continueRequested.connect(self.continue_training)
        dialog.useModelRequested.connect(self.use_model)
        dialog.newRunRequested.connect(self._new_run)
        current = self._recognition.model
        if current is not None:
            dialog.select_base("model", current.path)
        elif not dialog.select_base("model", bundled_demo_model() or Path("-")):
            dialog.select_base("scratch")
        restore_choices(self._settings, dialog)
        return dialog

    def _new_run(self) -> None:
        if self._dialog is None or self.is_training() or self._project is None:
            return
        self._dialog.set_bases(self._bases())
        current = self._recognition.model
        if current is not None:  # what the window recognises with now, by default
            self._dialog.select_base("model", current.path)
        self._dialog.show_settings()
        self._refresh_check()

    def _bases(self) -> list[BaseModel]:
        current = self._recognition.model
        return base_models(current.path if current is not None else None, bundled_demo_model())

    def _refresh_check(self) -> ProjectCheck:
        assert self._project is not None
        if self._source is not None:  # the labeller saves its edits a moment later on its own
            self._source.flush()
        self._check = check_project(self._project)
        if self._dialog is not None:
            self._dialog.set_project(self._project, self._check)
        return self._check

    def _show_finished(self, state: RunState) -> bool:
        """A finished run's results in the dialog, with "Use this model"."""
        if state.model_path is None:
            return False
        if self._dialog is None:
            self._dialog = self._make_dialog()
        results = read_run_results(state.run_dir, state.model_path)
        stored = finished_run_model(state, state.model_path, results)
        self._stored, self._run, self._run_dir = stored, resume_settings(state), state.run_dir
        self._run_name = state.run_dir.name
        heading = (f"Fine-tuning on {state.project.name}" if state.project is not None
                   else state.run_dir.name)
        dialog = self._dialog
        dialog.show_history(heading, epochs=state.total_epochs,
                            history=epochs_from_metrics(results.history),
                            caption=f"Finished earlier; run folder: {state.run_dir}",
                            classes=max(2, len(results.class_names)))
        dialog.show_results(results, stored.model)
        dialog.show()
        dialog.raise_()
        return True

    def _launch(self, settings: FineTuneSettings, arguments: list[str], *,
                resumed: bool, start_epoch: int = 1) -> bool:
        assert self._dialog is not None
        self._run, self._run_dir, self._stored = settings, settings.run_dir, None
        self._epoch, self._epochs = start_epoch, settings.epochs
        if not resumed:
            settings.run_dir.parent.mkdir(parents=True, exist_ok=True)
        self._recent.remember(settings.run_dir)
        heading = f"Fine-tuning on {settings.project.name}"
        classes = len(self._check.classes) if self._check is not None else 2
        self._dialog.show_running(heading, epochs=settings.epochs, classes=classes,
                                  resumed=resumed)
        self._show_status("Training: starting…")
        self._process.start(trainer_command(arguments), settings.run_dir)
        self._update_action()
        return True

    def _on_event(self, event: Event) -> None:
        if self._dialog is not None:
            self._dialog.on_event(event)
        if isinstance(event, RunStarted):
            self._epochs = event.total_epochs
            self._epoch = min(event.total_epochs, event.start_epoch + 1)
        elif isinstance(event, StepProgress):
            self._epoch = event.epoch
            self._show_status(f"Training: epoch {event.epoch}/{self._epochs}, "
                              f"{format_duration(event.eta_s)} left")
        elif isinstance(event, EpochEnded):
            self._epoch = min(self._epochs or event.epoch, event.epoch + 1)
            if event.val_acc is not None:
                log.info("epoch %d: validation accuracy %.3f", event.epoch, event.val_acc)

    def _on_finished(self, outcome: TrainingOutcome) -> None:
        self._show_status("")
        self._update_action()
        results = read_run_results(outcome.run_dir, outcome.model_path)
        stored: StoredModel | None = None
        if self._run is not None:  # into the project the run trained on
            try:
                stored = store_model(results, self._run.project.parent / MODELS_FOLDER,
                                     self._run_name, about=run_about(self._run))
            except OSError as exc:
                self._present_error("Cannot save the model",
                                    f"The model is still in {outcome.run_dir}, but copying it "
                                    f"into the project failed: {exc}")
        self._stored = stored
        if self._dialog is not None:
            self._dialog.show_results(results, stored.model if stored else None)
        if stored is not None:
            self._window.show_message(
                f"Training finished: {stored.model.name} saved in the project", 8000)
            self.modelStored.emit(stored)

    def _on_cancelled(self, outcome: TrainingOutcome) -> None:
        self._show_status("")
        self._update_action()
        if self._dialog is not None:
            self._dialog.show_cancelled(outcome.message,
                                        can_continue=outcome.checkpoint is not None)

    def _on_failed(self, outcome: TrainingOutcome) -> None:
        self._show_status("")
        self._update_action()
        log.error("training failed: %s\n%s", outcome.message, outcome.details)
        if self._dialog is not None:
            self._dialog.show_failed(outcome.message, outcome.details)
            self._dialog.show()

    def _show_status(self, text: str) -> None:
        self._status_label.setText(text)
        self._status_label.setVisible(bool(text))

    def _update_action(self) -> None:
        self.fine_tune_action.setEnabled(self.is_training() or (
            self._project is not None and self._project.is_file()))
