"""What a training run trains on: the clip indexes of --data / --val-data (or a stratified
--val-share of the training clips), checked to be trainable, as data sets of clips made as the
config's input spec says."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import Dataset

from stmanet.config import TrainConfig
from stmanet.errors import ConfigError

if TYPE_CHECKING:
    from stmanet.data.clips import ClipIndex


@dataclass
class TrainData:
    """What the trainer trains on: data sets of (clip (3, T, S, S), label) and class names."""

    train: Dataset
    class_names: list[str]
    val: Dataset | None = None
    description: dict[str, Any] = field(default_factory=dict)


def parse_source(text: str) -> tuple[str, Path]:
    """`KIND:PATH` -> (kind, path); a bare path is a folder of class folders."""
    kinds = ("ucf101", "hmdb51", "diving48", "folder", "project")
    kind, sep, rest = text.partition(":")
    if sep and kind.lower() in kinds:
        return kind.lower(), Path(rest).expanduser()
    if sep and len(kind) > 1 and "/" not in kind and "\\" not in kind:
        raise ConfigError(f"unknown data kind {kind!r} in {text!r}; use one of "
                          f"{', '.join(kinds)} as KIND:PATH")
    return "folder", Path(text).expanduser()


def split_by_class(index: ClipIndex, share: float, seed: int,
                   ) -> tuple[ClipIndex, ClipIndex]:
    """Split a ClipIndex into (train, val), holding out `share` of every class.

    Stratified and reproducible: the same index, share and seed give the same split. A class
    with two or more clips gives at least one to validation and keeps at least one.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, record in enumerate(index.records):
        by_class.setdefault(int(record.label), []).append(i)
    val_ids: set[int] = set()
    for label in sorted(by_class):
        ids = by_class[label]
        count = len(ids)
        take = min(count - 1, max(1, round(count * share))) if count >= 2 else 0
        chosen = rng.permutation(count)[:take]
        val_ids.update(ids[j] for j in chosen)
    train = [r for i, r in enumerate(index.records) if i not in val_ids]
    val = [r for i, r in enumerate(index.records) if i in val_ids]
    return (dataclasses.replace(index, records=train, skipped=list(index.skipped)),
            dataclasses.replace(index, records=val, skipped=[]))


def align_classes(index: ClipIndex, class_names: list[str]) -> ClipIndex:
    """Relabel `index` to the class order `class_names` (matched by name)."""
    position = {name: i for i, name in enumerate(class_names)}
    unknown = [n for n in index.class_names if n not in position]
    used = {index.class_names[r.label] for r in index.records}
    unknown = [n for n in unknown if n in used]
    if unknown:
        raise ConfigError(f"the validation data has classes the training data lacks: "
                          f"{', '.join(unknown[:5])}")
    records = [dataclasses.replace(r, label=position[index.class_names[r.label]])
               for r in index.records]
    return dataclasses.replace(index, records=records, class_names=list(class_names))


def load_index(source: str, *, annotations: str | None, split: int, subset: str,
               ) -> ClipIndex:
    from stmanet.data.sources import load_source

    kind, root = parse_source(source)
    return load_source(kind, root, annotations=Path(annotations) if annotations else None,
                       split=split, subset=subset)


def build_data(config: TrainConfig) -> TrainData:
    """Clip indexes and data sets for a config's --data / --val-data / --val-share, their
    clips made as `config.input_spec` says."""
    from stmanet.data.clips import ClipDataset

    if not config.data:
        raise ConfigError("no training data: give --data KIND:PATH (e.g. folder:/data/drills)")
    index = load_index(config.data, annotations=config.annotations, split=config.split,
                       subset="train")
    if not index.records:
        raise ConfigError(f"no training clips found in {config.data}")
    val_index = None
    if config.val_data:
        val_index = load_index(config.val_data, annotations=config.annotations,
                               split=config.split, subset="test")
        val_index = align_classes(val_index, list(index.class_names))
    elif config.val_share > 0:
        index, val_index = split_by_class(index, config.val_share, config.seed)
    _check_trainable(index, config)
    names = list(index.class_names)
    spec = config.input_spec
    train = ClipDataset(index, spec, train=True, seed=config.seed, min_crop=config.min_crop)
    val = ClipDataset(val_index, spec, train=False, seed=config.seed) if val_index else None
    if val is not None and len(val) == 0:
        val = None
    return TrainData(train, names, val, {"train": config.data,
                                         "val": config.val_data or (
                                             f"{config.val_share:g} of train"
                                             if config.val_share else None)})


def _check_trainable(index: ClipIndex, config: TrainConfig) -> None:
    """ConfigError naming the data when its training clips cannot train a classifier: fewer
    than two clips (BatchNorm learns from batches of two or more), or clips of one class only
    (the model would answer that class, at full confidence, for everything)."""
    held = (f" once --val-share {config.val_share:g} has held out validation clips"
            if not config.val_data and config.val_share > 0 else "")
    count = len(index.records)
    if count < 2:
        advice = " or lower --val-share" if held else ""
        raise ConfigError(f"{config.data}: {count} training clip{held}; training needs at "
                          f"least 2 (batches of two or more clips): add clips{advice}")
    labels = sorted({int(r.label) for r in index.records})
    if len(labels) < 2:
        name = index.class_names[labels[0]]
        raise ConfigError(f"{config.data}: every training clip{held} is of class {name!r}; "
                          "a model trained on one class answers it for every video: add "
                          "clips of at least one other class")
