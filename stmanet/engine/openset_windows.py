"""The windows the open-set statistics are fitted on and evaluated with.

`collect_windows` runs every test-protocol window of a data set through a model and keeps
what `OpenSetStats` needs of each (the pooled features of stages 2-5 and the logits);
`fit_from_data` fits a model's statistics from its training data (and validation data for
the threshold); `add_to_model_files` does so for the models a training run saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from stmanet.engine.novelty import run_views
from stmanet.engine.openset import (
    DEFAULT_KNOWN_RATE,
    CancelCheck,
    OpenSetStats,
    ProgressCallback,
    WindowOutputs,
    fit_openset,
    pooled_features,
)

log = logging.getLogger(__name__)


class WindowCollector:
    """Gathers the windows' outputs as `evaluate(..., on_windows=collector)` (or
    `collect_windows`) hands them over: (record number, the model's label, STMANetOutput)."""

    def __init__(self, mirror: bool = False) -> None:
        self.parts: list[tuple[Tensor, Tensor, int, int]] = []
        self.mirror = mirror  # the outputs handed over are averaged with mirror images

    def __call__(self, record: int, label: int, output: Any) -> None:
        self.parts.append((pooled_features(output).cpu(), output.logits.detach().float().cpu(),
                           int(label), int(record)))

    def result(self, index: Any, description: str = "",
               skipped: list[tuple[str, str]] | None = None) -> WindowOutputs:
        classes = [index.class_names[r.label] for r in index.records]
        windows = WindowOutputs.gather(self.parts, classes, description, skipped)
        windows.mirror = self.mirror
        return windows


def collect_windows(model: nn.Module, spec: Any, class_names: Sequence[str], index: Any, *,
                    device: str | torch.device = "cpu", batch_size: int | None = None,
                    workers: int = 0, mirror: bool = False,
                    description: str = "", on_progress: ProgressCallback | None = None,
                    should_cancel: CancelCheck | None = None) -> WindowOutputs:
    """Every test-protocol window (input `spec`) of every clip of `index` through `model`:
    what `fit_openset` and the open-set evaluation work on. Classes are matched to
    `class_names` (the model's) by name, others get label -1; unreadable videos are skipped
    and listed. `mirror`: each window's outputs averaged with its mirror image's
    (`novelty.run_views`), as statistics with `mirror` score them."""
    from stmanet.engine.evaluation import readable_clip_windows
    from stmanet.engine.inference import default_batch_size
    from stmanet.models.prepare import prepare_for_inference

    position = {n: i for i, n in enumerate(class_names)}
    model = prepare_for_inference(model, device)
    collector = WindowCollector(mirror)
    skipped: list[tuple[str, str]] = []
    with torch.no_grad():
        clips = readable_clip_windows(index, spec, skipped, workers=workers,
                                      on_progress=on_progress, should_cancel=should_cancel,
                                      what="open-set statistics")
        for i, label, windows in clips:
            mine = position.get(index.class_names[label], -1)
            for chunk in torch.split(windows, batch_size or default_batch_size(device)):
                collector(i, mine, run_views(model, chunk.to(device), mirror))
    return collector.result(index, description, skipped)


def fit_from_data(model: nn.Module, spec: Any, class_names: Sequence[str], train: Any,
                  val: Any | None = None, *, device: str | torch.device = "cpu",
                  batch_size: int | None = None, workers: int = 0,
                  descriptions: Sequence[str] = ("", ""),
                  known_rate: float = DEFAULT_KNOWN_RATE, score: str = "auto",
                  mirror: bool = True,
                  on_progress: Callable[[str, int, int], None] | None = None,
                  should_cancel: CancelCheck | None = None) -> OpenSetStats:
    """Open-set statistics of `model` from the clips of its training data (a ClipIndex), the
    threshold set on the validation data's windows (`val`) or, without, on the training
    windows; `score` as `fit_openset` takes it. `mirror` (the default): every window averaged
    with its mirror image, here and wherever the statistics score a window (two forward
    passes a window; docs/model.md). `on_progress(what, done, total)` counts clips."""
    def progress(what: str) -> ProgressCallback | None:
        if on_progress is None:
            return None
        return lambda done, total: on_progress(what, done, total)

    fitted = collect_windows(model, spec, class_names, train, device=device,
                             batch_size=batch_size, workers=workers, mirror=mirror,
                             description=descriptions[0],
                             on_progress=progress("training clips"),
                             should_cancel=should_cancel)
    checked = None
    if val is not None and len(val.records):
        checked = collect_windows(model, spec, class_names, val, device=device,
                                  batch_size=batch_size, workers=workers, mirror=mirror,
                                  description=descriptions[1],
                                  on_progress=progress("validation clips"),
                                  should_cancel=should_cancel)
    return fit_openset(model, fitted, checked, score=score, known_rate=known_rate,
                       class_names=list(class_names))


def add_to_model_files(paths: Sequence[Path], train: Any, val: Any | None, *,
                       device: str | torch.device = "cpu", batch_size: int | None = None,
                       workers: int = 0, descriptions: Sequence[str] = ("", ""),
                       on_progress: Callable[[str, int, int], None] | None = None,
                       should_cancel: CancelCheck | None = None,
                       same_weights: bool = False, mirror: bool = True) -> OpenSetStats:
    """Fit the statistics of each model file in `paths` (made by one training run) on its
    training data and write them into the file. `same_weights`: every file holds the same
    weights (fitted once); `mirror` as `fit_from_data` takes it."""
    from stmanet.engine.checkpoint import load_checkpoint, save_checkpoint

    stats = None
    for number, path in enumerate(paths):
        loaded = load_checkpoint(path, device=device)
        if stats is None or not same_weights:
            stats = fit_from_data(loaded.model, loaded.metadata.input,
                                  loaded.metadata.class_names, train, val, device=device,
                                  batch_size=batch_size, workers=workers,
                                  descriptions=descriptions, mirror=mirror,
                                  on_progress=None if on_progress is None else (
                                      lambda what, d, t, n=number: on_progress(
                                          f"{Path(paths[n]).name}: {what}", d, t)),
                                  should_cancel=should_cancel)
        save_checkpoint(path, loaded.model.cpu(), loaded.metadata, openset=stats)
    assert stats is not None
    return stats


def fit_from_specs(loaded: Any, train: str, val: str | None = None, *,
                   annotations: str | None = None, split: int = 1,
                   device: str | torch.device = "cpu", batch_size: int | None = None,
                   workers: int = 0, score: str = "auto", mirror: bool = True,
                   on_progress: Callable[[int, int, str], None] | None = None) -> OpenSetStats:
    """`stmanet evaluate --openset-data TRAIN [--openset-val-data VAL]`: a loaded model's
    statistics from its training data (and validation data, for the threshold), given as
    KIND:PATH; `score` as `fit_openset` takes it. `on_progress(done, total, what)` counts
    clips."""
    from stmanet.data.training_data import load_index

    train_index = load_index(train, annotations=annotations, split=split, subset="train")
    val_index = (load_index(val, annotations=annotations, split=split, subset="test")
                 if val else None)
    return fit_from_data(loaded.model, loaded.metadata.input, loaded.metadata.class_names,
                         train_index, val_index, device=device, batch_size=batch_size,
                         workers=workers, descriptions=(train, val or ""), score=score,
                         mirror=mirror,
                         on_progress=None if on_progress is None else (
                             lambda what, done, total: on_progress(done, total, what)))
