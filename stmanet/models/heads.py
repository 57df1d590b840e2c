"""The classifier of ST-MANet: multi-level fusion (MF) as one module.

Global average pooling of every stage's output, dropout, and one linear map over the
concatenation of the pooled stages 2-5 (with MF off: stage 5 only). Its weight has one
block of columns per stage, in stage order; the blocks of stages 2-4 start at zero and the
stage-5 block as a plain classifier over stage 5 would, so a fresh head computes exactly
what the 3D ResNet's own classifier (`ResNet3D.fc`) computes from the same weights.

Names follow Hara et al.'s (`avgpool`, `dropout`, `fc`): their `fc.weight` and `fc.bias` are
the stage-5 block of `head.fc` (`stmanet.engine.checkpoint` maps files that predate this
module, and theirs, onto it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MultiLevelHead(nn.Module):
    """GAP, dropout and a linear classifier over the pooled stages 2-5 (or 5 only).

    stage_channels: C_2..C_5. `pool(z)` turns one stage output (B, C, T, H, W) into (B, C);
    `forward(pooled)` takes the four pooled stages and returns the logits (B, K).
    """

    def __init__(self, stage_channels: Sequence[int], num_classes: int, *,
                 multi_level: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        #: the channels of the stages the classifier reads, in stage order
        self.read_channels = tuple(stage_channels) if multi_level else (stage_channels[-1],)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(sum(self.read_channels), num_classes)
        self.reset_parameters()

    @property
    def last_stage_columns(self) -> slice:
        """The columns of `fc.weight` that read stage 5."""
        return slice(self.fc.in_features - self.read_channels[-1], self.fc.in_features)

    def reset_parameters(self) -> None:
        """Stages 2-4 at zero; stage 5 as `nn.Linear(C_5, K)` initialises itself."""
        with torch.no_grad():
            nn.init.zeros_(self.fc.weight)
            last = self.fc.weight[:, self.last_stage_columns]
            nn.init.kaiming_uniform_(last, a=math.sqrt(5))
            bound = 1 / math.sqrt(self.read_channels[-1])
            nn.init.uniform_(self.fc.bias, -bound, bound)

    def pool(self, z: Tensor) -> Tensor:
        """GAP of one stage output: (B, C, T, H, W) -> (B, C)."""
        return torch.flatten(self.avgpool(z), 1)

    def forward(self, pooled: Sequence[Tensor]) -> Tensor:
        """pooled: GAP of stages 2-5, each (B, C_i); with MF off only the last is read."""
        read = pooled[-len(self.read_channels):]
        features = read[0] if len(read) == 1 else torch.cat(list(read), dim=1)  # (B, sum C_i)
        return self.fc(self.dropout(features))
