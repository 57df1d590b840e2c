"""Model summary: parameters, FLOPs (torch.utils.flop_counter) and per-stage shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from stmanet.models import create_model


@dataclass
class StageSummary:
    stage: int
    channels: int
    size: tuple[int, int, int]  # (T, H, W)
    tda: bool
    sda: bool


@dataclass
class ModelSummary:
    model: str
    input_shape: tuple[int, ...]
    parameters: int
    flops: int  # multiply-adds x 2
    stages: list[StageSummary] = field(default_factory=list)
    num_classes: int = 0

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    def to_text(self) -> str:
        lines = [
            f"model       {self.model}",
            f"input       {' x '.join(map(str, self.input_shape))}",
            f"classes     {self.num_classes}",
            f"parameters  {self.parameters / 1e6:.2f} M ({self.parameters:,})",
            f"GFLOPs      {self.gflops:.2f}",
            "",
            "stage  channels  T x H x W      TDA  SDA",
        ]
        for s in self.stages:
            shape = " x ".join(map(str, s.size))
            lines.append(f"{s.stage:5d}  {s.channels:8d}  {shape:13s}  {'on ' if s.tda else 'off'}"
                         f"  {'on ' if s.sda else 'off'}")
        return "\n".join(lines)


def count_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs (multiply-adds x 2) of one forward pass, as torch.utils.flop_counter counts them.

    Count the plain model: the oneDNN convolutions of `stmanet.models.fast` escape the counter.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def summarize(name: str, *, num_classes: int = 101, frames: int = 32, size: int = 112,
              overrides: dict[str, Any] | None = None) -> ModelSummary:
    model = create_model(name, num_classes, **(overrides or {})).eval()
    x = torch.zeros(1, 3, frames, size, size)
    with torch.no_grad():
        out = model(x)
    stages = [
        StageSummary(i + 2, int(f.shape[1]), s, out.temporal_attention[i] is not None,
                     out.spatial_attention[i] is not None)
        for i, (f, s) in enumerate(zip(out.stage_features, out.stage_sizes, strict=True))
    ]
    return ModelSummary(name, tuple(x.shape), sum(p.numel() for p in model.parameters()),
                        count_flops(model, x), stages, num_classes)
