"""What a training run trains on: the clip indexes of --data / --val-data (or a stratified
--val-share of the training videos), checked to be trainable, as data sets of clips made as the
config's input spec says: random training clips, and for validation every window of each clip
(`ValidationWindows`, the windows `stmanet evaluate` scores)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from stmanet.config import InputSpec, TrainConfig
from stmanet.errors import ConfigError, VideoError

if TYPE_CHECKING:
    from stmanet.data.clips import ClipIndex

log = logging.getLogger(__name__)


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
    """Split a ClipIndex into (train, val), holding out about `share` of every class, whole
    videos at a time.

    Clips cut from one video (a label project's segments) go to the same side: clips of one
    video look alike (same person, room, light), and one in training would make its
    neighbour in validation an easy guess. Stratified and reproducible: the same index,
    share and seed give the same split. Videos are taken for validation in a random order
    while a class in them still has fewer than round(share x its clips) validation clips (at
    least one), and only when every class in them keeps a training clip; so a class whose
    clips all come from one video has no validation clip.
    """
    rng = np.random.default_rng(seed)
    videos: dict[str, list[int]] = {}
    for i, record in enumerate(index.records):
        videos.setdefault(str(record.path), []).append(i)
    labels = [int(r.label) for r in index.records]
    total = np.bincount(labels, minlength=max(labels, default=-1) + 1)
    target = {c: min(n - 1, max(1, round(n * share))) if n >= 2 else 0
              for c, n in enumerate(total.tolist())}
    held = dict.fromkeys(target, 0)
    val_ids: set[int] = set()
    groups = list(videos.values())
    order = rng.permutation(len(groups)) if groups else []
    for g in order:
        ids = groups[int(g)]
        counts: dict[int, int] = {}
        for i in ids:
            counts[labels[i]] = counts.get(labels[i], 0) + 1
        wanted = any(held[c] < target[c] for c in counts)
        keeps_training = all(total[c] - held[c] - n >= 1 for c, n in counts.items())
        if wanted and keeps_training:
            val_ids.update(ids)
            for c, n in counts.items():
                held[c] += n
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
    val = ValidationWindows(val_index, spec) if val_index else None
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


class ValidationWindows(Dataset):
    """Item i: (every window of clip i as the test protocol cuts it, float32 (N, 3,
    spec.frames, spec.size, spec.size); its label). A clip whose video cannot be read gives
    no windows (N = 0), with a warning naming it once."""

    def __init__(self, index: ClipIndex, spec: InputSpec) -> None:
        self.index = index
        self.spec = spec
        self._frame_counts: dict[str, int] = dict(index.frame_counts)
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.index.records)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        from stmanet.data.clips import test_windows

        record = self.index.records[int(item)]
        try:
            windows = test_windows(record, self.spec,
                                   frame_count=self._frame_counts.get(str(record.path)))
        except VideoError as exc:
            if int(item) not in self._warned:
                self._warned.add(int(item))
                log.warning("validation skips %s: %s", exc.path, exc.reason)
            s = self.spec
            windows = torch.zeros((0, 3, s.frames, s.size, s.size))
        return windows, record.label
