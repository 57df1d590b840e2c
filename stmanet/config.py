"""Configuration dataclasses: the one source of truth for what a model is."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from stmanet.errors import ConfigError

BASIC_DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
BOTTLENECK_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
DEPTHS = {**BASIC_DEPTHS, **BOTTLENECK_DEPTHS}


MAX_WIDTH = 8.0
MAX_CLASSES = 100_000
MAX_FRAMES = 512
MAX_FRAME_STRIDE = 64
MIN_SIZE, MAX_SIZE = 16, 1024
MAX_CLIP_PIXELS = 2**25  # frames x size x size: 32 x 112 x 112 is 0.4 million


def _is_number(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or not low <= value <= high):
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; stored in every checkpoint."""

    depth: int = 50  # 10 / 18 / 34 (basic blocks), 50 / 101 (bottlenecks)
    width: float = 1.0  # multiplies every stage's channel count (64, 128, 256, 512)
    num_classes: int = 101
    tda: bool = True  # temporal deep aggregation at stages 2-5
    sda: bool = True  # spatial deep aggregation at stages 2-5
    mf: bool = True  # multi-level fusion head (off: classifier on stage 5 only)
    qk_reduction: int = 16  # query/key channels d = C_i / qk_reduction
    value_reduction: int = 8  # value channels C_v = C_i / value_reduction
    dropout: float = 0.5  # before the classifier
    conv1_t_size: int = 7  # temporal kernel of the stem convolution (Hara et al.: 7)
    conv1_t_stride: int = 1

    def __post_init__(self) -> None:
        if self.depth not in DEPTHS:
            raise ConfigError(f"depth must be one of {sorted(DEPTHS)}, not {self.depth}")
        if not _is_number(self.width) or not 0.0 < self.width <= MAX_WIDTH:
            raise ConfigError(f"width must be in (0, {MAX_WIDTH:g}], not {self.width}")
        _check_int("num_classes", self.num_classes, 1, MAX_CLASSES)
        _check_int("qk_reduction", self.qk_reduction, 1, 1024)
        _check_int("value_reduction", self.value_reduction, 1, 1024)
        _check_int("conv1_t_size", self.conv1_t_size, 1, 15)
        _check_int("conv1_t_stride", self.conv1_t_stride, 1, 8)
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def bottleneck(self) -> bool:
        return self.depth in BOTTLENECK_DEPTHS

    @property
    def is_baseline(self) -> bool:
        """All three ST-MANet switches off: a plain 3D ResNet."""
        return not (self.tda or self.sda or self.mf)

    def replace(self, **changes: Any) -> ModelConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown model option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown model option(s): {', '.join(sorted(unknown))}")
        return cls(**data)


# Kinetics statistics used by Hara et al.'s checkpoints (pixel values scaled to [0, 1]).
KINETICS_MEAN = (0.4345, 0.4051, 0.3775)
KINETICS_STD = (0.2768, 0.2713, 0.2737)


@dataclass(frozen=True)
class InputSpec:
    """What a clip must look like before it enters the network; stored with the model."""

    frames: int = 32  # frames the network sees per clip
    frame_stride: int = 2  # every n-th source frame is kept (a 64-frame window -> 32 frames)
    size: int = 112  # square crop side in pixels
    mean: tuple[float, float, float] = field(default=KINETICS_MEAN)
    std: tuple[float, float, float] = field(default=KINETICS_STD)

    def __post_init__(self) -> None:
        _check_int("frames", self.frames, 1, MAX_FRAMES)
        _check_int("frame_stride", self.frame_stride, 1, MAX_FRAME_STRIDE)
        _check_int("size", self.size, MIN_SIZE, MAX_SIZE)
        if self.frames * self.size * self.size > MAX_CLIP_PIXELS:
            raise ConfigError(f"a clip of {self.frames} frames of {self.size}x{self.size} is "
                              f"too large: frames x size x size must be at most "
                              f"{MAX_CLIP_PIXELS}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != 3 or not all(_is_number(v) for v in values):
                raise ConfigError(f"{name} must be 3 finite numbers (R, G, B), not {values}")
        if not all(v > 0 for v in self.std):
            raise ConfigError(f"std must be 3 positive numbers, not {self.std}")

    @property
    def window(self) -> int:
        """Source frames one clip spans."""
        return self.frames * self.frame_stride

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        data = dict(data)
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        return cls(**data)


FREEZE_MODES = ("none", "backbone", "early", "head")
AMP_MODES = ("auto", "off", "bf16", "fp16")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("step", "cosine")


def _option(default: Any, help: str, **kwargs: Any) -> Any:
    """A config field with its command-line help text beside it."""
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Every field but mean and std is a `stmanet train` flag (`--lr-step`
    for `lr_step`); the resolved config is written as config.json into the run folder and
    into every model saved by the run. Defaults are the paper's recipe (section 4.1).

    Paths are kept as text so that the config is exactly its JSON document.
    """

    # data
    data: str = _option("", "training data as KIND:PATH, KIND one of ucf101, hmdb51, diving48, "
                        "folder, project (e.g. folder:/data/drills)")
    annotations: str | None = _option(None, "split files of ucf101 / hmdb51 / diving48 "
                                      "(default: looked for beside the videos)")
    split: int = _option(1, "official split number (1-3 for ucf101 and hmdb51)")
    val_data: str | None = _option(None, "validation data as KIND:PATH (its test subset)")
    val_share: float = _option(0.0, "hold out this share of every class of the training data "
                               "for validation (used when --val-data is not given)")
    # model and input
    model: str = _option("stmanet_r50", "model name (see `stmanet models`)")
    model_overrides: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "model option KEY=VALUE, e.g. tda=off or width=0.5 (repeatable)", "flag": "set"})
    frames: int = _option(32, "frames per clip the network sees")
    frame_stride: int = _option(2, "keep every n-th source frame (32 x 2 = 64-frame windows)")
    size: int = _option(112, "square crop side in pixels")
    # Pixel statistics the clips are normalised with (values scaled to [0, 1]); not flags.
    # With --init they are the init model's, so that a model is fed at inference exactly as
    # it was in training (resolve_input in stmanet/engine/init.py).
    mean: tuple[float, float, float] = field(default=KINETICS_MEAN, metadata={"flag": None})
    std: tuple[float, float, float] = field(default=KINETICS_STD, metadata={"flag": None})
    # optimisation: SGD with momentum, step schedule
    epochs: int = _option(90, "number of epochs")
    batch_size: int = _option(32, "clips per step (per process under torchrun)")
    lr: float = _option(0.01, "initial learning rate")
    momentum: float = _option(0.9, "SGD momentum")
    # Not stated in the paper; 1e-3 is Hara et al.'s training default for 3D ResNets.
    weight_decay: float = _option(1e-3, "SGD weight decay")
    lr_step: int = _option(15, "multiply the learning rate by --lr-gamma every this many epochs")
    lr_gamma: float = _option(0.1, "learning rate factor at every step")
    optimizer: str = _option("sgd", "sgd (the paper's, with --momentum) or adamw (often "
                             "quicker on small data sets; try --lr 0.002)",
                             choices=OPTIMIZERS)
    schedule: str = _option("step", "learning-rate schedule: step (x --lr-gamma every "
                            "--lr-step epochs) or cosine (down to 0 over the run)",
                            choices=SCHEDULES)
    lambda_spatial: float = _option(0.01, "weight of the spatial diversity loss (lambda_1)")
    lambda_temporal: float = _option(0.001, "weight of the temporal diversity loss (lambda_2)")
    label_smoothing: float = _option(0.0, "label smoothing of the cross-entropy")
    mixup: float = _option(0.0, "mixup: blend every training batch with itself shuffled, "
                           "clips and labels alike, by a weight drawn from Beta(a, a) per step "
                           "(0: off; 0.2-0.4 usual)")
    min_crop: float = _option(0.5, "smallest training crop side as a share of the frame's "
                              "shorter side (the paper: 0.5; raise it where the subject is "
                              "small in the frame)")
    # fine-tuning
    init: str | None = _option(None, "start from this ST-MANet model (.safetensors); the "
                               "classifier is re-made when the class count differs")
    hara: str | None = _option(None, "start from Hara et al.'s Kinetics weights (.pth)")
    freeze: str = _option("none", "parts kept fixed: none; backbone (train the classifier "
                          "only); early (stem and stages 2-3 of the 3D ResNet); head (the "
                          "whole 3D ResNet, train the aggregation modules and the classifier)",
                          choices=FREEZE_MODES)
    # running
    seed: int = _option(0, "seed of every random choice (weights, data order, augmentation)")
    workers: int = _option(4, "data-loading processes (0: load in the training process)")
    device: str = _option("auto", "auto (cuda when available, else cpu), cpu, cuda, cuda:N")
    amp: str = _option("auto", "mixed precision: auto (bf16 or fp16 on CUDA, off on CPU), "
                       "off, bf16, fp16", choices=AMP_MODES)
    output: str = _option("runs/train", "run folder: config, metrics, checkpoints, models")
    keep_best: bool = _option(True, "save the model with the best validation accuracy as "
                              "best.safetensors")
    openset: bool = _option(True, "after training, fit the open-set statistics of the saved "
                            "models on the training clips (threshold from the validation "
                            "clips), so that they tell footage of none of their classes: one "
                            "pass over every window of those clips")
    openset_mirror: bool = _option(True, "fit the open-set statistics on every window averaged "
                                   "with its mirror image, so that the models predict every "
                                   "window so: two passes of the network a window, fewer "
                                   "unknowns missed (docs/model.md); off: each window once, "
                                   "twice as fast where speed counts (a large model on a CPU)")
    preset: str | None = _option(None, "named set of defaults the run started from")

    def __post_init__(self) -> None:
        for name in ("mean", "std"):  # a JSON list read back from config.json
            value = getattr(self, name)
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{name} must be 3 numbers (R, G, B), not {value!r}")
            object.__setattr__(self, name, tuple(value))
        if self.freeze not in FREEZE_MODES:
            raise ConfigError(f"freeze must be one of {', '.join(FREEZE_MODES)}, "
                              f"not {self.freeze!r}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                              f"not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, "
                              f"not {self.schedule!r}")
        if self.init and self.hara:
            raise ConfigError("give either --init (an ST-MANet model) or --hara (Kinetics "
                              "weights of Hara et al.), not both")
        for name in ("epochs", "batch_size", "frames", "frame_stride", "size", "lr_step"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.workers < 0:
            raise ConfigError(f"workers must be 0 or more, not {self.workers}")
        if not 0.0 <= self.val_share < 1.0:
            raise ConfigError(f"val_share must be in [0, 1), not {self.val_share}")
        if not 0.0 < self.min_crop <= 1.0:
            raise ConfigError(f"min_crop must be in (0, 1], not {self.min_crop}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")
        if not 0.0 <= self.mixup <= 10.0:  # NaN too
            raise ConfigError(f"mixup must be in [0, 10], not {self.mixup}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, not {self.lr}")
        self.input_spec  # noqa: B018 - refuses frames, frame_stride, size, mean, std out of range

    @property
    def input_spec(self) -> InputSpec:
        """What the run's clips look like: the data pipeline makes them so, and every model
        the run saves carries it."""
        return InputSpec(frames=self.frames, frame_stride=self.frame_stride, size=self.size,
                         mean=self.mean, std=self.std)

    def replace(self, **changes: Any) -> TrainConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**data)


# Named sets of TrainConfig defaults for `stmanet train --preset NAME`; flags given on the
# command line win over a preset.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},  # the paper's recipe: the TrainConfig defaults
    # The shipped demo model (resources/models/demo.safetensors): a quarter-width ST-MANet-10
    # on 16 frames of 64x64, trained on 300 generated clips per drill (`stmanet synth ...
    # --clips-per-class 300 --seed 1000`) in about half an hour on a 2-core CPU. AdamW with a
    # cosine schedule learns this small data set far faster than the paper's SGD steps, and
    # crops of 0.8-1.0 of the frame keep the figure whole (docs/training.md).
    "demo": {
        "model": "stmanet_r10",
        "model_overrides": {"width": 0.25, "dropout": 0.2},
        "frames": 16,
        "frame_stride": 2,
        "size": 64,
        "epochs": 40,
        "batch_size": 16,
        "optimizer": "adamw",
        "schedule": "cosine",
        "lr": 0.005,
        "weight_decay": 0.01,
        "min_crop": 0.8,
        "workers": 1,
        "output": "runs/demo",
    },
}
