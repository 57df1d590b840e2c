"""The fine-tuning dialog's charts: training curves and the confusion matrix.

Both are matplotlib figures in Qt widgets, coloured like the rest of the window (app/theme.py).
`TrainingCurves` follows a run as it trains, redrawing only its lines while the axes stay
put; `ConfusionView` shows a finished run's validation confusion matrix.
"""

from __future__ import annotations

import math

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from app.names import display_name
from app.theme import ACCENT, BORDER, PANEL, RAISED, TEXT, TEXT_MUTED
from stmanet.engine.events import EpochEnded, StepProgress

VAL_COLOR = "#6aa9ff"


def _style_axes(ax, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, fontsize=9, loc="left")
    ax.tick_params(colors=TEXT_MUTED, labelsize=8)
    for spine in ax.spines.values():
        spine.set_color(BORDER)
    ax.grid(True, color=BORDER, linewidth=0.6)
    ax.set_xlabel("epoch", color=TEXT_MUTED, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


class TrainingCurves(FigureCanvasQTAgg):
    """Loss and accuracy per epoch, training and validation, plus the running training
    values within the epoch under way.

    A full matplotlib draw takes a tenth of a second or more on a slow CPU, so the axes are
    drawn only when their scale changes (or the widget is resized); new points redraw just
    the lines over the saved background (blitting), at most every REDRAW_MS."""

    REDRAW_MS = 500

    def __init__(self, parent: QWidget | None = None) -> None:
        self._figure = Figure(figsize=(6.4, 2.4), dpi=100, facecolor=PANEL)
        super().__init__(self._figure)
        self.setParent(parent)
        self.setMinimumHeight(190)
        self._loss_ax, self._acc_ax = self._figure.subplots(1, 2)
        self._figure.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.86, wspace=0.22)
        for ax, title in ((self._loss_ax, "Loss"), (self._acc_ax, "Accuracy")):
            _style_axes(ax, title)
        self._acc_ax.set_ylim(0, 1.02)
        self._acc_ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        faint = {"color": ACCENT, "alpha": 0.35, "linewidth": 1, "animated": True}
        train = {"color": ACCENT, "marker": "o", "markersize": 3, "linewidth": 1.5,
                 "animated": True}
        val = {**train, "color": VAL_COLOR}
        self._lines = {
            "loss_steps": self._loss_ax.plot([], [], **faint)[0],
            "acc_steps": self._acc_ax.plot([], [], **faint)[0],
            "loss_train": self._loss_ax.plot([], [], label="training", **train)[0],
            "acc_train": self._acc_ax.plot([], [], label="training", **train)[0],
            "loss_val": self._loss_ax.plot([], [], label="validation", **val)[0],
            "acc_val": self._acc_ax.plot([], [], label="validation", **val)[0],
        }
        legend = self._figure.legend(
            handles=[self._lines["acc_train"], self._lines["acc_val"]], loc="upper right",
            ncols=2, fontsize=8, frameon=False, bbox_to_anchor=(0.99, 1.0))
        for text in legend.get_texts():
            text.set_color(TEXT_MUTED)
        self._backgrounds: dict[object, object] | None = None
        self.mpl_connect("draw_event", self._on_full_draw)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.REDRAW_MS)
        self._timer.timeout.connect(self._update_lines)
        self.full_draws = 0  # how often the whole figure was drawn (tests watch it)
        self.reset(1)

    def reset(self, epochs: int, classes: int = 2) -> None:
        """Empty curves for a run of `epochs` epochs over `classes` classes."""
        self.steps: list[tuple[float, float | None, float]] = []  # (x, loss, accuracy)
        self.epochs: list[EpochEnded] = []
        # a classifier starts near a loss of ln(classes): room above that, so the axes
        # (a full draw) seldom have to change
        self._loss_top = round(1.5 * math.log(max(2, classes)) + 0.3, 1)
        self._loss_ax.set_ylim(0, self._loss_top)
        self._total = 0
        self.set_total_epochs(epochs)

    def set_total_epochs(self, epochs: int) -> None:
        if max(1, epochs) == self._total:
            return
        self._total = max(1, epochs)
        for ax in (self._loss_ax, self._acc_ax):
            ax.set_xlim(0, self._total)
        self._set_data()
        self._backgrounds = None
        self.draw_idle()

    def add_step(self, event: StepProgress) -> None:
        x = event.epoch - 1 + event.step / max(1, event.steps)
        self.steps.append((x, event.loss, event.accuracy))
        self._schedule()

    def add_epoch(self, event: EpochEnded) -> None:
        self.epochs = [e for e in self.epochs if e.epoch != event.epoch] + [event]
        self.flush()  # once an epoch: show it at once

    def flush(self) -> None:
        """Draw what has come in now (the run ended)."""
        self._timer.stop()
        self._update_lines()

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _set_data(self) -> bool:
        """Give the lines their points; True when the loss axis had to grow."""
        def values(items: list, get) -> list[float]:
            return [math.nan if get(i) is None else float(get(i)) for i in items]

        xs = [s[0] for s in self.steps]
        step_loss = values(self.steps, lambda s: s[1])
        self._lines["loss_steps"].set_data(xs, step_loss)
        self._lines["acc_steps"].set_data(xs, values(self.steps, lambda s: s[2]))
        epochs = [e.epoch for e in self.epochs]
        train_loss = values(self.epochs, lambda e: e.train_loss)
        val_loss = values(self.epochs, lambda e: e.val_loss)
        self._lines["loss_train"].set_data(epochs, train_loss)
        self._lines["acc_train"].set_data(epochs, values(self.epochs, lambda e: e.train_acc))
        self._lines["loss_val"].set_data(epochs, val_loss)
        self._lines["acc_val"].set_data(epochs, values(self.epochs, lambda e: e.val_acc))
        # the training loss sets the scale; a validation loss far above it (an untrained
        # classifier's first epochs) runs off the top rather than flattening the rest
        train_high = max((v for v in step_loss + train_loss if math.isfinite(v)), default=0.0)
        highest = max((v for v in [*step_loss, *train_loss, *val_loss]
                       if math.isfinite(v) and v <= 3 * train_high), default=0.0)
        if highest > self._loss_top:
            self._loss_top = highest * 1.3
            self._loss_ax.set_ylim(0, self._loss_top)
            return True
        return False

    def _on_full_draw(self, _event: object) -> None:
        self.full_draws += 1
        self._backgrounds = {ax: self.copy_from_bbox(ax.bbox)
                             for ax in (self._loss_ax, self._acc_ax)}
        self._draw_lines()

    def _draw_lines(self) -> None:
        for line in self._lines.values():
            line.axes.draw_artist(line)

    def _update_lines(self) -> None:
        rescaled = self._set_data()
        if rescaled or self._backgrounds is None:
            self.draw_idle()  # the axes change: a full draw, then the lines over it
            return
        for background in self._backgrounds.values():
            self.restore_region(background)
        self._draw_lines()
        for ax in self._backgrounds:
            self.blit(ax.bbox)


class ConfusionView(FigureCanvasQTAgg):
    """The confusion matrix: rows the true action, columns the predicted one; each cell's
    count, coloured by its share of the row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self._figure = Figure(figsize=(3.2, 2.8), dpi=100, facecolor=PANEL,
                              layout="constrained")
        super().__init__(self._figure)
        self.setParent(parent)
        self.setMinimumSize(260, 220)
        self.matrix: list[list[int]] = []
        self.class_names: list[str] = []
        self._colors = LinearSegmentedColormap.from_list("share", [RAISED, ACCENT])

    def set_matrix(self, matrix: list[list[int]], class_names: list[str]) -> None:
        self.matrix, self.class_names = matrix, class_names
        self._figure.clear()
        ax = self._figure.add_subplot(1, 1, 1)
        ax.set_facecolor(PANEL)
        k = len(class_names)
        if k:
            rows = [sum(r) or 1 for r in matrix]
            shares = [[v / rows[i] for v in row] for i, row in enumerate(matrix)]
            ax.imshow(shares, cmap=self._colors, vmin=0.0, vmax=1.0)
            names = [display_name(n) for n in class_names]
            short = [n if len(n) <= 14 else n[:13] + "…" for n in names]
            font = 8 if k <= 8 else 6
            ax.set_xticks(range(k), labels=short, rotation=30, ha="right", fontsize=font,
                          color=TEXT_MUTED)
            ax.set_yticks(range(k), labels=short, fontsize=font, color=TEXT_MUTED)
            if k <= 15:
                for i in range(k):
                    for j in range(k):
                        ax.text(j, i, str(matrix[i][j]), ha="center", va="center",
                                fontsize=9 if k <= 8 else 7,
                                color="#0b0c0d" if shares[i][j] > 0.5 else TEXT)
            ax.set_xlabel("predicted", color=TEXT_MUTED, fontsize=8)
            ax.set_ylabel("true action", color=TEXT_MUTED, fontsize=8)
            for spine in ax.spines.values():
                spine.set_color(BORDER)
            ax.tick_params(length=0)
        self.draw_idle()
