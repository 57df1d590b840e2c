"""Classification metrics: top-k accuracy, per-class accuracy, confusion matrix, and files.

Everything works on numpy arrays: `scores` (N, K) (softmax scores or logits), `labels` (N,).
matplotlib is imported only when a plot is drawn, with the Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stmanet.fileio import atomic_path, atomic_write_text


def topk_correct(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean (N,): the true label is among the k highest scores of its row."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"scores must be (N, K) and labels (N,), got {scores.shape} and "
                         f"{labels.shape}")
    k = min(k, scores.shape[1])
    # a stable sort on the negated scores: ties go to the lower class index, like argmax
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of rows whose true label is among the k highest scores (nan for no rows)."""
    correct = topk_correct(scores, labels, k)
    return float(correct.mean()) if correct.size else math.nan


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError("labels and predictions differ in length")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """(K,) recall of every class from a confusion matrix; nan for a class with no samples."""
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass
class ClassificationReport:
    """Results of an evaluation; `to_dict` is what report.json and model files hold."""

    class_names: list[str]
    count: int
    top1: float
    top5: float
    per_class: dict[str, float | None]
    confusion: list[list[int]]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_scores(cls, scores: np.ndarray, labels: np.ndarray, class_names: list[str],
                    **extra: Any) -> ClassificationReport:
        scores = np.asarray(scores, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        k = len(class_names)
        if scores.ndim != 2 or scores.shape[1] != k:
            raise ValueError(f"scores must be (N, {k}), got {scores.shape}")
        matrix = confusion_matrix(labels, scores.argmax(axis=1) if len(scores) else labels, k)
        recall = per_class_accuracy(matrix)
        return cls(
            class_names=list(class_names),
            count=len(labels),
            top1=_clean(topk_accuracy(scores, labels, 1)) or 0.0,
            top5=_clean(topk_accuracy(scores, labels, 5)) or 0.0,
            per_class={name: _clean(r) for name, r in zip(class_names, recall, strict=True)},
            confusion=matrix.tolist(),
            extra=dict(extra),
        )

    @property
    def confusion_array(self) -> np.ndarray:
        return np.asarray(self.confusion, dtype=np.int64).reshape(len(self.class_names), -1)

    @property
    def mean_class_accuracy(self) -> float | None:
        values = [v for v in self.per_class.values() if v is not None]
        return float(np.mean(values)) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "top1": self.top1, "top5": self.top5,
                "mean_class_accuracy": self.mean_class_accuracy,
                "per_class": dict(self.per_class), "class_names": list(self.class_names),
                "confusion": self.confusion, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassificationReport:
        known = {"count", "top1", "top5", "mean_class_accuracy", "per_class", "class_names",
                 "confusion"}
        return cls(class_names=list(data["class_names"]), count=int(data["count"]),
                   top1=float(data["top1"]), top5=float(data["top5"]),
                   per_class=dict(data["per_class"]), confusion=data["confusion"],
                   extra={k: v for k, v in data.items() if k not in known})

    def summary(self) -> dict[str, Any]:
        """The headline numbers, small enough for a model file's metadata."""
        return {"count": self.count, "top1": self.top1, "top5": self.top5,
                "mean_class_accuracy": self.mean_class_accuracy, **self.extra}

    def to_text(self) -> str:
        lines = [f"clips        {self.count}", f"top-1        {self.top1:.4f}",
                 f"top-5        {self.top5:.4f}"]
        mean = self.mean_class_accuracy
        if mean is not None:
            lines.append(f"mean class   {mean:.4f}")
        width = max((len(n) for n in self.class_names), default=5)
        lines.append("")
        lines.append(f"{'class':{width}s}  accuracy")
        for name, value in self.per_class.items():
            lines.append(f"{name:{width}s}  {'-' if value is None else f'{value:.4f}'}")
        return "\n".join(lines)

    def write_json(self, path: Path | str) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path


def write_confusion_csv(path: Path | str, matrix: np.ndarray, class_names: list[str]) -> Path:
    """Rows: true class; columns: predicted class; first row and column hold the names."""
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["true \\ predicted", *class_names])
    for name, row in zip(class_names, np.asarray(matrix).tolist(), strict=True):
        writer.writerow([name, *row])
    atomic_write_text(path, buffer.getvalue())
    return path


def plot_confusion(path: Path | str, matrix: np.ndarray, class_names: list[str], *,
                   title: str = "Confusion matrix", normalise: bool = True) -> Path:
    """Draw the matrix as a PNG (rows normalised to recall by default)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    matrix = np.asarray(matrix, dtype=np.float64)
    values = matrix
    if normalise:
        totals = matrix.sum(axis=1, keepdims=True)
        values = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    k = len(class_names)
    side = min(24.0, max(4.0, 0.32 * k + 2.5))
    fig = Figure(figsize=(side, side), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalise else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if k <= 60:
        font = 8 if k <= 20 else 5
        ax.set_xticks(range(k), labels=class_names, rotation=90, fontsize=font)
        ax.set_yticks(range(k), labels=class_names, fontsize=font)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if matrix[i, j]:
                        ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center",
                                fontsize=7, color="white" if values[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


class MetricsLog:
    """Appends one row per epoch to metrics.jsonl and metrics.csv in a run folder."""

    COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "best",
               "seconds")

    def __init__(self, run_dir: Path) -> None:
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"

    def truncate_after(self, epoch: int) -> None:
        """Drop rows of epochs after `epoch` (rows an interrupted run wrote past its checkpoint).

        Both files are rewritten atomically: a crash part way leaves each with its previous
        rows or its new ones (metrics.csv is made again from metrics.jsonl on the next try).
        """
        rows = [r for r in self.read() if int(r.get("epoch", 0)) <= epoch]
        if not rows:
            self.jsonl.unlink(missing_ok=True)
            self.csv.unlink(missing_ok=True)
            return
        atomic_write_text(self.jsonl, "".join(json.dumps(row) + "\n" for row in rows))
        with atomic_path(self.csv) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(self._csv_row(row))

    def _csv_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: "" if row.get(k) is None else row.get(k) for k in self.COLUMNS}

    def read(self) -> list[dict[str, Any]]:
        if not self.jsonl.exists():
            return []
        rows = []
        for line in self.jsonl.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut by a crash ends the log
        return rows

    def append(self, row: dict[str, Any]) -> None:
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        new = not self.csv.exists()
        with open(self.csv, "a", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(self._csv_row(row))
