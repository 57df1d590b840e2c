"""3D ResNet backbone of Hara et al. (CVPR 2018), with their parameter names.

Names (conv1, bn1, layer1.0.conv1, ..., layerN.M.downsample.0, fc) match the public
Kinetics checkpoints (r3d18_K_200ep.pth and kin) so those load with no renaming.
ST-MANet builds it without the classifier (`num_classes=None`): its own head
(`stmanet.models.heads`) classifies.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from stmanet.config import BASIC_DEPTHS, DEPTHS

STAGE_PLANES = (64, 128, 256, 512)


def conv3x3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = conv3x3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = conv1x1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet3D(nn.Module):
    """Hara et al.'s 3D ResNet with shortcut type B.

    `forward_stem` and `stage` expose the pieces ST-MANet interleaves its aggregation with;
    `forward` is the plain network: stem, four stages, global average pool, dropout, fc.
    With `num_classes=None` there is no classifier (no avgpool, dropout or fc): the stem and
    the four stages only, as ST-MANet uses it.
    """

    def __init__(self, depth: int = 50, *, width: float = 1.0, num_classes: int | None = 400,
                 conv1_t_size: int = 7, conv1_t_stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        block = BasicBlock if depth in BASIC_DEPTHS else Bottleneck
        layers = DEPTHS[depth]
        planes = [max(1, int(p * width)) for p in STAGE_PLANES]
        self.depth = depth
        self.in_planes = planes[0]
        self.conv1 = nn.Conv3d(3, self.in_planes, kernel_size=(conv1_t_size, 7, 7),
                               stride=(conv1_t_stride, 2, 2),
                               padding=(conv1_t_size // 2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(self.in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.fc: nn.Linear | None = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool3d(1)
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        #: channels at the stem and after stages 2-5 (the paper counts the stem as stage 1)
        self.stem_channels = planes[0]
        self.stage_channels = tuple(p * block.expansion for p in planes)

        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1x1(self.in_planes, planes * block.expansion, stride),
                nn.BatchNorm3d(planes * block.expansion),
            )
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_stem(self, x: Tensor) -> Tensor:
        # (B, 3, T, H, W) -> (B, C1, T/2, H/4, W/4)
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def stage(self, index: int) -> nn.Sequential:
        """Residual stage `index` in the paper's numbering (2-5 are layer1-layer4)."""
        return getattr(self, f"layer{index - 1}")

    def stages(self) -> Iterator[nn.Sequential]:
        return (self.stage(i) for i in range(2, 6))

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Outputs of stages 2-5, each (B, C_i, T_i, H_i, W_i)."""
        x = self.forward_stem(x)
        features = []
        for stage in self.stages():
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: Tensor) -> Tensor:
        if self.fc is None:
            raise TypeError("this 3D ResNet was built without a classifier (num_classes=None): "
                            "use forward_features")
        last_stage = self.forward_features(x)[-1]
        return self.fc(self.dropout(torch.flatten(self.avgpool(last_stage), 1)))
