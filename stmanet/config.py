"""Configuration dataclasses: the one source of truth for what a model is."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from stmanet.errors import ConfigError

BASIC_DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
BOTTLENECK_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
DEPTHS = {**BASIC_DEPTHS, **BOTTLENECK_DEPTHS}


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
    stage_heads: bool = False  # extra linear head per stage (the paper's stage-wise study)

    def __post_init__(self) -> None:
        if self.depth not in DEPTHS:
            raise ConfigError(f"depth must be one of {sorted(DEPTHS)}, not {self.depth}")
        if not self.width > 0:
            raise ConfigError(f"width must be positive, not {self.width}")
        if self.num_classes < 1:
            raise ConfigError(f"num_classes must be at least 1, not {self.num_classes}")
        if self.qk_reduction < 1 or self.value_reduction < 1:
            raise ConfigError("qk_reduction and value_reduction must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
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
