"""The fine-tuning dialog: choose how to train, watch it train, see what came out.

Two pages. Settings (app/widgets/finetune_settings.py): what the project holds (and what
stands in the way of training), the model to start from, what to train, epochs, learning
rate, batch size, validation share, device, whether the new model also looks at the
footage flipped left to right when telling unknown actions, and free-text extra `stmanet
train` flags. Run (app/widgets/finetune_run.py): a progress bar with the time left, live
loss and accuracy curves (app/widgets/training_charts.py), and at the end the validation
accuracy, which epoch's model was kept and why (and that the choice is noisy when few
windows were kept aside), per-class accuracy and the confusion matrix, or why the run
stopped. The dialog only shows and asks; the FineTuneController (app/training.py) runs the
training process and stores the model.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QStackedWidget, QVBoxLayout, QWidget

from app.services.training_plan import BaseModel
from app.widgets.finetune_run import RunPage
from app.widgets.finetune_settings import SettingsPage


class FineTuneDialog(SettingsPage, RunPage, QDialog):
    """Signals: trainRequested(FormValues), cancelRequested(), continueRequested(),
    useModelRequested(), newRunRequested(): the controller acts on them.

    Not modal: closing it only hides it, a run goes on, and Train ▸ Fine-tune on project…
    shows it again."""

    trainRequested = Signal(object)
    cancelRequested = Signal()
    continueRequested = Signal()
    useModelRequested = Signal()
    newRunRequested = Signal()

    def __init__(self, bases: list[BaseModel], devices: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fineTuneDialog")
        self.setWindowTitle("Fine-tune on project")
        self.setModal(False)
        self.resize(860, 680)

        self._pages = QStackedWidget(self)
        self._pages.addWidget(self._build_settings_page(bases, devices))
        self._pages.addWidget(self._build_run_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addWidget(self._pages)

    def show_settings(self) -> None:
        self._pages.setCurrentIndex(0)

    def on_settings_page(self) -> bool:
        return self._pages.currentIndex() == 0
