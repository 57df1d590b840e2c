"""ST-MANet: a 3D ResNet with temporal and spatial aggregation per stage and multi-level fusion."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from stmanet.config import ModelConfig
from stmanet.models.attention import SpatialAggregation, TemporalAggregation
from stmanet.models.backbone import ResNet3D
from stmanet.models.heads import MultiLevelHead


@dataclass
class STMANetOutput:
    """What one forward pass returns. Lists hold stages 2-5 in order."""

    logits: Tensor  # (B, K)
    spatial_attention: list[Tensor | None]  # A_s per stage, (B, H_i W_i, H_i W_i); None: SDA off
    temporal_attention: list[Tensor | None]  # A_t per stage, (B, T_i, T_i); None: TDA off
    stage_features: list[Tensor]  # GAP of each stage output, (B, C_i)
    stage_sizes: list[tuple[int, int, int]]  # (T_i, H_i, W_i), to unflatten the maps


class STMANet(nn.Module):
    """The network of the paper; with every switch off, exactly Hara et al.'s 3D ResNet.

    State-dict names: `backbone.*` are Hara et al.'s names for the stem and stages 2-5;
    `temporal*`, `spatial` are ours; `head.fc` is the classifier over stages 2-5 (MF) or 5,
    whose stage-5 block is Hara et al.'s `fc` (`stmanet.engine.checkpoint` maps their names).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = ResNet3D(config.depth, width=config.width, num_classes=None,
                                 conv1_t_size=config.conv1_t_size,
                                 conv1_t_stride=config.conv1_t_stride)
        channels = self.backbone.stage_channels  # C_2..C_5
        qk = [max(1, c // config.qk_reduction) for c in channels]
        values = [max(1, c // config.value_reduction) for c in channels]

        self.temporal_stem: nn.Module | None = None
        self.temporal: nn.ModuleList | None = None
        if config.tda:
            # G^1: the stem output brought to C_2/2 channels (the stem already has stage 2's size)
            self.temporal_stem = nn.Sequential(
                nn.Conv3d(self.backbone.stem_channels, channels[0] // 2, 1, bias=False),
                nn.BatchNorm3d(channels[0] // 2),
                nn.ReLU(inplace=True),
            )
            self.temporal = nn.ModuleList(
                TemporalAggregation(
                    c, c // 2, channels[i + 1] // 2 if i < 3 else c,
                    qk_dim=qk[i], value_dim=values[i], last=i == 3)
                for i, c in enumerate(channels))
        self.spatial: nn.ModuleList | None = None
        if config.sda:
            self.spatial = nn.ModuleList(
                SpatialAggregation(c, qk_dim=qk[i], value_dim=values[i])
                for i, c in enumerate(channels))
        # Multi-level fusion: the classifier sees GAP of stages 2-5 (MF off: stage 5 only);
        # the stage 2-4 weights start at zero, so a fresh network predicts exactly what its
        # 3D ResNet does.
        self.head = MultiLevelHead(channels, config.num_classes, multi_level=config.mf,
                                   dropout=config.dropout)

    def forward(self, x: Tensor) -> STMANetOutput:
        """x: (B, 3, T, H, W), normalised."""
        z = self.backbone.forward_stem(x)  # (B, C_1, T/2, H/4, W/4)
        g = self.temporal_stem(z) if self.temporal_stem is not None else None
        spatial: list[Tensor | None] = [None] * 4
        temporal: list[Tensor | None] = [None] * 4
        pooled: list[Tensor] = []
        sizes: list[tuple[int, int, int]] = []
        for i, stage in enumerate(self.backbone.stages()):
            z = stage(z)  # Z^i: (B, C_i, T_i, H_i, W_i)
            sizes.append(tuple(z.shape[2:]))
            updates = []
            if self.temporal is not None:
                d_t, g, temporal[i] = self.temporal[i](z, g)
                updates.append(d_t)
            if self.spatial is not None:
                d_s, spatial[i] = self.spatial[i](z)
                updates.append(d_s)
            if updates:  # Zbar^i = Z^i + D_t^i + D_s^i, input of stage i+1
                # summed into the first update, a fresh tensor nothing else holds (Z^i itself
                # may be kept for the backward pass): no new tensor of this size
                z = updates[0].add_(z)
                for update in updates[1:]:
                    z += update
            pooled.append(self.head.pool(z))  # (B, C_i)
        return STMANetOutput(self.head(pooled), spatial, temporal, pooled, sizes)
