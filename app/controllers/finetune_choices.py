"""What the fine-tune dialog offers and keeps: the models a run can start from, and the
user's last choices (QSettings: UI state only; a run's own config is in its folder)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings

from app.services.training_plan import BaseModel

if TYPE_CHECKING:
    from app.widgets.finetune_dialog import FineTuneDialog
    from app.widgets.finetune_settings import FormValues


def base_models(current: Path | None, demo: Path | None) -> list[BaseModel]:
    """What a run can start from: the model in use (`current`, unless it is the demo
    model), the demo model (`demo`; offered as not installed when None), a new network."""
    bases: list[BaseModel] = []
    if current is not None and (demo is None or current.resolve() != demo.resolve()):
        bases.append(BaseModel("model", current, f"The model in use: {current.name}"))
    bases.append(BaseModel("model", demo, "The demo model" if demo is not None else
                           "The demo model (not installed)"))
    bases.append(BaseModel("scratch", None, "A new network (no pretrained weights)"))
    return bases


def remember_choices(settings: QSettings, values: FormValues) -> None:
    """The dialog's choices, for next time."""
    s = settings
    s.setValue("finetune/freeze", values.freeze)
    s.setValue("finetune/epochs", values.epochs)
    s.setValue("finetune/lr", values.lr)
    s.setValue("finetune/batch_size", values.batch_size)
    s.setValue("finetune/val_percent", round(values.val_share * 100))
    s.setValue("finetune/device", values.device)
    s.setValue("finetune/openset_mirror", values.mirror)


def restore_choices(settings: QSettings, dialog: FineTuneDialog) -> None:
    """The choices remembered last time, in a new dialog."""
    s = settings
    freeze = dialog.freeze_combo.findData(str(s.value("finetune/freeze", "early", type=str)))
    if freeze >= 0 and dialog.freeze_combo.isEnabled():
        dialog.freeze_combo.setCurrentIndex(freeze)
    dialog.epochs_spin.setValue(int(s.value("finetune/epochs", 15, type=int)))
    dialog.lr_spin.setValue(float(s.value("finetune/lr", 0.002, type=float)))
    dialog.batch_spin.setValue(int(s.value("finetune/batch_size", 8, type=int)))
    dialog.val_spin.setValue(int(s.value("finetune/val_percent", 20, type=int)))
    device = dialog.device_combo.findData(str(s.value("finetune/device", "auto", type=str)))
    dialog.device_combo.setCurrentIndex(max(0, device))
    dialog.mirror_check.setChecked(bool(s.value("finetune/openset_mirror", True, type=bool)))
