"""Which epoch's model a training run keeps, from its validation results, and why.

Every epoch is validated on every window of every validation clip (the windows `stmanet
evaluate` cuts). The rules:

1. Better = more windows right; at equal accuracy, the lower validation loss. (The first epoch
   that reaches the top accuracy is not kept just for being first: later epochs at the same
   accuracy usually have learned more, and the loss says by how much.)
2. With fewer than NOISY_WINDOWS (20) validation windows one window moves the accuracy by 5
   points or more, so the choice is noisy: the LAST epoch is kept unless an earlier one is
   clearly better, meaning at least CLEAR_MARGIN (2) more windows right AND a lower validation
   loss. Both must hold: two windows out of fewer than twenty can still be luck, but not
   when the loss agrees.
3. Without validation data the last epoch is kept.

`choose_epoch` applies them to the rows of metrics.jsonl; the `Selection` it returns goes into
the run's report.json and its RunFinished event (`selection`: epoch, reason, noisy, ...), for
a person or a program (the app's fine-tune dialog) to read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

NOISY_WINDOWS = 20
CLEAR_MARGIN = 2


@dataclass(frozen=True)
class Selection:
    """The kept epoch (1-based) and why."""

    epoch: int
    reason: str
    val_acc: float | None = None
    val_loss: float | None = None
    val_windows: int = 0
    noisy: bool = False
    best_epoch: int | None = None  # the best by rule 1, whether kept or not
    last_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _validated(row: Mapping[str, Any]) -> bool:
    return isinstance(row.get("val_acc"), int | float)


def _windows(row: Mapping[str, Any]) -> int:
    return int(row.get("val_windows") or 0)


def _correct(row: Mapping[str, Any]) -> int:
    return round(float(row["val_acc"]) * _windows(row))


def _loss(row: Mapping[str, Any]) -> float:
    loss = row.get("val_loss")
    return float(loss) if isinstance(loss, int | float) else float("inf")


def better(a: Mapping[str, Any], b: Mapping[str, Any] | None) -> bool:
    """Rule 1: row `a` validates better than row `b` (None: any validated row is better)."""
    if not _validated(a):
        return False
    if b is None or not _validated(b):
        return True
    if a["val_acc"] != b["val_acc"]:
        return float(a["val_acc"]) > float(b["val_acc"])
    return _loss(a) < _loss(b)


def clearly_better(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Rule 2: at least CLEAR_MARGIN more windows right and a lower validation loss."""
    return _correct(a) - _correct(b) >= CLEAR_MARGIN and _loss(a) < _loss(b)


def _accuracy_text(row: Mapping[str, Any]) -> str:
    windows = _windows(row)
    return (f"{_correct(row)}/{windows} windows right, loss {_loss(row):.4f}" if windows
            else f"accuracy {float(row['val_acc']):.4f}, loss {_loss(row):.4f}")


def choose_epoch(history: Sequence[Mapping[str, Any]]) -> Selection | None:
    """The kept epoch of a run's rows (one per epoch, as metrics.jsonl holds them); None
    without rows."""
    if not history:
        return None
    last = history[-1]
    last_epoch = int(last["epoch"])
    best: Mapping[str, Any] | None = None
    for row in history:
        if better(row, best):
            best = row
    if best is None:
        return Selection(last_epoch, "no validation data: the last epoch is kept",
                         last_epoch=last_epoch)
    windows = _windows(last) or _windows(best)
    best_epoch = int(best["epoch"])
    tied = [int(r["epoch"]) for r in history
            if _validated(r) and r["val_acc"] == best["val_acc"]]
    noisy = 0 < windows < NOISY_WINDOWS  # 0: rows written before windows were counted

    def kept(row: Mapping[str, Any], reason: str) -> Selection:
        return Selection(int(row["epoch"]), reason, float(row["val_acc"]), _loss(row),
                         windows, noisy, best_epoch, last_epoch)

    if noisy and _validated(last):
        if best_epoch == last_epoch:
            return kept(last, f"the last epoch is also the best ({_accuracy_text(last)}); "
                              f"only {windows} validation windows, so the choice is noisy")
        if clearly_better(best, last):
            return kept(best, f"epoch {best_epoch} is clearly better than the last "
                              f"({_accuracy_text(best)} against {_accuracy_text(last)}), "
                              f"though only {windows} validation windows make the choice "
                              "noisy")
        return kept(last, f"only {windows} validation windows (fewer than {NOISY_WINDOWS}): "
                          f"the choice is noisy, so the last epoch is kept ({_accuracy_text(last)}"
                          f"); epoch {best_epoch} ({_accuracy_text(best)}) is not clearly "
                          f"better (needs {CLEAR_MARGIN} more windows right and a lower loss)")
    if len(tied) > 1:
        return kept(best, f"the best validation accuracy, {_accuracy_text(best)}, reached by "
                          f"epochs {', '.join(map(str, tied))}; epoch {best_epoch} has the "
                          "lowest loss of them")
    return kept(best, f"the best validation accuracy ({_accuracy_text(best)})")
